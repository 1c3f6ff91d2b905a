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

    /// Refreshes the package index only when it is missing (`package_update: false` with
    /// packages to install). The default always refreshes.
    fn update_packages_if_missing(&self) -> Option<Vec<Command>> {
        self.update_packages()
    }

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

    /// Locks a user's password (`lock_passwd`, true unless set to false), as cloud-init
    /// does: `passwd -l`, which leaves an already locked `!` alone.
    fn lock_password(&self, user: &str) -> Option<Command> {
        Some(Command::new(["passwd", "-l", user]))
    }

    /// Sets the time zone, e.g. `Europe/London`.
    fn set_timezone(&self, timezone: &str) -> Option<Vec<Action>>;

    /// The privilege drop-ins for a user with `sudo`: `rules` is empty for `sudo: true`.
    fn sudo_files(&self, user: &str, rules: &[String]) -> Vec<FileStep> {
        vec![sudoers_file(user, rules)]
    }
}

/// shadow-utils `useradd` as cloud-init 22.4 runs it: `--comment`, `--gid`, `--home`,
/// `--shell`, `--system`, `--uid` when given, `-M` for `no_create_home` or `system`, else `-m`.
/// Supplementary groups and passwords are set by their own steps.
pub fn useradd(user: &User) -> Command {
    let mut argv: Vec<String> = vec!["useradd".into()];
    if let Some(gecos) = user.gecos.as_ref().filter(|g| !g.is_empty()) {
        argv.extend(["--comment".into(), gecos.clone()]);
    }
    if let Some(group) = &user.primary_group {
        argv.extend(["--gid".into(), group.clone()]);
    }
    if let Some(home) = &user.homedir {
        argv.extend(["--home".into(), home.clone()]);
    }
    if let Some(shell) = &user.shell {
        argv.extend(["--shell".into(), shell.clone()]);
    }
    if user.system {
        argv.push("--system".into());
    }
    if let Some(uid) = user.uid {
        argv.extend(["--uid".into(), uid.to_string()]);
    }
    argv.push(
        if user.no_create_home || user.system {
            "-M"
        } else {
            "-m"
        }
        .into(),
    );
    argv.push(user.name.clone());
    Command::new(argv)
}

/// Runs `update` only when no file matches `index` (a fixed glob of the OS type, such as
/// `/var/lib/apt/lists/*_Packages`): the update command is the script's arguments.
pub fn unless_index(index: &str, update: Command) -> Command {
    let mut argv: Vec<String> = vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("for f in {index}; do [ -e \"$f\" ] && exit 0; done; exec \"$@\""),
        "package-index".into(),
    ];
    argv.extend(update.argv);
    Command {
        argv,
        env: update.env,
        stdin: None,
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

/// The drop-in sudo reads for a user: `/etc/sudoers.d/<user>`, with each `.` written `%2E`,
/// because sudo skips drop-ins whose names contain a dot (`john.doe` gets
/// `/etc/sudoers.d/john%2Edoe`; `%` never occurs in a user name, so two users never share one).
pub fn sudoers_path(user: &str) -> String {
    format!("/etc/sudoers.d/{}", user.replace('.', "%2E"))
}

/// Checks a sudoers drop-in with `visudo -c` where the instance has `visudo`, and removes it
/// when it is invalid (a broken drop-in disables sudo for everyone). A fixed script: the path is
/// its argument.
pub fn visudo_check(path: &str) -> Command {
    Command::new([
        "/bin/sh",
        "-c",
        "[ -e \"$1\" ] && command -v visudo >/dev/null 2>&1 || exit 0; \
         visudo -c -f \"$1\" >&2 && exit 0; rm -f \"$1\"; exit 1",
        "visudo-check",
        path,
    ])
}

/// The sudoers drop-in of [`sudoers_path`], mode 0440, lines `<user> <rule>`, written only
/// when `/etc/sudoers.d` exists.
pub fn sudoers_file(user: &str, rules: &[String]) -> FileStep {
    let default = [DEFAULT_SUDO_RULE.to_string()];
    let rules = if rules.is_empty() {
        &default[..]
    } else {
        rules
    };
    let content: String = rules.iter().map(|r| format!("{user} {r}\n")).collect();
    FileStep {
        path: sudoers_path(user),
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
