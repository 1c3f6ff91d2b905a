//! The volume driver: `type: volume` filesystems, custom storage volumes that the daemon
//! manages, created through [`InstanceServer`] where the instance lives (so they work with a
//! remote daemon and on clusters). The host code never sees them
//! (`ops::devices::host_filesystems`).
//!
//! **Devices.** A device whose `dir` is `.` attaches the volume itself (`pool=P source=VOL`).
//! A device with a directory inside the volume attaches that directory where the daemon can
//! ([`VolumeLayout::SubPath`]: Incus, extension `disk_volume_subpath`, `source=VOL/DIR`);
//! LXD 5.0 cannot, so there each such device gets a volume of its own, `VOL-DIR` (`/` in DIR
//! written `-`) ([`VolumeLayout::VolumePerDevice`]). A `type: volume` filesystem that no
//! device uses is one volume, `VOL`. Incus refuses to start a device whose sub-directory does
//! not exist yet; `ops::volume_dirs` makes them through a short-lived attach.
//!
//! **Placement.** Volume names are per cluster member, and an instance can only attach a
//! volume of its own member. So on a cluster lxops decides the member before anything is
//! created: the member of the instance's existing volumes (a relaunch or rebuild after
//! `delete`), else the config's `target` (or `--target`), else the online member with the
//! fewest instances of the project (ties broken by a hash of instance and member names, so a
//! fleet launched at once spreads); the instance is then created there (`?target=`). A
//! `@group` target is refused when the instance has volumes. A standalone server ignores all
//! of this.
//!
//! **Marks and safety.** lxops creates each volume with `user.lxops.instance=PROJECT/NAME`
//! (the text of the ZFS `lxops:instance` mark) and removes only volumes with this instance's
//! mark: transient ones with the instance (`delete`, `destroy`), `destroy: true` ones with
//! `destroy`. A volume with the right name but no mark, or another instance's mark, is kept
//! and reported.

use std::collections::BTreeMap;

use super::error::OpsError;
use super::volume_dirs::{self, NewDirs};
use crate::config::{self, DeviceDir, FsKind};
use crate::host::{self, PROFILE_MARK_KEY};
use crate::lifecycle::{LifecycleError, Progress};
use crate::server::{InstanceServer, NewVolume, ServerInfo, Volume};

/// The config key of lxops' mark on a volume (the same key as on profiles).
pub const VOLUME_MARK_KEY: &str = PROFILE_MARK_KEY;

/// The API extension that lets a disk device attach a directory inside a volume.
pub const SUBPATH_EXTENSION: &str = "disk_volume_subpath";

/// How a device attaches a directory inside a volume (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeLayout {
    /// `source=VOLUME/DIR`: one volume per filesystem (Incus).
    SubPath,
    /// A volume of its own for each such device, `VOLUME-DIR` (LXD 5.0).
    VolumePerDevice,
}

impl VolumeLayout {
    /// The layout a server supports.
    pub fn of(info: &ServerInfo) -> Self {
        if info.has_extension(SUBPATH_EXTENSION) {
            VolumeLayout::SubPath
        } else {
            VolumeLayout::VolumePerDevice
        }
    }
}

/// The layout of `server` (its info is read once per connection).
pub async fn volume_layout(
    server: &dyn InstanceServer,
    instance: &str,
) -> Result<VolumeLayout, OpsError> {
    let info = server
        .info()
        .await
        .map_err(|e| server_error(instance, "reading the server info", e))?;
    Ok(VolumeLayout::of(&info))
}

/// One daemon volume of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedVolume {
    /// The filesystem id it belongs to.
    pub fs_id: String,
    /// The storage pool.
    pub pool: String,
    /// The volume name.
    pub name: String,
    /// Removed with the instance.
    pub transient: bool,
    /// Removed by `destroy`.
    pub destroy: bool,
    /// The directories inside it that devices attach ([`VolumeLayout::SubPath`]), sorted.
    pub dirs: Vec<String>,
}

impl std::fmt::Display for PlannedVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.pool, self.name)
    }
}

/// What a device on a `type: volume` filesystem attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceVolume<'a> {
    /// The storage pool.
    pub pool: &'a str,
    /// The volume.
    pub volume: String,
    /// The directory inside the volume ([`VolumeLayout::SubPath`]).
    pub dir: Option<String>,
}

impl DeviceVolume<'_> {
    /// The device's `source`: `VOLUME` or `VOLUME/DIR`.
    pub fn source(&self) -> String {
        match &self.dir {
            Some(dir) => format!("{}/{dir}", self.volume),
            None => self.volume.clone(),
        }
    }
}

