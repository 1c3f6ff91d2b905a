//! `instance ...`: commands on instances by name (no config file): profiles, wait, devices,
//! hwaddr, info, addresses (and cloudconfig, push and pull in their own modules).

use std::collections::BTreeMap;
use std::io::Write;

use lxops_core::lifecycle::{wait_ready, WaitOptions};
use serde::Serialize;

use super::write_err;
use crate::args::{InstanceAddressesArgs, InstanceCommand, InstanceNamesArgs, InstanceNumberArgs};
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
        InstanceCommand::Push(args) => super::push::run(ctx, args, out).await,
        InstanceCommand::Pull(args) => super::pull::run(ctx, args, out).await,
        InstanceCommand::Number(args) => number(ctx, args, out).await,
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

/// Prints `addresses` in the original's forms: csv `address,name` lines (a header line only
/// with `headers`), yaml a map of instance name to address; json and table as the other
/// listing commands.
fn print_addresses(
    out: &mut dyn Write,
    format: Format,
    headers: bool,
    found: Vec<AddressRow>,
) -> std::io::Result<()> {
    match format {
        Format::Yaml => {
            // The original's map: name -> address (the last address of a name wins).
            let map: BTreeMap<String, String> =
                found.into_iter().map(|r| (r.name, r.address)).collect();
            output::document(out, Format::Yaml, &map)
        }
        Format::Csv => {
            let mut text = Vec::new();
            output::rows(&mut text, Format::Csv, &found)?;
            let text = String::from_utf8_lossy(&text);
            let body = if headers {
                &text[..]
            } else {
                text.split_once('\n').map_or("", |(_, rest)| rest)
            };
            out.write_all(body.as_bytes())
        }
        format => output::rows(out, format, &found),
    }
}

/// The global addresses of `family`, in the daemon's order (by project, then name).
fn global_addresses(
    states: &[lxops_core::server::ProjectInstanceState],
    family: &str,
) -> Vec<AddressRow> {
    let mut rows = Vec::new();
    for i in states {
        for nic in i.state.network.values() {
            for a in &nic.addresses {
                if a.family == family && a.scope == "global" {
                    rows.push(AddressRow {
                        address: a.address.clone(),
                        name: i.name.clone(),
                    });
                }
            }
        }
    }
    rows
}

async fn addresses(ctx: &Context, args: InstanceAddressesArgs, out: &mut dyn Write) -> CliResult {
    if !matches!(args.family.as_str(), "inet" | "inet6") {
        return Err(CliError::input(anyhow::anyhow!(
            "instance addresses: --family {:?}: give inet or inet6",
            args.family
        )));
    }
    let server = ctx.server(args.project.as_deref()).await?;
    // Every project, as the original; --project narrows it to one.
    let mut states = server
        .all_project_states()
        .await
        .failed("listing the instances of all projects")?;
    if let Some(project) = &args.project {
        states.retain(|s| &s.project == project);
    }
    let found = global_addresses(&states, &args.family);
    let format = ctx.format_or(Format::Csv);
    match &args.output {
        None => print_addresses(out, format, args.headers, found).map_err(write_err),
        Some(file) => {
            let mut text = Vec::new();
            print_addresses(&mut text, format, args.headers, found).map_err(write_err)?;
            write_whole(file, &text)
        }
    }
}

/// Writes `bytes` to `file` through a temporary file in the same directory, renamed into place
/// when complete (a reader never sees half a file).
fn write_whole(file: &std::path::Path, bytes: &[u8]) -> CliResult {
    let failed =
        |e: std::io::Error| CliError::failure(anyhow::anyhow!("writing {}: {e}", file.display()));
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(failed)
}

/// `instance number`: assigns persistent numbers (e.g. ssh ports) to instances in a CSV file
/// of `name,number` lines, as the original: numbered instances keep their numbers, new ones
/// get the lowest free numbers from `--first` (default: the smallest number in the file) up
/// to `--last`.
async fn number(ctx: &Context, args: InstanceNumberArgs, out: &mut dyn Write) -> CliResult {
    let _ = out;
    if args.running && args.project.is_none() {
        return Err(CliError::input(anyhow::anyhow!(
            "instance number: -r can be used only with --project"
        )));
    }
    let mut names = Vec::new();
    if let Some(project) = &args.project {
        let server = ctx.server(Some(project)).await?;
        for i in server.instances().await.failed("listing instances")? {
            if !args.running || i.is_running() {
                names.push(i.name);
            }
        }
    }
    for name in &args.names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let existing = match std::fs::read_to_string(&args.file) {
        Ok(text) => parse_numbers(&text).map_err(|e| {
            CliError::input(anyhow::anyhow!("numbers file {}: {e}", args.file.display()))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(CliError::failure(anyhow::anyhow!(
                "reading numbers file {}: {e}",
                args.file.display()
            )))
        }
    };
    let numbers = assign_numbers(existing, &names, args.first, args.last, args.clean)
        .map_err(|e| CliError::input(anyhow::anyhow!("instance number: {e}")))?;
    let mut text = String::new();
    for (name, number) in &numbers {
        let cell = if name.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", name.replace('"', "\"\""))
        } else {
            name.clone()
        };
        text.push_str(&format!("{cell},{number}\n"));
    }
    write_whole(&args.file, text.as_bytes())
}

/// Reads `name,number` lines (blank lines skipped).
fn parse_numbers(text: &str) -> Result<Vec<(String, i64)>, String> {
    let mut numbers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (name, number) = line
            .rsplit_once(',')
            .ok_or_else(|| format!("line {}: expected name,number: {line:?}", i + 1))?;
        let number: i64 = number
            .trim()
            .parse()
            .map_err(|_| format!("line {}: {number:?} is not a number", i + 1))?;
        let name = name.trim_matches('"').replace("\"\"", "\"");
        numbers.push((name, number));
    }
    Ok(numbers)
}

