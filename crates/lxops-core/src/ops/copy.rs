//! `copy-filesystems`: copy the non-transient ZFS filesystems of one instance (the source) onto
//! those of another (the target) with `zfs send | zfs receive`, either side optionally on
//! another host through ssh. Without a given snapshot the source is snapshotted first: here with
//! `zfs snapshot`, or on the source host by running `lxops snapshot` there.

use std::sync::Arc;

use super::blocking;
use super::devices::filesystem_spec;
use super::error::OpsError;
use crate::config;
use crate::host::{self, ops::CopyOptions, FilesystemSpec, FsKind, HostRunner};
use crate::lifecycle::Progress;

/// What `copy-filesystems` does besides the two instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyRequest {
    /// The snapshot of the source filesystems to send.
    pub snapshot: String,
    /// Create that snapshot first (on `from_host`: `ssh HOST lxops snapshot ...`).
    pub create_snapshot: bool,
    /// The source filesystems are on this ssh host.
    pub from_host: Option<String>,
    /// The target filesystems are on this ssh host.
    pub to_host: Option<String>,
}

/// The (source, target) pairs to copy, checked before anything runs: non-transient target
/// filesystems, each with a ZFS source of the same id. Transient ones are reported and skipped.
fn pairs(
    target: &config::Instance,
    source: &config::Instance,
    request: &CopyRequest,
    progress: &mut dyn Progress,
) -> Result<(Vec<FilesystemSpec>, Vec<FilesystemSpec>), OpsError> {
    let file = target.file.display();
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for fs in &target.filesystems {
        let src = source.filesystem(&fs.id).ok_or_else(|| {
            OpsError::Input(format!(
                "{file}: instance {} has no filesystem {:?} to copy to instance {}",
                source.name, fs.id, target.name
            ))
        })?;
        if fs.transient || src.transient {
            progress.step(&format!("skip transient filesystem {}", fs.id));
            continue;
        }
        let (src, fs) = (filesystem_spec(source, src), filesystem_spec(target, fs));
        if fs.kind != FsKind::Zfs {
            return Err(OpsError::Input(format!(
                "{file}: filesystem {} is of type {}: copy-filesystems copies zfs filesystems \
                 only; make it transient or copy it another way",
                fs.id, fs.kind
            )));
        }
        if request.from_host.is_none() && request.to_host.is_none() && src.path == fs.path {
            return Err(OpsError::Input(format!(
                "{file}: filesystem {}: source and target are the same dataset {}; give \
                 another --from-container, or --from-host/--to-host",
                fs.id, fs.path
            )));
        }
        from.push(src);
        to.push(fs);
    }
    Ok((from, to))
}

