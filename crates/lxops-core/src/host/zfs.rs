//! The ZFS driver: real `zfs` commands. A dataset's directory is its `mountpoint` as ZFS reports
//! it (for a dataset not created yet: its nearest existing ancestor's mountpoint plus the rest of
//! the name). When destroy, rollback or rename fail with "dataset is busy", the datasets are
//! unmounted with `zfs umount` and the command is retried with a bounded backoff (about 30 s in
//! all); the last error is reported. `zfs list` runs at most once per call (see `HostView`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::driver::{FsDriver, FsState, HostView};
use super::marks;
use super::runner::path_str;
use super::validate;
use super::{FilesystemSpec, HostCommand, HostError, HostRunner};

/// The waits between tries of a command that failed with "dataset is busy" (30.75 s in all).
const BUSY_DELAYS_MS: [u64; 10] = [250, 500, 1000, 2000, 3000, 4000, 5000, 5000, 5000, 5000];

/// The ZFS driver.
pub(crate) struct ZfsDriver;

/// Every ZFS filesystem with its mountpoint: `zfs list -H -o name,mountpoint -t filesystem`.
pub(crate) fn list_datasets(host: &dyn HostRunner) -> Result<BTreeMap<String, String>, HostError> {
    let out = host.query(&HostCommand::plain(
        "zfs",
        ["list", "-H", "-o", "name,mountpoint", "-t", "filesystem"],
    ))?;
    Ok(out
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(name, mountpoint)| (name.to_string(), mountpoint.trim().to_string()))
        .collect())
}

/// Runs `command`; while it fails with "dataset is busy", waits and tries again (bounded).
pub(crate) fn run_retrying_busy(
    host: &dyn HostRunner,
    command: &HostCommand,
) -> Result<(), HostError> {
    let mut waited = Duration::ZERO;
    let mut delays = BUSY_DELAYS_MS.iter();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match host.run(command) {
            Err(e) if e.is_busy() => {
                let Some(ms) = delays.next() else {
                    let HostError::CommandFailed { stderr, .. } = e else {
                        return Err(e);
                    };
                    return Err(HostError::StillBusy {
                        command: command.to_string(),
                        attempts,
                        seconds: waited.as_secs(),
                        stderr,
                    });
                };
                tracing::info!(%command, attempts, "dataset is busy; retrying");
                let delay = Duration::from_millis(*ms);
                host.sleep(delay);
                waited += delay;
            }
            other => return other,
        }
    }
}

/// Runs a command that needs `dataset` (and the datasets inside it) unmounted: `destroy`,
/// `rename`, `rollback`. ZFS over FUSE often says "dataset is busy" when it unmounts by itself
/// while `zfs umount` works, so on "busy" the datasets are unmounted (innermost first) and the
/// command is retried with a bounded backoff. Afterwards the datasets are mounted again
/// (outermost first) under `remount_prefix` (the new name after a rename), or under their old
/// names when the command failed; `remount_prefix: None` mounts nothing after a success.
fn run_unmounted(
    host: &dyn HostRunner,
    command: &HostCommand,
    dataset: &str,
    remount_prefix: Option<&str>,
) -> Result<(), HostError> {
    match host.run(command) {
        Err(e) if e.is_busy() => {}
        other => return other,
    }
    let listed = host
        .query(&HostCommand::plain(
            "zfs",
            [
                "list",
                "-H",
                "-o",
                "name,mounted",
                "-r",
                "-t",
                "filesystem",
                dataset,
            ],
        ))
        .unwrap_or_default();
    let rows: Vec<(&str, &str)> = listed.lines().filter_map(|l| l.split_once('\t')).collect();
    // Only what is mounted now is unmounted and mounted again.
    let mut names: Vec<String> = rows
        .iter()
        .filter(|(_, mounted)| mounted.trim() == "yes")
        .map(|(name, _)| name.to_string())
        .collect();
    if rows.is_empty() {
        names.push(dataset.to_string());
    }
    names.sort();
    for name in names.iter().rev() {
        if let Err(e) = host.run(&zfs(vec!["umount".into(), name.clone()])) {
            tracing::debug!(dataset = %name, "zfs umount: {e}");
        }
    }
    let result = run_retrying_busy(host, command);
    let remount: Vec<String> = match (&result, remount_prefix) {
        (Ok(()), None) => Vec::new(),
        (Ok(()), Some(prefix)) => names
            .iter()
            .map(|n| format!("{prefix}{}", &n[dataset.len()..]))
            .collect(),
        (Err(_), _) => names,
    };
    for name in remount {
        if let Err(e) = host.run(&zfs(vec!["mount".into(), name.clone()])) {
            tracing::warn!(dataset = %name, "could not mount again: {e}");
        }
    }
    result
}

