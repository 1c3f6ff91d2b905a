//! Every `InstanceServer` method against the real LXD and Incus daemons.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lxops_core::server::{
    ConnectOptions, DirCreate, ExecRequest, FileKind, FileWrite, ImageSource, InstanceServer,
    InstanceSource, InstanceUpdate, NewInstance, Profile, PublishImage, ServerError, ServerKind,
    StopMode,
};
use lxops_tests::{connect, unique_name, Cleanup, Daemon, BUSYBOX, BUSYBOX_V2, DAEMONS};

fn new_instance(name: &str, source: InstanceSource) -> NewInstance {
    NewInstance {
        ephemeral: false,
        target: None,
        instance_type: None,
        name: name.to_string(),
        source,
        profiles: vec!["default".to_string()],
        config: BTreeMap::new(),
        devices: BTreeMap::new(),
        vm: false,
        description: String::new(),
    }
}

fn busybox(name: &str) -> NewInstance {
    new_instance(name, InstanceSource::Image(ImageSource::local(BUSYBOX)))
}

/// Creates a busybox instance (stopped) registered for cleanup.
async fn created(server: &Arc<dyn InstanceServer>, cleanup: &mut Cleanup, prefix: &str) -> String {
    let name = unique_name(prefix);
    cleanup.instance(&name);
    server.create_instance(&busybox(&name)).await.unwrap();
    name
}

/// Creates and starts a busybox instance.
async fn running(server: &Arc<dyn InstanceServer>, cleanup: &mut Cleanup, prefix: &str) -> String {
    let name = created(server, cleanup, prefix).await;
    server.start_instance(&name).await.unwrap();
    name
}

