//! The server side of `rebuild`: replace the instance's root filesystem with a new image,
//! keeping its name, profiles, config and devices (and so its data on devices).

use std::time::Duration;

use super::error::{in_project, LifecycleError};
use super::progress::Progress;
use crate::server::{ImageSource, InstanceServer, StopMode};

/// Stops `name` when it runs (cleanly, then by force), checks the image, and rebuilds it.
/// The instance is left stopped; the caller starts it and configures it.
pub async fn rebuild_instance(
    server: &dyn InstanceServer,
    name: &str,
    image: &ImageSource,
    progress: &mut dyn Progress,
) -> Result<(), LifecycleError> {
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
    if instance.is_running() {
        progress.step(&format!("stop instance {name}"));
        if server
            .stop_instance(name, StopMode::Clean(Duration::from_secs(10)))
            .await
            .is_err()
        {
            server
                .stop_instance(name, StopMode::Force)
                .await
                .map_err(|e| LifecycleError::server(name, "stopping the instance", e))?;
        }
    }
    progress.step(&format!("rebuild instance {name} from image {image}"));
    server
        .rebuild_instance(name, image)
        .await
        .map_err(|e| LifecycleError::server(name, format!("rebuilding from image {image}"), e))
}
