//! An in-memory [`InstanceServer`] for fast tests of planning, execution and the cloud-config
//! applier. It keeps profiles, instances, snapshots, images and guest files in maps and records
//! every mutating call as a line of text, so tests can compare the call log with a golden list.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;

/// Answers an exec request; the default answers every command with exit status 0.
pub type ExecHandler = Arc<dyn Fn(&str, &ExecRequest) -> ExecOutput + Send + Sync>;

/// (project, pool, member, name) of a fake volume.
type VolumeKey = (String, String, String, String);

#[derive(Default)]
struct State {
    profiles: BTreeMap<(String, String), Profile>,
    instances: BTreeMap<(String, String), FakeInstance>,
    images: BTreeMap<String, String>,
    /// Properties of images by fingerprint (published or imported ones).
    image_properties: BTreeMap<String, BTreeMap<String, String>>,
    pools: BTreeMap<String, StoragePool>,
    projects: Vec<String>,
    calls: Vec<String>,
    refuse_create: Option<String>,
    members: Vec<ClusterMember>,
    /// Custom volumes by (project, pool, member, name), with their snapshots; the member is
    /// "" on a standalone server.
    volumes: BTreeMap<VolumeKey, (Volume, Vec<String>)>,
    /// Like Incus (`disk_volume_subpath`): devices attach directories inside volumes, and a
    /// device whose directory is missing does not start.
    subpath: bool,
    /// The directories inside volumes, by (pool, volume), with `subpath`.
    volume_dirs: BTreeMap<(String, String), std::collections::BTreeSet<String>>,
}

#[derive(Clone, Default)]
struct FakeInstance {
    instance: Instance,
    snapshots: Vec<Snapshot>,
    files: BTreeMap<String, FileContent>,
    idmap: IdMap,
}

/// The in-memory server. Clones share state.
#[derive(Clone)]
pub struct FakeServer {
    project: String,
    state: Arc<Mutex<State>>,
    exec_handler: Arc<Mutex<Option<ExecHandler>>>,
}

impl Default for FakeServer {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeServer {
    /// An empty server with the `default` project and profile.
    pub fn new() -> Self {
        let server = FakeServer {
            project: "default".into(),
            state: Arc::new(Mutex::new(State::default())),
            exec_handler: Arc::new(Mutex::new(None)),
        };
        {
            let mut state = server.lock();
            state.projects.push("default".into());
            state.profiles.insert(
                ("default".into(), "default".into()),
                Profile {
                    name: "default".into(),
                    ..Default::default()
                },
            );
        }
        server
    }

    /// Makes every `create_instance` fail with `message` (as a daemon refuses a bad request).
    pub fn refuse_create(&self, message: &str) {
        self.lock().refuse_create = Some(message.to_string());
    }

    /// Makes the server a member of a cluster with these members (name, status); a create
    /// without a target lands on the first.
    pub fn set_cluster(&self, members: &[(&str, &str)]) {
        self.lock().members = members
            .iter()
            .map(|(name, status)| ClusterMember {
                name: name.to_string(),
                status: status.to_string(),
                message: String::new(),
                groups: vec!["default".into()],
            })
            .collect();
    }

    /// Makes the server attach directories inside volumes, as Incus does
    /// (`disk_volume_subpath`): a disk device `source=VOLUME/DIR` starts only when DIR exists,
    /// and `mkdir` in an instance makes directories in the volumes attached whole.
    pub fn enable_volume_subpath(&self) {
        self.lock().subpath = true;
    }

