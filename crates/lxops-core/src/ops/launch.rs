//! `launch` and `rebuild`: validate everything (config, cloud-config, host plan, server state),
//! then create filesystems and device directories, the profile, the instance (stopped), fix
//! device ownership from its id map, start it, wait, and apply cloud-config.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::devices::{device_setup, disk_devices, source_setup};
use super::error::OpsError;
use super::safety::check_names;
use super::volume_dirs;
use super::volumes::{self, VolumeCheck};
use super::{blocking, Env};
use crate::cloudconfig::{self, Step};
use crate::config;
use crate::host::{self, DevicePlan, DeviceSetup, HostRunner, Owner};
use crate::lifecycle::{self, LaunchCheck, Progress};
use crate::plan::{launch_profiles, lxops_profile, InstancePlan, Source};
use crate::server::ImageSource;

/// The source instances a launch copies from, evaluated by the caller.
#[derive(Debug, Clone, Default)]
pub struct LaunchSources {
    /// The `device-template` instance.
    pub template: Option<config::Instance>,
    /// The `device-origin` instance and snapshot.
    pub origin: Option<(config::Instance, String)>,
    /// The project of the `source-config` file, for an `origin` without a `project_` prefix
    /// (as the original: the prefix, else the source config's project, else the config's).
    pub origin_project: Option<String>,
}

/// A launch that passed every check; [`launch`] carries it out.
pub struct PreparedLaunch {
    /// The evaluated config.
    pub instance: config::Instance,
    /// The host work.
    pub devices: DevicePlan,
    /// The server work.
    pub plan: InstancePlan,
    /// The cloud-config steps.
    pub steps: Vec<Step>,
    check: LaunchCheck,
    owner: Option<Owner>,
    volumes: VolumeCheck,
}

/// Parses and plans the instance's cloud-config files (all of them, before anything runs).
pub(crate) fn cloud_config_steps(
    env: &Env,
    instance: &config::Instance,
) -> Result<Vec<Step>, OpsError> {
    let (steps, warnings) = super::verify::cloud_config_plan(instance, &env.os_types)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(steps)
}

async fn resolve_templates(
    host: Arc<dyn HostRunner>,
    template: &config::Instance,
) -> Result<BTreeMap<String, PathBuf>, OpsError> {
    let setup = source_setup(template);
    let name = template.name.clone();
    blocking(move || {
        host::device_sources(host.as_ref(), &setup).map_err(|e| OpsError::host(&name, e))
    })
    .await
}

/// Checks everything a launch needs and plans it, changing nothing.
pub async fn prepare_launch(
    env: &Env,
    instance: config::Instance,
    sources: LaunchSources,
) -> Result<PreparedLaunch, OpsError> {
    let name = instance.name.clone();
    // Names first, then the rest of the offline checks (`i verify` runs the same).
    let checked = super::verify::verify_offline(&instance, &sources, &env.os_types)?;
    for warning in &checked.cloud_config_warnings {
        tracing::warn!("{warning}");
    }
    let (steps, options, owner) = (checked.steps, checked.options, checked.owner);
    let layout = volumes::volume_layout(env.server.as_ref(), &name).await?;
    let planned = volumes::plan_volumes(&instance, layout);
    let template = sources
        .template
        .as_ref()
        .filter(|_| sources.origin.is_none());
    // The placement asked for: the config's `target`, else lxc-options' `--target`.
    let asked = instance.target.as_deref().or(options.target.as_deref());
    let volume_check =
        volumes::check_volumes(env.server.as_ref(), &instance, &planned, template, asked).await?;
    let source = match checked.origin {
        Some(mut origin) => {
            if origin.project.is_none() {
                origin.project = sources
                    .origin_project
                    .clone()
                    .filter(|p| !p.is_empty() && *p != instance.project);
            }
            Source::Copy(origin)
        }
        None => Source::Image(image_source(env.server.as_ref(), &instance)?),
    };
    let templates = match (&sources.template, &sources.origin) {
        (Some(t), None) => Some(resolve_templates(env.host.clone(), t).await?),
        _ => None,
    };
    let origin = sources.origin.as_ref().map(|(i, s)| (i, s.as_str()));
    let setup: DeviceSetup = device_setup(&instance, owner, templates.as_ref(), origin)?;
    let host = env.host.clone();
    let (devices, device_sources) = blocking(move || {
        let plan =
            host::plan_devices(host.as_ref(), &setup).map_err(|e| OpsError::host(&name, e))?;
        let sources =
            host::device_sources(host.as_ref(), &setup).map_err(|e| OpsError::host(&name, e))?;
        Ok((plan, sources))
    })
    .await?;
    let disks = disk_devices(&instance, &device_sources, layout)?;
    let mark = host::instance_mark(&instance.project, &instance.name);
    let profile = lxops_profile(&instance.profile, &instance.file, &mark, &disks);
    let plan = InstancePlan {
        name: instance.name.clone(),
        project: instance.project.clone(),
        required_profiles: instance
            .profiles
            .iter()
            .chain(&options.profiles)
            .cloned()
            .collect(),
        profiles: launch_profiles(&instance.profiles, &instance.profile, &options),
        profile,
        source,
        options,
        cloud_config_files: instance.cloud_config_files.clone(),
        ostype: instance.ostype.clone(),
        // On a cluster, the member of the instance's volumes (see `ops::volumes`).
        target: volume_check
            .member
            .clone()
            .or_else(|| instance.target.clone()),
    };
    let check = lifecycle::check_launch(env.server.as_ref(), &plan).await?;
    Ok(PreparedLaunch {
        instance,
        devices,
        plan,
        steps,
        check,
        owner,
        volumes: volume_check,
    })
}