/// The volume a device uses, when its filesystem is a `type: volume` one (see the module docs
/// for the naming rule).
pub(crate) fn device_volume<'a>(
    instance: &'a config::Instance,
    device: &config::InstanceDevice,
    layout: VolumeLayout,
) -> Option<DeviceVolume<'a>> {
    let fs = instance.filesystem(device.filesystem.as_deref()?)?;
    let (pool, volume) = fs.volume()?;
    let (volume, dir) = match (&device.dir, layout) {
        (DeviceDir::FilesystemRoot, _) => (volume.to_string(), None),
        (DeviceDir::Relative(dir), VolumeLayout::SubPath) => {
            (volume.to_string(), Some(dir.clone()))
        }
        (DeviceDir::Relative(dir), VolumeLayout::VolumePerDevice) => {
            (format!("{volume}-{}", dir.replace('/', "-")), None)
        }
        // Refused by the config's evaluation; kept distinct so nothing else matches it.
        (DeviceDir::Absolute(dir), _) => (format!("{volume}-{}", dir.display()), None),
    };
    Some(DeviceVolume { pool, volume, dir })
}

/// Whether a device attaches a daemon volume (its filesystem is `type: volume`).
pub(crate) fn is_volume_device(
    instance: &config::Instance,
    device: &config::InstanceDevice,
) -> bool {
    device_volume(instance, device, VolumeLayout::SubPath).is_some()
}

/// `POOL/SOURCE` of a device on a `type: volume` filesystem, for listings (`i devices`).
pub fn device_volume_source(
    instance: &config::Instance,
    device: &config::InstanceDevice,
    layout: VolumeLayout,
) -> Option<String> {
    device_volume(instance, device, layout).map(|v| format!("{}/{}", v.pool, v.source()))
}

/// Every daemon volume of `instance`, each once, in filesystem order.
pub fn plan_volumes(instance: &config::Instance, layout: VolumeLayout) -> Vec<PlannedVolume> {
    let mut volumes: Vec<PlannedVolume> = Vec::new();
    for fs in instance
        .filesystems
        .iter()
        .filter(|f| f.kind == FsKind::Volume)
    {
        let Some((pool, volume)) = fs.volume() else {
            continue;
        };
        let mut used: Vec<DeviceVolume<'_>> = instance
            .devices
            .iter()
            .filter(|d| d.filesystem.as_deref() == Some(fs.id.as_str()))
            .filter_map(|d| device_volume(instance, d, layout))
            .collect();
        if used.is_empty() {
            used.push(DeviceVolume {
                pool,
                volume: volume.to_string(),
                dir: None,
            });
        }
        for device in used {
            let planned = match volumes
                .iter_mut()
                .find(|v| v.pool == pool && v.name == device.volume)
            {
                Some(planned) => planned,
                None => {
                    volumes.push(PlannedVolume {
                        fs_id: fs.id.clone(),
                        pool: pool.to_string(),
                        name: device.volume.clone(),
                        transient: fs.transient,
                        destroy: fs.destroy,
                        dirs: Vec::new(),
                    });
                    let last = volumes.len() - 1;
                    &mut volumes[last]
                }
            };
            if let Some(dir) = device.dir {
                if !planned.dirs.contains(&dir) {
                    planned.dirs.push(dir);
                    planned.dirs.sort();
                }
            }
        }
    }
    volumes
}

/// Checks the names of the planned volumes (a device's volume name is longer than the
/// filesystem's), before anything changes.
pub fn check_volume_names(
    instance: &config::Instance,
    volumes: &[PlannedVolume],
) -> Result<(), OpsError> {
    for v in volumes {
        if let Err(e) = crate::names::volume(&v.name) {
            return Err(OpsError::Input(format!(
                "{}: filesystem {}: {e}; shorten the filesystem's pattern or the device's dir",
                instance.file.display(),
                v.fs_id
            )));
        }
    }
    let prefix = super::volume_dirs::DEVICE_PREFIX;
    if let Some(d) = instance.devices.iter().find(|d| d.name.starts_with(prefix)) {
        return Err(OpsError::Input(format!(
            "{}: devices.{}: names starting with {prefix:?} are lxops' own (the short-lived \
             devices that make directories in volumes); rename the device",
            instance.file.display(),
            d.name
        )));
    }
    Ok(())
}

/// What a launch found out about the instance's volumes, before any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCheck {
    /// The cluster member the volumes (and so the instance) live on; `None` standalone.
    pub member: Option<String>,
    /// The volumes to create.
    pub missing: Vec<PlannedVolume>,
    /// device-template: by the name of a missing volume, the template instance's volume it
    /// is copied from, and the member that volume is on.
    pub copies: BTreeMap<String, (PlannedVolume, Option<String>)>,
    /// The directories to make inside volumes before their devices can start
    /// (`ops::volume_dirs`).
    pub new_dirs: Vec<NewDirs>,
    /// How devices attach directories inside volumes on this server.
    pub layout: VolumeLayout,
}

impl VolumeCheck {
    /// Whether the launch makes the directory that device volume `v` attaches.
    pub(crate) fn makes_dir(&self, v: &DeviceVolume<'_>) -> bool {
        v.dir.as_ref().is_some_and(|dir| {
            self.new_dirs.iter().any(|n| {
                n.volume.pool == v.pool && n.volume.name == v.volume && n.dirs.contains(dir)
            })
        })
    }
}

