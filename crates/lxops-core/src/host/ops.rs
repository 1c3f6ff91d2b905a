//! Filesystem commands on the filesystems they are given (callers leave out transient ones where
//! the original does): list, snapshot, destroy snapshots, rollback, rename, destroy, export,
//! import, copy (`zfs send | zfs receive`, optionally through ssh), shiftids, and the copy of
//! image directories out of an instance's root filesystem (`extract`).

use std::fmt;
use std::path::{Path, PathBuf};

use super::driver::{driver_of, HostView};
use super::marks;
use super::runner::path_str;
use super::safety::{self, RemovalRules};
use super::validate;
use super::{FilesystemSpec, FsKind, HostCommand, HostError, HostRunner, Owner, PathKind};

/// One row of [`FilesystemList`].
#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemRow {
    /// The filesystem id.
    pub id: String,
    /// Its kind.
    pub kind: FsKind,
    /// Its path (dataset or directory).
    pub path: String,
    /// Its directory, when known.
    pub dir: Option<PathBuf>,
    /// Whether it exists.
    pub exists: bool,
}

/// The filesystems and whether they exist; [`fmt::Display`] prints a table
/// `ID KIND PATH DIR EXISTS`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemList {
    /// The rows, in the order given.
    pub rows: Vec<FilesystemRow>,
}

impl fmt::Display for FilesystemList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = vec![["ID", "KIND", "PATH", "DIR", "EXISTS"].map(str::to_string)];
        for row in &self.rows {
            table.push([
                row.id.clone(),
                row.kind.to_string(),
                row.path.clone(),
                row.dir
                    .as_ref()
                    .map_or("-".to_string(), |d| d.display().to_string()),
                if row.exists { "yes" } else { "no" }.to_string(),
            ]);
        }
        let widths: Vec<usize> = (0..5)
            .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        for row in &table {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:w$}"))
                .collect();
            writeln!(f, "{}", line.join("  ").trim_end())?;
        }
        Ok(())
    }
}

/// Options of [`copy_filesystems`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyOptions {
    /// The snapshot to send (`<from>@<snapshot>`); it must exist.
    pub snapshot: String,
    /// Send from this ssh host (`ssh HOST sudo zfs send ...`).
    pub from_host: Option<String>,
    /// Receive on this ssh host (`ssh HOST sudo zfs receive ...`).
    pub to_host: Option<String>,
}

/// Whether each filesystem exists and where its directory is. A dataset whose pool is missing
/// is listed as not existing.
pub fn list_filesystems(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
) -> Result<FilesystemList, HostError> {
    let view = HostView::new(host);
    let mut rows = Vec::new();
    for fs in fss {
        driver_of(fs).validate(fs)?;
        let (exists, dir) = match driver_of(fs).probe(&view, fs) {
            Ok(state) => (state.exists, state.dir),
            Err(HostError::MissingPool { .. }) => (false, None),
            Err(e) => return Err(e),
        };
        rows.push(FilesystemRow {
            id: fs.id.clone(),
            kind: fs.kind,
            path: fs.path.clone(),
            dir,
            exists,
        });
    }
    Ok(FilesystemList { rows })
}

/// The filesystems that can take snapshots, sorted by path; the others are skipped with a
/// warning. An error when none of a non-empty list can.
fn snapshot_capable(fss: &[FilesystemSpec]) -> Result<Vec<&FilesystemSpec>, HostError> {
    let mut capable: Vec<&FilesystemSpec> = Vec::new();
    for fs in fss {
        driver_of(fs).validate(fs)?;
        if driver_of(fs).can_snapshot() {
            capable.push(fs);
        } else {
            tracing::warn!(id = %fs.id, kind = %fs.kind, "skipped: this filesystem cannot take snapshots");
        }
    }
    if capable.is_empty() && !fss.is_empty() {
        let ids: Vec<&str> = fss.iter().map(|fs| fs.id.as_str()).collect();
        return Err(HostError::NothingToSnapshot {
            ids: ids.join(", "),
        });
    }
    capable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(capable)
}

