//! The server side of `launch`: checks that run before anything changes, creating the
//! per-instance profile and the stopped instance, and undoing what a failed launch created.

use super::error::{in_project, LifecycleError};
use super::progress::Progress;
use crate::plan::{profile_differences, InstancePlan, Source};
use crate::server::{Devices, ImageSource, InstanceServer, InstanceSource, ServerError};

/// Whether the per-instance profile must be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileState {
    /// It does not exist yet.
    Missing,
    /// It exists with exactly the planned devices: reused (a re-run after a partial failure).
    Identical,
}

/// The instance config key that marks a launch as not finished: set in the create request
/// (so no instance exists without it) and removed once cloud-config has been applied. A launch
/// that finds its instance with this key resumes it instead of refusing it.
pub const LAUNCH_PENDING_KEY: &str = "user.lxops.launch";
/// The value of [`LAUNCH_PENDING_KEY`] while the launch is not finished.
pub const LAUNCH_PENDING: &str = "pending";

/// Whether an instance's launch was interrupted before it finished.
pub fn launch_pending(instance: &crate::server::Instance) -> bool {
    instance.config.get(LAUNCH_PENDING_KEY).map(String::as_str) == Some(LAUNCH_PENDING)
}

/// What [`check_launch`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchCheck {
    /// The instance exists from an interrupted launch (see [`LAUNCH_PENDING_KEY`]): the launch
    /// resumes it (start, then cloud-config) instead of creating it.
    pub resume: bool,
    /// The per-instance profile's state.
    pub profile: ProfileState,
    /// The local image's fingerprint, which the create request then names (so the server need
    /// not resolve the alias again); `None` for a remote image or an `origin` copy.
    pub image_fingerprint: Option<String>,
    /// The devices that `lxc-options` `-d DEVICE,KEY=VALUE` override: each copied from the
    /// last of the instance's profiles that has it, with the keys set (as `lxc launch -d`).
    pub overridden_devices: Devices,
}

/// What a launch created on the server, so a failure can undo exactly that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Created {
    /// The per-instance profile was created by this run.
    pub profile: bool,
    /// The instance was created by this run.
    pub instance: bool,
}

