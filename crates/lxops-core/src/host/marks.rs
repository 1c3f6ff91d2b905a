//! Owner marks: what lxops creates carries the instance it was made for, so `destroy`, `delete`
//! and `rename` act only on objects of THAT instance (see [`super::safety`]).
//!
//! - a ZFS dataset gets the user property [`ZFS_MARK`] (`lxops:instance=<project>/<name>`),
//!   given with `-o` to `zfs create`/`zfs clone`, so there is no moment without it; only a
//!   value set on the dataset itself counts (`zfs get -s local`), never one inherited from a
//!   parent;
//! - a plain directory or btrfs subvolume gets the extended attribute [`XATTR_MARK`]
//!   (`user.lxops.instance`) on its own directory, right after it is made. On a filesystem
//!   without user extended attributes (a directory on a ZFS-over-FUSE mount, tmpfs on old
//!   kernels) [`super::SystemHost`] keeps it in a file next to the directory,
//!   `PARENT/.lxops-marks/NAME/user.lxops.instance`, which moves and goes with it; only where
//!   even that is impossible (non-root without `setfattr`) lxops warns and the directory counts
//!   as unmarked. No marker file is ever written into device data;
//! - the per-instance profile gets the config keys [`PROFILE_MARK_KEY`] and
//!   [`PROFILE_CONFIG_KEY`] (the config file).

use std::path::Path;

use super::{FilesystemSpec, FsKind, HostCommand, HostError, HostRunner};

/// The ZFS user property that names the owner instance.
pub const ZFS_MARK: &str = "lxops:instance";
/// The extended attribute on a directory or btrfs subvolume that names the owner instance.
pub const XATTR_MARK: &str = "user.lxops.instance";
/// The profile config key that names the owner instance.
pub const PROFILE_MARK_KEY: &str = "user.lxops.instance";
/// The profile config key that holds the config file of the instance.
pub const PROFILE_CONFIG_KEY: &str = "user.lxops.config";

/// The mark of an instance: `<project>/<name>`, with `default` for the client's current project
/// (project names cannot contain `/`).
pub fn instance_mark(project: &str, name: &str) -> String {
    let project = if project.is_empty() {
        "default"
    } else {
        project
    };
    format!("{project}/{name}")
}

/// The `-o lxops:instance=...` arguments of `zfs create`/`zfs clone` for `fs`.
pub(crate) fn zfs_mark_args(fs: &FilesystemSpec) -> Vec<String> {
    match &fs.mark {
        Some(mark) => vec!["-o".into(), format!("{ZFS_MARK}={mark}")],
        None => Vec::new(),
    }
}

/// Sets the mark of a directory or btrfs subvolume that lxops just made (ZFS datasets get it at
/// creation). A filesystem that cannot carry it is left unmarked with a warning.
pub(crate) fn mark_dir(host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
    let Some(mark) = &fs.mark else {
        return Ok(());
    };
    if fs.kind == FsKind::Zfs {
        return Ok(());
    }
    if !host.set_xattr(Path::new(&fs.path), XATTR_MARK, mark)? {
        tracing::warn!(
            path = %fs.path,
            "the directory could not be marked, so `destroy` treats it as unmarked (it needs \
             --adopt)"
        );
    }
    Ok(())
}

/// Sets (or replaces) the mark of an existing filesystem: after a rename, or for `--adopt`.
pub(crate) fn set_mark(
    host: &dyn HostRunner,
    fs: &FilesystemSpec,
    mark: &str,
) -> Result<(), HostError> {
    match fs.kind {
        FsKind::Zfs => host.run(&HostCommand::privileged(
            "zfs",
            [
                "set".to_string(),
                format!("{ZFS_MARK}={mark}"),
                fs.path.clone(),
            ],
        )),
        FsKind::Dir | FsKind::Btrfs => {
            host.set_xattr(Path::new(&fs.path), XATTR_MARK, mark)?;
            Ok(())
        }
        FsKind::Volume => Err(super::volume::not_on_host(fs, "marking")),
    }
}

/// The mark of an existing filesystem, `None` when it has none.
pub(crate) fn read_mark(
    host: &dyn HostRunner,
    fs: &FilesystemSpec,
) -> Result<Option<String>, HostError> {
    let value = match fs.kind {
        FsKind::Zfs => host
            .query(&HostCommand::plain(
                "zfs",
                [
                    "get", "-H", "-s", "local", "-o", "value", ZFS_MARK, &fs.path,
                ],
            ))?
            .trim()
            .to_string(),
        FsKind::Dir | FsKind::Btrfs => host
            .get_xattr(Path::new(&fs.path), XATTR_MARK)?
            .unwrap_or_default(),
        FsKind::Volume => return Err(super::volume::not_on_host(fs, "reading the mark")),
    };
    Ok((!value.is_empty() && value != "-").then_some(value))
}

/// The local marks of every dataset inside `dataset` (itself excluded), by name.
pub(crate) fn zfs_marks_inside(
    host: &dyn HostRunner,
    dataset: &str,
) -> Result<Vec<(String, String)>, HostError> {
    let out = host.query(&HostCommand::plain(
        "zfs",
        [
            "get",
            "-H",
            "-r",
            "-s",
            "local",
            "-o",
            "name,value",
            ZFS_MARK,
            dataset,
        ],
    ))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        // No `-t filesystem` above: the zfs-fuse `zfs get` lacks it; snapshots are left out here.
        .filter(|(name, _)| *name != dataset && !name.contains('@'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_name_project_and_instance() {
        assert_eq!(instance_mark("", "a1"), "default/a1");
        assert_eq!(instance_mark("p", "a1"), "p/a1");
    }
}
