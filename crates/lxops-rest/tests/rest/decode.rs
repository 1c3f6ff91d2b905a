//! Decoding instances, profiles, state, pools and id maps from recorded replies.

use expect_test::expect;
use lxops_core::server::{Instance, InstanceState, Profile, StoragePool};
use lxops_rest::envelope::{parse_reply, Reply};
use lxops_rest::model::{
    idmap_from_config, names_from_urls, InstanceJson, PoolJson, ProfileJson, ServerJson, StateJson,
};
use serde_json::Value;

use crate::fixture;

fn metadata(name: &str) -> Value {
    match parse_reply(200, &fixture(name)).unwrap() {
        Reply::Sync(value) => value,
        other => panic!("{name}: not sync: {other:?}"),
    }
}

#[test]
fn server_info_names_the_daemon_and_its_extensions() {
    for (name, server, rebuild) in [
        ("lxd-server.json", "lxd", false),
        ("incus-server.json", "incus", true),
    ] {
        let info: ServerJson = serde_json::from_value(metadata(name)).unwrap();
        assert_eq!(info.environment.server, server);
        assert!(info
            .api_extensions
            .iter()
            .any(|e| e == "container_exec_recording"));
        assert_eq!(
            info.api_extensions.iter().any(|e| e == "instances_rebuild"),
            rebuild,
            "{name}"
        );
    }
}

#[test]
fn instances_decode_with_config_profiles_and_idmap() {
    for name in ["lxd-instance.json", "incus-instance.json"] {
        let json: InstanceJson = serde_json::from_value(metadata(name)).unwrap();
        let instance = Instance::from(json);
        assert_eq!(instance.name, "fx-c1", "{name}");
        assert_eq!(instance.status, "Stopped", "{name}");
        assert_eq!(instance.profiles, vec!["default"], "{name}");
        assert_eq!(instance.instance_type, "container", "{name}");
        assert_eq!(
            instance.config.get("user.fx").map(String::as_str),
            Some("x"),
            "{name}"
        );
        assert!(instance.expanded_devices.contains_key("root"), "{name}");
        let idmap = idmap_from_config(&instance.config, "fx-c1").unwrap();
        assert_eq!(idmap.host_uid(0), Some(100000), "{name}");
        assert_eq!(idmap.host_gid(1000), Some(101000), "{name}");
    }
}

#[test]
fn a_bad_idmap_is_an_error_naming_the_instance_and_key() {
    let config = [("volatile.idmap.next".to_string(), "[{".to_string())]
        .into_iter()
        .collect();
    let err = idmap_from_config(&config, "a1").unwrap_err();
    assert!(
        err.starts_with("instance \"a1\": volatile.idmap.next is not a valid id map"),
        "{err}"
    );
}

#[test]
fn profiles_decode() {
    for name in ["lxd-profile.json", "incus-profile.json"] {
        let profile = Profile::from(serde_json::from_value::<ProfileJson>(metadata(name)).unwrap());
        let expected = expect![[r#"
            Profile {
                name: "fx-p1",
                description: "fx test",
                config: {
                    "user.x": "1",
                },
                devices: {
                    "d1": {
                        "path": "/mnt/t",
                        "source": "/tmp",
                        "type": "disk",
                    },
                },
            }"#]];
        expected.assert_eq(&format!("{profile:#?}"));
    }
}

#[test]
fn state_decodes_status_and_interfaces() {
    for name in ["lxd-instance-state.json", "incus-instance-state.json"] {
        let state =
            InstanceState::from(serde_json::from_value::<StateJson>(metadata(name)).unwrap());
        assert_eq!(state.status, "Running", "{name}");
        assert!(state.network.contains_key("lo"), "{name}");
    }
}

#[test]
fn storage_pools_decode_with_their_source() {
    let pool = StoragePool::from(
        serde_json::from_value::<PoolJson>(metadata("incus-storage-pool.json")).unwrap(),
    );
    assert_eq!(
        pool,
        StoragePool {
            name: "default".into(),
            driver: "dir".into(),
            source: "/var/lib/incus/storage-pools/default".into(),
            dataset: String::new(),
        }
    );
}

#[test]
fn zfs_pools_decode_with_their_dataset() {
    let decode = |config: serde_json::Value| {
        StoragePool::from(
            serde_json::from_value::<PoolJson>(serde_json::json!({
                "name": "z", "driver": "zfs", "config": config
            }))
            .unwrap(),
        )
        .dataset
    };
    assert_eq!(
        decode(serde_json::json!({"source": "/var/lib/incus/disks/z.img", "zfs.pool_name": "z"})),
        "z"
    );
    assert_eq!(
        decode(serde_json::json!({"source": "tank/incus"})),
        "tank/incus"
    );
}

#[test]
fn names_come_from_resource_urls() {
    let urls = vec![
        "/1.0/profiles/default".to_string(),
        "/1.0/instances/a%2Fb?project=p".to_string(),
    ];
    assert_eq!(names_from_urls(&urls), vec!["default", "a/b"]);
}

#[test]
fn snapshots_decode_with_names_and_creation_times() {
    for name in ["lxd-snapshots.json", "incus-snapshots.json"] {
        let list: Vec<lxops_rest::model::SnapshotJson> =
            serde_json::from_value(metadata(name)).unwrap();
        let snapshots: Vec<lxops_core::server::Snapshot> =
            list.into_iter().map(Into::into).collect();
        let names: Vec<&str> = snapshots.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["s0", "s1"], "{name}");
        assert!(snapshots[0].created_at < snapshots[1].created_at, "{name}");
    }
}
