//! What differs between the LXD-family daemons, as data: a [`Dialect`] value per daemon.
//!
//! The values themselves are built in the backend crates (`lxops-backend-lxd`,
//! `lxops-backend-incus`); this crate only reads them.

use lxops_core::server::ServerKind;

/// A remote image server that a daemon's CLI knows without any config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRemote {
    /// Name used before the colon (`images`).
    pub name: &'static str,
    /// Server address.
    pub addr: &'static str,
    /// `simplestreams`, `lxd` or `incus`.
    pub protocol: &'static str,
}

/// Everything the shared REST client needs to know about one daemon family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Human name: "LXD" or "Incus".
    pub name: &'static str,
    /// The daemon family.
    pub kind: ServerKind,
    /// `environment.server` reported by `GET /1.0` ("lxd" or "incus").
    pub server_id: &'static str,
    /// The CLI's program name ("lxc" or "incus"), for hints.
    pub cli: &'static str,
    /// Prefix of the file-API request headers (`X-LXD-` or `X-Incus-`); responses are read
    /// with the same prefix, case-insensitively.
    pub header_prefix: &'static str,
    /// Environment variable holding the full socket path (`LXD_SOCKET`).
    pub socket_env: &'static str,
    /// Environment variable holding the daemon directory that contains `unix.socket`.
    pub dir_env: &'static str,
    /// Socket paths tried in order when neither variable is set.
    pub default_sockets: &'static [&'static str],
    /// Environment variable overriding the client config directory (`LXD_CONF`).
    pub config_env: &'static str,
    /// Client config directories relative to `$HOME`, tried in order.
    pub config_dirs: &'static [&'static str],
    /// Environment variable naming the current project, if the CLI honours one.
    pub project_env: Option<&'static str>,
    /// Environment variable naming the default remote, if the CLI honours one.
    pub remote_env: Option<&'static str>,
    /// Remotes the CLI knows when its config file has none.
    pub builtin_remotes: &'static [BuiltinRemote],
    /// The protocol of a remote whose entry in `config.yml` names none (`lxd`, `incus`).
    pub default_remote_protocol: &'static str,
    /// The CLI subcommand that trusts a client certificate file (`config trust add`), for
    /// hints.
    pub trust_add: &'static str,
}

impl Dialect {
    /// The hint shown when the daemon cannot be reached.
    pub fn connect_hint(&self) -> String {
        format!(
            "is the {} daemon running? start it, or set {} to its socket",
            self.name, self.socket_env
        )
    }
}
