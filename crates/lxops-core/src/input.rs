//! Bounded reading of input files (configs, includes, property files, cloud-config files):
//! only regular files are read, and at most [`MAX_INPUT_BYTES`]. A FIFO, a device such as
//! `/dev/zero`, a socket or a directory is refused before anything is read, so a wrong path
//! never hangs lxops or fills its memory.
//!
//! The errors are plain [`std::io::Error`]s (kind `InvalidInput` or `FileTooLarge`) whose
//! message says what is wrong and what to do; the caller's error names the file, as it does
//! for a missing file.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest input file lxops reads: 1 MiB. Real configs, property files and cloud-config
/// files are a few KiB; this leaves plenty of room and keeps a wrong path harmless.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// The limit as people read it, for messages and help.
pub const MAX_INPUT_TEXT: &str = "1 MiB";

/// Reads a regular file of at most [`MAX_INPUT_BYTES`].
///
/// The file is opened non-blocking (a FIFO that appears between the check and the open cannot
/// block), its type is checked on the open handle, its size is checked from the metadata, and
/// the read itself is capped, so a file that grows while it is read is refused too.
pub fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    read_bounded_limit(path, MAX_INPUT_BYTES)
}

/// [`read_bounded`] as UTF-8 text (`InvalidData` when it is not UTF-8).
pub fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_bounded(path)?).map_err(|e| {
        refuse(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e}); save the file as UTF-8"),
        )
    })
}

/// Reads UTF-8 text of at most [`MAX_INPUT_BYTES`] from a stream (stdin): the same limit as a
/// file, for input that has no metadata to check first.
pub fn read_stream_text(stream: impl Read) -> io::Result<String> {
    let mut bytes = Vec::new();
    let read = stream.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)? as u64;
    if read > MAX_INPUT_BYTES {
        return Err(too_large(read, MAX_INPUT_BYTES));
    }
    String::from_utf8(bytes).map_err(|e| {
        refuse(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e}); save the file as UTF-8"),
        )
    })
}

/// Why `path` cannot be read as an input file, if it cannot, as the end of a sentence naming it:
/// it does not exist, it is not a regular file (a directory, FIFO or device is never read), or
/// it is larger than [`MAX_INPUT_BYTES`]. A look at the metadata only: the checks before a
/// command reads a file (`ops::verify_offline`, `config::evaluate_source`) use it to report every
/// unreadable file at once.
pub fn file_problem(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() > MAX_INPUT_BYTES => Some(format!(
            "is larger than the {MAX_INPUT_TEXT} limit for lxops input files"
        )),
        Ok(m) if m.is_file() => None,
        Ok(_) => Some("is not a regular file".to_string()),
        Err(_) => Some("does not exist".to_string()),
    }
}

/// Whether an error from [`read_bounded`] is one of its own refusals (not an OS error), so
/// the caller does not add "check the path and its permissions" to it.
pub fn is_refusal(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refusal>())
}

/// The message of a refusal, typed so [`is_refusal`] can tell it apart from an OS error.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

fn refuse(kind: io::ErrorKind, message: String) -> io::Error {
    io::Error::new(kind, Refusal(message))
}

