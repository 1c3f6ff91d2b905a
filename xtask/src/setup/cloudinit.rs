//! The `cloudinit-oracle` image: Debian bookworm with the real cloud-init 22.4, built by the
//! shared `cloudinit-oracle/build-image.sh` (debootstrap, minutes the first time) into
//! [`CACHE_DIR`]`/cloudinit-oracle` and imported into both daemons. The differential test
//! (`cargo xtask oracle`) applies the same `#cloud-config` files with it and with lxops.
//!
//! The scripts are not part of this repository: they live beside the checkout, in
//! `../shared/tools/cloudinit-oracle` (or beside its parent directory, for a git worktree
//! under a directory of worktrees); `$LXOPS_CLOUDINIT_ORACLE` overrides the directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::ci::project_root;
use crate::cmd::{log, Cmd};

use super::CACHE_DIR;

/// The image alias the oracle scripts use.
pub const ORACLE_IMAGE: &str = "cloudinit-oracle";

/// The directory of the oracle scripts; an error that says where it was looked for when absent.
pub fn oracle_dir() -> Result<PathBuf> {
    let beside = |up: &str| {
        project_root()
            .join(up)
            .join("shared/tools/cloudinit-oracle")
    };
    let dir = match std::env::var_os("LXOPS_CLOUDINIT_ORACLE") {
        Some(dir) => PathBuf::from(dir),
        None if !beside("..").exists() && beside("../..").exists() => beside("../.."),
        None => beside(".."),
    };
    for script in ["build-image.sh", "run-case.sh", "snap.sh"] {
        if !dir.join(script).is_file() {
            bail!(
                "the cloud-init oracle scripts are missing: no {} (they live beside the \
                 checkout in ../shared/tools/cloudinit-oracle; set LXOPS_CLOUDINIT_ORACLE to \
                 their directory)",
                dir.join(script).display()
            );
        }
    }
    Ok(dir)
}

/// Builds the image unless its tarball is cached, and imports it where it is missing
/// (the script is idempotent; a second run only asks each daemon whether it has the image).
pub fn run() -> Result<()> {
    let dir = oracle_dir()?;
    let cache = Path::new(CACHE_DIR).join("cloudinit-oracle");
    if !cache.join("cloudinit-oracle.tar.gz").exists() {
        log(
            "cloudinit",
            format!("building the {ORACLE_IMAGE} image (debootstrap, a few minutes)"),
        );
    }
    let out = Cmd::new(dir.join("build-image.sh")).arg(&cache).read()?;
    log("cloudinit", out.trim());
    Ok(())
}
