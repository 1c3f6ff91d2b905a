//! Whole trees (or single files) in and out of an instance: `instance push|pull [-r]`.
//!
//! A transfer is planned first ([`plan_push`], [`plan_pull`]): the source tree is read (the
//! local one without following its symlinks; the instance's one through `HEAD` and directory
//! listings), and what already exists at the destination is checked, so that every refusal
//! comes before the first change. [`TreePlan::lines`] are the step lines: `--dry-run` prints
//! them, and [`execute`] prints the same lines as it does each step: directories first (a
//! level at a time, parents before children), then files (up to [`TRANSFER_JOBS`] at once,
//! lines in plan order; a push writes the files it found absent with
//! `InstanceServer::write_new_file`), then symlinks. An existing file is overwritten, an
//! existing directory keeps its mode and owner, an existing symlink is replaced by the tree's.
//! A transfer cut short is finished by running it again.
//!
//! Safety: an instance path may not contain `..`; names the daemon lists must be plain names
//! (no `/`, `.`, `..`, no duplicates), so no entry leaves the destination. Symlinks are
//! copied as symlinks, never followed: on a pull they are created last, and a local path
//! that is already a symlink where the tree has a file or directory is refused (as is the
//! same in the instance on a push), so no write goes through a symlink.
//!
//! What the files API keeps (LXD 5.0.2, Incus 6.0.4): permission bits `0777` (set-id and
//! sticky bits are dropped: [`TreePlan::warnings`] names such entries), owners of files and
//! directories; symlinks are created owned by root. A symlink read from an instance comes
//! back with its target made absolute (`../lib` from `/opt/x` reads as `/opt/lib`): a target
//! inside the pulled tree is written relative again, one outside it stays absolute.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::host::tree as local;
pub use crate::host::tree::{EntryKind, TreeEntry};
use crate::host::HostError;
use crate::lifecycle::Progress;
use crate::server::{DirCreate, FileKind, FileWrite, InstanceServer, ServerError, SymlinkCreate};

/// How many files a transfer sends or fetches at once.
pub const TRANSFER_JOBS: usize = 8;

/// Why a transfer was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Bad input, found before anything changed.
    #[error("refusing to {verb} {path}: {reason}")]
    Refused {
        /// "push" or "pull".
        verb: &'static str,
        /// The path (local, or `instance:path`).
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// Local filesystem work failed or was refused.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A request to the server failed.
    #[error("{instance}: {step}: {source}")]
    Server {
        /// The instance.
        instance: String,
        /// What was being done.
        step: String,
        /// Why (boxed: it carries the request and the daemon's message).
        #[source]
        source: Box<ServerError>,
    },
    /// A blocking task could not finish (a bug or a shutdown).
    #[error("{0}")]
    Internal(String),
}

impl TreeError {
    /// Whether this is bad input found before anything changed (exit status 2).
    pub fn is_input(&self) -> bool {
        match self {
            TreeError::Refused { .. } | TreeError::Host(HostError::Invalid { .. }) => true,
            TreeError::Server { source, .. } => matches!(
                **source,
                ServerError::Remote { .. } | ServerError::MissingProject { .. }
            ),
            _ => false,
        }
    }
}

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Local to instance.
    Push,
    /// Instance to local.
    Pull,
}

impl Direction {
    fn verb(self) -> &'static str {
        match self {
            Direction::Push => "push",
            Direction::Pull => "pull",
        }
    }
}

/// A checked transfer: what is copied where, in order.
#[derive(Debug, Clone)]
pub struct TreePlan {
    /// Push or pull.
    pub direction: Direction,
    /// The instance.
    pub instance: String,
    /// The local top (the source of a push, the destination of a pull).
    pub local: PathBuf,
    /// The top inside the instance (the destination of a push, the source of a pull).
    pub remote: String,
    /// Every entry, parents before children, names sorted.
    pub entries: Vec<TreeEntry>,
    /// Entries (relative paths) whose destination is an existing symlink that is replaced.
    pub replace: BTreeSet<String>,
    /// Pull: whether owners are set (only root can).
    pub owners: bool,
    /// Push: whether the local top is a symlink the user named (read through it).
    follow_top: bool,
    /// Push: the entries that exist in the instance already (the others are written as new
    /// files, without looking first).
    existing: BTreeSet<String>,
}

