//! Running one operation per instance, up to `-j N` at once on the one tokio runtime: the
//! core's runner (`lxops_core::ops::fleet`) does the running, fail-fast and stopping; this module
//! prints (instance blocks, live lines, the summary) and handles Ctrl-C.
//!
//! Each operation writes into its own buffer; buffers are printed as whole blocks in the order of
//! the instances, so output never interleaves. One instance failing does not stop the others
//! (`--fail-fast` does: no new instance starts after the first failure). A run over more than
//! one instance prefixes every output line with the instance name (so the output can be read and
//! grepped per instance) and ends with a summary table: instance, command, result, duration;
//! and on a cluster the member each instance runs on, where the operation learned it (a launch
//! reads where the instance went anyway; no request is added for the summary). The table shows
//! that LOCATION column only when some row has a location (so never on a standalone daemon);
//! `--format json|yaml|csv` always have the `location` field (last; `null` or empty when
//! unknown), so their schema does not depend on the daemon.
//! The exit status is that of the first failure.
//!
//! Ctrl-C: the first interrupt starts no new instance and lets the running ones finish (or time
//! out), then prints the summary; a second one aborts at once. Either way the same command run
//! again finishes the work (an interrupted launch is resumed, see `lxops_core::ops::launch`).
//!
//! With `--format json|yaml|csv` stdout carries only the summary in that format (also for one
//! instance) and the instance lines go to stderr; `-q` leaves out the instance lines.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use lxops_core::config;
use lxops_core::lifecycle::WaitOptions;
pub(crate) use lxops_core::ops::fleet::Unit;
use lxops_core::ops::fleet::{self, Outcome, SkipReason, UnitResult};
use lxops_core::ops::{Env, OpsError};

use super::targets::{env, ops_err, Target};
use crate::args::ChangeArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::{self, Format, Row};
use crate::progress::{Buffer, Live};
use serde::Serialize;

/// Where [`run_all`] writes instance lines when stdout carries machine-readable output.
pub(crate) trait ErrSink {
    /// Writes `bytes` (whole lines).
    fn write_err(&self, bytes: &[u8]);
}

impl ErrSink for Context {
    fn write_err(&self, bytes: &[u8]) {
        Context::write_err(self, bytes);
    }
}

/// How [`run_all`] runs: the command's name (for the summary), how many at once, whether
/// the first failure stops the run, and how it prints.
#[derive(Clone, Copy)]
pub(crate) struct RunOptions<'a> {
    /// The command, as the user typed it (`launch`, `rebuild`, ...).
    pub(crate) command: &'a str,
    /// At most this many instances at once (at least 1).
    pub(crate) jobs: usize,
    /// After the first failure, start no new instance.
    pub(crate) fail_fast: bool,
    /// The format of the summary (table: the instance lines go to stdout too).
    pub(crate) format: Format,
    /// Print no instance lines, only errors and the summary.
    pub(crate) quiet: bool,
    /// Where instance lines go when `format` is not the table.
    pub(crate) err: &'a dyn ErrSink,
    /// Show one live line per running instance on stderr (a terminal, and not `-q`).
    pub(crate) live: bool,
    /// Colour the live lines (stderr is a terminal and `NO_COLOR` is not set).
    pub(crate) colour: bool,
}

