//! A tiny HTTP/1.1 server on a unix socket that answers from a routing function and records
//! the requests it got.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// One request as the fake daemon saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET /1.0/...` line parts.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header lines as received.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// The `Etag` header of every reply.
pub const ETAG: &str = "\"fake-etag\"";

/// The status a route returns to close the connection without a reply (a reset).
pub const CUT: u16 = 0;

/// A reply: status and body (always JSON or raw bytes).
pub type Route = Arc<dyn Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync>;

/// A reply with its own headers (`Content-Type` is JSON unless given).
pub type HeadRoute = Arc<dyn Fn(&Seen) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync>;

/// A reply header that makes the fake daemon announce twice the body's length and close the
/// connection after the body (a reply cut short).
pub const CUT_BODY: &str = "x-fake-cut-body";

/// The running fake daemon.
pub struct FakeDaemon {
    /// Its socket.
    pub socket: PathBuf,
    /// Requests seen so far.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _dir: tempfile::TempDir,
}

impl FakeDaemon {
    /// Starts serving on a fresh socket in a temporary directory.
    pub fn start(route: Route) -> FakeDaemon {
        Self::start_with_headers(Arc::new(move |seen: &Seen| {
            let (status, body) = route(seen);
            (status, Vec::new(), body)
        }))
    }

    /// Like [`FakeDaemon::start`], the routes giving reply headers.
    pub fn start_with_headers(route: HeadRoute) -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("unix.socket");
        let listener = UnixListener::bind(&socket).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&route), Arc::clone(&log)));
            }
        });
        FakeDaemon {
            socket,
            seen,
            _dir: dir,
        }
    }

    /// `METHOD path` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }
}

async fn serve(mut stream: UnixStream, route: HeadRoute, log: Arc<Mutex<Vec<Seen>>>) {
    let mut buffer = Vec::new();
    loop {
        let header_end = loop {
            if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split_whitespace();
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let body_start = header_end + 4;
        while buffer.len() < body_start + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buffer[body_start..body_start + length].to_vec();
        buffer.drain(..body_start + length);
        let seen = Seen {
            method,
            path,
            headers,
            body,
        };
        let (status, extra, reply) = route(&seen);
        log.lock().unwrap().push(seen);
        if status == CUT {
            // The connection ends without a reply.
            return;
        }
        let cut = extra.iter().any(|(k, _)| k == CUT_BODY);
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nEtag: {ETAG}\r\n",
            if cut { reply.len() * 2 } else { reply.len() }
        );
        if !extra
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            head.push_str("Content-Type: application/json\r\n");
        }
        for (name, value) in extra.iter().filter(|(k, _)| k != CUT_BODY) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&reply).await.is_err()
            || cut
        {
            return;
        }
    }
}
