//! The plain-directory driver: `mkdir -p` in Rust; no snapshots, no clones.

use std::path::Path;

use super::driver::{FsDriver, FsState, HostView};
use super::marks;
use super::validate;
use super::{FilesystemSpec, FsKind, HostError, HostRunner};

/// The plain-directory driver.
pub(crate) struct DirDriver;

fn no_snapshots(fs: &FilesystemSpec, operation: &'static str) -> HostError {
    HostError::Unsupported {
        operation,
        kind: FsKind::Dir,
        id: fs.id.clone(),
        hint: "plain directories have no snapshots; use a zfs or btrfs filesystem",
    }
}

/// Renames a directory-like filesystem (its new parent is created); the new path must not exist.
pub(crate) fn rename_dir(
    view: &HostView<'_>,
    old: &FilesystemSpec,
    new: &FilesystemSpec,
) -> Result<(), HostError> {
    let to = Path::new(&new.path);
    if view.exists(to)? {
        return Err(HostError::AlreadyExists {
            path: to.to_path_buf(),
        });
    }
    if let Some(parent) = to.parent() {
        view.host.mkdir_p(parent)?;
    }
    view.host.rename(Path::new(&old.path), to)
}

impl FsDriver for DirDriver {
    fn validate(&self, fs: &FilesystemSpec) -> Result<(), HostError> {
        validate::absolute_dir(&format!("filesystem `{}` dir", fs.id), Path::new(&fs.path))
    }

    fn probe(&self, view: &HostView<'_>, fs: &FilesystemSpec) -> Result<FsState, HostError> {
        Ok(FsState {
            exists: view.is_dir(Path::new(&fs.path))?,
            dir: Some(fs.path.clone().into()),
            no_dir_reason: String::new(),
        })
    }

    fn describe_create(&self, fs: &FilesystemSpec) -> String {
        format!("mkdir -p {}", fs.path)
    }

    fn create(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        host.mkdir_p(Path::new(&fs.path))?;
        marks::mark_dir(host, fs)
    }

    fn clone_from(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _source: &str,
        _snapshot: &str,
    ) -> Result<(), HostError> {
        Err(no_snapshots(fs, "clone"))
    }

    fn can_snapshot(&self) -> bool {
        false
    }

    fn snapshot(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _recursive: bool,
    ) -> Result<String, HostError> {
        Err(no_snapshots(fs, "snapshot"))
    }

    fn destroy_snapshot(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _recursive: bool,
    ) -> Result<String, HostError> {
        Err(no_snapshots(fs, "destroying a snapshot"))
    }

    fn rollback(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
    ) -> Result<(), HostError> {
        Err(no_snapshots(fs, "rollback"))
    }

    fn rename(
        &self,
        view: &HostView<'_>,
        old: &FilesystemSpec,
        new: &FilesystemSpec,
    ) -> Result<(), HostError> {
        rename_dir(view, old, new)
    }

    fn destroy(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        host.remove_tree(Path::new(&fs.path))
    }

    fn with_snapshot_dir(
        &self,
        _view: &HostView<'_>,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _f: &mut dyn FnMut(&Path) -> Result<(), HostError>,
    ) -> Result<(), HostError> {
        Err(no_snapshots(fs, "export from a snapshot"))
    }
}
