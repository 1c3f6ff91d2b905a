//! `shiftids`, `copy-filesystems` and `extract` through the command line, with both binaries:
//! ids shift only below the offset, ZFS filesystems are sent between instances without their
//! transient ones, and `extract` fills new device directories from an image (shifted to the
//! instance's root ids) without ever touching existing ones or leaving its temporary instance.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::cli::{block_on, lxops, server, write_config};
use crate::devices::{dataset_exists, host, zfs_mountpoint, HostCleanup, POOL};
use lxops_tests::{unique_name, DAEMONS};

fn owner(path: &Path) -> (u32, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    (meta.uid(), meta.gid())
}

#[test]
fn shiftids_shifts_ids_below_the_offset_and_skips_symlinks() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("tree");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("low"), "x").expect("write");
        std::fs::write(root.join("high"), "x").expect("write");
        std::fs::write(root.join("sub/f"), "x").expect("write");
        std::os::unix::fs::symlink("low", root.join("link")).expect("symlink");
        std::os::unix::fs::chown(root.join("low"), Some(5), Some(7)).expect("chown");
        std::os::unix::fs::chown(root.join("high"), Some(2_000_000), Some(300_000)).expect("chown");
        std::os::unix::fs::lchown(root.join("link"), Some(3), Some(3)).expect("lchown");

        let dir = root.display().to_string();
        let out = lxops(
            daemon,
            &["shiftids", "-u", "100000", "-g", "200000", "-v", &dir],
        )
        .ok();
        assert_eq!(out.stdout.trim(), dir, "{daemon}: -v prints the directory");
        assert_eq!(owner(&root), (100_000, 200_000), "{daemon}: root included");
        assert_eq!(owner(&root.join("low")), (100_005, 200_007), "{daemon}");
        assert_eq!(owner(&root.join("sub/f")), (100_000, 200_000), "{daemon}");
        assert_eq!(
            owner(&root.join("high")),
            (2_000_000, 300_000),
            "{daemon}: ids at or above the offset stay"
        );
        assert_eq!(
            owner(&root.join("link")),
            (3, 3),
            "{daemon}: symlinks skipped"
        );

        let again = lxops(daemon, &["shiftids", "-u", "100000", "-g", "200000", &dir]).ok();
        assert_eq!(again.stdout, "", "{daemon}: quiet without -v");
        assert_eq!(
            owner(&root.join("low")),
            (100_005, 200_007),
            "{daemon}: idempotent"
        );

        let missing = tmp.path().join("missing").display().to_string();
        lxops(daemon, &["shiftids", "-u", "1", "-g", "1", &missing]).fails(2, &missing);
    }
}

#[test]
fn copy_filesystems_sends_the_non_transient_zfs_filesystems() {
    for daemon in DAEMONS {
        let id = unique_name("t-copy");
        let parent = format!("{POOL}/{id}");
        let _host_cleanup = HostCleanup {
            datasets: vec![parent.clone()],
            dirs: Vec::new(),
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nimage: {}\nfilesystems:\n  data:\n    pattern: {parent}/(instance)\n  tmp:\n    pattern: {parent}/(instance)-tmp\n    transient: true\n",
                lxops_tests::BUSYBOX
            ),
        );
        let (a, b) = ("a1", "b1");
        lxops(daemon, &["create-devices", "-name", a, &config]).ok();
        let mountpoint = zfs_mountpoint(&format!("{parent}/{a}"));
        std::fs::write(mountpoint.join("file"), "from a1").expect("write");
        std::fs::write(
            zfs_mountpoint(&format!("{parent}/{a}-tmp")).join("scratch"),
            "x",
        )
        .expect("write");

        let dry = lxops(
            daemon,
            &[
                "copy-filesystems",
                "--dry-run",
                "-c",
                &config,
                "--container",
                b,
                "--from-container",
                a,
            ],
        )
        .ok();
        assert!(
            dry.stdout
                .contains(&format!("would run: zfs send {parent}/{a}@")),
            "{daemon}: {}",
            dry.stdout
        );
        assert!(
            !dataset_exists(&format!("{parent}/{b}")),
            "{daemon}: dry run"
        );

        let out = lxops(
            daemon,
            &[
                "copy-filesystems",
                "-c",
                &config,
                "-container",
                b,
                "-from-container",
                a,
            ],
        )
        .ok();
        assert!(
            out.stdout.contains("skip transient filesystem tmp"),
            "{daemon}: {}",
            out.stdout
        );
        let target = zfs_mountpoint(&format!("{parent}/{b}"));
        assert_eq!(
            std::fs::read_to_string(target.join("file")).expect("copied file"),
            "from a1",
            "{daemon}: copied"
        );
        assert!(
            !dataset_exists(&format!("{parent}/{b}-tmp")),
            "{daemon}: transient filesystem not copied"
        );
        let snapshots = host(&[
            "zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r", &parent,
        ]);
        assert!(
            snapshots.contains(&format!("{parent}/{a}@")),
            "{daemon}: the source was snapshotted: {snapshots}"
        );

        // An existing target is refused by zfs receive and nothing is overwritten.
        let again = lxops(
            daemon,
            &[
                "copy-filesystems",
                "-c",
                &config,
                "--container",
                b,
                "--from-container",
                a,
            ],
        );
        assert_eq!(again.code, 1, "{daemon}: {}", again.stderr);
        assert_eq!(
            std::fs::read_to_string(target.join("file")).expect("kept"),
            "from a1"
        );
        lxops(
            daemon,
            &[
                "copy-filesystems",
                "-c",
                &config,
                "--container",
                b,
                "--from-host",
                "h",
                "--to-host",
                "h",
            ],
        )
        .fails(2, "--from-host");
    }
}

