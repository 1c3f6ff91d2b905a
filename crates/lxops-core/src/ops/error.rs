//! The error of a whole operation: which layer failed, and whether it was bad input (nothing was
//! changed; exit status 2) or a failure while working (exit status 1).

use crate::cloudconfig::{ApplyError, CloudConfigError, PlanError};
use crate::config::ConfigError;
use crate::host::HostError;
use crate::lifecycle::LifecycleError;
use crate::plan::LxcOptionsError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `lxc-options` cannot be used.
    #[error("{file}: {source}")]
    LxcOptions {
        /// The config file.
        file: String,
        /// Why.
        #[source]
        source: LxcOptionsError,
    },
    /// A cloud-config file is invalid.
    #[error(transparent)]
    CloudConfig(#[from] CloudConfigError),
    /// The cloud-config steps cannot be planned.
    #[error(transparent)]
    CloudConfigPlan(#[from] PlanError),
    /// Applying cloud-config failed.
    #[error("{instance}: cloud-config: {source}")]
    CloudConfigApply {
        /// The instance.
        instance: String,
        /// Why (boxed: it carries the failed command's output).
        #[source]
        source: Box<ApplyError>,
    },
    /// Host filesystem work failed or was refused.
    #[error("{instance}: {source}")]
    Host {
        /// The instance.
        instance: String,
        /// Why.
        #[source]
        source: HostError,
    },
    /// A server step failed or was refused.
    /// Boxed: server errors carry the request and the daemon's message.
    #[error(transparent)]
    Lifecycle(Box<LifecycleError>),
    /// Bad input found by the operation itself.
    #[error("{0}")]
    Input(String),
    /// The environment cannot do what was asked (e.g. a storage pool driver `extract` cannot
    /// read).
    #[error("{0}")]
    Unsupported(String),
    /// A bug or an environment failure.
    #[error("{0}")]
    Internal(String),
}

impl From<LifecycleError> for OpsError {
    fn from(e: LifecycleError) -> Self {
        OpsError::Lifecycle(Box::new(e))
    }
}

impl OpsError {
    /// Whether the error is bad input found before anything changed (exit status 2).
    pub fn is_input(&self) -> bool {
        if let OpsError::Lifecycle(e) = self {
            return matches!(**e, LifecycleError::BadTarget { .. });
        }
        matches!(
            self,
            OpsError::Config(_)
                | OpsError::LxcOptions { .. }
                | OpsError::CloudConfig(_)
                | OpsError::CloudConfigPlan(_)
                | OpsError::Input(_)
                | OpsError::Host {
                    source: HostError::Refused { .. },
                    ..
                }
        )
    }

    pub(crate) fn host(instance: &str, source: HostError) -> Self {
        OpsError::Host {
            instance: instance.to_string(),
            source,
        }
    }
}
