//! Machine-readable output (`--format json|csv`) on both daemons: the run summary of a fleet,
//! `status`, and the `instance` and `profile` listings, each parsed back.

use serde_json::Value;

use crate::cli::{lxops, write_config};
use lxops_tests::{unique_name, Cleanup, DAEMONS};

/// Parses stdout as a JSON array.
#[track_caller]
fn array(stdout: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(stdout) {
        Ok(Value::Array(rows)) => rows,
        other => panic!("not a JSON array ({other:?}):\n{stdout}"),
    }
}

/// The values of `key` in `rows`, as text.
fn column(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn json_output_of_a_fleet_run_status_instance_and_profile_parses_back() {
    for daemon in DAEMONS {
        let [a, b] = ["t-json", "t-json"].map(unique_name);
        let mut cleanup = Cleanup::new(daemon);
        for name in [&a, &b] {
            cleanup.instance(name);
            cleanup.profile(&format!("{name}.lxops"));
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().display().to_string();
        let config = write_config(
            tmp.path(),
            "web.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\nprofiles: [default]\nfilesystems:\n  data:\n    pattern: {root}/(instance)\ndevices:\n  srv:\n    path: /srv\n    filesystem: data\n",
                lxops_tests::BUSYBOX
            ),
        );
        let names = format!("{a},{b}");

        // The run summary alone on stdout; the instance lines go to stderr.
        let run = lxops(
            daemon,
            &[
                "launch", "-j", "2", "-format", "json", "-name", &names, &config,
            ],
        )
        .ok();
        let summary = array(&run.stdout);
        assert_eq!(
            column(&summary, "instance"),
            [a.clone(), b.clone()],
            "{daemon}"
        );
        assert_eq!(column(&summary, "result"), ["ok", "ok"], "{daemon}");
        assert!(
            summary
                .iter()
                .all(|r| r["duration_seconds"].as_f64() > Some(0.0)),
            "{daemon}: {summary:?}"
        );
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&format!("{a}: "))),
            "{daemon}: instance lines on stderr:\n{}",
            run.stderr
        );

        // status: one row per matching instance, no difference.
        let status = lxops(
            daemon,
            &["status", "--format", "json", "-name", &names, &config],
        )
        .ok();
        let rows = array(&status.stdout);
        assert_eq!(
            column(&rows, "instance"),
            [a.clone(), b.clone()],
            "{daemon}"
        );
        assert_eq!(column(&rows, "state"), ["Running", "Running"], "{daemon}");
        assert_eq!(column(&rows, "kind"), ["null", "null"], "{daemon}");

        // Drift: a's device directory is gone; the kind names it, exit status 3.
        std::fs::remove_dir(tmp.path().join(&a).join("srv")).expect("remove device dir");
        let drifted = lxops(
            daemon,
            &["status", "--format", "json", "-name", &names, &config],
        )
        .fails(3, "1 of 2 instances differ");
        let rows = array(&drifted.stdout);
        assert_eq!(
            column(&rows, "kind"),
            ["device-dir-missing", "null"],
            "{daemon}: {rows:?}"
        );
        let csv =
            lxops(daemon, &["status", "--format", "csv", "-name", &a, &config]).fails(3, "1 of 1");
        assert_eq!(
            csv.stdout.lines().next(),
            Some("instance,project,state,location,kind,difference"),
            "{daemon}"
        );

        // instance profiles|devices|info.
        let profiles = array(
            &lxops(daemon, &["instance", "profiles", "-format", "json", &a])
                .ok()
                .stdout,
        );
        assert_eq!(
            column(&profiles, "profile"),
            ["default".to_string(), format!("{a}.lxops")],
            "{daemon}"
        );
        let devices = array(
            &lxops(daemon, &["instance", "devices", "--format", "json", &a, &b])
                .ok()
                .stdout,
        );
        assert_eq!(column(&devices, "name"), ["srv", "srv"], "{daemon}");
        assert_eq!(column(&devices, "path"), ["/srv", "/srv"], "{daemon}");
        let info = array(
            &lxops(daemon, &["instance", "info", "--format", "json", &b])
                .ok()
                .stdout,
        );
        assert_eq!(info[0]["name"], b.as_str(), "{daemon}");
        assert_eq!(info[0]["status"], "Running", "{daemon}");
        assert_eq!(
            info[0]["expanded_devices"]["srv"]["path"], "/srv",
            "{daemon}"
        );

        // profile list|diff: the config's profiles, and no difference.
        let listed = array(
            &lxops(
                daemon,
                &["profile", "list", "--format", "json", "-name", &a, &config],
            )
            .ok()
            .stdout,
        );
        assert_eq!(
            column(&listed, "profile"),
            ["default".to_string(), format!("{a}.lxops")],
            "{daemon}"
        );
        let diff = array(
            &lxops(
                daemon,
                &[
                    "profile", "diff", "--format", "json", "-name", &names, &config,
                ],
            )
            .ok()
            .stdout,
        );
        assert!(diff.is_empty(), "{daemon}: {diff:?}");

        // The summary of a quiet destroy: only the summary, nothing on stderr.
        let destroy = lxops(
            daemon,
            &[
                "destroy", "-q", "--force", "--format", "json", "-name", &names, &config,
            ],
        )
        .ok();
        assert_eq!(
            column(&array(&destroy.stdout), "result"),
            ["ok", "ok"],
            "{daemon}"
        );
        assert_eq!(destroy.stderr, "", "{daemon}");
    }
}

