//! Mapping daemon errors onto [`ServerError`] variants, by status code and by which request
//! failed, not by message text.
//!
//! Both daemons send the HTTP status as the envelope's `error_code` (verified on LXD 5.0.2 and
//! Incus 6.0.4). What a code means depends on the request:
//!
//! | code | reading / changing / deleting `what` | creating `what` |
//! |------|--------------------------------------|-----------------|
//! | 404  | `what` not found                     | something it needs is missing (image alias, project): an API error with the daemon's text |
//! | 409  | `what` already exists (a rename's target name is taken) | `what` already exists |
//! | 403  | permission denied, with a hint       | the same |
//! | 503  | the daemon is not ready (retried by the caller where safe) | the same |
//! | else | an API error with the daemon's text  | the same |
//!
//! A 404 never says *which* object is missing (LXD 5.0.2 answers "Instance not found" for a
//! missing project too); `RestServer` checks the project (and, for the files API, the instance)
//! before it reports a 404 as a missing object.
//!
//! One message match remains, where the daemons give no other signal: a duplicate on create.
//! LXD 5.0.2 and Incus 6.0.4 send HTTP 500 for an existing profile ("The profile already
//! exists"), and a failed operation (LXD: no code, Incus: 500) for an existing instance or
//! snapshot ("This \"instances\" entry already exists" / "UNIQUE constraint failed"). Only
//! create requests look at the text.

use hyper::Method;
use lxops_core::server::ServerError;

/// Which kind of request failed; it decides what a 404 or 409 means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Reading `what` (`GET`, `HEAD`): 404 means `what` is missing.
    Read,
    /// Creating `what` (`POST` to a collection): 409 means it exists, 404 that something it
    /// needs is missing.
    Create,
    /// Changing, renaming or deleting an existing `what`, or running a command in it (`PUT`,
    /// `PATCH`, `DELETE`, `POST` to an object): 404 means `what` is missing.
    Change,
}

/// The last path segments of a `POST` that creates something.
const COLLECTIONS: &[&str] = &["instances", "profiles", "snapshots", "images", "aliases"];

impl Request {
    /// The kind of request `method path` is (`path` may carry a query).
    pub fn of(method: &Method, path: &str) -> Request {
        let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
        let last = path.rsplit('/').next().unwrap_or(path);
        match *method {
            Method::GET | Method::HEAD => Request::Read,
            Method::POST if COLLECTIONS.contains(&last) => Request::Create,
            _ => Request::Change,
        }
    }
}

/// What a failed call was about, for error messages.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// What lxops was doing (`creating instance "a1"`).
    pub context: &'a str,
    /// The object concerned (`instance "a1"`), used for not-found / already-exists errors.
    pub what: &'a str,
    /// Which kind of request it was.
    pub request: Request,
}

impl<'a> Subject<'a> {
    /// The subject of `method path`.
    pub fn of(method: &Method, path: &str, context: &'a str, what: &'a str) -> Self {
        Subject {
            context,
            what,
            request: Request::of(method, path),
        }
    }
}

/// Maps an error reply (sync error envelope) onto a [`ServerError`].
pub fn api_error(subject: &Subject<'_>, code: u16, message: &str) -> ServerError {
    classify(subject, code, message).unwrap_or_else(|| ServerError::Api {
        context: subject.context.to_string(),
        status: code,
        message: explain(code, message),
    })
}

/// Maps a failed background operation onto a [`ServerError`].
pub fn operation_error(subject: &Subject<'_>, code: u16, message: &str) -> ServerError {
    classify(subject, code, message).unwrap_or_else(|| ServerError::OperationFailed {
        context: subject.context.to_string(),
        message: message.to_string(),
    })
}

/// Whether a reply with this code is worth the same request again after a pause: the daemon
/// is starting or shutting down (503).
pub fn is_not_ready(code: u16) -> bool {
    code == 503
}

/// What a cluster member answers for a request it must forward to another member that is
/// down or just restarting (Incus 6.0, LXD 5.0): the request did not reach that member.
const MEMBER_UNREACHABLE: &[&str] = &[
    "Server isn't ready yet",
    "Missing event connection with target cluster member",
];

/// Whether a reply (or error) text says another cluster member could not be reached: worth
/// the same request again after a pause (a restarted member is reconnected on the next
/// heartbeat), and, if that does not help, a member-offline error.
pub fn is_member_unreachable(text: &str) -> bool {
    MEMBER_UNREACHABLE.iter().any(|m| text.contains(m))
}

fn classify(subject: &Subject<'_>, code: u16, message: &str) -> Option<ServerError> {
    match (subject.request, code) {
        // Change: a rename whose target name is taken (`Name "x" already in use`).
        (Request::Create | Request::Change, 409) => Some(already_exists(subject)),
        (Request::Create, 400 | 500) if is_duplicate_text(message) => Some(already_exists(subject)),
        (Request::Read | Request::Change, 404) => Some(ServerError::NotFound {
            what: subject.what.to_string(),
        }),
        _ => None,
    }
}

fn already_exists(subject: &Subject<'_>) -> ServerError {
    ServerError::AlreadyExists {
        what: subject.what.to_string(),
    }
}

/// The daemons' duplicate texts on create (see the module docs; LXD 5.0.2, Incus 6.0.4).
fn is_duplicate_text(message: &str) -> bool {
    message.contains("already exists") || message.contains("UNIQUE constraint failed")
}

/// What to do about a 403 on the unix socket.
const LOCAL_FORBIDDEN: &str =
    "permission denied: run as root or as a member of the daemon's admin group";

/// A 403 from a remote over HTTPS: the daemon trusts the client certificate (the connect
/// checked that), but its trust entry does not allow this (restricted to other projects).
/// Other errors are returned as they are.
pub fn remote_forbidden(error: ServerError, remote: &str, dialect: &crate::Dialect) -> ServerError {
    match error {
        ServerError::Api {
            context,
            status: 403,
            message,
        } => ServerError::Api {
            context,
            status: 403,
            message: format!(
                "{} (the trust entry of this client's certificate on remote {remote:?} does not \
                 allow it, e.g. it is restricted to other projects: see `{} config trust list` \
                 on the server)",
                message.trim_end_matches(&format!(" ({LOCAL_FORBIDDEN})")),
                dialect.cli
            ),
        },
        other => other,
    }
}

/// The daemon's text, with what to do for the codes that have one answer.
fn explain(code: u16, message: &str) -> String {
    match code {
        403 => format!("{message} ({LOCAL_FORBIDDEN})"),
        503 => format!(
            "{message} (the daemon is not ready: wait for it to start, then run the command again)"
        ),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_member_unreachable;

    #[test]
    fn forwarding_failures_of_a_cluster_are_recognised() {
        for (text, unreachable) in [
            ("Server isn't ready yet", true),
            (
                "Failed checking instance exists \"local:a\": Missing event connection with \
                 target cluster member",
                true,
            ),
            ("Instance not found", false),
            ("Cluster member \"m9\" not found", false),
        ] {
            assert_eq!(is_member_unreachable(text), unreachable, "{text}");
        }
    }
}
