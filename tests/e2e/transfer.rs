//! `instance push|pull [-r]` on both daemons: a tree with modes, owners, symlinks, an empty
//! and nested directories goes in and comes back out the same (checked with `stat` and
//! `sha256sum` on both sides), the dry run prints the run's lines and changes nothing, and
//! the real binary refuses to write through a symlink on either side.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use lxops_core::server::{ExecRequest, InstanceServer, SymlinkCreate};

use crate::cli::{block_on, lxops, server, sh};
use lxops_tests::{lxops_binary, unique_name, Daemon, DAEMONS};

/// One line per entry below the current directory: path, mode, owner, kind, and the symlink
/// target or the file's sha256. The same script runs on the host and in the instance.
const DESCRIBE: &str = r#"find . | LC_ALL=C sort | while read p; do
  s=$(stat -c '%a %u:%g %F' "$p")
  if [ -L "$p" ]; then echo "$p $s -> $(readlink "$p")"
  elif [ -f "$p" ]; then echo "$p $s $(sha256sum < "$p" | cut -d' ' -f1)"
  else echo "$p $s"; fi
done"#;

fn describe_local(dir: &Path) -> String {
    let out = Command::new("sh")
        .args(["-c", DESCRIBE])
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn describe_instance(server: &std::sync::Arc<dyn InstanceServer>, name: &str, dir: &str) -> String {
    sh(server, name, &format!("cd {dir} && {DESCRIBE}"))
}

/// The test tree: 0700 and 0750 directories, a 0600 file owned by 1000:1001, a set-uid file,
/// a 200 kB binary file, a relative and an absolute symlink, an empty and a nested directory.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("private/nested/deeper")).expect("dirs");
    std::fs::create_dir_all(root.join("empty")).expect("empty dir");
    std::fs::write(root.join("private/key"), "s3cret\n").expect("key");
    std::fs::write(root.join("private/nested/deeper/note"), "deep\n").expect("note");
    std::fs::write(root.join("tool"), "#!/bin/sh\necho tool\n").expect("tool");
    let blob: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(root.join("blob.bin"), blob).expect("blob");
    symlink("private/key", root.join("key-link")).expect("relative symlink");
    symlink("/etc/passwd", root.join("passwd-link")).expect("absolute symlink");
    for (path, mode) in [
        ("private", 0o700),
        ("empty", 0o750),
        ("private/key", 0o600),
        ("tool", 0o4755),
    ] {
        std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }
    std::os::unix::fs::chown(root.join("private"), Some(1000), Some(1000)).expect("chown");
    std::os::unix::fs::chown(root.join("private/key"), Some(1000), Some(1001)).expect("chown");
}

/// A running busybox instance, deleted at the end.
fn running(daemon: Daemon, prefix: &str) -> (String, crate::cli::Cleanup) {
    let server = server(daemon);
    let name = unique_name(prefix);
    let cleanup = crate::cli::Cleanup::new(&server, &[&name]);
    let config = format!(
        "#lxops-v1\nostype: alpine\nimage: {}\n",
        lxops_tests::BUSYBOX
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = crate::cli::write_config(tmp.path(), "c.yaml", &config);
    lxops(daemon, &["launch", "-name", &name, &file]).ok();
    (name, cleanup)
}

#[test]
fn a_tree_pushed_and_pulled_back_keeps_content_modes_owners_and_symlinks() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let (name, _cleanup) = running(daemon, "t-tree");
        let tmp = tempfile::tempdir().expect("tempdir");
        let tree = tmp.path().join("tree");
        make_tree(&tree);
        let tree_arg = tree.display().to_string();
        let dest = format!("{name}/tmp");

        let dry = lxops(
            daemon,
            &["instance", "push", "-r", "--dry-run", &tree_arg, &dest],
        )
        .ok();
        assert!(
            block_on(server.file_info(&name, "/tmp/tree"))
                .expect("info")
                .is_none(),
            "{daemon}: the dry run changed nothing"
        );
        let run = lxops(daemon, &["instance", "push", "-r", &tree_arg, &dest]).ok();
        assert_eq!(
            run.stdout, dry.stdout,
            "{daemon}: the run prints the dry run's lines"
        );
        assert_eq!(run.stdout.lines().count(), 11, "{daemon}:\n{}", run.stdout);

        // The files API keeps only 0777: the set-uid bit is the one difference.
        let expected = describe_local(&tree).replace("./tool 4755", "./tool 755");
        assert_eq!(
            describe_instance(&server, &name, "/tmp/tree"),
            expected,
            "{daemon}"
        );

        // Again: files are overwritten and symlinks replaced, with the same result.
        let again = lxops(daemon, &["instance", "push", "-r", &tree_arg, &dest]).ok();
        assert!(
            again.stdout.contains("(replacing a symlink)"),
            "{daemon}:\n{}",
            again.stdout
        );
        assert_eq!(
            describe_instance(&server, &name, "/tmp/tree"),
            expected,
            "{daemon}"
        );

        let back = tmp.path().join("back");
        std::fs::create_dir(&back).expect("back");
        let source = format!("{name}/tmp/tree");
        let back_arg = back.display().to_string();
        let dry = lxops(
            daemon,
            &["instance", "pull", "-r", "--dry-run", &source, &back_arg],
        )
        .ok();
        assert_eq!(
            std::fs::read_dir(&back).expect("back").count(),
            0,
            "{daemon}"
        );
        let run = lxops(daemon, &["instance", "pull", "-r", &source, &back_arg]).ok();
        assert_eq!(
            run.stdout, dry.stdout,
            "{daemon}: the run prints the dry run's lines"
        );
        assert_eq!(describe_local(&back.join("tree")), expected, "{daemon}");

        // Single files, without -r.
        let one = tmp.path().join("one");
        lxops(
            daemon,
            &[
                "instance",
                "pull",
                &format!("{name}/tmp/tree/private/key"),
                &one.display().to_string(),
            ],
        )
        .ok();
        assert_eq!(std::fs::read(&one).expect("one"), b"s3cret\n", "{daemon}");
        lxops(
            daemon,
            &[
                "instance",
                "push",
                &one.display().to_string(),
                &format!("{name}/root/"),
            ],
        )
        .ok();
        assert_eq!(
            sh(
                &server,
                &name,
                "stat -c '%a %u:%g' /root/one && cat /root/one"
            ),
            "600 1000:1001\ns3cret",
            "{daemon}"
        );
        let one_arg = one.display().to_string();
        let two = format!("{name}/root/two");
        lxops(
            daemon,
            &[
                "instance", "push", "-uid", "5", "-gid", "6", "-mode", "0604", &one_arg, &two,
            ],
        )
        .ok();
        assert_eq!(
            sh(&server, &name, "stat -c '%a %u:%g' /root/two"),
            "604 5:6",
            "{daemon}"
        );
        lxops(
            daemon,
            &["instance", "pull", &format!("{name}/tmp/tree"), &back_arg],
        )
        .fails(2, "use -r");
    }
}

