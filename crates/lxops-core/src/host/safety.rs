//! The rules every destroy and rename of host filesystems passes first, for all filesystems
//! before the first one is touched. They hold with `--force` and `--adopt` too.
//!
//! A filesystem is refused when:
//! 1. it is a pool's root dataset;
//! 2. its path does not change with the instance name (the same config evaluated for another
//!    name gives the same path: it is shared);
//! 3. its directory is `/`, a top-level directory, or a directory a system package owns or
//!    holds files in (dpkg's lists);
//! 4. another instance uses a directory inside it, or it lies inside a directory another
//!    instance uses (the disk devices of every other instance, profiles included), or another
//!    instance's config resolves to it, inside it or around it (the configs named by the
//!    profiles of the other instances);
//! 5. it carries the mark of another instance, or (ZFS) a dataset inside it does;
//! 6. it carries no mark at all, unless `adopt` is given and the instance exists (an instance
//!    that never existed only loses filesystems marked for it).
//!
//! Each refusal says what, why, and the manual command for a user who really means it.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::driver::{driver_of, FsState, HostView};
use super::marks;
use super::{FilesystemSpec, FsKind, HostError, HostRunner};

/// A directory another instance uses (the source of one of its disk devices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse {
    /// The other instance.
    pub instance: String,
    /// The host directory.
    pub path: PathBuf,
}

/// What a destroy or rename may act on.
#[derive(Debug, Clone, Default)]
pub struct RemovalRules {
    /// The mark of the instance the filesystems belong to (`marks::instance_mark`).
    pub mark: String,
    /// The same filesystems evaluated for another instance name (rule 2).
    pub twins: Vec<FilesystemSpec>,
    /// Directories of other instances (rule 4).
    pub in_use: Vec<InUse>,
    /// Filesystems of other instances, from their configs (rule 4): instance name, filesystem.
    pub others: Vec<(String, FilesystemSpec)>,
    /// Accept unmarked filesystems that pass every other rule (rule 6).
    pub adopt: bool,
    /// The instance exists (or existed when this command started).
    pub instance_exists: bool,
}

/// One refused filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The filesystem id.
    pub id: String,
    /// Its path (dataset or directory).
    pub path: String,
    /// Why it is refused.
    pub reason: String,
    /// The command that does it by hand.
    pub manual: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "filesystem `{}` ({}): {}; if you really mean it, run `{}` yourself",
            self.id, self.path, self.reason, self.manual
        )
    }
}

/// The command that destroys `fs` by hand.
fn manual_destroy(fs: &FilesystemSpec) -> String {
    match fs.kind {
        FsKind::Zfs => format!("zfs destroy -r {}", fs.path),
        FsKind::Dir => format!("rm -rf {}", fs.path),
        FsKind::Btrfs => format!("btrfs subvolume delete {}", fs.path),
    }
}

/// The command that renames `old` to `new` by hand.
fn manual_rename(old: &FilesystemSpec, new: &FilesystemSpec) -> String {
    match old.kind {
        FsKind::Zfs => format!("zfs rename -p {} {}", old.path, new.path),
        FsKind::Dir | FsKind::Btrfs => format!("mv {} {}", old.path, new.path),
    }
}

/// `/` or a directory right below it.
fn is_root_or_top_level(dir: &Path) -> bool {
    dir.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .count()
        <= 1
}

