//! Interrupted runs converge: the real binary is killed (SIGKILL) at many points of a `launch`
//! (one instance, `-j 4` over four, and one with directories inside a volume) and of a
//! `rebuild`, on both daemons; running the same
//! command again completes the work, and the device data is byte for byte what it was.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cli::{instance_exists, lxops, server, sh, write_config};
use lxops_tests::{lxops_binary, unique_name, Cleanup, Daemon, DAEMONS};

/// Where the kill lands, in milliseconds after the start: spread over a busybox launch
/// (about 0.3 to 1 s here), from before the first request to after the last.
const KILL_AFTER_MS: [u64; 8] = [20, 60, 110, 170, 250, 350, 500, 800];

/// The cloud-config file `conv.cfg`, which writes `/etc/lxops-converged`.
fn converged_cloud_config(root: &Path) {
    write_config(
        root,
        "conv.cfg",
        "#cloud-config\nwrite_files:\n- path: /etc/lxops-converged\n  content: \"yes\\n\"\n",
    );
}

/// A busybox config with one device on a directory filesystem under `root`, and a cloud-config
/// file that writes `/etc/lxops-converged`.
fn config(root: &Path, image: &str) -> String {
    converged_cloud_config(root);
    write_config(
        root,
        "conv.yaml",
        &format!(
            "#lxops-v1\nostype: alpine\nimage: {image}\nfilesystems:\n  data:\n    pattern: {}/(instance)\ndevices:\n  srv:\n    path: /srv\n    filesystem: data\ncloud-config-files:\n- conv.cfg\n",
            root.display()
        ),
    )
}

/// Puts 256 KiB of data into the instance's (future) device directory and returns its
/// checksum; the launch keeps an existing device directory as it is.
fn seed_data(root: &Path, name: &str) -> String {
    let dir = root.join(name).join("srv");
    std::fs::create_dir_all(&dir).expect("device dir");
    let data: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("data.bin"), data).expect("data");
    checksum(root, name)
}

fn checksum(root: &Path, name: &str) -> String {
    let out = Command::new("sha256sum")
        .arg(root.join(name).join("srv").join("data.bin"))
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Runs the real binary with `args` and kills it with SIGKILL after `ms` (unless it ended
/// before). Returns whether it was killed.
fn run_and_kill(daemon: Daemon, args: &[&str], ms: u64) -> bool {
    let mut child = Command::new(lxops_binary(daemon))
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lxops");
    std::thread::sleep(Duration::from_millis(ms));
    let killed = matches!(child.try_wait(), Ok(None));
    if killed {
        child.kill().expect("SIGKILL");
    }
    let _ = child.wait();
    killed
}

/// The instance runs, its cloud-config was applied, its launch is not marked unfinished, and
/// its device data is intact.
#[track_caller]
fn assert_converged(daemon: Daemon, root: &Path, name: &str, sum: &str, what: &str) {
    let server = server(daemon);
    let live = crate::cli::block_on(server.instance(name))
        .expect("look-up")
        .unwrap_or_else(|| panic!("{daemon} {what}: {name} does not exist"));
    assert!(
        live.is_running(),
        "{daemon} {what}: {name} is {}",
        live.status
    );
    assert!(
        !lxops_core::lifecycle::launch_pending(&live),
        "{daemon} {what}: {name} is still marked unfinished"
    );
    assert_eq!(
        sh(&server, name, "cat /etc/lxops-converged"),
        "yes",
        "{daemon} {what}"
    );
    assert_eq!(
        checksum(root, name),
        sum,
        "{daemon} {what}: device data changed"
    );
}

#[test]
fn a_killed_launch_is_completed_by_running_it_again() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = config(tmp.path(), lxops_tests::BUSYBOX);
        let mut cleanup = Cleanup::new(daemon);
        for ms in KILL_AFTER_MS {
            let name = unique_name("t-kill");
            cleanup.instance(&name);
            cleanup.profile(&format!("{name}.lxops"));
            let sum = seed_data(tmp.path(), &name);
            let killed = run_and_kill(daemon, &["launch", "-name", &name, &config], ms);
            let rerun = lxops(daemon, &["launch", "-name", &name, &config]);
            if rerun.code != 0 {
                // Only a launch that had finished before the kill may be refused.
                assert!(
                    rerun.stderr.contains("already exists"),
                    "{daemon} kill at {ms} ms (killed: {killed}): the re-run failed:\n{}",
                    rerun.stderr
                );
            }
            assert_converged(daemon, tmp.path(), &name, &sum, &format!("kill at {ms} ms"));
        }
    }
}

