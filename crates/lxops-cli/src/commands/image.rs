//! `image ...`: the local image store through the API: list and info (with properties), which
//! instances use which image, aliases, export, import and delete.

use std::io::Write;
use std::path::{Path, PathBuf};

use lxops_core::server::{Image, ImageSource, ImageUpload, InstanceServer, ServerError};
use serde::Serialize;

use super::write_err;
use crate::args::{ImageAliasCommand, ImageCommand};
use crate::context::Context;
use crate::error::{CliError, CliResult};
use crate::output::{self, table, Format, Row};

/// Runs one `image` subcommand.
pub(crate) async fn run(ctx: &Context, command: ImageCommand, out: &mut dyn Write) -> CliResult {
    match command {
        ImageCommand::List(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            let images = server
                .images()
                .await
                .map_err(server_err("listing images"))?;
            let rows: Vec<ImageRow> = images.iter().map(ImageRow::of).collect();
            output::rows(out, ctx.format(), &rows).map_err(write_err)
        }
        ImageCommand::Info(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            let image = find(server.as_ref(), &args.image).await?;
            let info = ImageInfo::of(&image);
            let format = match ctx.format() {
                Format::Table | Format::Csv => Format::Yaml,
                other => other,
            };
            output::document(out, format, &info).map_err(write_err)
        }
        ImageCommand::Instances(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            let rows = instance_rows(server.as_ref()).await?;
            output::rows_or(out, ctx.format(), &rows, |out| {
                let cells: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| vec![r.image.clone(), r.instance.clone()])
                    .collect();
                table(out, &["IMAGE", "INSTANCE"], &cells)
            })
            .map_err(write_err)
        }
        ImageCommand::Alias(command) => alias(ctx, command, out).await,
        ImageCommand::Export(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            let image = find(server.as_ref(), &args.image).await?;
            let (dir, name) = export_target(args.target.as_deref(), &image.fingerprint)?;
            let export = server
                .export_image(&image.fingerprint, &dir, &name)
                .await
                .map_err(server_err(format!("exporting image {}", args.image)))?;
            for file in &export.files {
                writeln!(out, "{}", file.display()).map_err(write_err)?;
            }
            Ok(())
        }
        ImageCommand::Import(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            let fingerprint = import(
                server.as_ref(),
                &args.file,
                args.rootfs.as_deref(),
                args.alias,
            )
            .await?;
            writeln!(out, "{fingerprint}").map_err(write_err)
        }
        ImageCommand::Delete(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            // Every name is resolved before the first image is deleted.
            let mut images = Vec::new();
            for name in &args.names {
                images.push((name, find(server.as_ref(), name).await?));
            }
            for (name, image) in images {
                server
                    .delete_image(&image.fingerprint)
                    .await
                    .map_err(server_err(format!("deleting image {name}")))?;
                writeln!(out, "deleted image {name} ({})", image.fingerprint).map_err(write_err)?;
            }
            Ok(())
        }
    }
}

async fn alias(ctx: &Context, command: ImageAliasCommand, out: &mut dyn Write) -> CliResult {
    match command {
        ImageAliasCommand::Create(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            let image = find(server.as_ref(), &args.image).await?;
            server
                .create_image_alias(&args.alias, &image.fingerprint, &args.description)
                .await
                .map_err(server_err(format!("creating image alias {}", args.alias)))?;
            writeln!(out, "{} -> {}", args.alias, image.fingerprint).map_err(write_err)
        }
        ImageAliasCommand::Rename(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            server
                .rename_image_alias(&args.alias, &args.new_name)
                .await
                .map_err(server_err(format!(
                    "renaming image alias {} to {}",
                    args.alias, args.new_name
                )))?;
            writeln!(out, "{} -> {}", args.alias, args.new_name).map_err(write_err)
        }
        ImageAliasCommand::Delete(args) => {
            let server = ctx.server(args.project.as_deref()).await?;
            let aliases: Vec<String> = server
                .images()
                .await
                .map_err(server_err("listing images"))?
                .into_iter()
                .flat_map(|i| i.aliases)
                .collect();
            // Every alias is checked before the first one is deleted.
            if let Some(missing) = args.names.iter().find(|n| !aliases.contains(n)) {
                return Err(CliError::input(anyhow::anyhow!(
                    "image alias {missing:?} does not exist in project {}; nothing was deleted \
                     (`image list` shows the aliases)",
                    server.project()
                )));
            }
            for name in &args.names {
                server
                    .delete_image_alias(name)
                    .await
                    .map_err(server_err(format!("deleting image alias {name}")))?;
                writeln!(out, "deleted alias {name}").map_err(write_err)?;
            }
            Ok(())
        }
    }
}