/// Checks `fss` against the rules, all of them before anything changes. `manual` gives the
/// command that does the action by hand. Returns the filesystems that exist (the others need
/// nothing) or every refusal at once.
pub(crate) fn check(
    host: &dyn HostRunner,
    fss: &[&FilesystemSpec],
    rules: &RemovalRules,
    manual: &dyn Fn(&FilesystemSpec) -> String,
) -> Result<Vec<FilesystemSpec>, HostError> {
    let view = HostView::new(host);
    let mut refusals = Vec::new();
    let mut existing = Vec::new();
    let mut dirs: Vec<(usize, PathBuf)> = Vec::new();
    for (i, fs) in fss.iter().enumerate() {
        driver_of(fs).validate(fs)?;
        let mut refuse = |reason: String| {
            refusals.push(Refusal {
                id: fs.id.clone(),
                path: fs.path.clone(),
                reason,
                manual: manual(fs),
            })
        };
        let mut refused = false;
        if fs.kind == FsKind::Zfs && !fs.path.contains('/') {
            refuse("it is the root dataset of a ZFS pool".into());
            refused = true;
        }
        let state = match driver_of(fs).probe(&view, fs) {
            Ok(state) => state,
            Err(HostError::MissingPool { .. }) if !refused => continue,
            Err(HostError::MissingPool { .. }) => FsState {
                exists: false,
                dir: None,
                no_dir_reason: String::new(),
            },
            Err(e) => return Err(e),
        };
        if let Some(dir) = &state.dir {
            if is_root_or_top_level(dir) {
                refuse(format!(
                    "its directory {} is / or a top-level directory",
                    dir.display()
                ));
                refused = true;
            }
        }
        // Directories and btrfs subvolumes share one namespace (paths); datasets another.
        let overlaps = |other: &FilesystemSpec| {
            (other.kind == FsKind::Zfs) == (fs.kind == FsKind::Zfs)
                && (other.path == fs.path
                    || driver_of(fs).contains(fs, other)
                    || driver_of(fs).contains(other, fs))
        };
        if let Some((instance, other)) = rules.others.iter().find(|(_, o)| overlaps(o)) {
            refuse(format!(
                "the config of instance {instance} resolves to {} (filesystem `{}`)",
                other.path, other.id
            ));
            refused = true;
        }
        if rules
            .twins
            .iter()
            .any(|t| t.id == fs.id && t.kind == fs.kind && t.path == fs.path)
        {
            refuse(
                "its pattern gives the same path for every instance name, so it is shared, not \
                 this instance's; put (instance) in the pattern"
                    .into(),
            );
            refused = true;
        }
        if refused {
            continue;
        }
        if !state.exists {
            continue;
        }
        if let Some(dir) = state.dir.clone() {
            dirs.push((i, dir));
        }
        existing.push(*fs);
    }
    // Package-owned directories, in one pass over dpkg's lists.
    let paths: Vec<PathBuf> = dirs.iter().map(|(_, d)| d.clone()).collect();
    let owned = host.package_owned(&paths)?;
    let mut blocked: Vec<String> = Vec::new();
    for (i, dir) in &dirs {
        let fs = fss[*i];
        let mut reasons = Vec::new();
        if owned.contains(dir) {
            reasons.push(format!(
                "its directory {} belongs to a system package (or holds package files)",
                dir.display()
            ));
        }
        for user in &rules.in_use {
            if user.path.starts_with(dir) || dir.starts_with(&user.path) {
                reasons.push(format!(
                    "instance {} uses {} as a disk device",
                    user.instance,
                    user.path.display()
                ));
                break;
            }
        }
        for reason in reasons {
            refusals.push(Refusal {
                id: fs.id.clone(),
                path: fs.path.clone(),
                reason,
                manual: manual(fs),
            });
            blocked.push(fs.path.clone());
        }
    }
    for fs in &existing {
        if blocked.contains(&fs.path) {
            continue;
        }
        let mut refuse = |reason: String| {
            refusals.push(Refusal {
                id: fs.id.clone(),
                path: fs.path.clone(),
                reason,
                manual: manual(fs),
            })
        };
        match marks::read_mark(host, fs)? {
            Some(mark) if mark == rules.mark => {}
            Some(mark) => {
                refuse(format!("it is marked as made for instance {mark}"));
                continue;
            }
            None if !rules.instance_exists => {
                refuse(
                    "it has no lxops mark and the instance does not exist, so it is not known \
                     to be this instance's"
                        .into(),
                );
                continue;
            }
            None if !rules.adopt => {
                refuse(
                    "it has no lxops mark (made by an older lxops, or not by lxops); if it is \
                     this instance's data, run again with --adopt"
                        .into(),
                );
                continue;
            }
            None => {}
        }
        if fs.kind == FsKind::Zfs {
            for (inner, mark) in marks::zfs_marks_inside(host, &fs.path)? {
                if mark != rules.mark {
                    refuse(format!(
                        "dataset {inner} inside it is marked as made for instance {mark}"
                    ));
                }
            }
        }
    }
    if refusals.is_empty() {
        Ok(existing.into_iter().cloned().collect())
    } else {
        Err(HostError::Refused { refusals })
    }
}

