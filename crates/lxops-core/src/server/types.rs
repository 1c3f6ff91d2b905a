//! Backend-neutral values that cross the [`InstanceServer`](super::InstanceServer) boundary.
//!
//! These are plain Rust values, not JSON: only the backend crates know the daemons' field names.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A device as the daemons describe it: a type plus string key/values
/// (`{"type": "disk", "source": "/z/a1/home", "path": "/home"}`).
pub type Device = BTreeMap<String, String>;
/// Devices by name.
pub type Devices = BTreeMap<String, Device>;
/// Config keys by name (`security.privileged`, `volatile.idmap.current`, ...).
pub type ConfigMap = BTreeMap<String, String>;

/// The daemon family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Canonical LXD.
    Lxd,
    /// Incus.
    Incus,
    /// The in-memory fake used by tests.
    Fake,
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::Lxd => "LXD",
            ServerKind::Incus => "Incus",
            ServerKind::Fake => "fake",
        })
    }
}

/// Facts about the server, read once at connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerInfo {
    /// `environment.server`: "lxd" or "incus".
    pub server: String,
    /// `environment.server_version`.
    pub version: String,
    /// `api_extensions`.
    pub extensions: Vec<String>,
    /// `environment.server_clustered`: the daemon is a member of a cluster.
    pub clustered: bool,
    /// The cluster member lxops talks to (`environment.server_name` of a clustered server).
    pub member: Option<String>,
    /// The client config's remote the server is reached through over HTTPS; `None` for the
    /// local unix socket (whose host is lxops' own).
    pub remote: Option<String>,
}

/// A member of a cluster (`GET /1.0/cluster/members`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMember {
    /// The member's name (`server_name`), what `target` names.
    pub name: String,
    /// `Online`, `Offline`, `Evacuated`, ...
    pub status: String,
    /// The daemon's message about its state (`Fully operational`, `No heartbeat for ...`).
    pub message: String,
    /// The cluster groups it belongs to (`@group` targets).
    pub groups: Vec<String>,
}

impl ServerInfo {
    /// Whether the server has an API extension.
    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e == name)
    }
}

/// A profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// Free text; lxops writes the absolute path of the config file here.
    pub description: String,
    /// Config keys.
    pub config: ConfigMap,
    /// Devices by name.
    pub devices: Devices,
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSource {
    /// Alias or fingerprint (prefix) of the image.
    pub image: String,
    /// A remote image server, or `None` for the local image store.
    pub remote: Option<RemoteImageServer>,
}

impl ImageSource {
    /// A local alias or fingerprint.
    pub fn local(image: impl Into<String>) -> Self {
        ImageSource {
            image: image.into(),
            remote: None,
        }
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            Some(remote) => write!(f, "{}:{}", remote.name, self.image),
            None => f.write_str(&self.image),
        }
    }
}

/// A remote image server named in the user's client config (`images:alpine/3.20`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImageServer {
    /// The remote's name in the client config (`images`).
    pub name: String,
    /// Its address (`https://images.example.org`).
    pub addr: String,
    /// `simplestreams`, `lxd` or `incus`.
    pub protocol: String,
    /// The server's certificate (PEM), which the daemon trusts when it pulls the image: the
    /// CLI keeps it as `servercerts/<name>.crt` beside `config.yml`. `None` for servers with a
    /// certificate the daemon already trusts (public image servers).
    pub certificate: Option<String>,
}

/// How a new instance gets its root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceSource {
    /// From an image.
    Image(ImageSource),
    /// A copy of another instance or snapshot.
    Copy {
        /// `name` or `name/snapshot`.
        source: String,
        /// The source's project, when it differs from the target's.
        source_project: Option<String>,
        /// Copy without the source's snapshots.
        instance_only: bool,
    },
}

impl fmt::Display for InstanceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceSource::Image(image) => write!(f, "image {image}"),
            InstanceSource::Copy {
                source,
                source_project: Some(project),
                ..
            } => write!(f, "copy of {project}/{source}"),
            InstanceSource::Copy { source, .. } => write!(f, "copy of {source}"),
        }
    }
}

