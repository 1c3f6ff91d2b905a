//! Names checked before anything touches the host or the server: instance, profile, project and
//! snapshot names. Every changing operation calls [`check_instance`] (and [`snapshot`] for a
//! snapshot name) first, so a name the daemon would refuse, or one that makes a filesystem
//! pattern resolve to a shared directory (`''`, `.`, `a/b`), never reaches the host.
//!
//! The rules (the daemons' own where they have them, checked against LXD 5.0 and Incus 6.0):
//! - **instance**: hostname-like, 1-63 characters, ASCII letters, digits and `-`; not starting
//!   with a digit or `-`, not ending with `-` (LXD refuses a leading digit, Incus an all-digit
//!   name; lxops keeps the stricter rule so a config works on both).
//! - **profile**: 1-127 characters of ASCII letters, digits, `.`, `_` and `-`; not `.` or `..`.
//!   The daemons accept more (spaces, `;`, non-ASCII), but lxops derives profile names from
//!   patterns and passes them to the CLIs, so it keeps to names that need no quoting.
//! - **project**: empty (the client's current project) or 1-63 characters of ASCII letters,
//!   digits, `.` and `-`, not `.` or `..` (the daemons refuse `/`, spaces, `_`, quotes and `*`).
//! - **snapshot**: 1-128 characters of ASCII letters, digits, `.`, `_`, `:` and `-`, not `.` or
//!   `..`, so it is also a valid ZFS snapshot name and btrfs path component.
//! - **volume** (storage pool and custom volume names): 1-63 characters of ASCII letters,
//!   digits, `.`, `_` and `-`, not starting with `.` or `-`. The daemons refuse only `/` and
//!   accept `ref v!`; lxops keeps to names that need no quoting in URLs and CLIs.

use crate::config::Instance;

/// A refused name: what it is, the value (control characters escaped) and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} name {value:?} is invalid: {rule}")]
pub struct NameError {
    /// "instance", "profile", "project" or "snapshot".
    pub what: &'static str,
    /// The refused value.
    pub value: String,
    /// The rule it breaks, and what to do.
    pub rule: String,
}

fn refuse(what: &'static str, value: &str, rule: impl Into<String>) -> NameError {
    NameError {
        what,
        value: value.to_string(),
        rule: rule.into(),
    }
}

fn check_chars(
    what: &'static str,
    value: &str,
    max: usize,
    allowed: fn(char) -> bool,
    described: &str,
) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(refuse(what, value, "it is empty; give a name"));
    }
    if value.chars().count() > max {
        return Err(refuse(
            what,
            value,
            format!("it is longer than {max} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Err(refuse(
            what,
            value,
            format!("{c:?} is not allowed; use only {described}"),
        ));
    }
    if value == "." || value == ".." {
        return Err(refuse(what, value, "`.` and `..` are not names"));
    }
    Ok(())
}

/// An instance name (hostname-like; see the module docs).
pub fn instance(name: &str) -> Result<(), NameError> {
    check_chars(
        "instance",
        name,
        63,
        |c| c.is_ascii_alphanumeric() || c == '-',
        "ASCII letters, digits and `-`",
    )?;
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(refuse("instance", name, "it must not start with a digit"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(refuse(
            "instance",
            name,
            "it must not start or end with `-`",
        ));
    }
    Ok(())
}

/// A profile name.
pub fn profile(name: &str) -> Result<(), NameError> {
    check_chars(
        "profile",
        name,
        127,
        |c| c.is_ascii_alphanumeric() || "._-".contains(c),
        "ASCII letters, digits, `.`, `_` and `-`",
    )
}

/// A project name; empty means the client's current project.
pub fn project(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Ok(());
    }
    check_chars(
        "project",
        name,
        63,
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '.',
        "ASCII letters, digits, `.` and `-`",
    )
}

/// A snapshot name.
pub fn snapshot(name: &str) -> Result<(), NameError> {
    check_chars(
        "snapshot",
        name,
        128,
        |c| c.is_ascii_alphanumeric() || "._:-".contains(c),
        "ASCII letters, digits, `.`, `_`, `:` and `-`",
    )
}

