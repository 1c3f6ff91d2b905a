//! `rebuild CONFIG...`: replace each instance's OS with the config's image; devices and their
//! data stay (see `lxops_core::ops::rebuild`).

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_per_instance;
use super::targets::{load_targets, wait_options};
use crate::args::LaunchArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs `rebuild`.
pub(crate) async fn run(ctx: &Context, args: LaunchArgs, out: &mut dyn Write) -> CliResult {
    if args.target.is_some() {
        return Err(CliError::input(anyhow::anyhow!(
            "--target is for launch: a rebuild keeps each instance on the cluster member it \
             lives on; drop --target"
        )));
    }
    let targets = load_targets(ctx, &args.config, &args.files.files, true)?;
    let wait = wait_options(args.wait.poll);
    run_per_instance(
        ctx,
        "rebuild",
        targets,
        &args.change,
        wait,
        out,
        async |env, instance, buffer| ops::rebuild(env, instance, buffer).await,
    )
    .await
}
