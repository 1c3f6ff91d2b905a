//! Filesystems and device directories of one instance: [`plan_devices`] validates and plans
//! (queries only), [`apply_devices`] carries the plan out, [`device_sources`] resolves every
//! device's host directory.
//!
//! The rules (those of the original lxops, see the module docs of [`crate::host`]):
//! - filesystems that do not exist are created, sorted by path (parents first); with
//!   device-origin, filesystems whose source is not transient are cloned instead (never chowned);
//! - devices are processed sorted by (filesystem id, device name); devices without a filesystem
//!   get nothing created;
//! - on an existing filesystem an existing device directory is NEVER touched (no chown, no copy);
//! - a new device directory is created, chowned to the owner when there is one, and filled from
//!   its device-template (unless the filesystem is transient or cloned);
//! - new ZFS and btrfs roots are chowned to the owner; a new plain-directory root only when it is
//!   itself a device directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::driver::{driver_of, FsState, HostView};
use super::validate;
use super::{
    DeviceDir, DeviceSetup, DeviceSpec, FilesystemSpec, FsKind, HostError, HostRunner, Owner,
    PathKind,
};

/// One step of a [`DevicePlan`].
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Create a filesystem; chown its directory when `owner` is set; `device_dir`: its root is a
    /// device directory.
    CreateFilesystem {
        fs: FilesystemSpec,
        dir: PathBuf,
        owner: Option<Owner>,
        device_dir: bool,
    },
    /// Clone a filesystem from `source@snapshot`.
    CloneFilesystem {
        fs: FilesystemSpec,
        source: String,
        snapshot: String,
    },
    /// Create a device directory when it is missing (`mkdir -p`), chown it when `owner` is set.
    MakeDir {
        path: PathBuf,
        owner: Option<Owner>,
        in_clone: bool,
    },
    /// An existing device directory on an existing filesystem: left alone.
    Keep { device: String, path: PathBuf },
    /// Copy a template into a device directory created by this plan.
    CopyTemplate { from: PathBuf, to: PathBuf },
}

/// What [`apply_devices`] will do: filesystems to create or clone, device directories to
/// create (and chown), templates to copy. Its [`fmt::Display`] prints one step per line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DevicePlan {
    steps: Vec<Step>,
}

impl DevicePlan {
    /// The steps, one line each (the same lines as [`fmt::Display`]).
    pub fn lines(&self) -> Vec<String> {
        self.to_string().lines().map(str::to_string).collect()
    }

    /// Whether the plan changes nothing (every step keeps an existing directory).
    pub fn changes_nothing(&self) -> bool {
        self.steps.iter().all(|s| matches!(s, Step::Keep { .. }))
    }
}

impl DevicePlan {
    /// Whether carrying it out creates device directories (which then get their owner).
    pub fn creates_dirs(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s,
                Step::MakeDir { .. }
                    | Step::CreateFilesystem {
                        device_dir: true,
                        ..
                    }
            )
        })
    }
}

/// Writes the line(s) of one step: what the plan prints and what [`apply_devices`] reports as it
/// carries the step out.
fn write_step(f: &mut dyn fmt::Write, step: &Step) -> fmt::Result {
    match step {
        Step::CreateFilesystem { fs, dir, owner, .. } => {
            writeln!(f, "{}", driver_of(fs).describe_create(fs))?;
            if let Some(owner) = owner {
                writeln!(f, "chown {owner} {}", dir.display())?;
            }
        }
        Step::CloneFilesystem {
            fs,
            source,
            snapshot,
        } => writeln!(f, "{}", driver_of(fs).describe_clone(fs, source, snapshot))?,
        Step::MakeDir {
            path,
            owner,
            in_clone,
        } => {
            write!(f, "mkdir {}", path.display())?;
            if let Some(owner) = owner {
                write!(f, " (owner {owner})")?;
            }
            if *in_clone {
                write!(f, " unless the clone has it")?;
            }
            writeln!(f)?;
        }
        Step::Keep { device, path } => {
            writeln!(f, "keep {} (device {device}: exists)", path.display())?
        }
        Step::CopyTemplate { from, to } => {
            writeln!(f, "copy {} -> {}", from.display(), to.display())?
        }
    }
    Ok(())
}

