//! OS types: how each distribution installs packages, creates users and groups, sets passwords
//! and the time zone. [`OsTypes`] is the registry a binary's `main` can extend with its own
//! [`OsType`] implementations.

mod alpine;
mod debian;
mod fedora;
mod openwrt;

use std::fmt;

pub use alpine::Alpine;
pub use debian::Debian;
pub use fedora::Fedora;
pub use openwrt::Openwrt;

use super::model::{Owner, Package, Sensitive, User};
use super::step::{Action, Command, FileStep, UserUpdate};

/// How one distribution does what cloud-config asks. Methods return `None` when the
/// distribution cannot do it; planning then fails with a clear error before anything runs.
///
/// Every command is an argv: implementations must pass user-supplied values (names, packages,
/// the time zone) as separate arguments, never inside a shell string.
pub trait OsType: Send + Sync {
    /// The name used as `ostype` in config files, e.g. `debian`.
    fn name(&self) -> &str;

    /// Refreshes the package index (`package_update`).
    fn update_packages(&self) -> Option<Vec<Command>>;

    /// Upgrades installed packages (`package_upgrade`; runs after the update).
    fn upgrade_packages(&self) -> Option<Vec<Command>>;

    /// Installs packages (`packages`), preferably in one command.
    fn install_packages(&self, packages: &[Package]) -> Option<Vec<Command>>;

    /// Creates a group.
    fn add_group(&self, name: &str) -> Option<Command>;

    /// Creates a user with a disabled password.
    fn add_user(&self, user: &User) -> Option<Command>;

    /// Brings an existing user up to date (today: its login shell).
    fn update_user(&self, user: &User) -> Vec<UserUpdate> {
        match &user.shell {
            Some(shell) => vec![UserUpdate::Exec(Command::new([
                "usermod", "-s", shell, &user.name,
            ]))],
            None => Vec::new(),
        }
    }

    /// Adds a user to supplementary groups (idempotent).
    fn add_to_groups(&self, user: &str, groups: &[String]) -> Option<Vec<Command>> {
        Some(vec![Command::new([
            "usermod",
            "-a",
            "-G",
            &groups.join(","),
            user,
        ])])
    }

    /// Sets encrypted passwords, `(user, crypt hash)` pairs, in one command.
    fn set_password_hashes(&self, entries: &[(String, Sensitive<String>)]) -> Option<Command> {
        Some(chpasswd(entries))
    }

    /// Whether users without a password hash get the impossible hash `*`, which unlocks the
    /// account for key-only ssh logins (Alpine's `adduser -D` locks it).
    fn unlock_without_password(&self) -> bool {
        false
    }

    /// Locks a user's password (`lock_passwd: true`).
    fn lock_password(&self, user: &str) -> Option<Command> {
        Some(Command::new(["usermod", "-L", user]))
    }

    /// Sets the time zone, e.g. `Europe/London`.
    fn set_timezone(&self, timezone: &str) -> Option<Vec<Action>>;

    /// The privilege drop-ins for a user with `sudo`: `rules` is empty for `sudo: true`.
    fn sudo_files(&self, user: &str, rules: &[String]) -> Vec<FileStep> {
        vec![sudoers_file(user, rules)]
    }
}

/// `chpasswd -e` fed with `user:hash` lines on stdin.
pub fn chpasswd(entries: &[(String, Sensitive<String>)]) -> Command {
    let mut input = String::new();
    for (user, hash) in entries {
        input.push_str(user);
        input.push(':');
        input.push_str(hash.expose());
        input.push('\n');
    }
    Command::new(["chpasswd", "-e"]).stdin(input.into_bytes())
}

/// The rule of `sudo: true`.
pub const DEFAULT_SUDO_RULE: &str = "ALL=(ALL) NOPASSWD:ALL";

/// The doas rule of `sudo: true`.
pub const DEFAULT_DOAS_RULE: &str = "permit nopass";

/// `/etc/sudoers.d/<user>`, mode 0440, lines `<user> <rule>`, written only when
/// `/etc/sudoers.d` exists.
pub fn sudoers_file(user: &str, rules: &[String]) -> FileStep {
    let default = [DEFAULT_SUDO_RULE.to_string()];
    let rules = if rules.is_empty() {
        &default[..]
    } else {
        rules
    };
    let content: String = rules.iter().map(|r| format!("{user} {r}\n")).collect();
    FileStep {
        path: format!("/etc/sudoers.d/{user}"),
        content: Sensitive::new(content.into_bytes()),
        mode: 0o440,
        owner: Owner::root(),
        append: false,
        only_if_dir: Some("/etc/sudoers.d".into()),
    }
}

/// `/etc/doas.d/<user>.conf`, mode 0600, lines `<rule> <user>`, written only when
/// `/etc/doas.d` exists.
pub fn doas_file(user: &str, rules: &[String]) -> FileStep {
    let default = [DEFAULT_DOAS_RULE.to_string()];
    let rules = if rules.is_empty() {
        &default[..]
    } else {
        rules
    };
    let content: String = rules.iter().map(|r| format!("{r} {user}\n")).collect();
    FileStep {
        path: format!("/etc/doas.d/{user}.conf"),
        content: Sensitive::new(content.into_bytes()),
        mode: 0o600,
        owner: Owner::root(),
        append: false,
        only_if_dir: Some("/etc/doas.d".into()),
    }
}

/// Checks that `/usr/share/zoneinfo/<tz>` exists and points `/etc/localtime` at it.
pub fn zoneinfo_link(timezone: &str) -> Vec<Action> {
    let zone = format!("/usr/share/zoneinfo/{timezone}");
    vec![
        Action::RequireFile {
            path: zone.clone(),
            message: format!(
                "unknown time zone {timezone:?}: {zone} does not exist in the instance \
                 (check the name, or install the tzdata package first)"
            ),
        },
        Action::Exec(Command::new(["ln", "-sf", &zone, "/etc/localtime"])),
    ]
}

/// The registry of OS types, by name.
pub struct OsTypes {
    types: Vec<Box<dyn OsType>>,
}

impl OsTypes {
    /// The built-in types: `alpine`, `debian`, `ubuntu`, `openwrt` and `fedora`.
    pub fn builtin() -> Self {
        let mut types = OsTypes::empty();
        types.register(Box::new(Alpine));
        types.register(Box::new(Debian::new()));
        types.register(Box::new(Debian::ubuntu()));
        types.register(Box::new(Openwrt));
        types.register(Box::new(Fedora));
        types
    }

    /// No OS types at all.
    pub fn empty() -> Self {
        OsTypes { types: Vec::new() }
    }

    /// Adds an OS type; one with the same name is replaced.
    pub fn register(&mut self, os: Box<dyn OsType>) {
        self.types.retain(|t| t.name() != os.name());
        self.types.push(os);
    }

    /// The OS type of that name.
    pub fn get(&self, name: &str) -> Option<&dyn OsType> {
        self.types
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.as_ref())
    }

    /// All names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.types.iter().map(|t| t.name().to_string()).collect();
        names.sort();
        names
    }
}

impl Default for OsTypes {
    fn default() -> Self {
        OsTypes::builtin()
    }
}

impl fmt::Debug for OsTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OsTypes").field(&self.names()).finish()
    }
}