    /// The directories inside a volume (with [`FakeServer::enable_volume_subpath`]).
    pub fn volume_dirs(&self, pool: &str, volume: &str) -> Vec<String> {
        let state = self.lock();
        let key = (pool.to_string(), volume.to_string());
        state
            .volume_dirs
            .get(&key)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds an image alias with a made-up fingerprint.
    pub fn add_image(&self, alias: &str) {
        let fingerprint = format!("{:0>64}", alias.len());
        self.lock().images.insert(alias.into(), fingerprint);
    }

    /// Points an image alias at `fingerprint` (as when a new image is published under it).
    pub fn set_image(&self, alias: &str, fingerprint: &str) {
        self.lock().images.insert(alias.into(), fingerprint.into());
    }

    /// Adds a project.
    pub fn add_project(&self, name: &str) {
        self.lock().projects.push(name.into());
    }

    /// Adds a storage pool.
    pub fn add_pool(&self, pool: StoragePool) {
        self.lock().pools.insert(pool.name.clone(), pool);
    }

    /// Sets how exec requests are answered.
    pub fn set_exec_handler(&self, handler: ExecHandler) {
        *self.exec_handler.lock().unwrap_or_else(|e| e.into_inner()) = Some(handler);
    }

    /// Sets the id map that new instances get.
    pub fn set_idmap(&self, instance: &str, idmap: IdMap) {
        let key = (self.project.clone(), instance.to_string());
        if let Some(i) = self.lock().instances.get_mut(&key) {
            i.idmap = idmap;
        }
    }

    /// The recorded mutating calls, one line each.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// A file inside an instance, as the fake holds it.
    pub fn file(&self, instance: &str, path: &str) -> Option<FileContent> {
        let key = (self.project.clone(), instance.to_string());
        self.lock()
            .instances
            .get(&key)
            .and_then(|i| i.files.get(path).cloned())
    }

    /// Puts a file (or directory) into an instance without recording a call: test set-up, or
    /// an exec handler simulating what a command does. Does nothing when there is no such
    /// instance.
    pub fn set_file(&self, instance: &str, path: &str, file: FileContent) {
        let key = (self.project.clone(), instance.to_string());
        if let Some(i) = self.lock().instances.get_mut(&key) {
            i.files.insert(path.to_string(), file);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, state: &mut State, call: String) {
        let call = if self.project == "default" {
            call
        } else {
            format!("[{}] {call}", self.project)
        };
        state.calls.push(call);
    }

    fn key(&self, name: &str) -> (String, String) {
        (self.project.clone(), name.to_string())
    }

    fn not_found(kind: &str, name: &str) -> ServerError {
        ServerError::NotFound {
            what: format!("{kind} {name:?}"),
        }
    }
}

fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[async_trait]
impl InstanceServer for FakeServer {
    fn kind(&self) -> ServerKind {
        ServerKind::Fake
    }

    fn project(&self) -> &str {
        &self.project
    }

    fn for_project(&self, project: &str) -> Arc<dyn InstanceServer> {
        Arc::new(FakeServer {
            project: project.to_string(),
            state: self.state.clone(),
            exec_handler: self.exec_handler.clone(),
        })
    }

    fn timeout(&self) -> Duration {
        DEFAULT_TIMEOUT
    }

    async fn info(&self) -> ServerResult<ServerInfo> {
        let (first, subpath) = {
            let state = self.lock();
            let first = state.members.first().map(|m| m.name.clone());
            (first, state.subpath)
        };
        let mut extensions = vec!["instances".to_string(), "instances_rebuild".to_string()];
        if subpath {
            extensions.push("disk_volume_subpath".into());
        }
        Ok(ServerInfo {
            server: "fake".into(),
            version: "0".into(),
            extensions,
            clustered: first.is_some(),
            member: first,
            remote: None,
        })
    }

    async fn cluster_members(&self) -> ServerResult<Vec<ClusterMember>> {
        Ok(self.lock().members.clone())
    }

    async fn project_exists(&self, name: &str) -> ServerResult<bool> {
        Ok(self.lock().projects.iter().any(|p| p == name))
    }

    async fn profile_names(&self) -> ServerResult<Vec<String>> {
        let state = self.lock();
        Ok(state
            .profiles
            .keys()
            .filter(|(p, _)| *p == self.project)
            .map(|(_, n)| n.clone())
            .collect())
    }

    async fn profile(&self, name: &str) -> ServerResult<Option<Profile>> {
        Ok(self.lock().profiles.get(&self.key(name)).cloned())
    }

    async fn create_profile(&self, profile: &Profile) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self.key(&profile.name);
        if state.profiles.contains_key(&key) {
            return Err(ServerError::AlreadyExists {
                what: format!("profile {:?}", profile.name),
            });
        }
        let devices: Vec<&str> = profile.devices.keys().map(String::as_str).collect();
        self.record(
            &mut state,
            format!(
                "create profile {} devices=[{}]",
                profile.name,
                devices.join(",")
            ),
        );
        state.profiles.insert(key, profile.clone());
        Ok(())
    }

    async fn update_profile(&self, profile: &Profile) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self.key(&profile.name);
        if !state.profiles.contains_key(&key) {
            return Err(Self::not_found("profile", &profile.name));
        }
        self.record(&mut state, format!("update profile {}", profile.name));
        state.profiles.insert(key, profile.clone());
        Ok(())
    }

    async fn delete_profile(&self, name: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let in_use = state
            .instances
            .iter()
            .any(|((p, _), i)| *p == self.project && i.instance.profiles.iter().any(|n| n == name));
        if in_use {
            return Err(ServerError::Api {
                context: format!("deleting profile {name:?}"),
                status: 400,
                message: "Profile is currently in use".into(),
            });
        }
        if state.profiles.remove(&self.key(name)).is_none() {
            return Err(Self::not_found("profile", name));
        }
        self.record(&mut state, format!("delete profile {name}"));
        Ok(())
    }

    async fn instance_names(&self) -> ServerResult<Vec<String>> {
        let state = self.lock();
        Ok(state
            .instances
            .keys()
            .filter(|(p, _)| *p == self.project)
            .map(|(_, n)| n.clone())
            .collect())
    }

    async fn instances(&self) -> ServerResult<Vec<Instance>> {
        let state = self.lock();
        Ok(state
            .instances
            .iter()
            .filter(|((p, _), _)| *p == self.project)
            .map(|(_, i)| i.instance.clone())
            .collect())
    }

    async fn instance(&self, name: &str) -> ServerResult<Option<Instance>> {
        Ok(self
            .lock()
            .instances
            .get(&self.key(name))
            .map(|i| i.instance.clone()))
    }

    async fn instance_idmap(&self, name: &str) -> ServerResult<IdMap> {
        self.lock()
            .instances
            .get(&self.key(name))
            .map(|i| i.idmap.clone())
            .ok_or_else(|| Self::not_found("instance", name))
    }

    async fn instance_state(&self, name: &str) -> ServerResult<InstanceState> {
        let state = self.lock();
        let instance = state
            .instances
            .get(&self.key(name))
            .ok_or_else(|| Self::not_found("instance", name))?;
        Ok(InstanceState {
            status: instance.instance.status.clone(),
            network: BTreeMap::new(),
        })
    }