fn step_lines(step: &Step) -> Vec<String> {
    let mut text = String::new();
    let _ = write_step(&mut text, step);
    text.lines().map(str::to_string).collect()
}

impl fmt::Display for DevicePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            write_step(f, step)?;
        }
        Ok(())
    }
}

/// Something [`apply_devices`] made that did not exist before, outermost: what
/// [`undo_devices`] removes.
#[derive(Debug, Clone, PartialEq)]
enum Made {
    /// A directory (with the new parents above it that this run made).
    Dir(PathBuf),
    /// A ZFS dataset (the outermost one that `zfs create -p` made).
    Dataset(String),
    /// A btrfs subvolume.
    Subvolume(FilesystemSpec),
}

/// What [`apply_devices`] did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Paths of the filesystems created or cloned.
    pub created_filesystems: Vec<String>,
    /// New device directories (including a new filesystem root used as a device directory), in
    /// creation order.
    pub created_dirs: Vec<PathBuf>,
    /// The plan's lines of the steps carried out, as they were carried out (the same text
    /// as the plan prints).
    pub lines: Vec<String>,
    /// Everything made, outermost new path first, in creation order.
    made: Vec<Made>,
}

impl ApplyReport {
    /// Whether nothing was made.
    pub fn made_nothing(&self) -> bool {
        self.made.is_empty()
    }
}

/// The outermost directory that does not exist on the way to `path` (itself included), if any.
fn first_missing_dir(host: &dyn HostRunner, path: &Path) -> Result<Option<PathBuf>, HostError> {
    let mut missing = None;
    for ancestor in path.ancestors() {
        if host.path_kind(ancestor)?.is_some() {
            break;
        }
        missing = Some(ancestor.to_path_buf());
    }
    Ok(missing)
}

/// The outermost dataset that does not exist on the way to `dataset` (itself included).
fn first_missing_dataset(host: &dyn HostRunner, dataset: &str) -> Result<String, HostError> {
    let view = HostView::new(host);
    let datasets = view.zfs_datasets()?;
    let parts: Vec<&str> = dataset.split('/').collect();
    for n in 1..=parts.len() {
        let name = parts[..n].join("/");
        if !datasets.contains_key(&name) {
            return Ok(name);
        }
    }
    Ok(dataset.to_string())
}