fn zfs(args: Vec<String>) -> HostCommand {
    HostCommand::privileged("zfs", args)
}

fn property_args(fs: &FilesystemSpec) -> Vec<String> {
    fs.zfsproperties
        .iter()
        .filter(|(k, _)| k.as_str() != marks::ZFS_MARK)
        .flat_map(|(k, v)| ["-o".to_string(), format!("{k}={v}")])
        .collect()
}

fn create_command(fs: &FilesystemSpec) -> HostCommand {
    let mut args = vec!["create".to_string(), "-p".to_string()];
    args.extend(property_args(fs));
    args.extend(marks::zfs_mark_args(fs));
    args.push(fs.path.clone());
    zfs(args)
}

fn clone_command(fs: &FilesystemSpec, source: &str, snapshot: &str) -> HostCommand {
    let mut args = vec!["clone".to_string(), "-p".to_string()];
    args.extend(property_args(fs));
    args.extend(marks::zfs_mark_args(fs));
    args.push(format!("{source}@{snapshot}"));
    args.push(fs.path.clone());
    zfs(args)
}

/// The directory of a mountpoint value, or `None` for `legacy`, `none` and `-`.
fn mountpoint_dir(mountpoint: &str) -> Option<PathBuf> {
    mountpoint
        .starts_with('/')
        .then(|| PathBuf::from(mountpoint))
}

/// Runs `f` with the directory of `dataset`, mounted: when it is not mounted already, it is
/// mounted read-only at its mountpoint (`zfs mount -o ro`) and unmounted afterwards, also when
/// `f` fails. `zfs mount` rather than `mount -t zfs`, so it works with ZFS over FUSE too.
pub(crate) fn with_dataset_mounted(
    host: &dyn HostRunner,
    dataset: &str,
    f: &mut dyn FnMut(&Path) -> Result<(), HostError>,
) -> Result<(), HostError> {
    validate::dataset_name("dataset", dataset)?;
    let out = host.query(&HostCommand::plain(
        "zfs",
        ["get", "-H", "-o", "value", "mounted,mountpoint", dataset],
    ))?;
    let mut values = out.lines().map(str::trim);
    let mounted = values.next() == Some("yes");
    let mountpoint = values.next().unwrap_or_default().to_string();
    let Some(dir) = mountpoint_dir(&mountpoint) else {
        return Err(HostError::NoMountpoint {
            id: "root filesystem".into(),
            dataset: dataset.to_string(),
            mountpoint,
        });
    };
    if mounted {
        return f(&dir);
    }
    host.run(&zfs(vec![
        "mount".into(),
        "-o".into(),
        "ro".into(),
        dataset.to_string(),
    ]))?;
    let result = f(&dir);
    let unmount = host.run(&zfs(vec!["unmount".into(), dataset.to_string()]));
    if let Err(e) = &unmount {
        tracing::warn!(%dataset, "could not unmount: {e}");
    }
    result.and(unmount)
}

impl FsDriver for ZfsDriver {
    fn validate(&self, fs: &FilesystemSpec) -> Result<(), HostError> {
        validate::dataset_name(&format!("filesystem `{}` dataset", fs.id), &fs.path)
    }

    fn probe(&self, view: &HostView<'_>, fs: &FilesystemSpec) -> Result<FsState, HostError> {
        let datasets = view.zfs_datasets()?;
        if let Some(mountpoint) = datasets.get(&fs.path) {
            return Ok(FsState {
                exists: true,
                dir: mountpoint_dir(mountpoint),
                no_dir_reason: mountpoint.clone(),
            });
        }
        let pool = fs.path.split('/').next().unwrap_or_default();
        if !datasets.contains_key(pool) {
            return Err(HostError::MissingPool {
                id: fs.id.clone(),
                pool: pool.to_string(),
                dataset: fs.path.clone(),
            });
        }
        if let Some(mountpoint) = fs.zfsproperties.get("mountpoint") {
            return Ok(FsState {
                exists: false,
                dir: mountpoint_dir(mountpoint),
                no_dir_reason: mountpoint.clone(),
            });
        }
        // The nearest existing ancestor's mountpoint plus the rest of the name.
        let components: Vec<&str> = fs.path.split('/').collect();
        for n in (1..components.len()).rev() {
            let ancestor = components[..n].join("/");
            if let Some(mountpoint) = datasets.get(&ancestor) {
                let dir = mountpoint_dir(mountpoint)
                    .map(|dir| components[n..].iter().fold(dir, |d, c| d.join(c)));
                return Ok(FsState {
                    exists: false,
                    dir,
                    no_dir_reason: format!("{mountpoint} (inherited from {ancestor})"),
                });
            }
        }
        // Not reached: the pool itself is an ancestor in the list. Kept as an error, no panic.
        Err(HostError::MissingPool {
            id: fs.id.clone(),
            pool: pool.to_string(),
            dataset: fs.path.clone(),
        })
    }

