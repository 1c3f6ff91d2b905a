//! Host filesystems and disk devices through the lxops command line, on both daemons, with real
//! ZFS (zfs-fuse), btrfs (loop-mounted) and plain directories: device directories appear
//! root-owned inside the container, data survives rebuild, delete and relaunch, snapshots roll
//! back, templates and origins seed new instances, destroy removes exactly the `destroy: true`
//! filesystems, and rename keeps the data.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{instance_exists, lxops, server, sh, write_config, Cleanup};
use lxops_tests::{unique_name, Daemon, DAEMONS};

/// The ZFS pool that `cargo xtask setup` creates.
pub(crate) const POOL: &str = "lxopstest";
/// Where `cargo xtask setup` mounts a btrfs.
const BTRFS: &str = "/var/lib/lxops-test/btrfs";

/// Runs a host command and returns its stdout; panics with its stderr on failure.
#[track_caller]
pub(crate) fn host(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Where ZFS mounts `dataset` (panics if ZFS cannot say).
#[track_caller]
pub(crate) fn zfs_mountpoint(dataset: &str) -> PathBuf {
    PathBuf::from(host(&[
        "zfs",
        "get",
        "-H",
        "-o",
        "value",
        "mountpoint",
        dataset,
    ]))
}

pub(crate) fn dataset_exists(name: &str) -> bool {
    Command::new("zfs")
        .args(["list", "-H", "-o", "name", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Destroys everything a test made on the host (datasets, btrfs subvolumes, directories),
/// when dropped. Instances go first (their [`Cleanup`] guard is declared after this one).
pub(crate) struct HostCleanup {
    pub(crate) datasets: Vec<String>,
    pub(crate) dirs: Vec<PathBuf>,
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        for ds in &self.datasets {
            for _ in 0..20 {
                if !dataset_exists(ds) {
                    break;
                }
                // zfs-fuse reports "dataset is busy" for a moment after the container let go.
                let ok = Command::new("zfs")
                    .args(["destroy", "-r", ds])
                    .stderr(std::process::Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if ok {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
        for dir in &self.dirs {
            remove_btrfs_tree(dir);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Deletes btrfs subvolumes under `dir` (deepest first), so the directory can be removed.
fn remove_btrfs_tree(dir: &Path) {
    let Ok(out) = Command::new("btrfs")
        .args(["subvolume", "list", "-o", BTRFS])
        .output()
    else {
        return;
    };
    let mut subvolumes: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split(" path ").nth(1))
        .map(|p| Path::new(BTRFS).join(p.trim()))
        .filter(|p| p.starts_with(dir))
        .collect();
    subvolumes.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for sv in subvolumes {
        let _ = Command::new("btrfs")
            .args(["property", "set", "-ts"])
            .arg(&sv)
            .args(["ro", "false"])
            .status();
        let _ = Command::new("btrfs")
            .args(["subvolume", "delete"])
            .arg(&sv)
            .output();
    }
}

/// One test's host area: a ZFS parent dataset, a btrfs directory and a plain directory.
struct Area {
    zfs: String,
    btrfs: PathBuf,
    dir: tempfile::TempDir,
    _cleanup: HostCleanup,
}

fn area(prefix: &str) -> Area {
    let id = unique_name(prefix);
    let zfs = format!("{POOL}/{id}");
    let btrfs = Path::new(BTRFS).join(&id);
    Area {
        _cleanup: HostCleanup {
            datasets: vec![zfs.clone()],
            dirs: vec![btrfs.clone()],
        },
        zfs,
        btrfs,
        dir: tempfile::tempdir().expect("tempdir"),
    }
}

/// A busybox config with one filesystem of each kind and a device on each.
fn three_kinds(area: &Area, image: &str) -> String {
    format!(
        "#lxops-v1
ostype: alpine
image: (img)
properties:
  img: {image}
filesystems:
  z:
    pattern: {zfs}/(instance)
    zfsproperties:
      compression: \"on\"
    destroy: true
  b:
    type: btrfs
    pattern: {btrfs}/(instance)
  d:
    pattern: {dir}/(instance)
    destroy: true
devices:
  home:
    path: /home
    filesystem: z
  log:
    path: /var/log/app
    filesystem: b
  data:
    path: /data
    filesystem: d
    dir: .
",
        zfs = area.zfs,
        btrfs = area.btrfs.display(),
        dir = area.dir.path().display(),
    )
}

/// Creates the per-test ZFS parent and btrfs directory.
fn prepare(area: &Area) {
    host(&["zfs", "create", "-p", &area.zfs]);
    std::fs::create_dir_all(&area.btrfs).expect("btrfs dir");
}

#[test]
fn three_kinds_root_owned_and_kept_across_rebuild_delete_and_relaunch() {
    for daemon in DAEMONS {
        let area = area("t-dev");
        prepare(&area);
        let server = server(daemon);
        let name = unique_name("t-dev");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let config = write_config(
            area.dir.path(),
            "c.yaml",
            &three_kinds(&area, lxops_tests::BUSYBOX),
        );

        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        assert!(
            dataset_exists(&format!("{}/{name}", area.zfs)),
            "{daemon}: dataset created"
        );
        assert_eq!(
            host(&[
                "zfs",
                "get",
                "-H",
                "-o",
                "value",
                "compression",
                &format!("{}/{name}", area.zfs)
            ]),
            "on",
            "{daemon}: zfsproperties applied"
        );
        for dir in ["/home", "/var/log/app", "/data"] {
            assert_eq!(
                sh(&server, &name, &format!("stat -c %u:%g {dir}")),
                "0:0",
                "{daemon}: {dir} root-owned inside"
            );
            sh(
                &server,
                &name,
                &format!("echo {daemon}-{name} > {dir}/keep"),
            );
        }

        let v2 = format!("img={}", lxops_tests::BUSYBOX_V2);
        lxops(daemon, &["rebuild", "-name", &name, "-P", &v2, &config]).ok();
        assert_eq!(
            sh(&server, &name, "cat /etc/lxops-test-release"),
            "v2",
            "{daemon}: rebuilt"
        );
        for dir in ["/home", "/var/log/app", "/data"] {
            assert_eq!(
                sh(&server, &name, &format!("cat {dir}/keep")),
                format!("{daemon}-{name}"),
                "{daemon}: {dir} kept by rebuild"
            );
        }

        let out = lxops(daemon, &["delete", "--force", "-name", &name, &config]).ok();
        assert!(
            out.stdout.contains("remaining filesystems"),
            "{}",
            out.stdout
        );
        assert!(!instance_exists(&server, &name));
        assert!(
            dataset_exists(&format!("{}/{name}", area.zfs)),
            "{daemon}: delete keeps datasets"
        );

        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        for dir in ["/home", "/var/log/app", "/data"] {
            assert_eq!(
                sh(&server, &name, &format!("cat {dir}/keep")),
                format!("{daemon}-{name}"),
                "{daemon}: {dir} reused by relaunch"
            );
        }

        lxops(daemon, &["destroy", "--force", "-name", &name, &config]).ok();
        assert!(
            !dataset_exists(&format!("{}/{name}", area.zfs)),
            "{daemon}: destroy: true dataset destroyed"
        );
        assert!(
            !area.dir.path().join(&name).exists(),
            "{daemon}: destroy: true directory removed"
        );
        assert!(
            area.btrfs.join(&name).join("log").join("keep").exists(),
            "{daemon}: the btrfs filesystem without destroy stays"
        );
    }
}

#[test]
fn snapshot_and_rollback_restore_device_data() {
    for daemon in DAEMONS {
        let area = area("t-snap");
        prepare(&area);
        let server = server(daemon);
        let name = unique_name("t-snap");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let config = write_config(
            area.dir.path(),
            "c.yaml",
            &three_kinds(&area, lxops_tests::BUSYBOX),
        );
        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        sh(
            &server,
            &name,
            "echo before > /home/f; echo before > /var/log/app/f",
        );

        lxops(daemon, &["snapshot", "-s", "s1", "-name", &name, &config]).ok();
        sh(
            &server,
            &name,
            "echo after > /home/f; echo after > /var/log/app/f",
        );
        let stop =
            crate::cli::block_on(server.stop_instance(&name, lxops_core::server::StopMode::Force));
        stop.expect("stop");
        lxops(daemon, &["rollback", "-s", "s1", "-name", &name, &config]).ok();
        crate::cli::block_on(server.start_instance(&name)).expect("start");
        assert_eq!(
            sh(&server, &name, "cat /home/f"),
            "before",
            "{daemon}: zfs rolled back"
        );
        assert_eq!(
            sh(&server, &name, "cat /var/log/app/f"),
            "before",
            "{daemon}: btrfs rolled back"
        );

        lxops(
            daemon,
            &["snapshot", "-d", "-s", "s1", "-name", &name, &config],
        )
        .ok();
        assert!(
            !dataset_exists(&format!("{}/{name}@s1", area.zfs)),
            "{daemon}: snapshot destroyed"
        );
    }
}

#[test]
fn device_template_copies_and_device_origin_clones() {
    for daemon in DAEMONS {
        let area = area("t-tmpl");
        prepare(&area);
        let server = server(daemon);
        let template = unique_name("t-tmpl");
        let copy = unique_name("t-copy");
        let clone = unique_name("t-clone");
        let _cleanup = Cleanup::new(&server, &[&template, &copy, &clone]);
        let base = format!(
            "#lxops-v1\nostype: alpine\nimage: {}\nfilesystems:\n  z:\n    pattern: {}/(instance)\ndevices:\n  home:\n    path: /home\n    filesystem: z\n",
            lxops_tests::BUSYBOX,
            area.zfs
        );
        let base_file = write_config(area.dir.path(), "base.yaml", &base);
        lxops(daemon, &["launch", "-name", &template, &base_file]).ok();
        sh(
            &server,
            &template,
            "mkdir /home/u && echo seeded > /home/u/f && chmod 700 /home/u",
        );
        lxops(
            daemon,
            &["snapshot", "-s", "seed", "-name", &template, &base_file],
        )
        .ok();

        let with_template = format!("{base}device-template: {template}\n");
        let file = write_config(area.dir.path(), "copy.yaml", &with_template);
        lxops(daemon, &["launch", "-name", &copy, &file]).ok();
        assert_eq!(
            sh(&server, &copy, "cat /home/u/f"),
            "seeded",
            "{daemon}: template copied"
        );
        assert_eq!(
            sh(&server, &copy, "stat -c %a:%u /home/u"),
            "700:0",
            "{daemon}: modes and owners kept"
        );

        let with_origin = format!("{base}device-origin: {template}@seed\n");
        let file = write_config(area.dir.path(), "clone.yaml", &with_origin);
        lxops(daemon, &["launch", "-name", &clone, &file]).ok();
        assert_eq!(
            sh(&server, &clone, "cat /home/u/f"),
            "seeded",
            "{daemon}: origin cloned"
        );
        let origin = host(&[
            "zfs",
            "get",
            "-H",
            "-o",
            "value",
            "origin",
            &format!("{}/{clone}", area.zfs),
        ]);
        assert_eq!(
            origin,
            format!("{}/{template}@seed", area.zfs),
            "{daemon}: a real ZFS clone"
        );

        for n in [&clone, &copy, &template] {
            lxops(daemon, &["delete", "--force", "-name", n, &base_file]).ok();
        }
    }
}

#[test]
fn rename_keeps_device_data() {
    for daemon in DAEMONS {
        let area = area("t-ren");
        prepare(&area);
        let server = server(daemon);
        let old = unique_name("t-ren");
        let new = unique_name("t-ren");
        let _cleanup = Cleanup::new(&server, &[&old, &new]);
        let config = write_config(
            area.dir.path(),
            "c.yaml",
            &three_kinds(&area, lxops_tests::BUSYBOX),
        );
        lxops(daemon, &["launch", "-name", &old, &config]).ok();
        sh(
            &server,
            &old,
            "echo mine > /home/f; echo mine > /data/f; echo mine > /var/log/app/f",
        );
        crate::cli::block_on(server.stop_instance(&old, lxops_core::server::StopMode::Force))
            .expect("stop");

        lxops(daemon, &["rename", "-name", &old, &config, &new]).ok();
        assert!(!instance_exists(&server, &old), "{daemon}: old name gone");
        assert!(
            dataset_exists(&format!("{}/{new}", area.zfs)),
            "{daemon}: dataset renamed"
        );
        crate::cli::block_on(server.start_instance(&new)).expect("start");
        for f in ["/home/f", "/data/f", "/var/log/app/f"] {
            assert_eq!(
                sh(&server, &new, &format!("cat {f}")),
                "mine",
                "{daemon}: {f} kept by rename"
            );
        }
    }
}

#[test]
fn failed_launch_never_removes_existing_data() {
    for daemon in DAEMONS {
        let area = area("t-fail");
        prepare(&area);
        let server = server(daemon);
        let name = unique_name("t-fail");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let config = write_config(
            area.dir.path(),
            "c.yaml",
            &three_kinds(&area, "no-such-image"),
        );
        // The filesystems exist with data from an earlier life of the instance.
        let existing = area.dir.path().join(&name);
        std::fs::create_dir_all(&existing).expect("dir");
        std::fs::write(existing.join("old"), "data").expect("write");

        lxops(daemon, &["launch", "-name", &name, &config]).fails(1, "no-such-image");
        assert!(
            !instance_exists(&server, &name),
            "{daemon}: nothing half-created"
        );
        assert_eq!(
            std::fs::read_to_string(existing.join("old")).expect("kept"),
            "data",
            "{daemon}: data kept"
        );
    }
}

#[test]
fn bad_patterns_are_refused_before_anything_changes() {
    let daemon = Daemon::Incus;
    let area = area("t-bad");
    let name = unique_name("t-bad");
    let cases = [
        ("no-such-pool-xyz/(instance)", "no-such-pool-xyz"),
        ("/tmp/../etc/(instance)", ".."),
    ];
    for (pattern, message) in cases {
        let text = format!(
            "#lxops-v1\nostype: alpine\nimage: {}\nfilesystems:\n  z:\n    pattern: {pattern}\ndevices:\n  home:\n    path: /home\n    filesystem: z\n",
            lxops_tests::BUSYBOX
        );
        let config = write_config(area.dir.path(), "bad.yaml", &text);
        let out = lxops(daemon, &["launch", "-name", &name, &config]);
        assert_ne!(out.code, 0, "{pattern}: refused");
        assert!(out.stderr.contains(message), "{pattern}: {}", out.stderr);
        assert!(
            !instance_exists(&server(daemon), &name),
            "{pattern}: nothing created"
        );
    }
}
