//! `help [topic]`: the documentation topics (config, filesystem, device, pattern, hostpath,
//! safety),
//! the same text as the config types' docs; or a command's usage.

use std::io::Write;

use clap::CommandFactory;
use lxops_core::config::help;

use super::write_err;
use crate::args::{Cli, HelpArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs `help`.
pub(crate) async fn run(ctx: &Context, args: HelpArgs, out: &mut dyn Write) -> CliResult {
    let Some(first) = args.topic.first() else {
        writeln!(out, "Topics (lxops help TOPIC):").map_err(write_err)?;
        for (name, _) in help::TOPICS {
            writeln!(out, "  {name}").map_err(write_err)?;
        }
        writeln!(out, "Commands: {} help COMMAND", ctx.program).map_err(write_err)?;
        return Ok(());
    };
    if args.topic.len() == 1 {
        if let Some(text) = help::topic(first) {
            return write!(out, "{text}").map_err(write_err);
        }
    }
    let mut command = Cli::command().name(ctx.program.clone());
    command.build();
    let mut current = &mut command;
    for word in &args.topic {
        current = current.find_subcommand_mut(word).ok_or_else(|| {
            let topics: Vec<&str> = help::TOPICS.iter().map(|(n, _)| *n).collect();
            CliError::input(anyhow::anyhow!(
                "help: unknown topic or command {:?}; topics: {}",
                args.topic.join(" "),
                topics.join(", ")
            ))
        })?;
    }
    write!(out, "{}", current.render_long_help()).map_err(write_err)
}
