//! cloud-config applied through the API on both daemons, from the command line: every module
//! and encoding in the original's order on the Debian image, an offline package install from a
//! local repository written by `write_files`, users with groups, sudo and keys (modes and owners
//! checked inside), idempotent re-apply, a failing runcmd script that stops the launch, dry
//! runs, users (busybox's own account tools, as on Alpine) and files on busybox with the alpine
//! OS type; modes, append, runcmd and users as cloud-init does them, on Debian and busybox; and
//! the warnings every command shows (with the real binaries). The differential test against
//! the real cloud-init is `cargo xtask oracle` (`tests/cloudinit/`).

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

/// Files, packages and runcmd in one file; the order log proves the module order. The image
/// has no package lists: `packages` implies the `apt-get update` that reads the local
/// repository.
fn files_cfg(dir: &Path) -> String {
    format!(
        "#cloud-config
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

        // `package_update: false` skips the refresh while the lists are there, and refreshes
        // them when they are missing (installing needs them).
        let again = write_config(
            dir.path(),
            "again.cfg",
            "#cloud-config\npackage_update: false\npackages: [lxops-hello]\n",
        );
        let lists = "stat -c %Y /var/lib/apt/lists/*_Packages";
        let before = sh(&server, &name, lists);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let apply = ["cloudconfig", "--ostype", "debian", "-i", &name, &again];
        lxops(daemon, &apply).ok();
        assert_eq!(
            sh(&server, &name, lists),
            before,
            "{daemon}: lists present: no refresh"
        );
        sh(&server, &name, "rm -f /var/lib/apt/lists/*_Packages");
        lxops(daemon, &apply).ok();
        assert_ne!(
            sh(&server, &name, &format!("{lists} 2>/dev/null || true")),
            "",
            "{daemon}: lists missing: refreshed"
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
            "#cloud-config\nruncmd:\n- echo first > /srv-first\n- echo broken >&2; exit 3\n- echo never > /srv-never\n",
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
        for text in ["runcmd[1]", "exit status 3", "broken"] {
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
            "{daemon}: the script ended at `exit 3`"
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

/// Modes (special bits, every form), `append` as cloud-init (creates the file and its
/// directories, applies mode and owner) and runcmd as one script from `/`.
const MODES_CFG: &str = "#cloud-config
write_files:
- {path: /srv/setuid, content: x, permissions: '4755'}
- {path: /srv/setgid, content: x, permissions: '2750'}
- {path: /srv/sticky, content: x, permissions: '1644'}
- path: /srv/oct
  content: x
  permissions: 0o640
- path: /srv/int
  content: x
  permissions: 644
- {path: /srv/new/dir/app.log, content: \"one\\n\", append: true, permissions: '0600', owner: daemon}
- {path: /srv/kept, content: \"a\\n\"}
- {path: /srv/kept, content: \"b\\n\", append: true, owner: 'daemon:daemon', permissions: '0640'}
runcmd:
- pwd > /srv/start
- cd /tmp
- X=1
- touch relative
- \"false\"
- echo \"status=$? x=$X pwd=$(pwd)\" > /srv/runcmd.out
";

#[test]
fn modes_append_and_runcmd_as_cloud_init_on_debian_and_busybox() {
    for daemon in DAEMONS {
        for (ostype, image) in [
            ("debian", lxops_tests::DEBIAN),
            ("alpine", lxops_tests::BUSYBOX),
        ] {
            let server = server(daemon);
            let name = unique_name("t-ccm");
            let _cleanup = Cleanup::new(&server, &[&name]);
            let dir = tempfile::tempdir().expect("tempdir");
            write_config(dir.path(), "modes.cfg", MODES_CFG);
            let config = write_config(
                dir.path(),
                "c.yaml",
                &format!("#lxops-v1\nostype: {ostype}\nimage: {image}\ncloud-config-files:\n- modes.cfg\n"),
            );
            let dry = lxops(daemon, &["launch", "--dry-run", "-name", &name, &config]).ok();
            assert!(
                dry.stdout.contains("write /srv/setuid (mode 4755"),
                "{daemon} {ostype}: the dry run says the mode the file gets: {}",
                dry.stdout
            );
            lxops(daemon, &["launch", "-name", &name, &config]).ok();
            // configure writes everything again: the modes must survive a re-apply.
            lxops(daemon, &["configure", "-name", &name, &config]).ok();
            assert_eq!(
                sh(
                    &server,
                    &name,
                    "cd /srv && stat -c '%n %a %U:%G' setuid setgid sticky oct int new/dir/app.log kept"
                ),
                "setuid 4755 root:root\nsetgid 2750 root:root\nsticky 1644 root:root\noct 640 root:root\n\
                 int 644 root:root\nnew/dir/app.log 600 daemon:root\nkept 640 daemon:daemon",
                "{daemon} {ostype}: modes and owners"
            );
            assert_eq!(
                sh(&server, &name, "cat /srv/new/dir/app.log; cat /srv/kept"),
                "one\none\na\nb",
                "{daemon} {ostype}: append created the file, then appended on re-apply"
            );
            assert_eq!(
                sh(
                    &server,
                    &name,
                    "cat /srv/start /srv/runcmd.out; ls /tmp/relative"
                ),
                "/\nstatus=1 x=1 pwd=/tmp\n/tmp/relative",
                "{daemon} {ostype}: one script from /: cd, variables and $? carry over"
            );
        }
    }
}

/// Users as cloud-init makes them on Debian (useradd) and with busybox's tools (alpine).
#[test]
fn users_system_passwords_locks_and_dotted_sudo_names() {
    const HASH: &str = "$6$saltsalt$Ot1BfBx0Rx4Q2lUyPyn1o0vOeY1q0rb3e0KqPqBqgVhbW9zxXz7sEiBZ3lVr4z5x7e6kqvG5Q6iH2lq9bVqBv/";
    let cfg = format!(
        "#cloud-config
write_files:
- path: /etc/sudoers.d/README
  content: \"the image has no sudo: the drop-in directory comes from here\\n\"
  permissions: '0440'
users:
- name: svc
  system: true
- name: pw
  passwd: {HASH}
  lock_passwd: false
- name: hashed
  hashed_passwd: {HASH}
- name: plain
- name: john.doe
  sudo: true
"
    );
    for daemon in DAEMONS {
        for (ostype, image) in [
            ("debian", lxops_tests::DEBIAN),
            ("alpine", lxops_tests::BUSYBOX),
        ] {
            let server = server(daemon);
            let name = unique_name("t-ccu");
            let _cleanup = Cleanup::new(&server, &[&name]);
            let dir = tempfile::tempdir().expect("tempdir");
            write_config(dir.path(), "users.cfg", &cfg);
            let config = write_config(
                dir.path(),
                "c.yaml",
                &format!("#lxops-v1\nostype: {ostype}\nimage: {image}\ncloud-config-files:\n- users.cfg\n"),
            );
            lxops(daemon, &["launch", "-name", &name, &config]).ok();
            let uid: u32 = sh(&server, &name, "id -u svc").parse().expect("uid");
            assert!(uid < 1000, "{daemon} {ostype}: system uid {uid}");
            assert_eq!(
                sh(
                    &server,
                    &name,
                    "test -e /home/svc && echo home || echo no home"
                ),
                "no home",
                "{daemon} {ostype}: a system user has no home"
            );
            let state = |user: &str| {
                sh(
                    &server,
                    &name,
                    &format!("grep '^{user}:' /etc/shadow | cut -d: -f2"),
                )
            };
            assert_eq!(state("pw"), HASH, "{daemon} {ostype}: passwd, unlocked");
            assert_eq!(
                state("hashed"),
                format!("!{HASH}"),
                "{daemon} {ostype}: hashed_passwd is locked unless lock_passwd: false"
            );
            let plain = state("plain");
            match ostype {
                // Alpine keeps the original's `*` (no password can match; ssh keys work).
                "alpine" => assert_eq!(plain, "*", "{daemon} {ostype}"),
                _ => assert!(plain.starts_with('!'), "{daemon} {ostype}: locked: {plain}"),
            }
            assert_eq!(
                sh(
                    &server,
                    &name,
                    "stat -c '%a %U' '/etc/sudoers.d/john%2Edoe'; cat '/etc/sudoers.d/john%2Edoe'"
                ),
                "440 root\njohn.doe ALL=(ALL) NOPASSWD:ALL",
                "{daemon} {ostype}: a drop-in name sudo reads (no dot)"
            );
            assert_eq!(
                sh(&server, &name, "id -un john.doe"),
                "john.doe",
                "{daemon} {ostype}: dotted user name"
            );
        }
    }
}

/// The installed command of a daemon (`cargo xtask test` builds them before this suite).
fn binary(daemon: lxops_tests::Daemon) -> std::path::PathBuf {
    let name = match daemon {
        lxops_tests::Daemon::Lxd => "lxops-lxd",
        lxops_tests::Daemon::Incus => "lxops-incus",
    };
    // The test executable is target/debug/deps/e2e-HASH.
    let exe = std::env::current_exe().expect("test executable");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .expect("target dir");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p lxops-lxd -p lxops-incus` first (cargo xtask test does)",
        path.display()
    );
    path
}

/// Ignored keys and modules are warnings (file and line) on every command that reads
/// cloud-config: with the real binary, whose log output goes to stderr.
#[test]
fn cloud_config_warnings_are_shown_by_every_command() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-ccw");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write_config(
            dir.path(),
            "w.cfg",
            "#cloud-config\nbootcmd: [date]\nusers:\n- default\n- name: u1\n  expiredate: '2030-01-01'\n",
        );
        let config = write_config(
            dir.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\ncloud-config-files:\n- w.cfg\n",
                lxops_tests::BUSYBOX
            ),
        );
        let run = |args: &[&str]| {
            let out = Command::new(binary(daemon))
                .args(args)
                .env_remove("RUST_LOG")
                .output()
                .expect("spawn lxops");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let expected = [
            "w.cfg:2: warning: unknown module `bootcmd` is ignored",
            "w.cfg:4: warning: users[0]: the `default` user is not supported",
            "w.cfg:6: warning: users[1]: unknown key `expiredate` is ignored",
        ];
        let commands: Vec<Vec<&str>> = vec![
            vec!["launch", "-name", &name, &config],
            vec!["configure", "-name", &name, &config],
            vec!["cloudconfig", "--ostype", "alpine", "-i", &name, &file],
            vec![
                "instance",
                "cloudconfig",
                "--ostype",
                "alpine",
                "-i",
                &name,
                &file,
            ],
            vec![
                "cloudconfig",
                "--dry-run",
                "--ostype",
                "alpine",
                "-f",
                &file,
                &name,
            ],
        ];
        for args in &commands {
            let (code, _, stderr) = run(args);
            assert_eq!(code, Some(0), "{daemon}: {args:?}: {stderr}");
            for text in expected {
                assert!(
                    stderr.contains(text),
                    "{daemon}: {args:?} shows {text:?}: {stderr}"
                );
            }
        }
        let (code, stdout, _) = run(&["i", "verify", "-name", &name, &config]);
        assert_eq!(code, Some(0), "{daemon}");
        for text in expected {
            assert!(
                stdout.contains(text),
                "{daemon}: i verify shows {text:?}: {stdout}"
            );
        }
        for args in [
            vec!["i", "verify", "--strict", "-name", &name, &config],
            vec![
                "cloudconfig",
                "--strict",
                "--ostype",
                "alpine",
                "-i",
                &name,
                &file,
            ],
            vec![
                "instance",
                "cloudconfig",
                "--strict",
                "--ostype",
                "alpine",
                "-i",
                &name,
                &file,
            ],
        ] {
            let (code, _, stderr) = run(&args);
            assert_eq!(
                code,
                Some(2),
                "{daemon}: {args:?}: --strict makes them errors: {stderr}"
            );
            assert!(
                stderr.contains("unknown module `bootcmd`"),
                "{daemon}: {stderr}"
            );
        }
    }
}
