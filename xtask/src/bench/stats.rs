//! Summary statistics of timed runs and the result table.

use std::fmt::Write as _;
use std::time::Duration;

/// Median, minimum and maximum of a set of runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (mean of the two middle runs for an even count).
    pub median: Duration,
    /// The fastest run.
    pub min: Duration,
    /// The slowest run.
    pub max: Duration,
}

impl Summary {
    /// Summarises `runs`; `None` when there are none.
    pub fn of(runs: &[Duration]) -> Option<Summary> {
        let mut sorted = runs.to_vec();
        sorted.sort();
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
        };
        Some(Summary {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// One row of the table: a variant on a daemon, with its summary or why it failed.
pub struct Row {
    /// `lxd` or `incus`.
    pub daemon: String,
    /// The variant's name.
    pub variant: String,
    /// The timings, or the failure.
    pub result: Result<Summary, String>,
    /// The median of the bare variant on the same daemon, for the overhead column.
    pub baseline: Option<Duration>,
}

/// Renders the rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let header = ["daemon", "variant", "median", "min", "max", "overhead"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.daemon.clone(), row.variant.clone()];
            match &row.result {
                Ok(s) => {
                    cells.extend([secs(s.median), secs(s.min), secs(s.max)]);
                    cells.push(overhead(s.median, row.baseline));
                }
                Err(e) => cells.push(format!("FAILED: {e}")),
            }
            cells
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        // A failure message spans the remaining columns; it does not widen them.
        if row.len() == header.len() {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let _ = write!(line, "{cell:<width$}  ");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

fn overhead(median: Duration, baseline: Option<Duration>) -> String {
    match baseline {
        Some(base) if !base.is_zero() && base != median => {
            let pct = (median.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0;
            format!("{pct:+.1}%")
        }
        Some(_) => "-".to_owned(),
        None => "n/a".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn summaries() {
        // (runs in ms, expected (median, min, max) in ms)
        type Want = Option<(u64, u64, u64)>;
        let cases: &[(&[u64], Want)] = &[
            (&[], None),
            (&[5], Some((5, 5, 5))),
            (&[30, 10, 20], Some((20, 10, 30))),
            (&[40, 10, 20, 30], Some((25, 10, 40))),
        ];
        for (runs, want) in cases {
            let want = want.map(|(median, min, max)| Summary {
                median: Duration::from_millis(median),
                min: Duration::from_millis(min),
                max: Duration::from_millis(max),
            });
            assert_eq!(Summary::of(&ms(runs)), want, "{runs:?}");
        }
    }

    #[test]
    fn table_shows_overhead_against_bare_and_failures() {
        let bare = Summary::of(&ms(&[200, 250, 300]));
        let lxops = Summary::of(&ms(&[260, 300, 320]));
        let base = bare.map(|s| s.median);
        let rows = vec![
            Row {
                daemon: "lxd".into(),
                variant: "bare".into(),
                result: bare.ok_or_else(String::new),
                baseline: base,
            },
            Row {
                daemon: "lxd".into(),
                variant: "lxops".into(),
                result: lxops.ok_or_else(String::new),
                baseline: base,
            },
            Row {
                daemon: "incus".into(),
                variant: "lxops".into(),
                result: Err("exit status 1: unknown command".into()),
                baseline: None,
            },
        ];
        expect![[r#"
            daemon  variant  median  min     max     overhead
            lxd     bare     0.250s  0.200s  0.300s  -
            lxd     lxops    0.300s  0.260s  0.320s  +20.0%
            incus   lxops    FAILED: exit status 1: unknown command
        "#]]
        .assert_eq(&table(&rows));
    }
}
