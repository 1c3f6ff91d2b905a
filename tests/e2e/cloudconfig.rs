//! cloud-config applied through the API on both daemons, from the command line: every module
//! and encoding in the original's order on the Debian image, an offline package install from a
//! local repository written by `write_files`, users with groups, sudo and keys (modes and owners
//! checked inside), idempotent re-apply, a failing command that stops the apply, dry runs, and
//! users (busybox's own account tools, as on Alpine) and files on busybox with the alpine OS
//! type.

use std::path::Path;
use std::process::Command;

use crate::cli::{lxops, server, sh, write_config, Cleanup};
use lxops_tests::{unique_name, DAEMONS};

/// Builds a tiny `.deb` (package `lxops-hello`, one file) and returns a local apt repository
/// for it as `write_files` entries: the package (base64), `Packages` and a sources list that
/// replaces the image's (there is no network).
fn local_repository(dir: &Path) -> String {
    let root = dir.join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).expect("pkg dir");
    std::fs::create_dir_all(root.join("usr/share/lxops-hello")).expect("pkg dir");
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: lxops-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: lxops tests <t@example.invalid>\nDescription: lxops test package\n",
    )
    .expect("control");
    std::fs::write(
        root.join("usr/share/lxops-hello/hello"),
        "hello from a package\n",
    )
    .expect("file");
    let deb = dir.join("lxops-hello_1.0_all.deb");
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(
        status.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&deb).expect("deb");
    let sha256 = run(&["sha256sum", &deb.display().to_string()]);
    let sha256 = sha256.split_whitespace().next().expect("sum");
    let b64 = run(&["base64", "-w0", &deb.display().to_string()]);
    let packages = format!(
        "Package: lxops-hello\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: lxops tests <t@example.invalid>\\nFilename: ./lxops-hello_1.0_all.deb\\nSize: {}\\nSHA256: {sha256}\\nDescription: lxops test package\\n",
        bytes.len()
    );
    format!(
        "- path: /opt/repo/lxops-hello_1.0_all.deb\n  encoding: b64\n  content: {b64}\n- path: /opt/repo/Packages\n  content: \"{packages}\"\n- path: /etc/apt/sources.list\n  content: \"deb [trusted=yes] file:/opt/repo ./\\n\"\n"
    )
}

#[track_caller]
fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn gzip_b64(text: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("printf '%s' '{text}' | gzip -c | base64 -w0"),
        ])
        .output()
        .expect("gzip");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Files, packages and runcmd in one file; the order log proves the module order.