fn read_bounded_limit(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // A first check by path, so a directory or device gets the clear message rather than
    // whatever opening it does (opening a FIFO for reading would block without O_NONBLOCK).
    check_type(&std::fs::metadata(path)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    check_type(&meta)?;
    if meta.len() > limit {
        return Err(too_large(meta.len(), limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let read = read_capped(file, limit, &mut bytes)?;
    if read > limit {
        return Err(too_large(read, limit));
    }
    Ok(bytes)
}

fn read_capped(file: File, limit: u64, bytes: &mut Vec<u8>) -> io::Result<u64> {
    // One byte more than the limit tells "exactly at the limit" from "grew past it".
    let read = file.take(limit + 1).read_to_end(bytes)?;
    Ok(read as u64)
}

fn too_large(size: u64, limit: u64) -> io::Error {
    let limit = if limit == MAX_INPUT_BYTES {
        MAX_INPUT_TEXT.to_string()
    } else {
        format!("{limit} bytes")
    };
    refuse(
        io::ErrorKind::FileTooLarge,
        format!(
            "the file is larger than the limit for lxops input files ({size} bytes or more; the limit is {limit}); give the right file (a config can be split with `include`)"
        ),
    )
}

fn check_type(meta: &Metadata) -> io::Result<()> {
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(refuse(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file; give the path of a regular file"),
    ))
}

/// `s` with control characters (C0, DEL, C1), and the bidirectional-text controls that can
/// reorder what a terminal shows, escaped (`\n`, `\u{1b}`), so text from a file or a name
/// never reaches a terminal raw through a message. Everything else is unchanged.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A whole message for a terminal: like [`escape_controls`], but line breaks are kept, so a
/// message of several lines still prints as several lines. The CLI passes every error it
/// prints through this, as a last guard for messages that quote file text.
pub fn escape_message(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && needs_escape(c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let lines: Vec<std::borrow::Cow<'_, str>> = s.split('\n').map(escape_controls).collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

/// A path for a message: lossy UTF-8 with [`escape_controls`].
pub fn escape_path(path: &Path) -> String {
    escape_controls(&path.to_string_lossy()).into_owned()
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(r: io::Result<Vec<u8>>) -> Result<usize, String> {
        r.map(|b| b.len()).map_err(|e| {
            assert!(is_refusal(&e), "not a refusal: {e}");
            e.to_string()
        })
    }

    #[test]
    fn reads_regular_files_up_to_the_limit_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"#lxops-v1\n").unwrap();
        let exact = dir.path().join("exact");
        std::fs::write(&exact, vec![b'a'; 16]).unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 17]).unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&small, &link).unwrap();

        let cases: &[(&Path, Result<usize, &str>)] = &[
            (&small, Ok(10)),
            (&exact, Ok(16)),
            (&link, Ok(10)),
            (&big, Err("the limit is 16 bytes")),
            (dir.path(), Err("it is a directory, not a regular file")),
            (&fifo, Err("it is a FIFO (named pipe), not a regular file")),
            (
                Path::new("/dev/zero"),
                Err("it is a character device, not a regular file"),
            ),
        ];
        for (path, want) in cases {
            let got = outcome(read_bounded_limit(path, 16));
            match (want, &got) {
                (Ok(n), Ok(m)) => assert_eq!(n, m, "{}", path.display()),
                (Err(w), Err(m)) => assert!(m.contains(w), "{}: {m}", path.display()),
                _ => panic!("{}: want {want:?}, got {got:?}", path.display()),
            }
        }
    }

    #[test]
    fn a_growing_file_is_cut_at_the_limit() {
        // /proc/self/status is a regular file whose metadata says 0 bytes: only the capped
        // read can see that it is larger than the limit.
        let err = read_bounded_limit(Path::new("/proc/self/status"), 8).unwrap_err();
        assert!(is_refusal(&err));
        assert!(err.to_string().contains("the limit is 8 bytes"), "{err}");
    }

    #[test]
    fn a_missing_file_is_an_os_error_not_a_refusal() {
        let err = read_bounded(Path::new("/nonexistent/lxops/file")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!is_refusal(&err));
    }

    #[test]
    fn control_characters_are_escaped() {
        let cases = [
            ("plain text / é", "plain text / é"),
            ("a\x1b[31mred", "a\\u{1b}[31mred"),
            ("line\nbreak\ttab\r", "line\\nbreak\\ttab\\r"),
            ("del\x7f c1\u{9b}", "del\\u{7f} c1\\u{9b}"),
            ("bidi\u{202e}txt", "bidi\\u{202e}txt"),
        ];
        for (raw, want) in cases {
            assert_eq!(escape_controls(raw), want, "{raw:?}");
        }
        assert_eq!(
            escape_message("a.yaml: bad\n  x\x1b]0;title\x07"),
            "a.yaml: bad\n  x\\u{1b}]0;title\\u{7}"
        );
    }

    #[test]
    fn a_stream_is_capped_too() {
        let ok = read_stream_text(&b"#cloud-config\n"[..]).unwrap();
        assert_eq!(ok, "#cloud-config\n");
        let err = read_stream_text(std::io::repeat(b'a')).unwrap_err();
        assert!(is_refusal(&err));
        assert!(err.to_string().contains("the limit is 1 MiB"), "{err}");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"\xff\xfe").unwrap();
        let err = read_text(&bad).unwrap_err();
        assert!(err.to_string().contains("not UTF-8 text"), "{err}");
    }
}
