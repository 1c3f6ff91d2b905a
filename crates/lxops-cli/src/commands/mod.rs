//! One module per subcommand; [`dispatch`] routes a parsed command to its module.

mod fleet;

use std::io::Write;

use crate::args::Command;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs one parsed command.
pub(crate) async fn dispatch(ctx: &Context, command: Command, out: &mut dyn Write) -> CliResult {
    match command {
        Command::Version => {
            writeln!(out, "{} {}", ctx.program, env!("CARGO_PKG_VERSION"))
                .map_err(|e| CliError::failure(anyhow::Error::new(e)))?;
            Ok(())
        }
        other => Err(CliError::failure(anyhow::anyhow!(
            "{:?}: not implemented yet",
            std::mem::discriminant(&other)
        ))),
    }
}
