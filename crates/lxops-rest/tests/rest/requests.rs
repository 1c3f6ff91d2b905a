//! Request bodies and headers: create, copy, publish, file writes, and rebuild's config
//! carry-over; file replies decoded from recorded headers.

use expect_test::expect;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use lxops_core::server::{FileKind, ImageSource, InstanceSource, NewInstance, PublishImage};
use lxops_rest::files::{file_content, write_headers};
use lxops_rest::rebuild::{carried_config, temporary_name};
use lxops_rest::transport::RawResponse;
use lxops_rest::RestServer;

use crate::{fixture, INCUS, LXD};

fn new_instance(source: InstanceSource) -> NewInstance {
    NewInstance {
        ephemeral: false,
        target: None,
        instance_type: None,
        name: "a1".into(),
        source,
        profiles: vec!["default".into(), "a1.lxops".into()],
        config: [("user.x".to_string(), "1".to_string())]
            .into_iter()
            .collect(),
        devices: Default::default(),
        vm: false,
        description: "from a1.yaml".into(),
    }
}

#[test]
fn create_bodies_name_the_source_and_profiles() {
    let image = new_instance(InstanceSource::Image(ImageSource::local(
        "lxops-test-busybox",
    )));
    expect![[r#"{"config":{"user.x":"1"},"description":"from a1.yaml","devices":{},"name":"a1","profiles":["default","a1.lxops"],"source":{"alias":"lxops-test-busybox","type":"image"},"type":"container"}"#]]
        .assert_eq(&RestServer::create_body(&image, &image.profiles).to_string());
    let copy = new_instance(InstanceSource::Copy {
        source: "base/snap0".into(),
        source_project: Some("templates".into()),
        instance_only: true,
    });
    expect![[r#"{"config":{"user.x":"1"},"description":"from a1.yaml","devices":{},"name":"a1","profiles":["default","a1.lxops"],"source":{"instance_only":true,"project":"templates","source":"base/snap0","type":"copy"},"type":"container"}"#]]
        .assert_eq(&RestServer::create_body(&copy, &copy.profiles).to_string());
}

/// What `lxc-options` add (`-e`, `-t c1`, `--target m1`) reaches the request: the body's
/// `ephemeral` and `instance_type`, the `?target=` of the path.
#[test]
fn create_requests_carry_ephemeral_instance_type_and_target() {
    let mut new = new_instance(InstanceSource::Image(ImageSource::local("img")));
    assert_eq!(RestServer::create_path(&new), "/1.0/instances");
    new.ephemeral = true;
    new.instance_type = Some("c1".into());
    new.target = Some("member 1".into());
    expect![[r#"{"config":{"user.x":"1"},"description":"from a1.yaml","devices":{},"ephemeral":true,"instance_type":"c1","name":"a1","profiles":["default","a1.lxops"],"source":{"alias":"img","type":"image"},"type":"container"}"#]]
        .assert_eq(&RestServer::create_body(&new, &new.profiles).to_string());
    assert_eq!(
        RestServer::create_path(&new),
        "/1.0/instances?target=member%201"
    );
}

#[test]
fn publish_bodies_pick_instance_or_snapshot() {
    let mut publish = PublishImage {
        source: "a1/snap0".into(),
        aliases: vec!["img".into()],
        ..Default::default()
    };
    publish.compression = Some("none".into());
    expect![[r#"{"compression_algorithm":"none","properties":{},"public":false,"source":{"name":"a1/snap0","type":"snapshot"}}"#]]
        .assert_eq(&RestServer::publish_body(&publish).to_string());
}

#[test]
fn file_writes_send_the_dialect_headers_and_never_a_form_content_type() {
    let lxd = write_headers(&LXD, "file", Some(0o640), Some(1000), Some(1001), true);
    expect![[r#"[("Content-Type", "application/octet-stream"), ("X-LXD-Type", "file"), ("X-LXD-Mode", "0640"), ("X-LXD-Uid", "1000"), ("X-LXD-Gid", "1001"), ("X-LXD-Write", "append")]"#]]
        .assert_eq(&format!("{lxd:?}"));
    let incus = write_headers(&INCUS, "directory", Some(0o755), None, None, false);
    expect![[r#"[("Content-Type", "application/octet-stream"), ("X-Incus-Type", "directory"), ("X-Incus-Mode", "0755")]"#]]
        .assert_eq(&format!("{incus:?}"));
    // The daemons parse the mode with Go's ParseInt(text, 0, 0): always a leading 0 (octal),
    // or 4755 would be read as decimal (mode 0223).
    for (mode, header) in [(0o4755, "04755"), (0o600, "0600"), (0o44, "044"), (0, "00")] {
        let headers = write_headers(&LXD, "file", Some(mode), None, None, false);
        assert!(
            headers.contains(&("X-LXD-Mode".to_string(), header.to_string())),
            "{mode:o}: {headers:?}"
        );
    }
}

#[test]
fn symlink_writes_name_the_type_and_nothing_else() {
    // Both daemons create symlinks owned by root whatever the headers say, and "write" is
    // only for files.
    let lxd = write_headers(&LXD, "symlink", None, None, None, false);
    expect![[r#"[("Content-Type", "application/octet-stream"), ("X-LXD-Type", "symlink")]"#]]
        .assert_eq(&format!("{lxd:?}"));
}

fn recorded_response(name: &str, body: &[u8]) -> RawResponse {
    let text = String::from_utf8(fixture(name)).unwrap();
    let mut headers = HeaderMap::new();
    for line in text.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(
                HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                HeaderValue::from_str(v.trim()).unwrap(),
            );
        }
    }
    RawResponse {
        status: 200,
        headers,
        body: body.to_vec().into(),
    }
}

#[test]
fn file_replies_are_read_with_the_daemons_header_prefix() {
    for (dialect, name) in [
        (&LXD, "lxd-file-headers.txt"),
        (&INCUS, "incus-file-headers.txt"),
    ] {
        let content = file_content(dialect, &recorded_response(name, b"v1\n")).unwrap();
        assert_eq!(content.kind, FileKind::File, "{name}");
        assert_eq!(
            (content.uid, content.gid, content.mode),
            (0, 0, 0o644),
            "{name}"
        );
        assert_eq!(content.content, b"v1\n");
    }
}

#[test]
fn rebuild_keeps_user_config_and_nic_hwaddr_only() {
    let config = [
        ("user.fx", "x"),
        ("security.nesting", "true"),
        ("image.os", "busybox"),
        ("volatile.base_image", "d796"),
        ("volatile.idmap.next", "[]"),
        ("volatile.eth0.hwaddr", "00:16:3e:00:00:01"),
        ("volatile.eth0.host_name", "veth1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let kept: Vec<String> = carried_config(&config).into_keys().collect();
    assert_eq!(
        kept,
        vec!["security.nesting", "user.fx", "volatile.eth0.hwaddr"]
    );
}

#[test]
fn the_rebuild_replacement_has_a_fixed_valid_name() {
    // Fixed, so that the next rebuild finds what an interrupted one left.
    let cases = [
        ("a1".to_string(), "a1-rebuild".to_string()),
        ("x".repeat(63), format!("{}-rebuild", "x".repeat(55))),
        (
            format!("{}-y", "x".repeat(54)),
            format!("{}-rebuild", "x".repeat(54)),
        ),
    ];
    for (name, want) in cases {
        let got = temporary_name(&name);
        assert_eq!(got, want);
        assert!(got.len() <= 63, "{got}");
    }
}
