//! `delete` and `destroy` against the fake server and host: what they refuse, and that a
//! refusal changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::cloudconfig::OsTypes;
use crate::config::{FsKind, InstanceFilesystem};
use crate::host::fake::FakeHost;
use crate::lifecycle::WaitOptions;
use crate::server::fake::FakeServer;
use crate::server::{ImageSource, InstanceServer, InstanceSource, NewInstance, Profile};

fn instance(name: &str, profile: &str, pattern: &str) -> config::Instance {
    config::Instance {
        target: None,
        name: name.into(),
        file: PathBuf::from("/cfg/x.yaml"),
        description: String::new(),
        project: String::new(),
        ostype: String::new(),
        image: "img".into(),
        origin: None,
        device_template: None,
        device_origin: None,
        source_config: None,
        lxc_options: Vec::new(),
        profiles: Vec::new(),
        profile: profile.into(),
        device_owner: None,
        filesystems: vec![InstanceFilesystem {
            id: "data".into(),
            kind: FsKind::Dir,
            path: pattern.replace("(instance)", name),
            zfsproperties: BTreeMap::new(),
            transient: false,
            destroy: true,
        }],
        devices: Vec::new(),
        properties: BTreeMap::new(),
        cloud_config_files: Vec::new(),
    }
}

fn options(instance: &config::Instance, pattern: &str) -> RemoveOptions {
    let twin = super::super::twin_name(&instance.name);
    let mut twin = super::tests::instance(&twin, &instance.profile, pattern);
    twin.profile = instance.profile.replace(&instance.name, &twin.name);
    RemoveOptions {
        force: true,
        adopt: false,
        twin,
        others: Vec::new(),
    }
}

