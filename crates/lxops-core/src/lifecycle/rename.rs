//! The server side of `rename`: the instance must be stopped and the new name and profile free;
//! then the instance is renamed and moved from its old per-instance profile to the new one.

use super::error::{in_project, LifecycleError};
use super::progress::Progress;
use super::remove::ProfileRemoval;
use crate::server::{InstanceServer, InstanceUpdate, Profile};

/// Checks a rename, changing nothing.
pub async fn check_rename(
    server: &dyn InstanceServer,
    old: &str,
    new: &str,
    new_profile: &str,
) -> Result<(), LifecycleError> {
    if old == new {
        return Err(LifecycleError::Refused {
            instance: old.to_string(),
            message: "cannot rename to the same name".into(),
        });
    }
    let instance = server
        .instance(old)
        .await
        .map_err(|e| LifecycleError::server(old, "looking up the instance", e))?;
    match instance {
        None => {
            return Err(LifecycleError::InstanceMissing {
                instance: old.to_string(),
                project: in_project(server.project()),
            })
        }
        Some(i) if i.is_running() => {
            return Err(LifecycleError::Running {
                instance: old.to_string(),
            })
        }
        Some(_) => {}
    }
    let taken = server
        .instance(new)
        .await
        .map_err(|e| LifecycleError::server(new, "looking up the instance", e))?;
    if taken.is_some() {
        return Err(LifecycleError::InstanceExists {
            instance: new.to_string(),
            project: in_project(server.project()),
        });
    }
    let profile = server
        .profile(new_profile)
        .await
        .map_err(|e| LifecycleError::server(new, format!("looking up profile {new_profile}"), e))?;
    if profile.is_some() {
        return Err(LifecycleError::ProfileExists {
            instance: new.to_string(),
            profile: new_profile.to_string(),
        });
    }
    Ok(())
}

/// The profile list of a renamed instance: the new per-instance profile in place of the old
/// one (appended when the old one is not in the list).
pub fn replaced_profiles(profiles: &[String], old_profile: &str, new_profile: &str) -> Vec<String> {
    let mut profiles = profiles.to_vec();
    match profiles.iter().position(|p| p == old_profile) {
        Some(i) => profiles[i] = new_profile.to_string(),
        None => profiles.push(new_profile.to_string()),
    }
    profiles
}

/// Renames the instance, then creates `new_profile`, puts it in place of the old profile in the
/// instance's profile list and deletes the old profile when `old_profile` says so.
pub async fn rename_instance(
    server: &dyn InstanceServer,
    old: &str,
    new: &str,
    old_profile: &ProfileRemoval,
    new_profile: &Profile,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
    let old_name = match old_profile {
        ProfileRemoval::Delete(p) | ProfileRemoval::Missing(p) => p.as_str(),
        ProfileRemoval::Keep { profile, .. } => profile.as_str(),
    };
    progress.step(&format!("rename instance {old} to {new}"));
    server
        .rename_instance(old, new)
        .await
        .map_err(|e| LifecycleError::server(old, format!("renaming to {new}"), e))?;
    progress.step(&format!("create profile {}", new_profile.name));
    server.create_profile(new_profile).await.map_err(|e| {
        LifecycleError::server(new, format!("creating profile {}", new_profile.name), e)
    })?;
    let instance = server
        .instance(new)
        .await
        .map_err(|e| LifecycleError::server(new, "reading the instance", e))?
        .ok_or_else(|| LifecycleError::InstanceMissing {
            instance: new.to_string(),
            project: in_project(server.project()),
        })?;
    let profiles = replaced_profiles(&instance.profiles, old_name, &new_profile.name);
    progress.step(&format!("set profiles of {new}: {}", profiles.join(", ")));
    let update = InstanceUpdate {
        profiles,
        config: instance.config.clone(),
        devices: instance.devices.clone(),
        description: instance.description.clone(),
    };
    server
        .update_instance(new, &update)
        .await
        .map_err(|e| LifecycleError::server(new, "setting its profiles", e))?;
    match old_profile {
        ProfileRemoval::Delete(p) => match server.delete_profile(p).await {
            Ok(()) => progress.step(&format!("delete profile {p}")),
            Err(e) => progress.step(&format!("profile {p} not deleted: {e}")),
        },
        other => progress.step(&other.describe()),
    }
    Ok(())
}
