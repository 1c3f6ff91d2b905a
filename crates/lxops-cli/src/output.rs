//! What commands print on stdout: plain-text tables, and the machine-readable formats of
//! `--format table|json|yaml|csv`.
//!
//! A command that lists or describes builds its rows as [`Row`] structs and hands them to
//! [`rows`] (or [`rows_or`] when its table form is not a plain table). The formats share one
//! rule: JSON and YAML print an array of objects, one per row, whose keys are the row struct's
//! snake_case field names; CSV prints the same keys as its header line and one line per row;
//! the table prints the same columns with upper-case headings (or the command's own text).

use std::io::{self, Write};

use serde::Serialize;

pub use crate::args::Format;

/// One row of a command's output.
pub(crate) trait Row: Serialize {
    /// The JSON keys in column order: the CSV header, and the table's headings upper-cased.
    const COLUMNS: &'static [&'static str];
    /// The cells as text, in the order of [`Row::COLUMNS`].
    fn cells(&self) -> Vec<String>;
}

/// Prints `rows` in `format`; the table has one column per key.
pub(crate) fn rows<R: Row>(out: &mut dyn Write, format: Format, rows: &[R]) -> io::Result<()> {
    rows_or(out, format, rows, |out| {
        let header: Vec<String> = R::COLUMNS
            .iter()
            .map(|c| c.to_uppercase().replace('_', " "))
            .collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
        table(out, &header, &cells)
    })
}

/// Prints `rows` in `format`, with `plain` writing the table form.
pub(crate) fn rows_or<R: Row>(
    out: &mut dyn Write,
    format: Format,
    rows: &[R],
    plain: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    match format {
        Format::Table => plain(out),
        Format::Json | Format::Yaml => document(out, format, rows),
        Format::Csv => {
            let header: Vec<String> = R::COLUMNS.iter().map(|c| c.to_string()).collect();
            csv_line(out, &header)?;
            for row in rows {
                csv_line(out, &row.cells())?;
            }
            Ok(())
        }
    }
}

/// Prints one serializable value as JSON (pretty, with a final newline) or YAML.
pub(crate) fn document<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    format: Format,
    value: &T,
) -> io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
        writeln!(out)
    } else {
        let text = serde_yaml::to_string(value).map_err(io::Error::other)?;
        out.write_all(text.as_bytes())
    }
}

/// One CSV line: cells with a comma, a quote or a line break are quoted, quotes doubled.
fn csv_line(out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    writeln!(out, "{}", quoted.join(","))
}

/// Writes rows as columns separated by two spaces, padded to the widest cell; the header first.
pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.len());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Test helpers: every row type keeps its JSON keys, CSV header and cells in step.
#[cfg(test)]
pub(crate) mod check {
    use super::*;

    /// Prints `rows` as JSON and parses them back; asserts the keys of every object are
    /// exactly [`Row::COLUMNS`] and that CSV has one header and one line per row.
    pub(crate) fn json_rows<R: Row>(rows: &[R]) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let mut out = Vec::new();
        super::rows(&mut out, Format::Json, rows).unwrap();
        let parsed: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&out).unwrap();
        for object in &parsed {
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            let mut columns = R::COLUMNS.to_vec();
            columns.sort_unstable();
            let mut keys = keys;
            keys.sort_unstable();
            assert_eq!(keys, columns, "JSON keys and COLUMNS differ");
        }
        for row in rows {
            assert_eq!(
                row.cells().len(),
                R::COLUMNS.len(),
                "cells and COLUMNS differ"
            );
        }
        let mut csv = Vec::new();
        super::rows(&mut csv, Format::Csv, rows).unwrap();
        let header = String::from_utf8(csv).unwrap();
        assert_eq!(header.lines().next(), Some(R::COLUMNS.join(",").as_str()));
        let mut yaml = Vec::new();
        super::rows(&mut yaml, Format::Yaml, rows).unwrap();
        let from_yaml: serde_json::Value = serde_yaml::from_slice(&yaml).unwrap();
        assert_eq!(from_yaml, serde_json::to_value(&parsed).unwrap());
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Pair {
        key: String,
        value: String,
        secret: bool,
    }

    impl Row for Pair {
        const COLUMNS: &'static [&'static str] = &["key", "value", "secret"];
        fn cells(&self) -> Vec<String> {
            vec![
                self.key.clone(),
                self.value.clone(),
                self.secret.to_string(),
            ]
        }
    }

    fn pairs() -> Vec<Pair> {
        vec![
            Pair {
                key: "host".into(),
                value: "h1".into(),
                secret: false,
            },
            Pair {
                key: "motd".into(),
                value: "say \"hi\", then\nleave".into(),
                secret: true,
            },
        ]
    }

    fn print(format: Format) -> String {
        let mut out = Vec::new();
        rows(&mut out, format, &pairs()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_pads_columns_to_the_widest_cell() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["host".to_string(), "/z/a1".to_string()],
            vec!["tmp-long".to_string(), "/tmp/a1".to_string()],
        ];
        table(&mut out, &["FILESYSTEM", "PATH"], &rows).unwrap();
        expect_test::expect![[r#"
            FILESYSTEM  PATH
            host        /z/a1
            tmp-long    /tmp/a1
        "#]]
        .assert_eq(&String::from_utf8(out).unwrap());
    }

    #[test]
    fn every_format_prints_the_same_rows() {
        expect_test::expect![[r#"
            KEY   VALUE                 SECRET
            host  h1                    false
            motd  say "hi", then
            leave  true
        "#]]
        .assert_eq(&print(Format::Table));
        expect_test::expect![[r#"
            [
              {
                "key": "host",
                "value": "h1",
                "secret": false
              },
              {
                "key": "motd",
                "value": "say \"hi\", then\nleave",
                "secret": true
              }
            ]
        "#]]
        .assert_eq(&print(Format::Json));
        expect_test::expect![[r#"
            - key: host
              value: h1
              secret: false
            - key: motd
              value: |-
                say "hi", then
                leave
              secret: true
        "#]]
        .assert_eq(&print(Format::Yaml));
        expect_test::expect![[r#"
            key,value,secret
            host,h1,false
            motd,"say ""hi"", then
            leave",true
        "#]]
        .assert_eq(&print(Format::Csv));
        check::json_rows(&pairs());
    }

    #[test]
    fn rows_or_uses_the_plain_form_only_for_the_table() {
        for (format, want_plain) in [
            (Format::Table, true),
            (Format::Json, false),
            (Format::Yaml, false),
            (Format::Csv, false),
        ] {
            let mut out = Vec::new();
            rows_or(&mut out, format, &pairs(), |out| writeln!(out, "plain")).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text == "plain\n", want_plain, "{format:?}: {text}");
        }
    }
}
