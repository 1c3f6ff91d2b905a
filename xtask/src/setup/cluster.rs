//! A 3-member Incus cluster for the cluster tests, next to the main daemons and not touching
//! them (`cluster-recipe.md`): members `m1`..`m3`, each an `incusd` with its own `INCUS_DIR`
//! under [`DIR`] (short: unix socket paths must stay under 108 bytes) and its own loopback
//! address (127.0.0.11-13:8443), started detached with `setsid` and their PIDs recorded, so
//! that teardown stops only them. The cluster gets the busybox test images (v1 and v2), trusts
//! the test client certificate ([`super::daemons::CLIENT_DIR`]) once, and [`CONF`] is a client
//! config directory naming remote [`REMOTE`] at member 1, pinned to the cluster certificate.
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

/// The cluster's state directory: one `INCUS_DIR` per member, logs, PIDs, CLI config.
pub const DIR: &str = "/var/lib/lxops-test/ic";
/// The client config directory (`INCUS_CONF`) for lxops: remote [`REMOTE`] at member 1.
pub const CONF: &str = "/var/lib/lxops-test/ic/conf";
/// The remote name in [`CONF`].
pub const REMOTE: &str = "ic";
/// The members' names.
pub const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];
/// The busybox test images on the cluster: (alias, tarball name under the cache directory).
const IMAGES: [(&str, &str); 2] = [
    ("lxops-test-busybox", "busybox-v1.tar.gz"),
    ("lxops-test-busybox-v2", "busybox-v2.tar.gz"),
];

const TAG: &str = "cluster";

/// The loopback address of a member (`m1` -> `127.0.0.11:8443`).
pub fn address(member: &str) -> String {
    let n: u32 = member.trim_start_matches('m').parse().unwrap_or(0);
    format!("127.0.0.{}:8443", 10 + n)
}

fn member_dir(member: &str) -> PathBuf {
    Path::new(DIR).join(member)
}

fn pid_file(member: &str) -> PathBuf {
    Path::new(DIR).join("pids").join(format!("{member}.pid"))
}

/// The `incus` client talking to `member` over its unix socket, with a private CLI config.
fn incus(member: &str) -> Cmd {
    Cmd::new("incus")
        .env("INCUS_DIR", member_dir(member))
        .env("INCUS_CONF", Path::new(DIR).join("cli"))
}

/// The recorded PID of a member's daemon if that process is alive.
pub fn member_pid(member: &str) -> Option<u32> {
    let text = std::fs::read_to_string(pid_file(member)).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    // Only our incusd (not a recycled PID): its command line is the daemon's.
    String::from_utf8_lossy(&cmdline)
        .contains("incusd")
        .then_some(pid)
}

/// Makes sure the cluster is up; rebuilds it if it is not healthy.
pub fn run() -> Result<()> {
    let started = Instant::now();
    if healthy() {
        log(
            TAG,
            format!(
                "3 members online at 127.0.0.11-13:8443 ({:.1}s)",
                started.elapsed().as_secs_f64()
            ),
        );
        return Ok(());
    }
    if Path::new(DIR).exists() {
        log(TAG, "not healthy: tearing it down and building it again");
        down()?;
    }
    up()?;
    log(
        TAG,
        format!(
            "built in {:.1}s: members {} at 127.0.0.11-13:8443, remote `{REMOTE}` in {CONF}",
            started.elapsed().as_secs_f64(),
            MEMBERS.join(", ")
        ),
    );
    Ok(())
}

fn healthy() -> bool {
    if MEMBERS.iter().any(|m| {
        member_pid(m).is_none() || UnixStream::connect(member_dir(m).join("unix.socket")).is_err()
    }) {
        return false;
    }
    let Ok(list) = incus("m1").args(["cluster", "list", "-f", "csv"]).read() else {
        return false;
    };
    let online = list.lines().filter(|l| l.contains(",ONLINE,")).count();
    online == MEMBERS.len()
        && Path::new(CONF).join("config.yml").exists()
        && IMAGES
            .iter()
            .all(|(alias, _)| incus("m1").args(["image", "info", alias]).succeeds())
}

