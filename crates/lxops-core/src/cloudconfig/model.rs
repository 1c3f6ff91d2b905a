//! The parsed form of a `#cloud-config` file: one struct per supported module, with secrets
//! (file contents, password hashes, key material) wrapped in [`Sensitive`] so that `Debug`
//! output and logs never show them.

use std::fmt;
use std::path::PathBuf;

/// A value that must never be printed: `Debug` shows only its size.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Sensitive(value)
    }

    /// The secret itself, for the code that has to use it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: SizeHint> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {}>", self.0.size_hint())
    }
}

/// What [`Sensitive`]'s `Debug` may reveal: a size, never content.
pub trait SizeHint {
    /// A short description of the size, e.g. `12 bytes`.
    fn size_hint(&self) -> String;
}

impl SizeHint for Vec<u8> {
    fn size_hint(&self) -> String {
        format!("{} bytes", self.len())
    }
}

impl SizeHint for String {
    fn size_hint(&self) -> String {
        format!("{} bytes", self.len())
    }
}

impl SizeHint for Vec<String> {
    fn size_hint(&self) -> String {
        format!("{} items", self.len())
    }
}

/// One parsed `#cloud-config` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    /// Where it came from (as given; used in messages and `--dry-run` output).
    pub path: PathBuf,
    /// The modules it holds.
    pub config: CloudConfig,
    /// Unknown modules and keys (they are ignored).
    pub warnings: Vec<Warning>,
}

/// A non-fatal problem found while parsing, such as an unknown module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": warning: {}", self.message)
    }
}

/// The modules of one file that lxops applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudConfig {
    /// `write_files`, in file order (deferred and not).
    pub write_files: Vec<WriteFile>,
    /// `package_update`: refresh the package index. Unset, it is implied by `packages` and
    /// `package_upgrade` (as in cloud-init); `false` skips it only while the index exists.
    pub package_update: Option<bool>,
    /// `package_upgrade`: upgrade installed packages (after an update).
    pub package_upgrade: bool,
    /// `packages`, in file order.
    pub packages: Vec<Package>,
    /// `groups`, in file order.
    pub groups: Vec<Group>,
    /// `users`, in file order.
    pub users: Vec<User>,
    /// `timezone`, e.g. `Europe/London`.
    pub timezone: Option<String>,
    /// `runcmd`, in file order.
    pub runcmd: Vec<RunCommand>,
}

/// One entry of `write_files`, with its content already decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFile {
    /// Absolute path inside the instance.
    pub path: String,
    /// Decoded content (never logged).
    pub content: Sensitive<Vec<u8>>,
    /// Owner; default `root:root`.
    pub owner: Owner,
    /// Permission bits; default `0644`.
    pub mode: u32,
    /// Append to the file instead of replacing it.
    pub append: bool,
    /// Write after users, timezone and packages (just before `runcmd`).
    pub defer: bool,
}

/// A file owner: `user`, `user:group`, names or numeric ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The user.
    pub user: IdRef,
    /// The group; `None` keeps the group (like `chown user`).
    pub group: Option<IdRef>,
}

impl Owner {
    /// `root:root`.
    pub fn root() -> Self {
        Owner {
            user: IdRef::Id(0),
            group: Some(IdRef::Id(0)),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.user, &self.group) {
            (IdRef::Id(0), Some(IdRef::Id(0))) => f.write_str("root:root"),
            (user, Some(group)) => write!(f, "{user}:{group}"),
            (user, None) => write!(f, "{user}"),
        }
    }
}

/// A user or group, by name or by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdRef {
    /// A numeric id.
    Id(u32),
    /// A name, resolved inside the instance.
    Name(String),
}

impl fmt::Display for IdRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdRef::Id(id) => write!(f, "{id}"),
            IdRef::Name(name) => f.write_str(name),
        }
    }
}

/// One entry of `packages`: a name, or a `[name, version]` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Wanted version, if pinned.
    pub version: Option<String>,
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{}={version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One entry of `groups`: a group and the users to add to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Users added to the group.
    pub members: Vec<String>,
}

/// One entry of `users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: Option<u32>,
    /// Full name / comment.
    pub gecos: Option<String>,
    /// Login shell.
    pub shell: Option<String>,
    /// Home directory; default `/home/<name>` (`/root` for root).
    pub homedir: Option<String>,
    /// Do not create the home directory.
    pub no_create_home: bool,
    /// `system`: a system account (system uid range, no home directory).
    pub system: bool,
    /// Primary group (created when missing).
    pub primary_group: Option<String>,
    /// Supplementary groups (created when missing).
    pub groups: Vec<String>,
    /// `lock_passwd`; unset means locked, as in cloud-init (see [`User::locks_password`]).
    pub lock_passwd: Option<bool>,
    /// `hashed_passwd`: a crypt(3) hash set on new and existing users (never logged).
    pub hashed_passwd: Option<Sensitive<String>>,
    /// `passwd`: a crypt(3) hash set only when the user is created, as cloud-init does (never
    /// logged).
    pub passwd: Option<Sensitive<String>>,
    /// Public keys for `~/.ssh/authorized_keys` (never logged).
    pub ssh_authorized_keys: Sensitive<Vec<String>>,
    /// Sudo: `None` for none, `Some([])` for `sudo: true` (the default rule of the
    /// distribution's drop-in: `ALL=(ALL) NOPASSWD:ALL`, doas `permit nopass`), else the rules.
    pub sudo: Option<Vec<String>>,
}

impl User {
    /// Whether the password is locked: `lock_passwd` defaults to true, as in cloud-init.
    pub fn locks_password(&self) -> bool {
        self.lock_passwd.unwrap_or(true)
    }

    /// The home directory from the config: `homedir`, else `/root` or `/home/<name>`.
    pub fn home(&self) -> String {
        match &self.homedir {
            Some(home) => home.clone(),
            None if self.name == "root" => "/root".into(),
            None => format!("/home/{}", self.name),
        }
    }
}

/// One entry of `runcmd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    /// A string: run with `/bin/sh -c`.
    Shell(String),
    /// A list: executed as argv, without a shell.
    Argv(Vec<String>),
}
