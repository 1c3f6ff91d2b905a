//! Finding the daemon socket and the user's client config directory, as the CLIs do.

use std::path::{Path, PathBuf};

use crate::dialect::Dialect;

/// Looks up an environment variable (a function so that tests can supply their own).
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The socket to use: the explicit one, else `<socket_env>`, else `<dir_env>/unix.socket`,
/// else the first default path that exists (or the first default when none does, so that
/// the connect error names a path).
pub fn socket_path(
    dialect: &Dialect,
    explicit: Option<&Path>,
    env: EnvLookup<'_>,
    exists: &dyn Fn(&Path) -> bool,
) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    if let Some(socket) = env(dialect.socket_env) {
        return PathBuf::from(socket);
    }
    if let Some(dir) = env(dialect.dir_env) {
        return Path::new(&dir).join("unix.socket");
    }
    dialect
        .default_sockets
        .iter()
        .map(PathBuf::from)
        .find(|p| exists(p))
        .unwrap_or_else(|| PathBuf::from(dialect.default_sockets.first().copied().unwrap_or("")))
}

/// The client config directory: `<config_env>`, else the first of the dialect's directories
/// under `$HOME` that exists, else the first of them (which then has no config file).
pub fn config_dir(
    dialect: &Dialect,
    env: EnvLookup<'_>,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(dir) = env(dialect.config_env) {
        return Some(PathBuf::from(dir));
    }
    let home = PathBuf::from(env("HOME")?);
    let candidates: Vec<PathBuf> = dialect.config_dirs.iter().map(|d| home.join(d)).collect();
    candidates
        .iter()
        .find(|p| exists(p))
        .or(candidates.first())
        .cloned()
}
