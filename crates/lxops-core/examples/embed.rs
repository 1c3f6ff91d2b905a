//! Embedding lxops: launch two instances from a config, check their status, rebuild them and
//! delete them again, all through `lxops_core::ops` and its fleet runner, with the progress
//! events printed by a callback. No CLI involved.
//!
//! ```text
//! cargo run --example embed -- incus|lxd [IMAGE] [NAME-PREFIX]
//! ```
//!
//! The daemon is Incus or LXD (the first argument, or `LXOPS_EMBED_DAEMON`), reached over its
//! local unix socket. `IMAGE` defaults to `lxops-test-busybox` (the test image that
//! `cargo xtask setup` imports); the instances are `NAME-PREFIX-1` and `NAME-PREFIX-2` (default
//! prefix `embed-<pid>`). The config is written into a temporary directory. Whatever the run
//! launched is deleted at the end, also after a failure.
//!
//! The example uses the backend crates (`lxops-backend-incus`, `lxops-backend-lxd`) as
//! dev-dependencies of `lxops-core`: a program embedding lxops depends on `lxops-core` and
//! the backend of its daemon.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use lxops_core::cloudconfig::OsTypes;
use lxops_core::config::{self, EvalOptions, Formats, LoadOptions, PropertySources};
use lxops_core::host::SystemHost;
use lxops_core::lifecycle::{Progress, WaitOptions};
use lxops_core::ops::fleet::{self, Event, FleetOptions, StopFlag, Unit};
use lxops_core::ops::{self, Env, LaunchSources, RemoveOptions};
use lxops_core::server::{Backend, ConnectOptions};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("embed: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints one progress event as a line on stdout.
fn print_event(event: Event<'_>) {
    match event {
        Event::Started { instance } => println!("[{instance}] started"),
        Event::Step { instance, line } => println!("[{instance}] {line}"),
        Event::Finished {
            instance,
            duration,
            error: None,
        } => println!("[{instance}] ok in {:.1}s", duration.as_secs_f64()),
        Event::Finished {
            instance,
            error: Some(error),
            ..
        } => println!("[{instance}] failed: {error}"),
        Event::Skipped { instance, reason } => println!("[{instance}] skipped: {reason:?}"),
    }
}

/// Runs the whole demonstration; `Ok(false)` when an operation failed (reported already),
/// `Err` for bad arguments or a config that does not load.
async fn run() -> Result<bool, String> {
    let mut args = std::env::args().skip(1);
    let daemon = args
        .next()
        .or_else(|| std::env::var("LXOPS_EMBED_DAEMON").ok())
        .unwrap_or_default();
    let backend: Box<dyn Backend> = match daemon.as_str() {
        "incus" => Box::new(lxops_backend_incus::BACKEND),
        "lxd" => Box::new(lxops_backend_lxd::BACKEND),
        other => return Err(format!("unknown daemon {other:?}: say incus or lxd")),
    };
    let image = args.next().unwrap_or_else(|| "lxops-test-busybox".into());
    let prefix = args
        .next()
        .unwrap_or_else(|| format!("embed-{}", std::process::id()));

    // 1. A config file, loaded and evaluated for two instance names.
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
    let file = dir.path().join("embed.yaml");
    let text = format!("#lxops-v1\nostype: alpine\nimage: {image}\n");
    std::fs::write(&file, text).map_err(|e| format!("writing {}: {e}", file.display()))?;
    let formats = Formats::new();
    let sources = PropertySources::default();
    let load = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: true,
        raw: false,
    };
    let loaded = config::load(&file, &load).map_err(|e| e.to_string())?;
    let eval = EvalOptions {
        include_source: true,
        project: Some("default".into()),
    };
    let mut instances = Vec::new();
    for n in 1..=2 {
        let name = format!("{prefix}-{n}");
        instances
            .push(config::evaluate(&loaded, &name, &sources, &eval).map_err(|e| e.to_string())?);
    }

    // 2. The daemon and the host.
    let options = ConnectOptions {
        remote: Some("local".into()),
        project: Some("default".into()),
        timeout: Duration::from_secs(120),
        ..ConnectOptions::default()
    };
    let server = backend
        .connect(&options)
        .await
        .map_err(|e| format!("connecting to {}: {e}", backend.server_name()))?;
    let env = Env {
        server,
        host: Arc::new(SystemHost::new()),
        os_types: Arc::new(OsTypes::builtin()),
        wait: WaitOptions::default(),
        dry_run: false,
    };

    let launched = launch_status_rebuild(&env, &instances).await;
    let deleted = delete(&env, &loaded, &sources, &eval, &instances).await?;
    Ok(launched && deleted)
}

