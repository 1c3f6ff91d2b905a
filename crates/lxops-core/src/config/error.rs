//! [`ConfigError`]: every way reading, merging or evaluating a config can fail. Each message
//! names the file (and line where known) and says what to do.

use std::path::PathBuf;

/// A config problem. Every variant is bad input: nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "{}: cannot read the file: {source}{}",
        esc_path(file),
        io_hint(source)
    )]
    Read {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The first line is not a `#...` header.
    #[error("{}: line 1: missing format header; the first line must be `#lxops-v1` (or an older format such as `#lxdops`)", esc_path(file))]
    NoHeader {
        /// The file.
        file: PathBuf,
    },
    /// No migrator for the header.
    #[error(
        "{}: line 1: unknown config format `{}`; supported formats: {known}; fix the first line",
        esc_path(file),
        esc(header)
    )]
    UnknownFormat {
        /// The file.
        file: PathBuf,
        /// The header found.
        header: String,
        /// The supported headers, comma-separated.
        known: String,
    },
    /// A migrator failed.
    #[error(
        "{}: migrating from `{}` failed: {}; fix the file or convert it by hand to #lxops-v1",
        esc_path(file),
        esc(header),
        esc(message)
    )]
    Migration {
        /// The file.
        file: PathBuf,
        /// The header being migrated.
        header: String,
        /// The migrator's message.
        message: String,
    },
    /// Migrators produce a header that was already seen.
    #[error("{}: config format migration loop: {}; the registered migrators for these formats lead back to each other", esc_path(file), esc(chain))]
    MigrationLoop {
        /// The file.
        file: PathBuf,
        /// The headers in order, ` -> ` separated.
        chain: String,
    },
    /// YAML syntax error or a value of the wrong type.
    #[error("{}{}: {}; fix the YAML", esc_path(file), line.map(|l| format!(": line {l}")).unwrap_or_default(), esc(message))]
    Yaml {
        /// The file.
        file: PathBuf,
        /// The 1-based line, when the parser knows it.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// Unknown keys with `--strict`.
    #[error("{}: unknown keys (strict mode): {}; remove or fix them", esc_path(file), esc(&keys.join("; ")))]
    UnknownKeys {
        /// The file.
        file: PathBuf,
        /// `line N: key` descriptions.
        keys: Vec<String>,
    },
    /// An include names a file that cannot be read.
    #[error(
        "{}: include `{}` cannot be read: {source}{}",
        esc_path(file),
        esc_path(include),
        include_hint(source)
    )]
    MissingInclude {
        /// The including file.
        file: PathBuf,
        /// The resolved include path.
        include: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Includes nested deeper than [`MAX_INCLUDE_DEPTH`](super::MAX_INCLUDE_DEPTH).
    #[error("{}: includes are nested more than {max} levels deep ({}); an include chain this long is a mistake: check the includes of these files", esc_path(file), esc(chain))]
    IncludeDepth {
        /// The file whose include goes one level too deep.
        file: PathBuf,
        /// The limit.
        max: usize,
        /// The first and last files of the chain.
        chain: String,
    },
    /// A path uses a reserved character.
    #[error("{}: path `{}` contains the reserved character `{}`; remove it", esc_path(file), esc(path), esc(&ch.to_string()))]
    ReservedCharacter {
        /// The file.
        file: PathBuf,
        /// The path as written.
        path: String,
        /// The character.
        ch: char,
    },
    /// A `-P` argument without `=`.
    #[error(
        "-P {}: expected KEY=VALUE with a non-empty key",
        crate::input::escape_controls(arg)
    )]
    PropertyArg {
        /// The argument.
        arg: String,
    },
    /// A property file that cannot be read or parsed.
    #[error(
        "{}: bad properties file: {}; it must be a YAML map of names to values",
        esc_path(file),
        esc(message)
    )]
    PropertyFile {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The config fails validation.
    #[error("{}: invalid config for instance {}:\n  {}", esc_path(file), esc(instance), problems.iter().map(|p| esc(p)).collect::<Vec<_>>().join("\n  "))]
    Invalid {
        /// The top config file.
        file: PathBuf,
        /// The instance name.
        instance: String,
        /// One line per problem, each saying what to fix.
        problems: Vec<String>,
    },
    /// `-name` with more than one file.
    #[error("-name can be used with only one config file ({count} given); give each file its own run, or list several names for one file: -name a1,a2")]
    NameWithManyFiles {
        /// How many files were given.
        count: usize,
    },
    /// No instance name can be derived from the file name.
    #[error(
        "{}: cannot derive an instance name from the file name; use -name",
        esc_path(file)
    )]
    NoInstanceName {
        /// The file.
        file: PathBuf,
    },
    /// An empty entry in `-name` (e.g. `-name a,,b`).
    #[error("-name has an empty instance name; list names separated by commas: -name a1,a2")]
    EmptyName,
    /// Two entries of one command resolve to the same instance.
    #[error(
        "instance {} is named twice ({} and {}); each instance may appear once per command",
        esc(instance),
        esc_path(first),
        esc_path(second)
    )]
    DuplicateInstance {
        /// The instance name.
        instance: String,
        /// The config of the first entry.
        first: PathBuf,
        /// The config of the second entry.
        second: PathBuf,
    },
}

/// The fix for a read error: refusals from [`crate::input`] carry their own.
fn io_hint(e: &std::io::Error) -> &'static str {
    if crate::input::is_refusal(e) {
        ""
    } else {
        "; check the path and its permissions"
    }
}

fn include_hint(e: &std::io::Error) -> &'static str {
    if crate::input::is_refusal(e) {
        ""
    } else {
        "; fix the include path (relative paths are relative to the including file)"
    }
}

/// File text or a name, for a message: control characters escaped.
fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    crate::input::escape_controls(s)
}

/// A path, for a message: control characters escaped.
fn esc_path(p: &std::path::Path) -> String {
    crate::input::escape_path(p)
}
