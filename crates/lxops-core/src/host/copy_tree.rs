//! Tree work done in Rust: a copy with `rsync -a` semantics (content, modes, owners, symlinks,
//! timestamps, the top directory included) and the id shift of `shiftids`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use filetime::FileTime;

use super::{HostError, Owner};

/// Copies the content of `from` into the directory `to` (created if missing), like
/// `rsync -a from/ to/`: regular files, directories and symlinks with their modes, owners and
/// modification times; `to` itself gets the mode, owner and times of `from`. Existing files in
/// `to` are overwritten, others are kept. Hard links are copied as separate files (like `-a`
/// without `-H`); device files, fifos and sockets are skipped with a warning.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), HostError> {
    let meta = fs::metadata(from).map_err(|e| HostError::io("read template", from, e))?;
    if !meta.is_dir() {
        return Err(HostError::Missing {
            what: "template directory",
            path: from.to_path_buf(),
        });
    }
    copy_dir(from, to, &meta)
}

fn copy_dir(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<(), HostError> {
    match fs::symlink_metadata(to) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            fs::remove_file(to).map_err(|e| HostError::io("replace", to, e))?;
            fs::create_dir(to).map_err(|e| HostError::io("create directory", to, e))?;
        }
        Err(_) => fs::create_dir(to).map_err(|e| HostError::io("create directory", to, e))?,
    }
    let entries = fs::read_dir(from).map_err(|e| HostError::io("read directory", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| HostError::io("read directory", from, e))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let m = fs::symlink_metadata(&source).map_err(|e| HostError::io("inspect", &source, e))?;
        let file_type = m.file_type();
        if file_type.is_dir() {
            copy_dir(&source, &target, &m)?;
        } else if file_type.is_symlink() {
            copy_symlink(&source, &target, &m)?;
        } else if file_type.is_file() {
            copy_file(&source, &target, &m)?;
        } else {
            tracing::warn!(path = %source.display(), "skipping special file in template copy");
        }
    }
    set_attributes(to, meta)
}

