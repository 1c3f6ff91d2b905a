//! `profile list|diff|apply|reorder CONFIG...`: compare or set an instance's profiles against
//! its config's (the config's `profiles` plus the per-instance profile).

use std::io::Write;

use super::targets::{load_targets, Target};
use super::write_err;
use crate::args::{ProfileChangeArgs, ProfileConfigArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult, ResultExt};
use crate::output::{self, Row};
use lxops_core::server::InstanceUpdate;
use serde::Serialize;

/// The profiles a config wants for its instance, in order.
fn wanted(target: &Target) -> Vec<String> {
    let mut profiles = target.instance.profiles.clone();
    if !profiles.contains(&target.instance.profile) {
        profiles.push(target.instance.profile.clone());
    }
    profiles
}

/// `profile list`: one row per profile the config gives its instance, in order.
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

/// `profile list`: the config's profiles.
pub(crate) async fn list(ctx: &Context, args: ProfileConfigArgs, out: &mut dyn Write) -> CliResult {
    let mut rows = Vec::new();
    for target in load_targets(ctx, &args.config, &args.files.files, false)? {
        rows.extend(wanted(&target).into_iter().map(|profile| ProfileRow {
            instance: target.instance.name.clone(),
            profile,
        }));
    }
    output::rows_or(out, ctx.format(), &rows, |out| {
        rows.iter()
            .try_for_each(|row| writeln!(out, "{}", row.profile))
    })
    .map_err(write_err)
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

/// `profile diff`: one row per way an instance's profiles differ from its config's.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct ProfileDiffRow {
    instance: String,
    /// `only-in-config`, `only-in-instance` or `order`.
    difference: String,
    /// The profiles concerned (for `order`: the instance's, in its order).
    profiles: Vec<String>,
}

impl Row for ProfileDiffRow {
    const COLUMNS: &'static [&'static str] = &["instance", "difference", "profiles"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.instance.clone(),
            self.difference.clone(),
            self.profiles.join(" "),
        ]
    }
}

/// How `have` (the instance's profiles) differs from `want` (the config's).
fn diff_rows(instance: &str, want: &[String], have: &[String]) -> Vec<ProfileDiffRow> {
    let only_config: Vec<String> = want.iter().filter(|p| !have.contains(p)).cloned().collect();
    let only_instance: Vec<String> = have.iter().filter(|p| !want.contains(p)).cloned().collect();
    let row = |difference: &str, profiles: Vec<String>| ProfileDiffRow {
        instance: instance.to_string(),
        difference: difference.to_string(),
        profiles,
    };
    let mut rows = Vec::new();
    if only_config.is_empty() && only_instance.is_empty() && want != have {
        rows.push(row("order", have.to_vec()));
    }
    if !only_config.is_empty() {
        rows.push(row("only-in-config", only_config));
    }
    if !only_instance.is_empty() {
        rows.push(row("only-in-instance", only_instance));
    }
    rows
}

/// `profile diff`: how the instance's profiles differ from the config's.
pub(crate) async fn diff(ctx: &Context, args: ProfileConfigArgs, out: &mut dyn Write) -> CliResult {
    let mut rows = Vec::new();
    for target in load_targets(ctx, &args.config, &args.files.files, false)? {
        let want = wanted(&target);
        let have = current(ctx, &target).await?.profiles;
        rows.extend(diff_rows(&target.instance.name, &want, &have));
    }
    output::rows_or(out, ctx.format(), &rows, |out| {
        rows.iter().try_for_each(|row| {
            let what = match row.difference.as_str() {
                "only-in-config" => "profiles only in config",
                "only-in-instance" => "profiles only in instance",
                _ => "profiles in different order",
            };
            let profiles: Vec<&String> = row.profiles.iter().collect();
            writeln!(out, "{}: {what}: {}", row.instance, join(&profiles))
        })
    })
    .map_err(write_err)
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `profile apply` (set the config's profiles) and `profile reorder` (only when the sets agree;
/// otherwise it says so and does nothing, with exit status 0 as the original).
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
                // Nothing to reorder: said, and not an error (the original exits 0 too).
                writeln!(
                    out,
                    "{name}: profiles differ, not reordered: instance has {}, config wants {}; use `profile apply`",
                    instance.profiles.join(", "),
                    want.join(", ")
                )
                .map_err(write_err)?;
                continue;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::check;

    fn names(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn diff_rows_name_what_is_missing_extra_or_out_of_order() {
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            ("default a1.lxops", "default a1.lxops", &[]),
            (
                "default a1.lxops",
                "a1.lxops default",
                &[("order", "a1.lxops default")],
            ),
            (
                "default web a1.lxops",
                "default a1.lxops old",
                &[("only-in-config", "web"), ("only-in-instance", "old")],
            ),
        ];
        for (want, have, expected) in cases {
            let rows = diff_rows("a1", &names(want), &names(have));
            let parsed = check::json_rows(&rows);
            let got: Vec<(String, String)> = parsed
                .iter()
                .map(|r| {
                    let profiles: Vec<String> = r["profiles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap().to_string())
                        .collect();
                    (
                        r["difference"].as_str().unwrap().to_string(),
                        profiles.join(" "),
                    )
                })
                .collect();
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(d, p)| (d.to_string(), p.to_string()))
                .collect();
            assert_eq!(got, expected, "want {want}, have {have}");
        }
    }
}
