//! Images through the lxops command line on both daemons: publish with the original's
//! properties (version from the name, `-architecture amd64`), `image info|list|instances`,
//! aliases, export to a unified tarball and import of unified and split tarballs, `export
//! -image`/`import -image`, `instance number` and `instance addresses` across projects, the
//! example image flow, and the refusals: a taken alias, an alias that does not exist, a
//! file that is not an image; a daemon failing after the upload leaves no orphan image.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use lxops_core::server::{ImageSource, InstanceServer, InstanceSource, NewInstance};
use lxops_tests::fault_proxy::{Fault, FaultProxy, Rule};
use lxops_tests::{unique_name, ImageCleanup, DAEMONS};

use crate::cli::{block_on, lxops, server, write_config, Cleanup};

/// A unique name with letters only after `prefix` (no digits that the version detection would
/// pick up).
fn letters(prefix: &str) -> String {
    let name = unique_name(prefix);
    let suffix: String = name[prefix.len()..]
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from(b'g' + d as u8),
            None => c,
        })
        .collect();
    format!("{prefix}{suffix}")
}

fn new_instance(name: &str, image: &str) -> NewInstance {
    NewInstance {
        name: name.to_string(),
        source: InstanceSource::Image(ImageSource::local(image)),
        profiles: vec!["default".to_string()],
        config: BTreeMap::new(),
        devices: BTreeMap::new(),
        vm: false,
        description: String::new(),
        ephemeral: false,
        target: None,
        instance_type: None,
    }
}

fn fingerprint_of(server: &std::sync::Arc<dyn InstanceServer>, alias: &str) -> Option<String> {
    block_on(server.image_fingerprint(&ImageSource::local(alias))).expect("image lookup")
}

fn image_count(server: &std::sync::Arc<dyn InstanceServer>) -> usize {
    block_on(server.images()).expect("images").len()
}

/// Runs a host command (the tests may use tar and the daemons' CLIs to set up and check).
#[track_caller]
fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect(program);
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// A unified test image unique to this test (a marker file holding `marker`), from the cached
/// busybox tarball; also its split pair (`meta.tar.gz` + `rootfs.tar.gz`). Returns the unified
/// tarball and the pair.
pub(crate) fn test_images(dir: &Path, marker: &str) -> (String, String, String) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let src_arg = src.display().to_string();
    run(
        "tar",
        &[
            "-xzf",
            "/var/cache/lxops-test/busybox-v1.tar.gz",
            "-C",
            &src_arg,
        ],
    );
    std::fs::write(src.join("rootfs/etc/lxops-image-marker"), marker).expect("marker");
    let unified = dir.join("unified.tar.gz").display().to_string();
    run(
        "tar",
        &["-czf", &unified, "-C", &src_arg, "metadata.yaml", "rootfs"],
    );
    // The split pair differs from the unified tarball (another marker), so both can be
    // imported side by side.
    std::fs::write(
        src.join("rootfs/etc/lxops-image-marker"),
        format!("{marker}-split"),
    )
    .expect("marker");
    let meta = dir.join("meta.tar.gz").display().to_string();
    let rootfs = dir.join("rootfs.tar.gz").display().to_string();
    run("tar", &["-czf", &meta, "-C", &src_arg, "metadata.yaml"]);
    run(
        "tar",
        &[
            "-czf",
            &rootfs,
            "-C",
            &src.join("rootfs").display().to_string(),
            ".",
        ],
    );
    (unified, meta, rootfs)
}

