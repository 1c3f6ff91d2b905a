//! The server side of `delete` and `destroy`: refuse a running instance unless forced, delete
//! the instance, then its per-instance profile.

use super::error::LifecycleError;
use super::progress::Progress;
use crate::server::{InstanceServer, StopMode};

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
    let instance = server
        .instance(name)
        .await
        .map_err(|e| LifecycleError::server(name, "looking up the instance", e))?;
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

/// Deletes the instance (stopping it first when `check.running`), then the per-instance
/// profile. A profile still used by other instances is reported, not an error.
pub async fn delete_instance(
    server: &dyn InstanceServer,
    name: &str,
    profile: &str,
    check: DeleteCheck,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
    if check.exists {
        if check.running {
            stop_if_running(server, name, progress).await?;
        }
        progress.step(&format!("delete instance {name}"));
        server
            .delete_instance(name)
            .await
            .map_err(|e| LifecycleError::server(name, "deleting the instance", e))?;
    } else {
        progress.step(&format!("instance {name} does not exist"));
    }
    let exists = server
        .profile(profile)
        .await
        .map_err(|e| LifecycleError::server(name, format!("looking up profile {profile}"), e))?
        .is_some();
    if exists {
        match server.delete_profile(profile).await {
            Ok(()) => progress.step(&format!("delete profile {profile}")),
            Err(e) => progress.step(&format!("profile {profile} not deleted: {e}")),
        }
    }
    Ok(())
}
