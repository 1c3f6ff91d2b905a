//! Plain-text tables and lines for stdout.

use std::io::{self, Write};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
