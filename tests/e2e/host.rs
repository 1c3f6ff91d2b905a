//! End-to-end tests of `lxops_core::host` against real ZFS (pool `lxopstest`), real btrfs
//! (under `/var/lib/lxops-test/btrfs`) and plain directories in a temp dir: create, keep
//! existing data, chown, template copy, clone, snapshot/rollback, rename, destroy, list,
//! export/import, copy, refusals. Every test uses unique names and cleans up in drop guards.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::devices::zfs_mountpoint;

use lxops_core::host::ops::{self, CopyOptions};
use lxops_core::host::{
    apply_devices, chown_paths, device_sources, plan_devices, CloneSource, DeviceDir, DeviceSetup,
    DeviceSpec, DryRunHost, FilesystemSpec, FsKind, HostError, Owner, RemovalRules, SystemHost,
};

const POOL: &str = "lxopstest";
const BTRFS: &str = "/var/lib/lxops-test/btrfs";
const OWNER: Owner = Owner {
    uid: 1_000_000,
    gid: 1_000_000,
};

/// A unique name for this test run.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}x{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 10_000
    )
}

fn sh(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Destroys a ZFS dataset tree when dropped (retrying "dataset is busy").
struct ZfsGuard(String);

impl ZfsGuard {
    fn new() -> Self {
        let out = sh("zpool", &["list", "-H", "-o", "name", POOL]);
        assert!(
            out.status.success(),
            "ZFS pool {POOL} is not there: run `cargo run -p xtask -- setup`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ZfsGuard(format!("{POOL}/{}", unique("host")))
    }
}

impl Drop for ZfsGuard {
    fn drop(&mut self) {
        for _ in 0..20 {
            if !sh("zfs", &["list", "-H", &self.0]).status.success() {
                return;
            }
            if sh("zfs", &["destroy", "-r", &self.0]).status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        eprintln!("could not destroy {}", self.0);
    }
}

/// A unique directory on the test btrfs; its subvolumes are deleted when dropped.
struct BtrfsGuard(PathBuf);

impl BtrfsGuard {
    fn new() -> Self {
        let out = sh("stat", &["-f", "-c", "%T", BTRFS]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "btrfs",
            "{BTRFS} is not btrfs: run `cargo run -p xtask -- setup`"
        );
        let dir = Path::new(BTRFS).join(unique("host"));
        std::fs::create_dir_all(&dir).unwrap();
        BtrfsGuard(dir)
    }
}

fn subvolumes_below(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            subvolumes_below(&path, found);
            if meta.ino() == 256 {
                found.push(path);
            }
        }
    }
}

impl Drop for BtrfsGuard {
    fn drop(&mut self) {
        let mut subvolumes = Vec::new();
        subvolumes_below(&self.0, &mut subvolumes);
        for subvolume in subvolumes {
            sh(
                "btrfs",
                &[
                    "property",
                    "set",
                    "-ts",
                    subvolume.to_str().unwrap(),
                    "ro",
                    "false",
                ],
            );
            sh(
                "btrfs",
                &["subvolume", "delete", subvolume.to_str().unwrap()],
            );
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fs(id: &str, kind: FsKind, path: &str) -> FilesystemSpec {
    FilesystemSpec {
        filesystem: lxops_core::config::InstanceFilesystem {
            id: id.into(),
            kind,
            path: path.into(),
            zfsproperties: BTreeMap::new(),
            transient: false,
            destroy: true,
        },
        mark: Some(MARK.into()),
    }
}

/// The owner mark of the filesystems these tests create.
const MARK: &str = "default/e2e-host";

/// The safety rules for filesystems made by these tests.
fn rules() -> RemovalRules {
    RemovalRules {
        mark: MARK.into(),
        instance_exists: true,
        ..RemovalRules::default()
    }
}

fn dev(name: &str, filesystem: &str, dir: DeviceDir, template: Option<&Path>) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        filesystem: Some(filesystem.into()),
        dir,
        template: template.map(Path::to_path_buf),
    }
}

fn rel(dir: &str) -> DeviceDir {
    DeviceDir::Relative(dir.into())
}

fn setup(filesystems: Vec<FilesystemSpec>, devices: Vec<DeviceSpec>) -> DeviceSetup {
    DeviceSetup {
        filesystems,
        devices,
        owner: Some(OWNER),
        clone: None,
    }
}

/// A template dir: `etc/motd` (0640, 1000000:1000005) and a symlink, top dir 0751.
fn template(root: &Path) -> PathBuf {
    let dir = root.join("template");
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/motd"), "welcome").unwrap();
    std::fs::set_permissions(dir.join("etc/motd"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(dir.join("etc/motd"), Some(1_000_000), Some(1_000_005)).unwrap();
    std::os::unix::fs::symlink("etc/motd", dir.join("motd")).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::chown(&dir, Some(1_000_000), Some(1_000_000)).unwrap();
    dir
}

fn owner_mode(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

fn zfs_exists(dataset: &str) -> bool {
    sh("zfs", &["list", "-H", dataset]).status.success()
}

#[test]
fn zfs_create_chown_template_and_keep_existing_data() {
    let guard = ZfsGuard::new();
    let tmp = tempfile::tempdir().unwrap();
    let template = template(tmp.path());
    let mut home = fs("home", FsKind::Zfs, &format!("{}/a1/home", guard.0));
    home.zfsproperties.insert("compression".into(), "on".into());
    let setup = setup(
        vec![home.clone()],
        vec![
            dev("user", "home", rel("user"), Some(&template)),
            dev("all", "home", DeviceDir::FilesystemRoot, None),
        ],
    );
    let host = SystemHost::new();
    let plan = plan_devices(&host, &setup).unwrap();
    let dir = PathBuf::from(format!("/{}", home.path));
    assert_eq!(
        plan.to_string(),
        format!(
            "zfs create -p -o compression=on -o lxops:instance={MARK} {ds}\nchown 1000000:1000000 {d}\n\
             mkdir {d}/user (owner 1000000:1000000)\ncopy {t} -> {d}/user\n",
            ds = home.path,
            d = dir.display(),
            t = template.display()
        )
    );
    let report = apply_devices(&host, &plan).unwrap();
    assert_eq!(report.created_filesystems, vec![home.path.clone()]);
    assert_eq!(report.created_dirs, [dir.clone(), dir.join("user")]);
    assert!(zfs_exists(&home.path));
    let out = sh(
        "zfs",
        &["get", "-H", "-o", "value", "compression", &home.path],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "on");
    assert_eq!(zfs_mountpoint(&home.path), dir);
    assert_eq!(
        owner_mode(&dir).0,
        OWNER.uid,
        "the new dataset root is chowned"
    );
    let user = dir.join("user");
    assert_eq!(
        owner_mode(&user),
        (1_000_000, 1_000_000, 0o751),
        "top dir like rsync -a"
    );
    assert_eq!(
        owner_mode(&user.join("etc/motd")),
        (1_000_000, 1_000_005, 0o640)
    );
    assert_eq!(
        std::fs::read_link(user.join("motd")).unwrap(),
        Path::new("etc/motd")
    );
    let sources = device_sources(&host, &setup).unwrap();
    assert_eq!(sources["user"], user);
    assert_eq!(sources["all"], dir);

    // Relaunch: the user's data and ownership stay.
    std::fs::write(user.join("etc/motd"), "changed by the user").unwrap();
    std::os::unix::fs::chown(&user, Some(1_000_123), Some(1_000_123)).unwrap();
    let again = plan_devices(&host, &setup).unwrap();
    assert_eq!(
        again.to_string(),
        format!(
            "keep {d} (device all: exists)\nkeep {d}/user (device user: exists)\n",
            d = dir.display()
        )
    );
    let report = apply_devices(&host, &again).unwrap();
    assert!(report.created_dirs.is_empty() && report.created_filesystems.is_empty());
    assert_eq!(
        std::fs::read_to_string(user.join("etc/motd")).unwrap(),
        "changed by the user"
    );
    assert_eq!(owner_mode(&user).0, 1_000_123);
}

#[test]
fn zfs_clone_from_snapshot_and_copy() {
    let guard = ZfsGuard::new();
    let host = SystemHost::new();
    let source = fs("home", FsKind::Zfs, &format!("{}/a1/home", guard.0));
    let first = setup(
        vec![source.clone()],
        vec![dev("user", "home", rel("user"), None)],
    );
    apply_devices(&host, &plan_devices(&host, &first).unwrap()).unwrap();
    let source_dir = zfs_mountpoint(&source.path);
    std::fs::write(source_dir.join("user/data"), "cloned data").unwrap();
    let snapshots =
        ops::snapshot_filesystems(&host, std::slice::from_ref(&source), "s1", false).unwrap();
    assert_eq!(snapshots, [format!("{}@s1", source.path)]);

    let target = fs("home", FsKind::Zfs, &format!("{}/a2/home", guard.0));
    let clone_setup = DeviceSetup {
        clone: Some(CloneSource {
            filesystems: BTreeMap::from([("home".to_string(), (source.path.clone(), false))]),
            snapshot: "s1".into(),
        }),
        ..setup(
            vec![target.clone()],
            vec![dev("user", "home", rel("user"), None)],
        )
    };
    let plan = plan_devices(&host, &clone_setup).unwrap();
    let report = apply_devices(&host, &plan).unwrap();
    assert_eq!(report.created_filesystems, vec![target.path.clone()]);
    assert!(report.created_dirs.is_empty(), "{:?}", report.created_dirs);
    let target_dir = zfs_mountpoint(&target.path);
    assert_eq!(
        std::fs::read_to_string(target_dir.join("user/data")).unwrap(),
        "cloned data"
    );
    let out = sh("zfs", &["get", "-H", "-o", "value", "origin", &target.path]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}@s1", source.path)
    );

    // The clone target exists now: refused before anything is touched.
    let err = plan_devices(&host, &clone_setup).unwrap_err();
    assert!(matches!(err, HostError::CloneTargetExists { .. }), "{err}");

    // zfs send | zfs receive
    let copy = fs("home", FsKind::Zfs, &format!("{}/copy", guard.0));
    let options = CopyOptions {
        snapshot: "s1".into(),
        ..CopyOptions::default()
    };
    let done = ops::copy_filesystems(
        &host,
        std::slice::from_ref(&source),
        std::slice::from_ref(&copy),
        &options,
    )
    .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(
        std::fs::read_to_string(zfs_mountpoint(&copy.path).join("user/data")).unwrap(),
        "cloned data"
    );
}

#[test]
fn zfs_snapshot_rollback_rename_list_destroy() {
    let guard = ZfsGuard::new();
    let host = SystemHost::new();
    let a = fs("a", FsKind::Zfs, &format!("{}/r1/a", guard.0));
    let setup = setup(vec![a.clone()], vec![]);
    apply_devices(&host, &plan_devices(&host, &setup).unwrap()).unwrap();
    let dir = zfs_mountpoint(&a.path);
    std::fs::write(dir.join("file"), "before").unwrap();
    ops::snapshot_filesystems(&host, std::slice::from_ref(&a), "s1", false).unwrap();
    std::fs::write(dir.join("file"), "after").unwrap();
    std::fs::write(dir.join("extra"), "x").unwrap();
    let rolled = ops::rollback_filesystems(&host, std::slice::from_ref(&a), "s1").unwrap();
    assert_eq!(rolled, [format!("{}@s1", a.path)]);
    assert_eq!(std::fs::read_to_string(dir.join("file")).unwrap(), "before");
    assert!(!dir.join("extra").exists());

    let destroyed = ops::destroy_snapshots(&host, std::slice::from_ref(&a), "s1", false).unwrap();
    assert_eq!(destroyed, [format!("{}@s1", a.path)]);

    let b = fs("a", FsKind::Zfs, &format!("{}/r1/b", guard.0));
    let renamed = ops::rename_filesystems(
        &host,
        std::slice::from_ref(&a),
        std::slice::from_ref(&b),
        &rules(),
    )
    .unwrap();
    assert_eq!(renamed, [format!("{} -> {}", a.path, b.path)]);
    assert!(!zfs_exists(&a.path) && zfs_exists(&b.path));
    assert_eq!(
        std::fs::read_to_string(zfs_mountpoint(&b.path).join("file")).unwrap(),
        "before"
    );

    let list = ops::list_filesystems(&host, &[a.clone(), b.clone()]).unwrap();
    assert_eq!(
        list.rows.iter().map(|r| r.exists).collect::<Vec<_>>(),
        [false, true]
    );
    assert!(list.to_string().starts_with("ID"), "{list}");

    let destroyed = ops::destroy_filesystems(&host, &[a.clone(), b.clone()], &rules()).unwrap();
    assert_eq!(destroyed, vec![b.path.clone()]);
    assert!(!zfs_exists(&b.path));
}

#[test]
fn export_import_round_trip_zfs_and_dir() {
    let guard = ZfsGuard::new();
    let tmp = tempfile::tempdir().unwrap();
    let host = SystemHost::new();
    let z = fs("z", FsKind::Zfs, &format!("{}/e1/z", guard.0));
    let d = fs("d", FsKind::Dir, tmp.path().join("e1/d").to_str().unwrap());
    apply_devices(
        &host,
        &plan_devices(&host, &setup(vec![z.clone(), d.clone()], vec![])).unwrap(),
    )
    .unwrap();
    let zdir = zfs_mountpoint(&z.path);
    for dir in [zdir.clone(), PathBuf::from(&d.path)] {
        std::fs::write(dir.join("f"), "payload").unwrap();
        std::os::unix::fs::chown(dir.join("f"), Some(1_000_033), Some(1_000_034)).unwrap();
    }
    ops::snapshot_filesystems(&host, std::slice::from_ref(&z), "x1", false).unwrap();
    std::fs::write(zdir.join("f"), "after the snapshot").unwrap();

    let archives = tmp.path().join("archives");
    ops::export_filesystems(&host, std::slice::from_ref(&d), &archives, None).unwrap();
    ops::export_filesystems(&host, std::slice::from_ref(&z), &archives, Some("x1")).unwrap();
    assert!(archives.join("z.tar.gz").is_file() && archives.join("d.tar.gz").is_file());

    let z2 = fs("z", FsKind::Zfs, &format!("{}/e2/z", guard.0));
    let d2 = fs("d", FsKind::Dir, tmp.path().join("e2/d").to_str().unwrap());
    ops::import_filesystems(&host, &[z2.clone(), d2.clone()], &archives).unwrap();
    for (dir, content) in [
        (zfs_mountpoint(&z2.path), "payload"),
        (PathBuf::from(&d2.path), "payload"),
    ] {
        assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), content);
        let (uid, gid, _) = owner_mode(&dir.join("f"));
        assert_eq!((uid, gid), (1_000_033, 1_000_034));
    }
}

#[test]
fn btrfs_create_snapshot_rollback_rename_destroy() {
    let guard = BtrfsGuard::new();
    let host = SystemHost::new();
    let path = guard.0.join("i1/home");
    let home = fs("home", FsKind::Btrfs, path.to_str().unwrap());
    let setup = setup(
        vec![home.clone()],
        vec![dev("user", "home", rel("user"), None)],
    );
    let report = apply_devices(&host, &plan_devices(&host, &setup).unwrap()).unwrap();
    assert_eq!(report.created_dirs, [path.join("user")]);
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), 256, "a subvolume");
    assert_eq!(owner_mode(&path).0, OWNER.uid);
    std::fs::write(path.join("user/f"), "before").unwrap();

    let snaps = ops::snapshot_filesystems(&host, std::slice::from_ref(&home), "s1", false).unwrap();
    let snap_dir = guard.0.join("i1/.lxops-snapshots/home@s1");
    assert_eq!(snaps, [snap_dir.display().to_string()]);
    std::fs::write(path.join("user/f"), "after").unwrap();
    ops::rollback_filesystems(&host, std::slice::from_ref(&home), "s1").unwrap();
    assert_eq!(
        std::fs::read_to_string(path.join("user/f")).unwrap(),
        "before"
    );
    std::fs::write(path.join("user/g"), "writable after rollback").unwrap();

    let archives = guard.0.join("archives");
    ops::export_filesystems(&host, std::slice::from_ref(&home), &archives, Some("s1")).unwrap();
    let listing = sh(
        "tar",
        &["-tzf", archives.join("home.tar.gz").to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("./user/f"),
        "{listing:?}"
    );

    let list = ops::list_filesystems(&host, std::slice::from_ref(&home)).unwrap();
    assert!(list.rows[0].exists);

    let new_path = guard.0.join("i2/home");
    std::fs::create_dir_all(guard.0.join("i2")).unwrap();
    let renamed_fs = fs("home", FsKind::Btrfs, new_path.to_str().unwrap());
    ops::rename_filesystems(
        &host,
        std::slice::from_ref(&home),
        std::slice::from_ref(&renamed_fs),
        &rules(),
    )
    .unwrap();
    assert!(new_path.join("user/f").is_file() && !path.exists());
    assert!(guard.0.join("i2/.lxops-snapshots/home@s1").is_dir());

    let destroyed =
        ops::destroy_filesystems(&host, std::slice::from_ref(&renamed_fs), &rules()).unwrap();
    assert_eq!(destroyed, vec![renamed_fs.path.clone()]);
    assert!(!new_path.exists());
    assert!(!guard.0.join("i2/.lxops-snapshots/home@s1").exists());
}

#[test]
fn dirs_keep_existing_data_and_chown_later() {
    let tmp = tempfile::tempdir().unwrap();
    let host = SystemHost::new();
    let root = tmp.path().join("inst");
    let d = fs("d", FsKind::Dir, root.to_str().unwrap());
    let setup = DeviceSetup {
        owner: None,
        ..setup(
            vec![d],
            vec![
                dev("root", "d", DeviceDir::FilesystemRoot, None),
                dev("x", "d", rel("x/y"), None),
            ],
        )
    };
    let report = apply_devices(&host, &plan_devices(&host, &setup).unwrap()).unwrap();
    assert_eq!(report.created_dirs, [root.clone(), root.join("x/y")]);
    chown_paths(
        &host,
        &report.created_dirs,
        Owner {
            uid: 1_000_000,
            gid: 1_000_001,
        },
    )
    .unwrap();
    assert_eq!(owner_mode(&root).0, 1_000_000);
    assert_eq!(owner_mode(&root.join("x/y")).1, 1_000_001);
    assert_eq!(
        owner_mode(&root.join("x")).0,
        0,
        "only the device dir is chowned"
    );

    std::fs::write(root.join("x/y/keep"), "data").unwrap();
    let again = apply_devices(&host, &plan_devices(&host, &setup).unwrap()).unwrap();
    assert!(again.created_dirs.is_empty());
    assert_eq!(
        std::fs::read_to_string(root.join("x/y/keep")).unwrap(),
        "data"
    );

    ops::shiftids(
        &host,
        &root.join("x"),
        Owner {
            uid: 1_000_000,
            gid: 1_000_000,
        },
    )
    .unwrap();
    assert_eq!(owner_mode(&root.join("x")).0, 1_000_000);
    assert_eq!(owner_mode(&root.join("x/y/keep")).0, 1_000_000);
    assert_eq!(
        owner_mode(&root.join("x/y")).1,
        1_000_001,
        "already shifted ids stay"
    );
}

#[test]
fn dry_run_records_and_changes_nothing() {
    let guard = ZfsGuard::new();
    let tmp = tempfile::tempdir().unwrap();
    let template = template(tmp.path());
    let home = fs("home", FsKind::Zfs, &format!("{}/d1/home", guard.0));
    let setup = setup(
        vec![home.clone()],
        vec![dev("user", "home", rel("user"), Some(&template))],
    );
    let host = DryRunHost::new();
    let plan = plan_devices(&host, &setup).unwrap();
    apply_devices(&host, &plan).unwrap();
    let d = format!("/{}", home.path);
    assert_eq!(
        host.recorded(),
        [
            format!("zfs create -p -o lxops:instance={MARK} {}", home.path),
            format!("chown 1000000:1000000 {d}"),
            format!("mkdir -p {d}/user"),
            format!("chown 1000000:1000000 {d}/user"),
            format!("copy {} -> {d}/user", template.display()),
        ]
    );
    assert!(!zfs_exists(&home.path));

    // Filesystem commands record too: a real dataset survives a dry-run destroy.
    let real = SystemHost::new();
    apply_devices(&real, &plan_devices(&real, &setup).unwrap()).unwrap();
    let destroyed = ops::destroy_filesystems(&host, std::slice::from_ref(&home), &rules()).unwrap();
    assert_eq!(destroyed, vec![home.path.clone()]);
    assert_eq!(
        host.recorded().last().unwrap(),
        &format!("zfs destroy -r {}", home.path)
    );
    assert!(zfs_exists(&home.path));
}

#[test]
fn refusals_missing_pool_and_dotdot() {
    let host = SystemHost::new();
    let missing = setup(
        vec![fs("h", FsKind::Zfs, &format!("{}/a", unique("nopool")))],
        vec![],
    );
    let err = plan_devices(&host, &missing).unwrap_err();
    assert!(
        matches!(&err, HostError::MissingPool { pool, .. } if pool.starts_with("nopool")),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    let escape = setup(
        vec![fs("h", FsKind::Dir, tmp.path().to_str().unwrap())],
        vec![dev("d", "h", rel("../../etc"), None)],
    );
    let err = plan_devices(&host, &escape).unwrap_err();
    assert!(
        err.to_string().contains("`..` components are not allowed"),
        "{err}"
    );
    let err = ops::snapshot_filesystems(
        &host,
        &[fs("h", FsKind::Dir, tmp.path().to_str().unwrap())],
        "s1",
        false,
    )
    .unwrap_err();
    assert!(matches!(err, HostError::NothingToSnapshot { .. }), "{err}");
}
