//! Remote daemons over HTTPS, as a user's client config names them: each daemon is reached at
//! its loopback HTTPS address (`cargo xtask setup` sets `core.https_address`) with a client
//! certificate made for the test and trusted for its length, the server verified by the
//! certificate pinned in `servercerts/<remote>.crt`. A whole launch (cloud-config: file writes
//! and a command), direct exec and file calls, and a delete go over HTTPS; a wrong pin, an
//! untrusted client, a refused connection and an unknown remote fail before anything changes.
//! Images (unified and split) and volume backups go both ways over HTTPS, and a 64 MiB image
//! does so, over HTTPS and the socket, without the peak memory growing by its size.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lxops_core::server::{ConnectOptions, FileWrite, InstanceServer, NewVolume};

use crate::cli::{
    block_on, instance_exists, lxops, profile_exists, server, sh, write_config, Cleanup,
};
use lxops_tests::{unique_name, Daemon, DAEMONS};

/// A private client config directory (`LXD_CONF` / `INCUS_CONF`) with a fresh client
/// certificate and remote `r` at the daemon's HTTPS address, pinned to `pin`.
struct ClientConf {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl ClientConf {
    fn new(daemon: Daemon, pin: &Path, addr: &str, default_remote: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("conf");
        std::fs::create_dir_all(dir.join("servercerts")).expect("mkdir");
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args([
                "ec_paramgen_curve:secp384r1",
                "-sha384",
                "-nodes",
                "-days",
                "2",
            ])
            .args(["-subj", &format!("/CN={}", unique_name("t-https"))])
            .args(["-addext", "extendedKeyUsage=clientAuth", "-keyout"])
            .arg(dir.join("client.key"))
            .arg("-out")
            .arg(dir.join("client.crt")));
        std::fs::copy(pin, dir.join("servercerts/r.crt")).expect("pin the server certificate");
        write_config(
            &dir,
            "config.yml",
            &format!(
                "default-remote: {default_remote}\nremotes:\n  local:\n    addr: unix://\n    \
                 public: false\n  r:\n    addr: https://{addr}\n    protocol: {}\n    \
                 public: false\naliases: {{}}\n",
                match daemon {
                    Daemon::Lxd => "lxd",
                    Daemon::Incus => "incus",
                }
            ),
        );
        ClientConf { _tmp: tmp, dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("client.crt")
    }
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("run a helper command");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Trusts a client certificate on the daemon (through its CLI over the unix socket) until
/// dropped.
struct Trust {
    daemon: Daemon,
    fingerprint: String,
}

impl Trust {
    fn add(daemon: Daemon, cert: &Path) -> Self {
        let add = match daemon {
            Daemon::Lxd => "add",
            Daemon::Incus => "add-certificate",
        };
        run(Command::new(daemon.cli())
            .args(["config", "trust", add])
            .arg(cert)
            .args(["--name", &unique_name("t-https")]));
        let text = run(Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert));
        let fingerprint = text
            .split('=')
            .nth(1)
            .expect("openssl fingerprint output")
            .trim()
            .replace(':', "")
            .to_lowercase();
        Trust {
            daemon,
            fingerprint,
        }
    }
}

impl Drop for Trust {
    fn drop(&mut self) {
        let status = Command::new(self.daemon.cli())
            .args(["config", "trust", "remove", &self.fingerprint])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "{}: could not remove the test trust {}",
                self.daemon, self.fingerprint
            );
        }
    }
}

/// Points the daemon's config variable at a directory for the length of a test (the e2e
/// tests run one at a time).
struct ConfEnv {
    key: &'static str,
    old: Option<OsString>,
}

impl ConfEnv {
    fn set(daemon: Daemon, dir: &Path) -> Self {
        let key = daemon.config_env();
        let old = std::env::var_os(key);
        std::env::set_var(key, dir);
        ConfEnv { key, old }
    }
}

impl Drop for ConfEnv {
    fn drop(&mut self) {
        match &self.old {
            Some(old) => std::env::set_var(self.key, old),
            None => std::env::remove_var(self.key),
        }
    }
}

/// Remote `r` at the daemon's HTTPS address in a fresh client config that is in use, its
/// client certificate trusted, until dropped (the config is restored first).
struct TrustedRemote {
    _env: ConfEnv,
    _trust: Trust,
    conf: ClientConf,
}

