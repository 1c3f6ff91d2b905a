//! A 1G loop-mounted btrfs at [`BTRFS_MOUNT`], for subvolume and snapshot tests.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cmd::{log, Cmd};

use super::{BTRFS_MOUNT, STATE_DIR};

/// Formats and mounts the btrfs image unless something is mounted there already.
pub fn run() -> Result<()> {
    if is_mounted(BTRFS_MOUNT)? {
        log("btrfs", format!("mounted at {BTRFS_MOUNT}"));
        return Ok(());
    }
    let image = Path::new(STATE_DIR).join("btrfs.img");
    if !image.exists() {
        log("btrfs", format!("creating {}", image.display()));
        let tmp = image.with_extension("img.tmp");
        Cmd::new("truncate").args(["-s", "1G"]).arg(&tmp).run()?;
        Cmd::new("mkfs.btrfs").arg("-q").arg(&tmp).run()?;
        std::fs::rename(&tmp, &image)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), image.display()))?;
    }
    log(
        "btrfs",
        format!("mounting {} at {BTRFS_MOUNT}", image.display()),
    );
    std::fs::create_dir_all(BTRFS_MOUNT).with_context(|| format!("cannot create {BTRFS_MOUNT}"))?;
    Cmd::new("mount")
        .args(["-o", "loop"])
        .arg(&image)
        .arg(BTRFS_MOUNT)
        .run()
}

/// Whether `dir` is a mount point, per `/proc/mounts`.
pub fn is_mounted(dir: &str) -> Result<bool> {
    Ok(mount_points()?.iter().any(|m| m == dir))
}

/// Every mount point listed in `/proc/mounts` (with `\040`-style escapes decoded).
pub fn mount_points() -> Result<Vec<String>> {
    let text = std::fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(unescape_mount)
        .collect())
}

fn unescape_mount(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::unescape_mount;

    #[test]
    fn mount_fields_are_unescaped() {
        for (field, want) in [
            ("/var/lib/x", "/var/lib/x"),
            ("/mnt/a\\040b", "/mnt/a b"),
            ("/mnt/tab\\011x", "/mnt/tab\tx"),
            ("/odd\\", "/odd\\"),
        ] {
            assert_eq!(unescape_mount(field), want);
        }
    }
}
