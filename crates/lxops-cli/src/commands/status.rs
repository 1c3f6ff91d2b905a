//! `status CONFIG...`: compare each instance with its config (see `lxops_core::ops::status`)
//! and print one row per difference, or `-` for an instance that matches. Exit status 3 when
//! anything differs.

use std::io::Write;

use lxops_core::config;
use lxops_core::ops;
use lxops_core::ops::{Difference, InstanceStatus};
use serde::Serialize;

use super::targets::{host_for, load_targets, ops_err};
use super::write_err;
use crate::args::StatusArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{self, Row};

/// Runs `status`.
pub(crate) async fn run(ctx: &Context, args: StatusArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let instances: Vec<config::Instance> = targets.into_iter().map(|t| t.instance).collect();
    let server = ctx.server(None).await?;
    // Status only reads: the recording host runs the same read-only queries.
    let found = ops::status(server, host_for(true), &instances)
        .await
        .map_err(ops_err)?;
    let rows = status_rows(&found);
    // The LOCATION column only on a cluster (a standalone server has no members).
    let clustered = rows.iter().any(|r| r.location.is_some());
    output::rows_or(out, ctx.format(), &rows, |out| {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut cells = vec![
                    r.instance.clone(),
                    r.project.clone(),
                    r.state.clone().unwrap_or_else(|| "-".to_string()),
                ];
                if clustered {
                    cells.push(r.location.clone().unwrap_or_else(|| "-".to_string()));
                }
                cells.push(r.difference.clone().unwrap_or_else(|| "-".to_string()));
                cells
            })
            .collect();
        let headers: &[&str] = if clustered {
            &["INSTANCE", "PROJECT", "STATE", "LOCATION", "DIFFERENCE"]
        } else {
            &["INSTANCE", "PROJECT", "STATE", "DIFFERENCE"]
        };
        output::table(out, headers, &cells)
    })
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

/// One row of `status`: one per difference, or one with no difference for an instance that
/// matches its config.
#[derive(Debug, Serialize)]
struct StatusRow {
    instance: String,
    project: String,
    /// `None` when the instance does not exist.
    state: Option<String>,
    /// The cluster member it lives on, `None` on a standalone server.
    location: Option<String>,
    /// The kind of difference (`Difference::kind`), `None` when the instance matches.
    kind: Option<String>,
    /// What differs and what to do, `None` when the instance matches.
    difference: Option<String>,
}

impl Row for StatusRow {
    const COLUMNS: &'static [&'static str] = &[
        "instance",
        "project",
        "state",
        "location",
        "kind",
        "difference",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.instance.clone(),
            self.project.clone(),
            self.state.clone().unwrap_or_default(),
            self.location.clone().unwrap_or_default(),
            self.kind.clone().unwrap_or_default(),
            self.difference.clone().unwrap_or_default(),
        ]
    }
}

fn status_rows(found: &[InstanceStatus]) -> Vec<StatusRow> {
    let mut rows = Vec::new();
    for status in found {
        let row = |difference: Option<&Difference>| StatusRow {
            instance: status.name.clone(),
            project: status.project.clone(),
            state: status.state.clone(),
            location: status.location.clone(),
            kind: difference.map(|d| d.kind().to_string()),
            difference: difference.map(ToString::to_string),
        };
        if status.matches() {
            rows.push(row(None));
        }
        rows.extend(status.differences.iter().map(|d| row(Some(d))));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{check, Format};

    fn found() -> Vec<InstanceStatus> {
        vec![
            InstanceStatus {
                name: "a1".into(),
                project: "default".into(),
                state: Some("Running".into()),
                location: Some("m2".into()),
                differences: vec![],
            },
            InstanceStatus {
                location: None,
                name: "a2".into(),
                project: "default".into(),
                state: None,
                differences: vec![Difference::Missing],
            },
            InstanceStatus {
                location: None,
                name: "a3".into(),
                project: "p".into(),
                state: Some("Stopped".into()),
                differences: vec![
                    Difference::NotRunning {
                        status: "Stopped".into(),
                    },
                    Difference::LaunchUnfinished,
                ],
            },
        ]
    }

    #[test]
    fn status_rows_are_one_per_difference_or_one_for_a_match() {
        let rows = status_rows(&found());
        let parsed = check::json_rows(&rows);
        let got: Vec<String> = parsed
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r["instance"], r["state"], r["kind"], r["project"]
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                r#""a1" "Running" null "default""#,
                r#""a2" null "missing" "default""#,
                r#""a3" "Stopped" "not-running" "p""#,
                r#""a3" "Stopped" "launch-unfinished" "p""#,
            ]
        );
        let mut csv = Vec::new();
        output::rows(&mut csv, Format::Csv, &rows[..2]).unwrap();
        expect_test::expect![[r#"
            instance,project,state,location,kind,difference
            a1,default,Running,m2,,
            a2,default,,,missing,instance does not exist: launch it
        "#]]
        .assert_eq(&String::from_utf8(csv).unwrap());
    }
}
