//! Running external commands with logging: every command that changes something is echoed
//! (`$ prog args`) to stderr before it runs; failures name the command and carry its stderr.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Prints one progress line of a named step to stderr.
pub fn log(step: &str, msg: impl std::fmt::Display) {
    eprintln!("[{step}] {msg}");
}

/// A command to run, with its printable form kept for logs and errors.
pub struct Cmd {
    inner: Command,
    display: String,
    stdin: Option<String>,
}

impl Cmd {
    /// A command running `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        Cmd {
            inner: Command::new(program),
            display: program.to_string_lossy().into_owned(),
            stdin: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        let arg = arg.as_ref();
        let _ = write!(self.display, " {}", arg.to_string_lossy());
        self.inner.arg(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.inner.env(key, value);
        self
    }

    /// Runs the command in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.inner.current_dir(dir);
        self
    }

    /// Feeds `input` to the command's stdin.
    pub fn stdin(mut self, input: impl Into<String>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Runs the command with inherited stdout/stderr after echoing it; fails on a non-zero exit.
    pub fn run(mut self) -> Result<()> {
        eprintln!("$ {}", self.display);
        let status = if let Some(input) = self.stdin.take() {
            let mut child = self
                .inner
                .stdin(Stdio::piped())
                .spawn()
                .with_context(|| format!("cannot start `{}`", self.display))?;
            if let Some(mut pipe) = child.stdin.take() {
                pipe.write_all(input.as_bytes())
                    .with_context(|| format!("cannot write to stdin of `{}`", self.display))?;
            }
            child.wait()
        } else {
            self.inner.stdin(Stdio::null()).status()
        }
        .with_context(|| format!("cannot run `{}`", self.display))?;
        if !status.success() {
            bail!("`{}` failed ({status})", self.display);
        }
        Ok(())
    }

    /// Runs the command quietly and returns its stdout; on failure the error carries its stderr.
    pub fn read(mut self) -> Result<String> {
        let out = self
            .inner
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run `{}`", self.display))?;
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                self.display,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the command quietly and tells whether it exited with status 0.
    pub fn succeeds(mut self) -> bool {
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts the command detached in its own session (`setsid -f`), so it outlives xtask,
    /// with stdout and stderr appended to `log_file` and `/` as working directory.
    pub fn spawn_detached(self, log_file: &Path) -> Result<()> {
        let display = self.display.clone();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file)
            .with_context(|| format!("cannot open log file {}", log_file.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot open log file {}", log_file.display()))?;
        let program = self.inner.get_program().to_owned();
        let args: Vec<_> = self.inner.get_args().map(|a| a.to_owned()).collect();
        let envs: Vec<_> = self
            .inner
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        eprintln!("$ setsid -f {display} >>{} 2>&1", log_file.display());
        let status = Command::new("setsid")
            .arg("-f")
            .arg(program)
            .args(args)
            .envs(envs)
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .with_context(|| format!("cannot start `{display}`"))?;
        if !status.success() {
            bail!("`setsid -f {display}` failed ({status})");
        }
        Ok(())
    }
}
