//! `config ...`: config files without a server (parse, print, properties, packages,
//! cloud-config, includes, formats, convert).

use std::io::Write;
use std::path::{Path, PathBuf};

use lxops_core::config::{
    self, header_line, raw_includes, LoadOptions, Loaded, PropertyOptions, PropertySources,
};

use super::write_err;
use crate::args::{ConfigCommand, ConfigConvertArgs, ConfigReadArgs, PropertyArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs one `config` subcommand.
pub(crate) async fn run(ctx: &Context, command: ConfigCommand, out: &mut dyn Write) -> CliResult {
    match command {
        ConfigCommand::Parse(args) => {
            for loaded in load_all(ctx, &args)? {
                print_warnings(&loaded, out)?;
                writeln!(out, "{}: ok", loaded.file.display()).map_err(write_err)?;
            }
            Ok(())
        }
        ConfigCommand::Print(args) => {
            for loaded in load_all(ctx, &args)? {
                for warning in &loaded.warnings {
                    tracing::warn!("{warning}");
                }
                write!(out, "{}", loaded.config.to_yaml()).map_err(write_err)?;
            }
            Ok(())
        }
        ConfigCommand::Properties(args) => {
            for loaded in load_all(ctx, &args)? {
                let rows: Vec<Vec<String>> = loaded
                    .config
                    .properties
                    .iter()
                    .map(|(k, v)| vec![k.clone(), v.clone()])
                    .collect();
                key_values(out, &rows)?;
            }
            Ok(())
        }
        ConfigCommand::Packages(args) => {
            for loaded in load_all(ctx, &args)? {
                let files = lxops_core::cloudconfig::parse_all(&loaded.config.cloud_config_files)
                    .map_err(CliError::input)?;
                for package in lxops_core::cloudconfig::packages(&files) {
                    writeln!(out, "{package}").map_err(write_err)?;
                }
            }
            Ok(())
        }
        ConfigCommand::CloudConfig(args) => {
            for loaded in load_all(ctx, &args)? {
                for file in &loaded.config.cloud_config_files {
                    writeln!(out, "{}", file.display()).map_err(write_err)?;
                }
            }
            Ok(())
        }
        ConfigCommand::Includes(args) => {
            for file in &args.files {
                for include in raw_includes(file, &ctx.app.formats).map_err(CliError::input)? {
                    writeln!(out, "{}", include.display()).map_err(write_err)?;
                }
            }
            Ok(())
        }
        ConfigCommand::Formats => {
            let headers = ctx.app.formats.headers();
            writeln!(out, "current format: {}", headers[0]).map_err(write_err)?;
            for header in &headers[1..] {
                writeln!(out, "{header}").map_err(write_err)?;
            }
            Ok(())
        }
        ConfigCommand::Convert(args) => convert(ctx, args, out),
    }
}

/// Loads the global and `-P` properties.
pub(crate) fn property_sources(args: &PropertyArgs) -> CliResult<PropertySources> {
    PropertyOptions::from_args(args.properties.as_deref(), &args.property)
        .load()
        .map_err(CliError::input)
}

fn load_all(ctx: &Context, args: &ConfigReadArgs) -> CliResult<Vec<Loaded>> {
    let sources = property_sources(&args.properties)?;
    let options = LoadOptions {
        formats: &ctx.app.formats,
        sources: &sources,
        strict: args.strict,
        raw: args.raw,
    };
    args.files
        .iter()
        .map(|f| config::load(f, &options).map_err(CliError::input))
        .collect()
}

/// Prints a loaded config's warnings as `warning: ...` lines.
pub(crate) fn print_warnings(loaded: &Loaded, out: &mut dyn Write) -> CliResult {
    for warning in &loaded.warnings {
        let warning = lxops_core::input::escape_message(warning);
        writeln!(out, "warning: {warning}").map_err(write_err)?;
    }
    Ok(())
}

/// Two columns without a header.
pub(crate) fn key_values(out: &mut dyn Write, rows: &[Vec<String>]) -> CliResult {
    let width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    for row in rows {
        let line = format!("{:<width$}  {}", row[0], row[1]);
        writeln!(out, "{}", line.trim_end()).map_err(write_err)?;
    }
    Ok(())
}

fn convert(ctx: &Context, args: ConfigConvertArgs, out: &mut dyn Write) -> CliResult {
    if args.output.is_some() && args.files.len() > 1 {
        return Err(CliError::input(anyhow::anyhow!(
            "config convert: -o can be used with only one input file ({} given)",
            args.files.len()
        )));
    }
    for file in &args.files {
        let bytes = lxops_core::input::read_bounded(file).map_err(|source| {
            CliError::input(config::ConfigError::Read {
                file: file.clone(),
                source,
            })
        })?;
        if header_line(&bytes).as_deref() == Some(config::CURRENT) && !args.force {
            tracing::info!("{}: already {}; skipped", file.display(), config::CURRENT);
            continue;
        }
        let read =
            config::parse_bytes(file, bytes, &ctx.app.formats, false).map_err(CliError::input)?;
        let target: PathBuf = args.output.clone().unwrap_or_else(|| file.clone());
        write_file(&target, &read.config.to_yaml())?;
        writeln!(out, "{}", target.display()).map_err(write_err)?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> CliResult {
    std::fs::write(path, text).map_err(|e| {
        CliError::failure(anyhow::Error::new(e).context(format!("writing {}", path.display())))
    })
}
