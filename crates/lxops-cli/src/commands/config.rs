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
use crate::output::{self, Format, Row};
use serde::Serialize;

/// Runs one `config` subcommand.
pub(crate) async fn run(ctx: &Context, command: ConfigCommand, out: &mut dyn Write) -> CliResult {
    let format = ctx.format();
    match command {
        ConfigCommand::Parse(args) => {
            let mut rows = Vec::new();
            for loaded in load_all(ctx, &args)? {
                if format == Format::Table {
                    print_warnings(&loaded, out)?;
                    writeln!(out, "{}: ok", loaded.file.display()).map_err(write_err)?;
                }
                rows.push(ParseRow {
                    file: loaded.file.display().to_string(),
                    warnings: loaded
                        .warnings
                        .iter()
                        .map(|w| lxops_core::input::escape_message(w).into_owned())
                        .collect(),
                });
            }
            if format != Format::Table {
                output::rows(out, format, &rows).map_err(write_err)?;
            }
            Ok(())
        }
        ConfigCommand::Print(args) => {
            let mut documents = Vec::new();
            for loaded in load_all(ctx, &args)? {
                for warning in &loaded.warnings {
                    tracing::warn!("{warning}");
                }
                let yaml = loaded.config.to_yaml();
                if format == Format::Table {
                    write!(out, "{yaml}").map_err(write_err)?;
                    continue;
                }
                let config: serde_json::Value = serde_yaml::from_str(&yaml).map_err(|e| {
                    CliError::failure(anyhow::anyhow!(
                        "{}: cannot convert the merged config: {e}",
                        loaded.file.display()
                    ))
                })?;
                documents.push(ConfigDocument {
                    file: loaded.file.display().to_string(),
                    config,
                });
            }
            match format {
                Format::Table => Ok(()),
                Format::Csv => Err(CliError::input(anyhow::anyhow!(
                    "config print: --format csv cannot hold a nested config; use json or yaml"
                ))),
                format => output::document(out, format, &documents).map_err(write_err),
            }
        }
        ConfigCommand::Properties(args) => {
            let mut properties = Vec::new();
            for loaded in load_all(ctx, &args)? {
                let file_rows = loaded
                    .config
                    .properties
                    .iter()
                    .map(|(key, value)| PropertyRow {
                        file: loaded.file.display().to_string(),
                        key: key.clone(),
                        value: value.clone(),
                    });
                if format == Format::Table {
                    let cells: Vec<Vec<String>> = file_rows.map(|r| vec![r.key, r.value]).collect();
                    key_values(out, &cells)?;
                } else {
                    properties.extend(file_rows);
                }
            }
            if format != Format::Table {
                output::rows(out, format, &properties).map_err(write_err)?;
            }
            Ok(())
        }
        ConfigCommand::Packages(args) => {
            let mut rows = Vec::new();
            for loaded in load_all(ctx, &args)? {
                let files = lxops_core::cloudconfig::parse_all(&loaded.config.cloud_config_files)
                    .map_err(CliError::input)?;
                rows.extend(
                    lxops_core::cloudconfig::packages(&files)
                        .into_iter()
                        .map(|package| file_row(&loaded.file, package.to_string(), "package")),
                );
            }
            file_rows(out, format, "package", &rows)
        }
        ConfigCommand::CloudConfig(args) => {
            let mut rows = Vec::new();
            for loaded in load_all(ctx, &args)? {
                rows.extend(loaded.config.cloud_config_files.iter().map(|file| {
                    file_row(&loaded.file, file.display().to_string(), "cloud_config")
                }));
            }
            file_rows(out, format, "cloud_config", &rows)
        }
        ConfigCommand::Includes(args) => {
            let mut rows = Vec::new();
            for file in &args.files {
                for include in raw_includes(file, &ctx.app.formats).map_err(CliError::input)? {
                    rows.push(file_row(file, include.display().to_string(), "include"));
                }
            }
            file_rows(out, format, "include", &rows)
        }
        ConfigCommand::Formats => {
            let headers = ctx.app.formats.headers();
            let rows: Vec<FormatRow> = headers
                .iter()
                .enumerate()
                .map(|(i, header)| FormatRow {
                    format: header.to_string(),
                    current: i == 0,
                })
                .collect();
            output::rows_or(out, format, &rows, |out| {
                for row in &rows {
                    if row.current {
                        writeln!(out, "current format: {}", row.format)?;
                    } else {
                        writeln!(out, "{}", row.format)?;
                    }
                }
                Ok(())
            })
            .map_err(write_err)
        }
        ConfigCommand::Convert(args) => convert(ctx, args, out),
    }
}

