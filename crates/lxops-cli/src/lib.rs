//! The lxops command line, shared by `lxops-lxd` and `lxops-incus`: clap definitions, Go-style
//! single-dash long flags, and one module per subcommand.
