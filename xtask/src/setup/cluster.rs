//! 3-member Incus and LXD clusters for the cluster tests, next to the main daemons and not
//! touching them (`cluster-recipe.md`): Incus members `m1`..`m3` on 127.0.0.11-13:8443 under
//! `/var/lib/lxops-test/ic`, LXD members `l1`..`l3` on 127.0.0.21-23:8443 under
//! `/var/lib/lxops-test/lc`; each member a daemon with its own `INCUS_DIR`/`LXD_DIR` (short:
//! unix socket paths must stay under 108 bytes), started detached with `setsid` and its PID
//! recorded, so that teardown stops only them. Each cluster gets the busybox test images (v1
//! and v2), trusts the test client certificate ([`super::daemons::CLIENT_DIR`]) once, and
//! `conf/` is a client config directory naming remote `ic` / `lc` at member 1, pinned to the
//! cluster certificate.
//!
//! Idempotent: a healthy cluster (all members alive and ONLINE, images and config present) is
//! left alone in well under a second; anything else is torn down and built again (about 3 s).
//!
//! LXC cgroups are flat by container name host-wide, so every container on this cluster must
//! have a name no main-daemon test uses: the e2e tests name them `cs-*`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd::{log, Cmd};

use super::daemons::CLIENT_DIR;
use super::CACHE_DIR;

/// One test cluster: which daemon, where its state lives, how its members are named.
pub struct Cluster {
    /// `incus` or `lxd`, for logs.
    pub name: &'static str,
    /// The state directory: one daemon directory per member, logs, PIDs, CLI config.
    pub dir: &'static str,
    /// The members' names.
    pub members: [&'static str; 3],
    /// The remote name in `conf/config.yml` (member 1 over HTTPS).
    pub remote: &'static str,
    /// The last octet of member 1's loopback address, minus one.
    address_base: u32,
    /// The daemon program.
    daemon: &'static str,
    /// The daemon's directory variable (`INCUS_DIR`, `LXD_DIR`).
    dir_env: &'static str,
    /// The client's config variable (`INCUS_CONF`, `LXD_CONF`).
    conf_env: &'static str,
    /// The client.
    cli: &'static str,
    /// The program and prefix of `waitready` and `init` (`incus admin`, `lxd`).
    admin: &'static [&'static str],
    /// The trust subcommand (`add-certificate`, `add`).
    trust_add: &'static str,
    /// `protocol` of the remote.
    protocol: &'static str,
}

/// The Incus test cluster.
pub const INCUS: Cluster = Cluster {
    name: "incus",
    dir: "/var/lib/lxops-test/ic",
    members: ["m1", "m2", "m3"],
    remote: "ic",
    address_base: 10,
    daemon: "/usr/libexec/incus/incusd",
    dir_env: "INCUS_DIR",
    conf_env: "INCUS_CONF",
    cli: "incus",
    admin: &["incus", "admin"],
    trust_add: "add-certificate",
    protocol: "incus",
};

/// The LXD test cluster.
pub const LXD: Cluster = Cluster {
    name: "lxd",
    dir: "/var/lib/lxops-test/lc",
    members: ["l1", "l2", "l3"],
    remote: "lc",
    address_base: 20,
    daemon: "lxd",
    dir_env: "LXD_DIR",
    conf_env: "LXD_CONF",
    cli: "lxc",
    admin: &["lxd"],
    trust_add: "add",
    protocol: "lxd",
};

/// Both test clusters.
pub const CLUSTERS: [&Cluster; 2] = [&INCUS, &LXD];

/// The busybox test images on the clusters: (alias, tarball name under the cache directory).
const IMAGES: [(&str, &str); 2] = [
    ("lxops-test-busybox", "busybox-v1.tar.gz"),
    ("lxops-test-busybox-v2", "busybox-v2.tar.gz"),
];

/// Makes sure every test cluster is up; rebuilds one that is not healthy.
pub fn run() -> Result<()> {
    for cluster in CLUSTERS {
        cluster.run()?;
    }
    Ok(())
}

/// Tears every test cluster down.
pub fn down() -> Result<()> {
    for cluster in CLUSTERS {
        cluster.down()?;
    }
    Ok(())
}

