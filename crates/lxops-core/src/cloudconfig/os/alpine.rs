//! Alpine Linux: `apk`, busybox `adduser`/`addgroup`, `chpasswd -e`, `setup-timezone`, and
//! both sudo and doas drop-ins (as the original lxops).

use super::{doas_file, sudoers_file, unless_index, OsType};
use crate::cloudconfig::model::{Package, User};
use crate::cloudconfig::step::{Action, Command, FileStep, UserUpdate};

/// The `alpine` OS type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alpine;

impl OsType for Alpine {
    fn name(&self) -> &str {
        "alpine"
    }

    fn update_packages(&self) -> Option<Vec<Command>> {
        Some(vec![Command::new(["apk", "update"])])
    }

    fn update_packages_if_missing(&self) -> Option<Vec<Command>> {
        Some(vec![unless_index(
            "/var/cache/apk/APKINDEX.*.tar.gz",
            Command::new(["apk", "update"]),
        )])
    }

    fn upgrade_packages(&self) -> Option<Vec<Command>> {
        Some(vec![Command::new(["apk", "upgrade"])])
    }

    fn install_packages(&self, packages: &[Package]) -> Option<Vec<Command>> {
        let mut argv = vec!["apk".to_string(), "add".to_string()];
        argv.extend(packages.iter().map(ToString::to_string));
        Some(vec![Command::new(argv)])
    }

    fn add_group(&self, name: &str) -> Option<Command> {
        Some(Command::new(["addgroup", name]))
    }

    fn add_user(&self, user: &User) -> Option<Command> {
        let mut argv: Vec<String> = vec!["adduser".into(), "-g".into()];
        argv.push(user.gecos.clone().unwrap_or_default());
        argv.push("-D".into());
        if let Some(uid) = user.uid {
            argv.extend(["-u".into(), uid.to_string()]);
        }
        if let Some(shell) = &user.shell {
            argv.extend(["-s".into(), shell.clone()]);
        }
        if user.system {
            argv.push("-S".into());
        }
        if user.no_create_home || user.system {
            argv.push("-H".into());
        }
        if let Some(home) = &user.homedir {
            argv.extend(["-h".into(), home.clone()]);
        }
        if let Some(group) = &user.primary_group {
            argv.extend(["-G".into(), group.clone()]);
        }
        argv.push(user.name.clone());
        Some(Command::new(argv))
    }

    fn update_user(&self, user: &User) -> Vec<UserUpdate> {
        // busybox has no usermod.
        user.shell
            .iter()
            .map(|shell| UserUpdate::PasswdShell(shell.clone()))
            .collect()
    }

    fn add_to_groups(&self, user: &str, groups: &[String]) -> Option<Vec<Command>> {
        Some(
            groups
                .iter()
                .map(|group| Command::new(["adduser", user, group]))
                .collect(),
        )
    }

    fn unlock_without_password(&self) -> bool {
        true
    }

    fn lock_password(&self, user: &str) -> Option<Command> {
        Some(Command::new(["passwd", "-l", user]))
    }

    fn set_timezone(&self, timezone: &str) -> Option<Vec<Action>> {
        Some(vec![Action::Exec(Command::new([
            "setup-timezone",
            "-z",
            timezone,
        ]))])
    }

    fn sudo_files(&self, user: &str, rules: &[String]) -> Vec<FileStep> {
        vec![sudoers_file(user, rules), doas_file(user, rules)]
    }
}