/// Checks `fss` for `destroy` (see the module docs); returns the ones that exist.
pub fn check_removal(
    host: &dyn HostRunner,
    fss: &[FilesystemSpec],
    rules: &RemovalRules,
) -> Result<Vec<FilesystemSpec>, HostError> {
    let all: Vec<&FilesystemSpec> = fss.iter().collect();
    check(host, &all, rules, &manual_destroy)
}

/// Checks the renames `old[i] -> new[i]` that change a path: the old filesystems pass the rules,
/// and no new path exists or lies in another instance's directory.
pub(crate) fn check_rename(
    host: &dyn HostRunner,
    pairs: &[(&FilesystemSpec, &FilesystemSpec)],
    rules: &RemovalRules,
) -> Result<(), HostError> {
    let old: Vec<&FilesystemSpec> = pairs.iter().map(|(o, _)| *o).collect();
    let manual = |fs: &FilesystemSpec| {
        pairs
            .iter()
            .find(|(o, _)| o.path == fs.path)
            .map(|(o, n)| manual_rename(o, n))
            .unwrap_or_default()
    };
    let mut refusals = match check(host, &old, rules, &manual) {
        Ok(_) => Vec::new(),
        Err(HostError::Refused { refusals }) => refusals,
        Err(e) => return Err(e),
    };
    let view = HostView::new(host);
    for (o, n) in pairs {
        driver_of(n).validate(n)?;
        let state = match driver_of(n).probe(&view, n) {
            Ok(state) => state,
            Err(HostError::MissingPool { .. }) => continue,
            Err(e) => return Err(e),
        };
        let mut reason = None;
        if state.exists {
            reason = Some(format!("the new path {} exists already", n.path));
        } else if let Some(dir) = &state.dir {
            if let Some(user) = rules.in_use.iter().find(|u| dir.starts_with(&u.path)) {
                reason = Some(format!(
                    "the new directory {} is inside {}, which instance {} uses",
                    dir.display(),
                    user.path.display(),
                    user.instance
                ));
            }
        }
        if let Some(reason) = reason {
            refusals.push(Refusal {
                id: o.id.clone(),
                path: o.path.clone(),
                reason,
                manual: manual_rename(o, n),
            });
        }
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(HostError::Refused { refusals })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::host::fake::FakeHost;

    const MARK: &str = "default/a1";

    fn fs(id: &str, kind: FsKind, path: &str) -> FilesystemSpec {
        FilesystemSpec {
            filesystem: crate::config::InstanceFilesystem {
                id: id.into(),
                kind,
                path: path.into(),
                zfsproperties: BTreeMap::new(),
                transient: false,
                destroy: true,
            },
            mark: Some(MARK.into()),
        }
    }

    fn host() -> FakeHost {
        FakeHost::new()
            .with_datasets(&[
                ("tank", "/tank"),
                ("tank/a1", "/tank/a1"),
                ("tank/a1/b1", "/tank/a1/b1"),
                ("tank/old", "/tank/old"),
                ("tank/shared", "/tank/shared"),
            ])
            .with_zfs_marks(&[("tank/a1", MARK), ("tank/a1/b1", "default/b1")])
            .with_dirs(&[
                "/",
                "/etc",
                "/dev",
                "/usr/lib/pkg",
                "/srv/a1",
                "/srv/b1",
                "/srv/old",
                "/srv/shared",
                "/srv/users",
            ])
            .with_xattrs(&[
                ("/srv/a1", "user.lxops.instance", MARK),
                ("/srv/b1", "user.lxops.instance", "default/b1"),
                ("/srv/users", "user.lxops.instance", MARK),
            ])
            .with_package_paths(&["/usr/lib/pkg/file"])
    }

    fn base_rules() -> RemovalRules {
        RemovalRules {
            mark: MARK.into(),
            twins: vec![
                fs("shared", FsKind::Dir, "/srv/shared"),
                fs("zshared", FsKind::Zfs, "tank/shared"),
            ],
            in_use: vec![InUse {
                instance: "c1".into(),
                path: "/srv/users/c1".into(),
            }],
            others: Vec::new(),
            adopt: false,
            instance_exists: true,
        }
    }

    /// Every attempt to destroy the wrong thing is refused, with the reason and the manual
    /// command; only filesystems marked for this instance (or adopted) pass.
    #[test]
    fn destroying_the_wrong_thing_is_refused() {
        let adopt = RemovalRules {
            adopt: true,
            ..base_rules()
        };
        let never_existed = RemovalRules {
            adopt: true,
            instance_exists: false,
            ..base_rules()
        };
        let plain = base_rules();
        let others = RemovalRules {
            others: vec![("b1".into(), fs("root", FsKind::Zfs, "tank/old/b1"))],
            ..adopt.clone()
        };
        let cases: Vec<(&str, FilesystemSpec, &RemovalRules)> = vec![
            ("root dir", fs("fs", FsKind::Dir, "/"), &adopt),
            ("/etc", fs("fs", FsKind::Dir, "/etc"), &adopt),
            ("/dev", fs("fs", FsKind::Dir, "/dev"), &adopt),
            ("package dir", fs("fs", FsKind::Dir, "/usr/lib/pkg"), &adopt),
            ("pool root", fs("fs", FsKind::Zfs, "tank"), &adopt),
            (
                "shared dir",
                fs("shared", FsKind::Dir, "/srv/shared"),
                &adopt,
            ),
            (
                "shared dataset",
                fs("zshared", FsKind::Zfs, "tank/shared"),
                &adopt,
            ),
            ("other's dir", fs("fs", FsKind::Dir, "/srv/b1"), &adopt),
            ("used by other", fs("fs", FsKind::Dir, "/srv/users"), &adopt),
            ("other's config", fs("fs", FsKind::Zfs, "tank/old"), &others),
            ("unmarked", fs("fs", FsKind::Dir, "/srv/old"), &plain),
            (
                "unmarked adopted",
                fs("fs", FsKind::Dir, "/srv/old"),
                &adopt,
            ),
            (
                "unmarked, never existed",
                fs("fs", FsKind::Dir, "/srv/old"),
                &never_existed,
            ),
            ("zfs unmarked", fs("fs", FsKind::Zfs, "tank/old"), &plain),
            (
                "other's dataset inside",
                fs("fs", FsKind::Zfs, "tank/a1"),
                &adopt,
            ),
            (
                "marked dir",
                fs("fs", FsKind::Dir, "/srv/a1"),
                &never_existed,
            ),
            ("missing dir", fs("fs", FsKind::Dir, "/srv/none"), &plain),
        ];
        let mut text = Vec::new();
        for (name, fs, rules) in cases {
            let host = host();
            let result = check_removal(&host, std::slice::from_ref(&fs), rules);
            text.push(match result {
                Ok(existing) => format!(
                    "{name}: ok {:?}",
                    existing.iter().map(|f| &f.path).collect::<Vec<_>>()
                ),
                Err(e) => format!("{name}: {e}"),
            });
            assert!(
                host.log().iter().all(|l| !l.starts_with("remove")),
                "{name}: a check changed nothing"
            );
        }
        expect_test::expect![[r#"
            root dir: refused, nothing was changed:
              filesystem `fs` (/): its directory / is / or a top-level directory; if you really mean it, run `rm -rf /` yourself
            /etc: refused, nothing was changed:
              filesystem `fs` (/etc): its directory /etc is / or a top-level directory; if you really mean it, run `rm -rf /etc` yourself
            /dev: refused, nothing was changed:
              filesystem `fs` (/dev): its directory /dev is / or a top-level directory; if you really mean it, run `rm -rf /dev` yourself
            package dir: refused, nothing was changed:
              filesystem `fs` (/usr/lib/pkg): its directory /usr/lib/pkg belongs to a system package (or holds package files); if you really mean it, run `rm -rf /usr/lib/pkg` yourself
            pool root: refused, nothing was changed:
              filesystem `fs` (tank): it is the root dataset of a ZFS pool; if you really mean it, run `zfs destroy -r tank` yourself
              filesystem `fs` (tank): its directory /tank is / or a top-level directory; if you really mean it, run `zfs destroy -r tank` yourself
            shared dir: refused, nothing was changed:
              filesystem `shared` (/srv/shared): its pattern gives the same path for every instance name, so it is shared, not this instance's; put (instance) in the pattern; if you really mean it, run `rm -rf /srv/shared` yourself
            shared dataset: refused, nothing was changed:
              filesystem `zshared` (tank/shared): its pattern gives the same path for every instance name, so it is shared, not this instance's; put (instance) in the pattern; if you really mean it, run `zfs destroy -r tank/shared` yourself
            other's dir: refused, nothing was changed:
              filesystem `fs` (/srv/b1): it is marked as made for instance default/b1; if you really mean it, run `rm -rf /srv/b1` yourself
            used by other: refused, nothing was changed:
              filesystem `fs` (/srv/users): instance c1 uses /srv/users/c1 as a disk device; if you really mean it, run `rm -rf /srv/users` yourself
            other's config: refused, nothing was changed:
              filesystem `fs` (tank/old): the config of instance b1 resolves to tank/old/b1 (filesystem `root`); if you really mean it, run `zfs destroy -r tank/old` yourself
            unmarked: refused, nothing was changed:
              filesystem `fs` (/srv/old): it has no lxops mark (made by an older lxops, or not by lxops); if it is this instance's data, run again with --adopt; if you really mean it, run `rm -rf /srv/old` yourself
            unmarked adopted: ok ["/srv/old"]
            unmarked, never existed: refused, nothing was changed:
              filesystem `fs` (/srv/old): it has no lxops mark and the instance does not exist, so it is not known to be this instance's; if you really mean it, run `rm -rf /srv/old` yourself
            zfs unmarked: refused, nothing was changed:
              filesystem `fs` (tank/old): it has no lxops mark (made by an older lxops, or not by lxops); if it is this instance's data, run again with --adopt; if you really mean it, run `zfs destroy -r tank/old` yourself
            other's dataset inside: refused, nothing was changed:
              filesystem `fs` (tank/a1): dataset tank/a1/b1 inside it is marked as made for instance default/b1; if you really mean it, run `zfs destroy -r tank/a1` yourself
            marked dir: ok ["/srv/a1"]
            missing dir: ok []"#]]
        .assert_eq(&text.join("\n"));
    }

    /// One refused filesystem and nothing is destroyed, not even the ones that passed.
    #[test]
    fn one_refusal_and_nothing_is_destroyed() {
        let host = host();
        let fss = [
            fs("mine", FsKind::Dir, "/srv/a1"),
            fs("theirs", FsKind::Dir, "/srv/b1"),
        ];
        let err = super::super::ops::destroy_filesystems(&host, &fss, &base_rules()).unwrap_err();
        assert!(
            matches!(err, HostError::Refused { ref refusals } if refusals.len() == 1),
            "{err}"
        );
        assert!(
            host.log().iter().all(|l| !l.starts_with("remove")),
            "{:?}",
            host.log()
        );
        let done = super::super::ops::destroy_filesystems(&host, &fss[..1], &base_rules()).unwrap();
        assert_eq!(done, ["/srv/a1"]);
        assert_eq!(host.log(), ["remove /srv/a1"]);
    }

    /// A rename onto a path that exists (another instance's data) is refused before anything
    /// moves; a good rename re-marks the filesystem for the new instance.
    #[test]
    fn renaming_onto_existing_data_is_refused() {
        let host = host();
        let old = [fs("fs", FsKind::Dir, "/srv/a1")];
        let mut onto = old.clone();
        onto[0].path = "/srv/b1".into();
        let err =
            super::super::ops::rename_filesystems(&host, &old, &onto, &base_rules()).unwrap_err();
        expect_test::expect![[r#"
            refused, nothing was changed:
              filesystem `fs` (/srv/a1): the new path /srv/b1 exists already; if you really mean it, run `mv /srv/a1 /srv/b1` yourself"#]]
        .assert_eq(&err.to_string());
        assert!(host.log().is_empty(), "{:?}", host.log());
        let mut new = old.clone();
        new[0].path = "/srv/a2".into();
        new[0].mark = Some("default/a2".into());
        super::super::ops::rename_filesystems(&host, &old, &new, &base_rules()).unwrap();
        assert_eq!(
            host.log(),
            [
                "mkdir -p /srv",
                "rename /srv/a1 -> /srv/a2",
                "setfattr -n user.lxops.instance -v default/a2 /srv/a2"
            ]
        );
    }
}
