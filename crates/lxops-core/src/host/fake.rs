//! A fake [`HostRunner`] for unit tests: an in-memory set of directories and ZFS datasets,
//! every spawned command and file change recorded as one line, scripted failures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::{HostCommand, HostError, HostRunner, Owner, PathKind};

#[derive(Default)]
struct State {
    dirs: BTreeSet<PathBuf>,
    datasets: BTreeMap<String, String>,
    log: Vec<(bool, String)>,
    failures: Vec<(String, String, usize)>,
    answers: BTreeMap<String, String>,
    slept: Duration,
    xattrs: BTreeMap<(PathBuf, String), String>,
    zfs_marks: BTreeMap<String, String>,
    package_paths: BTreeSet<PathBuf>,
}

/// The fake host.
#[derive(Default)]
pub(crate) struct FakeHost {
    state: Mutex<State>,
}

impl FakeHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// Existing directories (their parents exist too).
    pub fn with_dirs(self, dirs: &[&str]) -> Self {
        for dir in dirs {
            self.add_dir(Path::new(dir));
        }
        self
    }

    /// Existing ZFS datasets with their mountpoints (directories for absolute mountpoints).
    pub fn with_datasets(self, datasets: &[(&str, &str)]) -> Self {
        for (name, mountpoint) in datasets {
            self.state
                .lock()
                .unwrap()
                .datasets
                .insert(name.to_string(), mountpoint.to_string());
            if mountpoint.starts_with('/') {
                self.add_dir(Path::new(mountpoint));
            }
        }
        self
    }

    /// Extended attributes already set: `(path, name, value)`.
    pub fn with_xattrs(self, xattrs: &[(&str, &str, &str)]) -> Self {
        for (path, name, value) in xattrs {
            self.state
                .lock()
                .unwrap()
                .xattrs
                .insert((PathBuf::from(path), name.to_string()), value.to_string());
        }
        self
    }

    /// ZFS datasets with a local `lxops:instance` mark: `(dataset, mark)`.
    pub fn with_zfs_marks(self, marks: &[(&str, &str)]) -> Self {
        for (dataset, mark) in marks {
            self.state
                .lock()
                .unwrap()
                .zfs_marks
                .insert(dataset.to_string(), mark.to_string());
        }
        self
    }

    /// Paths that system packages own.
    pub fn with_package_paths(self, paths: &[&str]) -> Self {
        self.state
            .lock()
            .unwrap()
            .package_paths
            .extend(paths.iter().map(PathBuf::from));
        self
    }

    /// `command` fails `times` times with `stderr`.
    pub fn failing(self, command: &str, stderr: &str, times: usize) -> Self {
        self.state
            .lock()
            .unwrap()
            .failures
            .push((command.into(), stderr.into(), times));
        self
    }

    /// The query `command` answers `output`.
    pub fn answering(self, command: &str, output: &str) -> Self {
        self.state
            .lock()
            .unwrap()
            .answers
            .insert(command.into(), output.into());
        self
    }

    fn add_dir(&self, dir: &Path) {
        let mut state = self.state.lock().unwrap();
        for ancestor in dir.ancestors() {
            state.dirs.insert(ancestor.to_path_buf());
        }
    }

    fn log_line(&self, spawned: bool, line: String) -> Result<(), HostError> {
        let mut state = self.state.lock().unwrap();
        state.log.push((spawned, line.clone()));
        if let Some(failure) = state.failures.iter_mut().find(|f| f.0 == line && f.2 > 0) {
            failure.2 -= 1;
            return Err(HostError::CommandFailed {
                command: line,
                status: "exit status: 1".into(),
                stderr: failure.1.clone(),
            });
        }
        Ok(())
    }

    /// The spawned commands (queries and changes), in order.
    pub fn commands(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .log
            .iter()
            .filter(|(spawned, _)| *spawned)
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Everything done: spawned commands and file changes, in order.
    pub fn log(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.log.iter().map(|(_, l)| l.clone()).collect()
    }

    /// The total time waited.
    pub fn slept_ms(&self) -> u128 {
        self.state.lock().unwrap().slept.as_millis()
    }
}

