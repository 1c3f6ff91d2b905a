//! How a program reaches its daemon: the [`Backend`] a binary (or an embedding tool) picks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{InstanceServer, ServerError};

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// An explicit socket path, overriding discovery (and the client config's
    /// `default-remote`).
    pub socket: Option<PathBuf>,
    /// A remote of the client config (`config.yml`) to talk to; `None`: its `default-remote`
    /// (`local` is the unix socket).
    pub remote: Option<String>,
    /// Project; `None` means the client's current project.
    pub project: Option<String>,
    /// Timeout of every API call and server operation (zero: the default).
    pub timeout: Duration,
    /// Time limit of a command run inside an instance (`runcmd`, package installs); `None`:
    /// no limit. Apart from `timeout`, which such commands do not count against.
    pub exec_timeout: Option<Duration>,
}

/// A daemon family (LXD or Incus). Implemented by each backend crate.
#[async_trait]
pub trait Backend: Send + Sync {
    /// "LXD" or "Incus", for help and messages.
    fn server_name(&self) -> &'static str;
    /// Connects to the daemon.
    async fn connect(
        &self,
        options: &ConnectOptions,
    ) -> Result<Arc<dyn InstanceServer>, ServerError>;
}
