//! Socket discovery, connect errors, and whole calls against the fake unix-socket daemon.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use expect_test::expect;
use lxops_core::server::{
    ConnectOptions, ExecRequest, ImageSource, InstanceServer, InstanceSource, NewInstance,
    ServerError,
};
use lxops_rest::discovery::socket_path;
use lxops_rest::RestServer;

use crate::fake_daemon::{FakeDaemon, Seen, CUT, ETAG};
use crate::{fixture, INCUS, LXD};

/// (dialect, explicit socket, environment, which paths exist, expected socket)
type DiscoveryCase<'a> = (
    &'a lxops_rest::Dialect,
    Option<&'a Path>,
    lxops_rest::discovery::EnvLookup<'a>,
    &'a dyn Fn(&Path) -> bool,
    &'a str,
);

#[test]
fn the_socket_is_explicit_then_env_then_the_first_existing_default() {
    let none = |_: &str| None;
    let socket_env = |n: &str| (n == "INCUS_SOCKET").then(|| "/s/incus.sock".to_string());
    let both = |n: &str| match n {
        "INCUS_SOCKET" => Some("/s/incus.sock".to_string()),
        "INCUS_DIR" => Some("/d".to_string()),
        _ => None,
    };
    let dir_env = |n: &str| (n == "LXD_DIR").then(|| "/d".to_string());
    let exists_var_lib = |p: &Path| p.starts_with("/var/lib");
    let nothing = |_: &Path| false;
    let explicit = PathBuf::from("/x.sock");
    let cases: Vec<DiscoveryCase<'_>> = vec![
        (&INCUS, Some(&explicit), &both, &nothing, "/x.sock"),
        (&INCUS, None, &both, &nothing, "/s/incus.sock"),
        (&INCUS, None, &socket_env, &nothing, "/s/incus.sock"),
        (&LXD, None, &dir_env, &nothing, "/d/unix.socket"),
        (
            &LXD,
            None,
            &none,
            &exists_var_lib,
            "/var/lib/lxd/unix.socket",
        ),
        (
            &LXD,
            None,
            &none,
            &nothing,
            "/var/snap/lxd/common/lxd/unix.socket",
        ),
        (
            &INCUS,
            None,
            &none,
            &exists_var_lib,
            "/var/lib/incus/unix.socket",
        ),
        (&INCUS, None, &none, &nothing, "/run/incus/unix.socket"),
    ];
    for (dialect, explicit, env, exists, expected) in cases {
        assert_eq!(
            socket_path(dialect, explicit, env, exists),
            PathBuf::from(expected)
        );
    }
}

#[tokio::test]
async fn an_unreachable_socket_is_a_connect_error_with_a_hint() {
    let options = ConnectOptions {
        remote: None,
        socket: Some("/nonexistent/lxops/unix.socket".into()),
        project: Some("default".into()),
        timeout: Duration::from_secs(5),
        exec_timeout: None,
    };
    let err = RestServer::connect(&INCUS, &options).await.unwrap_err();
    let ServerError::Connect {
        server,
        socket,
        hint,
        ..
    } = &err
    else {
        panic!("not a connect error: {err:?}");
    };
    assert_eq!(server, "Incus");
    assert_eq!(socket, "/nonexistent/lxops/unix.socket");
    assert_eq!(
        hint,
        "is the Incus daemon running? start it, or set INCUS_SOCKET to its socket"
    );
}

fn async_reply(id: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"async","status":"Operation created","status_code":100,"operation":"/1.0/operations/{id}","error_code":0,"error":"","metadata":{{"id":"{id}","class":"task","description":"x","status":"Running","status_code":103,"metadata":null,"err":""}}}}"#
    )
    .into_bytes()
}

