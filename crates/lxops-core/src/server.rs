//! The API boundary: what lxops needs from an LXD-family instance server.
//!
//! [`InstanceServer`] is implemented by the LXD and Incus backend crates (over the REST API on
//! the unix socket) and by `fake::FakeServer` (in memory, for planning and applier tests; only
//! with the `testing` feature).
//! Every method is scoped to one project: [`InstanceServer::for_project`] gives a view of the
//! same connection in another project. Futures are `Send`, so operations on different
//! instances can run concurrently on one multi-threaded tokio runtime.

pub mod backend;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use backend::{Backend, ConnectOptions};
pub use types::*;

/// Errors from an instance server. Backends map daemon replies onto these variants so that
/// callers can take decisions ("not found" on delete, "already exists" on create) without
/// parsing messages.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerError {
    /// The daemon could not be reached at all.
    #[error("cannot connect to {server} at {socket}: {reason}\nhint: {hint}")]
    Connect {
        /// "LXD" or "Incus".
        server: String,
        /// The socket path that was tried.
        socket: String,
        /// The underlying error text.
        reason: String,
        /// What the user can do about it.
        hint: String,
    },
    /// The chosen remote cannot be used as the client config describes it (unknown, not an
    /// instance server, certificate files missing): bad input, found before any change.
    #[error("remote {remote:?}: {problem}\nhint: {hint}")]
    Remote {
        /// The remote's name.
        remote: String,
        /// What is wrong, naming the file.
        problem: String,
        /// What the user can do about it.
        hint: String,
    },
    /// A cluster member that must serve the request is down (or just restarting); nothing was
    /// done.
    #[error("cluster member {members} cannot be reached: {error}; start it (or wait until it is back online) and run the command again")]
    MemberOffline {
        /// The member(s) not online, with their status.
        members: String,
        /// The daemon's error.
        error: String,
    },
    /// The object does not exist (HTTP 404 or the daemon's "not found").
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `instance "a1"`.
        what: String,
    },
    /// The project of the request does not exist (checked after a 404, which alone does not
    /// say what is missing). Not a [`ServerError::NotFound`]: lookups that treat a missing
    /// object as "absent" must not treat a missing project so.
    #[error("project {project:?} does not exist on {server}\nhint: {hint}")]
    MissingProject {
        /// The project name.
        project: String,
        /// "LXD" or "Incus".
        server: String,
        /// What the user can do about it.
        hint: String,
    },
    /// The object already exists.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What was created, e.g. `profile "a1.lxops"`.
        what: String,
    },
    /// The daemon answered with an error.
    #[error("{context}: {message}")]
    Api {
        /// What lxops was doing, e.g. `creating instance "a1"`.
        context: String,
        /// HTTP status or the envelope's `error_code`.
        status: u16,
        /// The daemon's own message.
        message: String,
    },
    /// A background operation ended in failure.
    #[error("{context}: {message}")]
    OperationFailed {
        /// What lxops was doing.
        context: String,
        /// The operation's `err` text.
        message: String,
    },
    /// A wait ran out of time.
    #[error("timed out after {after:?} {context}")]
    Timeout {
        /// What lxops was waiting for.
        context: String,
        /// How long it waited.
        after: Duration,
    },
    /// The server lacks something lxops needs.
    #[error("unsupported by this server: {0}")]
    Unsupported(String),
    /// Transport or protocol trouble (connection reset, bad JSON, ...).
    #[error("{0}")]
    Protocol(String),
}

impl ServerError {
    /// True for [`ServerError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, ServerError::NotFound { .. })
    }
    /// True for [`ServerError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ServerError::AlreadyExists { .. })
    }
}

/// Result type of [`InstanceServer`] methods.
pub type ServerResult<T> = Result<T, ServerError>;

/// What lxops needs from an LXD or Incus server, scoped to one project.
#[async_trait]
pub trait InstanceServer: Send + Sync {
    /// Which daemon family this is ("LXD" or "Incus"), for messages.
    fn kind(&self) -> ServerKind;
    /// The project this view works in.
    fn project(&self) -> &str;
    /// A view of the same server (same connection) in another project.
    fn for_project(&self, project: &str) -> Arc<dyn InstanceServer>;
    /// The operation timeout this server applies to every wait.
    fn timeout(&self) -> Duration;

