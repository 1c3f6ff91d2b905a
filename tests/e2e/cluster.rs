//! The 3-member Incus test cluster (`cargo xtask setup`, members m1..m3 on 127.0.0.11-13),
//! reached both through member 1's unix socket and over HTTPS through remote `ic` of the
//! cluster's client config: placement on a chosen member (`target`, `--target`), every
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
use lxops_tests::cluster::{self, Cleanup, MembersUp};
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

/// Points `INCUS_CONF` at the cluster's client config for the length of a test (the e2e
/// tests run one at a time).
struct ConfEnv(Option<OsString>);

impl ConfEnv {
    fn set() -> Self {
        let old = std::env::var_os("INCUS_CONF");
        std::env::set_var("INCUS_CONF", cluster::CONF);
        ConfEnv(old)
    }
}

impl Drop for ConfEnv {
    fn drop(&mut self) {
        match self.0.take() {
            Some(old) => std::env::set_var("INCUS_CONF", old),
            None => std::env::remove_var("INCUS_CONF"),
        }
    }
}

/// Runs lxops against the cluster the `via` way.
fn run(via: Via, args: &[&str]) -> Outcome {
    let socket = cluster::socket("m1").display().to_string();
    let mut argv: Vec<&str> = match via {
        Via::Socket => vec!["--socket", &socket],
        Via::Https => vec!["--remote", cluster::REMOTE],
    };
    argv.extend_from_slice(args);
    let _env = ConfEnv::set();
    lxops(Daemon::Incus, &argv)
}

fn server() -> Arc<dyn InstanceServer> {
    block_on(cluster::connect())
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
    let server = server();
    for (via, member) in [(Via::Socket, "m2"), (Via::Https, "m3")] {
        let name = cluster::name("life");
        let _cleanup = Cleanup::new(&[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), &name, &format!("target: {member}\n"));

        let launched = run(via, &["launch", &file]).ok();
        assert!(
            launched
                .stdout
                .contains(&format!("instance {name} is on cluster member {member}")),
            "{via:?}: {}",
            launched.stdout
        );
        assert_eq!(location(&server, &name), member, "{via:?}");
        assert_eq!(sh(&server, &name, "cat /etc/placed"), "by-cloud-config");

        // status: the location column and field.
        let status = run(via, &["status", "--format", "json", &file]).ok();
        let rows: serde_json::Value = serde_json::from_str(&status.stdout).expect("json");
        assert_eq!(rows[0]["location"], member, "{via:?}: {}", status.stdout);
        let table = run(via, &["status", &file]).ok();
        assert!(table.stdout.contains("LOCATION"), "{}", table.stdout);

        // rebuild in place: same member, new image, cloud-config again.
        let v2 = write_config(
            tmp.path(),
            &format!("v2/{name}.yaml"),
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {BUSYBOX_V2}\ncloud-config-files:\n- ../files.cfg\n"
            ),
        );
        run(via, &["rebuild", &v2]).ok();
        assert_eq!(
            location(&server, &name),
            member,
            "{via:?}: rebuild keeps the member"
        );
        assert_eq!(sh(&server, &name, "cat /etc/lxops-test-release"), "v2");
        assert_eq!(sh(&server, &name, "cat /etc/placed"), "by-cloud-config");
        run(via, &["rebuild", "--target", "m1", &v2]).fails(2, "--target is for launch");

        // snapshot and rollback of the instance.
        sh(&server, &name, "echo before > /root/mark");
        run(via, &["snapshot", "-c", "-s", "s1", &v2]).ok();
        sh(&server, &name, "echo after > /root/mark");
        run(via, &["rollback", "-c", "-s", "s1", &v2]).ok();
        assert_eq!(sh(&server, &name, "cat /root/mark"), "before", "{via:?}");
        assert_eq!(location(&server, &name), member);

        // delete, relaunch (the config's target again), destroy.
        run(via, &["delete", "--force", &file]).ok();
        assert!(!exists(&server, &name) && !profile_exists(&server, &format!("{name}.lxops")));
        run(via, &["launch", &file]).ok();
        assert_eq!(location(&server, &name), member, "{via:?}: relaunch");
        run(via, &["destroy", "--force", &file]).ok();
        assert!(!exists(&server, &name), "{via:?}: destroyed");
    }
}

