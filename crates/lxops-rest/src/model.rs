//! The daemons' JSON objects (instances, profiles, state, snapshots, pools, id maps) and their
//! conversion to the backend-neutral types of `lxops_core::server`.

use std::collections::BTreeMap;

use lxops_core::server::{
    ConfigMap, Devices, IdMap, IdMapEntry, Instance, InstanceState, NetworkAddress,
    NetworkInterface, Profile, Snapshot, StoragePool,
};
use serde::Deserialize;

/// `GET /1.0` metadata (the parts lxops reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerJson {
    /// `trusted` or `untrusted` (the client, as the daemon sees it).
    pub auth: String,
    /// API extensions.
    pub api_extensions: Vec<String>,
    /// Environment facts.
    pub environment: EnvironmentJson,
}

/// `environment` of `GET /1.0`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EnvironmentJson {
    /// `lxd` or `incus`.
    pub server: String,
    /// Daemon version.
    pub server_version: String,
    /// Whether the daemon is a cluster member.
    pub server_clustered: bool,
    /// The member's name (the host name on a standalone server).
    pub server_name: String,
}

/// A cluster member (`GET /1.0/cluster/members?recursion=1`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClusterMemberJson {
    /// The member's name.
    pub server_name: String,
    /// `Online`, `Offline`, `Evacuated`, ...
    pub status: String,
    /// Details of the status.
    pub message: String,
    /// Cluster groups (Incus, LXD 5.0).
    pub groups: Vec<String>,
}

impl From<ClusterMemberJson> for lxops_core::server::ClusterMember {
    fn from(j: ClusterMemberJson) -> Self {
        lxops_core::server::ClusterMember {
            name: j.server_name,
            status: j.status,
            message: j.message,
            groups: j.groups,
        }
    }
}

/// A field the daemon may send as `null` (an instance on an offline cluster member has
/// `config`, `devices` and `profiles` null): its default then.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An instance object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InstanceJson {
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
    /// Profiles.
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// Own config.
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Own devices.
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// Expanded config.
    #[serde(deserialize_with = "nullable")]
    pub expanded_config: ConfigMap,
    /// Expanded devices.
    #[serde(deserialize_with = "nullable")]
    pub expanded_devices: Devices,
    /// Description.
    pub description: String,
    /// `container` or `virtual-machine`.
    #[serde(rename = "type")]
    pub instance_type: String,
    /// Architecture.
    pub architecture: String,
    /// Ephemeral flag.
    pub ephemeral: bool,
    /// Stateful flag.
    pub stateful: bool,
    /// The cluster member it lives on (`none` on a standalone Incus, empty on LXD).
    pub location: String,
}

impl From<InstanceJson> for Instance {
    fn from(j: InstanceJson) -> Self {
        Instance {
            name: j.name,
            status: j.status,
            profiles: j.profiles,
            config: j.config,
            devices: j.devices,
            expanded_devices: j.expanded_devices,
            expanded_config: j.expanded_config,
            description: j.description,
            instance_type: j.instance_type,
            location: j.location,
        }
    }
}

/// A profile object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProfileJson {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Config.
    pub config: ConfigMap,
    /// Devices.
    pub devices: Devices,
}

impl From<ProfileJson> for Profile {
    fn from(j: ProfileJson) -> Self {
        Profile {
            name: j.name,
            description: j.description,
            config: j.config,
            devices: j.devices,
        }
    }
}

/// `GET /1.0/instances/NAME/state`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StateJson {
    /// Status.
    pub status: String,
    /// Interfaces (null when stopped).
    pub network: Option<BTreeMap<String, NicJson>>,
}

/// One interface of the state.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NicJson {
    /// MAC address.
    pub hwaddr: String,
    /// Addresses.
    pub addresses: Vec<AddressJson>,
}

/// One address of an interface.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AddressJson {
    /// `inet` / `inet6`.
    pub family: String,
    /// Address.
    pub address: String,
    /// Scope.
    pub scope: String,
}

