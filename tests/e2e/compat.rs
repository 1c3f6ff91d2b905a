//! Compatibility with the Go lxops through the command line on both daemons: `lxc-options`
//! reach the create request (config key, device override, extra profile, ephemeral,
//! description, storage pool), and an option the API cannot express is refused before
//! anything changes; `snapshot -d -R` destroys the dependent clones lxops made, and refuses a
//! clone it did not make (real zfs-fuse pool); an `origin` without a `project_` prefix is
//! copied from the source config's project.

use crate::cli::{block_on, instance_exists, lxops, profile_exists, server, write_config, Cleanup};
use crate::devices::{dataset_exists, host, HostCleanup, POOL};
use lxops_tests::{unique_name, Daemon, DAEMONS};

/// `NAME`'s config as the daemon's CLI shows it (`ephemeral: true` and the like).
fn config_show(daemon: Daemon, name: &str) -> String {
    let output = std::process::Command::new(daemon.cli())
        .args(["config", "show", name])
        .output()
        .unwrap_or_else(|e| panic!("{daemon}: {e}"));
    assert!(output.status.success(), "{daemon}: config show {name}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn lxc_options_reach_the_created_instance() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-lxcopt");
        let extra = unique_name("t-lxcopt-p");
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut profiles = lxops_tests::Cleanup::new(daemon);
        profiles.profile(&extra);
        let _cleanup = Cleanup::new(&server, &[&name]);
        block_on(server.create_profile(&lxops_core::server::Profile {
            name: extra.clone(),
            description: "lxops test: an extra profile".into(),
            config: [("user.extra".to_string(), "1".to_string())].into(),
            devices: Default::default(),
        }))
        .expect("create the extra profile");
        let dirs = tmp.path().join("dirs");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\nlxc-options: [-c, user.compat=yes, -d, 'data,readonly=true', -p, {extra}, -e, --description=made by lxc-options, -s, default]\nfilesystems:\n  d:\n    pattern: {}/(instance)\n    destroy: true\ndevices:\n  data:\n    path: /data\n    filesystem: d\n",
                lxops_tests::BUSYBOX,
                dirs.display()
            ),
        );

        let dry = lxops(daemon, &["launch", "--dry-run", "-name", &name, &config]).ok();
        for want in [
            "config user.compat=yes",
            "device data from the profiles with readonly=true",
            "ephemeral",
            "description \"made by lxc-options\"",
            &format!("a1.lxops, {extra}").replace("a1", &name),
        ] {
            assert!(
                dry.stdout.contains(want),
                "{daemon}: {want:?} in\n{}",
                dry.stdout
            );
        }
        assert!(!instance_exists(&server, &name), "{daemon}: dry run");

        let launched = lxops(
            daemon,
            &["launch", "-wait-configure", "1", "-name", &name, &config],
        )
        .ok();
        assert!(
            launched.stdout.contains("wait 1 s before configuring"),
            "{daemon}: {}",
            launched.stdout
        );
        let instance = block_on(server.instance(&name))
            .expect("lookup")
            .expect("the instance exists");
        assert_eq!(
            instance.config.get("user.compat").map(String::as_str),
            Some("yes"),
            "{daemon}: {instance:?}"
        );
        assert_eq!(instance.description, "made by lxc-options", "{daemon}");
        assert_eq!(
            instance.profiles,
            [
                "default".to_string(),
                format!("{name}.lxops"),
                extra.clone()
            ],
            "{daemon}"
        );
        let data = instance.devices.get("data").cloned().unwrap_or_default();
        assert_eq!(
            (
                data.get("readonly").map(String::as_str),
                data.get("path").map(String::as_str)
            ),
            (Some("true"), Some("/data")),
            "{daemon}: the profile's device, overridden: {instance:?}"
        );
        let profile = block_on(server.profile(&format!("{name}.lxops")))
            .expect("lookup")
            .expect("the lxops profile exists");
        assert_eq!(
            profile.description, config,
            "{daemon}: the profile description is the config's absolute path"
        );
        let root = instance.devices.get("root").cloned().unwrap_or_default();
        assert_eq!(
            root.get("pool").map(String::as_str),
            Some("default"),
            "{daemon}"
        );
        assert!(
            config_show(daemon, &name).contains("ephemeral: true"),
            "{daemon}: ephemeral"
        );
        // The original's launcher flags are accepted by destroy (and do nothing there); the
        // ephemeral instance goes away when it is stopped.
        lxops(
            daemon,
            &[
                "destroy",
                "-t",
                "-poll",
                "3",
                "-wait-configure",
                "2",
                "-wait-stop",
                "1",
                "--force",
                "-name",
                &name,
                &config,
            ],
        )
        .ok();
        assert!(!instance_exists(&server, &name), "{daemon}: destroyed");
        assert!(
            !profile_exists(&server, &format!("{name}.lxops")),
            "{daemon}: profile deleted"
        );
        assert!(!dirs.join(&name).exists(), "{daemon}: filesystem destroyed");
    }
}

