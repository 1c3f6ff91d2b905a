//! "Destroy only what lxops made", through the real `lxops-lxd` and `lxops-incus` binaries on
//! both daemons: every attempt to destroy, delete or rename the wrong thing is refused with exit
//! status 2 and leaves everything intact (checked with stat and `zfs list`); names are checked
//! before the host is touched; a launch the server refuses removes only what it made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cli::{instance_exists, profile_exists, server, write_config, Cleanup, Outcome};
use crate::devices::{dataset_exists, host, HostCleanup, POOL};
use lxops_tests::{unique_name, Daemon, BUSYBOX, DAEMONS};

/// The real binary of `daemon`, built once per test run (`cargo build --bins`), so these tests
/// run exactly what users run.
fn binary(daemon: Daemon) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "lxops-lxd", "-p", "lxops-incus"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the lxops binaries failed");
        let exe = std::env::current_exe().expect("test executable");
        // target/debug/deps/e2e-HASH -> target/debug
        exe.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf()
    });
    dir.join(match daemon {
        Daemon::Lxd => "lxops-lxd",
        Daemon::Incus => "lxops-incus",
    })
}

/// Runs the real binary of `daemon` with `args`.
fn run(daemon: Daemon, args: &[&str]) -> Outcome {
    let out = Command::new(binary(daemon))
        .args(args)
        .output()
        .expect("run lxops");
    Outcome {
        code: out.status.code().unwrap_or(255) as u8,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What a path looks like now: kind, mode, owner, entries (to show it is intact).
fn stat(path: &Path) -> String {
    match std::fs::symlink_metadata(path) {
        Err(e) => format!("{}: {e}", path.display()),
        Ok(m) => {
            use std::os::unix::fs::MetadataExt;
            let entries = std::fs::read_dir(path)
                .map(|d| d.count())
                .unwrap_or_default();
            format!(
                "{} mode {:o} owner {}:{} entries {entries}",
                path.display(),
                m.mode(),
                m.uid(),
                m.gid()
            )
        }
    }
}

/// A config with one `destroy: true` filesystem at `pattern`.
fn config_with(dir: &Path, file: &str, pattern: &str, extra: &str) -> String {
    write_config(
        dir,
        file,
        &format!(
            "#lxops-v1\nostype: alpine\nimage: {BUSYBOX}\n{extra}filesystems:\n  fs:\n    pattern: \
             {pattern}\n    destroy: true\ndevices:\n  data:\n    path: /data\n    filesystem: fs\n    dir: .\n"
        ),
    )
}

#[test]
fn destroy_refuses_system_dirs_pool_roots_shared_and_unmarked_data() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    // A top-level directory of our own first: if the rule failed, this is what would go,
    // not /etc.
    let canary = PathBuf::from(format!("/{}", unique_name("lxops-canary")));
    std::fs::create_dir_all(canary.join("inside")).expect("canary");
    let _canary_cleanup = HostCleanup {
        datasets: Vec::new(),
        dirs: vec![canary.clone()],
    };
    let shared = base.join("shared");
    std::fs::create_dir_all(shared.join("keep")).expect("shared");
    for daemon in DAEMONS {
        let name = unique_name("t-safe");
        let unmarked = base.join(&name);
        std::fs::create_dir_all(unmarked.join("keep")).expect("unmarked");
        // (pattern, -name, why): a pattern with (instance) and a name that makes it resolve
        // to a system directory is the mistake the rules exist for.
        let unmarked_pattern = format!("{}/(instance)", base.display());
        let cases: Vec<(String, &str, &str)> = vec![
            (canary.display().to_string(), &name, "top-level directory"),
            ("/".into(), &name, "is / or a top-level directory"),
            ("/etc".into(), &name, "is / or a top-level directory"),
            ("/(instance)".into(), "etc", "is / or a top-level directory"),
            ("/(instance)".into(), "dev", "is / or a top-level directory"),
            (
                "/usr/share/(instance)".into(),
                "doc",
                "belongs to a system package",
            ),
            ("(instance)".into(), POOL, "root dataset of a ZFS pool"),
            (shared.display().to_string(), &name, "it is shared"),
            (unmarked_pattern, &name, "the instance does not exist"),
        ];
        for (pattern, name, reason) in &cases {
            let name = *name;
            let config = config_with(base, "c.yaml", pattern, "");
            let path = pattern.replace("(instance)", name);
            let paths: Vec<PathBuf> = if path == POOL {
                vec![PathBuf::from(format!("/{POOL}"))]
            } else {
                vec![PathBuf::from(path)]
            };
            let before: Vec<String> = paths.iter().map(|p| stat(p)).collect();
            for args in [
                vec!["destroy", "--dry-run", "--force", "-name", name, &config],
                vec!["destroy", "--force", "--adopt", "-name", name, &config],
                vec!["destroy", "--force", "-name", name, &config],
            ] {
                run(daemon, &args).fails(2, reason);
                let after: Vec<String> = paths.iter().map(|p| stat(p)).collect();
                assert_eq!(after, before, "{daemon} {pattern} {args:?}: intact");
                assert!(canary.join("inside").is_dir(), "{daemon}: canary intact");
            }
            assert!(dataset_exists(POOL), "{daemon}: pool intact");
        }
        assert!(
            unmarked.join("keep").is_dir(),
            "{daemon}: unmarked data kept"
        );
        assert!(shared.join("keep").is_dir(), "{daemon}: shared data kept");
    }
}

#[test]
fn delete_and_destroy_spare_other_instances_profiles_and_data() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path();
        let server = server(daemon);
        let a = unique_name("t-own");
        let b = unique_name("t-oth");
        let _cleanup = Cleanup::new(&server, &[&a, &b]);
        let pattern = format!("{}/(instance)", base.display());
        let config = config_with(base, "a.yaml", &pattern, "");
        run(daemon, &["launch", "-name", &a, &config]).ok();
        std::fs::write(base.join(&a).join("file"), "a's data").expect("write");

        // b never existed: the default profile and a's profile are never deleted.
        let no_fs = |profile: &str| {
            write_config(
                base,
                &format!("b-{profile}.yaml"),
                &format!(
                    "#lxops-v1\nostype: alpine\nimage: {BUSYBOX}\nprofile-pattern: {profile}\n"
                ),
            )
        };
        let out = run(
            daemon,
            &["destroy", "--force", "-name", &b, &no_fs("default")],
        )
        .ok();
        assert!(
            out.stdout
                .contains("profile default not deleted: it is the default profile"),
            "{daemon}: {}",
            out.stdout
        );
        let a_profile = format!("{a}.lxops");
        let out = run(
            daemon,
            &[
                "destroy",
                "--force",
                "--adopt",
                "-name",
                &b,
                &no_fs(&a_profile),
            ],
        )
        .ok();
        assert!(
            out.stdout.contains(&format!(
                "profile {a_profile} not deleted: other instances use it ({a})"
            )),
            "{daemon}: {}",
            out.stdout
        );
        assert!(profile_exists(&server, "default"), "{daemon}: default kept");
        assert!(
            profile_exists(&server, &a_profile),
            "{daemon}: a's profile kept"
        );

        // b's directory carries a's mark (as if a's data sat there): refused.
        let b_dir = base.join(&b);
        std::fs::create_dir_all(&b_dir).expect("b dir");
        host(&[
            "setfattr",
            "-n",
            "user.lxops.instance",
            "-v",
            &format!("default/{a}"),
            b_dir.to_str().expect("utf-8"),
        ]);
        run(
            daemon,
            &["destroy", "--force", "--adopt", "-name", &b, &config],
        )
        .fails(2, &format!("it is marked as made for instance default/{a}"));
        assert!(b_dir.is_dir(), "{daemon}: a's data at b's path kept");

        // b's directory inside the directory a uses as its disk device: refused.
        let inside = base.join(&a).join(&b);
        std::fs::create_dir_all(&inside).expect("inside");
        let nested = config_with(
            base,
            "nested.yaml",
            &format!("{}/{a}/(instance)", base.display()),
            "",
        );
        run(
            daemon,
            &["destroy", "--force", "--adopt", "-name", &b, &nested],
        )
        .fails(
            2,
            &format!(
                "the config of instance {a} resolves to {}",
                base.join(&a).display()
            ),
        );
        // Without a's config file, a's disk device still protects it.
        let moved = base.join("a.yaml.moved");
        std::fs::rename(&config, &moved).expect("move a's config");
        run(
            daemon,
            &["destroy", "--force", "--adopt", "-name", &b, &nested],
        )
        .fails(2, &format!("instance {a} uses {}", base.join(&a).display()));
        std::fs::rename(&moved, &config).expect("restore a's config");
        assert!(inside.is_dir(), "{daemon}: data inside a's directory kept");

        // a's own destroy takes exactly its marked directory and profile.
        let before = stat(base);
        run(daemon, &["destroy", "--force", "-name", &a, &config]).ok();
        assert!(!base.join(&a).exists(), "{daemon}: a's directory destroyed");
        assert!(
            !profile_exists(&server, &a_profile),
            "{daemon}: a's profile deleted"
        );
        assert!(b_dir.is_dir(), "{daemon}: b's directory kept");
        assert_ne!(stat(base), before, "{daemon}: one entry fewer");
    }
}

