//! `origin`: `[<project>_]<instance>[/<snapshot>]`, the instance a new one is copied from.
//! Instance names cannot contain `_`, so the first `_` separates the project.

use std::fmt;

/// A parsed `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The source project, when given with the `project_` prefix.
    pub project: Option<String>,
    /// The source instance.
    pub instance: String,
    /// The source snapshot, if any.
    pub snapshot: Option<String>,
}

impl Origin {
    /// `instance` or `instance/snapshot`, as the copy API wants it.
    pub fn source(&self) -> String {
        match &self.snapshot {
            Some(s) => format!("{}/{s}", self.instance),
            None => self.instance.clone(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(project) = &self.project {
            write!(f, "{project}/")?;
        }
        f.write_str(&self.source())
    }
}

/// Parses an `origin` value; `None` when it names no instance.
pub fn parse_origin(origin: &str) -> Option<Origin> {
    let (project, rest) = match origin.split_once('_') {
        Some((p, rest)) if !p.is_empty() => (Some(p.to_string()), rest),
        _ => (None, origin),
    };
    let (instance, snapshot) = match rest.split_once('/') {
        Some((i, s)) => (i, Some(s.to_string()).filter(|s| !s.is_empty())),
        None => (rest, None),
    };
    if instance.is_empty() {
        return None;
    }
    Some(Origin {
        project,
        instance: instance.to_string(),
        snapshot,
    })
}
