//! Streaming over the local unix socket: request bodies read from files in chunks
//! ([`UploadBody`]) and replies written to a file in chunks (`stream_to_file`), so image and
//! volume-backup transfers are never held whole in memory. Everything else goes through
//! [`crate::transport`], which reads bodies whole.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use hyper::Method;

use crate::images::{disposition_filename, extension_of};

/// One piece of an upload body.
#[derive(Debug)]
pub enum Source {
    /// Bytes in memory (multipart framing).
    Bytes(Bytes),
    /// A file of the given length, read in chunks.
    File(tokio::fs::File, u64),
}

impl Source {
    pub(crate) fn file(file: std::fs::File, len: u64) -> Source {
        Source::File(tokio::fs::File::from_std(file), len)
    }

    fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File(_, len) => *len,
        }
    }
}

/// A request body read from files and bytes in chunks, with its exact length.
#[derive(Debug)]
pub struct UploadBody {
    sources: std::collections::VecDeque<Source>,
    len: u64,
}

impl UploadBody {
    /// The body of `sources` in order (its length: theirs summed).
    pub(crate) fn new(sources: Vec<Source>) -> UploadBody {
        UploadBody {
            len: sources.iter().map(Source::len).sum(),
            sources: sources.into(),
        }
    }
}

/// Chunk size of streamed uploads.
const CHUNK: usize = 256 * 1024;

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
                    if !bytes.is_empty() {
                        return Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes))));
                    }
                }
                Some(Source::File(file, _)) => {
                    let mut buf = vec![0u8; CHUNK];
                    let mut read = tokio::io::ReadBuf::new(&mut buf);
                    match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(file), cx, &mut read) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(Ok(())) => {
                            let n = read.filled().len();
                            if n == 0 {
                                self.sources.pop_front();
                                continue;
                            }
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

/// A one-shot client on the unix socket for a streamed body (no idle connections are kept,
/// for the reason given in `transport`).
fn unix_client() -> hyper_util::client::legacy::Client<hyperlocal::UnixConnector, UploadBody> {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(hyperlocal::UnixConnector)
}

/// Sends `body` (with the `extra` headers) and reads the (JSON) reply whole, within `limit`.
pub(crate) async fn send_body(
    socket: &Path,
    method: Method,
    path: &str,
    content_type: &str,
    extra: &[(String, String)],
    body: UploadBody,
    limit: std::time::Duration,
) -> Result<crate::transport::RawResponse, String> {
    use http_body_util::BodyExt;
    let uri: hyper::Uri = hyperlocal::Uri::new(socket, path).into();
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", content_type);
    for (name, value) in extra {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .body(body)
        .map_err(|e| format!("bad request: {e}"))?;
    let exchange = async {
        let response = unix_client()
            .request(request)
            .await
            .map_err(|e| format!("sending the image: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the reply: {e}"))?
            .to_bytes();
        Ok(crate::transport::RawResponse {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| format!("no reply within {limit:?}"))?
}

/// What a streamed download gave.
pub(crate) enum Streamed {
    /// A unified image written to this file.
    File(PathBuf),
    /// Anything else (an error envelope, a split image's multipart body), read whole.
    Other(crate::transport::RawResponse),
}

/// `GET path`; a 200 octet-stream reply is written to `file` in chunks (through a temporary
/// name, renamed when complete, with the daemon's extension), anything else is read whole.
pub(crate) async fn stream_to_file(
    socket: &Path,
    path: &str,
    file: &Path,
    limit: std::time::Duration,
) -> Result<Streamed, String> {
    use http_body_util::BodyExt;
    use tokio::io::AsyncWriteExt;
    let uri: hyper::Uri = hyperlocal::Uri::new(socket, path).into();
    let request = hyper::Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(UploadBody::new(Vec::new()))
        .map_err(|e| format!("bad request: {e}"))?;
    let work = async {
        let response = unix_client()
            .request(request)
            .await
            .map_err(|e| format!("requesting the image: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if status != 200 || !content_type.starts_with("application/octet-stream") {
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the reply: {e}"))?
                .to_bytes();
            return Ok(Streamed::Other(crate::transport::RawResponse {
                status,
                headers,
                body,
            }));
        }
        let filename = disposition_filename(
            headers
                .get("content-disposition")
                .and_then(|v| v.to_str().ok()),
        );
        let ext = extension_of(filename.as_deref().unwrap_or(""));
        let target = match (ext, file.file_name().and_then(|n| n.to_str())) {
            ("" | ".tar.gz", _) | (_, None) => file.to_path_buf(),
            (ext, Some(name)) => file.with_file_name(format!(
                "{}{ext}",
                name.strip_suffix(".tar.gz").unwrap_or(name)
            )),
        };
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(format!(".part-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let written = async {
            let mut out = tokio::fs::File::create(&tmp).await?;
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(std::io::Error::other)?;
                if let Some(data) = frame.data_ref() {
                    out.write_all(data).await?;
                }
            }
            out.flush().await?;
            out.sync_all().await?;
            tokio::fs::rename(&tmp, &target).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(format!("writing {}: {e}", target.display()));
        }
        Ok(Streamed::File(target))
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| format!("not complete within {limit:?} (raise --timeout for large images)"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upload_bodies_stream_files_in_chunks_with_their_exact_length() {
        use http_body_util::BodyExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..CHUNK * 2 + 7).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let body = UploadBody::new(vec![
            Source::Bytes(Bytes::from_static(b"<")),
            Source::file(file, content.len() as u64),
            Source::Bytes(Bytes::from_static(b">")),
        ]);
        assert_eq!(
            hyper::body::Body::size_hint(&body).exact(),
            Some(content.len() as u64 + 2)
        );
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got.len(), content.len() + 2);
        assert_eq!(&got[1..got.len() - 1], &content[..]);
    }
}
