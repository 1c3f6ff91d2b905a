//! `remote:alias` images, as a user's client config names them: each daemon launches an image
//! that only the other daemon has, pulled over the other's loopback HTTPS address (set up by
//! `cargo xtask setup`). The remote's certificate is self-signed, so the pull works only with
//! the certificate the CLI keeps in `servercerts/<remote>.crt`; without it the launch fails
//! cleanly.

use std::ffi::OsString;
use std::path::Path;

use lxops_core::server::ImageSource;

use crate::cli::{
    block_on, instance_exists, lxops, profile_exists, server, sh, write_config, Cleanup,
};
use crate::devices::host;
use lxops_tests::{unique_name, Daemon, ImageCleanup};

/// Sets an environment variable for the length of a test (the e2e tests run one at a time).
struct EnvGuard {
    key: &'static str,
    old: Option<OsString>,
}

impl EnvGuard {
    fn set(key: &'static str, value: &Path) -> Self {
        let old = std::env::var_os(key);
        std::env::set_var(key, value);
        EnvGuard { key, old }
    }
}

impl Drop for EnvGuard {
    fn drop(&mut self) {
        match &self.old {
            Some(old) => std::env::set_var(self.key, old),
            None => std::env::remove_var(self.key),
        }
    }
}

#[test]
fn launch_pulls_a_remote_image_with_the_stored_server_certificate() {
    for (client, peer) in [(Daemon::Lxd, Daemon::Incus), (Daemon::Incus, Daemon::Lxd)] {
        let tmp = tempfile::tempdir().expect("tempdir");

        // On the peer: a public image that only the peer has.
        let peer_server = server(peer);
        let source = unique_name("t-rsrc");
        let alias = unique_name("t-remote");
        let _peer_image = ImageCleanup {
            daemon: peer,
            image: alias.clone(),
        };
        let _peer_cleanup = Cleanup::new(&peer_server, &[&source]);
        let source_config = write_config(
            tmp.path(),
            "source.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\n",
                lxops_tests::BUSYBOX
            ),
        );
        lxops(peer, &["launch", "-name", &source, &source_config]).ok();
        sh(
            &peer_server,
            &source,
            &format!("echo from-{peer} > /root/marker"),
        );
        block_on(peer_server.create_snapshot(&source, "s1")).expect("snapshot");
        host(&[
            peer.cli(),
            "publish",
            &format!("{source}/s1"),
            "--alias",
            &alias,
            "--public",
        ]);
        let fingerprint = block_on(peer_server.image_fingerprint(&ImageSource::local(&alias)))
            .expect("lookup")
            .expect("published");

        // The client's config names the peer as a remote (no protocol: the client's own).
        let conf = tmp.path().join("conf");
        write_config(
            &conf,
            "config.yml",
            &format!(
                "default-remote: local\nremotes:\n  local:\n    addr: unix://\n    public: false\n  peer:\n    addr: https://{}\n    public: true\n",
                peer.https_address()
            ),
        );
        let _env = EnvGuard::set(client.config_env(), &conf);
        let client_server = server(client);
        let name = unique_name("t-rdst");
        // The client keeps the pulled image in its cache: removed after the instance.
        let _client_image = ImageCleanup {
            daemon: client,
            image: fingerprint.clone(),
        };
        let _client_cleanup = Cleanup::new(&client_server, &[&name]);
        let config = write_config(
            tmp.path(),
            "c.yaml",
            &format!("#lxops-v1\nostype: alpine\nimage: peer:{alias}\n"),
        );

        // Without the stored certificate the daemon does not trust the peer.
        lxops(client, &["launch", "-name", &name, &config]).fails(1, "certificate");
        assert!(
            !instance_exists(&client_server, &name)
                && !profile_exists(&client_server, &format!("{name}.lxops")),
            "{client}: the failed launch left nothing"
        );

        // With it (where `lxc remote add` / `incus remote add` keeps it), the image is pulled.
        std::fs::create_dir_all(conf.join("servercerts")).expect("mkdir");
        std::fs::copy(peer.server_certificate(), conf.join("servercerts/peer.crt"))
            .expect("copy the peer's certificate");
        lxops(client, &["launch", "-name", &name, &config]).ok();
        assert_eq!(
            sh(&client_server, &name, "cat /root/marker"),
            format!("from-{peer}"),
            "{client} from {peer}"
        );
        let instance = block_on(client_server.instance(&name))
            .expect("instance")
            .expect("exists");
        assert_eq!(
            instance.config.get("volatile.base_image"),
            Some(&fingerprint),
            "{client}: launched from the peer's image"
        );
    }
}
