//! `export -d DIR CONFIG` and `import -d DIR CONFIG`: each non-transient filesystem of a config
//! as `DIR/<id>.tar.gz` (optionally from a snapshot; plain directories, which have none, are
//! exported live as the original does), and back. `import` first creates the filesystems and
//! device directories (as `create-devices`, without copying a device template), as the
//! original does. With `-image`, the image aliased as the instance goes along as
//! `DIR/image.tar.gz` (the original's image build script).

use std::io::Write;
use std::path::Path;

use lxops_core::host;
use lxops_core::ops::{device_setup, parse_owner, source_setup};

use super::image::{find, import as import_image, server_err};
use super::targets::{host_for, load_targets};
use super::write_err;
use crate::args::{ConfigFiles, ExportArgs};
use crate::context::Context;
use crate::error::{CliError, CliResult};

/// The image file name in DIR, without extension (the daemon gives `.tar.gz` or `.tar.xz`).
const IMAGE_NAME: &str = "image";

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
        let instance = target.instance;
        let fss: Vec<_> = source_setup(&instance)
            .filesystems
            .into_iter()
            .filter(|f| !f.transient)
            .collect();
        let verb = if import { "import" } else { "export" };
        let image_file = args.dir.join(format!("{IMAGE_NAME}.tar.gz"));
        if args.image {
            writeln!(
                out,
                "{verb} image {} {}",
                instance.name,
                image_file.display()
            )
            .map_err(write_err)?;
        }
        for fs in &fss {
            writeln!(
                out,
                "{verb} {} {} {}",
                fs.id,
                fs.path,
                args.dir.join(format!("{}.tar.gz", fs.id)).display()
            )
            .map_err(write_err)?;
        }
        let layout = super::targets::volume_layout(ctx, &instance).await?;
        let volumes = lxops_core::ops::volumes::volume_archives(&instance, &args.dir, layout);
        for (v, file) in &volumes {
            writeln!(out, "{verb} volume {} {v} {}", v.fs_id, file.display()).map_err(write_err)?;
        }
        if args.dry_run {
            continue;
        }
        let host = host_for(false);
        if args.image {
            let server = ctx.server(Some(&instance.project)).await?;
            if import {
                let (file, rootfs) = image_files(&args.dir);
                let fingerprint = import_image(
                    server.as_ref(),
                    &file,
                    rootfs.as_deref(),
                    Some(instance.name.clone()),
                )
                .await?;
                writeln!(out, "image {fingerprint}").map_err(write_err)?;
            } else {
                let image = find(server.as_ref(), &instance.name).await?;
                let dir = args.dir.clone();
                let mkdir = host.clone();
                tokio::task::spawn_blocking(move || mkdir.mkdir_p(&dir))
                    .await
                    .map_err(|e| CliError::failure(anyhow::anyhow!("host task failed: {e}")))?
                    .map_err(|e| CliError::failure(anyhow::anyhow!("{e}")))?;
                let export = server
                    .export_image(&image.fingerprint, &args.dir, IMAGE_NAME)
                    .await
                    .map_err(server_err(format!("exporting image {}", instance.name)))?;
                for file in &export.files {
                    writeln!(out, "wrote {}", file.display()).map_err(write_err)?;
                }
            }
        }
        if !volumes.is_empty() {
            let server = ctx.server(Some(&instance.project)).await?;
            if import {
                lxops_core::ops::volumes::import_volumes(server.as_ref(), &instance, &args.dir)
                    .await
                    .map_err(super::targets::ops_err)?;
            } else {
                if args.snapshot.is_some() {
                    tracing::warn!(
                        "export -s: daemon volumes are exported with their current data"
                    );
                }
                std::fs::create_dir_all(&args.dir).map_err(|e| {
                    CliError::failure(anyhow::anyhow!("creating {}: {e}", args.dir.display()))
                })?;
                lxops_core::ops::volumes::export_volumes(server.as_ref(), &instance, &args.dir)
                    .await
                    .map_err(super::targets::ops_err)?;
            }
        }
        let dir = args.dir.clone();
        let snapshot = args.snapshot.clone();
        let name = instance.name.clone();
        tokio::task::spawn_blocking(move || {
            let failed =
                |e: &dyn std::fmt::Display| CliError::failure(anyhow::anyhow!("{name}: {e}"));
            if import {
                create_device_dirs(host.as_ref(), &instance, &dir)?;
                host::ops::import_filesystems(host.as_ref(), &fss, &dir).map_err(|e| failed(&e))
            } else {
                host::ops::export_filesystems(host.as_ref(), &fss, &dir, snapshot.as_deref())
                    .map_err(|e| failed(&e))
            }
        })
        .await
        .map_err(|e| CliError::failure(anyhow::anyhow!("host task failed: {e}")))??;
    }
    Ok(())
}

