//! `lxops-lxd`: lxops for LXD. Wires the LXD backend, the registered config-format migrators
//! and the shared command line together; all logic lives in the library crates.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut app = lxops_cli::App::new(Box::new(lxops_backend_lxd::BACKEND));
    lxops_migrator_lxdops::register(&mut app.formats);
    lxops_cli::main(app)
}
