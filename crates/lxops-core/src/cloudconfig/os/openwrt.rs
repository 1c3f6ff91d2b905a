//! OpenWrt: packages with `opkg` only; like the original, it cannot create users or groups,
//! set passwords or the time zone.

use super::{unless_index, OsType};
use crate::cloudconfig::model::{Package, Sensitive, User};
use crate::cloudconfig::step::{Action, Command, UserUpdate};

/// The `openwrt` OS type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Openwrt;

impl OsType for Openwrt {
    fn name(&self) -> &str {
        "openwrt"
    }

    fn update_packages(&self) -> Option<Vec<Command>> {
        Some(vec![Command::new(["opkg", "update"])])
    }

    fn update_packages_if_missing(&self) -> Option<Vec<Command>> {
        Some(vec![unless_index(
            "/var/opkg-lists/*",
            Command::new(["opkg", "update"]),
        )])
    }

    fn upgrade_packages(&self) -> Option<Vec<Command>> {
        None
    }

    fn install_packages(&self, packages: &[Package]) -> Option<Vec<Command>> {
        let mut argv = vec!["opkg".to_string(), "install".into()];
        argv.extend(packages.iter().map(ToString::to_string));
        Some(vec![Command::new(argv)])
    }

    fn add_group(&self, _name: &str) -> Option<Command> {
        None
    }

    fn add_user(&self, _user: &User) -> Option<Command> {
        None
    }

    fn update_user(&self, _user: &User) -> Vec<UserUpdate> {
        Vec::new()
    }

    fn add_to_groups(&self, _user: &str, _groups: &[String]) -> Option<Vec<Command>> {
        None
    }

    fn set_password_hashes(&self, _entries: &[(String, Sensitive<String>)]) -> Option<Command> {
        None
    }

    fn lock_password(&self, _user: &str) -> Option<Command> {
        None
    }

    fn set_timezone(&self, _timezone: &str) -> Option<Vec<Action>> {
        None
    }
}
