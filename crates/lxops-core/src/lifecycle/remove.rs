//! The server side of `delete` and `destroy`: refuse a running instance unless forced, delete
//! the instance, then its per-instance profile.

use super::error::LifecycleError;
use super::progress::Progress;
use crate::host::PROFILE_MARK_KEY;
use crate::plan::DEFAULT_PROFILE;
use crate::server::{Instance, InstanceServer, ServerKind, StopMode};

/// What [`check_delete`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteCheck {
    /// The instance exists.
    pub exists: bool,
    /// It is running (and `force` was given, or this would have been refused).
    pub running: bool,
}

/// Refuses a running instance unless `force`; changes nothing.
pub async fn check_delete(
    server: &dyn InstanceServer,
    name: &str,
    force: bool,
) -> Result<DeleteCheck, LifecycleError> {
    let instance = super::wait::settled_instance(server, name).await?;
    let running = instance.as_ref().is_some_and(|i| i.is_running());
    if running && !force {
        return Err(LifecycleError::Running {
            instance: name.to_string(),
        });
    }
    Ok(DeleteCheck {
        exists: instance.is_some(),
        running,
    })
}

/// Stops `name` by force when it runs; reports whether it did.
pub async fn stop_if_running(
    server: &dyn InstanceServer,
    name: &str,
    progress: &mut dyn Progress,
) -> Result<bool, LifecycleError> {
    let state = server
        .instance_state(name)
        .await
        .map_err(|e| LifecycleError::server(name, "reading the state", e))?;
    if !state.status.eq_ignore_ascii_case("running") {
        return Ok(false);
    }
    progress.step(&format!("stop instance {name}"));
    server
        .stop_instance(name, StopMode::Force)
        .await
        .map_err(|e| LifecycleError::server(name, "stopping the instance", e))?;
    Ok(true)
}

/// What happens to the per-instance profile when its instance is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileRemoval {
    /// It is deleted: it is marked for this instance (or adopted) and nothing else uses it.
    Delete(String),
    /// It stays, for the reason given (with the manual command).
    Keep {
        /// The profile.
        profile: String,
        /// Why, and how to delete it by hand.
        reason: String,
    },
    /// It does not exist.
    Missing(String),
}

impl ProfileRemoval {
    /// The progress line that says what happens (or happened) to the profile.
    pub fn describe(&self) -> String {
        match self {
            ProfileRemoval::Delete(p) => format!("delete profile {p}"),
            ProfileRemoval::Keep { profile, reason } => {
                format!("profile {profile} not deleted: {reason}")
            }
            ProfileRemoval::Missing(p) => format!("profile {p} does not exist"),
        }
    }
}

/// Decides whether the per-instance profile `profile` of instance `name` may be deleted: never
/// `default`, never one that another instance uses (`instances` is every instance of the
/// project), never one marked for another instance; an unmarked one (made by an older lxops)
/// only with `adopt` and when its description is this config file.
pub async fn check_profile_removal(
    server: &dyn InstanceServer,
    name: &str,
    profile: &str,
    mark: &str,
    config_file: &str,
    instances: &[Instance],
    adopt: bool,
) -> Result<ProfileRemoval, LifecycleError> {
    let cli = match server.kind() {
        ServerKind::Incus => "incus",
        _ => "lxc",
    };
    let keep = |reason: String| ProfileRemoval::Keep {
        profile: profile.to_string(),
        reason: format!("{reason}; to delete it anyway: `{cli} profile delete {profile}`"),
    };
    if profile == DEFAULT_PROFILE {
        return Ok(keep("it is the default profile".into()));
    }
    let Some(existing) = server
        .profile(profile)
        .await
        .map_err(|e| LifecycleError::server(name, format!("looking up profile {profile}"), e))?
    else {
        return Ok(ProfileRemoval::Missing(profile.to_string()));
    };
    let users: Vec<&str> = instances
        .iter()
        .filter(|i| i.name != name && i.profiles.iter().any(|p| p == profile))
        .map(|i| i.name.as_str())
        .collect();
    if !users.is_empty() {
        return Ok(keep(format!(
            "other instances use it ({})",
            users.join(", ")
        )));
    }
    match existing.config.get(PROFILE_MARK_KEY) {
        Some(m) if m == mark => Ok(ProfileRemoval::Delete(profile.to_string())),
        Some(m) => Ok(keep(format!("it is marked as made for instance {m}"))),
        // The Go lxops wrote the config's absolute path (so does lxops now).
        None if adopt
            && (existing.description == config_file
                || std::path::Path::new(&existing.description)
                    == crate::plan::absolute(std::path::Path::new(config_file))) =>
        {
            Ok(ProfileRemoval::Delete(profile.to_string()))
        }
        None => Ok(keep(
            "it has no lxops mark (made by an older lxops, or not by lxops); if it is this \
             instance's profile, run again with --adopt"
                .into(),
        )),
    }
}

/// Deletes the instance (stopping it first when `check.running`), then the per-instance
/// profile when `profile` says so. A failure to delete the profile is reported, not an error.
pub async fn delete_instance(
    server: &dyn InstanceServer,
    name: &str,
    profile: &ProfileRemoval,
    check: DeleteCheck,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
    if check.exists {
        if check.running {
            stop_if_running(server, name, progress).await?;
        }
        progress.step(&format!("delete instance {name}"));
        match server.delete_instance(name).await {
            Ok(()) => {}
            // An ephemeral instance (`lxc-options: [-e]`) is gone once it is stopped.
            Err(e) if check.running && e.is_not_found() => {}
            Err(e) => return Err(LifecycleError::server(name, "deleting the instance", e)),
        }
    } else {
        progress.step(&format!("instance {name} does not exist"));
    }
    match profile {
        ProfileRemoval::Delete(p) => match server.delete_profile(p).await {
            Ok(()) => progress.step(&format!("delete profile {p}")),
            Err(e) => progress.step(&format!("profile {p} not deleted: {e}")),
        },
        other => progress.step(&other.describe()),
    }
    Ok(())
}
