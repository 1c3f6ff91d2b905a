//! Unit tests of device planning: golden plans per situation, the rule that keeps existing
//! data, refusals, device sources, and apply on real temporary directories.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use expect_test::expect;

use super::*;
use crate::host::fake::FakeHost;
use crate::host::{CloneSource, SystemHost};

const OWNER: Owner = Owner {
    uid: 1_000_000,
    gid: 1_000_000,
};

fn fs(id: &str, kind: FsKind, path: &str) -> FilesystemSpec {
    FilesystemSpec {
        filesystem: crate::config::InstanceFilesystem {
            id: id.into(),
            kind,
            path: path.into(),
            zfsproperties: BTreeMap::new(),
            transient: false,
            destroy: false,
        },
        mark: Some("default/a1".into()),
    }
}

fn dev(name: &str, filesystem: Option<&str>, dir: DeviceDir) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        filesystem: filesystem.map(str::to_string),
        dir,
        template: None,
    }
}

fn rel(dir: &str) -> DeviceDir {
    DeviceDir::Relative(dir.into())
}

fn with_template(mut device: DeviceSpec, template: &str) -> DeviceSpec {
    device.template = Some(template.into());
    device
}

fn setup(filesystems: Vec<FilesystemSpec>, devices: Vec<DeviceSpec>) -> DeviceSetup {
    DeviceSetup {
        filesystems,
        devices,
        owner: Some(OWNER),
        clone: None,
    }
}

fn pool() -> FakeHost {
    FakeHost::new().with_datasets(&[("lxopstest", "/lxopstest")])
}

fn plan_text(host: &FakeHost, setup: &DeviceSetup) -> String {
    match plan_devices(host, setup) {
        Ok(plan) => plan.to_string(),
        Err(e) => format!("error: {e}\n"),
    }
}