impl From<StateJson> for InstanceState {
    fn from(j: StateJson) -> Self {
        InstanceState {
            status: j.status,
            network: j
                .network
                .unwrap_or_default()
                .into_iter()
                .map(|(name, nic)| {
                    (
                        name,
                        NetworkInterface {
                            hwaddr: nic.hwaddr,
                            addresses: nic
                                .addresses
                                .into_iter()
                                .map(|a| NetworkAddress {
                                    family: a.family,
                                    address: a.address,
                                    scope: a.scope,
                                })
                                .collect(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// A snapshot object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SnapshotJson {
    /// Name (without the instance).
    pub name: String,
    /// Creation time.
    pub created_at: String,
}

impl From<SnapshotJson> for Snapshot {
    fn from(j: SnapshotJson) -> Self {
        // Some daemon versions report "instance/snap"; keep the snapshot part.
        let name = match j.name.rsplit_once('/') {
            Some((_, snap)) => snap.to_string(),
            None => j.name,
        };
        Snapshot {
            name,
            created_at: j.created_at,
        }
    }
}

/// A storage pool object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PoolJson {
    /// Name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Config (`source`).
    pub config: ConfigMap,
}

impl From<PoolJson> for StoragePool {
    fn from(j: PoolJson) -> Self {
        let source = j.config.get("source").cloned().unwrap_or_default();
        let dataset = match j.driver.as_str() {
            "zfs" => j
                .config
                .get("zfs.pool_name")
                .filter(|d| !d.is_empty())
                .cloned()
                .unwrap_or_else(|| source.clone()),
            _ => String::new(),
        };
        StoragePool {
            source,
            dataset,
            name: j.name,
            driver: j.driver,
        }
    }
}

/// One entry of `volatile.idmap.*` (the daemons' Go field names).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct IdMapEntryJson {
    /// Maps uids.
    #[serde(rename = "Isuid")]
    pub is_uid: bool,
    /// Maps gids.
    #[serde(rename = "Isgid")]
    pub is_gid: bool,
    /// First host id.
    #[serde(rename = "Hostid")]
    pub host_id: u32,
    /// First container id.
    #[serde(rename = "Nsid")]
    pub ns_id: u32,
    /// Number of ids.
    #[serde(rename = "Maprange")]
    pub range: u32,
}

/// The id map of an instance config: `volatile.idmap.current`, else `volatile.idmap.next`;
/// `instance` names the instance in errors.
pub fn idmap_from_config(config: &ConfigMap, instance: &str) -> Result<IdMap, String> {
    let Some((key, text)) = ["volatile.idmap.current", "volatile.idmap.next"]
        .iter()
        .find_map(|k| config.get(*k).map(|v| (*k, v)))
    else {
        return Ok(IdMap::default());
    };
    let entries: Vec<IdMapEntryJson> = serde_json::from_str(text)
        .map_err(|e| format!("instance {instance:?}: {key} is not a valid id map: {e}"))?;
    Ok(IdMap {
        entries: entries
            .into_iter()
            .map(|e| IdMapEntry {
                is_uid: e.is_uid,
                is_gid: e.is_gid,
                host_id: e.host_id,
                ns_id: e.ns_id,
                range: e.range,
            })
            .collect(),
    })
}

/// The last path segment of each resource URL (`/1.0/profiles/p1` → `p1`), decoded.
pub fn names_from_urls(urls: &[String]) -> Vec<String> {
    urls.iter()
        .map(|u| {
            let path = u.split('?').next().unwrap_or(u);
            crate::transport::decode(path.rsplit('/').next().unwrap_or(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use lxops_core::server::Instance;
    use serde_json::json;

    use super::InstanceJson;

    /// How the daemons list an instance: on a cluster member, on a member that is down (its
    /// config, devices and profiles are null), and on standalone Incus and LXD.
    #[test]
    fn instances_carry_their_cluster_member() {
        for (what, value, member, status) in [
            (
                "cluster",
                json!({"name": "a", "status": "Running", "location": "m2", "config": {"k": "v"}}),
                Some("m2"),
                "Running",
            ),
            (
                "member down",
                json!({"name": "a", "status": "Error", "location": "m3", "config": null,
                       "devices": null, "profiles": null}),
                Some("m3"),
                "Error",
            ),
            (
                "standalone incus",
                json!({"name": "a", "location": "none"}),
                None,
                "",
            ),
            ("lxd", json!({"name": "a", "location": ""}), None, ""),
        ] {
            let parsed: InstanceJson = serde_json::from_value(value).expect(what);
            let instance = Instance::from(parsed);
            assert_eq!(instance.member(), member, "{what}");
            assert_eq!(instance.status, status, "{what}");
        }
    }
}
