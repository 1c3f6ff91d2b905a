//! The `#lxdops` -> `#lxops-v1` migrator.
