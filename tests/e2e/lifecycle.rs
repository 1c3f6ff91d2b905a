//! The instance lifecycle through the lxops command line on both daemons: launch, rebuild onto
//! a new image with the data kept, delete refused while running, rename, snapshot and
//! rollback of the instance, launch copying an `origin` instance or snapshot, dry runs that
//! change nothing, and a failed launch that leaves nothing behind.

use crate::cli::{instance_exists, lxops, profile_exists, server, sh, write_config, Cleanup};
use lxops_tests::{unique_name, DAEMONS};

/// A busybox config with one plain-directory filesystem and one device on it; the image comes
/// from the `img` property so a test can rebuild onto another one with `-P`.
fn busybox_config(dir: &std::path::Path) -> String {
    format!(
        "#lxops-v1\nostype: alpine\nimage: (img)\nproperties:\n  img: {}\nfilesystems:\n  data:\n    pattern: {}/(instance)\n    destroy: true\ndevices:\n  data:\n    path: /data\n    filesystem: data\n",
        lxops_tests::BUSYBOX,
        dir.join("fs").display()
    )
}

#[test]
fn launch_rebuild_delete_keeps_device_data() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-lc");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path(), "c.yaml", &busybox_config(dir.path()));

        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        assert_eq!(
            sh(&server, &name, "cat /etc/lxops-test-release"),
            "v1",
            "{daemon:?}"
        );
        assert_eq!(
            sh(&server, &name, "stat -c %u:%g /data"),
            "0:0",
            "{daemon:?}: device dir root-owned inside"
        );
        sh(&server, &name, "echo precious > /data/keep");
        assert!(profile_exists(&server, &format!("{name}.lxops")));

        let v2 = format!("img={}", lxops_tests::BUSYBOX_V2);
        lxops(daemon, &["rebuild", "-name", &name, "-P", &v2, &config]).ok();
        assert_eq!(
            sh(&server, &name, "cat /etc/lxops-test-release"),
            "v2",
            "{daemon:?}: rebuilt"
        );
        assert_eq!(
            sh(&server, &name, "cat /data/keep"),
            "precious",
            "{daemon:?}: data kept"
        );

        lxops(daemon, &["delete", "-name", &name, &config]).fails(1, "is running");
        assert!(
            instance_exists(&server, &name),
            "{daemon:?}: refused delete touched nothing"
        );

        let out = lxops(daemon, &["delete", "--force", "-name", &name, &config]).ok();
        assert!(
            out.stdout.contains("remaining filesystems"),
            "{}",
            out.stdout
        );
        assert!(!instance_exists(&server, &name));
        assert!(!profile_exists(&server, &format!("{name}.lxops")));
        let keep = dir.path().join("fs").join(&name).join("data").join("keep");
        assert!(keep.exists(), "{daemon:?}: delete keeps the filesystem");

        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        assert_eq!(
            sh(&server, &name, "cat /data/keep"),
            "precious",
            "{daemon:?}: relaunch reuses data"
        );
        lxops(daemon, &["destroy", "--force", "-name", &name, &config]).ok();
        assert!(
            !dir.path().join("fs").join(&name).exists(),
            "{daemon:?}: destroy removed it"
        );
    }
}

#[test]
fn dry_run_changes_nothing() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-dry");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path(), "c.yaml", &busybox_config(dir.path()));
        let out = lxops(daemon, &["launch", "--dry-run", "-name", &name, &config]).ok();
        for expected in ["create profile", "create instance", "start instance"] {
            assert!(
                out.stdout.contains(expected),
                "{daemon:?}: {expected:?} in\n{}",
                out.stdout
            );
        }
        assert!(!instance_exists(&server, &name));
        assert!(!profile_exists(&server, &format!("{name}.lxops")));
        assert!(
            !dir.path().join("fs").exists(),
            "{daemon:?}: no directory created"
        );
    }
}

#[test]
fn launch_with_missing_image_leaves_nothing() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-noimg");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path(), "c.yaml", &busybox_config(dir.path()));
        lxops(
            daemon,
            &["launch", "-name", &name, "-P", "img=no-such-image", &config],
        )
        .fails(1, "image no-such-image not found");
        assert!(!instance_exists(&server, &name));
        assert!(!profile_exists(&server, &format!("{name}.lxops")));
        assert!(
            !dir.path().join("fs").exists(),
            "{daemon:?}: no directory created"
        );
    }
}