/// Runs the real binary for `daemon` in a pseudo-terminal (`script`), with `env` added;
/// returns everything the terminal received and the exit status.
fn in_terminal(daemon: lxops_tests::Daemon, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    // A hang (live lines and logs waiting on each other) fails the test instead of blocking it.
    let mut line = format!(
        "timeout 120 {}",
        lxops_tests::lxops_binary(daemon).display()
    );
    for arg in args {
        line.push(' ');
        line.push_str(&format!("'{}'", arg.replace('\'', r"'\''")));
    }
    let mut command = std::process::Command::new("script");
    command
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm");
    for (key, value) in env {
        command.env(key, value);
    }
    command.env_remove("NO_COLOR");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("running script");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        output.status.code().unwrap_or(-1),
    )
}

#[test]
fn on_a_terminal_each_running_instance_has_a_live_line_and_the_summary_ends_the_run() {
    for daemon in DAEMONS {
        let [a, b] = ["t-live", "t-live"].map(unique_name);
        let mut cleanup = Cleanup::new(daemon);
        for name in [&a, &b] {
            cleanup.instance(name);
            cleanup.profile(&format!("{name}.lxops"));
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            tmp.path(),
            "web.yaml",
            &format!(
                "#lxops-v1\nostype: alpine\nimage: {}\n",
                lxops_tests::BUSYBOX
            ),
        );
        let names = format!("{a},{b}");
        let (screen, code) = in_terminal(
            daemon,
            &["launch", "-j", "2", "-name", &names, &config],
            &[],
        );
        assert_eq!(code, 0, "{daemon}:\n{screen}");
        // A live line: the instance padded to the longest name, seconds, the step.
        for name in [&a, &b] {
            assert!(
                screen.contains(&format!("\u{1b}[1m{name}"))
                    && screen.contains("s  create instance"),
                "{daemon}: no live line for {name}:\n{screen:?}"
            );
        }
        assert!(
            screen.contains("\u{1b}["),
            "{daemon}: live lines redraw:\n{screen:?}"
        );
        assert!(
            screen.contains("\u{1b}[1m"),
            "{daemon}: the name is bold:\n{screen:?}"
        );
        // The summary ends the run, after the instances' own lines.
        let summary = screen.rfind("INSTANCE").expect("a summary");
        assert!(
            screen[summary..].contains(&format!("{b}  launch   ok")),
            "{daemon}:\n{screen}"
        );
        assert!(
            screen.contains(&format!("{a}: start instance {a}")),
            "{daemon}:\n{screen}"
        );

        // NO_COLOR: the same live lines without colour; -q: only the summary.
        let (screen, code) = in_terminal(
            daemon,
            &["destroy", "--force", "-j", "2", "-name", &names, &config],
            &[("NO_COLOR", "1")],
        );
        assert_eq!(code, 0, "{daemon}:\n{screen}");
        assert!(
            !screen.contains("\u{1b}[1m"),
            "{daemon}: NO_COLOR:\n{screen:?}"
        );
        assert!(
            !screen.contains("\u{1b}[36m"),
            "{daemon}: NO_COLOR:\n{screen:?}"
        );
        let (screen, code) = in_terminal(daemon, &["launch", "-q", "-name", &names, &config], &[]);
        assert_eq!(code, 0, "{daemon}:\n{screen}");
        assert!(
            !screen.contains(&format!("{a}: ")),
            "{daemon}: -q:\n{screen}"
        );
        assert!(
            !screen.contains("s  create instance"),
            "{daemon}: -q:\n{screen:?}"
        );
        assert!(
            screen.contains(&format!("{a}  launch   ok")),
            "{daemon}:\n{screen}"
        );

        // Failures are logged while live lines are on screen, and the run still ends.
        let (screen, code) = in_terminal(
            daemon,
            &["launch", "-j", "2", "-name", &names, &config],
            &[("NO_COLOR", "1")],
        );
        assert_eq!(code, 1, "{daemon}:\n{screen}");
        assert!(
            screen.contains(&format!("ERROR {a}: ")),
            "{daemon}:\n{screen}"
        );
        assert!(screen.contains("2 of 2 failed"), "{daemon}:\n{screen}");
    }
}
