//! The [`HostRunner`] trait (every piece of host work goes through it) and [`SystemHost`], which
//! does the work: commands are spawned (privileged ones through `sudo` unless we are root), file
//! work is done in Rust.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::copy_tree::{copy_tree, shift_ids};
use super::{HostError, Owner};

/// One command line to run on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCommand {
    /// The program, e.g. `zfs`.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Needs root: run through `sudo` when we are not root.
    pub privileged: bool,
}

impl HostCommand {
    /// A privileged command (`zfs create`, `btrfs subvolume ...`, `tar`).
    pub fn privileged<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        HostCommand {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
            privileged: true,
        }
    }

    /// An unprivileged command (`zfs list`, `ssh`).
    pub fn plain<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        HostCommand {
            privileged: false,
            ..HostCommand::privileged(program, args)
        }
    }

    fn to_command(&self, as_root: bool) -> Command {
        if self.privileged && !as_root {
            let mut command = Command::new("sudo");
            command.arg(&self.program).args(&self.args);
            command
        } else {
            let mut command = Command::new(&self.program);
            command.args(&self.args);
            command
        }
    }
}

impl fmt::Display for HostCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"$\\|".contains(c))
            {
                write!(f, " '{}'", arg.replace('\'', r"'\''"))?;
            } else {
                write!(f, " {arg}")?;
            }
        }
        Ok(())
    }
}

/// What is at a path (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A directory.
    Dir,
    /// Anything else.
    Other,
}

/// Does host work. Object safe: callers take `&dyn HostRunner`.
///
/// Read-only methods ([`HostRunner::query`], [`HostRunner::path_kind`]) always really run;
/// the others change the host (or, in [`super::DryRunHost`], are only recorded).
pub trait HostRunner: Send + Sync {
    /// Runs a read-only command (e.g. `zfs list`) and returns its standard output.
    fn query(&self, command: &HostCommand) -> Result<String, HostError>;
    /// What is at `path`, or `None` when nothing is there.
    fn path_kind(&self, path: &Path) -> Result<Option<PathKind>, HostError>;
    /// The names in directory `path`, sorted.
    fn read_dir(&self, path: &Path) -> Result<Vec<String>, HostError>;
    /// Runs a command that changes the host.
    fn run(&self, command: &HostCommand) -> Result<(), HostError>;
    /// Runs `commands[0] | commands[1] | ...`; fails when any of them fails (the first failure
    /// in pipeline order is reported).
    fn run_pipeline(&self, commands: &[HostCommand]) -> Result<(), HostError>;
    /// `mkdir -p`.
    fn mkdir_p(&self, path: &Path) -> Result<(), HostError>;
    /// `chown uid:gid` (not recursive; a symlink itself, not its target).
    fn chown(&self, path: &Path, owner: Owner) -> Result<(), HostError>;
    /// Copies the tree `from` into the directory `to` like `rsync -a from/ to/`: content, modes,
    /// owners, symlinks, timestamps, including the top directory's own mode and owner.
    fn copy_tree(&self, from: &Path, to: &Path) -> Result<(), HostError>;
    /// Removes a file or a whole tree.
    fn remove_tree(&self, path: &Path) -> Result<(), HostError>;
    /// Renames (moves) `from` to `to` on the same filesystem.
    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError>;
    /// Adds `shift.uid` to every uid below it and `shift.gid` to every gid below it, in the
    /// whole tree (symlinks skipped).
    fn shift_ids(&self, dir: &Path, shift: Owner) -> Result<(), HostError>;
    /// Sets the extended attribute `name` of `path`; `Ok(false)` when the filesystem has no
    /// user extended attributes.
    fn set_xattr(&self, path: &Path, name: &str, value: &str) -> Result<bool, HostError>;
    /// The extended attribute `name` of `path` (read-only), `None` when it has none.
    fn get_xattr(&self, path: &Path, name: &str) -> Result<Option<String>, HostError>;
    /// Which of `paths` a system package owns, or holds files of a package (read-only; on
    /// Debian from `/var/lib/dpkg/info/*.list`; none where there is no dpkg database).
    fn package_owned(&self, paths: &[PathBuf]) -> Result<Vec<PathBuf>, HostError>;
    /// Waits before a retry (a fake runner need not wait).
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
    /// The owner of `path` itself (a symlink is not followed), or `None` when nothing is there.
    fn owner_of(&self, path: &Path) -> Result<Option<Owner>, HostError> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(Owner {
                uid: m.uid(),
                gid: m.gid(),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HostError::io("inspect", path, e)),
        }
    }
}

