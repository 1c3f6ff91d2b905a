//! `#cloud-config` files: parsing, OS types, and applying them inside an instance through
//! [`crate::server::InstanceServer`], without cloud-init in the guest.
//!
//! The flow: [`parse_all`] reads and validates every file before anything runs;
//! [`plan_all`] turns them into [`Step`]s for one [`OsType`] (per file, in the original's
//! order: `write_files` not deferred, packages, groups and users, timezone, deferred
//! `write_files`, `runcmd`); `--dry-run` prints the steps; `apply_steps` executes them.
//! Files go through the file API with mode and owner set in the same call; commands run as
//! argv, never as shell strings built from user values. Secrets (file contents, password
//! hashes, key material) never appear in `Display`, `Debug` or logs.

mod accounts;
mod apply;
mod error;
mod locate;
mod model;
mod os;
mod parse;
mod plan;
mod step;

pub use apply::apply_steps;
pub use error::{ApplyError, CloudConfigError, PlanError, Problem};
pub use model::{
    CloudConfig, Group, IdRef, Owner, Package, ParsedFile, RunCommand, Sensitive, SizeHint, User,
    Warning, WriteFile,
};
pub use os::{
    chpasswd, doas_file, sudoers_file, sudoers_path, unless_index, useradd, visudo_check,
    zoneinfo_link, Alpine, Debian, Fedora, Openwrt, OsType, OsTypes, DEFAULT_DOAS_RULE,
    DEFAULT_SUDO_RULE,
};
pub use parse::{
    decode, decode_bytes, is_valid_name, parse, parse_all, parse_file, parse_mode, parse_owner,
    ENCODINGS, HEADER, MODULES, USERS_KEYS, WRITE_FILES_KEYS,
};
pub use plan::{plan, plan_all};
pub use step::{runcmd_script, Action, Command, FileStep, Module, Step, UserUpdate, RUNCMD_MARKER};

/// The `help cloud-config` topic: every module and key lxops applies, and every deliberate
/// difference from cloud-init with its reason.
pub const HELP: &str = include_str!("config/docs/cloud-config.md");

/// Every warning of the files (what they hold that lxops accepts but does not apply), in order.
/// Commands that read cloud-config show them; `i verify --strict` makes them errors.
pub fn warnings(files: &[ParsedFile]) -> impl Iterator<Item = &Warning> {
    files.iter().flat_map(|file| &file.warnings)
}

/// Every package of the files, in order, without duplicates (`config packages`).
pub fn packages(files: &[ParsedFile]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for file in files {
        for package in &file.config.packages {
            let package = package.to_string();
            if !all.contains(&package) {
                all.push(package);
            }
        }
    }
    all
}
