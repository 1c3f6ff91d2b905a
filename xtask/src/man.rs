//! `cargo xtask man [DIR]`: the man pages of lxops, generated from its clap definition
//! (`lxops_cli::write_man_pages`, clap_mangen), into DIR (default `target/man`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Writes the man pages into `args[0]` or `target/man` under the workspace root.
pub fn run(args: &[String]) -> Result<()> {
    let dir = match args {
        [] => workspace_root().join("target/man"),
        [dir] => PathBuf::from(dir),
        _ => bail!("man takes at most one argument, the directory (default target/man)"),
    };
    let written = lxops_cli::write_man_pages(&dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    println!("{} man pages in {}", written.len(), dir.display());
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_writes_lxops_1_and_a_page_per_subcommand_into_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        run(&[dir.path().display().to_string()]).unwrap();
        for page in [
            "lxops.1",
            "lxops-launch.1",
            "lxops-status.1",
            "lxops-profile-list.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
            assert!(text.starts_with(".ie"), "{page}: not roff:\n{text}");
        }
        assert!(run(&["a".into(), "b".into()]).is_err());
    }
}
