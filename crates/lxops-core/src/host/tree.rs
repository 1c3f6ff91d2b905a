//! The local side of `instance push|pull`: reading a local tree without following its
//! symlinks, checking a local destination before any change, and writing files, directories
//! and symlinks so that no write ever goes through a symlink (files are opened with
//! `O_NOFOLLOW`, and the only symlinks below the destination are the ones the check found
//! and replaces, and the ones written last).

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::HostError;

/// What one entry of a tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file (its size when known: a pull learns it only when it reads the file).
    File {
        /// Bytes, when known.
        size: Option<u64>,
    },
    /// A symbolic link, with its target text (never resolved).
    Symlink {
        /// The target.
        target: String,
    },
}

impl EntryKind {
    /// "directory", "file" or "symlink", for messages.
    pub fn noun(&self) -> &'static str {
        match self {
            EntryKind::Dir => "directory",
            EntryKind::File { .. } => "file",
            EntryKind::Symlink { .. } => "symlink",
        }
    }
}

/// One entry of a tree, relative to the tree's top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path below the top, `/`-separated; empty for the top itself.
    pub rel: String,
    /// Directory, file or symlink.
    pub kind: EntryKind,
    /// Permission bits (with set-id and sticky bits as found).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// `path` joined with a relative entry path (the top itself for an empty one).
pub fn join_rel(top: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        top.to_path_buf()
    } else {
        top.join(rel)
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> HostError {
    HostError::Invalid {
        what: "local path".into(),
        value: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads the local tree at `top`: the top itself (a symlink given as the top is followed:
/// the user named it), then, with `recursive`, every entry below it in pre-order (a directory
/// before its content, names sorted), symlinks as symlinks. Refuses names that are not UTF-8
/// (the files API takes text paths) and special files (devices, fifos, sockets), before
/// anything is sent.
pub fn scan_local(top: &Path, recursive: bool) -> Result<Vec<TreeEntry>, HostError> {
    let meta = fs::metadata(top).map_err(|e| HostError::io("read", top, e))?;
    let mut entries = Vec::new();
    if meta.is_dir() && !recursive {
        return Err(refused(top, "is a directory: use -r to push a whole tree"));
    }
    push_entry(top, String::new(), &meta, &mut entries)?;
    if meta.is_dir() {
        scan_dir(top, "", &mut entries)?;
    }
    Ok(entries)
}

fn push_entry(
    path: &Path,
    rel: String,
    meta: &fs::Metadata,
    entries: &mut Vec<TreeEntry>,
) -> Result<(), HostError> {
    let file_type = meta.file_type();
    let kind = if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_file() {
        EntryKind::File {
            size: Some(meta.len()),
        }
    } else if file_type.is_symlink() {
        let target = fs::read_link(path).map_err(|e| HostError::io("read symlink", path, e))?;
        let target = target.to_str().ok_or_else(|| {
            refused(
                path,
                "has a symlink target that is not UTF-8; the files API takes text",
            )
        })?;
        EntryKind::Symlink {
            target: target.to_string(),
        }
    } else {
        return Err(refused(
            path,
            "is a special file (device, fifo or socket), which the files API cannot create: \
             remove it or push another directory",
        ));
    };
    entries.push(TreeEntry {
        rel,
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    });
    Ok(())
}

fn scan_dir(top: &Path, rel: &str, entries: &mut Vec<TreeEntry>) -> Result<(), HostError> {
    let dir = join_rel(top, rel);
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| HostError::io("read directory", &dir, e))? {
        let entry = entry.map_err(|e| HostError::io("read directory", &dir, e))?;
        let name = entry.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| refused(&entry.path(), "has a name that is not UTF-8; rename it"))?
            .to_string();
        names.push(name);
    }
    names.sort();
    for name in names {
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = top.join(&child_rel);
        let meta = fs::symlink_metadata(&path).map_err(|e| HostError::io("inspect", &path, e))?;
        let is_dir = meta.is_dir();
        push_entry(&path, child_rel.clone(), &meta, entries)?;
        if is_dir {
            scan_dir(top, &child_rel, entries)?;
        }
    }
    Ok(())
}

/// Checks what is already at the local destination of each entry (`top` joined with its
/// path), before any change: nothing, or the same kind. Returns the paths of existing
/// symlinks that a symlink of the tree replaces. Refuses an existing symlink where the tree
/// has a directory or file (writing there would write through it, possibly outside the
/// destination) and any other change of kind.
pub fn check_local_destination(
    top: &Path,
    entries: &[TreeEntry],
) -> Result<Vec<PathBuf>, HostError> {
    let mut replace = Vec::new();
    for entry in entries {
        let path = join_rel(top, &entry.rel);
        let existing = match fs::symlink_metadata(&path) {
            Ok(meta) => meta.file_type(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(HostError::io("inspect", &path, e)),
        };
        match (&entry.kind, existing) {
            (EntryKind::Symlink { .. }, t) if t.is_symlink() => replace.push(path),
            (_, t) if t.is_symlink() => {
                return Err(refused(
                    &path,
                    format!(
                        "is a symlink where the tree has a {}; lxops never writes through a \
                         symlink: remove it or pull into another directory",
                        entry.kind.noun()
                    ),
                ))
            }
            (EntryKind::Dir, t) if t.is_dir() => {}
            (EntryKind::File { .. }, t) if t.is_file() => {}
            (kind, _) => {
                return Err(refused(
                    &path,
                    format!(
                        "exists and is not a {}: move it away or pull into another directory",
                        kind.noun()
                    ),
                ))
            }
        }
    }
    Ok(replace)
}

/// Creates a directory (mode 0700 until [`set_local_attributes`] sets its own: its content is
/// written first); an existing directory is fine.
pub fn make_local_dir(path: &Path) -> Result<(), HostError> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => Ok(()),
            _ => Err(HostError::io("create directory", path, e)),
        },
        Err(e) => Err(HostError::io("create directory", path, e)),
    }
}