fn incus_route(seen: &Seen) -> (u16, Vec<u8>) {
    let path = seen.path.as_str();
    match (seen.method.as_str(), path) {
        // As both daemons answer any request in a missing project (LXD 5.0.2 says "Instance
        // not found" for instance URLs).
        (_, p) if p.contains("project=nosuch") => (
            404,
            br#"{"type":"error","error_code":404,"error":"Instance not found"}"#.to_vec(),
        ),
        ("GET", "/1.0") => (200, fixture("incus-server.json")),
        ("POST", p) if p.starts_with("/1.0/instances/fx-c1/exec") => (202, async_reply("op-exec")),
        ("GET", p) if p.starts_with("/1.0/operations/op-exec/wait") => {
            (200, fixture("incus-exec-wait.json"))
        }
        ("GET", p) if p.contains("/logs/exec-output/") && p.contains(".stdout") => {
            (200, b"out\n".to_vec())
        }
        ("GET", p) if p.contains("/logs/exec-output/") => (200, b"err\n".to_vec()),
        ("DELETE", p) if p.contains("/logs/") => (200, fixture("incus-exec-log-delete.json")),
        ("GET", p) if p.starts_with("/1.0/images/aliases/lxops-test-busybox") => {
            (200, fixture("incus-image-alias.json"))
        }
        ("POST", p) if p.starts_with("/1.0/instances?") => (202, async_reply("op-create")),
        ("GET", p) if p.starts_with("/1.0/profiles/fx-p1?") => (200, fixture("incus-profile.json")),
        ("GET", "/1.0/instances/fx-c1?project=p1") => (200, fixture("incus-instance.json")),
        ("GET", "/1.0/projects/p1") => {
            (200, br#"{"type":"sync","metadata":{"name":"p1"}}"#.to_vec())
        }
        ("GET", "/1.0/projects/p2") => {
            (200, br#"{"type":"sync","metadata":{"name":"p2"}}"#.to_vec())
        }
        ("PUT", p) if p.starts_with("/1.0/profiles/fx-p1?") => {
            (200, fixture("incus-profile-create.json"))
        }
        // Incus: a failed operation is an error envelope under HTTP 200 ...
        ("GET", p) if p.starts_with("/1.0/operations/op-create/wait") => {
            (200, fixture("incus-wait-failure.json"))
        }
        // ... and the finished operation may already be gone.
        ("GET", "/1.0/operations/op-create") => (
            404,
            br#"{"type":"error","error_code":404,"error":"not found"}"#.to_vec(),
        ),
        _ => (
            404,
            br#"{"type":"error","error_code":404,"error":"not found"}"#.to_vec(),
        ),
    }
}

async fn incus_server(daemon: &FakeDaemon) -> Arc<dyn InstanceServer> {
    let options = ConnectOptions {
        remote: None,
        socket: Some(daemon.socket.clone()),
        project: Some("p1".into()),
        timeout: Duration::from_secs(10),
        exec_timeout: None,
    };
    Arc::new(RestServer::connect(&INCUS, &options).await.unwrap())
}

#[tokio::test]
async fn exec_reads_and_deletes_both_logs_in_the_project() {
    let daemon = FakeDaemon::start(Arc::new(incus_route));
    let server = incus_server(&daemon).await;
    assert!(server
        .info()
        .await
        .unwrap()
        .has_extension("instances_rebuild"));
    let output = server
        .exec("fx-c1", &ExecRequest::argv(&["sh", "-c", "x"]))
        .await
        .unwrap();
    assert_eq!(
        (
            output.status,
            output.stdout.as_slice(),
            output.stderr.as_slice()
        ),
        (3, &b"out\n"[..], &b"err\n"[..])
    );
    expect![[r#"
        GET /1.0
        POST /1.0/instances/fx-c1/exec?project=p1
        GET /1.0/operations/op-exec/wait?timeout=30
        GET /1.0/instances/fx-c1/logs/exec-output/exec_9facc62b-4fe5-4ee9-a35e-4bf6ae07879f.stdout?project=p1
        DELETE /1.0/instances/fx-c1/logs/exec-output/exec_9facc62b-4fe5-4ee9-a35e-4bf6ae07879f.stdout?project=p1
        GET /1.0/instances/fx-c1/logs/exec-output/exec_9facc62b-4fe5-4ee9-a35e-4bf6ae07879f.stderr?project=p1
        DELETE /1.0/instances/fx-c1/logs/exec-output/exec_9facc62b-4fe5-4ee9-a35e-4bf6ae07879f.stderr?project=p1
    "#]]
    .assert_eq(&(daemon.requests().join("\n") + "\n"));
    let post = daemon.seen.lock().unwrap()[1].clone();
    assert!(post
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/json"));
}

#[tokio::test]
async fn a_failed_wait_under_http_200_maps_to_already_exists() {
    let daemon = FakeDaemon::start(Arc::new(incus_route));
    let server = incus_server(&daemon).await;
    let new = NewInstance {
        ephemeral: false,
        target: None,
        instance_type: None,
        name: "fx-c1".into(),
        source: InstanceSource::Image(ImageSource::local("lxops-test-busybox")),
        profiles: vec!["default".into()],
        config: Default::default(),
        devices: Default::default(),
        vm: false,
        description: String::new(),
    };
    let err = server.create_instance(&new).await.unwrap_err();
    assert_eq!(err.to_string(), "instance \"fx-c1\" already exists");
    let create = daemon
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.method == "POST")
        .cloned()
        .unwrap();
    // The alias was resolved first, so the request names the fingerprint.
    assert!(String::from_utf8_lossy(&create.body).contains(r#""fingerprint":"d79666a0a098"#));
}

#[tokio::test]
async fn views_of_other_projects_share_the_connection() {
    let daemon = FakeDaemon::start(Arc::new(incus_route));
    let server = incus_server(&daemon).await;
    let other = server.for_project("p2");
    assert_eq!(other.project(), "p2");
    assert!(other.instance("fx-c1").await.unwrap().is_none());
    assert!(other.instance("fx-c2").await.unwrap().is_none());
    let requests = daemon.requests();
    assert_eq!(
        requests.iter().filter(|r| r.as_str() == "GET /1.0").count(),
        1
    );
    // A 404 in project p2 checks the project once per connection.
    assert_eq!(
        requests[requests.len() - 3..],
        [
            "GET /1.0/instances/fx-c1?project=p2",
            "GET /1.0/projects/p2",
            "GET /1.0/instances/fx-c2?project=p2",
        ]
    );
}

#[tokio::test]
async fn a_missing_file_is_told_apart_from_a_missing_instance() {
    let daemon = FakeDaemon::start(Arc::new(incus_route));
    let server = incus_server(&daemon).await;
    // Every files request answers 404 here, as both daemons do for a missing instance.
    assert_eq!(server.read_file("fx-c1", "/nope").await.unwrap(), None);
    let cases = [
        (
            "read",
            server.read_file("fx-gone", "/etc/hostname").await.map(drop),
        ),
        (
            "delete",
            server.delete_file("fx-gone", "/etc/hostname").await,
        ),
        (
            "write",
            server
                .write_file(
                    "fx-gone",
                    &lxops_core::server::FileWrite {
                        path: "/etc/x".into(),
                        content: b"x".to_vec(),
                        mode: None,
                        uid: None,
                        gid: None,
                        append: false,
                    },
                )
                .await,
        ),
    ];
    for (what, result) in cases {
        let error = result.unwrap_err();
        assert_eq!(
            error.to_string(),
            "instance \"fx-gone\" in project \"p1\" not found",
            "{what}"
        );
    }
    let error = server.delete_file("fx-c1", "/nope").await.unwrap_err();
    assert_eq!(error.to_string(), "/nope in instance \"fx-c1\" not found");
}

#[tokio::test]
async fn a_404_in_a_missing_project_names_the_project() {
    let daemon = FakeDaemon::start(Arc::new(incus_route));
    let server = incus_server(&daemon).await.for_project("nosuch");
    let image = ImageSource::local("lxops-missing-image");
    let new = NewInstance {
        ephemeral: false,
        target: None,
        instance_type: None,
        name: "fx-c9".into(),
        source: InstanceSource::Image(ImageSource::local("0".repeat(64))),
        profiles: vec!["default".into()],
        config: Default::default(),
        devices: Default::default(),
        vm: false,
        description: String::new(),
    };
    let results = [
        server.instance("fx-c1").await.map(|_| ()),
        server.image_fingerprint(&image).await.map(|_| ()),
        server.profile("fx-p9").await.map(|_| ()),
        server.read_file("fx-c1", "/etc/hostname").await.map(|_| ()),
        server.create_instance(&new).await.map(drop),
        server.delete_instance("fx-c1").await,
    ];
    for result in results {
        let Err(ServerError::MissingProject { project, hint, .. }) = &result else {
            panic!("not a missing project: {result:?}");
        };
        assert_eq!(project, "nosuch");
        assert_eq!(
            hint,
            "create it with `incus project create nosuch`, or choose an existing project"
        );
    }
}

#[tokio::test]
async fn updates_send_the_etag_they_read() {
    let daemon = FakeDaemon::start(Arc::new(incus_route));
    let server = incus_server(&daemon).await;
    let mut profile = server.profile("fx-p1").await.unwrap().unwrap();
    profile.description = "changed".into();
    server.update_profile(&profile).await.unwrap();
    let put = daemon
        .seen
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.method == "PUT")
        .cloned()
        .unwrap();
    assert_eq!(put.path, "/1.0/profiles/fx-p1?project=p1");
    assert!(put
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("if-match") && v == ETAG));
    expect![[r#"{"config":{"user.x":"1"},"description":"changed","devices":{"d1":{"path":"/mnt/t","source":"/tmp","type":"disk"}}}"#]]
        .assert_eq(&String::from_utf8_lossy(&put.body));
}

fn running_op(id: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{{"id":"{id}","class":"task","description":"Starting instance","status":"Running","status_code":103,"metadata":null,"err":""}}}}"#
    )
    .into_bytes()
}

/// A daemon whose start operation never ends: LXD-style (`/wait` says Running) or
/// Incus-style (`/wait` sends "context deadline exceeded" under HTTP 200; the operation
/// itself is still Running).
fn never_ending(incus_style: bool) -> impl Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync {
    move |seen: &Seen| {
        match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/1.0") => (200, fixture("lxd-server.json")),
        ("PUT", p) if p.contains("/state") => (202, async_reply("op-slow")),
        ("GET", p) if p.starts_with("/1.0/operations/op-slow/wait") && incus_style => (
            200,
            br#"{"type":"error","error_code":500,"error":"context deadline exceeded","metadata":null}"#.to_vec(),
        ),
        ("GET", p) if p.starts_with("/1.0/operations/op-slow") => (200, running_op("op-slow")),
        _ => (404, br#"{"type":"error","error_code":404,"error":"not found"}"#.to_vec()),
    }
    }
}

#[tokio::test]
async fn a_wait_that_never_ends_is_a_timeout_on_both_daemon_styles() {
    for incus_style in [false, true] {
        let daemon = FakeDaemon::start(Arc::new(never_ending(incus_style)));
        let options = ConnectOptions {
            remote: None,
            socket: Some(daemon.socket.clone()),
            project: Some("default".into()),
            timeout: Duration::from_millis(300),
            exec_timeout: None,
        };
        let server = RestServer::connect(&LXD, &options).await.unwrap();
        let err = server.start_instance("slow").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 300ms starting instance \"slow\"",
            "incus style: {incus_style}"
        );
    }
}

#[tokio::test]
async fn a_start_that_fails_in_forkstart_is_retried_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let starts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&starts);
    let route = move |seen: &Seen| {
        match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/1.0") => (200, fixture("lxd-server.json")),
        ("PUT", p) if p.contains("/state") => {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            (202, async_reply(&format!("op-start-{n}")))
        }
        ("GET", p) if p.starts_with("/1.0/operations/op-start-0/wait") => (
            200,
            br#"{"type":"sync","metadata":{"id":"op-start-0","status":"Failure","err":"Failed to run: /usr/bin/lxd forkstart a1 /var/lib/lxd/containers /var/log/lxd/a1/lxc.conf: exit status 1"}}"#.to_vec(),
        ),
        ("GET", p) if p.starts_with("/1.0/operations/op-start-1/wait") => (
            200,
            br#"{"type":"sync","metadata":{"id":"op-start-1","status":"Success","err":""}}"#.to_vec(),
        ),
        _ => (404, br#"{"type":"error","error_code":404,"error":"not found"}"#.to_vec()),
    }
    };
    let daemon = FakeDaemon::start(Arc::new(route));
    let options = ConnectOptions {
        remote: None,
        socket: Some(daemon.socket.clone()),
        project: Some("default".into()),
        timeout: Duration::from_secs(5),
        exec_timeout: None,
    };
    let server = RestServer::connect(&LXD, &options).await.unwrap();
    server.start_instance("a1").await.unwrap();
    assert_eq!(starts.load(Ordering::SeqCst), 2);
}

