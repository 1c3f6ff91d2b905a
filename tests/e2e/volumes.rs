//! `type: volume` filesystems (daemon-managed custom volumes) on both single daemons and on the
//! 3-member test clusters: launch with cloud-config writing into a volume, data kept across
//! `rebuild`, `delete` and a relaunch (checksums), transient volumes removed with the
//! instance, `destroy` removing only the volumes lxops made for the instance (a foreign volume
//! with the instance's volume name is kept and reported), and a pool that does not exist
//! refused before anything is created.

use std::path::Path;
use std::sync::Arc;

use lxops_core::server::{InstanceServer, NewVolume};
use lxops_tests::cluster::{self, TestCluster};
use lxops_tests::{unique_name, BUSYBOX, DAEMONS};

use crate::cli::{
    block_on, instance_exists, lxops, profile_exists, server, sh, write_config, Cleanup, Outcome,
};

/// Deletes the named volumes of pool `default` when dropped (declare it before the instance
/// guard, so it runs after the instances are gone).
pub(crate) struct VolumeCleanup {
    pub(crate) server: Arc<dyn InstanceServer>,
    pub(crate) names: Vec<String>,
}

impl VolumeCleanup {
    /// The volumes `config` can give these instances (on either daemon's layout).
    fn of_instances(server: &Arc<dyn InstanceServer>, instances: &[&str]) -> Self {
        VolumeCleanup {
            server: server.clone(),
            names: instances
                .iter()
                .flat_map(|n| {
                    ["data", "data-home", "tmp", "gone"]
                        .iter()
                        .map(move |v| format!("{n}-{v}"))
                })
                .collect(),
        }
    }
}

impl Drop for VolumeCleanup {
    fn drop(&mut self) {
        let server = self.server.clone();
        let names = std::mem::take(&mut self.names);
        let _ = std::thread::spawn(move || {
            block_on(async {
                for name in &names {
                    let _ = server.delete_volume("default", name, None).await;
                }
            })
        })
        .join();
    }
}

/// The volumes the config gives on this daemon: on Incus (`disk_volume_subpath`) `/home` is
/// the directory `home` inside the data volume; LXD 5.0 gives it a volume of its own.
fn volume_names(server: &Arc<dyn InstanceServer>) -> Vec<&'static str> {
    let info = block_on(server.info()).expect("server info");
    if info.has_extension("disk_volume_subpath") {
        vec!["data", "tmp", "gone"]
    } else {
        vec!["data", "data-home", "tmp", "gone"]
    }
}

fn volume_exists(server: &Arc<dyn InstanceServer>, name: &str) -> bool {
    block_on(server.volume("default", name, None))
        .expect("volume lookup")
        .is_some()
}

/// The config: `data` (destroy: true; devices `/data` = the volume, `/home` = its directory
/// `home`, or on LXD its own volume `NAME-data-home`), `tmp` (transient), `gone` (destroy:
/// true); cloud-config writes into the data volume.
fn config(dir: &Path, name: &str, pool: &str, extra: &str) -> String {
    write_config(
        dir,
        "data.cfg",
        "#cloud-config\nwrite_files:\n- path: /data/from-cloud-config\n  content: written-once\n",
    );
    write_config(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "#lxops-v1\nostype: alpine\nimage: {BUSYBOX}\ncloud-config-files:\n- data.cfg\n{extra}\
             filesystems:\n  data:\n    type: volume\n    pool: {pool}\n    pattern: (instance)-data\n    destroy: true\n\
             \x20 tmp:\n    type: volume\n    pool: {pool}\n    pattern: (instance)-tmp\n    transient: true\n\
             \x20 gone:\n    type: volume\n    pool: {pool}\n    pattern: (instance)-gone\n    destroy: true\n\
             devices:\n  data:\n    path: /data\n    filesystem: data\n    dir: .\n\
             \x20 home:\n    path: /home\n    filesystem: data\n\
             \x20 tmp:\n    path: /scratch\n    filesystem: tmp\n    dir: .\n\
             \x20 gone:\n    path: /gone\n    filesystem: gone\n    dir: .\n"
        ),
    )
}

const WRITE: &str = "echo payload > /data/f && mkdir -p /home/u && echo home > /home/u/h && \
                     echo scratch > /scratch/s";
const SUM: &str = "sha256sum /data/f /data/from-cloud-config /home/u/h";

fn text(outcome: &Outcome) -> String {
    format!("{}{}", outcome.stdout, outcome.stderr)
}

