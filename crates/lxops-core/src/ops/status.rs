//! `status`: compares each config with what the server and the host have, and lists every
//! difference (drift): a missing or stopped instance, an image newer than the one it was built
//! from, profiles attached in another order, a per-instance profile whose devices differ from
//! the plan, missing filesystems and device directories, and a launch that was interrupted.
//!
//! It reads in bulk: one instance list per project (`recursion`), one look-up per distinct
//! image, and the per-instance profiles and host checks a few at a time.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::blocking;
use super::devices::{disk_devices, source_setup};
use super::error::OpsError;
use crate::config;
use crate::host::{self, HostRunner, PathKind};
use crate::lifecycle::LifecycleError;
use crate::plan::{launch_profiles, lxops_profile, profile_differences};
use crate::server::{Instance, InstanceServer};

/// How many per-instance reads run at once.
const READS_AT_ONCE: usize = 8;

/// The instance config key that names the image an instance was built from.
const BASE_IMAGE_KEY: &str = "volatile.base_image";

/// One way an instance differs from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// The instance does not exist.
    Missing,
    /// The instance's launch was interrupted before it finished: run `launch` again.
    LaunchUnfinished,
    /// The instance lives on a cluster member that cannot be reached (the daemon lists it with
    /// status `Error` and no config): nothing else about it can be compared.
    MemberUnreachable {
        /// The member.
        member: String,
    },
    /// The instance exists but does not run.
    NotRunning {
        /// Its status (`Stopped`, `Frozen`, ...).
        status: String,
    },
    /// The config's image now is another image than the instance was built from.
    ImageOutdated {
        /// The config's image.
        image: String,
        /// The fingerprint the instance was built from.
        built_from: String,
        /// The fingerprint the config's image has now.
        current: String,
    },
    /// The config's image does not exist on the server.
    ImageMissing {
        /// The config's image.
        image: String,
    },
    /// The instance's profiles (or their order) differ from the config's.
    Profiles {
        /// What the instance has, in order.
        actual: Vec<String>,
        /// What the config gives, in order.
        wanted: Vec<String>,
    },
    /// The per-instance profile does not exist.
    ProfileMissing {
        /// The profile.
        profile: String,
    },
    /// The per-instance profile's devices differ from the plan.
    ProfileDevices {
        /// The profile.
        profile: String,
        /// One line per difference.
        differences: Vec<String>,
    },
    /// A filesystem does not exist.
    FilesystemMissing {
        /// Its id in the config.
        id: String,
        /// Its dataset or directory.
        path: String,
    },
    /// A device directory does not exist.
    DeviceDirMissing {
        /// The device.
        device: String,
        /// Its host directory.
        dir: PathBuf,
    },
}

impl Difference {
    /// A short stable name of the kind of difference (for machine-readable output).
    pub fn kind(&self) -> &'static str {
        match self {
            Difference::Missing => "missing",
            Difference::LaunchUnfinished => "launch-unfinished",
            Difference::MemberUnreachable { .. } => "member-unreachable",
            Difference::NotRunning { .. } => "not-running",
            Difference::ImageOutdated { .. } => "image-outdated",
            Difference::ImageMissing { .. } => "image-missing",
            Difference::Profiles { .. } => "profiles",
            Difference::ProfileMissing { .. } => "profile-missing",
            Difference::ProfileDevices { .. } => "profile-devices",
            Difference::FilesystemMissing { .. } => "filesystem-missing",
            Difference::DeviceDirMissing { .. } => "device-dir-missing",
        }
    }
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing => write!(f, "instance does not exist: launch it"),
            Difference::LaunchUnfinished => write!(
                f,
                "the launch was interrupted before it finished: run the same launch again"
            ),
            Difference::MemberUnreachable { member } => write!(
                f,
                "cluster member {member}, where the instance lives, cannot be reached: start it"
            ),
            Difference::NotRunning { status } => {
                write!(f, "instance is {status}, not Running: start it")
            }
            Difference::ImageOutdated {
                image,
                built_from,
                current,
            } => write!(
                f,
                "image {image} is now {}, the instance was built from {}: rebuild it",
                short(current),
                short(built_from)
            ),
            Difference::ImageMissing { image } => {
                write!(f, "image {image} does not exist on the server")
            }
            Difference::Profiles { actual, wanted } => write!(
                f,
                "profiles are [{}], the config wants [{}]: run `profile apply`",
                actual.join(", "),
                wanted.join(", ")
            ),
            Difference::ProfileMissing { profile } => {
                write!(f, "profile {profile} does not exist: run create-profile")
            }
            Difference::ProfileDevices {
                profile,
                differences,
            } => write!(
                f,
                "profile {profile} differs from the config: {}",
                differences.join("; ")
            ),
            Difference::FilesystemMissing { id, path } => write!(
                f,
                "filesystem {id} ({path}) does not exist: run create-devices"
            ),
            Difference::DeviceDirMissing { device, dir } => write!(
                f,
                "device {device}: directory {} does not exist: run create-devices",
                dir.display()
            ),
        }
    }
}

