//! The LXD-family `/1.0` REST API over a unix socket or HTTPS (remotes of the client config),
//! shared by the LXD and Incus backends.
//!
//! [`RestServer`] implements `lxops_core::server::InstanceServer`; what differs between the
//! daemons is data, a [`Dialect`], whose values live in the backend crates.

#![warn(missing_docs)]

pub mod client;
pub mod dialect;
pub mod discovery;
pub mod envelope;
pub mod errors;
pub mod exec;
pub mod files;
pub mod images;
pub mod model;
pub mod rebuild;
pub mod remotes;
pub mod server;
pub mod stream;
pub mod tls;
pub mod transport;
pub mod volumes;

use std::sync::Arc;

use async_trait::async_trait;
use lxops_core::server::{Backend, ConnectOptions, InstanceServer, ServerError, ServerResult};

pub use dialect::{BuiltinRemote, Dialect};
pub use server::RestServer;

/// The [`Backend`] of one daemon family: the shared REST client speaking `dialect`. Each
/// backend crate exports one as `BACKEND`.
#[derive(Debug, Clone, Copy)]
pub struct DialectBackend(pub &'static Dialect);

#[async_trait]
impl Backend for DialectBackend {
    fn server_name(&self) -> &'static str {
        self.0.name
    }

    async fn connect(
        &self,
        options: &ConnectOptions,
    ) -> Result<Arc<dyn InstanceServer>, ServerError> {
        connect(self.0, options).await
    }
}

/// Connects to the daemon of `dialect` (for `Backend::connect`).
pub async fn connect(
    dialect: &'static Dialect,
    options: &ConnectOptions,
) -> ServerResult<Arc<dyn InstanceServer>> {
    Ok(Arc::new(RestServer::connect(dialect, options).await?))
}
