//! `instance push [-r] [--uid N] [--gid N] [--mode OCTAL] LOCAL INSTANCE/PATH`: a local file,
//! or a whole tree, into an instance.

use std::io::Write;

use lxops_core::ops::tree;

use super::transfer::{instance_path, run_plan, tree_err};
use crate::args::InstancePushArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `instance push`.
pub(crate) async fn run(ctx: &Context, args: InstancePushArgs, out: &mut dyn Write) -> CliResult {
    let (instance, dest) = instance_path(&args.target)?;
    let server = ctx.server(args.project.as_deref()).await?;
    let mut plan = tree::plan_push(
        server.as_ref(),
        &instance,
        &args.source,
        &dest,
        args.recursive,
    )
    .await
    .map_err(tree_err)?;
    plan.override_attributes(args.uid, args.gid, args.mode);
    run_plan(ctx, server, &plan, args.dry_run, out).await
}