impl Cluster {
    fn tag(&self) -> String {
        format!("cluster {}", self.name)
    }

    /// The loopback address of a member (`m1` -> `127.0.0.11:8443`).
    pub fn address(&self, member: &str) -> String {
        let n: u32 = member
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .parse()
            .unwrap_or(0);
        format!("127.0.0.{}:8443", self.address_base + n)
    }

    fn member_dir(&self, member: &str) -> PathBuf {
        Path::new(self.dir).join(member)
    }

    fn pid_file(&self, member: &str) -> PathBuf {
        Path::new(self.dir)
            .join("pids")
            .join(format!("{member}.pid"))
    }

    fn conf(&self) -> PathBuf {
        Path::new(self.dir).join("conf")
    }

    /// The client talking to `member` over its unix socket, with a private CLI config.
    fn client(&self, member: &str) -> Cmd {
        Cmd::new(self.cli)
            .env(self.dir_env, self.member_dir(member))
            .env(self.conf_env, Path::new(self.dir).join("cli"))
    }

    fn admin(&self, member: &str) -> Cmd {
        let (program, prefix) = self.admin.split_first().unwrap_or((&"incus", &[]));
        Cmd::new(program)
            .args(prefix.iter())
            .env(self.dir_env, self.member_dir(member))
            .env(self.conf_env, Path::new(self.dir).join("cli"))
    }