#[test]
fn publish_shows_the_original_properties_and_images_are_listed_with_them() {
    for daemon in DAEMONS {
        let server = server(daemon);
        // The original's example: `alpine3-nginx-20260105` gives version 20260105.
        let source = format!("{}-20260105", letters("t-alpine3-nginx"));
        let user = letters("t-imguser");
        let _image = ImageCleanup {
            daemon,
            image: source.clone(),
        };
        let _cleanup = Cleanup::new(&server, &[&source, &user]);
        block_on(server.create_instance(&new_instance(&source, lxops_tests::BUSYBOX)))
            .expect("create");
        // Unique content: the daemons refuse a second image with the same fingerprint.
        block_on(server.write_file(
            &source,
            &lxops_core::server::FileWrite {
                path: "/root/published".into(),
                content: source.clone().into_bytes(),
                ..Default::default()
            },
        ))
        .expect("marker");
        block_on(server.create_snapshot(&source, "s1")).expect("snapshot");

        let published = lxops(
            daemon,
            &[
                "publish",
                "-architecture",
                "amd64",
                "-os",
                "alpine",
                &format!("{source}/s1"),
            ],
        )
        .ok();
        for line in [
            format!("publish {source}/s1 as {source}"),
            "  architecture=x86_64".to_string(),
            "  release=20260105".to_string(),
            "  serial=20260105".to_string(),
            format!("  variant={source}"),
        ] {
            assert!(
                published.stdout.lines().any(|l| l == line),
                "{daemon}: {line:?} in\n{}",
                published.stdout
            );
        }
        let fingerprint = fingerprint_of(&server, &source).expect("published under the name");

        // image info: every property; image list: one row with them.
        let info = lxops(daemon, &["image", "info", &source]).ok().stdout;
        let info: serde_yaml::Value = serde_yaml::from_str(&info).expect("yaml");
        assert_eq!(info["fingerprint"].as_str(), Some(fingerprint.as_str()));
        assert_eq!(info["properties"]["serial"].as_str(), Some("20260105"));
        assert_eq!(info["properties"]["architecture"].as_str(), Some("x86_64"));
        assert_eq!(info["properties"]["os"].as_str(), Some("alpine"));
        let list = lxops(daemon, &["image", "list", "--format", "json"])
            .ok()
            .stdout;
        let list: serde_json::Value = serde_json::from_str(&list).expect("json");
        let row = list
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["alias"] == source.as_str())
            .unwrap_or_else(|| panic!("{daemon}: {source} in {list}"));
        assert_eq!(row["serial"], "20260105", "{daemon}");
        assert_eq!(row["os"], "alpine", "{daemon}");

        // image instances: an instance made from it is listed under its alias.
        block_on(server.create_instance(&new_instance(&user, &source))).expect("create user");
        let used = lxops(daemon, &["image", "instances", "--format", "csv"])
            .ok()
            .stdout;
        assert!(
            used.lines()
                .any(|l| l.starts_with(&format!("{source},{user},{fingerprint},"))),
            "{daemon}: {used}"
        );
        let table = lxops(daemon, &["image", "instances"]).ok().stdout;
        assert!(table.starts_with("IMAGE"), "{daemon}: {table}");

        // A taken alias is refused before anything is made.
        let before = image_count(&server);
        block_on(server.create_snapshot(&source, "s2")).expect("snapshot");
        lxops(
            daemon,
            &["publish", "--alias", &source, &format!("{source}/s2")],
        )
        .fails(2, "already exists");
        assert_eq!(image_count(&server), before, "{daemon}: no orphan image");
        // The original's -format: these daemons publish unified images only (no
        // `image_format` API extension), so split is refused before anything is made.
        let other = unique_name("t-split-pub");
        lxops(
            daemon,
            &[
                "publish",
                "-format",
                "split",
                "-alias",
                &other,
                &format!("{source}/s2"),
            ],
        )
        .fails(1, "image_format");
        assert_eq!(image_count(&server), before, "{daemon}");
    }
}

#[test]
fn instance_number_assigns_persistent_numbers() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let up = unique_name("t-num-up");
        let down = unique_name("t-num-down");
        let extra = unique_name("t-num-extra");
        let _cleanup = Cleanup::new(&server, &[&up, &down]);
        block_on(server.create_instance(&new_instance(&up, lxops_tests::BUSYBOX))).expect("create");
        block_on(server.start_instance(&up)).expect("start");
        block_on(server.create_instance(&new_instance(&down, lxops_tests::BUSYBOX)))
            .expect("create");
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("ports.csv");
        let file_arg = file.display().to_string();
        let read = || -> BTreeMap<String, i64> {
            std::fs::read_to_string(&file)
                .expect("numbers file")
                .lines()
                .map(|l| {
                    let (n, v) = l.rsplit_once(',').expect("name,number");
                    (n.to_string(), v.parse().expect("number"))
                })
                .collect()
        };
        // -r without --project is a usage error; an empty file needs -first.
        lxops(daemon, &["instance", "number", "-f", &file_arg, "-r"]).fails(2, "-r");
        lxops(daemon, &["instance", "number", "-f", &file_arg, &extra]).fails(2, "--first");
        lxops(
            daemon,
            &[
                "instance", "number", "-f", &file_arg, "-first", "22000", "-project", "default",
                "-r",
            ],
        )
        .ok();
        let first = read();
        assert!(first.contains_key(&up), "{daemon}: {first:?}");
        assert!(
            !first.contains_key(&down),
            "{daemon}: only running ones with -r"
        );
        // Numbers stay; a new name gets a free one.
        lxops(daemon, &["instance", "number", "-f", &file_arg, &extra]).ok();
        let second = read();
        assert_eq!(second[&up], first[&up], "{daemon}");
        let numbers: std::collections::BTreeSet<i64> = second.values().copied().collect();
        assert_eq!(numbers.len(), second.len(), "{daemon}: unique numbers");
        assert!(second[&extra] >= 22000, "{daemon}: {second:?}");
        // -clean keeps only the selected names.
        lxops(
            daemon,
            &["instance", "number", "-f", &file_arg, "-clean", &extra],
        )
        .ok();
        assert_eq!(read(), BTreeMap::from([(extra.clone(), second[&extra])]));
    }
}

