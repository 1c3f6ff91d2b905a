//! The upstream oracle: the Go original's own config reader, built offline from
//! `../shared/tools/upstream-oracle` (its `build.sh`; beside a parent directory too, for a git
//! worktree; `$LXOPS_UPSTREAM_ORACLE_SRC` overrides) into [`CACHE_DIR`], for the differential
//! test of the config engine (`tests/upstream`). Built once per machine, again when its
//! sources are newer than the binary.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Result};

use crate::ci::project_root;
use crate::cmd::{log, Cmd};

use super::CACHE_DIR;

/// Where the oracle binary is built.
pub fn binary() -> PathBuf {
    Path::new(CACHE_DIR).join("upstream-oracle").join("oracle")
}

/// The oracle's sources: `shared/tools/upstream-oracle` next to the checkout (or next to one
/// of its parents, for a worktree).
pub fn source_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LXOPS_UPSTREAM_ORACLE_SRC") {
        return Some(PathBuf::from(dir));
    }
    project_root()
        .ancestors()
        .map(|dir| dir.join("shared/tools/upstream-oracle"))
        .find(|dir| dir.join("build.sh").is_file())
}

/// Builds the oracle when it is missing or older than its sources.
pub fn run() -> Result<()> {
    let Some(src) = source_dir() else {
        bail!(
            "the upstream oracle's sources (shared/tools/upstream-oracle next to the checkout) are missing; the differential test needs them"
        );
    };
    let binary = binary();
    let built = modified(&binary);
    let newest = ["build.sh", "oracle/main.go", "oracle/go.mod"]
        .iter()
        .filter_map(|f| modified(&src.join(f)))
        .max();
    if built.is_some() && built >= newest {
        log(
            "upstream-oracle",
            format!("{} is up to date", binary.display()),
        );
        return Ok(());
    }
    log(
        "upstream-oracle",
        format!(
            "building the Go original's config reader from {}",
            src.display()
        ),
    );
    let out = binary.parent().unwrap_or(Path::new(CACHE_DIR));
    Cmd::new("sh")
        .arg(src.join("build.sh"))
        .env("ORACLE_OUT", out)
        .run()?;
    if !binary.is_file() {
        bail!(
            "{} did not build {}",
            src.join("build.sh").display(),
            binary.display()
        );
    }
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
