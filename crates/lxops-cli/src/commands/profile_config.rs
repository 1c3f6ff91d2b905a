//! `profile list|diff|apply|reorder CONFIG...`: compare or set an instance's profiles against
//! its config's (the config's `profiles` plus the per-instance profile).

use std::io::Write;

use super::targets::{load_targets, Target};
use super::write_err;
use crate::args::{ProfileChangeArgs, ProfileConfigArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult, ResultExt};
use lxops_core::server::InstanceUpdate;

/// The profiles a config wants for its instance, in order.
fn wanted(target: &Target) -> Vec<String> {
    let mut profiles = target.instance.profiles.clone();
    if !profiles.contains(&target.instance.profile) {
        profiles.push(target.instance.profile.clone());
    }
    profiles
}

/// `profile list`: the config's profiles.
pub(crate) async fn list(ctx: &Context, args: ProfileConfigArgs, out: &mut dyn Write) -> CliResult {
    for target in load_targets(ctx, &args.config, &args.files.files, false)? {
        for profile in wanted(&target) {
            writeln!(out, "{profile}").map_err(write_err)?;
        }
    }
    Ok(())
}

async fn current(ctx: &Context, target: &Target) -> CliResult<lxops_core::server::Instance> {
    let name = &target.instance.name;
    let server = ctx.server(Some(target.instance.project.as_str())).await?;
    server
        .instance(name)
        .await
        .failed(format!("reading instance {name}"))?
        .ok_or_else(|| CliError::failure(anyhow::anyhow!("instance {name} does not exist")))
}

/// `profile diff`: how the instance's profiles differ from the config's.
pub(crate) async fn diff(ctx: &Context, args: ProfileConfigArgs, out: &mut dyn Write) -> CliResult {
    for target in load_targets(ctx, &args.config, &args.files.files, false)? {
        let want = wanted(&target);
        let have = current(ctx, &target).await?.profiles;
        let name = &target.instance.name;
        let only_config: Vec<&String> = want.iter().filter(|p| !have.contains(p)).collect();
        let only_instance: Vec<&String> = have.iter().filter(|p| !want.contains(p)).collect();
        if !only_config.is_empty() {
            writeln!(
                out,
                "{name}: profiles only in config: {}",
                join(&only_config)
            )
            .map_err(write_err)?;
        }
        if !only_instance.is_empty() {
            writeln!(
                out,
                "{name}: profiles only in instance: {}",
                join(&only_instance)
            )
            .map_err(write_err)?;
        }
        if only_config.is_empty() && only_instance.is_empty() && want != have {
            writeln!(
                out,
                "{name}: profiles in different order: {}",
                have.join(", ")
            )
            .map_err(write_err)?;
        }
    }
    Ok(())
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `profile apply` (set the config's profiles) and `profile reorder` (only when the sets agree).
pub(crate) async fn apply(
    ctx: &Context,
    args: ProfileChangeArgs,
    reorder: bool,
    out: &mut dyn Write,
) -> CliResult {
    for target in load_targets(ctx, &args.config, &args.files.files, false)? {
        let want = wanted(&target);
        let instance = current(ctx, &target).await?;
        let name = &target.instance.name;
        if instance.profiles == want {
            writeln!(out, "{name}: profiles already {}", want.join(", ")).map_err(write_err)?;
            continue;
        }
        if reorder {
            let mut a = want.clone();
            let mut b = instance.profiles.clone();
            a.sort();
            b.sort();
            if a != b {
                return Err(CliError::failure(anyhow::anyhow!(
                    "{name}: profiles differ: instance has {}, config wants {}; use `profile apply`",
                    instance.profiles.join(", "),
                    want.join(", ")
                )));
            }
        }
        writeln!(out, "{name}: set profiles {}", want.join(", ")).map_err(write_err)?;
        if args.change.dry_run {
            continue;
        }
        let server = ctx.server(Some(target.instance.project.as_str())).await?;
        let mut update = InstanceUpdate::from(&instance);
        update.profiles = want;
        server
            .update_instance(name, &update)
            .await
            .failed(format!("setting the profiles of {name}"))?;
    }
    Ok(())
}
