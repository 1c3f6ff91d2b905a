//! `publish INSTANCE/SNAPSHOT` (or `INSTANCE SNAPSHOT`): make an image of an instance snapshot,
//! with properties and an alias derived as the original does (from `-c CONFIG` when given).

use std::collections::BTreeMap;
use std::io::Write;

use lxops_core::server::PublishImage;

use super::targets::load_targets;
use super::write_err;
use crate::args::{ConfigArgs, PublishArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult, ResultExt};

/// The first `[0-9][-0-9_.]*[0-9]` run in `name`.
fn version_in(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let start = bytes.iter().position(u8::is_ascii_digit)?;
    let mut end = start;
    let mut last_digit = start;
    while end < bytes.len() && (bytes[end].is_ascii_digit() || b"-_.".contains(&bytes[end])) {
        if bytes[end].is_ascii_digit() {
            last_digit = end;
        }
        end += 1;
    }
    (last_digit > start).then(|| name[start..=last_digit].to_string())
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
            if variant.is_empty() {
                variant = t.instance.name.clone();
            }
        }
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
        ("architecture", std::env::consts::ARCH.to_string()),
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
        })
        .await
        .failed(format!("publishing {instance}/{snapshot}"))?;
    writeln!(out, "image {fingerprint}").map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::version_in;

    #[test]
    fn versions_in_instance_names() {
        for (name, version) in [
            ("alpine-3.18", Some("3.18")),
            ("web2", None),
            ("db-12-1x", Some("12-1")),
            ("x", None),
        ] {
            assert_eq!(version_in(name).as_deref(), version, "{name}");
        }
    }
}
