//! Config formats: the header line decides the format; [`Formats`] holds migrators from older
//! formats, applied in a loop (with loop detection) until the text is `#lxops-v1`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::error::ConfigError;

/// The header of the current format.
pub const CURRENT: &str = "#lxops-v1";

type Migrate = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync;

/// The registry of config formats: the current `#lxops-v1` plus registered migrators.
#[derive(Default, Clone)]
pub struct Formats {
    migrators: BTreeMap<String, Arc<Migrate>>,
}

impl fmt::Debug for Formats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Formats")
            .field("current", &CURRENT)
            .field("migrators", &self.migrators.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Formats {
    /// Only the current `#lxops-v1` format.
    pub fn new() -> Self {
        Formats::default()
    }

    /// Registers a migrator for files whose first line is `header` (e.g. "#lxdops"): bytes to
    /// bytes; its output starts with another header and is read again (chained, loop-detected).
    pub fn register(
        &mut self,
        header: impl Into<String>,
        migrate: impl Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) {
        self.migrators.insert(header.into(), Arc::new(migrate));
    }

    /// The headers: the current one first, then the registered ones, sorted.
    pub fn headers(&self) -> Vec<String> {
        std::iter::once(CURRENT.to_string())
            .chain(self.migrators.keys().cloned())
            .collect()
    }

    /// Migrates `bytes` (read from `file`) to the current format. Returns the current-format
    /// bytes and the chain of headers it went through (empty when it was current already).
    pub fn to_current(
        &self,
        file: &Path,
        bytes: Vec<u8>,
    ) -> Result<(Vec<u8>, Vec<String>), ConfigError> {
        let mut bytes = bytes;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let Some(header) = header_line(&bytes) else {
                return Err(ConfigError::NoHeader {
                    file: file.to_path_buf(),
                });
            };
            if header == CURRENT {
                return Ok((bytes, seen));
            }
            if seen.contains(&header) {
                seen.push(header);
                return Err(ConfigError::MigrationLoop {
                    file: file.to_path_buf(),
                    chain: seen.join(" -> "),
                });
            }
            let Some(migrate) = self.migrators.get(&header) else {
                return Err(ConfigError::UnknownFormat {
                    file: file.to_path_buf(),
                    header,
                    known: self.headers().join(", "),
                });
            };
            tracing::debug!("{}: migrating from {header}", file.display());
            bytes = migrate(&bytes).map_err(|message| ConfigError::Migration {
                file: file.to_path_buf(),
                header: header.clone(),
                message,
            })?;
            seen.push(header);
        }
    }
}

/// The first line when it is a comment (byte 0 is `#`), cut at `\r` or `\n`. A UTF-8 byte
/// order mark is skipped.
pub fn header_line(bytes: &[u8]) -> Option<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.first() != Some(&b'#') {
        return None;
    }
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_first_comment_line_cut_at_cr_or_lf() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"#lxops-v1\nimage: x\n", Some("#lxops-v1")),
            (b"#lxops-v1\r\nimage: x\r\n", Some("#lxops-v1")),
            (b"#lxops-v1 \n", Some("#lxops-v1 ")),
            (b"#lxops-v1", Some("#lxops-v1")),
            (b"image: x\n", None),
            (b"", None),
            (b"\xEF\xBB\xBF#lxdops\n", Some("#lxdops")),
        ];
        for (bytes, want) in cases {
            assert_eq!(header_line(bytes).as_deref(), *want, "{bytes:?}");
        }
    }
}
