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
use crate::output::{self, table, Format, Row};

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

/// `instance profiles`: one row per profile, in the instance's order.
#[derive(Debug, Serialize)]
struct ProfileRow {
    instance: String,
    profile: String,
}

impl Row for ProfileRow {
    const COLUMNS: &'static [&'static str] = &["instance", "profile"];
    fn cells(&self) -> Vec<String> {
        vec![self.instance.clone(), self.profile.clone()]
    }
}

async fn profiles(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    let mut found = Vec::new();
    for name in &args.names {
        let instance = existing(ctx, args.project.as_deref(), name).await?;
        found.extend(instance.profiles.into_iter().map(|profile| ProfileRow {
            instance: name.clone(),
            profile,
        }));
    }
    output::rows_or(out, ctx.format(), &found, |out| {
        found
            .iter()
            .try_for_each(|row| writeln!(out, "{}", row.profile))
    })
    .map_err(write_err)
}

async fn wait(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    let server = ctx.server(args.project.as_deref()).await?;
    let options = WaitOptions {
        ready: ctx.timeout(),
        network: ctx.timeout(),
        ..WaitOptions::default()
    };
    for name in &args.names {
        let mut lines: Vec<u8> = Vec::new();
        let result = wait_ready(server.as_ref(), name, &options, &mut lines).await;
        out.write_all(&lines).map_err(write_err)?;
        result.map_err(CliError::failure)?;
    }
    Ok(())
}

/// `instance devices`: one row per disk device with a source.
#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct DeviceRow {
    source: String,
    path: String,
    name: String,
    readonly: String,
    instance: String,
}

impl Row for DeviceRow {
    const COLUMNS: &'static [&'static str] = &["source", "path", "name", "readonly", "instance"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.source.clone(),
            self.path.clone(),
            self.name.clone(),
            self.readonly.clone(),
            self.instance.clone(),
        ]
    }
}

async fn devices(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    let mut rows = Vec::new();
    for name in &args.names {
        let instance = existing(ctx, args.project.as_deref(), name).await?;
        rows.extend(device_rows(name, &instance.expanded_devices));
    }
    rows.sort();
    output::rows_or(out, ctx.format(), &rows, |out| {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut cells = r.cells();
                cells.pop();
                cells
            })
            .collect();
        table(out, &["SOURCE", "PATH", "NAME", "READONLY"], &cells)
    })
    .map_err(write_err)
}

/// The disk devices with a source.
fn device_rows(
    instance: &str,
    devices: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<DeviceRow> {
    devices
        .iter()
        .filter(|(_, d)| d.get("type").map(String::as_str) == Some("disk"))
        .filter_map(|(device, d)| {
            let source = d.get("source").filter(|s| !s.is_empty())?;
            Some(DeviceRow {
                source: source.clone(),
                path: d.get("path").cloned().unwrap_or_default(),
                name: device.clone(),
                readonly: d.get("readonly").cloned().unwrap_or_default(),
                instance: instance.to_string(),
            })
        })
        .collect()
}

/// `instance hwaddr`: one row per instance with a MAC address.
#[derive(Debug, Serialize)]
struct HwaddrRow {
    instance: String,
    hwaddr: String,
}

impl Row for HwaddrRow {
    const COLUMNS: &'static [&'static str] = &["instance", "hwaddr"];
    fn cells(&self) -> Vec<String> {
        vec![self.instance.clone(), self.hwaddr.clone()]
    }
}

async fn hwaddr(ctx: &Context, project: Option<&str>, out: &mut dyn Write) -> CliResult {
    let server = ctx.server(project).await?;
    let instances = server.instances().await.failed("listing instances")?;
    let rows: Vec<HwaddrRow> = instances
        .iter()
        .filter_map(|i| {
            let hwaddr = i.config.get("volatile.eth0.hwaddr")?;
            Some(HwaddrRow {
                instance: i.name.clone(),
                hwaddr: hwaddr.clone(),
            })
        })
        .collect();
    output::rows(out, ctx.format(), &rows).map_err(write_err)
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

/// `instance info`: YAML documents by default (one per instance, as before); with `--format
/// json|yaml` one array of the same objects.
async fn info(ctx: &Context, args: InstanceNamesArgs, out: &mut dyn Write) -> CliResult {
    let mut infos = Vec::new();
    for name in &args.names {
        let i = existing(ctx, args.project.as_deref(), name).await?;
        infos.push(InstanceInfo {
            name: i.name,
            status: i.status,
            instance_type: i.instance_type,
            description: i.description,
            profiles: i.profiles,
            config: i.config,
            devices: i.devices,
            expanded_devices: i.expanded_devices,
        });
    }
    match ctx.format() {
        Format::Table => {
            for info in &infos {
                output::document(out, Format::Yaml, info).map_err(write_err)?;
            }
            Ok(())
        }
        Format::Csv => Err(CliError::input(anyhow::anyhow!(
            "instance info: --format csv cannot hold an instance's nested config and devices; use json or yaml"
        ))),
        format => output::document(out, format, &infos).map_err(write_err),
    }
}

/// `instance addresses`: one row per global address.
#[derive(Debug, Serialize)]
struct AddressRow {
    address: String,
    name: String,
}

impl Row for AddressRow {
    const COLUMNS: &'static [&'static str] = &["address", "name"];
    fn cells(&self) -> Vec<String> {
        vec![self.address.clone(), self.name.clone()]
    }
}

