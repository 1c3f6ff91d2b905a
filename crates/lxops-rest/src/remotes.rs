//! The user's client config (`config.yml`): which daemon to talk to (`--remote`, else
//! `default-remote`; `local` is the unix socket), remotes for `remote:alias` images, and the
//! current project.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lxops_core::server::{ImageSource, RemoteImageServer, ServerError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::dialect::Dialect;
use crate::discovery::{config_dir, EnvLookup};
use crate::tls::{RemoteFiles, TlsSetupError};
use crate::transport::HttpsEndpoint;

/// The parts of the CLI's `config.yml` that lxops reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    /// The remote used when none is named.
    #[serde(rename = "default-remote")]
    pub default_remote: String,
    /// Remotes by name.
    pub remotes: BTreeMap<String, RemoteEntry>,
}

/// One remote of `config.yml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct RemoteEntry {
    /// Address (`unix://` or `https://...`).
    pub addr: String,
    /// Protocol; empty means the daemon's own.
    pub protocol: String,
    /// Current project on this remote.
    pub project: String,
    /// Whether this is a public image server (no authentication).
    pub public: bool,
}

/// The daemon a client config chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The local daemon over its unix socket: the one the remote's `unix:///path` names, else
    /// the usual discovery.
    Local(Option<PathBuf>),
    /// A remote daemon over HTTPS.
    Https(HttpsEndpoint),
}

/// The chosen remote: its name, how to reach it, and its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The remote's name (`local` for the unix socket).
    pub remote: String,
    /// How to reach it.
    pub target: Target,
    /// The project: the dialect's project variable, else the remote's `project`, else
    /// `default`.
    pub project: String,
}

