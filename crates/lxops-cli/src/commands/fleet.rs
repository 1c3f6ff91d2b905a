//! Running one operation per instance, up to `-j N` at once on the one tokio runtime.
//!
//! Each operation writes into its own buffer; buffers are printed as whole blocks in the order of
//! the instances, so output never interleaves. One instance failing does not stop the others
//! (`--fail-fast` does: no new instance starts after the first failure). A run over more than
//! one instance prefixes every output line with the instance name (so the output can be read and
//! grepped per instance) and ends with a summary table: instance, command, result, duration.
//! The exit status is that of the first failure.
//!
//! Ctrl-C: the first interrupt starts no new instance and lets the running ones finish (or time
//! out), then prints the summary; a second one aborts at once. Either way the same command run
//! again finishes the work (an interrupted launch is resumed, see `lxops_core::ops::launch`).

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use lxops_core::config;
use lxops_core::lifecycle::WaitOptions;
use lxops_core::ops::{Env, OpsError};

use super::targets::{env, ops_err, Target};
use crate::args::ChangeArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output;

/// How [`run_all`] runs: the command's name (for the summary), how many at once, and whether
/// the first failure stops the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOptions<'a> {
    /// The command, as the user typed it (`launch`, `rebuild`, ...).
    pub(crate) command: &'a str,
    /// At most this many instances at once (at least 1).
    pub(crate) jobs: usize,
    /// After the first failure, start no new instance.
    pub(crate) fail_fast: bool,
}

impl ChangeArgs {
    /// The run options of `command` from `-j` and `--fail-fast`.
    pub(crate) fn run_options<'a>(&self, command: &'a str) -> RunOptions<'a> {
        RunOptions {
            command,
            jobs: self.jobs,
            fail_fast: self.fail_fast,
        }
    }
}

/// One unit of work: the instance it is for, and what the operation needs.
pub(crate) struct Unit<T> {
    /// The instance name, as shown in output prefixes and the summary.
    pub(crate) instance: String,
    /// The operation's input.
    pub(crate) item: T,
}

impl From<Target> for Unit<Target> {
    fn from(target: Target) -> Self {
        Unit {
            instance: target.instance.name.clone(),
            item: target,
        }
    }
}

/// Runs one `ops` operation per target with [`run_all`]: builds each instance's [`Env`]
/// (`--dry-run` aware) and gives the operation the instance and its output buffer.
pub(crate) async fn run_per_instance<Op>(
    ctx: &Context,
    command: &str,
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
    let units = targets.into_iter().map(Unit::from).collect();
    run_all(
        units,
        change.run_options(command),
        out,
        |target, mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, change.dry_run, wait).await?;
                operation(&env, &target.instance, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}

/// How one unit ended.
enum Outcome {
    Done(Duration),
    Failed(Duration, CliError),
    /// Not started: `--fail-fast` after an earlier failure, or an interrupt.
    Skipped(&'static str),
}

/// Runs `operation` for every unit with at most `options.jobs` running at once, writing each
/// unit's output to `out` in unit order (see the module docs for failures and the summary).
pub(crate) async fn run_all<T, F, Fut>(
    units: Vec<Unit<T>>,
    options: RunOptions<'_>,
    out: &mut dyn Write,
    operation: F,
) -> CliResult
where
    F: Fn(T, Vec<u8>) -> Fut,
    Fut: Future<Output = (Vec<u8>, CliResult)>,
{
    let many = units.len() > 1;
    let stop = AtomicBool::new(false);
    let interrupted = AtomicBool::new(false);
    let (stop, interrupted, operation) = (&stop, &interrupted, &operation);
    let mut results = stream::iter(units)
        .map(|unit| async move {
            if stop.load(Ordering::SeqCst) {
                let why = if interrupted.load(Ordering::SeqCst) {
                    "skipped (interrupted)"
                } else {
                    "skipped (--fail-fast)"
                };
                return (unit.instance, Vec::new(), Outcome::Skipped(why));
            }
            let started = Instant::now();
            let (buffer, result) = operation(unit.item, Vec::new()).await;
            let outcome = match result {
                Ok(()) => Outcome::Done(started.elapsed()),
                Err(e) => {
                    if options.fail_fast {
                        stop.store(true, Ordering::SeqCst);
                    }
                    Outcome::Failed(started.elapsed(), e)
                }
            };
            (unit.instance, buffer, outcome)
        })
        .buffered(options.jobs.max(1));
    let mut finished: Vec<(String, Outcome)> = Vec::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let next = tokio::select! {
            next = results.next() => next,
            _ = &mut ctrl_c => {
                if interrupted.swap(true, Ordering::SeqCst) {
                    tracing::error!("interrupted again: aborting; run the same command again to finish the work");
                    std::process::exit(130);
                }
                stop.store(true, Ordering::SeqCst);
                tracing::warn!("interrupted: starting no new instance, letting the running ones finish (Ctrl-C again aborts)");
                ctrl_c.set(tokio::signal::ctrl_c());
                continue;
            }
        };
        let Some((instance, buffer, outcome)) = next else {
            break;
        };
        if many {
            write_prefixed(out, &instance, &buffer)?;
            if let Outcome::Failed(_, e) = &outcome {
                // Failures also reach stderr as they happen, not only in the final message.
                tracing::error!("{instance}: {e:#}");
            }
        } else {
            write_all(out, &buffer)?;
        }
        finished.push((instance, outcome));
    }
    if many {
        write_summary(out, options.command, &finished)?;
    }
    let skipped = finished
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Skipped(_)))
        .count();
    into_result(finished)?;
    if interrupted.load(Ordering::SeqCst) && skipped > 0 {
        return Err(CliError::failure(anyhow::anyhow!(
            "interrupted: {skipped} instance(s) not started; run the same command again to finish"
        )));
    }
    Ok(())
}

