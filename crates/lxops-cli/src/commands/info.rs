//! `i ...`: information about a config's instance, without a server (verify, description,
//! properties, filesystems, devices, project). `i verify` runs what launch checks before it
//! changes anything and that needs no server: the config and `ops::verify_offline`.

use std::io::Write;

use lxops_core::config::{self, EvalOptions, Instance, LoadOptions, Loaded};
use lxops_core::ops;

use super::config::{print_warnings, property_sources};
use super::launch::launch_sources;
use super::targets::{ops_err, Target};
use super::write_err;
use crate::args::{ConfigArgs, ConfigFiles, InfoCommand, PropertyArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{self, table, Format, Row};
use serde::Serialize;

/// Runs one `i` subcommand.
pub(crate) async fn run(ctx: &Context, command: InfoCommand, out: &mut dyn Write) -> CliResult {
    match command {
        InfoCommand::Verify(args) => {
            // Everything launch checks before it changes anything, without a server: the
            // config (with the device-template/-origin source configs), then the offline
            // checks launch itself runs first (cloud-config files, OS type, lxc-options, ...).
            let sources = property_sources(&PropertyArgs {
                properties: args.config.properties.clone(),
                property: args.config.property.clone(),
            })?;
            let format = ctx.format();
            let mut rows = Vec::new();
            for (loaded, instance) in instances(ctx, &args.config, &args.files, args.strict, true)?
            {
                let target = Target { loaded, instance };
                let launch_sources = launch_sources(ctx, &target, &sources)?;
                let checked = ops::verify_offline(&target.instance, &launch_sources, &ctx.os_types)
                    .map_err(ops_err)?;
                if format == Format::Table {
                    print_warnings(&target.loaded, out)?;
                }
                // What the cloud-config files hold that lxops does not apply.
                let warnings = &checked.cloud_config_warnings;
                if args.strict && !warnings.is_empty() {
                    return Err(CliError::input(anyhow::anyhow!(
                        "{}\n(--strict: cloud-config keys and modules that lxops does not apply are errors)",
                        warnings.join("\n")
                    )));
                }
                if format == Format::Table {
                    for warning in warnings {
                        writeln!(out, "{warning}").map_err(write_err)?;
                    }
                    writeln!(out, "{}", target.instance.name).map_err(write_err)?;
                }
                let mut all: Vec<String> = target
                    .loaded
                    .warnings
                    .iter()
                    .map(|w| lxops_core::input::escape_message(w).into_owned())
                    .collect();
                all.extend(warnings.iter().cloned());
                rows.push(VerifyRow {
                    instance: target.instance.name.clone(),
                    file: target.loaded.file.display().to_string(),
                    warnings: all,
                });
            }
            if format != Format::Table {
                output::rows(out, format, &rows).map_err(write_err)?;
            }
            Ok(())
        }
        InfoCommand::Description(args) => {
            let rows: Vec<DescriptionRow> = evaluated(ctx, &args.config, &args.files)?
                .iter()
                .map(|i| DescriptionRow {
                    instance: i.name.clone(),
                    description: i.description.clone(),
                })
                .collect();
            output::rows_or(out, ctx.format(), &rows, |out| {
                rows.iter().try_for_each(|row| {
                    let text = &row.description;
                    if text.is_empty() || text.ends_with('\n') {
                        write!(out, "{text}")
                    } else {
                        writeln!(out, "{text}")
                    }
                })
            })
            .map_err(write_err)
        }
        InfoCommand::Properties(args) => {
            let instances = evaluated(ctx, &args.config, &args.files)?;
            let rows: Vec<PropertyRow> = instances.iter().flat_map(property_rows).collect();
            output::rows_or(out, ctx.format(), &rows, |out| {
                for i in &instances {
                    writeln!(out, "Effective Properties:")?;
                    let cells: Vec<Vec<String>> = property_rows(i)
                        .into_iter()
                        .map(|r| vec![r.key, r.value])
                        .collect();
                    table(out, &["KEY", "VALUE"], &cells)?;
                }
                Ok(())
            })
            .map_err(write_err)
        }
        InfoCommand::Filesystems(args) => {
            let pairs = loaded_instances(ctx, &args.config, &args.files)?;
            let per: Vec<Vec<FilesystemRow>> = pairs
                .iter()
                .map(|(loaded, i)| filesystem_rows(loaded, i))
                .collect();
            let rows: Vec<FilesystemRow> = per.iter().flatten().cloned().collect();
            output::rows_or(out, ctx.format(), &rows, |out| {
                for rows in &per {
                    let cells: Vec<Vec<String>> =
                        rows.iter().map(|r| r.cells()[1..].to_vec()).collect();
                    table(
                        out,
                        &["ID", "KIND", "PATH", "PATTERN", "TRANSIENT", "DESTROY"],
                        &cells,
                    )?;
                }
                Ok(())
            })
            .map_err(write_err)
        }
        InfoCommand::Devices(args) => {
            let instances = evaluated(ctx, &args.config, &args.files)?;
            let host = lxops_core::host::SystemHost::new();
            let mut per: Vec<Vec<DeviceRow>> = Vec::new();
            for i in &instances {
                let layout = super::targets::volume_layout(ctx, i).await?;
                per.push(device_rows(i, &host_sources(&host, i, layout)));
            }
            let rows: Vec<DeviceRow> = per.iter().flatten().cloned().collect();
            output::rows_or(out, ctx.format(), &rows, |out| {
                for rows in &per {
                    let cells: Vec<Vec<String>> =
                        rows.iter().map(|r| r.cells()[1..].to_vec()).collect();
                    table(
                        out,
                        &["SOURCE", "PATH", "NAME", "DIR", "FILESYSTEM", "READONLY"],
                        &cells,
                    )?;
                }
                Ok(())
            })
            .map_err(write_err)
        }
        InfoCommand::Project(args) => {
            let rows: Vec<ProjectRow> = evaluated(ctx, &args.config, &args.files)?
                .iter()
                .map(|i| ProjectRow {
                    instance: i.name.clone(),
                    project: i.project.clone(),
                })
                .collect();
            output::rows_or(out, ctx.format(), &rows, |out| {
                rows.iter()
                    .try_for_each(|row| writeln!(out, "{}", row.project))
            })
            .map_err(write_err)
        }
    }
}

/// `i description`: one row per instance.
#[derive(Debug, Serialize)]
struct DescriptionRow {
    instance: String,
    description: String,
}

impl Row for DescriptionRow {
    const COLUMNS: &'static [&'static str] = &["instance", "description"];
    fn cells(&self) -> Vec<String> {
        vec![self.instance.clone(), self.description.clone()]
    }
}

