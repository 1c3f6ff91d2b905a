//! `extract`: initialise an instance's new device directories from the files of its config's
//! image. A temporary instance `extract-<8 letters>` is created from the image (stopped, never
//! started, with the server's default profile), its root filesystem is found through its root
//! disk's storage pool (`dir`: the `rootfs` directory; `zfs`: its dataset, mounted read-only),
//! the filesystems and device directories are created as `create-devices` does, and each new
//! device directory on a non-transient filesystem gets a copy of the image's directory at the
//! device's path, its ids shifted by the device owner (`device-owner`, else the host ids that
//! root maps to in the temporary instance). Existing device directories on existing filesystems
//! are never touched. The temporary instance is deleted in the end, also after an error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::devices::{device_setup, parse_owner};
use super::error::OpsError;
use super::launch::{image_source, print_lines, root_owner};
use super::{blocking, Env};
use crate::config;
use crate::host::{self, ops::RootfsCopy, ops::RootfsLocation, DevicePlan, Owner};
use crate::lifecycle::{LifecycleError, Progress};
use crate::server::{ImageSource, Instance, InstanceServer, InstanceSource, NewInstance};

/// A fresh temporary instance name: `extract-` and 8 random letters a-z.
fn temporary_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    let mut x = hasher.finish();
    let letters: String = (0..8)
        .map(|_| {
            let c = char::from(b'a' + (x % 26) as u8);
            x /= 26;
            c
        })
        .collect();
    format!("extract-{letters}")
}

/// `extract`: see the module docs. With `env.dry_run` the steps are printed and nothing changes
/// (no temporary instance either).
pub async fn extract(
    env: &Env,
    instance: &config::Instance,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    extract_as(env, instance, &temporary_name(), progress).await
}

/// What the host side of an extract will do, found before anything changes.
struct HostWork {
    plan: DevicePlan,
    copies: Vec<RootfsCopy>,
}

/// Plans the filesystems and device directories, and the copies: every device on a
/// non-transient filesystem, unless the filesystem exists and so does the device directory.
async fn plan_host(
    env: &Env,
    instance: &config::Instance,
    owner: Option<Owner>,
    progress: &mut dyn Progress,
) -> Result<HostWork, OpsError> {
    let setup = device_setup(instance, owner, None, None)?;
    let mut devices: Vec<&config::InstanceDevice> = instance.devices.iter().collect();
    devices.sort_by(|a, b| (&a.filesystem, &a.name).cmp(&(&b.filesystem, &b.name)));
    let candidates: Vec<(String, String, String)> = devices
        .into_iter()
        .filter_map(|d| {
            let fs = instance.filesystem(d.filesystem.as_deref()?)?;
            (!fs.transient).then(|| (d.name.clone(), d.path.clone(), fs.id.clone()))
        })
        .collect();
    let host = env.host.clone();
    let name = instance.name.clone();
    let (plan, copies, kept) = blocking(move || {
        let err = |e| OpsError::host(&name, e);
        let host = host.as_ref();
        let plan = host::plan_devices(host, &setup).map_err(err)?;
        let dirs: BTreeMap<String, PathBuf> = host::device_sources(host, &setup).map_err(err)?;
        let existing: Vec<String> = host::ops::list_filesystems(host, &setup.filesystems)
            .map_err(err)?
            .rows
            .into_iter()
            .filter(|row| row.exists)
            .map(|row| row.id)
            .collect();
        let (mut copies, mut kept) = (Vec::new(), Vec::new());
        for (device, path, fs) in candidates {
            let Some(dir) = dirs.get(&device) else {
                continue;
            };
            if existing.contains(&fs) && host.path_kind(dir).map_err(err)?.is_some() {
                kept.push(format!(
                    "keep {} (device {device}: exists; nothing copied)",
                    dir.display()
                ));
                continue;
            }
            copies.push(RootfsCopy {
                path,
                to: dir.clone(),
            });
        }
        Ok((plan, copies, kept))
    })
    .await?;
    if !env.dry_run {
        // A dry run prints the plan, which has these lines.
        for line in kept {
            progress.step(&line);
        }
    }
    Ok(HostWork { plan, copies })
}

/// Checks the server side before anything changes: the config's profiles and its image exist.
async fn check_server(
    server: &dyn InstanceServer,
    instance: &config::Instance,
    image: &ImageSource,
) -> Result<(), OpsError> {
    let name = instance.name.as_str();
    if !instance.profiles.is_empty() {
        let names = server
            .profile_names()
            .await
            .map_err(|e| LifecycleError::server(name, "listing profiles", e))?;
        let missing: Vec<&str> = instance
            .profiles
            .iter()
            .filter(|p| !names.contains(p))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(LifecycleError::MissingProfiles {
                instance: name.to_string(),
                profiles: missing.join(", "),
            }
            .into());
        }
    }
    let found = server
        .image_fingerprint(image)
        .await
        .map_err(|e| LifecycleError::server(name, format!("looking up image {image}"), e))?;
    if found.is_none() {
        return Err(LifecycleError::ImageMissing {
            instance: name.to_string(),
            image: image.to_string(),
        }
        .into());
    }
    Ok(())
}

