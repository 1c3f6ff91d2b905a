//! `cargo xtask test` and `cargo xtask ci`: the checks CI runs, in order, stopping at the
//! first failure.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cmd::{log, Cmd};
use crate::setup;

/// The workspace root (the parent of the xtask crate).
pub fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| manifest_dir.to_owned())
}

/// The cargo target directory (`$CARGO_TARGET_DIR` or `target/` in the workspace root).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

/// A `cargo` command run from the workspace root (the same cargo that runs xtask).
pub fn cargo() -> Cmd {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Cmd::new(cargo).current_dir(project_root())
}

/// Set-up, unit tests of every crate, then the end-to-end suite one test at a time.
pub fn test() -> Result<()> {
    setup::run()?;
    log("test", "unit tests");
    cargo()
        .args(["test", "--workspace", "--exclude", "lxops-tests"])
        .run()?;
    log("test", "the commands (end-to-end tests run them too)");
    cargo()
        .args(["build", "-p", "lxops-lxd", "-p", "lxops-incus"])
        .run()?;
    log("test", "end-to-end tests against LXD and Incus");
    cargo()
        .args(["test", "-p", "lxops-tests", "--", "--test-threads=1"])
        .run()?;
    log("test", "cloud-config against the real cloud-init");
    crate::oracle::run()?;
    log("test", "all tests passed");
    Ok(())
}

/// Formatting, clippy, tidy checks, `cargo doc` with warnings denied, then [`test()`].
pub fn ci() -> Result<()> {
    log("ci", "formatting");
    cargo().args(["fmt", "--all", "--", "--check"]).run()?;
    log("ci", "clippy");
    cargo()
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .run()?;
    log("ci", "tidy checks");
    cargo().args(["test", "-p", "xtask"]).run()?;
    log(
        "ci",
        "docs (rustdoc warnings, missing_docs and broken links are errors)",
    );
    cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .run()?;
    test()?;
    log("ci", "passed");
    Ok(())
}
