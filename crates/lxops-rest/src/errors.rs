//! Mapping daemon errors onto [`ServerError`] variants.

use lxops_core::server::ServerError;

/// What a failed call was about, for error messages.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// What lxops was doing (`creating instance "a1"`).
    pub context: &'a str,
    /// The object concerned (`instance "a1"`), used for not-found / already-exists errors.
    pub what: &'a str,
}

/// Maps an error reply (sync error envelope) onto a [`ServerError`].
pub fn api_error(subject: &Subject<'_>, code: u16, message: &str) -> ServerError {
    classify(subject, code, message).unwrap_or_else(|| ServerError::Api {
        context: subject.context.to_string(),
        status: code,
        message: message.to_string(),
    })
}

/// Maps a failed background operation onto a [`ServerError`].
pub fn operation_error(subject: &Subject<'_>, code: u16, message: &str) -> ServerError {
    classify(subject, code, message).unwrap_or_else(|| ServerError::OperationFailed {
        context: subject.context.to_string(),
        message: message.to_string(),
    })
}

fn classify(subject: &Subject<'_>, code: u16, message: &str) -> Option<ServerError> {
    let lower = message.to_ascii_lowercase();
    if code == 409
        || lower.contains("already exists")
        || lower.contains("already in use")
        || lower.contains("unique constraint failed")
    {
        return Some(ServerError::AlreadyExists {
            what: subject.what.to_string(),
        });
    }
    if code == 404 || lower.contains("not found") {
        return Some(ServerError::NotFound {
            what: subject.what.to_string(),
        });
    }
    None
}