impl TrustedRemote {
    fn new(daemon: Daemon) -> Self {
        let conf = ClientConf::new(
            daemon,
            &daemon.server_certificate(),
            daemon.https_address(),
            "local",
        );
        TrustedRemote {
            _trust: Trust::add(daemon, &conf.cert()),
            _env: ConfEnv::set(daemon, &conf.dir),
            conf,
        }
    }
}

/// The daemon reached over HTTPS through remote `r` of the current client config.
fn https_server(daemon: Daemon) -> Arc<dyn InstanceServer> {
    let options = ConnectOptions {
        remote: Some("r".to_string()),
        project: Some("default".to_string()),
        timeout: Duration::from_secs(120),
        ..Default::default()
    };
    block_on(daemon.backend().connect(&options))
        .unwrap_or_else(|e| panic!("{daemon}: connect over HTTPS: {e}"))
}

#[test]
fn a_whole_launch_runs_over_https_with_the_remote_of_the_client_config() {
    for daemon in DAEMONS {
        let local = server(daemon);
        let trusted = TrustedRemote::new(daemon);
        let name = unique_name("t-https");
        let _cleanup = Cleanup::new(&local, &[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        write_config(
            tmp.path(),
            "files.cfg",
            "#cloud-config\nwrite_files:\n- path: /etc/over-https\n  content: written\n  \
             permissions: '0640'\nruncmd:\n- echo ran > /etc/over-https-cmd\n",
        );
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\ncloud-config-files:\n- files.cfg\n",
                lxops_tests::BUSYBOX
            ),
        );

        // Go-style `-remote`, as the original's flags.
        lxops(daemon, &["-remote", "r", "launch", "-name", &name, &config]).ok();
        assert_eq!(
            sh(&local, &name, "cat /etc/over-https /etc/over-https-cmd"),
            "writtenran",
            "{daemon}: cloud-config applied over HTTPS"
        );

        // Direct calls through the same transport: exec and the file API.
        let remote = https_server(daemon);
        assert_eq!(remote.kind(), local.kind(), "{daemon}");
        let file = FileWrite {
            path: "/root/pushed".to_string(),
            content: b"over https\n".to_vec(),
            mode: Some(0o600),
            uid: None,
            gid: None,
            append: false,
        };
        block_on(remote.write_file(&name, &file))
            .unwrap_or_else(|e| panic!("{daemon}: write a file over HTTPS: {e}"));
        assert_eq!(sh(&remote, &name, "cat /root/pushed"), "over https");
        let read = block_on(remote.read_file(&name, "/etc/over-https"))
            .expect("read a file over HTTPS")
            .expect("the file exists");
        assert_eq!(read.content, b"written", "{daemon}");

        // The config's default-remote chooses the daemon when --remote is not given.
        let default_conf = trusted.conf.dir.join("config.yml");
        let text = std::fs::read_to_string(&default_conf).expect("config.yml");
        std::fs::write(
            &default_conf,
            text.replace("default-remote: local", "default-remote: r"),
        )
        .expect("switch the default remote");
        lxops(daemon, &["delete", "--force", "-name", &name, &config]).ok();
        assert!(
            !instance_exists(&local, &name) && !profile_exists(&local, &format!("{name}.lxops")),
            "{daemon}: deleted over HTTPS"
        );
    }
}

#[test]
fn a_remote_that_cannot_be_trusted_or_reached_fails_before_anything_changes() {
    for daemon in DAEMONS {
        let local = server(daemon);
        let other = DAEMONS
            .into_iter()
            .find(|d| *d != daemon)
            .expect("two daemons");
        let name = unique_name("t-https");
        let _cleanup = Cleanup::new(&local, &[&name]);
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\n",
                lxops_tests::BUSYBOX
            ),
        );
        let nothing_left = |case: &str| {
            assert!(
                !instance_exists(&local, &name)
                    && !profile_exists(&local, &format!("{name}.lxops")),
                "{daemon}, {case}: the failed launch left something"
            );
        };
        let launch = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["launch", "-name", &name, &config]);
            lxops(daemon, &all)
        };

        // The pinned certificate is the other daemon's: the client refuses the server.
        let conf = ClientConf::new(
            daemon,
            &other.server_certificate(),
            daemon.https_address(),
            "local",
        );
        let _trust = Trust::add(daemon, &conf.cert());
        let env = ConfEnv::set(daemon, &conf.dir);
        launch(&["--remote", "r"])
            .fails(1, "other than the one pinned")
            .fails(1, "remote remove r");
        nothing_left("wrong pin");
        // An unknown remote is bad input.
        launch(&["--remote", "nope"]).fails(2, "no such remote");
        nothing_left("unknown remote");
        drop(env);

        // A client the daemon does not trust: no Trust for this certificate.
        let conf = ClientConf::new(
            daemon,
            &daemon.server_certificate(),
            daemon.https_address(),
            "r",
        );
        let env = ConfEnv::set(daemon, &conf.dir);
        launch(&[])
            .fails(1, "does not trust this client's certificate")
            .fails(1, "config trust add");
        nothing_left("untrusted client");
        drop(env);

        // Nothing listens at the address.
        let conf = ClientConf::new(daemon, &daemon.server_certificate(), "127.0.0.1:9", "r");
        let _env = ConfEnv::set(daemon, &conf.dir);
        launch(&[])
            .fails(1, "cannot connect to")
            .fails(1, "core.https_address");
        nothing_left("refused connection");
    }
}