/// device-template: the template's volume for each of `volumes` (non-transient ones), paired
/// by filesystem id and position (the template is evaluated from a config with the same
/// filesystems and devices).
fn template_pairs(
    volumes: &[PlannedVolume],
    template: &config::Instance,
    layout: VolumeLayout,
) -> Vec<(PlannedVolume, PlannedVolume)> {
    let sources = plan_volumes(template, layout);
    let mut pairs = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for v in volumes {
        let index = seen.entry(v.fs_id.as_str()).or_insert(0);
        let source = sources
            .iter()
            .filter(|s| s.fs_id == v.fs_id)
            .nth(*index)
            .cloned();
        *index += 1;
        if let Some(source) = source.filter(|_| !v.transient) {
            pairs.push((v.clone(), source));
        }
    }
    pairs
}

fn server_error(instance: &str, step: &str, e: crate::server::ServerError) -> OpsError {
    LifecycleError::server(instance, step.to_string(), e).into()
}

/// Checks the pools, decides the member (see the module docs) and finds the volumes that do
/// not exist yet. Changes nothing.
pub async fn check_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    volumes: &[PlannedVolume],
    template: Option<&config::Instance>,
    target: Option<&str>,
) -> Result<VolumeCheck, OpsError> {
    let info = server
        .info()
        .await
        .map_err(|e| server_error(&instance.name, "reading the server info", e))?;
    let layout = VolumeLayout::of(&info);
    if volumes.is_empty() {
        return Ok(VolumeCheck {
            member: None,
            missing: Vec::new(),
            copies: BTreeMap::new(),
            new_dirs: Vec::new(),
            layout,
        });
    }
    let name = instance.name.as_str();
    let file = instance.file.display();
    check_volume_names(instance, volumes)?;
    let mut pools: Vec<&str> = volumes.iter().map(|v| v.pool.as_str()).collect();
    pools.sort_unstable();
    pools.dedup();
    for pool in pools {
        let found = server
            .storage_pool(pool)
            .await
            .map_err(|e| server_error(name, "reading the storage pool", e))?;
        if found.is_none() {
            let known = server
                .storage_pool_names()
                .await
                .map_err(|e| server_error(name, "listing the storage pools", e))?;
            return Err(OpsError::Input(format!(
                "{file}: storage pool {pool:?} does not exist on the {} server (its pools: [{}]); \
                 fix the filesystem's `pool`, or create the pool (`{} storage create {pool} dir`)",
                server.kind(),
                known.join(", "),
                cli(server)
            )));
        }
    }
    let member = if info.clustered {
        Some(choose_member(server, instance, volumes, target).await?)
    } else {
        None
    };
    let mark = host::instance_mark(&instance.project, &instance.name);
    let mut missing = Vec::new();
    // The directories each volume has already, as far as lxops knows.
    let mut has_dirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in volumes {
        let found = server
            .volume(&v.pool, &v.name, member.as_deref())
            .await
            .map_err(|e| server_error(name, "reading the volume", e))?;
        match found {
            None => missing.push(v.clone()),
            // Only lxops' own volumes get directories made; in a volume it did not make, the
            // daemon's start says which one is missing.
            Some(found) if found.config.get(VOLUME_MARK_KEY) == Some(&mark) => {
                has_dirs.insert(v.name.clone(), volume_dirs::recorded(&found.config));
            }
            Some(_) => {
                has_dirs.insert(v.name.clone(), v.dirs.clone());
            }
        }
    }
    let mut copies = BTreeMap::new();
    if let Some(template) = template {
        for (v, source) in template_pairs(&missing, template, layout) {
            let found = server
                .volume(&source.pool, &source.name, None)
                .await
                .map_err(|e| server_error(name, "reading the template's volume", e))?;
            let Some(found) = found else {
                return Err(OpsError::Input(format!(
                    "{file}: device-template {}: its volume {source} does not exist; launch \
                     the template first, or remove device-template",
                    template.name
                )));
            };
            let at = (!found.location.is_empty() && found.location != "none")
                .then(|| found.location.clone());
            // The copy keeps the template's directories (and their record).
            has_dirs.insert(v.name.clone(), volume_dirs::recorded(&found.config));
            copies.insert(v.name.clone(), (source, at));
        }
    }
    let new_dirs: Vec<NewDirs> = volumes
        .iter()
        .filter_map(|v| {
            let has = has_dirs.get(&v.name).map(Vec::as_slice).unwrap_or_default();
            let dirs: Vec<String> = v
                .dirs
                .iter()
                .filter(|d| !has.contains(d))
                .cloned()
                .collect();
            (!dirs.is_empty()).then(|| NewDirs {
                volume: v.clone(),
                dirs,
                recorded: has.to_vec(),
            })
        })
        .collect();
    check_per_device_volumes(server, instance, &new_dirs, member.as_deref()).await?;
    Ok(VolumeCheck {
        member,
        missing,
        copies,
        new_dirs,
        layout,
    })
}

