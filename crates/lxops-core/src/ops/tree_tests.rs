//! Tests of `ops::tree` with the fake server and real local trees: modes, owners, symlinks,
//! empty directories, where a tree lands, and every refusal (escapes, writes through symlinks,
//! special files) before any change.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::server::fake::FakeServer;
use crate::server::{FileContent, ImageSource, InstanceSource, NewInstance};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
        .block_on(f)
}

fn server_with(instance: &str) -> FakeServer {
    let server = FakeServer::new();
    server.add_image("img");
    block_on(server.create_instance(&NewInstance {
        name: instance.into(),
        source: InstanceSource::Image(ImageSource::local("img")),
        profiles: vec![],
        config: BTreeMap::new(),
        devices: BTreeMap::new(),
        vm: false,
        description: String::new(),
        ephemeral: false,
        target: None,
        instance_type: None,
    }))
    .unwrap();
    server.clear_calls();
    server
}

/// A local tree with every kind of entry: modes (0700, 0600, set-uid), owners (1000), a
/// relative and an absolute symlink, an empty and a nested directory.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("a/deep/er")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::write(root.join("a/secret"), "s3cret").unwrap();
    fs::write(root.join("a/deep/er/note"), "deep").unwrap();
    fs::write(root.join("run"), "#!/bin/sh\n").unwrap();
    fs::write(root.join("readme"), "hello").unwrap();
    symlink("a/secret", root.join("rel-link")).unwrap();
    symlink("/etc/passwd", root.join("abs-link")).unwrap();
    let mode =
        |p: &str, m: u32| fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
    mode("a", 0o700);
    mode("a/secret", 0o600);
    mode("run", 0o4755);
    mode("readme", 0o644);
    mode("empty", 0o750);
    std::os::unix::fs::chown(root.join("a"), Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(root.join("a/secret"), Some(1000), Some(1001)).unwrap();
}

