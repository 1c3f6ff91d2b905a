//! `snapshot CONFIG...`: snapshot each instance's non-transient filesystems (`-c`: the instance
//! too), or with `-d` destroy those snapshots.

use std::io::Write;

use lxops_core::ops::{self, SnapshotOptions};

use super::fleet::run_per_instance;
use super::targets::{load_targets, timestamp, wait_options};
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
        adopt: args.adopt,
    };
    let options = &options;
    run_per_instance(
        ctx,
        "snapshot",
        targets,
        &args.change,
        wait_options(20),
        out,
        async |env, instance, buffer| ops::snapshot(env, instance, options, buffer).await,
    )
    .await
}