/// Leaves out filesystems inside another one of the list (a recursive operation on the outer
/// one covers them).
fn roots_only<'a>(fss: &[&'a FilesystemSpec]) -> Vec<&'a FilesystemSpec> {
    fss.iter()
        .filter(|fs| {
            !fss.iter()
                .any(|outer| outer.kind == fs.kind && driver_of(outer).contains(outer, fs))
        })
        .copied()
        .collect()
}

/// Snapshots every filesystem that can (`zfs snapshot [-r] fs@snap`, a read-only btrfs
/// snapshot), sorted by path; plain directories are skipped with a warning. Returns the
/// snapshots made. With `recursive`, filesystems inside another listed one are covered by it.
pub fn snapshot_filesystems(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    snapshot: &str,
    recursive: bool,
) -> Result<Vec<String>, HostError> {
    validate::snapshot_name(snapshot)?;
    let mut capable = snapshot_capable(fss)?;
    if recursive {
        capable = roots_only(&capable);
    }
    capable
        .into_iter()
        .map(|fs| driver_of(fs).snapshot(host, fs, snapshot, recursive))
        .collect()
}

/// Destroys the snapshot `snapshot` of every filesystem that can have one (sorted by path);
/// with `recursive`, also of the datasets inside (`zfs destroy -r`), on the outermost listed
/// filesystems only. Returns the snapshots destroyed.
pub fn destroy_snapshots(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    snapshot: &str,
    recursive: bool,
) -> Result<Vec<String>, HostError> {
    validate::snapshot_name(snapshot)?;
    let mut capable = snapshot_capable(fss)?;
    if recursive {
        capable = roots_only(&capable);
    }
    capable
        .into_iter()
        .map(|fs| driver_of(fs).destroy_snapshot(host, fs, snapshot, recursive))
        .collect()
}

/// A dataset that `zfs destroy -R FS@SNAPSHOT` destroys besides the snapshots themselves: a
/// clone of one of them (a device-origin clone), a clone of such a clone's snapshots, or a
/// dataset inside one of those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDependent {
    /// The dataset.
    pub dataset: String,
    /// Where it comes from: the snapshot it is a clone of, or the clone it lies inside.
    pub from: String,
    /// Its own lxops mark (`<project>/<instance>`), if it has one.
    pub mark: Option<String>,
}

