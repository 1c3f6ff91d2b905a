//! `snapshot CONFIG...`: snapshot each instance's non-transient filesystems (`-c`: the instance
//! too), or with `-d` destroy those snapshots.

use std::io::Write;

use lxops_core::ops::{self, SnapshotOptions};

use super::fleet::run_all;
use super::targets::{env, load_targets, ops_err, timestamp, wait_options};
use crate::args::SnapshotArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `snapshot`.
pub(crate) async fn run(ctx: &Context, args: SnapshotArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let options = SnapshotOptions {
        name: args.snapshot.clone().unwrap_or_else(timestamp),
        instance: args.instance,
        destroy: args.destroy,
        recursive: args.recursive,
    };
    let options = &options;
    run_all(
        targets,
        args.change.jobs,
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait_options(20)).await?;
                ops::snapshot(&env, &target.instance, options, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}