impl TreePlan {
    fn local_path(&self, rel: &str) -> PathBuf {
        local::join_rel(&self.local, rel)
    }

    fn remote_path(&self, rel: &str) -> String {
        remote_join(&self.remote, rel)
    }

    /// The entries in execution order: directories (by depth), files, symlinks.
    /// Directories come a level at a time (a push creates each level's directories at once),
    /// files and symlinks in tree order.
    fn ordered(&self) -> impl Iterator<Item = &TreeEntry> {
        let phase = |e: &&TreeEntry| match e.kind {
            EntryKind::Dir => (0, depth(&e.rel)),
            EntryKind::File { .. } => (1, 0),
            EntryKind::Symlink { .. } => (2, 0),
        };
        let mut entries: Vec<&TreeEntry> = self.entries.iter().collect();
        entries.sort_by_key(phase);
        entries.into_iter()
    }

    /// The step line of one entry (what the dry run prints and the run prints when done).
    /// Control characters in names and targets (which the instance chooses) are escaped.
    pub fn line(&self, entry: &TreeEntry) -> String {
        crate::input::escape_controls(&self.raw_line(entry)).into_owned()
    }

    fn raw_line(&self, entry: &TreeEntry) -> String {
        let remote = format!("{}:{}", self.instance, self.remote_path(&entry.rel));
        let local = self.local_path(&entry.rel).display().to_string();
        let (from, to) = match self.direction {
            Direction::Push => (local, remote),
            Direction::Pull => (remote, local),
        };
        let attrs = format!("mode={:04o} owner={}:{}", entry.mode, entry.uid, entry.gid);
        match &entry.kind {
            EntryKind::Dir => format!("mkdir {to} {attrs}"),
            EntryKind::File { .. } => {
                format!("{} {from} -> {to} {attrs}", self.direction.verb())
            }
            EntryKind::Symlink { target } => {
                let replacing = if self.replace.contains(&entry.rel) {
                    " (replacing a symlink)"
                } else {
                    ""
                };
                format!("symlink {to} -> {target}{replacing}")
            }
        }
    }

    /// Every step line, in execution order.
    pub fn lines(&self) -> Vec<String> {
        self.ordered().map(|e| self.line(e)).collect()
    }

    /// What the transfer cannot keep, one line each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.direction == Direction::Push {
            for entry in &self.entries {
                if entry.mode & 0o7000 != 0 && !matches!(entry.kind, EntryKind::Symlink { .. }) {
                    warnings.push(format!(
                        "{}: mode {:04o}: the files API keeps only the permission bits \
                         (0777), not set-id and sticky bits; set them with `chmod` in the \
                         instance",
                        self.local_path(&entry.rel).display(),
                        entry.mode
                    ));
                }
            }
        } else if !self.owners && !self.entries.is_empty() {
            warnings.push(
                "not running as root: pulled files are owned by you, not by their owners in \
                 the instance"
                    .to_string(),
            );
        }
        warnings
    }

    /// Gives every entry of a push the owner `uid`/`gid` and every file the mode `mode`, where
    /// they are given (`push --uid --gid --mode`).
    pub fn override_attributes(&mut self, uid: Option<u32>, gid: Option<u32>, mode: Option<u32>) {
        for entry in &mut self.entries {
            if matches!(entry.kind, EntryKind::Symlink { .. }) {
                continue;
            }
            entry.uid = uid.unwrap_or(entry.uid);
            entry.gid = gid.unwrap_or(entry.gid);
            if matches!(entry.kind, EntryKind::File { .. }) {
                entry.mode = mode.unwrap_or(entry.mode);
            }
        }
    }

    /// How many entries of each kind: (directories, files, symlinks).
    pub fn counts(&self) -> (usize, usize, usize) {
        self.entries
            .iter()
            .fold((0, 0, 0), |(d, f, s), e| match e.kind {
                EntryKind::Dir => (d + 1, f, s),
                EntryKind::File { .. } => (d, f + 1, s),
                EntryKind::Symlink { .. } => (d, f, s + 1),
            })
    }
}

