//! `status CONFIG...`: compare each instance with its config (see `lxops_core::ops::status`)
//! and print one row per difference, or `-` for an instance that matches. Exit status 3 when
//! anything differs.

use std::io::Write;

use lxops_core::config;
use lxops_core::ops;

use super::targets::{host_for, load_targets, ops_err};
use super::write_err;
use crate::args::StatusArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output;

/// Runs `status`.
pub(crate) async fn run(ctx: &Context, args: StatusArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let instances: Vec<config::Instance> = targets.into_iter().map(|t| t.instance).collect();
    let server = ctx.server(None).await?;
    // Status only reads: the recording host runs the same read-only queries.
    let found = ops::status(server, host_for(true), &instances)
        .await
        .map_err(ops_err)?;
    let mut rows = Vec::new();
    for status in &found {
        let state = status.state.clone().unwrap_or_else(|| "-".to_string());
        if status.matches() {
            rows.push(vec![
                status.name.clone(),
                status.project.clone(),
                state.clone(),
                "-".into(),
            ]);
        }
        for difference in &status.differences {
            rows.push(vec![
                status.name.clone(),
                status.project.clone(),
                state.clone(),
                difference.to_string(),
            ]);
        }
    }
    output::table(out, &["INSTANCE", "PROJECT", "STATE", "DIFFERENCE"], &rows)
        .map_err(write_err)?;
    let drifted = found.iter().filter(|s| !s.matches()).count();
    if drifted > 0 {
        return Err(CliError::drift(anyhow::anyhow!(
            "{drifted} of {} instances differ from their configs",
            found.len()
        )));
    }
    Ok(())
}
