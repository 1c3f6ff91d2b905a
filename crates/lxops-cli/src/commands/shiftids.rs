//! `shiftids -u UID -g GID [-v] DIR...`: in each tree (root included, symlinks skipped) a uid
//! below UID gets UID added and a gid below GID gets GID added; ids already shifted stay. With
//! `-v` (the global verbose flag) each directory is printed when done. Needs root.

use std::io::Write;

use lxops_core::host::{ops, Owner, SystemHost};

use super::write_err;
use crate::args::ShiftidsArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs `shiftids`.
pub(crate) async fn run(ctx: &Context, args: ShiftidsArgs, out: &mut dyn Write) -> CliResult {
    let shift = Owner {
        uid: args.uid,
        gid: args.gid,
    };
    let cwd = std::env::current_dir().map_err(|e| {
        CliError::failure(anyhow::Error::new(e).context("reading the current directory"))
    })?;
    let host = SystemHost::new();
    for dir in &args.dirs {
        let dir = cwd.join(dir);
        if let Err(e) = std::fs::symlink_metadata(&dir) {
            return Err(CliError::input(anyhow::anyhow!(
                "shiftids: {}: {e}; give existing directories",
                dir.display()
            )));
        }
        let done = dir.clone();
        let host = host.clone();
        tokio::task::spawn_blocking(move || ops::shiftids(&host, &dir, shift))
            .await
            .map_err(|e| CliError::failure(anyhow::anyhow!("shiftids task failed: {e}")))?
            .map_err(|e| {
                CliError::failure(
                    anyhow::Error::new(e).context(format!("shiftids {}", done.display())),
                )
            })?;
        if ctx.global.verbose > 0 {
            writeln!(out, "{}", done.display()).map_err(write_err)?;
        }
    }
    Ok(())
}
