//! Running one operation per config file, up to `-j N` at once on the one tokio runtime.
//! Each operation writes into its own buffer; buffers are printed in the order of the files, so
//! output never interleaves. With one job the original's behaviour holds: files are handled in
//! order and the first error stops the run.

use std::future::Future;
use std::io::Write;

use futures_util::stream::{self, StreamExt};
use lxops_core::config;
use lxops_core::lifecycle::WaitOptions;
use lxops_core::ops::{Env, OpsError};

use super::targets::{env, ops_err, Target};
use crate::args::ChangeArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs one `ops` operation per target with [`run_all`]: builds each instance's [`Env`]
/// (`--dry-run` aware) and gives the operation the instance and its output buffer.
pub(crate) async fn run_per_instance<Op>(
    ctx: &Context,
    targets: Vec<Target>,
    change: &ChangeArgs,
    wait: WaitOptions,
    out: &mut dyn Write,
    operation: Op,
) -> CliResult
where
    Op: AsyncFn(&Env, &config::Instance, &mut Vec<u8>) -> Result<(), OpsError>,
{
    let operation = &operation;
    run_all(targets, change.jobs, out, |target, mut buffer| async move {
        let result = async {
            let env = env(ctx, &target.instance, change.dry_run, wait).await?;
            operation(&env, &target.instance, &mut buffer)
                .await
                .map_err(ops_err)
        }
        .await;
        (buffer, result)
    })
    .await
}

/// Runs `operation` for every item with at most `jobs` running at once, writing each item's
/// output to `out` in item order. Returns the first error (with `jobs > 1` after every item ran,
/// and with a summary of how many failed).
pub(crate) async fn run_all<T, F, Fut>(
    items: Vec<T>,
    jobs: usize,
    out: &mut dyn Write,
    operation: F,
) -> CliResult
where
    F: Fn(T, Vec<u8>) -> Fut,
    Fut: Future<Output = (Vec<u8>, CliResult)>,
{
    let jobs = jobs.max(1);
    if jobs == 1 {
        for item in items {
            let (buffer, result) = operation(item, Vec::new()).await;
            write_all(out, &buffer)?;
            result?;
        }
        return Ok(());
    }
    let total = items.len();
    let mut results = stream::iter(items)
        .map(|item| operation(item, Vec::new()))
        .buffered(jobs);
    let mut errors: Vec<CliError> = Vec::new();
    while let Some((buffer, result)) = results.next().await {
        write_all(out, &buffer)?;
        if let Err(e) = result {
            errors.push(e);
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        n => {
            let messages: Vec<String> = errors.iter().map(|e| format!("- {e:#}")).collect();
            let first = errors.remove(0);
            let summary = format!("{n} of {total} failed:\n{}", messages.join("\n"));
            Err(match first.kind() {
                crate::error::ErrorKind::Input => CliError::input(anyhow::anyhow!(summary)),
                crate::error::ErrorKind::Failure => CliError::failure(anyhow::anyhow!(summary)),
            })
        }
    }
}

fn write_all(out: &mut dyn Write, buffer: &[u8]) -> CliResult {
    out.write_all(buffer)
        .map_err(|e| CliError::failure(anyhow::Error::new(e).context("writing output")))
}