/// Launches both instances (two at once), prints their status, rebuilds them and prints their
/// status again. Whether everything succeeded.
async fn launch_status_rebuild(env: &Env, instances: &[config::Instance]) -> bool {
    let options = FleetOptions {
        jobs: 2,
        fail_fast: false,
    };
    let stop = StopFlag::default();

    println!("== launch");
    let units = instances
        .iter()
        .map(|i| Unit {
            instance: i.name.clone(),
            item: i.clone(),
        })
        .collect();
    let report = fleet::run(
        units,
        options,
        &stop,
        &print_event,
        async |instance: config::Instance, progress: &mut dyn Progress| {
            let prepared = ops::prepare_launch(env, instance, LaunchSources::default()).await?;
            ops::launch(env, prepared, progress).await
        },
    )
    .await;
    if !report.is_ok() {
        return false;
    }

    if !print_status(env, instances).await {
        return false;
    }

    println!("== rebuild");
    let report = fleet::run(
        units_of(instances),
        options,
        &stop,
        &print_event,
        async |instance: &config::Instance, progress: &mut dyn Progress| {
            ops::rebuild(env, instance, progress).await
        },
    )
    .await;
    report.is_ok() && print_status(env, instances).await
}

/// One unit per instance, borrowing it.
fn units_of(instances: &[config::Instance]) -> Vec<Unit<&config::Instance>> {
    instances
        .iter()
        .map(|i| Unit {
            instance: i.name.clone(),
            item: i,
        })
        .collect()
}

/// Prints one line per instance: its state and whether it matches its config.
async fn print_status(env: &Env, instances: &[config::Instance]) -> bool {
    println!("== status");
    match ops::status(env.server.clone(), env.host.clone(), instances).await {
        Ok(statuses) => {
            for status in &statuses {
                let state = status.state.as_deref().unwrap_or("missing");
                if status.matches() {
                    println!("{}: {state}, matches its config", status.name);
                } else {
                    for difference in &status.differences {
                        println!("{}: {state}, differs: {difference}", status.name);
                    }
                }
            }
            statuses.iter().all(|s| s.matches())
        }
        Err(e) => {
            println!("status failed: {e}");
            false
        }
    }
}

/// Deletes both instances and their profiles (stopping them first); an instance that is not
/// there is no failure. Whether everything succeeded.
async fn delete(
    env: &Env,
    loaded: &config::Loaded,
    sources: &PropertySources,
    eval: &EvalOptions,
    instances: &[config::Instance],
) -> Result<bool, String> {
    println!("== delete");
    let mut twins = Vec::new();
    for instance in instances {
        let twin = config::evaluate(loaded, &ops::twin_name(&instance.name), sources, eval)
            .map_err(|e| e.to_string())?;
        twins.push(twin);
    }
    let units = instances
        .iter()
        .zip(twins)
        .map(|(instance, twin)| Unit {
            instance: instance.name.clone(),
            item: (instance, twin),
        })
        .collect();
    let report = fleet::run(
        units,
        FleetOptions {
            jobs: 2,
            fail_fast: false,
        },
        &StopFlag::default(),
        &print_event,
        async |(instance, twin): (&config::Instance, config::Instance),
               progress: &mut dyn Progress| {
            let options = RemoveOptions {
                force: true,
                adopt: false,
                twin,
                others: Vec::new(),
            };
            ops::delete(env, instance, &options, progress).await
        },
    )
    .await;
    Ok(report.is_ok())
}
