//! `export -d DIR CONFIG` and `import -d DIR CONFIG`: each non-transient filesystem of a config
//! as `DIR/<id>.tar.gz` (optionally from a snapshot), and back.

use std::io::Write;

use lxops_core::host;
use lxops_core::ops::source_setup;

use super::targets::{host_for, load_targets};
use super::write_err;
use crate::args::{ConfigFiles, ExportArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// Runs `export` (or, with `import`, `import`).
pub(crate) async fn run(
    ctx: &Context,
    args: ExportArgs,
    import: bool,
    out: &mut dyn Write,
) -> CliResult {
    let files = ConfigFiles {
        files: vec![args.file.clone()],
    };
    let targets = load_targets(ctx, &args.config, &files.files, false)?;
    for target in targets {
        let fss: Vec<_> = source_setup(&target.instance)
            .filesystems
            .into_iter()
            .filter(|f| !f.transient)
            .collect();
        for fs in &fss {
            let verb = if import { "import" } else { "export" };
            writeln!(
                out,
                "{verb} {} {} {}",
                fs.id,
                fs.path,
                args.dir.join(format!("{}.tar.gz", fs.id)).display()
            )
            .map_err(write_err)?;
        }
        if args.dry_run {
            continue;
        }
        let host = host_for(false);
        let dir = args.dir.clone();
        let snapshot = args.snapshot.clone();
        let name = target.instance.name.clone();
        tokio::task::spawn_blocking(move || {
            if import {
                host::ops::import_filesystems(host.as_ref(), &fss, &dir)
            } else {
                host::ops::export_filesystems(host.as_ref(), &fss, &dir, snapshot.as_deref())
            }
            .map_err(|e| CliError::failure(anyhow::anyhow!("{name}: {e}")))
        })
        .await
        .map_err(|e| CliError::failure(anyhow::anyhow!("host task failed: {e}")))??;
    }
    Ok(())
}
