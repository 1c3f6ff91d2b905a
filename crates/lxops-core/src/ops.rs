//! Whole operations on one instance — launch, rebuild, delete, destroy, rename, snapshot, status,
//! rollback, configure, create-devices, create-profile, extract, copy-filesystems, and the
//! offline part of a launch's checks ([`verify_offline`], what `i verify` runs) — sequencing
//! the config, the host filesystems, the server lifecycle and cloud-config. Every operation
//! validates everything before it changes anything, and `dry_run` stops right there, printing
//! the steps.
//!
//! Operations on different instances are independent futures on one tokio runtime; the blocking
//! host work runs on tokio's blocking pool.

mod cloudconfig;
mod copy;
mod devices;
mod error;
mod extract;
pub mod fleet;
mod launch;
mod maintain;
mod remote;
mod remove;
mod rename;
mod safety;
mod status;
pub mod tree;
mod verify;
pub mod volume_dirs;
pub mod volumes;

use std::sync::Arc;

pub use cloudconfig::{apply_files, detect_ostype, ostype_from_os_release};
pub use copy::{copy_filesystems, CopyRequest};
pub use devices::{device_setup, disk_devices, parse_owner, source_setup};
pub use error::OpsError;
pub use extract::extract;
pub use launch::{launch, prepare_launch, rebuild, LaunchSources, PreparedLaunch};
pub use maintain::{
    configure, create_devices, create_profile, rollback, snapshot, SnapshotOptions,
};
pub use remote::check_host_access;
pub use remove::{delete, destroy, RemoveOptions};
pub use rename::{rename, RenameOptions};
pub use safety::twin_name;
pub use status::{status, Difference, InstanceStatus};
pub use verify::{check_input_files, verify_offline, OfflineChecked};

use crate::cloudconfig::OsTypes;
use crate::host::HostRunner;
use crate::lifecycle::WaitOptions;
use crate::server::InstanceServer;

/// What an operation works with.
#[derive(Clone)]
pub struct Env {
    /// The server, in the instance's project.
    pub server: Arc<dyn InstanceServer>,
    /// The host (real, or recording for `--dry-run`).
    pub host: Arc<dyn HostRunner>,
    /// OS types for cloud-config.
    pub os_types: Arc<OsTypes>,
    /// How long to wait after starts.
    pub wait: WaitOptions,
    /// Print the steps and change nothing.
    pub dry_run: bool,
}

/// Runs blocking host work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, OpsError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, OpsError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpsError::Internal(format!("host task failed: {e}")))?
}

#[cfg(test)]
mod dry_run_tests;

/// What the operations' unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::config::{self, DeviceDir, FsKind, InstanceDevice, InstanceFilesystem};

    /// Instance `name` from `<root>/<name>.yaml`: image `img`, the `default` profile, one
    /// directory filesystem `data` at `<root>/<name>` and one device `srv` (`/srv`) on it.
    pub(crate) fn dir_instance(root: &Path, name: &str) -> config::Instance {
        config::Instance {
            target: None,
            name: name.into(),
            file: root.join(format!("{name}.yaml")),
            description: String::new(),
            project: "default".into(),
            ostype: String::new(),
            image: "img".into(),
            origin: None,
            device_template: None,
            device_origin: None,
            source_config: None,
            lxc_options: Vec::new(),
            profiles: vec!["default".into()],
            profile: format!("{name}.lxops"),
            device_owner: None,
            filesystems: vec![InstanceFilesystem {
                id: "data".into(),
                kind: FsKind::Dir,
                path: root.join(name).display().to_string(),
                zfsproperties: BTreeMap::new(),
                transient: false,
                destroy: false,
            }],
            devices: vec![InstanceDevice {
                name: "srv".into(),
                path: "/srv".into(),
                filesystem: Some("data".into()),
                dir: DeviceDir::Relative("srv".into()),
                readonly: false,
            }],
            properties: BTreeMap::new(),
            cloud_config_files: Vec::new(),
        }
    }
}
