//! `launch` and `rebuild`: validate everything (config, cloud-config, host plan, server state),
//! then create filesystems and device directories, the profile, the instance (stopped), fix
//! device ownership from its id map, start it, wait, and apply cloud-config.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::devices::{device_setup, disk_devices, source_setup};
use super::error::OpsError;
use super::{blocking, Env};
use crate::cloudconfig::{self, Step};
use crate::config;
use crate::host::{self, DevicePlan, DeviceSetup, HostRunner, Owner};
use crate::lifecycle::{self, LaunchCheck, Progress};
use crate::plan::{instance_profiles, lxops_profile, InstancePlan, Source};
use crate::server::ImageSource;

/// The source instances a launch copies from, evaluated by the caller.
#[derive(Debug, Clone, Default)]
pub struct LaunchSources {
    /// The `device-template` instance.
    pub template: Option<config::Instance>,
    /// The `device-origin` instance and snapshot.
    pub origin: Option<(config::Instance, String)>,
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
    let checked = super::verify::verify_offline(&instance, &sources, &env.os_types)?;
    for warning in &checked.cloud_config_warnings {
        tracing::warn!("{warning}");
    }
    let (steps, options, owner) = (checked.steps, checked.options, checked.owner);
    let source = match checked.origin {
        Some(origin) => Source::Copy(origin),
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
    let disks = disk_devices(&instance, &device_sources)?;
    let profile = lxops_profile(&instance.profile, &instance.file, &disks);
    let plan = InstancePlan {
        name: instance.name.clone(),
        project: instance.project.clone(),
        required_profiles: instance.profiles.clone(),
        profiles: instance_profiles(&instance.profiles, &instance.profile),
        profile,
        source,
        options,
        cloud_config_files: instance.cloud_config_files.clone(),
        ostype: instance.ostype.clone(),
    };
    let check = lifecycle::check_launch(env.server.as_ref(), &plan).await?;
    Ok(PreparedLaunch {
        instance,
        devices,
        plan,
        steps,
        check,
        owner,
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
        print_lines(progress, &prepared.devices.to_string());
        if resume {
            progress.step(&format!(
                "resume the interrupted launch of {name}: start it if needed, then apply cloud-config"
            ));
        } else {
            print_lines(progress, &prepared.plan.to_string());
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
    for fs in &report.created_filesystems {
        progress.step(&format!("created filesystem {fs}"));
    }
    for dir in &report.created_dirs {
        progress.step(&format!("created directory {}", dir.display()));
    }
    let server = env.server.as_ref();
    let created =
        lifecycle::create_instance(server, &prepared.plan, &prepared.check, progress).await?;
    if resume {
        // The killed run's requests may still be running in the daemon.
        server.wait_instance_operations(&name).await.map_err(|e| {
            lifecycle::LifecycleError::server(&name, "waiting for its operations", e)
        })?;
    }
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
            progress.step(&format!(
                "chown {}:{} new device directories",
                owner.uid, owner.gid
            ));
            let host = env.host.clone();
            let dirs = to_own.clone();
            let host_name = name.clone();
            blocking(move || {
                host::chown_paths(host.as_ref(), &dirs, owner)
                    .map_err(|e| OpsError::host(&host_name, e))
            })
            .await?;
        }
        if resume {
            lifecycle::start_and_wait(server, &name, &env.wait, progress).await?;
        } else {
            lifecycle::start_stopped_and_wait(server, &name, &env.wait, progress).await?;
        }
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
        return Err(e);
    }
    apply_cloud_config(env, &name, &prepared.steps, progress).await?;
    finish_launch(server, &name).await
}

/// Removes the mark of an unfinished launch ([`lifecycle::LAUNCH_PENDING_KEY`]): from now on a
/// launch of this instance is refused.
async fn finish_launch(
    server: &dyn crate::server::InstanceServer,
    name: &str,
) -> Result<(), OpsError> {
    let done = [(lifecycle::LAUNCH_PENDING_KEY.to_string(), String::new())].into();
    server
        .patch_instance_config(name, &done)
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
        let server = env.server.as_ref();
        if server
            .instance(name)
            .await
            .map_err(|e| lifecycle::LifecycleError::server(name, "looking up the instance", e))?
            .is_none()
        {
            return Err(lifecycle::LifecycleError::InstanceMissing {
                instance: name.to_string(),
                project: String::new(),
            }
            .into());
        }
        progress.step(&format!("stop instance {name} if running"));
        progress.step(&format!("rebuild instance {name} from image {image}"));
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
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::cloudconfig::OsTypes;
    use crate::host::SystemHost;
    use crate::lifecycle::{LifecycleError, WaitOptions, LAUNCH_PENDING, LAUNCH_PENDING_KEY};
    use crate::server::fake::FakeServer;
    use crate::server::{InstanceServer, StopMode};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn instance(root: &std::path::Path) -> config::Instance {
        config::Instance {
            name: "a1".into(),
            file: root.join("a1.yaml"),
            description: String::new(),
            project: "default".into(),
            ostype: String::new(),
            image: "img".into(),
            origin: None,
            device_template: None,
            device_origin: None,
            source_config: None,
            lxc_options: Vec::new(),
            profiles: vec!["default".into()],
            profile: "a1.lxops".into(),
            device_owner: None,
            filesystems: vec![config::InstanceFilesystem {
                id: "data".into(),
                kind: config::FsKind::Dir,
                path: root.join("a1").display().to_string(),
                zfsproperties: BTreeMap::new(),
                transient: false,
                destroy: false,
            }],
            devices: vec![config::InstanceDevice {
                name: "srv".into(),
                path: "/srv".into(),
                filesystem: Some("data".into()),
                dir: config::DeviceDir::Relative("srv".into()),
                readonly: false,
            }],
            properties: BTreeMap::new(),
            cloud_config_files: Vec::new(),
        }
    }

    async fn run_launch(env: &Env, instance: &config::Instance) -> Result<Vec<String>, OpsError> {
        let prepared = prepare_launch(env, instance.clone(), LaunchSources::default()).await?;
        let mut out = Vec::<u8>::new();
        launch(env, prepared, &mut out).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_string)
            .collect())
    }

