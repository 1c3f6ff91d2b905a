//! `cargo xtask bench [--runs N] [--no-setup] [CASE...]`: times lxops against the bare
//! `lxc`/`incus` commands on both daemons (cluster cases: on both test clusters) and prints a
//! table per case (median, min, max, overhead vs bare). `--no-setup` skips `cargo xtask
//! setup`, e.g. while someone else's test has a cluster member stopped (setup would rebuild
//! that cluster).
//!
//! Each variant runs once to warm up, then `N` timed runs, interleaved with the other
//! variants' runs. The cases live in [`cases::CASES`]; a case with `count > 1` works on that
//! many instances (see [`Vars::expand_line`]).
//! A variant whose command fails is reported with the command's stderr; the others still run.

mod cases;
mod stats;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::ci::{cargo, target_dir};
use crate::cmd::log;
use crate::setup::{self, cluster::CLUSTERS, daemons::DAEMONS};

use cases::{Case, Variant, CASES};
use stats::{Row, Summary};

const DEFAULT_RUNS: usize = 5;

/// Parses the bench arguments and runs the chosen cases (all when none are named).
pub fn run(args: &[String]) -> Result<()> {
    let Some(Args { runs, names, setup }) = parse_args(args)? else {
        println!("{}", usage());
        return Ok(());
    };
    let chosen: Vec<&Case> = if names.is_empty() {
        CASES.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                CASES.iter().find(|c| c.name == n).with_context(|| {
                    let known: Vec<&str> = CASES.iter().map(|c| c.name).collect();
                    format!("unknown bench case `{n}`; cases: {}", known.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    if setup {
        setup::run()?;
    }
    log("bench", "building release binaries");
    cargo()
        .args(["build", "--release", "-p", "lxops-lxd", "-p", "lxops-incus"])
        .run()?;
    let release = target_dir().join("release");
    let mut failed = Vec::new();
    for case in chosen {
        let rows = run_case(case, runs, &release)?;
        println!(
            "\n{}: {} ({runs} runs after 1 warm-up)",
            case.name, case.description
        );
        print!("{}", stats::table(&rows));
        if rows.iter().any(|r| r.result.is_err()) {
            failed.push(case.name);
        }
    }
    if !failed.is_empty() {
        bail!("some variants failed in: {}", failed.join(", "));
    }
    Ok(())
}

/// The bench command line.
#[derive(Debug, PartialEq)]
struct Args {
    /// Timed runs per variant.
    runs: usize,
    /// The cases to run (all when empty).
    names: Vec<String>,
    /// Whether to run `cargo xtask setup` first.
    setup: bool,
}

/// The usage text, with every case.
fn usage() -> String {
    let mut text = format!(
        "usage: cargo xtask bench [--runs N] [--no-setup] [CASE...]\n\n\
         --runs N    timed runs per variant after one warm-up (default {DEFAULT_RUNS})\n\
         --no-setup  do not run `cargo xtask setup` first (the daemons and clusters must be up)\n\n\
         cases (default: all):\n"
    );
    for case in CASES {
        text.push_str(&format!("  {}\n", case.name));
    }
    text
}

/// The arguments; `None` for `--help`.
fn parse_args(args: &[String]) -> Result<Option<Args>> {
    let mut parsed = Args {
        runs: DEFAULT_RUNS,
        names: Vec::new(),
        setup: true,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--no-setup" => {
                parsed.setup = false;
                continue;
            }
            "--runs" | "-n" => iter.next().map(String::as_str),
            a if a.starts_with("--runs=") => a.strip_prefix("--runs="),
            a if a.starts_with('-') => {
                bail!("unknown bench option `{a}`; use --runs N, --no-setup or --help")
            }
            name => {
                parsed.names.push(name.to_owned());
                continue;
            }
        };
        parsed.runs = value
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .context("--runs needs a positive number")?;
    }
    Ok(Some(parsed))
}

/// The placeholder values of one daemon's runs (see [`cases`]).
struct Vars<'a> {
    daemon: &'a str,
    cli: &'a str,
    lxops: &'a Path,
    dir: &'a Path,
    count: usize,
    /// The daemon's test cluster: its state directory and members.
    cluster: Option<(&'a str, [&'a str; 3])>,
}

