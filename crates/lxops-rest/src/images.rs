//! Images through the API: list, delete, aliases, export (download) and import (upload) of
//! unified and split images, publish with the alias given separately.
//!
//! Why aliases are always given in a request of their own: a `POST /1.0/images` whose alias is
//! taken fails *after* it made the image (LXD 5.0.2 and Incus 6.0.4 leave it behind without an
//! alias). So publish and import make the image without alias, then create the alias, and
//! delete the image they just made when that fails; a taken alias is refused before anything is
//! made.
//!
//! Over the local unix socket, uploads and downloads stream: the files are read and written in
//! chunks (`crate::stream`) and never held whole in memory. A split image's
//! download (a multipart reply) and every transfer to a remote over HTTPS go through the shared
//! transport, which holds the body in memory.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use hyper::Method;
use lxops_core::server::{
    Image, ImageExport, ImageSource, ImageUpload, InstanceServer, ProjectInstanceState,
    PublishImage, ServerError, ServerResult,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::StateJson;
use crate::server::{parse, RestServer};
use crate::stream::{send_body, stream_to_file, Source, Streamed, UploadBody};
use crate::transport::{encode, RawRequest};

/// `GET /1.0/images?recursion=1`, one entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ImageJson {
    fingerprint: String,
    aliases: Vec<AliasJson>,
    architecture: String,
    #[serde(rename = "type")]
    image_type: String,
    size: u64,
    properties: Option<std::collections::BTreeMap<String, String>>,
    uploaded_at: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct AliasJson {
    name: String,
}

impl From<ImageJson> for Image {
    fn from(j: ImageJson) -> Self {
        Image {
            fingerprint: j.fingerprint,
            aliases: j.aliases.into_iter().map(|a| a.name).collect(),
            architecture: j.architecture,
            image_type: j.image_type,
            size: j.size,
            properties: j.properties.unwrap_or_default(),
            uploaded_at: j.uploaded_at,
        }
    }
}

/// `GET /1.0/instances?all-projects=true&recursion=2`, the fields `instance addresses` needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct FullInstanceJson {
    name: String,
    project: String,
    state: Option<StateJson>,
}

/// The request body of `POST /1.0/images` for `publish` (no aliases: see the module docs).
pub fn publish_body(publish: &PublishImage) -> Value {
    let kind = if publish.source.contains('/') {
        "snapshot"
    } else {
        "instance"
    };
    let mut body = json!({
        "source": {"type": kind, "name": publish.source},
        "properties": publish.properties,
        "public": false,
    });
    if let Some(compression) = &publish.compression {
        body["compression_algorithm"] = json!(compression);
    }
    if let Some(format) = &publish.format {
        body["format"] = json!(format);
    }
    body
}

impl RestServer {
    /// Refuses an alias that is taken (before anything is made).
    async fn require_free_alias(&self, alias: &str) -> ServerResult<()> {
        match self.image_fingerprint(&ImageSource::local(alias)).await? {
            Some(fingerprint) => Err(ServerError::AlreadyExists {
                what: format!("image alias {alias:?} (of image {})", short(&fingerprint)),
            }),
            None => Ok(()),
        }
    }

    /// Gives the new image `fingerprint` its alias; deletes the image when that fails.
    async fn alias_new_image(&self, fingerprint: &str, alias: Option<&str>) -> ServerResult<()> {
        let Some(alias) = alias else {
            return Ok(());
        };
        if let Err(e) = self.create_alias(alias, fingerprint, "").await {
            return Err(match self.remove_image(fingerprint).await {
                Ok(()) => ServerError::OperationFailed {
                    context: format!(
                        "giving the new image {} alias {alias:?}",
                        short(fingerprint)
                    ),
                    message: format!("{e}; the new image was deleted again, nothing was changed"),
                },
                Err(cleanup) => ServerError::OperationFailed {
                    context: format!(
                        "giving the new image {} alias {alias:?}",
                        short(fingerprint)
                    ),
                    message: format!(
                        "{e}; deleting the new image failed too ({cleanup}): delete image \
                         {fingerprint} yourself"
                    ),
                },
            });
        }
        Ok(())
    }

