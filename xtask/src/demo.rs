//! `cargo xtask demo`: the README's first command. Sets up the environment, builds
//! `lxops-incus`, launches `examples/demo/demo.yaml` as `lxops-demo`, shows it and deletes it.

use anyhow::{Context, Result};

use crate::ci::{cargo, project_root, target_dir};
use crate::cmd::{log, Cmd};
use crate::setup;

const INSTANCE: &str = "lxops-demo";
const CONFIG: &str = "examples/demo/demo.yaml";

/// Runs the demo; the container is deleted even when launching fails.
pub fn run() -> Result<()> {
    setup::run()?;
    log("demo", "building lxops-incus");
    cargo().args(["build", "-p", "lxops-incus"]).run()?;
    let lxops = target_dir().join("debug/lxops-incus");
    let lxops_cmd = || Cmd::new(&lxops).current_dir(project_root());
    log("demo", format!("launching {INSTANCE} from {CONFIG}"));
    let launched = lxops_cmd()
        .args(["launch", "-name", INSTANCE, CONFIG])
        .run();
    if launched.is_ok() {
        if let Err(e) = lxops_cmd().args(["instance", "info", INSTANCE]).run() {
            log("demo", format!("showing the instance failed: {e:#}"));
        }
    }
    log("demo", format!("deleting {INSTANCE}"));
    let deleted = lxops_cmd()
        .args(["delete", "--force", "-name", INSTANCE, CONFIG])
        .run();
    launched.context("the demo launch failed")?;
    deleted.context("deleting the demo instance failed")?;
    log("demo", "done");
    Ok(())
}
