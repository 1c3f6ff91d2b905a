//! Unit tests of the filesystem commands: the exact commands each runs on a fake host.

use std::collections::BTreeMap;

use expect_test::expect;

use super::*;
use crate::host::fake::FakeHost;
use crate::host::RemovalRules;

fn fs(id: &str, kind: FsKind, path: &str) -> FilesystemSpec {
    FilesystemSpec {
        filesystem: crate::config::InstanceFilesystem {
            id: id.into(),
            kind,
            path: path.into(),
            zfsproperties: BTreeMap::new(),
            transient: false,
            destroy: true,
        },
        mark: Some("default/a1".into()),
    }
}

/// The rules for instance a1 (existing), with a twin evaluated for a2.
fn rules(twins: Vec<FilesystemSpec>) -> RemovalRules {
    RemovalRules {
        mark: "default/a1".into(),
        twins,
        in_use: Vec::new(),
        others: Vec::new(),
        adopt: false,
        instance_exists: true,
    }
}

fn host() -> FakeHost {
    FakeHost::new()
        .with_datasets(&[
            ("tank", "/tank"),
            ("tank/a1", "/tank/a1"),
            ("tank/a1/home", "/tank/a1/home"),
        ])
        .with_dirs(&["/d/a1", "/b/a1/home", "/b/a1/.lxops-snapshots/home@s1"])
        .with_zfs_marks(&[("tank/a1", "default/a1"), ("tank/a1/home", "default/a1")])
        .with_xattrs(&[
            ("/d/a1", "user.lxops.instance", "default/a1"),
            ("/b/a1/home", "user.lxops.instance", "default/a1"),
        ])
}

fn mixed() -> Vec<FilesystemSpec> {
    vec![
        fs("home", FsKind::Zfs, "tank/a1/home"),
        fs("root", FsKind::Zfs, "tank/a1"),
        fs("dir", FsKind::Dir, "/d/a1"),
        fs("b", FsKind::Btrfs, "/b/a1/home"),
    ]
}

fn run(f: impl FnOnce(&FakeHost) -> Result<Vec<String>, HostError>) -> String {
    let host = host();
    let result = match f(&host) {
        Ok(done) => format!("=> {done:?}"),
        Err(e) => format!("=> error: {e}"),
    };
    format!("{}\n{result}", host.log().join("\n"))
}

