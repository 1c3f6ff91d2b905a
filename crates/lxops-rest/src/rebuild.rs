//! Rebuilding an instance onto a new image, keeping its profiles, config and devices.
//!
//! With the `instances_rebuild` API extension (Incus 6) the native
//! `POST /1.0/instances/NAME/rebuild` is used. Without it (LXD 5.0) the instance is recreated
//! from the new image with the same profiles, devices and config, minus `image.*` and
//! `volatile.*` (except `volatile.<nic>.hwaddr`, so that MAC addresses stay): the replacement
//! is created under a temporary name first (so a missing or failing image changes nothing),
//! then the old instance is deleted and the replacement renamed.
//!
//! Snapshots: Incus 6.0.4 refuses a native rebuild of an instance that has snapshots
//! ("Failed rebuilding instance from image: Cannot remove an instance volume that has
//! snapshots", verified on the dir pool; the instance and its snapshots are left intact), and
//! the delete-and-recreate path would delete them. So an instance with snapshots is refused up
//! front on every server, before anything is changed, with an error that names the snapshots
//! and says what to do. (The daemon's reply is recorded in
//! `tests/data/incus-rebuild-with-snapshots-wait.json`; the end-to-end test
//! `rebuild_refuses_an_instance_with_snapshots_and_loses_nothing` checks both daemons.)
//!
//! After a native rebuild, Incus's files API can answer 404 for a few seconds on the stopped
//! instance (its cached file helper still points at the replaced root filesystem); starting
//! the instance first avoids it.

use hyper::Method;
use lxops_core::server::{
    ConfigMap, ImageSource, InstanceServer, InstanceSource, NewInstance, ServerError, ServerResult,
};
use serde_json::json;

use crate::remotes::image_source_json;
use crate::server::RestServer;
use crate::transport::RawRequest;

/// The API extension that gates the native rebuild.
pub const REBUILD_EXTENSION: &str = "instances_rebuild";

/// The config a recreated instance keeps: no `image.*`, no `volatile.*` except
/// `volatile.<nic>.hwaddr`.
pub fn carried_config(config: &ConfigMap) -> ConfigMap {
    config
        .iter()
        .filter(|(key, _)| {
            if key.starts_with("image.") {
                return false;
            }
            match key.strip_prefix("volatile.") {
                Some(rest) => rest.ends_with(".hwaddr") && rest.split('.').count() == 2,
                None => true,
            }
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Rebuilds `name` from `image`.
pub async fn rebuild(server: &RestServer, name: &str, image: &ImageSource) -> ServerResult<()> {
    let context = format!("rebuilding instance {name:?} from {image}");
    let (current, _) = server.require_instance(name).await?;
    if current.status.eq_ignore_ascii_case("running") {
        return Err(ServerError::Api {
            context,
            status: 400,
            message: "the instance is running; stop it first".into(),
        });
    }
    let snapshots = server.snapshots(name).await?;
    if !snapshots.is_empty() {
        let names: Vec<&str> = snapshots.iter().map(|s| s.name.as_str()).collect();
        return Err(ServerError::Api {
            context,
            status: 409,
            message: format!(
                "the instance has snapshots ({}); rebuilding would lose them ({} refuses to \
                 replace a root volume that has snapshots, and recreating the instance deletes \
                 them). Nothing was changed. Delete the snapshots first, or copy or publish them \
                 to keep their data, then rebuild",
                names.join(", "),
                server.dialect().name
            ),
        });
    }
    let resolved = if image.remote.is_none() {
        match server.image_fingerprint(image).await? {
            Some(fingerprint) => ImageSource::local(fingerprint),
            None => {
                return Err(ServerError::NotFound {
                    what: format!(
                        "image {:?} (no such alias or fingerprint in the local image store)",
                        image.image
                    ),
                })
            }
        }
    } else {
        image.clone()
    };
    let what = format!("instance {name:?}");
    if server.conn.info.has_extension(REBUILD_EXTENSION) {
        let body = json!({"source": image_source_json(&resolved)});
        let request =
            RawRequest::new(Method::POST, server.instance_url(name, "/rebuild")).json(&body);
        return server.run(request, &context, &what).await.map(drop);
    }
    // Create the replacement first, under a temporary name, so that a failing image pull or
    // create leaves the old instance untouched; then delete the old one and rename.
    let temporary = temporary_name(name);
    tracing::info!(
        instance = name,
        temporary = %temporary,
        "no native rebuild: recreating the instance from the new image"
    );
    let new = NewInstance {
        name: temporary.clone(),
        source: InstanceSource::Image(resolved),
        profiles: current.profiles.clone(),
        config: carried_config(&current.config),
        devices: current.devices.clone(),
        vm: current.instance_type == "virtual-machine",
        description: current.description.clone(),
    };
    server.create_instance(&new).await?;
    if let Err(e) = server.delete_instance(name).await {
        if let Err(cleanup) = server.delete_instance(&temporary).await {
            tracing::warn!("deleting the unused replacement {temporary:?}: {cleanup}");
        }
        return Err(e);
    }
    server
        .rename_instance(&temporary, name)
        .await
        .map_err(|e| ServerError::OperationFailed {
            context,
            message: format!(
                "the rebuilt instance was created as {temporary:?} and the old one deleted, but                  renaming it failed: {e}. Rename {temporary:?} to {name:?}"
            ),
        })
}

/// A valid, unused-looking instance name for the replacement of `name` during a rebuild
/// (instance names are at most 63 characters).
pub fn temporary_name(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let suffix = format!("-rebuild-{:05x}", (nanos ^ std::process::id()) & 0xf_ffff);
    let keep = 63 - suffix.len();
    let base: String = name.chars().take(keep).collect();
    format!("{base}{suffix}")
}
