//! `create-profile CONFIG...`: create each config's per-instance profile.

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_per_instance;
use super::targets::{load_targets, wait_options};
use crate::args::SimpleArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `create-profile`.
pub(crate) async fn run(ctx: &Context, args: SimpleArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    run_per_instance(
        ctx,
        "create-profile",
        targets,
        &args.change,
        wait_options(20),
        out,
        async |env, instance, buffer| ops::create_profile(env, instance, buffer).await,
    )
    .await
}
