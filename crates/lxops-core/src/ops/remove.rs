//! `delete` and `destroy`: refuse a running instance unless forced; delete the instance and its
//! per-instance profile (only when it is marked for this instance and no other instance uses
//! it); `destroy` then removes the `destroy: true` filesystems that pass the safety rules
//! (see [`host::check_removal`]), only once the instance is gone. Every check, host and server,
//! runs before the first change, and `--dry-run` runs the same checks.

use super::devices::source_setup;
use super::error::OpsError;
use super::launch::print_lines;
use super::safety::{check_names, project_instances, rules};
use super::volumes;
use super::{blocking, Env};
use crate::config;
use crate::host::{self, FilesystemSpec, RemovalRules};
use crate::lifecycle::{self, DeleteCheck, ProfileRemoval, Progress};

/// How `delete` and `destroy` may act.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    /// Stop a running instance first.
    pub force: bool,
    /// Accept unmarked filesystems and profiles (made by an older lxops) that pass every other
    /// rule, when the instance exists.
    pub adopt: bool,
    /// The same config evaluated for another instance name ([`super::twin_name`]): filesystems
    /// with the same path there are shared and never destroyed.
    pub twin: config::Instance,
    /// The configs of the other instances of the project, each evaluated for its instance
    /// (see `lxops_cli`'s reading of the config files their profiles name): no filesystem
    /// that one of them resolves to is destroyed.
    pub others: Vec<config::Instance>,
}

/// What was checked before a delete or destroy changes anything.
struct Checked {
    check: DeleteCheck,
    profile: ProfileRemoval,
    rules: RemovalRules,
    /// The daemon volumes that go with the instance (transient ones; with `destroy`, also
    /// `destroy: true` ones), each with whether its mark allows it.
    volumes: Vec<volumes::RemovableVolume>,
}

async fn check_remove(
    env: &Env,
    instance: &config::Instance,
    options: &RemoveOptions,
    destroy: bool,
) -> Result<Checked, OpsError> {
    check_names(instance)?;
    let name = instance.name.as_str();
    let server = env.server.as_ref();
    let check = lifecycle::check_delete(server, name, options.force).await?;
    let instances = project_instances(env, name).await?;
    let rules = rules(
        instance,
        &options.twin,
        &options.others,
        &instances,
        options.adopt,
        check.exists,
    );
    let profile = lifecycle::check_profile_removal(
        server,
        name,
        &instance.profile,
        &rules.mark,
        &instance.file.display().to_string(),
        &instances,
        options.adopt && check.exists,
    )
    .await?;
    let layout = volumes::volume_layout(server, &instance.name).await?;
    let doomed: Vec<volumes::PlannedVolume> = volumes::plan_volumes(instance, layout)
        .into_iter()
        .filter(|v| v.transient || (destroy && v.destroy))
        .collect();
    let volumes = if doomed.is_empty() {
        Vec::new()
    } else {
        let member = volumes::instance_member(server, instance).await?;
        volumes::check_volume_removal(server, instance, &doomed, member.as_deref()).await?
    };
    Ok(Checked {
        check,
        profile,
        rules,
        volumes,
    })
}

/// Deletes the volumes that go with the instance (it is gone), keeping those not marked
/// for it.
async fn remove_volumes(
    env: &Env,
    instance: &config::Instance,
    checked: &Checked,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    if checked.volumes.is_empty() {
        return Ok(());
    }
    volumes::remove_volumes(
        env.server.as_ref(),
        instance,
        &checked.volumes,
        env.dry_run,
        progress,
    )
    .await
}

async fn remove_instance(
    env: &Env,
    instance: &config::Instance,
    checked: &Checked,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let name = instance.name.as_str();
    progress.step(&format!("delete {name}"));
    if env.dry_run {
        if checked.check.running {
            progress.step(&format!("stop instance {name}"));
        }
        if checked.check.exists {
            progress.step(&format!("delete instance {name}"));
        } else {
            progress.step(&format!("instance {name} does not exist"));
        }
        progress.step(&checked.profile.describe());
        return Ok(());
    }
    lifecycle::delete_instance(
        env.server.as_ref(),
        name,
        &checked.profile,
        checked.check,
        progress,
    )
    .await?;
    Ok(())
}

/// Deletes the instance and its per-instance profile, then lists the filesystems that remain.
pub async fn delete(
    env: &Env,
    instance: &config::Instance,
    options: &RemoveOptions,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let checked = check_remove(env, instance, options, false).await?;
    remove_instance(env, instance, &checked, progress).await?;
    remove_volumes(env, instance, &checked, progress).await?;
    list_remaining(env, instance, progress).await?;
    if !env.dry_run {
        volumes::list_remaining(env.server.as_ref(), instance, progress).await;
    }
    Ok(())
}

async fn list_remaining(
    env: &Env,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let setup = source_setup(instance);
    if setup.filesystems.is_empty() {
        return Ok(());
    }
    let host = env.host.clone();
    let name = instance.name.clone();
    let rows = blocking(move || {
        host::ops::list_filesystems(host.as_ref(), &setup.filesystems)
            .map_err(|e| OpsError::host(&name, e))
    })
    .await?;
    progress.step("remaining filesystems:");
    print_lines(progress, &rows.to_string());
    Ok(())
}

/// Deletes the instance like [`delete`], then destroys the filesystems marked `destroy: true`
/// that pass the safety rules (checked before the instance is deleted; destroyed only after
/// checking that the instance is gone).
pub async fn destroy(
    env: &Env,
    instance: &config::Instance,
    options: &RemoveOptions,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let name = instance.name.as_str();
    let checked = check_remove(env, instance, options, true).await?;
    let doomed: Vec<FilesystemSpec> = source_setup(instance)
        .filesystems
        .into_iter()
        .filter(|f| f.destroy)
        .collect();
    let existing = if doomed.is_empty() {
        Vec::new()
    } else {
        let host = env.host.clone();
        let owned = name.to_string();
        let (fss, rules) = (doomed.clone(), checked.rules.clone());
        blocking(move || {
            host::check_removal(host.as_ref(), &fss, &rules).map_err(|e| OpsError::host(&owned, e))
        })
        .await?
    };
    remove_instance(env, instance, &checked, progress).await?;
    remove_volumes(env, instance, &checked, progress).await?;
    if existing.is_empty() {
        return Ok(());
    }
    if env.dry_run {
        for fs in &existing {
            progress.step(&format!("destroy filesystem {} ({})", fs.id, fs.path));
        }
        return Ok(());
    }
    let still_there = env
        .server
        .instance(name)
        .await
        .map_err(|e| lifecycle::LifecycleError::server(name, "looking up the instance", e))?;
    if still_there.is_some() {
        return Err(OpsError::Input(format!(
            "{name}: the instance still exists, so its filesystems are not destroyed"
        )));
    }
    for fs in &existing {
        progress.step(&format!("destroy filesystem {} ({})", fs.id, fs.path));
    }
    let host = env.host.clone();
    let owned = name.to_string();
    let rules = checked.rules;
    blocking(move || {
        host::ops::destroy_filesystems(host.as_ref(), &existing, &rules)
            .map_err(|e| OpsError::host(&owned, e))
    })
    .await?;
    Ok(())
}

#[cfg(test)]
#[path = "remove_tests.rs"]
mod tests;