/// The original's assignment: keeps the existing numbers (only the selected ones with
/// `clean`), then gives each selected name without a number the next free one.
fn assign_numbers(
    mut numbers: Vec<(String, i64)>,
    names: &[String],
    first: i64,
    last: i64,
    clean: bool,
) -> Result<Vec<(String, i64)>, String> {
    if clean {
        numbers.retain(|(name, _)| names.contains(name));
    }
    let mut next = first;
    if next == 0 {
        next = numbers
            .iter()
            .map(|(_, n)| *n)
            .min()
            .ok_or("no numbers found: give --first")?;
    }
    let used: std::collections::BTreeSet<i64> = numbers.iter().map(|(_, n)| *n).collect();
    let numbered: std::collections::BTreeSet<String> =
        numbers.iter().map(|(name, _)| name.clone()).collect();
    for name in names {
        if numbered.contains(name) {
            continue;
        }
        loop {
            if last != 0 && next > last {
                return Err(format!("no numbers available between {first} and {last}"));
            }
            if !used.contains(&next) {
                numbers.push((name.clone(), next));
                next += 1;
                break;
            }
            next += 1;
        }
    }
    Ok(numbers)
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
        let found = || {
            vec![
                AddressRow {
                    address: "10.0.0.2".into(),
                    name: "a1".into(),
                },
                AddressRow {
                    address: "10.0.0.3".into(),
                    name: "b1".into(),
                },
            ]
        };
        let cases: &[(Format, bool, &str)] = &[
            (Format::Csv, false, "10.0.0.2,a1\n10.0.0.3,b1\n"),
            (
                Format::Csv,
                true,
                "address,name\n10.0.0.2,a1\n10.0.0.3,b1\n",
            ),
            // The original's yaml: a map of name to address.
            (Format::Yaml, false, "a1: 10.0.0.2\nb1: 10.0.0.3\n"),
            (
                Format::Table,
                false,
                "ADDRESS   NAME\n10.0.0.2  a1\n10.0.0.3  b1\n",
            ),
        ];
        for (format, headers, want) in cases {
            let mut out = Vec::new();
            print_addresses(&mut out, *format, *headers, found()).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                *want,
                "{format:?} {headers}"
            );
        }
        let mut out = Vec::new();
        print_addresses(&mut out, Format::Json, false, found()).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            parsed[1],
            serde_json::json!({"address": "10.0.0.3", "name": "b1"})
        );
    }

    #[test]
    fn only_global_addresses_of_the_family_count_in_every_project() {
        use lxops_core::server::{
            InstanceState, NetworkAddress, NetworkInterface, ProjectInstanceState,
        };
        let state = |project: &str, name: &str, addrs: &[(&str, &str, &str)]| {
            let nic = NetworkInterface {
                hwaddr: String::new(),
                addresses: addrs
                    .iter()
                    .map(|(family, address, scope)| NetworkAddress {
                        family: family.to_string(),
                        address: address.to_string(),
                        scope: scope.to_string(),
                    })
                    .collect(),
            };
            ProjectInstanceState {
                project: project.into(),
                name: name.into(),
                state: InstanceState {
                    status: "Running".into(),
                    network: [("eth0".to_string(), nic)].into(),
                },
            }
        };
        let states = [
            state(
                "default",
                "a1",
                &[
                    ("inet", "10.0.0.2", "global"),
                    ("inet", "127.0.0.1", "local"),
                ],
            ),
            state(
                "web",
                "w1",
                &[
                    ("inet6", "fd00::2", "global"),
                    ("inet", "10.0.1.2", "global"),
                ],
            ),
        ];
        let rows = global_addresses(&states, "inet");
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.address.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(got, [("10.0.0.2", "a1"), ("10.0.1.2", "w1")]);
        assert_eq!(global_addresses(&states, "inet6").len(), 1);
    }

    #[test]
    fn numbers_are_kept_and_new_names_get_the_lowest_free_ones() {
        let file = parse_numbers("a1,2201\nb1,2203\n\n").unwrap();
        let names: Vec<String> = ["a1", "c1", "d1", "e1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // No --first: start at the smallest number in the file; 2201 and 2203 are taken.
        let got = assign_numbers(file.clone(), &names, 0, 0, false).unwrap();
        assert_eq!(
            got,
            [
                ("a1", 2201),
                ("b1", 2203),
                ("c1", 2202),
                ("d1", 2204),
                ("e1", 2205)
            ]
            .map(|(n, v)| (n.to_string(), v))
        );
        // --clean drops b1, which is not selected.
        let got = assign_numbers(file.clone(), &names[..2], 0, 0, true).unwrap();
        assert_eq!(
            got,
            [("a1", 2201), ("c1", 2202)].map(|(n, v)| (n.to_string(), v))
        );
        // --last bounds the range.
        let err = assign_numbers(file, &names, 2201, 2204, false).unwrap_err();
        assert_eq!(err, "no numbers available between 2201 and 2204");
        // An empty file needs --first.
        assert!(assign_numbers(Vec::new(), &names, 0, 0, false).is_err());
        assert_eq!(
            assign_numbers(Vec::new(), &names[..1], 10, 0, false).unwrap(),
            [("a1".to_string(), 10)]
        );
        assert!(parse_numbers("a1;2\n").is_err());
        assert!(parse_numbers("a1,x\n").is_err());
    }
}