    async fn create_instance(&self, new: &NewInstance) -> ServerResult<Option<String>> {
        let mut state = self.lock();
        if let Some(message) = &state.refuse_create {
            return Err(ServerError::Api {
                context: format!("creating instance {:?}", new.name),
                status: 400,
                message: message.clone(),
            });
        }
        let key = self.key(&new.name);
        if state.instances.contains_key(&key) {
            return Err(ServerError::AlreadyExists {
                what: format!("instance {:?}", new.name),
            });
        }
        for profile in &new.profiles {
            if !state.profiles.contains_key(&self.key(profile)) {
                return Err(Self::not_found("profile", profile));
            }
        }
        if let InstanceSource::Image(image) = &new.source {
            let known = state.images.contains_key(&image.image)
                || state.images.values().any(|f| *f == image.image);
            if image.remote.is_none() && !known {
                return Err(Self::not_found("image", &image.image));
            }
        }
        let location = match &new.target {
            Some(target) if state.members.iter().any(|m| m.name == *target) => target.clone(),
            // A group: its first member.
            Some(target)
                if target.starts_with('@')
                    && state
                        .members
                        .iter()
                        .any(|m| m.groups.contains(&target[1..].to_string())) =>
            {
                state
                    .members
                    .iter()
                    .find(|m| m.groups.contains(&target[1..].to_string()))
                    .map(|m| m.name.clone())
                    .unwrap_or_default()
            }
            Some(target) => {
                return Err(ServerError::Api {
                    context: format!("creating instance {:?}", new.name),
                    status: 404,
                    message: format!("Cluster member {target:?} not found"),
                })
            }
            // The scheduler: the first member.
            None => state
                .members
                .first()
                .map(|m| m.name.clone())
                .unwrap_or_default(),
        };
        self.record(
            &mut state,
            format!(
                "create instance {} from {} profiles=[{}]{}",
                new.name,
                new.source,
                new.profiles.join(","),
                new.target
                    .as_ref()
                    .map(|t| format!(" target={t}"))
                    .unwrap_or_default()
            ),
        );
        // Like the daemons: no profiles means the `default` profile.
        let default = ["default".to_string()];
        let profiles = if new.profiles.is_empty() {
            &default[..]
        } else {
            &new.profiles[..]
        };
        let expanded_devices = profiles
            .iter()
            .filter_map(|p| state.profiles.get(&self.key(p)))
            .flat_map(|p| p.devices.clone())
            .chain(new.devices.clone())
            .collect();
        // Like the daemons: `volatile.base_image` names the image's fingerprint.
        let mut config = new.config.clone();
        if let InstanceSource::Image(image) = &new.source {
            let fingerprint = state.images.get(&image.image).unwrap_or(&image.image);
            config.insert("volatile.base_image".into(), fingerprint.clone());
        }
        let instance = Instance {
            name: new.name.clone(),
            status: "Stopped".into(),
            profiles: new.profiles.clone(),
            config,
            devices: new.devices.clone(),
            expanded_devices,
            expanded_config: new.config.clone(),
            description: new.description.clone(),
            instance_type: if new.vm {
                "virtual-machine".into()
            } else {
                "container".into()
            },
            location,
        };
        let mut files = BTreeMap::new();
        for dir in ["/", "/etc", "/root", "/home", "/tmp"] {
            files.insert(
                dir.to_string(),
                FileContent {
                    kind: FileKind::Directory,
                    content: Vec::new(),
                    uid: 0,
                    gid: 0,
                    mode: 0o755,
                },
            );
        }
        // Like the daemons: the create's operation runs on the instance's member.
        let member = Some(instance.location.clone()).filter(|l| !l.is_empty());
        state.instances.insert(
            key,
            FakeInstance {
                instance,
                files,
                ..Default::default()
            },
        );
        Ok(member)
    }

    async fn update_instance(&self, name: &str, update: &InstanceUpdate) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self.key(name);
        if !state.instances.contains_key(&key) {
            return Err(Self::not_found("instance", name));
        }
        self.record(
            &mut state,
            format!(
                "update instance {name} profiles=[{}]",
                update.profiles.join(",")
            ),
        );
        let running = state
            .instances
            .get(&key)
            .is_some_and(|i| i.instance.is_running());
        if running {
            // Devices are plugged in live: each must be able to start.
            let devices = self.live_devices(&state, &update.profiles, &update.devices);
            Self::check_subpaths(&state, name, &devices)?;
        }
        if let Some(i) = state.instances.get_mut(&key) {
            i.instance.profiles = update.profiles.clone();
            i.instance.config = update.config.clone();
            i.instance.devices = update.devices.clone();
            i.instance.description = update.description.clone();
        }
        Ok(())
    }