/// Prints `addresses` (address to instance): csv by default, without a header unless
/// `headers` (as the original lxops); yaml as the original's map of address to instance.
fn print_addresses(
    out: &mut dyn Write,
    format: Format,
    headers: bool,
    found: BTreeMap<String, String>,
) -> std::io::Result<()> {
    match format {
        Format::Yaml => output::document(out, Format::Yaml, &found),
        Format::Csv => {
            let mut text = Vec::new();
            let rows: Vec<AddressRow> = found
                .into_iter()
                .map(|(address, name)| AddressRow { address, name })
                .collect();
            output::rows(&mut text, Format::Csv, &rows)?;
            let text = String::from_utf8_lossy(&text);
            let body = if headers {
                &text[..]
            } else {
                text.split_once('\n').map_or("", |(_, rest)| rest)
            };
            out.write_all(body.as_bytes())
        }
        format => {
            let rows: Vec<AddressRow> = found
                .into_iter()
                .map(|(address, name)| AddressRow { address, name })
                .collect();
            output::rows(out, format, &rows)
        }
    }
}

async fn addresses(ctx: &Context, args: InstanceAddressesArgs, out: &mut dyn Write) -> CliResult {
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
    print_addresses(out, ctx.format_or(Format::Csv), args.headers, found).map_err(write_err)
}

/// Whether the instance exists and runs (a failed look-up counts as no).
async fn is_running(server: &dyn lxops_core::server::InstanceServer, name: &str) -> bool {
    matches!(server.instance(name).await, Ok(Some(i)) if i.is_running())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::check;

    #[test]
    fn device_rows_are_the_disks_with_a_source() {
        let devices: BTreeMap<String, BTreeMap<String, String>> = [
            (
                "root",
                &[("type", "disk"), ("path", "/"), ("pool", "default")][..],
            ),
            (
                "home",
                &[
                    ("type", "disk"),
                    ("path", "/home"),
                    ("source", "/z/a1/home"),
                ][..],
            ),
            ("eth0", &[("type", "nic"), ("source", "x")][..]),
        ]
        .into_iter()
        .map(|(name, pairs)| {
            let d = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (name.to_string(), d)
        })
        .collect();
        let rows = device_rows("a1", &devices);
        let parsed = check::json_rows(&rows);
        assert_eq!(
            serde_json::Value::from(
                parsed
                    .into_iter()
                    .map(serde_json::Value::Object)
                    .collect::<Vec<_>>()
            ),
            serde_json::json!([{
                "source": "/z/a1/home", "path": "/home", "name": "home", "readonly": "", "instance": "a1"
            }])
        );
    }

    #[test]
    fn rows_of_profiles_and_hwaddr_parse_back() {
        let profiles = [ProfileRow {
            instance: "a1".into(),
            profile: "default".into(),
        }];
        assert_eq!(check::json_rows(&profiles)[0]["profile"], "default");
        let hwaddr = [HwaddrRow {
            instance: "a1".into(),
            hwaddr: "00:16:3e:00:00:01".into(),
        }];
        assert_eq!(check::json_rows(&hwaddr)[0]["hwaddr"], "00:16:3e:00:00:01");
    }

    #[test]
    fn addresses_keep_the_original_csv_and_yaml_and_add_json_and_table() {
        let found: BTreeMap<String, String> = [("10.0.0.2", "a1"), ("10.0.0.3", "b1")]
            .into_iter()
            .map(|(a, n)| (a.to_string(), n.to_string()))
            .collect();
        let cases: &[(Format, bool, &str)] = &[
            (Format::Csv, false, "10.0.0.2,a1\n10.0.0.3,b1\n"),
            (
                Format::Csv,
                true,
                "address,name\n10.0.0.2,a1\n10.0.0.3,b1\n",
            ),
            (Format::Yaml, false, "10.0.0.2: a1\n10.0.0.3: b1\n"),
            (
                Format::Table,
                false,
                "ADDRESS   NAME\n10.0.0.2  a1\n10.0.0.3  b1\n",
            ),
        ];
        for (format, headers, want) in cases {
            let mut out = Vec::new();
            print_addresses(&mut out, *format, *headers, found.clone()).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                *want,
                "{format:?} {headers}"
            );
        }
        let mut out = Vec::new();
        print_addresses(&mut out, Format::Json, false, found).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            parsed[1],
            serde_json::json!({"address": "10.0.0.3", "name": "b1"})
        );
    }
}
