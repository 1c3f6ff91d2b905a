//! The shared connection: sends requests, classifies replies, waits for operations and maps
//! failures onto `ServerError`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::Method;
use lxops_core::server::{ServerError, ServerInfo, ServerResult};
use serde_json::Value;

use crate::dialect::Dialect;
use crate::envelope::{is_wait_deadline, parse_reply, wait_outcome, OpOutcome, Operation, Reply};
use crate::errors::{
    api_error, is_member_unreachable, is_not_ready, operation_error, remote_forbidden, Subject,
};
use crate::transport::{RawRequest, RawResponse, Transport, TransportError};

/// Most time allowed for a plain (non-waiting) request; less when the operation timeout is
/// shorter.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);
/// How long failed requests are retried when the failure is transient (see
/// [`Connection::raw`]); at most the operation timeout.
const RETRY_WINDOW: Duration = Duration::from_secs(10);
/// The first pause before a retry; it doubles up to [`RETRY_MAX_PAUSE`].
const RETRY_FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between two retries.
const RETRY_MAX_PAUSE: Duration = Duration::from_secs(2);
/// Pause between two waits that both found the operation running.
const POLL_PAUSE: Duration = Duration::from_millis(100);
/// Most extra time a wait request gets beyond the server-side `?timeout=`; less when the
/// operation timeout is shorter.
const WAIT_SLACK: Duration = Duration::from_secs(15);

/// A classified reply with its `Etag`, if any.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A direct answer.
    Sync {
        /// Metadata.
        value: Value,
        /// `Etag` header.
        etag: Option<String>,
    },
    /// A started operation.
    Async(Operation),
}

/// One daemon connection, shared by every project view.
#[derive(Debug)]
pub struct Connection {
    /// Transport over the socket.
    pub transport: Transport,
    /// The daemon family.
    pub dialect: &'static Dialect,
    /// Facts read at connect.
    pub info: ServerInfo,
    /// Timeout of every API call and operation wait.
    pub timeout: Duration,
    /// Time limit of guest commands (exec), `None`: no limit.
    pub exec_timeout: Option<Duration>,
    /// Projects known to exist (checked after a 404, see `RestServer::require_project`).
    pub projects: Mutex<HashSet<String>>,
    /// Whether the daemon answered any request on this connection.
    pub answered: AtomicBool,
}

impl Connection {
    /// A connection to `transport` (server info not read yet).
    pub fn new(transport: Transport, dialect: &'static Dialect, timeout: Duration) -> Self {
        Connection {
            transport,
            dialect,
            info: ServerInfo::default(),
            timeout,
            exec_timeout: None,
            projects: Mutex::new(HashSet::new()),
            answered: AtomicBool::new(false),
        }
    }

    /// Time allowed for one plain request: the operation timeout, at most a minute.
    pub fn request_limit(&self) -> Duration {
        self.timeout.min(REQUEST_LIMIT)
    }

    /// Whether `project` was seen to exist on this connection.
    pub fn project_known(&self, project: &str) -> bool {
        self.projects
            .lock()
            .is_ok_and(|known| known.contains(project))
    }

    /// Remembers that `project` exists.
    pub fn remember_project(&self, project: &str) {
        if let Ok(mut known) = self.projects.lock() {
            known.insert(project.to_string());
        }
    }

    /// Sends a request and returns the raw reply, mapping transport failures.
    pub async fn raw(
        &self,
        request: RawRequest,
        limit: Duration,
        context: &str,
    ) -> ServerResult<RawResponse> {
        let idempotent = matches!(request.method, Method::GET | Method::HEAD);
        self.retrying(idempotent, context, itself, || {
            self.transport.send(request.clone(), limit)
        })
        .await
    }

