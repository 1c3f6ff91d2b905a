//! Running commands without websockets: `record-output` exec, then the stdout/stderr logs are
//! read and deleted (or, when only the exit status matters, no output is recorded at all).
//!
//! In this mode the command's stdin is `/dev/null`, so stdin bytes are pushed to a temporary
//! file first and the command runs as `sh -c 'exec 0<"$0"; rm -f "$0"; exec "$@"' FILE ARGV...`
//! (the file is opened, removed, then the command replaces the shell).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use lxops_core::server::{ExecOutput, ExecRequest, FileWrite, ServerError, ServerResult};
use serde_json::{json, Map, Value};

use crate::envelope::{OpOutcome, Operation};
use crate::errors::{Request, Subject};
use crate::server::RestServer;
use crate::transport::RawRequest;

/// Exit status reported when the command does not exist.
pub const COMMAND_NOT_FOUND: i32 = 127;

/// The shell wrapper that feeds a pushed file to the command's stdin.
const STDIN_WRAPPER: &str = r#"exec 0<"$0"; rm -f "$0"; exec "$@""#;

/// The body of `POST /1.0/instances/NAME/exec` for `argv`.
pub fn exec_body(request: &ExecRequest, argv: &[String]) -> Value {
    let mut body = Map::new();
    body.insert("command".into(), json!(argv));
    body.insert("environment".into(), json!(request.env));
    body.insert("record-output".into(), json!(!request.discard_output));
    body.insert("wait-for-websocket".into(), json!(false));
    body.insert("interactive".into(), json!(false));
    if let Some(uid) = request.uid {
        body.insert("user".into(), json!(uid));
    }
    if let Some(gid) = request.gid {
        body.insert("group".into(), json!(gid));
    }
    if let Some(cwd) = &request.cwd {
        body.insert("cwd".into(), json!(cwd));
    }
    Value::Object(body)
}

/// The argv actually run: `request.argv`, wrapped to read `stdin_file` when there is one.
pub fn command_line(request: &ExecRequest, stdin_file: Option<&str>) -> Vec<String> {
    match stdin_file {
        None => request.argv.clone(),
        Some(file) => {
            let mut argv = vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                STDIN_WRAPPER.to_string(),
                file.to_string(),
            ];
            argv.extend(request.argv.iter().cloned());
            argv
        }
    }
}

/// What the finished exec operation says: exit status and log URLs (stdout, stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// Exit status.
    pub status: i32,
    /// URL of the stdout log, when recorded.
    pub stdout_log: Option<String>,
    /// URL of the stderr log, when recorded.
    pub stderr_log: Option<String>,
}

