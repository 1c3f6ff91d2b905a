//! The server-side commands that are not lifecycle steps, through the lxops command line on
//! both daemons: `profile ...` (files, list, diff, apply, reorder), `instance ...` (profiles,
//! devices, info, wait, hwaddr, addresses), `create-devices` and `create-profile` on their
//! own, `export`/`import` of filesystems, and `publish` of a snapshot as a launchable image.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use lxops_core::server::{ImageSource, InstanceUpdate};

use crate::cli::{block_on, instance_exists, lxops, server, sh, write_config};
use crate::devices::{dataset_exists, host, zfs_mountpoint, HostCleanup, POOL};
use lxops_tests::{unique_name, Cleanup, Daemon, DAEMONS};

/// A busybox config with the given `profiles:` list and nothing else.
fn busybox_with_profiles(profiles: &[&str]) -> String {
    let mut text = format!(
        "#lxops-v1\nostype: alpine\nimage: {}\nprofiles:\n",
        lxops_tests::BUSYBOX
    );
    for p in profiles {
        text.push_str(&format!("- {p}\n"));
    }
    text
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn profile_files_import_export_and_exists() {
    for daemon in DAEMONS {
        let name = unique_name("t-pfile");
        let mut cleanup = Cleanup::new(daemon);
        cleanup.profile(&name);
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = write_config(
            tmp.path(),
            &format!("in/{name}.yaml"),
            "description: lxops test profile\nconfig:\n  user.lxops-test: \"1\"\ndevices:\n  scratch:\n    type: disk\n    path: /scratch\n    source: /tmp\n",
        );

        assert_eq!(
            lxops(daemon, &["profile", "exists", &name]).ok().stdout,
            "",
            "{daemon}: an absent profile prints nothing"
        );
        let created = lxops(daemon, &["profile", "import", &file]).ok();
        assert_eq!(
            created.stdout,
            format!("created profile {name}\n"),
            "{daemon}"
        );
        let updated = lxops(daemon, &["profile", "import", &file]).ok();
        assert_eq!(
            updated.stdout,
            format!("updated profile {name}\n"),
            "{daemon}"
        );
        assert_eq!(
            lxops(daemon, &["profile", "exists", &name]).ok().stdout,
            format!("{name}\n"),
            "{daemon}"
        );

        let out_dir = tmp.path().join("out");
        let exported = lxops(
            daemon,
            &[
                "profile",
                "export",
                "-d",
                &out_dir.display().to_string(),
                &name,
            ],
        )
        .ok();
        let path = out_dir.join(&name);
        assert_eq!(exported.stdout.trim(), path.display().to_string());
        let text = std::fs::read_to_string(&path).expect("exported profile");
        let value: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        assert_eq!(
            value["description"].as_str(),
            Some("lxops test profile"),
            "{daemon}: {text}"
        );
        assert_eq!(
            value["config"]["user.lxops-test"].as_str(),
            Some("1"),
            "{daemon}: {text}"
        );
        assert_eq!(
            value["devices"]["scratch"]["path"].as_str(),
            Some("/scratch"),
            "{daemon}: {text}"
        );

        // The exported file imports again as it is (the name is the file name).
        let reimported = lxops(daemon, &["profile", "import", &path.display().to_string()]).ok();
        assert_eq!(
            reimported.stdout,
            format!("updated profile {name}\n"),
            "{daemon}"
        );

        let bad = write_config(tmp.path(), "bad.yaml", "description: x\nconfg: {}\n");
        lxops(daemon, &["profile", "import", &bad]).fails(2, "bad.yaml");
        lxops(
            daemon,
            &["profile", "export", "-d", &out_dir.display().to_string()],
        )
        .fails(2, "--all");
    }
}

#[test]
fn profile_apply_and_reorder_follow_the_config() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-papply");
        let extra = unique_name("t-extra");
        let own = format!("{name}.lxops");
        let mut cleanup = Cleanup::new(daemon);
        cleanup.instance(&name);
        cleanup.profile(&own);
        cleanup.profile(&extra);
        let tmp = tempfile::tempdir().expect("tempdir");
        let extra_file = write_config(
            tmp.path(),
            &format!("{extra}.yaml"),
            "config:\n  user.lxops-extra: \"yes\"\n",
        );
        lxops(daemon, &["profile", "import", &extra_file]).ok();
        let plain = write_config(
            tmp.path(),
            "plain.yaml",
            &busybox_with_profiles(&["default"]),
        );
        let with_extra = write_config(
            tmp.path(),
            "extra.yaml",
            &busybox_with_profiles(&["default", &extra]),
        );
        let extra_first = write_config(
            tmp.path(),
            "first.yaml",
            &busybox_with_profiles(&[&extra, "default"]),
        );
        let profiles_of =
            |daemon: Daemon| lxops(daemon, &["instance", "profiles", &name]).ok().stdout;

        lxops(daemon, &["launch", "-name", &name, &plain]).ok();
        assert_eq!(
            lines(
                &lxops(daemon, &["profile", "list", "-name", &name, &with_extra])
                    .ok()
                    .stdout
            ),
            ["default", extra.as_str(), own.as_str()],
            "{daemon}"
        );
        assert_eq!(
            lxops(daemon, &["profile", "diff", "-name", &name, &with_extra])
                .ok()
                .stdout,
            format!("{name}: profiles only in config: {extra}\n"),
            "{daemon}"
        );

        let dry = lxops(
            daemon,
            &["profile", "apply", "--dry-run", "-name", &name, &with_extra],
        )
        .ok();
        assert_eq!(
            dry.stdout,
            format!("{name}: set profiles default, {extra}, {own}\n")
        );
        assert_eq!(
            profiles_of(daemon),
            format!("default\n{own}\n"),
            "{daemon}: dry run"
        );

        lxops(daemon, &["profile", "apply", "-name", &name, &with_extra]).ok();
        assert_eq!(
            profiles_of(daemon),
            format!("default\n{extra}\n{own}\n"),
            "{daemon}"
        );
        let instance = block_on(server.instance(&name))
            .expect("instance")
            .expect("exists");
        assert_eq!(
            instance
                .expanded_config
                .get("user.lxops-extra")
                .map(String::as_str),
            Some("yes"),
            "{daemon}: the extra profile's config reaches the instance"
        );
        assert_eq!(
            lxops(daemon, &["profile", "diff", "-name", &name, &with_extra])
                .ok()
                .stdout,
            "",
            "{daemon}: no difference after apply"
        );

        assert_eq!(
            lxops(daemon, &["profile", "diff", "-name", &name, &extra_first])
                .ok()
                .stdout,
            format!("{name}: profiles in different order: default, {extra}, {own}\n"),
            "{daemon}"
        );
        lxops(
            daemon,
            &["profile", "reorder", "-name", &name, &extra_first],
        )
        .ok();
        assert_eq!(
            profiles_of(daemon),
            format!("{extra}\ndefault\n{own}\n"),
            "{daemon}"
        );

        let nothing = lxops(daemon, &["profile", "reorder", "-name", &name, &plain]).ok();
        assert!(
            nothing.stdout.contains("profiles differ, not reordered"),
            "{daemon}: {}",
            nothing.stdout
        );
        assert_eq!(
            profiles_of(daemon),
            format!("{extra}\ndefault\n{own}\n"),
            "{daemon}: refused reorder changes nothing"
        );
        lxops(daemon, &["profile", "apply", "-name", &name, &plain]).ok();
        assert_eq!(profiles_of(daemon), format!("default\n{own}\n"), "{daemon}");
    }
}

