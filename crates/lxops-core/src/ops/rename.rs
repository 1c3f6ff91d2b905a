//! `rename CONFIG NEWNAME`: the stopped instance gets the new name, its root filesystems are
//! renamed, and it moves from the old per-instance profile to a new one with the new directories.

use super::devices::{disk_devices, source_setup};
use super::error::OpsError;
use super::{blocking, Env};
use crate::config;
use crate::host;
use crate::lifecycle::{self, Progress};
use crate::plan::lxops_profile;

/// Renames `old` (the config evaluated for the current name) to `new` (evaluated for the new one).
pub async fn rename(
    env: &Env,
    old: &config::Instance,
    new: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let server = env.server.as_ref();
    lifecycle::check_rename(server, &old.name, &new.name, &new.profile).await?;
    let old_fs = source_setup(old).filesystems;
    let new_setup = source_setup(new);
    let new_fs = new_setup.filesystems.clone();
    progress.step(&format!("rename {} to {}", old.name, new.name));
    if env.dry_run {
        progress.step(&format!("rename instance {} to {}", old.name, new.name));
        for (o, n) in old_fs.iter().zip(&new_fs) {
            if o.path != n.path {
                progress.step(&format!("rename filesystem {} to {}", o.path, n.path));
            }
        }
        progress.step(&format!("create profile {}", new.profile));
        progress.step(&format!(
            "replace profile {} with {}",
            old.profile, new.profile
        ));
        return Ok(());
    }
    let host = env.host.clone();
    let name = old.name.clone();
    let (of, nf) = (old_fs.clone(), new_fs.clone());
    let renamed = blocking(move || {
        host::ops::rename_filesystems(host.as_ref(), &of, &nf).map_err(|e| OpsError::host(&name, e))
    })
    .await;
    renamed?;
    let host = env.host.clone();
    let name = new.name.clone();
    let sources = blocking(move || {
        host::device_sources(host.as_ref(), &new_setup).map_err(|e| OpsError::host(&name, e))
    })
    .await?;
    let profile = lxops_profile(&new.profile, &new.file, &disk_devices(new, &sources)?);
    lifecycle::rename_instance(
        server,
        &old.name,
        &new.name,
        &old.profile,
        &profile,
        progress,
    )
    .await?;
    Ok(())
}