/// What creating `fs` will make: recorded before it is created.
fn will_make(host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<Vec<Made>, HostError> {
    let path = Path::new(&fs.path);
    Ok(match fs.kind {
        FsKind::Zfs => vec![Made::Dataset(first_missing_dataset(host, &fs.path)?)],
        FsKind::Dir => first_missing_dir(host, path)?
            .map(Made::Dir)
            .into_iter()
            .collect(),
        FsKind::Btrfs => {
            let mut made: Vec<Made> = match path.parent() {
                Some(parent) => first_missing_dir(host, parent)?
                    .map(Made::Dir)
                    .into_iter()
                    .collect(),
                None => Vec::new(),
            };
            made.push(Made::Subvolume(fs.clone()));
            made
        }
    })
}

/// Removes what a failed launch made on the host ([`ApplyReport`]), newest first, and nothing
/// else: directories, datasets and subvolumes that did not exist before this run. Returns one
/// line per removal (or failure to remove, which does not stop the others).
pub fn undo_devices(host: &dyn HostRunner, report: &ApplyReport) -> Vec<String> {
    let mut lines = Vec::new();
    for made in report.made.iter().rev() {
        let (what, result) = match made {
            Made::Dir(dir) => (dir.display().to_string(), host.remove_tree(dir)),
            Made::Dataset(dataset) => {
                let fs = FilesystemSpec {
                    filesystem: crate::config::InstanceFilesystem {
                        id: String::new(),
                        kind: FsKind::Zfs,
                        path: dataset.clone(),
                        zfsproperties: BTreeMap::new(),
                        transient: false,
                        destroy: true,
                    },
                    mark: None,
                };
                (dataset.clone(), driver_of(&fs).destroy(host, &fs))
            }
            Made::Subvolume(fs) => (fs.path.clone(), driver_of(fs).destroy(host, fs)),
        };
        lines.push(match result {
            Ok(()) => format!("cleanup: removed {what}"),
            Err(e) => format!("cleanup: could not remove {what}: {e}"),
        });
    }
    lines
}

/// Checks everything that can be checked without the host.
fn validate_setup(setup: &DeviceSetup) -> Result<(), HostError> {
    for fs in &setup.filesystems {
        driver_of(fs).validate(fs)?;
    }
    if let Some(clone) = &setup.clone {
        validate::snapshot_name(&clone.snapshot)?;
        for fs in &setup.filesystems {
            if fs.kind != FsKind::Zfs {
                return Err(HostError::OriginNotZfs {
                    id: fs.id.clone(),
                    kind: fs.kind,
                });
            }
            let (source, _) = clone
                .filesystems
                .get(&fs.id)
                .ok_or_else(|| HostError::MissingCloneSource { id: fs.id.clone() })?;
            validate::dataset_name(&format!("device-origin filesystem `{}`", fs.id), source)?;
        }
    }
    for device in &setup.devices {
        validate_device(setup, device)?;
    }
    Ok(())
}

fn validate_device(setup: &DeviceSetup, device: &DeviceSpec) -> Result<(), HostError> {
    if device.name.is_empty() {
        return Err(HostError::Invalid {
            what: "device name".into(),
            value: String::new(),
            reason: "it is empty".into(),
        });
    }
    let what = format!("device `{}` dir", device.name);
    match &device.dir {
        DeviceDir::Absolute(path) => validate::absolute_dir(&what, path)?,
        DeviceDir::FilesystemRoot => {}
        DeviceDir::Relative(rel) if rel == "." => {}
        DeviceDir::Relative(rel) => validate::relative_dir(&what, rel)?,
    }
    match &device.filesystem {
        None if !matches!(device.dir, DeviceDir::Absolute(_)) => {
            return Err(HostError::RelativeDirWithoutFilesystem {
                device: device.name.clone(),
                dir: match &device.dir {
                    DeviceDir::Relative(rel) => rel.clone(),
                    _ => ".".into(),
                },
            });
        }
        Some(id) if !setup.filesystems.iter().any(|fs| &fs.id == id) => {
            return Err(HostError::UnknownFilesystem {
                device: device.name.clone(),
                filesystem: id.clone(),
            });
        }
        _ => {}
    }
    if let Some(template) = &device.template {
        validate::absolute_dir(&format!("device `{}` template", device.name), template)?;
    }
    Ok(())
}

/// Whether the dir is the filesystem's own directory.
fn is_root(dir: &DeviceDir) -> bool {
    match dir {
        DeviceDir::FilesystemRoot => true,
        DeviceDir::Relative(rel) => rel == ".",
        DeviceDir::Absolute(_) => false,
    }
}

/// The device's directory on a filesystem whose directory is `fs_dir`.
fn device_dir(device: &DeviceSpec, fs_dir: Option<&Path>) -> Option<PathBuf> {
    match &device.dir {
        DeviceDir::Absolute(path) => Some(path.clone()),
        DeviceDir::FilesystemRoot => fs_dir.map(Path::to_path_buf),
        DeviceDir::Relative(rel) if rel == "." => fs_dir.map(Path::to_path_buf),
        DeviceDir::Relative(rel) => fs_dir.map(|d| d.join(rel)),
    }
}

fn sorted_by_path(filesystems: &[FilesystemSpec]) -> Vec<&FilesystemSpec> {
    let mut sorted: Vec<&FilesystemSpec> = filesystems.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    sorted
}

fn sorted_devices(devices: &[DeviceSpec]) -> Vec<&DeviceSpec> {
    let mut sorted: Vec<&DeviceSpec> = devices.iter().collect();
    sorted.sort_by(|a, b| (&a.filesystem, &a.name).cmp(&(&b.filesystem, &b.name)));
    sorted
}

/// How a filesystem comes to be in this plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Existing,
    Created,
    Cloned,
}

