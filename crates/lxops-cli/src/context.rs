//! What every command gets: the plugged-in [`App`], global options, and a lazily connected
//! server (commands that need no daemon never connect).

use std::cell::RefCell;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use lxops_core::cloudconfig::OsTypes;
use lxops_core::server::{ConnectOptions, InstanceServer, ServerError};
use tokio::sync::OnceCell;

use crate::args::GlobalArgs;
use crate::error::{CliError, CliResult};
use crate::App;

/// Where [`Context::write_err`] writes.
pub(crate) enum ErrStream {
    /// The process's stderr.
    Stderr,
    /// A buffer, handed to the caller's error stream when the command ends.
    Buffer(Vec<u8>),
}

/// Shared state of one lxops run.
pub(crate) struct Context {
    pub(crate) app: App,
    pub(crate) os_types: Arc<OsTypes>,
    pub(crate) global: GlobalArgs,
    pub(crate) program: String,
    /// Where progress goes when stdout carries machine-readable output: stderr, or (for
    /// [`crate::run_with`]) a buffer the caller's error stream gets at the end.
    err: RefCell<ErrStream>,
    /// Whether stdout or stderr is a terminal (live progress lines); never in tests.
    pub(crate) terminal: bool,
    server: OnceCell<Arc<dyn InstanceServer>>,
}

impl Context {
    pub(crate) fn new(
        mut app: App,
        global: GlobalArgs,
        program: String,
        err: ErrStream,
        terminal: bool,
    ) -> Self {
        let os_types = Arc::new(std::mem::take(&mut app.os_types));
        Context {
            app,
            os_types,
            global,
            program,
            err: RefCell::new(err),
            terminal,
            server: OnceCell::new(),
        }
    }

    /// The `--format` in effect, `default` when none was given.
    pub(crate) fn format_or(&self, default: crate::output::Format) -> crate::output::Format {
        self.global.format.unwrap_or(default)
    }

    /// The `--format` in effect (table when none was given).
    pub(crate) fn format(&self) -> crate::output::Format {
        self.format_or(crate::output::Format::Table)
    }

    /// Writes `bytes` to the error stream (stderr), ignoring failures: it only carries
    /// progress.
    pub(crate) fn write_err(&self, bytes: &[u8]) {
        if let Ok(mut err) = self.err.try_borrow_mut() {
            match &mut *err {
                ErrStream::Stderr => {
                    let mut stderr = std::io::stderr().lock();
                    let _ = stderr.write_all(bytes);
                    let _ = stderr.flush();
                }
                ErrStream::Buffer(buffer) => buffer.extend_from_slice(bytes),
            }
        }
    }

    /// What went to a buffered error stream (empty for stderr).
    pub(crate) fn take_err(&self) -> Vec<u8> {
        match &mut *self.err.borrow_mut() {
            ErrStream::Stderr => Vec::new(),
            ErrStream::Buffer(buffer) => std::mem::take(buffer),
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