#[test]
fn instance_commands_show_profiles_devices_macs_and_addresses() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-inst");
        let _cleanup = crate::cli::Cleanup::new(&server, &[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let fs_dir = tmp.path().join("fs");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\nfilesystems:\n  data:\n    pattern: {}/(instance)\ndevices:\n  data:\n    path: /data\n    filesystem: data\n  conf:\n    path: /conf\n    filesystem: data\n    readonly: true\n",
                lxops_tests::BUSYBOX,
                fs_dir.display()
            ),
        );
        lxops(daemon, &["launch", "-name", &name, &config]).ok();

        assert_eq!(
            lxops(daemon, &["instance", "profiles", &name]).ok().stdout,
            format!("default\n{name}.lxops\n"),
            "{daemon}"
        );
        let source = fs_dir.join(&name);
        let devices = lxops(daemon, &["instance", "devices", &name]).ok().stdout;
        let rows: Vec<Vec<&str>> = devices
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let conf = format!("{}/conf", source.display());
        let data = format!("{}/data", source.display());
        assert_eq!(
            rows,
            vec![
                vec!["SOURCE", "PATH", "NAME", "READONLY"],
                vec![conf.as_str(), "/conf", "conf", "true"],
                vec![data.as_str(), "/data", "data"],
            ],
            "{daemon}:\n{devices}"
        );

        let info = lxops(daemon, &["instance", "info", &name]).ok().stdout;
        let value: serde_yaml::Value = serde_yaml::from_str(&info).expect("instance info is YAML");
        assert_eq!(
            value["name"].as_str(),
            Some(name.as_str()),
            "{daemon}: {info}"
        );
        assert_eq!(
            value["status"].as_str(),
            Some("Running"),
            "{daemon}: {info}"
        );
        assert_eq!(
            value["type"].as_str(),
            Some("container"),
            "{daemon}: {info}"
        );
        assert_eq!(
            value["expanded_devices"]["data"]["source"].as_str(),
            Some(data.as_str()),
            "{daemon}: {info}"
        );

        // No NIC yet: wait returns once a command runs; hwaddr and addresses do not list it.
        lxops(daemon, &["instance", "wait", &name]).ok();
        assert!(!lxops(daemon, &["instance", "hwaddr"])
            .ok()
            .stdout
            .contains(&name));

        // A point-to-point NIC (no network needed) with an address set inside.
        let instance = block_on(server.instance(&name))
            .expect("instance")
            .expect("exists");
        let mut update = InstanceUpdate::from(&instance);
        update.devices.insert(
            "eth0".into(),
            [("type", "nic"), ("nictype", "p2p"), ("name", "eth0")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        block_on(server.update_instance(&name, &update)).expect("add a NIC");
        sh(
            &server,
            &name,
            "ip link set eth0 up && ip addr add 10.123.45.6/24 dev eth0",
        );
        let waited = lxops(daemon, &["instance", "wait", &name]).ok();
        assert!(
            waited.stdout.contains("10.123.45.6"),
            "{daemon}: {waited:?}"
        );

        let mac = sh(&server, &name, "cat /sys/class/net/eth0/address");
        let hwaddr = lxops(daemon, &["instance", "hwaddr"]).ok().stdout;
        assert!(
            hwaddr
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [name.as_str(), mac.as_str()]),
            "{daemon}: {mac} of {name} in:\n{hwaddr}"
        );
        let addresses = lxops(daemon, &["instance", "addresses", "--headers"])
            .ok()
            .stdout;
        assert!(
            addresses.starts_with("address,name\n"),
            "{daemon}: {addresses}"
        );
        assert!(
            addresses.contains(&format!("10.123.45.6,{name}\n")),
            "{daemon}: {addresses}"
        );
        let yaml = lxops(daemon, &["instance", "addresses", "--format", "yaml"])
            .ok()
            .stdout;
        let value: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("yaml");
        // The original's yaml: a map of instance name to address.
        assert_eq!(
            value[name.as_str()].as_str(),
            Some("10.123.45.6"),
            "{daemon}: {yaml}"
        );
        // -o FILE: the same text in a file, nothing on stdout.
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("addresses.csv");
        let to_file = lxops(
            daemon,
            &["instance", "addresses", "-o", &file.display().to_string()],
        )
        .ok();
        assert_eq!(to_file.stdout, "", "{daemon}");
        let written = std::fs::read_to_string(&file).expect("addresses file");
        assert!(
            written.contains(&format!("10.123.45.6,{name}\n")),
            "{daemon}: {written}"
        );
        // json (the global --format) is an array of rows; an unknown format is a usage error.
        let json = lxops(daemon, &["instance", "addresses", "--format", "json"])
            .ok()
            .stdout;
        assert!(
            json.contains(&format!(
                "\"address\": \"10.123.45.6\",\n    \"name\": \"{name}\""
            )),
            "{daemon}: {json}"
        );
        lxops(daemon, &["instance", "addresses", "--format", "xml"])
            .fails(2, "possible values: table, json, yaml, csv");

        let missing = unique_name("t-missing");
        lxops(daemon, &["instance", "info", &missing]).fails(1, &missing);
    }
}

