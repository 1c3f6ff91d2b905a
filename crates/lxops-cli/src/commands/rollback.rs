//! `rollback -s NAME CONFIG...`: roll each instance's non-transient filesystems back to a
//! snapshot (`-c`: restore the instance snapshot too).

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_per_instance;
use super::targets::{load_targets, wait_options};
use crate::args::RollbackArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `rollback`.
pub(crate) async fn run(ctx: &Context, args: RollbackArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let snapshot = args.snapshot.as_str();
    run_per_instance(
        ctx,
        "rollback",
        targets,
        &args.change,
        wait_options(20),
        out,
        async |env, instance, buffer| {
            ops::rollback(env, instance, snapshot, args.instance, buffer).await
        },
    )
    .await
}
