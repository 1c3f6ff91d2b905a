//! Running one operation per config file, up to `-j N` at once on the one tokio runtime.
//! Each operation writes into its own buffer; buffers are printed in the order of the files, so
//! output never interleaves. With one job the original's behaviour holds: files are handled in
//! order and the first error stops the run.

use std::future::Future;
use std::io::Write;

use futures_util::stream::{self, StreamExt};

use crate::error::{CliError, CliResult};

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
