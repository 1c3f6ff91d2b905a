//! `instance ...`: commands on instances by name (no config file): profiles, wait, devices,
//! hwaddr, info, addresses.

use std::collections::BTreeMap;
use std::io::Write;

use lxops_core::lifecycle::{wait_ready, WaitOptions};
use serde::Serialize;

use super::write_err;
use crate::args::{InstanceAddressesArgs, InstanceCommand, InstanceNamesArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult, ResultExt};
use crate::output::table;

/// Runs one `instance` subcommand.
pub(crate) async fn run(ctx: &Context, command: InstanceCommand, out: &mut dyn Write) -> CliResult {
    match command {
        InstanceCommand::Profiles(args) => profiles(ctx, args, out).await,
        InstanceCommand::Wait(args) => wait(ctx, args, out).await,
        InstanceCommand::Devices(args) => devices(ctx, args, out).await,
        InstanceCommand::Hwaddr(args) => hwaddr(ctx, args.project.as_deref(), out).await,
        InstanceCommand::Info(args) => info(ctx, args, out).await,
        InstanceCommand::Addresses(args) => addresses(ctx, args, out).await,
        InstanceCommand::Cloudconfig(args) => super::cloudconfig::instance(ctx, args, out).await,
    }
}

async fn existing(
    ctx: &Context,
    project: Option<&str>,
    name: &str,
) -> CliResult<lxops_core::server::Instance> {
    let server = ctx.server(project).await?;
    server
        .instance(name)
        .await
        .failed(format!("reading instance {name}"))?
        .ok_or_else(|| {
            CliError::failure(anyhow::anyhow!(
                "instance {name} does not exist in project {}",
                server.project()
            ))
        })
}

async fn profiles(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    for name in &args.names {
        let instance = existing(ctx, args.project.as_deref(), name).await?;
        for profile in instance.profiles {
            writeln!(out, "{profile}").map_err(write_err)?;
        }
    }
    Ok(())
}

async fn wait(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    let server = ctx.server(args.project.as_deref()).await?;
    let options = WaitOptions {
        ready: ctx.timeout(),
        network: ctx.timeout(),
    };
    for name in &args.names {
        let mut lines: Vec<u8> = Vec::new();
        let result = wait_ready(server.as_ref(), name, &options, &mut lines).await;
        out.write_all(&lines).map_err(write_err)?;
        result.map_err(CliError::failure)?;
    }
    Ok(())
}

async fn devices(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    let mut rows = Vec::new();
    for name in &args.names {
        let instance = existing(ctx, args.project.as_deref(), name).await?;
        for (device, d) in &instance.expanded_devices {
            if d.get("type").map(String::as_str) != Some("disk") {
                continue;
            }
            let source = d.get("source").cloned().unwrap_or_default();
            if source.is_empty() {
                continue;
            }
            rows.push(vec![
                source,
                d.get("path").cloned().unwrap_or_default(),
                device.clone(),
                d.get("readonly").cloned().unwrap_or_default(),
            ]);
        }
    }
    rows.sort();
    table(out, &["SOURCE", "PATH", "NAME", "READONLY"], &rows).map_err(write_err)
}

async fn hwaddr(ctx: &Context, project: Option<&str>, out: &mut dyn Write) -> CliResult {
    let server = ctx.server(project).await?;
    let instances = server.instances().await.failed("listing instances")?;
    let rows: Vec<Vec<String>> = instances
        .iter()
        .filter_map(|i| {
            let hwaddr = i.config.get("volatile.eth0.hwaddr")?;
            Some(vec![i.name.clone(), hwaddr.clone()])
        })
        .collect();
    table(out, &["INSTANCE", "HWADDR"], &rows).map_err(write_err)
}

/// What `instance info` prints, as YAML.
#[derive(Serialize)]
struct InstanceInfo {
    name: String,
    status: String,
    #[serde(rename = "type")]
    instance_type: String,
    description: String,
    profiles: Vec<String>,
    config: BTreeMap<String, String>,
    devices: BTreeMap<String, BTreeMap<String, String>>,
    expanded_devices: BTreeMap<String, BTreeMap<String, String>>,
}

async fn info(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    for name in &args.names {
        let i = existing(ctx, args.project.as_deref(), name).await?;
        let info = InstanceInfo {
            name: i.name,
            status: i.status,
            instance_type: i.instance_type,
            description: i.description,
            profiles: i.profiles,
            config: i.config,
            devices: i.devices,
            expanded_devices: i.expanded_devices,
        };
        let text = serde_yaml::to_string(&info)
            .map_err(|e| CliError::failure(anyhow::anyhow!("formatting {name}: {e}")))?;
        out.write_all(text.as_bytes()).map_err(write_err)?;
    }
    Ok(())
}

async fn addresses(ctx: &Context, args: InstanceAddressesArgs, out: &mut dyn Write) -> CliResult {
    if args.format != "csv" && args.format != "yaml" {
        return Err(CliError::input(anyhow::anyhow!(
            "--format {:?}: use csv or yaml",
            args.format
        )));
    }
    let server = ctx.server(args.project.as_deref()).await?;
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for name in server.instance_names().await.failed("listing instances")? {
        let state = match server.instance_state(&name).await {
            Ok(state) => state,
            // Deleted or stopped between the list and this read: it has no address now.
            Err(_) if !is_running(server.as_ref(), &name).await => continue,
            Err(e) => return Err(e).failed(format!("reading the state of {name}")),
        };
        for nic in state.network.values() {
            for a in &nic.addresses {
                if a.family == args.family && a.scope == "global" {
                    found.insert(a.address.clone(), name.clone());
                }
            }
        }
    }
    if args.format == "yaml" {
        let text = serde_yaml::to_string(&found)
            .map_err(|e| CliError::failure(anyhow::anyhow!("formatting addresses: {e}")))?;
        return out.write_all(text.as_bytes()).map_err(write_err);
    }
    if args.headers {
        writeln!(out, "address,name").map_err(write_err)?;
    }
    for (address, name) in found {
        writeln!(out, "{address},{name}").map_err(write_err)?;
    }
    Ok(())
}

/// Whether the instance exists and runs (a failed look-up counts as no).
async fn is_running(server: &dyn lxops_core::server::InstanceServer, name: &str) -> bool {
    matches!(server.instance(name).await, Ok(Some(i)) if i.is_running())
}