fn up() -> Result<()> {
    for sub in ["logs", "pids", "cli"] {
        std::fs::create_dir_all(Path::new(DIR).join(sub))
            .with_context(|| format!("cannot create {DIR}/{sub}"))?;
    }
    start_member("m1")?;
    incus("m1")
        .args(["admin", "init", "--preseed"])
        .stdin(format!(
            "config:\n  core.https_address: {}\n  images.auto_update_interval: \"0\"\n\
             storage_pools:\n- name: default\n  driver: dir\n\
             profiles:\n- name: default\n  description: lxops test profile (root disk only, no network)\n  \
             devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n\
             cluster:\n  server_name: m1\n  enabled: true\n",
            address("m1")
        ))
        .run()?;
    for member in &MEMBERS[1..] {
        start_member(member)?;
        let token = incus("m1")
            .args(["cluster", "add", member, "--quiet"])
            .read()?;
        incus(member)
            .args(["admin", "init", "--preseed"])
            .stdin(format!(
                "cluster:\n  enabled: true\n  server_name: {member}\n  server_address: {}\n  \
                 cluster_address: {}\n  cluster_token: {}\n  member_config:\n  \
                 - entity: storage-pool\n    name: default\n    key: source\n    value: \"\"\n",
                address(member),
                address("m1"),
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
        incus("m1")
            .args(["image", "import"])
            .arg(&tarball)
            .args(["--alias", alias])
            .run()?;
    }
    let client = Path::new(CLIENT_DIR);
    incus("m1")
        .args(["config", "trust", "add-certificate"])
        .arg(client.join("client.crt"))
        .args(["--name", "lxops-test-client"])
        .run()?;
    write_client_config()
}

/// [`CONF`]: `config.yml` with remote [`REMOTE`] (member 1) and `ic2` (member 2), the cluster
/// certificate pinned for both, and the test client certificate.
fn write_client_config() -> Result<()> {
    let conf = Path::new(CONF);
    std::fs::create_dir_all(conf.join("servercerts"))
        .with_context(|| format!("cannot create {CONF}/servercerts"))?;
    let cluster_cert = member_dir("m1").join("cluster.crt");
    for remote in [REMOTE, "ic2"] {
        std::fs::copy(
            &cluster_cert,
            conf.join("servercerts").join(format!("{remote}.crt")),
        )
        .with_context(|| format!("cannot copy {}", cluster_cert.display()))?;
    }
    for file in ["client.crt", "client.key"] {
        std::fs::copy(Path::new(CLIENT_DIR).join(file), conf.join(file))
            .with_context(|| format!("cannot copy {CLIENT_DIR}/{file} to {CONF}"))?;
    }
    std::fs::write(
        conf.join("config.yml"),
        format!(
            "default-remote: local\nremotes:\n  local:\n    addr: unix://\n    public: false\n  \
             {REMOTE}:\n    addr: https://{}\n    protocol: incus\n    public: false\n  \
             ic2:\n    addr: https://{}\n    protocol: incus\n    public: false\naliases: {{}}\n",
            address("m1"),
            address("m2")
        ),
    )
    .with_context(|| format!("cannot write {CONF}/config.yml"))
}

/// Starts one member detached (its own session), records its PID and waits until it is ready.
pub fn start_member(member: &str) -> Result<()> {
    let dir = member_dir(member);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let logs = Path::new(DIR).join("logs");
    std::fs::create_dir_all(&logs).context("cannot create the cluster log directory")?;
    std::fs::create_dir_all(Path::new(DIR).join("pids"))
        .context("cannot create the cluster pid directory")?;
    // `sh` writes its own PID, then becomes incusd (exec), so the recorded PID is the daemon's.
    let script = format!(
        "echo $$ > {pid}; exec /usr/libexec/incus/incusd --group root --logfile {log}",
        pid = pid_file(member).display(),
        log = logs.join(format!("{member}.log")).display()
    );
    Cmd::new("sh")
        .args(["-c", &script])
        .env("INCUS_DIR", &dir)
        .env("INCUS_SKIP_INSTANCE_TYPES", "1")
        .spawn_detached(&logs.join(format!("{member}.err")))?;
    incus(member)
        .args(["admin", "waitready", "--timeout", "60"])
        .run()
        .with_context(|| format!("cluster member {member} did not become ready; see {DIR}/logs"))
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn wait_exit(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while alive(pid) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

/// Tears the cluster down as the recipe's `down.sh` does: deletes its instances, stops the
/// recorded daemons (SIGTERM, then SIGKILL after 30 s), kills containers orphaned by a dead
/// daemon through their `[lxc monitor]` process, removes their leftover cgroups, unmounts what
/// is left under [`DIR`], removes LXC's lock directories and then [`DIR`] itself.
pub fn down() -> Result<()> {
    let started = Instant::now();
    if !Path::new(DIR).exists() {
        log(TAG, "nothing to tear down");
        return Ok(());
    }
    if let Some(member) = MEMBERS.iter().find(|m| member_pid(m).is_some()) {
        if let Ok(names) = incus(member).args(["list", "-c", "n", "-f", "csv"]).read() {
            for name in names.lines().filter(|n| !n.is_empty()) {
                if let Err(e) = incus(member).args(["delete", "--force", name, "-q"]).run() {
                    log(TAG, format!("delete {name} failed: {e:#}"));
                }
            }
        }
    }
    let pids: Vec<u32> = MEMBERS.iter().filter_map(|m| member_pid(m)).collect();
    for pid in &pids {
        let _ = Cmd::new("kill").args(["-TERM", &pid.to_string()]).run();
    }
    for pid in &pids {
        if !wait_exit(*pid, Duration::from_secs(30)) {
            log(TAG, format!("pid {pid} still alive after 30s: SIGKILL"));
            let _ = Cmd::new("kill").args(["-KILL", &pid.to_string()]).run();
            wait_exit(*pid, Duration::from_secs(10));
        }
    }
    kill_orphan_monitors()?;
    remove_cgroups();
    unmount_all()?;
    let lock = format!("/run/lxc/lock{DIR}");
    if Path::new(&lock).exists() {
        std::fs::remove_dir_all(&lock).with_context(|| format!("cannot remove {lock}"))?;
    }
    super::images::remove_tree(Path::new(DIR))?;
    log(
        TAG,
        format!("torn down in {:.1}s", started.elapsed().as_secs_f64()),
    );
    Ok(())
}

/// `[lxc monitor] /var/lib/lxops-test/ic/mN/containers NAME` processes left by a dead daemon:
/// kills the container's init (the monitor's children), then the monitor.
fn kill_orphan_monitors() -> Result<()> {
    let prefix = format!("{DIR}/");
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
        log(TAG, format!("orphan container monitor {pid}: {cmdline}"));
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

/// Removes the (empty) cgroups of the containers this cluster had: only names found in its
/// members' `containers` directories.
fn remove_cgroups() {
    let mut names = Vec::new();
    for member in MEMBERS {
        if let Ok(entries) = std::fs::read_dir(member_dir(member).join("containers")) {
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
                    log(TAG, format!("removed leftover cgroup {}", cgroup.display()));
                }
            }
        }
    }
}

/// Unmounts (lazily, deepest first) everything mounted under [`DIR`].
fn unmount_all() -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("cannot read mountinfo")?;
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(DIR))
        .collect();
    points.sort_unstable_by(|a, b| b.cmp(a));
    for point in points {
        Cmd::new("umount").args(["-l", point]).run()?;
    }
    Ok(())
}