    fn contains(&self, parent: &FilesystemSpec, child: &FilesystemSpec) -> bool {
        child.path.starts_with(&format!("{}/", parent.path))
    }

    fn describe_create(&self, fs: &FilesystemSpec) -> String {
        create_command(fs).to_string()
    }

    fn create(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        host.run(&create_command(fs))
    }

    fn describe_clone(&self, fs: &FilesystemSpec, source: &str, snapshot: &str) -> String {
        clone_command(fs, source, snapshot).to_string()
    }

    fn clone_from(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        source: &str,
        snapshot: &str,
    ) -> Result<(), HostError> {
        host.run(&clone_command(fs, source, snapshot))
    }

    fn can_snapshot(&self) -> bool {
        true
    }

    fn snapshot(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        snapshot: &str,
        recursive: bool,
    ) -> Result<String, HostError> {
        let name = format!("{}@{snapshot}", fs.path);
        let mut args = vec!["snapshot".to_string()];
        if recursive {
            args.push("-r".into());
        }
        args.push(name.clone());
        host.run(&zfs(args))?;
        Ok(name)
    }

    fn destroy_snapshot(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        snapshot: &str,
        recursive: bool,
    ) -> Result<String, HostError> {
        let name = format!("{}@{snapshot}", fs.path);
        let mut args = vec!["destroy".to_string()];
        if recursive {
            // As the original: the snapshots inside too, and every dependent clone (the
            // caller checked them first, see `ops::check_destroy_dependents`).
            args.push("-R".into());
        }
        args.push(name.clone());
        run_retrying_busy(host, &zfs(args))?;
        Ok(name)
    }

    fn rollback(
        &self,
        host: &dyn HostRunner,
        fs: &FilesystemSpec,
        snapshot: &str,
    ) -> Result<(), HostError> {
        let args = vec![
            "rollback".to_string(),
            "-r".to_string(),
            format!("{}@{snapshot}", fs.path),
        ];
        run_unmounted(host, &zfs(args), &fs.path, Some(&fs.path))
    }

    fn rename(
        &self,
        view: &HostView<'_>,
        old: &FilesystemSpec,
        new: &FilesystemSpec,
    ) -> Result<(), HostError> {
        let args = vec![
            "rename".to_string(),
            "-p".to_string(),
            old.path.clone(),
            new.path.clone(),
        ];
        run_unmounted(view.host, &zfs(args), &old.path, Some(&new.path))
    }

    fn destroy(&self, host: &dyn HostRunner, fs: &FilesystemSpec) -> Result<(), HostError> {
        let args = vec!["destroy".to_string(), "-r".to_string(), fs.path.clone()];
        run_unmounted(host, &zfs(args), &fs.path, None)
    }