/// [`extract`] with a given temporary instance name.
pub(crate) async fn extract_as(
    env: &Env,
    instance: &config::Instance,
    temporary: &str,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let file = instance.file.display().to_string();
    let name = instance.name.as_str();
    if instance.image.is_empty() {
        return Err(OpsError::Input(format!(
            "{file}: image is empty: extract copies files out of the config's image; set `image`"
        )));
    }
    let owner = match instance.device_owner.as_deref().filter(|o| !o.is_empty()) {
        Some(o) => Some(parse_owner(&file, o)?),
        None => None,
    };
    let server = env.server.as_ref();
    let image = image_source(server, instance)?;
    progress.step(&format!("extract {name}"));
    let work = plan_host(env, instance, owner, progress).await?;
    check_server(server, instance, &image).await?;
    progress.step(&format!(
        "create temporary instance {temporary} from image {image} (never started)"
    ));
    if env.dry_run {
        print_lines(progress, &work.plan.to_string());
        if owner.is_none() && !work.plan.changes_nothing() {
            progress.step(&format!(
                "chown the new device directories to the ids root has in {temporary}"
            ));
        }
        let shift = owner.map_or_else(
            || format!("the ids root has in {temporary}"),
            |o| o.to_string(),
        );
        for copy in &work.copies {
            progress.step(&format!(
                "copy image {} -> {} if it is a directory there (ids shifted by {shift})",
                copy.path,
                copy.to.display()
            ));
        }
        progress.step(&format!("delete temporary instance {temporary}"));
        return Ok(());
    }
    let new = NewInstance {
        ephemeral: false,
        instance_type: None,
        name: temporary.to_string(),
        source: InstanceSource::Image(image),
        profiles: Vec::new(),
        config: Default::default(),
        devices: Default::default(),
        vm: false,
        description: format!("lxops extract of {name} (temporary)"),
        // On a cluster, on the member lxops talks to: its root filesystem is read on this host.
        target: server.info().await.ok().and_then(|info| info.member),
    };
    if let Err(e) = server.create_instance(&new).await {
        // A daemon may leave a half-created instance behind.
        let _ = server.delete_instance(temporary).await;
        return Err(LifecycleError::server(temporary, "creating the temporary instance", e).into());
    }
    let result = fill_devices(env, instance, temporary, owner, work, progress).await;
    let deleted = server.delete_instance(temporary).await;
    match (&result, deleted) {
        (_, Ok(())) => progress.step(&format!("deleted temporary instance {temporary}")),
        (Ok(()), Err(e)) => {
            return Err(LifecycleError::server(
                temporary,
                "deleting the temporary instance (delete it yourself)",
                e,
            )
            .into())
        }
        (Err(_), Err(e)) => progress.step(&format!(
            "could not delete temporary instance {temporary}: {e}; delete it yourself"
        )),
    }
    result
}

/// Where the temporary instance's root filesystem is on the host.
async fn rootfs_location(
    server: &dyn InstanceServer,
    temporary: &str,
) -> Result<RootfsLocation, OpsError> {
    let refused = |message: String| LifecycleError::Refused {
        instance: temporary.to_string(),
        message,
    };
    let instance: Instance = server
        .instance(temporary)
        .await
        .map_err(|e| LifecycleError::server(temporary, "looking up the instance", e))?
        .ok_or_else(|| refused("the instance disappeared".into()))?;
    let is_root = |d: &crate::server::Device| {
        d.get("type").map(String::as_str) == Some("disk")
            && d.get("path").map(String::as_str) == Some("/")
    };
    let root = instance
        .expanded_devices
        .get("root")
        .filter(|d| is_root(d))
        .or_else(|| instance.expanded_devices.values().find(|d| is_root(d)))
        .ok_or_else(|| {
            refused(
                "it has no root disk device (a disk with path /); check the default profile".into(),
            )
        })?;
    let pool_name = root
        .get("pool")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| refused("its root disk device names no storage pool".into()))?;
    let pool = server
        .storage_pool(pool_name)
        .await
        .map_err(|e| {
            LifecycleError::server(temporary, format!("reading storage pool {pool_name}"), e)
        })?
        .ok_or_else(|| refused(format!("storage pool {pool_name} does not exist")))?;
    let project = server.project();
    let volume = if project.is_empty() || project == "default" {
        temporary.to_string()
    } else {
        format!("{project}_{temporary}")
    };
    match pool.driver.as_str() {
        "dir" if !pool.source.is_empty() => Ok(RootfsLocation::Dir(
            PathBuf::from(&pool.source)
                .join("containers")
                .join(volume)
                .join("rootfs"),
        )),
        "zfs" if !pool.dataset.is_empty() => Ok(RootfsLocation::ZfsDataset(format!(
            "{}/containers/{volume}",
            pool.dataset
        ))),
        driver => {
            Err(OpsError::Unsupported(format!(
            "extract: storage pool {pool_name} has driver {driver:?}{}; extract reads images from \
             dir and zfs pools only: use a profile whose root disk is on such a pool",
            if pool.source.is_empty() { " and no source" } else { "" }
        )))
        }
    }
}

