//! The 3-member Incus and LXD test clusters (`cargo xtask setup`: m1..m3 on 127.0.0.11-13,
//! l1..l3 on 127.0.0.21-23), each reached both through member 1's unix socket and over HTTPS
//! through the remote of the cluster's client config (`ic`, `lc`): placement on a chosen member (`target`, `--target`), every
//! operation on an instance that lives on another member than the one lxops talks to, a `-j 4`
//! fleet spread by the scheduler with `status` showing where each instance runs, refusals
//! before any change (no such member, host storage with a remote daemon, a wrong server
//! certificate), and a stopped member: a clear error naming it, nothing half done, and a
//! re-run that completes once it is back.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lxops_core::server::{ExecRequest, InstanceServer};
use lxops_tests::cluster::{self, Cleanup, MembersUp, TestCluster, CLUSTERS};
use lxops_tests::{Daemon, BUSYBOX, BUSYBOX_V2};

use crate::cli::{block_on, lxops, write_config, Outcome};

/// How lxops reaches the cluster.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// Member 1's unix socket (`--socket`).
    Socket,
    /// Remote `ic` (member 1 over HTTPS) of the cluster's client config.
    Https,
}

const VIAS: [Via; 2] = [Via::Socket, Via::Https];

/// Points `INCUS_CONF` / `LXD_CONF` at a client config for the length of a run (the e2e
/// tests run one at a time).
struct ConfEnv(&'static str, Option<OsString>);

impl ConfEnv {
    fn set(daemon: Daemon, dir: &Path) -> Self {
        let key = daemon.config_env();
        let old = std::env::var_os(key);
        std::env::set_var(key, dir);
        ConfEnv(key, old)
    }
}

impl Drop for ConfEnv {
    fn drop(&mut self) {
        match self.1.take() {
            Some(old) => std::env::set_var(self.0, old),
            None => std::env::remove_var(self.0),
        }
    }
}

/// Runs lxops against the cluster the `via` way.
fn run(cluster: TestCluster, via: Via, args: &[&str]) -> Outcome {
    let socket = cluster.socket(cluster.members[0]).display().to_string();
    let mut argv: Vec<&str> = match via {
        Via::Socket => vec!["--socket", &socket],
        Via::Https => vec!["--remote", cluster.remote],
    };
    argv.extend_from_slice(args);
    let _env = ConfEnv::set(cluster.daemon, &cluster.conf());
    lxops(cluster.daemon, &argv)
}

fn server(cluster: TestCluster) -> Arc<dyn InstanceServer> {
    block_on(cluster.connect())
}

/// The member the instance lives on.
fn location(server: &Arc<dyn InstanceServer>, name: &str) -> String {
    block_on(server.instance(name))
        .expect("instance lookup")
        .unwrap_or_else(|| panic!("{name} does not exist"))
        .location
}

/// Whether the instance exists (from the listing, which works while its member is down).
fn exists(server: &Arc<dyn InstanceServer>, name: &str) -> bool {
    block_on(server.instance_names())
        .expect("instance listing")
        .iter()
        .any(|n| n == name)
}

fn profile_exists(server: &Arc<dyn InstanceServer>, name: &str) -> bool {
    block_on(server.profile_names())
        .expect("profile listing")
        .iter()
        .any(|n| n == name)
}

/// Runs a shell command in the instance (forwarded by member 1 to its member).
fn sh(server: &Arc<dyn InstanceServer>, name: &str, script: &str) -> String {
    let out = block_on(server.exec(name, &ExecRequest::argv(&["/bin/sh", "-c", script])))
        .unwrap_or_else(|e| panic!("exec in {name}: {e}"));
    assert_eq!(out.status, 0, "{script:?} in {name}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn config(dir: &Path, name: &str, extra: &str) -> String {
    write_config(
        dir,
        "files.cfg",
        "#cloud-config\nwrite_files:\n- path: /etc/placed\n  content: by-cloud-config\n",
    );
    write_config(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "#lxops-v1\nostype: alpine\nimage: {BUSYBOX}\ncloud-config-files:\n- files.cfg\n{extra}"
        ),
    )
}

#[test]
fn an_instance_on_a_chosen_member_goes_through_its_whole_life_from_another_member() {
    for cluster in CLUSTERS {
        let server = server(cluster);
        for (via, member) in [
            (Via::Socket, cluster.members[1]),
            (Via::Https, cluster.members[2]),
        ] {
            let what = format!("{} via {via:?}", cluster.daemon);
            let run = |args: &[&str]| run(cluster, via, args);
            let name = cluster::name("life");
            let _cleanup = Cleanup::new(cluster, &[&name]);
            let tmp = tempfile::tempdir().expect("tempdir");
            let file = config(tmp.path(), &name, &format!("target: {member}\n"));

            let launched = run(&["launch", &file]).ok();
            assert!(
                launched
                    .stdout
                    .contains(&format!("instance {name} is on cluster member {member}")),
                "{what}: {}",
                launched.stdout
            );
            assert_eq!(location(&server, &name), member, "{what}");
            assert_eq!(sh(&server, &name, "cat /etc/placed"), "by-cloud-config");

            // status: the location column and field.
            let status = run(&["status", "--format", "json", &file]).ok();
            let rows: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
            assert_eq!(rows[0]["location"], member, "{what}: {}", status.stdout);
            let table = run(&["status", &file]).ok();
            assert!(
                table.stdout.contains("LOCATION"),
                "{what}: {}",
                table.stdout
            );

            // rebuild in place: same member, new image, cloud-config again.
            let v2 = write_config(
                tmp.path(),
                &format!("v2/{name}.yaml"),
                &format!(
                    "#lxops-v1\nostype: alpine\nimage: {BUSYBOX_V2}\ntarget: {member}\n\
                     cloud-config-files:\n- ../files.cfg\n"
                ),
            );
            run(&["rebuild", &v2]).ok();
            assert_eq!(
                location(&server, &name),
                member,
                "{what}: rebuild keeps the member"
            );
            assert_eq!(sh(&server, &name, "cat /etc/lxops-test-release"), "v2");
            assert_eq!(sh(&server, &name, "cat /etc/placed"), "by-cloud-config");
            run(&["rebuild", "--target", cluster.members[0], &v2])
                .fails(2, "--target is for launch");

            // snapshot and rollback of the instance.
            sh(&server, &name, "echo before > /root/mark");
            run(&["snapshot", "-c", "-s", "s1", &v2]).ok();
            sh(&server, &name, "echo after > /root/mark");
            run(&["rollback", "-c", "-s", "s1", &v2]).ok();
            assert_eq!(sh(&server, &name, "cat /root/mark"), "before", "{what}");
            assert_eq!(location(&server, &name), member, "{what}");

            // delete, relaunch (the config's target again), destroy.
            run(&["delete", "--force", &file]).ok();
            assert!(!exists(&server, &name), "{what}: deleted");
            assert!(!profile_exists(&server, &format!("{name}.lxops")), "{what}");
            run(&["launch", &file]).ok();
            assert_eq!(location(&server, &name), member, "{what}: relaunch");
            run(&["destroy", "--force", &file]).ok();
            assert!(!exists(&server, &name), "{what}: destroyed");
        }
    }
}

#[test]
fn a_target_that_cannot_work_is_refused_before_anything_changes() {
    for cluster in CLUSTERS {
        let server = server(cluster);
        let members = cluster.members.join(", ");
        for via in VIAS {
            let what = format!("{} via {via:?}", cluster.daemon);
            let name = cluster::name("bad");
            let _cleanup = Cleanup::new(cluster, &[&name]);
            let tmp = tempfile::tempdir().expect("tempdir");
            let file = config(tmp.path(), &name, "");
            run(cluster, via, &["launch", "--target", "x9", &file]).fails(
                2,
                &format!("target \"x9\" is not a member of the cluster; the members are {members}"),
            );
            run(cluster, via, &["launch", "--target", "@nogroup", &file])
                .fails(2, "no cluster group \"nogroup\"");
            assert!(!exists(&server, &name), "{what}");
            assert!(!profile_exists(&server, &format!("{name}.lxops")), "{what}");
        }
        // Host storage with the remote daemon (over HTTPS): refused, nothing made on the host.
        let name = cluster::name("host");
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("fs");
        let file = config(
            tmp.path(),
            &name,
            &format!(
                "filesystems:\n  fs:\n    pattern: {}/(instance)\ndevices:\n  data:\n    path: /data\n    filesystem: fs\n",
                dir.display()
            ),
        );
        run(cluster, Via::Https, &["launch", &file])
            .fails(2, &format!("daemon is remote \"{}\"", cluster.remote))
            .fails(2, "type: volume");
        assert!(!dir.exists(), "{}: no host directory made", cluster.daemon);
        assert!(!exists(&server, &name));
        // A target for a standalone daemon: refused.
        lxops(
            cluster.daemon,
            &[
                "launch",
                "--target",
                cluster.members[0],
                "-name",
                &name,
                &file,
            ],
        )
        .fails(2, "is not a cluster member");
        assert!(!exists(&crate::cli::server(cluster.daemon), &name));
    }
}

#[test]
fn a_fleet_at_j4_is_spread_over_the_members_and_the_summary_and_status_show_where_each_runs() {
    for cluster in CLUSTERS {
        let server = server(cluster);
        for via in VIAS {
            let what = format!("{} via {via:?}", cluster.daemon);
            let names: Vec<String> = (0..6).map(|_| cluster::name("fleet")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let _cleanup = Cleanup::new(cluster, &refs);
            let tmp = tempfile::tempdir().expect("tempdir");
            let file = config(tmp.path(), "fleet", "");
            let list = names.join(",");
            let launch = run(
                cluster,
                via,
                &[
                    "launch", "-j", "4", "--format", "json", "-name", &list, &file,
                ],
            )
            .ok();
            // The run's summary says where each instance went.
            let summary: Vec<serde_json::Value> =
                serde_json::from_str(&launch.stdout).expect("summary json");
            let placed: Vec<(String, String)> = summary
                .iter()
                .map(|r| {
                    let field = |key: &str| r[key].as_str().unwrap_or_default().to_string();
                    (field("instance"), field("location"))
                })
                .collect();
            let status = run(
                cluster,
                via,
                &["status", "--format", "json", "-name", &list, &file],
            )
            .ok();
            let rows: Vec<serde_json::Value> = serde_json::from_str(&status.stdout).expect("json");
            let mut members: Vec<String> = rows
                .iter()
                .map(|r| r["location"].as_str().unwrap_or_default().to_string())
                .collect();
            for (name, member) in names.iter().zip(&members) {
                assert_eq!(&location(&server, name), member, "{what}: {name}");
            }
            let by_status: Vec<(String, String)> =
                names.iter().cloned().zip(members.iter().cloned()).collect();
            assert_eq!(
                placed, by_status,
                "{what}: the launch summary against status"
            );
            members.sort();
            members.dedup();
            assert!(
                members.len() > 1,
                "{what}: the scheduler put all 6 on {members:?}"
            );
            run(
                cluster,
                via,
                &["delete", "--force", "-j", "4", "-name", &list, &file],
            )
            .ok();
        }
    }
}

#[test]
fn a_wrong_server_certificate_fails_cleanly_and_creates_nothing() {
    for cluster in CLUSTERS {
        let server = server(cluster);
        let tmp = tempfile::tempdir().expect("tempdir");
        let conf = tmp.path().join("conf");
        std::fs::create_dir_all(conf.join("servercerts")).expect("mkdir");
        for file in ["client.crt", "client.key", "config.yml"] {
            std::fs::copy(cluster.conf().join(file), conf.join(file)).expect("copy");
        }
        // Pinned: the main daemon's certificate, not the cluster's.
        std::fs::copy(
            cluster.daemon.server_certificate(),
            conf.join("servercerts")
                .join(format!("{}.crt", cluster.remote)),
        )
        .expect("pin");
        let name = cluster::name("cert");
        let _cleanup = Cleanup::new(cluster, &[&name]);
        let file = config(
            tmp.path(),
            &name,
            &format!("target: {}\n", cluster.members[1]),
        );
        let outcome = {
            let _env = ConfEnv::set(cluster.daemon, &conf);
            lxops(
                cluster.daemon,
                &["--remote", cluster.remote, "launch", &file],
            )
        };
        outcome.fails(1, cluster.remote);
        assert!(!exists(&server, &name), "{}", cluster.daemon);
        assert!(!profile_exists(&server, &format!("{name}.lxops")));
    }
}

/// Waits until a command forwarded by member 1 runs in the instance (a restarted member is
/// reconnected on the next heartbeat, about 10 s; recipe finding 8).
fn wait_forwarding(server: &Arc<dyn InstanceServer>, name: &str) {
    let start = Instant::now();
    loop {
        let probe = block_on(server.exec(name, &ExecRequest::argv(&["true"])));
        if matches!(probe, Ok(ref out) if out.status == 0) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "forwarded exec into {name} still fails: {probe:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_stopped_member_gives_a_clear_error_and_a_rerun_after_its_restart_completes() {
    for cluster in CLUSTERS {
        let server = server(cluster);
        let member = cluster.members[2];
        let name = cluster::name("down");
        // Dropped in reverse: the member is started again before the clean-up runs.
        let _cleanup = Cleanup::new(cluster, &[&name]);
        let _up = MembersUp(cluster);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), &name, &format!("target: {member}\n"));
        run(cluster, Via::Socket, &["launch", &file]).ok();
        sh(&server, &name, "rm /etc/placed");

        cluster.stop_member(member);
        for via in VIAS {
            let what = format!("{} via {via:?}", cluster.daemon);
            let failed = run(cluster, via, &["configure", &file]);
            assert_eq!(failed.code, 1, "{what}: {}", failed.stderr);
            assert!(
                failed.stderr.contains(&format!("cluster member {member}"))
                    && failed.stderr.contains("start it"),
                "{what}: {}",
                failed.stderr
            );
            let status = run(cluster, via, &["status", &file]);
            assert_eq!(status.code, 3, "{what}: {}", status.stderr);
            assert!(status.stdout.contains(member), "{what}: {}", status.stdout);
        }
        // Nothing half done: the instance and its profile are still there.
        assert!(exists(&server, &name), "{}", cluster.daemon);
        assert!(profile_exists(&server, &format!("{name}.lxops")));

        cluster.start_member(member);
        wait_forwarding(&server, &name);
        for via in VIAS {
            run(cluster, via, &["configure", &file]).ok();
        }
        assert_eq!(sh(&server, &name, "cat /etc/placed"), "by-cloud-config");
        run(cluster, Via::Https, &["status", &file]).ok();
    }
}

/// `extract` reads the image's files on lxops' host: its temporary instance goes on the member
/// lxops talks to (never where the scheduler would put it), and the pool's per-member source is
/// read with `?target=`.
#[test]
fn extract_over_a_member_socket_reads_the_image_on_that_member() {
    for cluster in CLUSTERS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("fs");
        let file = write_config(
            tmp.path(),
            "ext.yaml",
            &format!(
                "#lxops-v1\nimage: {BUSYBOX}\nfilesystems:\n  fs:\n    pattern: {}/(instance)\n\
                 devices:\n  etc:\n    path: /etc\n    filesystem: fs\n    dir: etc\n",
                root.display()
            ),
        );
        // Three runs: with three members, a scheduler-placed instance would miss at least once.
        for _ in 0..3 {
            let name = cluster::name("ext");
            run(cluster, Via::Socket, &["extract", "-name", &name, &file]).ok();
            let release = root.join(&name).join("etc/lxops-test-release");
            assert_eq!(
                std::fs::read_to_string(&release)
                    .map(|s| s.trim().to_string())
                    .ok(),
                Some("v1".to_string()),
                "{}: {}",
                cluster.daemon,
                release.display()
            );
        }
    }
}