    pub(crate) async fn publish(&self, publish: &PublishImage) -> ServerResult<String> {
        let context = format!("publishing {:?} as an image", publish.source);
        let what = format!("an image with the content of {:?}", publish.source);
        for alias in &publish.aliases {
            self.require_free_alias(alias).await?;
        }
        if let Some(format) = publish.format.as_deref().filter(|f| *f != "unified") {
            if !self.conn.info.has_extension("image_format") {
                return Err(ServerError::Unsupported(format!(
                    "publishing in image format {format:?}: this {} publishes unified images \
                     only (no `image_format` API extension); publish without -format",
                    self.conn.dialect.name
                )));
            }
        }
        let body = publish_body(publish);
        let request = RawRequest::new(Method::POST, self.url("/1.0/images")).json(&body);
        let op = self.run(request, &context, &what).await?;
        let fingerprint = fingerprint_of(op.metadata.as_ref(), &context)?;
        for alias in &publish.aliases {
            self.alias_new_image(&fingerprint, Some(alias)).await?;
        }
        Ok(fingerprint)
    }

    pub(crate) async fn list_images(&self) -> ServerResult<Vec<Image>> {
        let context = format!("listing images of project {:?}", self.project);
        let url = self.url("/1.0/images?recursion=1");
        let value = self
            .sync(RawRequest::new(Method::GET, url), &context, "images")
            .await?;
        let list: Vec<ImageJson> = parse(value, &context)?;
        Ok(list.into_iter().map(Image::from).collect())
    }

    pub(crate) async fn remove_image(&self, fingerprint: &str) -> ServerResult<()> {
        let context = format!("deleting image {}", short(fingerprint));
        let what = format!("image {fingerprint:?}");
        let url = self.url(&format!("/1.0/images/{}", encode(fingerprint)));
        self.run(RawRequest::new(Method::DELETE, url), &context, &what)
            .await
            .map(drop)
    }

    pub(crate) async fn create_alias(
        &self,
        alias: &str,
        fingerprint: &str,
        description: &str,
    ) -> ServerResult<()> {
        let context = format!("creating image alias {alias:?}");
        let what = format!("image alias {alias:?}");
        let body = json!({"name": alias, "target": fingerprint, "description": description});
        let request = RawRequest::new(Method::POST, self.url("/1.0/images/aliases")).json(&body);
        self.run(request, &context, &what).await.map(drop)
    }

    pub(crate) async fn rename_alias(&self, alias: &str, new_name: &str) -> ServerResult<()> {
        let context = format!("renaming image alias {alias:?} to {new_name:?}");
        // Both daemons answer a missing alias with 404 and a taken new name with 409 (the
        // error names the new alias then); the old one is checked first to tell them apart.
        if self.image_alias_target(alias, &context).await?.is_none() {
            return Err(ServerError::NotFound {
                what: format!("image alias {alias:?}"),
            });
        }
        self.require_free_alias(new_name).await?;
        let what = format!("image alias {new_name:?}");
        let url = self.url(&format!("/1.0/images/aliases/{}", encode(alias)));
        let request = RawRequest::new(Method::POST, url).json(&json!({"name": new_name}));
        self.run(request, &context, &what).await.map(drop)
    }

    pub(crate) async fn remove_alias(&self, alias: &str) -> ServerResult<()> {
        let context = format!("deleting image alias {alias:?}");
        let what = format!("image alias {alias:?}");
        let url = self.url(&format!("/1.0/images/aliases/{}", encode(alias)));
        self.run(RawRequest::new(Method::DELETE, url), &context, &what)
            .await
            .map(drop)
    }

