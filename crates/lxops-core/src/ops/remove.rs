//! `delete` and `destroy`: refuse a running instance unless forced; delete the instance and its
//! profile; `destroy` then removes the `destroy: true` filesystems, only once the instance is gone.

use super::devices::source_setup;
use super::error::OpsError;
use super::launch::print_lines;
use super::{blocking, Env};
use crate::config;
use crate::host;
use crate::lifecycle::{self, Progress};

/// Deletes the instance and its per-instance profile, then lists the filesystems that remain.
pub async fn delete(
    env: &Env,
    instance: &config::Instance,
    force: bool,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    remove_instance(env, instance, force, progress).await?;
    list_remaining(env, instance, progress).await
}

async fn remove_instance(
    env: &Env,
    instance: &config::Instance,
    force: bool,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let name = instance.name.as_str();
    let server = env.server.as_ref();
    let check = lifecycle::check_delete(server, name, force).await?;
    progress.step(&format!("delete {name}"));
    if env.dry_run {
        if check.running {
            progress.step(&format!("stop instance {name}"));
        }
        if check.exists {
            progress.step(&format!("delete instance {name}"));
        } else {
            progress.step(&format!("instance {name} does not exist"));
        }
        progress.step(&format!("delete profile {} if it exists", instance.profile));
        return Ok(());
    }
    lifecycle::delete_instance(server, name, &instance.profile, check, progress).await?;
    Ok(())
}

async fn list_remaining(
    env: &Env,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    if instance.filesystems.is_empty() {
        return Ok(());
    }
    let setup = source_setup(instance);
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
/// (only after checking that the instance is gone).
pub async fn destroy(
    env: &Env,
    instance: &config::Instance,
    force: bool,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let name = instance.name.as_str();
    remove_instance(env, instance, force, progress).await?;
    let doomed: Vec<_> = source_setup(instance)
        .filesystems
        .into_iter()
        .filter(|f| f.destroy)
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    if env.dry_run {
        for fs in &doomed {
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
    for fs in &doomed {
        progress.step(&format!("destroy filesystem {} ({})", fs.id, fs.path));
    }
    let host = env.host.clone();
    let owned = name.to_string();
    blocking(move || {
        host::ops::destroy_filesystems(host.as_ref(), &doomed)
            .map_err(|e| OpsError::host(&owned, e))
    })
    .await?;
    Ok(())
}
