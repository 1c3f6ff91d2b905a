//! Shared support for the end-to-end tests: which daemons, how to connect to them, unique
//! names, and a drop guard that deletes what a test created, even when it panics.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lxops_core::server::{Backend, ConnectOptions, InstanceServer, ServerError, StopMode};

pub mod cluster;
pub mod fault_proxy;

/// A daemon under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// LXD 5.0 (`/var/lib/lxd/unix.socket`).
    Lxd,
    /// Incus 6.0 (`/var/lib/incus/unix.socket`).
    Incus,
}

impl fmt::Display for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Daemon::Lxd => "lxd",
            Daemon::Incus => "incus",
        })
    }
}

impl Daemon {
    /// The daemon's socket on the test machine.
    pub fn socket(self) -> PathBuf {
        PathBuf::from(match self {
            Daemon::Lxd => "/var/lib/lxd/unix.socket",
            Daemon::Incus => "/var/lib/incus/unix.socket",
        })
    }

    /// Its loopback HTTPS address (`cargo xtask setup` sets `core.https_address`).
    pub fn https_address(self) -> &'static str {
        match self {
            Daemon::Lxd => "127.0.0.1:18443",
            Daemon::Incus => "127.0.0.1:18444",
        }
    }

    /// The daemon's own server certificate (PEM file).
    pub fn server_certificate(self) -> PathBuf {
        PathBuf::from(match self {
            Daemon::Lxd => "/var/lib/lxd/server.crt",
            Daemon::Incus => "/var/lib/incus/server.crt",
        })
    }

    /// Its command line client.
    pub fn cli(self) -> &'static str {
        match self {
            Daemon::Lxd => "lxc",
            Daemon::Incus => "incus",
        }
    }

    /// The variable that points its CLI (and lxops) at a client config directory.
    pub fn config_env(self) -> &'static str {
        match self {
            Daemon::Lxd => "LXD_CONF",
            Daemon::Incus => "INCUS_CONF",
        }
    }

    /// The backend that talks to this daemon.
    pub fn backend(self) -> Box<dyn Backend> {
        match self {
            Daemon::Lxd => Box::new(lxops_backend_lxd::BACKEND),
            Daemon::Incus => Box::new(lxops_backend_incus::BACKEND),
        }
    }

    /// Connect options for this daemon's socket, in the default project.
    pub fn options(self) -> ConnectOptions {
        ConnectOptions {
            remote: None,
            socket: Some(self.socket()),
            project: Some("default".to_string()),
            timeout: Duration::from_secs(120),
            exec_timeout: None,
        }
    }
}

/// Deletes an image (by alias or fingerprint) with the daemon's CLI; a failure is reported on
/// stderr, not raised (for clean-up paths).
pub fn delete_image(daemon: Daemon, image: &str) {
    let status = std::process::Command::new(daemon.cli())
        .args(["image", "delete", image])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("could not delete test image {image} from {daemon}: {status:?}");
    }
}

/// Deletes an image (alias or fingerprint) when dropped.
pub struct ImageCleanup {
    /// Where the image is.
    pub daemon: Daemon,
    /// Its alias or fingerprint.
    pub image: String,
}

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        delete_image(self.daemon, &self.image);
    }
}

/// Both daemons, for tests that run against each.
pub const DAEMONS: [Daemon; 2] = [Daemon::Lxd, Daemon::Incus];

/// The busybox test image (release marker `v1`).
pub const BUSYBOX: &str = "lxops-test-busybox";
/// The busybox test image with `/etc/lxops-test-release` = `v2`.
pub const BUSYBOX_V2: &str = "lxops-test-busybox-v2";
/// The Debian minbase test image.
pub const DEBIAN: &str = "lxops-test-debian";
/// The Debian test image with release marker `v2`.
pub const DEBIAN_V2: &str = "lxops-test-debian-v2";