#[test]
fn create_devices_and_create_profile_prepare_without_launching() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-prep");
        let parent = format!("{POOL}/{name}");
        let tmp = tempfile::tempdir().expect("tempdir");
        let _host_cleanup = HostCleanup {
            datasets: vec![parent.clone()],
            dirs: Vec::new(),
        };
        let mut cleanup = Cleanup::new(daemon);
        cleanup.profile(&format!("{name}.lxops"));
        let dirs = tmp.path().join("dirs");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nimage: {}\nfilesystems:\n  z:\n    pattern: {parent}/(instance)\n  d:\n    pattern: {}/(instance)\ndevices:\n  home:\n    path: /home\n    filesystem: z\n  log:\n    path: /var/log\n    filesystem: d\n    dir: logs\n    readonly: true\n",
                lxops_tests::BUSYBOX,
                dirs.display()
            ),
        );

        lxops(
            daemon,
            &["create-devices", "--dry-run", "-name", &name, &config],
        )
        .ok();
        assert!(
            !dataset_exists(&format!("{parent}/{name}")),
            "{daemon}: dry run"
        );
        assert!(!dirs.exists(), "{daemon}: dry run");

        lxops(daemon, &["create-devices", "-name", &name, &config]).ok();
        let dataset = format!("{parent}/{name}");
        assert!(dataset_exists(&dataset), "{daemon}");
        let home = zfs_mountpoint(&dataset).join("home");
        let logs = dirs.join(&name).join("logs");
        assert!(
            home.is_dir() && logs.is_dir(),
            "{daemon}: device directories"
        );
        assert!(!instance_exists(&server, &name), "{daemon}: no instance");
        assert!(block_on(server.profile(&format!("{name}.lxops")))
            .expect("lookup")
            .is_none());

        lxops(daemon, &["create-profile", "-name", &name, &config]).ok();
        let profile = block_on(server.profile(&format!("{name}.lxops")))
            .expect("lookup")
            .expect("the profile exists");
        let device = |id: &str| profile.devices.get(id).cloned().unwrap_or_default();
        assert_eq!(device("home").get("type").map(String::as_str), Some("disk"));
        assert_eq!(
            device("home").get("path").map(String::as_str),
            Some("/home")
        );
        assert_eq!(
            device("home").get("source").map(String::as_str),
            Some(home.to_str().expect("utf-8")),
            "{daemon}: {profile:?}"
        );
        assert_eq!(
            device("log").get("source").map(String::as_str),
            Some(logs.to_str().expect("utf-8")),
            "{daemon}: {profile:?}"
        );
        assert_eq!(
            device("log").get("readonly").map(String::as_str),
            Some("true")
        );
        assert!(
            !instance_exists(&server, &name),
            "{daemon}: still no instance"
        );

        // Both are idempotent.
        lxops(daemon, &["create-devices", "-name", &name, &config]).ok();
        lxops(daemon, &["create-profile", "-name", &name, &config]).ok();
    }
}

