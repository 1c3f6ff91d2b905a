//! Debian and Ubuntu: `apt-get` (non-interactive), `adduser`/`addgroup`, `usermod`, and the
//! time zone as an `/etc/localtime` link plus `/etc/timezone` (works without systemd).

use super::{zoneinfo_link, OsType};
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

    fn upgrade_packages(&self) -> Option<Vec<Command>> {
        Some(vec![apt_get(["-y", "upgrade"])])
    }

    fn install_packages(&self, packages: &[Package]) -> Option<Vec<Command>> {
        let packages: Vec<String> = packages.iter().map(ToString::to_string).collect();
        let mut command = apt_get(["-y", "install"]);
        command.argv.extend(packages);
        Some(vec![command])
    }

    fn add_group(&self, name: &str) -> Option<Command> {
        Some(Command::new(["addgroup", name]))
    }

    fn add_user(&self, user: &User) -> Option<Command> {
        let mut argv: Vec<String> = vec![
            "adduser".into(),
            "--disabled-password".into(),
            "--gecos".into(),
            user.gecos.clone().unwrap_or_default(),
        ];
        if let Some(uid) = user.uid {
            argv.extend(["--uid".into(), uid.to_string()]);
        }
        if let Some(shell) = &user.shell {
            argv.extend(["--shell".into(), shell.clone()]);
        }
        if let Some(home) = &user.homedir {
            argv.extend(["--home".into(), home.clone()]);
        }
        if user.no_create_home {
            argv.push("--no-create-home".into());
        }
        if let Some(group) = &user.primary_group {
            argv.extend(["--ingroup".into(), group.clone()]);
        }
        argv.push(user.name.clone());
        Some(Command::new(argv))
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
