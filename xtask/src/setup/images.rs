//! The test images, built locally (containers have no internet) into [`CACHE_DIR`] and imported
//! into both daemons: a tiny busybox rootfs (busybox built from source, see [`busybox`]) and a
//! debootstrapped Debian minbase, each in two versions that differ in `/etc/lxops-test-release` (`v1`, `v2`), for rebuild tests.
//!
//! Tarballs are written to a temporary name and renamed when complete; an existing tarball is
//! reused. The Debian rootfs is debootstrapped once into a temporary directory and renamed
//! only after debootstrap succeeded (the caller holds the set-up lock, so two debootstraps
//! never share a directory).

use std::fmt::Write as _;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::cmd::{log, Cmd};

use super::daemons::DAEMONS;
use super::{apt, btrfs, busybox, CACHE_DIR};

/// The file inside each image that names its version.
pub const RELEASE_MARKER: &str = "etc/lxops-test-release";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Busybox,
    Debian,
}

struct Image {
    alias: &'static str,
    kind: Kind,
    version: &'static str,
}

const IMAGES: &[Image] = &[
    Image {
        alias: "lxops-test-busybox",
        kind: Kind::Busybox,
        version: "v1",
    },
    Image {
        alias: "lxops-test-busybox-v2",
        kind: Kind::Busybox,
        version: "v2",
    },
    Image {
        alias: "lxops-test-debian",
        kind: Kind::Debian,
        version: "v1",
    },
    Image {
        alias: "lxops-test-debian-v2",
        kind: Kind::Debian,
        version: "v2",
    },
];

/// `/sbin/init` of both images: idles, and exits at once on the daemon's stop signal (SIGPWR)
/// or SIGTERM/SIGINT, so a clean stop is quick. `wait` returns as soon as a trapped signal
/// arrives, unlike a foreground `sleep`.
const INIT: &str = "#!/bin/sh
# lxops test image init: idle until the container is asked to stop.
trap 'exit 0' PWR TERM INT
while :; do
    sleep 3600 &
    wait $!
done
";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";
const SHADOW: &str = "root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
";
const GROUP: &str = "root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:
staff:x:50:
users:x:100:
nogroup:x:65534:
";

/// Builds missing tarballs and imports missing aliases; returns the aliases.
pub fn run() -> Result<Vec<&'static str>> {
    for image in IMAGES {
        let tarball = tarball(image);
        if tarball.exists() {
            continue;
        }
        log("images", format!("building {}", tarball.display()));
        match image.kind {
            Kind::Busybox => build_busybox(image, &tarball)?,
            Kind::Debian => build_debian(image, &tarball)?,
        }
    }
    for daemon in DAEMONS {
        let mut present = Vec::new();
        for image in IMAGES {
            if Cmd::new(daemon.cli)
                .args(["image", "info", image.alias])
                .succeeds()
            {
                present.push(image.alias);
                continue;
            }
            import(daemon.cli, image)?;
        }
        if present.len() == IMAGES.len() {
            log(daemon.name, format!("{} test images present", IMAGES.len()));
        }
    }
    Ok(IMAGES.iter().map(|i| i.alias).collect())
}

fn tarball(image: &Image) -> PathBuf {
    let kind = match image.kind {
        Kind::Busybox => "busybox",
        Kind::Debian => "debian",
    };
    Path::new(CACHE_DIR).join(format!("{kind}-{}.tar.gz", image.version))
}

fn import(cli: &str, image: &Image) -> Result<()> {
    let tarball = tarball(image);
    log(
        cli,
        format!("importing {} as {}", tarball.display(), image.alias),
    );
    let result = Cmd::new(cli)
        .args(["image", "import"])
        .arg(&tarball)
        .args(["--alias", image.alias])
        .read();
    match result {
        Ok(_) => Ok(()),
        // The image is there under another alias (or none): just add the alias.
        Err(e) if e.to_string().contains("already exists") => {
            let sum = Cmd::new("sha256sum").arg(&tarball).read()?;
            let fingerprint = sum.split_whitespace().next().unwrap_or_default();
            Cmd::new(cli)
                .args(["image", "alias", "create", image.alias, fingerprint])
                .run()
        }
        Err(e) => Err(e),
    }
}

fn metadata(os: &str, release: &str, description: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "architecture: x86_64\ncreation_date: {now}\nproperties:\n  os: {os}\n  release: {release}\n  description: {}\n",
        yaml_string(description)
    )
}

/// `text` as a double-quoted YAML scalar (so `: ` and `#` inside it stay text).
fn yaml_string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

fn write(path: &Path, contents: &str, mode: u32) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Writes the version marker and `/sbin/init` into `rootfs` and `metadata.yaml` beside it.
fn finish_rootfs(dir: &Path, image: &Image, os: &str, release: &str, what: &str) -> Result<()> {
    let rootfs = dir.join("rootfs");
    write(
        &rootfs.join(RELEASE_MARKER),
        &format!("{}\n", image.version),
        0o644,
    )?;
    let init = rootfs.join("sbin/init");
    let _ = std::fs::remove_file(&init);
    write(&init, INIT, 0o755)?;
    let description = format!("lxops test image: {what} ({})", image.version);
    write(
        &dir.join("metadata.yaml"),
        &metadata(os, release, &description),
        0o644,
    )
}