#[test]
fn export_and_import_carry_filesystems_between_instances() {
    for daemon in DAEMONS {
        let id = unique_name("t-exp");
        let parent = format!("{POOL}/{id}");
        let tmp = tempfile::tempdir().expect("tempdir");
        let _host_cleanup = HostCleanup {
            datasets: vec![parent.clone()],
            dirs: Vec::new(),
        };
        let dirs = tmp.path().join("dirs");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nimage: {}\nfilesystems:\n  z:\n    pattern: {parent}/(instance)\n  d:\n    pattern: {}/(instance)\n  tmp:\n    pattern: {parent}/(instance)-tmp\n    transient: true\n",
                lxops_tests::BUSYBOX,
                dirs.display()
            ),
        );
        let zdir = |instance: &str| zfs_mountpoint(&format!("{parent}/{instance}"));
        lxops(daemon, &["create-devices", "-name", "a1", &config]).ok();
        std::fs::write(zdir("a1").join("z-file"), "zfs data").expect("write");
        std::fs::write(dirs.join("a1/d-file"), "dir data").expect("write");
        std::os::unix::fs::chown(dirs.join("a1/d-file"), Some(101_000), Some(101_001))
            .expect("chown");

        let archives = tmp.path().join("archives");
        let archives_arg = archives.display().to_string();
        let exported = lxops(
            daemon,
            &["export", "-name", "a1", "-d", &archives_arg, &config],
        )
        .ok();
        assert_eq!(
            lines(&exported.stdout),
            [
                format!("export d {}/a1 {archives_arg}/d.tar.gz", dirs.display()),
                format!("export z {parent}/a1 {archives_arg}/z.tar.gz"),
            ],
            "{daemon}: transient filesystems are not exported"
        );
        assert!(!archives.join("tmp.tar.gz").exists());

        // Into a new instance's filesystems, which import creates.
        lxops(
            daemon,
            &["import", "-name", "b1", "-d", &archives_arg, &config],
        )
        .ok();
        assert_eq!(
            std::fs::read_to_string(zdir("b1").join("z-file")).expect("z"),
            "zfs data"
        );
        let d_file = dirs.join("b1/d-file");
        assert_eq!(std::fs::read_to_string(&d_file).expect("d"), "dir data");
        let meta = std::fs::metadata(&d_file).expect("meta");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (101_000, 101_001),
            "{daemon}: numeric owners kept"
        );

        // A missing archive is reported before anything is created or extracted.
        std::fs::remove_file(archives.join("z.tar.gz")).expect("rm");
        lxops(
            daemon,
            &["import", "-name", "c1", "-d", &archives_arg, &config],
        )
        .fails(1, "z.tar.gz");
        assert!(!dataset_exists(&format!("{parent}/c1")), "{daemon}");
        assert!(!dirs.join("c1").exists(), "{daemon}: nothing half-imported");

        // From a snapshot (ZFS only): the snapshot's content, not the live one.
        let zonly = write_config(
            tmp.path(),
            "z.yaml",
            &format!(
                "#lxops-v1\nimage: {}\nfilesystems:\n  z:\n    pattern: {parent}/(instance)\n",
                lxops_tests::BUSYBOX
            ),
        );
        host(&["zfs", "snapshot", &format!("{parent}/a1@s1")]);
        std::fs::write(zdir("a1").join("z-file"), "changed").expect("write");
        let snap_dir = tmp.path().join("snap");
        let snap_arg = snap_dir.display().to_string();
        lxops(
            daemon,
            &[
                "export",
                "-name",
                "a1",
                "--snapshot",
                "s1",
                "-d",
                &snap_arg,
                &zonly,
            ],
        )
        .ok();
        lxops(daemon, &["import", "-name", "s1", "-d", &snap_arg, &zonly]).ok();
        assert_eq!(
            std::fs::read_to_string(zdir("s1").join("z-file")).expect("z"),
            "zfs data"
        );
        // A plain directory has no snapshots: exported live, as the original does, while the
        // ZFS filesystem comes from its snapshot.
        let both = tmp.path().join("both");
        let both_arg = both.display().to_string();
        lxops(
            daemon,
            &[
                "export",
                "-name",
                "a1",
                "--snapshot",
                "s1",
                "-d",
                &both_arg,
                &config,
            ],
        )
        .ok();
        lxops(daemon, &["import", "-name", "s2", "-d", &both_arg, &config]).ok();
        assert_eq!(
            std::fs::read_to_string(zdir("s2").join("z-file")).expect("z"),
            "zfs data",
            "{daemon}: from the snapshot"
        );
        assert_eq!(
            std::fs::read_to_string(dirs.join("s2/d-file")).expect("d"),
            "dir data",
            "{daemon}: the live directory"
        );
    }
}

