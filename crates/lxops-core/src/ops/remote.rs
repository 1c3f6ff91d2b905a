//! What a daemon reached over HTTPS (a remote of the client config, possibly a cluster) cannot
//! do with lxops: host filesystems and host directories live on lxops' own host, which is not
//! where the remote daemon runs its instances.

use super::error::OpsError;
use crate::config;
use crate::server::ServerInfo;

/// Refuses an instance with host filesystems or host-directory devices when the server is a
/// remote (reached over HTTPS), before anything changes: lxops would create them on its own
/// host, where the remote daemon cannot see them.
pub fn check_host_access(info: &ServerInfo, instance: &config::Instance) -> Result<(), OpsError> {
    let Some(remote) = &info.remote else {
        return Ok(());
    };
    let mut host: Vec<String> = super::devices::host_filesystems(instance)
        .map(|f| format!("filesystem {}", f.id))
        .collect();
    if host.is_empty() {
        host = instance
            .devices
            .iter()
            .filter(|d| !super::volumes::is_volume_device(instance, d))
            .map(|d| format!("device {}", d.name))
            .collect();
    }
    if host.is_empty() {
        return Ok(());
    }
    Err(OpsError::Input(format!(
        "{}: instance {} has host storage ({}), which lxops makes on this host, but the daemon \
         is remote {remote:?} (over HTTPS) and cannot reach it: use the local daemon \
         (--remote local), or make them daemon-managed volumes (`type: volume` with a \
         `pool`, see `help filesystem`), which work with remotes and clusters",
        instance.file.display(),
        instance.name,
        host.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::check_host_access;
    use crate::config;
    use crate::server::ServerInfo;

    fn instance(yaml: &str) -> config::Instance {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a1.yaml");
        std::fs::write(&file, format!("#lxops-v1\n{yaml}")).expect("write config");
        let sources = config::PropertySources::default();
        let options = config::LoadOptions {
            formats: &config::Formats::new(),
            sources: &sources,
            strict: false,
            raw: false,
        };
        let loaded = config::load(&file, &options).expect("load");
        config::evaluate(&loaded, "a1", &sources, &config::EvalOptions::default()).expect("eval")
    }

    #[test]
    fn host_filesystems_need_the_local_daemon() {
        let zfs = "filesystems:\n  fs:\n    pattern: z/(instance)\ndevices:\n  home:\n    path: /home\n    filesystem: fs\n";
        let dir_only = "devices:\n  data:\n    path: /data\n    dir: /srv/data\n";
        let remote = ServerInfo {
            remote: Some("ic".into()),
            ..ServerInfo::default()
        };
        let local = ServerInfo::default();
        for (what, yaml, info, refused) in [
            (
                "zfs filesystem, remote",
                zfs,
                &remote,
                Some("filesystem fs"),
            ),
            (
                "host directory device, remote",
                dir_only,
                &remote,
                Some("device data"),
            ),
            ("no host storage, remote", "image: x\n", &remote, None),
            (
                "daemon volumes only, remote",
                "filesystems:\n  fs:\n    type: volume\n    pool: default\n    pattern: (instance)\ndevices:\n  home:\n    path: /home\n    filesystem: fs\n",
                &remote,
                None,
            ),
            ("zfs filesystem, local socket", zfs, &local, None),
        ] {
            let result = check_host_access(info, &instance(yaml));
            match refused {
                None => assert!(result.is_ok(), "{what}: {result:?}"),
                Some(needle) => {
                    let e = result.expect_err(what);
                    assert!(e.is_input(), "{what}: bad input");
                    let text = e.to_string();
                    for part in [needle, "remote \"ic\"", "type: volume", "--remote local"] {
                        assert!(text.contains(part), "{what}: {part:?} in {text}");
                    }
                }
            }
        }
    }
}