    /// Runs `attempt` (one request) again while it fails in a way worth repeating (see
    /// [`Connection::raw`]), for at most the retry window; `reply` gives the reply an outcome
    /// holds, if any. Maps transport failures.
    pub async fn retrying<T, F, Fut>(
        &self,
        idempotent: bool,
        context: &str,
        reply: fn(&T) -> Option<&RawResponse>,
        mut attempt: F,
    ) -> ServerResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, TransportError>>,
    {
        // The retry window starts at the first failure (a long wait may fail late).
        let mut deadline = None;
        let mut pause = RETRY_FIRST_PAUSE;
        loop {
            let result = attempt().await;
            let retry = match result.as_ref().map(reply) {
                // Nothing was sent: safe for every request, once the daemon answered before
                // (a daemon that is not there at all is reported at once).
                Err(TransportError::Connect(reason)) if self.answered.load(Ordering::Relaxed) => {
                    Some(reason.clone())
                }
                // A connection reset or cut reply: only a read may be repeated.
                Err(TransportError::Other(reason)) if idempotent => Some(reason.clone()),
                Ok(Some(response)) if idempotent && is_not_ready(response.status) => {
                    Some(format!("HTTP {}: the daemon is not ready", response.status))
                }
                // A cluster member that must forward the request could not reach the member
                // that owns the instance: nothing was done, so any request may be repeated.
                Ok(Some(response))
                    if response.status >= 500
                        && is_member_unreachable(&String::from_utf8_lossy(&response.body)) =>
                {
                    Some(format!(
                        "HTTP {}: another cluster member cannot be reached",
                        response.status
                    ))
                }
                _ => None,
            };
            let window = RETRY_WINDOW.min(self.timeout);
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + window);
            match retry {
                Some(reason) if Instant::now() + pause < deadline => {
                    tracing::warn!(
                        "{context}: {reason}; trying again in {} ms",
                        pause.as_millis()
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX_PAUSE);
                }
                _ => {
                    if result.is_ok() {
                        self.answered.store(true, Ordering::Relaxed);
                    }
                    return result.map_err(|e| {
                        let sent = !idempotent
                            && !matches!(
                                e,
                                TransportError::Connect(_)
                                    | TransportError::Certificate(_)
                                    | TransportError::Request(_)
                                    | TransportError::Local(_)
                            );
                        let error = transport_error(self.dialect, &self.transport, e, context);
                        if sent {
                            maybe_done(error)
                        } else {
                            error
                        }
                    });
                }
            }
        }
    }

    /// Sends a request and classifies the reply; error envelopes become errors.
    pub async fn call(&self, request: RawRequest, subject: &Subject<'_>) -> ServerResult<Answer> {
        let response = self
            .raw(request, self.request_limit(), subject.context)
            .await?;
        self.answer(response, subject)
    }

    /// [`answer`], with a 403 from a remote explained as a remote's (see
    /// [`remote_forbidden`]).
    pub fn answer(&self, response: RawResponse, subject: &Subject<'_>) -> ServerResult<Answer> {
        answer(response, subject).map_err(|e| match self.transport.remote() {
            Some(remote) => remote_forbidden(e, &remote.remote, self.dialect),
            None => e,
        })
    }

    /// Sends a request that must answer synchronously; returns its metadata.
    pub async fn sync(&self, request: RawRequest, subject: &Subject<'_>) -> ServerResult<Value> {
        match self.call(request, subject).await? {
            Answer::Sync { value, .. } => Ok(value),
            Answer::Async(op) => self
                .wait_success(&op.id, subject)
                .await
                .map(|op| op.metadata.unwrap_or(Value::Null)),
        }
    }

    /// Sends a request that may start an operation, and waits for it to succeed.
    pub async fn run(&self, request: RawRequest, subject: &Subject<'_>) -> ServerResult<Operation> {
        match self.call(request, subject).await? {
            Answer::Sync { value, .. } => Ok(Operation {
                status: "Success".into(),
                metadata: Some(value),
                ..Default::default()
            }),
            Answer::Async(op) => self.wait_success(&op.id, subject).await,
        }
    }

    /// Waits for an operation and turns a failure into an error.
    pub async fn wait_success(&self, id: &str, subject: &Subject<'_>) -> ServerResult<Operation> {
        self.wait_success_for(id, self.timeout, subject).await
    }

    /// Like [`Connection::wait_success`] with an explicit time limit.
    pub async fn wait_success_for(
        &self,
        id: &str,
        limit: Duration,
        subject: &Subject<'_>,
    ) -> ServerResult<Operation> {
        match self.wait(id, limit, subject).await? {
            OpOutcome::Success(op) => Ok(op),
            OpOutcome::Failure { code, message, .. } => {
                Err(operation_error(subject, code, &message))
            }
            OpOutcome::Running(_) => Err(ServerError::Timeout {
                context: subject.context.to_string(),
                after: limit,
            }),
        }
    }

    /// Waits up to `limit` for an operation to end, with `/wait?timeout=N` requests.
    /// Returns [`OpOutcome::Success`] or [`OpOutcome::Failure`], or a timeout error.
    pub async fn wait(
        &self,
        id: &str,
        limit: Duration,
        subject: &Subject<'_>,
    ) -> ServerResult<OpOutcome> {
        match self.wait_until(id, limit, subject).await? {
            OpOutcome::Running(op) => {
                tracing::debug!(id, status = %op.status, "operation still running");
                Err(ServerError::Timeout {
                    context: subject.context.to_string(),
                    after: limit,
                })
            }
            done => Ok(done),
        }
    }

    /// Like [`Connection::wait`], but an operation still running after `limit` is
    /// [`OpOutcome::Running`], not an error (for callers that wait in rounds).
    pub async fn wait_until(
        &self,
        id: &str,
        limit: Duration,
        subject: &Subject<'_>,
    ) -> ServerResult<OpOutcome> {
        let deadline = Instant::now() + limit;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let seconds = remaining.as_secs_f64().ceil().max(1.0) as u64;
            let request = RawRequest::new(
                Method::GET,
                format!("/1.0/operations/{id}/wait?timeout={seconds}"),
            );
            let response = self
                .raw(
                    request,
                    Duration::from_secs(seconds) + WAIT_SLACK.min(self.timeout),
                    subject.context,
                )
                .await?;
            let reply = parse_reply(response.status, &response.body).map_err(protocol(subject))?;
            let mut outcome = wait_outcome(reply).map_err(protocol(subject))?;
            if let OpOutcome::Failure {
                operation: None,
                ref message,
                ..
            } = outcome
            {
                // Incus: the failed operation's object is not in the wait reply, and a wait
                // that ran out of time looks like a failure. The operation itself tells.
                if let Some(op) = self.operation(id).await {
                    if op.status == "Running" {
                        outcome = OpOutcome::Running(op);
                    } else if let OpOutcome::Failure { operation, .. } = &mut outcome {
                        *operation = Some(op);
                    }
                } else if is_wait_deadline(message) {
                    outcome = OpOutcome::Running(Operation::default());
                }
            }
            match outcome {
                OpOutcome::Running(op) => {
                    if Instant::now() >= deadline {
                        return Ok(OpOutcome::Running(op));
                    }
                    // A daemon that answers "still running" at once must not be polled in a
                    // tight loop.
                    tokio::time::sleep(POLL_PAUSE.min(remaining)).await;
                }
                done => return Ok(done),
            }
        }
    }

    /// The operation object, if the daemon still knows it.
    async fn operation(&self, id: &str) -> Option<Operation> {
        let request = RawRequest::new(Method::GET, format!("/1.0/operations/{id}"));
        let response = self
            .transport
            .send(request, self.request_limit())
            .await
            .ok()?;
        match parse_reply(response.status, &response.body).ok()? {
            Reply::Sync(value) => serde_json::from_value(value).ok(),
            _ => None,
        }
    }
}