impl Vars<'_> {
    /// The commands of `line`: one, or with `{i}` one per instance (`i` = 1..=count). A word
    /// with `{all}` becomes `count` words, one per instance, in the same command.
    fn expand_line(&self, line: &str, name: &str) -> Vec<Vec<String>> {
        let line = &self.cluster_words(line);
        let each: Vec<usize> = if line.contains("{i}") {
            (1..=self.count).collect()
        } else {
            vec![0]
        };
        each.into_iter()
            .map(|i| {
                line.split_whitespace()
                    .flat_map(|w| {
                        let indices: Vec<usize> = if w.contains("{all}") {
                            (1..=self.count).collect()
                        } else {
                            vec![i]
                        };
                        indices
                            .into_iter()
                            .map(|j| self.word(w, name, j))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .collect()
    }

    /// `line` with `{ccli}` replaced (by several words, before the line is split).
    fn cluster_words(&self, line: &str) -> String {
        let Some((dir, members)) = self.cluster else {
            return line.to_owned();
        };
        let upper = self.daemon.to_ascii_uppercase();
        let cli = format!(
            "env {upper}_DIR={dir}/{} {upper}_CONF={dir}/cli {}",
            members[0], self.cli
        );
        line.replace("{ccli}", &cli)
    }

    fn word(&self, word: &str, name: &str, i: usize) -> String {
        let mut word = word.to_owned();
        if let Some((dir, members)) = self.cluster {
            word = word
                .replace("{csock}", &format!("{dir}/{}/unix.socket", members[0]))
                .replace("{csock2}", &format!("{dir}/{}/unix.socket", members[1]))
                .replace("{m1}", members[0])
                .replace("{m2}", members[1]);
        }
        word.replace("{cli}", self.cli)
            .replace("{daemon}", self.daemon)
            .replace("{lxops}", &self.lxops.to_string_lossy())
            .replace("{dir}", &self.dir.to_string_lossy())
            .replace("{name}", name)
            .replace("{i}", &i.to_string())
            .replace("{all}", &i.to_string())
    }

    /// Runs every command of `line`.
    fn exec(&self, line: &str, name: &str) -> Result<(), String> {
        for words in self.expand_line(line, name) {
            exec(&words)?;
        }
        Ok(())
    }
}

fn run_case(case: &Case, runs: usize, release: &Path) -> Result<Vec<Row>> {
    let dir =
        std::env::temp_dir().join(format!("lxops-bench-{}-{}", std::process::id(), case.name));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, contents) in case.files {
        for i in 1..=case.count {
            let file = file.replace("{i}", &i.to_string());
            let contents = contents
                .replace("{dir}", &dir.to_string_lossy())
                .replace("{i}", &i.to_string());
            let path = dir.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, contents)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let mut rows = Vec::new();
    for daemon in DAEMONS {
        let cluster = CLUSTERS.iter().find(|c| c.name == daemon.name);
        let label = match (case.cluster, cluster) {
            (false, _) => daemon.name.to_owned(),
            (true, Some(c)) => format!("{} cluster", c.name),
            (true, None) => bail!("no test cluster of {} for case {}", daemon.name, case.name),
        };
        let lxops = release.join(daemon.lxops);
        let vars = Vars {
            daemon: daemon.name,
            cli: daemon.cli,
            lxops: &lxops,
            dir: &dir,
            count: case.count,
            cluster: cluster.map(|c| (c.dir, c.members)),
        };
        log("bench", format!("{} {label}", case.name));
        let results = time_variants(case.variants, runs, &vars);
        let mut baseline = None;
        for (i, (variant, result)) in case.variants.iter().zip(results).enumerate() {
            let result =
                result.and_then(|times| Summary::of(&times).ok_or_else(|| "no runs".to_owned()));
            if i == 0 {
                baseline = result.as_ref().ok().map(|s| s.median);
            }
            rows.push(Row {
                daemon: label.clone(),
                variant: variant.name.to_owned(),
                result,
                baseline,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// One warm-up and `runs` timed runs of every variant, interleaved (run 1 of each variant,
/// then run 2 of each, ...) so that load from elsewhere on the machine falls on all variants
/// alike. A variant's error is the failing command and its stderr; it is not run again.
fn time_variants(
    variants: &[Variant],
    runs: usize,
    vars: &Vars,
) -> Vec<Result<Vec<Duration>, String>> {
    let mut results: Vec<Result<Vec<Duration>, String>> = variants
        .iter()
        .map(|_| Ok(Vec::with_capacity(runs)))
        .collect();
    for run in 0..=runs {
        for (variant, result) in variants.iter().zip(results.iter_mut()) {
            let Ok(times) = result else { continue };
            match time_run(variant, run, vars) {
                Ok(elapsed) if run > 0 => times.push(elapsed),
                Ok(_) => {}
                Err(e) => *result = Err(e),
            }
        }
    }
    results
}

/// One run of a variant: its untimed `before`, the timed commands, and its clean-up.
fn time_run(variant: &Variant, run: usize, vars: &Vars) -> Result<Duration, String> {
    let name = format!("lxops-bench-{}-{run}", std::process::id());
    let timed: Result<Duration, String> = (|| {
        for line in variant.before {
            vars.exec(line, &name)?;
        }
        let start = Instant::now();
        for line in variant.timed {
            vars.exec(line, &name)?;
        }
        Ok(start.elapsed())
    })();
    let mut cleanup = Ok(());
    for line in variant.after {
        if let Err(e) = vars.exec(line, &name) {
            cleanup = cleanup.and(Err(e));
        }
    }
    let elapsed = timed?;
    cleanup?;
    Ok(elapsed)
}

/// Runs one command quietly; the error names it and carries its stderr.
fn exec(words: &[String]) -> Result<(), String> {
    let (program, args) = words.split_first().ok_or("empty command")?;
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{}`: {e}", words.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "`{}` ({}): {}",
        words.join(" "),
        out.status,
        stderr.trim().replace('\n', " | ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Option<Args>, String> {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse_args(&words).map_err(|e| e.to_string())
    }

    #[test]
    fn arguments() {
        let ok = |runs, names: &[&str], setup| {
            Ok(Some(Args {
                runs,
                names: names.iter().map(|n| n.to_string()).collect(),
                setup,
            }))
        };
        let cases: &[(&str, Result<Option<Args>, String>)] = &[
            ("", ok(DEFAULT_RUNS, &[], true)),
            ("--runs 3 fleet-50", ok(3, &["fleet-50"], true)),
            ("--no-setup -n 2 a b", ok(2, &["a", "b"], false)),
            ("--runs=1 --help", Ok(None)),
            ("--runs 0", Err("--runs needs a positive number".into())),
            (
                "--fast",
                Err("unknown bench option `--fast`; use --runs N, --no-setup or --help".into()),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(&args(line), want, "{line:?}");
        }
    }

    #[test]
    fn cluster_placeholders_name_the_daemon_s_test_cluster() {
        let vars = Vars {
            daemon: "lxd",
            cli: "lxc",
            lxops: Path::new("/r/lxops-lxd"),
            dir: Path::new("/tmp/b"),
            count: 2,
            cluster: Some(("/var/lib/lxops-test/lc", ["l1", "l2", "l3"])),
        };
        let lines = [
            "{lxops} --socket {csock} launch --target {m2} -name cs-{name} {dir}/x.yaml",
            "{ccli} delete --force cs-{all}",
            "{ccli} profile delete cs-{i}.lxops",
        ];
        let got: Vec<String> = lines
            .iter()
            .flat_map(|l| vars.expand_line(l, "n"))
            .map(|words| words.join(" "))
            .collect();
        assert_eq!(
            got,
            [
                "/r/lxops-lxd --socket /var/lib/lxops-test/lc/l1/unix.socket launch --target l2 -name cs-n /tmp/b/x.yaml",
                "env LXD_DIR=/var/lib/lxops-test/lc/l1 LXD_CONF=/var/lib/lxops-test/lc/cli lxc delete --force cs-1 cs-2",
                "env LXD_DIR=/var/lib/lxops-test/lc/l1 LXD_CONF=/var/lib/lxops-test/lc/cli lxc profile delete cs-1.lxops",
                "env LXD_DIR=/var/lib/lxops-test/lc/l1 LXD_CONF=/var/lib/lxops-test/lc/cli lxc profile delete cs-2.lxops",
            ]
        );
    }
}
