//! Lifecycle steps against the in-memory server: what is checked before anything changes, what
//! is created, and what a failure leaves behind (nothing).

use std::path::Path;

use expect_test::expect;

use super::*;
use crate::plan::{instance_profiles, lxops_profile, DiskDevice, InstancePlan, LxcOptions, Source};
use crate::server::fake::FakeServer;
use crate::server::{ImageSource, InstanceServer};

fn plan(name: &str, image: &str, profiles: &[&str]) -> InstancePlan {
    let profiles: Vec<String> = profiles.iter().map(|s| s.to_string()).collect();
    let lxops = format!("{name}.lxops");
    let devices = [DiskDevice {
        name: "data".into(),
        path: "/data".into(),
        source: format!("/srv/{name}/data").into(),
        readonly: false,
    }];
    InstancePlan {
        target: None,
        name: name.into(),
        project: String::new(),
        required_profiles: profiles.clone(),
        profile: lxops_profile(&lxops, Path::new("/cfg/x.yaml"), "default/x", &devices),
        source: Source::Image(ImageSource::local(image)),
        profiles: instance_profiles(&profiles, &lxops),
        options: LxcOptions::default(),
        cloud_config_files: vec![],
        ostype: "alpine".into(),
    }
}

async fn launch(server: &FakeServer, plan: &InstancePlan) -> Result<Vec<String>, LifecycleError> {
    let mut lines: Vec<String> = Vec::new();
    let check = check_launch(server, plan).await?;
    create_instance(server, plan, &check, &mut lines).await?;
    start_and_wait(server, &plan.name, &WaitOptions::default(), &mut lines).await?;
    Ok(lines)
}