#[test]
fn a_killed_fleet_launch_is_completed_by_running_it_again() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = config(tmp.path(), lxops_tests::BUSYBOX);
        let mut cleanup = Cleanup::new(daemon);
        for ms in [150, 400] {
            let names: Vec<String> = (0..4).map(|_| unique_name("t-killj")).collect();
            let mut sums = Vec::new();
            for name in &names {
                cleanup.instance(name);
                cleanup.profile(&format!("{name}.lxops"));
                sums.push(seed_data(tmp.path(), name));
            }
            let list = names.join(",");
            run_and_kill(daemon, &["launch", "-j", "4", "-name", &list, &config], ms);
            let rerun = lxops(daemon, &["launch", "-j", "4", "-name", &list, &config]);
            for line in rerun.stdout.lines().filter(|l| l.contains(" failed: ")) {
                assert!(
                    line.contains("already exists"),
                    "{daemon} kill at {ms} ms: only finished launches are refused: {line}"
                );
            }
            for (name, sum) in names.iter().zip(&sums) {
                assert_converged(
                    daemon,
                    tmp.path(),
                    name,
                    sum,
                    &format!("-j 4, kill at {ms} ms"),
                );
            }
        }
    }
}

/// A busybox config with a volume filesystem and two devices on directories inside it (on
/// Incus made through the short-lived whole-volume attach of a first start).
fn volume_config(root: &Path) -> String {
    converged_cloud_config(root);
    write_config(
        root,
        "convvol.yaml",
        &format!(
            "#lxops-v1\nostype: alpine\nimage: {}\nfilesystems:\n  data:\n    type: volume\n    pool: default\n    pattern: (instance)-data\ndevices:\n  srv:\n    path: /srv\n    filesystem: data\n  log:\n    path: /var/log/app\n    filesystem: data\n    dir: var/log\ncloud-config-files:\n- conv.cfg\n",
            lxops_tests::BUSYBOX
        ),
    )
}

