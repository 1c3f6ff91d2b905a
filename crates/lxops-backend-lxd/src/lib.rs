//! The lxd backend: socket discovery and the lxd dialect of the shared REST client.
