//! Client config parsing: remotes for `remote:alias` images and the current project.

use std::path::Path;

use lxops_core::server::{ImageSource, RemoteImageServer};
use lxops_rest::remotes::{image_source_json, ClientConfig};
use lxops_rest::Dialect;

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

/// Remotes for choosing the daemon: every kind of entry `select` meets.
const SELECT_CONFIG: &str = "\
default-remote: local
remotes:
  images: {addr: 'https://images.linuxcontainers.org', protocol: simplestreams, public: true}
  mine: {addr: 'https://10.0.0.2:8443/', protocol: incus, public: false, project: web}
  plain: {addr: 'https://10.0.0.3:8443', public: false}
  old: {addr: 'https://10.0.0.4:8443', protocol: lxd, public: false}
  oci: {addr: 'https://docker.io', protocol: oci, public: false}
  bare: {addr: '10.0.0.5:8443', protocol: incus, public: false}
  sock: {addr: 'unix:///run/other/unix.socket', public: false}
  local: {addr: 'unix://', public: false, project: work}
aliases: {}
";

/// (dialect, `--remote`, environment, expected choice)
type Case = (
    &'static Dialect,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
    lxops_rest::remotes::Selection,
);

#[test]
fn the_daemon_is_chosen_as_the_cli_chooses_it() {
    use lxops_rest::remotes::{Selection, Target};
    use lxops_rest::tls::RemoteFiles;
    use lxops_rest::transport::HttpsEndpoint;

    let config = ClientConfig::parse(SELECT_CONFIG, Path::new("/c/config.yml")).unwrap();
    let dir = Path::new("/c");
    let https = |remote: &str, url: &str, project: &str| Selection {
        remote: remote.into(),
        target: Target::Https(HttpsEndpoint {
            remote: remote.into(),
            url: url.into(),
            files: RemoteFiles::in_dir(dir, remote),
        }),
        project: project.into(),
    };
    let local = |remote: &str, socket: Option<&str>, project: &str| Selection {
        remote: remote.into(),
        target: Target::Local(socket.map(Into::into)),
        project: project.into(),
    };
    let cases: [Case; 9] = [
        (&INCUS, None, &[], local("local", None, "work")),
        (&INCUS, Some("local"), &[], local("local", None, "work")),
        // A trailing slash is dropped; the remote's project is the default project.
        (
            &INCUS,
            Some("mine"),
            &[],
            https("mine", "https://10.0.0.2:8443", "web"),
        ),
        (
            &LXD,
            Some("plain"),
            &[],
            https("plain", "https://10.0.0.3:8443", "default"),
        ),
        (
            &INCUS,
            Some("old"),
            &[],
            https("old", "https://10.0.0.4:8443", "default"),
        ),
        // INCUS_REMOTE replaces default-remote (LXD 5.0 has no such variable).
        (
            &INCUS,
            None,
            &[("INCUS_REMOTE", "mine")],
            https("mine", "https://10.0.0.2:8443", "web"),
        ),
        (
            &LXD,
            None,
            &[("INCUS_REMOTE", "mine")],
            local("local", None, "work"),
        ),
        // --remote wins over the variable; INCUS_PROJECT over the remote's project.
        (
            &INCUS,
            Some("plain"),
            &[("INCUS_REMOTE", "mine"), ("INCUS_PROJECT", "p")],
            https("plain", "https://10.0.0.3:8443", "p"),
        ),
        (
            &LXD,
            Some("sock"),
            &[],
            local("sock", Some("/run/other/unix.socket"), "default"),
        ),
    ];
    for (dialect, explicit, vars, expected) in cases {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let selection = config
            .select(dialect, explicit, &env, Some(dir), "/c/config.yml")
            .unwrap_or_else(|e| panic!("{explicit:?} {vars:?}: {e}"));
        assert_eq!(
            selection, expected,
            "{} {explicit:?} {vars:?}",
            dialect.name
        );
    }
}

#[test]
fn the_default_remote_of_the_config_is_used_without_remote() {
    use lxops_rest::remotes::Target;
    let text = SELECT_CONFIG.replace("default-remote: local", "default-remote: mine");
    let config = ClientConfig::parse(&text, Path::new("/c/config.yml")).unwrap();
    let selection = config
        .select(
            &LXD,
            None,
            &|_| None,
            Some(Path::new("/c")),
            "/c/config.yml",
        )
        .unwrap();
    assert_eq!(selection.remote, "mine");
    assert!(matches!(selection.target, Target::Https(_)));
    assert_eq!(selection.project, "web");
}