impl fmt::Display for TreePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// An absolute instance path without `.`, empty components or a trailing `/`; `..` is refused.
pub fn normalize_remote(
    verb: &'static str,
    instance: &str,
    path: &str,
) -> Result<String, TreeError> {
    let refuse = |reason: &str| TreeError::Refused {
        verb,
        path: format!("{instance}:{path}"),
        reason: reason.to_string(),
    };
    if !path.starts_with('/') {
        return Err(refuse("the instance path must be absolute (start with /)"));
    }
    if path.contains('\0') {
        return Err(refuse("the path contains a NUL character"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(refuse(
                    "the path contains `..`: name the directory directly",
                ))
            }
            name => parts.push(name),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

fn remote_join(top: &str, rel: &str) -> String {
    match (top, rel) {
        (top, "") => top.to_string(),
        ("/", rel) => format!("/{rel}"),
        (top, rel) => format!("{top}/{rel}"),
    }
}

fn remote_parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn remote_name(path: &str) -> Option<&str> {
    path.rsplit('/').next().filter(|n| !n.is_empty())
}

/// A name a daemon listed, checked: it must stay inside its directory.
fn check_name(instance: &str, dir: &str, name: &str) -> Result<(), TreeError> {
    let bad =
        name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0');
    if bad {
        return Err(TreeError::Refused {
            verb: "pull",
            path: format!("{instance}:{dir}"),
            reason: format!(
                "the server lists an entry named {name:?}, which would leave the directory; \
                 nothing was written"
            ),
        });
    }
    Ok(())
}

/// How deep below the top an entry is (0 for the top).
fn depth(rel: &str) -> usize {
    if rel.is_empty() {
        0
    } else {
        rel.matches('/').count() + 1
    }
}

fn parent_rel(rel: &str) -> &str {
    rel.rfind('/').map_or("", |i| &rel[..i])
}

fn sort_entries(entries: &mut [TreeEntry]) {
    entries.sort_by(|a, b| {
        let key = |e: &TreeEntry| -> Vec<String> {
            if e.rel.is_empty() {
                Vec::new()
            } else {
                e.rel.split('/').map(str::to_string).collect()
            }
        };
        key(a).cmp(&key(b))
    });
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HostError> + Send + 'static,
) -> Result<T, TreeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TreeError::Internal(format!("local file work stopped: {e}")))?
        .map_err(TreeError::from)
}

fn server_err(instance: &str, step: String) -> impl FnOnce(ServerError) -> TreeError + '_ {
    move |source| TreeError::Server {
        instance: instance.to_string(),
        step,
        source: Box::new(source),
    }
}

fn kind_of(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Directory => "directory",
        FileKind::File => "file",
        FileKind::Symlink => "symlink",
    }
}

