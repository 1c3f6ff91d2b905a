//! What `instance push` and `instance pull` share: the `INSTANCE/PATH` argument, and running
//! a checked [`TreePlan`] (its lines with `--dry-run`, else the transfer with a live count of
//! the steps on a terminal).

use std::io::Write;

use lxops_core::lifecycle::Progress;
use lxops_core::names;
use lxops_core::ops::tree::{self, TreeError, TreePlan};

use super::write_err;
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::progress::{Buffer, Live};

/// Splits `INSTANCE/PATH` (as `incus file push` takes it) into the instance and the absolute
/// path.
pub(crate) fn instance_path(text: &str) -> CliResult<(String, String)> {
    let (instance, path) = text.split_once('/').ok_or_else(|| {
        CliError::input(anyhow::anyhow!(
            "{text:?}: write the instance side as INSTANCE/PATH, e.g. c1/etc/hosts"
        ))
    })?;
    names::instance(instance).map_err(|e| CliError::input(anyhow::anyhow!("{text:?}: {e}")))?;
    Ok((instance.to_string(), format!("/{path}")))
}

/// The exit status of a transfer error: bad input (refused before any change) or failure.
pub(crate) fn tree_err(e: TreeError) -> CliError {
    if e.is_input() {
        CliError::input(e)
    } else {
        CliError::failure(e)
    }
}

/// A live count of done steps, on the live line of a [`Buffer`].
struct Counted {
    buffer: Buffer,
    instance: String,
    done: usize,
    total: usize,
}

impl Progress for Counted {
    fn step(&mut self, line: &str) {
        self.done += 1;
        self.buffer
            .set_prefix(format!("{} {}/{}", self.instance, self.done, self.total));
        self.buffer.step(line);
    }
}

/// Prints the plan's warnings; with `dry_run` its lines, else runs it and prints each step's
/// line (the lines of the steps that were done, when one fails).
pub(crate) async fn run_plan(
    ctx: &Context,
    server: std::sync::Arc<dyn lxops_core::server::InstanceServer>,
    plan: &TreePlan,
    dry_run: bool,
    out: &mut dyn Write,
) -> CliResult {
    for warning in plan.warnings() {
        tracing::warn!("{warning}");
    }
    if dry_run {
        return write!(out, "{plan}").map_err(write_err);
    }
    let live = (ctx.terminal && !ctx.global.quiet).then(|| {
        Live::stderr(
            plan.instance.len(),
            crate::log_colours(
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
                std::env::var_os("NO_COLOR"),
            ),
        )
    });
    let buffer = match &live {
        Some(live) => live.start(&plan.instance),
        None => Buffer::default(),
    };
    let mut progress = Counted {
        buffer,
        instance: plan.instance.clone(),
        done: 0,
        total: plan.entries.len(),
    };
    let result = tree::execute(server, plan, &mut progress).await;
    let lines = progress.buffer.into_lines();
    drop(live);
    out.write_all(&lines).map_err(write_err)?;
    result.map_err(tree_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_paths() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("c1/etc/hosts", Some(("c1", "/etc/hosts"))),
            ("c1/", Some(("c1", "/"))),
            ("c1//tmp", Some(("c1", "//tmp"))),
            ("c1", None),
            ("/etc/hosts", None),
            ("bad_name/tmp", None),
        ];
        for (text, expected) in cases {
            let got = instance_path(text).ok();
            let expected = expected.map(|(i, p)| (i.to_string(), p.to_string()));
            assert_eq!(got, expected, "{text}");
        }
    }
}
