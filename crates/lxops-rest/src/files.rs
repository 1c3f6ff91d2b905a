//! The files API: write (mode/uid/gid/append headers), read, mkdir and delete; for trees,
//! `HEAD` (what is at a path), directory listings and symlinks.
//!
//! Uploads are sent as `application/octet-stream`: with a form content type both daemons
//! would swallow the body and create an empty file.

use hyper::Method;
use lxops_core::server::{
    DirCreate, FileContent, FileInfo, FileKind, FileWrite, ServerError, ServerResult, SymlinkCreate,
};
use serde_json::Value;

use crate::dialect::Dialect;
use crate::errors::{Request, Subject};
use crate::server::RestServer;
use crate::transport::{encode, RawRequest, RawResponse};

/// The request headers for a file or directory write.
pub fn write_headers(
    dialect: &Dialect,
    kind: &str,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    append: bool,
) -> Vec<(String, String)> {
    let p = dialect.header_prefix;
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/octet-stream".to_string(),
        ),
        (format!("{p}Type"), kind.to_string()),
    ];
    if let Some(mode) = mode {
        // Both daemons read the header with Go's `ParseInt(text, 0, 0)`: only a leading 0
        // makes it octal (`4755` would be decimal, mode 0223). They keep only `mode & 0777`.
        headers.push((format!("{p}Mode"), format!("0{mode:o}")));
    }
    if let Some(uid) = uid {
        headers.push((format!("{p}Uid"), uid.to_string()));
    }
    if let Some(gid) = gid {
        headers.push((format!("{p}Gid"), gid.to_string()));
    }
    if kind == "file" {
        let write = if append { "append" } else { "overwrite" };
        headers.push((format!("{p}Write"), write.to_string()));
    }
    headers
}

fn files_url(server: &RestServer, instance: &str, path: &str) -> String {
    server.instance_url(instance, &format!("/files?path={}", encode(path)))
}

async fn send(
    server: &RestServer,
    request: RawRequest,
    subject: &Subject<'_>,
) -> ServerResult<RawResponse> {
    server
        .conn
        .raw(request, server.conn.timeout, subject.context)
        .await
}

/// Writes a file.
pub async fn write_file(server: &RestServer, instance: &str, file: &FileWrite) -> ServerResult<()> {
    write(server, instance, file, true).await
}

/// Writes a file that the caller knows does not exist: without the `HEAD` that looks at an
/// existing file's mode and owner (half the requests of a tree push).
pub async fn write_new_file(
    server: &RestServer,
    instance: &str,
    file: &FileWrite,
) -> ServerResult<()> {
    write(server, instance, file, false).await
}

async fn write(
    server: &RestServer,
    instance: &str,
    file: &FileWrite,
    may_exist: bool,
) -> ServerResult<()> {
    let context = format!("writing {} in instance {instance:?}", file.path);
    let what = format!("directory of {} in instance {instance:?}", file.path);
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Change,
    };
    if may_exist && !file.append {
        remove_if_permissions_differ(server, instance, file, &subject).await?;
    }
    let mut request = RawRequest::new(Method::POST, files_url(server, instance, &file.path));
    request.headers = write_headers(
        server.dialect(),
        "file",
        file.mode,
        file.uid,
        file.gid,
        file.append,
    );
    request.body = Some(file.content.clone().into());
    let result = server
        .conn
        .answer(send(server, request, &subject).await?, &subject)
        .map(drop);
    missing_instance(server, instance, result).await
}

/// A 404 of the files API names no object: the file (or its directory), the instance or its
/// project may be missing. So on a 404 the instance is read (which checks the project), and
/// its error wins. One extra request, on 404s only.
async fn missing_instance<T>(
    server: &RestServer,
    instance: &str,
    result: ServerResult<T>,
) -> ServerResult<T> {
    match result {
        Err(e) if e.is_not_found() => {
            server.require_instance(instance).await?;
            Err(e)
        }
        other => other,
    }
}

