//! Debian and Ubuntu: `apt-get` (non-interactive), `useradd`/`groupadd`/`usermod` (as
//! cloud-init), and the time zone as an `/etc/localtime` link plus `/etc/timezone` (works
//! without systemd).

use super::{unless_index, useradd, zoneinfo_link, OsType};

/// Keeps changed configuration files without asking, as cloud-init does.
const CONFOLD: &str = "-oDpkg::Options::=--force-confold";
use crate::cloudconfig::model::{Owner, Package, Sensitive, User};
use crate::cloudconfig::step::{Action, Command, FileStep};

/// The `debian` and `ubuntu` OS types.
#[derive(Debug, Clone, Copy)]
pub struct Debian {
    name: &'static str,
}

impl Default for Debian {
    fn default() -> Self {
        Debian::new()
    }
}

impl Debian {
    /// The `debian` OS type.
    pub fn new() -> Self {
        Debian { name: "debian" }
    }

    /// The `ubuntu` OS type (the same commands).
    pub fn ubuntu() -> Self {
        Debian { name: "ubuntu" }
    }
}

fn apt_get<'a>(args: impl IntoIterator<Item = &'a str>) -> Command {
    let mut argv = vec!["apt-get"];
    argv.extend(args);
    Command::new(argv).env("DEBIAN_FRONTEND", "noninteractive")
}

impl OsType for Debian {
    fn name(&self) -> &str {
        self.name
    }

    fn update_packages(&self) -> Option<Vec<Command>> {
        Some(vec![apt_get(["update"])])
    }

    fn update_packages_if_missing(&self) -> Option<Vec<Command>> {
        Some(vec![unless_index(
            "/var/lib/apt/lists/*_Packages",
            apt_get(["update"]),
        )])
    }

    fn upgrade_packages(&self) -> Option<Vec<Command>> {
        Some(vec![apt_get(["-y", CONFOLD, "upgrade"])])
    }

    fn install_packages(&self, packages: &[Package]) -> Option<Vec<Command>> {
        let packages: Vec<String> = packages.iter().map(ToString::to_string).collect();
        let mut command = apt_get(["-y", CONFOLD, "install"]);
        command.argv.extend(packages);
        Some(vec![command])
    }

    fn add_group(&self, name: &str) -> Option<Command> {
        Some(Command::new(["groupadd", name]))
    }

    /// `useradd` with the options cloud-init 22.4 passes: the shell, home mode and skeleton
    /// come from the image's `/etc/default/useradd` and `/etc/login.defs`, as with cloud-init;
    /// `system` means a system uid and no home.
    fn add_user(&self, user: &User) -> Option<Command> {
        Some(useradd(user))
    }

    fn set_timezone(&self, timezone: &str) -> Option<Vec<Action>> {
        let mut actions = zoneinfo_link(timezone);
        actions.push(Action::WriteFile(FileStep {
            path: "/etc/timezone".into(),
            content: Sensitive::new(format!("{timezone}\n").into_bytes()),
            mode: 0o644,
            owner: Owner::root(),
            append: false,
            only_if_dir: None,
        }));
        Some(actions)
    }
}