/// Before a directory is made inside a volume, makes sure its data is not in a volume of its
/// own (`VOLUME-DIR`, marked for this instance): the layout lxops used on Incus too before it
/// attached directories inside a volume. Such a device would come up empty, with its data left
/// aside; the launch is refused instead, with the way out.
async fn check_per_device_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    new_dirs: &[NewDirs],
    member: Option<&str>,
) -> Result<(), OpsError> {
    let mark = host::instance_mark(&instance.project, &instance.name);
    for n in new_dirs {
        let v = &n.volume;
        for dir in &n.dirs {
            let own = format!("{}-{}", v.name, dir.replace('/', "-"));
            let found = server
                .volume(&v.pool, &own, member)
                .await
                .map_err(|e| server_error(&instance.name, "reading the volume", e))?;
            if found.is_some_and(|f| f.config.get(VOLUME_MARK_KEY) == Some(&mark)) {
                return Err(OpsError::Input(format!(
                    "{}: the data of directory {dir} of volume {v} is in volume {}/{own}, \
                     which an earlier lxops made for it (one volume per device directory); \
                     nothing was changed: copy its data into {}/{dir} and delete it (`{} \
                     storage volume delete {} {own}`), then run the command again",
                    instance.file.display(),
                    v.pool,
                    v.name,
                    cli(server),
                    v.pool
                )));
            }
        }
    }
    Ok(())
}

fn cli(server: &dyn InstanceServer) -> &'static str {
    match server.kind() {
        crate::server::ServerKind::Lxd => "lxc",
        _ => "incus",
    }
}

/// The member for the instance's volumes on a cluster (see the module docs).
async fn choose_member(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    volumes: &[PlannedVolume],
    target: Option<&str>,
) -> Result<String, OpsError> {
    let name = instance.name.as_str();
    let file = instance.file.display();
    if let Some(target) = target.filter(|t| t.starts_with('@')) {
        return Err(OpsError::Input(format!(
            "{file}: target {target:?} is a cluster group, but instance {name} has volume \
             filesystems, which live on one member: give a member as `target` (or --target)"
        )));
    }
    // Volumes that exist already (lxops looks on every member) pin the member.
    let mut found: Vec<String> = Vec::new();
    for v in volumes {
        match server.volume(&v.pool, &v.name, None).await {
            Ok(Some(volume)) => found.push(volume.location.clone()),
            Ok(None) => {}
            Err(e) => {
                return Err(OpsError::Input(format!(
                    "{file}: volume {v}: {e}; several members have a volume of that name: \
                     set `target` to the member whose volume the instance should use"
                )))
            }
        }
    }
    found.sort();
    found.dedup();
    match (found.as_slice(), target) {
        ([], Some(target)) => return Ok(target.to_string()),
        ([one], None) => return Ok(one.clone()),
        ([one], Some(target)) if one == target => return Ok(one.clone()),
        ([], None) => {}
        (members, target) => {
            return Err(OpsError::Input(format!(
                "{file}: the volumes of instance {name} are on member(s) [{}]{}; an instance \
                 can only use volumes of its own member: set `target` to that member, or move \
                 the volumes",
                members.join(", "),
                target.map_or(String::new(), |t| format!(", but its target is {t:?}"))
            )))
        }
    }
    let members = server
        .cluster_members()
        .await
        .map_err(|e| server_error(name, "listing the cluster members", e))?;
    let instances = server
        .instances()
        .await
        .map_err(|e| server_error(name, "listing the instances", e))?;
    let mut load: BTreeMap<&str, usize> = members
        .iter()
        .filter(|m| m.status.eq_ignore_ascii_case("online"))
        .map(|m| (m.name.as_str(), 0))
        .collect();
    for i in &instances {
        if let Some(n) = load.get_mut(i.location.as_str()) {
            *n += 1;
        }
    }
    least_loaded(&load, name).ok_or_else(|| {
        OpsError::Input(format!(
            "{file}: no cluster member is online to hold the volumes of instance {name}; \
                 start a member and run the command again"
        ))
    })
}

/// The member with the fewest instances; ties are broken by rendezvous hashing of the
/// instance and member names, so the instances of a fleet launched at once (which all see the
/// same counts) still spread over the members, and the same instance always gets the same
/// member.
pub(crate) fn least_loaded(load: &BTreeMap<&str, usize>, instance: &str) -> Option<String> {
    load.iter()
        .min_by_key(|(member, n)| (**n, rendezvous(instance, member), **member))
        .map(|(member, _)| member.to_string())
}

