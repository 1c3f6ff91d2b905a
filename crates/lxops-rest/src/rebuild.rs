//! Rebuilding an instance onto a new image, keeping its profiles, config and devices.
//!
//! With the `instances_rebuild` API extension (Incus 6) the native
//! `POST /1.0/instances/NAME/rebuild` is used. Without it (LXD 5.0) the instance is recreated
//! from the new image with the same profiles, devices and config, minus `image.*` and
//! `volatile.*` (except `volatile.<nic>.hwaddr`, so that MAC addresses stay): the replacement
//! is created under a temporary name first (so a missing or failing image changes nothing),
//! then the old instance is deleted and the replacement renamed.
//!
//! The replacement has a fixed name (`<name>-rebuild`) and carries [`REBUILD_OF_KEY`], so an
//! interrupted rebuild is finished by the next one: a leftover replacement next to its instance
//! is deleted and made again, and a replacement whose instance is gone takes its name
//! ([`finish_interrupted`]). An instance of that name without the key is never touched.
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

/// The config key on a replacement instance that names the instance it replaces.
pub const REBUILD_OF_KEY: &str = "user.lxops.rebuild-of";

/// The config a recreated instance keeps: no `image.*`, no `volatile.*` except
/// `volatile.<nic>.hwaddr`.
pub fn carried_config(config: &ConfigMap) -> ConfigMap {
    config
        .iter()
        .filter(|(key, _)| {
            if key.starts_with("image.") || key.as_str() == REBUILD_OF_KEY {
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
    remove_leftover(server, name, &temporary).await?;
    let mut config = carried_config(&current.config);
    config.insert(REBUILD_OF_KEY.to_string(), name.to_string());
    let new = NewInstance {
        ephemeral: false,
        instance_type: None,
        name: temporary.clone(),
        source: InstanceSource::Image(resolved),
        profiles: current.profiles.clone(),
        config,
        devices: current.devices.clone(),
        vm: current.instance_type == "virtual-machine",
        description: current.description.clone(),
        // On a cluster, the replacement goes where the instance is (its data may be there).
        target: Some(current.location.clone())
            .filter(|l| server.conn.info.clustered && !l.is_empty() && l != "none"),
    };
    server.create_instance(&new).await?;
    if let Err(e) = server.delete_instance(name).await {
        if let Err(cleanup) = server.delete_instance(&temporary).await {
            tracing::warn!("deleting the unused replacement {temporary:?}: {cleanup}");
        }
        return Err(e);
    }
    take_name(server, &temporary, name)
        .await
        .map_err(|e| ServerError::OperationFailed {
            context,
            message: format!(
                "the rebuilt instance was created as {temporary:?} and the old one deleted, but \
             renaming it failed: {e}. Run the rebuild again, or rename {temporary:?} to {name:?}"
            ),
        })
}

/// Whether `instance` is a replacement made by a rebuild of `name`.
fn replaces(instance: &crate::model::InstanceJson, name: &str) -> bool {
    instance.config.get(REBUILD_OF_KEY).map(String::as_str) == Some(name)
}

/// Deletes a replacement left by an interrupted rebuild while its instance still exists; an
/// instance of that name that lxops did not make is refused.
async fn remove_leftover(server: &RestServer, name: &str, temporary: &str) -> ServerResult<()> {
    // The interrupted run's create of it may still be running in the daemon.
    server.wait_instance_operations(temporary).await?;
    let Some((leftover, _)) = server.get_instance_json(temporary).await? else {
        return Ok(());
    };
    if !replaces(&leftover, name) {
        return Err(ServerError::AlreadyExists {
            what: format!(
                "instance {temporary:?}, which a rebuild of {name:?} needs for its replacement \
                 (it was not made by lxops: rename or delete it)"
            ),
        });
    }
    tracing::info!(
        instance = name,
        leftover = temporary,
        "deleting the replacement an interrupted rebuild left"
    );
    let _ = server
        .stop_instance(temporary, lxops_core::server::StopMode::Force)
        .await;
    server.delete_instance(temporary).await
}

/// Renames the replacement to `name` and removes its mark.
async fn take_name(server: &RestServer, temporary: &str, name: &str) -> ServerResult<()> {
    server.rename_instance(temporary, name).await?;
    let unmark = [(REBUILD_OF_KEY.to_string(), String::new())].into();
    server.patch_instance_config(name, &unmark).await
}

/// See [`InstanceServer::finish_interrupted_rebuild`]: when `name` is gone and its marked
/// replacement exists, the replacement takes the name.
pub async fn finish_interrupted(server: &RestServer, name: &str) -> ServerResult<bool> {
    let temporary = temporary_name(name);
    server.wait_instance_operations(&temporary).await?;
    if server.get_instance_json(name).await?.is_some() {
        return Ok(false);
    }
    match server.get_instance_json(&temporary).await? {
        Some((replacement, _)) if replaces(&replacement, name) => {
            tracing::info!(instance = name, replacement = %temporary, "finishing an interrupted rebuild");
            take_name(server, &temporary, name).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The name of the replacement of `name` during a recreating rebuild: `<name>-rebuild`
/// (instance names are at most 63 characters, so a long name is cut).
pub fn temporary_name(name: &str) -> String {
    let suffix = "-rebuild";
    let keep = 63 - suffix.len();
    let base: String = name.chars().take(keep).collect();
    format!("{}{suffix}", base.trim_end_matches('-'))
}
