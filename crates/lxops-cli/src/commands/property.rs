//! `property ...`: the global properties (list, get, set, file).

use std::io::Write;

use lxops_core::config::{set_property, PropertyOptions};

use super::config::property_sources;
use super::write_err;
use crate::args::{PropertyArgs, PropertyCommand};
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::table;

/// Runs one `property` subcommand.
pub(crate) async fn run(
    _ctx: &Context,
    command: PropertyCommand,
    out: &mut dyn Write,
) -> CliResult {
    match command {
        PropertyCommand::List(args) => {
            let sources = property_sources(&args)?;
            let rows: Vec<Vec<String>> = sources
                .global
                .iter()
                .map(|(k, v)| vec![k.clone(), v.clone()])
                .collect();
            table(out, &["KEY", "VALUE"], &rows).map_err(write_err)
        }
        PropertyCommand::Get(args) => {
            let sources = property_sources(&args.properties)?;
            let value = sources
                .cli
                .get(&args.key)
                .or_else(|| sources.global.get(&args.key))
                .cloned()
                .unwrap_or_default();
            writeln!(out, "{value}").map_err(write_err)
        }
        PropertyCommand::Set(args) => {
            if args.key.is_empty() {
                return Err(CliError::input(anyhow::anyhow!(
                    "property set: the key is empty; give a name, such as `property set host h1`"
                )));
            }
            let file = properties_file(&args.properties)?;
            set_property(&file, &args.key, &args.value).map_err(CliError::input)
        }
        PropertyCommand::File(args) => {
            let file = properties_file(&args)?;
            writeln!(out, "{}", file.display()).map_err(write_err)
        }
    }
}

fn properties_file(args: &PropertyArgs) -> CliResult<std::path::PathBuf> {
    PropertyOptions::from_args(args.properties.as_deref(), &args.property)
        .properties_file()
        .ok_or_else(|| CliError::input(anyhow::anyhow!("-properties \"\" names no file")))
}