/// The image files `export -image` wrote to `dir`: `image.tar.gz` (or the extension the
/// daemon gave, e.g. `image.tar.xz`), plus `image.root.*` for a split image.
fn image_files(dir: &Path) -> (std::path::PathBuf, Option<std::path::PathBuf>) {
    let existing = |names: &[&str]| names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let metadata = existing(&[
        "image.tar.gz",
        "image.tar.xz",
        "image.tar.zst",
        "image.tar.bz2",
        "image.tar.lzma",
        "image.tar",
    ])
    .unwrap_or_else(|| dir.join(format!("{IMAGE_NAME}.tar.gz")));
    let rootfs = existing(&[
        "image.root.squashfs",
        "image.root.tar.gz",
        "image.root.tar.xz",
        "image.root.tar.zst",
        "image.root.tar",
        "image.root.rootfs",
    ]);
    (metadata, rootfs)
}

/// `import`'s first step, as the original's (ConfigureDevices without rsync): the filesystems
/// and device directories, owned by `device-owner` when it is set. Every archive is checked
/// first, so a missing one changes nothing.
fn create_device_dirs(
    host: &dyn host::HostRunner,
    instance: &lxops_core::config::Instance,
    dir: &Path,
) -> CliResult {
    // Daemon volumes have archives of their own (`ops::volumes::volume_archives`).
    for fs in instance
        .filesystems
        .iter()
        .filter(|f| !f.transient && f.kind != lxops_core::config::FsKind::Volume)
    {
        let archive = dir.join(format!("{}.tar.gz", fs.id));
        if !archive.is_file() {
            return Err(CliError::failure(anyhow::anyhow!(
                "{}: archive {} is missing; nothing was imported",
                instance.name,
                archive.display()
            )));
        }
    }
    let file = instance.file.display().to_string();
    let owner = match instance.device_owner.as_deref().filter(|o| !o.is_empty()) {
        Some(o) => Some(parse_owner(&file, o).map_err(CliError::input)?),
        None => None,
    };
    let setup = device_setup(instance, owner, None, None).map_err(CliError::input)?;
    let plan =
        host::plan_devices(host, &setup).map_err(|e| CliError::failure(anyhow::anyhow!("{e}")))?;
    host::apply_devices(host, &plan).map_err(|e| CliError::failure(anyhow::anyhow!("{e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::image_files;

    #[test]
    fn image_files_follow_the_daemons_extension_and_find_a_split_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Nothing there: the original's name, reported missing by the import.
        assert_eq!(image_files(d), (d.join("image.tar.gz"), None));
        std::fs::write(d.join("image.tar.xz"), "x").unwrap();
        assert_eq!(image_files(d), (d.join("image.tar.xz"), None));
        std::fs::write(d.join("image.root.squashfs"), "x").unwrap();
        assert_eq!(
            image_files(d),
            (d.join("image.tar.xz"), Some(d.join("image.root.squashfs")))
        );
    }
}
