//! [`RestServer`]: the `InstanceServer` implementation over the REST API.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hyper::Method;
use lxops_core::server::{
    ConnectOptions, DirCreate, ExecOutput, ExecRequest, FileContent, FileInfo, FileWrite, IdMap,
    Image, ImageExport, ImageSource, ImageUpload, Instance, InstanceServer, InstanceSource,
    InstanceState, InstanceUpdate, NewInstance, NewVolume, Profile, ProjectInstanceState,
    PublishImage, ServerError, ServerInfo, ServerKind, ServerResult, Snapshot, StopMode,
    StoragePool, SymlinkCreate, Volume, DEFAULT_TIMEOUT,
};
use serde_json::{json, Map, Value};

use crate::client::{Answer, Connection};
use crate::dialect::Dialect;
use crate::discovery::{process_env, socket_path, EnvLookup};
use crate::errors::{Request, Subject};
use crate::model::{
    idmap_from_config, names_from_urls, InstanceJson, PoolJson, ProfileJson, ServerJson,
    SnapshotJson, StateJson,
};
use crate::remotes::{
    image_source_json, looks_like_fingerprint, tls_setup_error, ClientConfig, Selection, Target,
};
use crate::transport::{encode, HttpsEndpoint, RawRequest, Transport};

/// An LXD or Incus server reached over its unix socket, scoped to one project.
#[derive(Debug, Clone)]
pub struct RestServer {
    pub(crate) conn: Arc<Connection>,
    pub(crate) project: String,
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    value: Value,
    context: &str,
) -> ServerResult<T> {
    serde_json::from_value(value)
        .map_err(|e| ServerError::Protocol(format!("{context}: unexpected reply: {e}")))
}

/// The daemon `options` and the client config choose. An explicit socket wins over the
/// config (with `--remote` as well it is bad input); an unreadable config is only a warning
/// unless a remote was named, since the local socket needs none.
fn select(
    dialect: &Dialect,
    options: &ConnectOptions,
    env: EnvLookup<'_>,
) -> ServerResult<Selection> {
    let explicit = options.remote.as_deref().filter(|r| !r.is_empty());
    if let (Some(socket), Some(remote)) = (&options.socket, explicit) {
        return Err(ServerError::Remote {
            remote: remote.to_string(),
            problem: format!("both --remote and --socket {} were given", socket.display()),
            hint: "give only one of them".to_string(),
        });
    }
    let loaded = match ClientConfig::load(dialect, env) {
        Ok(loaded) => loaded,
        Err(e) if explicit.is_none() => {
            tracing::warn!("{e}; using the local daemon and project \"default\"");
            return Ok(Selection {
                remote: "local".to_string(),
                target: Target::Local(None),
                project: "default".to_string(),
            });
        }
        Err(e) => return Err(e),
    };
    let (config, file) = loaded;
    if options.socket.is_some() {
        return Ok(Selection {
            remote: "local".to_string(),
            target: Target::Local(None),
            project: config.current_project(dialect, env),
        });
    }
    let source = match &file {
        Some(file) => file.display().to_string(),
        None => format!("the built-in remotes of {} (no config.yml)", dialect.cli),
    };
    let dir = file.as_deref().and_then(std::path::Path::parent);
    config.select(dialect, explicit, env, dir, &source)
}

/// The daemon answered `GET /1.0` but does not trust the client certificate.
fn untrusted(dialect: &Dialect, remote: &HttpsEndpoint, auth: &str) -> ServerError {
    let cert = remote.files.client_cert.display();
    ServerError::Connect {
        server: format!("{} remote {:?}", dialect.name, remote.remote),
        socket: remote.url.clone(),
        reason: format!(
            "the daemon does not trust this client's certificate {cert} (auth: {})",
            if auth.is_empty() { "none" } else { auth }
        ),
        hint: format!(
            "trust it on the server: `{} {} {cert}` there (or through a remote that is trusted), \
             then run lxops again",
            dialect.cli, dialect.trust_add
        ),
    }
}

impl RestServer {
    /// Connects with the process environment (see [`RestServer::connect_with_env`]).
    pub async fn connect(
        dialect: &'static Dialect,
        options: &ConnectOptions,
    ) -> ServerResult<Self> {
        Self::connect_with_env(dialect, options, &process_env).await
    }