fn copy_file(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<(), HostError> {
    if let Ok(existing) = fs::symlink_metadata(to) {
        if !existing.is_file() {
            remove_any(to, &existing)?;
        }
    }
    fs::copy(from, to).map_err(|e| HostError::io("copy file to", to, e))?;
    set_attributes(to, meta)
}

fn copy_symlink(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<(), HostError> {
    let target = fs::read_link(from).map_err(|e| HostError::io("read symlink", from, e))?;
    if let Ok(existing) = fs::symlink_metadata(to) {
        remove_any(to, &existing)?;
    }
    std::os::unix::fs::symlink(&target, to).map_err(|e| HostError::io("create symlink", to, e))?;
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| HostError::io("change the owner of", to, e))?;
    let mtime = FileTime::from_last_modification_time(meta);
    let atime = FileTime::from_last_access_time(meta);
    filetime::set_symlink_file_times(to, atime, mtime)
        .map_err(|e| HostError::io("set the times of", to, e))
}

fn remove_any(path: &Path, meta: &fs::Metadata) -> Result<(), HostError> {
    let result = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    result.map_err(|e| HostError::io("replace", path, e))
}

/// Owner first (chown clears set-id bits), then mode, then times.
fn set_attributes(path: &Path, meta: &fs::Metadata) -> Result<(), HostError> {
    std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| HostError::io("change the owner of", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|e| HostError::io("change the mode of", path, e))?;
    let mtime = FileTime::from_last_modification_time(meta);
    let atime = FileTime::from_last_access_time(meta);
    filetime::set_file_times(path, atime, mtime)
        .map_err(|e| HostError::io("set the times of", path, e))
}

/// For every entry of the tree (the root included, symlinks skipped): a uid below `shift.uid`
/// gets `shift.uid` added, and a gid below `shift.gid` gets `shift.gid`; other ids stay.
pub(crate) fn shift_ids(dir: &Path, shift: Owner) -> Result<(), HostError> {
    let meta = fs::symlink_metadata(dir).map_err(|e| HostError::io("inspect", dir, e))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let shifted = |id: u32, by: u32| if id < by { id + by } else { id };
    let (uid, gid) = (meta.uid(), meta.gid());
    let (new_uid, new_gid) = (shifted(uid, shift.uid), shifted(gid, shift.gid));
    if new_uid != uid || new_gid != gid {
        // chown clears set-id bits: restore the mode afterwards.
        std::os::unix::fs::chown(dir, Some(new_uid), Some(new_gid))
            .map_err(|e| HostError::io("change the owner of", dir, e))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| HostError::io("change the mode of", dir, e))?;
    }
    if meta.is_dir() {
        let entries = fs::read_dir(dir).map_err(|e| HostError::io("read directory", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| HostError::io("read directory", dir, e))?;
            shift_ids(&entry.path(), shift)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn describe(root: &Path) -> String {
        let mut lines = Vec::new();
        walk(root, root, &mut lines);
        lines.sort();
        lines.join("\n")
    }

    fn walk(root: &Path, path: &Path, lines: &mut Vec<String>) {
        let m = fs::symlink_metadata(path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let kind = if m.file_type().is_symlink() {
            format!("-> {}", fs::read_link(path).unwrap().display())
        } else if m.is_dir() {
            "dir".to_string()
        } else {
            format!("file {:?}", fs::read_to_string(path).unwrap())
        };
        let mode = if m.file_type().is_symlink() {
            String::new()
        } else {
            format!(" {:o}", m.mode() & 0o7777)
        };
        lines.push(format!(
            "/{rel} {kind}{mode} {}:{} t={}",
            m.uid(),
            m.gid(),
            m.mtime()
        ));
        if m.is_dir() && !m.file_type().is_symlink() {
            for e in fs::read_dir(path).unwrap() {
                walk(root, &e.unwrap().path(), lines);
            }
        }
    }

    fn set_time(path: &Path, seconds: i64) {
        let t = FileTime::from_unix_time(seconds, 0);
        filetime::set_symlink_file_times(path, t, t).unwrap();
    }

    #[test]
    fn copy_keeps_content_modes_owners_symlinks_and_times_of_the_whole_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let from = tmp.path().join("template");
        fs::create_dir_all(from.join("etc/sub")).unwrap();
        fs::write(from.join("etc/file"), "hello").unwrap();
        fs::write(from.join("secret"), "s").unwrap();
        symlink("etc/file", from.join("link")).unwrap();
        fs::set_permissions(from.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(from.join("etc/sub"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::set_permissions(&from, fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::chown(from.join("etc/file"), Some(1000), Some(1001)).unwrap();
        std::os::unix::fs::lchown(from.join("link"), Some(1002), Some(1003)).unwrap();
        std::os::unix::fs::chown(&from, Some(2000), Some(2001)).unwrap();
        for (i, p) in ["etc/file", "secret", "link", "etc/sub", "etc", ""]
            .iter()
            .enumerate()
        {
            set_time(&from.join(p), 1_000_000 + i as i64);
        }
        let to = tmp.path().join("device");
        fs::create_dir(&to).unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(describe(&to), describe(&from));
        expect_test::expect![[r#"
            / dir 750 2000:2001 t=1000005
            /etc dir 755 0:0 t=1000004
            /etc/file file "hello" 644 1000:1001 t=1000000
            /etc/sub dir 1777 0:0 t=1000003
            /link -> etc/file 1002:1003 t=1000002
            /secret file "s" 600 0:0 t=1000001"#]]
        .assert_eq(&describe(&to));
    }

    #[test]
    fn copy_of_a_missing_template_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = copy_tree(&tmp.path().join("nope"), &tmp.path().join("to")).unwrap_err();
        assert!(err.to_string().contains("read template"), "{err}");
    }

    #[test]
    fn shift_adds_the_shift_to_ids_below_it_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("low"), "").unwrap();
        fs::write(root.join("high"), "").unwrap();
        symlink("low", root.join("link")).unwrap();
        std::os::unix::fs::chown(root.join("low"), Some(5), Some(6)).unwrap();
        std::os::unix::fs::chown(root.join("high"), Some(1_000_005), Some(7)).unwrap();
        std::os::unix::fs::lchown(root.join("link"), Some(1), Some(1)).unwrap();
        shift_ids(
            &root,
            Owner {
                uid: 1_000_000,
                gid: 1_000_000,
            },
        )
        .unwrap();
        let ids = |p: &str| {
            let m = fs::symlink_metadata(root.join(p)).unwrap();
            (m.uid(), m.gid())
        };
        assert_eq!(ids(""), (1_000_000, 1_000_000));
        assert_eq!(ids("low"), (1_000_005, 1_000_006));
        assert_eq!(ids("high"), (1_000_005, 1_000_007));
        assert_eq!(ids("link"), (1, 1), "symlinks are skipped");
    }
}