async fn sh(server: &Arc<dyn InstanceServer>, instance: &str, script: &str) -> String {
    let out = server
        .exec(instance, &ExecRequest::argv(&["sh", "-c", script]))
        .await
        .unwrap();
    assert_eq!(
        out.status,
        0,
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Recorded exec logs the daemon still keeps for `instance` on the host (LXD: its log
/// directory; Incus: `exec-output/` in the instance's storage directory).
fn exec_logs_on_host(daemon: Daemon, instance: &str) -> Vec<String> {
    let dir = std::path::PathBuf::from(match daemon {
        Daemon::Lxd => format!("/var/log/lxd/{instance}"),
        Daemon::Incus => {
            format!("/var/lib/incus/storage-pools/default/containers/{instance}/exec-output")
        }
    });
    assert!(dir.is_dir(), "{daemon}: no log directory {}", dir.display());
    let mut found = Vec::new();
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if entry.file_name().to_string_lossy().starts_with("exec_") {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn info_names_the_daemon_and_its_extensions() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let info = server.info().await.unwrap();
        let (kind, id, rebuild) = match daemon {
            Daemon::Lxd => (ServerKind::Lxd, "lxd", false),
            Daemon::Incus => (ServerKind::Incus, "incus", true),
        };
        assert_eq!(server.kind(), kind);
        assert_eq!(info.server, id);
        assert!(!info.version.is_empty());
        assert!(info.has_extension("container_exec_recording"), "{daemon}");
        assert_eq!(info.has_extension("instances_rebuild"), rebuild, "{daemon}");
        assert_eq!(server.project(), "default");
        assert!(server.project_exists("default").await.unwrap(), "{daemon}");
        assert!(
            !server.project_exists(&unique_name("nope")).await.unwrap(),
            "{daemon}"
        );
    }
}

#[tokio::test]
async fn profiles_are_created_read_updated_and_deleted() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = unique_name("t-profile");
        cleanup.profile(&name);
        let mut profile = Profile {
            name: name.clone(),
            description: "/tmp/a.yaml".into(),
            config: [("user.a".to_string(), "1".to_string())]
                .into_iter()
                .collect(),
            devices: BTreeMap::new(),
        };
        server.create_profile(&profile).await.unwrap();
        assert!(
            server.profile_names().await.unwrap().contains(&name),
            "{daemon}"
        );
        assert_eq!(
            server.profile(&name).await.unwrap().as_ref(),
            Some(&profile),
            "{daemon}"
        );
        let err = server.create_profile(&profile).await.unwrap_err();
        assert!(err.is_already_exists(), "{daemon}: {err}");

        profile.config.clear();
        profile.config.insert("user.b".into(), "2".into());
        profile.devices.insert(
            "data".into(),
            [("type", "disk"), ("source", "/tmp"), ("path", "/mnt/data")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        server.update_profile(&profile).await.unwrap();
        assert_eq!(
            server.profile(&name).await.unwrap().as_ref(),
            Some(&profile),
            "{daemon}"
        );

        server.delete_profile(&name).await.unwrap();
        assert_eq!(server.profile(&name).await.unwrap(), None, "{daemon}");
        let err = server.delete_profile(&name).await.unwrap_err();
        assert!(err.is_not_found(), "{daemon}: {err}");
    }
}

#[tokio::test]
async fn instances_are_created_from_an_alias_or_a_fingerprint() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let by_alias = unique_name("t-alias");
        cleanup.instance(&by_alias);
        let mut new = busybox(&by_alias);
        new.config.insert("user.origin".into(), "alias".into());
        new.description = "made by a test".into();
        server.create_instance(&new).await.unwrap();
        let instance = server.instance(&by_alias).await.unwrap().unwrap();
        assert_eq!(instance.status, "Stopped", "{daemon}");
        assert_eq!(instance.profiles, vec!["default"], "{daemon}");
        assert_eq!(instance.description, "made by a test", "{daemon}");
        assert_eq!(
            instance.config.get("user.origin").map(String::as_str),
            Some("alias")
        );

        let fingerprint = server
            .image_fingerprint(&ImageSource::local(BUSYBOX))
            .await
            .unwrap()
            .expect("the busybox image has a fingerprint");
        assert_eq!(
            instance.config.get("volatile.base_image"),
            Some(&fingerprint),
            "{daemon}"
        );
        let by_fingerprint = unique_name("t-fp");
        cleanup.instance(&by_fingerprint);
        let source = InstanceSource::Image(ImageSource::local(&fingerprint[..12]));
        server
            .create_instance(&new_instance(&by_fingerprint, source))
            .await
            .unwrap();

        let names = server.instance_names().await.unwrap();
        assert!(
            names.contains(&by_alias) && names.contains(&by_fingerprint),
            "{daemon}"
        );
        let listed = server.instances().await.unwrap();
        let listed = listed.iter().find(|i| i.name == by_fingerprint).unwrap();
        assert_eq!(
            listed.config.get("volatile.base_image"),
            Some(&fingerprint),
            "{daemon}"
        );

        let err = server
            .create_instance(&busybox(&by_alias))
            .await
            .unwrap_err();
        assert!(err.is_already_exists(), "{daemon}: {err}");
    }
}

#[tokio::test]
async fn a_missing_image_is_an_error_and_creates_nothing() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = unique_name("t-noimage");
        cleanup.instance(&name);
        let image = unique_name("no-such-image");
        let source = InstanceSource::Image(ImageSource::local(&image));
        let err = server
            .create_instance(&new_instance(&name, source))
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{daemon}: {err}");
        assert!(err.to_string().contains(&image), "{daemon}: {err}");
        assert_eq!(server.instance(&name).await.unwrap(), None, "{daemon}");
        assert_eq!(
            server
                .image_fingerprint(&ImageSource::local(&image))
                .await
                .unwrap(),
            None
        );
    }
}

#[tokio::test]
async fn instances_start_and_stop_cleanly_or_by_force() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = running(&server, &mut cleanup, "t-state").await;
        let state = server.instance_state(&name).await.unwrap();
        assert_eq!(state.status, "Running", "{daemon}");
        assert!(server.instance(&name).await.unwrap().unwrap().is_running());
        // The test images' init exits on the stop signal, so a clean stop is quick.
        server
            .stop_instance(&name, StopMode::Clean(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(
            server.instance_state(&name).await.unwrap().status,
            "Stopped",
            "{daemon}"
        );
        let err = server
            .stop_instance(&name, StopMode::Force)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("already stopped"),
            "{daemon}: {err}"
        );
        server.start_instance(&name).await.unwrap();
        server.stop_instance(&name, StopMode::Force).await.unwrap();
        assert_eq!(
            server.instance_state(&name).await.unwrap().status,
            "Stopped",
            "{daemon}"
        );
        let err = server
            .instance_state(&unique_name("t-none"))
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{daemon}: {err}");
    }
}