#[test]
fn aliases_are_created_renamed_and_deleted_and_missing_ones_named() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let alias = unique_name("t-alias");
        let renamed = unique_name("t-alias-new");
        let missing = unique_name("t-alias-missing");
        let _a = ImageCleanup {
            daemon,
            image: renamed.clone(),
        };
        let target = fingerprint_of(&server, lxops_tests::BUSYBOX).expect("busybox image");
        lxops(
            daemon,
            &["image", "alias", "create", &alias, lxops_tests::BUSYBOX],
        )
        .ok();
        assert_eq!(fingerprint_of(&server, &alias), Some(target.clone()));
        // Taken names are refused, naming them.
        lxops(
            daemon,
            &["image", "alias", "create", &alias, lxops_tests::BUSYBOX],
        )
        .fails(2, &alias);
        lxops(
            daemon,
            &["image", "alias", "rename", &alias, lxops_tests::BUSYBOX],
        )
        .fails(2, lxops_tests::BUSYBOX);
        lxops(daemon, &["image", "alias", "rename", &alias, &renamed]).ok();
        assert_eq!(fingerprint_of(&server, &alias), None, "{daemon}");
        assert_eq!(fingerprint_of(&server, &renamed), Some(target.clone()));
        // Missing aliases: exit 2 naming them, and nothing deleted.
        lxops(daemon, &["image", "alias", "rename", &missing, &alias]).fails(2, &missing);
        lxops(daemon, &["image", "alias", "delete", &renamed, &missing]).fails(2, &missing);
        assert_eq!(fingerprint_of(&server, &renamed), Some(target.clone()));
        lxops(daemon, &["image", "info", &missing]).fails(2, &missing);
        lxops(daemon, &["image", "export", &missing]).fails(2, &missing);
        // Deleting the alias keeps its image.
        lxops(daemon, &["image", "alias", "delete", &renamed]).ok();
        assert_eq!(fingerprint_of(&server, &renamed), None, "{daemon}");
        assert_eq!(
            fingerprint_of(&server, lxops_tests::BUSYBOX),
            Some(target),
            "{daemon}: the image stays"
        );
    }
}