/// `config parse`: one row per file, with its warnings.
#[derive(Debug, Serialize)]
struct ParseRow {
    file: String,
    warnings: Vec<String>,
}

impl Row for ParseRow {
    const COLUMNS: &'static [&'static str] = &["file", "warnings"];
    fn cells(&self) -> Vec<String> {
        vec![self.file.clone(), self.warnings.join("; ")]
    }
}

/// `config print --format json|yaml`: one object per file.
#[derive(Debug, Serialize)]
struct ConfigDocument {
    file: String,
    config: serde_json::Value,
}

/// `config properties`: one row per property of a file's merged config.
#[derive(Debug, Serialize)]
struct PropertyRow {
    file: String,
    key: String,
    value: String,
}

impl Row for PropertyRow {
    const COLUMNS: &'static [&'static str] = &["file", "key", "value"];
    fn cells(&self) -> Vec<String> {
        vec![self.file.clone(), self.key.clone(), self.value.clone()]
    }
}

/// `config packages|cloud-config|includes`: one row per value of a file. The second key is
/// `package`, `cloud_config` or `include`.
#[derive(Debug)]
struct FileRow {
    file: String,
    value: String,
    key: &'static str,
}

impl Serialize for FileRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("file", &self.file)?;
        map.serialize_entry(self.key, &self.value)?;
        map.end()
    }
}

fn file_row(file: &Path, value: String, key: &'static str) -> FileRow {
    FileRow {
        file: file.display().to_string(),
        value,
        key,
    }
}

/// Prints file rows: the values one per line as a table, or rows of `file` and `key`.
fn file_rows(out: &mut dyn Write, format: Format, key: &str, rows: &[FileRow]) -> CliResult {
    match format {
        Format::Table => rows
            .iter()
            .try_for_each(|row| writeln!(out, "{}", row.value))
            .map_err(write_err),
        Format::Csv => {
            writeln!(out, "file,{key}").map_err(write_err)?;
            let mut text = Vec::new();
            let plain: Vec<PlainRow> = rows
                .iter()
                .map(|r| PlainRow {
                    file: r.file.clone(),
                    value: r.value.clone(),
                })
                .collect();
            output::rows(&mut text, Format::Csv, &plain).map_err(write_err)?;
            let text = String::from_utf8_lossy(&text);
            let body = text.split_once('\n').map_or("", |(_, rest)| rest);
            out.write_all(body.as_bytes()).map_err(write_err)
        }
        format => output::document(out, format, rows).map_err(write_err),
    }
}

/// A [`FileRow`] for CSV quoting.
#[derive(Debug, Serialize)]
struct PlainRow {
    file: String,
    value: String,
}

impl Row for PlainRow {
    const COLUMNS: &'static [&'static str] = &["file", "value"];
    fn cells(&self) -> Vec<String> {
        vec![self.file.clone(), self.value.clone()]
    }
}

/// `config formats`: one row per format, the current one first.
#[derive(Debug, Serialize)]
struct FormatRow {
    format: String,
    current: bool,
}

impl Row for FormatRow {
    const COLUMNS: &'static [&'static str] = &["format", "current"];
    fn cells(&self) -> Vec<String> {
        vec![self.format.clone(), self.current.to_string()]
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
