//! `delete CONFIG...` and `destroy CONFIG...`: remove each instance and its profile (refusing a
//! running one unless `--force`); `destroy` also removes its `destroy: true` filesystems.

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_per_instance;
use super::targets::{load_targets, wait_options};
use crate::args::DeleteArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `delete` (or, with `destroy`, `destroy`).
pub(crate) async fn run(
    ctx: &Context,
    args: DeleteArgs,
    destroy: bool,
    out: &mut dyn Write,
) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    run_per_instance(
        ctx,
        if destroy { "destroy" } else { "delete" },
        targets,
        &args.change,
        wait_options(20),
        out,
        async |env, instance, buffer| {
            if destroy {
                ops::destroy(env, instance, args.force, buffer).await
            } else {
                ops::delete(env, instance, args.force, buffer).await
            }
        },
    )
    .await
}
