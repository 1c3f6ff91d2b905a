//! Reading the config files of a command into evaluated instances, all of them before anything
//! runs (so a bad file stops the command before any change), and building each one's [`Env`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use lxops_core::config::{self, EvalOptions, LoadOptions, PropertyOptions, PropertySources};
use lxops_core::host::{DryRunHost, HostRunner, SystemHost};
use lxops_core::lifecycle::WaitOptions;
use lxops_core::ops::{self, Env, OpsError};

use crate::args::ConfigArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// One config file evaluated for one instance.
pub(crate) struct Target {
    /// The loaded (merged) config.
    pub(crate) loaded: config::Loaded,
    /// The evaluated instance.
    pub(crate) instance: config::Instance,
}

/// Maps a config error to bad input (exit status 2).
pub(crate) fn config_err(e: config::ConfigError) -> CliError {
    CliError::input(e)
}

/// Maps an operation error to its class.
pub(crate) fn ops_err(e: OpsError) -> CliError {
    if e.is_input() {
        CliError::input(e)
    } else {
        CliError::failure(e)
    }
}

/// How the server attaches directories inside volumes, for an instance's listings: asked only
/// when the instance has `type: volume` filesystems (the others need no server).
pub(crate) async fn volume_layout(
    ctx: &Context,
    instance: &config::Instance,
) -> CliResult<ops::volumes::VolumeLayout> {
    use ops::volumes::VolumeLayout;
    if !instance
        .filesystems
        .iter()
        .any(|f| f.kind == config::FsKind::Volume)
    {
        return Ok(VolumeLayout::VolumePerDevice);
    }
    let server = ctx.server(Some(&instance.project)).await?;
    ops::volumes::volume_layout(server.as_ref(), &instance.name)
        .await
        .map_err(ops_err)
}

/// The property sources of `-properties` and `-P`.
pub(crate) fn properties(args: &ConfigArgs) -> CliResult<PropertySources> {
    PropertyOptions::from_args(args.properties.as_deref(), &args.property)
        .load()
        .map_err(config_err)
}