/// Everything needed to create an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    /// Instance name.
    pub name: String,
    /// Image or copy source.
    pub source: InstanceSource,
    /// Profiles, in order.
    pub profiles: Vec<String>,
    /// Instance config keys.
    pub config: ConfigMap,
    /// Instance-local devices.
    pub devices: Devices,
    /// `true` for a virtual machine instead of a container.
    pub vm: bool,
    /// Description.
    pub description: String,
    /// Deleted by the daemon when it stops (`lxc launch -e`).
    pub ephemeral: bool,
    /// The cluster member (or `@group`) to create it on (`?target=`); `None`: the server (the
    /// cluster's scheduler) chooses. Only for clustered servers.
    pub target: Option<String>,
    /// A cloud instance type whose limits the daemon applies (`lxc launch -t c2.micro`).
    pub instance_type: Option<String>,
}

/// An instance as listed by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// Instance name.
    pub name: String,
    /// `Running`, `Stopped`, `Frozen`, ...
    pub status: String,
    /// Profiles, in order.
    pub profiles: Vec<String>,
    /// The instance's own config keys (including `volatile.*`).
    pub config: ConfigMap,
    /// The instance's own devices.
    pub devices: Devices,
    /// Devices after profiles are applied.
    pub expanded_devices: Devices,
    /// Config after profiles are applied.
    pub expanded_config: ConfigMap,
    /// Description.
    pub description: String,
    /// `container` or `virtual-machine`.
    pub instance_type: String,
    /// The cluster member it lives on; empty (or `none`) on a standalone server.
    pub location: String,
}

impl Instance {
    /// The cluster member the instance lives on, `None` on a standalone server.
    pub fn member(&self) -> Option<&str> {
        Some(self.location.as_str()).filter(|l| !l.is_empty() && *l != "none")
    }

    /// Whether the instance is running.
    pub fn is_running(&self) -> bool {
        self.status.eq_ignore_ascii_case("running")
    }
}

/// Config keys to set on an instance, for
/// [`InstanceServer::patch_instance`](super::InstanceServer::patch_instance).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstancePatch {
    /// The keys; an empty value removes the key.
    pub config: ConfigMap,
    /// The instance's description and `ephemeral` flag, when the caller knows them (it made
    /// the instance). Both daemons reset them on a PATCH that leaves them out, so without
    /// them a backend reads them first.
    pub known: Option<(String, bool)>,
}

/// The writable part of an instance, for [`InstanceServer::update_instance`](super::InstanceServer::update_instance).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceUpdate {
    /// Profiles, in order.
    pub profiles: Vec<String>,
    /// Config keys.
    pub config: ConfigMap,
    /// Instance-local devices.
    pub devices: Devices,
    /// Description.
    pub description: String,
}

impl From<&Instance> for InstanceUpdate {
    fn from(instance: &Instance) -> Self {
        InstanceUpdate {
            profiles: instance.profiles.clone(),
            config: instance.config.clone(),
            devices: instance.devices.clone(),
            description: instance.description.clone(),
        }
    }
}

/// Runtime state of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceState {
    /// `Running`, `Stopped`, ...
    pub status: String,
    /// Network interfaces by name.
    pub network: BTreeMap<String, NetworkInterface>,
}

/// One network interface of a running instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInterface {
    /// MAC address.
    pub hwaddr: String,
    /// Addresses on the interface.
    pub addresses: Vec<NetworkAddress>,
}

/// One address of a network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAddress {
    /// `inet` or `inet6`.
    pub family: String,
    /// The address, without prefix length.
    pub address: String,
    /// `global`, `link`, `local`.
    pub scope: String,
}

/// How to stop an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Ask the init system, and fail when it has not stopped within the timeout.
    Clean(Duration),
    /// Kill it at once.
    Force,
}

/// A snapshot of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Snapshot name (without the instance).
    pub name: String,
    /// Creation time as the server reports it (RFC 3339).
    pub created_at: String,
}

