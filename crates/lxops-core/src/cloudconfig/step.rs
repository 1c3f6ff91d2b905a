//! The steps of applying cloud-config: what [`super::plan_all`] produces, `--dry-run` prints and
//! [`super::apply_steps`] executes. `Display` and `Debug` show every file write (path, mode, owner,
//! size) and every command, but never file contents, password hashes or key material.

use std::fmt;
use std::path::PathBuf;

use super::model::{Owner, Sensitive};

/// The cloud-config module a step comes from, in application order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Module {
    /// `write_files` entries without `defer: true`.
    WriteFiles,
    /// `package_update`, `package_upgrade` and `packages`.
    Packages,
    /// `groups`.
    Groups,
    /// `users`.
    Users,
    /// `timezone`.
    Timezone,
    /// `write_files` entries with `defer: true`.
    DeferredWriteFiles,
    /// `runcmd`.
    Runcmd,
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Module::WriteFiles => "write_files",
            Module::Packages => "packages",
            Module::Groups => "groups",
            Module::Users => "users",
            Module::Timezone => "timezone",
            Module::DeferredWriteFiles => "write_files (deferred)",
            Module::Runcmd => "runcmd",
        })
    }
}

/// A command run inside the instance as argv, never through a shell made of user values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Standard input (never shown); it is passed through a temporary root-only file.
    pub stdin: Option<Sensitive<Vec<u8>>>,
}

impl Command {
    /// A command from its argv.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Command {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets standard input.
    pub fn stdin(mut self, input: Vec<u8>) -> Self {
        self.stdin = Some(Sensitive::new(input));
        self
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.env {
            write!(f, "{name}={} ", quote(value))?;
        }
        let words: Vec<String> = self.argv.iter().map(|a| quote(a)).collect();
        f.write_str(&words.join(" "))?;
        if let Some(stdin) = &self.stdin {
            write!(f, " < (stdin: {} bytes, not shown)", stdin.expose().len())?;
        }
        Ok(())
    }
}

/// The script that [`Action::RunScript`] runs: cloud-init's (`#!/bin/sh`, then the entries),
/// plus a note of the entry it is in, kept without changing `$?`, which an `EXIT` trap reports
/// on stderr as `lxops-runcmd-entry N` so that a failure can name its entry.
pub fn runcmd_script(entries: &[String]) -> String {
    let mut script = String::from("#!/bin/sh\n");
    script.push_str(&format!(
        "trap 'echo \"{RUNCMD_MARKER} $__lxops_entry\" >&2' EXIT\n__lxops_entry=0\n"
    ));
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            script.push_str(&format!(
                "__lxops_rc=$?; __lxops_entry={i}; (exit $__lxops_rc)\n"
            ));
        }
        script.push_str(entry);
        script.push('\n');
    }
    script
}

/// What the `EXIT` trap of [`runcmd_script`] writes before the entry number.
pub const RUNCMD_MARKER: &str = "lxops-runcmd-entry";

/// Quotes a word the way a POSIX shell would need it, for display only.
pub(crate) fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A file written through the file API, with its mode and owner set in the same call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStep {
    /// Absolute path inside the instance.
    pub path: String,
    /// Content (never shown).
    pub content: Sensitive<Vec<u8>>,
    /// Permission bits.
    pub mode: u32,
    /// Owner, resolved inside the instance.
    pub owner: Owner,
    /// Append instead of replacing.
    pub append: bool,
    /// Skip the write unless this directory exists (sudo/doas drop-ins).
    pub only_if_dir: Option<String>,
}

impl fmt::Display for FileStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.append { "append to" } else { "write" };
        write!(
            f,
            "{verb} {} (mode {:04o}, owner {}, {} bytes)",
            self.path,
            self.mode,
            self.owner,
            self.content.expose().len()
        )?;
        if let Some(dir) = &self.only_if_dir {
            write!(f, " if {dir} exists")?;
        }
        Ok(())
    }
}

