//! Secrets never reach the logs, even at trace level. A test binary of its own, so that no
//! other test thread caches tracing call sites as disabled while the subscriber is set.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use lxops_core::cloudconfig::{self, OsTypes};
use lxops_core::server::fake::FakeServer;
use lxops_core::server::{
    FileContent, FileKind, ImageSource, InstanceServer, InstanceSource, NewInstance,
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn file(content: &str, kind: FileKind) -> FileContent {
    FileContent {
        kind,
        content: content.as_bytes().to_vec(),
        uid: 0,
        gid: 0,
        mode: 0o755,
    }
}

#[tokio::test]
async fn logs_never_show_secrets_even_at_trace_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = FakeServer::new();
    server.add_image("img");
    server
        .create_instance(&NewInstance {
            ephemeral: false,
            target: None,
            instance_type: None,
            name: "c1".into(),
            source: InstanceSource::Image(ImageSource::local("img")),
            profiles: vec!["default".into()],
            config: BTreeMap::new(),
            devices: BTreeMap::new(),
            vm: false,
            description: String::new(),
        })
        .await
        .expect("create");
    server.start_instance("c1").await.expect("start");
    let passwd = "root:x:0:0::/root:/bin/sh\napp:x:999:999::/:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/bash\nbob:x:1002:1002::/srv/bob:/bin/sh\n";
    server.set_file("c1", "/etc/passwd", file(passwd, FileKind::File));
    server.set_file("c1", "/etc/group", file("root:x:0:\napp:x:999:\nadm:x:4:\nstaff:x:50:\nwheel:x:10:\nalice:x:1001:\nadmins:x:1100:\n", FileKind::File));
    server.set_file("c1", "/etc/sudoers.d", file("", FileKind::Directory));
    server.set_file("c1", "/home/alice", file("", FileKind::Directory));
    server.set_file("c1", "/var", file("", FileKind::Directory));
    server.set_file("c1", "/var/log", file("", FileKind::Directory));
    server.set_file(
        "c1",
        "/usr/share/zoneinfo/Europe/London",
        file("TZif", FileKind::File),
    );

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloudconfig/full.cfg");
    let parsed = cloudconfig::parse_all(&[path]).expect("valid");
    let types = OsTypes::builtin();
    let steps = cloudconfig::plan_all(&parsed, types.get("debian").expect("os")).expect("plan");
    cloudconfig::apply_steps(&server, "c1", &steps, &mut |_| {})
        .await
        .expect("apply");

    let logs =
        String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    for shown in [
        "/etc/app/secret.conf",
        "chpasswd -e",
        "authorized_keys",
        "user alice exists",
    ] {
        assert!(logs.contains(shown), "{shown} is not logged:\n{logs}");
    }
    for secret in [
        "HASHVALUE",
        "KEYMATERIAL",
        "secret value",
        "Welcome",
        "appended line",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs:\n{logs}");
    }
}