    /// The recorded PID of a member's daemon if that process is alive and is the daemon.
    fn member_pid(&self, member: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.pid_file(member)).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        // Only our daemon (not a recycled PID): its command line names our log file.
        String::from_utf8_lossy(&cmdline)
            .contains(self.dir)
            .then_some(pid)
    }

    fn run(&self) -> Result<()> {
        let started = Instant::now();
        if self.healthy() {
            log(
                &self.tag(),
                format!(
                    "3 members online ({}-{}) ({:.1}s)",
                    self.address(self.members[0]),
                    self.address(self.members[2]),
                    started.elapsed().as_secs_f64()
                ),
            );
            return Ok(());
        }
        if Path::new(self.dir).exists() {
            log(
                &self.tag(),
                "not healthy: tearing it down and building it again",
            );
            self.down()?;
        }
        self.up()?;
        log(
            &self.tag(),
            format!(
                "built in {:.1}s: members {} from {}, remote `{}` in {}",
                started.elapsed().as_secs_f64(),
                self.members.join(", "),
                self.address(self.members[0]),
                self.remote,
                self.conf().display()
            ),
        );
        Ok(())
    }

    fn healthy(&self) -> bool {
        if self.members.iter().any(|m| {
            self.member_pid(m).is_none()
                || UnixStream::connect(self.member_dir(m).join("unix.socket")).is_err()
        }) {
            return false;
        }
        let first = self.members[0];
        let Ok(list) = self
            .client(first)
            .args(["cluster", "list", "-f", "csv"])
            .read()
        else {
            return false;
        };
        let online = list
            .lines()
            .filter(|l| l.to_ascii_uppercase().contains(",ONLINE,"))
            .count();
        online == self.members.len()
            && self.conf().join("config.yml").exists()
            && IMAGES
                .iter()
                .all(|(alias, _)| self.client(first).args(["image", "info", alias]).succeeds())
    }

    fn up(&self) -> Result<()> {
        for sub in ["logs", "pids", "cli"] {
            std::fs::create_dir_all(Path::new(self.dir).join(sub))
                .with_context(|| format!("cannot create {}/{sub}", self.dir))?;
        }
        let first = self.members[0];
        self.start_member(first)?;
        self.admin(first)
            .args(["init", "--preseed"])
            .stdin(format!(
                "config:\n  core.https_address: {}\n  images.auto_update_interval: \"0\"\n\
                 storage_pools:\n- name: default\n  driver: dir\n\
                 profiles:\n- name: default\n  description: lxops test profile (root disk only, no network)\n  \
                 devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n\
                 cluster:\n  server_name: {first}\n  enabled: true\n",
                self.address(first)
            ))
            .run()?;
        for member in &self.members[1..] {
            self.start_member(member)?;
            let token = self
                .client(first)
                .args(["cluster", "add", member, "--quiet"])
                .read()?;
            self.admin(member)
                .args(["init", "--preseed"])
                .stdin(format!(
                    "cluster:\n  enabled: true\n  server_name: {member}\n  server_address: {}\n  \
                     cluster_address: {}\n  cluster_token: {}\n  member_config:\n  \
                     - entity: storage-pool\n    name: default\n    key: source\n    value: \"\"\n",
                    self.address(member),
                    self.address(first),
                    token.trim()
                ))
                .run()?;
        }
        for (alias, file) in IMAGES {
            let tarball = Path::new(CACHE_DIR).join(file);
            if !tarball.exists() {
                bail!(
                    "{} is missing: the image step of `cargo xtask setup` builds it",
                    tarball.display()
                );
            }
            self.client(first)
                .args(["image", "import"])
                .arg(&tarball)
                .args(["--alias", alias])
                .run()?;
        }
        self.client(first)
            .args(["config", "trust", self.trust_add])
            .arg(Path::new(CLIENT_DIR).join("client.crt"))
            .args(["--name", "lxops-test-client"])
            .run()?;
        self.write_client_config()
    }

    /// `conf/`: `config.yml` with the remote (member 1) and `<remote>2` (member 2), the
    /// cluster certificate pinned for both, and the test client certificate.
    fn write_client_config(&self) -> Result<()> {
        let conf = self.conf();
        std::fs::create_dir_all(conf.join("servercerts"))
            .with_context(|| format!("cannot create {}/servercerts", conf.display()))?;
        let cluster_cert = self.member_dir(self.members[0]).join("cluster.crt");
        let second = format!("{}2", self.remote);
        for remote in [self.remote, second.as_str()] {
            std::fs::copy(
                &cluster_cert,
                conf.join("servercerts").join(format!("{remote}.crt")),
            )
            .with_context(|| format!("cannot copy {}", cluster_cert.display()))?;
        }
        for file in ["client.crt", "client.key"] {
            std::fs::copy(Path::new(CLIENT_DIR).join(file), conf.join(file)).with_context(
                || format!("cannot copy {CLIENT_DIR}/{file} to {}", conf.display()),
            )?;
        }
        std::fs::write(
            conf.join("config.yml"),
            format!(
                "default-remote: local\nremotes:\n  local:\n    addr: unix://\n    public: false\n  \
                 {}:\n    addr: https://{}\n    protocol: {p}\n    public: false\n  \
                 {second}:\n    addr: https://{}\n    protocol: {p}\n    public: false\naliases: {{}}\n",
                self.remote,
                self.address(self.members[0]),
                self.address(self.members[1]),
                p = self.protocol,
            ),
        )
        .with_context(|| format!("cannot write {}/config.yml", conf.display()))
    }

    /// Starts one member detached (its own session), records its PID and waits until it is
    /// ready.
    fn start_member(&self, member: &str) -> Result<()> {
        let dir = self.member_dir(member);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let logs = Path::new(self.dir).join("logs");
        // `sh` writes its own PID, then becomes the daemon (exec): the recorded PID is the
        // daemon's.
        let script = format!(
            "echo $$ > {pid}; exec {daemon} --group root --logfile {log}",
            pid = self.pid_file(member).display(),
            daemon = self.daemon,
            log = logs.join(format!("{member}.log")).display()
        );
        Cmd::new("sh")
            .args(["-c", &script])
            .env(self.dir_env, &dir)
            .env("INCUS_SKIP_INSTANCE_TYPES", "1")
            .spawn_detached(&logs.join(format!("{member}.err")))?;
        self.admin(member)
            .args(["waitready", "--timeout", "60"])
            .run()
            .with_context(|| {
                format!(
                    "{} cluster member {member} did not become ready; see {}/logs",
                    self.name, self.dir
                )
            })
    }

    /// Tears the cluster down as the recipe's `down.sh` does: deletes its instances, stops the
    /// recorded daemons (SIGTERM, then SIGKILL after 30 s), kills containers orphaned by a dead
    /// daemon through their `[lxc monitor]` process, removes their leftover cgroups, unmounts
    /// what is left under the state directory, removes LXC's lock directories and then the
    /// state directory itself.
    fn down(&self) -> Result<()> {
        let started = Instant::now();
        if !Path::new(self.dir).exists() {
            return Ok(());
        }
        if let Some(member) = self.members.iter().find(|m| self.member_pid(m).is_some()) {
            if let Ok(names) = self
                .client(member)
                .args(["list", "-c", "n", "-f", "csv"])
                .read()
            {
                for name in names.lines().filter(|n| !n.is_empty()) {
                    if let Err(e) = self
                        .client(member)
                        .args(["delete", "--force", name, "-q"])
                        .run()
                    {
                        log(&self.tag(), format!("delete {name} failed: {e:#}"));
                    }
                }
            }
        }
        let pids: Vec<u32> = self
            .members
            .iter()
            .filter_map(|m| self.member_pid(m))
            .collect();
        for pid in &pids {
            let _ = Cmd::new("kill").args(["-TERM", &pid.to_string()]).run();
        }
        for pid in &pids {
            if !wait_exit(*pid, Duration::from_secs(30)) {
                log(
                    &self.tag(),
                    format!("pid {pid} still alive after 30s: SIGKILL"),
                );
                let _ = Cmd::new("kill").args(["-KILL", &pid.to_string()]).run();
                wait_exit(*pid, Duration::from_secs(10));
            }
        }
        self.kill_orphan_monitors()?;
        self.remove_cgroups();
        self.unmount_all()?;
        let lock = format!("/run/lxc/lock{}", self.dir);
        if Path::new(&lock).exists() {
            std::fs::remove_dir_all(&lock).with_context(|| format!("cannot remove {lock}"))?;
        }
        super::images::remove_tree(Path::new(self.dir))?;
        log(
            &self.tag(),
            format!("torn down in {:.1}s", started.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    /// `[lxc monitor] <dir>/<member>/containers NAME` processes left by a dead daemon: kills the
    /// container's init (the monitor's children), then the monitor.
    fn kill_orphan_monitors(&self) -> Result<()> {
        let prefix = format!("{}/", self.dir);
        let entries = std::fs::read_dir("/proc").context("cannot list /proc")?;
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let Some(rest) = cmdline.strip_prefix("[lxc monitor] ") else {
                continue;
            };
            if !rest.starts_with(&prefix) {
                continue;
            }
            log(
                &self.tag(),
                format!("orphan container monitor {pid}: {cmdline}"),
            );
            if let Ok(children) = Cmd::new("ps")
                .args(["-o", "pid=", "--ppid", &pid.to_string()])
                .read()
            {
                for child in children.split_whitespace() {
                    let _ = Cmd::new("kill").args(["-KILL", child]).run();
                }
            }
            if !wait_exit(pid, Duration::from_secs(10)) {
                let _ = Cmd::new("kill").args(["-KILL", &pid.to_string()]).run();
            }
        }
        Ok(())
    }

    /// Removes the (empty) cgroups of the containers this cluster had: only names found in
    /// its members' `containers` directories.
    fn remove_cgroups(&self) {
        let mut names = Vec::new();
        for member in self.members {
            if let Ok(entries) = std::fs::read_dir(self.member_dir(member).join("containers")) {
                names.extend(entries.flatten().map(|e| e.file_name()));
            }
        }
        let roots: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .chain([PathBuf::from("/sys/fs/cgroup")])
                    .collect()
            })
            .unwrap_or_default();
        for name in names {
            let name = name.to_string_lossy();
            for root in &roots {
                for kind in ["lxc.payload", "lxc.monitor"] {
                    let cgroup = root.join(format!("{kind}.{name}"));
                    if cgroup.is_dir() {
                        let _ = Cmd::new("find")
                            .arg(&cgroup)
                            .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
                            .read();
                        log(
                            &self.tag(),
                            format!("removed leftover cgroup {}", cgroup.display()),
                        );
                    }
                }
            }
        }
    }

    /// Unmounts (lazily, deepest first) everything mounted under the state directory.
    fn unmount_all(&self) -> Result<()> {
        let info =
            std::fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?;
        let prefix = format!("{}/", self.dir);
        let mut points: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_unstable_by(|a, b| b.cmp(a));
        for point in points {
            Cmd::new("umount").args(["-l", point]).run()?;
        }
        Ok(())
    }
}

fn wait_exit(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}
