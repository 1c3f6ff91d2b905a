//! The streaming body mode of the transport: request bodies read from files in chunks
//! ([`Payload`], sent as an [`UploadBody`]) and replies written to files in chunks
//! (`download`, a multipart reply split into its parts on the way), so image and
//! volume-backup transfers are never held whole in memory, over the unix socket and HTTPS
//! alike. The connections are the transport's ([`crate::transport`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use hyper::Method;
use lxops_core::server::ServerResult;

use crate::client::{Answer, Connection};
use crate::envelope::Operation;
use crate::errors::Subject;
use crate::images::{boundary_of, disposition_filename};
use crate::server::RestServer;
use crate::transport::{RawRequest, RawResponse, StreamedResponse, TransportError};

/// Chunk size of streamed uploads.
const CHUNK: usize = 256 * 1024;

/// Most bytes of the headers of one multipart part.
const PART_HEAD_LIMIT: usize = 64 * 1024;

/// A request body: bytes and files, in order. Files are opened and read in chunks each time
/// the request is sent (a retried request reads them again); their lengths are taken when they
/// are added.
#[derive(Debug, Clone, Default)]
pub struct Payload {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Bytes(Bytes),
    File { path: PathBuf, len: u64 },
}

impl Payload {
    /// An empty body.
    pub fn new() -> Self {
        Payload::default()
    }

    /// Appends bytes.
    pub fn bytes(mut self, bytes: impl Into<Bytes>) -> Self {
        self.pieces.push(Piece::Bytes(bytes.into()));
        self
    }

    /// Appends the file at `path`, read when the request is sent; fails when it cannot be read.
    pub fn file(mut self, path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        self.pieces.push(Piece::File {
            path: path.to_path_buf(),
            len,
        });
        Ok(self)
    }

    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        self.pieces
            .iter()
            .map(|piece| match piece {
                Piece::Bytes(bytes) => bytes.len() as u64,
                Piece::File { len, .. } => *len,
            })
            .sum()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body to send: its files opened (the message names a file that cannot be).
    pub(crate) fn open(&self) -> Result<UploadBody, String> {
        let mut sources = VecDeque::new();
        for piece in &self.pieces {
            match piece {
                Piece::Bytes(bytes) if bytes.is_empty() => {}
                Piece::Bytes(bytes) => sources.push_back(Source::Bytes(bytes.clone())),
                Piece::File { len: 0, .. } => {}
                Piece::File { path, len } => {
                    let file = std::fs::File::open(path)
                        .map_err(|e| format!("reading {}: {e}", path.display()))?;
                    sources.push_back(Source::File {
                        file: tokio::fs::File::from_std(file),
                        left: *len,
                        path: path.clone(),
                    });
                }
            }
        }
        Ok(UploadBody {
            len: self.len(),
            sources,
        })
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Payload::new().bytes(bytes)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload::new().bytes(bytes)
    }
}

/// One piece of an [`UploadBody`].
#[derive(Debug)]
enum Source {
    Bytes(Bytes),
    File {
        file: tokio::fs::File,
        /// Bytes still to send (the length the file had when it was added).
        left: u64,
        path: PathBuf,
    },
}

/// A request body read from files and bytes in chunks, with its exact length (the transport's
/// one body type; a body in memory is one piece).
#[derive(Debug)]
pub struct UploadBody {
    sources: VecDeque<Source>,
    len: u64,
}

impl UploadBody {
    /// No body.
    pub(crate) fn empty() -> UploadBody {
        UploadBody {
            sources: VecDeque::new(),
            len: 0,
        }
    }
}

impl hyper::body::Body for UploadBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        use std::task::Poll;
        loop {
            match self.sources.front_mut() {
                None => return Poll::Ready(None),
                Some(Source::Bytes(bytes)) => {
                    let bytes = std::mem::take(bytes);
                    self.sources.pop_front();
                    return Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes))));
                }
                Some(Source::File { left: 0, .. }) => {
                    self.sources.pop_front();
                }
                Some(Source::File { file, left, path }) => {
                    let want = (*left).min(CHUNK as u64) as usize;
                    let mut buf = vec![0u8; want];
                    let mut read = tokio::io::ReadBuf::new(&mut buf);
                    match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(file), cx, &mut read) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => {
                            let e = std::io::Error::new(
                                e.kind(),
                                format!("reading {}: {e}", path.display()),
                            );
                            return Poll::Ready(Some(Err(e)));
                        }
                        Poll::Ready(Ok(())) => {
                            let n = read.filled().len();
                            if n == 0 {
                                let e = std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    format!("{} became shorter while it was sent", path.display()),
                                );
                                return Poll::Ready(Some(Err(e)));
                            }
                            *left -= n as u64;
                            buf.truncate(n);
                            return Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(
                                buf,
                            )))));
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.sources.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.len)
    }
}