    /// Server version, API extensions and similar facts.
    async fn info(&self) -> ServerResult<ServerInfo>;
    /// Whether a project of that name exists.
    async fn project_exists(&self, name: &str) -> ServerResult<bool>;
    /// The members of the cluster the server belongs to; empty for a standalone server.
    async fn cluster_members(&self) -> ServerResult<Vec<ClusterMember>> {
        Ok(Vec::new())
    }

    // ---- profiles -------------------------------------------------------------------------
    /// Names of all profiles in the project.
    async fn profile_names(&self) -> ServerResult<Vec<String>>;
    /// One profile, or `None` when it does not exist.
    async fn profile(&self, name: &str) -> ServerResult<Option<Profile>>;
    /// Creates a profile; [`ServerError::AlreadyExists`] when the name is taken.
    async fn create_profile(&self, profile: &Profile) -> ServerResult<()>;
    /// Replaces a profile's description, config and devices.
    async fn update_profile(&self, profile: &Profile) -> ServerResult<()>;
    /// Deletes a profile; [`ServerError::NotFound`] when it does not exist.
    async fn delete_profile(&self, name: &str) -> ServerResult<()>;

    // ---- instances ------------------------------------------------------------------------
    /// Names of all instances in the project.
    async fn instance_names(&self) -> ServerResult<Vec<String>>;
    /// All instances in the project, with config and devices.
    async fn instances(&self) -> ServerResult<Vec<Instance>>;
    /// One instance, or `None` when it does not exist.
    async fn instance(&self, name: &str) -> ServerResult<Option<Instance>>;
    /// How the instance's uids/gids appear on the host (from `volatile.idmap.current`, or
    /// `volatile.idmap.next` before the first start). Empty for privileged instances.
    async fn instance_idmap(&self, name: &str) -> ServerResult<IdMap>;
    /// Runtime state: status and network addresses.
    async fn instance_state(&self, name: &str) -> ServerResult<InstanceState>;
    /// Creates an instance (stopped) from an image or by copying another instance.
    /// Returns the cluster member the instance was created on, when the daemon says (`None` on
    /// a standalone server).
    async fn create_instance(&self, new: &NewInstance) -> ServerResult<Option<String>>;
    /// Replaces an instance's profiles, config, devices and description.
    async fn update_instance(&self, name: &str, update: &InstanceUpdate) -> ServerResult<()>;
    /// Sets instance config keys, leaving the others as they are; an empty value removes the
    /// key.
    async fn patch_instance_config(&self, name: &str, config: &ConfigMap) -> ServerResult<()> {
        let patch = InstancePatch {
            config: config.clone(),
            known: None,
        };
        self.patch_instance(name, &patch).await
    }
    /// Sets instance config keys as [`InstanceServer::patch_instance_config`] does; with
    /// [`InstancePatch::known`], without reading the instance first.
    async fn patch_instance(&self, name: &str, patch: &InstancePatch) -> ServerResult<()>;
    /// Waits until no background operation of the instance runs any more (e.g. the create
    /// of a launch whose process was killed, which the daemon finishes on its own).
    async fn wait_instance_operations(&self, name: &str) -> ServerResult<()>;
    /// Starts a stopped instance.
    async fn start_instance(&self, name: &str) -> ServerResult<()>;
    /// Stops a running instance, cleanly within `timeout` or at once with `force`.
    async fn stop_instance(&self, name: &str, stop: StopMode) -> ServerResult<()>;
    /// Deletes a stopped instance.
    async fn delete_instance(&self, name: &str) -> ServerResult<()>;
    /// Renames a stopped instance.
    async fn rename_instance(&self, name: &str, new_name: &str) -> ServerResult<()>;
    /// Replaces the instance's root filesystem with a new image, keeping its profiles, config
    /// and devices. The instance must be stopped.
    async fn rebuild_instance(&self, name: &str, image: &ImageSource) -> ServerResult<()>;

