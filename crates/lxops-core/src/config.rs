//! The config engine: reading `#lxops-v1` files (migrating older formats), includes and merging,
//! `(name)` property substitution, and validation.

/// The registry of config formats: the current `#lxops-v1` plus registered migrators.
#[derive(Debug, Default)]
pub struct Formats {}

impl Formats {
    /// Only the current format.
    pub fn new() -> Self {
        Formats {}
    }
}
