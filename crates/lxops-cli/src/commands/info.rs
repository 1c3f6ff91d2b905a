//! `i ...`: information about a config's instance, without a server (verify, description,
//! properties, filesystems, devices, project). `i verify` runs what launch checks before it
//! changes anything and that needs no server: the config and `ops::verify_offline`.

use std::io::Write;

use lxops_core::config::{self, EvalOptions, Instance, LoadOptions, Loaded};
use lxops_core::ops;

use super::config::{print_warnings, property_sources};
use super::launch::launch_sources;
use super::targets::{ops_err, Target};
use super::write_err;
use crate::args::{ConfigArgs, ConfigFiles, InfoCommand, PropertyArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::table;

/// Runs one `i` subcommand.
pub(crate) async fn run(ctx: &Context, command: InfoCommand, out: &mut dyn Write) -> CliResult {
    match command {
        InfoCommand::Verify(args) => {
            // Everything launch checks before it changes anything, without a server: the
            // config (with the device-template/-origin source configs), then the offline
            // checks launch itself runs first (cloud-config files, OS type, lxc-options, ...).
            let sources = property_sources(&PropertyArgs {
                properties: args.config.properties.clone(),
                property: args.config.property.clone(),
            })?;
            for (loaded, instance) in instances(ctx, &args.config, &args.files, args.strict, true)?
            {
                let target = Target { loaded, instance };
                let launch_sources = launch_sources(ctx, &target, &sources)?;
                let checked = ops::verify_offline(&target.instance, &launch_sources, &ctx.os_types)
                    .map_err(ops_err)?;
                print_warnings(&target.loaded, out)?;
                // What the cloud-config files hold that lxops does not apply.
                let warnings = &checked.cloud_config_warnings;
                if args.strict && !warnings.is_empty() {
                    return Err(CliError::input(anyhow::anyhow!(
                        "{}\n(--strict: cloud-config keys and modules that lxops does not apply are errors)",
                        warnings.join("\n")
                    )));
                }
                for warning in warnings {
                    writeln!(out, "{warning}").map_err(write_err)?;
                }
                writeln!(out, "{}", target.instance.name).map_err(write_err)?;
            }
            Ok(())
        }
        InfoCommand::Description(args) => each(ctx, &args.config, &args.files, out, |i, out| {
            let text = &i.description;
            if text.is_empty() || text.ends_with('\n') {
                write!(out, "{text}")
            } else {
                writeln!(out, "{text}")
            }
        }),
        InfoCommand::Properties(args) => each(ctx, &args.config, &args.files, out, |i, out| {
            writeln!(out, "Effective Properties:")?;
            let rows: Vec<Vec<String>> = i
                .properties
                .iter()
                .map(|(k, v)| vec![k.clone(), v.clone()])
                .collect();
            table(out, &["KEY", "VALUE"], &rows)
        }),
        InfoCommand::Filesystems(args) => each(ctx, &args.config, &args.files, out, |i, out| {
            let rows: Vec<Vec<String>> = i
                .filesystems
                .iter()
                .map(|f| {
                    vec![
                        f.id.clone(),
                        f.kind.to_string(),
                        f.path.clone(),
                        f.transient.to_string(),
                        f.destroy.to_string(),
                    ]
                })
                .collect();
            table(out, &["ID", "KIND", "PATH", "TRANSIENT", "DESTROY"], &rows)
        }),
        InfoCommand::Devices(args) => each(ctx, &args.config, &args.files, out, |i, out| {
            let rows: Vec<Vec<String>> = i
                .devices
                .iter()
                .map(|d| {
                    vec![
                        d.name.clone(),
                        d.path.clone(),
                        d.filesystem.clone().unwrap_or_default(),
                        d.dir.to_string(),
                        d.readonly.to_string(),
                    ]
                })
                .collect();
            table(
                out,
                &["NAME", "PATH", "FILESYSTEM", "DIR", "READONLY"],
                &rows,
            )
        }),
        InfoCommand::Project(args) => each(ctx, &args.config, &args.files, out, |i, out| {
            writeln!(out, "{}", i.project)
        }),
    }
}

fn each(
    ctx: &Context,
    config: &ConfigArgs,
    files: &ConfigFiles,
    out: &mut dyn Write,
    print: impl Fn(&Instance, &mut dyn Write) -> std::io::Result<()>,
) -> CliResult {
    for (loaded, instance) in instances(ctx, config, files, false, false)? {
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        print(&instance, out).map_err(write_err)?;
    }
    Ok(())
}

/// Loads and evaluates every config file for its instance.
pub(crate) fn instances(
    ctx: &Context,
    config: &ConfigArgs,
    files: &ConfigFiles,
    strict: bool,
    include_source: bool,
) -> CliResult<Vec<(Loaded, Instance)>> {
    let sources = property_sources(&PropertyArgs {
        properties: config.properties.clone(),
        property: config.property.clone(),
    })?;
    let pairs = config::instance_names(&files.files, &config.name).map_err(CliError::input)?;
    let options = LoadOptions {
        formats: &ctx.app.formats,
        sources: &sources,
        strict,
        raw: false,
    };
    let eval = EvalOptions {
        include_source,
        project: config.project.clone(),
    };
    let mut out: Vec<(Loaded, Instance)> = Vec::new();
    for (file, name) in pairs {
        let loaded = match out.last().filter(|(l, _)| l.file == file) {
            Some((previous, _)) => previous.clone(),
            None => config::load(&file, &options).map_err(CliError::input)?,
        };
        let instance =
            config::evaluate(&loaded, &name, &sources, &eval).map_err(CliError::input)?;
        out.push((loaded, instance));
    }
    Ok(out)
}