/// Maps a server error: a missing or taken name is bad input (exit status 2), the rest a
/// failure.
pub(crate) fn server_err(
    context: impl std::fmt::Display + Send + Sync + 'static,
) -> impl FnOnce(ServerError) -> CliError {
    move |e| {
        if e.is_not_found() || e.is_already_exists() {
            CliError::input(anyhow::Error::new(e).context(context))
        } else {
            CliError::failure(anyhow::Error::new(e).context(context))
        }
    }
}

/// The image an alias or fingerprint (prefix) names; a missing one is bad input.
pub(crate) async fn find(server: &dyn InstanceServer, name: &str) -> CliResult<Image> {
    let images = server
        .images()
        .await
        .map_err(server_err("listing images"))?;
    let fingerprint = server
        .image_fingerprint(&ImageSource::local(name))
        .await
        .map_err(server_err(format!("looking up image {name}")))?;
    let by_prefix: Vec<&Image> = images
        .iter()
        .filter(|i| !name.is_empty() && i.fingerprint.starts_with(name))
        .collect();
    let found = match &fingerprint {
        Some(fp) => images.iter().find(|i| &i.fingerprint == fp),
        None if by_prefix.len() == 1 => by_prefix.first().copied(),
        None if by_prefix.len() > 1 => {
            return Err(CliError::input(anyhow::anyhow!(
                "image {name:?} is ambiguous: {} fingerprints start with it; give more of it",
                by_prefix.len()
            )))
        }
        None => None,
    };
    found.cloned().ok_or_else(|| {
        CliError::input(anyhow::anyhow!(
            "image {name:?} does not exist in project {}: no such alias or fingerprint \
             (`image list` shows the images)",
            server.project()
        ))
    })
}

/// Where `image export` writes: an existing directory (files named by the fingerprint), or
/// DIR/NAME.
fn export_target(target: Option<&Path>, fingerprint: &str) -> CliResult<(PathBuf, String)> {
    let target = target.unwrap_or(Path::new("."));
    if target.is_dir() {
        return Ok((target.to_path_buf(), fingerprint.to_string()));
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(CliError::input(anyhow::anyhow!(
            "image export: directory {} does not exist; create it first",
            dir.display()
        )));
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| fingerprint.to_string());
    // `image.tar.gz` names the file fully: the extension comes from the daemon.
    let name = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tar.xz"))
        .unwrap_or(&name)
        .to_string();
    Ok((dir, name))
}

/// Why a file cannot be an image, from its first bytes; `None` when it may be one (a
/// compressed or plain tarball, or a squashfs).
pub(crate) fn not_an_image(head: &[u8]) -> Option<&'static str> {
    const MAGICS: &[&[u8]] = &[
        b"\x1f\x8b",         // gzip
        b"\xfd7zXZ\x00",     // xz
        b"BZh",              // bzip2
        b"\x28\xb5\x2f\xfd", // zstd
        b"\x5d\x00\x00",     // lzma
        b"hsqs",             // squashfs
        b"\x89LZO",          // lzo
        b"\x04\x22\x4d\x18", // lz4
        b"QFI\xfb",          // qcow2 (a VM rootfs)
    ];
    if head.is_empty() {
        return Some("it is empty");
    }
    if MAGICS.iter().any(|m| head.starts_with(m)) {
        return None;
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return None;
    }
    Some("it is not a (compressed) tarball or a squashfs")
}