    /// Completes a rebuild that recreates the instance (servers without a native rebuild)
    /// and was interrupted after the old instance was deleted: renames its replacement back to
    /// `name`. Returns whether there was one. Servers with a native rebuild answer `false`.
    async fn finish_interrupted_rebuild(&self, name: &str) -> ServerResult<bool>;

    // ---- snapshots ------------------------------------------------------------------------
    /// The instance's snapshots, oldest first.
    async fn snapshots(&self, instance: &str) -> ServerResult<Vec<Snapshot>>;
    /// Creates a (stateless) snapshot.
    async fn create_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()>;
    /// Restores the instance to a snapshot.
    async fn restore_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()>;
    /// Deletes a snapshot.
    async fn delete_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()>;

    // ---- inside the instance --------------------------------------------------------------
    /// Runs a command (argv, no shell) and collects its exit status and output.
    async fn exec(&self, instance: &str, request: &ExecRequest) -> ServerResult<ExecOutput>;
    /// Writes (or appends to) a file; the parent directory must exist.
    async fn write_file(&self, instance: &str, file: &FileWrite) -> ServerResult<()>;
    /// Creates one directory (not its parents); succeeds when it exists already.
    async fn make_dir(&self, instance: &str, dir: &DirCreate) -> ServerResult<()>;
    /// Reads a file, or `None` when it does not exist.
    async fn read_file(&self, instance: &str, path: &str) -> ServerResult<Option<FileContent>>;
    /// Deletes a file or an empty directory.
    async fn delete_file(&self, instance: &str, path: &str) -> ServerResult<()>;

    // ---- files and trees ------------------------------------------------------------------
    /// What is at `path` (without following a final symlink), or `None` when nothing is.
    async fn file_info(&self, instance: &str, path: &str) -> ServerResult<Option<FileInfo>>;
    /// The entry names of a directory, as the daemon lists them (unchecked: a caller that
    /// joins them to paths must refuse `/`, `.` and `..`). [`ServerError::NotFound`] when it
    /// does not exist.
    async fn list_dir(&self, instance: &str, path: &str) -> ServerResult<Vec<String>>;
    /// Creates (or replaces) a symbolic link; the parent directory must exist.
    async fn make_symlink(&self, instance: &str, link: &SymlinkCreate) -> ServerResult<()>;
    /// [`InstanceServer::write_file`] for a file the caller knows is not there yet (a tree
    /// transfer checked it): a backend may skip what it does for existing files (the REST
    /// backend's look at an existing file's mode and owner).
    async fn write_new_file(&self, instance: &str, file: &FileWrite) -> ServerResult<()> {
        self.write_file(instance, file).await
    }

    // ---- images and storage ---------------------------------------------------------------
    /// Parses a config's `image` (`[remote:]alias` or a fingerprint) as the daemon's CLI
    /// would, with the user's client config for remotes (and their stored certificates). No
    /// network IO. The default knows no remotes: every name is a local image.
    fn image_source(&self, image: &str) -> ServerResult<ImageSource> {
        Ok(ImageSource::local(image))
    }
    /// Resolves an image source to its fingerprint, or `None` when there is no such image.
    /// A backend that cannot reach a remote image server answers `Some("remote:alias")` for a
    /// remote image: the daemon resolves it when the image is used.
    async fn image_fingerprint(&self, image: &ImageSource) -> ServerResult<Option<String>>;
    /// Publishes an instance or snapshot (`name` or `name/snap`) as an image. An alias that
    /// is taken is [`ServerError::AlreadyExists`] before anything is made, and an image made
    /// by a publish that then fails is deleted again.
    async fn publish_image(&self, publish: &PublishImage) -> ServerResult<String>;

