//! An exclusive lock file holding the owner's pid, so two set-ups (and two debootstraps) never
//! run at once. A lock left by a process that no longer exists is taken over.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cmd::log;

/// Held while alive; removes the lock file when dropped.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    /// Waits until the lock at `path` is free, then takes it.
    pub fn acquire(path: &Path) -> Result<Lock> {
        let mut announced = false;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id())
                        .with_context(|| format!("cannot write lock file {}", path.display()))?;
                    return Ok(Lock {
                        path: path.to_owned(),
                    });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(path).unwrap_or_default();
                    let owner = owner.trim();
                    let alive = !owner.is_empty() && Path::new("/proc").join(owner).exists();
                    if !alive {
                        log(
                            "lock",
                            format!("removing stale lock {} (pid {owner:?})", path.display()),
                        );
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if !announced {
                        log(
                            "lock",
                            format!("waiting for pid {owner} holding {}", path.display()),
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot create lock file {}", path.display()))
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