#[test]
fn unified_and_split_tarballs_import_and_export() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let tmp = tempfile::tempdir().expect("tempdir");
        let marker = unique_name("t-marker");
        let (unified, meta, rootfs) = test_images(tmp.path(), &marker);
        let a_unified = unique_name("t-uni");
        let a_split = unique_name("t-split");
        let check = unique_name("t-imgcheck");
        let _cleanup = Cleanup::new(&server, &[&check]);
        let _i1 = ImageCleanup {
            daemon,
            image: a_unified.clone(),
        };
        let _i2 = ImageCleanup {
            daemon,
            image: a_split.clone(),
        };

        // Not an image: exit 2 naming the file, nothing uploaded.
        let before = image_count(&server);
        let bogus = write_config(tmp.path(), "bogus.tar.gz", "#lxops-v1\nimage: x\n");
        lxops(daemon, &["image", "import", "--alias", &a_unified, &bogus])
            .fails(2, "bogus.tar.gz is not an image");
        lxops(daemon, &["image", "import", &unified, &bogus]).fails(2, "bogus.tar.gz");
        assert_eq!(image_count(&server), before, "{daemon}");

        let fp = lxops(
            daemon,
            &["image", "import", "--alias", &a_unified, &unified],
        )
        .ok()
        .stdout;
        assert_eq!(
            fingerprint_of(&server, &a_unified),
            Some(fp.trim().to_string())
        );
        let fp_split = lxops(
            daemon,
            &["image", "import", "--alias", &a_split, &meta, &rootfs],
        )
        .ok()
        .stdout;
        assert_eq!(
            fingerprint_of(&server, &a_split),
            Some(fp_split.trim().to_string())
        );
        // The split image is launchable and holds its rootfs.
        block_on(server.create_instance(&new_instance(&check, &a_split))).expect("create");
        let file = block_on(server.read_file(&check, "/etc/lxops-image-marker"))
            .expect("read")
            .expect("marker file");
        assert_eq!(
            file.content,
            format!("{marker}-split").into_bytes(),
            "{daemon}"
        );

        // A taken alias: exit 2 before the upload.
        let before = image_count(&server);
        lxops(daemon, &["image", "import", "--alias", &a_split, &unified])
            .fails(2, "already exists");
        assert_eq!(image_count(&server), before, "{daemon}");

        // Export: the unified image is one tarball, byte for byte what was imported; the
        // split one is two files.
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).expect("mkdir");
        let target = out.join("u").display().to_string();
        let written = lxops(daemon, &["image", "export", &a_unified, &target])
            .ok()
            .stdout;
        assert_eq!(written.trim(), format!("{target}.tar.gz"), "{daemon}");
        assert_eq!(
            std::fs::read(format!("{target}.tar.gz")).expect("export"),
            std::fs::read(&unified).expect("unified"),
            "{daemon}"
        );
        let split_target = out.join("s").display().to_string();
        let written = lxops(daemon, &["image", "export", &a_split, &split_target])
            .ok()
            .stdout;
        assert_eq!(written.lines().count(), 2, "{daemon}: {written}");
        for file in written.lines() {
            assert!(Path::new(file).is_file(), "{daemon}: {file}");
        }

        // Deleting names one that does not exist: nothing is deleted, not even the first.
        let missing = unique_name("t-img-missing");
        lxops(daemon, &["image", "delete", &a_split, &missing]).fails(2, &missing);
        assert!(
            fingerprint_of(&server, &a_split).is_some(),
            "{daemon}: kept"
        );

        // Delete by alias; the exported tarball imports again to the same fingerprint.
        lxops(daemon, &["image", "delete", &a_unified]).ok();
        assert_eq!(fingerprint_of(&server, &a_unified), None, "{daemon}");
        let again = lxops(
            daemon,
            &[
                "image",
                "import",
                "--alias",
                &a_unified,
                &format!("{target}.tar.gz"),
            ],
        )
        .ok()
        .stdout;
        assert_eq!(again, fp, "{daemon}");
    }
}

#[test]
fn a_daemon_failing_after_the_upload_leaves_no_orphan_image() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let tmp = tempfile::tempdir().expect("tempdir");
        let (unified, _, _) = test_images(tmp.path(), &unique_name("t-orphan"));
        let alias = unique_name("t-orphan");
        let _image = ImageCleanup {
            daemon,
            image: alias.clone(),
        };
        let proxy = FaultProxy::start(&daemon.socket());
        // The alias is free when checked, but creating it fails after the upload.
        proxy.add(Rule::new(
            Some("POST"),
            "/1.0/images/aliases",
            Fault::Status(500),
            1,
        ));
        let before = image_count(&server);
        let socket = proxy.socket().display().to_string();
        lxops(
            daemon,
            &[
                "--socket", &socket, "image", "import", "--alias", &alias, &unified,
            ],
        )
        .fails(1, "deleted again");
        assert_eq!(image_count(&server), before, "{daemon}: no orphan image");
        assert_eq!(fingerprint_of(&server, &alias), None, "{daemon}");
        // The same for publish.
        let source = unique_name("t-orphansrc");
        let _cleanup = Cleanup::new(&server, &[&source]);
        block_on(server.create_instance(&new_instance(&source, lxops_tests::BUSYBOX)))
            .expect("create");
        block_on(server.create_snapshot(&source, "s1")).expect("snapshot");
        proxy.add(Rule::new(
            Some("POST"),
            "/1.0/images/aliases",
            Fault::Status(500),
            1,
        ));
        lxops(
            daemon,
            &[
                "--socket",
                &socket,
                "publish",
                "--alias",
                &alias,
                &format!("{source}/s1"),
            ],
        )
        .fails(1, "deleted again");
        assert_eq!(image_count(&server), before, "{daemon}: no orphan image");
    }
}

