//! HTTP over the daemon's unix socket: one hyper client, one connection per request, a timeout
//! on every request, raw replies.
//!
//! Why no keep-alive pool: LXD and Incus accept connections on their unix socket in one loop
//! that peeks at the first bytes of each new connection (to tell TLS from plain HTTP) before it
//! accepts the next one. hyper's pool may open a connection for a request, hand the request to
//! an idle connection that became free first, and park the new, silent one in the pool. That
//! silent connection stalls the daemon's accept loop until the pool's idle timeout (90 s), and
//! with it the daemon's own `callhook` requests, so container starts fail with "Failed to run
//! lxc.hook.pre-start". With no idle connections kept, such a connection is closed at once.
//! A unix-socket connect costs microseconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use hyperlocal::{UnixConnector, Uri};

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
    /// The socket could not be connected.
    Connect(String),
    /// No reply within the time limit.
    Timeout(Duration),
    /// The request could not be built (a bad header); nothing was sent.
    Request(String),
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
    /// Body, if any.
    pub body: Option<Bytes>,
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
        self.body = Some(Bytes::from(value.to_string()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The connection to one daemon socket (cheap to share).
#[derive(Clone)]
pub struct Transport {
    client: Client<UnixConnector, Full<Bytes>>,
    socket: PathBuf,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("socket", &self.socket)
            .finish()
    }
}

impl Transport {
    /// A transport for the socket at `socket` (nothing is connected yet).
    pub fn new(socket: &Path) -> Self {
        Transport {
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(UnixConnector),
            socket: socket.to_path_buf(),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends a request and reads the whole reply, within `limit`.
    pub async fn send(
        &self,
        request: RawRequest,
        limit: Duration,
    ) -> Result<RawResponse, TransportError> {
        tracing::debug!(method = %request.method, path = %request.path, "request");
        let uri: hyper::Uri = Uri::new(&self.socket, &request.path).into();
        let mut builder = Request::builder().method(request.method).uri(uri);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| TransportError::Request(format!("bad header name {name:?}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| TransportError::Request(format!("bad header value {value:?}: {e}")))?;
            builder = builder.header(name, value);
        }
        let req = builder
            .body(Full::new(request.body.unwrap_or_default()))
            .map_err(|e| TransportError::Request(format!("bad request: {e}")))?;
        let exchange = async {
            let response = self.client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    TransportError::Connect(error_chain(&e))
                } else {
                    TransportError::Other(error_chain(&e))
                }
            })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| TransportError::Other(format!("reading the reply: {e}")))?
                .to_bytes();
            Ok(RawResponse {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| TransportError::Timeout(limit))?
    }
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