/// Loads and evaluates every file (with `include_source`: device-template, device-origin and
/// origin must resolve too).
pub(crate) fn load_targets(
    ctx: &Context,
    args: &ConfigArgs,
    files: &[PathBuf],
    include_source: bool,
) -> CliResult<Vec<Target>> {
    let sources = properties(args)?;
    let pairs = config::instance_names(files, &args.name).map_err(config_err)?;
    let options = LoadOptions {
        formats: &ctx.app.formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let eval = EvalOptions {
        include_source,
        project: args.project.clone(),
    };
    let mut targets: Vec<Target> = Vec::with_capacity(pairs.len());
    for (file, name) in pairs {
        // Several names for one file: the file is read once.
        let loaded = match targets.last().filter(|t| t.loaded.file == file) {
            Some(previous) => previous.loaded.clone(),
            None => {
                let loaded = config::load(&file, &options).map_err(config_err)?;
                for warning in &loaded.warnings {
                    tracing::warn!("{warning}");
                }
                loaded
            }
        };
        let instance = config::evaluate(&loaded, &name, &sources, &eval).map_err(config_err)?;
        targets.push(Target { loaded, instance });
    }
    let instances: Vec<&config::Instance> = targets.iter().map(|t| &t.instance).collect();
    config::check_distinct(&instances).map_err(config_err)?;
    Ok(targets)
}

/// The config of `target` evaluated for another instance name ([`ops::twin_name`]): the
/// filesystems whose path is the same there are shared, and `destroy`/`rename` refuse them.
pub(crate) fn twin(args: &ConfigArgs, target: &Target) -> CliResult<config::Instance> {
    let sources = properties(args)?;
    let eval = EvalOptions {
        include_source: false,
        project: args.project.clone(),
    };
    let name = ops::twin_name(&target.instance.name);
    config::evaluate(&target.loaded, &name, &sources, &eval).map_err(config_err)
}

/// The configs of the other instances of `instance`'s project, each evaluated for its instance:
/// for every instance with a profile that names its config file (`user.lxops.config`, or, as
/// the Go lxops wrote it, a description that is the absolute path of a config file). `destroy`
/// and `rename` refuse any filesystem these resolve to. A config that cannot be read is left
/// out (logged): the disk devices and marks of its instance still protect its data.
pub(crate) async fn other_configs(
    ctx: &Context,
    args: &ConfigArgs,
    instance: &config::Instance,
) -> CliResult<Vec<config::Instance>> {
    let server = ctx.server(Some(instance.project.as_str())).await?;
    let instances = server.instances().await.map_err(|e| {
        CliError::failure(anyhow::anyhow!(
            "{}: listing the instances: {e}",
            instance.name
        ))
    })?;
    let sources = properties(args)?;
    let options = LoadOptions {
        formats: &ctx.app.formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let eval = EvalOptions {
        include_source: false,
        project: args.project.clone(),
    };
    let mut profiles: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    let mut configs = Vec::new();
    for other in instances.iter().filter(|i| i.name != instance.name) {
        let mut file = None;
        for name in &other.profiles {
            if !profiles.contains_key(name) {
                let found = match server.profile(name).await {
                    Ok(Some(p)) => config_file_of(&p),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::debug!(profile = %name, "reading the profile: {e}");
                        None
                    }
                };
                profiles.insert(name.clone(), found);
            }
            file = profiles.get(name).cloned().flatten();
            if file.is_some() {
                break;
            }
        }
        let Some(file) = file else {
            continue;
        };
        let evaluated = config::load(&file, &options)
            .and_then(|loaded| config::evaluate(&loaded, &other.name, &sources, &eval));
        match evaluated {
            Ok(evaluated) => configs.push(evaluated),
            Err(e) => tracing::debug!(instance = %other.name, "its config is not read: {e}"),
        }
    }
    Ok(configs)
}

/// The config file a per-instance profile names, if it names one that exists.
fn config_file_of(profile: &lxops_core::server::Profile) -> Option<PathBuf> {
    let named = profile
        .config
        .get(lxops_core::host::PROFILE_CONFIG_KEY)
        .unwrap_or(&profile.description);
    let path = PathBuf::from(named);
    let is_config = path.is_absolute()
        && path
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "lxops")
        && path.is_file();
    is_config.then_some(path)
}

/// The operation environment of one instance: the server in its project and the host.
pub(crate) async fn env(
    ctx: &Context,
    instance: &config::Instance,
    dry_run: bool,
    wait: WaitOptions,
) -> CliResult<Env> {
    let server = ctx.server(Some(instance.project.as_str())).await?;
    let info = server.info().await.map_err(CliError::failure)?;
    ops::check_host_access(&info, instance).map_err(ops_err)?;
    Ok(Env {
        server,
        host: host_for(dry_run),
        os_types: ctx.os_types.clone(),
        wait,
        dry_run,
    })
}

/// The host: real, or recording for `--dry-run`.
pub(crate) fn host_for(dry_run: bool) -> Arc<dyn HostRunner> {
    if dry_run {
        Arc::new(DryRunHost::new())
    } else {
        Arc::new(SystemHost::new())
    }
}

/// Waits of commands that start instances: `--poll` seconds until commands run, five minutes
/// for an address (only instances with a NIC wait for one).
pub(crate) fn wait_options(poll_seconds: u64) -> WaitOptions {
    WaitOptions {
        ready: std::time::Duration::from_secs(poll_seconds.max(1)),
        network: std::time::Duration::from_secs(300),
        before_configure: std::time::Duration::ZERO,
    }
}

/// The default snapshot name (`snapshot`, `copy-filesystems`): the UTC time as
/// `YYYYMMDDHHMMSS`.
pub(crate) fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (19_723, (2024, 1, 1)),
            (20_785, (2026, 11, 28)),
        ] {
            assert_eq!(civil_from_days(days), date, "{days}");
        }
    }
}