/// Both daemons keep an existing file's mode and owner when the file API overwrites it, even
/// when the request sets them (verified on LXD 5.0.2 and Incus 6.0.4). So a regular file whose
/// mode or owner differs from what `file` asks for is deleted first, and the write creates it
/// anew with the requested ones. One `HEAD` request when nothing differs.
async fn remove_if_permissions_differ(
    server: &RestServer,
    instance: &str,
    file: &FileWrite,
    subject: &Subject<'_>,
) -> ServerResult<()> {
    if file.mode.is_none() && file.uid.is_none() && file.gid.is_none() {
        return Ok(());
    }
    let url = files_url(server, instance, &file.path);
    let response = send(server, RawRequest::new(Method::HEAD, url), subject).await?;
    if response.status >= 400 {
        // Missing (404) or not readable: the write itself reports real problems.
        return Ok(());
    }
    let existing = file_meta(server.dialect(), &response);
    let differs = file
        .mode
        .is_some_and(|m| m & 0o7777 != existing.mode & 0o7777)
        || file.uid.is_some_and(|u| u != existing.uid)
        || file.gid.is_some_and(|g| g != existing.gid);
    if existing.kind == FileKind::File && differs {
        delete_file(server, instance, &file.path).await?;
    }
    Ok(())
}

/// Creates a directory; an existing one is fine.
pub async fn make_dir(server: &RestServer, instance: &str, dir: &DirCreate) -> ServerResult<()> {
    let context = format!("creating directory {} in instance {instance:?}", dir.path);
    let what = format!("parent of {} in instance {instance:?}", dir.path);
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Change,
    };
    let mut request = RawRequest::new(Method::POST, files_url(server, instance, &dir.path));
    request.headers = write_headers(
        server.dialect(),
        "directory",
        Some(dir.mode.unwrap_or(0o755)),
        dir.uid,
        dir.gid,
        false,
    );
    match server
        .conn
        .answer(send(server, request, &subject).await?, &subject)
    {
        Ok(_) | Err(ServerError::AlreadyExists { .. }) => Ok(()),
        Err(e) => missing_instance(server, instance, Err(e)).await,
    }
}

/// Parses an octal mode header (`0644`).
pub fn parse_mode(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim(), 8).ok()
}

/// The kind, owner and mode a `GET` or `HEAD …/files` reply announces in its headers, read
/// with the dialect's prefix. `content` is left empty.
fn file_meta(dialect: &Dialect, response: &RawResponse) -> FileContent {
    let p = dialect.header_prefix;
    let header = |name: &str| response.header(&format!("{p}{name}"));
    let number = |name: &str| {
        header(name)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(0)
    };
    let kind = match header("Type").unwrap_or("file") {
        "directory" => FileKind::Directory,
        "symlink" => FileKind::Symlink,
        _ => FileKind::File,
    };
    FileContent {
        kind,
        content: Vec::new(),
        uid: number("Uid"),
        gid: number("Gid"),
        mode: header("Mode").and_then(parse_mode).unwrap_or(0),
    }
}

/// Turns a successful `GET …/files` reply into [`FileContent`], reading the headers with the
/// dialect's prefix.
pub fn file_content(dialect: &Dialect, response: &RawResponse) -> Result<FileContent, String> {
    let mut file = file_meta(dialect, response);
    file.content = if file.kind == FileKind::Directory {
        let entries = match crate::envelope::parse_reply(response.status, &response.body)? {
            crate::envelope::Reply::Sync(Value::Array(entries)) => entries,
            crate::envelope::Reply::Sync(Value::Null) => Vec::new(),
            other => return Err(format!("unexpected directory listing {other:?}")),
        };
        let names: Vec<&str> = entries.iter().filter_map(Value::as_str).collect();
        names.join("\n").into_bytes()
    } else {
        response.body.to_vec()
    };
    Ok(file)
}

/// Sends `method` for `path` in `instance`: `None` when nothing is at the path (a 404 of an
/// instance that exists), a [`ServerError::NotFound`] naming the instance when it is the
/// missing one, and the daemon's error for any other failure.
async fn path_request(
    server: &RestServer,
    instance: &str,
    method: Method,
    path: &str,
    subject: &Subject<'_>,
) -> ServerResult<Option<RawResponse>> {
    let head = method == Method::HEAD;
    let request = RawRequest::new(method, files_url(server, instance, path));
    let response = send(server, request, subject).await?;
    if response.status == 404 {
        // A missing path, unless the instance (or its project) is the missing one.
        server.require_instance(instance).await?;
        return Ok(None);
    }
    if response.status >= 400 {
        if head {
            // A HEAD reply has no body: report the status with what was asked.
            return Err(ServerError::Api {
                context: subject.context.to_string(),
                status: response.status,
                message: format!("HTTP {}", response.status),
            });
        }
        return server.conn.answer(response, subject).map(|_| None);
    }
    Ok(Some(response))
}

