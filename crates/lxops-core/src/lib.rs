//! lxops-core: everything lxops knows that is not a particular daemon's wire format.
//!
//! The pipeline, in five lines:
//! 1. [`config`] reads a config file (migrating old formats), merges its includes and
//!    substitutes `(name)` properties for one instance.
//! 2. [`plan`] turns that into a [`plan::InstancePlan`]: host filesystems, device directories, the
//!    per-instance profile, the instance source and the cloud-config files.
//! 3. [`host`] creates filesystems and directories on the host (ZFS, plain directories, btrfs).
//! 4. [`server::InstanceServer`] is the API boundary to LXD or Incus; backends implement it.
//! 5. [`cloudconfig`] applies `#cloud-config` files inside the instance through that trait.
//!
//! The core does no network IO: it reaches daemons only through [`server::InstanceServer`].

#![warn(missing_docs)]

pub mod cloudconfig;
pub mod config;
pub mod host;
pub mod input;
pub mod lifecycle;
pub mod names;
pub mod ops;
pub mod plan;
pub mod server;