#[test]
fn snapshot_skips_dirs_and_sorts_by_path() {
    expect![[r#"
        mkdir -p /b/a1/.lxops-snapshots
        btrfs subvolume snapshot -r /b/a1/home /b/a1/.lxops-snapshots/home@s2
        zfs snapshot tank/a1@s2
        zfs snapshot tank/a1/home@s2
        => ["/b/a1/.lxops-snapshots/home@s2", "tank/a1@s2", "tank/a1/home@s2"]"#]]
    .assert_eq(&run(|h| snapshot_filesystems(h, &mixed(), "s2", false)));
}

#[test]
fn recursive_snapshot_covers_inner_datasets() {
    expect![[r#"
        mkdir -p /b/a1/.lxops-snapshots
        btrfs subvolume snapshot -r /b/a1/home /b/a1/.lxops-snapshots/home@s2
        zfs snapshot -r tank/a1@s2
        => ["/b/a1/.lxops-snapshots/home@s2", "tank/a1@s2"]"#]]
    .assert_eq(&run(|h| snapshot_filesystems(h, &mixed(), "s2", true)));
}

#[test]
fn only_dirs_cannot_be_snapshotted() {
    expect![[r#"

        => error: none of the filesystems [dir] can take snapshots (plain directories cannot); use zfs or btrfs filesystems"#]]
    .assert_eq(&run(|h| {
        snapshot_filesystems(h, &[fs("dir", FsKind::Dir, "/d/a1")], "s1", false)
    }));
}

#[test]
fn destroy_snapshots_and_rollback() {
    expect![[r#"
        btrfs subvolume delete /b/a1/.lxops-snapshots/home@s1
        zfs destroy -R tank/a1@s1
        => ["/b/a1/.lxops-snapshots/home@s1", "tank/a1@s1"]"#]]
    .assert_eq(&run(|h| destroy_snapshots(h, &mixed(), "s1", true)));
    expect![[r#"
        zfs get -H -s local -o value lxops:instance tank/a1
        zfs get -H -s local -o value lxops:instance tank/a1/home
        btrfs subvolume snapshot /b/a1/.lxops-snapshots/home@s1 /b/a1/.lxops-snapshots/home.rollback-PID
        btrfs subvolume delete /b/a1/home
        rename /b/a1/.lxops-snapshots/home.rollback-PID -> /b/a1/home
        zfs rollback -r tank/a1@s1
        zfs rollback -r tank/a1/home@s1
        => ["/b/a1/home@s1", "tank/a1@s1", "tank/a1/home@s1"]"#]]
    .assert_eq(
        &run(|h| rollback_filesystems(h, &mixed(), "s1"))
            .replace(&std::process::id().to_string(), "PID"),
    );
}

#[test]
fn rename_moves_outer_filesystems_only() {
    let new = vec![
        fs("home", FsKind::Zfs, "tank/a2/home"),
        fs("root", FsKind::Zfs, "tank/a2"),
        fs("dir", FsKind::Dir, "/d/a2"),
        fs("b", FsKind::Btrfs, "/b/a1/home"),
    ];
    expect![[r#"
        zfs list -H -o name,mountpoint -t filesystem
        zfs list -H -o name,mountpoint -t filesystem
        zfs get -H -s local -o value lxops:instance tank/a1
        zfs get -H -r -s local -o name,value lxops:instance tank/a1
        zfs list -H -o name,mountpoint -t filesystem
        zfs rename -p tank/a1 tank/a2
        zfs set lxops:instance=default/a1 tank/a2
        zfs get -H -r -s local -o name,value lxops:instance tank/a2
        mkdir -p /d
        rename /d/a1 -> /d/a2
        setfattr -n user.lxops.instance -v default/a1 /d/a2
        => ["tank/a1 -> tank/a2", "/d/a1 -> /d/a2"]"#]]
    .assert_eq(&run(|h| {
        rename_filesystems(h, &mixed(), &new, &rules(Vec::new()))
    }));
    expect![[r#"

        => error: cannot pair filesystems: 4 old and 1 new filesystems"#]]
    .assert_eq(&run(|h| {
        rename_filesystems(h, &mixed(), &new[..1], &rules(Vec::new()))
    }));
}

#[test]
fn destroy_destroys_existing_filesystems_inner_first() {
    let mut fss = mixed();
    fss.push(fs("gone", FsKind::Zfs, "tank/a1/gone"));
    fss.push(fs("nopool", FsKind::Zfs, "nopool/x"));
    expect![[r#"
        zfs list -H -o name,mountpoint -t filesystem
        zfs get -H -s local -o value lxops:instance tank/a1/home
        zfs get -H -r -s local -o name,value lxops:instance tank/a1/home
        zfs get -H -s local -o value lxops:instance tank/a1
        zfs get -H -r -s local -o name,value lxops:instance tank/a1
        zfs destroy -r tank/a1/home
        zfs destroy -r tank/a1
        remove /d/a1
        btrfs subvolume delete /b/a1/.lxops-snapshots/home@s1
        btrfs subvolume delete /b/a1/home
        => ["tank/a1/home", "tank/a1", "/d/a1", "/b/a1/home"]"#]]
    .assert_eq(&run(|h| destroy_filesystems(h, &fss, &rules(Vec::new()))));
}

#[test]
fn export_import_and_copy_commands() {
    let fss = vec![
        fs("home", FsKind::Zfs, "tank/a1/home"),
        fs("dir", FsKind::Dir, "/d/a1"),
    ];
    expect![[r#"
        zfs list -H -o name,mountpoint -t filesystem
        mkdir -p /x
        tar -czf /x/home.tar.gz --numeric-owner -C /tank/a1/home .
        tar -czf /x/dir.tar.gz --numeric-owner -C /d/a1 .
        => []"#]]
    .assert_eq(&run(|h| {
        export_filesystems(h, &fss, Path::new("/x"), None).map(|()| vec![])
    }));
    // A plain directory has no snapshots: exported live from a snapshot export, as the
    // original does.
    expect![[r#"
        mkdir -p /x
        tar -czf /x/dir.tar.gz --numeric-owner -C /d/a1 .
        => []"#]]
    .assert_eq(&run(|h| {
        export_filesystems(h, &fss[1..], Path::new("/x"), Some("s1")).map(|()| vec![])
    }));
    let options = CopyOptions {
        snapshot: "s1".into(),
        from_host: None,
        to_host: Some("backup".into()),
    };
    expect![[r#"
        zfs send tank/a1/home@s1 | ssh -- backup 'sudo zfs receive tank/b1/home'
        => ["tank/a1/home@s1 -> tank/b1/home"]"#]]
    .assert_eq(&run(|h| {
        copy_filesystems(
            h,
            &fss[..1],
            &[fs("home", FsKind::Zfs, "tank/b1/home")],
            &options,
        )
    }));
}

#[test]
fn import_and_export_check_every_filesystem_before_touching_any() {
    let fss = vec![
        fs("home", FsKind::Zfs, "tank/a1/home"),
        fs("dir", FsKind::Dir, "/d/a1"),
    ];
    // The fake host knows paths only as directories: it stands in for dir.tar.gz here.
    let host = host().with_dirs(&["/x", "/x/dir.tar.gz"]);
    let error = import_filesystems(&host, &fss, Path::new("/x")).unwrap_err();
    assert_eq!(error.to_string(), "archive /x/home.tar.gz does not exist");
    assert!(
        !host.log().iter().any(|c| c.starts_with("tar ")),
        "nothing extracted: {:?}",
        host.log()
    );

    let fss = vec![
        fs("dir", FsKind::Dir, "/d/a1"),
        fs("gone", FsKind::Dir, "/d/gone"),
    ];
    let host = self::host();
    let error = export_filesystems(&host, &fss, Path::new("/x"), None).unwrap_err();
    assert_eq!(error.to_string(), "filesystem /d/gone does not exist");
    assert!(
        !host
            .log()
            .iter()
            .any(|c| c.starts_with("tar ") || c.starts_with("mkdir")),
        "nothing written: {:?}",
        host.log()
    );
}

#[test]
fn list_shows_a_table() {
    let host = host();
    let mut fss = mixed();
    fss.push(fs("nopool", FsKind::Zfs, "nopool/x"));
    expect![[r#"
        ID      KIND   PATH          DIR            EXISTS
        home    zfs    tank/a1/home  /tank/a1/home  yes
        root    zfs    tank/a1       /tank/a1       yes
        dir     dir    /d/a1         /d/a1          yes
        b       btrfs  /b/a1/home    /b/a1/home     yes
        nopool  zfs    nopool/x      -              no
    "#]]
    .assert_eq(&list_filesystems(&host, &fss).unwrap().to_string());
}

/// The words a POSIX shell makes of `remote` (the ssh command string): `printf` prints each.
fn shell_words(remote: &str) -> Vec<String> {
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {remote}"))
        .output()
        .expect("run /bin/sh");
    assert!(
        output.status.success(),
        "sh failed on {remote:?}: {output:?}"
    );
    String::from_utf8_lossy(&output.stdout)
        .split_terminator('\0')
        .map(str::to_string)
        .collect()
}

#[test]
fn ssh_commands_quote_every_word_for_the_remote_shell() {
    let hostile = [
        "tank/a1;rm -rf /",
        "tank/$(touch /tmp/lxops-pwned)",
        "tank/`id`",
        "tank/it's \"quoted\"",
        "tank/new\nline",
        "tank/-rf",
        "tank/a*b?c[d]~e&f|g>h<i",
    ];
    for (i, path) in hostile.iter().enumerate() {
        let snapshot = if i % 2 == 0 { "s1" } else { "$(reboot);x" };
        let name = format!("{path}@{snapshot}");
        for (host, words) in [
            ("user@source", vec!["send".to_string(), name.clone()]),
            ("backup", vec!["receive".to_string(), path.to_string()]),
        ] {
            let command = zfs_on(Some(host), words.clone()).expect("quotable");
            assert_eq!(command.program, "ssh");
            let [dashdash, ssh_host, remote] = &command.args[..] else {
                panic!("ssh -- HOST COMMAND, got {:?}", command.args);
            };
            assert_eq!((dashdash.as_str(), ssh_host.as_str()), ("--", host));
            let mut expected = vec!["sudo".to_string(), "zfs".to_string()];
            expected.extend(words);
            assert_eq!(shell_words(remote), expected, "remote string {remote:?}");
        }
    }
    // Through copy_filesystems: the same quoting, both sides remote.
    let options = CopyOptions {
        snapshot: "s1".into(),
        from_host: Some("user@source".into()),
        to_host: Some("backup".into()),
    };
    let host = FakeHost::new();
    copy_filesystems(
        &host,
        &[fs("home", FsKind::Zfs, "tank/a1;rm -rf ~")],
        &[fs("home", FsKind::Zfs, "tank/$(x)")],
        &options,
    )
    .expect("copied");
    expect![[r#"ssh -- user@source 'sudo zfs send '\''tank/a1;rm -rf ~@s1'\''' | ssh -- backup 'sudo zfs receive '\''tank/$(x)'\'''"#]]
    .assert_eq(&host.log().join("\n"));
    assert!(
        zfs_on(Some("h"), vec!["receive".into(), "tank/nul\0".into()]).is_err(),
        "a NUL byte cannot be quoted"
    );
}

#[test]
fn ssh_hosts_that_ssh_would_misread_are_refused_before_anything_runs() {
    let cases = [
        "-oProxyCommand=touch /tmp/x",
        "-F/etc/shadow",
        "",
        "host name",
        "host\nname",
        "host\u{1b}[31m",
        "host\tx",
    ];
    let mut text = Vec::new();
    for (i, bad) in cases.iter().enumerate() {
        let mut options = CopyOptions {
            snapshot: "s1".into(),
            from_host: None,
            to_host: None,
        };
        if i % 2 == 0 {
            options.from_host = Some(bad.to_string());
        } else {
            options.to_host = Some(bad.to_string());
        }
        let host = host();
        let result = copy_filesystems(
            &host,
            &[fs("home", FsKind::Zfs, "tank/a1/home")],
            &[fs("home", FsKind::Zfs, "tank/b1/home")],
            &options,
        );
        assert!(host.log().is_empty(), "{bad:?} ran {:?}", host.log());
        text.push(match result {
            Ok(done) => format!("{bad:?}: accepted {done:?}"),
            Err(e) => format!("{bad:?}: {e}"),
        });
    }
    expect![[r#"
        "-oProxyCommand=touch /tmp/x": source ssh host `-oProxyCommand=touch /tmp/x` is invalid: it starts with `-`, which ssh would read as an option
        "-F/etc/shadow": target ssh host `-F/etc/shadow` is invalid: it starts with `-`, which ssh would read as an option
        "": source ssh host `` is invalid: it is empty; give a host name or an ssh config alias
        "host name": target ssh host `host name` is invalid: it contains whitespace or control characters
        "host\nname": source ssh host `host\nname` is invalid: it contains whitespace or control characters
        "host\u{1b}[31m": target ssh host `host\u{1b}[31m` is invalid: it contains whitespace or control characters
        "host\tx": source ssh host `host\tx` is invalid: it contains whitespace or control characters"#]].assert_eq(&text.join("\n"));
}

#[test]
fn rollback_refuses_another_instances_dataset() {
    let host = host().with_zfs_marks(&[("tank/a1/home", "default/b1")]);
    let fss = [fs("home", FsKind::Zfs, "tank/a1/home")];
    let err = rollback_filesystems(&host, &fss, "s1").unwrap_err();
    expect![[r#"
        refused, nothing was changed:
          filesystem `home` (tank/a1/home): it is marked as made for instance default/b1, and a rollback discards its newer data; if you really mean it, run `zfs rollback -r tank/a1/home@s1` yourself"#]].assert_eq(&err.to_string());
    assert!(
        host.commands()
            .iter()
            .all(|c| !c.starts_with("zfs rollback")),
        "{:?}",
        host.commands()
    );
}

/// `snapshot -d -R`: the datasets `zfs destroy -R` takes with the snapshot are found from the
/// `origin` of every dataset of the pool (clones of the snapshot on the filesystem or inside
/// it, datasets inside those clones, clones of their snapshots), never a look-alike name; and
/// the rules refuse an unmarked clone (unless --adopt) and a filesystem of another instance.
#[test]
fn snapshot_dependents_are_the_clones_destroy_r_takes_and_must_be_lxops_made() {
    let listing = [
        "p\t-",
        "p/x\t-",
        "p/x/a1\t-",
        "p/x/a1/sub\t-",
        "p/x/b1\tp/x/a1@s1",
        "p/x/b1/in\t-",
        "p/x/c1\tp/x/b1@later",
        "p/x/d1\tp/x/a1@other",
        "p/x/e1\tp/x/a1/sub@s1",
        "p/y\tp/x/a10@s1",
        "p/x/a10\t-",
    ]
    .join("\n");
    let host = FakeHost::new()
        .answering(
            "zfs list -H -r -t filesystem,volume -o name,origin p",
            &listing,
        )
        .with_zfs_marks(&[
            ("p/x/a1", "default/a1"),
            ("p/x/b1", "default/b1"),
            ("p/x/c1", "default/c1"),
            ("p/x/e1", "default/e1"),
        ]);
    let fss = [
        fs("data", FsKind::Zfs, "p/x/a1"),
        fs("sub", FsKind::Zfs, "p/x/a1/sub"),
    ];
    let dependents = snapshot_dependents(&host, &fss, "s1").expect("lists");
    let shown: Vec<String> = dependents
        .iter()
        .map(|d| format!("{} from {} mark {:?}", d.dataset, d.from, d.mark))
        .collect();
    expect![[r#"
        p/x/b1 from p/x/a1@s1 mark Some("default/b1")
        p/x/c1 from p/x/b1@later mark Some("default/c1")
        p/x/e1 from p/x/a1/sub@s1 mark Some("default/e1")
        p/x/b1/in from p/x/b1 mark None"#]]
    .assert_eq(&shown.join("\n"));

    // (own mark, adopt, refused paths)
    let cases: &[(&str, bool, &[&str])] = &[
        ("default/a1", false, &["p/x/b1/in"]),
        ("default/a1", true, &[]),
        ("default/a2", true, &["p/x/a1"]),
        ("default/a2", false, &["p/x/a1", "p/x/b1/in"]),
    ];
    for (own, adopt, refused) in cases {
        let result =
            check_destroy_dependents(&host, &fss, "s1", own, *adopt, &dependents, Vec::new());
        let got: Vec<String> = match result {
            Ok(()) => Vec::new(),
            Err(HostError::Refused { refusals }) => refusals.into_iter().map(|r| r.path).collect(),
            Err(e) => panic!("{own} {adopt}: {e}"),
        };
        assert_eq!(got, *refused, "{own} adopt {adopt}");
    }
}
