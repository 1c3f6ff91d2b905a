//! `#cloud-config` files: parsing, OS types, and applying them inside an instance through
//! [`crate::server::InstanceServer`].

/// The registry of OS types that cloud-config applies to.
#[derive(Debug, Default)]
pub struct OsTypes {}

impl OsTypes {
    /// The built-in OS types.
    pub fn builtin() -> Self {
        OsTypes {}
    }
}
