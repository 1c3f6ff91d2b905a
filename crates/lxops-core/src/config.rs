//! The config engine: reading `#lxops-v1` files (migrating older formats), includes and merging,
//! `(name)` property substitution, and validation.
