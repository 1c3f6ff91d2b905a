//! `cloudconfig`: apply cloud-config files to a running instance by name, with the OS type given
//! or detected from the instance's `/etc/os-release`.

use super::error::OpsError;
use super::launch::apply_cloud_config;
use super::Env;
use crate::cloudconfig::{self, OsTypes, ParsedFile};
use crate::lifecycle::{LifecycleError, Progress};
use crate::server::InstanceServer;

/// The OS type of a running instance, from the `ID` (then `ID_LIKE`) of its `/etc/os-release`.
pub async fn detect_ostype(
    server: &dyn InstanceServer,
    instance: &str,
    os_types: &OsTypes,
) -> Result<Option<String>, OpsError> {
    let mut content = None;
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        let file = server
            .read_file(instance, path)
            .await
            .map_err(|e| LifecycleError::server(instance, format!("reading {path}"), e))?;
        if let Some(file) = file {
            content = Some(String::from_utf8_lossy(&file.content).into_owned());
            break;
        }
    }
    let Some(content) = content else {
        return Ok(None);
    };
    Ok(ostype_from_os_release(&content, os_types))
}

/// The registered OS type named by `ID`, else by a word of `ID_LIKE`.
pub fn ostype_from_os_release(content: &str, os_types: &OsTypes) -> Option<String> {
    let value = |key: &str| -> Option<String> {
        content.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
        })
    };
    let known = os_types.names();
    let mut candidates: Vec<String> = value("ID").into_iter().collect();
    if let Some(like) = value("ID_LIKE") {
        candidates.extend(like.split_whitespace().map(str::to_string));
    }
    candidates.into_iter().find(|c| known.contains(c))
}

/// Applies parsed files to the running instance `instance`.
pub async fn apply_files(
    env: &Env,
    instance: &str,
    files: &[ParsedFile],
    ostype: Option<&str>,
    progress: &mut dyn Progress,
) -> Result<(), OpsError> {
    let server = env.server.as_ref();
    let found = server
        .instance(instance)
        .await
        .map_err(|e| LifecycleError::server(instance, "looking up the instance", e))?;
    match found {
        None => {
            return Err(LifecycleError::InstanceMissing {
                instance: instance.to_string(),
                project: String::new(),
            }
            .into())
        }
        Some(i) if !i.is_running() => {
            return Err(LifecycleError::Refused {
                instance: instance.to_string(),
                message: "the instance is not running: start it first".into(),
            }
            .into())
        }
        Some(_) => {}
    }
    let name = match ostype {
        Some(t) => t.to_string(),
        None => detect_ostype(server, instance, &env.os_types).await?.ok_or_else(|| {
            OpsError::Input(format!(
                "{instance}: cannot tell its OS type from /etc/os-release: pass --ostype (one of {})",
                env.os_types.names().join(", ")
            ))
        })?,
    };
    let os = env.os_types.get(&name).ok_or_else(|| {
        OpsError::Input(format!(
            "unknown OS type {name:?}: use one of {}",
            env.os_types.names().join(", ")
        ))
    })?;
    let steps = cloudconfig::plan_all(files, os)?;
    progress.step(&format!("cloudconfig {instance} ({name})"));
    if env.dry_run {
        for step in &steps {
            progress.step(&step.to_string());
        }
        return Ok(());
    }
    apply_cloud_config(env, instance, &steps, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_names_the_os_type() {
        let types = OsTypes::builtin();
        let cases = [
            ("ID=debian\n", Some("debian")),
            ("NAME=\"Alpine\"\nID=alpine\n", Some("alpine")),
            ("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", Some("ubuntu")),
            ("ID=\"fedora\"\n", Some("fedora")),
            ("ID=gentoo\n", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                ostype_from_os_release(text, &types).as_deref(),
                expected,
                "{text}"
            );
        }
    }
}
