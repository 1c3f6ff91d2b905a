//! `#cloud-config` files: parsing, OS types, and applying them inside an instance through
//! [`crate::server::InstanceServer`].
