//! HTTP to a daemon: over its unix socket (one connection per request) or over HTTPS to a
//! remote (a keep-alive pool), with a timeout on every request and raw replies.
//!
//! Two body modes, on both routes: a request body is bytes in memory or a [`Payload`] of files
//! read in chunks while it is sent (image and backup uploads), and a reply is read whole
//! ([`Transport::send`]) or handed over once its head arrived, its body read piece by piece
//! ([`Transport::start`]; `crate::stream` writes such replies to files). So no file transfer is
//! ever held whole in memory.
//!
//! Why no keep-alive pool on the unix socket: LXD and Incus accept connections on their unix
//! socket in one loop that peeks at the first bytes of each new connection (to tell TLS from
//! plain HTTP) before it accepts the next one. hyper's pool may open a connection for a request,
//! hand the request to an idle connection that became free first, and park the new, silent one
//! in the pool. That silent connection stalls the daemon's accept loop until the pool's idle
//! timeout (90 s), and with it the daemon's own `callhook` requests, so container starts fail
//! with "Failed to run lxc.hook.pre-start". With no idle connections kept, such a connection is
//! closed at once. A unix-socket connect costs microseconds.
//!
//! Why HTTPS keeps connections: neither reason holds there. The HTTPS listener hands each
//! accepted connection to its own goroutine for the TLS handshake, and a pooled connection has
//! always sent its ClientHello, so nothing waits for a silent one; and a new connection costs
//! a TCP and TLS handshake (about 2 ms on loopback, measured in `cargo xtask bench`), where a
//! reused one costs nothing. Incus closes connections idle for 30 s (LXD 5.0 never does), so
//! the pool drops them after [`HTTPS_IDLE`]; a request that meets a connection the server
//! closed just before is sent again by hyper on a new one (it was never written).
//! `TCP_NODELAY` is set: without it the first request on each connection waits about 40 ms
//! for a delayed ACK.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyperlocal::{UnixConnector, Uri};

use crate::stream::{Payload, UploadBody};
use crate::tls::{client_config, is_pin_mismatch, RemoteFiles, TlsSetupError};

/// How long an idle HTTPS connection is kept: below Incus's 30 s server idle timeout.
pub const HTTPS_IDLE: Duration = Duration::from_secs(20);
/// Most time for the TCP connect to a remote (as the Go clients).
const HTTPS_CONNECT: Duration = Duration::from_secs(10);

/// A reply before envelope parsing.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Reply headers.
    pub headers: HeaderMap,
    /// Reply body.
    pub body: Bytes,
}

impl RawResponse {
    /// A header as text, when present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a request did not get a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The socket or remote could not be connected.
    Connect(String),
    /// The remote presented a server certificate other than the pinned one.
    Certificate(String),
    /// No reply within the time limit.
    Timeout(Duration),
    /// The request could not be built (a bad header); nothing was sent.
    Request(String),
    /// A failure on this side, the whole message naming the file: a file of the request body
    /// could not be opened (nothing was sent), a streamed reply could not be written or split.
    Local(String),
    /// Anything else (reset connection, a reply cut short).
    Other(String),
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// HTTP method.
    pub method: Method,
    /// Path and query (`/1.0/instances?project=p`).
    pub path: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body, if any: bytes, or files read in chunks when sent (again on each attempt).
    pub body: Option<Payload>,
}

impl RawRequest {
    /// A request without body or headers.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        RawRequest {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a JSON body.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self.body = Some(Bytes::from(value.to_string()).into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A remote daemon reached over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsEndpoint {
    /// The remote's name in the client config.
    pub remote: String,
    /// Its address, `https://host:port` (no trailing slash).
    pub url: String,
    /// The client certificate, key and pinned server certificate.
    pub files: RemoteFiles,
}

/// Where requests go.
#[derive(Clone)]
enum Route {
    Unix {
        client: Client<UnixConnector, UploadBody>,
        socket: PathBuf,
    },
    Https {
        client: Client<HttpsConnector<HttpConnector>, UploadBody>,
        endpoint: Box<HttpsEndpoint>,
    },
}

/// The connection to one daemon, over its socket or HTTPS (cheap to share).
#[derive(Clone)]
pub struct Transport {
    route: Route,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

impl Transport {
    /// A transport for the socket at `socket` (nothing is connected yet).
    pub fn new(socket: &Path) -> Self {
        Transport {
            route: Route::Unix {
                client: Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(0)
                    .build(UnixConnector),
                socket: socket.to_path_buf(),
            },
        }
    }

    /// A transport to a remote over HTTPS with a keep-alive pool (see the module docs). Reads
    /// the certificate files; nothing is connected yet.
    pub fn https(endpoint: HttpsEndpoint) -> Result<Self, TlsSetupError> {
        Self::https_with_pool(endpoint, true)
    }