/// An image reference as the server wants it (`remote:alias` keeps its remote part for the
/// backend to resolve).
/// The config's `image` as the server's CLI reads it (`[remote:]alias`); an unknown remote is
/// the config's error.
pub(crate) fn image_source(
    server: &dyn crate::server::InstanceServer,
    instance: &config::Instance,
) -> Result<ImageSource, OpsError> {
    server.image_source(&instance.image).map_err(|e| {
        OpsError::Input(format!(
            "{}: image {:?}: {e}: fix `image` or the remote in the client config",
            instance.file.display(),
            instance.image
        ))
    })
}

/// The step that gives new device directories the owner of root in the instance (known from
/// its id map only once it exists).
const CHOWN_STEP: &str = "chown new device directories to root of the instance (its id map)";

/// Carries out a prepared launch (or, with `env.dry_run`, prints its steps).
pub async fn launch(
    env: &Env,
    prepared: PreparedLaunch,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let name = prepared.plan.name.clone();
    let resume = prepared.check.resume;
    progress.step(&format!("launch {name}"));
    if env.dry_run {
        // The same lines, from the same plan, that the real run prints as it goes.
        print_lines(progress, &prepared.devices.to_string());
        for line in volumes::create_lines(&prepared.volumes) {
            progress.step(&line);
        }
        if resume {
            progress.step(&format!(
                "resume the interrupted launch of {name}: start it if needed, then apply cloud-config"
            ));
        } else {
            let reuse = prepared.check.profile == lifecycle::ProfileState::Identical;
            for line in prepared
                .plan
                .profile_lines(reuse)
                .iter()
                .chain(&prepared.plan.instance_lines())
            {
                progress.step(line);
            }
            if prepared.owner.is_none() && prepared.devices.creates_dirs() {
                progress.step(CHOWN_STEP);
            }
        }
        for line in volume_dirs::attach_lines(&prepared.volumes) {
            progress.step(&line);
        }
        if !resume {
            progress.step(&format!("start instance {name}"));
        }
        for line in volume_dirs::make_lines(&prepared.instance, &prepared.volumes) {
            progress.step(&line);
        }
        if let Some(line) = configure_delay_line(&env.wait) {
            progress.step(&line);
        }
        for step in &prepared.steps {
            progress.step(&step.to_string());
        }
        return Ok(());
    }
    let host = env.host.clone();
    let devices = prepared.devices;
    let host_name = name.clone();
    let report = blocking(move || {
        host::apply_devices(host.as_ref(), &devices).map_err(|e| OpsError::host(&host_name, e))
    })
    .await?;
    for line in &report.lines {
        progress.step(line);
    }
    let server = env.server.as_ref();
    let member = prepared.volumes.member.clone();
    let made_volumes = match volumes::create_volumes(
        server,
        &prepared.instance,
        &prepared.volumes,
        progress,
    )
    .await
    {
        Ok(made) => made,
        Err(e) => {
            undo_host(env, &report, progress).await;
            return Err(e);
        }
    };
    let created =
        match lifecycle::create_instance(server, &prepared.plan, &prepared.check, progress).await {
            Ok(created) => created,
            Err(e) => {
                volumes::undo_volumes(server, &made_volumes, member.as_deref(), progress).await;
                undo_host(env, &report, progress).await;
                return Err(e.into());
            }
        };
    // A resumed launch may have been stopped between creating the instance and owning its new
    // device directories: those are still owned by host root.
    let to_own = if resume {
        let host = env.host.clone();
        let host_name = name.clone();
        let mut dirs = report.created_dirs.clone();
        dirs.extend(device_dirs(&prepared.plan));
        blocking(move || root_owned(host.as_ref(), dirs).map_err(|e| OpsError::host(&host_name, e)))
            .await?
    } else {
        report.created_dirs.clone()
    };
    let result = async {
        if prepared.owner.is_none() && !to_own.is_empty() {
            let owner = root_owner(server, &name).await?;
            progress.step(CHOWN_STEP);
            tracing::info!(instance = %name, %owner, "owner of the new device directories");
            let host = env.host.clone();
            let dirs = to_own.clone();
            let host_name = name.clone();
            blocking(move || {
                host::chown_paths(host.as_ref(), &dirs, owner)
                    .map_err(|e| OpsError::host(&host_name, e))
            })
            .await?;
        }
        volume_dirs::attach_whole_volumes(server, &prepared.instance, &prepared.volumes, progress)
            .await?;
        if resume {
            lifecycle::start_and_wait(server, &name, &env.wait, progress).await?;
        } else {
            lifecycle::start_stopped_and_wait(server, &name, &env.wait, progress).await?;
        }
        volume_dirs::make_dirs(
            server,
            &prepared.instance,
            &prepared.volumes,
            &prepared.plan.options.devices,
            progress,
        )
        .await?;
        volumes::own_new_volumes(
            server,
            &prepared.instance,
            &prepared.volumes,
            &made_volumes,
            prepared.owner,
            progress,
        )
        .await?;
        Ok::<(), OpsError>(())
    }
    .await;
    if let Err(e) = result {
        lifecycle::undo_launch(
            server,
            &name,
            &prepared.plan.profile.name,
            created,
            progress,
        )
        .await;
        volumes::undo_volumes(server, &made_volumes, member.as_deref(), progress).await;
        undo_host(env, &report, progress).await;
        return Err(e);
    }
    if let Some(line) = configure_delay_line(&env.wait) {
        progress.step(&line);
        tokio::time::sleep(env.wait.before_configure).await;
    }
    apply_cloud_config(env, &name, &prepared.steps, progress).await?;
    finish_launch(server, &prepared.plan).await
}