#[test]
fn export_and_import_image_carry_the_image_with_the_filesystems() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let tmp = tempfile::tempdir().expect("tempdir");
        let name = unique_name("t-eximg");
        let _image = ImageCleanup {
            daemon,
            image: name.clone(),
        };
        let (unified, _, _) = test_images(tmp.path(), &name);
        lxops(daemon, &["image", "import", "--alias", &name, &unified]).ok();
        let fingerprint = fingerprint_of(&server, &name).expect("imported");
        let dirs = tmp.path().join("dirs");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nimage: {}\nfilesystems:\n  d:\n    pattern: {}/(instance)\ndevices:\n  data:\n    path: /data\n    filesystem: d\n  etc:\n    path: /etc/opt\n    filesystem: d\n",
                lxops_tests::BUSYBOX,
                dirs.display()
            ),
        );
        // The filesystem holds a file but no device directories yet.
        std::fs::create_dir_all(dirs.join(&name)).expect("mkdir");
        std::fs::write(dirs.join(&name).join("f"), "data").expect("write");
        let archives = tmp.path().join("archives").display().to_string();
        lxops(
            daemon,
            &["export", "-image", "-name", &name, "-d", &archives, &config],
        )
        .ok();
        assert!(Path::new(&archives).join("image.tar.gz").is_file());
        assert!(Path::new(&archives).join("d.tar.gz").is_file());

        // Import elsewhere: the image comes back under the instance name, the device
        // directories are created as the original's import does, the data extracted.
        lxops_tests::delete_image(daemon, &name);
        assert_eq!(fingerprint_of(&server, &name), None);
        let other = unique_name("t-eximg2");
        std::fs::rename(dirs.join(&name), dirs.join(&other)).expect("move away");
        lxops(
            daemon,
            &["import", "-image", "-name", &name, "-d", &archives, &config],
        )
        .ok();
        assert_eq!(
            fingerprint_of(&server, &name),
            Some(fingerprint),
            "{daemon}"
        );
        assert_eq!(
            std::fs::read_to_string(dirs.join(&name).join("f")).expect("f"),
            "data"
        );
        for device in ["data", "etc"] {
            assert!(dirs.join(&name).join(device).is_dir(), "{daemon}: {device}");
        }
        // import -image with the alias taken: exit 2, nothing imported.
        let fs_before = std::fs::read_dir(&dirs).expect("dirs").count();
        lxops(
            daemon,
            &["import", "-image", "-name", &name, "-d", &archives, &config],
        )
        .fails(2, "already exists");
        assert_eq!(std::fs::read_dir(&dirs).expect("dirs").count(), fs_before);
    }
}

