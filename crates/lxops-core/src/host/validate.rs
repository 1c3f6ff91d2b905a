//! Checks of paths and names before anything is touched: no empty values, no `..`, absolute
//! where a directory is expected.

use std::path::{Component, Path};

use super::HostError;

fn invalid(what: &str, value: &str, reason: &str) -> HostError {
    HostError::Invalid {
        what: what.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// An absolute directory without `..` components.
pub(crate) fn absolute_dir(what: &str, path: &Path) -> Result<(), HostError> {
    let value = path.display().to_string();
    if value.is_empty() {
        return Err(invalid(
            what,
            &value,
            "it is empty; check the pattern and its properties",
        ));
    }
    if !path.is_absolute() {
        return Err(invalid(
            what,
            &value,
            "it must be an absolute directory (start with /)",
        ));
    }
    no_parent_components(what, &value)
}

/// A relative path below a filesystem directory: not empty, not absolute, no `..`.
pub(crate) fn relative_dir(what: &str, value: &str) -> Result<(), HostError> {
    if value.is_empty() {
        return Err(invalid(
            what,
            value,
            "it is empty; use `.` for the filesystem directory",
        ));
    }
    if value.starts_with('/') {
        return Err(invalid(what, value, "a relative dir must not start with /"));
    }
    no_parent_components(what, value)
}

/// No `..` component (a path must not escape its filesystem).
pub(crate) fn no_parent_components(what: &str, value: &str) -> Result<(), HostError> {
    if Path::new(value)
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(invalid(what, value, "`..` components are not allowed"));
    }
    Ok(())
}

/// A ZFS dataset name: `pool/a/b`, no empty, `.` or `..` components, no `@`.
pub(crate) fn dataset_name(what: &str, value: &str) -> Result<(), HostError> {
    if value.is_empty() {
        return Err(invalid(
            what,
            value,
            "it is empty; check the pattern and its properties",
        ));
    }
    if value.starts_with('/') {
        return Err(invalid(
            what,
            value,
            "a ZFS dataset name does not start with / (it is not a directory)",
        ));
    }
    if value.contains('@') {
        return Err(invalid(what, value, "a dataset name cannot contain @"));
    }
    for component in value.split('/') {
        match component {
            ".." => return Err(invalid(what, value, "`..` components are not allowed")),
            "" | "." => {
                return Err(invalid(what, value, "it has an empty or `.` component"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A snapshot name: not empty, no `@` or `/`.
pub(crate) fn snapshot_name(value: &str) -> Result<(), HostError> {
    if value.is_empty() {
        return Err(invalid("snapshot name", value, "give a snapshot name"));
    }
    if value.contains(['@', '/']) || value == "." || value == ".." {
        return Err(invalid("snapshot name", value, "it cannot contain @ or /"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_accepted_or_refused_with_a_reason() {
        let cases: &[(&str, Result<(), HostError>)] = &[
            ("abs /a/b", absolute_dir("d", Path::new("/a/b"))),
            ("abs empty", absolute_dir("d", Path::new(""))),
            ("abs relative", absolute_dir("d", Path::new("a/b"))),
            ("abs dotdot", absolute_dir("d", Path::new("/a/../b"))),
            ("rel a/b", relative_dir("d", "a/b")),
            ("rel empty", relative_dir("d", "")),
            ("rel /a", relative_dir("d", "/a")),
            ("rel ../a", relative_dir("d", "../a")),
            ("ds p/a", dataset_name("d", "p/a")),
            ("ds /p/a", dataset_name("d", "/p/a")),
            ("ds p//a", dataset_name("d", "p//a")),
            ("ds p/../a", dataset_name("d", "p/../a")),
            ("ds p@s", dataset_name("d", "p@s")),
            ("snap s1", snapshot_name("s1")),
            ("snap empty", snapshot_name("")),
            ("snap a/b", snapshot_name("a/b")),
        ];
        let text: Vec<String> = cases
            .iter()
            .map(|(name, r)| match r {
                Ok(()) => format!("{name}: ok"),
                Err(e) => format!("{name}: {e}"),
            })
            .collect();
        expect_test::expect![[r#"
            abs /a/b: ok
            abs empty: d `` is invalid: it is empty; check the pattern and its properties
            abs relative: d `a/b` is invalid: it must be an absolute directory (start with /)
            abs dotdot: d `/a/../b` is invalid: `..` components are not allowed
            rel a/b: ok
            rel empty: d `` is invalid: it is empty; use `.` for the filesystem directory
            rel /a: d `/a` is invalid: a relative dir must not start with /
            rel ../a: d `../a` is invalid: `..` components are not allowed
            ds p/a: ok
            ds /p/a: d `/p/a` is invalid: a ZFS dataset name does not start with / (it is not a directory)
            ds p//a: d `p//a` is invalid: it has an empty or `.` component
            ds p/../a: d `p/../a` is invalid: `..` components are not allowed
            ds p@s: d `p@s` is invalid: a dataset name cannot contain @
            snap s1: ok
            snap empty: snapshot name `` is invalid: give a snapshot name
            snap a/b: snapshot name `a/b` is invalid: it cannot contain @ or /"#]]
        .assert_eq(&text.join("\n"));
    }
}