/// Checks that `file` exists and looks like an image file (bad input otherwise).
pub(crate) fn check_image_file(file: &Path) -> CliResult {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(|e| {
            CliError::input(anyhow::anyhow!(
                "image file {}: {e}; give the path of an image tarball",
                file.display()
            ))
        })?;
    match not_an_image(&head) {
        Some(reason) => Err(CliError::input(anyhow::anyhow!(
            "image file {} is not an image: {reason}; nothing was imported",
            file.display()
        ))),
        None => Ok(()),
    }
}

/// Imports a unified tarball (or a split pair) under `alias`; returns the fingerprint.
pub(crate) async fn import(
    server: &dyn InstanceServer,
    file: &Path,
    rootfs: Option<&Path>,
    alias: Option<String>,
) -> CliResult<String> {
    check_image_file(file)?;
    if let Some(rootfs) = rootfs {
        check_image_file(rootfs)?;
    }
    let upload = ImageUpload {
        metadata: file.to_path_buf(),
        rootfs: rootfs.map(Path::to_path_buf),
        alias,
    };
    server
        .import_image(&upload)
        .await
        .map_err(server_err(format!("importing image {}", file.display())))
}

/// `image list`: one row per image.
#[derive(Debug, Serialize)]
struct ImageRow {
    alias: String,
    fingerprint: String,
    description: String,
    os: String,
    release: String,
    serial: String,
    architecture: String,
    size: u64,
}

impl ImageRow {
    fn of(image: &Image) -> Self {
        let property = |k: &str| image.properties.get(k).cloned().unwrap_or_default();
        ImageRow {
            alias: image.aliases.join(","),
            fingerprint: image.fingerprint.get(..12).unwrap_or("").to_string(),
            description: property("description"),
            os: property("os"),
            release: property("release"),
            serial: property("serial"),
            architecture: image.architecture.clone(),
            size: image.size,
        }
    }
}

impl Row for ImageRow {
    const COLUMNS: &'static [&'static str] = &[
        "alias",
        "fingerprint",
        "description",
        "os",
        "release",
        "serial",
        "architecture",
        "size",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.alias.clone(),
            self.fingerprint.clone(),
            self.description.clone(),
            self.os.clone(),
            self.release.clone(),
            self.serial.clone(),
            self.architecture.clone(),
            self.size.to_string(),
        ]
    }
}

/// `image info`: one image with every property.
#[derive(Debug, Serialize)]
struct ImageInfo {
    fingerprint: String,
    aliases: Vec<String>,
    architecture: String,
    #[serde(rename = "type")]
    image_type: String,
    size: u64,
    uploaded_at: String,
    properties: std::collections::BTreeMap<String, String>,
}

impl ImageInfo {
    fn of(image: &Image) -> Self {
        ImageInfo {
            fingerprint: image.fingerprint.clone(),
            aliases: image.aliases.clone(),
            architecture: image.architecture.clone(),
            image_type: image.image_type.clone(),
            size: image.size,
            uploaded_at: image.uploaded_at.clone(),
            properties: image.properties.clone(),
        }
    }
}

/// `image instances`: one row per instance, with the image it was made from.
#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct InstanceImageRow {
    /// The image's first alias, else its `name` property, else the fingerprint (the
    /// original's label).
    image: String,
    instance: String,
    fingerprint: String,
    aliases: String,
    /// `os`, `release`, `serial` and `variant`, as `key=value` pairs.
    properties: String,
}

impl Row for InstanceImageRow {
    const COLUMNS: &'static [&'static str] =
        &["image", "instance", "fingerprint", "aliases", "properties"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.image.clone(),
            self.instance.clone(),
            self.fingerprint.clone(),
            self.aliases.clone(),
            self.properties.clone(),
        ]
    }
}

/// The rows of `image instances`, sorted by image then instance (as the original sorts).
async fn instance_rows(server: &dyn InstanceServer) -> CliResult<Vec<InstanceImageRow>> {
    let images = server
        .images()
        .await
        .map_err(server_err("listing images"))?;
    let instances = server
        .instances()
        .await
        .map_err(server_err("listing instances"))?;
    let mut rows = image_instance_rows(&images, &instances);
    rows.sort();
    Ok(rows)
}