/// FNV-1a of `instance` NUL `member`: stable across runs and platforms (not `DefaultHasher`).
fn rendezvous(instance: &str, member: &str) -> u64 {
    let bytes = instance.bytes().chain([0]).chain(member.bytes());
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The lines a launch prints for creating `missing` (dry run and real run alike).
pub fn create_lines(check: &VolumeCheck) -> Vec<String> {
    check
        .missing
        .iter()
        .map(|v| {
            let what = match check.copies.get(&v.name) {
                Some((source, _)) => format!("copy volume {source} to {v}"),
                None => format!("create volume {v}"),
            };
            match &check.member {
                Some(member) => format!("{what} on member {member}"),
                None => what,
            }
        })
        .collect()
}

/// Creates the missing volumes, marked for the instance; returns those it made (for undo).
/// On failure it removes what it made first.
pub async fn create_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    check: &VolumeCheck,
    progress: &mut dyn Progress,
) -> Result<Vec<PlannedVolume>, OpsError> {
    let mark = host::instance_mark(&instance.project, &instance.name);
    let mut made = Vec::new();
    for (v, line) in check.missing.iter().zip(create_lines(check)) {
        progress.step(&line);
        let mut new = NewVolume {
            pool: v.pool.clone(),
            name: v.name.clone(),
            config: [(VOLUME_MARK_KEY.to_string(), mark.clone())].into(),
            description: format!("lxops filesystem {} of {}", v.fs_id, instance.name),
        };
        let result = match check.copies.get(&v.name) {
            None => server.create_volume(&new, check.member.as_deref()).await,
            Some((source, at)) => {
                // The copy's config replaces the source's: keep it (its `volatile.idmap.*`
                // says how the data is shifted), with this instance's mark.
                match server
                    .volume(&source.pool, &source.name, at.as_deref())
                    .await
                {
                    Ok(found) => {
                        let mut config = found.map(|f| f.config).unwrap_or_default();
                        config.insert(VOLUME_MARK_KEY.to_string(), mark.clone());
                        new.config = config;
                        server
                            .copy_volume(
                                &new,
                                &source.pool,
                                &source.name,
                                at.as_deref(),
                                check.member.as_deref(),
                            )
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            undo_volumes(server, &made, check.member.as_deref(), progress).await;
            return Err(server_error(&instance.name, "creating a volume", e));
        }
        made.push(v.clone());
    }
    Ok(made)
}

/// `device-owner` for the devices of the volumes and directories this launch made (the
/// instance runs): the host owner, seen from inside through the instance's id map, owns each
/// device's directory (`chown` in the instance: the volume's host path is not reachable from
/// a remote client). Without `device-owner` they belong to root of the instance already (the
/// daemon's first attach, or `mkdir` as root inside).
pub(crate) async fn own_new_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    check: &VolumeCheck,
    made: &[PlannedVolume],
    owner: Option<host::Owner>,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let Some(owner) = owner else { return Ok(()) };
    let name = instance.name.as_str();
    let is_new = |v: &DeviceVolume<'_>| {
        made.iter().any(|m| m.pool == v.pool && m.name == v.volume) || check.makes_dir(v)
    };
    let paths: Vec<&str> = instance
        .devices
        .iter()
        .filter(|d| device_volume(instance, d, check.layout).is_some_and(|v| is_new(&v)))
        .map(|d| d.path.as_str())
        .collect();
    if paths.is_empty() {
        return Ok(());
    }
    let idmap = server
        .instance_idmap(name)
        .await
        .map_err(|e| server_error(name, "reading the id map", e))?;
    let (Some(uid), Some(gid)) = (
        idmap.container_uid(owner.uid),
        idmap.container_gid(owner.gid),
    ) else {
        return Err(OpsError::Input(format!(
            "{}: device-owner {owner} is not in the id map of instance {name}, so no user in \
             it is that owner; give host ids of its range (e.g. root of the instance is {}:{})",
            instance.file.display(),
            idmap.host_uid(0).unwrap_or(0),
            idmap.host_gid(0).unwrap_or(0)
        )));
    };
    let ids = format!("{uid}:{gid}");
    progress.step(&format!(
        "chown {} to {ids} in the instance (device-owner {owner})",
        paths.join(" ")
    ));
    let mut argv = vec!["chown", ids.as_str()];
    argv.extend(paths);
    let out = server
        .exec(name, &crate::server::ExecRequest::argv(&argv))
        .await
        .map_err(|e| server_error(name, "owning the volume devices", e))?;
    if out.status != 0 {
        return Err(OpsError::Input(format!(
            "{}: `{}` in instance {name} failed ({}): {}; the image needs `chown`, or remove \
             device-owner",
            instance.file.display(),
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Deletes volumes this run made (after a failed launch), reporting each.
pub async fn undo_volumes(
    server: &dyn InstanceServer,
    made: &[PlannedVolume],
    member: Option<&str>,
    progress: &mut dyn Progress,
) {
    for v in made.iter().rev() {
        match server.delete_volume(&v.pool, &v.name, member).await {
            Ok(()) => progress.step(&format!("cleanup: deleted volume {v}")),
            Err(e) => progress.step(&format!("cleanup: could not delete volume {v}: {e}")),
        }
    }
}

/// A volume that exists, and whether lxops may remove it for this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovableVolume {
    /// The planned volume.
    pub volume: PlannedVolume,
    /// The member it is on (`None` standalone).
    pub member: Option<String>,
    /// Why it is kept; `None`: it carries this instance's mark and is removed.
    pub kept: Option<String>,
}

/// The existing volumes among `volumes` and whether each may be removed (only those marked
/// for this instance). Changes nothing.
pub async fn check_volume_removal(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    volumes: &[PlannedVolume],
    member: Option<&str>,
) -> Result<Vec<RemovableVolume>, OpsError> {
    let mark = host::instance_mark(&instance.project, &instance.name);
    let mut out = Vec::new();
    for v in volumes {
        let found: Option<Volume> = server
            .volume(&v.pool, &v.name, member)
            .await
            .map_err(|e| server_error(&instance.name, "reading the volume", e))?;
        let Some(found) = found else { continue };
        let kept = match found.config.get(VOLUME_MARK_KEY) {
            Some(m) if *m == mark => None,
            Some(m) => Some(format!("it is marked for instance {m}, not {mark}")),
            None => Some("lxops did not make it (it has no user.lxops.instance mark)".into()),
        };
        let at = found.location.as_str();
        out.push(RemovableVolume {
            volume: v.clone(),
            member: member
                .map(str::to_string)
                .or_else(|| (!at.is_empty() && at != "none").then(|| at.to_string())),
            kept,
        });
    }
    Ok(out)
}

/// After `delete`: the instance's volumes that are still there (kept for a relaunch).
pub(crate) async fn list_remaining(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) {
    let mut left = Vec::new();
    let Ok(layout) = volume_layout(server, &instance.name).await else {
        return;
    };
    for v in plan_volumes(instance, layout) {
        // Only a report: the instance is gone already, so a lookup error is not the
        // command's failure.
        let target = instance.target.as_deref().filter(|t| !t.starts_with('@'));
        match server.volume(&v.pool, &v.name, target).await {
            Ok(Some(_)) => left.push(v.to_string()),
            Ok(None) => {}
            Err(e) => tracing::warn!(volume = %v, "cannot list the remaining volume: {e}"),
        }
    }
    if !left.is_empty() {
        progress.step(&format!("remaining volumes: {}", left.join(", ")));
    }
}

/// Deletes the removable volumes and reports the kept ones (with the manual command). The
/// instance must be gone (a volume in use cannot be deleted).
pub async fn remove_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    volumes: &[RemovableVolume],
    dry_run: bool,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    for r in volumes {
        let v = &r.volume;
        match &r.kept {
            Some(why) => progress.step(&format!(
                "keep volume {v} of filesystem {}: {why}; if you really mean it, run `{} storage volume delete {} {}` yourself",
                v.fs_id,
                cli(server),
                v.pool,
                v.name
            )),
            None => {
                progress.step(&format!("delete volume {v} of filesystem {}", v.fs_id));
                if !dry_run {
                    server
                        .delete_volume(&v.pool, &v.name, r.member.as_deref())
                        .await
                        .map_err(|e| server_error(&instance.name, "deleting a volume", e))?;
                }
            }
        }
    }
    Ok(())
}

/// The member that holds the instance's volumes on a cluster: the instance's, while it
/// exists, else its `target`; `None` lets the server find the one member that has them (and
/// on a standalone server).
pub(crate) async fn instance_member(
    server: &dyn InstanceServer,
    instance: &config::Instance,
) -> Result<Option<String>, OpsError> {
    let name = instance.name.as_str();
    let found = server
        .instance(name)
        .await
        .map_err(|e| server_error(name, "looking up the instance", e))?;
    let location = found
        .map(|i| i.location)
        .filter(|l| !l.is_empty() && l != "none");
    Ok(location.or_else(|| instance.target.clone().filter(|t| !t.starts_with('@'))))
}

/// The volumes that snapshots and rollbacks cover: all but the transient ones.
fn snapshotted(instance: &config::Instance, layout: VolumeLayout) -> Vec<PlannedVolume> {
    plan_volumes(instance, layout)
        .into_iter()
        .filter(|v| !v.transient)
        .collect()
}

/// `snapshot` of the instance's (non-transient) volumes, or with `destroy` the deletion of
/// those snapshots; the lines are printed in a dry run too.
pub(crate) async fn snapshot_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    snapshot: &str,
    destroy: bool,
    dry_run: bool,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let layout = volume_layout(server, &instance.name).await?;
    let volumes = snapshotted(instance, layout);
    if volumes.is_empty() {
        return Ok(());
    }
    let member = instance_member(server, instance).await?;
    let verb = if destroy {
        "destroy snapshot"
    } else {
        "snapshot"
    };
    for v in &volumes {
        progress.step(&format!("{verb} volume {v}/{snapshot}"));
        if dry_run {
            continue;
        }
        let result = if destroy {
            server
                .delete_volume_snapshot(&v.pool, &v.name, snapshot, member.as_deref())
                .await
        } else {
            server
                .create_volume_snapshot(&v.pool, &v.name, snapshot, member.as_deref())
                .await
        };
        result.map_err(|e| server_error(&instance.name, &format!("{verb} of volume {v}"), e))?;
    }
    Ok(())
}

/// Checks a volume rollback before any change: the instance is not running (the daemons
/// refuse to restore a volume a running instance uses) and every volume has the snapshot.
/// Returns the member the volumes are on.
pub(crate) async fn check_rollback(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    snapshot: &str,
) -> Result<Option<String>, OpsError> {
    let layout = volume_layout(server, &instance.name).await?;
    let volumes = snapshotted(instance, layout);
    if volumes.is_empty() {
        return Ok(None);
    }
    let name = instance.name.as_str();
    let found = server
        .instance(name)
        .await
        .map_err(|e| server_error(name, "looking up the instance", e))?;
    if found.as_ref().is_some_and(|i| i.status == "Running") {
        return Err(OpsError::Input(format!(
            "{}: instance {name} is running, and a volume it uses cannot be rolled back while \
             it runs: stop it first (`{} stop {name}`), then run the rollback again",
            instance.file.display(),
            cli(server)
        )));
    }
    let member = instance_member(server, instance).await?;
    let mark = host::instance_mark(&instance.project, &instance.name);
    for v in &volumes {
        // A rollback discards data: never of a volume marked for another instance.
        let found = server
            .volume(&v.pool, &v.name, member.as_deref())
            .await
            .map_err(|e| server_error(name, &format!("reading volume {v}"), e))?;
        if let Some(other) = found
            .as_ref()
            .and_then(|f| f.config.get(VOLUME_MARK_KEY))
            .filter(|m| **m != mark)
        {
            return Err(OpsError::Input(format!(
                "{}: volume {v} is marked for instance {other}, not {mark}; nothing was rolled \
                 back; if you really mean it, run `{} storage volume restore {} {} {snapshot}` \
                 yourself",
                instance.file.display(),
                cli(server),
                v.pool,
                v.name
            )));
        }
        let snapshots = server
            .volume_snapshots(&v.pool, &v.name, member.as_deref())
            .await
            .map_err(|e| server_error(name, &format!("listing the snapshots of volume {v}"), e))?;
        if !snapshots.iter().any(|s| s == snapshot) {
            return Err(OpsError::Input(format!(
                "{}: volume {v} has no snapshot {snapshot:?} (it has [{}]); nothing was rolled \
                 back; choose a snapshot every filesystem has",
                instance.file.display(),
                snapshots.join(", ")
            )));
        }
    }
    Ok(member)
}

/// The rollback lines of the instance's volumes.
pub(crate) fn rollback_lines(
    instance: &config::Instance,
    snapshot: &str,
    layout: VolumeLayout,
) -> Vec<String> {
    snapshotted(instance, layout)
        .iter()
        .map(|v| format!("rollback volume {v}/{snapshot}"))
        .collect()
}

/// Restores the instance's (non-transient) volumes to `snapshot` (checked with
/// [`check_rollback`]).
pub(crate) async fn rollback_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    snapshot: &str,
    member: Option<&str>,
) -> Result<(), OpsError> {
    let layout = volume_layout(server, &instance.name).await?;
    for v in snapshotted(instance, layout) {
        server
            .restore_volume_snapshot(&v.pool, &v.name, snapshot, member)
            .await
            .map_err(|e| server_error(&instance.name, &format!("rolling back volume {v}"), e))?;
    }
    Ok(())
}

/// One volume rename of an instance rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRename {
    /// The volume now.
    pub old: PlannedVolume,
    /// Its new name (same pool).
    pub new: String,
}

/// Pairs the volumes of the old and new instance and checks their renames before any
/// change: each old volume that exists carries the old instance's mark (or none, with
/// `adopt`), and no new name is taken. Volumes with the same name under both names are left
/// alone. Returns the renames and the member.
pub(crate) async fn check_rename(
    server: &dyn InstanceServer,
    old: &config::Instance,
    new: &config::Instance,
    adopt: bool,
) -> Result<(Vec<VolumeRename>, Option<String>), OpsError> {
    let layout = volume_layout(server, &old.name).await?;
    let (from, to) = (plan_volumes(old, layout), plan_volumes(new, layout));
    if from.is_empty() {
        return Ok((Vec::new(), None));
    }
    check_volume_names(new, &to)?;
    let file = old.file.display();
    if from.len() != to.len() {
        return Err(OpsError::Input(format!(
            "{file}: the config gives {} volumes for {} and {} for {}; rename needs the same \
             volumes under both names",
            from.len(),
            old.name,
            to.len(),
            new.name
        )));
    }
    let member = instance_member(server, old).await?;
    let mark = host::instance_mark(&old.project, &old.name);
    let mut renames = Vec::new();
    for (o, n) in from.into_iter().zip(to) {
        if o.name == n.name {
            continue;
        }
        let found = server
            .volume(&o.pool, &o.name, member.as_deref())
            .await
            .map_err(|e| server_error(&old.name, &format!("reading volume {o}"), e))?;
        let Some(found) = found else { continue };
        let refuse = |why: String| {
            OpsError::Input(format!(
                "{file}: volume {o}: {why}; nothing was renamed; if you really mean it, run \
                 `{} storage volume rename {} {} {}` yourself",
                cli(server),
                o.pool,
                o.name,
                n.name
            ))
        };
        match found.config.get(VOLUME_MARK_KEY) {
            Some(m) if *m == mark => {}
            Some(m) => return Err(refuse(format!("it is marked for instance {m}, not {mark}"))),
            None if adopt => {}
            None => {
                return Err(refuse(
                    "lxops did not make it (no user.lxops.instance mark; --adopt takes it)".into(),
                ))
            }
        }
        let taken = server
            .volume(&n.pool, &n.name, member.as_deref())
            .await
            .map_err(|e| server_error(&old.name, &format!("reading volume {n}"), e))?;
        if taken.is_some() {
            return Err(refuse(format!("volume {n} exists already")));
        }
        renames.push(VolumeRename {
            old: o,
            new: n.name,
        });
    }
    Ok((renames, member))
}

/// Renames the volumes (the instance is stopped) and marks them for the new instance.
/// First the old per-instance profile lets go of them: the daemons rewrite the devices of a
/// renamed volume's users, but validate the instances before the new name exists, and fail.
/// The instance rename that follows gives the instance the new profile with the new names.
pub(crate) async fn rename_volumes(
    server: &dyn InstanceServer,
    old: &config::Instance,
    new: &config::Instance,
    renames: &[VolumeRename],
    member: Option<&str>,
) -> Result<(), OpsError> {
    if renames.is_empty() {
        return Ok(());
    }
    let profile = server
        .profile(&old.profile)
        .await
        .map_err(|e| server_error(&old.name, "reading the per-instance profile", e))?;
    if let Some(mut profile) = profile {
        let before = profile.devices.len();
        profile.devices.retain(|_, d| !d.contains_key("pool"));
        if profile.devices.len() != before {
            server.update_profile(&profile).await.map_err(|e| {
                server_error(&old.name, "detaching the volumes from the profile", e)
            })?;
        }
    }
    let mark: crate::server::ConfigMap = [(
        VOLUME_MARK_KEY.to_string(),
        host::instance_mark(&new.project, &new.name),
    )]
    .into();
    for r in renames {
        let v = &r.old;
        server
            .rename_volume(&v.pool, &v.name, &r.new, member)
            .await
            .map_err(|e| server_error(&new.name, &format!("renaming volume {v}"), e))?;
        server
            .patch_volume_config(&v.pool, &r.new, &mark, member)
            .await
            .map_err(|e| {
                server_error(
                    &new.name,
                    &format!("marking volume {}/{}", v.pool, r.new),
                    e,
                )
            })?;
    }
    Ok(())
}

/// `export`/`import`: each non-transient volume and its archive in `dir`,
/// `<fs id><suffix>.volume.tar.gz` (the suffix is what a device adds to the filesystem's
/// volume name, `-home` for `a1-data-home`), so the archives do not depend on the instance
/// name.
pub fn volume_archives(
    instance: &config::Instance,
    dir: &std::path::Path,
    layout: VolumeLayout,
) -> Vec<(PlannedVolume, std::path::PathBuf)> {
    snapshotted(instance, layout)
        .into_iter()
        .map(|v| {
            let base = instance
                .filesystem(&v.fs_id)
                .and_then(|f| f.volume())
                .map_or("", |(_, name)| name);
            let suffix = v.name.strip_prefix(base).unwrap_or(&v.name);
            let file = dir.join(format!("{}{suffix}.volume.tar.gz", v.fs_id));
            (v, file)
        })
        .collect()
}

/// `export`: writes each non-transient volume's backup tarball into `dir`.
pub async fn export_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    dir: &std::path::Path,
) -> Result<(), OpsError> {
    let layout = volume_layout(server, &instance.name).await?;
    let archives = volume_archives(instance, dir, layout);
    if archives.is_empty() {
        return Ok(());
    }
    let member = instance_member(server, instance).await?;
    for (v, file) in &archives {
        server
            .export_volume(&v.pool, &v.name, file, member.as_deref())
            .await
            .map_err(|e| server_error(&instance.name, &format!("exporting volume {v}"), e))?;
    }
    Ok(())
}