/// Writes a regular file, never through a symlink (`O_NOFOLLOW`), with `mode`.
pub fn write_local_file(path: &Path, content: &[u8], mode: u32) -> Result<(), HostError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode & 0o7777)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| HostError::io("write", path, e))?;
    file.write_all(content)
        .map_err(|e| HostError::io("write", path, e))?;
    file.set_permissions(fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| HostError::io("set mode of", path, e))
}

/// Reads a regular file, never through a symlink (`O_NOFOLLOW`; the top of a push may be a
/// symlink the user named, so `follow` allows that one).
pub fn read_local_file(path: &Path, follow: bool) -> Result<Vec<u8>, HostError> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    if !follow {
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options
        .open(path)
        .map_err(|e| HostError::io("read", path, e))?;
    let mut content = Vec::new();
    file.read_to_end(&mut content)
        .map_err(|e| HostError::io("read", path, e))?;
    Ok(content)
}

/// Creates a symlink; with `replace`, an existing symlink at `path` (only a symlink) is
/// removed first.
pub fn make_local_symlink(path: &Path, target: &str, replace: bool) -> Result<(), HostError> {
    if replace {
        if let Ok(meta) = fs::symlink_metadata(path) {
            if meta.file_type().is_symlink() {
                fs::remove_file(path).map_err(|e| HostError::io("replace symlink", path, e))?;
            }
        }
    }
    std::os::unix::fs::symlink(target, path).map_err(|e| HostError::io("create symlink", path, e))
}

/// Sets the mode (not for symlinks) and, with `owner`, the owner (of the link itself for a
/// symlink) of a written entry.
pub fn set_local_attributes(path: &Path, entry: &TreeEntry, owner: bool) -> Result<(), HostError> {
    if owner {
        std::os::unix::fs::lchown(path, Some(entry.uid), Some(entry.gid))
            .map_err(|e| HostError::io("set owner of", path, e))?;
    }
    if !matches!(entry.kind, EntryKind::Symlink { .. }) {
        fs::set_permissions(path, fs::Permissions::from_mode(entry.mode & 0o7777))
            .map_err(|e| HostError::io("set mode of", path, e))?;
    }
    Ok(())
}

/// Whether this process runs as root (and so can give pulled files their owners).
pub fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The name a local source is pushed under: its last component (of the absolute path for
/// `.` or `..`, which push that directory under its own name).
pub fn local_name(path: &Path) -> Result<String, HostError> {
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        return Ok(name.to_string());
    }
    let absolute = fs::canonicalize(path).map_err(|e| HostError::io("resolve", path, e))?;
    absolute
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            refused(
                path,
                "has no UTF-8 name to push it under; push a directory below /",
            )
        })
}