#[test]
fn lxc_options_the_api_cannot_express_are_refused_before_anything_changes() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-lxcbad");
        let tmp = tempfile::tempdir().expect("tempdir");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dirs = tmp.path().join("dirs");
        let cases: &[(&str, &str)] = &[
            ("[--console]", "unsupported option \"--console\""),
            ("[--empty]", "\"--empty\" cannot be used"),
            ("[-d, 'nosuch,size=1GiB']", "no device \"nosuch\""),
        ];
        for (options, message) in cases {
            let config = write_config(
                tmp.path(),
                "c.yaml",
                &format!(
                    "#lxops-v1\nostype: alpine\nimage: {}\nlxc-options: {options}\nfilesystems:\n  d:\n    pattern: {}/(instance)\ndevices:\n  data:\n    path: /data\n    filesystem: d\n",
                    lxops_tests::BUSYBOX,
                    dirs.display()
                ),
            );
            let code = if message.contains("nosuch") { 1 } else { 2 };
            lxops(daemon, &["launch", "-name", &name, &config]).fails(code, message);
            assert!(!instance_exists(&server, &name), "{daemon}: {options}");
            assert!(
                !profile_exists(&server, &format!("{name}.lxops")),
                "{daemon}: {options}"
            );
            assert!(!dirs.exists(), "{daemon}: {options}: host untouched");
        }
    }
}