/// A storage pool or custom volume name (see the module docs).
pub fn volume(name: &str) -> Result<(), NameError> {
    check_chars(
        "volume",
        name,
        63,
        |c| c.is_ascii_alphanumeric() || "._-".contains(c),
        "ASCII letters, digits, `.`, `_` and `-`",
    )?;
    if name.starts_with(['.', '-']) {
        return Err(refuse("volume", name, "it must not start with `.` or `-`"));
    }
    Ok(())
}

/// [`volume`], as the rule text for a config problem ("is invalid: ...").
pub(crate) fn check_volume_name(name: &str) -> Result<(), String> {
    volume(name).map_err(|e| format!("is invalid: {}", e.rule))
}

/// Checks every name of an evaluated instance: its name, project, per-instance profile and the
/// profiles it lists.
pub fn check_instance(instance: &Instance) -> Result<(), NameError> {
    self::instance(&instance.name)?;
    project(&instance.project)?;
    profile(&instance.profile)?;
    for p in &instance.profiles {
        profile(p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_accepted_or_refused_with_the_rule() {
        let cases: Vec<(&str, &str, Result<(), NameError>)> = vec![
            ("instance", "web1", instance("web1")),
            ("instance", "a-b", instance("a-b")),
            ("instance", "", instance("")),
            ("instance", ".", instance(".")),
            ("instance", "a/b", instance("a/b")),
            ("instance", "a b", instance("a b")),
            ("instance", "a;b", instance("a;b")),
            ("instance", "é", instance("é")),
            ("instance", "1a", instance("1a")),
            ("instance", "-a", instance("-a")),
            ("instance", "a-", instance("a-")),
            ("instance", "a_b", instance("a_b")),
            ("instance", "64", instance(&"a".repeat(64))),
            ("instance", "63", instance(&"a".repeat(63))),
            ("profile", "a1.lxops", profile("a1.lxops")),
            ("profile", "..", profile("..")),
            ("profile", "a b", profile("a b")),
            ("profile", "a\\x1b", profile("a\x1b[31m")),
            ("project", "", project("")),
            ("project", "p_1", project("p_1")),
            ("project", "team.a", project("team.a")),
            ("snapshot", "2024:01", snapshot("2024:01")),
            ("snapshot", "a@b", snapshot("a@b")),
            ("snapshot", "", snapshot("")),
        ];
        let text: Vec<String> = cases
            .iter()
            .map(|(what, name, r)| match r {
                Ok(()) => format!("{what} {name}: ok"),
                Err(e) => format!("{what} {name}: {e}"),
            })
            .collect();
        expect_test::expect![[r#"
            instance web1: ok
            instance a-b: ok
            instance : instance name "" is invalid: it is empty; give a name
            instance .: instance name "." is invalid: '.' is not allowed; use only ASCII letters, digits and `-`
            instance a/b: instance name "a/b" is invalid: '/' is not allowed; use only ASCII letters, digits and `-`
            instance a b: instance name "a b" is invalid: ' ' is not allowed; use only ASCII letters, digits and `-`
            instance a;b: instance name "a;b" is invalid: ';' is not allowed; use only ASCII letters, digits and `-`
            instance é: instance name "é" is invalid: 'é' is not allowed; use only ASCII letters, digits and `-`
            instance 1a: instance name "1a" is invalid: it must not start with a digit
            instance -a: instance name "-a" is invalid: it must not start or end with `-`
            instance a-: instance name "a-" is invalid: it must not start or end with `-`
            instance a_b: instance name "a_b" is invalid: '_' is not allowed; use only ASCII letters, digits and `-`
            instance 64: instance name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is invalid: it is longer than 63 characters
            instance 63: ok
            profile a1.lxops: ok
            profile ..: profile name ".." is invalid: `.` and `..` are not names
            profile a b: profile name "a b" is invalid: ' ' is not allowed; use only ASCII letters, digits, `.`, `_` and `-`
            profile a\x1b: profile name "a\u{1b}[31m" is invalid: '\u{1b}' is not allowed; use only ASCII letters, digits, `.`, `_` and `-`
            project : ok
            project p_1: project name "p_1" is invalid: '_' is not allowed; use only ASCII letters, digits, `.` and `-`
            project team.a: ok
            snapshot 2024:01: ok
            snapshot a@b: snapshot name "a@b" is invalid: '@' is not allowed; use only ASCII letters, digits, `.`, `_`, `:` and `-`
            snapshot : snapshot name "" is invalid: it is empty; give a name"#]]
        .assert_eq(&text.join("\n"));
    }
}