/// The datasets that `zfs destroy -R` of `snapshot` on the outermost ZFS filesystems of `fss`
/// would destroy besides the snapshots (see [`SnapshotDependent`]), found from every dataset's
/// `origin` in their pools (zfs-fuse has no `clones` property), with their marks.
pub fn snapshot_dependents(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    snapshot: &str,
) -> Result<Vec<SnapshotDependent>, HostError> {
    validate::snapshot_name(snapshot)?;
    let zfs: Vec<&FilesystemSpec> = snapshot_capable(fss)?
        .into_iter()
        .filter(|fs| fs.kind == FsKind::Zfs)
        .collect();
    let roots = roots_only(&zfs);
    let mut pools: Vec<&str> = roots
        .iter()
        .map(|fs| fs.path.split('/').next().unwrap_or(&fs.path))
        .collect();
    pools.sort_unstable();
    pools.dedup();
    // (dataset, origin snapshot or "-")
    let mut datasets: Vec<(String, String)> = Vec::new();
    for pool in pools {
        let out = host.query(&HostCommand::plain(
            "zfs",
            [
                "list",
                "-H",
                "-r",
                "-t",
                "filesystem,volume",
                "-o",
                "name,origin",
                pool,
            ],
        ))?;
        datasets.extend(out.lines().filter_map(|line| {
            let (name, origin) = line.split_once('\t')?;
            Some((name.trim().to_string(), origin.trim().to_string()))
        }));
    }
    let inside = |dataset: &str, outer: &str| {
        dataset == outer
            || dataset
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let mut found: Vec<(String, String)> = Vec::new();
    // The snapshots whose clones are destroyed: SNAPSHOT of every dataset inside a root, then
    // every snapshot of every dataset inside a dependent.
    let mut changed = true;
    while changed {
        changed = false;
        for (dataset, origin) in &datasets {
            if found.iter().any(|(d, _)| d == dataset) {
                continue;
            }
            let Some((source, snap)) = origin.split_once('@') else {
                continue;
            };
            let of_root = snap == snapshot && roots.iter().any(|fs| inside(source, &fs.path));
            let of_dependent = found.iter().any(|(d, _)| inside(source, d));
            if of_root || of_dependent {
                found.push((dataset.clone(), origin.clone()));
                changed = true;
            }
        }
        for (dataset, _) in &datasets {
            if found.iter().any(|(d, _)| d == dataset) {
                continue;
            }
            let outer = found
                .iter()
                .find(|(d, _)| inside(dataset, d))
                .map(|(d, _)| d.clone());
            if let Some(outer) = outer {
                found.push((dataset.clone(), outer));
                changed = true;
            }
        }
    }
    found
        .into_iter()
        .map(|(dataset, from)| {
            let spec = FilesystemSpec {
                filesystem: crate::config::InstanceFilesystem {
                    id: String::new(),
                    kind: FsKind::Zfs,
                    path: dataset.clone(),
                    zfsproperties: Default::default(),
                    transient: false,
                    destroy: false,
                },
                mark: None,
            };
            Ok(SnapshotDependent {
                mark: marks::read_mark(host, &spec)?,
                dataset,
                from,
            })
        })
        .collect()
}

/// The safety rules of `snapshot -d -R` (before anything is destroyed): every outermost ZFS
/// filesystem must carry the mark `own` (no mark: only with `adopt`; another instance's mark:
/// never), and every dependent it would take with it must carry an lxops mark (no mark: only
/// with `adopt`); `refused` adds refusals the caller found (a clone of an existing instance).
pub fn check_destroy_dependents(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    snapshot: &str,
    own: &str,
    adopt: bool,
    dependents: &[SnapshotDependent],
    mut refusals: Vec<safety::Refusal>,
) -> Result<(), HostError> {
    let capable = snapshot_capable(fss)?;
    let zfs: Vec<&FilesystemSpec> = capable
        .into_iter()
        .filter(|fs| fs.kind == FsKind::Zfs)
        .collect();
    let manual = |fs: &str| format!("zfs destroy -R {fs}@{snapshot}");
    for fs in roots_only(&zfs) {
        let reason = match marks::read_mark(host, fs)? {
            Some(mark) if mark == own => continue,
            Some(mark) => format!("it is marked as made for instance {mark}, not {own}"),
            None if adopt => continue,
            None => "it carries no lxops mark (made by hand or an older lxops): use --adopt if it is this instance's".to_string(),
        };
        refusals.push(safety::Refusal {
            id: fs.id.clone(),
            path: fs.path.clone(),
            reason,
            manual: manual(&fs.path),
        });
    }
    for dependent in dependents.iter().filter(|d| d.mark.is_none() && !adopt) {
        refusals.push(safety::Refusal {
            id: "clone".to_string(),
            path: dependent.dataset.clone(),
            reason: format!(
                "-R would destroy it (it depends on {}), and it was not made by lxops (no lxops mark): use --adopt to destroy it too",
                dependent.from
            ),
            manual: format!("zfs destroy -r {}", dependent.dataset),
        });
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(HostError::Refused { refusals })
    }
}

/// Rolls every filesystem that can back to `snapshot` (`zfs rollback -r`; btrfs: the subvolume
/// is replaced by a writable snapshot of the snapshot). Returns the filesystems rolled back.
pub fn rollback_filesystems(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    snapshot: &str,
) -> Result<Vec<String>, HostError> {
    validate::snapshot_name(snapshot)?;
    let capable = snapshot_capable(fss)?;
    // A rollback discards data: never on a filesystem marked for another instance.
    let mut refusals = Vec::new();
    for fs in &capable {
        let (Some(own), Ok(Some(mark))) = (&fs.mark, marks::read_mark(host, fs)) else {
            continue;
        };
        if &mark != own {
            let manual = match fs.kind {
                FsKind::Zfs => format!("zfs rollback -r {}@{snapshot}", fs.path),
                _ => format!(
                    "btrfs subvolume snapshot {} {}",
                    super::btrfs_snapshot_dir(Path::new(&fs.path), snapshot).display(),
                    fs.path
                ),
            };
            refusals.push(safety::Refusal {
                id: fs.id.clone(),
                path: fs.path.clone(),
                reason: format!(
                    "it is marked as made for instance {mark}, and a rollback discards its newer data"
                ),
                manual,
            });
        }
    }
    if !refusals.is_empty() {
        return Err(HostError::Refused { refusals });
    }
    let mut done = Vec::new();
    for fs in capable {
        driver_of(fs).rollback(host, fs, snapshot)?;
        done.push(format!("{}@{snapshot}", fs.path));
    }
    Ok(done)
}

/// The pairs that [`rename_filesystems`] renames (existing, path changes, outermost), checked.
fn renames<'a>(
    host: &dyn HostRunner,
    old: &'a [FilesystemSpec],
    new: &'a [FilesystemSpec],
    rules: &RemovalRules,
) -> Result<Vec<(&'a FilesystemSpec, &'a FilesystemSpec)>, HostError> {
    if old.len() != new.len() {
        return Err(HostError::Mismatch {
            reason: format!("{} old and {} new filesystems", old.len(), new.len()),
        });
    }
    for (o, n) in old.iter().zip(new) {
        if o.kind != n.kind || o.id != n.id {
            return Err(HostError::Mismatch {
                reason: format!(
                    "old `{}` ({}) and new `{}` ({}) differ in id or kind",
                    o.id, o.kind, n.id, n.kind
                ),
            });
        }
        driver_of(o).validate(o)?;
        driver_of(n).validate(n)?;
    }
    let all: Vec<&FilesystemSpec> = old.iter().collect();
    let roots = roots_only(&all);
    let pairs: Vec<(&FilesystemSpec, &FilesystemSpec)> = old
        .iter()
        .zip(new)
        .filter(|(o, n)| o.path != n.path && roots.iter().any(|r| r.path == o.path))
        .collect();
    // Only filesystems that exist are renamed; every check runs before the first rename.
    let view = HostView::new(host);
    let mut existing = Vec::new();
    for (o, n) in &pairs {
        match driver_of(o).probe(&view, o) {
            Ok(state) if state.exists => existing.push((*o, *n)),
            Ok(_) | Err(HostError::MissingPool { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    safety::check_rename(host, &existing, rules)?;
    Ok(existing)
}

/// Checks the renames of [`rename_filesystems`] (every rule, every pair) and changes nothing.
/// Returns `old -> new` for each rename it would make.
pub fn check_rename_filesystems(
    host: &dyn HostRunner,
    old: &[FilesystemSpec],
    new: &[FilesystemSpec],
    rules: &RemovalRules,
) -> Result<Vec<String>, HostError> {
    Ok(renames(host, old, new, rules)?
        .into_iter()
        .map(|(o, n)| format!("{} -> {}", o.path, n.path))
        .collect())
}

/// Renames `old[i]` to `new[i]` where the paths differ (`zfs rename -p`, a directory move into
/// a created parent), after every pair passed the safety rules (see [`super::check_removal`]): each old
/// filesystem must be marked for this instance (or adopted), and no new path may exist.
/// Filesystems inside another renamed one move with it and are skipped. The renamed ones get the
/// new instance's mark. Returns `old -> new` for each rename.
pub fn rename_filesystems(
    host: &dyn HostRunner,
    old: &[FilesystemSpec],
    new: &[FilesystemSpec],
    rules: &RemovalRules,
) -> Result<Vec<String>, HostError> {
    let existing = renames(host, old, new, rules)?;
    let view = HostView::new(host);
    let mut done = Vec::new();
    for (o, n) in existing {
        driver_of(o).rename(&view, o, n)?;
        if let Some(mark) = &n.mark {
            marks::set_mark(host, n, mark)?;
            if n.kind == FsKind::Zfs {
                for (inner, inner_mark) in marks::zfs_marks_inside(host, &n.path)? {
                    if Some(&inner_mark) == o.mark.as_ref() {
                        let inner = n.with_path(inner);
                        marks::set_mark(host, &inner, mark)?;
                    }
                }
            }
        }
        done.push(format!("{} -> {}", o.path, n.path));
    }
    Ok(done)
}

/// Destroys the filesystems that exist, with their content and snapshots (inner ones first),
/// after all of them passed the safety rules (see [`super::check_removal`]); one refusal and nothing
/// is destroyed. The only function that deletes filesystems. Returns the paths destroyed.
pub fn destroy_filesystems(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    rules: &RemovalRules,
) -> Result<Vec<String>, HostError> {
    let mut existing = safety::check_removal(host, fss, rules)?;
    existing.sort_by(|a, b| b.path.cmp(&a.path));
    let mut destroyed = Vec::new();
    for fs in &existing {
        driver_of(fs).destroy(host, fs)?;
        destroyed.push(fs.path.clone());
    }
    Ok(destroyed)
}

fn tar(args: Vec<String>) -> HostCommand {
    HostCommand::privileged("tar", args)
}

fn archive_path(dir: &Path, fs: &FilesystemSpec) -> PathBuf {
    dir.join(format!("{}.tar.gz", fs.id))
}

/// Writes `DIR/<id>.tar.gz` for each filesystem (numeric owners kept), from the filesystem's
/// directory or, with `snapshot`, from that snapshot (ZFS: through a temporary clone; btrfs:
/// the snapshot subvolume; plain directories cannot).
pub fn export_filesystems(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    dir: &Path,
    snapshot: Option<&str>,
) -> Result<(), HostError> {
    validate::absolute_dir("export directory", dir)?;
    if let Some(snapshot) = snapshot {
        validate::snapshot_name(snapshot)?;
    }
    let view = HostView::new(host);
    // Every filesystem is checked before the first tarball is written. With a snapshot, a
    // filesystem that has none (a plain directory) is exported live, as the original does.
    let mut sources = Vec::with_capacity(fss.len());
    for fs in fss {
        driver_of(fs).validate(fs)?;
        if snapshot.is_some() && driver_of(fs).can_snapshot() {
            sources.push(None);
            continue;
        }
        if snapshot.is_some() {
            tracing::info!(
                "{} {}: no snapshots; exported live (as the original lxops does)",
                fs.id,
                fs.path
            );
        }
        let state = driver_of(fs).probe(&view, fs)?;
        if !state.exists {
            return Err(HostError::Missing {
                what: "filesystem",
                path: PathBuf::from(&fs.path),
            });
        }
        sources.push(Some(state.require_dir(fs)?));
    }
    host.mkdir_p(dir)?;
    for (fs, source) in fss.iter().zip(sources) {
        let archive = archive_path(dir, fs);
        let mut write = |source: &Path| {
            host.run(&tar(vec![
                "-czf".into(),
                path_str(&archive),
                "--numeric-owner".into(),
                "-C".into(),
                path_str(source),
                ".".into(),
            ]))
        };
        if let Some(source) = source {
            write(&source)?;
        } else if let Some(snapshot) = snapshot {
            driver_of(fs).with_snapshot_dir(&view, fs, snapshot, &mut write)?;
        }
    }
    Ok(())
}

/// Extracts `DIR/<id>.tar.gz` into each filesystem (numeric owners kept), creating the
/// filesystems that do not exist.
pub fn import_filesystems(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    dir: &Path,
) -> Result<(), HostError> {
    let view = HostView::new(host);
    let mut sorted: Vec<&FilesystemSpec> = fss.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    // Every archive and target is checked before the first one is extracted, so a missing
    // archive leaves the filesystems as they were.
    let mut checked = Vec::with_capacity(sorted.len());
    for fs in sorted {
        driver_of(fs).validate(fs)?;
        let archive = archive_path(dir, fs);
        if host.path_kind(&archive)?.is_none() {
            return Err(HostError::Missing {
                what: "archive",
                path: archive,
            });
        }
        let state = driver_of(fs).probe(&view, fs)?;
        let target = state.require_dir(fs)?;
        checked.push((fs, archive, state.exists, target));
    }
    for (fs, archive, exists, target) in checked {
        if !exists {
            driver_of(fs).create(host, fs)?;
        }
        host.run(&tar(vec![
            "-xzf".into(),
            path_str(&archive),
            "--numeric-owner".into(),
            "-C".into(),
            path_str(&target),
        ]))?;
    }
    Ok(())
}

/// Checks an ssh host before anything runs: not empty, no leading `-` (ssh would read it as an
/// option), no whitespace or control characters. `user@host` and ssh config aliases pass;
/// ports and options belong in `~/.ssh/config`.
pub fn ssh_host(what: &str, host: &str) -> Result<(), HostError> {
    let reason = if host.is_empty() {
        "it is empty; give a host name or an ssh config alias"
    } else if host.starts_with('-') {
        "it starts with `-`, which ssh would read as an option"
    } else if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "it contains whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(HostError::Invalid {
        what: what.to_string(),
        value: host.escape_debug().to_string(),
        reason: reason.to_string(),
    })
}

/// `ssh -- HOST 'WORDS...'`: runs `words` on `host`. ssh joins its command words with spaces
/// into one string that the remote login shell parses, so the remote command is sent as one
/// string with every word shell-quoted (`shlex`), and `--` ends ssh's options before the host,
/// which is checked with [`ssh_host`] too.
pub fn ssh_command(host: &str, words: &[String]) -> Result<HostCommand, HostError> {
    ssh_host("ssh host", host)?;
    let remote =
        shlex::try_join(words.iter().map(String::as_str)).map_err(|e| HostError::Invalid {
            what: "remote command".into(),
            value: words.join(" ").escape_debug().to_string(),
            reason: format!("it cannot be quoted for the remote shell: {e}"),
        })?;
    Ok(HostCommand::plain(
        "ssh",
        vec!["--".to_string(), host.to_string(), remote],
    ))
}

/// `zfs ARGS` here, or `ssh -- HOST 'sudo zfs ARGS'` on `host` (see [`ssh_command`]).
fn zfs_on(host: Option<&str>, args: Vec<String>) -> Result<HostCommand, HostError> {
    let Some(host) = host else {
        return Ok(HostCommand::privileged("zfs", args));
    };
    let mut words = vec!["sudo".to_string(), "zfs".to_string()];
    words.extend(args);
    ssh_command(host, &words)
}

/// Copies each `from[i]@snapshot` to `to[i]` with `zfs send | zfs receive`, each side run
/// through `ssh HOST` when [`CopyOptions`] names a host. ZFS only. Returns `from@snap -> to`.
pub fn copy_filesystems(
    host: &dyn HostRunner,
    from: &[FilesystemSpec],
    to: &[FilesystemSpec],
    options: &CopyOptions,
) -> Result<Vec<String>, HostError> {
    validate::snapshot_name(&options.snapshot)?;
    if let Some(host) = &options.from_host {
        ssh_host("source ssh host", host)?;
    }
    if let Some(host) = &options.to_host {
        ssh_host("target ssh host", host)?;
    }
    if from.len() != to.len() {
        return Err(HostError::Mismatch {
            reason: format!("{} source and {} target filesystems", from.len(), to.len()),
        });
    }
    for fs in from.iter().chain(to) {
        if fs.kind != FsKind::Zfs {
            return Err(HostError::Unsupported {
                operation: "copy-filesystems",
                kind: fs.kind,
                id: fs.id.clone(),
                hint: "only zfs filesystems can be sent; copy the directory instead",
            });
        }
        driver_of(fs).validate(fs)?;
    }
    // Every command is built (and quoted) before the first one runs.
    let mut copies = Vec::with_capacity(from.len());
    for (source, target) in from.iter().zip(to) {
        let name = format!("{}@{}", source.path, options.snapshot);
        let send = zfs_on(
            options.from_host.as_deref(),
            vec!["send".into(), name.clone()],
        )?;
        let receive = zfs_on(
            options.to_host.as_deref(),
            vec!["receive".into(), target.path.clone()],
        )?;
        copies.push((send, receive, format!("{name} -> {}", target.path)));
    }
    let mut done = Vec::new();
    for (send, receive, line) in copies {
        host.run_pipeline(&[send, receive])?;
        done.push(line);
    }
    Ok(done)
}

/// Where the files of an instance's root filesystem are on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootfsLocation {
    /// A directory (`dir` storage pools): the instance's `rootfs` directory.
    Dir(PathBuf),
    /// A ZFS dataset holding `rootfs/` (`zfs` storage pools); mounted read-only while needed.
    ZfsDataset(String),
}

impl fmt::Display for RootfsLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootfsLocation::Dir(dir) => write!(f, "{}", dir.display()),
            RootfsLocation::ZfsDataset(dataset) => write!(f, "{dataset}:/rootfs"),
        }
    }
}

