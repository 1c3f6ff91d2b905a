//! `create-profile CONFIG...`: create each config's per-instance profile.

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_all;
use super::targets::{env, load_targets, ops_err, wait_options};
use crate::args::SimpleArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `create-profile`.
pub(crate) async fn run(ctx: &Context, args: SimpleArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    run_all(
        targets,
        args.change.jobs,
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait_options(20)).await?;
                ops::create_profile(&env, &target.instance, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}