#[test]
fn the_real_binary_refuses_to_write_through_symlinks_or_outside_the_target() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let (name, _cleanup) = running(daemon, "t-tresc");
        let tmp = tempfile::tempdir().expect("tempdir");
        let binary = lxops_binary(daemon);
        let run = |args: &[&str]| {
            let out = Command::new(&binary)
                .args(args)
                .env("HOME", std::env::temp_dir())
                .output()
                .expect("run lxops");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };

        // Pull: the instance has a directory `evil` with a `passwd` in it, where the local
        // copy has a symlink `evil` pointing outside the destination.
        sh(
            &server,
            &name,
            "mkdir -p /tmp/esc/evil && echo owned > /tmp/esc/evil/passwd",
        );
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).expect("outside");
        let dest = tmp.path().join("dest");
        std::fs::create_dir_all(dest.join("esc")).expect("dest");
        symlink(&outside, dest.join("esc/evil")).expect("symlink");
        let (code, stderr) = run(&[
            "instance",
            "pull",
            "-r",
            &format!("{name}/tmp/esc"),
            &dest.display().to_string(),
        ]);
        assert_eq!(code, Some(2), "{daemon}: {stderr}");
        assert!(
            stderr.contains("is a symlink where the tree has a directory"),
            "{daemon}: {stderr}"
        );
        assert_eq!(
            std::fs::read_dir(&outside).expect("outside").count(),
            0,
            "{daemon}: nothing written outside"
        );

        // Push: the instance has `/tmp/up/etc` as a symlink to `/etc`; the local tree has
        // `etc/passwd`. Pushing would overwrite the instance's `/etc/passwd`.
        let before = sh(&server, &name, "sha256sum /etc/passwd");
        sh(&server, &name, "mkdir -p /tmp/up");
        let link = SymlinkCreate {
            path: "/tmp/up/etc".into(),
            target: "/etc".into(),
        };
        block_on(server.make_symlink(&name, &link)).expect("symlink in the instance");
        let up = tmp.path().join("up");
        std::fs::create_dir_all(up.join("etc")).expect("up");
        std::fs::write(up.join("etc/passwd"), "owned\n").expect("passwd");
        let (code, stderr) = run(&[
            "instance",
            "push",
            "-r",
            &up.display().to_string(),
            &format!("{name}/tmp"),
        ]);
        assert_eq!(code, Some(2), "{daemon}: {stderr}");
        assert!(
            stderr.contains("is a symlink where the tree has a directory"),
            "{daemon}: {stderr}"
        );
        assert_eq!(
            sh(&server, &name, "sha256sum /etc/passwd"),
            before,
            "{daemon}: /etc/passwd untouched"
        );

        // An instance path with `..`.
        let (code, stderr) = run(&[
            "instance",
            "push",
            "-r",
            &up.display().to_string(),
            &format!("{name}/tmp/../etc"),
        ]);
        assert_eq!(code, Some(2), "{daemon}: {stderr}");
        assert!(stderr.contains("contains `..`"), "{daemon}: {stderr}");
        let out = block_on(server.exec(&name, &ExecRequest::argv(&["test", "-e", "/etc/etc"])))
            .expect("exec");
        assert_ne!(out.status, 0, "{daemon}: nothing pushed");
    }
}