/// `kind mode uid:gid path [-> target | content]` for every entry below `root`, sorted.
fn describe_local(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let head = |kind: &str| {
                format!(
                    "{kind} {:04o} {}:{} {rel}",
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid()
                )
            };
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.push(format!("symlink {rel} -> {}", target.display()));
            } else if meta.is_dir() {
                out.push(head("dir"));
                walk(root, &path, out);
            } else {
                out.push(format!(
                    "{} {}",
                    head("file"),
                    fs::read_to_string(&path).unwrap()
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

fn push(
    server: &FakeServer,
    source: &Path,
    dest: &str,
    recursive: bool,
) -> Result<Vec<String>, TreeError> {
    block_on(async {
        let plan = plan_push(server, "c1", source, dest, recursive).await?;
        let mut lines: Vec<String> = Vec::new();
        execute(Arc::new(server.clone()), &plan, &mut lines).await?;
        assert_eq!(lines, plan.lines(), "the run prints the dry run's lines");
        Ok(lines)
    })
}

fn pull(
    server: &FakeServer,
    source: &str,
    dest: &Path,
    recursive: bool,
) -> Result<Vec<String>, TreeError> {
    block_on(async {
        let plan = plan_pull(server, "c1", source, dest, recursive).await?;
        let mut lines: Vec<String> = Vec::new();
        execute(Arc::new(server.clone()), &plan, &mut lines).await?;
        assert_eq!(lines, plan.lines(), "the run prints the dry run's lines");
        Ok(lines)
    })
}

#[test]
fn a_pushed_tree_keeps_modes_owners_symlinks_and_empty_dirs_and_pulls_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tree");
    make_tree(&source);
    let server = server_with("c1");

    let lines = push(&server, &source, "/tmp", true).unwrap();
    let src = source.display();
    assert_eq!(
        lines,
        vec![
            "mkdir c1:/tmp/tree mode=0755 owner=0:0".to_string(),
            "mkdir c1:/tmp/tree/a mode=0700 owner=1000:1000".into(),
            "mkdir c1:/tmp/tree/empty mode=0750 owner=0:0".into(),
            "mkdir c1:/tmp/tree/a/deep mode=0755 owner=0:0".into(),
            "mkdir c1:/tmp/tree/a/deep/er mode=0755 owner=0:0".into(),
            format!("push {src}/a/deep/er/note -> c1:/tmp/tree/a/deep/er/note mode=0644 owner=0:0"),
            format!("push {src}/a/secret -> c1:/tmp/tree/a/secret mode=0600 owner=1000:1001"),
            format!("push {src}/readme -> c1:/tmp/tree/readme mode=0644 owner=0:0"),
            format!("push {src}/run -> c1:/tmp/tree/run mode=4755 owner=0:0"),
            "symlink c1:/tmp/tree/abs-link -> /etc/passwd".into(),
            "symlink c1:/tmp/tree/rel-link -> a/secret".into(),
        ]
    );
    let secret = server.file("c1", "/tmp/tree/a/secret").unwrap();
    assert_eq!(
        (
            secret.content.as_slice(),
            secret.mode,
            secret.uid,
            secret.gid
        ),
        (&b"s3cret"[..], 0o600, 1000, 1001)
    );
    // The files API keeps only 0777: the set-uid bit is not sent.
    assert_eq!(server.file("c1", "/tmp/tree/run").unwrap().mode, 0o755);
    assert_eq!(
        server.file("c1", "/tmp/tree/empty").unwrap().kind,
        FileKind::Directory
    );
    assert_eq!(
        server.file("c1", "/tmp/tree/rel-link").unwrap().content,
        b"a/secret"
    );

    let back = dir.path().join("back");
    fs::create_dir(&back).unwrap();
    pull(&server, "/tmp/tree", &back, true).unwrap();
    let mut expected = describe_local(&source);
    for line in &mut expected {
        *line = line.replace("file 4755", "file 0755");
    }
    assert_eq!(describe_local(&back.join("tree")), expected);
}

#[test]
fn the_plan_warns_about_set_id_bits_and_the_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tree");
    make_tree(&source);
    let server = server_with("c1");
    let plan = block_on(plan_push(&server, "c1", &source, "/tmp", true)).unwrap();
    assert_eq!(plan.warnings().len(), 1);
    assert!(
        plan.warnings()[0].contains("run: mode 4755"),
        "{:?}",
        plan.warnings()
    );
    assert_eq!(plan.counts(), (5, 4, 2));
    assert!(server.calls().is_empty(), "{:?}", server.calls());
}

#[test]
fn where_a_tree_lands() {
    // (existing in the instance, destination argument, source, expected top)
    type Case<'a> = (&'a [&'a str], &'a str, &'a str, Result<&'a str, &'a str>);
    let cases: &[Case] = &[
        (&[], "/tmp", "tree", Ok("/tmp/tree")),
        (&[], "/tmp/", "tree", Ok("/tmp/tree")),
        (&[], "/tmp/new", "tree", Ok("/tmp/new")),
        (&[], "/tmp/./x/", "tree", Ok("/tmp/x")),
        (
            &[],
            "/nodir/x",
            "tree",
            Err("c1:/nodir: is not an existing directory"),
        ),
        (&[], "/tmp/../etc", "tree", Err("contains `..`")),
        (&[], "tmp", "tree", Err("must be absolute")),
        (
            &["/tmp/f"],
            "/tmp/f",
            "tree",
            Err("is a file, and the source is a directory"),
        ),
        (&["/tmp/f"], "/tmp/f", "file", Ok("/tmp/f")),
        (&[], "/tmp", "file", Ok("/tmp/file")),
    ];
    for (existing, dest, source, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("tree")).unwrap();
        fs::write(dir.path().join("file"), "x").unwrap();
        let server = server_with("c1");
        for path in *existing {
            block_on(server.write_file(
                "c1",
                &FileWrite {
                    path: path.to_string(),
                    ..Default::default()
                },
            ))
            .unwrap();
        }
        let got = block_on(plan_push(
            &server,
            "c1",
            &dir.path().join(source),
            dest,
            true,
        ))
        .map(|p| p.remote)
        .map_err(|e| e.to_string());
        match (expected, got) {
            (Ok(want), Ok(got)) => assert_eq!(&got, want, "{dest} {source}"),
            (Err(want), Err(got)) => assert!(got.contains(want), "{dest}: {got}"),
            (want, got) => panic!("{dest} {source}: expected {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn push_without_r_takes_one_file_and_refuses_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("tree")).unwrap();
    fs::write(dir.path().join("f"), "one").unwrap();
    let server = server_with("c1");
    let err = push(&server, &dir.path().join("tree"), "/tmp", false).unwrap_err();
    assert!(
        err.is_input() && err.to_string().contains("use -r"),
        "{err}"
    );
    push(&server, &dir.path().join("f"), "/tmp/g", false).unwrap();
    assert_eq!(server.file("c1", "/tmp/g").unwrap().content, b"one");
}

#[test]
fn push_refuses_to_write_through_a_symlink_in_the_instance_before_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tree");
    fs::create_dir_all(source.join("etc")).unwrap();
    fs::write(source.join("etc/passwd"), "evil").unwrap();
    fs::write(source.join("first"), "1").unwrap();
    let server = server_with("c1");
    block_on(server.make_dir(
        "c1",
        &DirCreate {
            path: "/tmp/tree".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    // `/tmp/tree/etc` is a symlink to `/etc` in the instance: pushing `etc/passwd` through it
    // would overwrite the instance's `/etc/passwd`.
    let link = SymlinkCreate {
        path: "/tmp/tree/etc".into(),
        target: "/etc".into(),
    };
    block_on(server.make_symlink("c1", &link)).unwrap();
    server.clear_calls();
    let err = push(&server, &source, "/tmp", true).unwrap_err();
    assert!(err.is_input(), "{err}");
    assert!(
        err.to_string().contains("c1:/tmp/tree/etc: is a symlink"),
        "{err}"
    );
    assert!(
        server.calls().is_empty(),
        "nothing changed: {:?}",
        server.calls()
    );
    assert_eq!(server.file("c1", "/etc/passwd"), None);
}

#[test]
fn push_replaces_an_existing_symlink_with_the_trees_symlink_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tree");
    fs::create_dir(&source).unwrap();
    symlink("new-target", source.join("link")).unwrap();
    let server = server_with("c1");
    block_on(server.make_dir(
        "c1",
        &DirCreate {
            path: "/tmp/tree".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    let link = SymlinkCreate {
        path: "/tmp/tree/link".into(),
        target: "/etc".into(),
    };
    block_on(server.make_symlink("c1", &link)).unwrap();
    server.clear_calls();
    push(&server, &source, "/tmp", true).unwrap();
    assert_eq!(
        server.calls(),
        vec![
            "mkdir c1:/tmp/tree",
            "delete file c1:/tmp/tree/link",
            "symlink c1:/tmp/tree/link -> new-target"
        ]
    );
    assert!(
        server.file("c1", "/etc").is_some(),
        "the link's old target is kept"
    );
}

#[test]
fn push_refuses_special_files_and_changes_of_kind_before_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tree");
    fs::create_dir_all(source.join("sub")).unwrap();
    let server = server_with("c1");
    block_on(server.make_dir(
        "c1",
        &DirCreate {
            path: "/tmp/tree".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    block_on(server.write_file(
        "c1",
        &FileWrite {
            path: "/tmp/tree/sub".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    server.clear_calls();
    let err = push(&server, &source, "/tmp", true).unwrap_err();
    assert!(
        err.to_string()
            .contains("is a file where the tree has a directory"),
        "{err}"
    );
    assert!(server.calls().is_empty());

    let socket = source.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let err = push(&server, &source, "/tmp", true).unwrap_err();
    assert!(
        err.is_input() && err.to_string().contains("special file"),
        "{err}"
    );
    assert!(server.calls().is_empty());
}

/// A server that lists names it should not (or lists a name twice) for `/srv/tree`.
fn lying_server(listing: &str) -> FakeServer {
    let server = server_with("c1");
    let dir = |content: &str| FileContent {
        kind: FileKind::Directory,
        content: content.as_bytes().to_vec(),
        uid: 0,
        gid: 0,
        mode: 0o755,
    };
    server.set_file("c1", "/srv", dir(""));
    server.set_file("c1", "/srv/tree", dir(listing));
    server.set_file(
        "c1",
        "/srv/tree/ok",
        FileContent {
            kind: FileKind::File,
            content: b"ok".to_vec(),
            uid: 0,
            gid: 0,
            mode: 0o644,
        },
    );
    server
}

#[test]
fn pull_refuses_names_from_the_server_that_leave_the_destination() {
    for listing in ["..", "../../outside", "a/b", ".", "ok"] {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let server = lying_server(listing);
        let err = pull(&server, "/srv/tree", &dest, true).unwrap_err();
        assert!(err.is_input(), "{listing}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("would leave the directory") || text.contains("twice"),
            "{listing}: {text}"
        );
        assert_eq!(
            fs::read_dir(&dest).unwrap().count(),
            0,
            "{listing}: nothing written"
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "{listing}: nothing beside"
        );
    }
}

#[test]
fn pull_copies_a_malicious_symlink_as_a_symlink_and_never_writes_through_one() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let dest = dir.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let server = server_with("c1");
    block_on(server.make_dir(
        "c1",
        &DirCreate {
            path: "/srv".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    block_on(server.make_dir(
        "c1",
        &DirCreate {
            path: "/srv/tree".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    let evil = SymlinkCreate {
        path: "/srv/tree/evil".into(),
        target: outside.display().to_string(),
    };
    block_on(server.make_symlink("c1", &evil)).unwrap();
    pull(&server, "/srv/tree", &dest, true).unwrap();
    let link = dest.join("tree/evil");
    assert_eq!(fs::read_link(&link).unwrap(), outside);

    // Now the instance has a directory `evil` with a file in it: pulling again would write
    // `evil/passwd` through the local symlink into `outside`.
    block_on(server.delete_file("c1", "/srv/tree/evil")).unwrap();
    block_on(server.make_dir(
        "c1",
        &DirCreate {
            path: "/srv/tree/evil".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    let file = FileWrite {
        path: "/srv/tree/evil/passwd".into(),
        content: b"owned".to_vec(),
        ..Default::default()
    };
    block_on(server.write_file("c1", &file)).unwrap();
    let err = pull(&server, "/srv/tree", &dest, true).unwrap_err();
    assert!(err.is_input(), "{err}");
    assert!(
        err.to_string()
            .contains("is a symlink where the tree has a directory"),
        "{err}"
    );
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    assert_eq!(
        fs::read_link(&link).unwrap(),
        outside,
        "the local link is kept"
    );
}

#[test]
fn pulled_symlink_targets_inside_the_tree_become_relative_again() {
    // (tree top, link, target as the daemon reports it, written target)
    let cases = [
        (
            "/srv/tree",
            "/srv/tree/a/link",
            "/srv/tree/b/file",
            "../b/file",
        ),
        ("/srv/tree", "/srv/tree/link", "/srv/tree/file", "file"),
        ("/srv/tree", "/srv/tree/a/link", "/srv/tree/a", "."),
        ("/srv/tree", "/srv/tree/link", "/etc/passwd", "/etc/passwd"),
        ("/srv/tree", "/srv/tree/link", "/srv/tree", "/srv/tree"),
        (
            "/srv/tree",
            "/srv/tree/link",
            "/srv/treehouse",
            "/srv/treehouse",
        ),
        ("/srv/tree", "/srv/tree/link", "relative", "relative"),
    ];
    for (top, link, target, expected) in cases {
        assert_eq!(
            relative_target(top, link, target),
            expected,
            "{link} -> {target}"
        );
    }
}

#[test]
fn pull_without_r_takes_one_file_and_refuses_a_directory_or_a_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with("c1");
    let file = FileWrite {
        path: "/etc/hostname".into(),
        content: b"c1\n".to_vec(),
        mode: Some(0o640),
        ..Default::default()
    };
    block_on(server.write_file("c1", &file)).unwrap();
    pull(&server, "/etc/hostname", dir.path(), false).unwrap();
    let meta = fs::metadata(dir.path().join("hostname")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!(fs::read(dir.path().join("hostname")).unwrap(), b"c1\n");

    let err = pull(&server, "/etc", dir.path(), false).unwrap_err();
    assert!(
        err.is_input() && err.to_string().contains("use -r"),
        "{err}"
    );
    let err = pull(&server, "/nothing", dir.path(), false).unwrap_err();
    assert!(
        err.is_input() && err.to_string().contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_tree_lands_under_the_name_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    fs::create_dir(&real).unwrap();
    symlink(&real, dir.path().join("alias")).unwrap();
    let server = server_with("c1");
    // (source, expected top in the instance)
    let cases = [
        (dir.path().join("alias"), "/tmp/alias"),
        (real.clone(), "/tmp/real"),
        (real.join("."), "/tmp/real"),
        (real.join("sub/.."), "/tmp/real"),
    ];
    fs::create_dir(real.join("sub")).unwrap();
    for (source, expected) in cases {
        let plan = block_on(plan_push(&server, "c1", &source, "/tmp", true)).unwrap();
        assert_eq!(plan.remote, expected, "{}", source.display());
    }
}

#[test]
fn step_lines_escape_control_characters_in_names_the_instance_chose() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with("c1");
    block_on(server.make_dir(
        "c1",
        &DirCreate {
            path: "/srv".into(),
            ..Default::default()
        },
    ))
    .unwrap();
    let file = FileWrite {
        path: "/srv/\u{1b}[2Jx".into(),
        content: b"x".to_vec(),
        ..Default::default()
    };
    block_on(server.write_file("c1", &file)).unwrap();
    let lines = pull(&server, "/srv", dir.path(), true).unwrap();
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("\\u{1b}[2Jx")), "{lines:?}");
    assert_eq!(fs::read(dir.path().join("srv/\u{1b}[2Jx")).unwrap(), b"x");
}

#[test]
fn push_overrides_owners_of_everything_and_modes_of_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tree");
    make_tree(&source);
    let server = server_with("c1");
    let mut plan = block_on(plan_push(&server, "c1", &source, "/tmp", true)).unwrap();
    plan.override_attributes(Some(7), None, Some(0o640));
    let lines = plan.lines();
    assert!(
        lines.contains(&"mkdir c1:/tmp/tree/a mode=0700 owner=7:1000".to_string()),
        "{lines:?}"
    );
    let secret = format!(
        "push {}/a/secret -> c1:/tmp/tree/a/secret mode=0640 owner=7:1001",
        source.display()
    );
    assert!(lines.contains(&secret), "{lines:?}");
    block_on(execute(
        Arc::new(server.clone()),
        &plan,
        &mut Vec::<String>::new(),
    ))
    .unwrap();
    let written = server.file("c1", "/tmp/tree/run").unwrap();
    assert_eq!((written.mode, written.uid, written.gid), (0o640, 7, 0));
}
