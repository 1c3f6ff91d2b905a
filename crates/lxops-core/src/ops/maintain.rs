//! The smaller operations: `configure` (cloud-config on a running instance), `create-devices`,
//! `create-profile`, `snapshot` and `rollback`.

use super::devices::{device_setup, disk_devices, parse_owner, source_setup};
use super::error::OpsError;
use super::launch::{apply_cloud_config, cloud_config_steps, print_lines};
use super::safety::{check_names, check_snapshot_name};
use super::{blocking, Env};
use crate::config;
use crate::host;
use crate::lifecycle::{self, LifecycleError, Progress};
use crate::plan::{lxops_profile, profile_differences};

/// `configure`: waits until the instance runs commands, then applies its cloud-config files.
pub async fn configure(
    env: &Env,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    check_names(instance)?;
    let steps = cloud_config_steps(env, instance)?;
    let name = instance.name.as_str();
    progress.step(&format!("configure {name}"));
    if env.dry_run {
        for step in &steps {
            progress.step(&step.to_string());
        }
        return Ok(());
    }
    lifecycle::wait_ready(env.server.as_ref(), name, &env.wait, progress).await?;
    apply_cloud_config(env, name, &steps, progress).await
}

/// `create-devices`: creates the filesystems and device directories (owned by `device-owner`,
/// else root-owned).
pub async fn create_devices(
    env: &Env,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    check_names(instance)?;
    let file = instance.file.display().to_string();
    let owner = match instance.device_owner.as_deref().filter(|o| !o.is_empty()) {
        Some(o) => Some(parse_owner(&file, o)?),
        None => None,
    };
    let setup = device_setup(instance, owner, None, None)?;
    let host = env.host.clone();
    let name = instance.name.clone();
    let dry_run = env.dry_run;
    progress.step(&format!("create-devices {name}"));
    let text = blocking(move || {
        let plan =
            host::plan_devices(host.as_ref(), &setup).map_err(|e| OpsError::host(&name, e))?;
        if dry_run {
            return Ok(plan.to_string());
        }
        let report =
            host::apply_devices(host.as_ref(), &plan).map_err(|e| OpsError::host(&name, e))?;
        Ok(report.lines.join("\n"))
    })
    .await?;
    print_lines(progress, &text);
    Ok(())
}

/// `create-profile`: creates the per-instance profile; an identical existing one is fine, a
/// different one is an error showing the difference.
pub async fn create_profile(
    env: &Env,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    check_names(instance)?;
    let name = instance.name.clone();
    let setup = source_setup(instance);
    let host = env.host.clone();
    let sources = blocking(move || {
        host::device_sources(host.as_ref(), &setup).map_err(|e| OpsError::host(&name, e))
    })
    .await?;
    let profile = lxops_profile(
        &instance.profile,
        &instance.file,
        &host::instance_mark(&instance.project, &instance.name),
        &disk_devices(
            instance,
            &sources,
            super::volumes::volume_layout(env.server.as_ref(), &instance.name).await?,
        )?,
    );
    let server = env.server.as_ref();
    let name = instance.name.as_str();
    let existing = server.profile(&profile.name).await.map_err(|e| {
        LifecycleError::server(name, format!("looking up profile {}", profile.name), e)
    })?;
    if let Some(existing) = existing {
        let diff = profile_differences(&existing, &profile);
        if diff.is_empty() {
            progress.step(&format!("profile {} exists and is identical", profile.name));
            return Ok(());
        }
        return Err(LifecycleError::ProfileDiffers {
            instance: name.to_string(),
            profile: profile.name.clone(),
            diff: diff.join("\n"),
        }
        .into());
    }
    progress.step(&format!("create profile {}", profile.name));
    let mut text = String::new();
    let _ = crate::plan::write_profile_devices(&mut text, &profile);
    print_lines(progress, &text);
    if env.dry_run {
        return Ok(());
    }
    server.create_profile(&profile).await.map_err(|e| {
        LifecycleError::server(name, format!("creating profile {}", profile.name), e)
    })?;
    Ok(())
}

/// What `snapshot` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// The snapshot name.
    pub name: String,
    /// Also snapshot (or, with `destroy`, delete the snapshot of) the instance through the API.
    pub instance: bool,
    /// Destroy the snapshots instead.
    pub destroy: bool,
    /// With `destroy`: `zfs destroy -R`, the snapshots inside and the dependent clones too.
    pub recursive: bool,
    /// With `recursive`: also destroy dependents (and outermost filesystems) without an lxops
    /// mark.
    pub adopt: bool,
}