fn marked_profile(name: &str, mark: &str) -> Profile {
    Profile {
        name: name.into(),
        description: "/cfg/x.yaml".into(),
        config: [(host::PROFILE_MARK_KEY.to_string(), mark.to_string())]
            .into_iter()
            .collect(),
        devices: BTreeMap::new(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap()
        .block_on(f)
}

fn new_instance(name: &str, profiles: &[&str]) -> NewInstance {
    NewInstance {
        ephemeral: false,
        target: None,
        instance_type: None,
        name: name.into(),
        source: InstanceSource::Image(ImageSource::local("img")),
        profiles: profiles.iter().map(|p| p.to_string()).collect(),
        config: BTreeMap::new(),
        devices: BTreeMap::new(),
        vm: false,
        description: String::new(),
    }
}

/// Runs `destroy` (or `delete`) with `--dry-run` and for real; returns both outputs (or
/// errors) and the host log of the real run.
fn destroy_both(
    server: &FakeServer,
    host: Arc<FakeHost>,
    instance: &config::Instance,
    options: &RemoveOptions,
) -> String {
    let mut text = Vec::new();
    for dry_run in [true, false] {
        let env = Env {
            server: Arc::new(server.clone()),
            host: host.clone(),
            os_types: Arc::new(OsTypes::builtin()),
            wait: WaitOptions::default(),
            dry_run,
        };
        let mut lines: Vec<String> = Vec::new();
        let result = block_on(destroy(&env, instance, options, &mut lines));
        text.push(format!("{}:", if dry_run { "dry run" } else { "real" }));
        text.extend(lines.iter().map(|l| format!("  {l}")));
        if let Err(e) = result {
            text.push(format!("  error: {e}"));
        }
    }
    text.push(format!("host: {:?}", host.log()));
    text.join("\n")
}

#[test]
fn destroy_of_a_never_existing_instance_keeps_the_default_profile_and_unmarked_data() {
    let server = FakeServer::new();
    let host = Arc::new(FakeHost::new().with_dirs(&["/srv/a1"]));
    let a1 = instance("a1", "default", "/srv/(instance)");
    expect_test::expect![[r#"
        dry run:
          error: a1: refused, nothing was changed:
          filesystem `data` (/srv/a1): it has no lxops mark and the instance does not exist, so it is not known to be this instance's; if you really mean it, run `rm -rf /srv/a1` yourself
        real:
          error: a1: refused, nothing was changed:
          filesystem `data` (/srv/a1): it has no lxops mark and the instance does not exist, so it is not known to be this instance's; if you really mean it, run `rm -rf /srv/a1` yourself
        host: []"#]]
    .assert_eq(&destroy_both(&server, host, &a1, &options(&a1, "/srv/(instance)")));
    assert!(block_on(server.profile("default")).unwrap().is_some());
}

#[test]
fn destroy_of_a_never_existing_instance_removes_only_what_is_marked_for_it() {
    let server = FakeServer::new();
    block_on(server.create_profile(&marked_profile("a1.lxops", "default/a1"))).unwrap();
    let host = Arc::new(FakeHost::new().with_dirs(&["/srv/a1"]).with_xattrs(&[(
        "/srv/a1",
        "user.lxops.instance",
        "default/a1",
    )]));
    let a1 = instance("a1", "a1.lxops", "/srv/(instance)");
    expect_test::expect![[r#"
        dry run:
          delete a1
          instance a1 does not exist
          delete profile a1.lxops
          destroy filesystem data (/srv/a1)
        real:
          delete a1
          instance a1 does not exist
          delete profile a1.lxops
          destroy filesystem data (/srv/a1)
        host: ["remove /srv/a1"]"#]]
    .assert_eq(&destroy_both(
        &server,
        host,
        &a1,
        &options(&a1, "/srv/(instance)"),
    ));
    assert!(block_on(server.profile("a1.lxops")).unwrap().is_none());
}

#[test]
fn profiles_of_other_instances_and_unmarked_profiles_stay() {
    let server = FakeServer::new();
    server.add_image("img");
    block_on(server.create_profile(&marked_profile("shared.lxops", "default/a1"))).unwrap();
    block_on(server.create_instance(&new_instance("b1", &["default", "shared.lxops"]))).unwrap();
    block_on(server.create_instance(&new_instance("a1", &["default", "shared.lxops"]))).unwrap();
    let mut unmarked = marked_profile("c1.lxops", "");
    unmarked.config.clear();
    block_on(server.create_profile(&unmarked)).unwrap();
    block_on(server.create_instance(&new_instance("c1", &["default", "c1.lxops"]))).unwrap();
    let host = Arc::new(FakeHost::new());
    let a1 = instance("a1", "shared.lxops", "/srv/(instance)");
    let c1 = instance("c1", "c1.lxops", "/srv/(instance)");
    expect_test::expect![[r#"
        dry run:
          delete a1
          delete instance a1
          profile shared.lxops not deleted: other instances use it (b1); to delete it anyway: `lxc profile delete shared.lxops`
        real:
          delete a1
          delete instance a1
          profile shared.lxops not deleted: other instances use it (b1); to delete it anyway: `lxc profile delete shared.lxops`
        host: []"#]]
    .assert_eq(&destroy_both(&server, host.clone(), &a1, &options(&a1, "/srv/(instance)")));
    expect_test::expect![[r#"
        dry run:
          delete c1
          delete instance c1
          profile c1.lxops not deleted: it has no lxops mark (made by an older lxops, or not by lxops); if it is this instance's profile, run again with --adopt; to delete it anyway: `lxc profile delete c1.lxops`
        real:
          delete c1
          delete instance c1
          profile c1.lxops not deleted: it has no lxops mark (made by an older lxops, or not by lxops); if it is this instance's profile, run again with --adopt; to delete it anyway: `lxc profile delete c1.lxops`
        host: []"#]]
    .assert_eq(&destroy_both(&server, host, &c1, &options(&c1, "/srv/(instance)")));
    assert!(block_on(server.profile("shared.lxops")).unwrap().is_some());
    assert!(block_on(server.profile("c1.lxops")).unwrap().is_some());
}

#[test]
fn a_shared_pattern_is_refused_before_the_instance_is_deleted() {
    let server = FakeServer::new();
    server.add_image("img");
    block_on(server.create_profile(&marked_profile("a1.lxops", "default/a1"))).unwrap();
    block_on(server.create_instance(&new_instance("a1", &["default", "a1.lxops"]))).unwrap();
    let host = Arc::new(FakeHost::new().with_dirs(&["/srv/data"]).with_xattrs(&[(
        "/srv/data",
        "user.lxops.instance",
        "default/a1",
    )]));
    let a1 = instance("a1", "a1.lxops", "/srv/data");
    let mut options = options(&a1, "/srv/data");
    options.adopt = true;
    expect_test::expect![[r#"
        dry run:
          error: a1: refused, nothing was changed:
          filesystem `data` (/srv/data): its pattern gives the same path for every instance name, so it is shared, not this instance's; put (instance) in the pattern; if you really mean it, run `rm -rf /srv/data` yourself
        real:
          error: a1: refused, nothing was changed:
          filesystem `data` (/srv/data): its pattern gives the same path for every instance name, so it is shared, not this instance's; put (instance) in the pattern; if you really mean it, run `rm -rf /srv/data` yourself
        host: []"#]]
    .assert_eq(&destroy_both(&server, host, &a1, &options));
    assert!(block_on(server.instance("a1")).unwrap().is_some());
}
