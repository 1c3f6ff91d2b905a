//! The server side of the instance lifecycle: the checks that run before anything changes, and
//! the create, start/wait, delete, rebuild, rename and snapshot steps, each against an
//! [`InstanceServer`](crate::server::InstanceServer). Host work (filesystems, device directories)
//! and cloud-config are separate modules; the command layer sequences them.
//!
//! Every function reports what it does through a [`Progress`] and leaves nothing half-created:
//! a launch that fails after creating the profile or the instance removes what it created.

mod error;
mod launch;
mod progress;
mod rebuild;
mod remove;
mod rename;
mod wait;

pub use error::LifecycleError;
pub use launch::{
    check_launch, check_target, create_instance, launch_pending, undo_launch, Created, LaunchCheck,
    ProfileState, LAUNCH_PENDING, LAUNCH_PENDING_KEY,
};
pub use progress::{Event, EventProgress, Progress, SkipReason};
pub use rebuild::{check_rebuild, rebuild_instance, rebuild_lines};
pub use remove::{
    check_delete, check_profile_removal, delete_instance, stop_if_running, DeleteCheck,
    ProfileRemoval,
};
pub use rename::{check_rename, rename_instance, replaced_profiles};
pub use wait::{
    has_nic, settled_instance, start_and_wait, start_stopped_and_wait, wait_ready, WaitOptions,
};

#[cfg(test)]
mod tests;