/// The first failure, or with several a summary error (of the first failure's class).
fn into_result(finished: Vec<(String, Outcome)>) -> CliResult {
    let total = finished.len();
    let mut failures: Vec<(String, CliError)> = finished
        .into_iter()
        .filter_map(|(instance, outcome)| match outcome {
            Outcome::Failed(_, e) => Some((instance, e)),
            _ => None,
        })
        .collect();
    match failures.len() {
        0 => Ok(()),
        1 if total == 1 => Err(failures.remove(0).1),
        n => {
            let messages: Vec<String> = failures
                .iter()
                .map(|(instance, e)| format!("- {instance}: {e:#}"))
                .collect();
            let summary = format!("{n} of {total} failed:\n{}", messages.join("\n"));
            Err(match failures[0].1.kind() {
                ErrorKind::Input => CliError::input(anyhow::anyhow!(summary)),
                ErrorKind::Failure | ErrorKind::Drift => {
                    CliError::failure(anyhow::anyhow!(summary))
                }
            })
        }
    }
}

/// The summary table: `INSTANCE COMMAND RESULT DURATION`.
fn write_summary(out: &mut dyn Write, command: &str, finished: &[(String, Outcome)]) -> CliResult {
    let rows: Vec<Vec<String>> = finished
        .iter()
        .map(|(instance, outcome)| {
            let (result, duration) = match outcome {
                Outcome::Done(d) => ("ok".to_string(), seconds(*d)),
                Outcome::Failed(d, e) => (format!("failed: {}", first_line(e)), seconds(*d)),
                Outcome::Skipped(why) => (why.to_string(), "-".to_string()),
            };
            vec![instance.clone(), command.to_string(), result, duration]
        })
        .collect();
    writeln!(out).map_err(super::write_err)?;
    output::table(out, &["INSTANCE", "COMMAND", "RESULT", "DURATION"], &rows)
        .map_err(super::write_err)
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn first_line(e: &CliError) -> String {
    e.to_string().lines().next().unwrap_or("").to_string()
}

/// Writes `buffer` with every line prefixed by `instance: `.
fn write_prefixed(out: &mut dyn Write, instance: &str, buffer: &[u8]) -> CliResult {
    let text = String::from_utf8_lossy(buffer);
    let mut prefixed = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        prefixed.push_str(instance);
        prefixed.push_str(": ");
        prefixed.push_str(line);
        prefixed.push('\n');
    }
    write_all(out, prefixed.as_bytes())
}