/// `i project`: one row per instance.
#[derive(Debug, Serialize)]
struct ProjectRow {
    instance: String,
    project: String,
}

impl Row for ProjectRow {
    const COLUMNS: &'static [&'static str] = &["instance", "project"];
    fn cells(&self) -> Vec<String> {
        vec![self.instance.clone(), self.project.clone()]
    }
}

/// `i properties`: one row per effective property.
#[derive(Debug, Serialize)]
struct PropertyRow {
    instance: String,
    key: String,
    value: String,
}

impl Row for PropertyRow {
    const COLUMNS: &'static [&'static str] = &["instance", "key", "value"];
    fn cells(&self) -> Vec<String> {
        vec![self.instance.clone(), self.key.clone(), self.value.clone()]
    }
}

fn property_rows(i: &Instance) -> Vec<PropertyRow> {
    i.properties
        .iter()
        .map(|(key, value)| PropertyRow {
            instance: i.name.clone(),
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// `i filesystems`: one row per filesystem, with its pattern before substitution.
#[derive(Debug, Clone, Serialize)]
struct FilesystemRow {
    instance: String,
    id: String,
    kind: String,
    path: String,
    pattern: String,
    transient: bool,
    destroy: bool,
}

impl Row for FilesystemRow {
    const COLUMNS: &'static [&'static str] = &[
        "instance",
        "id",
        "kind",
        "path",
        "pattern",
        "transient",
        "destroy",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.instance.clone(),
            self.id.clone(),
            self.kind.clone(),
            self.path.clone(),
            self.pattern.clone(),
            self.transient.to_string(),
            self.destroy.to_string(),
        ]
    }
}

fn filesystem_rows(loaded: &Loaded, i: &Instance) -> Vec<FilesystemRow> {
    i.filesystems
        .iter()
        .map(|f| FilesystemRow {
            instance: i.name.clone(),
            id: f.id.clone(),
            kind: f.kind.to_string(),
            path: f.path.clone(),
            pattern: loaded
                .config
                .filesystems
                .get(&f.id)
                .map(|fs| fs.pattern.clone())
                .unwrap_or_default(),
            transient: f.transient,
            destroy: f.destroy,
        })
        .collect()
}

/// The host directory of each device (ZFS mountpoints read from ZFS), device by device: a
/// device whose filesystem the host cannot tell about (a dataset not created yet) has none
/// (logged), the others still show theirs.
fn host_sources(
    host: &dyn lxops_core::host::HostRunner,
    i: &Instance,
    layout: ops::volumes::VolumeLayout,
) -> std::collections::BTreeMap<String, std::path::PathBuf> {
    let setup = ops::source_setup(i);
    let mut sources = std::collections::BTreeMap::new();
    for device in &setup.devices {
        let one = lxops_core::host::DeviceSetup {
            filesystems: setup
                .filesystems
                .iter()
                .filter(|f| Some(&f.id) == device.filesystem.as_ref())
                .cloned()
                .collect(),
            devices: vec![device.clone()],
            owner: None,
            clone: None,
        };
        match lxops_core::host::device_sources(host, &one) {
            Ok(found) => sources.extend(found),
            Err(e) => tracing::info!("{}: device {}: no source: {e}", i.name, device.name),
        }
    }
    // Daemon volumes: `POOL/VOLUME`.
    for device in &i.devices {
        if let Some(volume) = ops::volumes::device_volume_source(i, device, layout) {
            sources.insert(device.name.clone(), volume.into());
        }
    }
    sources
}

/// `i devices`: one row per device, with its host directory.
#[derive(Debug, Clone, Serialize)]
struct DeviceRow {
    instance: String,
    source: String,
    path: String,
    name: String,
    dir: String,
    filesystem: String,
    readonly: bool,
}

impl Row for DeviceRow {
    const COLUMNS: &'static [&'static str] = &[
        "instance",
        "source",
        "path",
        "name",
        "dir",
        "filesystem",
        "readonly",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.instance.clone(),
            self.source.clone(),
            self.path.clone(),
            self.name.clone(),
            self.dir.clone(),
            self.filesystem.clone(),
            self.readonly.to_string(),
        ]
    }
}

