//! The incus backend: socket discovery and the incus dialect of the shared REST client.
