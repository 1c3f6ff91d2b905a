//! The daemons' JSON reply envelopes (sync, async, error) and background operations.
//!
//! Replies are classified from the body's `type` field, never from the HTTP status alone:
//! Incus reports a failed or timed-out operation wait as an error envelope under HTTP 200,
//! while LXD reports it as a sync envelope whose operation has `status: "Failure"`.

use serde::Deserialize;
use serde_json::Value;

/// The raw envelope every JSON reply is wrapped in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Envelope {
    /// `sync`, `async` or `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `/1.0/operations/<id>` for async replies.
    pub operation: String,
    /// The HTTP-like code of an error reply.
    pub error_code: u16,
    /// The error text of an error reply.
    pub error: String,
    /// The payload.
    pub metadata: Value,
}

/// A classified reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A direct answer.
    Sync(Value),
    /// A background operation was started.
    Async(Operation),
    /// The daemon refused or failed.
    Error {
        /// `error_code`, or the HTTP status when the envelope has none.
        code: u16,
        /// The daemon's message.
        message: String,
    },
}

/// A background operation object.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Operation {
    /// Operation id (a UUID).
    pub id: String,
    /// `task`, `websocket` or `token`.
    pub class: String,
    /// What it does ("Creating instance").
    pub description: String,
    /// `Running`, `Success`, `Failure` or `Cancelled`.
    pub status: String,
    /// The operation's result data (exec `return`, publish `fingerprint`, ...).
    pub metadata: Option<Value>,
    /// The failure text.
    pub err: String,
    /// The cluster member that ran it (`none` or empty on a standalone daemon).
    pub location: String,
}

/// How a wait for an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// The operation succeeded.
    Success(Operation),
    /// It is still running (the wait timed out on LXD).
    Running(Operation),
    /// It failed. `operation` is present when the daemon sent the operation object (LXD).
    Failure {
        /// The failed operation, when known.
        operation: Option<Operation>,
        /// Error code (400 when the daemon gave none).
        code: u16,
        /// Failure text.
        message: String,
    },
}

/// Parses and classifies a reply body. `http_status` is used only when the envelope lacks an
/// error code.
pub fn parse_reply(http_status: u16, body: &[u8]) -> Result<Reply, String> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        // `{:?}`: control characters in the reply are escaped, not sent to the terminal.
        format!(
            "the daemon's reply (HTTP {http_status}) is not a JSON envelope ({e}; it may have \
             been cut short: run the command again); it begins {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    match envelope.kind.as_str() {
        "sync" => Ok(Reply::Sync(envelope.metadata)),
        "async" => {
            let mut op: Operation = serde_json::from_value(envelope.metadata)
                .map_err(|e| format!("bad operation in async reply: {e}"))?;
            if op.id.is_empty() {
                op.id = operation_id(&envelope.operation).to_string();
            }
            Ok(Reply::Async(op))
        }
        "error" => Ok(Reply::Error {
            code: if envelope.error_code != 0 {
                envelope.error_code
            } else {
                http_status
            },
            message: envelope.error,
        }),
        other => Err(format!("unknown reply type {other:?} (HTTP {http_status})")),
    }
}

/// The id at the end of an operation URL (`/1.0/operations/<id>`).
pub fn operation_id(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Classifies the reply of `GET /1.0/operations/<id>/wait`.
pub fn wait_outcome(reply: Reply) -> Result<OpOutcome, String> {
    match reply {
        Reply::Sync(value) => {
            let op: Operation = serde_json::from_value(value)
                .map_err(|e| format!("bad operation in wait reply: {e}"))?;
            Ok(match op.status.as_str() {
                "Success" => OpOutcome::Success(op),
                "Running" | "Pending" => OpOutcome::Running(op),
                _ => OpOutcome::Failure {
                    code: 400,
                    message: if op.err.is_empty() {
                        format!("operation ended with status {}", op.status)
                    } else {
                        op.err.clone()
                    },
                    operation: Some(op),
                },
            })
        }
        Reply::Error { code, message } => Ok(OpOutcome::Failure {
            operation: None,
            code,
            message,
        }),
        Reply::Async(op) => Err(format!(
            "unexpected async reply while waiting for operation {}",
            op.id
        )),
    }
}

/// Whether an Incus wait error means the wait itself ran out of time. Incus 6.0.4 sends it as
/// error code 500, like a failed operation; the caller asks the operation itself first and
/// reads the text only when the operation can no longer be read.
pub fn is_wait_deadline(message: &str) -> bool {
    message.contains("context deadline exceeded")
}
