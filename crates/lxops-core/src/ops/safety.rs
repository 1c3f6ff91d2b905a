//! What `delete`, `destroy` and `rename` need to know before they may remove anything: the
//! other instances of the project (their disk directories and profiles), and the safety rules of
//! [`host::check_removal`] for this instance.

use std::path::PathBuf;

use super::devices::source_setup;
use super::error::OpsError;
use super::Env;
use crate::config;
use crate::host::{self, InUse, RemovalRules};
use crate::lifecycle::LifecycleError;
use crate::server::Instance;

/// Checks every name of `instance` (see [`crate::names`]) before anything else: bad input.
pub(crate) fn check_names(instance: &config::Instance) -> Result<(), OpsError> {
    crate::names::check_instance(instance)
        .map_err(|e| OpsError::Input(format!("{}: {e}", instance.file.display())))
}

/// Checks a snapshot name: bad input.
pub(crate) fn check_snapshot_name(name: &str) -> Result<(), OpsError> {
    crate::names::snapshot(name).map_err(|e| OpsError::Input(e.to_string()))
}

/// Every instance of the project (with expanded devices).
pub(crate) async fn project_instances(env: &Env, name: &str) -> Result<Vec<Instance>, OpsError> {
    env.server
        .instances()
        .await
        .map_err(|e| LifecycleError::server(name, "listing the instances", e).into())
}

/// The host directories that instances other than `name` use as disk devices.
pub(crate) fn in_use(instances: &[Instance], name: &str) -> Vec<InUse> {
    instances
        .iter()
        .filter(|i| i.name != name)
        .flat_map(|i| {
            i.expanded_devices
                .values()
                .chain(i.devices.values())
                .filter(|d| d.get("type").map(String::as_str) == Some("disk"))
                .filter_map(|d| d.get("source"))
                .filter(|s| s.starts_with('/'))
                .map(|s| InUse {
                    instance: i.name.clone(),
                    path: PathBuf::from(s),
                })
        })
        .collect()
}

/// The safety rules for the filesystems of `instance`; `others` are the configs of other
/// instances, evaluated for them.
pub(crate) fn rules(
    instance: &config::Instance,
    twin: &config::Instance,
    others: &[config::Instance],
    instances: &[Instance],
    adopt: bool,
    instance_exists: bool,
) -> RemovalRules {
    RemovalRules {
        mark: host::instance_mark(&instance.project, &instance.name),
        twins: source_setup(twin).filesystems,
        in_use: in_use(instances, &instance.name),
        others: others
            .iter()
            .filter(|o| o.name != instance.name)
            .flat_map(|o| {
                source_setup(o)
                    .filesystems
                    .into_iter()
                    .map(|fs| (o.name.clone(), fs))
            })
            .collect(),
        adopt,
        instance_exists,
    }
}

/// A name for the twin evaluation of a config (the same config for another instance), which
/// shows the filesystems whose pattern ignores the instance name.
pub fn twin_name(name: &str) -> String {
    if name == "lxops-twin" {
        "lxops-twin2".into()
    } else {
        "lxops-twin".into()
    }
}