#[tokio::test]
async fn exec_reports_status_output_and_takes_stdin_env_cwd_and_user() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = running(&server, &mut cleanup, "t-exec").await;
        let out = server
            .exec(
                &name,
                &ExecRequest::argv(&["sh", "-c", "echo out; echo err >&2; exit 3"]),
            )
            .await
            .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_slice(), out.stderr.as_slice()),
            (3, &b"out\n"[..], &b"err\n"[..]),
            "{daemon}"
        );

        let mut request = ExecRequest::argv(&["sh", "-c", "echo $FOO; pwd; id -u; id -g; cat"]);
        request.env.insert("FOO".into(), "bar baz".into());
        request.cwd = Some("/tmp".into());
        request.uid = Some(1000);
        request.gid = Some(1001);
        request.stdin = b"line one\nline two\n".to_vec();
        let out = server.exec(&name, &request).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "bar baz\n/tmp\n1000\n1001\nline one\nline two\n",
            "{daemon}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The stdin file is gone.
        assert_eq!(
            sh(&server, &name, "ls -a /tmp | grep -c lxops-stdin || true").await,
            "0\n"
        );

        let out = server
            .exec(&name, &ExecRequest::argv(&["no-such-command"]))
            .await
            .unwrap();
        assert_eq!(out.status, 127, "{daemon}");
        // Exec logs are deleted after reading.
        assert_eq!(
            exec_logs_on_host(daemon, &name),
            Vec::<String>::new(),
            "{daemon}"
        );
    }
}

#[tokio::test]
async fn files_are_written_read_appended_created_and_deleted() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = running(&server, &mut cleanup, "t-files").await;
        let file = FileWrite {
            path: "/root/hello.txt".into(),
            content: b"A".to_vec(),
            mode: Some(0o640),
            uid: Some(1000),
            gid: Some(1001),
            append: false,
        };
        server.write_file(&name, &file).await.unwrap();
        let append = FileWrite {
            content: b"B".to_vec(),
            mode: None,
            uid: None,
            gid: None,
            append: true,
            ..file.clone()
        };
        server.write_file(&name, &append).await.unwrap();
        let read = server
            .read_file(&name, "/root/hello.txt")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.kind, read.content.as_slice()),
            (FileKind::File, &b"AB"[..]),
            "{daemon}"
        );
        assert_eq!(
            (read.mode, read.uid, read.gid),
            (0o640, 1000, 1001),
            "{daemon}"
        );
        assert_eq!(
            sh(&server, &name, "stat -c '%a %u %g' /root/hello.txt").await,
            "640 1000 1001\n"
        );

        assert_eq!(
            server.read_file(&name, "/root/missing").await.unwrap(),
            None,
            "{daemon}"
        );

        let dir = DirCreate {
            path: "/root/d1".into(),
            mode: Some(0o700),
            uid: Some(1000),
            gid: Some(1000),
        };
        server.make_dir(&name, &dir).await.unwrap();
        server.make_dir(&name, &dir).await.unwrap();
        assert_eq!(
            sh(&server, &name, "stat -c '%a %u %g' /root/d1").await,
            "700 1000 1000\n"
        );
        let inner = FileWrite {
            path: "/root/d1/inner".into(),
            content: b"x".to_vec(),
            ..Default::default()
        };
        server.write_file(&name, &inner).await.unwrap();
        let listing = server.read_file(&name, "/root/d1").await.unwrap().unwrap();
        assert_eq!(
            (listing.kind, listing.content.as_slice()),
            (FileKind::Directory, &b"inner"[..])
        );

        let orphan = FileWrite {
            path: "/root/no/such/dir/f".into(),
            ..Default::default()
        };
        assert!(server.write_file(&name, &orphan).await.is_err(), "{daemon}");

        server.delete_file(&name, "/root/d1/inner").await.unwrap();
        server.delete_file(&name, "/root/d1").await.unwrap();
        assert_eq!(
            server.read_file(&name, "/root/d1").await.unwrap(),
            None,
            "{daemon}"
        );
        let err = server.delete_file(&name, "/root/d1").await.unwrap_err();
        assert!(err.is_not_found(), "{daemon}: {err}");
    }
}

