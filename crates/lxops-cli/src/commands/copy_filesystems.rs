//! `copy-filesystems -c CONFIG --container X [--from-container Y] [--from-host H | --to-host H]
//! [-s SNAP]`: copy Y's non-transient ZFS filesystems onto X's (see
//! `lxops_core::ops::copy_filesystems`). Without `-s` the source is snapshotted first, named by
//! the UTC time.

use std::io::Write;
use std::sync::Arc;

use lxops_core::host::{DryRunHost, HostRunner, SystemHost};
use lxops_core::ops::{self, CopyRequest};

use super::targets::{load_targets, ops_err, timestamp};
use super::write_err;
use crate::args::{ConfigArgs, CopyFilesystemsArgs};
use crate::context::Context;
use crate::error::CliResult;

/// Runs `copy-filesystems`.
pub(crate) async fn run(
    ctx: &Context,
    args: CopyFilesystemsArgs,
    out: &mut dyn Write,
) -> CliResult {
    let from_name = args
        .from_container
        .clone()
        .unwrap_or_else(|| args.container.clone());
    let config_args = |name: &str| ConfigArgs {
        name: vec![name.to_string()],
        project: None,
        properties: args.properties.properties.clone(),
        property: args.properties.property.clone(),
    };
    let files = std::slice::from_ref(&args.config);
    let target = load_targets(ctx, &config_args(&args.container), files, false)?
        .pop()
        .map(|t| t.instance);
    let source = load_targets(ctx, &config_args(&from_name), files, false)?
        .pop()
        .map(|t| t.instance);
    let (Some(target), Some(source)) = (target, source) else {
        return Ok(());
    };
    let request = CopyRequest {
        snapshot: args.snapshot.clone().unwrap_or_else(timestamp),
        create_snapshot: args.snapshot.is_none(),
        from_host: args.from_host.clone(),
        to_host: args.to_host.clone(),
    };
    let dry_run = args.dry_run.then(|| Arc::new(DryRunHost::new()));
    let host: Arc<dyn HostRunner> = match &dry_run {
        Some(dry) => dry.clone(),
        None => Arc::new(SystemHost::new()),
    };
    let mut lines: Vec<String> = Vec::new();
    let result = ops::copy_filesystems(host, &target, &source, &request, &mut lines).await;
    for line in &lines {
        writeln!(out, "{line}").map_err(write_err)?;
    }
    result.map_err(ops_err)?;
    if let Some(dry) = dry_run {
        for command in dry.recorded() {
            writeln!(out, "would run: {command}").map_err(write_err)?;
        }
    }
    Ok(())
}
