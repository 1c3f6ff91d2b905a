//! LXD and Incus side by side: started detached (they outlive xtask), waited for, and
//! initialised with a preseed (a `dir` pool `default`, a `default` profile holding only the
//! root disk, no network) unless they already have a `default` pool. Each also listens on a
//! loopback HTTPS address, so that each can serve as the other's image remote, and trusts one
//! stable test client certificate ([`CLIENT_DIR`]) for lxops' HTTPS remotes (benchmarks; the
//! e2e tests trust their own for their length).

use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cmd::{log, Cmd};

use super::LOG_DIR;

/// The test client certificate and key (`client.crt`, `client.key`), as `remote add` writes
/// them into a client config directory; trusted by both daemons.
pub const CLIENT_DIR: &str = "/var/lib/lxops-test/client";

/// One of the two daemons the tests and benchmarks run against.
pub struct Daemon {
    /// Short name: `lxd` or `incus`.
    pub name: &'static str,
    /// Its command line client.
    pub cli: &'static str,
    /// The lxops binary built for it.
    pub lxops: &'static str,
    /// The daemon's unix socket.
    pub socket: &'static str,
    /// Its `core.https_address` (loopback only).
    pub https_address: &'static str,
    /// The daemon program and its arguments (before `--logfile`).
    start: &'static [&'static str],
    /// The client's `waitready` and `init` subcommand prefix (`admin` for Incus).
    admin: &'static [&'static str],
}

/// Both daemons.
pub const DAEMONS: &[Daemon] = &[
    Daemon {
        name: "lxd",
        cli: "lxc",
        lxops: "lxops-lxd",
        socket: "/var/lib/lxd/unix.socket",
        https_address: "127.0.0.1:18443",
        start: &["lxd", "--group", "root"],
        admin: &[],
    },
    Daemon {
        name: "incus",
        cli: "incus",
        lxops: "lxops-incus",
        socket: "/var/lib/incus/unix.socket",
        https_address: "127.0.0.1:18444",
        start: &["/usr/libexec/incus/incusd", "--group", "root"],
        admin: &["admin"],
    },
];

const PRESEED: &str = "\
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  description: lxops test profile (root disk only, no network)
  devices:
    root:
      path: /
      pool: default
      type: disk
";

/// Starts and initialises both daemons.
pub fn run() -> Result<()> {
    let fingerprint = ensure_client_certificate()?;
    for daemon in DAEMONS {
        daemon.ensure_running()?;
        daemon.ensure_initialised()?;
        daemon.ensure_https()?;
        daemon.ensure_trusted(&fingerprint)?;
    }
    Ok(())
}

/// Creates the test client certificate unless it exists (self-signed P-384, clientAuth, as
/// `remote add` makes one); returns its SHA-256 fingerprint as the daemons print it.
fn ensure_client_certificate() -> Result<String> {
    let dir = Path::new(CLIENT_DIR);
    let (cert, key) = (dir.join("client.crt"), dir.join("client.key"));
    if !cert.exists() || !key.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {CLIENT_DIR}"))?;
        log(
            "client",
            format!("creating the test client certificate in {CLIENT_DIR}"),
        );
        Cmd::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:secp384r1",
            ])
            .args([
                "-sha384",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=lxops-test-client",
            ])
            .args(["-addext", "extendedKeyUsage=clientAuth", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .read()?;
    }
    let text = Cmd::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .read()?;
    let fingerprint = text
        .split_once('=')
        .map(|(_, f)| f.trim().replace(':', "").to_lowercase())
        .with_context(|| format!("no fingerprint in openssl's output {text:?}"))?;
    Ok(fingerprint)
}

impl Daemon {
    fn admin_cmd(&self) -> Cmd {
        let program = if self.name == "lxd" { "lxd" } else { self.cli };
        Cmd::new(program).args(self.admin)
    }

    fn ensure_running(&self) -> Result<()> {
        if UnixStream::connect(self.socket).is_ok() {
            log(self.name, format!("running ({})", self.socket));
            return Ok(());
        }
        let log_file = Path::new(LOG_DIR).join(format!("{}.log", self.name));
        let out_file = Path::new(LOG_DIR).join(format!("{}.out", self.name));
        log(self.name, format!("starting, log {}", log_file.display()));
        let (program, args) = self.start.split_first().context("empty daemon command")?;
        Cmd::new(program)
            .args(args)
            .arg("--logfile")
            .arg(&log_file)
            .spawn_detached(&out_file)?;
        self.admin_cmd()
            .args(["waitready", "--timeout", "60"])
            .run()
            .with_context(|| {
                format!(
                    "{} did not become ready; see {}",
                    self.name,
                    log_file.display()
                )
            })
    }

    fn ensure_https(&self) -> Result<()> {
        let current = Cmd::new(self.cli)
            .args(["config", "get", "core.https_address"])
            .read()?;
        if current.trim() == self.https_address {
            return Ok(());
        }
        log(
            self.name,
            format!("listening on https://{}", self.https_address),
        );
        Cmd::new(self.cli)
            .args(["config", "set", "core.https_address", self.https_address])
            .run()
    }

    fn ensure_trusted(&self, fingerprint: &str) -> Result<()> {
        if Cmd::new(self.cli)
            .args(["config", "trust", "show", fingerprint])
            .succeeds()
        {
            return Ok(());
        }
        log(self.name, "trusting the test client certificate");
        let add = if self.name == "lxd" {
            "add"
        } else {
            "add-certificate"
        };
        Cmd::new(self.cli)
            .args(["config", "trust", add])
            .arg(Path::new(CLIENT_DIR).join("client.crt"))
            .args(["--name", "lxops-test-client"])
            .run()
    }

    fn ensure_initialised(&self) -> Result<()> {
        if Cmd::new(self.cli)
            .args(["storage", "show", "default"])
            .succeeds()
        {
            log(self.name, "storage pool `default` exists");
            return Ok(());
        }
        log(
            self.name,
            "initialising with a preseed (dir pool `default`, no network)",
        );
        self.admin_cmd()
            .args(["init", "--preseed"])
            .stdin(PRESEED)
            .run()
    }
}