/// Plans `push [-r] LOCAL INSTANCE:DEST`. A `DEST` that is a directory receives the source
/// under its own name; otherwise `DEST` is the new name (its parent must exist), as `cp` does.
pub async fn plan_push(
    server: &dyn InstanceServer,
    instance: &str,
    source: &Path,
    dest: &str,
    recursive: bool,
) -> Result<TreePlan, TreeError> {
    let dest = normalize_remote("push", instance, dest)?;
    let top = source.to_path_buf();
    let (entries, follow_top, name) = blocking(move || {
        let entries = local::scan_local(&top, recursive)?;
        let follow_top = std::fs::symlink_metadata(&top)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        let name = local::local_name(&top)?;
        Ok((entries, follow_top, name))
    })
    .await?;
    let is_dir = entries.first().is_some_and(|e| e.kind == EntryKind::Dir);
    let refuse = |path: &str, reason: String| TreeError::Refused {
        verb: "push",
        path: format!("{instance}:{path}"),
        reason,
    };
    let info = |path: String| async move {
        server
            .file_info(instance, &path)
            .await
            .map_err(server_err(instance, format!("inspecting {path}")))
    };
    let remote = match info(dest.clone()).await? {
        Some(i) if i.kind == FileKind::Directory => remote_join(&dest, &name),
        Some(i) if i.kind == FileKind::Symlink => {
            return Err(refuse(
                &dest,
                "is a symlink: name the directory it points to".into(),
            ))
        }
        Some(_) if is_dir => {
            return Err(refuse(
                &dest,
                "is a file, and the source is a directory".into(),
            ))
        }
        Some(_) => dest.clone(),
        None => {
            let parent = remote_parent(&dest).to_string();
            match info(parent.clone()).await? {
                Some(i) if i.kind == FileKind::Directory => dest.clone(),
                _ => {
                    return Err(refuse(
                        &parent,
                        "is not an existing directory: create it first".into(),
                    ))
                }
            }
        }
    };
    let mut plan = TreePlan {
        direction: Direction::Push,
        instance: instance.to_string(),
        local: source.to_path_buf(),
        remote,
        entries,
        replace: BTreeSet::new(),
        owners: true,
        follow_top,
        existing: BTreeSet::new(),
    };
    (plan.replace, plan.existing) = check_remote_destination(server, &plan).await?;
    Ok(plan)
}

/// Checks what already exists in the instance where a push writes, walking only the parts
/// that exist: the same kind is fine (files are overwritten, existing directories kept), an
/// existing symlink is replaced by a symlink of the tree, anything else is refused (a
/// symlink where the tree has a file or directory: the daemon would write through it).
async fn check_remote_destination(
    server: &dyn InstanceServer,
    plan: &TreePlan,
) -> Result<(BTreeSet<String>, BTreeSet<String>), TreeError> {
    let mut children: BTreeMap<&str, Vec<&TreeEntry>> = BTreeMap::new();
    for entry in plan.entries.iter().filter(|e| !e.rel.is_empty()) {
        children
            .entry(parent_rel(&entry.rel))
            .or_default()
            .push(entry);
    }
    let (mut replace, mut existing) = (BTreeSet::new(), BTreeSet::new());
    let mut level: Vec<&TreeEntry> = plan.entries.first().into_iter().collect();
    // A level of existing entries at a time, up to TRANSFER_JOBS requests at once.
    while !level.is_empty() {
        let checked: Vec<(Found, &TreeEntry, Vec<&TreeEntry>)> = stream::iter(level)
            .map(|entry| check_remote_entry(server, plan, entry, &children))
            .buffered(TRANSFER_JOBS)
            .try_collect()
            .await?;
        level = Vec::new();
        for (found, entry, next) in checked {
            match found {
                Found::Absent => {}
                Found::Same => {
                    existing.insert(entry.rel.clone());
                }
                Found::Symlink => {
                    existing.insert(entry.rel.clone());
                    replace.insert(entry.rel.clone());
                }
            }
            level.extend(next);
        }
    }
    Ok((replace, existing))
}

/// What a push found in the instance where an entry goes.
enum Found {
    /// Nothing.
    Absent,
    /// The same kind (a file is overwritten, a directory kept).
    Same,
    /// A symlink, which the tree's symlink replaces.
    Symlink,
}