    #[test]
    fn an_interrupted_launch_is_finished_by_running_it_again_and_then_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let server = FakeServer::new();
        server.add_image("img");
        let env = Env {
            server: Arc::new(server.clone()),
            host: Arc::new(SystemHost::new()),
            os_types: Arc::new(OsTypes::builtin()),
            wait: WaitOptions::default(),
            dry_run: false,
        };
        let instance = instance(tmp.path());
        block_on(async {
            run_launch(&env, &instance).await.unwrap();
            let live = server.instance("a1").await.unwrap().unwrap();
            assert!(
                !live.config.contains_key(LAUNCH_PENDING_KEY),
                "a finished launch is unmarked"
            );

            // As if the process had been killed after the create request: the instance exists,
            // stopped, still marked.
            server.stop_instance("a1", StopMode::Force).await.unwrap();
            let pending = [(LAUNCH_PENDING_KEY.to_string(), LAUNCH_PENDING.to_string())];
            server
                .patch_instance_config("a1", &pending.into())
                .await
                .unwrap();
            server.clear_calls();
            let lines = run_launch(&env, &instance).await.unwrap();
            assert!(
                lines.contains(
                    &"resume the interrupted launch of a1: the instance exists".to_string()
                ),
                "{lines:?}"
            );
            let calls = server.calls();
            assert!(
                !calls.iter().any(|c| c.starts_with("create ")),
                "nothing is created again: {calls:?}"
            );
            let live = server.instance("a1").await.unwrap().unwrap();
            assert!(live.is_running());
            assert!(!live.config.contains_key(LAUNCH_PENDING_KEY));

            let again = run_launch(&env, &instance).await.unwrap_err();
            assert!(
                matches!(&again, OpsError::Lifecycle(e) if matches!(**e, LifecycleError::InstanceExists { .. })),
                "{again}"
            );
        });
    }
}
