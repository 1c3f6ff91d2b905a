//! `completion SHELL`: a completion script generated from the clap definition (clap_complete).

use std::io::Write;

use super::write_err;
use crate::args::CompletionArgs;
use crate::context::Context;
use crate::error::CliResult;

/// Runs `completion`: the script for the program name lxops was called by.
pub(crate) fn run(ctx: &Context, args: CompletionArgs, out: &mut dyn Write) -> CliResult {
    let mut command = crate::command(&ctx.program, ctx.app.backend.server_name());
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, ctx.program.clone(), &mut script);
    out.write_all(&script).map_err(write_err)
}