#[tokio::test]
async fn snapshots_are_created_restored_and_deleted() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = running(&server, &mut cleanup, "t-snap").await;
        sh(&server, &name, "echo one > /root/v").await;
        server.create_snapshot(&name, "s0").await.unwrap();
        sh(&server, &name, "echo two > /root/v").await;
        server.create_snapshot(&name, "s1").await.unwrap();
        let names: Vec<String> = server
            .snapshots(&name)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, vec!["s0", "s1"], "{daemon}");
        let err = server.create_snapshot(&name, "s0").await.unwrap_err();
        assert!(err.is_already_exists(), "{daemon}: {err}");

        server.restore_snapshot(&name, "s0").await.unwrap();
        assert_eq!(sh(&server, &name, "cat /root/v").await, "one\n", "{daemon}");

        server.delete_snapshot(&name, "s1").await.unwrap();
        let names: Vec<String> = server
            .snapshots(&name)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, vec!["s0"], "{daemon}");
        let err = server.delete_snapshot(&name, "s1").await.unwrap_err();
        assert!(err.is_not_found(), "{daemon}: {err}");
    }
}

#[tokio::test]
async fn instances_are_copied_from_an_instance_or_a_snapshot() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let base = created(&server, &mut cleanup, "t-base").await;
        let mut update = InstanceUpdate::from(&server.instance(&base).await.unwrap().unwrap());
        update.config.insert("user.marker".into(), "base".into());
        server.update_instance(&base, &update).await.unwrap();
        server.create_snapshot(&base, "snap0").await.unwrap();

        // No profiles given: the source's are used (LXD 5.0 needs them explicitly).
        let copy = unique_name("t-copy");
        cleanup.instance(&copy);
        let mut new = new_instance(
            &copy,
            InstanceSource::Copy {
                source: base.clone(),
                source_project: None,
                instance_only: false,
            },
        );
        new.profiles.clear();
        server.create_instance(&new).await.unwrap();
        let copied = server.instance(&copy).await.unwrap().unwrap();
        assert_eq!(copied.profiles, vec!["default"], "{daemon}");
        assert_eq!(
            copied.config.get("user.marker").map(String::as_str),
            Some("base")
        );
        assert_eq!(server.snapshots(&copy).await.unwrap().len(), 1, "{daemon}");

        let from_snapshot = unique_name("t-snapcopy");
        cleanup.instance(&from_snapshot);
        let new = new_instance(
            &from_snapshot,
            InstanceSource::Copy {
                source: format!("{base}/snap0"),
                source_project: None,
                instance_only: true,
            },
        );
        server.create_instance(&new).await.unwrap();
        let copied = server.instance(&from_snapshot).await.unwrap().unwrap();
        assert_eq!(
            copied.config.get("user.marker").map(String::as_str),
            Some("base")
        );
        assert!(
            server.snapshots(&from_snapshot).await.unwrap().is_empty(),
            "{daemon}"
        );
    }
}

#[tokio::test]
async fn stopped_instances_are_renamed() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let old = created(&server, &mut cleanup, "t-old").await;
        let other = created(&server, &mut cleanup, "t-other").await;
        let new = unique_name("t-new");
        cleanup.instance(&new);
        server.rename_instance(&old, &new).await.unwrap();
        assert_eq!(server.instance(&old).await.unwrap(), None, "{daemon}");
        assert!(server.instance(&new).await.unwrap().is_some(), "{daemon}");
        let err = server.rename_instance(&new, &other).await.unwrap_err();
        assert!(err.is_already_exists(), "{daemon}: {err}");
    }
}