#[test]
fn rename_onto_another_instances_data_is_refused() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path();
        let server = server(daemon);
        let a = unique_name("t-rn");
        let b = unique_name("t-rn");
        let _cleanup = Cleanup::new(&server, &[&a, &b]);
        let config = config_with(
            base,
            "a.yaml",
            &format!("{}/(instance)", base.display()),
            "",
        );
        run(daemon, &["launch", "-name", &a, &config]).ok();
        std::fs::create_dir_all(base.join(&b)).expect("b's data");
        std::fs::write(base.join(&b).join("file"), "b's data").expect("write");
        let stop = Command::new(daemon.cli())
            .args(["stop", "--force", &a])
            .output()
            .expect("stop");
        assert!(stop.status.success(), "{daemon}: stop");
        run(daemon, &["rename", "-name", &a, &config, &b]).fails(2, "exists already");
        assert!(instance_exists(&server, &a), "{daemon}: a not renamed");
        assert_eq!(
            std::fs::read_to_string(base.join(&b).join("file")).expect("b's data"),
            "b's data"
        );
        assert!(base.join(&a).is_dir(), "{daemon}: a's data in place");
    }
}

#[test]
fn names_are_checked_before_the_host_is_touched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let config = config_with(
        base,
        "c.yaml",
        &format!("{}/x/(instance)", base.display()),
        "",
    );
    for daemon in DAEMONS {
        for name in ["", ".", "a/b", "a b", "a;b", "é1"] {
            for command in ["launch", "destroy", "create-devices"] {
                run(daemon, &[command, "--name", name, &config]).fails(2, "instance name");
                assert!(
                    !base.join("x").exists(),
                    "{daemon} {command} {name:?}: no host work"
                );
            }
        }
    }
}

