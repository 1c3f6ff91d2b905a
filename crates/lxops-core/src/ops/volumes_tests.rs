//! The volume driver against the fake server: planning (names, devices), the checks a launch
//! makes before any change (pool, member), creation with the mark, and removal that keeps
//! every volume lxops did not make for the instance.

use std::sync::Arc;

use super::*;
use crate::cloudconfig::OsTypes;
use crate::host::fake::FakeHost;
use crate::lifecycle::WaitOptions;
use crate::ops::volume_dirs;
use crate::ops::{launch, prepare_launch, Env, LaunchSources, RemoveOptions};
use crate::server::fake::FakeServer;
use crate::server::StoragePool;

const CONFIG: &str = "\
image: img
filesystems:
  data:
    type: volume
    pool: default
    pattern: (instance)-data
  tmp:
    type: volume
    pool: default
    pattern: (instance)-tmp
    transient: true
  gone:
    type: volume
    pool: default
    pattern: (instance)-gone
    destroy: true
devices:
  whole:
    path: /data
    filesystem: data
    dir: .
  home:
    path: /home
    filesystem: data
  log:
    path: /var/log
    filesystem: data
    dir: var/log
  tmp:
    path: /tmp
    filesystem: tmp
    dir: .
";

fn load(name: &str, yaml: &str) -> Result<config::Instance, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("x.yaml");
    std::fs::write(&file, format!("#lxops-v1\n{yaml}")).map_err(|e| e.to_string())?;
    let sources = config::PropertySources::default();
    let options = config::LoadOptions {
        formats: &config::Formats::new(),
        sources: &sources,
        strict: false,
        raw: false,
    };
    let loaded = config::load(&file, &options).map_err(|e| e.to_string())?;
    let mut instance = config::evaluate(&loaded, name, &sources, &config::EvalOptions::default())
        .map_err(|e| e.to_string())?;
    instance.file = "/cfg/x.yaml".into();
    Ok(instance)
}

/// Adds volume `name` of pool `default` as someone else would, with lxops' mark for
/// `mark` (PROJECT/NAME) if given.
fn add_volume(server: &FakeServer, name: &str, mark: Option<&str>) {
    let config = mark
        .map(|m| [(VOLUME_MARK_KEY.to_string(), m.to_string())].into())
        .unwrap_or_default();
    server.add_volume(Volume {
        pool: "default".into(),
        name: name.into(),
        config,
        ..Volume::default()
    });
}

fn server() -> FakeServer {
    let server = FakeServer::new();
    server.add_image("img");
    server.add_pool(StoragePool {
        name: "default".into(),
        driver: "dir".into(),
        ..StoragePool::default()
    });
    server
}