/// The original's columns and order: sorted by host source (then name), READONLY added last.
fn device_rows(
    i: &Instance,
    sources: &std::collections::BTreeMap<String, std::path::PathBuf>,
) -> Vec<DeviceRow> {
    let mut rows: Vec<DeviceRow> = i
        .devices
        .iter()
        .map(|d| DeviceRow {
            instance: i.name.clone(),
            source: sources
                .get(&d.name)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            name: d.name.clone(),
            path: d.path.clone(),
            filesystem: d.filesystem.clone().unwrap_or_default(),
            dir: d.dir.to_string(),
            readonly: d.readonly,
        })
        .collect();
    rows.sort_by(|a, b| (&a.source, &a.name).cmp(&(&b.source, &b.name)));
    rows
}

/// `i verify`: one row per config file's instance, with the warnings of its config and its
/// cloud-config files.
#[derive(Debug, Serialize)]
struct VerifyRow {
    instance: String,
    file: String,
    warnings: Vec<String>,
}

impl Row for VerifyRow {
    const COLUMNS: &'static [&'static str] = &["instance", "file", "warnings"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.instance.clone(),
            self.file.clone(),
            self.warnings.join("; "),
        ]
    }
}

/// The instances of the config files, their load warnings logged.
fn evaluated(ctx: &Context, config: &ConfigArgs, files: &ConfigFiles) -> CliResult<Vec<Instance>> {
    let mut found = Vec::new();
    for (loaded, instance) in instances(ctx, config, files, false, false)? {
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        found.push(instance);
    }
    Ok(found)
}

/// The loaded configs with their instances, load warnings logged.
fn loaded_instances(
    ctx: &Context,
    config: &ConfigArgs,
    files: &ConfigFiles,
) -> CliResult<Vec<(Loaded, Instance)>> {
    let pairs = instances(ctx, config, files, false, false)?;
    for (loaded, _) in &pairs {
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
    }
    Ok(pairs)
}

/// Loads and evaluates every config file for its instance.
pub(crate) fn instances(
    ctx: &Context,
    config: &ConfigArgs,
    files: &ConfigFiles,
    strict: bool,
    include_source: bool,
) -> CliResult<Vec<(Loaded, Instance)>> {
    let sources = property_sources(&PropertyArgs {
        properties: config.properties.clone(),
        property: config.property.clone(),
    })?;
    let pairs = config::instance_names(&files.files, &config.name).map_err(CliError::input)?;
    let options = LoadOptions {
        formats: &ctx.app.formats,
        sources: &sources,
        strict,
        raw: false,
    };
    let eval = EvalOptions {
        include_source,
        project: config.project.clone(),
    };
    let mut out: Vec<(Loaded, Instance)> = Vec::new();
    for (file, name) in pairs {
        let loaded = match out.last().filter(|(l, _)| l.file == file) {
            Some((previous, _)) => previous.clone(),
            None => config::load(&file, &options).map_err(CliError::input)?,
        };
        let instance =
            config::evaluate(&loaded, &name, &sources, &eval).map_err(CliError::input)?;
        out.push((loaded, instance));
    }
    Ok(out)
}