/// Connects to the daemon (default project); panics with a clear message if unreachable.
pub async fn connect(daemon: Daemon) -> Arc<dyn InstanceServer> {
    let backend = daemon.backend();
    let mut result = backend.connect(&daemon.options()).await;
    // The daemons sometimes stop answering for a while (seen when several test runs share
    // them); a daemon that is down fails at once instead.
    for _ in 0..2 {
        match &result {
            Err(ServerError::Timeout { .. }) => {
                eprintln!("the {daemon} daemon did not answer; trying again");
                result = backend.connect(&daemon.options()).await;
            }
            _ => break,
        }
    }
    match result {
        Ok(server) => server,
        Err(e) => panic!(
            "cannot reach the {daemon} daemon at {}: {e}\n(run `cargo xtask setup` to start it)",
            daemon.socket().display()
        ),
    }
}

/// A fresh valid instance/profile name: `prefix-<6 hex digits>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 20)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // Mix the bits so that consecutive names differ in every digit.
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    let prefix: String = prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(50)
        .collect();
    format!("{prefix}-{:06x}", x & 0xff_ffff)
}

/// Deletes (force-stopping) the named instances, then the profiles and custom volumes, when
/// dropped, on both normal exit and panic (safe to drop inside or outside a tokio runtime).
pub struct Cleanup {
    daemon: Daemon,
    instances: Vec<String>,
    profiles: Vec<String>,
    volumes: Vec<(String, String)>,
}

impl Cleanup {
    /// A guard for objects on `daemon`.
    pub fn new(daemon: Daemon) -> Self {
        Cleanup {
            daemon,
            instances: Vec::new(),
            profiles: Vec::new(),
            volumes: Vec::new(),
        }
    }

    /// Deletes this instance at the end (a missing one is fine).
    pub fn instance(&mut self, name: &str) {
        self.instances.push(name.to_string());
    }

    /// Deletes this profile at the end, after the instances.
    pub fn profile(&mut self, name: &str) {
        self.profiles.push(name.to_string());
    }

    /// Deletes this custom volume of `pool` at the end, after the instances.
    pub fn volume(&mut self, pool: &str, name: &str) {
        self.volumes.push((pool.to_string(), name.to_string()));
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.instances.is_empty() && self.profiles.is_empty() && self.volumes.is_empty() {
            return;
        }
        let daemon = self.daemon;
        let instances = std::mem::take(&mut self.instances);
        let profiles = std::mem::take(&mut self.profiles);
        let volumes = std::mem::take(&mut self.volumes);
        // A thread with its own runtime works whether or not we are inside a runtime.
        let worker = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("cleanup on {daemon}: no runtime: {e}");
                    return;
                }
            };
            runtime.block_on(clean(daemon, instances, profiles, volumes));
        });
        if worker.join().is_err() {
            eprintln!("cleanup on {daemon} panicked");
        }
    }
}

async fn clean(
    daemon: Daemon,
    instances: Vec<String>,
    profiles: Vec<String>,
    volumes: Vec<(String, String)>,
) {
    let server = match daemon.backend().connect(&daemon.options()).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cleanup on {daemon}: {e}");
            return;
        }
    };
    for name in instances.iter().rev() {
        let _ = server.stop_instance(name, StopMode::Force).await;
        for attempt in 0..5u64 {
            match server.delete_instance(name).await {
                Ok(()) => break,
                Err(e) if e.is_not_found() => break,
                Err(e) if attempt == 4 => {
                    eprintln!("cleanup on {daemon}: deleting instance {name}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500 * (attempt + 1))).await,
            }
        }
    }
    for name in profiles.iter().rev() {
        if let Err(e) = server.delete_profile(name).await {
            if !e.is_not_found() {
                eprintln!("cleanup on {daemon}: deleting profile {name}: {e}");
            }
        }
    }
    for (pool, name) in volumes.iter().rev() {
        if let Err(e) = server.delete_volume(pool, name, None).await {
            if !e.is_not_found() {
                eprintln!("cleanup on {daemon}: deleting volume {pool}/{name}: {e}");
            }
        }
    }
}

/// The real `lxops-lxd` / `lxops-incus` binary for `daemon`, built once per test run (for tests
/// that need a separate process, e.g. to kill it mid-run).
pub fn lxops_binary(daemon: Daemon) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    BUILT.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--quiet", "-p", "lxops-lxd", "-p", "lxops-incus"])
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "building the lxops binaries failed: {status:?}"
        );
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    target.join("debug").join(match daemon {
        Daemon::Lxd => "lxops-lxd",
        Daemon::Incus => "lxops-incus",
    })
}
