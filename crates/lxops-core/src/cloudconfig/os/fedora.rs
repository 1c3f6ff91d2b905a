//! Fedora: `dnf`, shadow-utils `useradd`/`groupadd`/`usermod`, and the time zone as an
//! `/etc/localtime` link.

use super::{zoneinfo_link, OsType};
use crate::cloudconfig::model::{Package, User};
use crate::cloudconfig::step::{Action, Command};

/// The `fedora` OS type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fedora;

impl OsType for Fedora {
    fn name(&self) -> &str {
        "fedora"
    }

    fn update_packages(&self) -> Option<Vec<Command>> {
        Some(vec![Command::new(["dnf", "-y", "makecache"])])
    }

    fn upgrade_packages(&self) -> Option<Vec<Command>> {
        Some(vec![Command::new(["dnf", "-y", "upgrade"])])
    }

    fn install_packages(&self, packages: &[Package]) -> Option<Vec<Command>> {
        let mut argv = vec!["dnf".to_string(), "-y".into(), "install".into()];
        argv.extend(packages.iter().map(|p| match &p.version {
            Some(version) => format!("{}-{version}", p.name),
            None => p.name.clone(),
        }));
        Some(vec![Command::new(argv)])
    }

    fn add_group(&self, name: &str) -> Option<Command> {
        Some(Command::new(["groupadd", name]))
    }

    fn add_user(&self, user: &User) -> Option<Command> {
        let mut argv: Vec<String> = vec!["useradd".into()];
        if let Some(gecos) = &user.gecos {
            argv.extend(["-c".into(), gecos.clone()]);
        }
        if let Some(uid) = user.uid {
            argv.extend(["-u".into(), uid.to_string()]);
        }
        if let Some(shell) = &user.shell {
            argv.extend(["-s".into(), shell.clone()]);
        }
        if let Some(home) = &user.homedir {
            argv.extend(["-d".into(), home.clone()]);
        }
        argv.push(if user.no_create_home { "-M" } else { "-m" }.into());
        if let Some(group) = &user.primary_group {
            argv.extend(["-g".into(), group.clone()]);
        }
        argv.push(user.name.clone());
        Some(Command::new(argv))
    }

    fn set_timezone(&self, timezone: &str) -> Option<Vec<Action>> {
        Some(zoneinfo_link(timezone))
    }
}
