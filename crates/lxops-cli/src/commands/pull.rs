//! `instance pull [-r] INSTANCE/PATH LOCAL`: a file, or a whole tree, out of an instance.

use std::io::Write;

use lxops_core::ops::tree;

use super::transfer::{instance_path, run_plan, tree_err};
use crate::args::InstancePullArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `instance pull`.
pub(crate) async fn run(ctx: &Context, args: InstancePullArgs, out: &mut dyn Write) -> CliResult {
    let (instance, source) = instance_path(&args.source)?;
    let server = ctx.server(args.project.as_deref()).await?;
    let plan = tree::plan_pull(
        server.as_ref(),
        &instance,
        &source,
        &args.target,
        args.recursive,
    )
    .await
    .map_err(tree_err)?;
    run_plan(ctx, server, &plan, args.dry_run, out).await
}
