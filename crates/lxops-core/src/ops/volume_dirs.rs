//! Directories inside volumes, on a daemon whose devices attach them
//! ([`VolumeLayout::SubPath`](super::volumes::VolumeLayout), `source=VOLUME/DIR`).
//!
//! Incus refuses to start a disk device whose directory does not exist, and 6.0 has no file
//! API for custom volumes, so only a running instance can make one. The first start of an
//! instance whose devices need new directories therefore goes through a short-lived attach:
//!
//! 1. before the start, devices of the instance's own hide those devices of the per-instance
//!    profile (a `none` device of the same name) and attach each such volume whole, at
//!    `/.lxops-volume-N`;
//! 2. once it runs, `mkdir -p` in the instance makes the directories, owned by its root;
//! 3. giving the instance back its own devices as the plan has them plugs the profile's
//!    devices in, live, and lets go of the whole volumes;
//! 4. each volume records the directories in `user.lxops.dirs`, so later launches (a
//!    relaunch after `delete`, another instance with a copy) start straight away.
//!
//! Every step is safe to repeat: a run that was interrupted finds no record and goes through
//! them again. Only volumes lxops made for the instance get directories made; in another
//! volume the daemon's start names the directory that is missing.

use super::error::OpsError;
use super::volumes::{device_volume, PlannedVolume, VolumeCheck};
use crate::config;
use crate::lifecycle::{LifecycleError, Progress};
use crate::server::{ConfigMap, Device, Devices, ExecRequest, InstanceServer, InstanceUpdate};

/// The volume config key that records the directories lxops made in it (comma-separated).
pub const DIRS_KEY: &str = "user.lxops.dirs";

/// Directories to make inside one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDirs {
    /// The volume.
    pub volume: PlannedVolume,
    /// The directories (relative to the volume), sorted.
    pub dirs: Vec<String>,
    /// The directories its config records already (`user.lxops.dirs`, as the launch's check
    /// read it).
    pub recorded: Vec<String>,
}

/// The directories a volume's config records.
pub fn recorded(config: &ConfigMap) -> Vec<String> {
    config
        .get(DIRS_KEY)
        .map(|dirs| {
            dirs.split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The name prefix of the short-lived devices; config devices may not use it.
pub const DEVICE_PREFIX: &str = "lxops-volume-";

/// The device of the instance's own that attaches the `index`th volume whole, and its path.
fn whole_volume(index: usize) -> (String, String) {
    (
        format!("{DEVICE_PREFIX}{index}"),
        format!("/.{DEVICE_PREFIX}{index}"),
    )
}

/// The per-instance profile's devices that must wait for their directories.
fn waiting_devices(instance: &config::Instance, check: &VolumeCheck) -> Vec<String> {
    instance
        .devices
        .iter()
        .filter(|d| device_volume(instance, d, check.layout).is_some_and(|v| check.makes_dir(&v)))
        .map(|d| d.name.clone())
        .collect()
}

/// The step before the start (dry run and real run alike).
pub fn attach_lines(check: &VolumeCheck) -> Vec<String> {
    check
        .new_dirs
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "attach volume {} at {} until directories {} exist",
                n.volume,
                whole_volume(i).1,
                n.dirs.join(", ")
            )
        })
        .collect()
}

/// The step after the start (dry run and real run alike).
pub fn make_lines(instance: &config::Instance, check: &VolumeCheck) -> Vec<String> {
    if check.new_dirs.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "make the directories, then attach devices {} and detach the whole volumes",
        waiting_devices(instance, check).join(", ")
    )]
}

fn server_error(instance: &str, step: &str, e: crate::server::ServerError) -> OpsError {
    LifecycleError::server(instance, step.to_string(), e).into()
}

/// Sets the instance's own devices to `devices` (the rest of the instance as it is).
async fn set_devices(
    server: &dyn InstanceServer,
    name: &str,
    step: &str,
    change: impl FnOnce(&mut Devices),
) -> Result<(), OpsError> {
    let found = server
        .instance(name)
        .await
        .map_err(|e| server_error(name, "looking up the instance", e))?
        .ok_or_else(|| OpsError::Internal(format!("instance {name} vanished while {step}")))?;
    let mut update = InstanceUpdate::from(&found);
    let before = update.devices.clone();
    change(&mut update.devices);
    if update.devices == before {
        return Ok(());
    }
    server
        .update_instance(name, &update)
        .await
        .map_err(|e| server_error(name, step, e))
}

/// Step 1, before the instance starts: hide the waiting devices and attach the volumes whole.
pub(crate) async fn attach_whole_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    check: &VolumeCheck,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    if check.new_dirs.is_empty() {
        return Ok(());
    }
    for line in attach_lines(check) {
        progress.step(&line);
    }
    let waiting = waiting_devices(instance, check);
    set_devices(
        server,
        &instance.name,
        "attaching the volumes to make their directories",
        |devices| {
            for name in waiting {
                devices.insert(name, Device::from([("type".into(), "none".into())]));
            }
            for (i, n) in check.new_dirs.iter().enumerate() {
                let (name, path) = whole_volume(i);
                let device = Device::from([
                    ("type".into(), "disk".into()),
                    ("pool".into(), n.volume.pool.clone()),
                    ("source".into(), n.volume.name.clone()),
                    ("path".into(), path),
                ]);
                devices.insert(name, device);
            }
        },
    )
    .await
}

/// Steps 2 to 4, once the instance runs: make the directories, plug the profile's devices in
/// (`own` is the instance's own devices as the plan has them), record the directories.
pub(crate) async fn make_dirs(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    check: &VolumeCheck,
    own: &Devices,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    if check.new_dirs.is_empty() {
        return Ok(());
    }
    let name = instance.name.as_str();
    for line in make_lines(instance, check) {
        progress.step(&line);
    }
    let mut argv: Vec<String> = vec!["mkdir".into(), "-p".into()];
    for (i, n) in check.new_dirs.iter().enumerate() {
        let (_, path) = whole_volume(i);
        argv.extend(n.dirs.iter().map(|d| format!("{path}/{d}")));
    }
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = server
        .exec(name, &ExecRequest::argv(&args))
        .await
        .map_err(|e| server_error(name, "making the volume directories", e))?;
    if out.status != 0 {
        return Err(OpsError::Input(format!(
            "{}: `{}` in instance {name} failed ({}): {}; the image needs `mkdir`",
            instance.file.display(),
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let waiting = waiting_devices(instance, check);
    set_devices(
        server,
        name,
        "attaching the devices of the new volume directories",
        |devices| {
            for name in waiting {
                match own.get(&name) {
                    Some(device) => devices.insert(name, device.clone()),
                    None => devices.remove(&name),
                };
            }
            for i in 0..check.new_dirs.len() {
                let (name, _) = whole_volume(i);
                match own.get(&name) {
                    Some(device) => devices.insert(name, device.clone()),
                    None => devices.remove(&name),
                };
            }
        },
    )
    .await?;
    for n in &check.new_dirs {
        let v = &n.volume;
        let mut dirs = n.recorded.clone();
        dirs.extend(n.dirs.iter().cloned());
        dirs.sort();
        dirs.dedup();
        let record = ConfigMap::from([(DIRS_KEY.to_string(), dirs.join(","))]);
        server
            .patch_volume_config(&v.pool, &v.name, &record, check.member.as_deref())
            .await
            .map_err(|e| server_error(name, &format!("recording the directories of {v}"), e))?;
    }
    Ok(())
}
