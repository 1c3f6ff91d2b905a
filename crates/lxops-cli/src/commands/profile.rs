//! `profile ...`: the per-instance profile of configs (list, diff, apply, reorder) and profile
//! files (export, import, exists).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use lxops_core::server::{InstanceServer, Profile};
use serde::{Deserialize, Serialize};

use super::write_err;
use crate::args::{ProfileCommand, ProfileExistsArgs, ProfileExportArgs, ProfileImportArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult, ResultExt};

/// Runs one `profile` subcommand.
pub(crate) async fn run(ctx: &Context, command: ProfileCommand, out: &mut dyn Write) -> CliResult {
    match command {
        ProfileCommand::List(args) => super::profile_config::list(ctx, args, out).await,
        ProfileCommand::Diff(args) => super::profile_config::diff(ctx, args, out).await,
        ProfileCommand::Apply(args) => super::profile_config::apply(ctx, args, false, out).await,
        ProfileCommand::Reorder(args) => super::profile_config::apply(ctx, args, true, out).await,
        ProfileCommand::Export(args) => export(ctx, args, out).await,
        ProfileCommand::Import(args) => import(ctx, args, out).await,
        ProfileCommand::Exists(args) => exists(ctx, args, out).await,
    }
}

/// A profile as a YAML file: what `profile export` writes and `profile import` reads.
#[derive(Debug, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    description: String,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    devices: BTreeMap<String, BTreeMap<String, String>>,
}

async fn export(ctx: &Context, args: ProfileExportArgs, out: &mut dyn Write) -> CliResult {
    let server = ctx.server(args.project.as_deref()).await?;
    let names = if args.all {
        server.profile_names().await.failed("listing profiles")?
    } else {
        args.profiles.clone()
    };
    if names.is_empty() {
        return Err(CliError::input(anyhow::anyhow!(
            "profile export: name the profiles to export, or use --all"
        )));
    }
    std::fs::create_dir_all(&args.dir).failed(format!("creating {}", args.dir.display()))?;
    for name in names {
        let profile = server
            .profile(&name)
            .await
            .failed(format!("reading profile {name}"))?
            .ok_or_else(|| CliError::failure(anyhow::anyhow!("profile {name} does not exist")))?;
        let file = ProfileFile {
            description: profile.description,
            config: profile.config,
            devices: profile.devices,
        };
        let text = serde_yaml::to_string(&file)
            .map_err(|e| CliError::failure(anyhow::anyhow!("formatting profile {name}: {e}")))?;
        let path = args.dir.join(&name);
        std::fs::write(&path, text).failed(format!("writing {}", path.display()))?;
        writeln!(out, "{}", path.display()).map_err(write_err)?;
    }
    Ok(())
}

fn read_profile_file(path: &Path) -> CliResult<Profile> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".yaml").unwrap_or(n))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            CliError::input(anyhow::anyhow!(
                "{}: cannot take a profile name from this file name",
                path.display()
            ))
        })?;
    let text =
        lxops_core::input::read_text(path).input_err(format!("reading {}", path.display()))?;
    let file: ProfileFile = serde_yaml::from_str(&text).map_err(|e| {
        CliError::input(anyhow::anyhow!(
            "{}: not a profile file: {e}; expected keys description, config, devices",
            path.display()
        ))
    })?;
    Ok(Profile {
        name: name.to_string(),
        description: file.description,
        config: file.config,
        devices: file.devices,
    })
}

async fn import(ctx: &Context, args: ProfileImportArgs, out: &mut dyn Write) -> CliResult {
    let profiles: Vec<Profile> = args
        .files
        .iter()
        .map(|f| read_profile_file(f))
        .collect::<CliResult<_>>()?;
    let server = ctx.server(args.project.as_deref()).await?;
    for profile in profiles {
        import_one(server.as_ref(), &profile, out).await?;
    }
    Ok(())
}

async fn import_one(
    server: &dyn InstanceServer,
    profile: &Profile,
    out: &mut dyn Write,
) -> CliResult {
    let name = &profile.name;
    let exists = server
        .profile(name)
        .await
        .failed(format!("reading profile {name}"))?
        .is_some();
    if exists {
        server
            .update_profile(profile)
            .await
            .failed(format!("updating profile {name}"))?;
        writeln!(out, "updated profile {name}").map_err(write_err)
    } else {
        server
            .create_profile(profile)
            .await
            .failed(format!("creating profile {name}"))?;
        writeln!(out, "created profile {name}").map_err(write_err)
    }
}

async fn exists(ctx: &Context, args: ProfileExistsArgs, out: &mut dyn Write) -> CliResult {
    let server = ctx.server(args.project.as_deref()).await?;
    let found = server
        .profile(&args.profile)
        .await
        .failed(format!("reading profile {}", args.profile))?;
    if found.is_some() {
        writeln!(out, "{}", args.profile).map_err(write_err)?;
    }
    Ok(())
}
