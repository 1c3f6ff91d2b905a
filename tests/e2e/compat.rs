//! Compatibility with the Go lxops through the command line on both daemons: `lxc-options`
//! reach the create request (config key, device override, extra profile, ephemeral,
//! description, storage pool), and an option the API cannot express is refused before
//! anything changes.

use crate::cli::{block_on, instance_exists, lxops, profile_exists, server, write_config, Cleanup};
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
                "#lxops-v1\nostype: alpine\nimage: {}\nlxc-options: [-c, user.compat=yes, -d, 'data,readonly=true', -p, {extra}, -e, --description=made by lxc-options, -s, default]\nfilesystems:\n  d:\n    pattern: {}/(instance)\ndevices:\n  data:\n    path: /data\n    filesystem: d\n",
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

        lxops(daemon, &["launch", "-name", &name, &config]).ok();
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
        let _ = std::fs::remove_dir_all(&dirs);
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