/// A command to run inside an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The program and its arguments; no shell is involved.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Bytes for standard input (empty: `/dev/null`).
    pub stdin: Vec<u8>,
    /// Run as this uid (default root).
    pub uid: Option<u32>,
    /// Run as this gid (default root).
    pub gid: Option<u32>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Only the exit status matters: the output is not recorded (no logs to fetch).
    pub discard_output: bool,
}

impl ExecRequest {
    /// A command with arguments and nothing else.
    pub fn argv<S: AsRef<str>>(argv: &[S]) -> Self {
        ExecRequest {
            argv: argv.iter().map(|s| s.as_ref().to_string()).collect(),
            ..Default::default()
        }
    }
}

/// What a command inside an instance did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (127 when the command was not found).
    pub status: i32,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

/// A file to write inside an instance.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FileWrite {
    /// Absolute path.
    pub path: String,
    /// Content (never logged).
    pub content: Vec<u8>,
    /// Permission bits; `None` keeps an existing file's mode (new files: 0644).
    pub mode: Option<u32>,
    /// Owner uid; `None` keeps an existing file's owner (new files: root).
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// Append instead of replacing.
    pub append: bool,
}

impl fmt::Debug for FileWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Content is deliberately left out: it may be a secret.
        f.debug_struct("FileWrite")
            .field("path", &self.path)
            .field("bytes", &self.content.len())
            .field("mode", &self.mode.map(|m| format!("{m:04o}")))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("append", &self.append)
            .finish()
    }
}

/// A directory to create inside an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirCreate {
    /// Absolute path.
    pub path: String,
    /// Permission bits (default 0755).
    pub mode: Option<u32>,
    /// Owner uid (default root).
    pub uid: Option<u32>,
    /// Owner gid (default root).
    pub gid: Option<u32>,
}

/// The kind of a file inside an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (content is the target).
    Symlink,
}

/// What the files API says about a path without reading it (`lstat`: a symlink is reported
/// as a symlink, not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// File, directory or symlink.
    pub kind: FileKind,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// A symbolic link to create inside an instance. Both daemons create it owned by root
/// (LXD 5.0.2 and Incus 6.0.4 ignore uid/gid headers for symlinks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymlinkCreate {
    /// Absolute path of the link.
    pub path: String,
    /// What the link points to, stored as given (never resolved).
    pub target: String,
}

/// A file read from inside an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// File, directory or symlink.
    pub kind: FileKind,
    /// Content (for a directory: entry names, one per line).
    pub content: Vec<u8>,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// A storage pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoragePool {
    /// Pool name.
    pub name: String,
    /// `dir`, `zfs`, `btrfs`, ...
    pub driver: String,
    /// The pool's `source` config key (a directory, dataset or device).
    pub source: String,
    /// For `zfs` pools: the dataset that holds the pool's volumes (`zfs.pool_name`, else the
    /// source); empty for other drivers.
    pub dataset: String,
}

/// A request to publish an instance or snapshot as an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishImage {
    /// `instance` or `instance/snapshot`.
    pub source: String,
    /// Aliases to give the new image.
    pub aliases: Vec<String>,
    /// Image properties (`os`, `release`, `description`, ...).
    pub properties: BTreeMap<String, String>,
    /// Compression algorithm, or `None` for the server default.
    pub compression: Option<String>,
    /// Image format (`unified` or `split`), or `None` for the server default (unified).
    pub format: Option<String>,
}

/// One entry of an id map (`volatile.idmap.current`): container ids
/// `nsid..nsid+range` appear on the host as `hostid..hostid+range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMapEntry {
    /// Maps user ids.
    pub is_uid: bool,
    /// Maps group ids.
    pub is_gid: bool,
    /// First host id.
    pub host_id: u32,
    /// First container id.
    pub ns_id: u32,
    /// Number of ids.
    pub range: u32,
}

/// An instance's id map: how container uids/gids appear on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    /// The entries; empty means privileged (ids are not shifted).
    pub entries: Vec<IdMapEntry>,
}