/// Reads the exit status and log URLs from an exec operation's metadata.
pub fn exec_result(metadata: Option<&Value>) -> Option<ExecResult> {
    let metadata = metadata?;
    let status = metadata.get("return")?.as_i64()? as i32;
    let log = |fd: &str| {
        metadata
            .get("output")
            .and_then(|o| o.get(fd))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Some(ExecResult {
        status,
        stdout_log: log("1"),
        stderr_log: log("2"),
    })
}

/// Decides the result of a finished exec wait: a `return` value wins (the operation may be a
/// `Failure` with `return: 127` on LXD); Incus's bare "Command not found" becomes 127.
pub fn exec_outcome(outcome: OpOutcome, subject: &Subject<'_>) -> ServerResult<ExecResult> {
    match outcome {
        OpOutcome::Success(op) => exec_result(op.metadata.as_ref()).ok_or_else(|| {
            ServerError::Protocol(format!("{}: the reply has no exit status", subject.context))
        }),
        OpOutcome::Failure {
            operation,
            code,
            message,
        } => {
            if let Some(result) = operation
                .as_ref()
                .and_then(|op: &Operation| exec_result(op.metadata.as_ref()))
            {
                return Ok(result);
            }
            // Incus 6.0.4 reports a missing command as a bare error envelope (code 400, no
            // operation, no `return`); 400 alone is any failure, so only the text tells.
            if message.contains("Command not found") {
                return Ok(ExecResult {
                    status: COMMAND_NOT_FOUND,
                    stdout_log: None,
                    stderr_log: None,
                });
            }
            Err(ServerError::OperationFailed {
                context: subject.context.to_string(),
                message: format!("{message} (code {code})"),
            })
        }
        OpOutcome::Running(_) => Err(ServerError::Protocol(format!(
            "{}: the command is still running",
            subject.context
        ))),
    }
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `request` in `instance`.
pub async fn exec(
    server: &RestServer,
    instance: &str,
    request: &ExecRequest,
) -> ServerResult<ExecOutput> {
    let context = format!("running {:?} in instance {instance:?}", request.argv);
    let what = format!("instance {instance:?}");
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Change,
    };
    if request.argv.is_empty() {
        return Err(ServerError::Api {
            context,
            status: 400,
            message: "no command given".into(),
        });
    }
    let stdin_file = if request.stdin.is_empty() {
        None
    } else {
        let path = format!("/tmp/.lxops-stdin-{}", unique_suffix());
        let file = FileWrite {
            path: path.clone(),
            content: request.stdin.clone(),
            mode: Some(0o600),
            uid: request.uid,
            gid: request.gid,
            append: false,
        };
        crate::files::write_file(server, instance, &file).await?;
        Some(path)
    };
    let argv = command_line(request, stdin_file.as_deref());
    let body = exec_body(request, &argv);
    let post = RawRequest::new(Method::POST, server.instance_url(instance, "/exec")).json(&body);
    let started = server.conn.call(post, &subject).await;
    let op = match server.checked(started).await? {
        crate::client::Answer::Async(op) => op,
        crate::client::Answer::Sync { .. } => {
            return Err(ServerError::Protocol(format!(
                "{context}: the daemon did not start an operation"
            )))
        }
    };
    let outcome = wait_for_command(server, &op.id, &subject).await?;
    let result = exec_outcome(outcome, &subject)?;
    let stdout = take_log(server, result.stdout_log.as_deref(), &subject).await?;
    let stderr = take_log(server, result.stderr_log.as_deref(), &subject).await?;
    Ok(ExecOutput {
        status: result.status,
        stdout,
        stderr,
    })
}

/// How often a long guest command is reported as still running.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// Waits for an exec operation: in rounds of [`PROGRESS_EVERY`], logging after each that the
/// command still runs, until it ends or the connection's exec time limit (none by default)
/// has passed. Guest commands (`runcmd`, package installs) may take long; the API timeout
/// does not apply to them.
async fn wait_for_command(
    server: &RestServer,
    id: &str,
    subject: &Subject<'_>,
) -> ServerResult<OpOutcome> {
    let started = Instant::now();
    let limit = server.conn.exec_timeout;
    loop {
        let remaining = limit.map(|limit| limit.saturating_sub(started.elapsed()));
        if let (Some(Duration::ZERO), Some(limit)) = (remaining, limit) {
            return Err(ServerError::Timeout {
                context: format!(
                    "{} (the command's time limit; it may still be running in the instance; \
                     raise or remove the limit with --exec-timeout)",
                    subject.context
                ),
                after: limit,
            });
        }
        let round = remaining.map_or(PROGRESS_EVERY, |r| r.min(PROGRESS_EVERY));
        match server.conn.wait_until(id, round, subject).await? {
            OpOutcome::Running(_) => tracing::info!(
                seconds = started.elapsed().as_secs(),
                "{}: still running",
                subject.context
            ),
            done => return Ok(done),
        }
    }
}

/// Reads a recorded log and deletes it (they pile up until the instance is deleted otherwise).
async fn take_log(
    server: &RestServer,
    url: Option<&str>,
    subject: &Subject<'_>,
) -> ServerResult<Vec<u8>> {
    let Some(url) = url else {
        return Ok(Vec::new());
    };
    let url = server.url(url);
    let response = server
        .conn
        .raw(
            RawRequest::new(Method::GET, url.clone()),
            server.conn.timeout,
            subject.context,
        )
        .await?;
    if response.status >= 400 {
        let message = match crate::envelope::parse_reply(response.status, &response.body) {
            Ok(crate::envelope::Reply::Error { message, .. }) => message,
            Ok(_) => format!("HTTP {}", response.status),
            Err(e) => e,
        };
        // Not `api_error`: a missing log must not read as a missing instance.
        return Err(ServerError::Api {
            context: subject.context.to_string(),
            status: response.status,
            message: format!("reading the command's output {url}: {message}"),
        });
    }
    let content = response.body.to_vec();
    if let Err(e) = server
        .conn
        .call(RawRequest::new(Method::DELETE, url.clone()), subject)
        .await
    {
        tracing::warn!("deleting exec log {url}: {e}");
    }
    Ok(content)
}