impl ChangeArgs {
    /// The run options of `command` from `-j`, `--fail-fast`, `--format` and `-q`.
    pub(crate) fn run_options<'a>(&self, ctx: &'a Context, command: &'a str) -> RunOptions<'a> {
        RunOptions {
            command,
            jobs: self.jobs,
            fail_fast: self.fail_fast,
            format: ctx.format(),
            quiet: ctx.global.quiet,
            err: ctx,
            live: ctx.terminal && !ctx.global.quiet,
            colour: crate::log_colours(
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
                std::env::var_os("NO_COLOR"),
            ),
        }
    }
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
    Op: AsyncFn(&Env, &config::Instance, &mut Buffer) -> Result<(), OpsError>,
{
    let operation = &operation;
    let units = targets.into_iter().map(Unit::from).collect();
    run_all(
        units,
        change.run_options(ctx, command),
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

/// Runs `operation` for every unit with at most `options.jobs` running at once (the core's
/// [`fleet::run_units`]), writing each unit's output to `out` in unit order (see the module docs
/// for failures, Ctrl-C and the summary).
pub(crate) async fn run_all<T, F, Fut>(
    units: Vec<Unit<T>>,
    options: RunOptions<'_>,
    out: &mut dyn Write,
    operation: F,
) -> CliResult
where
    F: Fn(T, Buffer) -> Fut,
    Fut: Future<Output = (Buffer, CliResult)>,
{
    let many = units.len() > 1;
    let width = units.iter().map(|u| u.instance.len()).max().unwrap_or(0);
    let live = options.live.then(|| Live::stderr(width, options.colour));
    let live = live.as_ref();
    let table = options.format == Format::Table;
    let stop = fleet::StopFlag::default();
    let fleet_options = fleet::FleetOptions {
        jobs: options.jobs,
        fail_fast: options.fail_fast,
    };
    let report = {
        let run = fleet::run_units(
            units,
            fleet_options,
            &stop,
            |instance| live.map_or_else(Buffer::default, |l| l.start(instance)),
            operation,
            |result, buffer| {
                let buffer = buffer.map(Buffer::into_lines).unwrap_or_default();
                let instance = &result.instance;
                let lines = if options.quiet {
                    Vec::new()
                } else if many {
                    prefixed(instance, &buffer)
                } else {
                    buffer
                };
                // Printing takes the live lines of the other instances off the screen meanwhile.
                let mut print = || -> CliResult {
                    if table {
                        write_all(out, &lines)?;
                    } else {
                        options.err.write_err(&lines);
                    }
                    Ok(())
                };
                match live {
                    Some(live) => live.suspend(print)?,
                    None => print()?,
                }
                if many {
                    if let Outcome::Failed(_, e) = &result.outcome {
                        // Failures also reach stderr as they happen, not only in the final
                        // message (logged outside `suspend`: the log writer suspends the live
                        // lines itself).
                        tracing::error!("{instance}: {e:#}");
                    }
                }
                Ok(())
            },
        );
        let mut run = std::pin::pin!(run);
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        loop {
            tokio::select! {
                report = &mut run => break report?,
                _ = &mut ctrl_c => {
                    if stop.is_stopped() {
                        tracing::error!("interrupted again: aborting; run the same command again to finish the work");
                        std::process::exit(130);
                    }
                    stop.stop();
                    tracing::warn!("interrupted: starting no new instance, letting the running ones finish (Ctrl-C again aborts)");
                    ctrl_c.set(tokio::signal::ctrl_c());
                }
            }
        }
    };
    if many || !table {
        write_summary(out, options.command, options.format, &report.results)?;
    }
    let skipped = report.skipped();
    let stopped = report.stopped;
    into_result(report.results)?;
    if stopped && skipped > 0 {
        return Err(CliError::failure(anyhow::anyhow!(
            "interrupted: {skipped} instance(s) not started; run the same command again to finish"
        )));
    }
    Ok(())
}

/// The summary's text for a unit that was not started.
fn skipped_text(reason: SkipReason) -> &'static str {
    match reason {
        SkipReason::FailFast => "skipped (--fail-fast)",
        SkipReason::Stopped => "skipped (interrupted)",
    }
}

/// The first failure, or with several a summary error (of the first failure's class).
fn into_result(finished: Vec<UnitResult<CliError>>) -> CliResult {
    let total = finished.len();
    let mut failures: Vec<(String, CliError)> = finished
        .into_iter()
        .filter_map(|r| match r.outcome {
            Outcome::Failed(_, e) => Some((r.instance, e)),
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

/// One row of the summary of a run.
#[derive(Debug, Serialize)]
struct SummaryRow {
    instance: String,
    command: String,
    /// `ok`, `failed` or `skipped` (not started: `--fail-fast` after an earlier failure, or
    /// an interrupt).
    result: &'static str,
    /// Seconds, to the millisecond; `None` when skipped.
    duration_seconds: Option<f64>,
    /// The failure's message, `None` unless failed.
    error: Option<String>,
    /// The cluster member the instance runs on, when the operation learned it (a launch on a
    /// cluster); `None` on a standalone daemon.
    location: Option<String>,
}

impl Row for SummaryRow {
    const COLUMNS: &'static [&'static str] = &[
        "instance",
        "command",
        "result",
        "duration_seconds",
        "error",
        "location",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.instance.clone(),
            self.command.clone(),
            self.result.to_string(),
            self.duration_seconds
                .map(|d| d.to_string())
                .unwrap_or_default(),
            self.error.clone().unwrap_or_default(),
            self.location.clone().unwrap_or_default(),
        ]
    }
}

fn summary_rows(command: &str, finished: &[UnitResult<CliError>]) -> Vec<SummaryRow> {
    finished
        .iter()
        .map(|r| {
            let (result, duration, error) = match &r.outcome {
                Outcome::Done(d) => ("ok", Some(*d), None),
                Outcome::Failed(d, e) => ("failed", Some(*d), Some(format!("{e:#}"))),
                Outcome::Skipped(_) => ("skipped", None, None),
            };
            SummaryRow {
                instance: r.instance.clone(),
                command: command.to_string(),
                result,
                duration_seconds: duration.map(|d| d.as_millis() as f64 / 1000.0),
                error,
                location: r.location.clone(),
            }
        })
        .collect()
}

/// The summary: as a table `INSTANCE COMMAND [LOCATION] RESULT DURATION` after an empty line
/// (LOCATION when some instance has one: on a cluster), or the rows in `format`.
fn write_summary(
    out: &mut dyn Write,
    command: &str,
    format: Format,
    finished: &[UnitResult<CliError>],
) -> CliResult {
    let rows = summary_rows(command, finished);
    let located = finished.iter().any(|r| r.location.is_some());
    output::rows_or(out, format, &rows, |out| {
        let cells: Vec<Vec<String>> = finished
            .iter()
            .map(|r| {
                let (result, duration) = match &r.outcome {
                    Outcome::Done(d) => ("ok".to_string(), seconds(*d)),
                    Outcome::Failed(d, e) => (format!("failed: {}", first_line(e)), seconds(*d)),
                    Outcome::Skipped(why) => (skipped_text(*why).to_string(), "-".to_string()),
                };
                let mut cells = vec![r.instance.clone(), command.to_string()];
                if located {
                    cells.push(r.location.clone().unwrap_or_else(|| "-".to_string()));
                }
                cells.extend([result, duration]);
                cells
            })
            .collect();
        let headers: &[&str] = if located {
            &["INSTANCE", "COMMAND", "LOCATION", "RESULT", "DURATION"]
        } else {
            &["INSTANCE", "COMMAND", "RESULT", "DURATION"]
        };
        writeln!(out)?;
        output::table(out, headers, &cells)
    })
    .map_err(super::write_err)
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn first_line(e: &CliError) -> String {
    e.to_string().lines().next().unwrap_or("").to_string()
}

/// `buffer` with every line prefixed by `instance: `.
fn prefixed(instance: &str, buffer: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(buffer);
    let mut prefixed = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        prefixed.push_str(instance);
        prefixed.push_str(": ");
        prefixed.push_str(line);
        prefixed.push('\n');
    }
    prefixed.into_bytes()
}

fn write_all(out: &mut dyn Write, buffer: &[u8]) -> CliResult {
    out.write_all(buffer)
        .map_err(|e| CliError::failure(anyhow::Error::new(e).context("writing output")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lxops_core::lifecycle::Progress;

    fn units(names: &[&str]) -> Vec<Unit<String>> {
        names
            .iter()
            .map(|n| Unit {
                instance: n.to_string(),
                item: n.to_string(),
            })
            .collect()
    }

    fn result(instance: &str, outcome: Outcome<CliError>) -> UnitResult<CliError> {
        UnitResult {
            instance: instance.to_string(),
            outcome,
            location: None,
        }
    }

    fn located(instance: &str, outcome: Outcome<CliError>, member: &str) -> UnitResult<CliError> {
        UnitResult {
            location: Some(member.to_string()),
            ..result(instance, outcome)
        }
    }

    impl ErrSink for std::cell::RefCell<Vec<u8>> {
        fn write_err(&self, bytes: &[u8]) {
            self.borrow_mut().extend_from_slice(bytes);
        }
    }

    /// Runs the fake operation of [`run`] with `format` and `quiet`; returns stdout, stderr
    /// and the error.
    fn run_formatted(
        names: &[&str],
        format: Format,
        quiet: bool,
    ) -> (String, String, Result<(), String>) {
        let err = std::cell::RefCell::new(Vec::new());
        let options = RunOptions {
            command: "launch",
            jobs: 2,
            fail_fast: false,
            format,
            quiet,
            err: &err,
            live: false,
            colour: false,
        };
        let (out, result) = run_with_options(names, options);
        (out, String::from_utf8(err.take()).unwrap(), result)
    }

    fn run_with_options(names: &[&str], options: RunOptions<'_>) -> (String, Result<(), String>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut out = Vec::new();
        let result = runtime.block_on(run_all(
            units(names),
            options,
            &mut out,
            |name, mut buffer| async move {
                writeln!(buffer, "working on {name}").unwrap();
                // `NAME@MEMBER`: the operation learns that the instance runs on MEMBER.
                if let Some((_, member)) = name.split_once('@') {
                    buffer.located(member);
                }
                if name.starts_with("bad") {
                    let e = CliError::failure(anyhow::anyhow!("{name} broke\nmore"));
                    return (buffer, Err(e));
                }
                (buffer, Ok(()))
            },
        ));
        (
            String::from_utf8(out).unwrap(),
            result.map_err(|e| format!("{e:#}")),
        )
    }

    /// Runs a fake operation (`bad*` fails, everything else prints one line) and returns the
    /// prefixed output, the summary's INSTANCE and RESULT columns, and the error.
    fn run(
        names: &[&str],
        jobs: usize,
        fail_fast: bool,
    ) -> (String, Vec<String>, Result<(), String>) {
        let err = std::cell::RefCell::new(Vec::new());
        let options = RunOptions {
            command: "launch",
            jobs,
            fail_fast,
            format: Format::Table,
            quiet: false,
            err: &err,
            live: false,
            colour: false,
        };
        let (text, result) = run_with_options(names, options);
        let (lines, summary) = text.split_once("\n\n").unwrap_or((&text, ""));
        let summary = summary
            .lines()
            .skip(1)
            .map(|row| {
                let cells: Vec<&str> = row.split("  ").filter(|c| !c.is_empty()).collect();
                format!("{} {}", cells[0].trim(), cells[2].trim())
            })
            .collect();
        (lines.to_string(), summary, result)
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
            result("web1", Outcome::Done(Duration::from_millis(1234))),
            result(
                "web2",
                Outcome::Failed(
                    Duration::from_millis(50),
                    CliError::failure(anyhow::anyhow!("image missing\ndetails")),
                ),
            ),
            result("web3", Outcome::Skipped(SkipReason::FailFast)),
            result("web4", Outcome::Skipped(SkipReason::Stopped)),
        ];
        let mut out = Vec::new();
        write_summary(&mut out, "rebuild", Format::Table, &finished).unwrap();
        expect_test::expect![[r#"

            INSTANCE  COMMAND  RESULT                 DURATION
            web1      rebuild  ok                     1.2s
            web2      rebuild  failed: image missing  0.1s
            web3      rebuild  skipped (--fail-fast)  -
            web4      rebuild  skipped (interrupted)  -
        "#]]
        .assert_eq(&String::from_utf8(out).unwrap());
    }

    #[test]
    fn on_a_cluster_the_summary_shows_where_each_instance_runs() {
        let failed = || CliError::failure(anyhow::anyhow!("start failed"));
        let finished = vec![
            located("web1", Outcome::Done(Duration::from_millis(1234)), "m2"),
            located(
                "web2",
                Outcome::Failed(Duration::from_millis(50), failed()),
                "m3",
            ),
            result("web3", Outcome::Failed(Duration::from_millis(5), failed())),
            result("web4", Outcome::Skipped(SkipReason::FailFast)),
        ];
        let mut out = Vec::new();
        write_summary(&mut out, "launch", Format::Table, &finished).unwrap();
        expect_test::expect![[r#"

            INSTANCE  COMMAND  LOCATION  RESULT                 DURATION
            web1      launch   m2        ok                     1.2s
            web2      launch   m3        failed: start failed   0.1s
            web3      launch   -         failed: start failed   0.0s
            web4      launch   -         skipped (--fail-fast)  -
        "#]]
        .assert_eq(&String::from_utf8(out).unwrap());
        let mut out = Vec::new();
        write_summary(&mut out, "launch", Format::Csv, &finished[..2]).unwrap();
        expect_test::expect![[r#"
            instance,command,result,duration_seconds,error,location
            web1,launch,ok,1.234,,m2
            web2,launch,failed,0.05,start failed,m3
        "#]]
        .assert_eq(&String::from_utf8(out).unwrap());
        let parsed = crate::output::check::json_rows(&summary_rows("launch", &finished));
        let locations: Vec<String> = parsed.iter().map(|r| r["location"].to_string()).collect();
        assert_eq!(locations, [r#""m2""#, r#""m3""#, "null", "null"]);
    }

    /// What the operation reports through `Progress::located` reaches the summary, in unit
    /// order, whatever order the instances end in.
    #[test]
    fn the_locations_the_operations_report_reach_the_summary() {
        let (out, err, _) = run_formatted(&["a1@m2", "a2", "bad3@m1"], Format::Json, true);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let got: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {} {}", r["instance"], r["result"], r["location"]))
            .collect();
        assert_eq!(
            got,
            [
                r#""a1@m2" "ok" "m2""#,
                r#""a2" "ok" null"#,
                r#""bad3@m1" "failed" "m1""#
            ]
        );
        assert_eq!(err, "");
        let (out, _, _) = run_formatted(&["a1@m2", "a2"], Format::Table, true);
        assert!(
            out.starts_with("\nINSTANCE  COMMAND  LOCATION  RESULT"),
            "{out}"
        );
        let (out, _, _) = run_formatted(&["a1", "a2"], Format::Table, true);
        assert!(out.starts_with("\nINSTANCE  COMMAND  RESULT"), "{out}");
    }

    #[test]
    fn machine_readable_output_is_the_summary_alone_with_the_lines_on_stderr() {
        for names in [&["a1", "bad2"][..], &["a1"][..]] {
            let (out, err, _) = run_formatted(names, Format::Json, false);
            let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
            assert_eq!(rows.len(), names.len(), "{out}");
            assert_eq!(rows[0]["instance"], "a1");
            assert_eq!(rows[0]["command"], "launch");
            assert_eq!(rows[0]["result"], "ok");
            assert!(rows[0]["duration_seconds"].is_number(), "{out}");
            assert_eq!(rows[0]["error"], serde_json::Value::Null);
            // Standalone: the field is there, empty.
            assert_eq!(rows[0]["location"], serde_json::Value::Null);
            if names.len() > 1 {
                assert_eq!(rows[1]["result"], "failed");
                assert_eq!(rows[1]["error"], "bad2 broke\nmore");
                assert_eq!(err, "a1: working on a1\nbad2: working on bad2\n");
            } else {
                assert_eq!(err, "working on a1\n");
            }
        }
        let (out, err, _) = run_formatted(&["a1", "a2"], Format::Csv, false);
        assert_eq!(
            out.lines().next(),
            Some("instance,command,result,duration_seconds,error,location")
        );
        assert_eq!(out.lines().count(), 3, "{out}");
        assert_eq!(err.lines().count(), 2, "{err}");
    }

    #[test]
    fn quiet_prints_only_the_summary() {
        let (out, err, result) = run_formatted(&["a1", "bad2"], Format::Table, true);
        assert!(out.starts_with("\nINSTANCE "), "{out}");
        assert_eq!(out.lines().count(), 4, "{out}");
        assert_eq!(err, "");
        assert!(result.is_err());
        let (out, err, result) = run_formatted(&["a1"], Format::Table, true);
        assert_eq!((out.as_str(), err.as_str(), result), ("", "", Ok(())));
    }

    #[test]
    fn summary_rows_parse_back() {
        let finished = vec![
            result("web1", Outcome::Done(Duration::from_millis(1234))),
            result("web3", Outcome::Skipped(SkipReason::FailFast)),
        ];
        let parsed = crate::output::check::json_rows(&summary_rows("rebuild", &finished));
        assert_eq!(parsed[0]["duration_seconds"], 1.234);
        assert_eq!(parsed[1]["result"], "skipped");
        assert_eq!(parsed[1]["duration_seconds"], serde_json::Value::Null);
    }

    #[test]
    fn plain_output_of_a_run_over_several_instances() {
        let err = std::cell::RefCell::new(Vec::new());
        let options = RunOptions {
            command: "launch",
            jobs: 3,
            fail_fast: false,
            format: Format::Table,
            quiet: false,
            err: &err,
            live: false,
            colour: false,
        };
        let (out, _) = run_with_options(&["web1", "bad-web2", "web3"], options);
        // Durations vary: show them as `N.Ns`.
        let out: String = out
            .lines()
            .map(|l| match l.rsplit_once("  ") {
                Some((rest, d)) if d.ends_with('s') && d.starts_with("0.") => {
                    format!("{rest}  N.Ns\n")
                }
                _ => format!("{l}\n"),
            })
            .collect();
        expect_test::expect![[r#"
            web1: working on web1
            bad-web2: working on bad-web2
            web3: working on web3

            INSTANCE  COMMAND  RESULT                  DURATION
            web1      launch   ok                      N.Ns
            bad-web2  launch   failed: bad-web2 broke  N.Ns
            web3      launch   ok                      N.Ns
        "#]]
        .assert_eq(&out);
        assert_eq!(err.take(), b"");
    }
}
