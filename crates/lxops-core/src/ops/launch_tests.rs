//! `launch` against the fake server and host: names are checked before anything, and a launch
//! the server refuses removes exactly what it made on the host.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::cloudconfig::OsTypes;
use crate::config::{DeviceDir, FsKind, InstanceDevice, InstanceFilesystem};
use crate::host::fake::FakeHost;
use crate::lifecycle::WaitOptions;
use crate::server::fake::FakeServer;

fn instance(name: &str) -> config::Instance {
    let fs = |id: &str, pattern: &str| InstanceFilesystem {
        id: id.into(),
        kind: FsKind::Dir,
        path: pattern.replace("(instance)", name),
        zfsproperties: BTreeMap::new(),
        transient: false,
        destroy: true,
    };
    let device = |name: &str, fs: &str| InstanceDevice {
        name: name.into(),
        path: format!("/{name}"),
        filesystem: Some(fs.into()),
        dir: DeviceDir::Relative(name.into()),
        readonly: false,
    };
    config::Instance {
        target: None,
        name: name.into(),
        file: PathBuf::from("/cfg/x.yaml"),
        description: String::new(),
        project: String::new(),
        ostype: String::new(),
        image: "img".into(),
        origin: None,
        device_template: None,
        device_origin: None,
        source_config: None,
        lxc_options: Vec::new(),
        profiles: Vec::new(),
        profile: format!("{name}.lxops"),
        device_owner: Some("1000:1000".into()),
        filesystems: vec![
            fs("keep", "/srv/keep/(instance)"),
            fs("new", "/srv/new/(instance)"),
        ],
        devices: vec![
            device("old", "keep"),
            device("fresh", "keep"),
            device("data", "new"),
        ],
        properties: BTreeMap::new(),
        cloud_config_files: Vec::new(),
    }
}

fn env(server: &FakeServer, host: Arc<FakeHost>) -> Env {
    Env {
        server: Arc::new(server.clone()),
        host,
        os_types: Arc::new(OsTypes::builtin()),
        wait: WaitOptions::default(),
        dry_run: false,
    }
}

fn run(env: &Env, instance: config::Instance) -> (Vec<String>, Result<(), OpsError>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let mut lines: Vec<String> = Vec::new();
    let result = rt.block_on(async {
        let prepared = prepare_launch(env, instance, LaunchSources::default()).await?;
        launch(env, prepared, &mut lines).await
    });
    (lines, result)
}