fn files_cfg(dir: &Path) -> String {
    format!(
        "#cloud-config
package_update: true
packages:
- lxops-hello
write_files:
{repo}- path: /srv/order
  content: \"write_files\\n\"
- path: /srv/deferred
  content: \"deferred\\n\"
  defer: true
- path: /srv/order
  content: \"deferred write_files\\n\"
  append: true
  defer: true
- path: /srv/plain
  content: plain text
  permissions: '0640'
  owner: daemon:daemon
- path: /srv/b64
  encoding: base64
  content: aGVsbG8gYjY0
- path: /srv/gz
  encoding: gz+b64
  content: {gz}
- path: /srv/appended
  content: \"one\\n\"
- path: /srv/appended
  content: \"two\\n\"
  append: true
- path: /etc/sudoers.d/README
  content: \"# the image has no sudo: the drop-in directory comes from here\\n\"
  permissions: '0440'
runcmd:
- echo runcmd-string >> /srv/order
- [sh, -c, \"dpkg -s lxops-hello >/dev/null && echo runcmd-list >> /srv/order\"]
",
        repo = local_repository(dir),
        gz = gzip_b64("hello gzip"),
    )
}

const USERS_CFG: &str = "#cloud-config
groups:
- ops
- admins
users:
- name: alice
  gecos: Alice A
  shell: /bin/bash
  groups: ops, admins
  sudo: ALL=(ALL) NOPASSWD:ALL
  ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly alice@test
- name: bob
  uid: 2001
  groups: [ops]
  no_create_home: true
timezone: Europe/Athens
";

/// A Debian config applying `files.cfg` then `users.cfg`.
fn debian_config(dir: &Path) -> String {
    write_config(dir, "files.cfg", &files_cfg(dir));
    write_config(dir, "users.cfg", USERS_CFG);
    write_config(
        dir,
        "c.yaml",
        &format!(
            "#lxops-v1\nostype: debian\nimage: {}\ncloud-config-files:\n- files.cfg\n- users.cfg\n",
            lxops_tests::DEBIAN
        ),
    )
}

#[test]
fn debian_launch_applies_every_module_in_order_and_reapplies() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-cc");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = debian_config(dir.path());

        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        assert_eq!(
            sh(&server, &name, "cat /srv/order"),
            "write_files\ndeferred write_files\nruncmd-string\nruncmd-list",
            "{daemon}: module order (files before packages, deferred files before runcmd)"
        );
        assert_eq!(
            sh(&server, &name, "cat /usr/share/lxops-hello/hello"),
            "hello from a package",
            "{daemon}: offline package install"
        );
        assert_eq!(
            sh(&server, &name, "stat -c '%a %U:%G' /srv/plain"),
            "640 daemon:daemon",
            "{daemon}"
        );
        assert_eq!(sh(&server, &name, "cat /srv/b64"), "hello b64", "{daemon}");
        assert_eq!(sh(&server, &name, "cat /srv/gz"), "hello gzip", "{daemon}");
        assert_eq!(
            sh(&server, &name, "cat /srv/appended"),
            "one\ntwo",
            "{daemon}"
        );
        assert_eq!(
            sh(&server, &name, "cat /srv/deferred"),
            "deferred",
            "{daemon}"
        );

        let groups = sh(&server, &name, "id -nG alice");
        for g in ["alice", "ops", "admins"] {
            assert!(
                groups.split_whitespace().any(|x| x == g),
                "{daemon}: alice in {g}: {groups}"
            );
        }
        assert!(
            sh(&server, &name, "getent passwd alice | cut -d: -f5").starts_with("Alice A"),
            "{daemon}: gecos"
        );
        assert_eq!(
            sh(&server, &name, "getent passwd alice | cut -d: -f7"),
            "/bin/bash",
            "{daemon}: shell"
        );
        assert_eq!(
            sh(&server, &name, "stat -c '%a %U' /home/alice/.ssh"),
            "700 alice",
            "{daemon}: .ssh"
        );
        assert_eq!(
            sh(
                &server,
                &name,
                "stat -c '%a %U' /home/alice/.ssh/authorized_keys"
            ),
            "600 alice",
            "{daemon}: keys"
        );
        assert!(
            sh(&server, &name, "cat /home/alice/.ssh/authorized_keys").contains("alice@test"),
            "{daemon}"
        );
        assert_eq!(
            sh(&server, &name, "stat -c %a /etc/sudoers.d/alice"),
            "440",
            "{daemon}: sudo drop-in"
        );
        assert!(
            sh(&server, &name, "cat /etc/sudoers.d/alice").contains("alice ALL=(ALL) NOPASSWD:ALL"),
            "{daemon}"
        );
        assert_eq!(sh(&server, &name, "id -u bob"), "2001", "{daemon}: uid");
        assert_eq!(
            sh(&server, &name, "test -e /home/bob && echo yes || echo no"),
            "no",
            "{daemon}: no_create_home"
        );
        assert_eq!(
            sh(&server, &name, "readlink /etc/localtime"),
            "/usr/share/zoneinfo/Europe/Athens",
            "{daemon}: timezone"
        );

        // Re-applying the same files succeeds and changes nothing that matters.
        lxops(daemon, &["configure", "-name", &name, &config]).ok();
        assert_eq!(
            sh(&server, &name, "id -u bob"),
            "2001",
            "{daemon}: re-apply"
        );
        // write_files rewrites /srv/order, then every later module appends again.
        assert_eq!(
            sh(&server, &name, "cat /srv/order"),
            "write_files\ndeferred write_files\nruncmd-string\nruncmd-list",
            "{daemon}: every module runs again, in order"
        );
    }
}

#[test]
fn failing_command_stops_the_apply_with_file_module_and_status() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-ccf");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        write_config(
            dir.path(),
            "fail.cfg",
            "#cloud-config\nruncmd:\n- echo first > /srv-first\n- [sh, -c, \"echo broken >&2; exit 3\"]\n- echo never > /srv-never\n",
        );
        let config = write_config(
            dir.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\ncloud-config-files:\n- fail.cfg\n",
                lxops_tests::BUSYBOX
            ),
        );
        let out = lxops(daemon, &["launch", "-name", &name, &config]).fails(1, "fail.cfg");
        for text in ["runcmd", "3", "broken"] {
            assert!(
                out.stderr.contains(text),
                "{daemon}: {text:?} in {}",
                out.stderr
            );
        }
        assert_eq!(sh(&server, &name, "cat /srv-first"), "first", "{daemon}");
        assert_eq!(
            sh(&server, &name, "test -e /srv-never && echo yes || echo no"),
            "no",
            "{daemon}: stopped at the failure"
        );
    }
}

const ALPINE_USERS_CFG: &str = "#cloud-config
write_files:
- path: /etc/doas.d/README
  content: \"the image has no doas: the drop-in directory comes from here\\n\"
groups:
- ops
users:
- name: carol
  gecos: Carol C
  shell: /bin/sh
  groups: [ops]
  sudo: true
  ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly carol@test
- name: dave
  uid: 2002
  no_create_home: true
";