/// A daemon whose exec operation runs for `runs` (LXD style: `/wait` answers Running at once).
fn slow_exec(runs: Duration) -> impl Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync {
    let started = std::sync::Mutex::new(None::<std::time::Instant>);
    move |seen: &Seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/1.0") => (200, fixture("lxd-server.json")),
        ("POST", p) if p.contains("/exec") => {
            *started.lock().unwrap() = Some(std::time::Instant::now());
            (202, async_reply("op-exec"))
        }
        ("GET", p) if p.starts_with("/1.0/operations/op-exec") => {
            let done = started.lock().unwrap().is_some_and(|t| t.elapsed() >= runs);
            if done {
                (
                    200,
                    br#"{"type":"sync","metadata":{"id":"op-exec","status":"Success","metadata":{"return":0}}}"#.to_vec(),
                )
            } else {
                (200, running_op("op-exec"))
            }
        }
        _ => (
            404,
            br#"{"type":"error","error_code":404,"error":"not found"}"#.to_vec(),
        ),
    }
}

#[tokio::test]
async fn guest_commands_have_their_own_time_limit_apart_from_the_api_timeout() {
    let command = ExecRequest {
        discard_output: true,
        ..ExecRequest::argv(&["apt-get", "install", "-y", "big"])
    };
    // (API timeout, exec time limit, how long the command runs, expected)
    let cases = [
        (300, None, 1200, "exit 0".to_string()),
        (300, Some(2000), 1200, "exit 0".to_string()),
        (
            5000,
            Some(500),
            60_000,
            "timed out after 500ms running [\"apt-get\", \"install\", \"-y\", \"big\"] in instance \"a1\" (the command's time limit; it may still be running in the instance; raise or remove the limit with --exec-timeout)".to_string(),
        ),
    ];
    for (api, exec, runs, expected) in cases {
        let daemon = FakeDaemon::start(Arc::new(slow_exec(Duration::from_millis(runs))));
        let options = ConnectOptions {
            remote: None,
            socket: Some(daemon.socket.clone()),
            project: Some("default".into()),
            timeout: Duration::from_millis(api),
            exec_timeout: exec.map(Duration::from_millis),
        };
        let server = RestServer::connect(&LXD, &options).await.unwrap();
        let started = std::time::Instant::now();
        let result = match server.exec("a1", &command).await {
            Ok(out) => format!("exit {}", out.status),
            Err(e) => e.to_string(),
        };
        assert_eq!(result, expected, "api {api} ms, exec {exec:?} ms");
        assert!(
            started.elapsed() < Duration::from_millis(runs.min(exec.unwrap_or(runs)) + 2000),
            "bounded: {:?}",
            started.elapsed()
        );
    }
}

