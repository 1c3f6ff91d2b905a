//! `type: volume` filesystems are daemon-managed custom volumes (`ops::volumes`), not host
//! filesystems: the ops layer leaves them out of every host setup. This driver only makes sure
//! that a volume that reached the host by mistake is refused, never treated as a path.

use std::path::Path;

use super::driver::{FsDriver, FsState, HostView};
use super::{FilesystemSpec, FsKind, HostError, HostRunner};

/// The refusing driver of [`FsKind::Volume`].
pub(crate) struct VolumeDriver;

pub(crate) fn not_on_host(fs: &FilesystemSpec, operation: &'static str) -> HostError {
    HostError::Unsupported {
        operation,
        kind: FsKind::Volume,
        id: fs.id.clone(),
        hint: "a daemon volume is managed through the daemon's API, not on this host",
    }
}

impl FsDriver for VolumeDriver {
    fn validate(&self, fs: &FilesystemSpec) -> Result<(), HostError> {
        Err(not_on_host(fs, "host work"))
    }
    fn probe(&self, _view: &HostView<'_>, fs: &FilesystemSpec) -> Result<FsState, HostError> {
        Err(not_on_host(fs, "probing"))
    }
    fn contains(&self, _parent: &FilesystemSpec, _child: &FilesystemSpec) -> bool {
        false
    }
    fn describe_create(&self, fs: &FilesystemSpec) -> String {
        format!("create volume {}", fs.path)
    }
    fn create(&self, _host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        Err(not_on_host(fs, "creating"))
    }
    fn clone_from(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _source: &str,
        _snapshot: &str,
    ) -> Result<(), HostError> {
        Err(not_on_host(fs, "cloning"))
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
        Err(not_on_host(fs, "snapshot"))
    }
    fn destroy_snapshot(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _recursive: bool,
    ) -> Result<String, HostError> {
        Err(not_on_host(fs, "destroying a snapshot"))
    }
    fn rollback(
        &self,
        _host: &dyn HostRunner,
        fs: &FilesystemSpec,
        _snapshot: &str,
    ) -> Result<(), HostError> {
        Err(not_on_host(fs, "rollback"))
    }
    fn rename(
        &self,
        _view: &HostView<'_>,
        old: &FilesystemSpec,
        _new: &FilesystemSpec,
    ) -> Result<(), HostError> {
        Err(not_on_host(old, "rename"))
    }
    fn destroy(&self, _host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        Err(not_on_host(fs, "destroy"))
    }
    fn with_snapshot_dir(
        &self,
        _view: &HostView<'_>,
        fs: &FilesystemSpec,
        _snapshot: &str,
        _f: &mut dyn FnMut(&Path) -> Result<(), HostError>,
    ) -> Result<(), HostError> {
        Err(not_on_host(fs, "reading a snapshot"))
    }
}
