//! How lxops reads the daemons' error replies and survives transport faults, on both daemons:
//! the statuses the real daemons send (an instance that exists, a missing instance, file or
//! project) map to the right error, and guest commands are not cut off by the API timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lxops_core::server::{
    ConnectOptions, ExecRequest, ImageSource, InstanceServer, InstanceSource, NewInstance,
    ServerError,
};

use crate::cli::{block_on, lxops, server, write_config, Cleanup};
use lxops_tests::{unique_name, DAEMONS};

/// A stopped busybox instance named `name` (created directly, no lxops profile).
fn create_stopped(server: &Arc<dyn InstanceServer>, name: &str) {
    let new = NewInstance {
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
            ("create", block_on(nowhere.create_instance(&again))),
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
                timeout: Duration::from_secs(1),
                exec_timeout,
                ..daemon.options()
            };
            block_on(daemon.backend().connect(&options)).expect("connect")
        };
        let sleep = |seconds: &str| ExecRequest::argv(&["sleep", seconds]);

        let started = Instant::now();
        let out = block_on(connect(None).exec(&name, &sleep("3"))).expect("sleep 3");
        assert_eq!(out.status, 0, "{daemon}");
        assert!(started.elapsed() >= Duration::from_secs(3), "{daemon}");

        let started = Instant::now();
        let limited = connect(Some(Duration::from_secs(1)));
        let err = block_on(limited.exec(&name, &sleep("6"))).unwrap_err();
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