#[test]
fn a_launch_the_server_refuses_removes_only_what_it_made() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path();
        let server = server(daemon);
        let name = unique_name("t-undo");
        let zfs = format!("{POOL}/{}", unique_name("t-undo"));
        let _host = HostCleanup {
            datasets: vec![zfs.clone()],
            dirs: Vec::new(),
        };
        let _cleanup = Cleanup::new(&server, &[&name]);
        // Existing data of an earlier life, and a new filesystem of each kind.
        let old = base.join("old").join(&name);
        std::fs::create_dir_all(&old).expect("old");
        std::fs::write(old.join("file"), "old data").expect("write");
        let config = write_config(
            base,
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {BUSYBOX}\nlxc-options: [-c, no.such.key=1]\n\
                 filesystems:\n  old:\n    pattern: {b}/old/(instance)\n  new:\n    pattern: \
                 {b}/new/(instance)\n  z:\n    pattern: {zfs}/(instance)\ndevices:\n  old:\n    \
                 path: /old\n    filesystem: old\n  new:\n    path: /new\n    filesystem: new\n  \
                 z:\n    path: /z\n    filesystem: z\n",
                b = base.display(),
            ),
        );
        run(daemon, &["launch", "-name", &name, &config]).fails(1, "no.such.key");
        assert!(!instance_exists(&server, &name), "{daemon}: no instance");
        assert!(
            !profile_exists(&server, &format!("{name}.lxops")),
            "{daemon}: no profile"
        );
        assert_eq!(
            std::fs::read_to_string(old.join("file")).expect("old"),
            "old data"
        );
        assert!(
            !old.join("old").exists(),
            "{daemon}: new device dir removed"
        );
        assert!(
            !base.join("new").exists(),
            "{daemon}: new directories removed"
        );
        assert!(!dataset_exists(&zfs), "{daemon}: new datasets removed");
    }
}

