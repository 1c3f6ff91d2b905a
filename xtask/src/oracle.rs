//! `cargo xtask oracle`: the differential test of cloud-config against the real cloud-init.
//!
//! Every `tests/cloudinit/*.cfg` case is applied by the shared `run-case.sh` twice, on twin
//! containers of the `cloudinit-oracle` image (Incus): with cloud-init 22.4 and with lxops
//! (`lxops-incus instance cloudconfig --ostype debian`). The state both leave behind is
//! snapshotted (accounts, shadow lock state, homes, sudo, time zone, the paths the case names
//! on its `# oracle-paths:` line, every changed file) and diffed. The diff, with both exit
//! statuses, must equal the case's golden `.diff` file: the deliberate differences that
//! `lxops help cloud-config` documents, and nothing else. `UPDATE_EXPECT=1` rewrites the
//! golden files (review them like code).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::ci::{cargo, project_root, target_dir};
use crate::cmd::{log, Cmd};
use crate::setup::cloudinit::oracle_dir;

/// Where the cases and their golden diffs live.
pub fn cases_dir() -> PathBuf {
    project_root().join("tests/cloudinit")
}

/// Builds `lxops-incus`, runs every case and compares each with its golden diff.
pub fn run() -> Result<()> {
    let started = Instant::now();
    let scripts = oracle_dir()?;
    cargo().args(["build", "-p", "lxops-incus"]).run()?;
    let binary = target_dir().join("debug/lxops-incus");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .with_context(|| format!("cannot list {}", cases_dir().display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        let name = file_stem(case);
        let out = target_dir().join("cloudinit-oracle").join(&name);
        let summary = Cmd::new(scripts.join("run-case.sh"))
            .arg(&binary)
            .arg(case)
            .arg(&out)
            .args(oracle_paths(case)?)
            .read()?;
        log("oracle", summary.trim());
        let actual = result(&out)?;
        let golden = case.with_extension("diff");
        if update {
            std::fs::write(&golden, &actual)
                .with_context(|| format!("cannot write {}", golden.display()))?;
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            let actual_file = out.join("result.diff");
            std::fs::write(&actual_file, &actual)?;
            let shown = diff(&golden, &actual_file)?;
            failures.push(format!(
                "{name}: cloud-init and lxops differ other than documented (left: {}, right: \
                 this run; logs in {}):\n{shown}",
                golden.display(),
                out.display()
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{}\nfix lxops, or document the difference in `help cloud-config` and run \
             `UPDATE_EXPECT=1 cargo xtask oracle`",
            failures.join("\n")
        );
    }
    log(
        "oracle",
        format!(
            "{} cases match cloud-init up to the documented differences ({:.0}s)",
            cases.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The extra paths a case wants inspected: its `# oracle-paths: /a /b` lines.
fn oracle_paths(case: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(case).with_context(|| format!("cannot read {}", case.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("# oracle-paths:"))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect())
}

/// `diff -u` of two files (its output; empty when they are equal).
fn diff(left: &Path, right: &Path) -> Result<String> {
    let out = std::process::Command::new("diff")
        .arg("-u")
        .arg(left)
        .arg(right)
        .output()
        .context("cannot run diff")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The account tools' backup files (`/etc/shadow-`, ...): whether one counts as changed since
/// the snapshot's marker depends on sub-second timing (a backup keeps the old file's time), so
/// they are left out of the comparison.
const UNSTABLE: &[&str] = &[
    "/etc/passwd-",
    "/etc/group-",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/subuid-",
    "/etc/subgid-",
];

/// A snapshot without the lines [`UNSTABLE`] names, written next to it as `NAME.stable`.
fn stable(out: &Path, name: &str) -> Result<PathBuf> {
    let path = out.join(name);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let kept: String = text
        .lines()
        .filter(|line| !UNSTABLE.iter().any(|p| line.ends_with(&format!(" {p}"))))
        .map(|line| format!("{line}\n"))
        .collect();
    let stable = out.join(format!("{name}.stable"));
    std::fs::write(&stable, kept)?;
    Ok(stable)
}

/// What is compared: both exit statuses, then the diff of the stable snapshots (plain
/// `diff`, as `run-case.sh` makes it).
fn result(out: &Path) -> Result<String> {
    let read = |name: &str| {
        std::fs::read_to_string(out.join(name))
            .with_context(|| format!("cannot read {}", out.join(name).display()))
    };
    let (a, b) = (stable(out, "a-snap.txt")?, stable(out, "b-snap.txt")?);
    let snapshots = std::process::Command::new("diff")
        .arg(&a)
        .arg(&b)
        .output()
        .context("cannot run diff")?;
    let statuses = |text: &str| -> String {
        let rcs: Vec<&str> = text.lines().filter(|l| l.starts_with("rc=")).collect();
        rcs.join(" ")
    };
    Ok(format!(
        "cloud-init stages: {}\nlxops: {}\n{}",
        statuses(&read("a-run.txt")?),
        statuses(&read("b-run.txt")?),
        String::from_utf8_lossy(&snapshots.stdout)
    ))
}