/// Checks one planned entry against what the instance has there, and gives the children to
/// check next (those of a directory that exists on both sides).
async fn check_remote_entry<'a>(
    server: &dyn InstanceServer,
    plan: &TreePlan,
    entry: &'a TreeEntry,
    children: &BTreeMap<&str, Vec<&'a TreeEntry>>,
) -> Result<(Found, &'a TreeEntry, Vec<&'a TreeEntry>), TreeError> {
    let instance = plan.instance.as_str();
    let path = plan.remote_path(&entry.rel);
    let existing = server
        .file_info(instance, &path)
        .await
        .map_err(server_err(instance, format!("inspecting {path}")))?;
    let Some(existing) = existing else {
        return Ok((Found::Absent, entry, Vec::new()));
    };
    let refuse = |reason: String| TreeError::Refused {
        verb: "push",
        path: format!("{instance}:{path}"),
        reason,
    };
    match (&entry.kind, existing.kind) {
        (EntryKind::Symlink { .. }, FileKind::Symlink) => Ok((Found::Symlink, entry, Vec::new())),
        (_, FileKind::Symlink) => Err(refuse(format!(
            "is a symlink where the tree has a {}; lxops never writes through a symlink: \
             remove it in the instance or push elsewhere",
            entry.kind.noun()
        ))),
        (EntryKind::File { .. }, FileKind::File) => Ok((Found::Same, entry, Vec::new())),
        (EntryKind::Dir, FileKind::Directory) => {
            let names: BTreeSet<String> = server
                .list_dir(instance, &path)
                .await
                .map_err(server_err(instance, format!("listing {path}")))?
                .into_iter()
                .collect();
            let next = children
                .get(entry.rel.as_str())
                .into_iter()
                .flatten()
                .filter(|child| names.contains(child.rel.rsplit('/').next().unwrap_or_default()))
                .copied()
                .collect();
            Ok((Found::Same, entry, next))
        }
        (kind, existing) => Err(refuse(format!(
            "is a {} where the tree has a {}: move it away or push elsewhere",
            kind_of(existing),
            kind.noun()
        ))),
    }
}

/// Plans `pull [-r] INSTANCE:SOURCE LOCAL`. A `LOCAL` that is a directory receives the source
/// under its own name; otherwise `LOCAL` is the new name (its parent must exist).
pub async fn plan_pull(
    server: &dyn InstanceServer,
    instance: &str,
    source: &str,
    dest: &Path,
    recursive: bool,
) -> Result<TreePlan, TreeError> {
    let source = normalize_remote("pull", instance, source)?;
    let refuse = |path: &str, reason: String| TreeError::Refused {
        verb: "pull",
        path: format!("{instance}:{path}"),
        reason,
    };
    let top = server
        .file_info(instance, &source)
        .await
        .map_err(server_err(instance, format!("inspecting {source}")))?
        .ok_or_else(|| refuse(&source, "does not exist in the instance".into()))?;
    let top_kind = match top.kind {
        FileKind::Directory if !recursive => {
            return Err(refuse(
                &source,
                "is a directory: use -r to pull a whole tree".into(),
            ))
        }
        FileKind::Directory => EntryKind::Dir,
        FileKind::File => EntryKind::File { size: None },
        FileKind::Symlink => {
            return Err(refuse(
                &source,
                "is a symlink: name the file or directory it points to".into(),
            ))
        }
    };
    let Some(name) = remote_name(&source).map(str::to_string) else {
        return Err(refuse(&source, "name a directory below /".into()));
    };
    let mut entries = vec![TreeEntry {
        rel: String::new(),
        kind: top_kind,
        mode: top.mode,
        uid: top.uid,
        gid: top.gid,
    }];
    if entries[0].kind == EntryKind::Dir {
        walk_remote(server, instance, &source, &mut entries).await?;
    }
    sort_entries(&mut entries);
    let dest_path = dest.to_path_buf();
    let is_dir = entries[0].kind == EntryKind::Dir;
    let local_top = blocking(move || match std::fs::metadata(&dest_path) {
        Ok(m) if m.is_dir() => Ok(dest_path.join(&name)),
        Ok(_) if is_dir => Err(HostError::Invalid {
            what: "local path".into(),
            value: dest_path.display().to_string(),
            reason: "is a file, and the source is a directory".into(),
        }),
        Ok(_) => Ok(dest_path),
        Err(_) => {
            let parent = match dest_path.parent() {
                Some(p) if p.as_os_str().is_empty() => Path::new("."),
                Some(p) => p,
                None => Path::new("/"),
            };
            if std::fs::metadata(parent).is_ok_and(|m| m.is_dir()) {
                Ok(dest_path)
            } else {
                Err(HostError::Invalid {
                    what: "local path".into(),
                    value: parent.display().to_string(),
                    reason: "is not an existing directory: create it first".into(),
                })
            }
        }
    })
    .await?;
    let mut plan = TreePlan {
        direction: Direction::Pull,
        instance: instance.to_string(),
        local: local_top,
        remote: source,
        entries,
        replace: BTreeSet::new(),
        owners: local::running_as_root(),
        follow_top: false,
        existing: BTreeSet::new(),
    };
    let (top, entries) = (plan.local.clone(), plan.entries.clone());
    let replace = blocking(move || local::check_local_destination(&top, &entries)).await?;
    plan.replace = plan
        .entries
        .iter()
        .filter(|e| replace.contains(&plan.local_path(&e.rel)))
        .map(|e| e.rel.clone())
        .collect();
    Ok(plan)
}

