//! `rename CONFIG NEWNAME`: the stopped instance gets the new name, its root filesystems are
//! renamed, and it moves from the old per-instance profile to a new one with the new directories.

use super::devices::{disk_devices, source_setup};
use super::error::OpsError;
use super::safety::{check_names, project_instances, rules};
use super::{blocking, Env};
use crate::config;
use crate::host;
use crate::lifecycle::{self, Progress};
use crate::plan::lxops_profile;

/// How `rename` may act.
#[derive(Debug, Clone)]
pub struct RenameOptions {
    /// Accept unmarked filesystems and an unmarked profile (made by an older lxops) that pass
    /// every other rule.
    pub adopt: bool,
    /// The old config evaluated for another instance name ([`super::twin_name`]).
    pub twin: config::Instance,
    /// The configs of the other instances of the project (see [`super::RemoveOptions`]).
    pub others: Vec<config::Instance>,
}

/// Renames `old` (the config evaluated for the current name) to `new` (evaluated for the new one).
/// The old filesystems must pass the safety rules (marked for the old instance, or unmarked with
/// `options.adopt`; see [`host::check_removal`]) and no new path may exist; the old profile is
/// deleted only when it is marked for the old instance (or adopted) and no other instance uses it.
pub async fn rename(
    env: &Env,
    old: &config::Instance,
    new: &config::Instance,
    options: &RenameOptions,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    check_names(old)?;
    check_names(new)?;
    let server = env.server.as_ref();
    lifecycle::check_rename(server, &old.name, &new.name, &new.profile).await?;
    let instances = project_instances(env, &old.name).await?;
    let rules = rules(
        old,
        &options.twin,
        &options.others,
        &instances,
        options.adopt,
        true,
    );
    let old_profile = lifecycle::check_profile_removal(
        server,
        &old.name,
        &old.profile,
        &rules.mark,
        &old.file.display().to_string(),
        &instances,
        options.adopt,
    )
    .await?;
    let old_fs = source_setup(old).filesystems;
    let new_setup = source_setup(new);
    let new_fs = new_setup.filesystems.clone();
    let renames = {
        let host = env.host.clone();
        let name = old.name.clone();
        let (of, nf, rules) = (old_fs.clone(), new_fs.clone(), rules.clone());
        blocking(move || {
            host::ops::check_rename_filesystems(host.as_ref(), &of, &nf, &rules)
                .map_err(|e| OpsError::host(&name, e))
        })
        .await?
    };
    let (volume_renames, member) =
        super::volumes::check_rename(server, old, new, options.adopt).await?;
    progress.step(&format!("rename {} to {}", old.name, new.name));
    for rename in &renames {
        progress.step(&format!("rename filesystem {rename}"));
    }
    for r in &volume_renames {
        progress.step(&format!("rename volume {} -> {}", r.old, r.new));
    }
    if env.dry_run {
        let instance = server
            .instance(&old.name)
            .await
            .map_err(|e| lifecycle::LifecycleError::server(&old.name, "reading the instance", e))?;
        let current = instance.map(|i| i.profiles).unwrap_or_default();
        let old_name = match &old_profile {
            lifecycle::ProfileRemoval::Delete(p) | lifecycle::ProfileRemoval::Missing(p) => p,
            lifecycle::ProfileRemoval::Keep { profile, .. } => profile,
        };
        let profiles = lifecycle::replaced_profiles(&current, old_name, &new.profile);
        progress.step(&format!("rename instance {} to {}", old.name, new.name));
        progress.step(&format!("create profile {}", new.profile));
        progress.step(&format!(
            "set profiles of {}: {}",
            new.name,
            profiles.join(", ")
        ));
        progress.step(&old_profile.describe());
        return Ok(());
    }
    let host = env.host.clone();
    let name = old.name.clone();
    let (of, nf) = (old_fs.clone(), new_fs.clone());
    let renamed = blocking(move || {
        host::ops::rename_filesystems(host.as_ref(), &of, &nf, &rules)
            .map_err(|e| OpsError::host(&name, e))
    })
    .await;
    renamed?;
    super::volumes::rename_volumes(server, old, new, &volume_renames, member.as_deref()).await?;
    let host = env.host.clone();
    let name = new.name.clone();
    let sources = blocking(move || {
        host::device_sources(host.as_ref(), &new_setup).map_err(|e| OpsError::host(&name, e))
    })
    .await?;
    let mark = host::instance_mark(&new.project, &new.name);
    let profile = lxops_profile(
        &new.profile,
        &new.file,
        &mark,
        &disk_devices(
            new,
            &sources,
            super::volumes::volume_layout(server, &new.name).await?,
        )?,
    );
    lifecycle::rename_instance(
        server,
        &old.name,
        &new.name,
        &old_profile,
        &profile,
        progress,
    )
    .await?;
    Ok(())
}