    async fn image_alias_target(&self, alias: &str, context: &str) -> ServerResult<Option<String>> {
        let what = format!("image alias {alias:?}");
        let url = self.url(&format!("/1.0/images/aliases/{}", encode(alias)));
        match self
            .sync(RawRequest::new(Method::GET, url), context, &what)
            .await
        {
            Ok(value) => Ok(value
                .get("target")
                .and_then(Value::as_str)
                .map(str::to_string)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn download_image(
        &self,
        fingerprint: &str,
        dir: &Path,
        name: &str,
    ) -> ServerResult<ImageExport> {
        let context = format!("exporting image {}", short(fingerprint));
        let url = self.url(&format!("/1.0/images/{}/export", encode(fingerprint)));
        let limit = self.conn.timeout;
        if let Some(socket) = self.conn.transport.socket() {
            // Streamed to the file, unless the reply is a split image's multipart body.
            let unified = dir.join(format!("{name}.tar.gz"));
            match stream_to_file(socket, &url, &unified, limit)
                .await
                .map_err(|e| ServerError::Protocol(format!("{context}: {e}")))?
            {
                Streamed::File(file) => return Ok(ImageExport { files: vec![file] }),
                Streamed::Other(response) => {
                    return self
                        .write_export(response, &url, &context, fingerprint, dir, name)
                        .await
                }
            }
        }
        let response = self
            .conn
            .raw(RawRequest::new(Method::GET, url.clone()), limit, &context)
            .await?;
        self.write_export(response, &url, &context, fingerprint, dir, name)
            .await
    }

    /// Writes an export reply held in memory: a unified tarball, or a split image's parts.
    async fn write_export(
        &self,
        response: crate::transport::RawResponse,
        url: &str,
        context: &str,
        fingerprint: &str,
        dir: &Path,
        name: &str,
    ) -> ServerResult<ImageExport> {
        let content_type = response.header("content-type").unwrap_or("").to_string();
        if response.status != 200 || content_type.starts_with("application/json") {
            // An error envelope.
            let what = format!("image {fingerprint:?}");
            let subject = crate::errors::Subject::of(&Method::GET, url, context, &what);
            return match self.conn.answer(response, &subject) {
                Err(e) => Err(e),
                Ok(_) => Err(ServerError::Protocol(format!(
                    "{context}: the daemon answered with JSON instead of the image file"
                ))),
            };
        }
        let parts = if let Some(boundary) = boundary_of(&content_type) {
            multipart_parts(&response.body, &boundary)
                .map_err(|e| ServerError::Protocol(format!("{context}: {e}")))?
        } else {
            let filename = disposition_filename(response.header("content-disposition"));
            vec![Part {
                name: "metadata".into(),
                filename,
                body: response.body.clone(),
            }]
        };
        let mut files = Vec::new();
        for part in &parts {
            let ext = extension_of(part.filename.as_deref().unwrap_or(""));
            let file = if part.name == "metadata" {
                dir.join(format!("{name}{ext}"))
            } else {
                let ext = if ext.is_empty() { ".rootfs" } else { ext };
                dir.join(format!("{name}.root{ext}"))
            };
            write_complete(&file, &part.body).map_err(|e| {
                ServerError::Protocol(format!("{context}: writing {}: {e}", file.display()))
            })?;
            files.push(file);
        }
        Ok(ImageExport { files })
    }

    pub(crate) async fn upload_image(&self, upload: &ImageUpload) -> ServerResult<String> {
        let file = upload.metadata.display().to_string();
        let context = match &upload.rootfs {
            Some(rootfs) => format!("importing image {file} + {}", rootfs.display()),
            None => format!("importing image {file}"),
        };
        if let Some(alias) = &upload.alias {
            self.require_free_alias(alias).await?;
        }
        let what = format!("the image of {file} (an image with the same fingerprint)");
        let op = if let Some(socket) = self.conn.transport.socket() {
            self.upload_streaming(socket, upload, &context, &what)
                .await?
        } else {
            self.upload_in_memory(upload, &context, &what).await?
        };
        let fingerprint = fingerprint_of(op.metadata.as_ref(), &context)?;
        self.alias_new_image(&fingerprint, upload.alias.as_deref())
            .await?;
        Ok(fingerprint)
    }

    /// Uploads over the unix socket, streaming the files.
    async fn upload_streaming(
        &self,
        socket: &Path,
        upload: &ImageUpload,
        context: &str,
        what: &str,
    ) -> ServerResult<crate::envelope::Operation> {
        let url = self.url("/1.0/images");
        let open = |path: &Path| {
            std::fs::File::open(path)
                .and_then(|f| Ok((f.metadata()?.len(), f)))
                .map_err(|e| {
                    ServerError::Protocol(format!("{context}: reading {}: {e}", path.display()))
                })
        };
        let (body, content_type) = match &upload.rootfs {
            None => {
                let (len, file) = open(&upload.metadata)?;
                (
                    UploadBody::new(vec![Source::file(file, len)]),
                    "application/octet-stream".to_string(),
                )
            }
            Some(rootfs) => {
                let boundary = format!("lxops-image-{}", std::process::id());
                let (meta_len, meta) = open(&upload.metadata)?;
                let (root_len, root) = open(rootfs)?;
                let (head1, head2, tail) =
                    multipart_frame(&boundary, &file_name(&upload.metadata), &file_name(rootfs));
                (
                    UploadBody::new(vec![
                        Source::Bytes(head1),
                        Source::file(meta, meta_len),
                        Source::Bytes(head2),
                        Source::file(root, root_len),
                        Source::Bytes(tail),
                    ]),
                    format!("multipart/form-data; boundary={boundary}"),
                )
            }
        };
        let response = send_body(
            socket,
            Method::POST,
            &url,
            &content_type,
            &[],
            body,
            self.conn.timeout,
        )
        .await
        .map_err(|e| ServerError::Protocol(format!("{context}: {e}")))?;
        let subject = crate::errors::Subject::of(&Method::POST, &url, context, what);
        match self.conn.answer(response, &subject)? {
            crate::client::Answer::Sync { value, .. } => Ok(crate::envelope::Operation {
                status: "Success".into(),
                metadata: Some(value),
                ..Default::default()
            }),
            crate::client::Answer::Async(op) => self.conn.wait_success(&op.id, &subject).await,
        }
    }

    /// Uploads through the shared transport (HTTPS remotes), the files read into memory.
    async fn upload_in_memory(
        &self,
        upload: &ImageUpload,
        context: &str,
        what: &str,
    ) -> ServerResult<crate::envelope::Operation> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map(Bytes::from).map_err(|e| {
                ServerError::Protocol(format!("{context}: reading {}: {e}", path.display()))
            })
        };
        let metadata = read(&upload.metadata)?;
        let mut request = RawRequest::new(Method::POST, self.url("/1.0/images"));
        match &upload.rootfs {
            None => {
                request = request.header("Content-Type", "application/octet-stream");
                request.body = Some(metadata);
            }
            Some(rootfs_path) => {
                let rootfs = read(rootfs_path)?;
                let boundary = format!("lxops-image-{}", std::process::id());
                let body = multipart_body(
                    &boundary,
                    &[
                        ("metadata", file_name(&upload.metadata), metadata),
                        ("rootfs", file_name(rootfs_path), rootfs),
                    ],
                );
                request = request.header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                );
                request.body = Some(body);
            }
        }
        self.run(request, context, what).await
    }

