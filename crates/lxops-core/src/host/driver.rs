//! The one trait every filesystem kind implements ([`FsDriver`]), the lookup of a kind's driver,
//! and [`HostView`]: a runner plus what was already read from it (the ZFS dataset list), so one
//! call spawns `zfs list` at most once.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::btrfs::BtrfsDriver;
use super::dir::DirDriver;
use super::zfs::{self, ZfsDriver};
use super::{FilesystemSpec, FsKind, HostError, HostRunner, PathKind};

/// What is known about a filesystem on the host.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FsState {
    /// It exists.
    pub exists: bool,
    /// Its directory; `None` when it has none (a ZFS `legacy`/`none` mountpoint).
    pub dir: Option<PathBuf>,
    /// Why there is no directory (the mountpoint value).
    pub no_dir_reason: String,
}

impl FsState {
    /// The directory, or [`HostError::NoMountpoint`].
    pub fn require_dir(&self, fs: &FilesystemSpec) -> Result<PathBuf, HostError> {
        self.dir.clone().ok_or_else(|| HostError::NoMountpoint {
            id: fs.id.clone(),
            dataset: fs.path.clone(),
            mountpoint: self.no_dir_reason.clone(),
        })
    }
}

/// A runner and the host state read through it during one call.
pub(crate) struct HostView<'a> {
    /// The runner.
    pub host: &'a dyn HostRunner,
    zfs: OnceCell<BTreeMap<String, String>>,
}

impl<'a> HostView<'a> {
    /// A view that has read nothing yet.
    pub fn new(host: &'a dyn HostRunner) -> Self {
        HostView {
            host,
            zfs: OnceCell::new(),
        }
    }

    /// Every ZFS filesystem on the host, by name, with its `mountpoint` (one `zfs list`).
    pub fn zfs_datasets(&self) -> Result<&BTreeMap<String, String>, HostError> {
        if let Some(datasets) = self.zfs.get() {
            return Ok(datasets);
        }
        let datasets = zfs::list_datasets(self.host)?;
        Ok(self.zfs.get_or_init(|| datasets))
    }

    /// Whether `path` is a directory.
    pub fn is_dir(&self, path: &Path) -> Result<bool, HostError> {
        Ok(self.host.path_kind(path)? == Some(PathKind::Dir))
    }

    /// Whether anything is at `path`.
    pub fn exists(&self, path: &Path) -> Result<bool, HostError> {
        Ok(self.host.path_kind(path)?.is_some())
    }
}

