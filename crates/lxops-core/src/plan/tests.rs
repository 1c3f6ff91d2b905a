//! Tests of the instance plan: profiles, lxc-options, origin, and the dry-run rendering.

use std::path::Path;

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
    let ok: &[(&[&str], &str)] = &[
        (
            &["-c", "security.nesting=true"],
            "config security.nesting=true",
        ),
        (&["--config=limits.cpu=1"], "config limits.cpu=1"),
        (&["-s", "fast"], "device root"),
        (&["--vm"], "vm"),
    ];
    for (args, what) in ok {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let parsed = parse_lxc_options(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let found = match *what {
            "vm" => parsed.vm,
            w if w.starts_with("device ") => parsed.devices.contains_key(&w[7..]),
            w => {
                let (k, v) = w[7..].split_once('=').unwrap_or_default();
                parsed.config.get(k).map(String::as_str) == Some(v)
            }
        };
        assert!(found, "{args:?} should give {what}: {parsed:?}");
    }
    let bad: &[(&[&str], &str)] = &[
        (&["-e"], "unsupported option \"-e\""),
        (&["-c"], "-c needs a value"),
        (&["-c", "nokey"], "is not KEY=VALUE"),
    ];
    for (args, message) in bad {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let err = parse_lxc_options(&args)
            .expect_err("should fail")
            .to_string();
        assert!(err.contains(message), "{args:?}: {err}");
    }
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
