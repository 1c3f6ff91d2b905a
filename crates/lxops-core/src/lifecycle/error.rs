//! Lifecycle errors: each names the instance and the step, and says what to do.

use crate::server::ServerError;

/// Why a lifecycle step failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The daemon refused or failed a request.
    #[error("{instance}: {step}: {source}")]
    Server {
        /// The instance.
        instance: String,
        /// What was being done.
        step: String,
        /// The daemon's error.
        #[source]
        source: ServerError,
    },
    /// Launch of an instance that exists.
    #[error("instance {instance} already exists{project}: use `rebuild` to replace its OS image, or `delete` it first")]
    InstanceExists {
        /// The instance.
        instance: String,
        /// " in project X" or "".
        project: String,
    },
    /// The instance appeared between the check and the create: the create of an interrupted
    /// earlier launch was still running in the daemon.
    #[error("instance {instance} appeared while it was being created{project}: an interrupted earlier launch of it was still running in the daemon; run the same launch again to finish it")]
    CreateRaced {
        /// The instance.
        instance: String,
        /// " in project X" or "".
        project: String,
    },
    /// An instance that should exist does not.
    #[error("instance {instance} does not exist{project}")]
    InstanceMissing {
        /// The instance.
        instance: String,
        /// " in project X" or "".
        project: String,
    },
    /// Profiles listed in the config are missing on the server.
    #[error("{instance}: missing profiles: {profiles}: create them (e.g. `profile import`) or remove them from `profiles` in the config")]
    MissingProfiles {
        /// The instance.
        instance: String,
        /// Comma-separated names.
        profiles: String,
    },
    /// The image is not on the server.
    #[error("{instance}: image {image} not found on the server: import it (`image import`) or fix `image` in the config")]
    ImageMissing {
        /// The instance.
        instance: String,
        /// The image.
        image: String,
    },
    /// The `origin` instance is not on the server.
    #[error("{instance}: origin {origin} not found on the server: fix `origin` in the config")]
    OriginMissing {
        /// The instance.
        instance: String,
        /// The origin.
        origin: String,
    },
    /// The per-instance profile exists with other devices.
    #[error("{instance}: profile {profile} already exists and differs from the config:\n{diff}\nrun `profile diff`, or delete the profile if it is stale (`delete` removes it with its instance)")]
    ProfileDiffers {
        /// The instance.
        instance: String,
        /// The profile.
        profile: String,
        /// One line per difference.
        diff: String,
    },
    /// A profile that must not exist does.
    #[error("{instance}: profile {profile} already exists")]
    ProfileExists {
        /// The instance.
        instance: String,
        /// The profile.
        profile: String,
    },
    /// A running instance where a stopped one is needed.
    #[error("instance {instance} is running: stop it first, or use --force to stop it")]
    Running {
        /// The instance.
        instance: String,
    },
    /// A wait ran out of time.
    #[error("{instance}: {what} within {seconds} seconds")]
    Timeout {
        /// The instance.
        instance: String,
        /// What did not happen.
        what: String,
        /// How long it waited.
        seconds: u64,
    },
    /// A `target` / `--target` the server cannot place the instance on (not a member, not a
    /// cluster, an offline member): bad input, found before anything changed.
    #[error("{instance}: {message}")]
    BadTarget {
        /// The instance.
        instance: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Any other refusal.
    #[error("{instance}: {message}")]
    Refused {
        /// The instance.
        instance: String,
        /// Why.
        message: String,
    },
}

impl LifecycleError {
    pub(crate) fn server(instance: &str, step: impl Into<String>, source: ServerError) -> Self {
        LifecycleError::Server {
            instance: instance.to_string(),
            step: step.into(),
            source,
        }
    }
}

/// " in project X" for messages, or "" for the default/current project.
pub(crate) fn in_project(project: &str) -> String {
    if project.is_empty() || project == "default" {
        String::new()
    } else {
        format!(" in project {project}")
    }
}