/// Reads the instance's tree below `top`, a directory level at a time, up to
/// [`TRANSFER_JOBS`] requests at once. Every listed name is checked before it is used.
async fn walk_remote(
    server: &dyn InstanceServer,
    instance: &str,
    top: &str,
    entries: &mut Vec<TreeEntry>,
) -> Result<(), TreeError> {
    let mut level = vec![String::new()];
    while !level.is_empty() {
        let listings: Vec<(String, Vec<String>)> = stream::iter(level.iter())
            .map(|rel| async move {
                let path = remote_join(top, rel);
                let names = server
                    .list_dir(instance, &path)
                    .await
                    .map_err(server_err(instance, format!("listing {path}")))?;
                let mut seen = BTreeSet::new();
                for name in &names {
                    check_name(instance, &path, name)?;
                    if !seen.insert(name.as_str()) {
                        return Err(TreeError::Refused {
                            verb: "pull",
                            path: format!("{instance}:{path}"),
                            reason: format!("the server lists {name:?} twice; nothing was written"),
                        });
                    }
                }
                Ok::<_, TreeError>((rel.clone(), names))
            })
            .buffered(TRANSFER_JOBS)
            .try_collect()
            .await?;
        let children: Vec<String> = listings
            .iter()
            .flat_map(|(rel, names)| {
                names.iter().map(move |name| {
                    if rel.is_empty() {
                        name.clone()
                    } else {
                        format!("{rel}/{name}")
                    }
                })
            })
            .collect();
        let found: Vec<TreeEntry> = stream::iter(children)
            .map(|rel| async move { read_remote_entry(server, instance, top, rel).await })
            .buffered(TRANSFER_JOBS)
            .try_collect()
            .await?;
        level = found
            .iter()
            .filter(|e| e.kind == EntryKind::Dir)
            .map(|e| e.rel.clone())
            .collect();
        entries.extend(found);
    }
    Ok(())
}

