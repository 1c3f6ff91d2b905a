//! ZFS over FUSE: the zfs-fuse daemon and a 2G file-backed pool named [`ZFS_POOL`].

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd::{log, Cmd};

use super::{LOG_DIR, STATE_DIR, ZFS_POOL};

/// Starts zfs-fuse, creates (or imports) the pool unless `zpool list <pool>` works, and makes
/// sure its datasets are mounted.
pub fn run() -> Result<()> {
    ensure_pool()?;
    ensure_mounted()
}

/// A restarted zfs-fuse finds the old daemon's FUSE mount of the pool still there ("Transport
/// endpoint is not connected") and cannot mount over it: unmount that and mount the datasets.
fn ensure_mounted() -> Result<()> {
    let mountpoint = Path::new("/").join(ZFS_POOL);
    let mounted = Cmd::new("zfs")
        .args(["get", "-H", "-o", "value", "mounted", ZFS_POOL])
        .read()
        .is_ok_and(|out| out.trim() == "yes");
    if mounted && std::fs::read_dir(&mountpoint).is_ok() {
        return Ok(());
    }
    log(
        "zfs",
        format!(
            "mounting {} again (stale or missing mount)",
            mountpoint.display()
        ),
    );
    // Fails harmlessly when nothing is mounted there.
    let _ = Cmd::new("umount").arg("-l").arg(&mountpoint).run();
    Cmd::new("zfs").args(["mount", "-a"]).run()
}

/// Creates or imports the pool unless `zpool list <pool>` works.
fn ensure_pool() -> Result<()> {
    if Cmd::new("zpool").args(["list", ZFS_POOL]).succeeds() {
        log("zfs", format!("pool `{ZFS_POOL}` exists"));
        return Ok(());
    }
    ensure_daemon()?;
    // A restarted zfs-fuse imports the pools it knew by itself.
    if Cmd::new("zpool").args(["list", ZFS_POOL]).succeeds() {
        log(
            "zfs",
            format!("pool `{ZFS_POOL}` is back after starting zfs-fuse"),
        );
        return Ok(());
    }
    let file = Path::new(STATE_DIR).join(format!("{ZFS_POOL}.zpool"));
    if file.exists() {
        log(
            "zfs",
            format!("importing pool `{ZFS_POOL}` from {}", file.display()),
        );
        return Cmd::new("zpool")
            .args(["import", "-d", STATE_DIR, ZFS_POOL])
            .run()
            .with_context(|| {
                format!(
                    "cannot import pool `{ZFS_POOL}`; to start afresh, remove {} and run setup again",
                    file.display()
                )
            });
    }
    log(
        "zfs",
        format!("creating pool `{ZFS_POOL}` on {}", file.display()),
    );
    Cmd::new("truncate").args(["-s", "2G"]).arg(&file).run()?;
    Cmd::new("zpool")
        .args(["create", ZFS_POOL])
        .arg(&file)
        .run()
}

fn daemon_answers() -> bool {
    Cmd::new("zpool").arg("list").succeeds()
}

fn ensure_daemon() -> Result<()> {
    if daemon_answers() {
        return Ok(());
    }
    log("zfs", "starting zfs-fuse");
    let pid_file = Path::new(STATE_DIR).join("zfs-fuse.pid");
    Cmd::new("zfs-fuse")
        .arg("--no-daemon")
        .arg("--pidfile")
        .arg(&pid_file)
        .spawn_detached(&Path::new(LOG_DIR).join("zfs-fuse.log"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if daemon_answers() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("zfs-fuse did not answer `zpool list` within 30s; see {LOG_DIR}/zfs-fuse.log")
}