#[test]
fn a_remote_that_cannot_run_instances_is_refused_with_the_fix() {
    let config = ClientConfig::parse(SELECT_CONFIG, Path::new("/c/config.yml")).unwrap();
    let cases = [
        (
            "nope",
            expect_test::expect![[r#"
                remote "nope": no such remote in /c/config.yml (known: bare, images, local, mine, oci, old, plain, sock)
                hint: choose one of the known remotes with --remote, or add this one with `incus remote add nope https://ADDRESS:8443`"#]],
        ),
        (
            "images",
            expect_test::expect![[r#"
                remote "images": in /c/config.yml it is a public image server with protocol "simplestreams", not an LXD or Incus daemon that runs instances
                hint: choose a remote whose protocol is lxd or incus with --remote; image servers are named only in `image: remote:alias`"#]],
        ),
        (
            "oci",
            expect_test::expect![[r#"
                remote "oci": in /c/config.yml it is protocol "oci", not an LXD or Incus daemon that runs instances
                hint: choose a remote whose protocol is lxd or incus with --remote; image servers are named only in `image: remote:alias`"#]],
        ),
        (
            "bare",
            expect_test::expect![[r#"
                remote "bare": in /c/config.yml its address "10.0.0.5:8443" is neither https://HOST[:PORT] nor unix://
                hint: fix `addr` of remote "bare" in /c/config.yml"#]],
        ),
    ];
    for (remote, expected) in cases {
        let err = config
            .select(
                &INCUS,
                Some(remote),
                &|_| None,
                Some(Path::new("/c")),
                "/c/config.yml",
            )
            .unwrap_err();
        assert!(
            matches!(err, lxops_core::server::ServerError::Remote { .. }),
            "{remote}: {err:?}"
        );
        expected.assert_eq(&err.to_string());
    }
}

#[test]
fn missing_or_broken_certificate_files_are_named_with_the_fix() {
    use lxops_rest::remotes::tls_setup_error;
    use lxops_rest::tls::{client_config, RemoteFiles};
    use lxops_rest::transport::HttpsEndpoint;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("servercerts")).unwrap();
    let files = RemoteFiles::in_dir(dir, "r1");
    let endpoint = HttpsEndpoint {
        remote: "r1".into(),
        url: "https://10.0.0.2:8443".into(),
        files: files.clone(),
    };
    let check = |expected: expect_test::Expect| {
        let err = client_config(&files).unwrap_err();
        let text = tls_setup_error(&INCUS, &endpoint, err)
            .to_string()
            .replace(&dir.display().to_string(), "$CONF");
        expected.assert_eq(&text);
    };
    // Nothing there: the pinned certificate is checked first.
    check(expect_test::expect![[r#"
        remote "r1": pinned server certificate $CONF/servercerts/r1.crt does not exist
        hint: pin the server's certificate again: `incus remote remove r1` then `incus remote add r1 https://10.0.0.2:8443`"#]]);
    std::fs::write(&files.server_cert, "not pem\n").unwrap();
    check(expect_test::expect![[r#"
        remote "r1": pinned server certificate $CONF/servercerts/r1.crt: not a usable PEM file: no items found
        hint: pin the server's certificate again: `incus remote remove r1` then `incus remote add r1 https://10.0.0.2:8443`"#]]);
    std::fs::write(&files.server_cert, TEST_CERT).unwrap();
    check(expect_test::expect![[r#"
        remote "r1": client certificate $CONF/client.crt does not exist
        hint: `incus remote add` creates client.crt and client.key on first use; or put your own PEM certificate and key there and trust the certificate on the server with `incus config trust add-certificate`"#]]);
    std::fs::write(&files.client_cert, TEST_CERT).unwrap();
    check(expect_test::expect![[r#"
        remote "r1": client key $CONF/client.key does not exist
        hint: `incus remote add` creates client.crt and client.key on first use; or put your own PEM certificate and key there and trust the certificate on the server with `incus config trust add-certificate`"#]]);
    std::fs::write(&files.client_key, TEST_KEY).unwrap();
    client_config(&files).expect("a matching certificate and key");

    // Incus keeps a remote's own client certificate in clientcerts/: used when both exist.
    assert_eq!(RemoteFiles::find(dir, "r1"), files);
    std::fs::create_dir(dir.join("clientcerts")).unwrap();
    std::fs::write(dir.join("clientcerts/r1.crt"), TEST_CERT).unwrap();
    assert_eq!(
        RemoteFiles::find(dir, "r1"),
        files,
        "no key: the shared pair"
    );
    std::fs::write(dir.join("clientcerts/r1.key"), TEST_KEY).unwrap();
    let own = RemoteFiles::find(dir, "r1");
    assert_eq!(
        (own.client_cert, own.client_key, own.server_cert),
        (
            dir.join("clientcerts/r1.crt"),
            dir.join("clientcerts/r1.key"),
            files.server_cert.clone()
        )
    );
}

/// A self-signed P-384 certificate and its SEC1 key, as `incus remote add` writes them (made
/// with openssl for this test only).
const TEST_CERT: &str = include_str!("../data/tls/client.crt");
const TEST_KEY: &str = include_str!("../data/tls/client.key");