#[test]
fn dry_runs_print_what_launch_and_destroy_then_do() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path();
        let server = server(daemon);
        let name = unique_name("t-dry");
        let zfs = format!("{POOL}/{}", unique_name("t-dry"));
        let _host = HostCleanup {
            datasets: vec![zfs.clone()],
            dirs: Vec::new(),
        };
        let _cleanup = Cleanup::new(&server, &[&name]);
        let config = write_config(
            base,
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {BUSYBOX}\nfilesystems:\n  d:\n    pattern: \
                 {b}/(instance)\n    destroy: true\n  z:\n    pattern: {zfs}/(instance)\n    \
                 destroy: true\ndevices:\n  data:\n    path: /data\n    filesystem: d\n  home:\n    \
                 path: /home\n    filesystem: z\n",
                b = base.display(),
            ),
        );
        // Fresh, then again over the data the first life left (delete keeps it).
        for life in ["fresh", "existing data"] {
            let dry = run(daemon, &["launch", "--dry-run", "-name", &name, &config]).ok();
            let real = run(daemon, &["launch", "-name", &name, &config]).ok();
            assert_eq!(dry.stdout, real.stdout, "{daemon} launch ({life})");
            if life == "fresh" {
                run(daemon, &["delete", "--force", "-name", &name, &config]).ok();
            }
        }
        let dry = run(
            daemon,
            &["destroy", "--dry-run", "--force", "-name", &name, &config],
        )
        .ok();
        let real = run(daemon, &["destroy", "--force", "-name", &name, &config]).ok();
        assert_eq!(dry.stdout, real.stdout, "{daemon} destroy");
        assert!(real
            .stdout
            .contains(&format!("destroy filesystem z ({zfs}/{name})")));
        assert!(!base.join(&name).exists(), "{daemon}: directory destroyed");
        assert!(
            !dataset_exists(&format!("{zfs}/{name}")),
            "{daemon}: dataset destroyed"
        );
        assert!(
            dataset_exists(&zfs),
            "{daemon}: the parent dataset lxops did not make stays"
        );
    }
}

/// A small ZFS pool of its own (a 64 MB file), destroyed when dropped.
struct SmallPool {
    name: String,
    file: PathBuf,
}

impl SmallPool {
    fn new() -> Self {
        let name = unique_name("lxopsfull");
        let file = std::env::temp_dir().join(format!("{name}.img"));
        let f = std::fs::File::create(&file).expect("pool file");
        f.set_len(64 << 20).expect("pool size");
        host(&["zpool", "create", &name, file.to_str().expect("utf-8")]);
        SmallPool { name, file }
    }

    /// Writes random data into the pool until it is full.
    fn fill(&self) {
        let _ = Command::new("dd")
            .args([
                "if=/dev/urandom",
                &format!("of=/{}/fill", self.name),
                "bs=1M",
            ])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for SmallPool {
    fn drop(&mut self) {
        for _ in 0..20 {
            let ok = Command::new("zpool")
                .args(["destroy", "-f", &self.name])
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// A read-only tmpfs at `dir`, unmounted when dropped.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        host(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "ro,size=1m",
            "tmpfs",
            dir.to_str().expect("utf-8"),
        ]);
        ReadOnlyMount(dir.to_path_buf())
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A config with one filesystem at `pattern` and a device on it.
fn one_filesystem(dir: &Path, pattern: &str) -> String {
    config_with(dir, "c.yaml", pattern, "")
}

#[test]
fn a_full_pool_fails_the_launch_naming_the_dataset_and_leaves_nothing() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let server = server(daemon);
        let name = unique_name("t-full");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let pool = SmallPool::new();
        pool.fill();
        let config = one_filesystem(tmp.path(), &format!("{}/(instance)", pool.name));
        let dataset = format!("{}/{name}", pool.name);
        run(daemon, &["launch", "-name", &name, &config])
            .fails(1, &dataset)
            .fails(1, "out of space");
        assert!(!instance_exists(&server, &name), "{daemon}: no instance");
        assert!(
            !profile_exists(&server, &format!("{name}.lxops")),
            "{daemon}: no profile"
        );
        assert_eq!(
            host(&["zfs", "list", "-H", "-r", "-o", "name", &pool.name]),
            pool.name,
            "{daemon}: no dataset left"
        );
    }
}

#[test]
fn a_read_only_directory_fails_the_launch_naming_the_path_and_leaves_nothing() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let server = server(daemon);
        let name = unique_name("t-ro");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let ro = tmp.path().join("ro");
        let _mount = ReadOnlyMount::new(&ro);
        let config = one_filesystem(tmp.path(), &format!("{}/(instance)", ro.display()));
        run(daemon, &["launch", "-name", &name, &config])
            .fails(1, &ro.join(&name).display().to_string())
            .fails(1, "Read-only file system");
        assert!(!instance_exists(&server, &name), "{daemon}: no instance");
        assert!(
            !profile_exists(&server, &format!("{name}.lxops")),
            "{daemon}: no profile"
        );
        assert_eq!(
            std::fs::read_dir(&ro).expect("ro").count(),
            0,
            "{daemon}: nothing"
        );
    }
}

