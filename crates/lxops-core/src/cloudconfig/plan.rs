//! Turning parsed files into [`Step`]s for one OS type, per file in the original's module
//! order: `write_files` (not deferred), packages (update, upgrade, install), groups, users,
//! timezone, deferred `write_files`, `runcmd`. Planning is pure: nothing is read or run.

use std::collections::BTreeSet;

use super::error::PlanError;
use super::model::{ParsedFile, RunCommand, Sensitive, User, WriteFile};
use super::os::{visudo_check, OsType};
use super::step::{quote, Action, Command, FileStep, Module, Step};

/// The steps of every file, file after file.
pub fn plan_all(files: &[ParsedFile], os: &dyn OsType) -> Result<Vec<Step>, PlanError> {
    let mut steps = Vec::new();
    for file in files {
        steps.extend(plan(file, os)?);
    }
    Ok(steps)
}

/// The steps of one file.
pub fn plan(file: &ParsedFile, os: &dyn OsType) -> Result<Vec<Step>, PlanError> {
    let mut planner = Planner {
        file,
        os,
        steps: Vec::new(),
        groups: BTreeSet::new(),
    };
    planner.write_files(false);
    planner.packages()?;
    planner.users()?;
    planner.timezone()?;
    planner.write_files(true);
    planner.runcmd();
    Ok(planner.steps)
}

struct Planner<'a> {
    file: &'a ParsedFile,
    os: &'a dyn OsType,
    steps: Vec<Step>,
    /// Groups already ensured in this file.
    groups: BTreeSet<String>,
}