/// `snapshot -d -R` destroys the snapshot with the clones that depend on it, as the original's
/// `zfs destroy -R` (so device-origin clones can be cleaned up), but only clones lxops made: a
/// foreign clone is refused (listed, exit 2, nothing destroyed) until `--adopt`, and a clone
/// that holds an existing instance's data is always refused.
#[test]
fn snapshot_destroy_r_takes_lxops_clones_and_refuses_foreign_ones() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-snapr");
        let parent = format!("{POOL}/{name}");
        let own = format!("{parent}/{name}");
        let marked = format!("{parent}/clone-marked");
        let foreign = format!("{parent}/clone-foreign");
        let live = format!("{parent}/clone-live");
        let _host_cleanup = HostCleanup {
            datasets: vec![
                marked.clone(),
                foreign.clone(),
                live.clone(),
                parent.clone(),
            ],
            dirs: Vec::new(),
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nimage: {}\nfilesystems:\n  z:\n    pattern: {parent}/(instance)\ndevices:\n  home:\n    path: /home\n    filesystem: z\n",
                lxops_tests::BUSYBOX
            ),
        );
        lxops(daemon, &["create-devices", "-name", &name, &config]).ok();
        lxops(daemon, &["snapshot", "-s", "s1", "-name", &name, &config]).ok();
        let snapshot = format!("{own}@s1");
        let clone = |mark: Option<&str>, target: &str| {
            let mut argv = vec!["zfs", "clone"];
            let option;
            if let Some(mark) = mark {
                option = format!("lxops:instance={mark}");
                argv.extend(["-o", &option]);
            }
            argv.extend([snapshot.as_str(), target]);
            host(&argv);
        };
        clone(Some("default/gone-instance"), &marked);
        clone(None, &foreign);
        let destroy = |extra: &[&str]| {
            let mut args = vec!["snapshot", "-d", "-R", "-s", "s1", "-name", &name];
            args.extend(extra);
            args.push(&config);
            lxops(daemon, &args)
        };
        let all_there = |what: &str| {
            for ds in [&snapshot, &marked, &foreign] {
                assert!(dataset_exists(ds), "{daemon}: {what}: {ds} is gone");
            }
        };

        let refused = destroy(&[]).fails(2, "refused, nothing was changed");
        assert!(
            refused.stderr.contains(&foreign),
            "{daemon}: {}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("--adopt"),
            "{daemon}: {}",
            refused.stderr
        );
        assert!(
            !refused.stderr.contains(&marked),
            "{daemon}: {}",
            refused.stderr
        );
        all_there("refused");
        destroy(&["--dry-run"]).fails(2, &foreign);
        all_there("refused dry run");

        let dry = destroy(&["--dry-run", "--adopt"]).ok();
        for ds in [&marked, &foreign] {
            assert!(
                dry.stdout.contains(ds.as_str()),
                "{daemon}: {ds} in\n{}",
                dry.stdout
            );
        }
        all_there("dry run");

        // A clone marked for an instance that exists holds its data: never destroyed.
        let existing = unique_name("t-snapr-live");
        let _instances = Cleanup::new(&server, &[&existing]);
        block_on(server.create_instance(&lxops_core::server::NewInstance {
            name: existing.clone(),
            source: lxops_core::server::InstanceSource::Image(
                lxops_core::server::ImageSource::local(lxops_tests::BUSYBOX),
            ),
            profiles: vec!["default".into()],
            config: Default::default(),
            devices: Default::default(),
            vm: false,
            description: String::new(),
            ephemeral: false,
            target: None,
            instance_type: None,
        }))
        .expect("create an instance");
        clone(Some(&format!("default/{existing}")), &live);
        destroy(&["--adopt"]).fails(2, &format!("default/{existing}, which exists"));
        all_there("live clone");
        // zfs-fuse reports "dataset is busy" for a moment after a clone is made.
        for _ in 0..20 {
            let done = std::process::Command::new("zfs")
                .args(["destroy", &live])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if done {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        assert!(
            !dataset_exists(&live),
            "{daemon}: {live} could not be destroyed"
        );

        destroy(&["--adopt"]).ok();
        for ds in [&snapshot, &marked, &foreign] {
            assert!(!dataset_exists(ds), "{daemon}: {ds} should be destroyed");
        }
        assert!(
            dataset_exists(&own),
            "{daemon}: the filesystem itself stays"
        );
    }
}

/// An `origin` without a `project_` prefix is in the project of the `source-config` file, as
/// in the original: the copy comes from there into the config's own project.
#[test]
fn an_origin_without_a_project_is_copied_from_the_source_configs_project() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let source = unique_name("t-orig-src");
        let name = unique_name("t-orig");
        let project = crate::backend::TestProject::create(daemon, &source);
        let _cleanup = Cleanup::new(&server, &[&name]);
        block_on(server.for_project(&project.name).create_instance(
            &lxops_core::server::NewInstance {
                name: source.clone(),
                source: lxops_core::server::InstanceSource::Image(
                    lxops_core::server::ImageSource::local(lxops_tests::BUSYBOX),
                ),
                profiles: vec!["default".into()],
                config: [("user.origin".to_string(), "source".to_string())].into(),
                devices: Default::default(),
                vm: false,
                description: String::new(),
                ephemeral: false,
                target: None,
                instance_type: None,
            },
        ))
        .expect("create the source instance in its project");
        let tmp = tempfile::tempdir().expect("tempdir");
        write_config(
            tmp.path(),
            "source.yaml",
            &format!(
                "#lxops-v1\nproject: {}\nimage: {}\n",
                project.name,
                lxops_tests::BUSYBOX
            ),
        );
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!("#lxops-v1\norigin: {source}\nsource-config: source.yaml\n"),
        );
        let dry = lxops(daemon, &["launch", "--dry-run", "-name", &name, &config]).ok();
        assert!(
            dry.stdout
                .contains(&format!("copy of {}/{source}", project.name)),
            "{daemon}: {}",
            dry.stdout
        );
        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        let copy = block_on(server.instance(&name))
            .expect("lookup")
            .expect("the copy is in the config's project");
        assert_eq!(
            copy.config.get("user.origin").map(String::as_str),
            Some("source"),
            "{daemon}: copied from the source project's instance"
        );
    }
}
