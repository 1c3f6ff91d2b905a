//! `publish INSTANCE/SNAPSHOT` (or `INSTANCE SNAPSHOT`): make an image of an instance snapshot,
//! with properties and an alias derived as the original does (from `-c CONFIG` when given).

use std::collections::BTreeMap;
use std::io::Write;

use lxops_core::server::PublishImage;

use super::targets::load_targets;
use super::write_err;
use crate::args::{ConfigArgs, PublishArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// The version in an instance name, as the original finds it: the leftmost match of
/// `[0-9][-0-9_.]*[0-9]` (`alpine3-nginx-20260105` gives `20260105`: `3-` cannot end in a
/// digit, so the match starts later).
pub(crate) fn version_in(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let body = |b: u8| b.is_ascii_digit() || b"-_.".contains(&b);
    for start in (0..bytes.len()).filter(|&i| bytes[i].is_ascii_digit()) {
        // Greedy: the longest run of body characters, then back to its last digit.
        let end = (start + 1..bytes.len())
            .take_while(|&i| body(bytes[i]))
            .filter(|&i| bytes[i].is_ascii_digit())
            .last();
        if let Some(end) = end {
            return Some(name[start..=end].to_string());
        }
    }
    None
}

/// An architecture in the daemons' naming: Go's names (the original's `-architecture`
/// default is Go's `runtime.GOARCH`) are mapped, others are kept.
pub(crate) fn daemon_architecture(arch: &str) -> String {
    match arch {
        "amd64" => "x86_64",
        "386" => "i686",
        "arm64" => "aarch64",
        "arm" => "armv7l",
        "ppc64le" => "ppc64le",
        "ppc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "mips64le" => "mips64el",
        "loong64" => "loongarch64",
        other => other,
    }
    .to_string()
}

/// Runs `publish`.
pub(crate) async fn run(ctx: &Context, args: PublishArgs, out: &mut dyn Write) -> CliResult {
    let (instance, snapshot) = match args.source.as_slice() {
        [one] => match one.split_once('/') {
            Some((i, s)) => (i.to_string(), s.to_string()),
            None => (one.clone(), String::new()),
        },
        [i, s] => (i.clone(), s.clone()),
        _ => (String::new(), String::new()),
    };
    if instance.is_empty() || snapshot.is_empty() {
        return Err(CliError::input(anyhow::anyhow!(
            "publish: give INSTANCE/SNAPSHOT or INSTANCE SNAPSHOT (a snapshot is required)"
        )));
    }
    let mut os = args.os.clone().unwrap_or_default();
    let mut description = args.description.clone().unwrap_or_default();
    let mut variant = args.variant.clone().unwrap_or_default();
    if let Some(config) = &args.config {
        let targets = load_targets(
            ctx,
            &ConfigArgs::default(),
            std::slice::from_ref(config),
            false,
        )?;
        if let Some(t) = targets.first() {
            if os.is_empty() {
                os = t.instance.ostype.clone();
            }
            if description.is_empty() {
                description = t
                    .instance
                    .description
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        }
        if variant.is_empty() {
            // The original: the config file's base name.
            variant = config
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
    }
    if variant.is_empty() {
        variant = instance.clone();
    }
    let version = args
        .serial
        .clone()
        .or_else(|| args.release.clone())
        .or_else(|| version_in(&instance))
        .unwrap_or_default();
    let alias = args.alias.clone().unwrap_or_else(|| {
        if args.config.is_some() {
            [os.as_str(), variant.as_str(), version.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("-")
        } else {
            instance.clone()
        }
    });
    let mut properties = BTreeMap::new();
    for (key, value) in [
        (
            "architecture",
            daemon_architecture(
                args.architecture
                    .as_deref()
                    .unwrap_or(std::env::consts::ARCH),
            ),
        ),
        ("description", description),
        (
            "name",
            args.name.clone().unwrap_or_else(|| instance.clone()),
        ),
        ("os", os),
        (
            "release",
            args.release.clone().unwrap_or_else(|| version.clone()),
        ),
        (
            "serial",
            args.serial.clone().unwrap_or_else(|| version.clone()),
        ),
        ("variant", variant),
    ] {
        if !value.is_empty() {
            properties.insert(key.to_string(), value);
        }
    }
    writeln!(out, "publish {instance}/{snapshot} as {alias}").map_err(write_err)?;
    for (k, v) in &properties {
        writeln!(out, "  {k}={v}").map_err(write_err)?;
    }
    if args.dry_run {
        return Ok(());
    }
    let server = ctx.server(args.project.as_deref()).await?;
    let fingerprint = server
        .publish_image(&PublishImage {
            source: format!("{instance}/{snapshot}"),
            aliases: vec![alias.clone()],
            properties,
            compression: args.compression.clone(),
            format: args.image_format.clone(),
        })
        .await
        .map_err(super::image::server_err(format!(
            "publishing {instance}/{snapshot}"
        )))?;
    writeln!(out, "image {fingerprint}").map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::{daemon_architecture, version_in};

    #[test]
    fn versions_in_instance_names() {
        for (name, version) in [
            ("alpine-3.18", Some("3.18")),
            ("alpine3-nginx-20260105", Some("20260105")),
            ("alpine3-nginx-20260105-1200", Some("20260105-1200")),
            ("a3-b4-c", None),
            ("a3-4b", Some("3-4")),
            ("web2", None),
            ("db-12-1x", Some("12-1")),
            ("v1.2.", Some("1.2")),
            ("x", None),
            ("", None),
        ] {
            assert_eq!(version_in(name).as_deref(), version, "{name}");
        }
    }

    #[test]
    fn go_architectures_become_the_daemons() {
        for (go, daemon) in [
            ("amd64", "x86_64"),
            ("arm64", "aarch64"),
            ("386", "i686"),
            ("arm", "armv7l"),
            ("x86_64", "x86_64"),
            ("riscv64", "riscv64"),
        ] {
            assert_eq!(daemon_architecture(go), daemon, "{go}");
        }
    }
}
