//! The server side of `rebuild`: replace the instance's root filesystem with a new image,
//! keeping its name, profiles, config and devices (and so its data on devices).

use std::time::Duration;

use super::error::{in_project, LifecycleError};
use super::progress::Progress;
use crate::server::{ImageSource, InstanceServer, StopMode};

/// Checks a rebuild, changing nothing: the instance exists and the image too. Returns whether
/// the instance runs (so the rebuild stops it first).
pub async fn check_rebuild(
    server: &dyn InstanceServer,
    name: &str,
    image: &ImageSource,
) -> Result<bool, LifecycleError> {
    let instance = server
        .instance(name)
        .await
        .map_err(|e| LifecycleError::server(name, "looking up the instance", e))?;
    let Some(instance) = instance else {
        return Err(LifecycleError::InstanceMissing {
            instance: name.to_string(),
            project: in_project(server.project()),
        });
    };
    let found = server
        .image_fingerprint(image)
        .await
        .map_err(|e| LifecycleError::server(name, format!("looking up image {image}"), e))?;
    if found.is_none() {
        return Err(LifecycleError::ImageMissing {
            instance: name.to_string(),
            image: image.to_string(),
        });
    }
    Ok(instance.is_running())
}

/// The steps of a rebuild, as `--dry-run` and the real run print them.
pub fn rebuild_lines(name: &str, image: &ImageSource, running: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if running {
        lines.push(format!("stop instance {name}"));
    }
    lines.push(format!("rebuild instance {name} from image {image}"));
    lines
}

/// Stops `name` when it runs (cleanly, then by force), checks the image, and rebuilds it.
/// The instance is left stopped; the caller starts it and configures it.
pub async fn rebuild_instance(
    server: &dyn InstanceServer,
    name: &str,
    image: &ImageSource,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
    let exists = super::wait::settled_instance(server, name).await?.is_some();
    // A recreating rebuild interrupted between deleting the old instance and renaming its
    // replacement: the replacement takes the name back.
    if !exists
        && server
            .finish_interrupted_rebuild(name)
            .await
            .map_err(|e| LifecycleError::server(name, "finishing an interrupted rebuild", e))?
    {
        progress.step(&format!(
            "finish the interrupted rebuild of {name}: its replacement takes the name"
        ));
    }
    let running = check_rebuild(server, name, image).await?;
    let mut lines = rebuild_lines(name, image, running).into_iter();
    if running {
        if let Some(line) = lines.next() {
            progress.step(&line);
        }
        if server
            .stop_instance(name, StopMode::Clean(Duration::from_secs(10)))
            .await
            .is_err()
        {
            if let Err(e) = server.stop_instance(name, StopMode::Force).await {
                // It may have stopped meanwhile (e.g. through an interrupted earlier run).
                let state = server
                    .instance_state(name)
                    .await
                    .map_err(|e| LifecycleError::server(name, "reading the state", e))?;
                if state.status.eq_ignore_ascii_case("running") {
                    return Err(LifecycleError::server(name, "stopping the instance", e));
                }
            }
        }
    }
    for line in lines {
        progress.step(&line);
    }
    server
        .rebuild_instance(name, image)
        .await
        .map_err(|e| LifecycleError::server(name, format!("rebuilding from image {image}"), e))
}
