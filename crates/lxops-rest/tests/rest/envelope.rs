//! Envelope classification and operation wait outcomes, from recorded replies.

use lxops_rest::envelope::{parse_reply, wait_outcome, OpOutcome, Reply};

use crate::fixture;

fn summary(reply: &Reply) -> String {
    match reply {
        Reply::Sync(value) => format!("sync {}", value.as_object().map(|o| o.len()).unwrap_or(0)),
        Reply::Async(op) => format!("async {} {:?} {}", op.class, op.description, op.status),
        Reply::Error { code, message } => format!("error {code} {message}"),
    }
}

#[test]
fn replies_are_classified_from_the_body_type() {
    // (fixture, HTTP status the daemon sent, expected summary)
    let cases = [
        (
            "lxd-create-async.json",
            202,
            "async task \"Creating instance\" Running",
        ),
        (
            "incus-create-async.json",
            202,
            "async task \"Creating instance\" Running",
        ),
        (
            "incus-rebuild.json",
            202,
            "async task \"Rebuilding instance\" Running",
        ),
        (
            "lxd-error-instance-not-found.json",
            404,
            "error 404 Instance not found",
        ),
        (
            "lxd-create-missing-alias.json",
            404,
            "error 404 Image alias not found",
        ),
        ("lxd-rebuild.json", 404, "error 404 not found"),
        (
            "incus-delete-running.json",
            400,
            "error 400 Instance is running",
        ),
        // Incus sends a failed wait as an error envelope under HTTP 200.
        (
            "incus-wait-already-stopped.json",
            200,
            "error 400 The instance is already stopped",
        ),
        ("lxd-profile-create.json", 201, "sync 0"),
    ];
    for (name, status, expected) in cases {
        let reply = parse_reply(status, &fixture(name)).unwrap();
        assert_eq!(summary(&reply), expected, "{name}");
    }
}

#[test]
fn a_body_that_is_not_an_envelope_is_a_protocol_error() {
    let err = parse_reply(502, b"<html>bad gateway</html>").unwrap_err();
    assert!(err.contains("HTTP 502"), "{err}");
    assert!(err.contains("<html>"), "{err}");
}

fn outcome_summary(outcome: &OpOutcome) -> String {
    match outcome {
        OpOutcome::Success(op) => format!("success {}", op.description),
        OpOutcome::Running(op) => format!("running {}", op.description),
        OpOutcome::Failure {
            operation,
            code,
            message,
        } => format!(
            "failure {code} (op known: {}) {message}",
            operation.is_some()
        ),
    }
}

#[test]
fn waits_end_in_success_or_failure_on_both_daemons() {
    let cases = [
        ("lxd-wait-success.json", "success Creating instance"),
        ("incus-wait-success.json", "success Creating instance"),
        (
            "lxd-wait-failure.json",
            "failure 400 (op known: true) Failed creating instance record: Add instance info to the database: This \"instances\" entry already exists",
        ),
        (
            "incus-wait-failure.json",
            "failure 500 (op known: false) Failed creating instance record: Add instance info to the database: Failed to create \"instances\" entry: UNIQUE constraint failed: instances.project_id, instances.name",
        ),
        (
            "lxd-wait-already-stopped.json",
            "failure 400 (op known: true) The instance is already stopped",
        ),
        (
            "incus-create-missing-alias-wait.json",
            "failure 500 (op known: false) Image not provided for instance creation",
        ),
    ];
    for (name, expected) in cases {
        let reply = parse_reply(200, &fixture(name)).unwrap();
        let outcome = wait_outcome(reply).unwrap();
        assert_eq!(outcome_summary(&outcome), expected, "{name}");
    }
}

#[test]
fn an_lxd_wait_that_timed_out_reports_running() {
    let body = br#"{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{"id":"x","class":"task","description":"Stopping instance","status":"Running","status_code":103,"metadata":null,"err":""}}"#;
    let outcome = wait_outcome(parse_reply(200, body).unwrap()).unwrap();
    assert_eq!(outcome_summary(&outcome), "running Stopping instance");
}

/// Incus 6.0.4 (dir pool) refuses a native rebuild of an instance with snapshots and leaves
/// it intact; lxops refuses such rebuilds itself before asking (see `rebuild.rs`).
#[test]
fn incus_refuses_a_native_rebuild_of_an_instance_with_snapshots() {
    let reply = parse_reply(200, &fixture("incus-rebuild-with-snapshots-wait.json")).unwrap();
    assert_eq!(
        outcome_summary(&wait_outcome(reply).unwrap()),
        "failure 500 (op known: false) Failed rebuilding instance from image: Cannot remove an instance volume that has snapshots"
    );
}

#[test]
fn a_reply_that_is_not_json_is_reported_with_control_characters_escaped() {
    let cases: [(&[u8], &str); 2] = [
        (
            b"{\"type\":\"sync\",\"meta",
            r#"the daemon's reply (HTTP 200) is not a JSON envelope (EOF while parsing a string at line 1 column 20; it may have been cut short: run the command again); it begins "{\"type\":\"sync\",\"meta""#,
        ),
        (
            b"\x1b[2J\x1b]0;pwned\x07",
            r#"the daemon's reply (HTTP 200) is not a JSON envelope (expected value at line 1 column 1; it may have been cut short: run the command again); it begins "\u{1b}[2J\u{1b}]0;pwned\u{7}""#,
        ),
    ];
    for (body, expected) in cases {
        let error = parse_reply(200, body).unwrap_err();
        assert_eq!(error, expected);
        assert!(!error.contains('\x1b'));
    }
}
