//! A third party's own `main`: lxops for Incus plus an extra config-format migrator (a made-up
//! `#acme-v1` format, migrated to `#lxops-v1` by renaming its header) and an extra OS type
//! (`acme`, which installs packages with its own package manager). It builds in CI as an example
//! of the public API: `cargo run --example custom_main -- config formats`.

use std::process::ExitCode;

use lxops_core::cloudconfig::{Action, Command, Debian, OsType, Package, User};

/// `#acme-v1` files are `#lxops-v1` files with another header line.
fn migrate_acme(input: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(input).map_err(|e| format!("not UTF-8: {e}"))?;
    let body = text
        .strip_prefix("#acme-v1")
        .ok_or_else(|| "missing #acme-v1 header".to_string())?;
    Ok(format!("#lxops-v1{body}").into_bytes())
}

/// An OS whose package manager is `acme-pkg`; users, groups and time zone as on Debian.
struct Acme {
    debian: Debian,
}

impl OsType for Acme {
    fn name(&self) -> &str {
        "acme"
    }

    fn update_packages(&self) -> Option<Vec<Command>> {
        Some(vec![Command::new(["acme-pkg", "refresh"])])
    }

    fn upgrade_packages(&self) -> Option<Vec<Command>> {
        Some(vec![Command::new(["acme-pkg", "upgrade"])])
    }

    fn install_packages(&self, packages: &[Package]) -> Option<Vec<Command>> {
        let mut argv = vec!["acme-pkg".to_string(), "install".to_string()];
        argv.extend(packages.iter().map(|p| p.to_string()));
        Some(vec![Command::new(argv)])
    }

    fn add_group(&self, name: &str) -> Option<Command> {
        self.debian.add_group(name)
    }

    fn add_user(&self, user: &User) -> Option<Command> {
        self.debian.add_user(user)
    }

    fn set_timezone(&self, timezone: &str) -> Option<Vec<Action>> {
        self.debian.set_timezone(timezone)
    }
}

fn main() -> ExitCode {
    let mut app = lxops_cli::App::new(Box::new(lxops_backend_incus::BACKEND));
    lxops_migrator_lxdops::register(&mut app.formats);
    app.formats.register("#acme-v1", migrate_acme);
    app.os_types.register(Box::new(Acme {
        debian: Debian::new(),
    }));
    lxops_cli::main(app)
}