    /// Like [`Transport::https`]; `keep_alive: false` opens a connection per request (to
    /// measure what the pool saves, see ARCHITECTURE.md).
    pub fn https_with_pool(
        endpoint: HttpsEndpoint,
        keep_alive: bool,
    ) -> Result<Self, TlsSetupError> {
        let tls = client_config(&endpoint.files)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(HTTPS_CONNECT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let mut builder = Client::builder(TokioExecutor::new());
        builder.pool_idle_timeout(HTTPS_IDLE);
        if !keep_alive {
            builder.pool_max_idle_per_host(0);
        }
        Ok(Transport {
            route: Route::Https {
                client: builder.build(connector),
                endpoint: Box::new(endpoint),
            },
        })
    }

    /// The remote, when this is an HTTPS transport.
    pub fn remote(&self) -> Option<&HttpsEndpoint> {
        match &self.route {
            Route::Unix { .. } => None,
            Route::Https { endpoint, .. } => Some(endpoint),
        }
    }

    /// The socket path or the remote's URL, for messages.
    pub fn endpoint(&self) -> String {
        match &self.route {
            Route::Unix { socket, .. } => socket.display().to_string(),
            Route::Https { endpoint, .. } => endpoint.url.clone(),
        }
    }

    /// Sends a request and reads the whole reply, within `limit`.
    pub async fn send(
        &self,
        request: RawRequest,
        limit: Duration,
    ) -> Result<RawResponse, TransportError> {
        let exchange = async { self.start(request).await?.whole().await };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| TransportError::Timeout(limit))?
    }

    /// Sends a request (a [`Payload`]'s files streamed) and returns the reply once its head
    /// arrived; the caller reads the body and bounds the whole exchange in time.
    pub async fn start(&self, request: RawRequest) -> Result<StreamedResponse, TransportError> {
        tracing::debug!(method = %request.method, path = %request.path, "request");
        let uri: hyper::Uri = match &self.route {
            Route::Unix { socket, .. } => Uri::new(socket, &request.path).into(),
            Route::Https { endpoint, .. } => format!("{}{}", endpoint.url, request.path)
                .parse()
                .map_err(|e| {
                    TransportError::Request(format!(
                        "bad URL {}{}: {e}",
                        endpoint.url, request.path
                    ))
                })?,
        };
        let mut builder = Request::builder().method(request.method).uri(uri);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| TransportError::Request(format!("bad header name {name:?}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| TransportError::Request(format!("bad header value {value:?}: {e}")))?;
            builder = builder.header(name, value);
        }
        let body = match &request.body {
            Some(payload) => payload.open().map_err(TransportError::Local)?,
            None => UploadBody::empty(),
        };
        let req = builder
            .body(body)
            .map_err(|e| TransportError::Request(format!("bad request: {e}")))?;
        match &self.route {
            Route::Unix { client, .. } => exchange(client, req).await,
            Route::Https { client, .. } => exchange(client, req).await,
        }
    }
}

/// A reply whose head arrived; its body is read whole or piece by piece.
#[derive(Debug)]
pub struct StreamedResponse {
    /// HTTP status.
    pub status: u16,
    /// Reply headers.
    pub headers: HeaderMap,
    body: hyper::body::Incoming,
}

impl StreamedResponse {
    /// A header as text, when present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next piece of the body; `None` at its end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|e| TransportError::Other(reading_the_reply(&e)))?;
            if let Ok(data) = frame.into_data() {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Reads the rest of the body into memory.
    pub async fn whole(self) -> Result<RawResponse, TransportError> {
        let body = self
            .body
            .collect()
            .await
            .map_err(|e| TransportError::Other(reading_the_reply(&e)))?
            .to_bytes();
        Ok(RawResponse {
            status: self.status,
            headers: self.headers,
            body,
        })
    }
}

fn reading_the_reply(error: &hyper::Error) -> String {
    format!("reading the reply: {error}")
}

async fn exchange<C>(
    client: &Client<C, UploadBody>,
    req: Request<UploadBody>,
) -> Result<StreamedResponse, TransportError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let response = client.request(req).await.map_err(|e| {
        if is_pin_mismatch(&e) {
            TransportError::Certificate(error_chain(&e))
        } else if e.is_connect() {
            TransportError::Connect(error_chain(&e))
        } else {
            TransportError::Other(error_chain(&e))
        }
    })?;
    let (head, body) = response.into_parts();
    Ok(StreamedResponse {
        status: head.status.as_u16(),
        headers: head.headers,
        body,
    })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Percent-encodes a query value or path segment (keeps unreserved characters and `/`).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Decodes `%XX` sequences (used for names at the end of resource URLs).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}