/// `copy-filesystems`: copies `source`'s non-transient ZFS filesystems to `target`'s (see the
/// module docs). Every check runs before anything changes; with a [`host::DryRunHost`] the
/// commands are only recorded.
pub async fn copy_filesystems(
    host: Arc<dyn HostRunner>,
    target: &config::Instance,
    source: &config::Instance,
    request: &CopyRequest,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let file = target.file.display().to_string();
    if request.from_host.is_some() && request.to_host.is_some() {
        return Err(OpsError::Input(
            "copy-filesystems: give --from-host or --to-host, not both".into(),
        ));
    }
    for (what, h) in [
        ("--from-host", &request.from_host),
        ("--to-host", &request.to_host),
    ] {
        if let Some(h) = h {
            host::ops::ssh_host(what, h)
                .map_err(|e| OpsError::Input(format!("copy-filesystems: {e}")))?;
        }
    }
    if request.snapshot.is_empty() {
        return Err(OpsError::Input(
            "copy-filesystems: the snapshot name (-s) is empty".into(),
        ));
    }
    let remote_snapshot = match &request.from_host {
        Some(h) if request.create_snapshot => Some(h.clone()),
        _ => None,
    };
    if remote_snapshot.is_some() && !source.file.is_absolute() {
        return Err(OpsError::Input(format!(
            "{file}: with --from-host the config path must be absolute, since lxops on the \
             source host reads the same path; or snapshot there first and give -s"
        )));
    }
    let (from, to) = pairs(target, source, request, progress)?;
    if from.is_empty() {
        progress.step("no non-transient filesystems to copy");
        return Ok(());
    }
    let snapshot = request.snapshot.clone();
    let mut snapshot_step = None;
    if request.create_snapshot {
        match &remote_snapshot {
            Some(h) => {
                let words = [
                    "lxops".to_string(),
                    "snapshot".into(),
                    "-s".into(),
                    snapshot.clone(),
                    "--name".into(),
                    source.name.clone(),
                    "--".into(),
                    source.file.display().to_string(),
                ];
                let command = host::ops::ssh_command(h, &words)
                    .map_err(|e| OpsError::Input(format!("{file}: copy-filesystems: {e}")))?;
                progress.step(&format!("snapshot {} on {h}: {command}", source.name));
                snapshot_step = Some(command);
            }
            None => {
                for fs in &from {
                    progress.step(&format!("snapshot {}@{snapshot}", fs.path));
                }
            }
        }
    }
    for (f, t) in from.iter().zip(&to) {
        progress.step(&format!("copy {}@{snapshot} -> {}", f.path, t.path));
    }
    let options = CopyOptions {
        snapshot,
        from_host: request.from_host.clone(),
        to_host: request.to_host.clone(),
    };
    let create_snapshot = request.create_snapshot;
    let name = target.name.clone();
    blocking(move || {
        let host = host.as_ref();
        let err = |e: host::HostError| OpsError::host(&name, e);
        match snapshot_step {
            Some(command) => host.run(&command).map_err(err)?,
            None if create_snapshot => {
                host::ops::snapshot_filesystems(host, &from, &options.snapshot, false)
                    .map_err(err)?;
            }
            None => {}
        }
        host::ops::copy_filesystems(host, &from, &to, &options).map_err(err)?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::config::{FsKind as Kind, InstanceFilesystem};
    use crate::host::DryRunHost;

    fn instance(name: &str, file: &str, kinds: &[(&str, Kind, bool)]) -> config::Instance {
        config::Instance {
            target: None,
            name: name.into(),
            file: PathBuf::from(file),
            description: String::new(),
            project: String::new(),
            ostype: String::new(),
            image: String::new(),
            origin: None,
            device_template: None,
            device_origin: None,
            source_config: None,
            lxc_options: Vec::new(),
            profiles: Vec::new(),
            profile: String::new(),
            device_owner: None,
            filesystems: kinds
                .iter()
                .map(|(id, kind, transient)| InstanceFilesystem {
                    id: id.to_string(),
                    kind: *kind,
                    path: match kind {
                        Kind::Zfs => format!("tank/{name}/{id}"),
                        _ => format!("/srv/{name}/{id}"),
                    },
                    zfsproperties: BTreeMap::new(),
                    transient: *transient,
                    destroy: false,
                })
                .collect(),
            devices: Vec::new(),
            properties: BTreeMap::new(),
            cloud_config_files: Vec::new(),
        }
    }

    fn run(
        target: &config::Instance,
        source: &config::Instance,
        request: &CopyRequest,
    ) -> (Vec<String>, Result<(), OpsError>) {
        let host = Arc::new(DryRunHost::new());
        let mut lines = Vec::new();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let result = rt.block_on(copy_filesystems(
            host.clone(),
            target,
            source,
            request,
            &mut lines,
        ));
        lines.extend(host.recorded().into_iter().map(|c| format!("run: {c}")));
        (lines, result)
    }

    fn request(create: bool, from: Option<&str>, to: Option<&str>) -> CopyRequest {
        CopyRequest {
            snapshot: "s1".into(),
            create_snapshot: create,
            from_host: from.map(String::from),
            to_host: to.map(String::from),
        }
    }

    #[test]
    fn copies_non_transient_zfs_filesystems_after_a_snapshot() {
        let fss = [("home", Kind::Zfs, false), ("tmp", Kind::Dir, true)];
        let (a, b) = (instance("a", "c.yaml", &fss), instance("b", "c.yaml", &fss));
        let (lines, result) = run(&b, &a, &request(true, None, None));
        result.unwrap();
        assert_eq!(
            lines,
            [
                "skip transient filesystem tmp",
                "snapshot tank/a/home@s1",
                "copy tank/a/home@s1 -> tank/b/home",
                "run: zfs snapshot tank/a/home@s1",
                "run: zfs send tank/a/home@s1 | zfs receive tank/b/home",
            ]
        );
        let (lines, result) = run(&a, &a, &request(true, Some("h1"), None));
        assert!(result.is_err(), "relative config with a remote snapshot");
        assert!(lines.is_empty(), "{lines:?}");
        let abs = instance("a", "/etc/lxops/c.yaml", &fss);
        let (lines, result) = run(&abs, &abs, &request(true, Some("h1"), None));
        result.unwrap();
        assert_eq!(
            lines[3..],
            [
                "run: ssh -- h1 'lxops snapshot -s s1 --name a -- /etc/lxops/c.yaml'",
                "run: ssh -- h1 'sudo zfs send tank/a/home@s1' | zfs receive tank/a/home",
            ]
        );
    }

    #[test]
    fn the_remote_snapshot_command_quotes_the_config_path() {
        let fss = [("home", Kind::Zfs, false)];
        let hostile = instance("a", "/etc/lxops/$(reboot); rm -rf ~.yaml", &fss);
        let (lines, result) = run(&hostile, &hostile, &request(true, Some("h1"), None));
        result.unwrap();
        assert_eq!(
            lines[2],
            r#"run: ssh -- h1 'lxops snapshot -s s1 --name a -- '\''/etc/lxops/$(reboot); rm -rf ~.yaml'\'''"#
        );
    }

    #[test]
    fn refuses_bad_requests_before_anything_runs() {
        let zfs = [("home", Kind::Zfs, false)];
        let a = instance("a", "c.yaml", &zfs);
        let dir = instance("b", "c.yaml", &[("home", Kind::Dir, false)]);
        let other = instance("b", "c.yaml", &[("data", Kind::Zfs, false)]);
        let cases = [
            (
                &dir,
                &a,
                request(false, None, None),
                "copies zfs filesystems only",
            ),
            (&a, &a, request(false, None, None), "the same dataset"),
            (&a, &a, request(false, Some("h"), Some("h")), "not both"),
            (
                &a,
                &a,
                request(true, Some("-oProxyCommand=sh"), None),
                "--from-host `-oProxyCommand=sh` is invalid: it starts with `-`",
            ),
            (
                &a,
                &a,
                request(false, None, Some("h\nx")),
                "--to-host `h\\nx` is invalid",
            ),
            (
                &other,
                &a,
                request(false, None, None),
                "has no filesystem \"data\"",
            ),
        ];
        for (target, source, request, message) in cases {
            let (lines, result) = run(target, source, &request);
            let err = result.unwrap_err();
            assert!(err.is_input(), "{err}");
            assert!(err.to_string().contains(message), "{err}");
            assert!(!lines.iter().any(|l| l.starts_with("run:")), "{lines:?}");
        }
    }
}