#[test]
fn a_refused_launch_removes_only_what_it_made() {
    let server = FakeServer::new();
    server.add_image("img");
    server.refuse_create("Invalid config: unknown key");
    let host = Arc::new(FakeHost::new().with_dirs(&["/srv/keep/a1/old"]));
    let (lines, result) = run(&env(&server, host.clone()), instance("a1"));
    let err = result.unwrap_err();
    assert!(err.to_string().contains("unknown key"), "{err}");
    expect_test::expect![[r#"
        launch a1
        mkdir -p /srv/new/a1
        mkdir /srv/keep/a1/fresh (owner 1000:1000)
        keep /srv/keep/a1/old (device old: exists)
        mkdir /srv/new/a1/data (owner 1000:1000)
        create profile a1.lxops
          device data: path=/data source=/srv/new/a1/data type=disk
          device fresh: path=/fresh source=/srv/keep/a1/fresh type=disk
          device old: path=/old source=/srv/keep/a1/old type=disk
        create instance a1 from image img with profiles default, a1.lxops
        cleanup: deleted profile a1.lxops
        cleanup: removed /srv/new/a1/data
        cleanup: removed /srv/keep/a1/fresh
        cleanup: removed /srv/new"#]]
    .assert_eq(&lines.join("\n"));
    expect_test::expect![[r#"
        mkdir -p /srv/new/a1
        setfattr -n user.lxops.instance -v default/a1 /srv/new/a1
        mkdir -p /srv/keep/a1/fresh
        chown 1000:1000 /srv/keep/a1/fresh
        mkdir -p /srv/new/a1/data
        chown 1000:1000 /srv/new/a1/data
        remove /srv/new/a1/data
        remove /srv/keep/a1/fresh
        remove /srv/new"#]]
    .assert_eq(&host.log().join("\n"));
    assert!(block_profile_missing(&server, "a1.lxops"));
}

fn block_profile_missing(server: &FakeServer, profile: &str) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(crate::server::InstanceServer::profile(server, profile))
        .unwrap()
        .is_none()
}

/// A name the daemons refuse (or one that makes a pattern resolve to a shared directory) stops
/// the launch before the host is touched.
#[test]
fn bad_names_are_refused_before_the_host_is_touched() {
    let mut text = Vec::new();
    for name in ["", ".", "a/b", "a b", "a;b", "é1", "1a"] {
        let server = FakeServer::new();
        server.add_image("img");
        let host = Arc::new(FakeHost::new());
        let (_, result) = run(&env(&server, host.clone()), instance(name));
        let err = result.unwrap_err();
        assert!(err.is_input(), "{name}: {err}");
        assert!(host.log().is_empty(), "{name}: {:?}", host.log());
        text.push(err.to_string());
    }
    expect_test::expect![[r#"
        /cfg/x.yaml: instance name "" is invalid: it is empty; give a name
        /cfg/x.yaml: instance name "." is invalid: '.' is not allowed; use only ASCII letters, digits and `-`
        /cfg/x.yaml: instance name "a/b" is invalid: '/' is not allowed; use only ASCII letters, digits and `-`
        /cfg/x.yaml: instance name "a b" is invalid: ' ' is not allowed; use only ASCII letters, digits and `-`
        /cfg/x.yaml: instance name "a;b" is invalid: ';' is not allowed; use only ASCII letters, digits and `-`
        /cfg/x.yaml: instance name "é1" is invalid: 'é' is not allowed; use only ASCII letters, digits and `-`
        /cfg/x.yaml: instance name "1a" is invalid: it must not start with a digit"#]]
    .assert_eq(&text.join("\n"));
}

/// A launch interrupted after its create request is resumed by the same launch.
mod resume {
    use std::sync::Arc;

    use super::super::*;
    use crate::cloudconfig::OsTypes;
    use crate::host::SystemHost;
    use crate::lifecycle::{LifecycleError, WaitOptions, LAUNCH_PENDING, LAUNCH_PENDING_KEY};
    use crate::ops::test_support::dir_instance;
    use crate::server::fake::FakeServer;
    use crate::server::{InstanceServer, StopMode};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    async fn run_launch(env: &Env, instance: &config::Instance) -> Result<Vec<String>, OpsError> {
        let prepared = prepare_launch(env, instance.clone(), LaunchSources::default()).await?;
        let mut out = Vec::<u8>::new();
        launch(env, prepared, &mut out).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_string)
            .collect())
    }

    #[test]
    fn an_interrupted_launch_is_finished_by_running_it_again_and_then_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let server = FakeServer::new();
        server.add_image("img");
        let env = Env {
            server: Arc::new(server.clone()),
            host: Arc::new(SystemHost::new()),
            os_types: Arc::new(OsTypes::builtin()),
            wait: WaitOptions::default(),
            dry_run: false,
        };
        let instance = dir_instance(tmp.path(), "a1");
        block_on(async {
            run_launch(&env, &instance).await.unwrap();
            let live = server.instance("a1").await.unwrap().unwrap();
            assert!(
                !live.config.contains_key(LAUNCH_PENDING_KEY),
                "a finished launch is unmarked"
            );

            // As if the process had been killed after the create request: the instance exists,
            // stopped, still marked.
            server.stop_instance("a1", StopMode::Force).await.unwrap();
            let pending = [(LAUNCH_PENDING_KEY.to_string(), LAUNCH_PENDING.to_string())];
            server
                .patch_instance_config("a1", &pending.into())
                .await
                .unwrap();
            server.clear_calls();
            let lines = run_launch(&env, &instance).await.unwrap();
            assert!(
                lines.contains(
                    &"resume the interrupted launch of a1: the instance exists".to_string()
                ),
                "{lines:?}"
            );
            let calls = server.calls();
            assert!(
                !calls.iter().any(|c| c.starts_with("create ")),
                "nothing is created again: {calls:?}"
            );
            let live = server.instance("a1").await.unwrap().unwrap();
            assert!(live.is_running());
            assert!(!live.config.contains_key(LAUNCH_PENDING_KEY));

            let again = run_launch(&env, &instance).await.unwrap_err();
            assert!(
                matches!(&again, OpsError::Lifecycle(e) if matches!(**e, LifecycleError::InstanceExists { .. })),
                "{again}"
            );
        });
    }
}

/// `-wait-configure N`: the original sleeps N seconds after the instance is up and before it
/// applies cloud-config; so does launch, and `--dry-run` shows that step in its place.
#[test]
fn wait_configure_sleeps_between_the_start_and_cloud_config() {
    for dry_run in [false, true] {
        let server = FakeServer::new();
        server.add_image("img");
        let host = Arc::new(FakeHost::new());
        let mut env = env(&server, host);
        env.dry_run = dry_run;
        env.wait.before_configure = std::time::Duration::from_secs(1);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut lines: Vec<String> = Vec::new();
        let started = std::time::Instant::now();
        rt.block_on(async {
            let prepared = prepare_launch(&env, instance("a1"), LaunchSources::default()).await?;
            launch(&env, prepared, &mut lines).await
        })
        .unwrap_or_else(|e| panic!("dry run {dry_run}: {e}"));
        let elapsed = started.elapsed();
        let wait = lines
            .iter()
            .position(|l| l == "wait 1 s before configuring")
            .unwrap_or_else(|| panic!("no wait step in {lines:#?}"));
        let start = lines
            .iter()
            .position(|l| l.starts_with("start") || l.contains("started"))
            .unwrap_or_else(|| panic!("no start step in {lines:#?}"));
        assert!(start < wait, "{lines:#?}");
        assert_eq!(
            elapsed >= std::time::Duration::from_secs(1),
            !dry_run,
            "dry run {dry_run}: took {elapsed:?}"
        );
    }
}

/// An `origin` without a `project_` prefix is looked up in the source config's project (as
/// the original); a prefix, or a source config in the instance's own project, keeps it as is.
#[test]
fn an_origin_without_a_project_takes_the_source_configs_project() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("base/snap0", Some("templates"), "templates/base/snap0"),
        ("base/snap0", None, "origin base/snap0 not found"),
        ("base/snap0", Some(""), "origin base/snap0 not found"),
        ("prod_base/snap0", Some("templates"), "prod/base/snap0"),
    ];
    for (origin, project, want) in cases {
        let server = FakeServer::new();
        let env = env(&server, Arc::new(FakeHost::new()));
        let mut instance = instance("a1");
        instance.origin = Some(origin.to_string());
        let sources = LaunchSources {
            origin_project: project.map(str::to_string),
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(prepare_launch(&env, instance, sources))
            .err()
            .unwrap_or_else(|| panic!("{origin} {project:?}: the origin does not exist"))
            .to_string();
        assert!(err.contains(want), "{origin} {project:?}: {err}");
    }
}