impl Planner<'_> {
    fn push(&mut self, module: Module, action: Action) {
        self.steps.push(Step {
            path: self.file.path.clone(),
            module,
            action,
        });
    }

    fn unsupported(&self, module: Module, what: &str) -> PlanError {
        PlanError::Unsupported {
            path: self.file.path.clone(),
            module,
            os: self.os.name().to_string(),
            what: what.to_string(),
        }
    }

    fn exec_all(
        &mut self,
        module: Module,
        commands: Option<Vec<Command>>,
        what: &str,
    ) -> Result<(), PlanError> {
        let commands = commands.ok_or_else(|| self.unsupported(module, what))?;
        for command in commands {
            self.push(module, Action::Exec(command));
        }
        Ok(())
    }

    fn write_files(&mut self, deferred: bool) {
        let module = if deferred {
            Module::DeferredWriteFiles
        } else {
            Module::WriteFiles
        };
        let parsed = self.file;
        let files: Vec<&WriteFile> = parsed
            .config
            .write_files
            .iter()
            .filter(|f| f.defer == deferred)
            .collect();
        for file in files {
            self.push(
                module,
                Action::WriteFile(FileStep {
                    path: file.path.clone(),
                    content: file.content.clone(),
                    mode: file.mode,
                    owner: file.owner.clone(),
                    append: file.append,
                    only_if_dir: None,
                }),
            );
        }
    }

    fn packages(&mut self) -> Result<(), PlanError> {
        let file = self.file;
        let config = &file.config;
        let module = Module::Packages;
        // cloud-init refreshes the index whenever it installs or upgrades; with an explicit
        // `package_update: false` lxops still refreshes a missing index (installing would fail).
        let installs = !config.packages.is_empty() || config.package_upgrade;
        // An OS type that cannot refresh its index fails only when the file asks for it.
        let implied = |commands: Option<Vec<Command>>| commands.unwrap_or_default();
        match (config.package_update, installs) {
            (Some(false), true) => {
                for command in implied(self.os.update_packages_if_missing()) {
                    self.push(module, Action::Exec(command));
                }
            }
            (None, true) => {
                for command in implied(self.os.update_packages()) {
                    self.push(module, Action::Exec(command));
                }
            }
            (Some(true), _) => {
                let commands = self.os.update_packages();
                self.exec_all(module, commands, "refresh the package index")?;
            }
            (_, false) => {}
        }
        if config.package_upgrade {
            let commands = self.os.upgrade_packages();
            self.exec_all(module, commands, "upgrade packages")?;
        }
        if !config.packages.is_empty() {
            let commands = self.os.install_packages(&config.packages);
            self.exec_all(module, commands, "install packages")?;
        }
        Ok(())
    }

    fn ensure_group(&mut self, module: Module, name: &str) -> Result<(), PlanError> {
        if !self.groups.insert(name.to_string()) {
            return Ok(());
        }
        let create = self
            .os
            .add_group(name)
            .ok_or_else(|| self.unsupported(module, "create groups"))?;
        self.push(
            module,
            Action::EnsureGroup {
                name: name.to_string(),
                create,
            },
        );
        Ok(())
    }

    fn add_to_groups(
        &mut self,
        module: Module,
        user: &str,
        groups: &[String],
    ) -> Result<(), PlanError> {
        let commands = self.os.add_to_groups(user, groups);
        self.exec_all(module, commands, "add users to groups")
    }

    fn users(&mut self) -> Result<(), PlanError> {
        let file = self.file;
        let config = &file.config;
        // Groups first, so that users can join them; members join after the users exist.
        for group in &config.groups {
            self.ensure_group(Module::Groups, &group.name)?;
        }
        let module = Module::Users;
        for user in &config.users {
            if let Some(group) = &user.primary_group {
                self.ensure_group(module, group)?;
            }
            for group in &user.groups {
                self.ensure_group(module, group)?;
            }
            let create = self
                .os
                .add_user(user)
                .ok_or_else(|| self.unsupported(module, "create users"))?;
            // `passwd` is the new user's password (cloud-init gives it to useradd only).
            let created = match &user.passwd {
                Some(hash) => vec![self
                    .os
                    .set_password_hashes(&[(user.name.clone(), hash.clone())])
                    .ok_or_else(|| self.unsupported(module, "set passwords"))?],
                None => Vec::new(),
            };
            self.push(
                module,
                Action::EnsureUser {
                    name: user.name.clone(),
                    create,
                    update: self.os.update_user(user),
                    created,
                },
            );
            if !user.groups.is_empty() {
                self.add_to_groups(module, &user.name, &user.groups)?;
            }
        }
        for group in &config.groups {
            for member in &group.members {
                self.add_to_groups(Module::Groups, member, std::slice::from_ref(&group.name))?;
            }
        }
        // Passwords and locks as cloud-init: `hashed_passwd` is set, then the password is
        // locked unless `lock_passwd: false`. An OS type that unlocks password-less accounts
        // (Alpine, for key-only ssh) gives a user without any hash and without `lock_passwd`
        // the impossible hash `*` instead of a lock: password logins stay impossible.
        let keeps_star = |user: &User| {
            self.os.unlock_without_password()
                && user.hashed_passwd.is_none()
                && user.passwd.is_none()
                && user.lock_passwd != Some(true)
        };
        let mut passwords = Vec::new();
        for user in &config.users {
            match &user.hashed_passwd {
                Some(hash) => passwords.push((user.name.clone(), hash.clone())),
                None if keeps_star(user) => {
                    passwords.push((user.name.clone(), Sensitive::new("*".to_string())))
                }
                None => {}
            }
        }
        if !passwords.is_empty() {
            let command = self
                .os
                .set_password_hashes(&passwords)
                .ok_or_else(|| self.unsupported(module, "set passwords"))?;
            self.push(module, Action::Exec(command));
        }
        let locked: Vec<&User> = config
            .users
            .iter()
            .filter(|user| user.locks_password() && !keeps_star(user))
            .collect();
        for user in locked {
            let command = self
                .os
                .lock_password(&user.name)
                .ok_or_else(|| self.unsupported(module, "lock passwords"))?;
            self.push(module, Action::Exec(command));
        }
        for user in &config.users {
            if let Some(rules) = &user.sudo {
                for file in self.os.sudo_files(&user.name, rules) {
                    let check =
                        file.path
                            .starts_with("/etc/sudoers.d/")
                            .then(|| Action::CheckSudoers {
                                path: file.path.clone(),
                                command: visudo_check(&file.path),
                            });
                    self.push(module, Action::WriteFile(file));
                    if let Some(check) = check {
                        self.push(module, check);
                    }
                }
            }
        }
        for user in &config.users {
            if !user.ssh_authorized_keys.expose().is_empty() {
                self.push(
                    module,
                    Action::AuthorizedKeys {
                        user: user.name.clone(),
                        home: user.home(),
                        keys: user.ssh_authorized_keys.clone(),
                    },
                );
            }
        }
        Ok(())
    }

    fn timezone(&mut self) -> Result<(), PlanError> {
        let file = self.file;
        let Some(timezone) = &file.config.timezone else {
            return Ok(());
        };
        let module = Module::Timezone;
        let actions = self
            .os
            .set_timezone(timezone)
            .ok_or_else(|| self.unsupported(module, "set the time zone"))?;
        for action in actions {
            self.push(module, action);
        }
        Ok(())
    }

    fn runcmd(&mut self) {
        let file = self.file;
        if file.config.runcmd.is_empty() {
            return;
        }
        // cloud-init's runcmd script: a string as it is, a list as shell-quoted words.
        let entries = file
            .config
            .runcmd
            .iter()
            .map(|command| match command {
                RunCommand::Shell(script) => script.clone(),
                RunCommand::Argv(argv) => {
                    let words: Vec<String> = argv.iter().map(|w| quote(w)).collect();
                    words.join(" ")
                }
            })
            .collect();
        self.push(Module::Runcmd, Action::RunScript { entries });
    }
}