/// One directory of an instance's root filesystem to copy into a device directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsCopy {
    /// The directory inside the instance, absolute (a device's `path`, e.g. `/etc`).
    pub path: String,
    /// The device directory it is copied into.
    pub to: PathBuf,
}

/// For each copy whose `path` is a directory in the root filesystem: copies it into `to` like
/// `rsync -a path/ to/` and then shifts the ids of `to` by `shift` (see [`shiftids`]); a path
/// that is not a directory there is skipped. Returns one line per copy, saying what was done.
pub fn copy_from_rootfs(
    host: &dyn HostRunner,
    rootfs: &RootfsLocation,
    copies: &[RootfsCopy],
    shift: Owner,
) -> Result<Vec<String>, HostError> {
    for copy in copies {
        let what = format!("device path `{}`", copy.path);
        if !copy.path.starts_with('/') {
            return Err(HostError::Invalid {
                what,
                value: copy.path.clone(),
                reason: "it must be absolute".into(),
            });
        }
        validate::no_parent_components(&what, &copy.path)?;
        validate::absolute_dir("device directory", &copy.to)?;
    }
    let mut lines = Vec::new();
    let mut copy_all = |root: &Path| -> Result<(), HostError> {
        for copy in copies {
            let from = root.join(copy.path.trim_start_matches('/'));
            if host.path_kind(&from)? != Some(PathKind::Dir) {
                lines.push(format!("skip {}: not a directory in the image", copy.path));
                continue;
            }
            host.copy_tree(&from, &copy.to)?;
            host.shift_ids(&copy.to, shift)?;
            lines.push(format!(
                "copied {} -> {} (ids shifted by {shift})",
                copy.path,
                copy.to.display()
            ));
        }
        Ok(())
    };
    match rootfs {
        RootfsLocation::Dir(dir) => copy_all(dir)?,
        RootfsLocation::ZfsDataset(dataset) => {
            super::zfs::with_dataset_mounted(host, dataset, &mut |dir| {
                copy_all(&dir.join("rootfs"))
            })?
        }
    }
    Ok(lines)
}

/// Adds `shift.uid` to every uid below it and `shift.gid` to every gid below it in the tree
/// `dir` (root included, symlinks skipped), like `lxops shiftids -u UID -g GID`.
pub fn shiftids(host: &dyn HostRunner, dir: &Path, shift: Owner) -> Result<(), HostError> {
    validate::absolute_dir("shiftids directory", dir)?;
    host.shift_ids(dir, shift)
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
