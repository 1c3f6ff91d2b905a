//! ZFS over FUSE: the zfs-fuse daemon and a 2G file-backed pool named [`ZFS_POOL`].

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cmd::{log, Cmd};

use super::{LOG_DIR, STATE_DIR, ZFS_POOL};

/// Starts zfs-fuse and creates (or imports) the pool unless `zpool list <pool>` works.
pub fn run() -> Result<()> {
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