async fn read_remote_entry(
    server: &dyn InstanceServer,
    instance: &str,
    top: &str,
    rel: String,
) -> Result<TreeEntry, TreeError> {
    let path = remote_join(top, &rel);
    let info = server
        .file_info(instance, &path)
        .await
        .map_err(server_err(instance, format!("inspecting {path}")))?
        .ok_or_else(|| TreeError::Server {
            instance: instance.to_string(),
            step: format!("inspecting {path}"),
            source: Box::new(ServerError::NotFound {
                what: format!("{path} (listed, then gone: the tree changed while pulling)"),
            }),
        })?;
    let kind = match info.kind {
        FileKind::Directory => EntryKind::Dir,
        FileKind::File => EntryKind::File { size: None },
        FileKind::Symlink => {
            let link = server
                .read_file(instance, &path)
                .await
                .map_err(server_err(instance, format!("reading symlink {path}")))?
                .filter(|f| f.kind == FileKind::Symlink)
                .ok_or_else(|| TreeError::Server {
                    instance: instance.to_string(),
                    step: format!("reading symlink {path}"),
                    source: Box::new(ServerError::NotFound {
                        what: format!("symlink {path} (the tree changed while pulling)"),
                    }),
                })?;
            let target = String::from_utf8(link.content).map_err(|_| TreeError::Refused {
                verb: "pull",
                path: format!("{instance}:{path}"),
                reason: "the symlink target is not UTF-8".into(),
            })?;
            EntryKind::Symlink {
                target: relative_target(top, &path, &target),
            }
        }
    };
    Ok(TreeEntry {
        rel,
        kind,
        mode: info.mode,
        uid: info.uid,
        gid: info.gid,
    })
}

