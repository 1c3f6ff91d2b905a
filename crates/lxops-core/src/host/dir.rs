//! The plain-directory driver: `mkdir -p` in Rust; no snapshots, no clones.

use std::path::Path;

use super::driver::{FsDriver, FsState, HostView};
use super::marks;
use super::validate;
use super::{FilesystemSpec, HostError, HostRunner};

/// The plain-directory driver.
pub(crate) struct DirDriver;

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

    fn unsupported_hint(&self) -> &'static str {
        "plain directories have no snapshots; use a zfs or btrfs filesystem"
    }
}