    /// ZFS over FUSE has no `.zfs/snapshot` directory and cannot mount snapshots, so the
    /// snapshot is cloned to a temporary sibling dataset that is destroyed afterwards.
    fn with_snapshot_dir(
        &self,
        view: &HostView<'_>,
        fs: &FilesystemSpec,
        snapshot: &str,
        f: &mut dyn FnMut(&Path) -> Result<(), HostError>,
    ) -> Result<(), HostError> {
        let source_dir = self.probe(view, fs)?.require_dir(fs)?;
        let mut temp = fs.with_path(format!("{}-lxops-export-{}", fs.path, std::process::id()));
        temp.zfsproperties = BTreeMap::new();
        view.host.run(&clone_command(&temp, &fs.path, snapshot))?;
        let dir = view
            .host
            .query(&HostCommand::plain(
                "zfs",
                ["get", "-H", "-o", "value", "mountpoint", &temp.path],
            ))
            .ok()
            .and_then(|out| mountpoint_dir(out.trim()))
            .unwrap_or_else(|| {
                let name = temp.path.rsplit('/').next().unwrap_or_default();
                source_dir.with_file_name(name)
            });
        let result = f(&dir);
        let cleanup = self.destroy(view.host, &temp);
        if let Err(e) = &cleanup {
            tracing::warn!(dataset = %temp.path, dir = %path_str(&dir), "could not destroy the temporary export clone: {e}");
        }
        result.and(cleanup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fake::FakeHost;
    use crate::host::FsKind;

    fn fs(path: &str) -> FilesystemSpec {
        FilesystemSpec {
            filesystem: crate::config::InstanceFilesystem {
                id: "home".into(),
                kind: FsKind::Zfs,
                path: path.into(),
                zfsproperties: BTreeMap::new(),
                transient: false,
                destroy: false,
            },
            mark: Some("default/a1".into()),
        }
    }

    #[test]
    fn the_directory_comes_from_zfs_mountpoints() {
        let host = FakeHost::new().with_datasets(&[
            ("tank", "/mnt/tank"),
            ("tank/a", "/srv/a"),
            ("tank/b", "legacy"),
        ]);
        let view = HostView::new(&host);
        let cases = [
            ("tank/a", "exists=true dir=Some(\"/srv/a\")"),
            ("tank/a/x/y", "exists=false dir=Some(\"/srv/a/x/y\")"),
            ("tank/c", "exists=false dir=Some(\"/mnt/tank/c\")"),
            ("tank/b", "exists=true dir=None"),
            ("tank/b/c", "exists=false dir=None"),
        ];
        for (path, want) in cases {
            let state = ZfsDriver.probe(&view, &fs(path)).unwrap();
            assert_eq!(
                format!("exists={} dir={:?}", state.exists, state.dir),
                want,
                "{path}"
            );
        }
        let err = ZfsDriver.probe(&view, &fs("nopool/a")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "filesystem `home`: ZFS pool `nopool` of dataset `nopool/a` does not exist; create \
             the pool or fix the filesystem pattern"
        );
        assert_eq!(
            host.commands(),
            ["zfs list -H -o name,mountpoint -t filesystem"]
        );
    }

    #[test]
    fn busy_unmounts_and_retries_until_it_succeeds() {
        let host = FakeHost::new().failing("zfs destroy -r tank/a", "dataset is busy", 3);
        ZfsDriver.destroy(&host, &fs("tank/a")).unwrap();
        expect_test::expect![[r#"
            zfs destroy -r tank/a
            zfs list -H -o name,mounted -r -t filesystem tank/a
            zfs umount tank/a
            zfs destroy -r tank/a
            zfs destroy -r tank/a
            zfs destroy -r tank/a"#]]
        .assert_eq(&host.commands().join("\n"));
        assert_eq!(host.slept_ms(), 250 + 500);
    }

    #[test]
    fn a_busy_rename_mounts_the_new_name_again() {
        let host = FakeHost::new().failing("zfs rename -p tank/a tank/b", "dataset is busy", 1);
        let view = HostView::new(&host);
        ZfsDriver
            .rename(&view, &fs("tank/a"), &fs("tank/b"))
            .unwrap();
        expect_test::expect![[r#"
            zfs rename -p tank/a tank/b
            zfs list -H -o name,mounted -r -t filesystem tank/a
            zfs umount tank/a
            zfs rename -p tank/a tank/b
            zfs mount tank/b"#]]
        .assert_eq(&host.commands().join("\n"));
    }

    #[test]
    fn busy_forever_reports_the_last_error() {
        let host = FakeHost::new().failing("zfs rollback -r tank/a@s", "dataset is busy", 100);
        let err = ZfsDriver.rollback(&host, &fs("tank/a"), "s").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`zfs rollback -r tank/a@s` failed 11 times over 30s because the dataset stayed busy: \
             dataset is busy; stop what uses it (a running instance?) and try again"
        );
    }

    #[test]
    fn a_dataset_is_mounted_read_only_while_needed_and_unmounted_after_a_failure() {
        let get = "zfs get -H -o value mounted,mountpoint tank/c/x";
        let host = FakeHost::new().answering(get, "no\n/var/lib/x/c/x\n");
        let mut seen = Vec::new();
        let err = with_dataset_mounted(&host, "tank/c/x", &mut |dir| {
            seen.push(dir.to_path_buf());
            Err(HostError::Missing {
                what: "test",
                path: dir.to_path_buf(),
            })
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "test /var/lib/x/c/x does not exist");
        assert_eq!(seen, [PathBuf::from("/var/lib/x/c/x")]);
        assert_eq!(
            host.commands(),
            [get, "zfs mount -o ro tank/c/x", "zfs unmount tank/c/x"]
        );

        let host = FakeHost::new().answering(get, "yes\n/m\n");
        with_dataset_mounted(&host, "tank/c/x", &mut |_| Ok(())).unwrap();
        assert_eq!(host.commands(), [get], "a mounted dataset is left alone");

        let host = FakeHost::new().answering(get, "no\nlegacy\n");
        let err = with_dataset_mounted(&host, "tank/c/x", &mut |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("mountpoint `legacy`"), "{err}");
    }

    #[test]
    fn other_failures_are_not_retried() {
        let host = FakeHost::new().failing("zfs destroy -r tank/a", "permission denied", 1);
        let err = ZfsDriver.destroy(&host, &fs("tank/a")).unwrap_err();
        assert_eq!(host.commands().len(), 1);
        assert!(err.to_string().contains("permission denied"), "{err}");
    }
}
