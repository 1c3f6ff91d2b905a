//! A static busybox built from Debian's own source package with busybox's default
//! configuration, for the busybox test image.
//!
//! Debian's `busybox-static` leaves out the account applets (`adduser`, `addgroup`, `passwd`,
//! `chpasswd`) that Alpine's busybox has, so an image made from it cannot stand in for Alpine
//! when cloud-config creates users. The default configuration has them. The source comes from
//! the host's own mirror (see [`super::apt::download_source`]); the binary is cached in
//! [`CACHE_DIR`], so the build (about a minute) happens once per machine.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cmd::{log, Cmd};

use super::images::remove_tree;
use super::{apt, CACHE_DIR};

/// The applets the busybox image must have for the cloud-config tests with `ostype: alpine`.
const REQUIRED_APPLETS: &[&str] = &["adduser", "addgroup", "passwd", "chpasswd", "ip", "sh"];

/// The cached binary, built first when missing.
pub fn binary() -> Result<PathBuf> {
    let dir = Path::new(CACHE_DIR).join("busybox-src");
    let binary = dir.join("busybox");
    if binary.exists() {
        return Ok(binary);
    }
    let download = dir.join("download");
    let build = dir.join("build");
    for d in [&download, &build] {
        remove_tree(d)?;
    }
    apt::download_source("busybox", &download, &dir.join("apt"))?;
    let orig = orig_tarball(&download)?;
    std::fs::create_dir_all(&build)?;
    Cmd::new("tar")
        .arg("-xf")
        .arg(&orig)
        .arg("-C")
        .arg(&build)
        .arg("--strip-components=1")
        .run()?;
    Cmd::new("make")
        .arg("defconfig")
        .current_dir(&build)
        .read()?;
    let config = build.join(".config");
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let text = text.replace("# CONFIG_STATIC is not set", "CONFIG_STATIC=y");
    std::fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    log(
        "images",
        format!("building busybox (make -j{jobs}, about a minute)"),
    );
    Cmd::new("make")
        .arg(format!("-j{jobs}"))
        .arg("busybox")
        .current_dir(&build)
        .read()?;
    check_applets(&build.join("busybox"))?;
    let tmp = dir.join("busybox.tmp");
    std::fs::copy(build.join("busybox"), &tmp)
        .with_context(|| format!("cannot copy the built busybox to {}", tmp.display()))?;
    std::fs::rename(&tmp, &binary)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), binary.display()))?;
    for d in [&download, &build] {
        remove_tree(d)?;
    }
    Ok(binary)
}

/// `busybox_<version>.orig.tar.*` in `dir`.
fn orig_tarball(dir: &Path) -> Result<PathBuf> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("busybox_") && name.contains(".orig.tar.") {
            return Ok(entry.path());
        }
    }
    bail!(
        "apt-get source busybox left no busybox_*.orig.tar.* in {}",
        dir.display()
    )
}

fn check_applets(binary: &Path) -> Result<()> {
    let list = Cmd::new(binary).arg("--list").read()?;
    let missing: Vec<&str> = REQUIRED_APPLETS
        .iter()
        .copied()
        .filter(|a| !list.lines().any(|l| l.trim() == *a))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the busybox built from source lacks applets {}",
            missing.join(", ")
        );
    }
    Ok(())
}
