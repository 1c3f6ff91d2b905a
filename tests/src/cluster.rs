//! The 3-member Incus test cluster that `cargo xtask setup` builds (xtask/src/setup/cluster.rs):
//! members `m1`..`m3` on 127.0.0.11-13:8443, each with its own `INCUS_DIR` under [`DIR`], and
//! a client config directory [`CONF`] naming remote [`REMOTE`] (member 1) with the cluster
//! certificate pinned. Containers on it are named `cs-*` (see [`name`]): LXC cgroups are flat
//! by container name host-wide, and no main-daemon test uses that prefix.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lxops_core::server::{Backend, ConnectOptions, InstanceServer, StopMode};

/// The cluster's state directory.
pub const DIR: &str = "/var/lib/lxops-test/ic";
/// The client config directory (`INCUS_CONF`) with remote [`REMOTE`].
pub const CONF: &str = "/var/lib/lxops-test/ic/conf";
/// The remote (member 1 over HTTPS) in [`CONF`].
pub const REMOTE: &str = "ic";
/// The members.
pub const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];

/// A unique instance name on the cluster: `cs-<what>-<6 hex digits>`.
pub fn name(what: &str) -> String {
    crate::unique_name(&format!("cs-{what}"))
}

/// The unix socket of a member.
pub fn socket(member: &str) -> PathBuf {
    Path::new(DIR).join(member).join("unix.socket")
}

/// Connect options for member 1's unix socket, in the default project.
pub fn options() -> ConnectOptions {
    ConnectOptions {
        remote: None,
        socket: Some(socket("m1")),
        project: Some("default".to_string()),
        timeout: Duration::from_secs(120),
        exec_timeout: None,
    }
}

/// The cluster (through member 1's socket); panics with what to do if it is not there.
pub async fn connect() -> Arc<dyn InstanceServer> {
    lxops_backend_incus::BACKEND
        .connect(&options())
        .await
        .unwrap_or_else(|e| {
            panic!("cannot reach the test cluster at {DIR}/m1: {e}\n(run `cargo xtask setup`)")
        })
}

fn pid_file(member: &str) -> PathBuf {
    Path::new(DIR).join("pids").join(format!("{member}.pid"))
}

/// The running daemon of a member (its recorded PID, if that process is an incusd).
pub fn member_pid(member: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(member))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains("incusd")
        .then_some(pid)
}

/// Stops a member's daemon with SIGTERM (its containers keep running) and waits until it
/// exited.
pub fn stop_member(member: &str) {
    let Some(pid) = member_pid(member) else {
        return;
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "kill {pid}: {status:?}"
    );
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "member {member} (pid {pid}) did not stop"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts a member's daemon again as `cargo xtask setup` does (detached, PID recorded) and
/// waits until it is ready.
pub fn start_member(member: &str) {
    if member_pid(member).is_some() {
        return;
    }
    let dir = Path::new(DIR);
    let script = format!(
        "echo $$ > {pid}; exec /usr/libexec/incus/incusd --group root --logfile {log}",
        pid = pid_file(member).display(),
        log = dir.join("logs").join(format!("{member}.log")).display()
    );
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("logs").join(format!("{member}.err")))
        .expect("open the member's log");
    let status = std::process::Command::new("setsid")
        .args(["-f", "sh", "-c", &script])
        .env("INCUS_DIR", dir.join(member))
        .env("INCUS_SKIP_INSTANCE_TYPES", "1")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(err.try_clone().expect("log"))
        .stderr(err)
        .status();
    assert!(
        matches!(status, Ok(s) if s.success()),
        "start {member}: {status:?}"
    );
    let ready = std::process::Command::new("incus")
        .args(["admin", "waitready", "--timeout", "60"])
        .env("INCUS_DIR", dir.join(member))
        .env("INCUS_CONF", dir.join("cli"))
        .status();
    assert!(
        matches!(ready, Ok(s) if s.success()),
        "{member} not ready: {ready:?}"
    );
}

/// Starts every member that is not running (a test that stopped one and then failed leaves
/// it down otherwise).
pub struct MembersUp;

impl Drop for MembersUp {
    fn drop(&mut self) {
        for member in MEMBERS {
            if member_pid(member).is_none() {
                start_member(member);
            }
        }
    }
}

/// Deletes (force-stopping) the named instances and profiles on the cluster when dropped.
pub struct Cleanup {
    instances: Vec<String>,
    profiles: Vec<String>,
}

impl Cleanup {
    /// Deletes these instances and their `<name>.lxops` profiles at the end.
    pub fn new(instances: &[&str]) -> Self {
        Cleanup {
            instances: instances.iter().map(|s| s.to_string()).collect(),
            profiles: instances.iter().map(|s| format!("{s}.lxops")).collect(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let instances = std::mem::take(&mut self.instances);
        let profiles = std::mem::take(&mut self.profiles);
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let server = match lxops_backend_incus::BACKEND.connect(&options()).await {
                    Ok(server) => server,
                    Err(e) => return eprintln!("cluster cleanup: {e}"),
                };
                for name in &instances {
                    let _ = server.stop_instance(name, StopMode::Force).await;
                    match server.delete_instance(name).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => eprintln!("cluster cleanup: deleting instance {name}: {e}"),
                    }
                }
                for name in &profiles {
                    if let Err(e) = server.delete_profile(name).await {
                        if !e.is_not_found() {
                            eprintln!("cluster cleanup: deleting profile {name}: {e}");
                        }
                    }
                }
            });
        });
        if worker.join().is_err() {
            eprintln!("cluster cleanup panicked");
        }
    }
}