/// A daemon that answers its first `failing` requests after `/1.0` with `status` (503, or
/// [`CUT`]: the connection ends without a reply).
fn failing_at_first(failing: usize, status: u16) -> impl Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync {
    let replies = std::sync::atomic::AtomicUsize::new(0);
    move |seen: &Seen| {
        if seen.path == "/1.0" {
            return (200, fixture("lxd-server.json"));
        }
        if replies.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failing {
            return (
                status,
                br#"{"type":"error","error_code":503,"error":"LXD is starting"}"#.to_vec(),
            );
        }
        match seen.method.as_str() {
            "GET" => (200, br#"{"type":"sync","metadata":[]}"#.to_vec()),
            _ => (200, br#"{"type":"sync","metadata":{}}"#.to_vec()),
        }
    }
}

#[tokio::test]
async fn only_reads_are_retried_after_a_503_or_a_cut_reply() {
    // (method, 503 replies first, expected outcome, requests the daemon saw after connect)
    // (method, failing replies first and their status, expected outcome, requests after
    // connect)
    let cases = [
        ("GET", 2, 503, "ok".to_string(), 3),
        ("GET", 2, CUT, "ok".to_string(), 3),
        (
            "POST",
            1,
            503,
            "creating profile \"fx-p1\": LXD is starting (the daemon is not ready: wait for it to start, then run the command again)".to_string(),
            1,
        ),
        (
            "POST",
            1,
            CUT,
            "creating profile \"fx-p1\": talking to LXD at {socket}: client error (SendRequest): connection closed before message completed; the request was sent, so the daemon may have carried it out: check the instance or profile before running the command again".to_string(),
            1,
        ),
    ];
    for (method, failing, status, expected, requests) in cases {
        let daemon = FakeDaemon::start(Arc::new(failing_at_first(failing, status)));
        let options = ConnectOptions {
            remote: None,
            socket: Some(daemon.socket.clone()),
            project: Some("default".into()),
            timeout: Duration::from_secs(5),
            exec_timeout: None,
        };
        let server = RestServer::connect(&LXD, &options).await.unwrap();
        let result = match method {
            "GET" => server.instance_names().await.map(drop),
            _ => {
                let profile = lxops_core::server::Profile {
                    name: "fx-p1".into(),
                    ..Default::default()
                };
                server.create_profile(&profile).await
            }
        };
        let outcome = match result {
            Ok(()) => "ok".to_string(),
            Err(e) => e
                .to_string()
                .replace(&daemon.socket.display().to_string(), "{socket}"),
        };
        assert_eq!(outcome, expected, "{method} {status}");
        assert_eq!(
            daemon.requests().len() - 1,
            requests,
            "{method}: {:?}",
            daemon.requests()
        );
    }
}

#[tokio::test]
async fn an_explicit_socket_wins_over_the_default_remote_and_conflicts_with_remote() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().to_path_buf();
    std::fs::write(
        conf.join("config.yml"),
        "default-remote: far\nremotes:\n  far: {addr: 'https://127.0.0.1:9', public: false}\n  \
         local: {addr: 'unix://', public: false}\n",
    )
    .unwrap();
    let conf_text = conf.display().to_string();
    let env = move |name: &str| (name == "INCUS_CONF").then(|| conf_text.clone());
    let socket = tmp.path().join("no-daemon.socket");
    let options = |socket: Option<&Path>, remote: Option<&str>| ConnectOptions {
        socket: socket.map(Path::to_path_buf),
        remote: remote.map(str::to_string),
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    // The default remote has no certificates: refused before any connection.
    let err = RestServer::connect_with_env(&INCUS, &options(None, None), &env)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServerError::Remote { remote, .. } if remote == "far"),
        "{err:?}"
    );
    // --socket: the socket, whatever the default remote.
    let err = RestServer::connect_with_env(&INCUS, &options(Some(&socket), None), &env)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServerError::Connect { socket: s, .. } if *s == socket.display().to_string()),
        "{err:?}"
    );
    // Both: bad input.
    let err = RestServer::connect_with_env(&INCUS, &options(Some(&socket), Some("far")), &env)
        .await
        .unwrap_err();
    expect![[r#"
        remote "far": both --remote and --socket <SOCKET> were given
        hint: give only one of them"#]]
    .assert_eq(
        &err.to_string()
            .replace(&socket.display().to_string(), "<SOCKET>"),
    );
}
