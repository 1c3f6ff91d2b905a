//! Running lxops in-process against a real daemon, as a user would from the shell, plus the
//! small helpers the command-level tests share (config files in a temp dir, direct server
//! checks through the same backend).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lxops_core::server::{ExecRequest, InstanceServer};
use lxops_tests::Daemon;

/// What one lxops run printed and returned.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status.
    pub code: u8,
    /// Data output.
    pub stdout: String,
    /// The error message, if any.
    pub stderr: String,
}

impl Outcome {
    /// Panics with both outputs unless the run succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "lxops failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run failed with `code` and its error mentions `text`.
    #[track_caller]
    pub fn fails(self, code: u8, text: &str) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(text),
            "expected {text:?} in:\n{}",
            self.stderr
        );
        self
    }
}

fn app(daemon: Daemon) -> lxops_cli::App {
    let mut app = match daemon {
        Daemon::Lxd => lxops_cli::App::new(Box::new(lxops_backend_lxd::BACKEND)),
        Daemon::Incus => lxops_cli::App::new(Box::new(lxops_backend_incus::BACKEND)),
    };
    lxops_migrator_lxdops::register(&mut app.formats);
    app
}

/// Runs `lxops ARGS...` against `daemon` (in-process, like the binary).
pub fn lxops(daemon: Daemon, args: &[&str]) -> Outcome {
    let mut argv: Vec<OsString> = vec!["lxops".into()];
    argv.extend(args.iter().map(OsString::from));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = lxops_cli::run_with(app(daemon), argv, &mut out, &mut err);
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// A runtime for direct server checks between lxops runs.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// The daemon's server, connected the way lxops connects.
pub fn server(daemon: Daemon) -> Arc<dyn InstanceServer> {
    block_on(lxops_tests::connect(daemon))
}

/// Runs `sh -c SCRIPT` in the instance; returns stdout, panicking on a non-zero status.
#[track_caller]
pub fn sh(server: &Arc<dyn InstanceServer>, instance: &str, script: &str) -> String {
    let out = block_on(server.exec(instance, &ExecRequest::argv(&["/bin/sh", "-c", script])))
        .unwrap_or_else(|e| panic!("exec in {instance}: {e}"));
    assert_eq!(
        out.status,
        0,
        "{script:?} in {instance} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the instance exists.
pub fn instance_exists(server: &Arc<dyn InstanceServer>, name: &str) -> bool {
    block_on(server.instance(name))
        .expect("instance lookup")
        .is_some()
}

/// Whether the profile exists.
pub fn profile_exists(server: &Arc<dyn InstanceServer>, name: &str) -> bool {
    block_on(server.profile(name))
        .expect("profile lookup")
        .is_some()
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let path: PathBuf = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("config dir");
    }
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

/// Force-deletes the instance and its `.lxops` profile when dropped, so a failed test leaves
/// nothing behind on the daemon.
pub struct Cleanup {
    server: Arc<dyn InstanceServer>,
    names: Vec<String>,
}

impl Cleanup {
    /// Cleans up instances `names` (and profiles `<name>.lxops`).
    pub fn new(server: &Arc<dyn InstanceServer>, names: &[&str]) -> Self {
        Cleanup {
            server: server.clone(),
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let server = self.server.clone();
        let names = self.names.clone();
        // A new thread, because Drop may run inside a runtime.
        let _ = std::thread::spawn(move || {
            block_on(async {
                for name in &names {
                    let _ = server
                        .stop_instance(name, lxops_core::server::StopMode::Force)
                        .await;
                    let _ = server.delete_instance(name).await;
                    let _ = server.delete_profile(&format!("{name}.lxops")).await;
                }
            })
        })
        .join();
    }
}
