//! `configure CONFIG...`: apply each config's cloud-config files to its running instance.

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_all;
use super::targets::{env, load_targets, ops_err, wait_options};
use crate::args::ConfigureArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `configure`.
pub(crate) async fn run(ctx: &Context, args: ConfigureArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let wait = wait_options(args.poll_seconds);
    run_all(
        targets,
        args.change.jobs,
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait).await?;
                ops::configure(&env, &target.instance, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}