/// The step of `-wait-configure N` (the original sleeps N seconds after the instance is up and
/// before configuring it), if N is not 0.
fn configure_delay_line(wait: &crate::lifecycle::WaitOptions) -> Option<String> {
    let delay = wait.before_configure;
    (!delay.is_zero()).then(|| format!("wait {} s before configuring", delay.as_secs()))
}

/// Removes the mark of an unfinished launch ([`lifecycle::LAUNCH_PENDING_KEY`]): from now on a
/// launch of this instance is refused.
async fn finish_launch(
    server: &dyn crate::server::InstanceServer,
    plan: &InstancePlan,
) -> Result<(), OpsError> {
    let name = plan.name.as_str();
    // The description and ephemeral flag an instance made from an image was created with
    // (saves a read); a copy may have taken them from its source.
    let new = plan.new_instance();
    let known = matches!(plan.source, Source::Image(_)).then_some((new.description, new.ephemeral));
    let done = crate::server::InstancePatch {
        config: [(lifecycle::LAUNCH_PENDING_KEY.to_string(), String::new())].into(),
        known,
    };
    server
        .patch_instance(name, &done)
        .await
        .map_err(|e| lifecycle::LifecycleError::server(name, "marking the launch finished", e))?;
    Ok(())
}

/// The host directories of the per-instance profile's disk devices.
fn device_dirs(plan: &InstancePlan) -> Vec<PathBuf> {
    plan.profile
        .devices
        .values()
        .filter_map(|d| d.get("source"))
        .map(PathBuf::from)
        .collect()
}