/// Does the host work for real.
#[derive(Debug, Clone)]
pub struct SystemHost {
    as_root: bool,
}

impl SystemHost {
    /// A runner for this process: root runs commands directly, anyone else through `sudo`.
    pub fn new() -> Self {
        // The owner of /proc/self is the effective uid of this process.
        let as_root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        SystemHost { as_root }
    }

    fn sudo_fallback(&self, command: HostCommand) -> Result<(), HostError> {
        tracing::debug!(%command, "not root: running through sudo");
        self.run(&command)
    }
}

impl Default for SystemHost {
    fn default() -> Self {
        Self::new()
    }
}

fn spawn_error(command: &HostCommand, source: std::io::Error) -> HostError {
    HostError::Spawn {
        command: command.to_string(),
        program: command.program.clone(),
        source,
    }
}

fn failed(command: &HostCommand, status: std::process::ExitStatus, stderr: &[u8]) -> HostError {
    HostError::CommandFailed {
        command: command.to_string(),
        status: status.to_string(),
        stderr: String::from_utf8_lossy(stderr).trim().to_string(),
    }
}

impl HostRunner for SystemHost {
    fn query(&self, command: &HostCommand) -> Result<String, HostError> {
        tracing::debug!(%command, "query");
        let output = command
            .to_command(self.as_root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| spawn_error(command, e))?;
        if !output.status.success() {
            return Err(failed(command, output.status, &output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn path_kind(&self, path: &Path) -> Result<Option<PathKind>, HostError> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(Some(PathKind::Dir)),
            Ok(_) => Ok(Some(PathKind::Other)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HostError::io("inspect", path, e)),
        }
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<String>, HostError> {
        let entries =
            std::fs::read_dir(path).map_err(|e| HostError::io("read directory", path, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| HostError::io("read directory", path, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn run(&self, command: &HostCommand) -> Result<(), HostError> {
        tracing::info!(%command, "run");
        let output = command
            .to_command(self.as_root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| spawn_error(command, e))?;
        if !output.status.success() {
            return Err(failed(command, output.status, &output.stderr));
        }
        Ok(())
    }

    fn run_pipeline(&self, commands: &[HostCommand]) -> Result<(), HostError> {
        let line = commands
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
        tracing::info!(command = %line, "run pipeline");
        let mut children: Vec<(&HostCommand, std::process::Child)> = Vec::new();
        let mut previous: Option<std::process::ChildStdout> = None;
        for (i, command) in commands.iter().enumerate() {
            let mut process = command.to_command(self.as_root);
            process.stdin(match previous.take() {
                Some(out) => Stdio::from(out),
                None => Stdio::null(),
            });
            if i + 1 < commands.len() {
                process.stdout(Stdio::piped());
            }
            process.stderr(Stdio::piped());
            match process.spawn() {
                Ok(mut child) => {
                    previous = child.stdout.take();
                    children.push((command, child));
                }
                Err(e) => {
                    for (_, mut child) in children {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    return Err(spawn_error(command, e));
                }
            }
        }
        // Read every stderr on its own thread so no process blocks on a full pipe.
        let readers: Vec<_> = children
            .iter_mut()
            .map(|(_, child)| {
                let stderr = child.stderr.take();
                std::thread::spawn(move || {
                    let mut text = Vec::new();
                    if let Some(mut stderr) = stderr {
                        let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
                    }
                    text
                })
            })
            .collect();
        let mut first_error = None;
        for ((command, mut child), reader) in children.into_iter().zip(readers) {
            let status = child.wait().map_err(|e| spawn_error(command, e))?;
            let stderr = reader.join().unwrap_or_default();
            if !status.success() && first_error.is_none() {
                first_error = Some(failed(command, status, &stderr));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn mkdir_p(&self, path: &Path) -> Result<(), HostError> {
        if !self.as_root {
            return self.sudo_fallback(HostCommand::privileged("mkdir", ["-p", &path_str(path)]));
        }
        std::fs::create_dir_all(path).map_err(|e| HostError::io("create directory", path, e))
    }

    fn chown(&self, path: &Path, owner: Owner) -> Result<(), HostError> {
        if !self.as_root {
            return self.sudo_fallback(HostCommand::privileged(
                "chown",
                ["-h".to_string(), owner.to_string(), path_str(path)],
            ));
        }
        std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid))
            .map_err(|e| HostError::io("change the owner of", path, e))
    }

    fn copy_tree(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        if !self.as_root {
            return self.sudo_fallback(HostCommand::privileged(
                "rsync",
                [
                    "-a".to_string(),
                    format!("{}/", path_str(from)),
                    format!("{}/", path_str(to)),
                ],
            ));
        }
        copy_tree(from, to)
    }

    fn remove_tree(&self, path: &Path) -> Result<(), HostError> {
        if !self.as_root {
            return self.sudo_fallback(HostCommand::privileged("rm", ["-rf", &path_str(path)]));
        }
        let result = match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
            Ok(_) => std::fs::remove_file(path),
            Err(e) => Err(e),
        };
        result.map_err(|e| HostError::io("remove", path, e))?;
        remove_sidecars(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        if !self.as_root {
            return self.sudo_fallback(HostCommand::privileged(
                "mv",
                ["-T".to_string(), path_str(from), path_str(to)],
            ));
        }
        std::fs::rename(from, to).map_err(|e| HostError::io("rename", from, e))?;
        move_sidecars(from, to)
    }

    fn set_xattr(&self, path: &Path, name: &str, value: &str) -> Result<bool, HostError> {
        if !self.as_root {
            let command =
                HostCommand::privileged("setfattr", ["-n", name, "-v", value, &path_str(path)]);
            return match self.run(&command) {
                Err(HostError::CommandFailed { stderr, .. })
                    if stderr.contains("Operation not supported") =>
                {
                    Ok(false)
                }
                Err(HostError::Spawn { .. }) => {
                    tracing::warn!(
                        path = %path.display(),
                        "`setfattr` (package attr) is missing, so the directory is not marked"
                    );
                    Ok(false)
                }
                other => other.map(|()| true),
            };
        }
        match xattr::set(path, name, value.as_bytes()) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(EOPNOTSUPP) => {
                let Some(file) = sidecar(path, name) else {
                    return Ok(false);
                };
                let dir = file.parent().unwrap_or(Path::new("/"));
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&file, value))
                    .map_err(|e| HostError::io("write the mark", &file, e))?;
                Ok(true)
            }
            Err(e) => Err(HostError::io("mark", path, e)),
        }
    }

    fn get_xattr(&self, path: &Path, name: &str) -> Result<Option<String>, HostError> {
        match xattr::get(path, name) {
            Ok(value) => Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned())),
            Err(e) if e.raw_os_error() == Some(EOPNOTSUPP) => {
                let Some(file) = sidecar(path, name) else {
                    return Ok(None);
                };
                match std::fs::read_to_string(&file) {
                    Ok(value) => Ok(Some(value)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(HostError::io("read the mark", &file, e)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(HostError::io("read the mark of", path, e)),
        }
    }

    fn package_owned(&self, paths: &[PathBuf]) -> Result<Vec<PathBuf>, HostError> {
        package_owned(Path::new(DPKG_INFO), paths)
    }

    fn shift_ids(&self, dir: &Path, shift: Owner) -> Result<(), HostError> {
        if self.as_root {
            return shift_ids(dir, shift);
        }
        // As the original does: run this program's own `shiftids` through sudo.
        let program = std::env::current_exe().map_err(|_| HostError::NeedsRoot {
            action: "shifting the ids under",
            path: dir.to_path_buf(),
        })?;
        self.run(&HostCommand::privileged(
            &path_str(&program),
            [
                "shiftids".to_string(),
                "-u".to_string(),
                shift.uid.to_string(),
                "-g".to_string(),
                shift.gid.to_string(),
                path_str(dir),
            ],
        ))
    }
}

/// Where the extended attribute `name` of `path` is kept on a filesystem without user extended
/// attributes (ZFS over FUSE): `PARENT/.lxops-marks/BASENAME/NAME`, next to the directory and
/// never inside it (so never inside device data). `None` for `/`.
fn sidecar(path: &Path, name: &str) -> Option<PathBuf> {
    Some(sidecar_dir(path)?.join(name))
}

/// The directory of the [`sidecar`] files of `path`.
fn sidecar_dir(path: &Path) -> Option<PathBuf> {
    Some(path.parent()?.join(".lxops-marks").join(path.file_name()?))
}

/// Removes the sidecar marks of a removed `path` (and `.lxops-marks` once empty).
fn remove_sidecars(path: &Path) -> Result<(), HostError> {
    let Some(dir) = sidecar_dir(path) else {
        return Ok(());
    };
    if dir.is_dir() {
        std::fs::remove_dir_all(&dir).map_err(|e| HostError::io("remove", &dir, e))?;
        if let Some(parent) = dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    Ok(())
}

/// Moves the sidecar marks of `from` along with it to `to`.
fn move_sidecars(from: &Path, to: &Path) -> Result<(), HostError> {
    let (Some(old), Some(new)) = (sidecar_dir(from), sidecar_dir(to)) else {
        return Ok(());
    };
    if !old.is_dir() {
        return Ok(());
    }
    if let Some(parent) = new.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| HostError::io("create directory", parent, e))?;
    }
    std::fs::rename(&old, &new).map_err(|e| HostError::io("move the mark", &old, e))?;
    if let Some(parent) = old.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// `EOPNOTSUPP` on Linux: the filesystem has no (user) extended attributes.
const EOPNOTSUPP: i32 = 95;

/// Where dpkg lists the files of every installed package.
const DPKG_INFO: &str = "/var/lib/dpkg/info";

/// Which of `paths` a package owns or holds files below, from the `*.list` files in `info`.
pub(crate) fn package_owned(info: &Path, paths: &[PathBuf]) -> Result<Vec<PathBuf>, HostError> {
    let entries = match std::fs::read_dir(info) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HostError::io("read directory", info, e)),
    };
    let wanted: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let text = path_str(p).trim_end_matches('/').to_string();
            let below = format!("{text}/");
            (text, below)
        })
        .collect();
    let mut owned = vec![false; paths.len()];
    for entry in entries {
        let entry = entry.map_err(|e| HostError::io("read directory", info, e))?;
        let file = entry.path();
        if file.extension().is_none_or(|x| x != "list") {
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|e| HostError::io("read", &file, e))?;
        for line in text.lines() {
            for (i, (exact, below)) in wanted.iter().enumerate() {
                if !owned[i] && (line == exact || line.starts_with(below.as_str())) {
                    owned[i] = true;
                }
            }
        }
        if owned.iter().all(|o| *o) {
            break;
        }
    }
    Ok(paths
        .iter()
        .zip(owned)
        .filter(|(_, o)| *o)
        .map(|(p, _)| p.clone())
        .collect())
}

/// A path as a command argument.
pub(crate) fn path_str(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_shows_its_line_and_stderr() {
        let host = SystemHost::new();
        let err = host
            .run(&HostCommand::plain("sh", ["-c", "echo oops >&2; exit 3"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo oops >&2; exit 3'` failed (exit status: 3): oops"
        );
        let err = host
            .run(&HostCommand::plain("no-such-program-lxops", ["x"]))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("could not run `no-such-program-lxops x`: No such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn package_files_and_their_directories_are_found_in_the_dpkg_lists() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("a.list"),
            "/.\n/etc\n/etc/a.conf\n/usr/lib/a\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("a.md5sums"), "/srv/x\n").unwrap();
        let paths: Vec<PathBuf> = [
            "/etc",
            "/usr",
            "/usr/lib/a",
            "/srv/x",
            "/etc/a",
            "/etc/a.conf/",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let owned = package_owned(tmp.path(), &paths).unwrap();
        assert_eq!(
            owned,
            ["/etc", "/usr", "/usr/lib/a", "/etc/a.conf/"].map(PathBuf::from)
        );
        let real = SystemHost::new()
            .package_owned(&[
                PathBuf::from("/usr/bin"),
                PathBuf::from("/srv/lxops-no-such"),
            ])
            .unwrap();
        assert_eq!(real, [PathBuf::from("/usr/bin")]);
    }

    #[test]
    fn marks_are_extended_attributes() {
        let tmp = tempfile::tempdir().unwrap();
        let host = SystemHost::new();
        assert_eq!(host.get_xattr(tmp.path(), "user.lxops.t").unwrap(), None);
        assert!(host.set_xattr(tmp.path(), "user.lxops.t", "p/a1").unwrap());
        assert_eq!(
            host.get_xattr(tmp.path(), "user.lxops.t")
                .unwrap()
                .as_deref(),
            Some("p/a1")
        );
        let missing = tmp.path().join("missing");
        assert_eq!(host.get_xattr(&missing, "user.lxops.t").unwrap(), None);
    }

    #[test]
    fn sidecar_marks_sit_next_to_the_directory_and_follow_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a1");
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(
            sidecar(&dir, "user.lxops.instance").unwrap(),
            tmp.path().join(".lxops-marks/a1/user.lxops.instance")
        );
        let file = sidecar(&dir, "user.lxops.instance").unwrap();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "default/a1").unwrap();
        let host = SystemHost::new();
        let moved = tmp.path().join("b/a2");
        std::fs::create_dir(tmp.path().join("b")).unwrap();
        host.rename(&dir, &moved).unwrap();
        assert!(!tmp.path().join(".lxops-marks").exists());
        let file = sidecar(&moved, "user.lxops.instance").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "default/a1");
        host.remove_tree(&moved).unwrap();
        assert!(!tmp.path().join("b/.lxops-marks").exists());
        assert_eq!(
            std::fs::read_dir(tmp.path().join("b")).unwrap().count(),
            0,
            "nothing left"
        );
        assert!(sidecar(Path::new("/"), "x").is_none());
    }

    #[test]
    fn shiftids_without_root_runs_this_program_through_sudo() {
        let host = SystemHost { as_root: false };
        // The test binary stands in for lxops: it rejects the arguments, and the error shows
        // the command that was run.
        let err = host
            .shift_ids(Path::new("/srv/t"), Owner { uid: 1, gid: 1 })
            .unwrap_err();
        assert!(
            err.to_string().contains(" shiftids -u 1 -g 1 /srv/t`"),
            "{err}"
        );
    }

    #[test]
    fn a_pipeline_passes_data_and_reports_the_failing_side() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let host = SystemHost::new();
        host.run_pipeline(&[
            HostCommand::plain("echo", ["through the pipe"]),
            HostCommand::plain("sh", ["-c".to_string(), format!("cat > {}", out.display())]),
        ])
        .unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "through the pipe\n");
        let err = host
            .run_pipeline(&[
                HostCommand::plain("echo", ["x"]),
                HostCommand::plain("sh", ["-c", "cat >/dev/null; echo bad >&2; exit 1"]),
            ])
            .unwrap_err();
        assert!(
            err.to_string().ends_with("failed (exit status: 1): bad"),
            "{err}"
        );
    }
}