/// Creates the filesystems and device directories and copies the image's directories into the
/// new ones.
async fn fill_devices(
    env: &Env,
    instance: &config::Instance,
    temporary: &str,
    owner: Option<Owner>,
    work: HostWork,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let server = env.server.as_ref();
    let rootfs = rootfs_location(server, temporary).await?;
    let shift = match owner {
        Some(owner) => owner,
        None => root_owner(server, temporary).await?,
    };
    progress.step(&format!("image files of {temporary}: {rootfs}"));
    let host = env.host.clone();
    let name = instance.name.clone();
    let lines = blocking(move || {
        let err = |e| OpsError::host(&name, e);
        let host = host.as_ref();
        let report = host::apply_devices(host, &work.plan).map_err(err)?;
        let mut lines: Vec<String> = report
            .created_filesystems
            .iter()
            .map(|f| format!("created filesystem {f}"))
            .collect();
        lines.extend(
            report
                .created_dirs
                .iter()
                .map(|d| format!("created directory {}", d.display())),
        );
        if owner.is_none() && !report.created_dirs.is_empty() {
            host::chown_paths(host, &report.created_dirs, shift).map_err(err)?;
            lines.push(format!("chown {shift} new device directories"));
        }
        let copies: Vec<RootfsCopy> = work
            .copies
            .into_iter()
            .filter(|c| report.created_dirs.contains(&c.to))
            .collect();
        if !copies.is_empty() {
            lines.extend(host::ops::copy_from_rootfs(host, &rootfs, &copies, shift).map_err(err)?);
        }
        Ok(lines)
    })
    .await?;
    for line in lines {
        progress.step(&line);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::cloudconfig::OsTypes;
    use crate::config::{DeviceDir, FsKind, InstanceDevice, InstanceFilesystem};
    use crate::host::DryRunHost;
    use crate::lifecycle::WaitOptions;
    use crate::server::fake::FakeServer;
    use crate::server::{Profile, StoragePool};

    fn instance(root: &Path, image: &str) -> config::Instance {
        let fs = |id: &str, transient| InstanceFilesystem {
            id: id.into(),
            kind: FsKind::Dir,
            path: root.join(id).join("a1").display().to_string(),
            zfsproperties: BTreeMap::new(),
            transient,
            destroy: false,
        };
        let device = |name: &str, path: &str, fs: &str| InstanceDevice {
            name: name.into(),
            path: path.into(),
            filesystem: Some(fs.into()),
            dir: DeviceDir::Relative(name.into()),
            readonly: false,
        };
        config::Instance {
            target: None,
            name: "a1".into(),
            file: root.join("a1.yaml"),
            description: String::new(),
            project: "default".into(),
            ostype: String::new(),
            image: image.into(),
            origin: None,
            device_template: None,
            device_origin: None,
            source_config: None,
            lxc_options: Vec::new(),
            profiles: vec!["default".into()],
            profile: "a1.lxops".into(),
            device_owner: Some("1000:1000".into()),
            filesystems: vec![fs("data", false), fs("tmp", true)],
            devices: vec![device("etc", "/etc", "data"), device("t", "/tmp", "tmp")],
            properties: BTreeMap::new(),
            cloud_config_files: Vec::new(),
        }
    }

    fn server(driver: &str, source: &str) -> FakeServer {
        let server = FakeServer::new();
        server.add_image("img");
        server.add_pool(StoragePool {
            name: "p".into(),
            driver: driver.into(),
            source: source.into(),
            dataset: if driver == "zfs" {
                source.into()
            } else {
                String::new()
            },
        });
        let root: crate::server::Device = [("type", "disk"), ("path", "/"), ("pool", "p")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut devices = BTreeMap::new();
        devices.insert("root".to_string(), root);
        let profile = Profile {
            name: "default".into(),
            devices,
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(server.update_profile(&profile)).unwrap();
        server.clear_calls();
        server
    }

    fn run(
        server: &FakeServer,
        host: Arc<DryRunHost>,
        instance: &config::Instance,
    ) -> (Vec<String>, Result<(), OpsError>) {
        let env = Env {
            server: Arc::new(server.clone()),
            host,
            os_types: Arc::new(OsTypes::builtin()),
            wait: WaitOptions::default(),
            dry_run: false,
        };
        let mut lines = Vec::new();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let result = rt.block_on(extract_as(&env, instance, "extract-test", &mut lines));
        (lines, result)
    }

    #[test]
    fn a_dir_pool_copies_new_device_dirs_and_deletes_the_temporary_instance() {
        let tmp = tempfile::tempdir().unwrap();
        let pool = tmp.path().join("pool");
        std::fs::create_dir_all(pool.join("containers/extract-test/rootfs/etc")).unwrap();
        let server = server("dir", &pool.display().to_string());
        let host = Arc::new(DryRunHost::new());
        let (lines, result) = run(&server, host.clone(), &instance(tmp.path(), "img"));
        result.unwrap();
        let root = tmp.path().display().to_string();
        let recorded: Vec<String> = host
            .recorded()
            .iter()
            .map(|l| l.replace(&root, "T"))
            .collect();
        assert_eq!(
            recorded,
            [
                "mkdir -p T/data/a1",
                "setfattr -n user.lxops.instance -v default/a1 T/data/a1",
                "mkdir -p T/tmp/a1",
                "setfattr -n user.lxops.instance -v default/a1 T/tmp/a1",
                "mkdir -p T/data/a1/etc",
                "chown 1000:1000 T/data/a1/etc",
                "mkdir -p T/tmp/a1/t",
                "chown 1000:1000 T/tmp/a1/t",
                "copy T/pool/containers/extract-test/rootfs/etc -> T/data/a1/etc",
                "shiftids 1000:1000 T/data/a1/etc",
            ]
        );
        assert_eq!(
            server.calls(),
            [
                "create instance extract-test from image img profiles=[]",
                "delete instance extract-test",
            ]
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "deleted temporary instance extract-test"),
            "{lines:?}"
        );
    }

    #[test]
    fn an_unsupported_pool_fails_after_deleting_the_temporary_instance() {
        let tmp = tempfile::tempdir().unwrap();
        let server = server("btrfs", "/var/lib/x");
        let host = Arc::new(DryRunHost::new());
        let (_, result) = run(&server, host.clone(), &instance(tmp.path(), "img"));
        let err = result.unwrap_err();
        assert!(err.to_string().contains("driver \"btrfs\""), "{err}");
        assert!(!err.is_input());
        assert!(host.recorded().is_empty(), "{:?}", host.recorded());
        assert_eq!(
            server.calls(),
            [
                "create instance extract-test from image img profiles=[]",
                "delete instance extract-test",
            ]
        );
    }

    #[test]
    fn a_missing_image_fails_before_anything_is_created() {
        let tmp = tempfile::tempdir().unwrap();
        let server = server("dir", "/var/lib/x");
        let host = Arc::new(DryRunHost::new());
        let (_, result) = run(&server, host.clone(), &instance(tmp.path(), "nope"));
        let err = result.unwrap_err();
        assert!(err.to_string().contains("image nope not found"), "{err}");
        assert!(host.recorded().is_empty());
        assert!(server.calls().is_empty(), "{:?}", server.calls());
    }

    #[test]
    fn a_zfs_pool_gives_the_instance_dataset_with_its_project_prefix() {
        let server = server("zfs", "tank/lxd");
        server.add_project("p1");
        let p1 = server.for_project("p1");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let profile = rt.block_on(server.profile("default")).unwrap().unwrap();
        rt.block_on(p1.create_profile(&profile)).unwrap();
        assert!(rt
            .block_on(rootfs_location(p1.as_ref(), "extract-test"))
            .is_err());
        let new = NewInstance {
            ephemeral: false,
            target: None,
            instance_type: None,
            name: "extract-test".into(),
            source: InstanceSource::Image(crate::server::ImageSource::local("img")),
            profiles: Vec::new(),
            config: Default::default(),
            devices: Default::default(),
            vm: false,
            description: String::new(),
        };
        rt.block_on(p1.create_instance(&new)).unwrap();
        assert_eq!(
            rt.block_on(rootfs_location(p1.as_ref(), "extract-test"))
                .unwrap(),
            RootfsLocation::ZfsDataset("tank/lxd/containers/p1_extract-test".into())
        );
    }
}
