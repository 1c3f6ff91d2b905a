//! Starting an instance and waiting until it can run commands (and, only when it has a NIC,
//! until it has a global IPv4 address). Every wait is bounded.

use std::time::{Duration, Instant};

use super::error::LifecycleError;
use super::progress::Progress;
use crate::server::{ExecRequest, InstanceServer, ServerError};

/// How long to wait after a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// Until commands can run in the instance.
    pub ready: Duration,
    /// Until an instance with a NIC has a global IPv4 address.
    pub network: Duration,
    /// `launch`: how long to sleep after the instance is up and before its cloud-config is
    /// applied (the original's `-wait-configure`).
    pub before_configure: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            ready: Duration::from_secs(20),
            network: Duration::from_secs(300),
            before_configure: Duration::ZERO,
        }
    }
}

const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Waits until the instance's running operations have ended (those of an interrupted earlier
/// run go on in the daemon: its create, stop or delete), then looks the instance up. Every
/// command that changes an existing instance starts here, so running it again after an
/// interruption finds the instance settled.
pub async fn settled_instance(
    server: &dyn InstanceServer,
    name: &str,
) -> Result<Option<crate::server::Instance>, LifecycleError> {
    server
        .wait_instance_operations(name)
        .await
        .map_err(|e| LifecycleError::server(name, "waiting for its running operations", e))?;
    server
        .instance(name)
        .await
        .map_err(|e| LifecycleError::server(name, "looking up the instance", e))
}

/// Starts `name` (when it is not running) and waits as [`wait_ready`] does.
pub async fn start_and_wait(
    server: &dyn InstanceServer,
    name: &str,
    wait: &WaitOptions,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
    let state = server
        .instance_state(name)
        .await
        .map_err(|e| LifecycleError::server(name, "reading the state", e))?;
    if state.status.eq_ignore_ascii_case("running") {
        return wait_ready(server, name, wait, progress).await;
    }
    start_stopped_and_wait(server, name, wait, progress).await
}

/// Starts `name`, known to be stopped (just created: no state to read), and waits as
/// [`wait_ready`] does.
pub async fn start_stopped_and_wait(
    server: &dyn InstanceServer,
    name: &str,
    wait: &WaitOptions,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
    progress.step(&format!("start instance {name}"));
    server
        .start_instance(name)
        .await
        .map_err(|e| LifecycleError::server(name, "starting the instance", e))?;
    wait_ready(server, name, wait, progress).await
}

/// Waits until a command runs in `name`; then, when the instance has a NIC, until it has a
/// global IPv4 address (which is reported).
pub async fn wait_ready(
    server: &dyn InstanceServer,
    name: &str,
    wait: &WaitOptions,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
    let probe = ExecRequest {
        discard_output: true,
        ..ExecRequest::argv(&["/bin/sh", "-c", "exit 0"])
    };
    let start = Instant::now();
    loop {
        match server.exec(name, &probe).await {
            Ok(out) if out.status == 0 => break,
            // A cluster member that is down does not come back by waiting here.
            Err(e @ ServerError::MemberOffline { .. }) => {
                return Err(LifecycleError::server(
                    name,
                    "running a command in the instance",
                    e,
                ))
            }
            Ok(_) | Err(_) if start.elapsed() < wait.ready => {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            Ok(out) => {
                return Err(LifecycleError::Refused {
                    instance: name.to_string(),
                    message: format!(
                        "/bin/sh in the instance exits with status {}: cannot run commands",
                        out.status
                    ),
                })
            }
            Err(e) => {
                return Err(LifecycleError::Timeout {
                    instance: name.to_string(),
                    what: format!("could not run a command in the instance ({e})"),
                    seconds: wait.ready.as_secs(),
                })
            }
        }
    }
    let instance = server
        .instance(name)
        .await
        .map_err(|e| LifecycleError::server(name, "reading the instance", e))?;
    if !instance.as_ref().is_some_and(has_nic) {
        return Ok(());
    }
    let start = Instant::now();
    loop {
        let state = server
            .instance_state(name)
            .await
            .map_err(|e| LifecycleError::server(name, "reading the state", e))?;
        let address = state
            .network
            .values()
            .flat_map(|n| &n.addresses)
            .find(|a| a.family == "inet" && a.scope == "global");
        if let Some(address) = address {
            progress.step(&format!("{name} address {}", address.address));
            return Ok(());
        }
        if start.elapsed() >= wait.network {
            return Err(LifecycleError::Timeout {
                instance: name.to_string(),
                what: "no global IPv4 address".into(),
                seconds: wait.network.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether the instance has a network interface (from its expanded devices).
pub fn has_nic(instance: &crate::server::Instance) -> bool {
    instance
        .expanded_devices
        .values()
        .any(|d| d.get("type").is_some_and(|t| t == "nic"))
}
