//! The host side: filesystems (ZFS datasets, plain directories, btrfs subvolumes) and device
//! directories.
//!
//! All host work goes through a [`HostRunner`]: [`SystemHost`] does it (privileged commands run
//! directly as root, else through `sudo`), [`DryRunHost`] only records the changes while its
//! read-only queries really run. Each filesystem kind has one driver behind one internal trait
//! (`driver::FsDriver`: [`FsKind::Zfs`], [`FsKind::Dir`], [`FsKind::Btrfs`]), so callers never
//! branch on the kind.
//!
//! - [`plan_devices`] validates a [`DeviceSetup`] and computes a [`DevicePlan`] (queries only);
//!   [`apply_devices`] carries it out. An existing device directory on an existing filesystem is
//!   never touched: this keeps data across rebuild and relaunch.
//! - [`device_sources`] gives the host directory of every device.
//! - [`ops`] holds the filesystem commands: list, snapshot, rollback, rename, destroy, export,
//!   import, copy, shiftids.
//!
//! Btrfs snapshots are read-only subvolumes in a sibling directory of the subvolume:
//! `<parent>/.lxops-snapshots/<name>@<snapshot>` (see [`btrfs_snapshot_dir`]).

mod btrfs;
mod copy_tree;
mod devices;
mod dir;
mod driver;
mod dry_run;
mod error;
#[cfg(test)]
pub(crate) mod fake;
mod marks;
pub mod ops;
mod runner;
mod safety;
pub mod tree;
mod validate;
mod zfs;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub use crate::config::{DeviceDir, FsKind, InstanceFilesystem};
pub use btrfs::btrfs_snapshot_dir;
pub use devices::{
    apply_devices, chown_paths, device_sources, plan_devices, undo_devices, ApplyReport, DevicePlan,
};
pub use dry_run::DryRunHost;
pub use error::HostError;
pub use marks::{instance_mark, PROFILE_CONFIG_KEY, PROFILE_MARK_KEY, XATTR_MARK, ZFS_MARK};
pub use runner::{HostCommand, HostRunner, PathKind, SystemHost};
pub use safety::{check_removal, InUse, Refusal, RemovalRules};

/// A numeric host owner (`uid:gid`), e.g. the host ids that container root maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Host user id.
    pub uid: u32,
    /// Host group id.
    pub gid: u32,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl std::str::FromStr for Owner {
    type Err = HostError;

    /// Parses `uid:gid` (numbers), as in the config's `device-owner`.
    fn from_str(value: &str) -> Result<Self, HostError> {
        let invalid = || HostError::Invalid {
            what: "device-owner".into(),
            value: value.into(),
            reason: "write it as UID:GID with numbers, e.g. 1000000:1000000".into(),
        };
        let (uid, gid) = value.trim().split_once(':').ok_or_else(invalid)?;
        Ok(Owner {
            uid: uid.parse().map_err(|_| invalid())?,
            gid: gid.parse().map_err(|_| invalid())?,
        })
    }
}

/// One filesystem of an instance as the host works with it: the config's filesystem (one type,
/// shared with [`config`](crate::config); a new kind is one [`FsKind`] variant) and the owner
/// mark lxops sets when it creates it. The filesystem's fields are reached through `Deref`
/// (`spec.path`, `spec.kind`).
#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemSpec {
    /// The evaluated filesystem: id, kind, path (ZFS dataset, or the absolute directory for
    /// [`FsKind::Dir`] and [`FsKind::Btrfs`]), ZFS properties, `transient` and `destroy`.
    pub filesystem: InstanceFilesystem,
    /// The owner mark set when lxops creates it ([`instance_mark`]: `<project>/<instance>`).
    pub mark: Option<String>,
}

impl std::ops::Deref for FilesystemSpec {
    type Target = InstanceFilesystem;

    fn deref(&self) -> &InstanceFilesystem {
        &self.filesystem
    }
}

impl std::ops::DerefMut for FilesystemSpec {
    fn deref_mut(&mut self) -> &mut InstanceFilesystem {
        &mut self.filesystem
    }
}

impl FilesystemSpec {
    /// The same filesystem at another path (same kind, mark and flags).
    pub fn with_path(&self, path: String) -> FilesystemSpec {
        let mut moved = self.clone();
        moved.path = path;
        moved
    }
}

/// One evaluated device of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// The device name (its key in the config).
    pub name: String,
    /// The id of the filesystem it lives on, if any.
    pub filesystem: Option<String>,
    /// Its directory.
    pub dir: DeviceDir,
    /// device-template: this directory is copied (like `rsync -a`) into a NEW device directory.
    pub template: Option<PathBuf>,
}

/// device-origin: clone the filesystems from snapshots of another instance's filesystems.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneSource {
    /// By filesystem id: the source path (ZFS dataset) and whether the source is transient.
    pub filesystems: BTreeMap<String, (String, bool)>,
    /// The snapshot name to clone from (`<source>@<snapshot>`).
    pub snapshot: String,
}

/// Everything needed to create the filesystems and device directories of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSetup {
    /// The instance's filesystems.
    pub filesystems: Vec<FilesystemSpec>,
    /// The instance's devices.
    pub devices: Vec<DeviceSpec>,
    /// The owner of new device directories (and new filesystem roots); `None` leaves them to
    /// the caller (see [`ApplyReport::created_dirs`]).
    pub owner: Option<Owner>,
    /// device-origin, if set.
    pub clone: Option<CloneSource>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync_static<T: Send + Sync + 'static>() {}
    fn send_static<T: Send + 'static>() {}

    #[test]
    fn errors_and_plans_can_cross_threads_and_runners_are_objects() {
        send_sync_static::<HostError>();
        send_static::<DevicePlan>();
        send_static::<ApplyReport>();
        let runners: Vec<Box<dyn HostRunner>> =
            vec![Box::new(SystemHost::new()), Box::new(DryRunHost::new())];
        assert_eq!(runners.len(), 2);
    }

    #[test]
    fn kinds_and_owners_print_like_the_config() {
        let kinds: Vec<String> = [FsKind::Zfs, FsKind::Dir, FsKind::Btrfs]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(kinds, ["zfs", "dir", "btrfs"]);
        assert_eq!(Owner { uid: 1, gid: 2 }.to_string(), "1:2");
    }

    #[test]
    fn owners_parse_from_uid_colon_gid() {
        let cases = [
            ("1000000:1000001", "Ok(Owner { uid: 1000000, gid: 1000001 })"),
            (" 0:0 ", "Ok(Owner { uid: 0, gid: 0 })"),
            ("1000", "Err(device-owner `1000` is invalid: write it as UID:GID with numbers, e.g. 1000000:1000000)"),
            ("root:root", "Err(device-owner `root:root` is invalid: write it as UID:GID with numbers, e.g. 1000000:1000000)"),
        ];
        for (text, want) in cases {
            let got = match text.parse::<Owner>() {
                Ok(owner) => format!("Ok({owner:?})"),
                Err(e) => format!("Err({e})"),
            };
            assert_eq!(got, want, "{text}");
        }
    }
}
