//! Custom storage volumes (`/1.0/storage-pools/POOL/volumes/custom`): the `InstanceServer`
//! storage-volume methods of [`RestServer`]. The JSON field names of volumes live here.
//!
//! On a cluster every request names the member that holds the volume (`?target=`; volume
//! names are per member); a standalone server answers 404 to any `target`, so it is sent only
//! when the server is clustered.

use std::path::Path;

use hyper::Method;
use lxops_core::server::{ConfigMap, NewVolume, ServerError, ServerResult, Volume};
use serde::Deserialize;
use serde_json::json;

use crate::errors::Subject;
use crate::server::{parse, RestServer};
use crate::stream::{download, Downloaded, Payload};
use crate::transport::{encode, RawRequest};

/// `GET …/volumes/custom/NAME`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct VolumeJson {
    name: String,
    config: ConfigMap,
    location: String,
    used_by: Vec<String>,
}

impl RestServer {
    /// `/1.0/storage-pools/POOL/volumes/custom[/NAME][REST]`, with the project and, on a
    /// cluster, the target member.
    fn volume_url(
        &self,
        pool: &str,
        name: Option<&str>,
        rest: &str,
        target: Option<&str>,
    ) -> String {
        let mut path = format!("/1.0/storage-pools/{}/volumes/custom", encode(pool));
        if let Some(name) = name {
            path.push('/');
            path.push_str(&encode(name));
        }
        path.push_str(rest);
        let mut url = self.url(&path);
        if let Some(target) = target.filter(|_| self.clustered()) {
            url.push_str("&target=");
            url.push_str(&encode(target));
        }
        url
    }