#[test]
fn images_are_imported_and_exported_over_https() {
    for daemon in DAEMONS {
        let local = server(daemon);
        let _remote = TrustedRemote::new(daemon);
        let tmp = tempfile::tempdir().expect("tempdir");
        let (unified, meta, rootfs) =
            crate::images::test_images(tmp.path(), &unique_name("t-https-img"));
        let (a_unified, a_split) = (unique_name("t-https-uni"), unique_name("t-https-split"));
        let _i1 = lxops_tests::ImageCleanup {
            daemon,
            image: a_unified.clone(),
        };
        let _i2 = lxops_tests::ImageCleanup {
            daemon,
            image: a_split.clone(),
        };
        let remote = ["--remote", "r", "image", "import", "--alias"];
        let mut args = remote.to_vec();
        args.extend([a_unified.as_str(), unified.as_str()]);
        lxops(daemon, &args).ok();
        let mut args = remote.to_vec();
        args.extend([a_split.as_str(), meta.as_str(), rootfs.as_str()]);
        lxops(daemon, &args).ok();
        for alias in [&a_unified, &a_split] {
            let found =
                block_on(local.image_fingerprint(&lxops_core::server::ImageSource::local(alias)))
                    .expect("lookup");
            assert!(found.is_some(), "{daemon}: {alias} imported over HTTPS");
        }
        let export = |alias: &str, target: &str| {
            lxops(daemon, &["--remote", "r", "image", "export", alias, target])
                .ok()
                .stdout
        };
        let target = tmp.path().join("back").display().to_string();
        let written = export(&a_unified, &target);
        assert_eq!(written.trim(), format!("{target}.tar.gz"), "{daemon}");
        assert_eq!(
            std::fs::read(format!("{target}.tar.gz")).expect("exported"),
            std::fs::read(&unified).expect("unified"),
            "{daemon}: the same tarball back over HTTPS"
        );
        // A split image comes back as a multipart reply, split into its two files.
        let target = tmp.path().join("split").display().to_string();
        let written = export(&a_split, &target);
        let files: Vec<&str> = written.lines().map(str::trim).collect();
        assert_eq!(files.len(), 2, "{daemon}: {written}");
        assert!(
            files[1].starts_with(&format!("{target}.root.")),
            "{daemon}: {written}"
        );
        for (file, original) in files.iter().zip([&meta, &rootfs]) {
            assert_eq!(
                std::fs::read(file).expect("exported part"),
                std::fs::read(original).expect("original part"),
                "{daemon}: {file} is the imported part, back over HTTPS"
            );
        }
    }
}

/// This process's memory: (resident now, peak since the last [`reset_peak_memory`]), in bytes
/// (lxops runs inside the test process).
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak resident size (`VmHWM`) to the current one (`clear_refs` 5).
fn reset_peak_memory() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    out.split_whitespace()
        .next()
        .expect("sha256sum")
        .to_string()
}

/// A unified image of `size` random bytes (plus the busybox tree), hardly compressible.
fn large_image(dir: &Path, size: usize) -> PathBuf {
    let src = dir.join("large-src");
    std::fs::create_dir_all(&src).expect("mkdir");
    run(Command::new("tar")
        .args(["-xzf", "/var/cache/lxops-test/busybox-v1.tar.gz", "-C"])
        .arg(&src));
    // xorshift64*: random enough that gzip cannot shrink it.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        data.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    std::fs::write(src.join("rootfs/large.bin"), &data).expect("write the random file");
    drop(data);
    let image = dir.join("large.tar.gz");
    run(Command::new("tar")
        .args(["-I", "gzip -1", "-cf"])
        .arg(&image)
        .arg("-C")
        .arg(&src)
        .args(["metadata.yaml", "rootfs"]));
    std::fs::remove_dir_all(&src).expect("remove the image tree");
    image
}