/// What `status` found for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The instance.
    pub name: String,
    /// Its project.
    pub project: String,
    /// Its status on the server (`Running`, `Stopped`, ...), `None` when it does not exist.
    pub state: Option<String>,
    /// The cluster member it lives on; `None` on a standalone server or when it does not exist.
    pub location: Option<String>,
    /// Every difference from its config; empty when it matches.
    pub differences: Vec<Difference>,
}

impl InstanceStatus {
    /// Whether the instance matches its config.
    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Compares every instance with its config (see the module docs). `server` may be in any
/// project: each instance is read in its own.
pub async fn status(
    server: Arc<dyn InstanceServer>,
    host: Arc<dyn HostRunner>,
    instances: &[config::Instance],
) -> Result<Vec<InstanceStatus>, OpsError> {
    let mut listed: BTreeMap<String, BTreeMap<String, Instance>> = BTreeMap::new();
    let mut fingerprints: BTreeMap<(String, String), ImageNow> = BTreeMap::new();
    for instance in instances {
        let view = in_project(&server, &instance.project);
        let project = view.project().to_string();
        if !listed.contains_key(&project) {
            let all = view
                .instances()
                .await
                .map_err(|e| server_err(&instance.name, "listing instances", e))?;
            let by_name = all.into_iter().map(|i| (i.name.clone(), i)).collect();
            listed.insert(project.clone(), by_name);
        }
        let key = (project, instance.image.clone());
        if uses_image(instance) && !fingerprints.contains_key(&key) {
            let fingerprint = image_fingerprint(view.as_ref(), instance).await?;
            fingerprints.insert(key, fingerprint);
        }
    }
    let (listed, fingerprints) = (&listed, &fingerprints);
    stream::iter(instances)
        .map(|instance| {
            let server = in_project(&server, &instance.project);
            let host = host.clone();
            async move {
                let project = server.project().to_string();
                let live = listed
                    .get(&project)
                    .and_then(|by_name| by_name.get(&instance.name));
                let fingerprint = fingerprints
                    .get(&(project, instance.image.clone()))
                    .cloned()
                    .unwrap_or(ImageNow::Remote);
                compare(server.as_ref(), host, instance, live, fingerprint).await
            }
        })
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await
}

/// The server in `project`; an empty project is the server's own (the client's current one).
fn in_project(server: &Arc<dyn InstanceServer>, project: &str) -> Arc<dyn InstanceServer> {
    if project.is_empty() || project == server.project() {
        server.clone()
    } else {
        server.for_project(project)
    }
}

/// Whether the instance is built from `image` (not copied from `origin`).
fn uses_image(instance: &config::Instance) -> bool {
    instance.origin.as_deref().is_none_or(str::is_empty) && !instance.image.is_empty()
}

/// What the config's image is on the server now.
#[derive(Debug, Clone)]
enum ImageNow {
    /// This fingerprint.
    Known(String),
    /// There is no such image.
    Missing,
    /// It is on a remote image server, which the daemon resolves: nothing to compare with.
    Remote,
}

async fn image_fingerprint(
    server: &dyn InstanceServer,
    instance: &config::Instance,
) -> Result<ImageNow, OpsError> {
    let source = super::launch::image_source(server, instance)?;
    if source.remote.is_some() {
        return Ok(ImageNow::Remote);
    }
    let fingerprint = server
        .image_fingerprint(&source)
        .await
        .map_err(|e| server_err(&instance.name, "looking up the image", e))?;
    Ok(fingerprint.map_or(ImageNow::Missing, ImageNow::Known))
}

/// How a cluster lists an instance whose member is down: status `Error`, no profiles and no
/// config (every instance has at least `volatile.*` keys).
fn on_unreachable_member(live: &Instance) -> bool {
    live.status == "Error" && live.member().is_some() && live.config.is_empty()
}

async fn compare(
    server: &dyn InstanceServer,
    host: Arc<dyn HostRunner>,
    instance: &config::Instance,
    live: Option<&Instance>,
    image: ImageNow,
) -> Result<InstanceStatus, OpsError> {
    let mut differences = Vec::new();
    if let Some(member) = live
        .filter(|l| on_unreachable_member(l))
        .and_then(Instance::member)
    {
        return Ok(InstanceStatus {
            name: instance.name.clone(),
            project: server.project().to_string(),
            state: live.map(|l| l.status.clone()),
            location: Some(member.to_string()),
            differences: vec![Difference::MemberUnreachable {
                member: member.to_string(),
            }],
        });
    }
    match live {
        None => differences.push(Difference::Missing),
        Some(live) => {
            if crate::lifecycle::launch_pending(live) {
                differences.push(Difference::LaunchUnfinished);
            }
            if !live.is_running() {
                differences.push(Difference::NotRunning {
                    status: live.status.clone(),
                });
            }
            if uses_image(instance) {
                match (&image, live.config.get(BASE_IMAGE_KEY)) {
                    (ImageNow::Missing, _) => differences.push(Difference::ImageMissing {
                        image: instance.image.clone(),
                    }),
                    (ImageNow::Known(current), Some(built_from)) if current != built_from => {
                        differences.push(Difference::ImageOutdated {
                            image: instance.image.clone(),
                            built_from: built_from.clone(),
                            current: current.clone(),
                        })
                    }
                    _ => {}
                }
            }
            let options = crate::plan::parse_lxc_options(&instance.lxc_options).unwrap_or_default();
            let wanted = launch_profiles(&instance.profiles, &instance.profile, &options);
            if live.profiles != wanted {
                differences.push(Difference::Profiles {
                    actual: live.profiles.clone(),
                    wanted,
                });
            }
        }
    }
    let setup = source_setup(instance);
    let name = instance.name.clone();
    let (missing, sources) = blocking(move || {
        let list = host::ops::list_filesystems(host.as_ref(), &setup.filesystems)
            .map_err(|e| OpsError::host(&name, e))?;
        let mut missing: Vec<Difference> = list
            .rows
            .iter()
            .filter(|row| !row.exists)
            .map(|row| Difference::FilesystemMissing {
                id: row.id.clone(),
                path: row.path.clone(),
            })
            .collect();
        let sources =
            host::device_sources(host.as_ref(), &setup).map_err(|e| OpsError::host(&name, e))?;
        for (device, dir) in &sources {
            let kind = host.path_kind(dir).map_err(|e| OpsError::host(&name, e))?;
            if kind != Some(PathKind::Dir) {
                missing.push(Difference::DeviceDirMissing {
                    device: device.clone(),
                    dir: dir.clone(),
                });
            }
        }
        Ok((missing, sources))
    })
    .await?;
    let wanted = lxops_profile(
        &instance.profile,
        &instance.file,
        &host::instance_mark(&instance.project, &instance.name),
        &disk_devices(
            instance,
            &sources,
            super::volumes::volume_layout(server, &instance.name).await?,
        )?,
    );
    let profile = server
        .profile(&instance.profile)
        .await
        .map_err(|e| server_err(&instance.name, "looking up the lxops profile", e))?;
    match profile {
        None => differences.push(Difference::ProfileMissing {
            profile: instance.profile.clone(),
        }),
        Some(actual) => {
            let diff = profile_differences(&actual, &wanted);
            if !diff.is_empty() {
                differences.push(Difference::ProfileDevices {
                    profile: instance.profile.clone(),
                    differences: diff,
                });
            }
        }
    }
    differences.extend(missing);
    Ok(InstanceStatus {
        name: instance.name.clone(),
        project: server.project().to_string(),
        state: live.map(|l| l.status.clone()),
        location: live.and_then(|l| l.member()).map(str::to_string),
        differences,
    })
}

fn server_err(name: &str, doing: &str, e: crate::server::ServerError) -> OpsError {
    LifecycleError::server(name, doing, e).into()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cloudconfig::OsTypes;
    use crate::host::SystemHost;
    use crate::lifecycle::WaitOptions;
    use crate::ops::test_support::dir_instance;
    use crate::ops::{launch, prepare_launch, Env, LaunchSources};
    use crate::server::fake::FakeServer;
    use crate::server::{InstanceUpdate, StopMode};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Launches `web1` and `web2` for real on a fake server and a temporary directory, lets
    /// `drift` change something, and returns each instance's differences (their kinds).
    fn drifted(drift: impl FnOnce(&FakeServer, &Path)) -> Vec<(String, Vec<String>)> {
        let tmp = tempfile::tempdir().unwrap();
        let server = FakeServer::new();
        server.add_image("img");
        let instances = [
            dir_instance(tmp.path(), "web1"),
            dir_instance(tmp.path(), "web2"),
        ];
        let env = Env {
            server: Arc::new(server.clone()),
            host: Arc::new(SystemHost::new()),
            os_types: Arc::new(OsTypes::builtin()),
            wait: WaitOptions::default(),
            dry_run: false,
        };
        block_on(async {
            for instance in &instances {
                let prepared = prepare_launch(&env, instance.clone(), LaunchSources::default())
                    .await
                    .unwrap();
                launch(&env, prepared, &mut Vec::<u8>::new()).await.unwrap();
            }
        });
        drift(&server, tmp.path());
        let found = block_on(status(env.server.clone(), env.host.clone(), &instances)).unwrap();
        found
            .into_iter()
            .map(|s| {
                let kinds = s.differences.iter().map(|d| d.kind().to_string()).collect();
                (s.name, kinds)
            })
            .collect()
    }

    #[test]
    fn a_launched_fleet_matches_and_each_kind_of_drift_is_found() {
        type Drift = fn(&FakeServer, &Path);
        let cases: [(&str, Drift, &[&str]); 9] = [
            ("nothing changed", |_, _| {}, &[]),
            (
                "deleted",
                |s, _| {
                    block_on(async {
                        s.stop_instance("web1", StopMode::Force).await.unwrap();
                        s.delete_instance("web1").await.unwrap();
                    })
                },
                &["missing"],
            ),
            (
                "launch interrupted",
                |s, _| {
                    let pending = [("user.lxops.launch".to_string(), "pending".to_string())];
                    block_on(s.patch_instance_config("web1", &pending.into())).unwrap()
                },
                &["launch-unfinished"],
            ),
            (
                "stopped",
                |s, _| block_on(s.stop_instance("web1", StopMode::Force)).unwrap(),
                &["not-running"],
            ),
            (
                "new image published",
                |s, _| s.set_image("img", &"f".repeat(64)),
                &["image-outdated"],
            ),
            (
                "profiles reordered",
                |s, _| {
                    let update = InstanceUpdate {
                        profiles: vec!["web1.lxops".into(), "default".into()],
                        ..Default::default()
                    };
                    block_on(s.update_instance("web1", &update)).unwrap()
                },
                &["profiles"],
            ),
            (
                "profile device changed",
                |s, _| {
                    let mut profile = block_on(s.profile("web1.lxops")).unwrap().unwrap();
                    let srv = profile.devices.get_mut("srv").unwrap();
                    srv.insert("path".into(), "/elsewhere".into());
                    block_on(s.update_profile(&profile)).unwrap()
                },
                &["profile-devices"],
            ),
            (
                "device directory removed",
                |_, root| std::fs::remove_dir(root.join("web1/srv")).unwrap(),
                &["device-dir-missing"],
            ),
            (
                "filesystem removed",
                |_, root| std::fs::remove_dir_all(root.join("web1")).unwrap(),
                &["filesystem-missing", "device-dir-missing"],
            ),
        ];
        for (what, drift, want) in cases {
            let found = drifted(drift);
            assert_eq!(found[0].0, "web1");
            let want: Vec<String> = want.iter().map(|k| k.to_string()).collect();
            assert_eq!(found[0].1, want, "{what}");
            let want_web2: Vec<String> = match what {
                // Both instances use the image.
                "new image published" => vec!["image-outdated".into()],
                _ => vec![],
            };
            assert_eq!(found[1].1, want_web2, "{what}: web2");
        }
    }

    #[test]
    fn differences_say_what_to_do() {
        let cases = [
            (Difference::Missing, "instance does not exist: launch it"),
            (
                Difference::ImageOutdated {
                    image: "alpine".into(),
                    built_from: "0123456789abcdef".into(),
                    current: "fedcba9876543210".into(),
                },
                "image alpine is now fedcba987654, the instance was built from 0123456789ab: rebuild it",
            ),
            (
                Difference::Profiles {
                    actual: vec!["a.lxops".into(), "default".into()],
                    wanted: vec!["default".into(), "a.lxops".into()],
                },
                "profiles are [a.lxops, default], the config wants [default, a.lxops]: run `profile apply`",
            ),
        ];
        for (difference, text) in cases {
            assert_eq!(difference.to_string(), text);
        }
    }
}
