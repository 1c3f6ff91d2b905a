//! `launch CONFIG...`: create each instance with its filesystems, devices, profile and
//! cloud-config (see `lxops_core::ops::launch`).

use std::io::Write;

use lxops_core::config;
use lxops_core::ops::{self, LaunchSources};

use super::fleet::{run_all, Unit};
use super::targets::{config_err, env, load_targets, ops_err, properties, wait_options, Target};
use crate::args::LaunchArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `launch`.
pub(crate) async fn run(ctx: &Context, args: LaunchArgs, out: &mut dyn Write) -> CliResult {
    let mut targets = load_targets(ctx, &args.config, &args.files.files, true)?;
    set_target(&mut targets, args.target.as_deref());
    let sources = properties(&args.config)?;
    let mut prepared = Vec::new();
    for target in targets {
        let launch_sources = launch_sources(ctx, &target, &sources)?;
        prepared.push(Unit {
            instance: target.instance.name.clone(),
            item: (target, launch_sources),
        });
    }
    let mut wait = wait_options(args.wait.poll);
    wait.before_configure = std::time::Duration::from_secs(args.wait.wait_configure);
    run_all(
        prepared,
        args.change.run_options(ctx, "launch"),
        out,
        |(target, launch_sources), mut buffer| async move {
            let result = async {
                let env = env(ctx, &target.instance, args.change.dry_run, wait).await?;
                let prepared = ops::prepare_launch(&env, target.instance, launch_sources)
                    .await
                    .map_err(ops_err)?;
                ops::launch(&env, prepared, &mut buffer)
                    .await
                    .map_err(ops_err)
            }
            .await;
            (buffer, result)
        },
    )
    .await
}

/// `--target` overrides every config's `target`.
pub(crate) fn set_target(targets: &mut [Target], member: Option<&str>) {
    if let Some(member) = member {
        for target in targets {
            target.instance.target = Some(member.to_string());
        }
    }
}

/// Evaluates the device-template and device-origin instances of a target.
pub(crate) fn launch_sources(
    ctx: &Context,
    target: &Target,
    sources: &config::PropertySources,
) -> CliResult<LaunchSources> {
    let instance = &target.instance;
    let mut result = LaunchSources::default();
    if let (Some(origin), Some(_)) = (
        instance.origin.as_deref().filter(|o| !o.is_empty()),
        &instance.source_config,
    ) {
        // An origin without a `project_` prefix is in the source config's project.
        if let Some(parsed) = lxops_core::plan::parse_origin(origin) {
            if parsed.project.is_none() {
                let source = config::evaluate_source(
                    &target.loaded,
                    instance,
                    &parsed.instance,
                    &ctx.app.formats,
                    sources,
                )
                .map_err(config_err)?;
                result.origin_project = Some(source.project);
            }
        }
    }
    if let Some(origin) = instance.device_origin.as_deref().filter(|o| !o.is_empty()) {
        let (name, snapshot) = origin
            .split_once('@')
            .filter(|(_, s)| !s.is_empty())
            .ok_or_else(|| {
                crate::error::CliError::input(anyhow::anyhow!(
                    "{}: device-origin {origin:?} must be INSTANCE@SNAPSHOT",
                    instance.file.display()
                ))
            })?;
        let source =
            config::evaluate_source(&target.loaded, instance, name, &ctx.app.formats, sources)
                .map_err(config_err)?;
        result.origin = Some((source, snapshot.to_string()));
    } else if let Some(template) = instance
        .device_template
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        let source = config::evaluate_source(
            &target.loaded,
            instance,
            template,
            &ctx.app.formats,
            sources,
        )
        .map_err(config_err)?;
        result.template = Some(source);
    }
    Ok(result)
}
