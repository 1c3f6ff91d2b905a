//! [`verify_offline`]: every check of a launch that needs neither a server nor the host — the
//! instance, project and profile names (the daemons' rules, [`crate::names`]), the
//! cloud-config files are readable ([`check_input_files`]), parse and plan for a known OS type, `lxc-options` are understood, the
//! source (`origin` or `image`) is given, `device-owner` parses, and the device-origin source
//! config has every filesystem. [`prepare_launch`](super::prepare_launch) runs it first, and
//! `lxops i verify` runs exactly it, so a config that verifies fails a launch only on what a
//! server or the host says.

use super::devices::{device_setup, parse_owner};
use super::error::OpsError;
use super::launch::LaunchSources;
use super::safety::check_names;
use crate::cloudconfig::{self, OsTypes, Step};
use crate::config::{self, ConfigError};
use crate::host::Owner;
use crate::input;
use crate::plan::{parse_lxc_options, parse_origin, LxcOptions, Origin};

/// What the offline checks computed, for the launch to use.
#[derive(Debug)]
pub struct OfflineChecked {
    /// The cloud-config steps, planned for the instance's OS type.
    pub steps: Vec<Step>,
    /// The parsed `lxc-options`.
    pub options: LxcOptions,
    /// The `origin` instance, when the instance is copied rather than launched from `image`.
    pub origin: Option<Origin>,
    /// The parsed `device-owner`.
    pub owner: Option<Owner>,
    /// What the cloud-config files hold that lxops does not apply (file, line, key or module).
    pub cloud_config_warnings: Vec<String>,
}

/// Checks everything about `instance` that a launch checks before it changes anything and that
/// needs no server and no host. `sources` are the device-template / device-origin instances
/// (evaluated by the caller).
pub fn verify_offline(
    instance: &config::Instance,
    sources: &LaunchSources,
    os_types: &OsTypes,
) -> Result<OfflineChecked, OpsError> {
    check_names(instance)?;
    let file = instance.file.display().to_string();
    let (steps, cloud_config_warnings) = cloud_config_plan(instance, os_types)?;
    let options =
        parse_lxc_options(&instance.lxc_options).map_err(|source| OpsError::LxcOptions {
            file: file.clone(),
            source,
        })?;
    let origin = match instance.origin.as_deref().filter(|o| !o.is_empty()) {
        Some(origin) => Some(parse_origin(origin).ok_or_else(|| {
            OpsError::Input(format!("{file}: origin {origin:?} names no instance"))
        })?),
        None if instance.image.is_empty() => {
            return Err(OpsError::Input(format!(
                "{file}: image is empty: set `image` (or `origin`) in the config"
            )))
        }
        None => None,
    };
    let owner = match instance.device_owner.as_deref().filter(|o| !o.is_empty()) {
        Some(o) => Some(parse_owner(&file, o)?),
        None => None,
    };
    if let Some((source, snapshot)) = &sources.origin {
        // Only its errors matter here: every filesystem must exist in the source's config.
        device_setup(instance, None, None, Some((source, snapshot.as_str())))?;
    }
    Ok(OfflineChecked {
        steps,
        options,
        origin,
        owner,
        cloud_config_warnings,
    })
}

/// The files `instance` reads — its cloud-config files — can be read: each exists, is a regular
/// file and is at most [`MAX_INPUT_BYTES`](crate::input::MAX_INPUT_BYTES). Every unreadable one
/// is reported at once, as an invalid config naming the config file and the instance.
/// (`config::evaluate` stays pure: it resolves the paths, this looks at them.)
pub fn check_input_files(instance: &config::Instance) -> Result<(), ConfigError> {
    let problems: Vec<String> = instance
        .cloud_config_files
        .iter()
        .filter_map(|file| {
            let problem = input::file_problem(file)?;
            Some(format!(
                "cloud-config-files: {} {problem}; fix the path (relative to the file that names it)",
                file.display()
            ))
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        file: instance.file.clone(),
        instance: instance.name.clone(),
        problems,
    })
}

/// Parses and plans the instance's cloud-config files (all of them, before anything runs);
/// also returns what they hold that lxops does not apply, one warning each.
pub(crate) fn cloud_config_plan(
    instance: &config::Instance,
    os_types: &OsTypes,
) -> Result<(Vec<Step>, Vec<String>), OpsError> {
    check_input_files(instance)?;
    if instance.cloud_config_files.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let os = os_types.get(&instance.ostype).ok_or_else(|| {
        OpsError::Input(format!(
            "{}: ostype {:?} is not a known OS type (known: {}); it is needed to apply cloud-config files",
            instance.file.display(),
            instance.ostype,
            os_types.names().join(", ")
        ))
    })?;
    let files = cloudconfig::parse_all(&instance.cloud_config_files)?;
    let warnings = cloudconfig::warnings(&files)
        .map(ToString::to_string)
        .collect();
    Ok((cloudconfig::plan_all(&files, os)?, warnings))
}