fn extract_instances(daemon: lxops_tests::Daemon) -> BTreeSet<String> {
    block_on(server(daemon).instance_names())
        .expect("instance names")
        .into_iter()
        .filter(|n| n.starts_with("extract-"))
        .collect()
}

#[test]
fn extract_fills_new_device_dirs_from_the_image_and_keeps_existing_ones() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("fs");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nimage: (img)\nproperties:\n  img: {}\nfilesystems:\n  d:\n    pattern: {root}/(instance)\n  t:\n    pattern: {root}/(instance)-tmp\n    transient: true\ndevices:\n  etc:\n    path: /etc\n    filesystem: d\n  bin:\n    path: /bin\n    filesystem: t\n",
                lxops_tests::BUSYBOX,
                root = root.display()
            ),
        );
        let before = extract_instances(daemon);
        let name = unique_name("t-ext");

        let dry = lxops(daemon, &["extract", "--dry-run", "-name", &name, &config]).ok();
        for step in ["copy image /etc", "chown the new device directories"] {
            assert!(
                dry.stdout.contains(step),
                "{daemon}: {step:?} in {}",
                dry.stdout
            );
        }
        assert!(
            !root.join(&name).exists(),
            "{daemon}: dry run changes nothing"
        );

        let out = lxops(daemon, &["extract", "-name", &name, &config]).ok();
        assert!(
            out.stdout.contains("copied /etc"),
            "{daemon}: {}",
            out.stdout
        );
        let etc = root.join(&name).join("etc");
        for file in ["passwd", "hostname", "group"] {
            assert!(etc.join(file).is_file(), "{daemon}: {file} extracted");
        }
        let (uid, gid) = owner(&etc.join("passwd"));
        assert_ne!(uid, 0, "{daemon}: shifted to the unprivileged root uid");
        assert_eq!((uid, gid), owner(&etc), "{daemon}: the device dir too");
        assert_eq!(
            std::fs::metadata(etc.join("shadow"))
                .expect("shadow")
                .mode()
                & 0o777,
            0o600,
            "{daemon}: modes kept"
        );
        let bin = root.join(format!("{name}-tmp")).join("bin");
        assert!(bin.is_dir(), "{daemon}: transient device dir created");
        assert_eq!(
            std::fs::read_dir(&bin).expect("bin").count(),
            0,
            "{daemon}: nothing extracted into a transient filesystem"
        );
        assert_eq!(
            extract_instances(daemon),
            before,
            "{daemon}: no temporary instance left"
        );

        std::fs::write(etc.join("hostname"), "mine\n").expect("write");
        std::fs::write(etc.join("marker"), "x").expect("write");
        let again = lxops(daemon, &["extract", "-name", &name, &config]).ok();
        assert!(again.stdout.contains("keep"), "{daemon}: {}", again.stdout);
        assert_eq!(
            std::fs::read_to_string(etc.join("hostname")).expect("hostname"),
            "mine\n",
            "{daemon}: an existing device dir is never touched"
        );
        assert!(etc.join("marker").exists(), "{daemon}: nothing removed");

        let missing = unique_name("t-ext");
        lxops(
            daemon,
            &[
                "extract",
                "-name",
                &missing,
                "-P",
                "img=no-such-image",
                &config,
            ],
        )
        .fails(1, "no-such-image");
        assert!(!root.join(&missing).exists(), "{daemon}: nothing created");
        assert_eq!(
            extract_instances(daemon),
            before,
            "{daemon}: no temporary instance left"
        );
    }
}
