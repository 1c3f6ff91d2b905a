//! How lxops reads the daemons' error replies and survives transport faults, on both daemons:
//! the statuses the real daemons send (an instance that exists, a missing instance, file or
//! project) map to the right error, guest commands are not cut off by the API timeout, and,
//! through the fault-injecting proxy (`lxops_tests::fault_proxy`) between lxops and the real
//! daemon, every fault (connection refused, reset, stall, HTTP 500/503, truncated JSON, an
//! operation that never ends, a daemon restart during a fleet launch) gives a clear error or
//! a bounded retry, never a hang or a panic, and a re-run completes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lxops_core::server::{
    ConnectOptions, ExecRequest, ImageSource, InstanceServer, InstanceSource, NewInstance,
    ServerError,
};

use crate::cli::{block_on, lxops, server, write_config, Cleanup, Outcome};
use lxops_tests::fault_proxy::{Fault, FaultProxy, Rule};
use lxops_tests::{unique_name, Daemon, DAEMONS};

/// A stopped busybox instance named `name` (created directly, no lxops profile).
fn create_stopped(server: &Arc<dyn InstanceServer>, name: &str) {
    let new = NewInstance {
        ephemeral: false,
        target: None,
        instance_type: None,
        name: name.to_string(),
        source: InstanceSource::Image(ImageSource::local(lxops_tests::BUSYBOX)),
        profiles: vec!["default".into()],
        config: Default::default(),
        devices: Default::default(),
        vm: false,
        description: String::new(),
    };
    block_on(server.create_instance(&new)).unwrap_or_else(|e| panic!("creating {name}: {e}"));
}

#[test]
fn the_statuses_the_daemons_send_map_to_the_right_error() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-err");
        let other = unique_name("t-err2");
        let gone = unique_name("t-gone");
        let _cleanup = Cleanup::new(&server, &[&name, &other]);
        create_stopped(&server, &name);
        create_stopped(&server, &other);

        // An instance that exists: create and rename onto it.
        let again = NewInstance {
            ephemeral: false,
            target: None,
            instance_type: None,
            name: name.clone(),
            source: InstanceSource::Image(ImageSource::local(lxops_tests::BUSYBOX)),
            profiles: vec!["default".into()],
            config: Default::default(),
            devices: Default::default(),
            vm: false,
            description: String::new(),
        };
        let exists = block_on(server.create_instance(&again)).unwrap_err();
        assert!(exists.is_already_exists(), "{daemon}: create: {exists:?}");
        let taken = block_on(server.rename_instance(&other, &name)).unwrap_err();
        assert!(taken.is_already_exists(), "{daemon}: rename: {taken:?}");

        // A missing instance: absent on lookup, not found everywhere else.
        assert!(block_on(server.instance(&gone)).unwrap().is_none());
        let missing = [
            ("state", block_on(server.instance_state(&gone)).map(drop)),
            ("delete", block_on(server.delete_instance(&gone))),
            (
                "exec",
                block_on(server.exec(&gone, &ExecRequest::argv(&["true"]))).map(drop),
            ),
            (
                "read",
                block_on(server.read_file(&gone, "/etc/hostname")).map(drop),
            ),
        ];
        for (what, result) in missing {
            match result {
                Err(ServerError::NotFound { what: object }) => assert!(
                    object.contains(&format!("instance {gone:?}")),
                    "{daemon}: {what}: {object}"
                ),
                other => panic!("{daemon}: {what}: not a missing instance: {other:?}"),
            }
        }

        // A missing file in an existing instance is absent, not an error.
        assert_eq!(
            block_on(server.read_file(&name, "/no/such/file")).unwrap(),
            None,
            "{daemon}"
        );
        let file = block_on(server.read_file(&name, "/etc/lxops-test-release"))
            .unwrap()
            .expect("the release marker");
        assert_eq!(String::from_utf8_lossy(&file.content).trim(), "v1");

        // A missing project is reported as one, wherever the 404 comes from.
        let project = unique_name("t-noproj");
        let nowhere = server.for_project(&project);
        let results = [
            ("instance", block_on(nowhere.instance(&name)).map(drop)),
            (
                "image",
                block_on(nowhere.image_fingerprint(&ImageSource::local(lxops_tests::BUSYBOX)))
                    .map(drop),
            ),
            ("profile", block_on(nowhere.profile("default")).map(drop)),
            (
                "read",
                block_on(nowhere.read_file(&name, "/etc/hostname")).map(drop),
            ),
            (
                "create",
                block_on(nowhere.create_instance(&again)).map(drop),
            ),
        ];
        for (what, result) in results {
            match result {
                Err(ServerError::MissingProject { project: p, .. }) => assert_eq!(p, project),
                other => panic!("{daemon}: {what}: not a missing project: {other:?}"),
            }
        }
    }
}