impl RestServer {
    /// Sends a request whose body is a file (an upload), within the whole operation timeout
    /// rather than a plain request's, and waits for the operation it starts.
    pub(crate) async fn send_file(
        &self,
        request: RawRequest,
        context: &str,
        what: &str,
    ) -> ServerResult<Operation> {
        let subject = Subject::of(&request.method, &request.path, context, what);
        let response = self.conn.raw(request, self.conn.timeout, context).await?;
        match self.checked(self.conn.answer(response, &subject)).await? {
            Answer::Sync { value, .. } => Ok(Operation {
                status: "Success".into(),
                metadata: Some(value),
                ..Default::default()
            }),
            Answer::Async(op) => self.conn.wait_success(&op.id, &subject).await,
        }
    }
}

/// What a download gave.
#[derive(Debug)]
pub(crate) enum Downloaded {
    /// The files written, in the order of the reply.
    Files(Vec<PathBuf>),
    /// Anything but a 200 file reply (an error envelope, JSON), read whole.
    Reply(RawResponse),
}

impl Downloaded {
    fn reply(&self) -> Option<&RawResponse> {
        match self {
            Downloaded::Files(_) => None,
            Downloaded::Reply(response) => Some(response),
        }
    }
}

/// `GET url`, each attempt within the connection's timeout, repeated as any read is when it
/// fails in a transient way (a failed attempt leaves no file). A 200 reply that is not JSON is
/// written to files in chunks: a multipart body part by part, each to `target(field name, its
/// filename)`, any other body to `target("", the Content-Disposition filename)`. Files are
/// written under temporary names and renamed when the whole reply arrived, so a cut download
/// leaves nothing that looks complete. Anything else is returned whole.
pub(crate) async fn download(
    conn: &Connection,
    url: &str,
    context: &str,
    target: &(dyn Fn(&str, Option<&str>) -> PathBuf + Sync),
) -> ServerResult<Downloaded> {
    let limit = conn.timeout;
    conn.retrying(true, context, Downloaded::reply, || async move {
        tokio::time::timeout(limit, download_once(conn, url, target))
            .await
            .unwrap_or(Err(TransportError::Timeout(limit)))
    })
    .await
}

async fn download_once(
    conn: &Connection,
    url: &str,
    target: &(dyn Fn(&str, Option<&str>) -> PathBuf + Sync),
) -> Result<Downloaded, TransportError> {
    let mut reply = conn
        .transport
        .start(RawRequest::new(Method::GET, url))
        .await?;
    let content_type = reply.header("content-type").unwrap_or("").to_string();
    if reply.status != 200 || content_type.starts_with("application/json") {
        return Ok(Downloaded::Reply(reply.whole().await?));
    }
    let mut files = Vec::new();
    match boundary_of(&content_type) {
        Some(boundary) => receive_parts(&mut reply, &boundary, target, &mut files).await?,
        None => {
            let filename = disposition_filename(reply.header("content-disposition"));
            let mut file = PartFile::create(target("", filename.as_deref())).await?;
            while let Some(chunk) = reply.next_chunk().await? {
                file.write(&chunk).await?;
            }
            files.push(file);
        }
    }
    let mut written = Vec::new();
    for file in files {
        written.push(file.finish().await?);
    }
    Ok(Downloaded::Files(written))
}

/// Writes the parts of a multipart reply to their files as they arrive.
async fn receive_parts(
    reply: &mut StreamedResponse,
    boundary: &str,
    target: &(dyn Fn(&str, Option<&str>) -> PathBuf + Sync),
    files: &mut Vec<PartFile>,
) -> Result<(), TransportError> {
    let mut splitter = MultipartSplitter::new(boundary);
    while let Some(chunk) = reply.next_chunk().await? {
        for event in splitter.feed(&chunk).map_err(TransportError::Local)? {
            match event {
                PartEvent::Start { name, filename } => {
                    files.push(PartFile::create(target(&name, filename.as_deref())).await?);
                }
                PartEvent::Data(data) => match files.last_mut() {
                    Some(file) => file.write(&data).await?,
                    None => return Err(TransportError::Local("data before the first part".into())),
                },
            }
        }
    }
    splitter.finish().map_err(TransportError::Local)
}

/// A file being written under a temporary name next to its target; removed when dropped
/// unfinished (a failure or a timeout).
struct PartFile {
    target: PathBuf,
    tmp: PathBuf,
    out: tokio::fs::File,
    finished: bool,
}