/// The whole life of an instance with volume filesystems, through `run` (one daemon, or a
/// cluster through member 1).
fn life(
    what: &str,
    server: &Arc<dyn InstanceServer>,
    run: &dyn Fn(&[&str]) -> Outcome,
    name: &str,
    file: &str,
) {
    let vol = |suffix: &str| format!("{name}-{suffix}");
    // A foreign volume with the name of `gone` (not made by lxops): used, never destroyed.
    block_on(server.create_volume(
        &NewVolume {
            pool: "default".into(),
            name: vol("gone"),
            config: [("user.other".to_string(), "1".to_string())].into(),
            description: "not lxops'".into(),
        },
        None,
    ))
    .expect("foreign volume");

    run(&["launch", file]).ok();
    let names = volume_names(server);
    for v in &names {
        assert!(volume_exists(server, &vol(v)), "{what}: volume {v}");
    }
    assert!(!volume_exists(server, &vol("home")), "{what}");
    sh(server, name, WRITE);
    if !names.contains(&"data-home") {
        // One volume: /home is its directory `home`, made by lxops and recorded on it.
        assert_eq!(sh(server, name, "cat /data/home/u/h"), "home", "{what}");
        let data = block_on(server.volume("default", &vol("data"), None))
            .expect("volume lookup")
            .expect("data volume");
        assert_eq!(
            data.config.get("user.lxops.dirs").map(String::as_str),
            Some("home"),
            "{what}"
        );
    }
    // Device directories are owned by root of the instance, seen from inside.
    assert_eq!(
        sh(server, name, "stat -c %u:%g /data /home /scratch"),
        "0:0\n0:0\n0:0",
        "{what}"
    );
    let sums = sh(server, name, SUM);

    run(&["rebuild", file]).ok();
    assert_eq!(
        sh(server, name, SUM),
        sums,
        "{what}: rebuild keeps the data"
    );

    // Snapshot, change, rollback (refused while running, then with the instance stopped).
    run(&["snapshot", "-s", "s1", file]).ok();
    sh(
        server,
        name,
        "echo changed > /data/f && echo changed > /home/u/h",
    );
    run(&["rollback", "-s", "s1", file]).fails(2, "is running");
    block_on(server.stop_instance(name, lxops_core::server::StopMode::Force)).expect("stop");
    run(&["rollback", "-s", "s1", file]).ok();
    block_on(server.start_instance(name)).expect("start");
    assert_eq!(
        sh(server, name, SUM),
        sums,
        "{what}: rollback restores the data"
    );

    let deleted = run(&["delete", "--force", file]).ok();
    assert!(!instance_exists(server, name), "{what}");
    assert!(
        text(&deleted).contains(&format!(
            "delete volume default/{} of filesystem tmp",
            vol("tmp")
        )),
        "{what}: {}",
        text(&deleted)
    );
    assert!(
        !volume_exists(server, &vol("tmp")),
        "{what}: transient volume deleted"
    );
    assert!(
        volume_exists(server, &vol("data")),
        "{what}: data volume kept"
    );

    run(&["launch", file]).ok();
    assert_eq!(
        sh(server, name, SUM),
        sums,
        "{what}: relaunch keeps the data"
    );
    assert_eq!(
        sh(server, name, "ls /scratch | wc -l"),
        "0",
        "{what}: new tmp"
    );

    let destroyed = run(&["destroy", "--force", file]).ok();
    let out = text(&destroyed);
    assert!(!instance_exists(server, name), "{what}");
    assert!(!profile_exists(server, &format!("{name}.lxops")), "{what}");
    for v in names.iter().filter(|v| **v != "gone") {
        assert!(
            !volume_exists(server, &vol(v)),
            "{what}: {v} destroyed\n{out}"
        );
    }
    assert!(
        volume_exists(server, &vol("gone")),
        "{what}: foreign volume kept"
    );
    assert!(
        out.contains(&format!(
            "keep volume default/{} of filesystem gone: lxops did not make it",
            vol("gone")
        )),
        "{what}: {out}"
    );
}

#[test]
fn volume_filesystems_keep_their_data_and_destroy_spares_foreign_volumes() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("vol");
        let _volumes = VolumeCleanup::of_instances(&server, &[&name]);
        let _cleanup = Cleanup::new(&server, &[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), &name, "default", "");
        let run = |args: &[&str]| lxops(daemon, args);
        life(&daemon.to_string(), &server, &run, &name, &file);
    }
}

#[test]
fn a_volume_pool_that_does_not_exist_is_refused_and_nothing_is_created() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("volpool");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), &name, "nopool", "");
        lxops(daemon, &["launch", &file]).fails(2, "storage pool \"nopool\" does not exist on the");
        assert!(!instance_exists(&server, &name), "{daemon}");
        assert!(
            !profile_exists(&server, &format!("{name}.lxops")),
            "{daemon}"
        );
        assert!(!volume_exists(&server, &format!("{name}-data")), "{daemon}");
    }
}

