//! Fedora: `dnf`, shadow-utils `useradd` (as cloud-init)/`groupadd`/`usermod`, and the time
//! zone as an `/etc/localtime` link.

use super::{unless_index, useradd, zoneinfo_link, OsType};
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

    fn update_packages_if_missing(&self) -> Option<Vec<Command>> {
        Some(vec![unless_index(
            "/var/cache/dnf/*.solv",
            Command::new(["dnf", "-y", "makecache"]),
        )])
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
        Some(useradd(user))
    }

    fn set_timezone(&self, timezone: &str) -> Option<Vec<Action>> {
        Some(zoneinfo_link(timezone))
    }
}
