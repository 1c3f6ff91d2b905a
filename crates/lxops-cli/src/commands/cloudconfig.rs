//! `cloudconfig` and `instance cloudconfig`: apply cloud-config files to running instances by
//! name. `-i INSTANCE [FILE...]` applies files (stdin when none) to one instance;
//! `-f FILE INSTANCE...` applies one file to each instance.

use std::io::Write;
use std::path::{Path, PathBuf};

use lxops_core::cloudconfig::{self, ParsedFile};
use lxops_core::ops;

use super::fleet::{run_all, RunOptions, Unit};
use super::targets::{host_for, ops_err};
use super::write_err;
use crate::args::{CloudconfigArgs, InstanceCloudconfigArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs `cloudconfig`.
pub(crate) async fn run(ctx: &Context, args: CloudconfigArgs, out: &mut dyn Write) -> CliResult {
    if args.ostype.as_deref() == Some("?") {
        for name in ctx.os_types.names() {
            writeln!(out, "{name}").map_err(write_err)?;
        }
        return Ok(());
    }
    match (&args.instance, &args.file) {
        (Some(instance), None) => {
            let files = read_files(
                &args.args.iter().map(PathBuf::from).collect::<Vec<_>>(),
                args.strict,
            )?;
            apply(
                ctx,
                args.project.as_deref(),
                args.change.dry_run,
                vec![instance.clone()],
                files,
                args.ostype.as_deref(),
                args.change.run_options("cloudconfig"),
                out,
            )
            .await
        }
        (None, Some(file)) => {
            if args.args.is_empty() {
                return Err(CliError::input(anyhow::anyhow!(
                    "cloudconfig -f FILE: name the instances to apply it to"
                )));
            }
            let files = read_files(std::slice::from_ref(file), args.strict)?;
            apply(
                ctx,
                args.project.as_deref(),
                args.change.dry_run,
                args.args.clone(),
                files,
                args.ostype.as_deref(),
                args.change.run_options("cloudconfig"),
                out,
            )
            .await
        }
        (Some(_), Some(_)) if !args.args.is_empty() => Err(CliError::input(anyhow::anyhow!(
            "cloudconfig: with both -i and -f, give no other arguments"
        ))),
        (Some(instance), Some(file)) => {
            let files = read_files(std::slice::from_ref(file), args.strict)?;
            apply(
                ctx,
                args.project.as_deref(),
                args.change.dry_run,
                vec![instance.clone()],
                files,
                args.ostype.as_deref(),
                args.change.run_options("cloudconfig"),
                out,
            )
            .await
        }
        (None, None) => Err(CliError::input(anyhow::anyhow!(
            "cloudconfig: use -i INSTANCE [FILE...] or -f FILE INSTANCE..."
        ))),
    }
}

/// Runs `instance cloudconfig`.
pub(crate) async fn instance(
    ctx: &Context,
    args: InstanceCloudconfigArgs,
    out: &mut dyn Write,
) -> CliResult {
    let files = read_files(&args.files, args.strict)?;
    apply(
        ctx,
        args.project.as_deref(),
        args.change.dry_run,
        vec![args.instance.clone()],
        files,
        args.ostype.as_deref(),
        args.change.run_options("instance cloudconfig"),
        out,
    )
    .await
}

/// Parses the files (all before anything runs), or stdin when there are none, and shows what
/// they hold that lxops does not apply (errors with `--strict`).
fn read_files(paths: &[PathBuf], strict: bool) -> CliResult<Vec<ParsedFile>> {
    let files = parse_files(paths)?;
    let warnings: Vec<String> = cloudconfig::warnings(&files)
        .map(ToString::to_string)
        .collect();
    if strict && !warnings.is_empty() {
        return Err(CliError::input(anyhow::anyhow!(
            "{}\n(--strict: cloud-config keys and modules that lxops does not apply are errors)",
            warnings.join("\n")
        )));
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    Ok(files)
}

fn parse_files(paths: &[PathBuf]) -> CliResult<Vec<ParsedFile>> {
    if paths.is_empty() {
        let text = lxops_core::input::read_stream_text(std::io::stdin()).map_err(|e| {
            CliError::input(anyhow::anyhow!("reading cloud-config from stdin: {e}"))
        })?;
        return cloudconfig::parse(&text, Path::new("<stdin>"))
            .map(|f| vec![f])
            .map_err(CliError::input);
    }
    cloudconfig::parse_all(paths).map_err(CliError::input)
}

#[allow(clippy::too_many_arguments)]
async fn apply(
    ctx: &Context,
    project: Option<&str>,
    dry_run: bool,
    instances: Vec<String>,
    files: Vec<ParsedFile>,
    ostype: Option<&str>,
    options: RunOptions<'_>,
    out: &mut dyn Write,
) -> CliResult {
    let server = ctx.server(project).await?;
    let env = ops::Env {
        server,
        host: host_for(dry_run),
        os_types: ctx.os_types.clone(),
        wait: super::targets::wait_options(20),
        dry_run,
    };
    let (env, files) = (&env, &files);
    let units = instances
        .into_iter()
        .map(|instance| Unit {
            instance: instance.clone(),
            item: instance,
        })
        .collect();
    run_all(units, options, out, |instance, mut buffer| async move {
        let result = ops::apply_files(env, &instance, files, ostype, &mut buffer)
            .await
            .map_err(ops_err);
        (buffer, result)
    })
    .await
}