impl ClientConfig {
    /// Parses `config.yml` text; `source` names the file in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Self, ServerError> {
        serde_yaml::from_str(text).map_err(|e| {
            ServerError::Protocol(format!(
                "{}: not a valid client config: {e}; fix or remove the file",
                source.display()
            ))
        })
    }

    /// The built-in remotes of a CLI, as it behaves without a config file.
    pub fn builtin(dialect: &Dialect) -> Self {
        let mut remotes: BTreeMap<String, RemoteEntry> = dialect
            .builtin_remotes
            .iter()
            .map(|r| {
                (
                    r.name.to_string(),
                    RemoteEntry {
                        addr: r.addr.to_string(),
                        protocol: r.protocol.to_string(),
                        project: String::new(),
                        public: r.protocol == "simplestreams",
                    },
                )
            })
            .collect();
        remotes.insert(
            "local".into(),
            RemoteEntry {
                addr: "unix://".into(),
                ..Default::default()
            },
        );
        ClientConfig {
            default_remote: "local".into(),
            remotes,
        }
    }

    /// Reads the user's config (or the built-in one when there is no file).
    pub fn load(
        dialect: &Dialect,
        env: EnvLookup<'_>,
    ) -> Result<(Self, Option<PathBuf>), ServerError> {
        let Some(dir) = config_dir(dialect, env, &|p| p.exists()) else {
            return Ok((Self::builtin(dialect), None));
        };
        let file = dir.join("config.yml");
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok((Self::parse(&text, &file)?, Some(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok((Self::builtin(dialect), None))
            }
            Err(e) => Err(ServerError::Protocol(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }

    /// The name of the remote to talk to: `explicit` (`--remote`), else the dialect's remote
    /// variable (`INCUS_REMOTE`), else `default-remote`, else `local`.
    pub fn chosen_remote(
        &self,
        dialect: &Dialect,
        explicit: Option<&str>,
        env: EnvLookup<'_>,
    ) -> String {
        explicit
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .or_else(|| dialect.remote_env.and_then(env))
            .or_else(|| Some(self.default_remote.clone()).filter(|r| !r.is_empty()))
            .unwrap_or_else(|| "local".to_string())
    }

    /// The project of `remote`: the dialect's project variable, else the remote's `project`,
    /// else `default`.
    pub fn remote_project(&self, remote: &str, dialect: &Dialect, env: EnvLookup<'_>) -> String {
        if let Some(project) = dialect.project_env.and_then(env) {
            return project;
        }
        self.remotes
            .get(remote)
            .map(|r| r.project.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".to_string())
    }

    /// The current project: the dialect's project variable, else the default remote's
    /// `project`, else `default`.
    pub fn current_project(&self, dialect: &Dialect, env: EnvLookup<'_>) -> String {
        self.remote_project(&self.chosen_remote(dialect, None, env), dialect, env)
    }

    /// Chooses the daemon as the CLI does (see [`ClientConfig::chosen_remote`]). `dir` is the
    /// config directory (where `client.crt` and `servercerts/` are), `source` names the config
    /// for messages. Reads no file (the certificate files are read when the transport is made),
    /// it only looks whether the remote has its own client certificate.
    pub fn select(
        &self,
        dialect: &Dialect,
        explicit: Option<&str>,
        env: EnvLookup<'_>,
        dir: Option<&Path>,
        source: &str,
    ) -> Result<Selection, ServerError> {
        let remote = self.chosen_remote(dialect, explicit, env);
        let project = self.remote_project(&remote, dialect, env);
        let bad = |problem: String, hint: String| ServerError::Remote {
            remote: remote.clone(),
            problem,
            hint,
        };
        let cli = dialect.cli;
        let Some(entry) = self.remotes.get(&remote) else {
            if remote == "local" {
                return Ok(Selection {
                    remote,
                    target: Target::Local(None),
                    project,
                });
            }
            let known: Vec<&str> = self.remotes.keys().map(String::as_str).collect();
            return Err(bad(
                format!("no such remote in {source} (known: {})", known.join(", ")),
                format!(
                    "choose one of the known remotes with --remote, or add this one with `{cli} \
                     remote add {remote} https://ADDRESS:8443`"
                ),
            ));
        };
        let protocol = if entry.protocol.is_empty() {
            dialect.default_remote_protocol
        } else {
            entry.protocol.as_str()
        };
        if entry.public || !matches!(protocol, "lxd" | "incus") {
            return Err(bad(
                format!(
                    "in {source} it is {}protocol {protocol:?}, not an LXD or Incus daemon that \
                     runs instances",
                    if entry.public {
                        "a public image server with "
                    } else {
                        ""
                    }
                ),
                "choose a remote whose protocol is lxd or incus with --remote; image servers \
                 are named only in `image: remote:alias`"
                    .to_string(),
            ));
        }
        if let Some(path) = entry.addr.strip_prefix("unix://") {
            let socket = (!path.is_empty()).then(|| PathBuf::from(path));
            return Ok(Selection {
                remote,
                target: Target::Local(socket),
                project,
            });
        }
        let url = entry.addr.trim_end_matches('/');
        if !url.starts_with("https://") || url.len() == "https://".len() {
            return Err(bad(
                format!(
                    "in {source} its address {:?} is neither https://HOST[:PORT] nor unix://",
                    entry.addr
                ),
                format!("fix `addr` of remote {remote:?} in {source}"),
            ));
        }
        let Some(dir) = dir else {
            return Err(bad(
                "there is no client config directory for its certificates".to_string(),
                format!("set {} or HOME", dialect.config_env),
            ));
        };
        Ok(Selection {
            target: Target::Https(HttpsEndpoint {
                remote: remote.clone(),
                url: url.to_string(),
                files: RemoteFiles::find(dir, &remote),
            }),
            remote,
            project,
        })
    }

    /// Parses `[remote:]image` against these remotes. `local:` and names without a remote
    /// are local images; a remote without a protocol speaks the dialect's own. `source` names
    /// where the remotes come from, for errors. No certificate is read here (see
    /// [`image_source`]).
    pub fn image_source(
        &self,
        dialect: &Dialect,
        image: &str,
        source: &str,
    ) -> Result<ImageSource, ServerError> {
        let Some((remote, name)) = image.split_once(':') else {
            return Ok(ImageSource::local(image));
        };
        let Some(entry) = self.remotes.get(remote) else {
            return Err(ServerError::NotFound {
                what: format!(
                    "image remote {remote:?} (of image {image:?}; remotes come from {source})"
                ),
            });
        };
        if entry.addr.starts_with("unix:") {
            return Ok(ImageSource::local(name));
        }
        Ok(ImageSource {
            image: name.to_string(),
            remote: Some(RemoteImageServer {
                name: remote.to_string(),
                addr: entry.addr.clone(),
                protocol: if entry.protocol.is_empty() {
                    dialect.default_remote_protocol.to_string()
                } else {
                    entry.protocol.clone()
                },
                certificate: None,
            }),
        })
    }
}

/// A certificate file of `endpoint` that is missing or unusable, as a bad-remote error with
/// what to do.
pub fn tls_setup_error(
    dialect: &Dialect,
    endpoint: &HttpsEndpoint,
    error: TlsSetupError,
) -> ServerError {
    let cli = dialect.cli;
    let name = &endpoint.remote;
    let hint = if error.is_server_cert() {
        format!(
            "pin the server's certificate again: `{cli} remote remove {name}` then `{cli} remote \
             add {name} {}`",
            endpoint.url
        )
    } else {
        format!(
            "`{cli} remote add` creates client.crt and client.key on first use; or put your own \
             PEM certificate and key there and trust the certificate on the server with `{cli} \
             {}`",
            dialect.trust_add
        )
    };
    ServerError::Remote {
        remote: name.clone(),
        problem: error.to_string(),
        hint,
    }
}

/// `InstanceServer::image_source` for a dialect: reads the user's client config, parses `image`,
/// and takes a remote's certificate from `servercerts/<remote>.crt` beside `config.yml`
/// (where the CLI keeps it), so that the daemon trusts a self-signed image server.
pub fn image_source(
    dialect: &Dialect,
    image: &str,
    env: EnvLookup<'_>,
) -> Result<ImageSource, ServerError> {
    if !image.contains(':') {
        return Ok(ImageSource::local(image));
    }
    let (config, file) = ClientConfig::load(dialect, env)?;
    let source = match &file {
        Some(file) => file.display().to_string(),
        None => format!("the built-in remotes of {}", dialect.cli),
    };
    let mut image = config.image_source(dialect, image, &source)?;
    if let (Some(remote), Some(dir)) = (&mut image.remote, file.as_deref().and_then(Path::parent)) {
        remote.certificate = server_certificate(dir, &remote.name)?;
    }
    Ok(image)
}

/// `dir/servercerts/<remote>.crt`, if the CLI stored one.
fn server_certificate(dir: &Path, remote: &str) -> Result<Option<String>, ServerError> {
    let path = dir.join("servercerts").join(format!("{remote}.crt"));
    match std::fs::read_to_string(&path) {
        Ok(pem) => Ok(Some(pem)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ServerError::Protocol(format!(
            "cannot read the certificate of remote {remote:?} from {}: {e}",
            path.display()
        ))),
    }
}

/// The `source` object of a create or rebuild request for an image.
pub fn image_source_json(image: &ImageSource) -> Value {
    let mut source = Map::new();
    source.insert("type".into(), json!("image"));
    if looks_like_fingerprint(&image.image) && image.remote.is_none() {
        source.insert("fingerprint".into(), json!(image.image));
    } else {
        source.insert("alias".into(), json!(image.image));
    }
    if let Some(remote) = &image.remote {
        source.insert("server".into(), json!(remote.addr));
        source.insert("protocol".into(), json!(remote.protocol));
        source.insert("mode".into(), json!("pull"));
        if let Some(certificate) = &remote.certificate {
            source.insert("certificate".into(), json!(certificate));
        }
    }
    Value::Object(source)
}

/// Whether a local image name is a fingerprint (prefix): at least 12 hex digits.
pub fn looks_like_fingerprint(name: &str) -> bool {
    name.len() >= 12 && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}
