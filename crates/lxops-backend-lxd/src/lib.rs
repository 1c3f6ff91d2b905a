//! The LXD backend: the LXD [`Dialect`] of the shared REST client, and [`BACKEND`].

#![warn(missing_docs)]

use lxops_core::server::ServerKind;
use lxops_rest::{BuiltinRemote, Dialect, DialectBackend};

/// How LXD differs from the other LXD-family daemons.
pub static DIALECT: Dialect = Dialect {
    name: "LXD",
    kind: ServerKind::Lxd,
    server_id: "lxd",
    cli: "lxc",
    // LXD 5.0 accepts only X-LXD-* request headers (and answers with X-Lxd-*).
    header_prefix: "X-LXD-",
    socket_env: "LXD_SOCKET",
    dir_env: "LXD_DIR",
    default_sockets: &[
        "/var/snap/lxd/common/lxd/unix.socket",
        "/var/lib/lxd/unix.socket",
    ],
    config_env: "LXD_CONF",
    config_dirs: &[
        ".config/lxc",
        "snap/lxd/common/config",
        "snap/lxd/current/.config/lxc",
    ],
    // lxc 5.0 does not honour LXD_PROJECT or a remote variable.
    project_env: None,
    remote_env: None,
    builtin_remotes: &[
        BuiltinRemote {
            name: "images",
            addr: "https://images.linuxcontainers.org",
            protocol: "simplestreams",
        },
        BuiltinRemote {
            name: "ubuntu",
            addr: "https://cloud-images.ubuntu.com/releases",
            protocol: "simplestreams",
        },
        BuiltinRemote {
            name: "ubuntu-daily",
            addr: "https://cloud-images.ubuntu.com/daily",
            protocol: "simplestreams",
        },
    ],
    default_remote_protocol: "lxd",
    trust_add: "config trust add",
};

/// The LXD backend.
pub const BACKEND: DialectBackend = DialectBackend(&DIALECT);

#[cfg(test)]
mod tests {
    use super::*;
    use lxops_core::server::{Backend, ImageSource};
    use lxops_rest::remotes::image_source;

    #[test]
    fn lxd_is_named_and_parses_local_images() {
        assert_eq!(BACKEND.server_name(), "LXD");
        // No client config (no HOME, no config variable): the built-in remotes.
        let no_env = |_: &str| None;
        assert_eq!(
            image_source(&DIALECT, "lxops-test-busybox", &no_env).unwrap(),
            ImageSource::local("lxops-test-busybox")
        );
        let remote = image_source(&DIALECT, "images:alpine/3.20", &no_env)
            .unwrap()
            .remote
            .unwrap();
        assert_eq!(remote.protocol, "simplestreams");
        assert_eq!(DIALECT.default_remote_protocol, "lxd");
    }

    #[test]
    fn the_dialect_names_the_lxd_socket_variables_and_headers() {
        assert_eq!(
            (DIALECT.socket_env, DIALECT.dir_env, DIALECT.config_env),
            ("LXD_SOCKET", "LXD_DIR", "LXD_CONF")
        );
        assert_eq!(DIALECT.project_env, None);
        assert_eq!(DIALECT.header_prefix, "X-LXD-");
        assert!(DIALECT
            .default_sockets
            .contains(&"/var/lib/lxd/unix.socket"));
        assert!(DIALECT.connect_hint().contains("LXD_SOCKET"));
    }
}