    pub(crate) async fn get_volume(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Option<Volume>> {
        let context = format!("reading volume {name:?} of storage pool {pool:?}");
        let what = format!("volume {name:?} of storage pool {pool:?}");
        let url = self.volume_url(pool, Some(name), "", target);
        match self
            .sync(RawRequest::new(Method::GET, url), &context, &what)
            .await
        {
            Ok(value) => {
                let v: VolumeJson = parse(value, &context)?;
                Ok(Some(Volume {
                    pool: pool.to_string(),
                    name: v.name,
                    config: v.config,
                    location: v.location,
                    used_by: v.used_by,
                }))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn post_volume(
        &self,
        new: &NewVolume,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context = format!(
            "creating volume {:?} in storage pool {:?}",
            new.name, new.pool
        );
        let what = format!("volume {:?} of storage pool {:?}", new.name, new.pool);
        let body = json!({
            "name": new.name,
            "type": "custom",
            "content_type": "filesystem",
            "description": new.description,
            "config": new.config,
        });
        let url = self.volume_url(&new.pool, None, "", target);
        self.run(
            RawRequest::new(Method::POST, url).json(&body),
            &context,
            &what,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn post_volume_copy(
        &self,
        new: &NewVolume,
        source_pool: &str,
        source: &str,
        source_member: Option<&str>,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context = format!(
            "copying volume {source:?} of storage pool {source_pool:?} to {:?}",
            new.name
        );
        let what = format!("volume {:?} of storage pool {:?}", new.name, new.pool);
        let mut from = json!({
            "type": "copy",
            "pool": source_pool,
            "name": source,
            "volume_only": true,
        });
        // Without `location` a cluster looks for the source on the target member.
        if let Some(member) = source_member.filter(|_| self.clustered()) {
            from["location"] = json!(member);
        }
        let body = json!({
            "name": new.name,
            "type": "custom",
            "description": new.description,
            "config": new.config,
            "source": from,
        });
        let url = self.volume_url(&new.pool, None, "", target);
        self.run(
            RawRequest::new(Method::POST, url).json(&body),
            &context,
            &what,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn remove_volume(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context = format!("deleting volume {name:?} of storage pool {pool:?}");
        let what = format!("volume {name:?} of storage pool {pool:?}");
        let url = self.volume_url(pool, Some(name), "", target);
        self.run(RawRequest::new(Method::DELETE, url), &context, &what)
            .await
            .map(drop)
    }

    pub(crate) async fn move_volume(
        &self,
        pool: &str,
        name: &str,
        new_name: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context = format!("renaming volume {name:?} of storage pool {pool:?} to {new_name:?}");
        let what = format!("volume {name:?} of storage pool {pool:?}");
        let url = self.volume_url(pool, Some(name), "", target);
        let body = json!({ "name": new_name });
        self.run(
            RawRequest::new(Method::POST, url).json(&body),
            &context,
            &what,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn patch_volume(
        &self,
        pool: &str,
        name: &str,
        config: &ConfigMap,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context = format!("setting the config of volume {name:?} of storage pool {pool:?}");
        let what = format!("volume {name:?} of storage pool {pool:?}");
        let url = self.volume_url(pool, Some(name), "", target);
        let body = json!({ "config": config });
        self.run(
            RawRequest::new(Method::PATCH, url).json(&body),
            &context,
            &what,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn snapshot_volume(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context =
            format!("taking snapshot {snapshot:?} of volume {name:?} of storage pool {pool:?}");
        let what = format!("snapshot {snapshot:?} of volume {name:?}");
        let url = self.volume_url(pool, Some(name), "/snapshots", target);
        let body = json!({ "name": snapshot });
        self.run(
            RawRequest::new(Method::POST, url).json(&body),
            &context,
            &what,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn remove_volume_snapshot(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context =
            format!("deleting snapshot {snapshot:?} of volume {name:?} of storage pool {pool:?}");
        let what = format!("snapshot {snapshot:?} of volume {name:?}");
        let rest = format!("/snapshots/{}", encode(snapshot));
        let url = self.volume_url(pool, Some(name), &rest, target);
        self.run(RawRequest::new(Method::DELETE, url), &context, &what)
            .await
            .map(drop)
    }

    pub(crate) async fn restore_volume(
        &self,
        pool: &str,
        name: &str,
        snapshot: &str,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context =
            format!("restoring volume {name:?} of storage pool {pool:?} to snapshot {snapshot:?}");
        let what = format!("volume {name:?} of storage pool {pool:?}");
        let url = self.volume_url(pool, Some(name), "", target);
        // Exactly `restore`: a `config` key would replace the volume's config (and its
        // `volatile.idmap.*`, so the data would be shifted again on the next attach).
        let body = json!({ "restore": snapshot });
        self.run(
            RawRequest::new(Method::PUT, url).json(&body),
            &context,
            &what,
        )
        .await
        .map(drop)
    }

    pub(crate) async fn volume_snapshot_names(
        &self,
        pool: &str,
        name: &str,
        target: Option<&str>,
    ) -> ServerResult<Vec<String>> {
        let context = format!("listing snapshots of volume {name:?} of storage pool {pool:?}");
        let what = format!("volume {name:?} of storage pool {pool:?}");
        if self.clustered() {
            // LXD 5.0.2 answers `…/NAME/snapshots?target=M` with `[]` when M is not the member
            // that receives the request; the pool's volume listing has them on both daemons.
            let url = self.volume_url(pool, None, "", target);
            let value = self
                .sync(RawRequest::new(Method::GET, url), &context, &what)
                .await?;
            let urls: Vec<String> = parse(value, &context)?;
            return Ok(snapshots_in_listing(&urls, name, target));
        }
        let url = self.volume_url(pool, Some(name), "/snapshots", target);
        let value = self
            .sync(RawRequest::new(Method::GET, url), &context, &what)
            .await?;
        let urls: Vec<String> = parse(value, &context)?;
        Ok(crate::model::names_from_urls(&urls))
    }

    /// Exports a volume as the daemon's backup tarball into `file`: a backup is created,
    /// downloaded (streamed to the file) and deleted again, also after a failure.
    pub(crate) async fn export_volume_to(
        &self,
        pool: &str,
        name: &str,
        file: &Path,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let backup = format!("lxops-export-{}", std::process::id());
        let context = format!("exporting volume {name:?} of storage pool {pool:?}");
        let what = format!("volume {name:?} of storage pool {pool:?}");
        let body = json!({
            "name": backup,
            "compression_algorithm": "gzip",
            "volume_only": true,
            "optimized_storage": false,
        });
        let url = self.volume_url(pool, Some(name), "/backups", target);
        self.run(
            RawRequest::new(Method::POST, url).json(&body),
            &context,
            &what,
        )
        .await?;
        let result = self
            .download_backup(pool, name, &backup, file, target, &context, &what)
            .await;
        let url = self.volume_url(pool, Some(name), &format!("/backups/{backup}"), target);
        let removed = self
            .run(RawRequest::new(Method::DELETE, url), &context, &what)
            .await;
        result?;
        removed.map(drop)
    }

    #[allow(clippy::too_many_arguments)]
    async fn download_backup(
        &self,
        pool: &str,
        name: &str,
        backup: &str,
        file: &Path,
        target: Option<&str>,
        context: &str,
        what: &str,
    ) -> ServerResult<()> {
        let url = self.volume_url(
            pool,
            Some(name),
            &format!("/backups/{backup}/export"),
            target,
        );
        let response = match download(&self.conn, &url, context, &|_, _| file.to_path_buf()).await?
        {
            Downloaded::Files(_) => return Ok(()),
            Downloaded::Reply(response) => response,
        };
        let subject = Subject::of(&Method::GET, &url, context, what);
        self.conn.answer(response, &subject)?;
        Err(ServerError::Protocol(format!(
            "{context}: the daemon answered with JSON instead of the backup file"
        )))
    }

    /// Creates volume `new` from a backup tarball (streamed), then sets
    /// `new.config` on it (the tarball brings the exported volume's config).
    pub(crate) async fn import_volume_from(
        &self,
        new: &NewVolume,
        file: &Path,
        target: Option<&str>,
    ) -> ServerResult<()> {
        let context = format!(
            "importing volume {:?} of storage pool {:?} from {}",
            new.name,
            new.pool,
            file.display()
        );
        let what = format!("volume {:?} of storage pool {:?}", new.name, new.pool);
        let url = self.volume_url(&new.pool, None, "", target);
        // Each daemon reads only its own header; without it the name comes from the tarball.
        let header = (
            format!("{}name", self.dialect().header_prefix),
            new.name.clone(),
        );
        let body = Payload::new().file(file).map_err(|e| {
            ServerError::Protocol(format!("{context}: reading {}: {e}", file.display()))
        })?;
        let mut request = RawRequest::new(Method::POST, url)
            .header("Content-Type", "application/octet-stream")
            .header(header.0, header.1);
        request.body = Some(body);
        self.send_file(request, &context, &what).await?;
        self.patch_volume(&new.pool, &new.name, &new.config, target)
            .await
    }

    pub(crate) async fn pool_names(&self) -> ServerResult<Vec<String>> {
        let context = "listing storage pools".to_string();
        let value = self
            .sync(
                RawRequest::new(Method::GET, "/1.0/storage-pools".to_string()),
                &context,
                "storage pools",
            )
            .await?;
        let urls: Vec<String> = parse(value, &context)?;
        Ok(crate::model::names_from_urls(&urls))
    }
}

/// The snapshot names of volume `name` in a pool's volume listing (URLs such as
/// `…/custom/NAME/snapshots/S?target=M`), of member `target` when given.
fn snapshots_in_listing(urls: &[String], name: &str, target: Option<&str>) -> Vec<String> {
    let marker = format!("/volumes/custom/{}/snapshots/", encode(name));
    urls.iter()
        .filter_map(|url| {
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let on_member = match target {
                None => true,
                Some(t) => query
                    .split('&')
                    .any(|kv| kv == format!("target={}", encode(t))),
            };
            let (_, snapshot) = path.split_once(&marker)?;
            on_member.then(|| crate::transport::decode(snapshot))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::snapshots_in_listing;

    #[test]
    fn snapshots_come_from_the_pool_listing_of_the_member() {
        let urls: Vec<String> = [
            "/1.0/storage-pools/default/volumes/custom/v1?target=l2",
            "/1.0/storage-pools/default/volumes/custom/v1/snapshots/s1?target=l2",
            "/1.0/storage-pools/default/volumes/custom/v1/snapshots/s2?target=l3",
            "/1.0/storage-pools/default/volumes/custom/v10/snapshots/s9?target=l2",
            "/1.0/storage-pools/default/volumes/custom/v1/snapshots/s3?target=l2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(snapshots_in_listing(&urls, "v1", Some("l2")), ["s1", "s3"]);
        assert_eq!(snapshots_in_listing(&urls, "v1", None), ["s1", "s2", "s3"]);
    }
}