fn write_all(out: &mut dyn Write, buffer: &[u8]) -> CliResult {
    out.write_all(buffer)
        .map_err(|e| CliError::failure(anyhow::Error::new(e).context("writing output")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(names: &[&str]) -> Vec<Unit<String>> {
        names
            .iter()
            .map(|n| Unit {
                instance: n.to_string(),
                item: n.to_string(),
            })
            .collect()
    }

    /// Runs a fake operation (`bad*` fails, everything else prints one line) and returns the
    /// prefixed output, the summary's INSTANCE and RESULT columns, and the error.
    fn run(
        names: &[&str],
        jobs: usize,
        fail_fast: bool,
    ) -> (String, Vec<String>, Result<(), String>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut out = Vec::new();
        let options = RunOptions {
            command: "launch",
            jobs,
            fail_fast,
        };
        let result = runtime.block_on(run_all(
            units(names),
            options,
            &mut out,
            |name, mut buffer| async move {
                writeln!(buffer, "working on {name}").unwrap();
                if name.starts_with("bad") {
                    let e = CliError::failure(anyhow::anyhow!("{name} broke\nmore"));
                    return (buffer, Err(e));
                }
                (buffer, Ok(()))
            },
        ));
        let text = String::from_utf8(out).unwrap();
        let (lines, summary) = text.split_once("\n\n").unwrap_or((&text, ""));
        let summary = summary
            .lines()
            .skip(1)
            .map(|row| {
                let cells: Vec<&str> = row.split("  ").filter(|c| !c.is_empty()).collect();
                format!("{} {}", cells[0].trim(), cells[2].trim())
            })
            .collect();
        (
            lines.to_string(),
            summary,
            result.map_err(|e| format!("{e:#}")),
        )
    }

    #[test]
    fn one_instance_prints_plainly_without_summary() {
        let (out, summary, result) = run(&["a1"], 1, false);
        assert_eq!((out.as_str(), summary.len()), ("working on a1\n", 0));
        assert_eq!(result, Ok(()));
        let (out, _, result) = run(&["bad1"], 1, false);
        assert_eq!(out, "working on bad1\n");
        assert_eq!(result, Err("bad1 broke\nmore".to_string()));
    }

    #[test]
    fn a_failure_does_not_stop_the_others_and_the_summary_says_so() {
        for jobs in [1, 3] {
            let (out, summary, result) = run(&["a1", "bad2", "a3"], jobs, false);
            assert_eq!(
                out, "a1: working on a1\nbad2: working on bad2\na3: working on a3",
                "jobs {jobs}"
            );
            assert_eq!(summary, ["a1 ok", "bad2 failed: bad2 broke", "a3 ok"]);
            let want = "1 of 3 failed:\n- bad2: bad2 broke\nmore";
            assert_eq!(result, Err(want.to_string()), "jobs {jobs}");
        }
    }

    #[test]
    fn fail_fast_starts_nothing_after_the_first_failure() {
        let (out, summary, result) = run(&["bad1", "a2", "bad3"], 1, true);
        assert_eq!(out, "bad1: working on bad1");
        let skipped = "skipped (--fail-fast)";
        assert_eq!(
            summary,
            [
                "bad1 failed: bad1 broke".to_string(),
                format!("a2 {skipped}"),
                format!("bad3 {skipped}")
            ]
        );
        assert_eq!(
            result,
            Err("1 of 3 failed:\n- bad1: bad1 broke\nmore".to_string())
        );
    }

    #[test]
    fn the_summary_is_a_table_with_durations() {
        let finished = vec![
            (
                "web1".to_string(),
                Outcome::Done(Duration::from_millis(1234)),
            ),
            (
                "web2".to_string(),
                Outcome::Failed(
                    Duration::from_millis(50),
                    CliError::failure(anyhow::anyhow!("image missing\ndetails")),
                ),
            ),
            (
                "web3".to_string(),
                Outcome::Skipped("skipped (--fail-fast)"),
            ),
        ];
        let mut out = Vec::new();
        write_summary(&mut out, "rebuild", &finished).unwrap();
        expect_test::expect![[r#"

            INSTANCE  COMMAND  RESULT                 DURATION
            web1      rebuild  ok                     1.2s
            web2      rebuild  failed: image missing  0.1s
            web3      rebuild  skipped (--fail-fast)  -
        "#]]
        .assert_eq(&String::from_utf8(out).unwrap());
    }
}