#[test]
fn busybox_as_alpine_users_files_dry_run_and_a_failing_user_tool() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-ccb");
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
        let file = write_config(dir.path(), "u.cfg", ALPINE_USERS_CFG);

        // The busybox image has no /etc/os-release: the OS type must be given.
        lxops(daemon, &["cloudconfig", "--dry-run", "-i", &name, &file]).fails(2, "--ostype");
        let dry = lxops(
            daemon,
            &[
                "cloudconfig",
                "--dry-run",
                "-ostype",
                "alpine",
                "-i",
                &name,
                &file,
            ],
        )
        .ok();
        for text in ["/etc/doas.d/README", "adduser", "carol", "dave"] {
            assert!(
                dry.stdout.contains(text),
                "{daemon}: dry run prints {text:?}: {}",
                dry.stdout
            );
        }
        assert_eq!(
            sh(&server, &name, "grep -c carol /etc/passwd || true"),
            "0",
            "{daemon}: dry run created nobody"
        );

        // Alpine's busybox account tools, for real.
        for _ in 0..2 {
            lxops(
                daemon,
                &["cloudconfig", "-ostype", "alpine", "-f", &file, &name],
            )
            .ok();
        }
        let groups = sh(&server, &name, "id -nG carol");
        for g in ["carol", "ops"] {
            assert!(
                groups.split_whitespace().any(|x| x == g),
                "{daemon}: carol in {g}: {groups}"
            );
        }
        assert_eq!(
            sh(&server, &name, "grep '^carol:' /etc/passwd | cut -d: -f5,7"),
            "Carol C:/bin/sh",
            "{daemon}: gecos and shell"
        );
        assert_eq!(
            sh(
                &server,
                &name,
                "stat -c '%a %U' /home/carol/.ssh /home/carol/.ssh/authorized_keys"
            ),
            "700 carol\n600 carol",
            "{daemon}: .ssh and keys"
        );
        assert!(
            sh(&server, &name, "cat /home/carol/.ssh/authorized_keys").contains("carol@test"),
            "{daemon}"
        );
        assert_eq!(
            sh(
                &server,
                &name,
                "stat -c '%a %U' /etc/doas.d/carol.conf; cat /etc/doas.d/carol.conf"
            ),
            "600 root\npermit nopass carol",
            "{daemon}: doas drop-in"
        );
        assert_eq!(
            sh(
                &server,
                &name,
                "test -e /etc/sudoers.d && echo yes || echo no"
            ),
            "no",
            "{daemon}: no sudoers drop-in without /etc/sudoers.d"
        );
        assert_eq!(
            sh(&server, &name, "grep '^carol:' /etc/shadow | cut -d: -f2"),
            "*",
            "{daemon}: key-only login (unlocked, no password)"
        );
        assert_eq!(sh(&server, &name, "id -u dave"), "2002", "{daemon}: uid");
        assert_eq!(
            sh(&server, &name, "test -e /home/dave && echo yes || echo no"),
            "no",
            "{daemon}: no_create_home"
        );

        // Re-applying with another shell updates the existing user.
        let changed = write_config(
            dir.path(),
            "shell.cfg",
            "#cloud-config\nusers:\n- name: carol\n  shell: /bin/ash\n",
        );
        lxops(
            daemon,
            &[
                "instance",
                "cloudconfig",
                "--ostype",
                "alpine",
                "-i",
                &name,
                &changed,
            ],
        )
        .ok();
        assert_eq!(
            sh(&server, &name, "grep '^carol:' /etc/passwd | cut -d: -f7"),
            "/bin/ash",
            "{daemon}: shell updated"
        );

        // A user tool that fails (dave has uid 2002) stops the apply, naming the file, the
        // module, the command and its stderr, after the earlier modules ran.
        let bad = write_config(
            dir.path(),
            "bad.cfg",
            "#cloud-config\nwrite_files:\n- path: /etc/motd\n  content: hi\n  permissions: '0600'\nusers:\n- name: erin\n  uid: 2002\n",
        );
        let failed = lxops(
            daemon,
            &["cloudconfig", "-ostype", "alpine", "-f", &bad, &name],
        )
        .fails(1, "adduser");
        assert!(
            failed.stderr.contains("bad.cfg")
                && failed.stderr.contains("users")
                && failed.stderr.contains("in use"),
            "{daemon}: {}",
            failed.stderr
        );
        assert_eq!(
            sh(&server, &name, "stat -c %a /etc/motd"),
            "600",
            "{daemon}: write_files ran before users"
        );
    }
}

#[test]
fn malformed_cloud_config_is_refused_before_launch() {
    let daemon = lxops_tests::Daemon::Incus;
    let server = server(daemon);
    let name = unique_name("t-ccm");
    let _cleanup = Cleanup::new(&server, &[&name]);
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(
        dir.path(),
        "bad.cfg",
        "#cloud-config\nwrite_files:\n- path: relative/path\n  content: x\n",
    );
    let config = write_config(
        dir.path(),
        "c.yaml",
        &format!(
            "#lxops-v1\nostype: alpine\nimage: {}\ncloud-config-files:\n- bad.cfg\n",
            lxops_tests::BUSYBOX
        ),
    );
    lxops(daemon, &["launch", "-name", &name, &config]).fails(2, "bad.cfg");
    assert!(
        !crate::cli::instance_exists(&server, &name),
        "nothing launched"
    );
}
