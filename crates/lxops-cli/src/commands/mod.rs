//! One module per subcommand; [`dispatch`] routes a parsed command to its module.

mod cloudconfig;
mod completion;
mod config;
mod configure;
mod copy_filesystems;
mod create_devices;
mod create_profile;
mod delete;
mod export;
mod extract;
mod fleet;
mod help;
mod image;
mod info;
mod instance;
mod launch;
mod profile;
mod profile_config;
mod property;
mod publish;
mod pull;
mod push;
mod rebuild;
mod rename;
mod rollback;
mod shiftids;
mod snapshot;
mod status;
mod targets;
mod transfer;

use std::io::Write;

use crate::args::Command;
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs one parsed command.
pub(crate) async fn dispatch(ctx: &Context, command: Command, out: &mut dyn Write) -> CliResult {
    match command {
        Command::Status(args) => status::run(ctx, args, out).await,
        Command::Version => {
            writeln!(out, "{} {}", ctx.program, env!("CARGO_PKG_VERSION")).map_err(write_err)
        }
        Command::Launch(args) => launch::run(ctx, args, out).await,
        Command::Rebuild(args) => rebuild::run(ctx, args, out).await,
        Command::Delete(args) => delete::run(ctx, args, false, out).await,
        Command::Destroy(args) => delete::run(ctx, args, true, out).await,
        Command::Rename(args) => rename::run(ctx, args, out).await,
        Command::Snapshot(args) => snapshot::run(ctx, args, out).await,
        Command::Rollback(args) => rollback::run(ctx, args, out).await,
        Command::Configure(args) => configure::run(ctx, args, out).await,
        Command::CreateDevices(args) => create_devices::run(ctx, args, out).await,
        Command::CreateProfile(args) => create_profile::run(ctx, args, out).await,
        Command::Cloudconfig(args) => cloudconfig::run(ctx, args, out).await,
        Command::Instance(command) => instance::run(ctx, command, out).await,
        Command::Publish(args) => publish::run(ctx, args, out).await,
        Command::Image(command) => image::run(ctx, command, out).await,
        Command::Export(args) => export::run(ctx, args, false, out).await,
        Command::Import(args) => export::run(ctx, args, true, out).await,
        Command::Extract(args) => extract::run(ctx, args, out).await,
        Command::CopyFilesystems(args) => copy_filesystems::run(ctx, args, out).await,
        Command::Shiftids(args) => shiftids::run(ctx, args, out).await,
        Command::Ostypes => {
            for name in ctx.os_types.names() {
                writeln!(out, "{name}").map_err(write_err)?;
            }
            Ok(())
        }
        Command::Profile(command) => profile::run(ctx, command, out).await,
        Command::Config(command) => config::run(ctx, command, out).await,
        Command::Info(command) => info::run(ctx, command, out).await,
        Command::Property(command) => property::run(ctx, command, out).await,
        Command::Help(args) => help::run(ctx, args, out).await,
        Command::Completion(args) => completion::run(ctx, args, out),
    }
}

/// Wraps a failure to write output.
pub(crate) fn write_err(e: std::io::Error) -> CliError {
    CliError::failure(anyhow::Error::new(e).context("writing output"))
}