#[tokio::test]
async fn rebuild_replaces_the_root_filesystem_and_keeps_the_config() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = unique_name("t-rebuild");
        cleanup.instance(&name);
        let mut new = busybox(&name);
        new.config.insert("user.keep".into(), "kept".into());
        server.create_instance(&new).await.unwrap();
        server.start_instance(&name).await.unwrap();
        assert_eq!(
            sh(&server, &name, "cat /etc/lxops-test-release").await,
            "v1\n"
        );
        sh(&server, &name, "echo old > /root/old").await;

        let err = server
            .rebuild_instance(&name, &ImageSource::local(BUSYBOX_V2))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("running"), "{daemon}: {err}");
        server.stop_instance(&name, StopMode::Force).await.unwrap();
        let missing = ImageSource::local(unique_name("no-such-image"));
        let err = server.rebuild_instance(&name, &missing).await.unwrap_err();
        assert!(err.is_not_found(), "{daemon}: {err}");
        server
            .rebuild_instance(&name, &ImageSource::local(BUSYBOX_V2))
            .await
            .unwrap();
        let names = server.instance_names().await.unwrap();
        let leftover = format!("{name}-rebuild");
        assert!(
            !names.iter().any(|n| n.starts_with(&leftover)),
            "{daemon}: {names:?}"
        );

        let rebuilt = server.instance(&name).await.unwrap().unwrap();
        assert_eq!(
            rebuilt.config.get("user.keep").map(String::as_str),
            Some("kept"),
            "{daemon}"
        );
        assert_eq!(rebuilt.profiles, vec!["default"], "{daemon}");
        let v2 = server
            .image_fingerprint(&ImageSource::local(BUSYBOX_V2))
            .await
            .unwrap();
        assert_eq!(
            rebuilt.config.get("volatile.base_image"),
            v2.as_ref(),
            "{daemon}"
        );
        server.start_instance(&name).await.unwrap();
        assert_eq!(
            sh(&server, &name, "cat /etc/lxops-test-release").await,
            "v2\n",
            "{daemon}"
        );
        assert_eq!(sh(&server, &name, "ls /root").await, "", "{daemon}");
    }
}

#[tokio::test]
async fn rebuild_refuses_an_instance_with_snapshots_and_loses_nothing() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = running(&server, &mut cleanup, "t-rbsnap").await;
        sh(&server, &name, "echo precious > /root/data").await;
        server.create_snapshot(&name, "keep").await.unwrap();
        server.stop_instance(&name, StopMode::Force).await.unwrap();

        let err = server
            .rebuild_instance(&name, &ImageSource::local(BUSYBOX_V2))
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("snapshots (keep)") && message.contains("Delete the snapshots first"),
            "{daemon}: {message}"
        );

        let names: Vec<String> = server
            .snapshots(&name)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, vec!["keep"], "{daemon}");
        server.start_instance(&name).await.unwrap();
        assert_eq!(
            sh(&server, &name, "cat /etc/lxops-test-release /root/data").await,
            "v1\nprecious\n"
        );
    }
}

#[tokio::test]
async fn delete_refuses_a_running_instance_and_reports_a_missing_one() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = running(&server, &mut cleanup, "t-delete").await;
        let err = server.delete_instance(&name).await.unwrap_err();
        assert!(err.to_string().contains("running"), "{daemon}: {err}");
        server.stop_instance(&name, StopMode::Force).await.unwrap();
        server.delete_instance(&name).await.unwrap();
        assert_eq!(server.instance(&name).await.unwrap(), None, "{daemon}");
        let err = server.delete_instance(&name).await.unwrap_err();
        assert!(err.is_not_found(), "{daemon}: {err}");
    }
}

#[tokio::test]
async fn instances_and_snapshots_are_published_as_images() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = created(&server, &mut cleanup, "t-publish").await;
        server.create_snapshot(&name, "s0").await.unwrap();
        // Make the instance differ from its snapshot: identical content would give the same
        // image fingerprint, which a daemon refuses to publish twice.
        let marker = FileWrite {
            path: "/root/published".into(),
            content: name.clone().into_bytes(),
            ..Default::default()
        };
        server.write_file(&name, &marker).await.unwrap();
        let alias = unique_name("t-img");
        let publish = PublishImage {
            source: name.clone(),
            aliases: vec![alias.clone()],
            properties: [("os".to_string(), "busybox".to_string())]
                .into_iter()
                .collect(),
            compression: Some("none".into()),
            format: None,
        };
        let fingerprint = server.publish_image(&publish).await.unwrap();
        let found = server
            .image_fingerprint(&ImageSource::local(&alias))
            .await
            .unwrap();
        let taken = server.publish_image(&publish).await.unwrap_err();
        let from_snapshot = server
            .publish_image(&PublishImage {
                source: format!("{name}/s0"),
                aliases: Vec::new(),
                properties: BTreeMap::new(),
                compression: Some("none".into()),
                format: None,
            })
            .await;
        lxops_tests::delete_image(daemon, &fingerprint);
        if let Ok(other) = &from_snapshot {
            if other != &fingerprint {
                lxops_tests::delete_image(daemon, other);
            }
        }
        assert_eq!(found.as_ref(), Some(&fingerprint), "{daemon}");
        assert!(taken.is_already_exists(), "{daemon}: {taken}");
        assert!(from_snapshot.is_ok(), "{daemon}: {from_snapshot:?}");
    }
}