    pub(crate) async fn states_of_all_projects(&self) -> ServerResult<Vec<ProjectInstanceState>> {
        let context = "listing the instances of all projects".to_string();
        let request = RawRequest::new(Method::GET, "/1.0/instances?all-projects=true&recursion=2");
        let value = self.sync(request, &context, "instances").await?;
        let list: Vec<FullInstanceJson> = parse(value, &context)?;
        Ok(list
            .into_iter()
            .map(|i| ProjectInstanceState {
                project: if i.project.is_empty() {
                    "default".into()
                } else {
                    i.project
                },
                name: i.name,
                state: i.state.unwrap_or_default().into(),
            })
            .collect())
    }
}

/// The first 12 characters of a fingerprint, for messages.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

fn fingerprint_of(metadata: Option<&Value>, context: &str) -> ServerResult<String> {
    metadata
        .and_then(|m| m.get("fingerprint"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ServerError::Protocol(format!("{context}: the reply has no fingerprint")))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into())
}

/// `.tar.gz`, `.tar.xz`, `.squashfs`, ... of a file name (from the first `.tar` or the last
/// dot); empty when there is none.
pub fn extension_of(filename: &str) -> &str {
    let base = filename.rsplit('/').next().unwrap_or(filename);
    if let Some(i) = base.find(".tar") {
        return &base[i..];
    }
    match base.rfind('.') {
        Some(i) if i > 0 => &base[i..],
        _ => "",
    }
}

/// Writes `body` to `file` through a temporary name in the same directory, so a cut download
/// never leaves a file that looks complete.
fn write_complete(file: &Path, body: &[u8]) -> std::io::Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(format!(".part-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Form field name (`metadata`, `rootfs`).
    pub name: String,
    /// The part's file name, if any.
    pub filename: Option<String>,
    /// Content.
    pub body: Bytes,
}

/// The `boundary` parameter of a `multipart/...` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_string())
    })
}

