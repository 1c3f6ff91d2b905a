//! The lxops command line, shared by `lxops-lxd` and `lxops-incus`: clap definitions, Go-style
//! single-dash long flags, and one module per subcommand.
//!
//! A binary builds an [`App`] (its [`Backend`], the config-format migrators and the OS types)
//! and calls [`main`]. Data goes to stdout, logs and errors to stderr.

#![warn(missing_docs)]

pub mod args;
pub mod argv;
mod commands;
mod context;
mod error;
mod output;
mod progress;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use lxops_core::cloudconfig::OsTypes;
use lxops_core::config::Formats;
use lxops_core::input::escape_message;

pub use error::{CliError, ErrorKind};
pub use lxops_core::server::{Backend, ConnectOptions};

/// Everything a binary plugs in.
pub struct App {
    /// How to reach the daemon.
    pub backend: Box<dyn Backend>,
    /// Config formats: the current one plus registered migrators.
    pub formats: Formats,
    /// OS types for cloud-config.
    pub os_types: OsTypes,
}

impl App {
    /// An app for `backend` with only the current config format (register migrators on
    /// `formats`) and the built-in OS types (register more on `os_types`).
    pub fn new(backend: Box<dyn Backend>) -> Self {
        App {
            backend,
            formats: Formats::new(),
            os_types: OsTypes::builtin(),
        }
    }
}

/// Runs lxops with the process arguments and returns the exit code.
pub fn main(app: App) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    ExitCode::from(run_process(app, args))
}

/// Runs lxops with `args` (including the program name), writing data to `out` and errors to
/// stderr. Returns the exit status: 0 success, 1 failure, 2 bad input.
pub fn run(app: App, args: Vec<OsString>, out: &mut dyn Write) -> u8 {
    run_with(app, args, out, &mut std::io::stderr())
}

/// Like [`run`], with the error message (and usage errors) written to `err`.
pub fn run_with(app: App, args: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    run_inner(
        app,
        args,
        out,
        err,
        false,
        context::ErrStream::Buffer(Vec::new()),
    )
}

/// [`run_with`] on the process's stdout and stderr, drawing live progress lines when one of
/// them is a terminal.
fn run_process(app: App, args: Vec<OsString>) -> u8 {
    use std::io::IsTerminal;
    let terminal = std::io::stdout().is_terminal() || std::io::stderr().is_terminal();
    run_inner(
        app,
        args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
        terminal,
        context::ErrStream::Stderr,
    )
}

/// [`run_with`], with `terminal` telling whether live progress lines may be drawn, and
/// `stream` where progress goes.
fn run_inner(
    app: App,
    args: Vec<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    terminal: bool,
    stream: context::ErrStream,
) -> u8 {
    let program = program_name(args.first());
    let command = command(&program, app.backend.server_name());
    let args = argv::normalize(&command, args);
    let matches = match command.try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            if e.use_stderr() {
                let _ = write!(err, "{}", escape_message(&e.render().to_string()));
                return 2;
            }
            let _ = write!(out, "{}", e.render());
            return 0;
        }
    };
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = write!(err, "{}", escape_message(&e.render().to_string()));
            return 2;
        }
    };
    init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{program}: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let ctx = context::Context::new(app, cli.global.clone(), program.clone(), stream, terminal);
    let result = runtime.block_on(commands::dispatch(&ctx, cli.command, out));
    let _ = out.flush();
    let _ = err.write_all(&ctx.take_err());
    match result {
        Ok(()) => 0,
        Err(e) => {
            // Messages quote file text and names: never let their control bytes through.
            let _ = writeln!(err, "{program}: {}", escape_message(&format!("{e:#}")));
            e.exit_code()
        }
    }
}

/// The clap definition of the whole command line, named `program`, for a daemon called
/// `server_name` (`LXD`, `Incus`): what parsing, `completion` and the man pages use.
pub fn command(program: &str, server_name: &str) -> clap::Command {
    args::Cli::command()
        .name(program.to_string())
        .bin_name(program.to_string())
        .about(format!(
            "Launch and maintain {server_name} system containers from YAML config files."
        ))
}

/// Writes the man pages into `dir` (created if needed): `lxops.1`, and `lxops-COMMAND.1` for
/// every command and subcommand (`lxops-profile-list.1`). Returns the files written.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut root = command("lxops", "LXD or Incus");
    root.build();
    let mut written = Vec::new();
    write_man_page(dir, &root, "lxops", &mut written)?;
    Ok(written)
}

fn write_man_page(
    dir: &std::path::Path,
    command: &clap::Command,
    name: &str,
    written: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone().name(name.to_string())).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page)?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_page(dir, sub, &format!("{name}-{}", sub.get_name()), written)?;
    }
    Ok(())
}

/// Log colours only on a terminal, and not when `NO_COLOR` is set to anything non-empty
/// (<https://no-color.org>).
pub(crate) fn log_colours(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn program_name(arg0: Option<&OsString>) -> String {
    arg0.and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("lxops")
        .to_string()
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(log_colours(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(progress::log_writer)
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_quiet_are_global_and_work_go_style_too() {
        use args::Format;
        let cases: &[(&str, Option<Format>, bool)] = &[
            (
                "lxops -format json status x.yaml",
                Some(Format::Json),
                false,
            ),
            (
                "lxops status -format=csv -q x.yaml",
                Some(Format::Csv),
                true,
            ),
            (
                "lxops launch -quiet --format yaml -name a,b x.yaml",
                Some(Format::Yaml),
                true,
            ),
            (
                "lxops instance addresses -format yaml -headers",
                Some(Format::Yaml),
                false,
            ),
            (
                "lxops i devices x.yaml --format table",
                Some(Format::Table),
                false,
            ),
            ("lxops status x.yaml", None, false),
        ];
        for (line, format, quiet) in cases {
            let argv: Vec<OsString> = line.split(' ').map(OsString::from).collect();
            let argv = argv::normalize(&command("lxops", "LXD"), argv);
            let matches = command("lxops", "LXD")
                .try_get_matches_from(argv)
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            let cli = args::Cli::from_arg_matches(&matches).unwrap();
            assert_eq!(
                (cli.global.format, cli.global.quiet),
                (*format, *quiet),
                "{line}"
            );
        }
    }

    #[test]
    fn log_colours_only_on_a_terminal_without_no_color() {
        let cases: &[(bool, Option<&str>, bool)] = &[
            (true, None, true),
            (true, Some(""), true),
            (true, Some("1"), false),
            (false, None, false),
            (false, Some("1"), false),
        ];
        for (terminal, no_color, want) in cases {
            let got = log_colours(*terminal, no_color.map(OsString::from));
            assert_eq!(got, *want, "terminal {terminal}, NO_COLOR {no_color:?}");
        }
    }
}