#[test]
fn a_killed_launch_with_volume_directories_is_completed_by_running_it_again() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = volume_config(tmp.path());
        let server = server(daemon);
        let subpath = crate::cli::block_on(server.info())
            .expect("server info")
            .has_extension("disk_volume_subpath");
        let mut cleanup = Cleanup::new(daemon);
        for ms in [60, 170, 350, 500, 650, 800, 1000, 1300] {
            let name = unique_name("t-killvol");
            cleanup.instance(&name);
            cleanup.profile(&format!("{name}.lxops"));
            for volume in ["data", "data-srv", "data-var-log"] {
                cleanup.volume("default", &format!("{name}-{volume}"));
            }
            let killed = run_and_kill(daemon, &["launch", "-name", &name, &config], ms);
            let what = format!("{daemon} kill at {ms} ms (killed: {killed})");
            let rerun = lxops(daemon, &["launch", "-name", &name, &config]);
            if rerun.code != 0 {
                assert!(
                    rerun.stderr.contains("already exists"),
                    "{what}: the re-run failed:\n{}",
                    rerun.stderr
                );
            }
            let live = crate::cli::block_on(server.instance(&name))
                .expect("look-up")
                .unwrap_or_else(|| panic!("{what}: {name} does not exist"));
            assert!(live.is_running(), "{what}: {}", live.status);
            assert!(!lxops_core::lifecycle::launch_pending(&live), "{what}");
            assert_eq!(
                sh(&server, &name, "cat /etc/lxops-converged"),
                "yes",
                "{what}"
            );
            // Both devices are attached and nothing of the short-lived attach is left.
            sh(&server, &name, "echo s > /srv/s && echo l > /var/log/app/l");
            assert!(
                !live.devices.keys().any(|d| d.starts_with("lxops-volume-")),
                "{what}: {:?}",
                live.devices
            );
            assert_eq!(
                sh(&server, &name, "ls -a / | grep -c lxops-volume || true"),
                "0",
                "{what}"
            );
            if subpath {
                let data =
                    crate::cli::block_on(server.volume("default", &format!("{name}-data"), None))
                        .expect("volume look-up")
                        .expect("the data volume");
                assert_eq!(
                    data.config.get("user.lxops.dirs").map(String::as_str),
                    Some("srv,var/log"),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn a_killed_rebuild_is_completed_by_running_it_again() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v1 = config(tmp.path(), lxops_tests::BUSYBOX);
        let name = unique_name("t-killrb");
        let mut cleanup = Cleanup::new(daemon);
        cleanup.instance(&name);
        cleanup.profile(&format!("{name}.lxops"));
        let sum = seed_data(tmp.path(), &name);
        lxops(daemon, &["launch", "-name", &name, &v1]).ok();
        let server = server(daemon);
        for (i, ms) in KILL_AFTER_MS.iter().enumerate() {
            // Alternate the images, so every rebuild really changes the OS.
            let (image, release) = if i % 2 == 0 {
                (lxops_tests::BUSYBOX_V2, "v2")
            } else {
                (lxops_tests::BUSYBOX, "v1")
            };
            let config = config(tmp.path(), image);
            run_and_kill(daemon, &["rebuild", "-name", &name, &config], *ms);
            lxops(daemon, &["rebuild", "-name", &name, &config]).ok();
            assert!(instance_exists(&server, &name), "{daemon}");
            assert_eq!(
                sh(&server, &name, "cat /etc/lxops-test-release"),
                release,
                "{daemon} kill at {ms} ms"
            );
            assert_converged(
                daemon,
                tmp.path(),
                &name,
                &sum,
                &format!("rebuild, kill at {ms} ms"),
            );
        }
    }
}

/// LXD 5.0 has no native rebuild: lxops recreates the instance as `<name>-rebuild`, deletes the
/// old one and renames. Killed between the delete and the rename, the next rebuild gives the
/// replacement its name back; a `<name>-rebuild` that lxops did not make is never touched.
#[test]
fn a_recreating_rebuild_cut_between_delete_and_rename_is_finished_and_foreign_names_are_kept() {
    let daemon = Daemon::Lxd;
    let server = server(daemon);
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = config(tmp.path(), lxops_tests::BUSYBOX_V2);
    let name = unique_name("t-killrn");
    let replacement = format!("{name}-rebuild");
    let mut cleanup = Cleanup::new(daemon);
    cleanup.instance(&name);
    cleanup.instance(&replacement);
    cleanup.profile(&format!("{name}.lxops"));
    let sum = seed_data(tmp.path(), &name);
    lxops(daemon, &["launch", "-name", &name, &config]).ok();

    // A foreign instance with the replacement's name: the rebuild refuses and keeps it.
    let lxc = |args: &[&str]| {
        let status = Command::new("lxc")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("lxc");
        assert!(status.success(), "lxc {args:?}");
    };
    lxc(&["init", lxops_tests::BUSYBOX, &replacement]);
    lxops(daemon, &["rebuild", "-name", &name, &config]).fails(1, "it was not made by lxops");
    assert!(
        instance_exists(&server, &replacement),
        "the foreign instance is kept"
    );
    assert!(instance_exists(&server, &name));
    lxc(&["delete", &replacement]);

    // The state a kill leaves after the delete: only the marked replacement exists. (The
    // refused rebuild stopped the instance, as every rebuild does before its checks.)
    let _ = Command::new("lxc")
        .args(["stop", "--force", &name])
        .stderr(Stdio::null())
        .status();
    lxc(&["rename", &name, &replacement]);
    lxc(&[
        "config",
        "set",
        &replacement,
        "user.lxops.rebuild-of",
        &name,
    ]);
    let rebuilt = lxops(daemon, &["rebuild", "-name", &name, &config]).ok();
    assert!(
        rebuilt
            .stdout
            .contains(&format!("finish the interrupted rebuild of {name}")),
        "{}",
        rebuilt.stdout
    );
    assert!(!instance_exists(&server, &replacement));
    let live = crate::cli::block_on(server.instance(&name))
        .expect("look-up")
        .expect("exists");
    assert!(
        !live.config.contains_key("user.lxops.rebuild-of"),
        "unmarked"
    );
    assert_converged(daemon, tmp.path(), &name, &sum, "finished rebuild");
}

/// Ctrl-C (SIGINT) during a fleet launch: the running instance finishes, no new one starts,
/// the summary says which were skipped, and the same command run again launches the rest.
#[test]
fn ctrl_c_lets_the_running_instance_finish_and_a_rerun_launches_the_rest() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = config(tmp.path(), lxops_tests::BUSYBOX);
        let names: Vec<String> = (0..3).map(|_| unique_name("t-sigint")).collect();
        let mut cleanup = Cleanup::new(daemon);
        let mut sums = Vec::new();
        for name in &names {
            cleanup.instance(name);
            cleanup.profile(&format!("{name}.lxops"));
            sums.push(seed_data(tmp.path(), name));
        }
        let list = names.join(",");
        let child = Command::new(lxops_binary(daemon))
            .args(["launch", "-name", &list, &config])
            .env("HOME", std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lxops");
        std::thread::sleep(Duration::from_millis(150));
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
        let output = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{daemon}: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("interrupted: starting no new instance"),
            "{daemon}: {stderr}"
        );
        assert!(
            stdout.contains(&format!("{}  launch   ok", names[0]))
                && stdout.contains("skipped (interrupted)"),
            "{daemon}: the first finished, the others were skipped:\n{stdout}"
        );
        let server = server(daemon);
        assert!(
            !instance_exists(&server, &names[2]),
            "{daemon}: not started"
        );

        let rerun = lxops(daemon, &["launch", "-name", &list, &config]);
        assert!(
            rerun
                .stdout
                .contains(&format!("{}  launch   failed:", names[0]))
                && rerun.stdout.contains("already exists"),
            "{daemon}: only the finished one is refused:\n{}",
            rerun.stdout
        );
        for (name, sum) in names.iter().zip(&sums) {
            assert_converged(daemon, tmp.path(), name, sum, "after Ctrl-C");
        }
    }
}

