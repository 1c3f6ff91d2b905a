//! Tidy checks over the whole repository, run as tests only (`cargo test -p xtask`): every `.rs`
//! file starts with a `//!` module doc, ARCHITECTURE.md names every crate folder, and text
//! files have no trailing whitespace.

use std::path::{Path, PathBuf};

/// Directories never scanned.
const SKIP_DIRS: &[&str] = &["target", ".git"];
/// File extensions checked for trailing whitespace.
const TEXT_EXTENSIONS: &[&str] = &["rs", "md", "toml", "yaml", "yml"];
/// Folders whose sub-folders are crates that ARCHITECTURE.md must mention.
const CRATE_PARENTS: &[&str] = &["crates", "bins", "migrators"];

/// Every file under `root`, skipping [`SKIP_DIRS`], as paths relative to `root`, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let path = rel.join(&name);
            match entry.file_type() {
                Ok(t) if t.is_dir() && !SKIP_DIRS.iter().any(|s| name == *s) => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.contains(&e))
}

/// `.rs` files that do not start with a `//!` line.
fn missing_module_docs(root: &Path) -> Vec<String> {
    files(root)
        .into_iter()
        .filter(|p| has_extension(p, &["rs"]))
        .filter(|p| {
            let text = std::fs::read_to_string(root.join(p)).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// `path:line` of every line ending in a space or tab.
fn trailing_whitespace(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in files(root)
        .into_iter()
        .filter(|p| has_extension(p, TEXT_EXTENSIONS))
    {
        let text = std::fs::read_to_string(root.join(&path)).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if line.ends_with([' ', '\t']) {
                out.push(format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    out
}

/// Crate folders (`crates/x`, `bins/y`, ...) that ARCHITECTURE.md does not mention.
fn unmentioned_crates(root: &Path) -> Vec<String> {
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap_or_default();
    let mut out = Vec::new();
    for parent in CRATE_PARENTS {
        let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let folder = format!("{parent}/{}", entry.file_name().to_string_lossy());
            if !architecture.contains(&folder) {
                out.push(folder);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::project_root;

    fn assert_none(problems: Vec<String>, what: &str) {
        assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
    }

    #[test]
    fn every_rust_file_starts_with_a_module_doc() {
        assert_none(
            missing_module_docs(&project_root()),
            "these .rs files must start with a `//!` module doc comment",
        );
    }

    #[test]
    fn architecture_md_mentions_every_crate_folder() {
        assert_none(
            unmentioned_crates(&project_root()),
            "ARCHITECTURE.md must describe these crate folders (mention their path)",
        );
    }

    #[test]
    fn no_trailing_whitespace() {
        assert_none(
            trailing_whitespace(&project_root()),
            "remove the trailing whitespace on these lines",
        );
    }

    #[test]
    fn checks_find_problems_in_a_bad_tree() {
        let root = std::env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap_or(&root)).expect("create test folder");
            std::fs::write(path, text).expect("write test file");
        };
        write("ARCHITECTURE.md", "## `crates/good`\n");
        write("crates/good/src/lib.rs", "//! Good.\n");
        write("crates/bad/src/lib.rs", "fn main() {}\n");
        write("crates/bad/Cargo.toml", "[package] \n");
        write("target/debug/build.rs", "no doc, skipped\n");
        let got = (
            missing_module_docs(&root),
            unmentioned_crates(&root),
            trailing_whitespace(&root),
        );
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            got,
            (
                vec!["crates/bad/src/lib.rs".to_owned()],
                vec!["crates/bad".to_owned()],
                vec!["crates/bad/Cargo.toml:1".to_owned()],
            )
        );
    }
}
