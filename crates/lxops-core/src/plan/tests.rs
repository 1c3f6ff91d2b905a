//! Tests of the instance plan: profiles, lxc-options, origin, and the dry-run rendering.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use expect_test::expect;

use super::*;

#[test]
fn profile_list_defaults_and_appends_the_lxops_profile() {
    let cases: &[(&[&str], &[&str])] = &[
        (&[], &["default", "a1.lxops"]),
        (&["base"], &["base", "a1.lxops"]),
        (&["base", "a1.lxops"], &["base", "a1.lxops"]),
    ];
    for (config, expected) in cases {
        let config: Vec<String> = config.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            instance_profiles(&config, "a1.lxops"),
            *expected,
            "{config:?}"
        );
    }
}

#[test]
fn lxc_options_map_onto_the_create_request() {
    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    let root = |pool: &str| map(&[("type", "disk"), ("path", "/"), ("pool", pool)]);
    let nic = map(&[("type", "nic"), ("network", "br1"), ("name", "eth0")]);
    // (lxc-options, what they give)
    let ok: Vec<(&[&str], LxcOptions)> = vec![
        (&[], LxcOptions::default()),
        (
            &["-c", "security.nesting=true", "--config=limits.cpu=1"],
            LxcOptions {
                config: map(&[("security.nesting", "true"), ("limits.cpu", "1")]),
                ..Default::default()
            },
        ),
        (
            &["-c", "user.note=a=b"],
            LxcOptions {
                config: map(&[("user.note", "a=b")]),
                ..Default::default()
            },
        ),
        (
            &["-s", "fast", "--network=br1"],
            LxcOptions {
                devices: [("root".into(), root("fast")), ("eth0".into(), nic.clone())].into(),
                ..Default::default()
            },
        ),
        (
            &["-d", "root,size=1GiB", "--device", "root,size.state=2GiB"],
            LxcOptions {
                device_overrides: [(
                    "root".into(),
                    map(&[("size", "1GiB"), ("size.state", "2GiB")]),
                )]
                .into(),
                ..Default::default()
            },
        ),
        (
            &["-p", "p1", "--profile=p2", "--no-profiles"],
            LxcOptions {
                profiles: vec!["p1".into(), "p2".into()],
                no_profiles: true,
                ..Default::default()
            },
        ),
        (
            &["--vm"],
            LxcOptions {
                vm: true,
                ..Default::default()
            },
        ),
        (
            &["--type", "virtual-machine"],
            LxcOptions {
                vm: true,
                ..Default::default()
            },
        ),
        (&["-t", "container"], LxcOptions::default()),
        (
            &["-t", "c2.micro"],
            LxcOptions {
                instance_type: Some("c2.micro".into()),
                ..Default::default()
            },
        ),
        (
            &["-e", "--target", "m1", "--description=a web server"],
            LxcOptions {
                ephemeral: true,
                target: Some("m1".into()),
                description: Some("a web server".into()),
                ..Default::default()
            },
        ),
        (
            &["--ephemeral", "--target=m2"],
            LxcOptions {
                ephemeral: true,
                target: Some("m2".into()),
                ..Default::default()
            },
        ),
    ];
    for (args, want) in ok {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let parsed = parse_lxc_options(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(parsed, want, "{args:?}");
    }
    let bad: &[(&[&str], &str)] = &[
        (&["--bogus"], "unsupported option \"--bogus\""),
        (&["--console"], "unsupported option \"--console\""),
        (&["-q"], "unsupported option \"-q\""),
        (&["--empty"], "\"--empty\" cannot be used"),
        (&["-c"], "-c needs a value"),
        (&["-c", "nokey"], "is not KEY=VALUE"),
        (&["-c", "=v"], "is not KEY=VALUE"),
        (&["-d", "root"], "is not DEVICE,KEY=VALUE"),
        (&["-d", ",size=1"], "names no device"),
        (&["-p"], "-p needs a value"),
        (&["--target="], "--target needs a member name"),
        (&["-t", ""], "-t needs a value"),
    ];
    for (args, message) in bad {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let err = parse_lxc_options(&args)
            .expect_err("should fail")
            .to_string();
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(err.starts_with("lxc-options: "), "{args:?}: {err}");
    }
}

#[test]
fn lxc_options_set_the_profiles_and_the_create_request() {
    let options = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_lxc_options(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    let none: &[String] = &[];
    let base = ["base".to_string()];
    let cases: Vec<(&[String], &[&str], &[&str])> = vec![
        (none, &[], &["default", "a1.lxops"]),
        (none, &["--no-profiles"], &["a1.lxops"]),
        (&base, &["--no-profiles"], &["base", "a1.lxops"]),
        (none, &["-p", "extra"], &["default", "a1.lxops", "extra"]),
        (
            &base,
            &["-p", "base", "-p", "x"],
            &["base", "a1.lxops", "x"],
        ),
    ];
    for (config, args, want) in cases {
        assert_eq!(
            launch_profiles(config, "a1.lxops", &options(args)),
            want,
            "{config:?} {args:?}"
        );
    }
    let plan = InstancePlan {
        name: "a1".into(),
        project: String::new(),
        required_profiles: Vec::new(),
        profile: Profile {
            name: "a1.lxops".into(),
            description: String::new(),
            config: Default::default(),
            devices: Default::default(),
        },
        source: Source::Image(ImageSource::local("img")),
        profiles: vec!["default".into(), "a1.lxops".into()],
        options: options(&["-e", "-t", "c1", "--target", "m1", "--description", "d"]),
        cloud_config_files: Vec::new(),
        ostype: String::new(),
        target: None,
    };
    let new = plan.new_instance();
    assert_eq!(
        (
            new.ephemeral,
            new.instance_type.as_deref(),
            new.target.as_deref(),
            new.description.as_str()
        ),
        (true, Some("c1"), Some("m1"), "d")
    );
    expect![[r#"
        create instance a1 from image img with profiles default, a1.lxops
          instance type c1
          ephemeral
          on cluster member m1
          description "d""#]]
    .assert_eq(&plan.instance_lines().join("\n"));
    // The config's `target` (or `--target`) wins over the lxc-options one.
    let plan = InstancePlan {
        target: Some("m2".into()),
        ..plan
    };
    assert_eq!(plan.new_instance().target.as_deref(), Some("m2"));
    let lines = plan.instance_lines();
    assert!(
        lines.contains(&"  on cluster member m2".to_string()),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("m1")), "{lines:?}");
}

#[test]
fn origin_parses_project_instance_and_snapshot() {
    let cases = [
        ("base", None, "base", None),
        ("base/snap1", None, "base", Some("snap1")),
        ("prod_base/snap1", Some("prod"), "base", Some("snap1")),
        ("prod_base", Some("prod"), "base", None),
    ];
    for (text, project, instance, snapshot) in cases {
        let origin = parse_origin(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(origin.project.as_deref(), project, "{text}");
        assert_eq!(origin.instance, instance, "{text}");
        assert_eq!(origin.snapshot.as_deref(), snapshot, "{text}");
    }
    assert_eq!(parse_origin(""), None);
    assert_eq!(parse_origin("/snap"), None);
}

fn sample_plan() -> InstancePlan {
    let devices = vec![
        DiskDevice {
            pool: None,
            name: "home".into(),
            path: "/home".into(),
            source: "/z/a1/home".into(),
            readonly: false,
        },
        DiskDevice {
            pool: None,
            name: "etc".into(),
            path: "/etc/opt".into(),
            source: "/z/a1/etc".into(),
            readonly: true,
        },
    ];
    InstancePlan {
        target: None,
        name: "a1".into(),
        project: String::new(),
        required_profiles: vec!["base".into()],
        profile: lxops_profile(
            "a1.lxops",
            Path::new("/cfg/a1.yaml"),
            "default/a1",
            &devices,
        ),
        source: Source::Image(ImageSource::local("alpine")),
        profiles: instance_profiles(&["base".into()], "a1.lxops"),
        options: parse_lxc_options(&["-c".into(), "security.nesting=true".into()])
            .unwrap_or_default(),
        cloud_config_files: vec![],
        ostype: "alpine".into(),
    }
}

#[test]
fn dry_run_shows_profile_devices_and_instance() {
    expect![[r#"
        check profiles exist: base
        create profile a1.lxops
          device etc: path=/etc/opt readonly=true source=/z/a1/etc type=disk
          device home: path=/home source=/z/a1/home type=disk
        create instance a1 from image alpine with profiles base, a1.lxops
          config security.nesting=true
        start instance a1
    "#]]
    .assert_eq(&sample_plan().to_string());
}

#[test]
fn profile_differences_list_changed_devices() {
    let plan = sample_plan();
    assert!(profile_differences(&plan.profile, &plan.profile).is_empty());
    let mut changed = plan.profile.clone();
    changed.devices.remove("etc");
    if let Some(home) = changed.devices.get_mut("home") {
        home.insert("source".into(), "/old/home".into());
    }
    expect![[r#"
        + device etc: path=/etc/opt readonly=true source=/z/a1/etc type=disk
        - device home: path=/home source=/old/home type=disk
        + device home: path=/home source=/z/a1/home type=disk"#]]
    .assert_eq(&profile_differences(&changed, &plan.profile).join("\n"));
}

#[test]
fn the_profile_description_is_the_config_files_absolute_path() {
    let cwd = std::env::current_dir().unwrap();
    let cases: &[(&str, PathBuf)] = &[
        ("/etc/lxops/a.yaml", PathBuf::from("/etc/lxops/a.yaml")),
        (
            "/etc/./lxops/../lxops/a.yaml",
            PathBuf::from("/etc/lxops/a.yaml"),
        ),
        ("a.yaml", cwd.join("a.yaml")),
        ("./sub/../a.yaml", cwd.join("a.yaml")),
    ];
    for (file, want) in cases {
        let profile = lxops_profile("a1.lxops", Path::new(file), "default/a1", &[]);
        assert_eq!(profile.description, want.display().to_string(), "{file}");
    }
}

/// A target member is part of the create request and of the printed step (dry run and real
/// run alike); without one, neither mentions a member.
#[test]
fn a_target_member_is_requested_and_shown() {
    let mut plan = sample_plan();
    assert_eq!(plan.new_instance().target, None);
    assert!(!plan.instance_lines().iter().any(|l| l.contains("member")));
    plan.target = Some("m2".into());
    assert_eq!(plan.new_instance().target.as_deref(), Some("m2"));
    assert!(
        plan.instance_lines()
            .contains(&"  on cluster member m2".to_string()),
        "{:?}",
        plan.instance_lines()
    );
}
