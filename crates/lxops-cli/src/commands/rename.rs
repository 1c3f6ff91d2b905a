//! `rename CONFIG NEWNAME`: rename a stopped instance, its root filesystems and its profile.

use std::io::Write;

use lxops_core::config::{self, EvalOptions};
use lxops_core::ops;

use super::targets::{
    config_err, env, load_targets, ops_err, other_configs, properties, twin, wait_options,
};
use crate::args::RenameArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `rename`.
pub(crate) async fn run(ctx: &Context, args: RenameArgs, out: &mut dyn Write) -> CliResult {
    let files = vec![args.file.clone()];
    let mut targets = load_targets(ctx, &args.config, &files, false)?;
    let Some(old) = targets.pop() else {
        return Ok(());
    };
    let sources = properties(&args.config)?;
    let eval = EvalOptions {
        include_source: true,
        project: args.config.project.clone(),
    };
    let new = config::evaluate(&old.loaded, &args.new_name, &sources, &eval).map_err(config_err)?;
    let options = ops::RenameOptions {
        adopt: args.adopt,
        twin: twin(&args.config, &old)?,
        others: other_configs(ctx, &args.config, &old.instance).await?,
    };
    let env = env(ctx, &old.instance, args.change.dry_run, wait_options(20)).await?;
    let mut buffer: Vec<u8> = Vec::new();
    let result = ops::rename(&env, &old.instance, &new, &options, &mut buffer)
        .await
        .map_err(ops_err);
    out.write_all(&buffer).map_err(super::write_err)?;
    result
}