#[test]
fn launch_into_a_missing_project_names_the_project() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-noproj");
        let project = unique_name("t-nosuch");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            dir.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\n",
                lxops_tests::BUSYBOX
            ),
        );
        let out = lxops(
            daemon,
            &["launch", "-name", &name, "-project", &project, &config],
        );
        assert_ne!(out.code, 0, "{daemon}: {out:?}");
        assert!(
            out.stderr
                .contains(&format!("project {project:?} does not exist")),
            "{daemon}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("image"),
            "{daemon}: not a missing image: {}",
            out.stderr
        );
        assert!(block_on(server.instance(&name)).unwrap().is_none());
    }
}

#[test]
fn a_guest_command_may_run_longer_than_the_api_timeout() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let name = unique_name("t-slow");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            dir.path(),
            "c.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\n",
                lxops_tests::BUSYBOX
            ),
        );
        lxops(daemon, &["launch", "-name", &name, &config]).ok();
        let connect = |exec_timeout: Option<Duration>| {
            let options = ConnectOptions {
                remote: None,
                timeout: Duration::from_secs(2),
                exec_timeout,
                ..daemon.options()
            };
            block_on(daemon.backend().connect(&options)).expect("connect")
        };
        let sleep = |seconds: &str| ExecRequest::argv(&["sleep", seconds]);

        let started = Instant::now();
        // Twice the API timeout.
        let out = block_on(connect(None).exec(&name, &sleep("4"))).expect("sleep 4");
        assert_eq!(out.status, 0, "{daemon}");
        assert!(started.elapsed() >= Duration::from_secs(4), "{daemon}");

        let started = Instant::now();
        let limited = connect(Some(Duration::from_secs(1)));
        let err = block_on(limited.exec(&name, &sleep("8"))).unwrap_err();
        assert!(
            matches!(err, ServerError::Timeout { .. })
                && err.to_string().contains("--exec-timeout"),
            "{daemon}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{daemon}: bounded"
        );
    }
}

/// The API timeout the fault tests give lxops (seconds): short, so stalls end fast.
const TIMEOUT: &str = "8";

/// Runs `lxops --socket PROXY --timeout 8 ARGS...` on a thread, failing the test if it does
/// not end within a minute (a hang).
fn through(proxy: &FaultProxy, daemon: Daemon, args: &[&str]) -> (Outcome, Duration) {
    let mut argv: Vec<String> = vec![
        "--socket".into(),
        proxy.socket().display().to_string(),
        "--timeout".into(),
        TIMEOUT.into(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let (done, result) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        let _ = done.send(lxops(daemon, &args));
    });
    let outcome = result
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{daemon}: lxops {args:?} hung (no end within 60 s)"));
    (outcome, started.elapsed())
}

/// A busybox config file named after the instance (`DIR/NAME.yaml`).
fn busybox_config(dir: &std::path::Path, name: &str) -> String {
    write_config(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "#lxops-v1\nostype: alpine\nimage: {}\n",
            lxops_tests::BUSYBOX
        ),
    )
}