impl PartFile {
    async fn create(target: PathBuf) -> Result<PartFile, TransportError> {
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(format!(".part-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let out = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| writing(&target, e))?;
        Ok(PartFile {
            target,
            tmp,
            out,
            finished: false,
        })
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), TransportError> {
        use tokio::io::AsyncWriteExt;
        self.out
            .write_all(data)
            .await
            .map_err(|e| writing(&self.target, e))
    }

    async fn finish(mut self) -> Result<PathBuf, TransportError> {
        use tokio::io::AsyncWriteExt;
        let done = async {
            self.out.flush().await?;
            self.out.sync_all().await?;
            tokio::fs::rename(&self.tmp, &self.target).await
        }
        .await;
        done.map_err(|e| writing(&self.target, e))?;
        self.finished = true;
        Ok(self.target.clone())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn writing(file: &Path, error: std::io::Error) -> TransportError {
    TransportError::Local(format!("writing {}: {error}", file.display()))
}

/// What the splitter found in the bytes fed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartEvent {
    /// A part begins: its form field name and file name.
    Start {
        /// Form field name (`metadata`, `rootfs`).
        name: String,
        /// The part's file name, if any.
        filename: Option<String>,
    },
    /// Content of the current part.
    Data(Bytes),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SplitState {
    /// Before the first boundary.
    Preamble,
    /// Just after a boundary: `--` (the end) or CRLF (a part) follows.
    AfterBoundary,
    /// In a part's headers.
    Head,
    /// In a part's content.
    Content,
    /// After the closing boundary.
    Done,
}

/// Splits a `multipart/*` body fed in pieces of any size into [`PartEvent`]s, holding at
/// most one piece plus a boundary's length (and one part's headers) in memory.
#[derive(Debug)]
pub struct MultipartSplitter {
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    buffer: BytesMut,
    state: SplitState,
}

impl MultipartSplitter {
    /// A splitter for `boundary`.
    pub fn new(boundary: &str) -> Self {
        // The body starts with `--boundary`, without CRLF: one is put in front so that every
        // boundary is the same delimiter.
        let mut buffer = BytesMut::new();
        buffer.extend_from_slice(b"\r\n");
        MultipartSplitter {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            buffer,
            state: SplitState::Preamble,
        }
    }

    /// Feeds the next piece of the body.
    pub fn feed(&mut self, piece: &[u8]) -> Result<Vec<PartEvent>, String> {
        self.buffer.extend_from_slice(piece);
        let mut events = Vec::new();
        loop {
            match self.state {
                SplitState::Preamble => match find(&self.buffer, &self.delimiter) {
                    Some(at) => {
                        let _ = self.buffer.split_to(at + self.delimiter.len());
                        self.state = SplitState::AfterBoundary;
                    }
                    None => {
                        let keep = self.delimiter.len() - 1;
                        if self.buffer.len() > keep {
                            let _ = self.buffer.split_to(self.buffer.len() - keep);
                        }
                        return Ok(events);
                    }
                },
                SplitState::AfterBoundary => {
                    if self.buffer.len() < 2 {
                        return Ok(events);
                    }
                    match &self.buffer[..2] {
                        b"--" => {
                            self.state = SplitState::Done;
                            self.buffer.clear();
                        }
                        b"\r\n" => {
                            let _ = self.buffer.split_to(2);
                            self.state = SplitState::Head;
                        }
                        _ => return Err("a multipart boundary without line end".into()),
                    }
                }
                SplitState::Head => match find(&self.buffer, b"\r\n\r\n") {
                    Some(at) => {
                        let head = self.buffer.split_to(at + 4);
                        events.push(part_start(&String::from_utf8_lossy(&head[..at])));
                        self.state = SplitState::Content;
                    }
                    None if self.buffer.len() > PART_HEAD_LIMIT => {
                        return Err("a part without headers".into())
                    }
                    None => return Ok(events),
                },
                SplitState::Content => match find(&self.buffer, &self.delimiter) {
                    Some(at) => {
                        let data = self.buffer.split_to(at).freeze();
                        if !data.is_empty() {
                            events.push(PartEvent::Data(data));
                        }
                        let _ = self.buffer.split_to(self.delimiter.len());
                        self.state = SplitState::AfterBoundary;
                    }
                    None => {
                        let keep = self.delimiter.len() - 1;
                        if self.buffer.len() > keep {
                            let data = self.buffer.split_to(self.buffer.len() - keep).freeze();
                            events.push(PartEvent::Data(data));
                        }
                        return Ok(events);
                    }
                },
                SplitState::Done => {
                    self.buffer.clear();
                    return Ok(events);
                }
            }
        }
    }

    /// Checks that the body ended with its closing boundary.
    pub fn finish(self) -> Result<(), String> {
        match self.state {
            SplitState::Done => Ok(()),
            SplitState::Preamble => Err("no multipart boundary in the reply".into()),
            _ => Err("a part without end (the reply was cut short)".into()),
        }
    }
}

/// The name and file name of a part, from its headers.
fn part_start(head: &str) -> PartEvent {
    let mut name = String::new();
    let mut filename = None;
    for line in head.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            for p in value.split(';') {
                if let Some((k, v)) = p.trim().split_once('=') {
                    let v = v.trim_matches('"').to_string();
                    match k.trim() {
                        "name" => name = v,
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        }
    }
    PartEvent::Start { name, filename }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn payloads_stream_files_in_chunks_with_their_exact_length() {
        use http_body_util::BodyExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..CHUNK * 2 + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let payload = Payload::new()
            .bytes(&b"<"[..])
            .file(&path)
            .unwrap()
            .bytes(&b">"[..]);
        assert_eq!(payload.len(), content.len() as u64 + 2);
        // Sent twice (a retry reads the file again).
        for _ in 0..2 {
            let body = payload.open().unwrap();
            assert_eq!(
                hyper::body::Body::size_hint(&body).exact(),
                Some(content.len() as u64 + 2)
            );
            let got = body.collect().await.unwrap().to_bytes();
            assert_eq!(got.len(), content.len() + 2);
            assert_eq!(&got[1..got.len() - 1], &content[..]);
        }
    }

    #[tokio::test]
    async fn a_file_that_shrinks_or_vanishes_is_an_error_naming_it() {
        use http_body_util::BodyExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let payload = Payload::new().file(&path).unwrap();
        std::fs::write(&path, b"01234").unwrap();
        let error = payload.open().unwrap().collect().await.unwrap_err();
        assert!(
            error
                .to_string()
                .contains("became shorter while it was sent"),
            "{error}"
        );
        std::fs::remove_file(&path).unwrap();
        let error = payload.open().unwrap_err();
        assert!(error.starts_with(&format!("reading {}: ", path.display())));
    }

    #[test]
    fn empty_bodies_end_at_once() {
        use hyper::body::Body;
        for payload in [Payload::new(), Payload::new().bytes(Bytes::new())] {
            let body = payload.open().unwrap();
            assert!(body.is_end_stream());
            assert_eq!(body.size_hint().exact(), Some(0));
        }
        assert!(UploadBody::empty().is_end_stream());
    }

    /// The parts of `body`, fed to the splitter in pieces of `size` bytes.
    fn split(body: &[u8], boundary: &str, size: usize) -> Result<Vec<(String, Vec<u8>)>, String> {
        let mut splitter = MultipartSplitter::new(boundary);
        let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
        for piece in body.chunks(size) {
            for event in splitter.feed(piece)? {
                match event {
                    PartEvent::Start { name, filename } => {
                        parts.push((format!("{name}:{}", filename.unwrap_or_default()), vec![]))
                    }
                    PartEvent::Data(data) => parts.last_mut().unwrap().1.extend_from_slice(&data),
                }
            }
        }
        splitter.finish()?;
        Ok(parts)
    }

    #[test]
    fn multipart_bodies_split_alike_whatever_the_piece_size() {
        let (head1, head2, tail) = crate::images::multipart_frame("b0", "m.tar.gz", "r.squashfs");
        // Almost delimiters (a boundary never occurs in content).
        let meta = b"meta\r\n--b\r\n--bX\r\n-".to_vec();
        let root: Vec<u8> = (0..3000).map(|i| (i % 7) as u8).collect();
        let mut body = b"preamble\r\n".to_vec();
        for piece in [&head1[..], &meta, &head2[..], &root, &tail[..]] {
            body.extend_from_slice(piece);
        }
        let expected = vec![
            ("metadata:m.tar.gz".to_string(), meta.clone()),
            ("rootfs:r.squashfs".to_string(), root.clone()),
        ];
        for size in (1..40).chain([511, 4096, body.len()]) {
            assert_eq!(
                split(&body, "b0", size).unwrap(),
                expected,
                "pieces of {size}"
            );
        }
    }

    #[test]
    fn cut_or_foreign_multipart_bodies_are_refused() {
        let (head1, _, _) = crate::images::multipart_frame("b0", "m", "r");
        let mut cut = head1.to_vec();
        cut.extend_from_slice(b"half of the metadata");
        let cases: [(&[u8], &str); 3] = [
            (&cut, "a part without end (the reply was cut short)"),
            (b"no boundary at all", "no multipart boundary in the reply"),
            (b"--b0XY", "a multipart boundary without line end"),
        ];
        for (body, error) in cases {
            assert_eq!(split(body, "b0", 3).unwrap_err(), error);
        }
    }
}