/// `snapshot`: snapshots every non-transient filesystem (and with `-c` the instance), or with
/// `-d` destroys those snapshots.
pub async fn snapshot(
    env: &Env,
    instance: &config::Instance,
    options: &SnapshotOptions,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    check_names(instance)?;
    let name = instance.name.clone();
    if options.name.is_empty() {
        return Err(OpsError::Input(
            "snapshot: the snapshot name (-s) is empty".into(),
        ));
    }
    check_snapshot_name(&options.name)?;
    if options.recursive && !options.destroy {
        return Err(OpsError::Input("snapshot: -R is only valid with -d".into()));
    }
    let fss: Vec<_> = source_setup(instance)
        .filesystems
        .into_iter()
        .filter(|f| !f.transient)
        .collect();
    let verb = if options.destroy {
        "destroy snapshot"
    } else {
        "snapshot"
    };
    // `-d -R` destroys dependent clones too: every one is checked before anything changes.
    let dependents = if options.destroy && options.recursive && !fss.is_empty() {
        destroy_dependents_checked(env, instance, &fss, options).await?
    } else {
        Vec::new()
    };
    if options.instance {
        progress.step(&format!("{verb} instance {name}/{}", options.name));
        if !env.dry_run {
            let server = env.server.as_ref();
            let result = if options.destroy {
                server.delete_snapshot(&name, &options.name).await
            } else {
                server.create_snapshot(&name, &options.name).await
            };
            result.map_err(|e| {
                LifecycleError::server(&name, format!("{verb} {}", options.name), e)
            })?;
        }
    }
    for fs in fss.iter().filter(|f| f.kind != host::FsKind::Dir) {
        progress.step(&format!("{verb} {}@{}", fs.path, options.name));
    }
    for dependent in &dependents {
        let mark = match &dependent.mark {
            Some(mark) => format!("marked for {mark}"),
            None => "not marked by lxops, --adopt".to_string(),
        };
        progress.step(&format!(
            "destroy dependent {} (from {}; {mark})",
            dependent.dataset, dependent.from
        ));
    }
    super::volumes::snapshot_volumes(
        env.server.as_ref(),
        instance,
        &options.name,
        options.destroy,
        env.dry_run,
        progress,
    )
    .await?;
    if env.dry_run || fss.is_empty() {
        return Ok(());
    }
    let host = env.host.clone();
    let options = options.clone();
    blocking(move || {
        let result = if options.destroy {
            host::ops::destroy_snapshots(host.as_ref(), &fss, &options.name, options.recursive)
        } else {
            host::ops::snapshot_filesystems(host.as_ref(), &fss, &options.name, false)
        };
        result.map(|_| ()).map_err(|e| OpsError::host(&name, e))
    })
    .await
}

/// The datasets `snapshot -d -R` destroys besides the snapshots, after the safety rules: the
/// instance's own outermost filesystems only, dependents that lxops made (or any, with
/// `--adopt`), and never a clone that holds the data of an instance that exists.
async fn destroy_dependents_checked(
    env: &Env,
    instance: &config::Instance,
    fss: &[host::FilesystemSpec],
    options: &SnapshotOptions,
) -> Result<Vec<host::ops::SnapshotDependent>, OpsError> {
    let name = instance.name.clone();
    let host = env.host.clone();
    let (list, snapshot) = (fss.to_vec(), options.name.clone());
    let host_name = name.clone();
    let dependents = blocking(move || {
        host::ops::snapshot_dependents(host.as_ref(), &list, &snapshot)
            .map_err(|e| OpsError::host(&host_name, e))
    })
    .await?;
    let mut refusals = Vec::new();
    for dependent in &dependents {
        let Some((project, owner)) = dependent.mark.as_deref().and_then(|m| m.split_once('/'))
        else {
            continue;
        };
        let found = env
            .server
            .for_project(project)
            .instance(owner)
            .await
            .map_err(|e| {
                LifecycleError::server(&name, format!("looking up instance {owner}"), e)
            })?;
        if found.is_some() {
            refusals.push(host::Refusal {
                id: "clone".to_string(),
                path: dependent.dataset.clone(),
                reason: format!(
                    "-R would destroy it (it depends on {}), and it holds the data of instance {project}/{owner}, which exists: destroy that instance first",
                    dependent.from
                ),
                manual: format!("zfs destroy -r {}", dependent.dataset),
            });
        }
    }
    let host = env.host.clone();
    let own = host::instance_mark(&instance.project, &instance.name);
    let (list, snapshot, adopt) = (fss.to_vec(), options.name.clone(), options.adopt);
    let checked = dependents.clone();
    blocking(move || {
        host::ops::check_destroy_dependents(
            host.as_ref(),
            &list,
            &snapshot,
            &own,
            adopt,
            &checked,
            refusals,
        )
        .map_err(|e| OpsError::host(&name, e))
    })
    .await?;
    Ok(dependents)
}

/// `rollback`: rolls every non-transient filesystem back to a snapshot (and with `-c` restores
/// the instance snapshot through the API).
pub async fn rollback(
    env: &Env,
    instance: &config::Instance,
    snapshot: &str,
    with_instance: bool,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    check_names(instance)?;
    if snapshot.is_empty() {
        return Err(OpsError::Input(
            "rollback: the snapshot name (-s) is empty".into(),
        ));
    }
    check_snapshot_name(snapshot)?;
    let name = instance.name.clone();
    let fss: Vec<_> = source_setup(instance)
        .filesystems
        .into_iter()
        .filter(|f| !f.transient)
        .collect();
    let member = super::volumes::check_rollback(env.server.as_ref(), instance, snapshot).await?;
    for fs in fss.iter().filter(|f| f.kind != host::FsKind::Dir) {
        progress.step(&format!("rollback {}@{snapshot}", fs.path));
    }
    let layout = super::volumes::volume_layout(env.server.as_ref(), &name).await?;
    for line in super::volumes::rollback_lines(instance, snapshot, layout) {
        progress.step(&line);
    }
    if with_instance {
        progress.step(&format!("restore instance {name}/{snapshot}"));
    }
    if env.dry_run {
        return Ok(());
    }
    let host = env.host.clone();
    let snap = snapshot.to_string();
    let owned = name.clone();
    blocking(move || {
        host::ops::rollback_filesystems(host.as_ref(), &fss, &snap)
            .map(|_| ())
            .map_err(|e| OpsError::host(&owned, e))
    })
    .await?;
    super::volumes::rollback_volumes(env.server.as_ref(), instance, snapshot, member.as_deref())
        .await?;
    if with_instance {
        env.server
            .restore_snapshot(&name, snapshot)
            .await
            .map_err(|e| {
                LifecycleError::server(&name, format!("restoring snapshot {snapshot}"), e)
            })?;
    }
    Ok(())
}