#[tokio::test]
async fn storage_pools_and_idmaps_are_read() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let pool = server.storage_pool("default").await.unwrap().unwrap();
        assert_eq!(
            (pool.name.as_str(), pool.driver.as_str()),
            ("default", "dir"),
            "{daemon}"
        );
        assert!(pool.source.starts_with('/'), "{daemon}: {pool:?}");
        assert_eq!(
            server.storage_pool(&unique_name("nopool")).await.unwrap(),
            None
        );

        let name = created(&server, &mut cleanup, "t-idmap").await;
        let idmap = server.instance_idmap(&name).await.unwrap();
        assert_eq!(
            (idmap.host_uid(0), idmap.host_gid(0)),
            (Some(100000), Some(100000)),
            "{daemon}"
        );
        server.start_instance(&name).await.unwrap();
        let idmap = server.instance_idmap(&name).await.unwrap();
        assert_eq!(idmap.host_uid(1000), Some(101000), "{daemon}");

        let privileged = unique_name("t-priv");
        cleanup.instance(&privileged);
        let mut new = busybox(&privileged);
        new.config
            .insert("security.privileged".into(), "true".into());
        server.create_instance(&new).await.unwrap();
        server.start_instance(&privileged).await.unwrap();
        let idmap = server.instance_idmap(&privileged).await.unwrap();
        assert!(idmap.entries.is_empty(), "{daemon}: {idmap:?}");
        assert_eq!(idmap.host_uid(0), Some(0), "{daemon}");
    }
}

#[tokio::test]
async fn a_wrong_socket_is_a_connect_error_naming_it() {
    for daemon in DAEMONS {
        let socket = format!("/tmp/{}/unix.socket", unique_name("no-daemon"));
        let options = ConnectOptions {
            remote: None,
            socket: Some(socket.clone().into()),
            project: None,
            timeout: Duration::from_secs(5),
            exec_timeout: None,
        };
        let err = match daemon.backend().connect(&options).await {
            Ok(_) => panic!("{daemon}: connected to {socket}"),
            Err(e) => e,
        };
        let message = err.to_string();
        assert!(
            matches!(err, ServerError::Connect { .. }),
            "{daemon}: {err:?}"
        );
        assert!(
            message.contains(&socket) && message.contains("hint:"),
            "{daemon}: {message}"
        );
    }
}

/// A project created with the daemon's CLI for one test, deleted (with its instance) on drop.
pub(crate) struct TestProject {
    daemon: Daemon,
    pub(crate) name: String,
    instance: String,
}

impl TestProject {
    /// A project that shares the default project's images and profiles.
    pub(crate) fn create(daemon: Daemon, instance: &str) -> TestProject {
        let name = unique_name("t-proj");
        let status = std::process::Command::new(daemon.cli())
            .args(["project", "create", &name])
            .args([
                "-c",
                "features.images=false",
                "-c",
                "features.profiles=false",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "{daemon}: creating project {name}");
        TestProject {
            daemon,
            name,
            instance: instance.to_string(),
        }
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let cli = self.daemon.cli();
        let _ = std::process::Command::new(cli)
            .args(["delete", "--force", "--project", &self.name, &self.instance])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::process::Command::new(cli)
            .args(["project", "delete", &self.name])
            .status();
    }
}

#[tokio::test]
async fn views_of_another_project_work_there_and_only_there() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let name = unique_name("t-inproj");
        let project = TestProject::create(daemon, &name);
        assert!(
            server.project_exists(&project.name).await.unwrap(),
            "{daemon}"
        );
        let view = server.for_project(&project.name);
        assert_eq!(view.project(), project.name);
        view.create_instance(&busybox(&name)).await.unwrap();
        assert!(
            view.instance_names().await.unwrap().contains(&name),
            "{daemon}"
        );
        assert_eq!(server.instance(&name).await.unwrap(), None, "{daemon}");