/// Packs `dir/metadata.yaml` and `dir/rootfs` into `tarball` (via a temporary name).
fn pack(dir: &Path, tarball: &Path) -> Result<()> {
    let tmp = tarball.with_extension("gz.tmp");
    Cmd::new("tar")
        .args(["--one-file-system", "--numeric-owner", "-czf"])
        .arg(&tmp)
        .arg("-C")
        .arg(dir)
        .args(["metadata.yaml", "rootfs"])
        .run()?;
    std::fs::rename(&tmp, tarball)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), tarball.display()))
}

fn build_busybox(image: &Image, tarball: &Path) -> Result<()> {
    let dir = Path::new(CACHE_DIR).join("busybox-build");
    remove_tree(&dir)?;
    let rootfs = dir.join("rootfs");
    for sub in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home",
        "var/log", "run",
    ] {
        let path = rootfs.join(sub);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::set_permissions(rootfs.join("root"), std::fs::Permissions::from_mode(0o700))?;
    let built = busybox::binary()?;
    let busybox = rootfs.join("bin/busybox");
    std::fs::copy(&built, &busybox).with_context(|| format!("cannot copy {}", built.display()))?;
    std::fs::set_permissions(&busybox, std::fs::Permissions::from_mode(0o755))?;
    for applet in applets(&built)? {
        if applet == "bin/busybox" || applet == "sbin/init" || applet.contains("..") {
            continue;
        }
        let link = rootfs.join(&applet);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)
            .with_context(|| format!("cannot create symlink {}", link.display()))?;
    }
    write(&rootfs.join("etc/passwd"), PASSWD, 0o644)?;
    write(&rootfs.join("etc/shadow"), SHADOW, 0o600)?;
    write(&rootfs.join("etc/group"), GROUP, 0o644)?;
    write(&rootfs.join("etc/hostname"), "busybox\n", 0o644)?;
    finish_rootfs(&dir, image, "busybox", image.version, "busybox")?;
    pack(&dir, tarball)?;
    remove_tree(&dir)
}

/// The applet paths of `busybox` relative to `/` (`bin/sh`, `sbin/ifconfig`, ...).
fn applets(busybox: &Path) -> Result<Vec<String>> {
    let full = Cmd::new(busybox).arg("--list-full").read();
    let list =
        match full {
            Ok(list) => list,
            Err(_) => Cmd::new(busybox).arg("--list").read()?.lines().fold(
                String::new(),
                |mut acc, name| {
                    let _ = writeln!(acc, "bin/{name}");
                    acc
                },
            ),
        };
    Ok(list
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

fn build_debian(image: &Image, tarball: &Path) -> Result<()> {
    let codename = apt::codename()?;
    let dir = Path::new(CACHE_DIR).join("debian");
    if !dir.join("rootfs/etc/debian_version").exists() {
        debootstrap(&codename, &dir)?;
    }
    let what = format!("Debian {codename} minbase");
    finish_rootfs(&dir, image, "debian", &codename, &what)?;
    pack(&dir, tarball)
}

fn debootstrap(codename: &str, dir: &Path) -> Result<()> {
    let tmp = Path::new(CACHE_DIR).join("debian.tmp");
    remove_tree(&tmp)?;
    remove_tree(dir)?;
    let mirror = apt::mirror()?;
    let debs = Path::new(CACHE_DIR).join("debootstrap-debs");
    std::fs::create_dir_all(&debs)?;
    log(
        "images",
        format!("debootstrap --variant=minbase {codename} from {mirror} (takes minutes)"),
    );
    let target = tmp.join("rootfs");
    let result = Cmd::new("debootstrap")
        .arg("--variant=minbase")
        .arg(format!("--cache-dir={}", debs.display()))
        .arg(codename)
        .arg(&target)
        .arg(&mirror)
        .run();
    unmount_under(&tmp)?;
    result?;
    // Keep the image small: the package lists and cached .debs are not needed.
    for sub in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let path = target.join(sub);
        if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    std::fs::rename(&tmp, dir)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), dir.display()))
}

/// Unmounts everything mounted at or below `dir`, deepest first.
fn unmount_under(dir: &Path) -> Result<()> {
    let prefix = dir.to_string_lossy().into_owned();
    let mut mounts: Vec<String> = btrfs::mount_points()?
        .into_iter()
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mount in &mounts {
        if Cmd::new("umount").arg(mount).run().is_err() {
            Cmd::new("umount").arg("-l").arg(mount).run()?;
        }
    }
    Ok(())
}

/// Removes `dir` after unmounting anything below it, never crossing into another filesystem.
pub(super) fn remove_tree(dir: &Path) -> Result<()> {
    if dir.symlink_metadata().is_err() {
        return Ok(());
    }
    unmount_under(dir)?;
    let prefix = format!("{}/", dir.display());
    if btrfs::mount_points()?
        .iter()
        .any(|m| m.starts_with(&prefix))
    {
        bail!(
            "{} still has mounts below it; unmount them and retry",
            dir.display()
        );
    }
    Cmd::new("rm")
        .args(["-rf", "--one-file-system"])
        .arg(dir)
        .run()
}
