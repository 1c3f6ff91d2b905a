//! Client config parsing: remotes for `remote:alias` images and the current project.

use std::path::Path;

use lxops_core::server::{ImageSource, RemoteImageServer};
use lxops_rest::remotes::{image_source_json, ClientConfig};

use crate::{INCUS, LXD};

const CONFIG: &str = "\
default-remote: local
remotes:
  images: {addr: 'https://images.linuxcontainers.org', protocol: simplestreams, public: true}
  mine: {addr: 'https://10.0.0.2:8443', protocol: incus, public: false}
  plain: {addr: 'https://10.0.0.3:8443', public: false}
  local: {addr: 'unix://', public: false, project: work}
aliases: {}
";

fn config() -> ClientConfig {
    ClientConfig::parse(CONFIG, Path::new("/home/u/.config/incus/config.yml")).unwrap()
}

#[test]
fn image_names_resolve_against_the_remotes() {
    let config = config();
    let remote = |name: &str, addr: &str, protocol: &str| RemoteImageServer {
        name: name.into(),
        addr: addr.into(),
        protocol: protocol.into(),
        certificate: None,
    };
    let cases = [
        ("alpine/3.20", ImageSource::local("alpine/3.20")),
        (
            "local:lxops-test-busybox",
            ImageSource::local("lxops-test-busybox"),
        ),
        (
            "images:alpine/3.20",
            ImageSource {
                image: "alpine/3.20".into(),
                remote: Some(remote(
                    "images",
                    "https://images.linuxcontainers.org",
                    "simplestreams",
                )),
            },
        ),
        (
            "mine:base",
            ImageSource {
                image: "base".into(),
                remote: Some(remote("mine", "https://10.0.0.2:8443", "incus")),
            },
        ),
    ];
    for (name, expected) in cases {
        assert_eq!(
            config.image_source(&INCUS, name, "config.yml").unwrap(),
            expected,
            "{name}"
        );
    }
}

#[test]
fn an_unknown_remote_is_an_error_naming_the_config() {
    let err = config()
        .image_source(&LXD, "nope:alpine", "/x/config.yml")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "image remote \"nope\" (of image \"nope:alpine\"; remotes come from /x/config.yml) not found"
    );
}

#[test]
fn without_a_config_file_the_builtin_remotes_apply() {
    for dialect in [&LXD, &INCUS] {
        let config = ClientConfig::builtin(dialect);
        let source = config
            .image_source(dialect, "images:debian/12", "built-in")
            .unwrap();
        assert_eq!(source.remote.unwrap().protocol, "simplestreams");
        assert_eq!(config.current_project(dialect, &|_| None), "default");
    }
}

#[test]
fn the_current_project_comes_from_the_env_or_the_default_remote() {
    let config = config();
    assert_eq!(config.current_project(&LXD, &|_| None), "work");
    let env = |name: &str| (name == "INCUS_PROJECT").then(|| "envproj".to_string());
    assert_eq!(config.current_project(&INCUS, &env), "envproj");
    // LXD_PROJECT is not honoured by lxc 5.0.
    let env = |name: &str| (name == "LXD_PROJECT").then(|| "envproj".to_string());
    assert_eq!(config.current_project(&LXD, &env), "work");
}

#[test]
fn a_remote_image_is_created_with_server_protocol_and_alias() {
    let source = config()
        .image_source(&LXD, "images:alpine/3.20", "c")
        .unwrap();
    assert_eq!(
        image_source_json(&source).to_string(),
        r#"{"alias":"alpine/3.20","mode":"pull","protocol":"simplestreams","server":"https://images.linuxcontainers.org","type":"image"}"#
    );
    assert_eq!(
        image_source_json(&ImageSource::local(
            "d79666a0a09858ddc1607783e9dc7f90384f577336deda5f5eea453eea1f5a77"
        ))
        .to_string(),
        r#"{"fingerprint":"d79666a0a09858ddc1607783e9dc7f90384f577336deda5f5eea453eea1f5a77","type":"image"}"#
    );
}

#[test]
fn a_broken_config_file_is_an_error_naming_it() {
    let err = ClientConfig::parse("remotes: [", Path::new("/c/config.yml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/c/config.yml: not a valid client config"),
        "{err}"
    );
}

#[test]
fn the_users_config_file_is_found_through_the_config_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yml"), CONFIG).unwrap();
    let conf = dir.path().display().to_string();
    let env = move |name: &str| (name == "INCUS_CONF").then(|| conf.clone());
    let source = lxops_rest::remotes::image_source(&INCUS, "mine:base", &env).unwrap();
    assert_eq!(source.remote.unwrap().addr, "https://10.0.0.2:8443");
    // Without a config file, only the built-in remotes are known.
    let empty = tempfile::tempdir().unwrap();
    let conf = empty.path().display().to_string();
    let env = move |name: &str| (name == "LXD_CONF").then(|| conf.clone());
    let err = lxops_rest::remotes::image_source(&LXD, "mine:base", &env).unwrap_err();
    assert!(
        err.to_string().contains("the built-in remotes of lxc"),
        "{err}"
    );
}

#[test]
fn a_remote_without_a_protocol_speaks_the_daemons_own() {
    for (dialect, protocol) in [(&LXD, "lxd"), (&INCUS, "incus")] {
        let source = config().image_source(dialect, "plain:base", "c").unwrap();
        assert_eq!(
            source.remote.unwrap().protocol,
            protocol,
            "{}",
            dialect.name
        );
    }
}

#[test]
fn a_stored_server_certificate_goes_with_the_image_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yml"), CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("servercerts")).unwrap();
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    std::fs::write(dir.path().join("servercerts/mine.crt"), pem).unwrap();
    let conf = dir.path().display().to_string();
    let env = move |name: &str| (name == "INCUS_CONF").then(|| conf.clone());

    let mine = lxops_rest::remotes::image_source(&INCUS, "mine:base", &env).unwrap();
    assert_eq!(
        mine.remote.as_ref().unwrap().certificate.as_deref(),
        Some(pem)
    );
    let json = image_source_json(&mine);
    assert_eq!(json["certificate"], pem, "{json}");
    assert_eq!(json["server"], "https://10.0.0.2:8443", "{json}");

    // Remotes without a stored certificate (public image servers) send none.
    let images = lxops_rest::remotes::image_source(&INCUS, "images:alpine", &env).unwrap();
    assert_eq!(images.remote.as_ref().unwrap().certificate, None);
    assert!(image_source_json(&images).get("certificate").is_none());
}