#[test]
fn a_large_image_streams_over_https_and_the_socket_without_being_held_in_memory() {
    const SIZE: usize = 64 << 20;
    let tmp = tempfile::tempdir().expect("tempdir");
    let image = large_image(tmp.path(), SIZE);
    let len = std::fs::metadata(&image).expect("image").len();
    assert!(len >= SIZE as u64, "the image is {len} bytes");
    let sum = sha256(&image);
    let image_arg = image.display().to_string();
    // The control: the measure sees a copy of the image held in memory.
    reset_peak_memory();
    let (before, _) = memory();
    let copy = std::fs::read(&image).expect("read the image");
    let (_, peak) = memory();
    assert!(
        peak.saturating_sub(before) >= len * 9 / 10,
        "the peak memory grew by {} bytes only while the whole image ({len}) was held",
        peak.saturating_sub(before)
    );
    drop(copy);
    for daemon in DAEMONS {
        let _remote = TrustedRemote::new(daemon);
        // `r` is the daemon over HTTPS, `local` its unix socket.
        for (remote, route) in [("r", "HTTPS"), ("local", "the socket")] {
            let alias = unique_name("t-https-large");
            // The same image again next round: deleted at the end of this one.
            let _image = lxops_tests::ImageCleanup {
                daemon,
                image: alias.clone(),
            };
            let target = tmp.path().join(format!("back-{daemon}-{remote}"));
            let target_arg = target.display().to_string();
            let runs: [(&str, Vec<&str>); 2] = [
                (
                    "import",
                    vec![
                        "--remote", remote, "image", "import", "--alias", &alias, &image_arg,
                    ],
                ),
                (
                    "export",
                    vec!["--remote", remote, "image", "export", &alias, &target_arg],
                ),
            ];
            // A first run sets up what every run keeps (the runtime, TLS, allocator arenas).
            lxops(daemon, &["--remote", remote, "image", "list"]).ok();
            for (what, args) in runs {
                reset_peak_memory();
                let (before, _) = memory();
                lxops(daemon, &args).ok();
                let (_, peak) = memory();
                let grew = peak.saturating_sub(before);
                eprintln!(
                    "{daemon}: {what} of {len} bytes over {route}: peak memory +{grew} bytes"
                );
                assert!(
                    grew < len / 4,
                    "{daemon}: the {what} over {route} grew the peak memory by {grew} bytes, \
                     for an image of {len}: it is held in memory, not streamed"
                );
            }
            let back = PathBuf::from(format!("{target_arg}.tar.gz"));
            assert_eq!(sha256(&back), sum, "{daemon}: the image back over {route}");
            std::fs::remove_file(&back).expect("remove the exported image");
        }
    }
}

#[test]
fn volume_backups_are_exported_and_imported_over_https() {
    for daemon in DAEMONS {
        let local = server(daemon);
        let _remote = TrustedRemote::new(daemon);
        let remote = https_server(daemon);
        let (source, copy) = (unique_name("t-https-vol"), unique_name("t-https-vol"));
        let _volumes = crate::volumes::VolumeCleanup {
            server: local.clone(),
            names: vec![source.clone(), copy.clone()],
        };
        let volume = |name: &str, value: &str| NewVolume {
            pool: "default".into(),
            name: name.into(),
            config: [("user.lxops-test".to_string(), value.to_string())].into(),
            description: String::new(),
        };
        block_on(remote.create_volume(&volume(&source, "source"), None))
            .unwrap_or_else(|e| panic!("{daemon}: create over HTTPS: {e}"));
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("backup.tar.gz");
        block_on(remote.export_volume("default", &source, &file, None))
            .unwrap_or_else(|e| panic!("{daemon}: export over HTTPS: {e}"));
        let listing = run(Command::new("tar").arg("-tzf").arg(&file));
        assert!(
            listing.lines().any(|l| l == "backup/index.yaml"),
            "{daemon}: the backup tarball: {listing}"
        );
        block_on(remote.import_volume(&volume(&copy, "copy"), &file, None))
            .unwrap_or_else(|e| panic!("{daemon}: import over HTTPS: {e}"));
        let imported = block_on(local.volume("default", &copy, None))
            .expect("volume lookup")
            .unwrap_or_else(|| panic!("{daemon}: {copy} imported over HTTPS"));
        assert_eq!(
            imported.config.get("user.lxops-test").map(String::as_str),
            Some("copy"),
            "{daemon}: the import sets the new volume's config"
        );
    }
}
