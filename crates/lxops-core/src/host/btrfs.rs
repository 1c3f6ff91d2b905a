//! The btrfs driver: subvolumes with the `btrfs` command (parent directories made in Rust).
//!
//! Snapshots are read-only subvolumes in a sibling directory:
//! `<parent>/.lxops-snapshots/<name>@<snapshot>` for the subvolume `<parent>/<name>`. Rollback
//! replaces the subvolume by a writable snapshot of the snapshot; a clone is a writable snapshot
//! of a snapshot; destroy deletes the subvolume and its snapshots.

use std::path::{Path, PathBuf};

use super::dir::rename_dir;
use super::driver::{FsDriver, FsState, HostView};
use super::marks;
use super::runner::path_str;
use super::validate;
use super::{FilesystemSpec, HostCommand, HostError, HostRunner};

/// The btrfs driver.
pub(crate) struct BtrfsDriver;

/// The directory that holds the snapshots of the subvolume `subvolume`.
fn snapshots_dir(subvolume: &Path) -> PathBuf {
    subvolume
        .parent()
        .unwrap_or(Path::new("/"))
        .join(".lxops-snapshots")
}

fn base_name(subvolume: &Path) -> String {
    subvolume
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where the btrfs snapshot `snapshot` of the subvolume `subvolume` is kept:
/// `<parent>/.lxops-snapshots/<name>@<snapshot>`.
pub fn btrfs_snapshot_dir(subvolume: &Path, snapshot: &str) -> PathBuf {
    snapshots_dir(subvolume).join(format!("{}@{snapshot}", base_name(subvolume)))
}

fn btrfs(args: &[&str]) -> HostCommand {
    HostCommand::privileged("btrfs", args.iter().copied())
}

fn delete(host: &dyn HostRunner, path: &Path) -> Result<(), HostError> {
    host.run(&btrfs(&["subvolume", "delete", &path_str(path)]))
}

fn writable_snapshot(host: &dyn HostRunner, from: &Path, to: &Path) -> Result<(), HostError> {
    host.run(&btrfs(&[
        "subvolume",
        "snapshot",
        &path_str(from),
        &path_str(to),
    ]))
}

fn existing_snapshot(
    host: &dyn HostRunner,
    path: &Path,
    snapshot: &str,
) -> Result<PathBuf, HostError> {
    let dir = btrfs_snapshot_dir(path, snapshot);
    if host.path_kind(&dir)?.is_none() {
        return Err(HostError::Missing {
            what: "btrfs snapshot",
            path: dir,
        });
    }
    Ok(dir)
}

/// The snapshots of `subvolume` (full paths).
fn snapshots_of(host: &dyn HostRunner, subvolume: &Path) -> Result<Vec<PathBuf>, HostError> {
    let dir = snapshots_dir(subvolume);
    if host.path_kind(&dir)?.is_none() {
        return Ok(Vec::new());
    }
    let prefix = format!("{}@", base_name(subvolume));
    Ok(host
        .read_dir(&dir)?
        .into_iter()
        .filter(|name| name.starts_with(&prefix))
        .map(|name| dir.join(name))
        .collect())
}

impl FsDriver for BtrfsDriver {
    fn validate(&self, fs: &FilesystemSpec) -> Result<(), HostError> {
        validate::absolute_dir(&format!("filesystem `{}` dir", fs.id), Path::new(&fs.path))?;
        if Path::new(&fs.path).parent().is_none() {
            return Err(HostError::Invalid {
                what: format!("filesystem `{}` dir", fs.id),
                value: fs.path.clone(),
                reason: "a btrfs subvolume needs a parent directory".into(),
            });
        }
        Ok(())
    }

    fn probe(&self, view: &HostView<'_>, fs: &FilesystemSpec) -> Result<FsState, HostError> {
        Ok(FsState {
            exists: view.is_dir(Path::new(&fs.path))?,
            dir: Some(fs.path.clone().into()),
            no_dir_reason: String::new(),
        })
    }

    fn describe_create(&self, fs: &FilesystemSpec) -> String {
        btrfs(&["subvolume", "create", &fs.path]).to_string()
    }

    fn create(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        let path = Path::new(&fs.path);
        if let Some(parent) = path.parent() {
            host.mkdir_p(parent)?;
        }
        host.run(&btrfs(&["subvolume", "create", &fs.path]))?;
        marks::mark_dir(host, fs)
    }

    fn describe_clone(&self, fs: &FilesystemSpec, source: &str, snapshot: &str) -> String {
        let from = btrfs_snapshot_dir(Path::new(source), snapshot);
        btrfs(&["subvolume", "snapshot", &path_str(&from), &fs.path]).to_string()
    }

    fn clone_from(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        source: &str,
        snapshot: &str,
    ) -> Result<(), HostError> {
        let from = existing_snapshot(host, Path::new(source), snapshot)?;
        let path = Path::new(&fs.path);
        if let Some(parent) = path.parent() {
            host.mkdir_p(parent)?;
        }
        writable_snapshot(host, &from, path)?;
        // The snapshot carries the source's mark: the clone gets its own.
        marks::mark_dir(host, fs)
    }

    fn can_snapshot(&self) -> bool {
        true
    }

    fn snapshot(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        snapshot: &str,
        _recursive: bool,
    ) -> Result<String, HostError> {
        let path = Path::new(&fs.path);
        let to = btrfs_snapshot_dir(path, snapshot);
        host.mkdir_p(&snapshots_dir(path))?;
        host.run(&btrfs(&[
            "subvolume",
            "snapshot",
            "-r",
            &fs.path,
            &path_str(&to),
        ]))?;
        Ok(path_str(&to))
    }

    fn destroy_snapshot(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        snapshot: &str,
        _recursive: bool,
    ) -> Result<String, HostError> {
        let dir = existing_snapshot(host, Path::new(&fs.path), snapshot)?;
        delete(host, &dir)?;
        Ok(path_str(&dir))
    }

    fn rollback(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        snapshot: &str,
    ) -> Result<(), HostError> {
        let path = Path::new(&fs.path);
        let from = existing_snapshot(host, path, snapshot)?;
        let temp = snapshots_dir(path).join(format!(
            "{}.rollback-{}",
            base_name(path),
            std::process::id()
        ));
        writable_snapshot(host, &from, &temp)?;
        delete(host, path)?;
        host.rename(&temp, path)
    }

    fn rename(
        &self,
        view: &HostView<'_>,
        old: &FilesystemSpec,
        new: &FilesystemSpec,
    ) -> Result<(), HostError> {
        let snapshots = snapshots_of(view.host, Path::new(&old.path))?;
        rename_dir(view, old, new)?;
        let new_path = Path::new(&new.path);
        if !snapshots.is_empty() {
            view.host.mkdir_p(&snapshots_dir(new_path))?;
        }
        // A read-only subvolume cannot be moved to another directory: snapshot it anew.
        let old_prefix = format!("{}@", base_name(Path::new(&old.path)));
        for snapshot in snapshots {
            let name = base_name(&snapshot);
            let snap = name.strip_prefix(&old_prefix).unwrap_or(&name);
            let to = btrfs_snapshot_dir(new_path, snap);
            view.host.run(&btrfs(&[
                "subvolume",
                "snapshot",
                "-r",
                &path_str(&snapshot),
                &path_str(&to),
            ]))?;
            delete(view.host, &snapshot)?;
        }
        Ok(())
    }

    fn destroy(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        let path = Path::new(&fs.path);
        for snapshot in snapshots_of(host, path)? {
            delete(host, &snapshot)?;
        }
        delete(host, path)
    }

    fn with_snapshot_dir(
        &self,
        view: &HostView<'_>,
        fs: &FilesystemSpec,
        snapshot: &str,
        f: &mut dyn FnMut(&Path) -> Result<(), HostError>,
    ) -> Result<(), HostError> {
        let dir = existing_snapshot(view.host, Path::new(&fs.path), snapshot)?;
        f(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_is_a_writable_snapshot_of_the_snapshot() {
        let host =
            crate::host::fake::FakeHost::new().with_dirs(&["/b/a1/.lxops-snapshots/home@s1"]);
        let fs = crate::host::FilesystemSpec {
            filesystem: crate::config::InstanceFilesystem {
                id: "home".into(),
                kind: crate::host::FsKind::Btrfs,
                path: "/b/a2/home".into(),
                zfsproperties: Default::default(),
                transient: false,
                destroy: false,
            },
            mark: Some("default/a1".into()),
        };
        assert_eq!(
            BtrfsDriver.describe_clone(&fs, "/b/a1/home", "s1"),
            "btrfs subvolume snapshot /b/a1/.lxops-snapshots/home@s1 /b/a2/home"
        );
        BtrfsDriver
            .clone_from(&host, &fs, "/b/a1/home", "s1")
            .unwrap();
        assert_eq!(
            host.log(),
            [
                "mkdir -p /b/a2",
                "btrfs subvolume snapshot /b/a1/.lxops-snapshots/home@s1 /b/a2/home",
                "setfattr -n user.lxops.instance -v default/a1 /b/a2/home",
            ]
        );
        let err = BtrfsDriver
            .clone_from(&host, &fs, "/b/a1/home", "nope")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "btrfs snapshot /b/a1/.lxops-snapshots/home@nope does not exist"
        );
    }

    #[test]
    fn snapshots_live_in_a_sibling_directory() {
        assert_eq!(
            btrfs_snapshot_dir(Path::new("/b/inst/home"), "s1"),
            PathBuf::from("/b/inst/.lxops-snapshots/home@s1")
        );
    }
}