/// How an existing user is brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserUpdate {
    /// Run a command (e.g. `usermod -s SHELL NAME`).
    Exec(Command),
    /// Set the login shell by editing `/etc/passwd` through the file API (for systems without
    /// `usermod`, such as busybox).
    PasswdShell(String),
}

impl fmt::Display for UserUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserUpdate::Exec(command) => write!(f, "{command}"),
            UserUpdate::PasswdShell(shell) => write!(f, "set shell {shell} in /etc/passwd"),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write a file (parent directories are created as needed).
    WriteFile(FileStep),
    /// Run a command; a non-zero exit stops the apply.
    Exec(Command),
    /// Create a group unless it exists.
    EnsureGroup {
        /// Group name.
        name: String,
        /// The command that creates it.
        create: Command,
    },
    /// Create a user, or update it when it exists.
    EnsureUser {
        /// Login name.
        name: String,
        /// The command that creates it.
        create: Command,
        /// What is run when it exists already.
        update: Vec<UserUpdate>,
        /// What is run right after creating it (e.g. setting its `passwd` hash).
        created: Vec<Command>,
    },
    /// Add keys to `~user/.ssh/authorized_keys` (kept keys stay), `.ssh` 0700 and the file 0600,
    /// both owned by the user.
    AuthorizedKeys {
        /// Login name.
        user: String,
        /// The home directory when `/etc/passwd` does not say.
        home: String,
        /// The public keys (never shown).
        keys: Sensitive<Vec<String>>,
    },
    /// Run `runcmd` as cloud-init does: all entries as one `/bin/sh` script, from `/`, so `cd`
    /// and variables carry over; the script's exit status is its last command's. A non-zero
    /// status stops the apply, naming the entry the script ended in.
    RunScript {
        /// The script's entries, one shell text each (argv entries already quoted).
        entries: Vec<String>,
    },
    /// Check a sudoers drop-in with `visudo -c` where the instance has `visudo`; an invalid one
    /// is removed and the apply fails (a broken drop-in disables sudo for everyone).
    CheckSudoers {
        /// The drop-in.
        path: String,
        /// The fixed command that does it.
        command: Command,
    },
    /// Fail unless a file exists in the instance.
    RequireFile {
        /// Absolute path.
        path: String,
        /// What is missing, in the error message.
        message: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::WriteFile(file) => write!(f, "{file}"),
            Action::Exec(command) => write!(f, "exec {command}"),
            Action::EnsureGroup { name, create } => {
                write!(f, "group {name}: unless it exists: {create}")
            }
            Action::EnsureUser {
                name,
                create,
                update,
                created,
            } => {
                write!(f, "user {name}: unless it exists: {create}")?;
                for command in created {
                    write!(f, ", then {command}")?;
                }
                if !update.is_empty() {
                    let update: Vec<String> = update.iter().map(ToString::to_string).collect();
                    write!(f, "; if it exists: {}", update.join("; "))?;
                }
                Ok(())
            }
            Action::AuthorizedKeys { user, keys, .. } => write!(
                f,
                "add {} keys to ~{user}/.ssh/authorized_keys (mode 0600, .ssh mode 0700, owner {user})",
                keys.expose().len()
            ),
            Action::RequireFile { path, .. } => write!(f, "check that {path} exists"),
            Action::CheckSudoers { path, .. } => write!(
                f,
                "check {path} with visudo -c where the instance has visudo (removed if invalid)"
            ),
            Action::RunScript { entries } => {
                write!(f, "run as one /bin/sh script from /:")?;
                for (i, entry) in entries.iter().enumerate() {
                    write!(f, " [{i}] {}", entry.replace('\n', "\\n"))?;
                }
                Ok(())
            }
        }
    }
}

/// One step of applying a cloud-config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The cloud-config file it comes from.
    pub path: PathBuf,
    /// The module it comes from.
    pub module: Module,
    /// What it does.
    pub action: Action,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.path.display(),
            self.module,
            self.action
        )
    }
}
