//! From an evaluated config to the host's device setup, and from resolved device directories
//! to the disk devices of the per-instance profile.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::OpsError;
use super::volumes::VolumeLayout;
use crate::config;
use crate::host::{self, CloneSource, DeviceSetup, DeviceSpec, FilesystemSpec, Owner};
use crate::plan::DiskDevice;

/// Parses `device-owner` (`uid:gid`, numeric).
pub fn parse_owner(file: &str, owner: &str) -> Result<Owner, OpsError> {
    let parsed = owner
        .split_once(':')
        .and_then(|(u, g)| Some((u.trim().parse().ok()?, g.trim().parse().ok()?)));
    match parsed {
        Some((uid, gid)) => Ok(Owner { uid, gid }),
        None => Err(OpsError::Input(format!(
            "{file}: device-owner {owner:?} is not UID:GID with numeric ids (e.g. 1000000:1000000)"
        ))),
    }
}

/// The host side of one filesystem of `instance`, carrying the instance's owner mark.
pub(crate) fn filesystem_spec(
    instance: &config::Instance,
    fs: &config::InstanceFilesystem,
) -> FilesystemSpec {
    FilesystemSpec {
        filesystem: fs.clone(),
        mark: Some(host::instance_mark(&instance.project, &instance.name)),
    }
}

/// The host filesystems of `instance`: all but its daemon volumes (`ops::volumes`).
pub(crate) fn host_filesystems(
    instance: &config::Instance,
) -> impl Iterator<Item = &config::InstanceFilesystem> {
    instance
        .filesystems
        .iter()
        .filter(|f| f.kind != config::FsKind::Volume)
}

/// Whether a device's directory is on the host (not in a daemon volume).
fn on_host(instance: &config::Instance, device: &config::InstanceDevice) -> bool {
    !super::volumes::is_volume_device(instance, device)
}

/// The device setup of a source instance (device-template, device-origin): its filesystems and
/// devices, with no owner, templates or clone.
pub fn source_setup(source: &config::Instance) -> DeviceSetup {
    DeviceSetup {
        filesystems: host_filesystems(source)
            .map(|fs| filesystem_spec(source, fs))
            .collect(),
        devices: source
            .devices
            .iter()
            .filter(|d| on_host(source, d))
            .map(|d| DeviceSpec {
                name: d.name.clone(),
                filesystem: d.filesystem.clone(),
                dir: d.dir.clone(),
                template: None,
            })
            .collect(),
        owner: None,
        clone: None,
    }
}

/// The device setup of `instance`. `templates` are the template instance's device directories
/// (device-template), by device name; `origin` is the source instance of device-origin.
pub fn device_setup(
    instance: &config::Instance,
    owner: Option<Owner>,
    templates: Option<&BTreeMap<String, PathBuf>>,
    origin: Option<(&config::Instance, &str)>,
) -> Result<DeviceSetup, OpsError> {
    let file = instance.file.display().to_string();
    let transient: BTreeMap<&str, bool> = instance
        .filesystems
        .iter()
        .map(|f| (f.id.as_str(), f.transient))
        .collect();
    let devices = instance
        .devices
        .iter()
        .filter(|d| on_host(instance, d))
        .map(|d| {
            let fs_transient = d
                .filesystem
                .as_deref()
                .and_then(|f| transient.get(f).copied())
                .unwrap_or(true);
            let template = match templates {
                Some(t) if !fs_transient && origin.is_none() => t.get(&d.name).cloned(),
                _ => None,
            };
            DeviceSpec {
                name: d.name.clone(),
                filesystem: d.filesystem.clone(),
                dir: d.dir.clone(),
                template,
            }
        })
        .collect();
    let clone = match origin {
        None => None,
        Some((source, snapshot)) => {
            let mut filesystems = BTreeMap::new();
            for fs in host_filesystems(instance) {
                let Some(src) = source.filesystems.iter().find(|s| s.id == fs.id) else {
                    return Err(OpsError::Input(format!(
                        "{file}: device-origin {}@{snapshot}: its config has no filesystem {:?}",
                        source.name, fs.id
                    )));
                };
                filesystems.insert(fs.id.clone(), (src.path.clone(), src.transient));
            }
            Some(CloneSource {
                filesystems,
                snapshot: snapshot.to_string(),
            })
        }
    };
    Ok(DeviceSetup {
        filesystems: host_filesystems(instance)
            .map(|fs| filesystem_spec(instance, fs))
            .collect(),
        devices,
        owner,
        clone,
    })
}

/// The disk devices of the per-instance profile: every config device with its host directory
/// (or its volume, attached as `layout` says).
pub fn disk_devices(
    instance: &config::Instance,
    sources: &BTreeMap<String, PathBuf>,
    layout: VolumeLayout,
) -> Result<Vec<DiskDevice>, OpsError> {
    instance
        .devices
        .iter()
        .map(|d| {
            if let Some(volume) = super::volumes::device_volume(instance, d, layout) {
                return Ok(DiskDevice {
                    name: d.name.clone(),
                    path: d.path.clone(),
                    source: PathBuf::from(volume.source()),
                    pool: Some(volume.pool.to_string()),
                    readonly: d.readonly,
                });
            }
            let source = sources.get(&d.name).cloned().ok_or_else(|| {
                OpsError::Internal(format!("no host directory resolved for device {}", d.name))
            })?;
            Ok(DiskDevice {
                name: d.name.clone(),
                path: d.path.clone(),
                source,
                pool: None,
                readonly: d.readonly,
            })
        })
        .collect()
}
