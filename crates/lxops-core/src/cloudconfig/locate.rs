//! Finds the line of a module, a list item or a field in the text of a cloud-config file, for
//! messages. YAML values carry no positions, so this reads the block-style layout that
//! cloud-config files use; flow-style (`[...]`, `{...}`) values fall back to the module's line.

/// Line lookups over one file's text.
pub(crate) struct Locator<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    /// Indexes a file's text.
    pub(crate) fn new(text: &'a str) -> Self {
        Locator {
            lines: text.lines().collect(),
        }
    }

    /// The text of a 1-based line.
    pub(crate) fn text(&self, line: usize) -> &'a str {
        line.checked_sub(1)
            .and_then(|i| self.lines.get(i))
            .copied()
            .unwrap_or("")
    }

    /// The 1-based line of a top-level key.
    pub(crate) fn module(&self, key: &str) -> Option<usize> {
        self.module_index(key).map(|i| i + 1)
    }

    /// The 1-based line where item `index` of a top-level list starts.
    pub(crate) fn item(&self, key: &str, index: usize) -> Option<usize> {
        self.item_range(key, index)
            .map(|(start, _)| start + 1)
            .or_else(|| self.module(key))
    }

    /// The 1-based line of `field` inside item `index` of a top-level list.
    pub(crate) fn field(&self, key: &str, index: usize, field: &str) -> Option<usize> {
        if let Some((start, end)) = self.item_range(key, index) {
            for i in start..end {
                if starts_with_key(strip_dash(self.lines[i].trim_start()), field) {
                    return Some(i + 1);
                }
            }
        }
        self.item(key, index)
    }

    fn module_index(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| starts_with_key(line, key))
    }

    /// Lines `[start, end)` of the module's block.
    fn block(&self, key: &str) -> Option<(usize, usize)> {
        let start = self.module_index(key)?;
        let end = (start + 1..self.lines.len())
            .find(|&i| is_top_level_key(self.lines[i]))
            .unwrap_or(self.lines.len());
        Some((start, end))
    }

    /// Lines `[start, end)` of list item `index` in the module's block.
    fn item_range(&self, key: &str, index: usize) -> Option<(usize, usize)> {
        let (start, end) = self.block(key)?;
        let dashes: Vec<usize> = (start + 1..end)
            .filter(|&i| self.lines[i].trim_start().starts_with('-'))
            .collect();
        let indent = dashes.iter().map(|&i| indent_of(self.lines[i])).min()?;
        let items: Vec<usize> = dashes
            .into_iter()
            .filter(|&i| indent_of(self.lines[i]) == indent)
            .collect();
        let first = *items.get(index)?;
        let last = items.get(index + 1).copied().unwrap_or(end);
        Some((first, last))
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn strip_dash(line: &str) -> &str {
    match line.strip_prefix('-') {
        Some(rest) => rest.trim_start(),
        None => line,
    }
}

fn starts_with_key(line: &str, key: &str) -> bool {
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            line.strip_prefix(k.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
}

fn is_top_level_key(line: &str) -> bool {
    !line.is_empty()
        && !line.starts_with([' ', '\t', '#', '-'])
        && line != "..."
        && line.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "#cloud-config\nwrite_files:\n- path: /a\n  content: x\n-   path: /b\n    owner: me\npackages: [a]\nruncmd:\n  - [ls]\n  - date\n";

    #[test]
    fn finds_modules_items_and_fields() {
        let l = Locator::new(TEXT);
        let cases: &[(Option<usize>, Option<usize>)] = &[
            (l.module("write_files"), Some(2)),
            (l.module("packages"), Some(7)),
            (l.module("nope"), None),
            (l.item("write_files", 0), Some(3)),
            (l.item("write_files", 1), Some(5)),
            (l.field("write_files", 1, "owner"), Some(6)),
            (l.field("write_files", 0, "content"), Some(4)),
            (l.field("write_files", 0, "owner"), Some(3)),
            (l.item("runcmd", 1), Some(10)),
            (l.item("packages", 0), Some(7)),
        ];
        for (i, (got, want)) in cases.iter().enumerate() {
            assert_eq!(got, want, "case {i}");
        }
    }
}