fn env(server: &FakeServer) -> Env {
    Env {
        server: Arc::new(server.clone()),
        host: Arc::new(FakeHost::new()),
        os_types: Arc::new(OsTypes::builtin()),
        wait: WaitOptions::default(),
        dry_run: false,
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn launch_lines(env: &Env, instance: config::Instance) -> (Vec<String>, Result<(), OpsError>) {
    let mut lines: Vec<String> = Vec::new();
    let result = block_on(async {
        let prepared = prepare_launch(env, instance, LaunchSources::default()).await?;
        launch(env, prepared, &mut lines).await
    });
    (lines, result)
}

/// The volumes and profile devices of CONFIG under a layout.
fn planned(layout: VolumeLayout) -> String {
    let instance = load("a1", CONFIG).unwrap();
    let mut lines: Vec<String> = plan_volumes(&instance, layout)
        .iter()
        .map(|v| {
            format!(
                "volume {v} fs={} transient={} destroy={} dirs=[{}]",
                v.fs_id,
                v.transient,
                v.destroy,
                v.dirs.join(",")
            )
        })
        .collect();
    let devices = crate::ops::disk_devices(&instance, &Default::default(), layout).unwrap();
    lines.extend(devices.iter().map(|d| {
        format!(
            "device {} {} pool={:?} source={}",
            d.name,
            d.path,
            d.pool,
            d.source.display()
        )
    }));
    lines.join("\n")
}

#[test]
fn lxd_gives_each_device_with_a_dir_its_own_volume() {
    expect_test::expect![[r#"
        volume default/a1-data-home fs=data transient=false destroy=false dirs=[]
        volume default/a1-data-var-log fs=data transient=false destroy=false dirs=[]
        volume default/a1-data fs=data transient=false destroy=false dirs=[]
        volume default/a1-gone fs=gone transient=false destroy=true dirs=[]
        volume default/a1-tmp fs=tmp transient=true destroy=false dirs=[]
        device home /home pool=Some("default") source=a1-data-home
        device log /var/log pool=Some("default") source=a1-data-var-log
        device tmp /tmp pool=Some("default") source=a1-tmp
        device whole /data pool=Some("default") source=a1-data"#]]
    .assert_eq(&planned(VolumeLayout::VolumePerDevice));
    // Nothing of it is host work.
    let setup = crate::ops::source_setup(&load("a1", CONFIG).unwrap());
    assert!(setup.filesystems.is_empty() && setup.devices.is_empty());
}

#[test]
fn incus_attaches_directories_inside_one_volume() {
    expect_test::expect![[r#"
        volume default/a1-data fs=data transient=false destroy=false dirs=[home,var/log]
        volume default/a1-gone fs=gone transient=false destroy=true dirs=[]
        volume default/a1-tmp fs=tmp transient=true destroy=false dirs=[]
        device home /home pool=Some("default") source=a1-data/home
        device log /var/log pool=Some("default") source=a1-data/var/log
        device tmp /tmp pool=Some("default") source=a1-tmp
        device whole /data pool=Some("default") source=a1-data"#]]
    .assert_eq(&planned(VolumeLayout::SubPath));
}

#[test]
fn the_layout_follows_the_servers_extension() {
    let mut info = crate::server::ServerInfo::default();
    assert_eq!(VolumeLayout::of(&info), VolumeLayout::VolumePerDevice);
    info.extensions.push(SUBPATH_EXTENSION.into());
    assert_eq!(VolumeLayout::of(&info), VolumeLayout::SubPath);
}

#[test]
fn bad_volume_configs_are_refused_with_the_fix() {
    let cases = [
        (
            "no pool",
            "filesystems:\n  d:\n    type: volume\n    pattern: (instance)\n",
            "filesystems.d.pool: a `type: volume` filesystem needs the storage pool",
        ),
        (
            "invalid name",
            "filesystems:\n  d:\n    type: volume\n    pool: default\n    pattern: (instance) data!\n",
            "filesystems.d.pattern: volume name \"a1 data!\" is invalid: ' ' is not allowed",
        ),
        (
            "slash in name",
            "filesystems:\n  d:\n    type: volume\n    pool: default\n    pattern: x/(instance)\n",
            "volume name \"x/a1\" is invalid: '/' is not allowed",
        ),
        (
            "pool on a host filesystem",
            "filesystems:\n  d:\n    pool: default\n    pattern: /srv/(instance)\n",
            "filesystems.d.pool: only a `type: volume` filesystem has a pool",
        ),
        (
            "host dir on a volume",
            "filesystems:\n  d:\n    type: volume\n    pool: default\n    pattern: (instance)\ndevices:\n  x:\n    path: /x\n    filesystem: d\n    dir: /srv/x\n",
            "devices.x.dir: /srv/x is a host directory, but filesystem d is a daemon volume",
        ),
    ];
    for (what, yaml, needle) in cases {
        let err = load("a1", yaml).expect_err(what);
        assert!(err.contains(needle), "{what}: {needle:?} not in {err}");
    }
}

#[test]
fn launch_creates_marked_volumes_before_the_instance_and_reuses_existing_ones() {
    let server = server();
    add_volume(&server, "a1-data", None);
    let (lines, result) = launch_lines(&env(&server), load("a1", CONFIG).unwrap());
    result.unwrap();
    expect_test::expect![[r#"
        launch a1
        create volume default/a1-data-home
        create volume default/a1-data-var-log
        create volume default/a1-gone
        create volume default/a1-tmp
        create profile a1.lxops
          device home: path=/home pool=default source=a1-data-home type=disk
          device log: path=/var/log pool=default source=a1-data-var-log type=disk
          device tmp: path=/tmp pool=default source=a1-tmp type=disk
          device whole: path=/data pool=default source=a1-data type=disk
        create instance a1 from image img with profiles default, a1.lxops
        start instance a1"#]]
    .assert_eq(&lines.join("\n"));
    let made = block_on(server.volume("default", "a1-tmp", None))
        .unwrap()
        .unwrap();
    assert_eq!(
        made.config.get(VOLUME_MARK_KEY).map(String::as_str),
        Some("default/a1")
    );
    // The existing volume was used as it was: not marked by lxops.
    let existing = block_on(server.volume("default", "a1-data", None))
        .unwrap()
        .unwrap();
    assert!(existing.config.is_empty());
}

#[test]
fn a_missing_pool_is_refused_naming_the_pools_and_nothing_is_created() {
    let server = server();
    let yaml = CONFIG.replace(
        "pool: default\n    pattern: (instance)-gone",
        "pool: fast\n    pattern: (instance)-gone",
    );
    let (lines, result) = launch_lines(&env(&server), load("a1", &yaml).unwrap());
    let err = result.unwrap_err();
    assert!(err.is_input(), "{err}");
    expect_test::expect![[r#"/cfg/x.yaml: storage pool "fast" does not exist on the fake server (its pools: [default]); fix the filesystem's `pool`, or create the pool (`incus storage create fast dir`)"#]]
        .assert_eq(&err.to_string());
    assert!(lines.is_empty(), "{lines:?}");
    assert!(server.calls().is_empty(), "{:?}", server.calls());
}

#[test]
fn a_failed_create_removes_only_the_volumes_it_made() {
    let server = server();
    add_volume(&server, "a1-data", None);
    server.refuse_create("Invalid config");
    let (lines, result) = launch_lines(&env(&server), load("a1", CONFIG).unwrap());
    assert!(result.is_err());
    let cleanup: Vec<&String> = lines.iter().filter(|l| l.contains("volume")).collect();
    expect_test::expect![[r#"
        [
            "create volume default/a1-data-home",
            "create volume default/a1-data-var-log",
            "create volume default/a1-gone",
            "create volume default/a1-tmp",
            "cleanup: deleted volume default/a1-tmp",
            "cleanup: deleted volume default/a1-gone",
            "cleanup: deleted volume default/a1-data-var-log",
            "cleanup: deleted volume default/a1-data-home",
        ]
    "#]]
    .assert_debug_eq(&cleanup);
    assert!(block_on(server.volume("default", "a1-data", None))
        .unwrap()
        .is_some());
}

fn remove_options(instance: &config::Instance) -> RemoveOptions {
    let twin = load(&crate::ops::twin_name(&instance.name), CONFIG).unwrap();
    RemoveOptions {
        force: true,
        adopt: false,
        twin,
        others: Vec::new(),
    }
}

/// `delete --force` of the instance; its lines.
fn delete(env: &Env, instance: &config::Instance) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    block_on(crate::ops::delete(
        env,
        instance,
        &remove_options(instance),
        &mut lines,
    ))
    .unwrap();
    lines
}

#[test]
fn destroy_removes_only_volumes_marked_for_the_instance() {
    let server = server();
    let env = env(&server);
    let instance = load("a1", CONFIG).unwrap();
    launch_lines(&env, instance.clone()).1.unwrap();
    // Someone replaces two of them with volumes lxops did not make for a1: one unmarked, one
    // marked for another instance. destroy must keep both.
    for (name, mark) in [("a1-tmp", None), ("a1-gone", Some("default/b1"))] {
        block_on(async {
            server
                .stop_instance("a1", crate::server::StopMode::Force)
                .await
                .unwrap();
            server.delete_instance("a1").await.unwrap();
            server.delete_volume("default", name, None).await.unwrap();
        });
        add_volume(&server, name, mark);
        launch_lines(&env, instance.clone()).1.unwrap();
    }
    let mut lines: Vec<String> = Vec::new();
    block_on(crate::ops::destroy(
        &env,
        &instance,
        &remove_options(&instance),
        &mut lines,
    ))
    .unwrap();
    let volume_lines: Vec<&String> = lines.iter().filter(|l| l.contains("volume")).collect();
    expect_test::expect![[r#"
        [
            "keep volume default/a1-gone of filesystem gone: it is marked for instance default/b1, not default/a1; if you really mean it, run `incus storage volume delete default a1-gone` yourself",
            "keep volume default/a1-tmp of filesystem tmp: lxops did not make it (it has no user.lxops.instance mark); if you really mean it, run `incus storage volume delete default a1-tmp` yourself",
        ]
    "#]]
    .assert_debug_eq(&volume_lines);
    for name in ["a1-gone", "a1-tmp", "a1-data", "a1-data-home"] {
        assert!(
            block_on(server.volume("default", name, None))
                .unwrap()
                .is_some(),
            "{name} kept"
        );
    }
}

#[test]
fn delete_removes_transient_volumes_and_destroy_the_destroy_ones() {
    let server = server();
    let env = env(&server);
    let instance = load("a1", CONFIG).unwrap();
    launch_lines(&env, instance.clone()).1.unwrap();
    let lines = delete(&env, &instance);
    assert!(
        lines.contains(&"delete volume default/a1-tmp of filesystem tmp".to_string()),
        "{lines:?}"
    );
    assert!(block_on(server.volume("default", "a1-tmp", None))
        .unwrap()
        .is_none());
    assert!(block_on(server.volume("default", "a1-gone", None))
        .unwrap()
        .is_some());
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            "remaining volumes: default/a1-data-home, default/a1-data-var-log, \
             default/a1-data, default/a1-gone"
        ),
        "{lines:?}"
    );
    launch_lines(&env, instance.clone()).1.unwrap();
    let mut lines: Vec<String> = Vec::new();
    block_on(crate::ops::destroy(
        &env,
        &instance,
        &remove_options(&instance),
        &mut lines,
    ))
    .unwrap();
    let left: Vec<&str> = [
        "a1-data",
        "a1-data-home",
        "a1-data-var-log",
        "a1-gone",
        "a1-tmp",
    ]
    .into_iter()
    .filter(|n| {
        block_on(server.volume("default", n, None))
            .unwrap()
            .is_some()
    })
    .collect();
    assert_eq!(left, ["a1-data", "a1-data-home", "a1-data-var-log"]);
}

#[test]
fn on_a_cluster_existing_volumes_pick_the_member_and_groups_are_refused() {
    let server = server();
    server.set_cluster(&[("m1", "Online"), ("m2", "Online"), ("m3", "Offline")]);
    server.add_volume(Volume {
        pool: "default".into(),
        name: "a1-data".into(),
        location: "m2".into(),
        ..Volume::default()
    });
    let env = env(&server);
    let (lines, result) = launch_lines(&env, load("a1", CONFIG).unwrap());
    result.unwrap();
    assert!(
        lines.contains(&"create volume default/a1-tmp on member m2".to_string()),
        "{lines:?}"
    );
    let instance = block_on(server.instance("a1")).unwrap().unwrap();
    assert_eq!(instance.location, "m2");

    let grouped = format!("target: '@fast'\n{CONFIG}");
    let (_, result) = launch_lines(&env, load("b1", &grouped).unwrap());
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("is a cluster group, but instance b1 has volume filesystems"),
        "{err}"
    );

    let elsewhere = format!("target: m1\n{CONFIG}");
    let (_, result) = launch_lines(&env, load("a1", &elsewhere).unwrap());
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("are on member(s) [m2], but its target is \"m1\""),
        "{err}"
    );
}

#[test]
fn snapshots_cover_non_transient_volumes_and_rollback_needs_a_stopped_instance() {
    let server = server();
    let env = env(&server);
    let instance = load("a1", CONFIG).unwrap();
    launch_lines(&env, instance.clone()).1.unwrap();
    server.clear_calls();
    let options = crate::ops::SnapshotOptions {
        name: "s1".into(),
        instance: false,
        destroy: false,
        recursive: false,
        adopt: false,
    };
    let mut lines: Vec<String> = Vec::new();
    block_on(crate::ops::snapshot(&env, &instance, &options, &mut lines)).unwrap();
    expect_test::expect![[r#"
        snapshot volume default/a1-data-home/s1
        snapshot volume default/a1-data-var-log/s1
        snapshot volume default/a1-data/s1
        snapshot volume default/a1-gone/s1"#]]
    .assert_eq(&lines.join("\n"));

    let rollback = |snapshot: &str| {
        let mut lines: Vec<String> = Vec::new();
        let result = block_on(crate::ops::rollback(
            &env, &instance, snapshot, false, &mut lines,
        ));
        (lines, result)
    };
    let (_, result) = rollback("s1");
    let err = result.unwrap_err();
    assert!(err.to_string().contains("instance a1 is running"), "{err}");
    block_on(server.stop_instance("a1", crate::server::StopMode::Force)).unwrap();
    let (_, result) = rollback("s0");
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("volume default/a1-data-home has no snapshot \"s0\" (it has [s1])"),
        "{err}"
    );
    server.clear_calls();
    let (lines, result) = rollback("s1");
    result.unwrap();
    assert_eq!(lines.len(), 4, "{lines:?}");
    expect_test::expect![[r#"
        restore volume default/a1-data-home/s1
        restore volume default/a1-data-var-log/s1
        restore volume default/a1-data/s1
        restore volume default/a1-gone/s1"#]]
    .assert_eq(&server.calls().join("\n"));
}

#[test]
fn rename_moves_marked_volumes_and_refuses_another_instances_volume() {
    let server = server();
    let env = env(&server);
    let old = load("a1", CONFIG).unwrap();
    let new = load("b1", CONFIG).unwrap();
    launch_lines(&env, old.clone()).1.unwrap();
    block_on(server.stop_instance("a1", crate::server::StopMode::Force)).unwrap();
    let options = |twin: &str| crate::ops::RenameOptions {
        adopt: false,
        twin: load(twin, CONFIG).unwrap(),
        others: Vec::new(),
    };
    // a1-gone now says it belongs to c1: the rename is refused before any change.
    block_on(server.patch_volume_config(
        "default",
        "a1-gone",
        &[(VOLUME_MARK_KEY.to_string(), "default/c1".to_string())].into(),
        None,
    ))
    .unwrap();
    server.clear_calls();
    let mut lines: Vec<String> = Vec::new();
    let twin = crate::ops::twin_name("a1");
    let err = block_on(crate::ops::rename(
        &env,
        &old,
        &new,
        &options(&twin),
        &mut lines,
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("volume default/a1-gone: it is marked for instance default/c1, not default/a1; nothing was renamed"),
        "{err}"
    );
    assert!(server.calls().is_empty(), "{:?}", server.calls());

    block_on(server.patch_volume_config(
        "default",
        "a1-gone",
        &[(VOLUME_MARK_KEY.to_string(), "default/a1".to_string())].into(),
        None,
    ))
    .unwrap();
    server.clear_calls();
    let mut lines: Vec<String> = Vec::new();
    block_on(crate::ops::rename(
        &env,
        &old,
        &new,
        &options(&twin),
        &mut lines,
    ))
    .unwrap();
    let renamed: Vec<String> = server
        .calls()
        .into_iter()
        .filter(|c| c.contains("volume"))
        .collect();
    expect_test::expect![[r#"
        [
            "rename volume default/a1-data-home b1-data-home",
            "set volume default/b1-data-home user.lxops.instance=default/b1",
            "rename volume default/a1-data-var-log b1-data-var-log",
            "set volume default/b1-data-var-log user.lxops.instance=default/b1",
            "rename volume default/a1-data b1-data",
            "set volume default/b1-data user.lxops.instance=default/b1",
            "rename volume default/a1-gone b1-gone",
            "set volume default/b1-gone user.lxops.instance=default/b1",
            "rename volume default/a1-tmp b1-tmp",
            "set volume default/b1-tmp user.lxops.instance=default/b1",
        ]
    "#]]
    .assert_debug_eq(&renamed);
    let moved = block_on(server.volume("default", "b1-data", None))
        .unwrap()
        .unwrap();
    assert_eq!(
        moved.config.get(VOLUME_MARK_KEY).map(String::as_str),
        Some("default/b1")
    );
}

#[test]
fn device_template_copies_the_templates_volumes_but_not_transient_ones() {
    let server = server();
    let env = env(&server);
    let template = load("t1", CONFIG).unwrap();
    launch_lines(&env, template.clone()).1.unwrap();
    let instance = load("a1", &format!("device-template: t1\n{CONFIG}")).unwrap();
    let mut lines: Vec<String> = Vec::new();
    block_on(async {
        let sources = LaunchSources {
            template: Some(template),
            origin: None,
            origin_project: None,
        };
        let prepared = prepare_launch(&env, instance, sources).await?;
        launch(&env, prepared, &mut lines).await
    })
    .unwrap();
    let volume_lines: Vec<&String> = lines.iter().filter(|l| l.contains(" volume ")).collect();
    expect_test::expect![[r#"
        [
            "copy volume default/t1-data-home to default/a1-data-home",
            "copy volume default/t1-data-var-log to default/a1-data-var-log",
            "copy volume default/t1-data to default/a1-data",
            "copy volume default/t1-gone to default/a1-gone",
            "create volume default/a1-tmp",
        ]
    "#]]
    .assert_debug_eq(&volume_lines);
    let copy = block_on(server.volume("default", "a1-data-home", None))
        .unwrap()
        .unwrap();
    assert_eq!(
        copy.config.get(VOLUME_MARK_KEY).map(String::as_str),
        Some("default/a1")
    );
}

#[test]
fn device_owner_owns_the_devices_of_new_volumes_from_inside() {
    let server = server();
    add_volume(&server, "a1-data", None);
    let env = env(&server);
    let instance = load("a1", &format!("device-owner: 1000:1001\n{CONFIG}")).unwrap();
    let (lines, result) = launch_lines(&env, instance);
    result.unwrap();
    let chown: Vec<&String> = lines.iter().filter(|l| l.contains("chown")).collect();
    // The existing volume (/data) is left as it is.
    expect_test::expect![[r#"
        [
            "chown /home /var/log /tmp to 1000:1001 in the instance (device-owner 1000:1001)",
        ]
    "#]]
    .assert_debug_eq(&chown);
    let calls: Vec<String> = server
        .calls()
        .into_iter()
        .filter(|c| c.contains("chown"))
        .collect();
    expect_test::expect![[r#"
        [
            "exec a1: chown 1000:1001 /home /var/log /tmp",
        ]
    "#]]
    .assert_debug_eq(&calls);
}

#[test]
fn a_dry_run_prints_the_volume_steps_and_changes_nothing() {
    let server = server();
    server.set_cluster(&[("m1", "Online"), ("m2", "Online")]);
    let mut env = env(&server);
    env.dry_run = true;
    let (lines, result) = launch_lines(&env, load("a1", &format!("target: m2\n{CONFIG}")).unwrap());
    result.unwrap();
    expect_test::expect![[r#"
        launch a1
        create volume default/a1-data-home on member m2
        create volume default/a1-data-var-log on member m2
        create volume default/a1-data on member m2
        create volume default/a1-gone on member m2
        create volume default/a1-tmp on member m2
        create profile a1.lxops
          device home: path=/home pool=default source=a1-data-home type=disk
          device log: path=/var/log pool=default source=a1-data-var-log type=disk
          device tmp: path=/tmp pool=default source=a1-tmp type=disk
          device whole: path=/data pool=default source=a1-data type=disk
        create instance a1 from image img with profiles default, a1.lxops
          on cluster member m2
        start instance a1"#]]
    .assert_eq(&lines.join("\n"));
    assert!(server.calls().is_empty(), "{:?}", server.calls());
}

#[test]
fn without_a_target_the_least_loaded_member_wins_and_ties_spread_a_fleet() {
    let load: BTreeMap<&str, usize> = [("m1", 2), ("m2", 0), ("m3", 1)].into();
    for name in ["a1", "a2", "web", "db"] {
        assert_eq!(least_loaded(&load, name).as_deref(), Some("m2"), "{name}");
    }
    // A fleet launched at once sees the same counts: the names still spread, and each name
    // always lands on the same member.
    let even: BTreeMap<&str, usize> = [("m1", 0), ("m2", 0), ("m3", 0)].into();
    let chosen: Vec<String> = (1..=12)
        .map(|i| least_loaded(&even, &format!("web{i}")).unwrap())
        .collect();
    let used: std::collections::BTreeSet<&String> = chosen.iter().collect();
    assert_eq!(used.len(), 3, "{chosen:?}");
    assert_eq!(least_loaded(&even, "web1"), least_loaded(&even, "web1"));
    assert_eq!(least_loaded(&BTreeMap::new(), "web1"), None);
}

// Incus: devices attach directories inside one volume (`source=VOLUME/DIR`), which must exist
// before the device starts (the fake refuses to start it otherwise, as Incus does).

/// The directories recorded on a volume (`user.lxops.dirs`).
fn recorded_dirs(server: &FakeServer, volume: &str) -> Option<String> {
    block_on(server.volume("default", volume, None))
        .unwrap()
        .and_then(|v| v.config.get(volume_dirs::DIRS_KEY).cloned())
}

fn incus_server() -> FakeServer {
    let server = server();
    server.enable_volume_subpath();
    server
}

#[test]
fn on_incus_the_first_start_makes_the_directories_through_a_short_lived_attach() {
    let server = incus_server();
    let env = env(&server);
    let (lines, result) = launch_lines(&env, load("a1", CONFIG).unwrap());
    result.unwrap();
    expect_test::expect![[r#"
        launch a1
        create volume default/a1-data
        create volume default/a1-gone
        create volume default/a1-tmp
        create profile a1.lxops
          device home: path=/home pool=default source=a1-data/home type=disk
          device log: path=/var/log pool=default source=a1-data/var/log type=disk
          device tmp: path=/tmp pool=default source=a1-tmp type=disk
          device whole: path=/data pool=default source=a1-data type=disk
        create instance a1 from image img with profiles default, a1.lxops
        attach volume default/a1-data at /.lxops-volume-0 until directories home, var/log exist
        start instance a1
        make the directories, then attach devices home, log and detach the whole volumes"#]]
    .assert_eq(&lines.join("\n"));
    let calls: Vec<String> = server
        .calls()
        .into_iter()
        .filter(|c| c.contains("a1 ") || c.contains("a1:") || c.ends_with(" a1"))
        .collect();
    expect_test::expect![[r#"
        [
            "create instance a1 from image 0000000000000000000000000000000000000000000000000000000000000003 profiles=[default,a1.lxops]",
            "update instance a1 profiles=[default,a1.lxops]",
            "start instance a1",
            "exec a1: /bin/sh -c exit 0",
            "exec a1: mkdir -p /.lxops-volume-0/home /.lxops-volume-0/var/log",
            "update instance a1 profiles=[default,a1.lxops]",
            "patch config of instance a1: user.lxops.launch",
        ]
    "#]]
    .assert_debug_eq(&calls);
    assert_eq!(
        server.volume_dirs("default", "a1-data"),
        ["home", "var", "var/log"]
    );
    assert_eq!(
        recorded_dirs(&server, "a1-data").as_deref(),
        Some("home,var/log")
    );
    // The instance is left with no devices of its own: the profile's are all plugged in.
    let a1 = block_on(server.instance("a1")).unwrap().unwrap();
    assert!(a1.devices.is_empty(), "{:?}", a1.devices);
}

#[test]
fn a_relaunch_finds_the_recorded_directories_and_starts_straight_away() {
    let server = incus_server();
    let env = env(&server);
    let instance = load("a1", CONFIG).unwrap();
    launch_lines(&env, instance.clone()).1.unwrap();
    delete(&env, &instance);
    server.clear_calls();
    let (lines, result) = launch_lines(&env, instance);
    result.unwrap();
    assert!(
        !lines.iter().any(|l| l.contains("attach volume")),
        "{lines:?}"
    );
    let calls = server.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("update instance") || c.contains("mkdir")),
        "{calls:?}"
    );
}

#[test]
fn a_volume_lxops_did_not_make_gets_no_directories_and_the_start_names_the_missing_one() {
    let server = incus_server();
    add_volume(&server, "a1-data", None);
    let (lines, result) = launch_lines(&env(&server), load("a1", CONFIG).unwrap());
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains("Failed opening volume sub-path \"home\""),
        "{err}"
    );
    // Nothing was made in the foreign volume, which is kept; what the launch made is gone.
    assert!(server.volume_dirs("default", "a1-data").is_empty());
    assert!(
        !lines.iter().any(|l| l.contains("attach volume")),
        "{lines:?}"
    );
    assert!(block_on(server.volume("default", "a1-data", None))
        .unwrap()
        .is_some());
    for made in ["a1-gone", "a1-tmp"] {
        assert!(
            block_on(server.volume("default", made, None))
                .unwrap()
                .is_none(),
            "{made} removed"
        );
    }
    assert!(block_on(server.instance("a1")).unwrap().is_none());
}

#[test]
fn a_failed_mkdir_undoes_the_launch_and_names_the_command() {
    let server = incus_server();
    server.set_exec_handler(Arc::new(|_, request| {
        if request.argv.first().map(String::as_str) == Some("mkdir") {
            crate::server::ExecOutput {
                status: 1,
                stdout: Vec::new(),
                stderr: b"mkdir: can't create directory: Read-only file system".to_vec(),
            }
        } else {
            crate::server::ExecOutput::default()
        }
    }));
    let (lines, result) = launch_lines(&env(&server), load("a1", CONFIG).unwrap());
    let err = result.unwrap_err().to_string();
    expect_test::expect![[r#"/cfg/x.yaml: `mkdir -p /.lxops-volume-0/home /.lxops-volume-0/var/log` in instance a1 failed (1): mkdir: can't create directory: Read-only file system; the image needs `mkdir`"#]]
        .assert_eq(&err);
    let cleanup: Vec<&String> = lines.iter().filter(|l| l.starts_with("cleanup")).collect();
    assert!(
        cleanup.contains(&&"cleanup: deleted volume default/a1-data".to_string()),
        "{cleanup:?}"
    );
    assert!(block_on(server.instance("a1")).unwrap().is_none());
}

#[test]
fn device_owner_on_incus_owns_the_new_directories_from_inside() {
    let server = incus_server();
    let instance = load("a1", &format!("device-owner: 1000:1001\n{CONFIG}")).unwrap();
    launch_lines(&env(&server), instance).1.unwrap();
    let calls: Vec<String> = server
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("exec"))
        .collect();
    expect_test::expect![[r#"
        [
            "exec a1: /bin/sh -c exit 0",
            "exec a1: mkdir -p /.lxops-volume-0/home /.lxops-volume-0/var/log",
            "exec a1: chown 1000:1001 /home /var/log /tmp /data",
        ]
    "#]]
    .assert_debug_eq(&calls);
}

#[test]
fn a_device_added_later_gets_its_directory_made_in_the_existing_volume() {
    let server = incus_server();
    let env = env(&server);
    let instance = load("a1", CONFIG).unwrap();
    launch_lines(&env, instance.clone()).1.unwrap();
    delete(&env, &instance);
    let more = CONFIG.replace(
        "  tmp:\n    path: /tmp",
        "  srv:\n    path: /srv\n    filesystem: data\n  tmp:\n    path: /tmp",
    );
    let (lines, result) = launch_lines(&env, load("a1", &more).unwrap());
    result.unwrap();
    assert!(
        lines.contains(
            &"attach volume default/a1-data at /.lxops-volume-0 until directories srv exist"
                .to_string()
        ),
        "{lines:?}"
    );
    assert_eq!(
        recorded_dirs(&server, "a1-data").as_deref(),
        Some("home,srv,var/log")
    );
}

#[test]
fn a_dry_run_on_incus_shows_the_short_lived_attach() {
    let server = incus_server();
    let mut env = env(&server);
    env.dry_run = true;
    let (lines, result) = launch_lines(&env, load("a1", CONFIG).unwrap());
    result.unwrap();
    let attach: Vec<&String> = lines
        .iter()
        .skip_while(|l| !l.starts_with("create instance"))
        .skip(1)
        .collect();
    expect_test::expect![[r#"
        [
            "attach volume default/a1-data at /.lxops-volume-0 until directories home, var/log exist",
            "start instance a1",
            "make the directories, then attach devices home, log and detach the whole volumes",
        ]
    "#]]
    .assert_debug_eq(&attach);
    assert!(server.calls().is_empty(), "{:?}", server.calls());
}

#[test]
fn a_launch_killed_during_the_short_lived_attach_is_finished_by_running_it_again() {
    use crate::lifecycle::{LAUNCH_PENDING, LAUNCH_PENDING_KEY};
    use crate::server::{Device, InstanceUpdate, StopMode};
    let server = incus_server();
    let env = env(&server);
    let instance = load("a1", CONFIG).unwrap();
    launch_lines(&env, instance.clone()).1.unwrap();
    // As if killed after step 1 (the whole volume attached, the devices hidden), before the
    // directories were recorded: the instance is stopped and still marked pending.
    block_on(async {
        server.stop_instance("a1", StopMode::Force).await.unwrap();
        let live = server.instance("a1").await.unwrap().unwrap();
        let mut update = InstanceUpdate::from(&live);
        let none = Device::from([("type".to_string(), "none".to_string())]);
        update.devices.insert("home".into(), none.clone());
        update.devices.insert("log".into(), none);
        update.devices.insert(
            "lxops-volume-0".into(),
            Device::from([
                ("type".to_string(), "disk".to_string()),
                ("pool".to_string(), "default".to_string()),
                ("source".to_string(), "a1-data".to_string()),
                ("path".to_string(), "/.lxops-volume-0".to_string()),
            ]),
        );
        server.update_instance("a1", &update).await.unwrap();
        let pending = [(LAUNCH_PENDING_KEY.to_string(), LAUNCH_PENDING.to_string())];
        server
            .patch_instance_config("a1", &pending.into())
            .await
            .unwrap();
        let unrecorded = [(volume_dirs::DIRS_KEY.to_string(), String::new())];
        server
            .patch_volume_config("default", "a1-data", &unrecorded.into(), None)
            .await
            .unwrap();
    });
    let (lines, result) = launch_lines(&env, instance);
    result.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("resume the interrupted launch")),
        "{lines:?}"
    );
    let a1 = block_on(server.instance("a1")).unwrap().unwrap();
    assert!(a1.is_running());
    assert!(a1.devices.is_empty(), "{:?}", a1.devices);
    assert_eq!(
        recorded_dirs(&server, "a1-data").as_deref(),
        Some("home,var/log")
    );
}

#[test]
fn a_device_named_like_the_short_lived_devices_is_refused_before_anything_changes() {
    let server = incus_server();
    let yaml = CONFIG.replace(
        "  home:\n    path: /home",
        "  lxops-volume-0:\n    path: /home",
    );
    let (lines, result) = launch_lines(&env(&server), load("a1", &yaml).unwrap());
    let err = result.unwrap_err();
    assert!(err.is_input(), "{err}");
    expect_test::expect![[r#"/cfg/x.yaml: devices.lxops-volume-0: names starting with "lxops-volume-" are lxops' own (the short-lived devices that make directories in volumes); rename the device"#]]
        .assert_eq(&err.to_string());
    assert!(lines.is_empty(), "{lines:?}");
    assert!(server.calls().is_empty(), "{:?}", server.calls());
}

#[test]
fn data_in_a_per_device_volume_of_an_earlier_lxops_is_not_left_aside() {
    let server = incus_server();
    // a1-data-home, as lxops made it on Incus before directories were attached inside a
    // volume: marked for a1, holding /home's data.
    add_volume(&server, "a1-data-home", Some("default/a1"));
    let (lines, result) = launch_lines(&env(&server), load("a1", CONFIG).unwrap());
    let err = result.unwrap_err();
    assert!(err.is_input(), "{err}");
    expect_test::expect![[r#"/cfg/x.yaml: the data of directory home of volume default/a1-data is in volume default/a1-data-home, which an earlier lxops made for it (one volume per device directory); nothing was changed: copy its data into a1-data/home and delete it (`incus storage volume delete default a1-data-home`), then run the command again"#]]
        .assert_eq(&err.to_string());
    assert!(lines.is_empty(), "{lines:?}");
    assert!(server.calls().is_empty(), "{:?}", server.calls());
    // A volume of that name marked for another instance does not stop the launch of a2.
    add_volume(&server, "a2-data-home", Some("default/other"));
    launch_lines(&env(&server), load("a2", CONFIG).unwrap())
        .1
        .unwrap();
}