    // ---- images ---------------------------------------------------------------------------
    /// Every image of the project's local image store, with aliases and properties.
    async fn images(&self) -> ServerResult<Vec<Image>>;
    /// Deletes an image; [`ServerError::NotFound`] when there is none with that fingerprint.
    async fn delete_image(&self, fingerprint: &str) -> ServerResult<()>;
    /// Creates an alias for an image; [`ServerError::AlreadyExists`] when the name is taken.
    async fn create_image_alias(
        &self,
        alias: &str,
        fingerprint: &str,
        description: &str,
    ) -> ServerResult<()>;
    /// Renames an alias; [`ServerError::NotFound`] when it does not exist,
    /// [`ServerError::AlreadyExists`] when the new name is taken.
    async fn rename_image_alias(&self, alias: &str, new_name: &str) -> ServerResult<()>;
    /// Deletes an alias (not its image); [`ServerError::NotFound`] when it does not exist.
    async fn delete_image_alias(&self, alias: &str) -> ServerResult<()>;
    /// Downloads an image into the directory `dir`, named `<name>.tar.gz` (unified), or
    /// `<name>.tar.gz` (metadata) and `<name>.rootfs` / `.squashfs` (split). Files are written
    /// under temporary names and renamed when complete.
    async fn export_image(
        &self,
        fingerprint: &str,
        dir: &std::path::Path,
        name: &str,
    ) -> ServerResult<ImageExport>;
    /// Uploads a unified or split image and gives it its alias; returns the fingerprint. A
    /// taken alias is [`ServerError::AlreadyExists`] before the upload; if giving the alias
    /// still fails after the upload, the new image is deleted again.
    async fn import_image(&self, upload: &ImageUpload) -> ServerResult<String>;
    /// The state of every instance of every project (`instance addresses`).
    async fn all_project_states(&self) -> ServerResult<Vec<ProjectInstanceState>>;

    // ---- storage --------------------------------------------------------------------------
    /// A storage pool, or `None` when it does not exist.
    async fn storage_pool(&self, name: &str) -> ServerResult<Option<StoragePool>>;
    /// The names of the storage pools.
    async fn storage_pool_names(&self) -> ServerResult<Vec<String>>;

    // ---- storage volumes (custom volumes of a pool) ---------------------------------------
    // `target` is the cluster member that holds the volume (volume names are per member);
    // a standalone server ignores it.
    /// A custom volume, or `None` when it does not exist (on `target`).
    async fn volume(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Option<Volume>>;
    /// Creates a custom volume (on `target`); an existing name is
    /// [`ServerError::AlreadyExists`].
    async fn create_volume(&self, new: &NewVolume, target: Option<&str>) -> ServerResult<()>;
    /// Creates custom volume `new` (on `target`) as a copy of `source` of `source_pool` (on
    /// member `source_member`), without its snapshots. Its config is `new.config`, which
    /// replaces the source's: pass the source's config (with its `volatile.idmap.*`, or the
    /// data is shifted again on the next attach), changed where needed.
    async fn copy_volume(
        &self,
        new: &NewVolume,
        source_pool: &str,
        source: &str,
        source_member: Option<&str>,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// Exports a custom volume (without its snapshots) as the daemon's backup tarball into
    /// `file` (a temporary backup on the daemon, deleted again).
    async fn export_volume(
        &self,
        pool: &str,
        name: &str,
        file: &std::path::Path,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// Creates custom volume `new` (on `target`) from a tarball of [`Self::export_volume`],
    /// then sets `new.config` on it.
    async fn import_volume(
        &self,
        new: &NewVolume,
        file: &std::path::Path,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// Deletes a custom volume with its snapshots (it must not be attached to an instance).
    async fn delete_volume(&self, pool: &str, name: &str, target: Option<&str>)
        -> ServerResult<()>;
    /// Renames a custom volume (the devices of stopped instances that use it follow).
    async fn rename_volume(
        &self,
        pool: &str,
        name: &str,
        new_name: &str,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// Sets config keys of a custom volume, keeping the others (`PATCH`: a `PUT` would drop
    /// `volatile.idmap.*`, and the data would be shifted again on the next attach).
    async fn patch_volume_config(
        &self,
        pool: &str,
        name: &str,
        config: &ConfigMap,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// Takes a snapshot of a custom volume.
    async fn create_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// Restores a custom volume to a snapshot (no running instance may use it).
    async fn restore_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// Deletes a snapshot of a custom volume.
    async fn delete_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()>;
    /// The snapshot names of a custom volume.
    async fn volume_snapshots(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Vec<String>>;
}
