//! `delete CONFIG...` and `destroy CONFIG...`: remove each instance and its profile (refusing a
//! running one unless `--force`); `destroy` also removes its `destroy: true` filesystems.

use std::io::Write;

use lxops_core::ops;

use super::fleet::run_all;
use super::targets::{env, load_targets, ops_err, wait_options};
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
    run_all(
        targets,
        args.change.jobs,
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait_options(20)).await?;
                if destroy {
                    ops::destroy(&env, &target.instance, args.force, &mut buffer).await
                } else {
                    ops::delete(&env, &target.instance, args.force, &mut buffer).await
                }
                .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}
