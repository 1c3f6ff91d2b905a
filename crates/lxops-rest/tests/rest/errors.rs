//! Mapping daemon errors onto `ServerError` variants: by status code and request kind.

use expect_test::expect;
use hyper::Method;
use lxops_rest::errors::{api_error, operation_error, Request, Subject};

#[test]
fn the_request_kind_comes_from_the_method_and_path() {
    let cases = [
        (Method::GET, "/1.0/instances/a1?project=p", Request::Read),
        (
            Method::HEAD,
            "/1.0/instances/a1/files?path=/x",
            Request::Read,
        ),
        (Method::POST, "/1.0/instances?project=p", Request::Create),
        (Method::POST, "/1.0/profiles", Request::Create),
        (Method::POST, "/1.0/instances/a1/snapshots", Request::Create),
        (Method::POST, "/1.0/images", Request::Create),
        (Method::POST, "/1.0/images/aliases", Request::Create),
        (Method::POST, "/1.0/instances/a1", Request::Change),
        (
            Method::POST,
            "/1.0/instances/a1/exec?project=p",
            Request::Change,
        ),
        (
            Method::POST,
            "/1.0/instances/a1/files?path=/x",
            Request::Change,
        ),
        (Method::PUT, "/1.0/instances/a1/state", Request::Change),
        (Method::DELETE, "/1.0/instances/a1", Request::Change),
    ];
    for (method, path, expected) in cases {
        assert_eq!(Request::of(&method, path), expected, "{method} {path}");
    }
}

#[test]
fn errors_map_by_status_and_request_not_by_text() {
    // (request, code, daemon message): texts recorded from LXD 5.0.2 and Incus 6.0.4.
    let cases = [
        (Request::Read, 404, "Instance not found"),
        (Request::Read, 404, "Project not found"),
        (Request::Change, 404, "Failed to fetch instance \"x\" in project \"default\": Instance not found"),
        (Request::Create, 404, "Image alias not found"),
        (Request::Create, 404, "Failed loading project: Project not found"),
        (Request::Change, 409, "Name \"fx-c1\" already in use"),
        (Request::Create, 409, "Alias \"rt-img\" already exists"),
        (Request::Create, 500, "Error inserting \"fx-p1\" into database: The profile already exists"),
        (Request::Create, 500, "Failed creating instance record: Add instance info to the database: Failed to create \"instances\" entry: UNIQUE constraint failed: instances.project_id, instances.name"),
        // The same texts outside a create are not read as "already exists" ...
        (Request::Change, 500, "The profile already exists"),
        // ... and "not found" in a text with another code is not a missing object.
        (Request::Read, 500, "Failed to fetch instance \"x\": Instance not found"),
        (Request::Change, 400, "Instance is running"),
        (Request::Change, 500, "Profile is currently in use"),
        (Request::Read, 403, "not authorized"),
        (Request::Create, 503, "LXD is shutting down"),
    ];
    let text: Vec<String> = cases
        .iter()
        .map(|(request, code, message)| {
            let subject = Subject {
                context: "doing it",
                what: "thing \"x\"",
                request: *request,
            };
            let error = api_error(&subject, *code, message);
            format!("{request:?} {code}: {error:?}")
        })
        .collect();
    expect![[r#"
        Read 404: NotFound { what: "thing \"x\"" }
        Read 404: NotFound { what: "thing \"x\"" }
        Change 404: NotFound { what: "thing \"x\"" }
        Create 404: Api { context: "doing it", status: 404, message: "Image alias not found" }
        Create 404: Api { context: "doing it", status: 404, message: "Failed loading project: Project not found" }
        Change 409: AlreadyExists { what: "thing \"x\"" }
        Create 409: AlreadyExists { what: "thing \"x\"" }
        Create 500: AlreadyExists { what: "thing \"x\"" }
        Create 500: AlreadyExists { what: "thing \"x\"" }
        Change 500: Api { context: "doing it", status: 500, message: "The profile already exists" }
        Read 500: Api { context: "doing it", status: 500, message: "Failed to fetch instance \"x\": Instance not found" }
        Change 400: Api { context: "doing it", status: 400, message: "Instance is running" }
        Change 500: Api { context: "doing it", status: 500, message: "Profile is currently in use" }
        Read 403: Api { context: "doing it", status: 403, message: "not authorized (permission denied: run as root or as a member of the daemon's admin group)" }
        Create 503: Api { context: "doing it", status: 503, message: "LXD is shutting down (the daemon is not ready: wait for it to start, then run the command again)" }"#]].assert_eq(&text.join("\n"));
}

#[test]
fn failed_operations_map_like_replies() {
    let subject = |request| Subject {
        context: "doing it",
        what: "thing \"x\"",
        request,
    };
    let cases = [
        (Request::Create, 400, "Image not provided for instance creation"),
        (Request::Create, 400, "Failed creating instance record: Add instance info to the database: This \"instances\" entry already exists"),
        (Request::Create, 500, "UNIQUE constraint failed: instances_snapshots.instance_id, instances_snapshots.name"),
        (Request::Change, 400, "Renaming of running instance not allowed"),
    ];
    let text: Vec<String> = cases
        .iter()
        .map(|(request, code, message)| {
            let error = operation_error(&subject(*request), *code, message);
            format!("{request:?} {code}: {error}")
        })
        .collect();
    expect![[r#"
        Create 400: doing it: Image not provided for instance creation
        Create 400: thing "x" already exists
        Create 500: thing "x" already exists
        Change 400: doing it: Renaming of running instance not allowed"#]]
    .assert_eq(&text.join("\n"));
}

#[test]
fn a_403_from_a_remote_points_at_its_trust_entry_not_at_the_admin_group() {
    let subject = Subject {
        context: "listing instances",
        what: "instances",
        request: Request::Read,
    };
    let local = api_error(&subject, 403, "not authorized");
    expect!["listing instances: not authorized (permission denied: run as root or as a member of the daemon's admin group)"]
        .assert_eq(&local.to_string());
    let remote = lxops_rest::errors::remote_forbidden(local, "prod", &crate::INCUS);
    expect!["listing instances: not authorized (the trust entry of this client's certificate on remote \"prod\" does not allow it, e.g. it is restricted to other projects: see `incus config trust list` on the server)"]
        .assert_eq(&remote.to_string());
    // Other errors pass unchanged.
    let missing = api_error(&subject, 404, "not found");
    let text = missing.to_string();
    assert_eq!(
        lxops_rest::errors::remote_forbidden(missing, "prod", &crate::INCUS).to_string(),
        text
    );
}
