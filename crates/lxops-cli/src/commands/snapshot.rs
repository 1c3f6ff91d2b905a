//! `snapshot CONFIG...`: snapshot each instance's non-transient filesystems (`-c`: the instance
//! too), or with `-d` destroy those snapshots.

use std::io::Write;

use lxops_core::ops::{self, SnapshotOptions};

use super::fleet::run_per_instance;
use super::targets::{load_targets, wait_options};
use crate::args::SnapshotArgs;
use crate::context::Context;
use crate::error::CliResult;

/// The default snapshot name: the UTC time as `YYYYMMDDHHMMSS`.
fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Runs `snapshot`.
pub(crate) async fn run(ctx: &Context, args: SnapshotArgs, out: &mut dyn Write) -> CliResult {
    let targets = load_targets(ctx, &args.config, &args.files.files, false)?;
    let options = SnapshotOptions {
        name: args.snapshot.clone().unwrap_or_else(timestamp),
        instance: args.instance,
        destroy: args.destroy,
        recursive: args.recursive,
    };
    let options = &options;
    run_per_instance(
        ctx,
        targets,
        &args.change,
        wait_options(20),
        out,
        async |env, instance, buffer| ops::snapshot(env, instance, options, buffer).await,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (19_723, (2024, 1, 1)),
            (20_785, (2026, 11, 28)),
        ] {
            assert_eq!(civil_from_days(days), date, "{days}");
        }
    }
}
