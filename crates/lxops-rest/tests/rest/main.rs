//! Unit tests of the REST layer against responses recorded from LXD 5.0.2 and Incus 6.0.4
//! (`tests/data/`), plus transport tests against an in-process fake unix-socket server.

mod decode;
mod envelope;
mod errors;
mod exec;
mod fake_daemon;
mod remotes;
mod requests;
mod streaming;
mod transport;

use lxops_core::server::ServerKind;
use lxops_rest::{BuiltinRemote, Dialect};

/// Reads a recorded fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// An LXD-like dialect for the tests (the real one lives in lxops-backend-lxd).
pub static LXD: Dialect = Dialect {
    name: "LXD",
    kind: ServerKind::Lxd,
    server_id: "lxd",
    cli: "lxc",
    header_prefix: "X-LXD-",
    socket_env: "LXD_SOCKET",
    dir_env: "LXD_DIR",
    default_sockets: &[
        "/var/snap/lxd/common/lxd/unix.socket",
        "/var/lib/lxd/unix.socket",
    ],
    config_env: "LXD_CONF",
    config_dirs: &[".config/lxc"],
    project_env: None,
    remote_env: None,
    builtin_remotes: &[BuiltinRemote {
        name: "images",
        addr: "https://images.linuxcontainers.org",
        protocol: "simplestreams",
    }],
    default_remote_protocol: "lxd",
    trust_add: "config trust add",
};

/// An Incus-like dialect for the tests.
pub static INCUS: Dialect = Dialect {
    name: "Incus",
    kind: ServerKind::Incus,
    server_id: "incus",
    cli: "incus",
    header_prefix: "X-Incus-",
    socket_env: "INCUS_SOCKET",
    dir_env: "INCUS_DIR",
    default_sockets: &["/run/incus/unix.socket", "/var/lib/incus/unix.socket"],
    config_env: "INCUS_CONF",
    config_dirs: &[".config/incus"],
    project_env: Some("INCUS_PROJECT"),
    remote_env: Some("INCUS_REMOTE"),
    builtin_remotes: &[BuiltinRemote {
        name: "images",
        addr: "https://images.linuxcontainers.org",
        protocol: "simplestreams",
    }],
    default_remote_protocol: "incus",
    trust_add: "config trust add-certificate",
};
