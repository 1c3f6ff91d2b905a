//! [`Instance`]: a config evaluated for one instance, with its filesystems and devices.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The config evaluated for one instance: properties substituted, defaults applied, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Instance name.
    pub name: String,
    /// The top config file as given.
    pub file: PathBuf,
    /// The top file's description.
    pub description: String,
    /// Project; "" = the client's current project.
    pub project: String,
    /// OS type for cloud-config.
    pub ostype: String,
    /// Image (substituted).
    pub image: String,
    /// Copy the instance from here (substituted).
    pub origin: Option<String>,
    /// The cluster member (or `@group`) to launch on (substituted); `None`: the scheduler
    /// chooses (or the server is standalone).
    pub target: Option<String>,
    /// Copy device directories from this instance (substituted).
    pub device_template: Option<String>,
    /// Clone filesystems from `instance@snapshot` (substituted).
    pub device_origin: Option<String>,
    /// The config that defines the source instance (resolved).
    pub source_config: Option<PathBuf>,
    /// Extra instance creation options.
    pub lxc_options: Vec<String>,
    /// Profiles as configured (empty = none listed).
    pub profiles: Vec<String>,
    /// The per-instance profile: profile-pattern, default "(instance).lxops".
    pub profile: String,
    /// `uid:gid` owner of new filesystems and device directories.
    pub device_owner: Option<String>,
    /// Filesystems, sorted by id.
    pub filesystems: Vec<InstanceFilesystem>,
    /// Devices, sorted by name.
    pub devices: Vec<InstanceDevice>,
    /// The effective properties: global, then config, then `-P`; no built-ins, and no
    /// property named like a built-in (patterns never use those).
    pub properties: BTreeMap<String, String>,
    /// cloud-config files, resolved, conditional entries evaluated.
    pub cloud_config_files: Vec<PathBuf>,
}

impl Instance {
    /// The filesystem with this id.
    pub fn filesystem(&self, id: &str) -> Option<&InstanceFilesystem> {
        self.filesystems.iter().find(|f| f.id == id)
    }
}

/// A filesystem of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFilesystem {
    /// The id devices refer to.
    pub id: String,
    /// ZFS, directory or btrfs.
    pub kind: FsKind,
    /// Substituted pattern: ZFS dataset name, or absolute directory (dir, btrfs).
    pub path: String,
    /// ZFS properties.
    pub zfsproperties: BTreeMap<String, String>,
    /// Skipped by snapshots and copies.
    pub transient: bool,
    /// Destroyed by `destroy`.
    pub destroy: bool,
}

/// What kind of host filesystem: the config's `type`, and the host driver that manages it
/// (one type for `config` and `host`; a new kind is one variant here and one driver in `host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    /// A ZFS dataset, managed with the `zfs` command; its directory is its `mountpoint`.
    Zfs,
    /// A plain directory (no snapshots).
    Dir,
    /// A btrfs subvolume, managed with the `btrfs` command.
    Btrfs,
}

impl FsKind {
    /// `zfs`, `dir` or `btrfs`.
    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Zfs => "zfs",
            FsKind::Dir => "dir",
            FsKind::Btrfs => "btrfs",
        }
    }
}

impl std::fmt::Display for FsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A disk device of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceDevice {
    /// Device name.
    pub name: String,
    /// Mount path in the instance, absolute.
    pub path: String,
    /// Filesystem id.
    pub filesystem: Option<String>,
    /// Where the host directory is.
    pub dir: DeviceDir,
    /// Read-only.
    pub readonly: bool,
}

/// A device's host directory.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceDir {
    /// A substituted dir starting with `/`.
    Absolute(PathBuf),
    /// Dir `.`: the filesystem's directory itself.
    FilesystemRoot,
    /// A subdirectory of the filesystem's directory (empty dir = the device name).
    Relative(String),
}

impl std::fmt::Display for DeviceDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceDir::Absolute(p) => write!(f, "{}", p.display()),
            DeviceDir::FilesystemRoot => f.write_str("."),
            DeviceDir::Relative(d) => f.write_str(d),
        }
    }
}
