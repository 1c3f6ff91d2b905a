//! Errors of parsing, planning and applying cloud-config files. Every message names the file
//! and the module, and says what to do.

use std::fmt;
use std::path::PathBuf;

use super::step::Module;
use crate::server::ServerError;

/// A cloud-config file could not be read or is malformed. Reported before anything is applied.
#[derive(Debug, thiserror::Error)]
pub enum CloudConfigError {
    /// The file could not be read.
    #[error("{}: cannot read cloud-config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The first line is not `#cloud-config`.
    #[error(
        "{}:1: not a cloud-config file: the first line must be `#cloud-config`, found {found:?}",
        path.display()
    )]
    MissingHeader {
        /// The file.
        path: PathBuf,
        /// The first line as found.
        found: String,
    },
    /// The YAML does not parse.
    #[error("{}: invalid YAML: {message}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The YAML parses but some values are wrong.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found in the file.
        problems: Vec<Problem>,
    },
    /// Several files have errors.
    #[error("{}", render_several(.0))]
    Several(Vec<CloudConfigError>),
}

/// One wrong value in a cloud-config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Where in the file, e.g. `write_files[2].permissions`.
    pub field: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

fn render_problems(path: &std::path::Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let mut s = path.display().to_string();
            if let Some(line) = p.line {
                s.push_str(&format!(":{line}"));
            }
            format!("{s}: {}: {}", p.field, p.message)
        })
        .collect();
    lines.join("\n")
}

fn render_several(errors: &[CloudConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// The chosen OS type cannot do what a file asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The OS type has no command for a module.
    #[error(
        "{}: {module}: the {os} OS type cannot {what}; remove the module or use another ostype",
        path.display()
    )]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The module.
        module: Module,
        /// The OS type's name.
        os: String,
        /// What it cannot do, e.g. `create users`.
        what: String,
    },
}

/// Applying a step failed; nothing after it was applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A command exited with a non-zero status.
    #[error(
        "{}: {module}: command `{command}` failed with exit status {status}{}",
        path.display(),
        StderrSuffix(stderr)
    )]
    Command {
        /// The file.
        path: PathBuf,
        /// The module.
        module: Module,
        /// The command, as `--dry-run` shows it.
        command: String,
        /// Its exit status.
        status: i32,
        /// Its standard error.
        stderr: String,
    },
    /// The runcmd script exited with a non-zero status (the status of its last command).
    #[error(
        "{}: runcmd: the script (run by /bin/sh from /, as cloud-init does) failed with exit status {status}{}{}",
        path.display(),
        EntrySuffix(entry),
        OutputSuffix(output)
    )]
    Runcmd {
        /// The file.
        path: PathBuf,
        /// The script's exit status.
        status: i32,
        /// The entry the script ended in (0-based) and its text, when known.
        entry: Option<(usize, String)>,
        /// Its standard output and error.
        output: String,
    },
    /// The server refused an operation.
    #[error("{}: {module}: {action}: {source}", path.display())]
    Server {
        /// The file.
        path: PathBuf,
        /// The module.
        module: Module,
        /// What lxops was doing, e.g. `writing /etc/motd`.
        action: String,
        /// The server's error.
        source: ServerError,
    },
    /// Something inside the instance is not as the step needs it (an unknown owner, a
    /// missing time zone file).
    #[error("{}: {module}: {message}", path.display())]
    Instance {
        /// The file.
        path: PathBuf,
        /// The module.
        module: Module,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Names the runcmd entry a script ended in.
struct EntrySuffix<'a>(&'a Option<(usize, String)>);

impl fmt::Display for EntrySuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some((i, text)) => {
                let mut text: String = text.replace('\n', "\\n").chars().take(200).collect();
                if text.len() < self.0.as_ref().map_or(0, |(_, t)| t.len()) {
                    text.push_str("...");
                }
                write!(f, " in entry runcmd[{i}] `{text}`")
            }
            None => Ok(()),
        }
    }
}

/// Renders a command's output after an error message, trimmed and bounded.
struct OutputSuffix<'a>(&'a str);

impl fmt::Display for OutputSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.trim().is_empty() {
            return f.write_str(" (no output)");
        }
        StderrSuffix(self.0).fmt(f)
    }
}

/// Renders a command's stderr after an error message, trimmed and bounded.
struct StderrSuffix<'a>(&'a str);

/// At most this much of a failing command's stderr goes into the error.
const MAX_STDERR: usize = 4000;

impl fmt::Display for StderrSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.trim();
        if text.is_empty() {
            return f.write_str(" (no stderr)");
        }
        let mut end = text.len().min(MAX_STDERR);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, ":\n{}", &text[..end])?;
        if end < text.len() {
            f.write_str("\n[...]")?;
        }
        Ok(())
    }
}
