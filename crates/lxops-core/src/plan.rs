//! The plan of one instance: the per-instance profile, the profile list, the instance source and
//! options, all computed from the evaluated config and the resolved device directories before
//! anything touches the host or the server. Its [`fmt::Display`] is what `--dry-run` prints.

mod lxc_options;
mod origin;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use lxc_options::{parse_lxc_options, LxcOptions, LxcOptionsError};
pub use origin::{parse_origin, Origin};

use crate::host::{PROFILE_CONFIG_KEY, PROFILE_MARK_KEY};
use crate::server::{Device, Devices, ImageSource, InstanceSource, NewInstance, Profile};

/// The name of the profile every instance gets when its config lists none.
pub const DEFAULT_PROFILE: &str = "default";

/// One disk device of the per-instance profile: a host directory mounted in the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskDevice {
    /// The device name (the config key).
    pub name: String,
    /// Where it is mounted inside the instance.
    pub path: String,
    /// The host directory, or the volume name when `pool` is set.
    pub source: PathBuf,
    /// The storage pool of a daemon volume device (`type: volume` filesystems); `None` for a
    /// host directory.
    pub pool: Option<String>,
    /// Mounted read-only.
    pub readonly: bool,
}

impl DiskDevice {
    fn to_device(&self) -> Device {
        let mut device = Device::new();
        device.insert("type".into(), "disk".into());
        device.insert("path".into(), self.path.clone());
        device.insert("source".into(), self.source.display().to_string());
        if let Some(pool) = &self.pool {
            device.insert("pool".into(), pool.clone());
        }
        if self.readonly {
            device.insert("readonly".into(), "true".into());
        }
        device
    }
}

/// The per-instance profile: the config's devices, described by the config file's path, and
/// marked for its instance (`user.lxops.instance` = `mark`, `user.lxops.config` = the file), so
/// that `delete` and `destroy` delete only profiles made for that instance.
pub fn lxops_profile(
    name: &str,
    config_file: &Path,
    mark: &str,
    devices: &[DiskDevice],
) -> Profile {
    let devices: Devices = devices
        .iter()
        .map(|d| (d.name.clone(), d.to_device()))
        .collect();
    let config = BTreeMap::from([
        (PROFILE_MARK_KEY.to_string(), mark.to_string()),
        (
            PROFILE_CONFIG_KEY.to_string(),
            config_file.display().to_string(),
        ),
    ]);
    Profile {
        name: name.to_string(),
        description: absolute(config_file).display().to_string(),
        config,
        devices,
    }
}

/// `path` made absolute against the current directory and cleaned lexically (`.` and `..`
/// resolved without following links), as the original's `filepath.Abs` for the profile
/// description.
pub fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut clean = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other.as_os_str()),
        }
    }
    clean
}

/// Whether a config key is one of lxops' marks (`user.lxops.*`).
fn is_mark_key(key: &str) -> bool {
    key.starts_with("user.lxops.")
}

/// The profiles an instance is created with: the config's (or `default` when it lists none),
/// then the per-instance profile.
pub fn instance_profiles(config_profiles: &[String], lxops_profile: &str) -> Vec<String> {
    let mut profiles: Vec<String> = if config_profiles.is_empty() {
        vec![DEFAULT_PROFILE.to_string()]
    } else {
        config_profiles.to_vec()
    };
    if !profiles.iter().any(|p| p == lxops_profile) {
        profiles.push(lxops_profile.to_string());
    }
    profiles
}

/// The profile list of a new instance with its `lxc-options`: as [`instance_profiles`], but
/// without the implicit `default` under `--no-profiles`, and with the `-p` profiles after the
/// lxops profile (where the original's `incus create -p ... OPTIONS` puts them).
pub fn launch_profiles(
    config_profiles: &[String],
    lxops_profile: &str,
    options: &LxcOptions,
) -> Vec<String> {
    let mut profiles = if options.no_profiles && config_profiles.is_empty() {
        vec![lxops_profile.to_string()]
    } else {
        instance_profiles(config_profiles, lxops_profile)
    };
    for profile in &options.profiles {
        if !profiles.contains(profile) {
            profiles.push(profile.clone());
        }
    }
    profiles
}

/// How the instance of a plan comes to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// From an image (`image`).
    Image(ImageSource),
    /// A copy of another instance or snapshot (`origin`).
    Copy(Origin),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Image(image) => write!(f, "image {image}"),
            Source::Copy(origin) => write!(f, "copy of {origin}"),
        }
    }
}

/// Everything the server side of a launch needs, decided in advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePlan {
    /// The instance name.
    pub name: String,
    /// The project ("" = the client's current project).
    pub project: String,
    /// Profiles from the config that must exist on the server.
    pub required_profiles: Vec<String>,
    /// The per-instance profile.
    pub profile: Profile,
    /// The instance source.
    pub source: Source,
    /// The full profile list of the new instance.
    pub profiles: Vec<String>,
    /// Options from `lxc-options`.
    pub options: LxcOptions,
    /// Cloud-config files applied after the start.
    pub cloud_config_files: Vec<PathBuf>,
    /// The OS type for cloud-config.
    pub ostype: String,
    /// The cluster member (or `@group`) to create the instance on; `None`: the scheduler.
    pub target: Option<String>,
}