/// A `destroy` killed at any point is finished by running it again: the instance, its profile
/// and its `destroy: true` filesystem end up gone, and a filesystem without `destroy` keeps its
/// data.
#[test]
fn a_killed_destroy_is_completed_by_running_it_again() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        write_config(
            root,
            "conv.cfg",
            "#cloud-config\nwrite_files:\n- path: /etc/lxops-converged\n  content: \"yes\\n\"\n",
        );
        let config = write_config(
            root,
            "gone.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\nfilesystems:\n  data:\n    pattern: {}/(instance)\n  scratch:\n    pattern: {}/scratch-(instance)\n    destroy: true\ndevices:\n  srv:\n    path: /srv\n    filesystem: data\n  tmp:\n    path: /scratch\n    filesystem: scratch\n",
                lxops_tests::BUSYBOX,
                root.display(),
                root.display()
            ),
        );
        let server = server(daemon);
        let mut cleanup = Cleanup::new(daemon);
        for ms in [30, 80, 150, 300] {
            let name = unique_name("t-killd");
            cleanup.instance(&name);
            cleanup.profile(&format!("{name}.lxops"));
            let sum = seed_data(root, &name);
            lxops(daemon, &["launch", "-name", &name, &config]).ok();
            run_and_kill(daemon, &["destroy", "--force", "-name", &name, &config], ms);
            lxops(daemon, &["destroy", "--force", "-name", &name, &config]).ok();
            assert!(!instance_exists(&server, &name), "{daemon} kill at {ms} ms");
            assert!(
                !crate::cli::profile_exists(&server, &format!("{name}.lxops")),
                "{daemon} kill at {ms} ms: profile left"
            );
            assert!(
                !root.join(format!("scratch-{name}")).exists(),
                "{daemon} kill at {ms} ms: the destroy: true filesystem is left"
            );
            assert_eq!(checksum(root, &name), sum, "{daemon} kill at {ms} ms: data");
        }
    }
}
