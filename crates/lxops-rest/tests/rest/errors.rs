//! Mapping daemon errors onto `ServerError` variants.

use lxops_rest::errors::{api_error, operation_error, Subject};

#[test]
fn errors_map_to_not_found_already_exists_or_api() {
    let subject = Subject {
        context: "doing it",
        what: "thing \"x\"",
    };
    // (code, daemon message, expected Display of the mapped error)
    let cases = [
        (404, "Instance not found", "thing \"x\" not found"),
        (500, "Failed to fetch instance \"x\" in project \"default\": Instance not found", "thing \"x\" not found"),
        (404, "not found", "thing \"x\" not found"),
        (409, "Name \"fx-c1\" already in use", "thing \"x\" already exists"),
        (500, "Error inserting \"fx-p1\" into database: The profile already exists", "thing \"x\" already exists"),
        (500, "Failed creating instance record: Add instance info to the database: Failed to create \"instances\" entry: UNIQUE constraint failed: instances.project_id, instances.name", "thing \"x\" already exists"),
        (400, "Instance is running", "doing it: Instance is running"),
        (500, "Profile is currently in use", "doing it: Profile is currently in use"),
    ];
    for (code, message, expected) in cases {
        assert_eq!(
            api_error(&subject, code, message).to_string(),
            expected,
            "{message}"
        );
    }
    let failed = operation_error(&subject, 400, "Image not provided for instance creation");
    assert!(matches!(
        failed,
        lxops_core::server::ServerError::OperationFailed { .. }
    ));
    assert_eq!(
        failed.to_string(),
        "doing it: Image not provided for instance creation"
    );
}