    async fn patch_instance(&self, name: &str, patch: &InstancePatch) -> ServerResult<()> {
        let config = &patch.config;
        let mut state = self.lock();
        let key = self.key(name);
        let keys: Vec<&str> = config.keys().map(String::as_str).collect();
        let line = format!("patch config of instance {name}: {}", keys.join(","));
        self.record(&mut state, line);
        let instance = state
            .instances
            .get_mut(&key)
            .ok_or_else(|| Self::not_found("instance", name))?;
        for (k, v) in config {
            if v.is_empty() {
                instance.instance.config.remove(k);
            } else {
                instance.instance.config.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    async fn wait_instance_operations(&self, name: &str) -> ServerResult<()> {
        let mut state = self.lock();
        self.record(
            &mut state,
            format!("wait for operations of instance {name}"),
        );
        Ok(())
    }

    async fn start_instance(&self, name: &str) -> ServerResult<()> {
        {
            let state = self.lock();
            if let Some(i) = state.instances.get(&self.key(name)) {
                let devices = self.live_devices(&state, &i.instance.profiles, &i.instance.devices);
                Self::check_subpaths(&state, name, &devices)?;
            }
        }
        self.set_status(name, "start", "Running")
    }

    async fn stop_instance(&self, name: &str, _stop: StopMode) -> ServerResult<()> {
        self.set_status(name, "stop", "Stopped")
    }

    async fn delete_instance(&self, name: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self.key(name);
        match state.instances.get(&key) {
            None => return Err(Self::not_found("instance", name)),
            Some(i) if i.instance.is_running() => {
                return Err(ServerError::Api {
                    context: format!("deleting instance {name:?}"),
                    status: 400,
                    message: "Instance is running".into(),
                })
            }
            Some(_) => {}
        }
        state.instances.remove(&key);
        self.record(&mut state, format!("delete instance {name}"));
        Ok(())
    }

    async fn rename_instance(&self, name: &str, new_name: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let mut instance = state
            .instances
            .remove(&self.key(name))
            .ok_or_else(|| Self::not_found("instance", name))?;
        instance.instance.name = new_name.to_string();
        state.instances.insert(self.key(new_name), instance);
        self.record(&mut state, format!("rename instance {name} {new_name}"));
        Ok(())
    }

    async fn rebuild_instance(&self, name: &str, image: &ImageSource) -> ServerResult<()> {
        let mut state = self.lock();
        if !state.instances.contains_key(&self.key(name)) {
            return Err(Self::not_found("instance", name));
        }
        self.record(&mut state, format!("rebuild instance {name} from {image}"));
        let fingerprint = state
            .images
            .get(&image.image)
            .unwrap_or(&image.image)
            .clone();
        if let Some(i) = state.instances.get_mut(&self.key(name)) {
            i.instance
                .config
                .insert("volatile.base_image".into(), fingerprint);
        }
        Ok(())
    }

    async fn finish_interrupted_rebuild(&self, _name: &str) -> ServerResult<bool> {
        // The fake rebuilds in place, so nothing is ever left half-done.
        Ok(false)
    }

    async fn snapshots(&self, instance: &str) -> ServerResult<Vec<Snapshot>> {
        self.lock()
            .instances
            .get(&self.key(instance))
            .map(|i| i.snapshots.clone())
            .ok_or_else(|| Self::not_found("instance", instance))
    }

    async fn create_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let i = state
            .instances
            .get_mut(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        if i.snapshots.iter().any(|s| s.name == snapshot) {
            return Err(ServerError::AlreadyExists {
                what: format!("snapshot {instance}/{snapshot}"),
            });
        }
        i.snapshots.push(Snapshot {
            name: snapshot.to_string(),
            created_at: String::new(),
        });
        self.record(&mut state, format!("snapshot {instance}/{snapshot}"));
        Ok(())
    }

    async fn restore_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let i = state
            .instances
            .get(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        if !i.snapshots.iter().any(|s| s.name == snapshot) {
            return Err(Self::not_found(
                "snapshot",
                &format!("{instance}/{snapshot}"),
            ));
        }
        self.record(&mut state, format!("restore {instance}/{snapshot}"));
        Ok(())
    }

    async fn delete_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let i = state
            .instances
            .get_mut(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        let before = i.snapshots.len();
        i.snapshots.retain(|s| s.name != snapshot);
        if i.snapshots.len() == before {
            return Err(Self::not_found(
                "snapshot",
                &format!("{instance}/{snapshot}"),
            ));
        }
        self.record(&mut state, format!("delete snapshot {instance}/{snapshot}"));
        Ok(())
    }

    async fn exec(&self, instance: &str, request: &ExecRequest) -> ServerResult<ExecOutput> {
        {
            let mut state = self.lock();
            let i = state
                .instances
                .get(&self.key(instance))
                .ok_or_else(|| Self::not_found("instance", instance))?;
            if !i.instance.is_running() {
                return Err(ServerError::Api {
                    context: format!("running a command in {instance:?}"),
                    status: 400,
                    message: "Instance is not running".into(),
                });
            }
            let mut line = format!("exec {instance}: {}", request.argv.join(" "));
            if !request.stdin.is_empty() {
                line.push_str(&format!(" <<{}", String::from_utf8_lossy(&request.stdin)));
            }
            self.record(&mut state, line);
            if state.subpath && request.argv.first().map(String::as_str) == Some("mkdir") {
                let devices = state
                    .instances
                    .get(&self.key(instance))
                    .map(|i| self.live_devices(&state, &i.instance.profiles, &i.instance.devices))
                    .unwrap_or_default();
                for path in request.argv.iter().skip(1).filter(|a| !a.starts_with('-')) {
                    Self::mkdir_in_volume(&mut state, &devices, path);
                }
            }
        }
        let handler = self
            .exec_handler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(match handler {
            Some(h) => h(instance, request),
            None => ExecOutput::default(),
        })
    }

    async fn write_file(&self, instance: &str, file: &FileWrite) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self.key(instance);
        let i = state
            .instances
            .get_mut(&key)
            .ok_or_else(|| Self::not_found("instance", instance))?;
        if !i.files.contains_key(parent_dir(&file.path)) {
            return Err(Self::not_found("directory", parent_dir(&file.path)));
        }
        let entry = i.files.entry(file.path.clone()).or_insert(FileContent {
            kind: FileKind::File,
            content: Vec::new(),
            uid: 0,
            gid: 0,
            mode: 0o644,
        });
        if file.append {
            entry.content.extend_from_slice(&file.content);
        } else {
            entry.content = file.content.clone();
        }
        if let Some(mode) = file.mode {
            entry.mode = mode;
        }
        if let Some(uid) = file.uid {
            entry.uid = uid;
        }
        if let Some(gid) = file.gid {
            entry.gid = gid;
        }
        let line = format!(
            "{} {instance}:{} mode={:04o} owner={}:{}",
            if file.append { "append" } else { "write" },
            file.path,
            entry.mode,
            entry.uid,
            entry.gid
        );
        self.record(&mut state, line);
        Ok(())
    }

    async fn make_dir(&self, instance: &str, dir: &DirCreate) -> ServerResult<()> {
        let mut state = self.lock();
        let i = state
            .instances
            .get_mut(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        if !i.files.contains_key(parent_dir(&dir.path)) {
            return Err(Self::not_found("directory", parent_dir(&dir.path)));
        }
        i.files.entry(dir.path.clone()).or_insert(FileContent {
            kind: FileKind::Directory,
            content: Vec::new(),
            uid: dir.uid.unwrap_or(0),
            gid: dir.gid.unwrap_or(0),
            mode: dir.mode.unwrap_or(0o755),
        });
        let line = format!("mkdir {instance}:{}", dir.path);
        self.record(&mut state, line);
        Ok(())
    }

    async fn read_file(&self, instance: &str, path: &str) -> ServerResult<Option<FileContent>> {
        let state = self.lock();
        let i = state
            .instances
            .get(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        Ok(i.files.get(path).cloned())
    }

    async fn delete_file(&self, instance: &str, path: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let i = state
            .instances
            .get_mut(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        if i.files.remove(path).is_none() {
            return Err(Self::not_found("file", path));
        }
        self.record(&mut state, format!("delete file {instance}:{path}"));
        Ok(())
    }

    // ---- files and trees ----------------------------------------------------------------
    async fn file_info(&self, instance: &str, path: &str) -> ServerResult<Option<FileInfo>> {
        let state = self.lock();
        let i = state
            .instances
            .get(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        Ok(i.files.get(path).map(|f| FileInfo {
            kind: f.kind,
            uid: f.uid,
            gid: f.gid,
            mode: f.mode,
        }))
    }

    async fn list_dir(&self, instance: &str, path: &str) -> ServerResult<Vec<String>> {
        let state = self.lock();
        let i = state
            .instances
            .get(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        match i.files.get(path) {
            Some(dir) if dir.kind == FileKind::Directory => {}
            Some(_) => {
                return Err(ServerError::Api {
                    context: format!("listing directory {path} in instance {instance:?}"),
                    status: 400,
                    message: "not a directory".into(),
                })
            }
            None => return Err(Self::not_found("directory", path)),
        }
        // The entries that were set by hand as a listing (a test standing in for a daemon that
        // lists names it should not), then the children the fake holds.
        let mut names: Vec<String> = i.files[path]
            .content
            .split(|b| *b == b'\n')
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        names.extend(
            i.files
                .keys()
                .filter(|p| p.as_str() != "/" && p.as_str() != path && parent_dir(p) == path)
                .map(|p| p[p.rfind('/').map_or(0, |i| i + 1)..].to_string()),
        );
        Ok(names)
    }

    async fn make_symlink(&self, instance: &str, link: &SymlinkCreate) -> ServerResult<()> {
        let mut state = self.lock();
        let i = state
            .instances
            .get_mut(&self.key(instance))
            .ok_or_else(|| Self::not_found("instance", instance))?;
        if !i.files.contains_key(parent_dir(&link.path)) {
            return Err(Self::not_found("directory", parent_dir(&link.path)));
        }
        // Like the daemons: the same link again is fine, anything else in the way is not.
        if let Some(existing) = i.files.get(&link.path) {
            if existing.kind != FileKind::Symlink || existing.content != link.target.as_bytes() {
                return Err(ServerError::Api {
                    context: format!("creating symlink {} in instance {instance:?}", link.path),
                    status: 500,
                    message: "file exists".into(),
                });
            }
        }
        i.files.insert(
            link.path.clone(),
            FileContent {
                kind: FileKind::Symlink,
                content: link.target.clone().into_bytes(),
                uid: 0,
                gid: 0,
                mode: 0o777,
            },
        );
        let line = format!("symlink {instance}:{} -> {}", link.path, link.target);
        self.record(&mut state, line);
        Ok(())
    }

    async fn image_fingerprint(&self, image: &ImageSource) -> ServerResult<Option<String>> {
        let state = self.lock();
        let by_fingerprint = state.images.values().find(|f| **f == image.image);
        Ok(state.images.get(&image.image).or(by_fingerprint).cloned())
    }

    async fn publish_image(&self, publish: &PublishImage) -> ServerResult<String> {
        let mut state = self.lock();
        if let Some(alias) = publish
            .aliases
            .iter()
            .find(|a| state.images.contains_key(*a))
        {
            return Err(ServerError::AlreadyExists {
                what: format!("image alias {alias:?}"),
            });
        }
        let fingerprint = format!(
            "{:0>64}",
            state.images.len() + state.image_properties.len() + 1
        );
        state
            .image_properties
            .insert(fingerprint.clone(), publish.properties.clone());
        for alias in &publish.aliases {
            state.images.insert(alias.clone(), fingerprint.clone());
        }
        self.record(
            &mut state,
            format!(
                "publish {} aliases=[{}]",
                publish.source,
                publish.aliases.join(",")
            ),
        );
        Ok(fingerprint)
    }

    async fn images(&self) -> ServerResult<Vec<Image>> {
        let state = self.lock();
        let mut images: BTreeMap<String, Image> = BTreeMap::new();
        for (fingerprint, properties) in &state.image_properties {
            images.insert(
                fingerprint.clone(),
                Image {
                    fingerprint: fingerprint.clone(),
                    architecture: "x86_64".into(),
                    image_type: "container".into(),
                    properties: properties.clone(),
                    ..Default::default()
                },
            );
        }
        for (alias, fingerprint) in &state.images {
            let image = images.entry(fingerprint.clone()).or_insert_with(|| Image {
                fingerprint: fingerprint.clone(),
                architecture: "x86_64".into(),
                image_type: "container".into(),
                ..Default::default()
            });
            image.aliases.push(alias.clone());
        }
        Ok(images.into_values().collect())
    }

    async fn delete_image(&self, fingerprint: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let known = state.image_properties.remove(fingerprint).is_some()
            | state.images.values().any(|f| f == fingerprint);
        if !known {
            return Err(Self::not_found("image", fingerprint));
        }
        state.images.retain(|_, f| f != fingerprint);
        self.record(&mut state, format!("delete image {fingerprint}"));
        Ok(())
    }

    async fn create_image_alias(
        &self,
        alias: &str,
        fingerprint: &str,
        _description: &str,
    ) -> ServerResult<()> {
        let mut state = self.lock();
        if state.images.contains_key(alias) {
            return Err(ServerError::AlreadyExists {
                what: format!("image alias {alias:?}"),
            });
        }
        let known = state.image_properties.contains_key(fingerprint)
            || state.images.values().any(|f| f == fingerprint);
        if !known {
            return Err(Self::not_found("image", fingerprint));
        }
        state.images.insert(alias.into(), fingerprint.into());
        self.record(
            &mut state,
            format!("create image alias {alias} -> {fingerprint}"),
        );
        Ok(())
    }

    async fn rename_image_alias(&self, alias: &str, new_name: &str) -> ServerResult<()> {
        let mut state = self.lock();
        if state.images.contains_key(new_name) {
            return Err(ServerError::AlreadyExists {
                what: format!("image alias {new_name:?}"),
            });
        }
        let fingerprint = state
            .images
            .remove(alias)
            .ok_or_else(|| Self::not_found("image alias", alias))?;
        state.images.insert(new_name.into(), fingerprint);
        self.record(&mut state, format!("rename image alias {alias} {new_name}"));
        Ok(())
    }

    async fn delete_image_alias(&self, alias: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let fingerprint = state
            .images
            .remove(alias)
            .ok_or_else(|| Self::not_found("image alias", alias))?;
        // The image stays (as on the daemons), known by its fingerprint.
        state.image_properties.entry(fingerprint).or_default();
        self.record(&mut state, format!("delete image alias {alias}"));
        Ok(())
    }

    async fn export_image(
        &self,
        fingerprint: &str,
        _dir: &std::path::Path,
        _name: &str,
    ) -> ServerResult<ImageExport> {
        Err(ServerError::Unsupported(format!(
            "the fake server holds no image files (export of {fingerprint})"
        )))
    }

    async fn import_image(&self, upload: &ImageUpload) -> ServerResult<String> {
        Err(ServerError::Unsupported(format!(
            "the fake server holds no image files (import of {})",
            upload.metadata.display()
        )))
    }

    async fn all_project_states(&self) -> ServerResult<Vec<ProjectInstanceState>> {
        let state = self.lock();
        Ok(state
            .instances
            .iter()
            .map(|((project, name), i)| ProjectInstanceState {
                project: project.clone(),
                name: name.clone(),
                state: InstanceState {
                    status: i.instance.status.clone(),
                    network: BTreeMap::new(),
                },
            })
            .collect())
    }

    async fn storage_pool(&self, name: &str) -> ServerResult<Option<StoragePool>> {
        Ok(self.lock().pools.get(name).cloned())
    }

    async fn storage_pool_names(&self) -> ServerResult<Vec<String>> {
        Ok(self.lock().pools.keys().cloned().collect())
    }

    async fn volume(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Option<Volume>> {
        let state = self.lock();
        let Some(key) = self.volume_key(&state, pool, name, target)? else {
            return Ok(None);
        };
        Ok(state.volumes.get(&key).map(|(v, _)| Volume {
            used_by: self.volume_users(&state, pool, name, false),
            ..v.clone()
        }))
    }

    async fn create_volume(&self, new: &NewVolume, target: Option<&str>) -> ServerResult<()> {
        let mut state = self.lock();
        if !state.pools.contains_key(&new.pool) {
            return Err(Self::not_found("storage pool", &new.pool));
        }
        let location = self.volume_member(&state, target)?;
        let key = (
            self.project.clone(),
            new.pool.clone(),
            location.clone(),
            new.name.clone(),
        );
        if state.volumes.contains_key(&key) {
            return Err(ServerError::AlreadyExists {
                what: format!("volume {:?}", new.name),
            });
        }
        let volume = Volume {
            pool: new.pool.clone(),
            name: new.name.clone(),
            config: new.config.clone(),
            location: if location.is_empty() {
                "none".into()
            } else {
                location.clone()
            },
            used_by: Vec::new(),
        };
        let at = if location.is_empty() {
            String::new()
        } else {
            format!(" on {location}")
        };
        self.record(
            &mut state,
            format!("create volume {}/{}{at}", new.pool, new.name),
        );
        state.volumes.insert(key, (volume, Vec::new()));
        Ok(())
    }

    async fn copy_volume(
        &self,
        new: &NewVolume,
        source_pool: &str,
        source: &str,
        source_member: Option<&str>,
        target: Option<&str>,
    ) -> ServerResult<()> {
        {
            let state = self.lock();
            if self
                .volume_key(&state, source_pool, source, source_member)?
                .is_none()
            {
                return Err(Self::not_found("storage volume", source));
            }
        }
        self.create_volume(new, target).await?;
        let mut state = self.lock();
        if let Some(last) = state.calls.last_mut() {
            *last = format!("{last} (copy of {source_pool}/{source})");
        }
        let dirs = state
            .volume_dirs
            .get(&(source_pool.to_string(), source.to_string()))
            .cloned();
        if let Some(dirs) = dirs {
            state
                .volume_dirs
                .insert((new.pool.clone(), new.name.clone()), dirs);
        }
        Ok(())
    }

    async fn export_volume(
        &self,
        pool: &str,
        name: &str,
        file: &std::path::Path,
        target: Option<&str>,
    ) -> ServerResult<()> {
        {
            let state = self.lock();
            if self.volume_key(&state, pool, name, target)?.is_none() {
                return Err(Self::not_found("storage volume", name));
            }
        }
        std::fs::write(file, format!("fake backup of {pool}/{name}\n"))
            .map_err(|e| ServerError::Protocol(format!("writing {}: {e}", file.display())))?;
        let mut state = self.lock();
        self.record(&mut state, format!("export volume {pool}/{name}"));
        Ok(())
    }

    async fn import_volume(
        &self,
        new: &NewVolume,
        file: &std::path::Path,
        target: Option<&str>,
    ) -> ServerResult<()> {
        std::fs::read(file)
            .map_err(|e| ServerError::Protocol(format!("reading {}: {e}", file.display())))?;
        self.create_volume(new, target).await?;
        let mut state = self.lock();
        if let Some(last) = state.calls.last_mut() {
            *last = format!("{last} (import of {})", file.display());
        }
        Ok(())
    }

    async fn delete_volume(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self
            .volume_key(&state, pool, name, target)?
            .ok_or_else(|| Self::not_found("storage volume", name))?;
        if !self.volume_users(&state, pool, name, false).is_empty() {
            return Err(ServerError::Api {
                context: format!("deleting volume {name:?}"),
                status: 400,
                message: "The storage volume is still in use".into(),
            });
        }
        state.volumes.remove(&key);
        state
            .volume_dirs
            .remove(&(pool.to_string(), name.to_string()));
        self.record(&mut state, format!("delete volume {pool}/{name}"));
        Ok(())
    }

    async fn rename_volume(
        &self,
        pool: &str,
        name: &str,
        new_name: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self
            .volume_key(&state, pool, name, target)?
            .ok_or_else(|| Self::not_found("storage volume", name))?;
        if !self.volume_users(&state, pool, name, true).is_empty() {
            return Err(ServerError::Api {
                context: format!("renaming volume {name:?}"),
                status: 500,
                message: "Volume is still in use by running instances".into(),
            });
        }
        let new_key = (
            key.0.clone(),
            key.1.clone(),
            key.2.clone(),
            new_name.to_string(),
        );
        if state.volumes.contains_key(&new_key) {
            return Err(ServerError::AlreadyExists {
                what: format!("volume {new_name:?}"),
            });
        }
        if let Some((mut volume, snapshots)) = state.volumes.remove(&key) {
            volume.name = new_name.to_string();
            state.volumes.insert(new_key, (volume, snapshots));
        }
        if let Some(dirs) = state
            .volume_dirs
            .remove(&(pool.to_string(), name.to_string()))
        {
            state
                .volume_dirs
                .insert((pool.to_string(), new_name.to_string()), dirs);
        }
        // The devices of the (stopped) instances that use it follow, as the daemons do.
        for ((_, _), i) in state.instances.iter_mut() {
            for device in i.instance.devices.values_mut() {
                if is_volume_device(device, pool, name) {
                    let source = device.get("source").cloned().unwrap_or_default();
                    let dir = source.strip_prefix(name).unwrap_or_default();
                    device.insert("source".into(), format!("{new_name}{dir}"));
                }
            }
        }
        self.record(
            &mut state,
            format!("rename volume {pool}/{name} {new_name}"),
        );
        Ok(())
    }

    async fn patch_volume_config(
        &self,
        pool: &str,
        name: &str,
        config: &ConfigMap,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self
            .volume_key(&state, pool, name, target)?
            .ok_or_else(|| Self::not_found("storage volume", name))?;
        if let Some((volume, _)) = state.volumes.get_mut(&key) {
            volume.config.extend(config.clone());
        }
        let keys: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.record(
            &mut state,
            format!("set volume {pool}/{name} {}", keys.join(" ")),
        );
        Ok(())
    }

    async fn create_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self
            .volume_key(&state, pool, name, target)?
            .ok_or_else(|| Self::not_found("storage volume", name))?;
        if let Some((_, snapshots)) = state.volumes.get_mut(&key) {
            if snapshots.iter().any(|s| s == snapshot) {
                return Err(ServerError::AlreadyExists {
                    what: format!("snapshot {name}/{snapshot}"),
                });
            }
            snapshots.push(snapshot.to_string());
        }
        self.record(
            &mut state,
            format!("snapshot volume {pool}/{name}/{snapshot}"),
        );
        Ok(())
    }

    async fn restore_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self
            .volume_key(&state, pool, name, target)?
            .ok_or_else(|| Self::not_found("storage volume", name))?;
        if !state
            .volumes
            .get(&key)
            .is_some_and(|(_, s)| s.iter().any(|s| s == snapshot))
        {
            return Err(Self::not_found("storage volume snapshot", snapshot));
        }
        if !self.volume_users(&state, pool, name, true).is_empty() {
            return Err(ServerError::Api {
                context: format!("restoring volume {name:?}"),
                status: 500,
                message: "Cannot restore custom volume used by running instances".into(),
            });
        }
        self.record(
            &mut state,
            format!("restore volume {pool}/{name}/{snapshot}"),
        );
        Ok(())
    }

    async fn delete_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let mut state = self.lock();
        let key = self
            .volume_key(&state, pool, name, target)?
            .ok_or_else(|| Self::not_found("storage volume", name))?;
        let Some((_, snapshots)) = state.volumes.get_mut(&key) else {
            return Err(Self::not_found("storage volume", name));
        };
        let before = snapshots.len();
        snapshots.retain(|s| s != snapshot);
        if snapshots.len() == before {
            return Err(Self::not_found("storage volume snapshot", snapshot));
        }
        self.record(
            &mut state,
            format!("delete snapshot volume {pool}/{name}/{snapshot}"),
        );
        Ok(())
    }

    async fn volume_snapshots(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Vec<String>> {
        let state = self.lock();
        let key = self
            .volume_key(&state, pool, name, target)?
            .ok_or_else(|| Self::not_found("storage volume", name))?;
        Ok(state
            .volumes
            .get(&key)
            .map(|(_, s)| s.clone())
            .unwrap_or_default())
    }
}

/// Whether a device is a disk device of volume `pool`/`name` (the whole volume or a sub-path).
fn is_volume_device(device: &Device, pool: &str, name: &str) -> bool {
    device.get("type").map(String::as_str) == Some("disk")
        && device.get("pool").map(String::as_str) == Some(pool)
        && device
            .get("source")
            .is_some_and(|s| s == name || s.starts_with(&format!("{name}/")))
}

impl FakeServer {
    /// Adds a volume as something other than lxops would (another tool, by hand).
    pub fn add_volume(&self, volume: Volume) {
        let mut state = self.lock();
        let member = state
            .members
            .first()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let member = if volume.location.is_empty() || volume.location == "none" {
            member
        } else {
            volume.location.clone()
        };
        let key = (
            self.project.clone(),
            volume.pool.clone(),
            member,
            volume.name.clone(),
        );
        state.volumes.insert(key, (volume, Vec::new()));
    }

    /// The member a volume request goes to: `target` on a cluster (the first member without
    /// one, as the member that receives the request), "" standalone.
    fn volume_member(&self, state: &State, target: Option<&str>) -> ServerResult<String> {
        if state.members.is_empty() {
            return Ok(String::new());
        }
        match target {
            Some(t) if state.members.iter().any(|m| m.name == t) => Ok(t.to_string()),
            Some(t) => Err(Self::not_found("cluster member", t)),
            None => Ok(state.members[0].name.clone()),
        }
    }

    /// The key of an existing volume; without a target on a cluster, the one member that
    /// has it (several: an error, as the daemons answer).
    fn volume_key(
        &self,
        state: &State,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Option<VolumeKey>> {
        if !state.pools.contains_key(pool) {
            return Err(Self::not_found("storage pool", pool));
        }
        if target.is_some() || state.members.is_empty() {
            let member = self.volume_member(state, target)?;
            let key = (
                self.project.clone(),
                pool.to_string(),
                member,
                name.to_string(),
            );
            return Ok(state.volumes.contains_key(&key).then_some(key));
        }
        let found: Vec<_> = state
            .volumes
            .keys()
            .filter(|(p, pl, _, n)| *p == self.project && pl == pool && n == name)
            .cloned()
            .collect();
        if found.len() > 1 {
            return Err(ServerError::Api {
                context: format!("reading volume {name:?}"),
                status: 500,
                message: format!(
                    "More than one cluster member has a volume named {name:?}. Please target a specific member"
                ),
            });
        }
        Ok(found.into_iter().next())
    }

    /// The instances whose devices (own or from profiles) use the volume; only running ones
    /// with `running`.
    fn volume_users(&self, state: &State, pool: &str, name: &str, running: bool) -> Vec<String> {
        state
            .instances
            .iter()
            .filter(|((p, _), _)| *p == self.project)
            .filter(|(_, i)| !running || i.instance.status == "Running")
            .filter(|(_, i)| {
                i.instance
                    .expanded_devices
                    .values()
                    .chain(i.instance.devices.values())
                    .any(|d| is_volume_device(d, pool, name))
            })
            .map(|((_, n), _)| format!("/1.0/instances/{n}"))
            .collect()
    }
}

impl FakeServer {
    /// The devices an instance has with these profiles and own devices: the profiles' in
    /// order, then its own, by name; a `none` device hides one of the same name.
    fn live_devices(&self, state: &State, profiles: &[String], own: &Devices) -> Devices {
        let mut devices: Devices = profiles
            .iter()
            .filter_map(|p| state.profiles.get(&self.key(p)))
            .flat_map(|p| p.devices.clone())
            .chain(own.clone())
            .collect();
        devices.retain(|_, d| d.get("type").map(String::as_str) != Some("none"));
        devices
    }

    /// With `subpath`: every `source=VOLUME/DIR` disk device has its directory.
    fn check_subpaths(state: &State, instance: &str, devices: &Devices) -> ServerResult<()> {
        if !state.subpath {
            return Ok(());
        }
        for (name, d) in devices {
            let (Some(pool), Some((volume, dir))) = (
                d.get("pool"),
                d.get("source").and_then(|s| s.split_once('/')),
            ) else {
                continue;
            };
            let key = (pool.clone(), volume.to_string());
            if !state.volume_dirs.get(&key).is_some_and(|d| d.contains(dir)) {
                return Err(ServerError::Api {
                    context: format!("starting {instance:?}"),
                    status: 400,
                    message: format!(
                        "Failed to start device {name:?}: Failed opening volume sub-path \
                         {dir:?}: no such file or directory"
                    ),
                });
            }
        }
        Ok(())
    }

    /// `mkdir -p PATH` in an instance: a path inside a volume attached whole makes that
    /// directory (and its parents) in the volume.
    fn mkdir_in_volume(state: &mut State, devices: &Devices, path: &str) {
        for d in devices.values() {
            let (Some(pool), Some(source), Some(at)) =
                (d.get("pool"), d.get("source"), d.get("path"))
            else {
                continue;
            };
            if source.contains('/') {
                continue;
            }
            let Some(rest) = path
                .strip_prefix(at.as_str())
                .and_then(|r| r.strip_prefix('/'))
            else {
                continue;
            };
            let dirs = state
                .volume_dirs
                .entry((pool.clone(), source.clone()))
                .or_default();
            let mut prefix = String::new();
            for part in rest.split('/').filter(|p| !p.is_empty()) {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                dirs.insert(prefix.clone());
            }
        }
    }

    fn set_status(&self, name: &str, verb: &str, status: &str) -> ServerResult<()> {
        let mut state = self.lock();
        let i = state
            .instances
            .get_mut(&self.key(name))
            .ok_or_else(|| Self::not_found("instance", name))?;
        i.instance.status = status.to_string();
        self.record(&mut state, format!("{verb} instance {name}"));
        Ok(())
    }
}

#[cfg(test)]
mod image_tests {
    use super::*;

    fn publish(alias: &str) -> PublishImage {
        PublishImage {
            source: "a1/s1".into(),
            aliases: vec![alias.into()],
            properties: [("os".to_string(), "alpine".to_string())].into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn images_keep_properties_and_aliases_as_the_daemons_do() {
        let server = FakeServer::new();
        let fp = server.publish_image(&publish("web")).await.unwrap();
        // A taken alias makes nothing.
        let taken = server.publish_image(&publish("web")).await.unwrap_err();
        assert!(taken.is_already_exists(), "{taken}");
        assert_eq!(server.images().await.unwrap().len(), 1);
        server.create_image_alias("web2", &fp, "").await.unwrap();
        server.rename_image_alias("web2", "web3").await.unwrap();
        assert!(server
            .rename_image_alias("web3", "web")
            .await
            .unwrap_err()
            .is_already_exists());
        assert!(server
            .delete_image_alias("web2")
            .await
            .unwrap_err()
            .is_not_found());
        let images = server.images().await.unwrap();
        assert_eq!(images[0].aliases, ["web", "web3"]);
        assert_eq!(images[0].properties["os"], "alpine");
        assert_eq!(images[0].label(), "web");
        // Deleting the aliases keeps the image; deleting the image removes it.
        server.delete_image_alias("web").await.unwrap();
        server.delete_image_alias("web3").await.unwrap();
        assert_eq!(server.images().await.unwrap()[0].label(), fp);
        server.delete_image(&fp).await.unwrap();
        assert!(server.images().await.unwrap().is_empty());
        assert!(server.delete_image(&fp).await.unwrap_err().is_not_found());
    }
}