fn itself(response: &RawResponse) -> Option<&RawResponse> {
    Some(response)
}

/// Classifies a raw reply into an [`Answer`], mapping error envelopes.
pub fn answer(response: RawResponse, subject: &Subject<'_>) -> ServerResult<Answer> {
    let etag = response.header("etag").map(str::to_string);
    match parse_reply(response.status, &response.body).map_err(protocol(subject))? {
        Reply::Sync(value) => Ok(Answer::Sync { value, etag }),
        Reply::Async(op) => Ok(Answer::Async(op)),
        Reply::Error { code, message } => Err(api_error(subject, code, &message)),
    }
}

fn protocol<'a>(subject: &'a Subject<'_>) -> impl Fn(String) -> ServerError + 'a {
    move |message| ServerError::Protocol(format!("{}: {message}", subject.context))
}

/// A transport failure of a request that was sent and changes something: the daemon may have
/// carried it out, so the message says to check before running the command again.
fn maybe_done(error: ServerError) -> ServerError {
    const CHECK: &str = "the request was sent, so the daemon may have carried it out: check the \
                         instance or profile before running the command again";
    match error {
        ServerError::Timeout { context, after } => ServerError::Timeout {
            context: format!("{context}; {CHECK}"),
            after,
        },
        ServerError::Protocol(message) => ServerError::Protocol(format!("{message}; {CHECK}")),
        other => other,
    }
}

/// Maps a transport failure onto a [`ServerError`].
pub fn transport_error(
    dialect: &Dialect,
    transport: &Transport,
    error: TransportError,
    context: &str,
) -> ServerError {
    let endpoint = transport.endpoint();
    match (error, transport.remote()) {
        (TransportError::Connect(reason), None) => ServerError::Connect {
            server: dialect.name.to_string(),
            socket: endpoint,
            reason,
            hint: dialect.connect_hint(),
        },
        (TransportError::Connect(reason), Some(remote)) => ServerError::Connect {
            server: format!("{} remote {:?}", dialect.name, remote.remote),
            socket: endpoint,
            reason,
            hint: format!(
                "is the daemon running and listening there? on the server, `{cli} config get \
                 core.https_address` shows the address; fix `addr` of remote {name:?} in the \
                 client config, or choose another remote with --remote",
                cli = dialect.cli,
                name = remote.remote,
            ),
        },
        (TransportError::Certificate(_), remote) => {
            let name = remote.map_or("", |r| r.remote.as_str());
            let pinned =
                remote.map_or(String::new(), |r| r.files.server_cert.display().to_string());
            ServerError::Connect {
                server: format!("{} remote {name:?}", dialect.name),
                socket: endpoint.clone(),
                reason: format!(
                    "the server presented a certificate other than the one pinned in {pinned}"
                ),
                hint: format!(
                    "if the server's certificate changed on purpose, pin the new one: `{cli} \
                     remote remove {name}` then `{cli} remote add {name} {endpoint}`; otherwise \
                     something else answers at that address",
                    cli = dialect.cli,
                ),
            }
        }
        (TransportError::Timeout(after), _) => ServerError::Timeout {
            context: format!(
                "{context} (no reply from {endpoint}: check that the daemon is not stuck, or raise \
                 --timeout if it is only slow)"
            ),
            after,
        },
        (TransportError::Local(message), _) => {
            ServerError::Protocol(format!("{context}: {message}"))
        }
        (TransportError::Other(reason) | TransportError::Request(reason), _) => {
            ServerError::Protocol(format!(
                "{context}: talking to {} at {endpoint}: {reason}",
                dialect.name
            ))
        }
    }
}
