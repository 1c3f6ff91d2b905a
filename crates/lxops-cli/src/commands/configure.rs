//! `configure CONFIG...`: apply each config's cloud-config files to its running instance.

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_per_instance;
use super::targets::{load_targets, wait_options};
use crate::args::ConfigureArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `configure`.
pub(crate) async fn run(ctx: &Context, args: ConfigureArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let wait = wait_options(args.poll_seconds);
    run_per_instance(
        ctx,
        "configure",
        targets,
        &args.change,
        wait,
        out,
        async |env, instance, buffer| ops::configure(env, instance, buffer).await,
    )
    .await
}