/// Reads a file; `None` when it does not exist, a [`ServerError::NotFound`] naming the instance
/// when the instance does not exist.
pub async fn read_file(
    server: &RestServer,
    instance: &str,
    path: &str,
) -> ServerResult<Option<FileContent>> {
    let context = format!("reading {path} in instance {instance:?}");
    let what = format!("{path} in instance {instance:?}");
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Read,
    };
    let Some(response) = path_request(server, instance, Method::GET, path, &subject).await? else {
        return Ok(None);
    };
    file_content(server.dialect(), &response)
        .map(Some)
        .map_err(|e| ServerError::Protocol(format!("{context}: {e}")))
}

/// Deletes a file or an empty directory.
pub async fn delete_file(server: &RestServer, instance: &str, path: &str) -> ServerResult<()> {
    let context = format!("deleting {path} in instance {instance:?}");
    let what = format!("{path} in instance {instance:?}");
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Change,
    };
    let request = RawRequest::new(Method::DELETE, files_url(server, instance, path));
    let result = server
        .conn
        .answer(send(server, request, &subject).await?, &subject)
        .map(drop);
    missing_instance(server, instance, result).await
}

// ---- files and trees ------------------------------------------------------------------------

/// What is at `path` (`HEAD`: both daemons answer with the `lstat` of the path, a symlink as
/// `symlink`); `None` when nothing is there, a [`ServerError::NotFound`] naming the instance
/// when the instance is missing.
pub async fn file_info(
    server: &RestServer,
    instance: &str,
    path: &str,
) -> ServerResult<Option<FileInfo>> {
    let context = format!("inspecting {path} in instance {instance:?}");
    let what = format!("{path} in instance {instance:?}");
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Read,
    };
    let Some(response) = path_request(server, instance, Method::HEAD, path, &subject).await? else {
        return Ok(None);
    };
    let meta = file_meta(server.dialect(), &response);
    Ok(Some(FileInfo {
        kind: meta.kind,
        uid: meta.uid,
        gid: meta.gid,
        mode: meta.mode,
    }))
}

/// The entry names of a directory, exactly as the daemon lists them (the JSON array of a
/// `GET` on a directory).
pub async fn list_dir(
    server: &RestServer,
    instance: &str,
    path: &str,
) -> ServerResult<Vec<String>> {
    let context = format!("listing directory {path} in instance {instance:?}");
    let what = format!("directory {path} in instance {instance:?}");
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Read,
    };
    let Some(response) = path_request(server, instance, Method::GET, path, &subject).await? else {
        return Err(ServerError::NotFound { what });
    };
    if file_meta(server.dialect(), &response).kind != FileKind::Directory {
        return Err(ServerError::Api {
            context,
            status: 400,
            message: "not a directory".into(),
        });
    }
    match crate::envelope::parse_reply(response.status, &response.body) {
        Ok(crate::envelope::Reply::Sync(Value::Array(entries))) => entries
            .into_iter()
            .map(|entry| match entry {
                Value::String(name) => Ok(name),
                other => Err(ServerError::Protocol(format!(
                    "{context}: an entry is not a name: {other}"
                ))),
            })
            .collect(),
        Ok(crate::envelope::Reply::Sync(Value::Null)) => Ok(Vec::new()),
        Ok(other) => Err(ServerError::Protocol(format!(
            "{context}: unexpected directory listing {other:?}"
        ))),
        Err(e) => Err(ServerError::Protocol(format!("{context}: {e}"))),
    }
}

/// Creates a symbolic link (`X-LXD-Type: symlink`, the target as the body). Both daemons
/// refuse to replace an existing link with another target ("file exists"), so callers delete
/// it first.
pub async fn make_symlink(
    server: &RestServer,
    instance: &str,
    link: &SymlinkCreate,
) -> ServerResult<()> {
    let context = format!("creating symlink {} in instance {instance:?}", link.path);
    let what = format!("directory of {} in instance {instance:?}", link.path);
    let subject = Subject {
        context: &context,
        what: &what,
        request: Request::Change,
    };
    let mut request = RawRequest::new(Method::POST, files_url(server, instance, &link.path));
    request.headers = write_headers(server.dialect(), "symlink", None, None, None, false);
    request.body = Some(link.target.clone().into_bytes().into());
    let result = server
        .conn
        .answer(send(server, request, &subject).await?, &subject)
        .map(drop);
    missing_instance(server, instance, result).await
}
