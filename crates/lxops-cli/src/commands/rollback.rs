//! `rollback -s NAME CONFIG...`: roll each instance's non-transient filesystems back to a
//! snapshot (`-c`: restore the instance snapshot too).

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_all;
use super::targets::{env, load_targets, ops_err, wait_options};
use crate::args::RollbackArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `rollback`.
pub(crate) async fn run(ctx: &Context, args: RollbackArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let snapshot = args.snapshot.as_str();
    run_all(
        targets,
        args.change.jobs,
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait_options(20)).await?;
                ops::rollback(&env, &target.instance, snapshot, args.instance, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}