/// Checks that `target` (a member name, or `@group`) can take a new instance: the server is
/// clustered, the member (or group) exists, and the member is online.
pub async fn check_target(
    server: &dyn InstanceServer,
    instance: &str,
    target: &str,
) -> Result<(), LifecycleError> {
    let refuse = |message: String| LifecycleError::BadTarget {
        instance: instance.to_string(),
        message,
    };
    let info = server
        .info()
        .await
        .map_err(|e| LifecycleError::server(instance, "reading the server info", e))?;
    if !info.clustered {
        return Err(refuse(format!(
            "target {target:?}: the {} server is not a cluster member, so there is nothing to \
             place the instance on; remove `target` from the config (or --target), or connect to \
             a cluster (--remote)",
            server.kind()
        )));
    }
    let members = server
        .cluster_members()
        .await
        .map_err(|e| LifecycleError::server(instance, "listing the cluster members", e))?;
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    if let Some(group) = target.strip_prefix('@') {
        let mut groups: Vec<&str> = members
            .iter()
            .flat_map(|m| m.groups.iter().map(String::as_str))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        if !groups.contains(&group) {
            return Err(refuse(format!(
                "target {target:?}: no cluster group {group:?}; the groups are {}; fix `target` \
                 (or --target)",
                groups
                    .iter()
                    .map(|g| format!("@{g}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(());
    }
    let Some(member) = members.iter().find(|m| m.name == target) else {
        return Err(refuse(format!(
            "target {target:?} is not a member of the cluster; the members are {}; fix `target` \
             (or --target)",
            names.join(", ")
        )));
    };
    if !member.status.eq_ignore_ascii_case("online") {
        return Err(refuse(format!(
            "cluster member {target} is {} ({}); start it, or choose another member ({})",
            member.status.to_lowercase(),
            member.message,
            names
                .iter()
                .filter(|n| **n != target)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Checks everything the server side of a launch needs, changing nothing: the target member
/// can take it, the instance does not exist (or exists from an interrupted launch, which is
/// then resumed), the listed profiles and the image (or origin) exist, and an existing
/// per-instance profile equals the plan's.
pub async fn check_launch(
    server: &dyn InstanceServer,
    plan: &InstancePlan,
) -> Result<LaunchCheck, LifecycleError> {
    let name = plan.name.as_str();
    if let Some(target) = plan.placement() {
        check_target(server, name, target).await?;
    }
    // One lookup on the common path (no instance). Only an instance left by an interrupted
    // launch waits for that run's operations (its create or start may still be running in the
    // daemon) and is looked up again once they have ended.
    let existing = match server
        .instance(name)
        .await
        .map_err(|e| LifecycleError::server(name, "looking up the instance", e))?
    {
        Some(instance) if launch_pending(&instance) => {
            super::wait::settled_instance(server, name).await?
        }
        other => other,
    };
    let resume = match &existing {
        None => false,
        Some(instance) if launch_pending(instance) => true,
        Some(_) => {
            return Err(LifecycleError::InstanceExists {
                instance: name.to_string(),
                project: in_project(server.project()),
            })
        }
    };
    if !plan.required_profiles.is_empty() {
        let names = server
            .profile_names()
            .await
            .map_err(|e| LifecycleError::server(name, "listing profiles", e))?;
        let missing: Vec<&str> = plan
            .required_profiles
            .iter()
            .filter(|p| !names.contains(p) && **p != plan.profile.name)
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(LifecycleError::MissingProfiles {
                instance: name.to_string(),
                profiles: missing.join(", "),
            });
        }
    }
    let mut image_fingerprint = None;
    match &plan.source {
        // The instance exists: its image or origin was used already.
        _ if resume => {}
        Source::Image(image) => {
            let found = server.image_fingerprint(image).await.map_err(|e| {
                LifecycleError::server(name, format!("looking up image {image}"), e)
            })?;
            if found.is_none() {
                return Err(LifecycleError::ImageMissing {
                    instance: name.to_string(),
                    image: image.to_string(),
                });
            }
            if image.remote.is_none() {
                image_fingerprint = found;
            }
        }
        Source::Copy(origin) => {
            let source_server = match &origin.project {
                Some(p) => server.for_project(p),
                None => server.for_project(server.project()),
            };
            let found = source_server
                .instance(&origin.instance)
                .await
                .map_err(|e| {
                    LifecycleError::server(name, format!("looking up origin {origin}"), e)
                })?;
            let snapshot_found = match (&found, &origin.snapshot) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(_), Some(snap)) => source_server
                    .snapshots(&origin.instance)
                    .await
                    .map_err(|e| {
                        LifecycleError::server(name, format!("listing snapshots of {origin}"), e)
                    })?
                    .iter()
                    .any(|s| &s.name == snap),
            };
            if !snapshot_found {
                return Err(LifecycleError::OriginMissing {
                    instance: name.to_string(),
                    origin: origin.to_string(),
                });
            }
        }
    }
    let profile = server
        .profile(&plan.profile.name)
        .await
        .map_err(|e| LifecycleError::server(name, "looking up the lxops profile", e))?;
    let state = match profile {
        None => ProfileState::Missing,
        Some(existing) => {
            let diff = profile_differences(&existing, &plan.profile);
            if !diff.is_empty() {
                return Err(LifecycleError::ProfileDiffers {
                    instance: name.to_string(),
                    profile: plan.profile.name.clone(),
                    diff: diff.join("\n"),
                });
            }
            ProfileState::Identical
        }
    };
    let overridden_devices = if resume {
        Devices::new()
    } else {
        overridden_devices(server, plan).await?
    };
    Ok(LaunchCheck {
        resume,
        profile: state,
        image_fingerprint,
        overridden_devices,
    })
}

/// The devices of `lxc-options` `-d DEVICE,KEY=VALUE`: a device the options themselves add
/// (`-s`, `-n`) gets the keys; otherwise the device is taken from the last of the instance's
/// profiles that has it (the per-instance profile from the plan), as `lxc launch -d` does. A
/// device no profile has is refused, before anything changes.
async fn overridden_devices(
    server: &dyn InstanceServer,
    plan: &InstancePlan,
) -> Result<Devices, LifecycleError> {
    let name = plan.name.as_str();
    let mut devices = Devices::new();
    for (device, keys) in &plan.options.device_overrides {
        let mut found = plan.options.devices.get(device).cloned();
        for profile in plan.profiles.iter().rev() {
            if found.is_some() {
                break;
            }
            found = if *profile == plan.profile.name {
                plan.profile.devices.get(device).cloned()
            } else {
                server
                    .profile(profile)
                    .await
                    .map_err(|e| {
                        LifecycleError::server(name, format!("looking up profile {profile}"), e)
                    })?
                    .and_then(|p| p.devices.get(device).cloned())
            };
        }
        let Some(mut found) = found else {
            return Err(LifecycleError::Refused {
                instance: name.to_string(),
                message: format!(
                    "lxc-options: -d {device}: no device {device:?} in the instance's profiles ({}) to override: fix lxc-options in the config",
                    plan.profiles.join(", ")
                ),
            });
        };
        found.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
        devices.insert(device.clone(), found);
    }
    Ok(devices)
}

/// Creates the per-instance profile (unless reused) and the instance, stopped. On failure,
/// removes what it created and returns the error.
pub async fn create_instance(
    server: &dyn InstanceServer,
    plan: &InstancePlan,
    check: &LaunchCheck,
    progress: &mut dyn Progress,
) -> Result<Created, LifecycleError> {
    let name = plan.name.as_str();
    let mut created = Created::default();
    if check.resume {
        progress.step(&format!(
            "resume the interrupted launch of {name}: the instance exists"
        ));
        return Ok(created);
    }
    let reuse = check.profile == ProfileState::Identical;
    for line in plan.profile_lines(reuse) {
        progress.step(&line);
    }
    if !reuse {
        server.create_profile(&plan.profile).await.map_err(|e| {
            LifecycleError::server(name, format!("creating profile {}", plan.profile.name), e)
        })?;
        created.profile = true;
    }
    for line in plan.instance_lines() {
        progress.step(&line);
    }
    let mut new = plan.new_instance();
    new.devices.extend(check.overridden_devices.clone());
    new.config
        .insert(LAUNCH_PENDING_KEY.to_string(), LAUNCH_PENDING.to_string());
    if let (Some(fingerprint), InstanceSource::Image(image)) =
        (&check.image_fingerprint, &mut new.source)
    {
        *image = ImageSource::local(fingerprint.clone());
    }
    let location = match server.create_instance(&new).await {
        Ok(location) => location,
        Err(e) => {
            undo_launch(server, name, &plan.profile.name, created, progress).await;
            if matches!(e, ServerError::AlreadyExists { .. }) {
                return Err(LifecycleError::CreateRaced {
                    instance: name.to_string(),
                    project: in_project(server.project()),
                });
            }
            return Err(LifecycleError::server(name, "creating the instance", e));
        }
    };
    created.instance = true;
    report_location(server, name, plan.target.as_deref(), location, progress).await;
    Ok(created)
}

/// On a cluster, says which member the instance went to (the target, or the scheduler's
/// choice) and hands it to [`Progress::located`]. The create's answer names the member (its
/// operation runs there); a member named as the target is where the daemon created it (it
/// refuses the create otherwise); only when neither says is it read back (a request the
/// member holding the instance answers). Informational: a failed lookup is only logged.
async fn report_location(
    server: &dyn InstanceServer,
    name: &str,
    target: Option<&str>,
    created_on: Option<String>,
    progress: &mut dyn Progress,
) {
    if !server.info().await.is_ok_and(|info| info.clustered) {
        return;
    }
    let member = match (created_on, target) {
        (Some(member), _) => Some(member),
        (None, Some(member)) if !member.starts_with('@') => Some(member.to_string()),
        (None, _) => match server.instance(name).await {
            Ok(found) => found.and_then(|i| i.member().map(str::to_string)),
            Err(e) => {
                tracing::warn!(instance = name, "cannot read where the instance went: {e}");
                None
            }
        },
    };
    if let Some(member) = member {
        progress.step(&format!("instance {name} is on cluster member {member}"));
        progress.located(&member);
    }
}

/// Removes what a failed launch created on the server: the instance (stopped by force) and the
/// per-instance profile. Errors are reported as progress lines, since the launch error is the
/// one that matters.
pub async fn undo_launch(
    server: &dyn InstanceServer,
    name: &str,
    profile: &str,
    created: Created,
    progress: &mut dyn Progress,
) {
    if created.instance {
        let _ = server
            .stop_instance(name, crate::server::StopMode::Force)
            .await;
        match server.delete_instance(name).await {
            Ok(()) => progress.step(&format!("cleanup: deleted instance {name}")),
            Err(e) => progress.step(&format!("cleanup: could not delete instance {name}: {e}")),
        }
    }
    if created.profile {
        match server.delete_profile(profile).await {
            Ok(()) => progress.step(&format!("cleanup: deleted profile {profile}")),
            Err(e) => progress.step(&format!("cleanup: could not delete profile {profile}: {e}")),
        }
    }
}
