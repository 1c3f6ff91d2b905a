//! `help [topic]`: the documentation topics (config, filesystem, device, pattern, hostpath,
//! safety, cluster), the same text as the config types' docs, cloud-config and images; or a
//! command's usage.

use std::io::Write;

use clap::CommandFactory;
use lxops_core::cloudconfig;
use lxops_core::config::help;

use super::write_err;
use crate::args::{Cli, HelpArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Every topic: the config documentation's, then `cloud-config`.
fn topics() -> impl Iterator<Item = (&'static str, &'static str)> {
    help::TOPICS.iter().copied().chain([
        ("cloud-config", cloudconfig::HELP),
        ("images", include_str!("images.md")),
    ])
}

/// Runs `help`.
pub(crate) async fn run(ctx: &Context, args: HelpArgs, out: &mut dyn Write) -> CliResult {
    let Some(first) = args.topic.first() else {
        writeln!(out, "Topics (lxops help TOPIC):").map_err(write_err)?;
        for (name, _) in topics() {
            writeln!(out, "  {name}").map_err(write_err)?;
        }
        writeln!(out, "Commands: {} help COMMAND", ctx.program).map_err(write_err)?;
        return Ok(());
    };
    if args.topic.len() == 1 {
        if let Some((_, text)) = topics().find(|(name, _)| name == first) {
            return write!(out, "{text}").map_err(write_err);
        }
    }
    let mut command = Cli::command().name(ctx.program.clone());
    command.build();
    let mut current = &mut command;
    for word in &args.topic {
        current = current.find_subcommand_mut(word).ok_or_else(|| {
            let topics: Vec<&str> = topics().map(|(n, _)| n).collect();
            CliError::input(anyhow::anyhow!(
                "help: unknown topic or command {:?}; topics: {}",
                args.topic.join(" "),
                topics.join(", ")
            ))
        })?;
    }
    write!(out, "{}", current.render_long_help()).map_err(write_err)
}
