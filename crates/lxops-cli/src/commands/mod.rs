//! One module per subcommand; [`dispatch`] routes a parsed command to its module.

mod config;
mod fleet;
mod help;
mod info;
mod instance;
mod profile;
mod property;

use std::io::Write;

use crate::args::Command;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs one parsed command.
pub(crate) async fn dispatch(ctx: &Context, command: Command, out: &mut dyn Write) -> CliResult {
    match command {
        Command::Version => {
            writeln!(out, "{} {}", ctx.program, env!("CARGO_PKG_VERSION")).map_err(write_err)
        }
        Command::Instance(command) => instance::run(ctx, command, out).await,
        Command::Profile(command) => profile::run(ctx, command, out).await,
        Command::Config(command) => config::run(ctx, command, out).await,
        Command::Info(command) => info::run(ctx, command, out).await,
        Command::Property(command) => property::run(ctx, command, out).await,
        Command::Help(args) => help::run(ctx, args, out).await,
        _ => Err(not_implemented("this command")),
    }
}

/// The error of a command that is not built yet.
pub(crate) fn not_implemented(what: &str) -> CliError {
    CliError::failure(anyhow::anyhow!("{what} is not implemented yet"))
}

/// Wraps a failure to write output.
pub(crate) fn write_err(e: std::io::Error) -> CliError {
    CliError::failure(anyhow::Error::new(e).context("writing output"))
}