impl IdMap {
    /// The host uid that container uid `uid` maps to.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        self.map(uid, |e| e.is_uid)
    }

    /// The host gid that container gid `gid` maps to.
    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        self.map(gid, |e| e.is_gid)
    }

    /// The container uid that host uid `uid` is (the inverse of [`IdMap::host_uid`]).
    pub fn container_uid(&self, uid: u32) -> Option<u32> {
        self.unmap(uid, |e| e.is_uid)
    }

    /// The container gid that host gid `gid` is.
    pub fn container_gid(&self, gid: u32) -> Option<u32> {
        self.unmap(gid, |e| e.is_gid)
    }

    fn unmap(&self, id: u32, wanted: impl Fn(&IdMapEntry) -> bool) -> Option<u32> {
        if self.entries.is_empty() {
            return Some(id);
        }
        self.entries
            .iter()
            .filter(|e| wanted(e))
            .find(|e| id >= e.host_id && u64::from(id) < u64::from(e.host_id) + u64::from(e.range))
            .map(|e| e.ns_id + (id - e.host_id))
    }

    fn map(&self, id: u32, wanted: impl Fn(&IdMapEntry) -> bool) -> Option<u32> {
        if self.entries.is_empty() {
            return Some(id);
        }
        self.entries
            .iter()
            .filter(|e| wanted(e))
            .find(|e| id >= e.ns_id && u64::from(id) < u64::from(e.ns_id) + u64::from(e.range))
            .map(|e| e.host_id + (id - e.ns_id))
    }
}

/// Default time to wait for a background operation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The state of one instance of any project (`instance addresses` across projects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectInstanceState {
    /// The instance's project.
    pub project: String,
    /// The instance's name.
    pub name: String,
    /// Its runtime state (no network when stopped).
    pub state: InstanceState,
}

/// An image of the local image store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Full fingerprint (sha256).
    pub fingerprint: String,
    /// Alias names, in the daemon's order.
    pub aliases: Vec<String>,
    /// Architecture in the daemon's naming (`x86_64`, `aarch64`).
    pub architecture: String,
    /// `container` or `virtual-machine`.
    pub image_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Image properties (`os`, `release`, `serial`, `description`, ...).
    pub properties: BTreeMap<String, String>,
    /// Upload time as the daemon writes it (RFC 3339).
    pub uploaded_at: String,
}

impl Image {
    /// How `image instances` names the image: the first alias, else the `name` property, else
    /// the fingerprint.
    pub fn label(&self) -> String {
        if let Some(alias) = self.aliases.first() {
            return alias.clone();
        }
        match self.properties.get("name").filter(|n| !n.is_empty()) {
            Some(name) => name.clone(),
            None => self.fingerprint.clone(),
        }
    }
}

/// Image files to upload: a unified tarball (`rootfs` `None`), or a split pair of a metadata
/// tarball and a rootfs tarball or squashfs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUpload {
    /// The unified tarball, or the metadata tarball of a split image.
    pub metadata: std::path::PathBuf,
    /// The rootfs of a split image.
    pub rootfs: Option<std::path::PathBuf>,
    /// Alias to give the image; checked to be free before the upload.
    pub alias: Option<String>,
}

/// What an image export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageExport {
    /// The files written: one unified tarball, or the metadata and rootfs of a split image.
    pub files: Vec<std::path::PathBuf>,
}

/// A custom storage volume of a storage pool (`GET /1.0/storage-pools/P/volumes/custom/V`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// The pool.
    pub pool: String,
    /// The volume name.
    pub name: String,
    /// Its config (`user.lxops.instance` is lxops' mark).
    pub config: ConfigMap,
    /// The cluster member it lives on; empty (or `none`) on a standalone server.
    pub location: String,
    /// The instances that use it (`/1.0/instances/NAME` URLs).
    pub used_by: Vec<String>,
}

/// A custom volume to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewVolume {
    /// The pool.
    pub pool: String,
    /// The volume name.
    pub name: String,
    /// Its config (`user.*` keys such as lxops' mark).
    pub config: ConfigMap,
    /// Its description.
    pub description: String,
}
