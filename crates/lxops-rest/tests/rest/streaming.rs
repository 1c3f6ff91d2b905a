//! The transport's streaming mode against the fake unix-socket daemon: image exports written to
//! files (a unified tarball named by the reply, a split image's multipart reply split into its
//! parts), a cut or refused download that leaves nothing behind, and uploads whose files are
//! sent with their exact length.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lxops_core::server::{ConnectOptions, ImageUpload, InstanceServer, NewVolume};
use lxops_rest::RestServer;

use crate::fake_daemon::{FakeDaemon, Seen, CUT_BODY};
use crate::{fixture, INCUS};

/// A file's content that no boundary search could confuse (256 KiB and a bit, so that it
/// spans several reads and chunks).
fn content(seed: u8) -> Vec<u8> {
    (0..(256 * 1024 + 13))
        .map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

const BOUNDARY: &str = "fake-boundary";

fn multipart() -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in [
        ("metadata", "meta-x.tar.xz", content(1)),
        ("rootfs", "x.squashfs", content(2)),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

type Reply = (u16, Vec<(String, String)>, Vec<u8>);

fn file_reply(disposition: &str, body: Vec<u8>, extra: &[(&str, &str)]) -> Reply {
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/octet-stream".into(),
        ),
        ("Content-Disposition".to_string(), disposition.to_string()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    (200, headers, body)
}

fn route(seen: &Seen) -> Reply {
    let sync = |metadata: &str| {
        format!(r#"{{"type":"sync","status":"Success","status_code":200,"metadata":{metadata}}}"#)
            .into_bytes()
    };
    let path = seen.path.as_str();
    match (seen.method.as_str(), path) {
        ("GET", "/1.0") => (200, vec![], fixture("incus-server.json")),
        ("GET", p) if p.starts_with("/1.0/images/unified/export") => {
            file_reply("attachment; filename=unified.tar.xz", content(0), &[])
        }
        ("GET", p) if p.starts_with("/1.0/images/plain/export") => {
            file_reply("attachment", content(0), &[])
        }
        ("GET", p) if p.starts_with("/1.0/images/split/export") => (
            200,
            vec![(
                "Content-Type".into(),
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )],
            multipart(),
        ),
        ("GET", p) if p.starts_with("/1.0/images/cut/export") => file_reply(
            "attachment; filename=cut.tar.gz",
            content(0),
            &[(CUT_BODY, "")],
        ),
        ("GET", p) if p.starts_with("/1.0/images/cutsplit/export") => {
            let mut body = multipart();
            body.truncate(body.len() / 2 + 100);
            (
                200,
                vec![(
                    "Content-Type".into(),
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )],
                body,
            )
        }
        ("GET", p) if p.starts_with("/1.0/projects/p1") => (200, vec![], sync(r#"{"name":"p1"}"#)),
        ("POST", p) if p.starts_with("/1.0/images?") => {
            (200, vec![], sync(r#"{"fingerprint":"f00d"}"#))
        }
        ("POST" | "PATCH", p) if p.starts_with("/1.0/storage-pools/default/volumes/custom") => {
            (200, vec![], sync("{}"))
        }
        _ => (
            404,
            vec![],
            br#"{"type":"error","error_code":404,"error":"not found"}"#.to_vec(),
        ),
    }
}

async fn server(daemon: &FakeDaemon) -> Arc<dyn InstanceServer> {
    let options = ConnectOptions {
        remote: None,
        socket: Some(daemon.socket.clone()),
        project: Some("p1".into()),
        // Also the retry window of a cut download (at most the timeout).
        timeout: Duration::from_secs(2),
        exec_timeout: None,
    };
    Arc::new(RestServer::connect(&INCUS, &options).await.unwrap())
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn exports_are_written_to_files_named_by_the_reply() {
    let daemon = FakeDaemon::start_with_headers(Arc::new(route));
    let server = server(&daemon).await;
    let cases: [(&str, &[(&str, u8)]); 3] = [
        ("unified", &[("x.tar.xz", 0)]),
        ("plain", &[("x.tar.gz", 0)]),
        ("split", &[("x.tar.xz", 1), ("x.root.squashfs", 2)]),
    ];
    for (fingerprint, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let export = server
            .export_image(fingerprint, dir.path(), "x")
            .await
            .unwrap();
        let written: Vec<String> = export
            .files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let wanted: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
        assert_eq!(written, wanted, "{fingerprint}");
        for (name, seed) in expected.iter() {
            assert!(
                std::fs::read(dir.path().join(name)).unwrap() == content(*seed),
                "{fingerprint}: {name} holds the part"
            );
        }
        let mut sorted = wanted.clone();
        sorted.sort();
        assert_eq!(names(dir.path()), sorted, "{fingerprint}: nothing else");
    }
}

#[tokio::test]
async fn a_cut_or_refused_download_leaves_no_file_behind() {
    let daemon = FakeDaemon::start_with_headers(Arc::new(route));
    let server = server(&daemon).await;
    let cases = [
        ("cut", "reading the reply"),
        ("cutsplit", "a part without end (the reply was cut short)"),
        ("missing", "not found"),
    ];
    for (fingerprint, error) in cases {
        let dir = tempfile::tempdir().unwrap();
        // An earlier export of the same name is neither overwritten nor removed.
        std::fs::write(dir.path().join("x.tar.gz"), b"earlier").unwrap();
        let err = server
            .export_image(fingerprint, dir.path(), "x")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(error), "{fingerprint}: {err}");
        // A cut reply is a transient failure of a read: the download is tried again.
        let tries = daemon
            .requests()
            .iter()
            .filter(|r| r.starts_with(&format!("GET /1.0/images/{fingerprint}/export")))
            .count();
        assert_eq!(
            tries > 1,
            fingerprint == "cut",
            "{fingerprint}: {tries} tries"
        );
        assert_eq!(names(dir.path()), ["x.tar.gz"], "{fingerprint}: {err}");
        assert_eq!(
            std::fs::read(dir.path().join("x.tar.gz")).unwrap(),
            b"earlier"
        );
    }
}

#[tokio::test]
async fn uploads_send_their_files_with_the_exact_length() {
    let daemon = FakeDaemon::start_with_headers(Arc::new(route));
    let server = server(&daemon).await;
    let dir = tempfile::tempdir().unwrap();
    let (meta, rootfs) = (dir.path().join("m.tar.xz"), dir.path().join("r.squashfs"));
    std::fs::write(&meta, content(1)).unwrap();
    std::fs::write(&rootfs, content(2)).unwrap();
    let header = |seen: &Seen, name: &str| {
        seen.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let last = || daemon.seen.lock().unwrap().last().cloned().unwrap();
    let posted = |method: &str| {
        daemon
            .seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.method == method)
            .cloned()
            .unwrap()
    };

    // A unified image: the file as it is.
    let upload = ImageUpload {
        metadata: meta.clone(),
        rootfs: None,
        alias: None,
    };
    assert_eq!(server.import_image(&upload).await.unwrap(), "f00d");
    let seen = last();
    assert_eq!(seen.body, content(1));
    assert_eq!(
        header(&seen, "content-length"),
        content(1).len().to_string()
    );
    assert_eq!(header(&seen, "content-type"), "application/octet-stream");

    // A split image: both files in multipart framing.
    let upload = ImageUpload {
        metadata: meta.clone(),
        rootfs: Some(rootfs.clone()),
        alias: None,
    };
    server.import_image(&upload).await.unwrap();
    let seen = last();
    let content_type = header(&seen, "content-type");
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap();
    let (a, b, c) = lxops_rest::images::multipart_frame(boundary, "m.tar.xz", "r.squashfs");
    let mut expected = a.to_vec();
    expected.extend(content(1));
    expected.extend_from_slice(&b);
    expected.extend(content(2));
    expected.extend_from_slice(&c);
    assert!(seen.body == expected, "the multipart body");
    assert_eq!(header(&seen, "content-length"), expected.len().to_string());

    // A volume backup: the file, the volume named in the daemon's header.
    let new = NewVolume {
        pool: "default".into(),
        name: "v1".into(),
        config: Default::default(),
        description: String::new(),
    };
    server.import_volume(&new, &rootfs, None).await.unwrap();
    let seen = posted("POST");
    assert_eq!(seen.body, content(2));
    assert_eq!(header(&seen, "x-incus-name"), "v1");

    // A file that is gone is named, and nothing is sent.
    let before = daemon.requests().len();
    let upload = ImageUpload {
        metadata: dir.path().join("gone.tar.gz"),
        rootfs: None,
        alias: None,
    };
    let err = server.import_image(&upload).await.unwrap_err().to_string();
    assert!(err.contains("gone.tar.gz"), "{err}");
    assert_eq!(daemon.requests().len(), before, "{err}");
}
