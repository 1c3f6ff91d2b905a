//! `copy-filesystems`: copy the non-transient ZFS filesystems of one instance (the source) onto
//! those of another (the target) with `zfs send | zfs receive`, either side optionally on
//! another host through ssh. Without a given snapshot the source is snapshotted first: here with
//! `zfs snapshot`, or on the source host by running `lxops snapshot` there.

use std::sync::Arc;

use super::blocking;
use super::devices::filesystem_spec;
use super::error::OpsError;
use crate::config;
use crate::host::{self, ops::CopyOptions, FilesystemSpec, FsKind, HostCommand, HostRunner};
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
        let (src, fs) = (filesystem_spec(src), filesystem_spec(fs));
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
                let command = HostCommand::plain(
                    "ssh",
                    [
                        h.clone(),
                        "lxops".into(),
                        "snapshot".into(),
                        "-s".into(),
                        snapshot.clone(),
                        "--name".into(),
                        source.name.clone(),
                        source.file.display().to_string(),
                    ],
                );
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