/// `import`: creates each non-transient volume from its archive in `dir`, marked for the
/// instance. Checked first: every archive is there and no volume exists yet (an import
/// never overwrites data).
pub async fn import_volumes(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    dir: &std::path::Path,
) -> Result<(), OpsError> {
    let layout = volume_layout(server, &instance.name).await?;
    let archives = volume_archives(instance, dir, layout);
    if archives.is_empty() {
        return Ok(());
    }
    let file = instance.file.display();
    let planned: Vec<PlannedVolume> = archives.iter().map(|(v, _)| v.clone()).collect();
    let target = instance.target.as_deref();
    let check = check_volumes(server, instance, &planned, None, target).await?;
    for (v, archive) in &archives {
        if !archive.is_file() {
            return Err(OpsError::Input(format!(
                "{file}: archive {} of volume {v} is missing; nothing was imported",
                archive.display()
            )));
        }
        if !check.missing.contains(v) {
            return Err(OpsError::Input(format!(
                "{file}: volume {v} exists already; nothing was imported; an import never \
                 overwrites a volume: delete it first (`{} storage volume delete {} {}`)",
                cli(server),
                v.pool,
                v.name
            )));
        }
    }
    let mark = host::instance_mark(&instance.project, &instance.name);
    for (v, archive) in &archives {
        let new = NewVolume {
            pool: v.pool.clone(),
            name: v.name.clone(),
            config: [(VOLUME_MARK_KEY.to_string(), mark.clone())].into(),
            description: String::new(),
        };
        server
            .import_volume(&new, archive, check.member.as_deref())
            .await
            .map_err(|e| server_error(&instance.name, &format!("importing volume {v}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "volumes_tests.rs"]
mod tests;