/// Points `INCUS_CONF` / `LXD_CONF` at the cluster's client config for one run (the e2e
/// tests run one at a time).
struct ConfEnv(&'static str, Option<std::ffi::OsString>);

impl Drop for ConfEnv {
    fn drop(&mut self) {
        match self.1.take() {
            Some(old) => std::env::set_var(self.0, old),
            None => std::env::remove_var(self.0),
        }
    }
}

/// Runs lxops against the cluster through member 1's socket, or over HTTPS (the remote of
/// the cluster's client config).
fn on_cluster(cluster: TestCluster, https: bool, args: &[&str]) -> Outcome {
    let socket = cluster.socket(cluster.members[0]).display().to_string();
    let mut argv: Vec<&str> = if https {
        vec!["--remote", cluster.remote]
    } else {
        vec!["--socket", &socket]
    };
    argv.extend_from_slice(args);
    let key = cluster.daemon.config_env();
    let _env = ConfEnv(key, std::env::var_os(key));
    std::env::set_var(key, cluster.conf());
    lxops(cluster.daemon, &argv)
}

#[test]
fn on_a_cluster_volumes_live_on_the_chosen_member_with_the_instance() {
    for (cluster, https) in [
        (cluster::INCUS, false),
        (cluster::INCUS, true),
        (cluster::LXD, true),
    ] {
        let what = format!("{} cluster, https {https}", cluster.daemon);
        let server: Arc<dyn InstanceServer> = block_on(cluster.connect());
        let name = cluster::name("vol");
        let member = cluster.members[if https { 2 } else { 1 }];
        let _volumes = VolumeCleanup::of_instances(&server, &[&name]);
        let _cleanup = cluster::Cleanup::new(cluster, &[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), &name, "default", &format!("target: {member}\n"));
        let run = |args: &[&str]| on_cluster(cluster, https, args);
        // A foreign volume with the name of `gone`, on the chosen member: used, never
        // destroyed.
        block_on(server.create_volume(
            &NewVolume {
                pool: "default".into(),
                name: format!("{name}-gone"),
                ..NewVolume::default()
            },
            Some(member),
        ))
        .expect("foreign volume");
        run(&["launch", &file]).ok();
        let location = |server: &Arc<dyn InstanceServer>| {
            block_on(server.instance(&name))
                .expect("lookup")
                .expect("exists")
                .location
        };
        assert_eq!(location(&server), member, "{what}");
        let data = block_on(server.volume("default", &format!("{name}-data"), None))
            .expect("volume lookup")
            .expect("volume exists");
        assert_eq!(
            data.location, member,
            "{what}: the volume lives with the instance"
        );
        assert_eq!(
            sh(&server, &name, "cat /data/from-cloud-config"),
            "written-once"
        );
        sh(&server, &name, WRITE);
        let sums = sh(&server, &name, SUM);
        run(&["rebuild", &file]).ok();
        assert_eq!(
            sh(&server, &name, SUM),
            sums,
            "{what}: rebuild keeps the data"
        );
        run(&["snapshot", "-s", "s1", &file]).ok();
        sh(&server, &name, "echo changed > /data/f");
        block_on(server.stop_instance(&name, lxops_core::server::StopMode::Force)).expect("stop");
        run(&["rollback", "-s", "s1", &file]).ok();
        run(&["delete", "--force", &file]).ok();
        // A relaunch without a target goes to the member of the volumes.
        let untargeted = config(tmp.path(), &name, "default", "");
        run(&["launch", &untargeted]).ok();
        assert_eq!(location(&server), member, "{what}: placed with its volumes");
        assert_eq!(
            sh(&server, &name, SUM),
            sums,
            "{what}: rollback and relaunch keep the data"
        );
        let destroyed = run(&["destroy", "--force", &untargeted]).ok();
        assert!(!volume_exists(&server, &format!("{name}-data")), "{what}");
        assert!(
            volume_exists(&server, &format!("{name}-gone")),
            "{what}: foreign kept"
        );
        assert!(
            text(&destroyed).contains(&format!("keep volume default/{name}-gone")),
            "{what}: {}",
            text(&destroyed)
        );
    }
}

#[test]
fn rename_takes_the_volumes_along() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let old = unique_name("volren");
        let new = unique_name("volren");
        let _volumes = VolumeCleanup::of_instances(&server, &[&old, &new]);
        let _cleanup = Cleanup::new(&server, &[&old, &new]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), &old, "default", "");
        lxops(daemon, &["launch", &file]).ok();
        sh(&server, &old, WRITE);
        let sums = sh(&server, &old, SUM);
        block_on(server.stop_instance(&old, lxops_core::server::StopMode::Force)).expect("stop");

        lxops(daemon, &["rename", &file, &new]).ok();
        assert!(!instance_exists(&server, &old), "{daemon}: old name gone");
        assert!(!volume_exists(&server, &format!("{old}-data")), "{daemon}");
        let data = block_on(server.volume("default", &format!("{new}-data"), None))
            .expect("lookup")
            .expect("renamed volume");
        assert_eq!(
            data.config.get("user.lxops.instance").map(String::as_str),
            Some(format!("default/{new}").as_str()),
            "{daemon}: marked for the new name"
        );
        block_on(server.start_instance(&new)).expect("start");
        assert_eq!(
            sh(&server, &new, SUM),
            sums,
            "{daemon}: data kept by rename"
        );
    }
}

