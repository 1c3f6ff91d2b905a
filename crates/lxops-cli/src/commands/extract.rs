//! `extract CONFIG...`: initialise each instance's new device directories from the files of
//! its config's image (see `lxops_core::ops::extract`).

use std::io::Write;

use lxops_core::ops;

use super::fleet::{run_all, Unit};
use super::targets::{env, load_targets, ops_err, wait_options};
use crate::args::LaunchArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs `extract`.
pub(crate) async fn run(ctx: &Context, args: LaunchArgs, out: &mut dyn Write) -> CliResult {
    if args.target.is_some() {
        return Err(CliError::input(anyhow::anyhow!(
            "--target is for launch: extract's temporary instance needs no placement; drop --target"
        )));
    }
    let targets = load_targets(ctx, &args.config, &args.files.files, true)?;
    let wait = wait_options(args.wait.poll);
    run_all(
        targets.into_iter().map(Unit::from).collect(),
        args.change.run_options(ctx, "extract"),
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait).await?;
                ops::extract(&env, &target.instance, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}
