//! A fault-injecting proxy between lxops and a real daemon, on a unix socket of its own.
//!
//! Each client connection carries one HTTP/1.1 request (lxops opens a connection per request).
//! The proxy forwards it to the daemon as HTTP/1.0, so the daemon closes the connection after
//! an un-chunked reply that the proxy reads whole; it sends the reply back with an exact
//! `Content-Length`. [`Rule`]s pick requests by method and path and replace that exchange with
//! a [`Fault`], a given number of times. Everything is bounded: each connection lives at most
//! [`CONNECTION_CAP`], the proxy serves at most [`MAX_CONNECTIONS`], and it stops when dropped.
//! It is local only (unix sockets) and runs on its own thread, so tests may block around it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// The longest one proxied connection may live (a stalled one ends then).
pub const CONNECTION_CAP: Duration = Duration::from_secs(120);
/// The most connections one proxy serves.
pub const MAX_CONNECTIONS: usize = 20_000;
/// The largest request or reply the proxy handles.
const MAX_MESSAGE: usize = 64 << 20;

/// What the proxy does instead of a plain pass-through.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward the request, then send the reply's head and half its body, and close.
    ResetMidResponse,
    /// Never answer (the connection stays open until the client gives up).
    Stall,
    /// Answer with this HTTP status and an error envelope, without asking the daemon.
    Status(u16),
    /// Forward, then send only the first half of the reply body, with a matching length.
    TruncateJson,
    /// Forward, and stall every later `/wait` of the operation this reply started.
    StallOperation,
    /// The daemon "restarts": this and every open connection are cut, and new connections
    /// are refused for the given time; then everything passes through again.
    Restart(Duration),
}

/// Which requests get a fault, and how many times.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `GET`, `POST`, ...; `None` for any.
    pub method: Option<&'static str>,
    /// A part of the path and query the request must contain.
    pub path: String,
    /// The fault.
    pub fault: Fault,
    /// How many matching requests get it (then the rule is used up).
    pub times: usize,
}

impl Rule {
    /// `fault` for the next `times` requests `method` whose path contains `path`.
    pub fn new(method: Option<&'static str>, path: &str, fault: Fault, times: usize) -> Self {
        Rule {
            method,
            path: path.to_string(),
            fault,
            times,
        }
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// `METHOD path -> what happened`, per request.
    log: Vec<String>,
    /// New connections are refused until then.
    refuse_until: Option<Instant>,
}

impl State {
    fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let rule = self.rules.iter_mut().find(|r| {
            r.times > 0 && r.method.is_none_or(|m| m == method) && path.contains(&r.path)
        })?;
        rule.times -= 1;
        Some(rule.fault.clone())
    }
}