#[test]
fn device_template_copies_volumes_with_their_data_and_owners() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let template = unique_name("voltpl");
        let copy = unique_name("volcopy");
        let _volumes = VolumeCleanup::of_instances(&server, &[&template, &copy]);
        let _cleanup = Cleanup::new(&server, &[&template, &copy]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let template_file = config(tmp.path(), &template, "default", "");
        lxops(daemon, &["launch", &template_file]).ok();
        sh(&server, &template, WRITE);
        sh(&server, &template, "chown 1000:1000 /home/u/h");
        let sums = sh(&server, &template, SUM);
        // device-owner: the host ids of user 1000 of such an instance (same id map).
        let idmap = block_on(server.instance_idmap(&template)).expect("id map");
        let (uid, gid) = (
            idmap.host_uid(1000).expect("uid"),
            idmap.host_gid(1000).expect("gid"),
        );
        let copy_file = config(
            tmp.path(),
            &copy,
            "default",
            &format!("device-template: {template}\ndevice-owner: {uid}:{gid}\n"),
        );
        lxops(daemon, &["launch", &copy_file]).ok();
        // The cloud-config of the copy wrote its file again; the rest is the template's.
        assert_eq!(sh(&server, &copy, SUM), sums, "{daemon}: copied data");
        assert_eq!(
            sh(&server, &copy, "stat -c %u:%g /home/u/h /data/f"),
            "1000:1000\n0:0",
            "{daemon}: owners as in the template, not shifted twice"
        );
        assert_eq!(
            sh(&server, &copy, "stat -c %u:%g /data /home"),
            "1000:1000\n1000:1000",
            "{daemon}: device-owner, seen from inside"
        );
        assert_eq!(
            sh(&server, &copy, "ls /scratch | wc -l"),
            "0",
            "{daemon}: transient not copied"
        );
    }
}

#[test]
fn export_and_import_move_volume_data_to_another_instance() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let from = unique_name("volexp");
        let to = unique_name("volimp");
        let _volumes = VolumeCleanup::of_instances(&server, &[&from, &to]);
        let _cleanup = Cleanup::new(&server, &[&from, &to]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let archives = tmp.path().join("archives").display().to_string();
        let from_file = config(tmp.path(), &from, "default", "");
        lxops(daemon, &["launch", &from_file]).ok();
        sh(&server, &from, WRITE);
        let sums = sh(&server, &from, SUM);

        lxops(daemon, &["export", "-d", &archives, &from_file]).ok();
        let to_file = config(tmp.path(), &to, "default", "");
        let imported = lxops(daemon, &["import", "-d", &archives, &to_file]).ok();
        assert!(
            imported
                .stdout
                .contains(&format!("import volume data default/{to}-data ")),
            "{daemon}: {}",
            imported.stdout
        );
        let data = block_on(server.volume("default", &format!("{to}-data"), None))
            .expect("lookup")
            .expect("imported");
        assert_eq!(
            data.config.get("user.lxops.instance").map(String::as_str),
            Some(format!("default/{to}").as_str()),
            "{daemon}: marked for the importing instance"
        );
        // A second import refuses to overwrite.
        lxops(daemon, &["import", "-d", &archives, &to_file]).fails(2, "exists already");
        lxops(daemon, &["launch", &to_file]).ok();
        assert_eq!(sh(&server, &to, SUM), sums, "{daemon}: imported data");
        assert_eq!(
            sh(&server, &to, "stat -c %u:%g /home/u/h"),
            "0:0",
            "{daemon}: owners kept, not shifted twice"
        );
    }
}
