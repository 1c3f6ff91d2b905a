//! Project automation, run as `cargo xtask <command>` (an alias in `.cargo/config.toml`).
//!
//! Plain Rust and `std::process::Command`, in the style of rust-analyzer's xtask:
//! `setup` installs and starts the real test environment, `test` and `ci` run the checks,
//! `bench` compares lxops with the bare daemon CLIs, `demo` runs the README's demo.

mod bench;
mod ci;
mod cmd;
mod demo;
mod man;
mod oracle;
mod setup;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  setup                       install and start LXD, Incus, zfs-fuse, btrfs, the test images
                              and 3-member Incus and LXD test clusters
  teardown                    remove the test clusters (the main daemons stay)
  cluster up|down             set up or tear down only the Incus and LXD test clusters
  test                        setup, then unit tests, then the end-to-end tests
  ci                          fmt, clippy, tidy checks, then test (what .ci/run runs)
  oracle                      the cloud-config differential test against the real cloud-init
  bench [--runs N] [--no-setup] [CASE...]
                              time lxops against bare lxc/incus (default: every case, 5 runs;
                              --help lists the cases)
  demo                        setup, then launch, show and delete examples/demo/demo.yaml
  man [DIR]                   write the man pages (default target/man)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    match command.as_str() {
        "setup" => {
            no_args(command, rest)?;
            setup::run()
        }
        "teardown" => {
            no_args(command, rest)?;
            setup::teardown()
        }
        "cluster" => setup::cluster(rest),
        "test" => {
            no_args(command, rest)?;
            ci::test()
        }
        "ci" => {
            no_args(command, rest)?;
            ci::ci()
        }
        "oracle" => {
            no_args(command, rest)?;
            oracle::run()
        }
        "bench" => bench::run(rest),
        "man" => man::run(rest),
        "demo" => {
            no_args(command, rest)?;
            demo::run()
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

fn no_args(command: &str, rest: &[String]) -> Result<()> {
    if let Some(extra) = rest.first() {
        bail!("`{command}` takes no arguments, got `{extra}`");
    }
    Ok(())
}
