//! [`DryRunHost`]: for `--dry-run`, read-only queries really run and every change is recorded
//! instead of done.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::{HostCommand, HostError, HostRunner, Owner, PathKind, SystemHost};

/// Runs read-only queries (`stat`, `zfs list`, `zfs get`) for real and records every change as
/// one line (see [`DryRunHost::recorded`]) without doing it.
#[derive(Debug, Default)]
pub struct DryRunHost {
    system: SystemHost,
    recorded: Mutex<Vec<String>>,
}

impl DryRunHost {
    /// A dry-run runner with nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The changes that would have been made, one line each, in order.
    pub fn recorded(&self) -> Vec<String> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn record(&self, line: String) {
        tracing::info!(%line, "dry run");
        if let Ok(mut recorded) = self.recorded.lock() {
            recorded.push(line);
        }
    }
}

impl HostRunner for DryRunHost {
    fn query(&self, command: &HostCommand) -> Result<String, HostError> {
        self.system.query(command)
    }

    fn path_kind(&self, path: &Path) -> Result<Option<PathKind>, HostError> {
        self.system.path_kind(path)
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<String>, HostError> {
        self.system.read_dir(path)
    }

    fn run(&self, command: &HostCommand) -> Result<(), HostError> {
        self.record(command.to_string());
        Ok(())
    }

    fn run_pipeline(&self, commands: &[HostCommand]) -> Result<(), HostError> {
        let line = commands
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
        self.record(line);
        Ok(())
    }

    fn mkdir_p(&self, path: &Path) -> Result<(), HostError> {
        self.record(format!("mkdir -p {}", path.display()));
        Ok(())
    }

    fn chown(&self, path: &Path, owner: Owner) -> Result<(), HostError> {
        self.record(format!("chown {owner} {}", path.display()));
        Ok(())
    }

    fn copy_tree(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        self.record(format!("copy {} -> {}", from.display(), to.display()));
        Ok(())
    }

    fn remove_tree(&self, path: &Path) -> Result<(), HostError> {
        self.record(format!("remove {}", path.display()));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), HostError> {
        self.record(format!("rename {} -> {}", from.display(), to.display()));
        Ok(())
    }

    fn shift_ids(&self, dir: &Path, shift: Owner) -> Result<(), HostError> {
        self.record(format!("shiftids {shift} {}", dir.display()));
        Ok(())
    }

    fn set_xattr(&self, path: &Path, name: &str, value: &str) -> Result<bool, HostError> {
        self.record(format!("setfattr -n {name} -v {value} {}", path.display()));
        Ok(true)
    }

    fn get_xattr(&self, path: &Path, name: &str) -> Result<Option<String>, HostError> {
        self.system.get_xattr(path, name)
    }

    fn package_owned(&self, paths: &[PathBuf]) -> Result<Vec<PathBuf>, HostError> {
        self.system.package_owned(paths)
    }

    fn sleep(&self, _duration: Duration) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_recorded_not_done_while_queries_run() {
        let tmp = tempfile::tempdir().unwrap();
        let host = DryRunHost::new();
        let new_dir = tmp.path().join("a/b");
        host.mkdir_p(&new_dir).unwrap();
        host.chown(&new_dir, Owner { uid: 1, gid: 2 }).unwrap();
        host.run(&HostCommand::privileged("zfs", ["create", "p/a b"]))
            .unwrap();
        host.remove_tree(tmp.path()).unwrap();
        assert_eq!(host.path_kind(&new_dir).unwrap(), None);
        assert_eq!(host.path_kind(tmp.path()).unwrap(), Some(PathKind::Dir));
        let echo = host.query(&HostCommand::plain("echo", ["hi"])).unwrap();
        assert_eq!(echo, "hi\n");
        let root = tmp.path().display();
        assert_eq!(
            host.recorded(),
            vec![
                format!("mkdir -p {root}/a/b"),
                format!("chown 1:2 {root}/a/b"),
                "zfs create 'p/a b'".to_string(),
                format!("remove {root}"),
            ]
        );
    }
}