/// Runs `examples/image-flow/flow.sh STEP ARGS...` with the real binary; returns stdout.
#[track_caller]
fn flow(daemon: lxops_tests::Daemon, prefix: &str, root: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/image-flow/flow.sh");
    let out = Command::new("sh")
        .arg(&script)
        .args(args)
        .env("LXOPS", lxops_tests::lxops_binary(daemon))
        .env("PREFIX", prefix)
        .env("FLOW_ROOT", root)
        .output()
        .expect("flow.sh");
    assert!(
        out.status.success(),
        "{daemon}: flow.sh {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_example_image_flow_runs_on_both_daemons() {
    for daemon in DAEMONS {
        let server = server(daemon);
        // Letters only: the version is found in the digits of the template's name.
        let prefix = format!("{}-", letters("t-flow"));
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let fleet = [format!("{prefix}web1"), format!("{prefix}web2")];
        let (v1, v2) = (
            format!("{prefix}web-20260105"),
            format!("{prefix}web-20260106"),
        );
        let _cleanup = Cleanup::new(&server, &[&fleet[0], &fleet[1], &v1, &v2]);
        let _i1 = ImageCleanup {
            daemon,
            image: v1.clone(),
        };
        let _i2 = ImageCleanup {
            daemon,
            image: v2.clone(),
        };

        let built = flow(daemon, &prefix, &root, &["build", "20260105"]);
        assert!(built.contains("  serial: '20260105'"), "{daemon}: {built}");
        assert!(built.contains("  variant: template"), "{daemon}: {built}");
        assert!(
            block_on(server.instance(&v1)).expect("lookup").is_none(),
            "{daemon}: the template is deleted"
        );
        let deployed = flow(daemon, &prefix, &root, &["deploy", "20260105"]);
        for name in &fleet {
            assert!(
                deployed
                    .lines()
                    .any(|l| l.split_whitespace().eq([v1.as_str(), name])),
                "{daemon}: {name} on {v1} in\n{deployed}"
            );
        }
        std::fs::write(root.join(&fleet[0]).join("srv/keep"), "data").expect("write");

        flow(daemon, &prefix, &root, &["build", "20260106"]);
        let rebuilt = flow(daemon, &prefix, &root, &["rebuild", "20260106"]);
        for name in &fleet {
            assert!(
                rebuilt
                    .lines()
                    .any(|l| l.split_whitespace().eq([v2.as_str(), name])),
                "{daemon}: {name} on {v2} in\n{rebuilt}"
            );
        }
        let file = block_on(server.read_file(&fleet[0], "/srv/keep"))
            .expect("read")
            .expect("device data kept");
        assert_eq!(file.content, b"data", "{daemon}");
        let file = block_on(server.read_file(&fleet[1], "/etc/web-image"))
            .expect("read")
            .expect("the template's file is in the image");
        assert_eq!(file.content, b"built by examples/image-flow\n", "{daemon}");

        flow(daemon, &prefix, &root, &["clean", "20260105", "20260106"]);
        for name in &fleet {
            assert!(block_on(server.instance(name)).expect("lookup").is_none());
        }
        assert_eq!(fingerprint_of(&server, &v1), None, "{daemon}");
        assert_eq!(fingerprint_of(&server, &v2), None, "{daemon}");
    }
}

/// A project of its own (profiles and images shared with `default`), deleted with its
/// instance when dropped.
struct Project {
    daemon: lxops_tests::Daemon,
    name: String,
    instance: String,
}

impl Drop for Project {
    fn drop(&mut self) {
        let cli = self.daemon.cli();
        let _ = Command::new(cli)
            .args(["delete", "--force", "--project", &self.name, &self.instance])
            .stdout(std::process::Stdio::null())
            .status();
        let _ = Command::new(cli)
            .args(["project", "delete", &self.name])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn instance_addresses_cover_every_project() {
    for daemon in DAEMONS {
        let project = unique_name("t-proj");
        let name = unique_name("t-projinst");
        let _project = Project {
            daemon,
            name: project.clone(),
            instance: name.clone(),
        };
        run(
            daemon.cli(),
            &[
                "project",
                "create",
                &project,
                "-c",
                "features.profiles=false",
                "-c",
                "features.images=false",
            ],
        );
        let server = server(daemon).for_project(&project);
        let mut new = new_instance(&name, lxops_tests::BUSYBOX);
        new.devices.insert(
            "eth0".into(),
            [("type", "nic"), ("nictype", "p2p"), ("name", "eth0")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        block_on(server.create_instance(&new)).expect("create in the project");
        block_on(server.start_instance(&name)).expect("start");
        let out = block_on(server.exec(
            &name,
            &lxops_core::server::ExecRequest::argv(&[
                "sh",
                "-c",
                "ip link set eth0 up && ip addr add 10.123.47.8/24 dev eth0",
            ]),
        ))
        .expect("exec");
        assert_eq!(out.status, 0, "{daemon}");

        // Every project by default, as the original; --project narrows it.
        let all = lxops(daemon, &["instance", "addresses"]).ok().stdout;
        assert!(
            all.contains(&format!("10.123.47.8,{name}\n")),
            "{daemon}: {all}"
        );
        let default = lxops(daemon, &["instance", "addresses", "--project", "default"])
            .ok()
            .stdout;
        assert!(!default.contains(&name), "{daemon}: {default}");
        let yaml = lxops(
            daemon,
            &[
                "instance",
                "addresses",
                "--project",
                &project,
                "--format",
                "yaml",
            ],
        )
        .ok()
        .stdout;
        assert_eq!(yaml, format!("{name}: 10.123.47.8\n"), "{daemon}");
    }
}
