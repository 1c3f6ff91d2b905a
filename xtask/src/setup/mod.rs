//! `cargo xtask setup`: installs and starts the real test environment on a Debian 12 host,
//! as root, following `test-environment.md`: packages, LXD and Incus side by side, a
//! file-backed zfs-fuse pool, a loop-mounted btrfs, the test images, the cloud-init oracle image
//! and the upstream oracle (the Go original's config reader, for the differential test).
//!
//! Every step checks first and skips what is already there, logging one line, so a second run
//! takes a few seconds.

mod apt;
mod btrfs;
mod busybox;
pub mod cloudinit;
pub mod cluster;
pub mod daemons;
mod images;
mod lock;
mod upstream;
mod zfs;

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::cmd::log;

/// Host state of the test environment (pool file, btrfs image and mount, lock).
pub const STATE_DIR: &str = "/var/lib/lxops-test";
/// Logs of the daemons xtask starts.
pub const LOG_DIR: &str = "/var/log/lxops-test";
/// Built image tarballs and the debootstrapped Debian rootfs.
pub const CACHE_DIR: &str = "/var/cache/lxops-test";
/// The file-backed ZFS pool the tests use.
pub const ZFS_POOL: &str = "lxopstest";
/// Where the test btrfs is mounted.
pub const BTRFS_MOUNT: &str = "/var/lib/lxops-test/btrfs";

/// Runs every set-up step in order.
pub fn run() -> Result<()> {
    let started = Instant::now();
    if !is_root() {
        bail!("`cargo xtask setup` must run as root (it installs packages and starts daemons)");
    }
    for dir in [STATE_DIR, LOG_DIR, CACHE_DIR] {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create directory {dir}: {e}"))?;
    }
    let _lock = lock::Lock::acquire(&Path::new(STATE_DIR).join("setup.lock"))?;
    apt::run()?;
    daemons::run()?;
    zfs::run()?;
    btrfs::run()?;
    let images = images::run()?;
    cluster::run()?;
    cloudinit::run()?;
    upstream::run()?;
    log(
        "setup",
        format!(
            "ready in {:.1}s: lxd + incus (pool `default`), zfs pool `{ZFS_POOL}`, btrfs at {BTRFS_MOUNT}, images {}",
            started.elapsed().as_secs_f64(),
            images.join(", ")
        ),
    );
    Ok(())
}

/// `cargo xtask teardown`: removes the test clusters (the main daemons stay).
pub fn teardown() -> Result<()> {
    if !is_root() {
        bail!("`cargo xtask teardown` must run as root");
    }
    let _lock = lock::Lock::acquire(&Path::new(STATE_DIR).join("setup.lock"))?;
    cluster::down()
}

/// `cargo xtask cluster up|down`: only the test clusters' set-up or teardown.
pub fn cluster(args: &[String]) -> Result<()> {
    if !is_root() {
        bail!("`cargo xtask cluster` must run as root");
    }
    let _lock = lock::Lock::acquire(&Path::new(STATE_DIR).join("setup.lock"))?;
    match args {
        [a] if a == "up" => cluster::run(),
        [a] if a == "down" => cluster::down(),
        _ => bail!("usage: cargo xtask cluster up|down"),
    }
}

fn is_root() -> bool {
    crate::cmd::Cmd::new("id")
        .arg("-u")
        .read()
        .is_ok_and(|uid| uid.trim() == "0")
}