    /// Chooses the daemon (`options.socket`, else `options.remote`, else the client config's
    /// default remote), reads `GET /1.0` (server identity and API extensions) and picks the
    /// project (`options.project`, else the remote's project, else the client's current one).
    pub async fn connect_with_env(
        dialect: &'static Dialect,
        options: &ConnectOptions,
        env: EnvLookup<'_>,
    ) -> ServerResult<Self> {
        let timeout = if options.timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            options.timeout
        };
        let selection = select(dialect, options, env)?;
        let transport = match &selection.target {
            Target::Local(socket) => Transport::new(&socket_path(
                dialect,
                options.socket.as_deref().or(socket.as_deref()),
                env,
                &|p| p.exists(),
            )),
            Target::Https(endpoint) => Transport::https(endpoint.clone())
                .map_err(|e| tls_setup_error(dialect, endpoint, e))?,
        };
        let endpoint = transport.endpoint();
        let mut conn = Connection::new(transport, dialect, timeout);
        conn.exec_timeout = options.exec_timeout.filter(|limit| !limit.is_zero());
        let context = match &selection.target {
            Target::Local(_) => format!("reading the {} server info", dialect.name),
            Target::Https(_) => format!(
                "reading the {} server info of remote {:?}",
                dialect.name, selection.remote
            ),
        };
        let subject = Subject {
            context: &context,
            what: "server info",
            request: Request::Read,
        };
        let limit = timeout.min(Duration::from_secs(30));
        let response = conn
            .raw(RawRequest::new(Method::GET, "/1.0"), limit, &context)
            .await?;
        let value = match crate::client::answer(response, &subject)? {
            Answer::Sync { value, .. } => value,
            Answer::Async(_) => {
                return Err(ServerError::Protocol(format!(
                    "{context}: unexpected operation"
                )))
            }
        };
        let server: ServerJson = parse(value, &context)?;
        if let Target::Https(remote) = &selection.target {
            if server.auth != "trusted" {
                return Err(untrusted(dialect, remote, &server.auth));
            }
        }
        if !server.environment.server.is_empty() && server.environment.server != dialect.server_id {
            tracing::warn!(
                endpoint = %endpoint,
                found = %server.environment.server,
                expected = dialect.server_id,
                "the daemon belongs to another family"
            );
        }
        conn.info = ServerInfo {
            server: server.environment.server,
            version: server.environment.server_version,
            extensions: server.api_extensions,
            clustered: server.environment.server_clustered,
            member: Some(server.environment.server_name.clone())
                .filter(|n| server.environment.server_clustered && !n.is_empty()),
            remote: match &selection.target {
                Target::Local(_) => None,
                Target::Https(_) => Some(selection.remote.clone()),
            },
        };
        let project = match &options.project {
            Some(project) if !project.is_empty() => project.clone(),
            _ => selection.project,
        };
        Ok(RestServer {
            conn: Arc::new(conn),
            project,
        })
    }

    /// The dialect of this server.
    pub fn dialect(&self) -> &'static Dialect {
        self.conn.dialect
    }

    /// Whether the daemon is a member of a cluster (`environment.server_clustered`).
    pub(crate) fn clustered(&self) -> bool {
        self.conn.info.clustered
    }

    /// `path` with this view's `project` query parameter.
    pub(crate) fn url(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}project={}", encode(&self.project))
    }

    pub(crate) fn instance_url(&self, name: &str, rest: &str) -> String {
        self.url(&format!("/1.0/instances/{}{rest}", encode(name)))
    }

    pub(crate) async fn get_instance_json(
        &self,
        name: &str,
    ) -> ServerResult<Option<(InstanceJson, Option<String>)>> {
        let context = format!("reading instance {name:?}");
        let what = format!("instance {name:?}");
        let subject = Subject {
            context: &context,
            what: &what,
            request: Request::Read,
        };
        match self
            .conn
            .call(
                RawRequest::new(Method::GET, self.instance_url(name, "")),
                &subject,
            )
            .await
        {
            Ok(Answer::Sync { value, etag }) => Ok(Some((parse(value, &context)?, etag))),
            Ok(Answer::Async(_)) => Err(ServerError::Protocol(format!(
                "{context}: unexpected operation"
            ))),
            Err(e) if e.is_not_found() => self.absent(None).await,
            Err(e) => self.checked(Err(e)).await,
        }
    }

    pub(crate) async fn require_instance(
        &self,
        name: &str,
    ) -> ServerResult<(InstanceJson, Option<String>)> {
        self.get_instance_json(name)
            .await?
            .ok_or_else(|| ServerError::NotFound {
                what: format!("instance {name:?} in project {:?}", self.project),
            })
    }

    async fn change_state(
        &self,
        name: &str,
        body: Value,
        limit: Duration,
        context: String,
    ) -> ServerResult<()> {
        let what = format!("instance {name:?}");
        let subject = Subject {
            context: &context,
            what: &what,
            request: Request::Change,
        };
        let request = RawRequest::new(Method::PUT, self.instance_url(name, "/state")).json(&body);
        let answer = self.conn.call(request, &subject).await;
        match self.checked(answer).await? {
            Answer::Sync { .. } => Ok(()),
            Answer::Async(op) => self
                .conn
                .wait_success_for(&op.id, limit, &subject)
                .await
                .map(drop),
        }
    }

    /// Sends a request and waits for its operation (if any) to succeed. A 404 of a request in
    /// a project is reported as a missing project when it is one (see [`Self::checked`]).
    pub(crate) async fn run(
        &self,
        request: RawRequest,
        context: &str,
        what: &str,
    ) -> ServerResult<crate::envelope::Operation> {
        let subject = Subject::of(&request.method, &request.path, context, what);
        let scoped = request.path.contains("project=");
        let result = self.conn.run(request, &subject).await;
        if scoped {
            self.checked(result).await
        } else {
            result
        }
    }

    /// Sends a request that answers synchronously (or waits for its operation); 404s as in
    /// [`Self::run`].
    pub(crate) async fn sync(
        &self,
        request: RawRequest,
        context: &str,
        what: &str,
    ) -> ServerResult<Value> {
        let subject = Subject::of(&request.method, &request.path, context, what);
        let scoped = request.path.contains("project=");
        let result = self.conn.sync(request, &subject).await;
        if scoped {
            self.checked(result).await
        } else {
            result
        }
    }

    /// `result`, unless it is a 404 ([`ServerError::NotFound`], or an API error 404 of a
    /// create) and this view's project is missing: then that is the error (a 404 does not say
    /// which object is missing).
    /// On a cluster, an error saying another member could not be reached (after the retries
    /// of [`crate::client::Connection::raw`]) becomes [`ServerError::MemberOffline`], naming
    /// the member.
    pub(crate) async fn checked<T>(&self, result: ServerResult<T>) -> ServerResult<T> {
        match result {
            Err(e) if e.is_not_found() || matches!(e, ServerError::Api { status: 404, .. }) => {
                self.require_project().await?;
                Err(e)
            }
            Err(e)
                if self.conn.info.clustered
                    && crate::errors::is_member_unreachable(&e.to_string()) =>
            {
                Err(self.member_offline(e).await)
            }
            other => other,
        }
    }

    /// The members that are not online, for [`ServerError::MemberOffline`]; when none is
    /// known to be down yet (the heartbeat has not noticed), the error says so.
    async fn member_offline(&self, error: ServerError) -> ServerError {
        let members = self.cluster_members().await.unwrap_or_default();
        let down: Vec<String> = members
            .iter()
            .filter(|m| !m.status.eq_ignore_ascii_case("online"))
            .map(|m| format!("{} ({}: {})", m.name, m.status.to_lowercase(), m.message))
            .collect();
        ServerError::MemberOffline {
            members: if down.is_empty() {
                "that owns the instance (not yet marked offline)".to_string()
            } else {
                down.join(", ")
            },
            error: error.to_string(),
        }
    }

    /// `Ok(absent)` after a 404, once the project is known to exist (see [`Self::checked`]).
    pub(crate) async fn absent<T>(&self, absent: T) -> ServerResult<T> {
        self.require_project().await?;
        Ok(absent)
    }

    /// Checks that this view's project exists, once per connection and project: LXD 5.0.2
    /// answers "Instance not found" (404) for an instance in a missing project, so a 404 alone
    /// would report a missing project as a missing instance, image or profile.
    pub(crate) async fn require_project(&self) -> ServerResult<()> {
        if self.project == "default" || self.conn.project_known(&self.project) {
            return Ok(());
        }
        let context = format!("reading project {:?}", self.project);
        let what = format!("project {:?}", self.project);
        let url = format!("/1.0/projects/{}", encode(&self.project));
        let subject = Subject::of(&Method::GET, &url, &context, &what);
        match self
            .conn
            .sync(RawRequest::new(Method::GET, url), &subject)
            .await
        {
            Ok(_) => {
                self.conn.remember_project(&self.project);
                Ok(())
            }
            Err(e) if e.is_not_found() => Err(ServerError::MissingProject {
                project: self.project.clone(),
                server: self.conn.dialect.name.to_string(),
                hint: format!(
                    "create it with `{} project create {}`, or choose an existing project",
                    self.conn.dialect.cli, self.project
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// The request body that creates `new`, with `profiles` already resolved.
    pub fn create_body(new: &NewInstance, profiles: &[String]) -> Value {
        let source = match &new.source {
            InstanceSource::Image(image) => image_source_json(image),
            InstanceSource::Copy {
                source,
                source_project,
                instance_only,
            } => {
                let mut copy = Map::new();
                copy.insert("type".into(), json!("copy"));
                copy.insert("source".into(), json!(source));
                copy.insert("instance_only".into(), json!(instance_only));
                if let Some(project) = source_project {
                    copy.insert("project".into(), json!(project));
                }
                Value::Object(copy)
            }
        };
        let mut body = json!({
            "name": new.name,
            "source": source,
            "config": new.config,
            "devices": new.devices,
            "description": new.description,
            "type": if new.vm { "virtual-machine" } else { "container" },
        });
        if !profiles.is_empty() {
            body["profiles"] = json!(profiles);
        }
        if new.ephemeral {
            body["ephemeral"] = json!(true);
        }
        if let Some(instance_type) = &new.instance_type {
            body["instance_type"] = json!(instance_type);
        }
        body
    }

    /// The path of an instance create: `?target=` names the cluster member, when given (the
    /// project is added as for every request).
    pub fn create_path(new: &NewInstance) -> String {
        match &new.target {
            Some(target) => format!("/1.0/instances?target={}", encode(target)),
            None => "/1.0/instances".to_string(),
        }
    }
}

#[async_trait]
impl InstanceServer for RestServer {
    fn kind(&self) -> ServerKind {
        self.conn.dialect.kind
    }

    fn project(&self) -> &str {
        &self.project
    }

    fn for_project(&self, project: &str) -> Arc<dyn InstanceServer> {
        Arc::new(RestServer {
            conn: Arc::clone(&self.conn),
            project: project.to_string(),
        })
    }

    fn timeout(&self) -> Duration {
        self.conn.timeout
    }

    async fn info(&self) -> ServerResult<ServerInfo> {
        Ok(self.conn.info.clone())
    }

    async fn project_exists(&self, name: &str) -> ServerResult<bool> {
        let context = format!("reading project {name:?}");
        let what = format!("project {name:?}");
        let request = RawRequest::new(Method::GET, format!("/1.0/projects/{}", encode(name)));
        match self.sync(request, &context, &what).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn cluster_members(&self) -> ServerResult<Vec<lxops_core::server::ClusterMember>> {
        if !self.conn.info.clustered {
            return Ok(Vec::new());
        }
        let context = "listing the cluster members".to_string();
        let request = RawRequest::new(Method::GET, "/1.0/cluster/members?recursion=1");
        let value = self.sync(request, &context, "cluster members").await?;
        let members: Vec<crate::model::ClusterMemberJson> = parse(value, &context)?;
        Ok(members.into_iter().map(Into::into).collect())
    }

    async fn profile_names(&self) -> ServerResult<Vec<String>> {
        let context = format!("listing profiles of project {:?}", self.project);
        let value = self
            .sync(
                RawRequest::new(Method::GET, self.url("/1.0/profiles")),
                &context,
                "profiles",
            )
            .await?;
        Ok(names_from_urls(&parse::<Vec<String>>(value, &context)?))
    }

    async fn profile(&self, name: &str) -> ServerResult<Option<Profile>> {
        let context = format!("reading profile {name:?}");
        let what = format!("profile {name:?}");
        let url = self.url(&format!("/1.0/profiles/{}", encode(name)));
        match self
            .sync(RawRequest::new(Method::GET, url), &context, &what)
            .await
        {
            Ok(value) => Ok(Some(parse::<ProfileJson>(value, &context)?.into())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_profile(&self, profile: &Profile) -> ServerResult<()> {
        let context = format!("creating profile {:?}", profile.name);
        let what = format!("profile {:?}", profile.name);
        let body = json!({
            "name": profile.name,
            "description": profile.description,
            "config": profile.config,
            "devices": profile.devices,
        });
        let request = RawRequest::new(Method::POST, self.url("/1.0/profiles")).json(&body);
        self.run(request, &context, &what).await.map(drop)
    }

    async fn update_profile(&self, profile: &Profile) -> ServerResult<()> {
        let context = format!("updating profile {:?}", profile.name);
        let what = format!("profile {:?}", profile.name);
        let subject = Subject {
            context: &context,
            what: &what,
            request: Request::Change,
        };
        let url = self.url(&format!("/1.0/profiles/{}", encode(&profile.name)));
        let etag = match self
            .conn
            .call(RawRequest::new(Method::GET, url.clone()), &subject)
            .await?
        {
            Answer::Sync { etag, .. } => etag,
            Answer::Async(_) => None,
        };
        let body = json!({
            "description": profile.description,
            "config": profile.config,
            "devices": profile.devices,
        });
        let mut request = RawRequest::new(Method::PUT, url).json(&body);
        if let Some(etag) = etag {
            request = request.header("If-Match", etag);
        }
        self.conn.run(request, &subject).await.map(drop)
    }

    async fn delete_profile(&self, name: &str) -> ServerResult<()> {
        let context = format!("deleting profile {name:?}");
        let what = format!("profile {name:?}");
        let url = self.url(&format!("/1.0/profiles/{}", encode(name)));
        self.run(RawRequest::new(Method::DELETE, url), &context, &what)
            .await
            .map(drop)
    }

    async fn instance_names(&self) -> ServerResult<Vec<String>> {
        let context = format!("listing instances of project {:?}", self.project);
        let value = self
            .sync(
                RawRequest::new(Method::GET, self.url("/1.0/instances")),
                &context,
                "instances",
            )
            .await?;
        Ok(names_from_urls(&parse::<Vec<String>>(value, &context)?))
    }

    async fn instances(&self) -> ServerResult<Vec<Instance>> {
        let context = format!("listing instances of project {:?}", self.project);
        let url = self.url("/1.0/instances?recursion=1");
        let value = self
            .sync(RawRequest::new(Method::GET, url), &context, "instances")
            .await?;
        let list: Vec<InstanceJson> = parse(value, &context)?;
        Ok(list.into_iter().map(Instance::from).collect())
    }

    async fn instance(&self, name: &str) -> ServerResult<Option<Instance>> {
        Ok(self.get_instance_json(name).await?.map(|(j, _)| j.into()))
    }

    async fn instance_idmap(&self, name: &str) -> ServerResult<IdMap> {
        let (instance, _) = self.require_instance(name).await?;
        idmap_from_config(&instance.config, name).map_err(ServerError::Protocol)
    }

    async fn instance_state(&self, name: &str) -> ServerResult<InstanceState> {
        let context = format!("reading the state of instance {name:?}");
        let what = format!("instance {name:?}");
        let request = RawRequest::new(Method::GET, self.instance_url(name, "/state"));
        let value = self.sync(request, &context, &what).await?;
        Ok(parse::<StateJson>(value, &context)?.into())
    }

    async fn create_instance(&self, new: &NewInstance) -> ServerResult<Option<String>> {
        let context = format!("creating instance {:?} from {}", new.name, new.source);
        let what = format!("instance {:?}", new.name);
        let mut request_new = new.clone();
        let mut profiles = new.profiles.clone();
        match &new.source {
            // A full fingerprint (as a launch passes after checking the image) needs no lookup.
            InstanceSource::Image(image)
                if image.remote.is_none()
                    && !(image.image.len() == 64 && looks_like_fingerprint(&image.image)) =>
            {
                // Resolve first: the daemons report a missing image inconsistently (LXD: a
                // sync 404, Incus: a failed operation), and the fingerprint is unambiguous.
                let Some(fingerprint) = self.image_fingerprint(image).await? else {
                    return Err(ServerError::NotFound {
                        what: format!(
                            "image {:?} (no such alias or fingerprint in the local image store)",
                            image.image
                        ),
                    });
                };
                request_new.source = InstanceSource::Image(ImageSource::local(fingerprint));
            }
            InstanceSource::Copy {
                source,
                source_project,
                ..
            } if profiles.is_empty() => {
                // LXD 5.0 fails a copy without explicit profiles ("No root device could be
                // found"), so send the source's own.
                let base = source.split('/').next().unwrap_or(source);
                let view = match source_project {
                    Some(project) => RestServer {
                        conn: Arc::clone(&self.conn),
                        project: project.clone(),
                    },
                    None => self.clone(),
                };
                profiles = view.require_instance(base).await?.0.profiles;
            }
            _ => {}
        }
        let body = Self::create_body(&request_new, &profiles);
        let request = RawRequest::new(Method::POST, self.url(&Self::create_path(new))).json(&body);
        let operation = self.run(request, &context, &what).await?;
        // The operation runs on the member that holds the instance.
        Ok(Some(operation.location)
            .filter(|l| self.conn.info.clustered && !l.is_empty() && l != "none"))
    }

    async fn update_instance(&self, name: &str, update: &InstanceUpdate) -> ServerResult<()> {
        let context = format!("updating instance {name:?}");
        let what = format!("instance {name:?}");
        let (current, etag) = self.require_instance(name).await?;
        let body = json!({
            "architecture": current.architecture,
            "ephemeral": current.ephemeral,
            "stateful": current.stateful,
            "profiles": update.profiles,
            "config": update.config,
            "devices": update.devices,
            "description": update.description,
        });
        let mut request = RawRequest::new(Method::PUT, self.instance_url(name, "")).json(&body);
        if let Some(etag) = etag {
            request = request.header("If-Match", etag);
        }
        self.run(request, &context, &what).await.map(drop)
    }

    async fn patch_instance(
        &self,
        name: &str,
        patch: &lxops_core::server::InstancePatch,
    ) -> ServerResult<()> {
        let context = format!("updating the config of instance {name:?}");
        let what = format!("instance {name:?}");
        // PATCH merges the keys into the instance's config; both daemons remove a key set to "".
        // Both reset what the body leaves out (the description, ephemeral): send them as they
        // are, read first unless the caller knows them.
        let (description, ephemeral) = match &patch.known {
            Some(known) => known.clone(),
            None => {
                let (current, _) = self.require_instance(name).await?;
                (current.description, current.ephemeral)
            }
        };
        let request = RawRequest::new(Method::PATCH, self.instance_url(name, "")).json(&json!({
            "config": patch.config,
            "description": description,
            "ephemeral": ephemeral,
        }));
        self.run(request, &context, &what).await.map(drop)
    }

    async fn wait_instance_operations(&self, name: &str) -> ServerResult<()> {
        let context = format!("waiting for the running operations of instance {name:?}");
        let what = "the operation list".to_string();
        let request = RawRequest::new(Method::GET, self.url("/1.0/operations?recursion=1"));
        let listed = self.sync(request, &context, &what).await?;
        let path = format!("/1.0/instances/{}", encode(name));
        let touches = |op: &Value| {
            op.pointer("/resources/instances")
                .and_then(Value::as_array)
                .is_some_and(|urls| {
                    urls.iter()
                        .filter_map(Value::as_str)
                        .any(|url| url.split('?').next() == Some(path.as_str()))
                })
        };
        let running: Vec<String> = listed
            .get("running")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|op| op.get("class").and_then(Value::as_str) == Some("task") && touches(op))
            .filter_map(|op| op.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        for id in running {
            let subject = Subject {
                context: &context,
                what: &what,
                request: Request::Read,
            };
            // How the operation ended does not matter here: the caller looks at the instance.
            self.conn.wait(&id, self.conn.timeout, &subject).await?;
        }
        Ok(())
    }

    async fn start_instance(&self, name: &str) -> ServerResult<()> {
        let context = format!("starting instance {name:?}");
        let start = || {
            self.change_state(
                name,
                json!({"action": "start"}),
                self.conn.timeout,
                context.clone(),
            )
        };
        match start().await {
            // A daemon that stalls on accepting its own hook connections fails the start with
            // "forkstart ... exit status 1" (rest-api notes, 11.3): a transient, retried once.
            // Only the text tells it from other start failures: LXD 5.0.2 gives the failed
            // operation no code, Incus 6.0.4 the same 500 as for any start failure.
            Err(ServerError::OperationFailed { message, .. }) if message.contains("forkstart") => {
                tracing::warn!(instance = name, "start failed ({message}); retrying once");
                tokio::time::sleep(Duration::from_secs(1)).await;
                start().await
            }
            other => other,
        }
    }

    async fn stop_instance(&self, name: &str, stop: StopMode) -> ServerResult<()> {
        let (body, limit) = match stop {
            StopMode::Force => (json!({"action": "stop", "force": true}), self.conn.timeout),
            StopMode::Clean(timeout) => (
                json!({"action": "stop", "timeout": timeout.as_secs().max(1)}),
                self.conn.timeout.max(timeout + Duration::from_secs(10)),
            ),
        };
        self.change_state(name, body, limit, format!("stopping instance {name:?}"))
            .await
    }

    async fn delete_instance(&self, name: &str) -> ServerResult<()> {
        let context = format!("deleting instance {name:?}");
        let what = format!("instance {name:?}");
        let request = RawRequest::new(Method::DELETE, self.instance_url(name, ""));
        self.run(request, &context, &what).await.map(drop)
    }

    async fn rename_instance(&self, name: &str, new_name: &str) -> ServerResult<()> {
        let context = format!("renaming instance {name:?} to {new_name:?}");
        let what = format!("instance {new_name:?}");
        let request = RawRequest::new(Method::POST, self.instance_url(name, ""))
            .json(&json!({"name": new_name}));
        match self.run(request, &context, &what).await {
            Err(ServerError::NotFound { .. }) => Err(ServerError::NotFound {
                what: format!("instance {name:?}"),
            }),
            other => other.map(drop),
        }
    }

    async fn rebuild_instance(&self, name: &str, image: &ImageSource) -> ServerResult<()> {
        crate::rebuild::rebuild(self, name, image).await
    }

    async fn finish_interrupted_rebuild(&self, name: &str) -> ServerResult<bool> {
        if self
            .conn
            .info
            .has_extension(crate::rebuild::REBUILD_EXTENSION)
        {
            return Ok(false);
        }
        crate::rebuild::finish_interrupted(self, name).await
    }

    async fn snapshots(&self, instance: &str) -> ServerResult<Vec<Snapshot>> {
        let context = format!("listing snapshots of instance {instance:?}");
        let what = format!("instance {instance:?}");
        let request = RawRequest::new(
            Method::GET,
            self.instance_url(instance, "/snapshots?recursion=1"),
        );
        let value = self.sync(request, &context, &what).await?;
        let list: Vec<SnapshotJson> = parse(value, &context)?;
        let mut snapshots: Vec<Snapshot> = list.into_iter().map(Snapshot::from).collect();
        snapshots.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(snapshots)
    }

    async fn create_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()> {
        let context = format!("creating snapshot {instance}/{snapshot}");
        let what = format!("snapshot {instance}/{snapshot}");
        let request = RawRequest::new(Method::POST, self.instance_url(instance, "/snapshots"))
            .json(&json!({"name": snapshot, "stateful": false}));
        self.run(request, &context, &what).await.map(drop)
    }

    async fn restore_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()> {
        let context = format!("restoring instance {instance:?} to snapshot {snapshot:?}");
        let what = format!("snapshot {instance}/{snapshot}");
        let request = RawRequest::new(Method::PUT, self.instance_url(instance, ""))
            .json(&json!({"restore": snapshot}));
        self.run(request, &context, &what).await.map(drop)
    }

    async fn delete_snapshot(&self, instance: &str, snapshot: &str) -> ServerResult<()> {
        let context = format!("deleting snapshot {instance}/{snapshot}");
        let what = format!("snapshot {instance}/{snapshot}");
        let rest = format!("/snapshots/{}", encode(snapshot));
        let request = RawRequest::new(Method::DELETE, self.instance_url(instance, &rest));
        self.run(request, &context, &what).await.map(drop)
    }

    async fn exec(&self, instance: &str, request: &ExecRequest) -> ServerResult<ExecOutput> {
        crate::exec::exec(self, instance, request).await
    }

    async fn write_file(&self, instance: &str, file: &FileWrite) -> ServerResult<()> {
        crate::files::write_file(self, instance, file).await
    }

    async fn make_dir(&self, instance: &str, dir: &DirCreate) -> ServerResult<()> {
        crate::files::make_dir(self, instance, dir).await
    }

    async fn read_file(&self, instance: &str, path: &str) -> ServerResult<Option<FileContent>> {
        crate::files::read_file(self, instance, path).await
    }

    async fn delete_file(&self, instance: &str, path: &str) -> ServerResult<()> {
        crate::files::delete_file(self, instance, path).await
    }

    // ---- files and trees ----------------------------------------------------------------
    async fn file_info(&self, instance: &str, path: &str) -> ServerResult<Option<FileInfo>> {
        crate::files::file_info(self, instance, path).await
    }

    async fn list_dir(&self, instance: &str, path: &str) -> ServerResult<Vec<String>> {
        crate::files::list_dir(self, instance, path).await
    }

    async fn make_symlink(&self, instance: &str, link: &SymlinkCreate) -> ServerResult<()> {
        crate::files::make_symlink(self, instance, link).await
    }

    async fn write_new_file(&self, instance: &str, file: &FileWrite) -> ServerResult<()> {
        crate::files::write_new_file(self, instance, file).await
    }

    fn image_source(&self, image: &str) -> ServerResult<ImageSource> {
        crate::remotes::image_source(self.conn.dialect, image, &process_env)
    }

    async fn image_fingerprint(&self, image: &ImageSource) -> ServerResult<Option<String>> {
        if image.remote.is_some() {
            // lxops cannot reach remote image servers itself: the daemon resolves (and pulls)
            // the image when it is used, and reports a missing one then. So the name stands in
            // for the fingerprint.
            tracing::debug!(%image, "remote image: resolved by the daemon when used");
            return Ok(Some(image.to_string()));
        }
        let context = format!("looking up image {:?}", image.image);
        let what = format!("image {:?}", image.image);
        let alias_url = self.url(&format!("/1.0/images/aliases/{}", encode(&image.image)));
        match self
            .sync(RawRequest::new(Method::GET, alias_url), &context, &what)
            .await
        {
            Ok(value) => {
                if let Some(target) = value.get("target").and_then(Value::as_str) {
                    return Ok(Some(target.to_string()));
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        if !image.image.bytes().all(|b| b.is_ascii_hexdigit()) || image.image.is_empty() {
            return Ok(None);
        }
        let image_url = self.url(&format!("/1.0/images/{}", encode(&image.image)));
        match self
            .sync(RawRequest::new(Method::GET, image_url), &context, &what)
            .await
        {
            Ok(value) => Ok(value
                .get("fingerprint")
                .and_then(Value::as_str)
                .map(str::to_string)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn publish_image(&self, publish: &PublishImage) -> ServerResult<String> {
        self.publish(publish).await
    }

    async fn images(&self) -> ServerResult<Vec<Image>> {
        self.list_images().await
    }

    async fn delete_image(&self, fingerprint: &str) -> ServerResult<()> {
        self.remove_image(fingerprint).await
    }

    async fn create_image_alias(
        &self,
        alias: &str,
        fingerprint: &str,
        description: &str,
    ) -> ServerResult<()> {
        self.create_alias(alias, fingerprint, description).await
    }

    async fn rename_image_alias(&self, alias: &str, new_name: &str) -> ServerResult<()> {
        self.rename_alias(alias, new_name).await
    }

    async fn delete_image_alias(&self, alias: &str) -> ServerResult<()> {
        self.remove_alias(alias).await
    }

    async fn export_image(
        &self,
        fingerprint: &str,
        dir: &std::path::Path,
        name: &str,
    ) -> ServerResult<ImageExport> {
        self.download_image(fingerprint, dir, name).await
    }

    async fn import_image(&self, upload: &ImageUpload) -> ServerResult<String> {
        self.upload_image(upload).await
    }

    async fn all_project_states(&self) -> ServerResult<Vec<ProjectInstanceState>> {
        self.states_of_all_projects().await
    }

    async fn storage_pool(&self, name: &str) -> ServerResult<Option<StoragePool>> {
        let context = format!("reading storage pool {name:?}");
        let what = format!("storage pool {name:?}");
        let mut url = format!("/1.0/storage-pools/{}", encode(name));
        // On a cluster a pool's `source` is per member: the member lxops talks to (whose host
        // is lxops' own over the unix socket).
        if let Some(member) = &self.conn.info.member {
            url.push_str(&format!("?target={}", encode(member)));
        }
        match self
            .sync(RawRequest::new(Method::GET, url), &context, &what)
            .await
        {
            Ok(value) => Ok(Some(parse::<PoolJson>(value, &context)?.into())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn storage_pool_names(&self) -> ServerResult<Vec<String>> {
        self.pool_names().await
    }

    async fn volume(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Option<Volume>> {
        self.get_volume(pool, name, target).await
    }

    async fn create_volume(&self, new: &NewVolume, target: Option<&str>) -> ServerResult<()> {
        self.post_volume(new, target).await
    }

    async fn copy_volume(
        &self,
        new: &NewVolume,
        source_pool: &str,
        source: &str,
        source_member: Option<&str>,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.post_volume_copy(new, source_pool, source, source_member, target)
            .await
    }

    async fn export_volume(
        &self,
        pool: &str,
        name: &str,
        file: &std::path::Path,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.export_volume_to(pool, name, file, target).await
    }

    async fn import_volume(
        &self,
        new: &NewVolume,
        file: &std::path::Path,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.import_volume_from(new, file, target).await
    }

    async fn delete_volume(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.remove_volume(pool, name, target).await
    }

    async fn rename_volume(
        &self,
        pool: &str,
        name: &str,
        new_name: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.move_volume(pool, name, new_name, target).await
    }

    async fn patch_volume_config(
        &self,
        pool: &str,
        name: &str,
        config: &lxops_core::server::ConfigMap,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.patch_volume(pool, name, config, target).await
    }

    async fn create_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.snapshot_volume(pool, name, snapshot, target).await
    }

    async fn restore_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.restore_volume(pool, name, snapshot, target).await
    }

    async fn delete_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        self.remove_volume_snapshot(pool, name, snapshot, target)
            .await
    }

    async fn volume_snapshots(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Vec<String>> {
        self.volume_snapshot_names(pool, name, target).await
    }
}

impl RestServer {
    /// The request body of `POST /1.0/images` for `publish` (the aliases are given in
    /// requests of their own, see `images`).
    pub fn publish_body(publish: &PublishImage) -> Value {
        crate::images::publish_body(publish)
    }
}
