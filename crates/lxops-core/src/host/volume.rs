//! `type: volume` filesystems are daemon-managed custom volumes (`ops::volumes`), not host
//! filesystems: the ops layer leaves them out of every host setup. This driver only makes sure
//! that a volume that reached the host by mistake is refused, never treated as a path.

use super::driver::{FsDriver, FsState, HostView};
use super::{FilesystemSpec, HostError, HostRunner};

/// The refusing driver of [`FsKind::Volume`](super::FsKind::Volume).
pub(crate) struct VolumeDriver;

/// The refusal of `operation` on a volume that reached the host.
pub(crate) fn not_on_host(fs: &FilesystemSpec, operation: &'static str) -> HostError {
    VolumeDriver.unsupported(fs, operation)
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
    fn unsupported_hint(&self) -> &'static str {
        "a daemon volume is managed through the daemon's API, not on this host"
    }
}