/// One filesystem kind. Every method acts on one filesystem; callers never branch on the kind.
/// The snapshot methods default to those of a kind without snapshots: they refuse with
/// [`HostError::Unsupported`], which names the kind, the filesystem and what to do instead.
pub(crate) trait FsDriver: Sync {
    /// Refuses a path this kind cannot use (before anything is touched).
    fn validate(&self, fs: &FilesystemSpec) -> Result<(), HostError>;
    /// Whether it exists and where its directory is (queries only).
    fn probe(&self, view: &HostView<'_>, fs: &FilesystemSpec) -> Result<FsState, HostError>;
    /// Whether `child` is inside `parent` (so renaming or destroying `parent` covers it).
    fn contains(&self, parent: &FilesystemSpec, child: &FilesystemSpec) -> bool {
        Path::new(&child.path).starts_with(&parent.path) && child.path != parent.path
    }
    /// The step that [`FsDriver::create`] takes, as printed in a plan.
    fn describe_create(&self, fs: &FilesystemSpec) -> String;
    /// Creates it (parents first).
    fn create(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError>;
    /// The step that [`FsDriver::clone_from`] takes, as printed in a plan.
    fn describe_clone(&self, fs: &FilesystemSpec, source: &str, snapshot: &str) -> String {
        format!("clone {source}@{snapshot} -> {}", fs.path)
    }
    /// Creates it as a writable clone of `source` at `snapshot`.
    fn clone_from(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _source: &str,
        _snapshot: &str,
    ) -> Result<(), HostError> {
        Err(self.unsupported(fs, "clone"))
    }
    /// Whether it can take snapshots.
    fn can_snapshot(&self) -> bool {
        false
    }
    /// Takes a snapshot; returns its name.
    fn snapshot(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _recursive: bool,
    ) -> Result<String, HostError> {
        Err(self.unsupported(fs, "snapshot"))
    }
    /// Destroys a snapshot; returns its name.
    fn destroy_snapshot(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _recursive: bool,
    ) -> Result<String, HostError> {
        Err(self.unsupported(fs, "destroying a snapshot"))
    }
    /// Rolls back to a snapshot (its content comes back).
    fn rollback(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
    ) -> Result<(), HostError> {
        Err(self.unsupported(fs, "rollback"))
    }
    /// Renames `old` to `new` (same kind).
    fn rename(
        &self,
        view: &HostView<'_>,
        old: &FilesystemSpec,
        new: &FilesystemSpec,
    ) -> Result<(), HostError>;
    /// Destroys it with its content and snapshots (it exists).
    fn destroy(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError>;
    /// Calls `f` with a directory that holds the content of `snapshot`.
    fn with_snapshot_dir(
        &self,
        _view: &HostView<'_>,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _f: &mut dyn FnMut(&Path) -> Result<(), HostError>,
    ) -> Result<(), HostError> {
        Err(self.unsupported(fs, "export from a snapshot"))
    }
    /// What to do instead of an operation this kind does not support (the default methods
    /// above are those of a kind without snapshots).
    fn unsupported_hint(&self) -> &'static str {
        "filesystems of this kind have no snapshots; use a zfs or btrfs filesystem"
    }
    /// The refusal of `operation` on `fs`, naming its kind and [`FsDriver::unsupported_hint`].
    fn unsupported(&self, fs: &FilesystemSpec, operation: &'static str) -> HostError {
        HostError::Unsupported {
            operation,
            kind: fs.kind,
            id: fs.id.clone(),
            hint: self.unsupported_hint(),
        }
    }
}

/// The driver of `kind`.
pub(crate) fn driver(kind: FsKind) -> &'static dyn FsDriver {
    match kind {
        FsKind::Zfs => &ZfsDriver,
        FsKind::Dir => &DirDriver,
        FsKind::Btrfs => &BtrfsDriver,
        FsKind::Volume => &super::volume::VolumeDriver,
    }
}

/// The driver of a filesystem.
pub(crate) fn driver_of(fs: &FilesystemSpec) -> &'static dyn FsDriver {
    driver(fs.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;

    fn fs(kind: FsKind) -> FilesystemSpec {
        FilesystemSpec {
            filesystem: crate::config::InstanceFilesystem {
                id: "data".into(),
                kind,
                path: "/srv/data".into(),
                zfsproperties: BTreeMap::new(),
                transient: false,
                destroy: false,
            },
            mark: Some("default/a1".into()),
        }
    }

    /// Every snapshot operation of the kinds without snapshots, refused by the trait's defaults
    /// with the kind, the filesystem and what to do; the host is never touched.
    #[test]
    fn kinds_without_snapshots_refuse_every_snapshot_operation() {
        let mut out = String::new();
        for kind in [FsKind::Dir, FsKind::Volume] {
            let host = FakeHost::new().with_dirs(&["/srv/data"]);
            let view = HostView::new(&host);
            let (driver, fs) = (driver(kind), fs(kind));
            let results = [
                driver.clone_from(&host, &fs, "src", "s0").map(drop),
                driver.snapshot(&host, &fs, "s0", true).map(drop),
                driver.destroy_snapshot(&host, &fs, "s0", false).map(drop),
                driver.rollback(&host, &fs, "s0"),
                driver.with_snapshot_dir(&view, &fs, "s0", &mut |_| Ok(())),
            ];
            out.push_str(&format!(
                "{kind} (can_snapshot: {}):\n",
                driver.can_snapshot()
            ));
            for result in results {
                let line = match result {
                    Ok(()) => "ok (WRONG)".to_string(),
                    Err(e) => e.to_string(),
                };
                out.push_str(&format!("  {line}\n"));
            }
            assert_eq!(host.commands(), Vec::<String>::new(), "{kind}");
        }
        expect_test::expect![[r#"
            dir (can_snapshot: false):
              clone is not supported for dir filesystem `data`: plain directories have no snapshots; use a zfs or btrfs filesystem
              snapshot is not supported for dir filesystem `data`: plain directories have no snapshots; use a zfs or btrfs filesystem
              destroying a snapshot is not supported for dir filesystem `data`: plain directories have no snapshots; use a zfs or btrfs filesystem
              rollback is not supported for dir filesystem `data`: plain directories have no snapshots; use a zfs or btrfs filesystem
              export from a snapshot is not supported for dir filesystem `data`: plain directories have no snapshots; use a zfs or btrfs filesystem
            volume (can_snapshot: false):
              clone is not supported for volume filesystem `data`: a daemon volume is managed through the daemon's API, not on this host
              snapshot is not supported for volume filesystem `data`: a daemon volume is managed through the daemon's API, not on this host
              destroying a snapshot is not supported for volume filesystem `data`: a daemon volume is managed through the daemon's API, not on this host
              rollback is not supported for volume filesystem `data`: a daemon volume is managed through the daemon's API, not on this host
              export from a snapshot is not supported for volume filesystem `data`: a daemon volume is managed through the daemon's API, not on this host
        "#]].assert_eq(&out);
    }
}
