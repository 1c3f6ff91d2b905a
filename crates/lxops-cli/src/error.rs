//! The CLI's error: a message chain plus a class that decides the exit status.

use std::fmt;

/// What kind of failure, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input (config file, arguments): exit status 2. Nothing was changed.
    Input,
    /// A failure while doing the work (daemon, host command): exit status 1.
    Failure,
    /// `status` found instances that differ from their configs: exit status 3.
    Drift,
}

/// An error with context, as printed by the binaries.
#[derive(Debug)]
pub struct CliError {
    kind: ErrorKind,
    error: anyhow::Error,
}

impl CliError {
    /// A bad-input error.
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: ErrorKind::Input,
            error: error.into(),
        }
    }

    /// A failure while working.
    pub fn failure(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: ErrorKind::Failure,
            error: error.into(),
        }
    }

    /// Adds context to the message, keeping the class.
    pub fn context(self, context: impl fmt::Display + Send + Sync + 'static) -> Self {
        CliError {
            kind: self.kind,
            error: self.error.context(context),
        }
    }

    /// `status` found differences (exit status 3).
    pub fn drift(error: impl Into<anyhow::Error>) -> Self {
        CliError {
            kind: ErrorKind::Drift,
            error: error.into(),
        }
    }

    /// The class.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Input => 2,
            ErrorKind::Failure => 1,
            ErrorKind::Drift => 3,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            // The whole cause chain, but a cause whose text an outer message already
            // shows (library errors often print their source) is not repeated.
            let mut text = String::new();
            for cause in self.error.chain() {
                let message = cause.to_string();
                if text.contains(&message) {
                    continue;
                }
                if !text.is_empty() {
                    text.push_str(": ");
                }
                text.push_str(&message);
            }
            f.write_str(&text)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

/// Adds context to results whose errors convert into [`CliError`].
pub trait ResultExt<T> {
    /// Marks the error as bad input, with context.
    fn input_err(self, context: impl fmt::Display + Send + Sync + 'static) -> CliResult<T>;
    /// Marks the error as a failure, with context.
    fn failed(self, context: impl fmt::Display + Send + Sync + 'static) -> CliResult<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn input_err(self, context: impl fmt::Display + Send + Sync + 'static) -> CliResult<T> {
        self.map_err(|e| CliError::input(anyhow::Error::new(e).context(context)))
    }

    fn failed(self, context: impl fmt::Display + Send + Sync + 'static) -> CliResult<T> {
        self.map_err(|e| CliError::failure(anyhow::Error::new(e).context(context)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_shown_without_repeating_a_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        // Like a library error whose message includes its source.
        let error = CliError::input(
            anyhow::Error::new(io)
                .context("reading a.yaml: no such file")
                .context("launch a1"),
        );
        assert_eq!(
            format!("{error:#}"),
            "launch a1: reading a.yaml: no such file"
        );
    }
}