#[test]
fn a_target_that_cannot_work_is_refused_before_anything_changes() {
    let server = server();
    for via in VIAS {
        let name = cluster::name("bad");
        let _cleanup = Cleanup::new(&[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), &name, "");
        run(via, &["launch", "--target", "m9", &file]).fails(
            2,
            "target \"m9\" is not a member of the cluster; the members are m1, m2, m3",
        );
        run(via, &["launch", "--target", "@nogroup", &file])
            .fails(2, "no cluster group \"nogroup\"");
        assert!(!exists(&server, &name), "{via:?}");
        assert!(
            !profile_exists(&server, &format!("{name}.lxops")),
            "{via:?}"
        );
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
    run(Via::Https, &["launch", &file])
        .fails(2, "daemon is remote \"ic\"")
        .fails(2, "type: volume");
    assert!(!dir.exists(), "no host directory made");
    assert!(!exists(&server, &name));
    // The same target on a standalone daemon: refused.
    run_standalone_target(&file, &name);
}

fn run_standalone_target(file: &str, name: &str) {
    lxops(
        Daemon::Incus,
        &["launch", "--target", "m1", "-name", name, file],
    )
    .fails(2, "is not a cluster member");
    let main = crate::cli::server(Daemon::Incus);
    assert!(!exists(&main, name));
}

#[test]
fn a_fleet_at_j4_is_spread_over_the_members_and_status_shows_where_each_runs() {
    let server = server();
    for via in VIAS {
        let names: Vec<String> = (0..6).map(|_| cluster::name("fleet")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let _cleanup = Cleanup::new(&refs);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = config(tmp.path(), "fleet", "");
        let list = names.join(",");
        run(via, &["launch", "-j", "4", "-name", &list, &file]).ok();
        let status = run(via, &["status", "--format", "json", "-name", &list, &file]).ok();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&status.stdout).expect("json");
        let mut members: Vec<String> = rows
            .iter()
            .map(|r| r["location"].as_str().unwrap_or_default().to_string())
            .collect();
        for (name, member) in names.iter().zip(&members) {
            assert_eq!(&location(&server, name), member, "{via:?}: {name}");
        }
        members.sort();
        members.dedup();
        assert!(
            members.len() > 1,
            "{via:?}: the scheduler put all 6 on {members:?}"
        );
        run(
            via,
            &["delete", "--force", "-j", "4", "-name", &list, &file],
        )
        .ok();
    }
}

#[test]
fn a_wrong_server_certificate_fails_cleanly_and_creates_nothing() {
    let server = server();
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(conf.join("servercerts")).expect("mkdir");
    for file in ["client.crt", "client.key", "config.yml"] {
        std::fs::copy(Path::new(cluster::CONF).join(file), conf.join(file)).expect("copy");
    }
    // Pinned: the main Incus daemon's certificate, not the cluster's.
    std::fs::copy(
        Daemon::Incus.server_certificate(),
        conf.join("servercerts/ic.crt"),
    )
    .expect("pin");
    let name = cluster::name("cert");
    let _cleanup = Cleanup::new(&[&name]);
    let file = config(tmp.path(), &name, "target: m2\n");
    let old = std::env::var_os("INCUS_CONF");
    std::env::set_var("INCUS_CONF", &conf);
    let outcome = lxops(Daemon::Incus, &["--remote", "ic", "launch", &file]);
    match old {
        Some(old) => std::env::set_var("INCUS_CONF", old),
        None => std::env::remove_var("INCUS_CONF"),
    }
    outcome.fails(1, "ic");
    assert!(!exists(&server, &name));
    assert!(!profile_exists(&server, &format!("{name}.lxops")));
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
    let _up = MembersUp;
    let server = server();
    let name = cluster::name("down");
    let _cleanup = Cleanup::new(&[&name]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = config(tmp.path(), &name, "target: m3\n");
    run(Via::Socket, &["launch", &file]).ok();
    sh(&server, &name, "rm /etc/placed");

    cluster::stop_member("m3");
    for via in VIAS {
        run(via, &["configure", &file])
            .fails(1, "cluster member m3")
            .fails(1, "start it");
        let status = run(via, &["status", &file]);
        assert_eq!(status.code, 3, "{via:?}: {}", status.stderr);
        assert!(status.stdout.contains("m3"), "{}", status.stdout);
    }
    // Nothing half done: the instance and its profile are still there.
    assert!(exists(&server, &name) && profile_exists(&server, &format!("{name}.lxops")));

    cluster::start_member("m3");
    wait_forwarding(&server, &name);
    for via in VIAS {
        run(via, &["configure", &file]).ok();
    }
    assert_eq!(sh(&server, &name, "cat /etc/placed"), "by-cloud-config");
    run(Via::Https, &["status", &file]).ok();
}
