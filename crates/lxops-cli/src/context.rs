//! What every command gets: the plugged-in [`App`], global options, and a lazily connected
//! server (commands that need no daemon never connect).

use std::sync::Arc;
use std::time::Duration;

use lxops_core::cloudconfig::OsTypes;
use lxops_core::server::{ConnectOptions, InstanceServer, ServerError};
use tokio::sync::OnceCell;

use crate::args::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::App;

/// Shared state of one lxops run.
pub(crate) struct Context {
    pub(crate) app: App,
    pub(crate) os_types: Arc<OsTypes>,
    pub(crate) global: GlobalArgs,
    pub(crate) program: String,
    server: OnceCell<Arc<dyn InstanceServer>>,
}

impl Context {
    pub(crate) fn new(mut app: App, global: GlobalArgs, program: String) -> Self {
        let os_types = Arc::new(std::mem::take(&mut app.os_types));
        Context {
            app,
            os_types,
            global,
            program,
            server: OnceCell::new(),
        }
    }

    /// Timeout of one server operation.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.global.timeout)
    }

    /// The server, in `project` (or the client's current project when `None` or empty).
    pub(crate) async fn server(&self, project: Option<&str>) -> CliResult<Arc<dyn InstanceServer>> {
        let server = self
            .server
            .get_or_try_init(|| async {
                let options = ConnectOptions {
                    socket: self.global.socket.clone(),
                    remote: self.global.remote.clone(),
                    project: None,
                    timeout: self.timeout(),
                    exec_timeout: (self.global.exec_timeout > 0)
                        .then(|| Duration::from_secs(self.global.exec_timeout)),
                };
                self.app
                    .backend
                    .connect(&options)
                    .await
                    .map_err(|e| match e {
                        // The client config names no usable remote: bad input.
                        ServerError::Remote { .. } => CliError::input(e),
                        e => CliError::failure(e),
                    })
            })
            .await?;
        Ok(match project.filter(|p| !p.is_empty()) {
            Some(p) if p != server.project() => server.for_project(p),
            _ => server.clone(),
        })
    }
}