/// A running proxy; stops (and removes its socket) when dropped.
pub struct FaultProxy {
    socket: PathBuf,
    state: Arc<Mutex<State>>,
    epochs: Arc<watch::Sender<u64>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl FaultProxy {
    /// Starts a proxy in front of the daemon socket `upstream`.
    pub fn start(upstream: &Path) -> FaultProxy {
        let dir = tempfile::tempdir().expect("proxy dir");
        let socket = dir.path().join("proxy.socket");
        let state = Arc::new(Mutex::new(State::default()));
        // The value counts restarts; u64::MAX means stop.
        let epochs = Arc::new(watch::channel(0u64).0);
        let listener_path = socket.clone();
        let upstream = upstream.to_path_buf();
        let shared = Arc::clone(&state);
        let sender = Arc::clone(&epochs);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(serve(listener_path, upstream, shared, sender));
        });
        // Wait (bounded) until the socket is there.
        let ready = Instant::now() + Duration::from_secs(5);
        while !socket.exists() && Instant::now() < ready {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(socket.exists(), "the fault proxy did not start");
        FaultProxy {
            socket,
            state,
            epochs,
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// The socket lxops should connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Adds a rule (rules are tried in the order added).
    pub fn add(&self, rule: Rule) {
        self.lock().rules.push(rule);
    }

    /// Drops every rule that is left: everything passes through.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Refuses new connections for `outage` and cuts the open ones.
    pub fn restart(&self, outage: Duration) {
        restart(&self.state, &self.epochs, outage);
    }

    /// `METHOD path -> outcome` of every request so far.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// How many requests got `outcome` (`reset`, `stall`, `status 503`, ...).
    pub fn count(&self, outcome: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|l| l.ends_with(&format!("-> {outcome}")))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.epochs.send_replace(u64::MAX);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn restart(state: &Mutex<State>, epochs: &watch::Sender<u64>, outage: Duration) {
    lock(state).refuse_until = Some(Instant::now() + outage);
    // u64::MAX (stop) stays.
    epochs.send_modify(|epoch| *epoch = epoch.saturating_add(1));
}

async fn serve(
    socket: PathBuf,
    upstream: PathBuf,
    state: Arc<Mutex<State>>,
    epochs: Arc<watch::Sender<u64>>,
) {
    let mut listener = Some(bind(&socket));
    let mut served = 0usize;
    let mut stop = epochs.subscribe();
    while served < MAX_CONNECTIONS && *stop.borrow() != u64::MAX {
        let refuse_until = state.lock().unwrap_or_else(|e| e.into_inner()).refuse_until;
        if let Some(until) = refuse_until.filter(|u| *u > Instant::now()) {
            // Refused: the socket file stays, with nobody listening (ECONNREFUSED).
            listener = None;
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let active = match &listener {
            Some(listener) => listener,
            None => {
                listener = Some(bind(&socket));
                continue;
            }
        };
        tokio::select! {
            accepted = active.accept() => {
                let Ok((client, _)) = accepted else { continue };
                served += 1;
                let job = Connection {
                    upstream: upstream.clone(),
                    state: Arc::clone(&state),
                    epochs: Arc::clone(&epochs),
                };
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(CONNECTION_CAP, job.run(client)).await;
                });
            }
            // Notice restarts and the stop signal.
            _ = stop.changed() => {}
        }
    }
}

fn bind(socket: &Path) -> UnixListener {
    let _ = std::fs::remove_file(socket);
    UnixListener::bind(socket).expect("proxy socket")
}

struct Connection {
    upstream: PathBuf,
    state: Arc<Mutex<State>>,
    epochs: Arc<watch::Sender<u64>>,
}

impl Connection {
    /// Serves one request, unless a restart (or the proxy's end) cuts it first.
    async fn run(self, client: UnixStream) {
        let mut epochs = self.epochs.subscribe();
        let start = *epochs.borrow_and_update();
        let cut = async move {
            while epochs.changed().await.is_ok() {
                if *epochs.borrow() != start {
                    return;
                }
            }
        };
        tokio::select! {
            _ = self.exchange(client) => {}
            _ = cut => {}
        }
    }

    async fn exchange(&self, mut client: UnixStream) {
        let state = &self.state;
        let Some(request) = read_request(&mut client).await else {
            return;
        };
        let (method, path) = request_line(&request.head);
        let fault = lock(state).take_fault(&method, &path);
        let outcome = match &fault {
            None => "pass".to_string(),
            Some(Fault::ResetMidResponse) => "reset".into(),
            Some(Fault::Stall) => "stall".into(),
            Some(Fault::Status(code)) => format!("status {code}"),
            Some(Fault::TruncateJson) => "truncate".into(),
            Some(Fault::StallOperation) => "pass, stall its operation".into(),
            Some(Fault::Restart(_)) => "restart".into(),
        };
        lock(state)
            .log
            .push(format!("{method} {path} -> {outcome}"));
        match fault {
            Some(Fault::Stall) => {
                // Hold the connection until the client gives up.
                let mut byte = [0u8; 1];
                let _ = client.read(&mut byte).await;
                return;
            }
            Some(Fault::Status(code)) => {
                let body = format!(
                    r#"{{"type":"error","status":"","status_code":0,"operation":"","error_code":{code},"error":"injected by the fault proxy","metadata":null}}"#
                );
                let _ = client.write_all(&reply(code, &[], body.as_bytes())).await;
                return;
            }
            Some(Fault::Restart(outage)) => {
                // Cuts every open connection, this one included.
                restart(state, &self.epochs, outage);
                return;
            }
            _ => {}
        }
        let Some(response) = forward(&self.upstream, &request).await else {
            return;
        };
        let Some(parsed) = parse_response(&response) else {
            let _ = client.write_all(&response).await;
            return;
        };
        match fault {
            Some(Fault::ResetMidResponse) => {
                let mut bytes = reply(parsed.status, &parsed.headers, &parsed.body);
                bytes.truncate(bytes.len() - parsed.body.len() / 2 - 1);
                let _ = client.write_all(&bytes).await;
                // Closing now leaves the reply shorter than its Content-Length.
            }
            Some(Fault::TruncateJson) => {
                let half = &parsed.body[..parsed.body.len() / 2];
                let _ = client
                    .write_all(&reply(parsed.status, &parsed.headers, half))
                    .await;
            }
            Some(Fault::StallOperation) => {
                if let Some(id) = operation_id(&parsed.body) {
                    lock(state).rules.insert(
                        0,
                        Rule::new(
                            Some("GET"),
                            &format!("/1.0/operations/{id}/wait"),
                            Fault::Stall,
                            usize::MAX,
                        ),
                    );
                }
                let _ = client
                    .write_all(&reply(parsed.status, &parsed.headers, &parsed.body))
                    .await;
            }
            _ => {
                let _ = client
                    .write_all(&reply(parsed.status, &parsed.headers, &parsed.body))
                    .await;
            }
        }
        let _ = client.shutdown().await;
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

struct Request {
    head: String,
    body: Vec<u8>,
}

/// Reads one request: head up to the blank line, then `Content-Length` bytes of body.
async fn read_request(client: &mut UnixStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buffer.len() > MAX_MESSAGE {
            return None;
        }
        let mut chunk = [0u8; 8192];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_MESSAGE);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 8192];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    Some(Request { head, body })
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

fn request_line(head: &str) -> (String, String) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    (method, path)
}

/// Sends the request to the daemon as HTTP/1.0 (`Connection: close`) and reads the whole reply.
async fn forward(upstream: &Path, request: &Request) -> Option<Vec<u8>> {
    let mut daemon = UnixStream::connect(upstream).await.ok()?;
    let (method, path) = request_line(&request.head);
    let mut head = format!("{method} {path} HTTP/1.0\r\n");
    for line in request.head.lines().skip(1) {
        let name = line.split(':').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("keep-alive") {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    daemon.write_all(head.as_bytes()).await.ok()?;
    daemon.write_all(&request.body).await.ok()?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match daemon.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) if response.len() + n <= MAX_MESSAGE => response.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
    Some(response)
}

struct Parsed {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Splits an HTTP/1.0 reply (body up to the end of the connection).
fn parse_response(response: &[u8]) -> Option<Parsed> {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..end]);
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| {
            !["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|h| k.eq_ignore_ascii_case(h))
        })
        .collect();
    Some(Parsed {
        status,
        headers,
        body: response[end + 4..].to_vec(),
    })
}

/// An HTTP/1.1 reply with an exact `Content-Length`.
fn reply(status: u16, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// The operation id an async reply names (`"operation":"/1.0/operations/<id>"`).
fn operation_id(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let start =
        text.find("\"operation\":\"/1.0/operations/")? + "\"operation\":\"/1.0/operations/".len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}
