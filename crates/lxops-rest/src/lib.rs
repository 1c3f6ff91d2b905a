//! The LXD-family `/1.0` REST API over a unix socket, shared by the LXD and Incus backends.