fn image_instance_rows(
    images: &[Image],
    instances: &[lxops_core::server::Instance],
) -> Vec<InstanceImageRow> {
    instances
        .iter()
        .filter_map(|i| {
            let fingerprint = i.config.get("volatile.base_image")?;
            let image = images.iter().find(|im| &im.fingerprint == fingerprint);
            let (label, aliases, properties) = match image {
                Some(image) => (
                    image.label(),
                    image.aliases.join(","),
                    ["os", "release", "serial", "variant"]
                        .iter()
                        .filter_map(|k| Some(format!("{k}={}", image.properties.get(*k)?)))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                // The image was deleted since: only its fingerprint is known.
                None => (fingerprint.clone(), String::new(), String::new()),
            };
            Some(InstanceImageRow {
                image: label,
                instance: i.name.clone(),
                fingerprint: fingerprint.clone(),
                aliases,
                properties,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::check;
    use lxops_core::server::Instance;

    fn image(fp: &str, aliases: &[&str], props: &[(&str, &str)]) -> Image {
        Image {
            fingerprint: fp.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn instance(name: &str, base: Option<&str>) -> Instance {
        let mut i = Instance {
            name: name.into(),
            ..Default::default()
        };
        if let Some(base) = base {
            i.config.insert("volatile.base_image".into(), base.into());
        }
        i
    }

    #[test]
    fn image_instances_label_by_alias_then_name_then_fingerprint() {
        let images = [
            image(
                "aaa",
                &["alpine-web-1", "web"],
                &[("os", "alpine"), ("serial", "1")],
            ),
            image("bbb", &[], &[("name", "db-image")]),
            image("ccc", &[], &[]),
        ];
        let instances = [
            instance("web1", Some("aaa")),
            instance("db1", Some("bbb")),
            instance("x1", Some("ccc")),
            instance("gone", Some("ddd")),
            instance("copy", None),
        ];
        let mut rows = image_instance_rows(&images, &instances);
        rows.sort();
        check::json_rows(&rows);
        let mut out = Vec::new();
        output::rows(&mut out, Format::Csv, &rows).unwrap();
        expect_test::expect![[r#"
            image,instance,fingerprint,aliases,properties
            alpine-web-1,web1,aaa,"alpine-web-1,web",os=alpine serial=1
            ccc,x1,ccc,,
            db-image,db1,bbb,,
            ddd,gone,ddd,,
        "#]]
        .assert_eq(&String::from_utf8(out).unwrap());
    }

    #[test]
    fn image_rows_show_properties() {
        let rows = [ImageRow::of(&image(
            "0123456789abcdef",
            &["a", "b"],
            &[("os", "alpine"), ("release", "3.19"), ("description", "d")],
        ))];
        let parsed = check::json_rows(&rows);
        assert_eq!(parsed[0]["alias"], "a,b");
        assert_eq!(parsed[0]["fingerprint"], "0123456789ab");
        assert_eq!(parsed[0]["release"], "3.19");
    }

    #[test]
    fn only_tarballs_and_squashfs_pass_as_images() {
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        for (head, ok) in [
            (&b"\x1f\x8b\x08\x00"[..], true),
            (&b"\xfd7zXZ\x00\x00"[..], true),
            (&b"hsqs...."[..], true),
            (&tar[..], true),
            (&b"#lxops-v1\nimage: x\n"[..], false),
            (&b""[..], false),
        ] {
            assert_eq!(not_an_image(head).is_none(), ok, "{head:?}");
        }
    }

    #[test]
    fn export_targets_are_a_directory_or_dir_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let (d, n) = export_target(Some(dir.path()), "fp").unwrap();
        assert_eq!((d.as_path(), n.as_str()), (dir.path(), "fp"));
        let (d, n) = export_target(Some(&dir.path().join("image")), "fp").unwrap();
        assert_eq!((d.as_path(), n.as_str()), (dir.path(), "image"));
        let (_, n) = export_target(Some(&dir.path().join("image.tar.gz")), "fp").unwrap();
        assert_eq!(n, "image");
        let missing = export_target(Some(&dir.path().join("no/image")), "fp").unwrap_err();
        assert_eq!(missing.exit_code(), 2);
    }
}
