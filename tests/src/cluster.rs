//! The 3-member Incus and LXD test clusters that `cargo xtask setup` builds
//! (xtask/src/setup/cluster.rs): Incus members `m1`..`m3` on 127.0.0.11-13:8443 under
//! `/var/lib/lxops-test/ic`, LXD members `l1`..`l3` on 127.0.0.21-23:8443 under
//! `/var/lib/lxops-test/lc`; each has a client config directory `conf/` naming its remote
//! (member 1, `ic` / `lc`) with the cluster certificate pinned. Containers on them are named
//! `cs-*` (see [`name`]): LXC cgroups are flat by container name host-wide, and no main-daemon
//! test uses that prefix.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lxops_core::server::{ConnectOptions, InstanceServer, StopMode};

use crate::Daemon;

/// One test cluster.
#[derive(Debug, Clone, Copy)]
pub struct TestCluster {
    /// The daemon family (which lxops backend drives it).
    pub daemon: Daemon,
    /// The state directory.
    pub dir: &'static str,
    /// The members.
    pub members: [&'static str; 3],
    /// The remote (member 1 over HTTPS) in `conf/config.yml`.
    pub remote: &'static str,
    /// The daemon program.
    program: &'static str,
    /// Its directory variable.
    dir_env: &'static str,
    /// The client and its `waitready` prefix.
    waitready: &'static [&'static str],
}

/// The Incus test cluster.
pub const INCUS: TestCluster = TestCluster {
    daemon: Daemon::Incus,
    dir: "/var/lib/lxops-test/ic",
    members: ["m1", "m2", "m3"],
    remote: "ic",
    program: "/usr/libexec/incus/incusd",
    dir_env: "INCUS_DIR",
    waitready: &["incus", "admin", "waitready"],
};

/// The LXD test cluster.
pub const LXD: TestCluster = TestCluster {
    daemon: Daemon::Lxd,
    dir: "/var/lib/lxops-test/lc",
    members: ["l1", "l2", "l3"],
    remote: "lc",
    program: "lxd",
    dir_env: "LXD_DIR",
    waitready: &["lxd", "waitready"],
};

/// Both test clusters.
pub const CLUSTERS: [TestCluster; 2] = [INCUS, LXD];

/// A unique instance name on the cluster: `cs-<what>-<6 hex digits>`.
pub fn name(what: &str) -> String {
    crate::unique_name(&format!("cs-{what}"))
}

impl TestCluster {
    /// The client config directory (`INCUS_CONF` / `LXD_CONF`) with the remote.
    pub fn conf(&self) -> PathBuf {
        Path::new(self.dir).join("conf")
    }

    /// The unix socket of a member.
    pub fn socket(&self, member: &str) -> PathBuf {
        Path::new(self.dir).join(member).join("unix.socket")
    }

    /// Connect options for member 1's unix socket, in the default project.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            remote: None,
            socket: Some(self.socket(self.members[0])),
            project: Some("default".to_string()),
            timeout: Duration::from_secs(120),
            exec_timeout: None,
        }
    }

    /// The cluster (through member 1's socket); panics with what to do if it is not there.
    pub async fn connect(&self) -> Arc<dyn InstanceServer> {
        self.daemon
            .backend()
            .connect(&self.options())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot reach the {} test cluster at {}: {e}\n(run `cargo xtask setup`)",
                    self.daemon, self.dir
                )
            })
    }

    fn pid_file(&self, member: &str) -> PathBuf {
        Path::new(self.dir)
            .join("pids")
            .join(format!("{member}.pid"))
    }

    /// The running daemon of a member (its recorded PID, if that process is our daemon).
    pub fn member_pid(&self, member: &str) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file(member))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(self.dir)
            .then_some(pid)
    }

    /// Stops a member's daemon with SIGTERM (its containers keep running) and waits until it
    /// exited.
    pub fn stop_member(&self, member: &str) {
        let Some(pid) = self.member_pid(member) else {
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

    /// Starts a member's daemon again as `cargo xtask setup` does (detached, PID recorded)
    /// and waits until it is ready.
    pub fn start_member(&self, member: &str) {
        if self.member_pid(member).is_some() {
            return;
        }
        let dir = Path::new(self.dir);
        let script = format!(
            "echo $$ > {pid}; exec {program} --group root --logfile {log}",
            pid = self.pid_file(member).display(),
            program = self.program,
            log = dir.join("logs").join(format!("{member}.log")).display()
        );
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("logs").join(format!("{member}.err")))
            .expect("open the member's log");
        let status = std::process::Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .env(self.dir_env, dir.join(member))
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
        let (program, args) = self.waitready.split_first().expect("waitready command");
        let ready = std::process::Command::new(program)
            .args(args)
            .args(["--timeout", "60"])
            .env(self.dir_env, dir.join(member))
            .status();
        assert!(
            matches!(ready, Ok(s) if s.success()),
            "{member} not ready: {ready:?}"
        );
    }
}

/// Starts every member of the cluster that is not running when dropped (a test that stopped
/// one and then failed leaves it down otherwise).
pub struct MembersUp(pub TestCluster);

impl Drop for MembersUp {
    fn drop(&mut self) {
        for member in self.0.members {
            if self.0.member_pid(member).is_none() {
                self.0.start_member(member);
            }
        }
    }
}

/// Deletes (force-stopping) the named instances and profiles on the cluster when dropped.
pub struct Cleanup {
    cluster: TestCluster,
    instances: Vec<String>,
    profiles: Vec<String>,
}

impl Cleanup {
    /// Deletes these instances and their `<name>.lxops` profiles at the end.
    pub fn new(cluster: TestCluster, instances: &[&str]) -> Self {
        Cleanup {
            cluster,
            instances: instances.iter().map(|s| s.to_string()).collect(),
            profiles: instances.iter().map(|s| format!("{s}.lxops")).collect(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let instances = std::mem::take(&mut self.instances);
        let profiles = std::mem::take(&mut self.profiles);
        let cluster = self.cluster;
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let server = match cluster.daemon.backend().connect(&cluster.options()).await {
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