        view.start_instance(&name).await.unwrap();
        let file = FileWrite {
            path: "/root/p".into(),
            content: b"in project".to_vec(),
            ..Default::default()
        };
        view.write_file(&name, &file).await.unwrap();
        let out = view
            .exec(&name, &ExecRequest::argv(&["cat", "/root/p"]))
            .await
            .unwrap();
        assert_eq!(out.stdout, b"in project", "{daemon}");
        view.create_snapshot(&name, "s0").await.unwrap();
        assert_eq!(view.snapshots(&name).await.unwrap().len(), 1, "{daemon}");
        view.stop_instance(&name, StopMode::Force).await.unwrap();
        view.delete_instance(&name).await.unwrap();
        assert_eq!(view.instance(&name).await.unwrap(), None, "{daemon}");
        drop(project);
    }
}

#[test]
fn cleanup_deletes_instances_and_profiles_even_after_a_panic() {
    for daemon in DAEMONS {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let name = unique_name("t-cleanup");
        let profile = unique_name("t-cleanup-p");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut cleanup = Cleanup::new(daemon);
            cleanup.instance(&name);
            cleanup.profile(&profile);
            runtime.block_on(async {
                let server = connect(daemon).await;
                let used = Profile {
                    name: profile.clone(),
                    ..Default::default()
                };
                server.create_profile(&used).await.unwrap();
                let mut new = busybox(&name);
                new.profiles.push(profile.clone());
                server.create_instance(&new).await.unwrap();
                server.start_instance(&name).await.unwrap();
            });
            panic!("a failing test");
        }));
        assert!(panicked.is_err());
        runtime.block_on(async {
            let server = connect(daemon).await;
            assert_eq!(server.instance(&name).await.unwrap(), None, "{daemon}");
            assert_eq!(server.profile(&profile).await.unwrap(), None, "{daemon}");
        });
    }
}

/// The CLI tests connect in one short-lived runtime and use the server in others.
#[test]
fn a_server_connected_in_one_runtime_works_in_later_ones() {
    let block_on = |future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    };
    for daemon in DAEMONS {
        let mut server = None;
        block_on(Box::pin(async {
            server = Some(connect(daemon).await);
        }));
        let server = server.unwrap();
        for _ in 0..3 {
            block_on(Box::pin(async {
                assert!(server
                    .profile_names()
                    .await
                    .unwrap()
                    .contains(&"default".to_string()));
            }));
        }
    }
}

#[tokio::test]
async fn debian_instances_take_stdin_and_report_file_owners() {
    for daemon in DAEMONS {
        let server = connect(daemon).await;
        let mut cleanup = Cleanup::new(daemon);
        let name = unique_name("t-debian");
        cleanup.instance(&name);
        let source = InstanceSource::Image(ImageSource::local(lxops_tests::DEBIAN));
        server
            .create_instance(&new_instance(&name, source))
            .await
            .unwrap();
        server.start_instance(&name).await.unwrap();
        let mut request = ExecRequest::argv(&["tee", "/root/from-stdin"]);
        request.stdin = b"debian stdin\n".to_vec();
        let out = server.exec(&name, &request).await.unwrap();
        assert_eq!(
            (out.status, out.stdout.as_slice()),
            (0, &b"debian stdin\n"[..]),
            "{daemon}"
        );
        let read = server
            .read_file(&name, "/root/from-stdin")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.uid, read.gid, read.content.as_slice()),
            (0, 0, &b"debian stdin\n"[..])
        );
        assert_eq!(
            sh(&server, &name, "cat /etc/lxops-test-release").await,
            "v1\n",
            "{daemon}"
        );
    }
}