/// The directories of `dirs` that host root owns (seen as nobody inside an unprivileged
/// instance, so never on purpose), each once.
fn root_owned(
    host: &dyn HostRunner,
    mut dirs: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, host::HostError> {
    dirs.sort();
    dirs.dedup();
    let mut owned = Vec::new();
    for dir in dirs {
        if host.owner_of(&dir)? == Some(Owner { uid: 0, gid: 0 }) {
            owned.push(dir);
        }
    }
    Ok(owned)
}

/// Removes what this launch made on the host (and only that), reporting each removal.
async fn undo_host(env: &Env, report: &host::ApplyReport, progress: &mut dyn Progress) {
    if report.made_nothing() {
        return;
    }
    let host = env.host.clone();
    let report = report.clone();
    let lines = tokio::task::spawn_blocking(move || host::undo_devices(host.as_ref(), &report))
        .await
        .unwrap_or_else(|e| vec![format!("cleanup: host task failed: {e}")]);
    for line in lines {
        progress.step(&line);
    }
}

/// The host ids that root in the instance maps to, from its id map (0:0 for a privileged
/// instance): the owner that makes a host directory appear as root:root inside.
pub(crate) async fn root_owner(
    server: &dyn crate::server::InstanceServer,
    name: &str,
) -> Result<Owner, OpsError> {
    let idmap = server
        .instance_idmap(name)
        .await
        .map_err(|e| lifecycle::LifecycleError::server(name, "reading the id map", e))?;
    Ok(Owner {
        uid: idmap.host_uid(0).unwrap_or(0),
        gid: idmap.host_gid(0).unwrap_or(0),
    })
}

/// Applies planned cloud-config steps to a running instance.
pub(crate) async fn apply_cloud_config(
    env: &Env,
    name: &str,
    steps: &[Step],
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut report = |step: &Step| progress.step(&step.to_string());
    cloudconfig::apply_steps(env.server.as_ref(), name, steps, &mut report)
        .await
        .map_err(|source| OpsError::CloudConfigApply {
            instance: name.to_string(),
            source: Box::new(source),
        })
}

pub(crate) fn print_lines(progress: &mut dyn Progress, text: &str) {
    for line in text.lines() {
        progress.step(line);
    }
}

/// `rebuild`: replace the instance's OS with the config's image, keeping its profiles, devices
/// and their data; then start it and apply cloud-config again.
pub async fn rebuild(
    env: &Env,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    check_names(instance)?;
    let file = instance.file.display();
    let name = instance.name.as_str();
    if instance.origin.as_deref().is_some_and(|o| !o.is_empty()) {
        return Err(OpsError::Input(format!(
            "{file}: cannot rebuild an instance whose config has `origin`: delete and launch it instead"
        )));
    }
    if instance.image.is_empty() {
        return Err(OpsError::Input(format!(
            "{file}: cannot rebuild without `image`"
        )));
    }
    let steps = cloud_config_steps(env, instance)?;
    let image = image_source(env.server.as_ref(), instance)?;
    progress.step(&format!("rebuild {name}"));
    if env.dry_run {
        let running = lifecycle::check_rebuild(env.server.as_ref(), name, &image).await?;
        for line in lifecycle::rebuild_lines(name, &image, running) {
            progress.step(&line);
        }
        progress.step(&format!("start instance {name}"));
        for step in &steps {
            progress.step(&step.to_string());
        }
        return Ok(());
    }
    lifecycle::rebuild_instance(env.server.as_ref(), name, &image, progress).await?;
    lifecycle::start_and_wait(env.server.as_ref(), name, &env.wait, progress).await?;
    apply_cloud_config(env, name, &steps, progress).await
}

#[cfg(test)]
#[path = "launch_tests.rs"]
mod tests;