#[tokio::test]
async fn launch_creates_profile_then_instance_then_starts() {
    let server = FakeServer::new();
    server.add_image("alpine");
    let lines = launch(&server, &plan("a1", "alpine", &[]))
        .await
        .expect("launch");
    expect![[r#"
        create profile a1.lxops
          device data: path=/data source=/srv/a1/data type=disk
        create instance a1 from image alpine with profiles default, a1.lxops
        start instance a1"#]]
    .assert_eq(&lines.join("\n"));
    // The check resolved the alias: the create request names the fingerprint.
    let fingerprint = format!("{:0>64}", "alpine".len());
    assert!(
        server
            .calls()
            .iter()
            .any(|c| c.starts_with(&format!("create instance a1 from image {fingerprint}"))),
        "{:?}",
        server.calls()
    );
    let instance = server
        .instance("a1")
        .await
        .ok()
        .flatten()
        .expect("instance");
    assert!(instance.is_running());
}

#[tokio::test]
async fn launch_refusals_change_nothing() {
    let cases = [
        (
            "missing image",
            plan("a1", "nope", &[]),
            "image nope not found",
        ),
        (
            "missing profile",
            plan("a1", "alpine", &["base"]),
            "missing profiles: base",
        ),
    ];
    for (what, plan, message) in cases {
        let server = FakeServer::new();
        server.add_image("alpine");
        let err = launch(&server, &plan).await.expect_err(what).to_string();
        assert!(err.contains(message), "{what}: {err}");
        assert_eq!(server.instance_names().await.ok(), Some(vec![]), "{what}");
        assert_eq!(
            server.profile_names().await.ok(),
            Some(vec!["default".to_string()]),
            "{what}"
        );
    }
}

#[tokio::test]
async fn relaunch_reuses_identical_profile_and_refuses_existing_instance() {
    let server = FakeServer::new();
    server.add_image("alpine");
    let p = plan("a1", "alpine", &[]);
    server.create_profile(&p.profile).await.expect("profile");
    let lines = launch(&server, &p).await.expect("launch");
    assert_eq!(lines[0], "reuse identical profile a1.lxops");
    // Until the launch is marked finished (after cloud-config), a re-run resumes it.
    let lines = launch(&server, &p).await.expect("resume");
    assert_eq!(
        lines,
        ["resume the interrupted launch of a1: the instance exists"]
    );
    let done = [(super::LAUNCH_PENDING_KEY.to_string(), String::new())];
    server
        .patch_instance_config("a1", &done.into())
        .await
        .expect("finish");
    let err = launch(&server, &p).await.expect_err("exists").to_string();
    assert!(
        err.contains("already exists") && err.contains("rebuild"),
        "{err}"
    );
}

#[tokio::test]
async fn launch_waits_for_operations_only_when_resuming() {
    let server = FakeServer::new();
    server.add_image("alpine");
    let p = plan("a1", "alpine", &[]);
    let waits = |server: &FakeServer| {
        server
            .calls()
            .iter()
            .filter(|c| c.starts_with("wait for operations"))
            .count()
    };
    launch(&server, &p).await.expect("launch");
    assert_eq!(waits(&server), 0, "a new instance: {:?}", server.calls());
    launch(&server, &p).await.expect("resume");
    assert_eq!(waits(&server), 1, "a pending one: {:?}", server.calls());
}

#[tokio::test]
async fn an_instance_created_during_the_launch_is_left_alone() {
    // The create of an interrupted earlier run ends between this run's check and its create.
    let server = FakeServer::new();
    server.add_image("alpine");
    let p = plan("a1", "alpine", &[]);
    server.create_profile(&p.profile).await.expect("profile");
    let check = check_launch(&server, &p).await.expect("check");
    let mut earlier = p.new_instance();
    earlier
        .config
        .insert(LAUNCH_PENDING_KEY.to_string(), LAUNCH_PENDING.to_string());
    server.create_instance(&earlier).await.expect("earlier run");
    let mut lines: Vec<String> = Vec::new();
    let err = create_instance(&server, &p, &check, &mut lines)
        .await
        .expect_err("raced")
        .to_string();
    assert!(err.contains("run the same launch again"), "{err}");
    assert!(server.instance("a1").await.ok().flatten().is_some());
    assert!(server.profile("a1.lxops").await.ok().flatten().is_some());
    // The re-run the error asks for resumes it.
    let lines = launch(&server, &p).await.expect("resume");
    assert_eq!(
        lines[0],
        "resume the interrupted launch of a1: the instance exists"
    );
}

#[tokio::test]
async fn launch_refuses_a_different_existing_profile() {
    let server = FakeServer::new();
    server.add_image("alpine");
    let p = plan("a1", "alpine", &[]);
    let mut stale = p.profile.clone();
    stale.devices.clear();
    server.create_profile(&stale).await.expect("profile");
    let err = launch(&server, &p).await.expect_err("differs").to_string();
    assert!(err.contains("+ device data"), "{err}");
    assert_eq!(server.instance_names().await.ok(), Some(vec![]));
}

#[tokio::test]
async fn delete_refuses_running_instance_unless_forced() {
    let server = FakeServer::new();
    server.add_image("alpine");
    launch(&server, &plan("a1", "alpine", &[]))
        .await
        .expect("launch");
    let err = check_delete(&server, "a1", false)
        .await
        .expect_err("running");
    assert!(err.to_string().contains("is running"), "{err}");
    assert!(server.instance("a1").await.ok().flatten().is_some());

    let check = check_delete(&server, "a1", true).await.expect("forced");
    let mut lines: Vec<String> = Vec::new();
    delete_instance(
        &server,
        "a1",
        &ProfileRemoval::Delete("a1.lxops".into()),
        check,
        &mut lines,
    )
    .await
    .expect("delete");
    expect![[r#"
        stop instance a1
        delete instance a1
        delete profile a1.lxops"#]]
    .assert_eq(&lines.join("\n"));
    assert!(server.instance("a1").await.ok().flatten().is_none());
}

#[tokio::test]
async fn rebuild_stops_and_rebuilds_keeping_profiles() {
    let server = FakeServer::new();
    server.add_image("alpine");
    server.add_image("alpine-v2");
    launch(&server, &plan("a1", "alpine", &[]))
        .await
        .expect("launch");
    let mut lines: Vec<String> = Vec::new();
    rebuild_instance(&server, "a1", &ImageSource::local("alpine-v2"), &mut lines)
        .await
        .expect("rebuild");
    expect![[r#"
        stop instance a1
        rebuild instance a1 from image alpine-v2"#]]
    .assert_eq(&lines.join("\n"));
    let instance = server
        .instance("a1")
        .await
        .ok()
        .flatten()
        .expect("instance");
    assert_eq!(instance.profiles, vec!["default", "a1.lxops"]);
    let err = rebuild_instance(&server, "a1", &ImageSource::local("nope"), &mut lines)
        .await
        .expect_err("missing image");
    assert!(err.to_string().contains("image nope not found"), "{err}");
}

#[tokio::test]
async fn rename_moves_the_instance_to_its_new_profile() {
    let server = FakeServer::new();
    server.add_image("alpine");
    let p = plan("a1", "alpine", &[]);
    launch(&server, &p).await.expect("launch");
    let new = plan("b1", "alpine", &[]);
    let err = check_rename(&server, "a1", "b1", "b1.lxops")
        .await
        .expect_err("running");
    assert!(err.to_string().contains("is running"), "{err}");
    server
        .stop_instance("a1", crate::server::StopMode::Force)
        .await
        .expect("stop");
    check_rename(&server, "a1", "b1", "b1.lxops")
        .await
        .expect("check");
    let mut lines: Vec<String> = Vec::new();
    rename_instance(
        &server,
        "a1",
        "b1",
        &ProfileRemoval::Delete("a1.lxops".into()),
        &new.profile,
        &mut lines,
    )
    .await
    .expect("rename");
    let instance = server.instance("b1").await.ok().flatten().expect("b1");
    assert_eq!(instance.profiles, vec!["default", "b1.lxops"]);
    assert!(server.profile("a1.lxops").await.ok().flatten().is_none());
}

/// `target`: the create request carries the member; a target that cannot work (a standalone
/// server, no such member or group, an offline member) is refused as bad input before
/// anything is created, naming the members.
#[tokio::test]
async fn launch_on_a_target_member_or_refuse_before_any_change() {
    type Members<'a> = Option<&'a [(&'a str, &'a str)]>;
    type Expected<'a> = Result<&'a str, &'a [&'a str]>;
    let cases: [(&str, Members, &str, Expected); 6] = [
        (
            "member",
            Some(&[("m1", "Online"), ("m2", "Online")]),
            "m2",
            Ok("m2"),
        ),
        ("group", Some(&[("m1", "Online")]), "@default", Ok("")),
        (
            "not a member",
            Some(&[("m1", "Online"), ("m2", "Online")]),
            "m9",
            Err(&["target \"m9\" is not a member", "m1, m2"]),
        ),
        (
            "no such group",
            Some(&[("m1", "Online")]),
            "@gpu",
            Err(&["no cluster group \"gpu\"", "@default"]),
        ),
        (
            "offline member",
            Some(&[("m1", "Online"), ("m2", "Offline")]),
            "m2",
            Err(&["cluster member m2 is offline", "start it", "(m1)"]),
        ),
        (
            "standalone server",
            None,
            "m1",
            Err(&["not a cluster member", "remove `target`"]),
        ),
    ];
    for (what, members, target, expected) in cases {
        let server = FakeServer::new();
        server.add_image("alpine");
        if let Some(members) = members {
            server.set_cluster(members);
        }
        let mut plan = plan("a1", "alpine", &[]);
        plan.target = Some(target.to_string());
        let result = launch(&server, &plan).await;
        match expected {
            Ok(location) => {
                result.unwrap_or_else(|e| panic!("{what}: {e}"));
                let instance = server.instance("a1").await.expect("read").expect("a1");
                if !location.is_empty() {
                    assert_eq!(instance.member(), Some(location), "{what}");
                }
                assert!(
                    server
                        .calls()
                        .iter()
                        .any(|c| c.ends_with(&format!("target={target}"))),
                    "{what}: {:?}",
                    server.calls()
                );
            }
            Err(needles) => {
                let e = result.expect_err(what);
                assert!(
                    matches!(e, LifecycleError::BadTarget { .. }),
                    "{what}: {e:?}"
                );
                let text = e.to_string();
                for needle in needles {
                    assert!(text.contains(needle), "{what}: {needle:?} in {text}");
                }
                assert!(
                    server.calls().is_empty(),
                    "{what}: changed {:?}",
                    server.calls()
                );
                assert!(
                    server.instance("a1").await.expect("read").is_none(),
                    "{what}"
                );
            }
        }
    }
}
