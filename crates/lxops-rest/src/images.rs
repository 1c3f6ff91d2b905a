//! Images through the API: list, delete, aliases, export (download) and import (upload) of
//! unified and split images, publish with the alias given separately.
//!
//! Why aliases are always given in a request of their own: a `POST /1.0/images` whose alias is
//! taken fails *after* it made the image (LXD 5.0.2 and Incus 6.0.4 leave it behind without an
//! alias). So publish and import make the image without alias, then create the alias, and
//! delete the image they just made when that fails; a taken alias is refused before anything is
//! made.
//!
//! Uploads and downloads stream, over the unix socket and HTTPS alike: the files are read and
//! written in chunks (`crate::stream`), a split image's multipart reply split into its files on
//! the way, and never held whole in memory.

use std::path::Path;

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
use crate::stream::{download, Downloaded, Payload};
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
        // A unified image is one tarball (`NAME.tar.gz`, or the daemon's extension), a split
        // image's metadata `NAME.<ext>` and its rootfs `NAME.root.<ext>`.
        let target = |part: &str, filename: Option<&str>| {
            let ext = extension_of(filename.unwrap_or(""));
            match (part, ext) {
                ("rootfs", "") => dir.join(format!("{name}.root.rootfs")),
                ("rootfs", ext) => dir.join(format!("{name}.root{ext}")),
                (_, "") => dir.join(format!("{name}.tar.gz")),
                (_, ext) => dir.join(format!("{name}{ext}")),
            }
        };
        let response = match download(&self.conn, &url, &context, &target).await? {
            Downloaded::Files(files) => return Ok(ImageExport { files }),
            Downloaded::Reply(response) => response,
        };
        // An error envelope.
        let what = format!("image {fingerprint:?}");
        let subject = crate::errors::Subject::of(&Method::GET, &url, &context, &what);
        match self.conn.answer(response, &subject) {
            Err(e) => Err(e),
            Ok(_) => Err(ServerError::Protocol(format!(
                "{context}: the daemon answered with JSON instead of the image file"
            ))),
        }
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
        let op = self.upload(upload, &context, &what).await?;
        let fingerprint = fingerprint_of(op.metadata.as_ref(), &context)?;
        self.alias_new_image(&fingerprint, upload.alias.as_deref())
            .await?;
        Ok(fingerprint)
    }

    /// Uploads the image files, streamed (read in chunks while they are sent).
    async fn upload(
        &self,
        upload: &ImageUpload,
        context: &str,
        what: &str,
    ) -> ServerResult<crate::envelope::Operation> {
        let url = self.url("/1.0/images");
        let file = |payload: Payload, path: &Path| {
            payload.file(path).map_err(|e| {
                ServerError::Protocol(format!("{context}: reading {}: {e}", path.display()))
            })
        };
        let (body, content_type) = match &upload.rootfs {
            None => (
                file(Payload::new(), &upload.metadata)?,
                "application/octet-stream".to_string(),
            ),
            Some(rootfs) => {
                let boundary = format!("lxops-image-{}", std::process::id());
                let (head1, head2, tail) =
                    multipart_frame(&boundary, &file_name(&upload.metadata), &file_name(rootfs));
                let body = file(Payload::new().bytes(head1), &upload.metadata)?.bytes(head2);
                (
                    file(body, rootfs)?.bytes(tail),
                    format!("multipart/form-data; boundary={boundary}"),
                )
            }
        };
        let mut request = RawRequest::new(Method::POST, url).header("Content-Type", content_type);
        request.body = Some(body);
        self.send_file(request, context, what).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_part_upload_framing_is_multipart_form_data() {
        let (a, b, c) = multipart_frame("b0", "m.tar.gz", "r.squashfs");
        let mut body = Vec::new();
        for piece in [&a[..], b"META", &b[..], b"ROOT", &c[..]] {
            body.extend_from_slice(piece);
        }
        expect_test::expect![[r#"
            --b0<CR>
            Content-Disposition: form-data; name="metadata"; filename="m.tar.gz"<CR>
            Content-Type: application/octet-stream<CR>
            <CR>
            META<CR>
            --b0<CR>
            Content-Disposition: form-data; name="rootfs"; filename="r.squashfs"<CR>
            Content-Type: application/octet-stream<CR>
            <CR>
            ROOT<CR>
            --b0--<CR>
        "#]]
        .assert_eq(&String::from_utf8_lossy(&body).replace('\r', "<CR>"));
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
