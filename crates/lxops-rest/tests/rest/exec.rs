//! Exec: request bodies, the stdin wrapper, exit status and log URLs from recorded waits.

use expect_test::expect;
use lxops_core::server::ExecRequest;
use lxops_rest::envelope::{parse_reply, wait_outcome};
use lxops_rest::errors::{Request, Subject};
use lxops_rest::exec::{command_line, exec_body, exec_outcome, ExecResult};

use crate::fixture;

fn result_of(name: &str) -> ExecResult {
    let subject = Subject {
        context: "running",
        what: "instance",
        request: Request::Change,
    };
    let outcome = wait_outcome(parse_reply(200, &fixture(name)).unwrap()).unwrap();
    exec_outcome(outcome, &subject).unwrap()
}

#[test]
fn exit_status_and_logs_come_from_the_operation_metadata() {
    let lxd = result_of("lxd-exec-wait.json");
    assert_eq!(lxd.status, 3);
    assert!(lxd
        .stdout_log
        .unwrap()
        .starts_with("/1.0/instances/fx-c1/logs/exec_"));
    let incus = result_of("incus-exec-wait.json");
    assert_eq!(incus.status, 3);
    assert!(incus
        .stderr_log
        .unwrap()
        .starts_with("/1.0/instances/fx-c1/logs/exec-output/exec_"));
}

#[test]
fn command_not_found_is_status_127_on_both_daemons() {
    // LXD: a failed operation that still carries return 127 and its logs.
    let lxd = result_of("lxd-exec-not-found-wait.json");
    assert_eq!(lxd.status, 127);
    assert!(lxd.stdout_log.is_some());
    // Incus: a bare error envelope under HTTP 200.
    let incus = result_of("incus-exec-not-found-wait.json");
    assert_eq!(
        incus,
        ExecResult {
            status: 127,
            stdout_log: None,
            stderr_log: None
        }
    );
}

#[test]
fn recorded_stdout_is_the_raw_log() {
    assert_eq!(fixture("lxd-exec-stdout.txt"), b"out\n");
    assert_eq!(fixture("incus-exec-stdout.txt"), b"out\n");
}

#[test]
fn the_exec_body_records_output_without_websockets() {
    let mut request = ExecRequest::argv(&["id", "-u"]);
    request.env.insert("FOO".into(), "bar".into());
    request.uid = Some(1000);
    request.gid = Some(1000);
    request.cwd = Some("/tmp".into());
    let body = exec_body(&request, &request.argv);
    expect![[r#"{"command":["id","-u"],"cwd":"/tmp","environment":{"FOO":"bar"},"group":1000,"interactive":false,"record-output":true,"user":1000,"wait-for-websocket":false}"#]]
        .assert_eq(&body.to_string());
}

#[test]
fn a_status_only_exec_records_no_output() {
    let request = ExecRequest {
        discard_output: true,
        ..ExecRequest::argv(&["/bin/sh", "-c", "exit 0"])
    };
    let body = exec_body(&request, &request.argv);
    assert_eq!(body["record-output"], false, "{body}");
    // Without recorded output the finished operation names no logs to fetch.
    let result =
        lxops_rest::exec::exec_result(Some(&serde_json::json!({"return": 0, "output": {}})))
            .expect("an exit status");
    assert_eq!(
        (result.status, result.stdout_log, result.stderr_log),
        (0, None, None)
    );
}

#[test]
fn stdin_is_fed_from_a_pushed_file_through_sh() {
    let request = ExecRequest::argv(&["cat", "-n"]);
    assert_eq!(command_line(&request, None), vec!["cat", "-n"]);
    expect![[r#"["/bin/sh", "-c", "exec 0<\"$0\"; rm -f \"$0\"; exec \"$@\"", "/tmp/.lxops-stdin-1", "cat", "-n"]"#]]
        .assert_eq(&format!("{:?}", command_line(&request, Some("/tmp/.lxops-stdin-1"))));
}