impl HostRunner for FakeHost {
    fn query(&self, command: &HostCommand) -> Result<String, HostError> {
        let line = command.to_string();
        self.log_line(true, line.clone())?;
        if let Some(answer) = self.state.lock().unwrap().answers.get(&line) {
            return Ok(answer.clone());
        }
        if let Some(dataset) = line.strip_prefix("zfs get -H -s local -o value lxops:instance ") {
            let state = self.state.lock().unwrap();
            return Ok(state
                .zfs_marks
                .get(dataset)
                .map(|m| format!("{m}\n"))
                .unwrap_or_default());
        }
        if let Some(dataset) =
            line.strip_prefix("zfs get -H -r -s local -o name,value lxops:instance ")
        {
            let state = self.state.lock().unwrap();
            let inside = format!("{dataset}/");
            return Ok(state
                .zfs_marks
                .iter()
                .filter(|(n, _)| *n == dataset || n.starts_with(&inside))
                .map(|(n, m)| format!("{n}\t{m}\n"))
                .collect());
        }
        if line == "zfs list -H -o name,mountpoint -t filesystem" {
            let state = self.state.lock().unwrap();
            return Ok(state
                .datasets
                .iter()
                .map(|(n, m)| format!("{n}\t{m}\n"))
                .collect());
        }
        Ok(String::new())
    }

    fn path_kind(&self, path: &Path) -> Result<Option<PathKind>, HostError> {
        let state = self.state.lock().unwrap();
        Ok(state.dirs.contains(path).then_some(PathKind::Dir))
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<String>, HostError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .dirs
            .iter()
            .filter(|d| d.parent() == Some(path))
            .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn run(&self, command: &HostCommand) -> Result<(), HostError> {
        self.log_line(true, command.to_string())
    }

    fn run_pipeline(&self, commands: &[HostCommand]) -> Result<(), HostError> {
        let line = commands
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
        self.log_line(true, line)
    }

    fn mkdir_p(&self, path: &Path) -> Result<(), HostError> {
        self.log_line(false, format!("mkdir -p {}", path.display()))?;
        self.add_dir(path);
        Ok(())
    }

    fn chown(&self, path: &Path, owner: Owner) -> Result<(), HostError> {
        self.log_line(false, format!("chown {owner} {}", path.display()))
    }

    fn copy_tree(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        self.log_line(
            false,
            format!("copy {} -> {}", from.display(), to.display()),
        )
    }

    fn remove_tree(&self, path: &Path) -> Result<(), HostError> {
        self.log_line(false, format!("remove {}", path.display()))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        self.log_line(
            false,
            format!("rename {} -> {}", from.display(), to.display()),
        )
    }

    fn shift_ids(&self, dir: &Path, shift: Owner) -> Result<(), HostError> {
        self.log_line(false, format!("shiftids {shift} {}", dir.display()))
    }

    fn set_xattr(&self, path: &Path, name: &str, value: &str) -> Result<bool, HostError> {
        self.log_line(
            false,
            format!("setfattr -n {name} -v {value} {}", path.display()),
        )?;
        self.state
            .lock()
            .unwrap()
            .xattrs
            .insert((path.to_path_buf(), name.to_string()), value.to_string());
        Ok(true)
    }

    fn get_xattr(&self, path: &Path, name: &str) -> Result<Option<String>, HostError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .xattrs
            .get(&(path.to_path_buf(), name.to_string()))
            .cloned())
    }

    fn package_owned(&self, paths: &[PathBuf]) -> Result<Vec<PathBuf>, HostError> {
        let state = self.state.lock().unwrap();
        Ok(paths
            .iter()
            .filter(|p| {
                state
                    .package_paths
                    .iter()
                    .any(|owned| owned == *p || owned.starts_with(p))
            })
            .cloned()
            .collect())
    }

    fn sleep(&self, duration: Duration) {
        self.state.lock().unwrap().slept += duration;
    }
}
