//! Custom storage volumes (`/1.0/storage-pools/POOL/volumes/custom`): the `InstanceServer`
//! storage-volume methods of [`RestServer`]. The JSON field names of volumes live here.
//!
//! On a cluster every request names the member that holds the volume (`?target=`; volume
//! names are per member); a standalone server answers 404 to any `target`, so it is sent only
//! when the server is clustered.

use hyper::Method;
use lxops_core::server::{ConfigMap, NewVolume, ServerResult, Volume};
use serde::Deserialize;
use serde_json::json;

use crate::server::{parse, RestServer};
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
        let url = self.volume_url(pool, Some(name), "/snapshots", target);
        let value = self
            .sync(RawRequest::new(Method::GET, url), &context, &what)
            .await?;
        let urls: Vec<String> = parse(value, &context)?;
        Ok(crate::model::names_from_urls(&urls))
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