impl InstancePlan {
    /// Where the instance goes on a cluster: the config's `target` (or `--target`), else an
    /// `lxc-options` `--target`; `None`: the scheduler places it.
    pub fn placement(&self) -> Option<&String> {
        self.target.as_ref().or(self.options.target.as_ref())
    }

    /// The create request of this plan.
    pub fn new_instance(&self) -> NewInstance {
        let source = match &self.source {
            Source::Image(image) => InstanceSource::Image(image.clone()),
            Source::Copy(origin) => InstanceSource::Copy {
                source: origin.source(),
                source_project: origin.project.clone(),
                instance_only: true,
            },
        };
        NewInstance {
            name: self.name.clone(),
            source,
            profiles: self.profiles.clone(),
            config: self.options.config.clone(),
            devices: self.options.devices.clone(),
            vm: self.options.vm,
            description: self.options.description.clone().unwrap_or_default(),
            ephemeral: self.options.ephemeral,
            target: self.placement().cloned(),
            instance_type: self.options.instance_type.clone(),
        }
    }
}

impl InstancePlan {
    fn in_project(&self) -> String {
        if self.project.is_empty() {
            String::new()
        } else {
            format!(" in project {}", self.project)
        }
    }

    /// The step that makes the per-instance profile, with its devices: `create profile ...`, or
    /// `reuse identical profile ...` when it exists as planned. Printed by `--dry-run` and by the
    /// real run as it creates the profile.
    pub fn profile_lines(&self, reuse: bool) -> Vec<String> {
        if reuse {
            return vec![format!("reuse identical profile {}", self.profile.name)];
        }
        let mut text = format!(
            "create profile {}{}\n",
            self.profile.name,
            self.in_project()
        );
        let _ = write_profile_devices(&mut text, &self.profile);
        text.lines().map(str::to_string).collect()
    }

    /// The step that creates the instance, with its options (as [`Self::profile_lines`]).
    pub fn instance_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "create instance {}{} from {} with profiles {}",
            self.name,
            self.in_project(),
            self.source,
            self.profiles.join(", ")
        )];
        for (key, value) in &self.options.config {
            lines.push(format!("  config {key}={value}"));
        }
        for (name, device) in &self.options.devices {
            lines.push(format!("  device {name} {}", format_device(device)));
        }
        for (name, keys) in &self.options.device_overrides {
            let keys: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            lines.push(format!(
                "  device {name} from the profiles with {}",
                keys.join(" ")
            ));
        }
        if self.options.vm {
            lines.push("  type virtual-machine".into());
        }
        if let Some(instance_type) = &self.options.instance_type {
            lines.push(format!("  instance type {instance_type}"));
        }
        if self.options.ephemeral {
            lines.push("  ephemeral".into());
        }
        if let Some(target) = self.placement() {
            lines.push(format!("  on cluster member {target}"));
        }
        if let Some(description) = &self.options.description {
            lines.push(format!("  description {description:?}"));
        }
        lines
    }
}

impl fmt::Display for InstancePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.required_profiles.is_empty() {
            writeln!(
                f,
                "check profiles exist: {}",
                self.required_profiles.join(", ")
            )?;
        }
        for line in self
            .profile_lines(false)
            .iter()
            .chain(&self.instance_lines())
        {
            writeln!(f, "{line}")?;
        }
        writeln!(f, "start instance {}", self.name)?;
        Ok(())
    }
}

/// Writes one line per device of `profile`, sorted by name.
pub fn write_profile_devices(f: &mut dyn fmt::Write, profile: &Profile) -> fmt::Result {
    for (name, device) in &profile.devices {
        writeln!(f, "  device {name}: {}", format_device(device))?;
    }
    Ok(())
}

fn format_device(device: &Device) -> String {
    device
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The differences between an existing profile and the wanted one, one line each; empty when
/// their devices and config are equal (descriptions are not compared).
pub fn profile_differences(existing: &Profile, wanted: &Profile) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, device) in &wanted.devices {
        match existing.devices.get(name) {
            None => lines.push(format!("+ device {name}: {}", format_device(device))),
            Some(old) if old != device => {
                lines.push(format!("- device {name}: {}", format_device(old)));
                lines.push(format!("+ device {name}: {}", format_device(device)));
            }
            Some(_) => {}
        }
    }
    for (name, device) in &existing.devices {
        if !wanted.devices.contains_key(name) {
            lines.push(format!("- device {name}: {}", format_device(device)));
        }
    }
    // A profile made by an older lxops has no marks: that alone is no difference.
    let unmarked = !existing.config.keys().any(|k| is_mark_key(k));
    for (key, value) in &wanted.config {
        if unmarked && is_mark_key(key) {
            continue;
        }
        if existing.config.get(key) != Some(value) {
            lines.push(format!("+ config {key}={value}"));
        }
    }
    for (key, value) in &existing.config {
        if !wanted.config.contains_key(key) {
            lines.push(format!("- config {key}={value}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests;
