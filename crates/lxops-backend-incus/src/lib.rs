//! The Incus backend: the Incus [`Dialect`] of the shared REST client, and [`BACKEND`].

#![warn(missing_docs)]

use lxops_core::server::ServerKind;
use lxops_rest::{BuiltinRemote, Dialect, DialectBackend};

/// How Incus differs from the other LXD-family daemons.
pub static DIALECT: Dialect = Dialect {
    name: "Incus",
    kind: ServerKind::Incus,
    server_id: "incus",
    cli: "incus",
    // Incus accepts X-Incus-* and X-LXD-*, and answers with X-Incus-*.
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

/// The Incus backend.
pub const BACKEND: DialectBackend = DialectBackend(&DIALECT);

#[cfg(test)]
mod tests {
    use super::*;
    use lxops_core::server::{Backend, ImageSource};
    use lxops_rest::remotes::image_source;

    #[test]
    fn incus_is_named_and_parses_local_images() {
        assert_eq!(BACKEND.server_name(), "Incus");
        // No client config (no HOME, no config variable): the built-in remotes.
        let no_env = |_: &str| None;
        assert_eq!(
            image_source(&DIALECT, "local:lxops-test-busybox", &no_env).unwrap(),
            ImageSource::local("lxops-test-busybox")
        );
        let remote = image_source(&DIALECT, "images:alpine/3.20", &no_env)
            .unwrap()
            .remote
            .unwrap();
        assert_eq!(remote.protocol, "simplestreams");
        assert_eq!(DIALECT.default_remote_protocol, "incus");
    }

    #[test]
    fn the_dialect_names_the_incus_socket_variables_and_headers() {
        assert_eq!(
            (DIALECT.socket_env, DIALECT.dir_env, DIALECT.config_env),
            ("INCUS_SOCKET", "INCUS_DIR", "INCUS_CONF")
        );
        assert_eq!(DIALECT.project_env, Some("INCUS_PROJECT"));
        assert_eq!(DIALECT.header_prefix, "X-Incus-");
        assert!(DIALECT
            .default_sockets
            .contains(&"/var/lib/incus/unix.socket"));
        assert!(DIALECT.connect_hint().contains("INCUS_SOCKET"));
    }
}