/// One fault case: the rules, what the first launch must do, and whether a re-run is needed.
struct Case {
    what: &'static str,
    rules: fn(&str) -> Vec<Rule>,
    /// `None`: the first launch succeeds (a bounded retry); else the text its error shows.
    error: Option<&'static str>,
    /// The proxy outcome (`reset`, `status 503`, ...) and how often it must have happened.
    injected: (&'static str, usize),
}

fn instance_get(name: &str) -> String {
    format!("/1.0/instances/{name}?")
}

/// Every fault on one launch, on both daemons: a clear error or a bounded retry, never a hang;
/// after an error nothing is half-done and the same launch, re-run, completes.
#[test]
fn each_fault_gives_a_clear_error_or_a_bounded_retry_and_a_rerun_completes() {
    let cases = [
        Case {
            what: "a reset read is retried",
            rules: |name| {
                vec![Rule::new(
                    Some("GET"),
                    &instance_get(name),
                    Fault::ResetMidResponse,
                    2,
                )]
            },
            error: None,
            injected: ("reset", 2),
        },
        Case {
            what: "a reset change is reported, not retried",
            rules: |_| {
                vec![Rule::new(
                    Some("POST"),
                    "/1.0/profiles?",
                    Fault::ResetMidResponse,
                    1,
                )]
            },
            error: Some("the daemon may have carried it out"),
            injected: ("reset", 1),
        },
        Case {
            what: "a stalled reply times out",
            rules: |name| vec![Rule::new(Some("GET"), &instance_get(name), Fault::Stall, 1)],
            error: Some("timed out after 8s reading instance"),
            injected: ("stall", 1),
        },
        Case {
            what: "HTTP 500 is reported with the daemon's text",
            rules: |name| {
                vec![Rule::new(
                    Some("GET"),
                    &instance_get(name),
                    Fault::Status(500),
                    1,
                )]
            },
            error: Some("injected by the fault proxy"),
            injected: ("status 500", 1),
        },
        Case {
            what: "HTTP 503 on a read is retried",
            rules: |name| {
                vec![Rule::new(
                    Some("GET"),
                    &instance_get(name),
                    Fault::Status(503),
                    2,
                )]
            },
            error: None,
            injected: ("status 503", 2),
        },
        Case {
            what: "HTTP 503 on a create is reported, not retried",
            rules: |_| {
                vec![Rule::new(
                    Some("POST"),
                    "/1.0/instances?",
                    Fault::Status(503),
                    1,
                )]
            },
            error: Some("the daemon is not ready"),
            injected: ("status 503", 1),
        },
        Case {
            what: "a truncated JSON body is reported",
            rules: |name| {
                vec![Rule::new(
                    Some("GET"),
                    &instance_get(name),
                    Fault::TruncateJson,
                    1,
                )]
            },
            error: Some("is not a JSON envelope"),
            injected: ("truncate", 1),
        },
        Case {
            what: "an operation that never finishes times out",
            rules: |name| {
                vec![Rule::new(
                    Some("PUT"),
                    &format!("/1.0/instances/{name}/state"),
                    Fault::StallOperation,
                    1,
                )]
            },
            error: Some("starting instance"),
            injected: ("stall", 1),
        },
    ];
    for daemon in DAEMONS {
        let server = server(daemon);
        let proxy = FaultProxy::start(&daemon.socket());
        let dir = tempfile::tempdir().expect("tempdir");
        for case in &cases {
            let name = unique_name("t-fault");
            let _cleanup = Cleanup::new(&server, &[&name]);
            let config = busybox_config(dir.path(), &name);
            for rule in (case.rules)(&name) {
                proxy.add(rule);
            }
            let before = proxy.count(case.injected.0);
            let (first, took) = through(&proxy, daemon, &["launch", &config]);
            let what = format!("{daemon}: {}", case.what);
            assert!(
                !first.stderr.contains("panicked"),
                "{what}: {}",
                first.stderr
            );
            assert_eq!(
                proxy.count(case.injected.0) - before,
                case.injected.1,
                "{what}: {:#?}",
                proxy.log()
            );
            assert!(
                took < Duration::from_secs(40),
                "{what}: bounded, took {took:?}"
            );
            proxy.clear();
            match case.error {
                None => {
                    first.ok();
                }
                Some(text) => {
                    let first = first.fails(1, text);
                    assert!(
                        first.stderr.contains(&name),
                        "{what}: the error names the instance: {}",
                        first.stderr
                    );
                    through(&proxy, daemon, &["launch", &config]).0.ok();
                }
            }
            let state =
                block_on(server.instance_state(&name)).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(state.status, "Running", "{what}");
        }
    }
}

#[test]
fn connection_refused_is_a_clear_error_and_a_rerun_completes() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let proxy = FaultProxy::start(&daemon.socket());
        let dir = tempfile::tempdir().expect("tempdir");
        let name = unique_name("t-refused");
        let _cleanup = Cleanup::new(&server, &[&name]);
        let config = busybox_config(dir.path(), &name);
        let outage = Duration::from_secs(4);
        let down = Instant::now();
        proxy.restart(outage);
        std::thread::sleep(Duration::from_millis(200));
        let (out, took) = through(&proxy, daemon, &["launch", &config]);
        let out = out.fails(1, "cannot connect to");
        assert!(
            out.stderr.contains(&proxy.socket().display().to_string())
                && out.stderr.contains("hint:"),
            "{daemon}: names the socket, with a hint: {}",
            out.stderr
        );
        assert!(
            took < Duration::from_secs(3),
            "{daemon}: fails at once, took {took:?}"
        );
        std::thread::sleep(outage.saturating_sub(down.elapsed()));
        through(&proxy, daemon, &["launch", &config]).0.ok();
        assert!(block_on(server.instance(&name)).unwrap().is_some());
    }
}

#[test]
fn a_daemon_restart_in_the_middle_of_a_fleet_launch_is_survived() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let proxy = FaultProxy::start(&daemon.socket());
        let dir = tempfile::tempdir().expect("tempdir");
        let names = [unique_name("t-fleet"), unique_name("t-fleet")];
        let _cleanup = Cleanup::new(&server, &[&names[0], &names[1]]);
        let configs: Vec<String> = names
            .iter()
            .map(|name| busybox_config(dir.path(), name))
            .collect();
        // The first operation wait cuts every connection and refuses new ones for 3 s.
        proxy.add(Rule::new(
            Some("GET"),
            "/wait",
            Fault::Restart(Duration::from_secs(3)),
            1,
        ));
        let (out, took) = through(
            &proxy,
            daemon,
            &["launch", "-j", "1", &configs[0], &configs[1]],
        );
        assert_eq!(proxy.count("restart"), 1, "{daemon}: {:#?}", proxy.log());
        out.ok();
        assert!(
            took >= Duration::from_secs(3),
            "{daemon}: waited out the restart"
        );
        for name in &names {
            let state = block_on(server.instance_state(name)).expect("state");
            assert_eq!(state.status, "Running", "{daemon}: {name}");
        }
    }
}