#[test]
fn a_busy_dataset_fails_destroy_naming_it_and_a_rerun_completes() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path();
        let server = server(daemon);
        let name = unique_name("t-busy");
        let zfs = format!("{POOL}/{}", unique_name("t-busy"));
        let _host = HostCleanup {
            datasets: vec![zfs.clone()],
            dirs: Vec::new(),
        };
        let _cleanup = Cleanup::new(&server, &[&name]);
        let config = write_config(
            base,
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {BUSYBOX}\nfilesystems:\n  d:\n    pattern: \
                 {b}/(instance)\n    destroy: true\n  z:\n    pattern: {zfs}/(instance)\n    \
                 destroy: true\ndevices:\n  data:\n    path: /data\n    filesystem: d\n  home:\n    \
                 path: /home\n    filesystem: z\n",
                b = base.display(),
            ),
        );
        run(daemon, &["create-devices", "-name", &name, &config]).ok();
        let dataset = format!("{zfs}/{name}");
        let mountpoint = crate::devices::zfs_mountpoint(&dataset);
        // A process whose working directory is inside the dataset keeps it busy.
        let mut holder = Command::new("sleep")
            .arg("120")
            .current_dir(&mountpoint)
            .spawn()
            .expect("sleep");
        let out = run(daemon, &["destroy", "--force", "-name", &name, &config]);
        let _ = holder.kill();
        let _ = holder.wait();
        let out = out.fails(1, &dataset).fails(1, "busy");
        assert!(
            out.stderr.contains("stop what uses it"),
            "{daemon}: {}",
            out.stderr
        );
        assert!(dataset_exists(&dataset), "{daemon}: the busy dataset stays");
        assert!(
            base.join(&name).is_dir(),
            "{daemon}: nothing after it was destroyed"
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
        run(daemon, &["destroy", "--force", "-name", &name, &config]).ok();
        assert!(
            !dataset_exists(&dataset),
            "{daemon}: destroyed on the re-run"
        );
        assert!(
            !base.join(&name).exists(),
            "{daemon}: destroyed on the re-run"
        );
    }
}

#[test]
fn a_directory_without_extended_attributes_is_marked_next_to_it() {
    for daemon in DAEMONS {
        let tmp = tempfile::tempdir().expect("tmp");
        let name = unique_name("t-side");
        let zfs = format!("{POOL}/{}", unique_name("t-side"));
        let _host = HostCleanup {
            datasets: vec![zfs.clone()],
            dirs: Vec::new(),
        };
        host(&["zfs", "create", &zfs]);
        // ZFS over FUSE has no user extended attributes: a plain directory on it.
        let parent = crate::devices::zfs_mountpoint(&zfs);
        let config = one_filesystem(tmp.path(), &format!("{}/(instance)", parent.display()));
        run(daemon, &["create-devices", "-name", &name, &config]).ok();
        let mark = parent
            .join(".lxops-marks")
            .join(&name)
            .join("user.lxops.instance");
        assert_eq!(
            std::fs::read_to_string(&mark).expect("mark next to the directory"),
            format!("default/{name}"),
            "{daemon}"
        );
        assert!(
            !parent.join(&name).join(".lxops-marks").exists(),
            "{daemon}: nothing inside the device data"
        );
        run(daemon, &["destroy", "-name", &name, &config]).ok();
        assert!(!parent.join(&name).exists(), "{daemon}: destroyed");
        assert!(
            !parent.join(".lxops-marks").exists(),
            "{daemon}: its mark too"
        );
    }
}
