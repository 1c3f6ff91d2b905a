//! `delete CONFIG...` and `destroy CONFIG...`: remove each instance and its profile (refusing a
//! running one unless `--force`); `destroy` also removes its `destroy: true` filesystems.

use std::collections::BTreeMap;
use std::io::Write;

use lxops_core::ops::{self, OpsError, RemoveOptions};

use super::fleet::run_per_instance;
use super::targets::{load_targets, other_configs, twin, wait_options};
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
    let mut twins = BTreeMap::new();
    for target in &targets {
        let others = other_configs(ctx, &args.config, &target.instance).await?;
        twins.insert(
            target.instance.file.clone(),
            (twin(&args.config, target)?, others),
        );
    }
    run_per_instance(
        ctx,
        if destroy { "destroy" } else { "delete" },
        targets,
        &args.change,
        wait_options(20),
        out,
        async |env, instance, buffer| {
            let (twin, others) = twins.get(&instance.file).cloned().ok_or_else(|| {
                OpsError::Internal(format!("no twin for {}", instance.file.display()))
            })?;
            let options = RemoveOptions {
                force: args.force,
                adopt: args.adopt,
                twin,
                others,
            };
            if destroy {
                ops::destroy(env, instance, &options, buffer).await
            } else {
                ops::delete(env, instance, &options, buffer).await
            }
        },
    )
    .await
}