/// Validates `setup` and plans which filesystems to create or clone, which device directories
/// to create (and chown when the owner is set) and which templates to copy. Only queries run.
///
/// Refuses, before anything is touched: empty values or `..` components, non-absolute
/// directories, device-origin with non-ZFS filesystems, a dataset whose pool does not exist, a
/// missing template directory, an existing dataset as clone target, a device without filesystem
/// but with a relative dir, a device on an unknown filesystem.
pub fn plan_devices(host: &dyn HostRunner, setup: &DeviceSetup) -> Result<DevicePlan, HostError> {
    validate_setup(setup)?;
    let view = HostView::new(host);
    let mut steps = Vec::new();
    let mut fs_info: BTreeMap<&str, (&FilesystemSpec, Origin, FsState)> = BTreeMap::new();
    for fs in sorted_by_path(&setup.filesystems) {
        let state = driver_of(fs).probe(&view, fs)?;
        let root_is_device = setup
            .devices
            .iter()
            .any(|d| d.filesystem.as_deref() == Some(fs.id.as_str()) && is_root(&d.dir));
        let clone_source = setup.clone.as_ref().and_then(|clone| {
            clone
                .filesystems
                .get(&fs.id)
                .filter(|(_, transient)| !transient)
                .map(|(source, _)| (source.clone(), clone.snapshot.clone()))
        });
        let origin = if let Some((source, snapshot)) = clone_source {
            if state.exists {
                return Err(HostError::CloneTargetExists {
                    id: fs.id.clone(),
                    dataset: fs.path.clone(),
                    origin: format!("{source}@{snapshot}"),
                });
            }
            steps.push(Step::CloneFilesystem {
                fs: fs.clone(),
                source,
                snapshot,
            });
            Origin::Cloned
        } else if state.exists {
            Origin::Existing
        } else {
            let dir = state.require_dir(fs)?;
            let owner = match fs.kind {
                FsKind::Zfs | FsKind::Btrfs => setup.owner,
                FsKind::Dir => setup.owner.filter(|_| root_is_device),
            };
            steps.push(Step::CreateFilesystem {
                fs: fs.clone(),
                dir,
                owner,
                device_dir: root_is_device,
            });
            Origin::Created
        };
        fs_info.insert(fs.id.as_str(), (fs, origin, state));
    }
    let mut planned_dirs = BTreeSet::new();
    for device in sorted_devices(&setup.devices) {
        let Some(fs_id) = &device.filesystem else {
            continue;
        };
        let Some((fs, origin, state)) = fs_info.get(fs_id.as_str()) else {
            continue;
        };
        let fs_dir = state.require_dir(fs)?;
        let Some(dir) = device_dir(device, Some(&fs_dir)) else {
            continue;
        };
        let is_root = dir == fs_dir;
        let keep = match origin {
            Origin::Existing => is_root || host.path_kind(&dir)?.is_some(),
            Origin::Cloned => is_root,
            Origin::Created => false,
        };
        if keep {
            steps.push(Step::Keep {
                device: device.name.clone(),
                path: dir,
            });
            continue;
        }
        if !is_root && planned_dirs.insert(dir.clone()) {
            steps.push(Step::MakeDir {
                path: dir.clone(),
                owner: setup.owner,
                in_clone: *origin == Origin::Cloned,
            });
        }
        if let Some(template) = &device.template {
            if fs.transient || *origin == Origin::Cloned {
                continue;
            }
            if host.path_kind(template)? != Some(PathKind::Dir) {
                return Err(HostError::MissingTemplate {
                    device: device.name.clone(),
                    dir: template.clone(),
                });
            }
            steps.push(Step::CopyTemplate {
                from: template.clone(),
                to: dir,
            });
        }
    }
    Ok(DevicePlan { steps })
}

