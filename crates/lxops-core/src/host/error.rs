//! [`HostError`]: what went wrong on the host, with the command line or path, and what to do.

use std::io;
use std::path::PathBuf;

use super::FsKind;

/// A failure or refusal of host work.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// The exit status.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A command kept failing with "dataset is busy".
    #[error(
        "`{command}` failed {attempts} times over {seconds}s because the dataset stayed busy: \
         {stderr}; stop what uses it (a running instance?) and try again"
    )]
    StillBusy {
        /// The command line.
        command: String,
        /// How many times it ran.
        attempts: usize,
        /// How long the retries took, in seconds.
        seconds: u64,
        /// The last standard error.
        stderr: String,
    },
    /// A command could not be started.
    #[error("could not run `{command}`: {source}; is `{program}` installed and on PATH?")]
    Spawn {
        /// The command line.
        command: String,
        /// The program.
        program: String,
        /// The cause.
        source: io::Error,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was done, e.g. "create directory".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A field has a value that cannot be used.
    #[error("{what} `{value}` is invalid: {reason}")]
    Invalid {
        /// What it is, e.g. "filesystem `home` path".
        what: String,
        /// The value.
        value: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A dataset's pool does not exist.
    #[error(
        "filesystem `{id}`: ZFS pool `{pool}` of dataset `{dataset}` does not exist; \
         create the pool or fix the filesystem pattern"
    )]
    MissingPool {
        /// The filesystem id.
        id: String,
        /// The pool.
        pool: String,
        /// The dataset.
        dataset: String,
    },
    /// A device-template directory does not exist.
    #[error(
        "device `{device}`: template directory {} does not exist; create it (e.g. with \
         `extract`) or remove device-template",
        dir.display()
    )]
    MissingTemplate {
        /// The device name.
        device: String,
        /// The template directory.
        dir: PathBuf,
    },
    /// A device-origin clone target already exists.
    #[error(
        "filesystem `{id}`: dataset `{dataset}` already exists, so it cannot be cloned from \
         `{origin}`; destroy it first or remove device-origin"
    )]
    CloneTargetExists {
        /// The filesystem id.
        id: String,
        /// The target dataset.
        dataset: String,
        /// The snapshot it would be cloned from.
        origin: String,
    },
    /// device-origin with a filesystem that is not ZFS.
    #[error(
        "cannot use device-origin with {kind} filesystem `{id}`: only zfs filesystems can be \
         cloned; use type zfs or remove device-origin"
    )]
    OriginNotZfs {
        /// The filesystem id.
        id: String,
        /// Its kind.
        kind: FsKind,
    },
    /// device-origin does not name a source for a filesystem.
    #[error("device-origin has no source filesystem `{id}`; add it to the source config")]
    MissingCloneSource {
        /// The filesystem id.
        id: String,
    },
    /// A device without filesystem but with a relative directory.
    #[error(
        "device `{device}` has no filesystem but a relative dir `{dir}`; give it a filesystem \
         or an absolute dir"
    )]
    RelativeDirWithoutFilesystem {
        /// The device name.
        device: String,
        /// Its dir.
        dir: String,
    },
    /// A device names a filesystem id that is not defined.
    #[error(
        "device `{device}` refers to unknown filesystem `{filesystem}`; define it under \
         filesystems or fix the name"
    )]
    UnknownFilesystem {
        /// The device name.
        device: String,
        /// The unknown id.
        filesystem: String,
    },
    /// A dataset has no directory.
    #[error(
        "filesystem `{id}`: ZFS dataset `{dataset}` has mountpoint `{mountpoint}`, so it has no \
         directory; give it a mountpoint (`zfs set mountpoint=...`)"
    )]
    NoMountpoint {
        /// The filesystem id.
        id: String,
        /// The dataset.
        dataset: String,
        /// The mountpoint value (`legacy`, `none`).
        mountpoint: String,
    },
    /// No given filesystem can take snapshots.
    #[error(
        "none of the filesystems [{ids}] can take snapshots (plain directories cannot); use zfs \
         or btrfs filesystems"
    )]
    NothingToSnapshot {
        /// The filesystem ids.
        ids: String,
    },
    /// An operation that a filesystem kind does not support.
    #[error("{operation} is not supported for {kind} filesystem `{id}`: {hint}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The kind.
        kind: FsKind,
        /// The filesystem id.
        id: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// Two filesystem lists that must pair up do not.
    #[error("cannot pair filesystems: {reason}")]
    Mismatch {
        /// What does not match.
        reason: String,
    },
    /// A path that must not exist yet exists.
    #[error("{} already exists; move it away or choose another name", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// Work that only root can do, asked of a runner that is not root.
    #[error("{action} {} needs root: run lxops as root (e.g. with sudo)", path.display())]
    NeedsRoot {
        /// What would be done, e.g. "shifting the ids under".
        action: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// Filesystems that the safety rules keep lxops from destroying or renaming (see
    /// [`super::check_removal`]); nothing was changed.
    #[error(
        "refused, nothing was changed:\n{}",
        refusals.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n")
    )]
    Refused {
        /// Every refused filesystem, with the reason and the manual command.
        refusals: Vec<super::safety::Refusal>,
    },
    /// A path that must exist does not.
    #[error("{what} {} does not exist", path.display())]
    Missing {
        /// What it is.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
}

impl HostError {
    /// An [`HostError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        HostError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Whether this is a command failure whose stderr says "dataset is busy".
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self, HostError::CommandFailed { stderr, .. } if stderr.contains("is busy"))
    }
}