#[test]
fn relaunch_reuses_profile_and_refuses_existing_instance() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-re");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path(), "c.yaml", &busybox_config(dir.path()));
        lxops(daemon, &["create-profile", "-name", &name, &config]).ok();
        let out = lxops(daemon, &["launch", "-name", &name, &config]).ok();
        assert!(
            out.stdout.contains("reuse identical profile"),
            "{}",
            out.stdout
        );
        lxops(daemon, &["launch", "-name", &name, &config]).fails(1, "already exists");
    }
}

#[test]
fn rename_moves_instance_profile_and_data() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let old = unique_name("t-old");
        let new = unique_name("t-new");
        let _cleanup = Cleanup::new(&server, &[&old, &new]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path(), "c.yaml", &busybox_config(dir.path()));
        lxops(daemon, &["launch", "-name", &old, &config]).ok();
        sh(&server, &old, "echo moved > /data/file");
        lxops(daemon, &["rename", "-name", &old, &config, &new]).fails(1, "is running");
        crate::cli::block_on(server.stop_instance(&old, lxops_core::server::StopMode::Force))
            .expect("stop");
        lxops(daemon, &["rename", "-name", &old, &config, &new]).ok();
        assert!(!instance_exists(&server, &old) && instance_exists(&server, &new));
        assert!(profile_exists(&server, &format!("{new}.lxops")));
        assert!(!profile_exists(&server, &format!("{old}.lxops")));
        crate::cli::block_on(server.start_instance(&new)).expect("start");
        assert_eq!(sh(&server, &new, "cat /data/file"), "moved", "{daemon:?}");
    }
}

#[test]
fn instance_snapshot_and_rollback() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-snap");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            dir.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\n",
                lxops_tests::BUSYBOX
            ),
        );
        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        sh(&server, &name, "echo before > /root/state");
        lxops(
            daemon,
            &["snapshot", "-c", "-s", "s1", "-name", &name, &config],
        )
        .ok();
        sh(&server, &name, "echo after > /root/state");
        crate::cli::block_on(server.stop_instance(&name, lxops_core::server::StopMode::Force))
            .expect("stop");
        lxops(
            daemon,
            &["rollback", "-c", "-s", "s1", "-name", &name, &config],
        )
        .ok();
        crate::cli::block_on(server.start_instance(&name)).expect("start");
        assert_eq!(
            sh(&server, &name, "cat /root/state"),
            "before",
            "{daemon:?}"
        );
    }
}

#[test]
fn launch_copies_the_origin_instance_or_snapshot() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let source = unique_name("t-orig");
        let from_snapshot = unique_name("t-fromsnap");
        let from_instance = unique_name("t-frominst");
        let missing = unique_name("t-nosrc");
        let _cleanup = Cleanup::new(
            &server,
            &[&source, &from_snapshot, &from_instance, &missing],
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let source_config = write_config(
            dir.path(),
            "source.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\n",
                lxops_tests::BUSYBOX
            ),
        );
        lxops(daemon, &["launch", "-name", &source, &source_config]).ok();
        sh(&server, &source, "echo in-snapshot > /root/state");
        crate::cli::block_on(server.create_snapshot(&source, "s1")).expect("snapshot");
        sh(&server, &source, "echo after > /root/state");
        let copy = |file: &str, origin: &str| {
            write_config(
                dir.path(),
                file,
                &format!("#lxops-v1\nostype: alpine\norigin: {origin}\n"),
            )
        };

        let snapshot_config = copy("snap.yaml", &format!("{source}/s1"));
        lxops(
            daemon,
            &["launch", "-name", &from_snapshot, &snapshot_config],
        )
        .ok();
        assert_eq!(
            sh(&server, &from_snapshot, "cat /root/state"),
            "in-snapshot",
            "{daemon}: copied from the snapshot"
        );

        crate::cli::block_on(server.stop_instance(&source, lxops_core::server::StopMode::Force))
            .expect("stop");
        let instance_config = copy("inst.yaml", &source);
        lxops(
            daemon,
            &["launch", "-name", &from_instance, &instance_config],
        )
        .ok();
        assert_eq!(
            sh(&server, &from_instance, "cat /root/state"),
            "after",
            "{daemon}: copied from the instance"
        );

        let missing_config = copy("missing.yaml", &format!("{source}/no-such-snapshot"));
        lxops(daemon, &["launch", "-name", &missing, &missing_config]).fails(1, "no-such-snapshot");
        assert!(
            !instance_exists(&server, &missing),
            "{daemon}: nothing left"
        );
        assert!(!profile_exists(&server, &format!("{missing}.lxops")));
    }
}