/// Carries out a plan made by [`plan_devices`]. A device directory that exists by now is left
/// alone (no chown, no copy). Stops at the first failure; then what it made so far is removed
/// again ([`undo_devices`]), so a failure leaves the host as it was.
pub fn apply_devices(host: &dyn HostRunner, plan: &DevicePlan) -> Result<ApplyReport, HostError> {
    let mut report = ApplyReport::default();
    match apply_steps(host, plan, &mut report) {
        Ok(()) => Ok(report),
        Err(e) => {
            for line in undo_devices(host, &report) {
                tracing::warn!("{line}");
            }
            Err(e)
        }
    }
}

fn apply_steps(
    host: &dyn HostRunner,
    plan: &DevicePlan,
    report: &mut ApplyReport,
) -> Result<(), HostError> {
    let mut created: BTreeSet<PathBuf> = BTreeSet::new();
    for step in &plan.steps {
        let lines = step_lines(step);
        match step {
            Step::CreateFilesystem {
                fs,
                dir,
                owner,
                device_dir,
            } => {
                let made = will_make(host, fs)?;
                driver_of(fs).create(host, fs)?;
                // Recorded once made: a failed create is not undone, since what it failed on
                // may be someone else's.
                report.made.extend(made);
                if let Some(owner) = owner {
                    host.chown(dir, *owner)?;
                }
                report.created_filesystems.push(fs.path.clone());
                if *device_dir {
                    report.created_dirs.push(dir.clone());
                    created.insert(dir.clone());
                }
            }
            Step::CloneFilesystem {
                fs,
                source,
                snapshot,
            } => {
                let made = will_make(host, fs)?;
                driver_of(fs).clone_from(host, fs, source, snapshot)?;
                report.made.extend(made);
                report.created_filesystems.push(fs.path.clone());
            }
            Step::MakeDir { path, owner, .. } => {
                if host.path_kind(path)?.is_some() {
                    tracing::debug!(path = %path.display(), "device directory exists: kept");
                    report
                        .lines
                        .push(format!("keep {} (exists by now)", path.display()));
                    continue;
                }
                let made = first_missing_dir(host, path)?;
                host.mkdir_p(path)?;
                report.made.extend(made.map(Made::Dir));
                if let Some(owner) = owner {
                    host.chown(path, *owner)?;
                }
                report.created_dirs.push(path.clone());
                created.insert(path.clone());
            }
            Step::Keep { .. } => {}
            Step::CopyTemplate { from, to } => {
                if created.contains(to) {
                    host.copy_tree(from, to)?;
                } else {
                    tracing::warn!(dir = %to.display(), "device directory existed: template not copied");
                    report.lines.push(format!(
                        "skip copy {} -> {} (the directory existed)",
                        from.display(),
                        to.display()
                    ));
                    continue;
                }
            }
        }
        report.lines.extend(lines);
    }
    Ok(())
}

/// The host directory of every device, by device name. A ZFS dataset's directory is its
/// `mountpoint` (for a dataset that does not exist yet: its parent's mountpoint plus the rest).
pub fn device_sources(
    host: &dyn HostRunner,
    setup: &DeviceSetup,
) -> Result<BTreeMap<String, PathBuf>, HostError> {
    for fs in &setup.filesystems {
        driver_of(fs).validate(fs)?;
    }
    let view = HostView::new(host);
    let mut dirs: BTreeMap<&str, PathBuf> = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for device in &setup.devices {
        validate_device(setup, device)?;
        let fs_dir = match &device.filesystem {
            Some(id) => {
                if !dirs.contains_key(id.as_str()) {
                    let Some(fs) = setup.filesystems.iter().find(|fs| &fs.id == id) else {
                        continue;
                    };
                    let dir = driver_of(fs).probe(&view, fs)?.require_dir(fs)?;
                    dirs.insert(id.as_str(), dir);
                }
                dirs.get(id.as_str()).cloned()
            }
            None => None,
        };
        if let Some(dir) = device_dir(device, fs_dir.as_deref()) {
            sources.insert(device.name.clone(), dir);
        }
    }
    Ok(sources)
}

/// `chown` (not recursive) each path.
pub fn chown_paths(
    host: &dyn HostRunner,
    paths: &[PathBuf],
    owner: Owner,
) -> Result<(), HostError> {
    for path in paths {
        host.chown(path, owner)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