/// `filename` of a `Content-Disposition` value.
pub fn disposition_filename(value: Option<&str>) -> Option<String> {
    value?.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("filename")
            .then(|| v.trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Splits a multipart body into its parts.
pub fn multipart_parts(body: &Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let mut pos = find(body, delimiter, 0).ok_or("no multipart boundary in the reply")?;
    loop {
        pos += delimiter.len();
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(parts);
        }
        let head_start = pos + 2; // CRLF after the boundary
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or("a part without headers")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]).into_owned();
        let content_start = head_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(delimiter);
        let next = find(body, &closing, content_start).ok_or("a part without end")?;
        let mut name = String::new();
        let mut filename = None;
        for line in head.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                for p in value.split(';') {
                    if let Some((k, v)) = p.trim().split_once('=') {
                        let v = v.trim_matches('"').to_string();
                        match k.trim() {
                            "name" => name = v,
                            "filename" => filename = Some(v),
                            _ => {}
                        }
                    }
                }
            }
        }
        parts.push(Part {
            name,
            filename,
            body: body.slice(content_start..next),
        });
        pos = next + 2;
    }
}

/// The framing of a two-part (`metadata`, `rootfs`) `multipart/form-data` body: what goes
/// before the first file, between the files, and after the second.
pub fn multipart_frame(boundary: &str, metadata: &str, rootfs: &str) -> (Bytes, Bytes, Bytes) {
    let head = |name: &str, filename: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
    };
    (
        Bytes::from(head("metadata", metadata)),
        Bytes::from(format!("\r\n{}", head("rootfs", rootfs))),
        Bytes::from(format!("\r\n--{boundary}--\r\n")),
    )
}

/// A `multipart/form-data` body of file parts.
pub fn multipart_body(boundary: &str, parts: &[(&str, String, Bytes)]) -> Bytes {
    let mut out = Vec::new();
    for (name, filename, body) in parts {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_parse_back() {
        let body = multipart_body(
            "b0",
            &[
                (
                    "metadata",
                    "m.tar.gz".into(),
                    Bytes::from_static(b"meta\r\n--"),
                ),
                ("rootfs", "r.squashfs".into(), Bytes::from_static(b"")),
            ],
        );
        let parts = multipart_parts(&body, "b0").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].filename.as_deref()),
            ("metadata", Some("m.tar.gz"))
        );
        assert_eq!(&parts[0].body[..], b"meta\r\n--");
        assert_eq!(
            (parts[1].name.as_str(), &parts[1].body[..]),
            ("rootfs", &b""[..])
        );
    }

    #[test]
    fn the_streamed_multipart_framing_is_the_same_body() {
        let (a, b, c) = multipart_frame("b0", "m.tar.gz", "r.squashfs");
        let mut streamed = Vec::new();
        for piece in [&a[..], b"META", &b[..], b"ROOT", &c[..]] {
            streamed.extend_from_slice(piece);
        }
        let whole = multipart_body(
            "b0",
            &[
                ("metadata", "m.tar.gz".into(), Bytes::from_static(b"META")),
                ("rootfs", "r.squashfs".into(), Bytes::from_static(b"ROOT")),
            ],
        );
        assert_eq!(
            String::from_utf8_lossy(&streamed),
            String::from_utf8_lossy(&whole)
        );
    }

    #[test]
    fn content_headers_and_extensions() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary_of("application/octet-stream"), None);
        assert_eq!(
            disposition_filename(Some("inline;filename=abc.tar.gz")).as_deref(),
            Some("abc.tar.gz")
        );
        for (name, ext) in [
            ("abc.tar.gz", ".tar.gz"),
            ("x/meta.tar.xz", ".tar.xz"),
            ("rootfs.squashfs", ".squashfs"),
            ("image", ""),
        ] {
            assert_eq!(extension_of(name), ext, "{name}");
        }
    }

    #[test]
    fn publish_bodies_carry_no_alias() {
        let body = publish_body(&PublishImage {
            source: "a1/s0".into(),
            aliases: vec!["taken".into()],
            properties: [("os".to_string(), "alpine".to_string())].into(),
            compression: Some("none".into()),
            format: None,
        });
        assert_eq!(
            body,
            json!({"source": {"type": "snapshot", "name": "a1/s0"},
                   "properties": {"os": "alpine"}, "public": false,
                   "compression_algorithm": "none"})
        );
    }
}