/// Both daemons answer a symlink's target made absolute (lexically, from the link's
/// directory). A target inside the pulled tree `top` is made relative to the link again, so
/// the copy's links point into the copy; others stay as the daemon gave them.
fn relative_target(top: &str, link: &str, target: &str) -> String {
    let inside = |p: &str| top == "/" || p == top || p.starts_with(&format!("{top}/"));
    if !target.starts_with('/') || !inside(target) || target == top {
        return target.to_string();
    }
    let from: Vec<&str> = remote_parent(link)
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let to: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Carries out a plan, reporting each step's line when it is done.
pub async fn execute(
    server: Arc<dyn InstanceServer>,
    plan: &TreePlan,
    progress: &mut dyn Progress,
) -> Result<(), TreeError> {
    match plan.direction {
        Direction::Push => execute_push(server.as_ref(), plan, progress).await,
        Direction::Pull => execute_pull(server.as_ref(), plan, progress).await,
    }
}

async fn execute_push(
    server: &dyn InstanceServer,
    plan: &TreePlan,
    progress: &mut dyn Progress,
) -> Result<(), TreeError> {
    let instance = plan.instance.as_str();
    let (dirs, rest): (Vec<&TreeEntry>, Vec<&TreeEntry>) =
        plan.ordered().partition(|e| e.kind == EntryKind::Dir);
    // A level's directories at once: their parents were made before them.
    let mut start = 0;
    while start < dirs.len() {
        let level = depth(&dirs[start].rel);
        let end = dirs[start..]
            .iter()
            .position(|e| depth(&e.rel) != level)
            .map_or(dirs.len(), |n| start + n);
        let mut made = stream::iter(&dirs[start..end])
            .map(|entry| async move {
                let path = plan.remote_path(&entry.rel);
                let dir = DirCreate {
                    path: path.clone(),
                    mode: Some(entry.mode & 0o777),
                    uid: Some(entry.uid),
                    gid: Some(entry.gid),
                };
                server
                    .make_dir(instance, &dir)
                    .await
                    .map_err(server_err(instance, format!("creating directory {path}")))?;
                Ok::<_, TreeError>(*entry)
            })
            .buffered(TRANSFER_JOBS);
        while let Some(entry) = made.next().await {
            progress.step(&plan.line(entry?));
        }
        start = end;
    }
    let (files, links): (Vec<&TreeEntry>, Vec<&TreeEntry>) = rest
        .into_iter()
        .partition(|e| matches!(e.kind, EntryKind::File { .. }));
    let mut sent = stream::iter(files)
        .map(|entry| async move {
            let local_path = plan.local_path(&entry.rel);
            let follow = entry.rel.is_empty() && plan.follow_top;
            let content = blocking(move || local::read_local_file(&local_path, follow)).await?;
            let path = plan.remote_path(&entry.rel);
            let file = FileWrite {
                path: path.clone(),
                content,
                mode: Some(entry.mode & 0o777),
                uid: Some(entry.uid),
                gid: Some(entry.gid),
                append: false,
            };
            let written = if plan.existing.contains(&entry.rel) {
                server.write_file(instance, &file).await
            } else {
                server.write_new_file(instance, &file).await
            };
            written.map_err(server_err(instance, format!("writing {path}")))?;
            Ok::<_, TreeError>(entry)
        })
        .buffered(TRANSFER_JOBS);
    while let Some(entry) = sent.next().await {
        progress.step(&plan.line(entry?));
    }
    for entry in links {
        let EntryKind::Symlink { target } = &entry.kind else {
            continue;
        };
        let path = plan.remote_path(&entry.rel);
        if plan.replace.contains(&entry.rel) {
            // Checked in the plan: what is there is a symlink the tree replaces.
            server
                .delete_file(instance, &path)
                .await
                .map_err(server_err(instance, format!("replacing symlink {path}")))?;
        }
        let link = SymlinkCreate {
            path: path.clone(),
            target: target.clone(),
        };
        server
            .make_symlink(instance, &link)
            .await
            .map_err(server_err(instance, format!("creating symlink {path}")))?;
        progress.step(&plan.line(entry));
    }
    Ok(())
}

async fn execute_pull(
    server: &dyn InstanceServer,
    plan: &TreePlan,
    progress: &mut dyn Progress,
) -> Result<(), TreeError> {
    let instance = plan.instance.as_str();
    for entry in plan.ordered().filter(|e| e.kind == EntryKind::Dir) {
        let path = plan.local_path(&entry.rel);
        blocking(move || local::make_local_dir(&path)).await?;
        progress.step(&plan.line(entry));
    }
    let files = plan
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }));
    let mut fetched = stream::iter(files)
        .map(|entry| async move {
            let path = plan.remote_path(&entry.rel);
            let file = server
                .read_file(instance, &path)
                .await
                .map_err(server_err(instance, format!("reading {path}")))?
                .filter(|f| f.kind == FileKind::File)
                .ok_or_else(|| TreeError::Server {
                    instance: instance.to_string(),
                    step: format!("reading {path}"),
                    source: Box::new(ServerError::NotFound {
                        what: format!("file {path} (the tree changed while pulling)"),
                    }),
                })?;
            let local_path = plan.local_path(&entry.rel);
            let mode = entry.mode;
            blocking(move || local::write_local_file(&local_path, &file.content, mode)).await?;
            Ok::<_, TreeError>(entry)
        })
        .buffered(TRANSFER_JOBS);
    while let Some(entry) = fetched.next().await {
        progress.step(&plan.line(entry?));
    }
    drop(fetched);
    for entry in &plan.entries {
        let EntryKind::Symlink { target } = &entry.kind else {
            continue;
        };
        let path = plan.local_path(&entry.rel);
        let (target, replace) = (target.clone(), plan.replace.contains(&entry.rel));
        blocking(move || local::make_local_symlink(&path, &target, replace)).await?;
        progress.step(&plan.line(entry));
    }
    // Owners, and the directories' own modes, last and deepest first: a directory without
    // write permission could not have received its content.
    let entries: Vec<(PathBuf, TreeEntry)> = plan
        .entries
        .iter()
        .rev()
        .map(|e| (plan.local_path(&e.rel), e.clone()))
        .collect();
    let owners = plan.owners;
    blocking(move || {
        entries
            .iter()
            .try_for_each(|(path, entry)| local::set_local_attributes(path, entry, owners))
    })
    .await
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