#[test]
fn publish_makes_a_launchable_image_of_a_snapshot() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let source = unique_name("t-pubsrc");
        let copy = unique_name("t-pubcopy");
        let alias = unique_name("t-image");
        // Dropped last: the instances go first, then the image they came from.
        let _image = lxops_tests::ImageCleanup {
            daemon,
            image: alias.clone(),
        };
        let _cleanup = crate::cli::Cleanup::new(&server, &[&source, &copy]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: (img)\nproperties:\n  img: {}\ndescription: |\n  published by the lxops tests\n  second line\n",
                lxops_tests::BUSYBOX
            ),
        );
        lxops(daemon, &["launch", "-name", &source, &config]).ok();
        sh(&server, &source, "echo published > /root/marker");
        block_on(server.create_snapshot(&source, "s1")).expect("snapshot");

        lxops(daemon, &["publish", &source]).fails(2, "a snapshot is required");
        let snapshot = format!("{source}/s1");
        let dry = lxops(
            daemon,
            &[
                "publish",
                "--dry-run",
                "--alias",
                &alias,
                "-c",
                &config,
                &snapshot,
            ],
        )
        .ok();
        assert_eq!(
            lines(&dry.stdout)[0],
            format!("publish {snapshot} as {alias}")
        );
        for property in [
            "  os=alpine".to_string(),
            "  description=published by the lxops tests".to_string(),
            format!(
                "  variant={}",
                Path::new(&config)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
            ),
        ] {
            assert!(
                lines(&dry.stdout).contains(&property.as_str()),
                "{daemon}: {property:?} in\n{}",
                dry.stdout
            );
        }
        let local = ImageSource::local(alias.clone());
        assert_eq!(
            block_on(server.image_fingerprint(&local)).expect("lookup"),
            None,
            "{daemon}: dry run"
        );

        let published = lxops(
            daemon,
            &["publish", "--alias", &alias, "-c", &config, &source, "s1"],
        )
        .ok();
        let fingerprint = block_on(server.image_fingerprint(&local))
            .expect("lookup")
            .expect("the alias exists");
        assert!(
            published
                .stdout
                .ends_with(&format!("image {fingerprint}\n")),
            "{daemon}: {}",
            published.stdout
        );

        lxops(
            daemon,
            &[
                "launch",
                "-name",
                &copy,
                "-P",
                &format!("img={alias}"),
                &config,
            ],
        )
        .ok();
        assert_eq!(
            sh(&server, &copy, "cat /root/marker"),
            "published",
            "{daemon}"
        );
    }
}