#[test]
fn plans_for_each_situation() {
    let mut compressed = fs("home", FsKind::Zfs, "lxopstest/a1/home");
    compressed
        .zfsproperties
        .insert("compression".into(), "on".into());
    let mut transient_tmp = fs("tmp", FsKind::Zfs, "lxopstest/a2/tmp");
    transient_tmp.transient = true;
    let cases: Vec<(&str, FakeHost, DeviceSetup)> = vec![
        (
            "new zfs filesystem: created, root chowned, new dirs chowned and filled",
            pool().with_dirs(&["/t/home"]),
            setup(
                vec![compressed.clone()],
                vec![
                    with_template(dev("user", Some("home"), rel("user")), "/t/home"),
                    with_template(
                        dev("all", Some("home"), DeviceDir::FilesystemRoot),
                        "/t/home",
                    ),
                ],
            ),
        ),
        (
            "existing filesystem: existing device dir kept, missing one created",
            pool()
                .with_datasets(&[("lxopstest/a1/home", "/lxopstest/a1/home")])
                .with_dirs(&["/t/home", "/lxopstest/a1/home/user"]),
            setup(
                vec![compressed.clone()],
                vec![
                    with_template(dev("user", Some("home"), rel("user")), "/t/home"),
                    with_template(dev("new", Some("home"), rel("new/deep")), "/t/home"),
                    dev("all", Some("home"), rel(".")),
                ],
            ),
        ),
        (
            "dir filesystems: a root is chowned only when it is a device dir",
            FakeHost::new(),
            setup(
                vec![fs("a", FsKind::Dir, "/d/a1"), fs("b", FsKind::Dir, "/d/b1")],
                vec![
                    dev("root", Some("a"), DeviceDir::FilesystemRoot),
                    dev("x", Some("b"), rel("x")),
                    dev("abs", None, DeviceDir::Absolute("/elsewhere".into())),
                ],
            ),
        ),
        (
            "btrfs filesystem: subvolume created and chowned",
            FakeHost::new(),
            setup(
                vec![fs("b", FsKind::Btrfs, "/btr/a1/b")],
                vec![dev("x", Some("b"), rel("x"))],
            ),
        ),
        (
            "zfs dataset whose parent has its own mountpoint",
            FakeHost::new().with_datasets(&[("tank", "/mnt/tank"), ("tank/c", "/srv/c")]),
            DeviceSetup {
                owner: None,
                ..setup(
                    vec![fs("h", FsKind::Zfs, "tank/c/a1/h")],
                    vec![dev("x", Some("h"), rel("x"))],
                )
            },
        ),
        (
            "device-origin: non-transient cloned, transient created, no templates",
            pool().with_dirs(&["/t/home"]),
            DeviceSetup {
                clone: Some(CloneSource {
                    filesystems: BTreeMap::from([
                        ("home".to_string(), ("lxopstest/a1/home".to_string(), false)),
                        ("tmp".to_string(), ("lxopstest/a1/tmp".to_string(), true)),
                    ]),
                    snapshot: "s1".into(),
                }),
                ..setup(
                    vec![fs("home", FsKind::Zfs, "lxopstest/a2/home"), transient_tmp],
                    vec![
                        with_template(dev("user", Some("home"), rel("user")), "/t/home"),
                        dev("all", Some("home"), DeviceDir::FilesystemRoot),
                        dev("tmp", Some("tmp"), DeviceDir::FilesystemRoot),
                    ],
                )
            },
        ),
    ];
    let text: String = cases
        .iter()
        .map(|(name, host, setup)| format!("# {name}\n{}", plan_text(host, setup)))
        .collect();
    expect![[r#"
        # new zfs filesystem: created, root chowned, new dirs chowned and filled
        zfs create -p -o compression=on -o lxops:instance=default/a1 lxopstest/a1/home
        chown 1000000:1000000 /lxopstest/a1/home
        copy /t/home -> /lxopstest/a1/home
        mkdir /lxopstest/a1/home/user (owner 1000000:1000000)
        copy /t/home -> /lxopstest/a1/home/user
        # existing filesystem: existing device dir kept, missing one created
        keep /lxopstest/a1/home (device all: exists)
        mkdir /lxopstest/a1/home/new/deep (owner 1000000:1000000)
        copy /t/home -> /lxopstest/a1/home/new/deep
        keep /lxopstest/a1/home/user (device user: exists)
        # dir filesystems: a root is chowned only when it is a device dir
        mkdir -p /d/a1
        chown 1000000:1000000 /d/a1
        mkdir -p /d/b1
        mkdir /d/b1/x (owner 1000000:1000000)
        # btrfs filesystem: subvolume created and chowned
        btrfs subvolume create /btr/a1/b
        chown 1000000:1000000 /btr/a1/b
        mkdir /btr/a1/b/x (owner 1000000:1000000)
        # zfs dataset whose parent has its own mountpoint
        zfs create -p -o lxops:instance=default/a1 tank/c/a1/h
        mkdir /srv/c/a1/h/x
        # device-origin: non-transient cloned, transient created, no templates
        zfs clone -p -o lxops:instance=default/a1 lxopstest/a1/home@s1 lxopstest/a2/home
        zfs create -p -o lxops:instance=default/a1 lxopstest/a2/tmp
        chown 1000000:1000000 /lxopstest/a2/tmp
        keep /lxopstest/a2/home (device all: exists)
        mkdir /lxopstest/a2/home/user (owner 1000000:1000000) unless the clone has it
    "#]]
    .assert_eq(&text);
}

#[test]
fn planning_runs_one_zfs_query_and_changes_nothing() {
    let host = pool().with_dirs(&["/t/home"]);
    let setup = setup(
        vec![
            fs("a", FsKind::Zfs, "lxopstest/x/a"),
            fs("b", FsKind::Zfs, "lxopstest/x/b"),
        ],
        vec![dev("d", Some("a"), rel("d")), dev("e", Some("b"), rel("e"))],
    );
    plan_devices(&host, &setup).unwrap();
    assert_eq!(host.log(), ["zfs list -H -o name,mountpoint -t filesystem"]);
}

#[test]
fn refusals_say_what_is_wrong_before_anything_is_touched() {
    let existing = || pool().with_datasets(&[("lxopstest/a2/home", "/lxopstest/a2/home")]);
    let origin = |kind: FsKind, path: &str| DeviceSetup {
        clone: Some(CloneSource {
            filesystems: BTreeMap::from([("h".to_string(), ("lxopstest/a1/h".to_string(), false))]),
            snapshot: "s1".into(),
        }),
        ..setup(vec![fs("h", kind, path)], vec![])
    };
    let cases: Vec<(&str, FakeHost, DeviceSetup)> = vec![
        (
            "empty pattern",
            pool(),
            setup(vec![fs("h", FsKind::Zfs, "")], vec![]),
        ),
        (
            "dotdot in a device dir",
            pool(),
            setup(
                vec![fs("h", FsKind::Zfs, "lxopstest/h")],
                vec![dev("d", Some("h"), rel("a/../../etc"))],
            ),
        ),
        (
            "relative dir filesystem",
            pool(),
            setup(vec![fs("h", FsKind::Dir, "d/h")], vec![]),
        ),
        (
            "relative absolute device dir",
            pool(),
            setup(
                vec![],
                vec![dev("d", None, DeviceDir::Absolute("x/y".into()))],
            ),
        ),
        (
            "device-origin onto dir",
            pool(),
            origin(FsKind::Dir, "/d/h"),
        ),
        (
            "missing pool",
            pool(),
            setup(vec![fs("h", FsKind::Zfs, "nopool/a1/h")], vec![]),
        ),
        (
            "missing template",
            pool(),
            setup(
                vec![fs("h", FsKind::Zfs, "lxopstest/h")],
                vec![with_template(dev("d", Some("h"), rel("d")), "/no/template")],
            ),
        ),
        (
            "existing clone target",
            existing(),
            DeviceSetup {
                clone: Some(CloneSource {
                    filesystems: BTreeMap::from([(
                        "h".to_string(),
                        ("lxopstest/a1/home".to_string(), false),
                    )]),
                    snapshot: "s1".into(),
                }),
                ..setup(vec![fs("h", FsKind::Zfs, "lxopstest/a2/home")], vec![])
            },
        ),
        (
            "no filesystem but relative dir",
            pool(),
            setup(vec![], vec![dev("d", None, rel("x"))]),
        ),
        (
            "unknown filesystem",
            pool(),
            setup(vec![], vec![dev("d", Some("nope"), rel("x"))]),
        ),
    ];
    let text: String = cases
        .iter()
        .map(|(name, host, setup)| {
            let text = format!("{name}: {}", plan_text(host, setup));
            let changes: Vec<String> = host
                .log()
                .into_iter()
                .filter(|l| !l.starts_with("zfs list"))
                .collect();
            assert!(changes.is_empty(), "{name}: {changes:?}");
            text
        })
        .collect();
    expect![[r#"
        empty pattern: error: filesystem `h` dataset `` is invalid: it is empty; check the pattern and its properties
        dotdot in a device dir: error: device `d` dir `a/../../etc` is invalid: `..` components are not allowed
        relative dir filesystem: error: filesystem `h` dir `d/h` is invalid: it must be an absolute directory (start with /)
        relative absolute device dir: error: device `d` dir `x/y` is invalid: it must be an absolute directory (start with /)
        device-origin onto dir: error: cannot use device-origin with dir filesystem `h`: only zfs filesystems can be cloned; use type zfs or remove device-origin
        missing pool: error: filesystem `h`: ZFS pool `nopool` of dataset `nopool/a1/h` does not exist; create the pool or fix the filesystem pattern
        missing template: error: device `d`: template directory /no/template does not exist; create it (e.g. with `extract`) or remove device-template
        existing clone target: error: filesystem `h`: dataset `lxopstest/a2/home` already exists, so it cannot be cloned from `lxopstest/a1/home@s1`; destroy it first or remove device-origin
        no filesystem but relative dir: error: device `d` has no filesystem but a relative dir `x`; give it a filesystem or an absolute dir
        unknown filesystem: error: device `d` refers to unknown filesystem `nope`; define it under filesystems or fix the name
    "#]]
    .assert_eq(&text);
}

#[test]
fn apply_creates_new_dirs_and_never_touches_existing_ones() {
    let host = pool()
        .with_datasets(&[("lxopstest/a1/home", "/lxopstest/a1/home")])
        .with_dirs(&["/t/home", "/lxopstest/a1/home/user"]);
    let setup = setup(
        vec![
            fs("home", FsKind::Zfs, "lxopstest/a1/home"),
            fs("tmp", FsKind::Zfs, "lxopstest/a1/tmp"),
        ],
        vec![
            with_template(dev("user", Some("home"), rel("user")), "/t/home"),
            with_template(dev("new", Some("home"), rel("new")), "/t/home"),
            dev("tmp", Some("tmp"), DeviceDir::FilesystemRoot),
        ],
    );
    let plan = plan_devices(&host, &setup).unwrap();
    let report = apply_devices(&host, &plan).unwrap();
    assert_eq!(report.created_filesystems, ["lxopstest/a1/tmp"]);
    assert_eq!(
        report.created_dirs,
        [
            PathBuf::from("/lxopstest/a1/tmp"),
            PathBuf::from("/lxopstest/a1/home/new")
        ]
    );
    expect![[r#"
        zfs list -H -o name,mountpoint -t filesystem
        zfs list -H -o name,mountpoint -t filesystem
        zfs create -p -o lxops:instance=default/a1 lxopstest/a1/tmp
        chown 1000000:1000000 /lxopstest/a1/tmp
        mkdir -p /lxopstest/a1/home/new
        chown 1000000:1000000 /lxopstest/a1/home/new
        copy /t/home -> /lxopstest/a1/home/new"#]]
    .assert_eq(&host.log().join("\n"));
}

#[test]
fn apply_skips_a_dir_that_appeared_after_planning() {
    let host = FakeHost::new().with_dirs(&["/d/a", "/t"]);
    let setup = setup(
        vec![fs("a", FsKind::Dir, "/d/a")],
        vec![with_template(dev("x", Some("a"), rel("x")), "/t")],
    );
    let plan = plan_devices(&host, &setup).unwrap();
    let host = host.with_dirs(&["/d/a/x"]);
    let report = apply_devices(&host, &plan).unwrap();
    assert!(report.created_dirs.is_empty());
    assert!(host.log().is_empty(), "{:?}", host.log());
}

#[test]
fn device_sources_read_zfs_mountpoints() {
    let host = FakeHost::new().with_datasets(&[
        ("tank", "/mnt/tank"),
        ("tank/a1", "/srv/a1"),
        ("tank/a1/home", "/srv/a1/home"),
    ]);
    let setup = setup(
        vec![
            fs("home", FsKind::Zfs, "tank/a1/home"),
            fs("new", FsKind::Zfs, "tank/a1/new/x"),
            fs("d", FsKind::Dir, "/d/a1"),
        ],
        vec![
            dev("user", Some("home"), rel("user")),
            dev("root", Some("home"), DeviceDir::FilesystemRoot),
            dev("n", Some("new"), rel("n")),
            dev("dd", Some("d"), rel(".")),
            dev("abs", None, DeviceDir::Absolute("/abs".into())),
        ],
    );
    let sources = device_sources(&host, &setup).unwrap();
    expect![[r#"
        {
            "abs": "/abs",
            "dd": "/d/a1",
            "n": "/srv/a1/new/x/n",
            "root": "/srv/a1/home",
            "user": "/srv/a1/home/user",
        }"#]]
    .assert_eq(&format!("{sources:#?}"));
    assert_eq!(host.commands().len(), 1, "one zfs list for all devices");
}

#[test]
fn on_real_dirs_existing_data_is_kept_and_new_dirs_get_the_template() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let template = root.join("template");
    std::fs::create_dir_all(template.join("sub")).unwrap();
    std::fs::write(template.join("sub/file"), "from template").unwrap();
    std::fs::set_permissions(&template, std::fs::Permissions::from_mode(0o711)).unwrap();
    let fs_dir = root.join("fs");
    let kept = fs_dir.join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    std::fs::write(kept.join("data"), "user data").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o700)).unwrap();
    let setup = DeviceSetup {
        owner: Some(Owner {
            uid: 4242,
            gid: 4343,
        }),
        ..setup(
            vec![fs("f", FsKind::Dir, fs_dir.to_str().unwrap())],
            vec![
                with_template(
                    dev("kept", Some("f"), rel("kept")),
                    template.to_str().unwrap(),
                ),
                with_template(
                    dev("fresh", Some("f"), rel("fresh")),
                    template.to_str().unwrap(),
                ),
            ],
        )
    };
    let host = SystemHost::new();
    let plan = plan_devices(&host, &setup).unwrap();
    let report = apply_devices(&host, &plan).unwrap();
    assert_eq!(report.created_dirs, [fs_dir.join("fresh")]);
    let kept_meta = std::fs::metadata(&kept).unwrap();
    assert_eq!((kept_meta.uid(), kept_meta.mode() & 0o777), (0, 0o700));
    assert_eq!(std::fs::read_dir(&kept).unwrap().count(), 1);
    let fresh = std::fs::metadata(fs_dir.join("fresh")).unwrap();
    // rsync -a semantics: the top dir takes the template's mode and owner.
    assert_eq!((fresh.uid(), fresh.mode() & 0o777), (0, 0o711));
    assert_eq!(
        std::fs::read_to_string(fs_dir.join("fresh/sub/file")).unwrap(),
        "from template"
    );
}
