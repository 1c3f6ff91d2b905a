//! `rebuild CONFIG...`: replace each instance's OS with the config's image; devices and their
//! data stay (see `lxops_core::ops::rebuild`).

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_all;
use super::targets::{env, load_targets, ops_err, wait_options};
use crate::args::LaunchArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `rebuild`.
pub(crate) async fn run(ctx: &Context, args: LaunchArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, true)?;
    let wait = wait_options(args.wait.poll);
    run_all(
        targets,
        args.change.jobs,
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait).await?;
                ops::rebuild(&env, &target.instance, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}
