//! The instance's user and group database, read from `/etc/passwd` and `/etc/group` through
//! the file API, to resolve owner names to ids and to find out which users and groups exist.

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswdEntry {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) home: String,
    pub(crate) shell: String,
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub(crate) name: String,
    pub(crate) gid: u32,
}

/// Users and groups of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Accounts {
    users: Vec<PasswdEntry>,
    groups: Vec<GroupEntry>,
}

impl Accounts {
    /// Parses the two files; malformed lines are skipped.
    pub(crate) fn parse(passwd: &str, group: &str) -> Self {
        let users = passwd
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() < 7 || f[0].starts_with('#') {
                    return None;
                }
                Some(PasswdEntry {
                    name: f[0].to_string(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                    home: f[5].to_string(),
                    shell: f[6].to_string(),
                })
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() < 3 || f[0].starts_with('#') {
                    return None;
                }
                Some(GroupEntry {
                    name: f[0].to_string(),
                    gid: f[2].parse().ok()?,
                })
            })
            .collect();
        Accounts { users, groups }
    }

    /// A user by name.
    pub(crate) fn user(&self, name: &str) -> Option<&PasswdEntry> {
        self.users.iter().find(|u| u.name == name)
    }

    /// A group by name.
    pub(crate) fn group(&self, name: &str) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.name == name)
    }
}

/// `/etc/passwd` with one user's shell replaced, or `None` when nothing changes.
pub(crate) fn with_shell(passwd: &str, user: &str, shell: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::with_capacity(passwd.len() + shell.len());
    for line in passwd.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let mut fields: Vec<&str> = body.split(':').collect();
        if fields.len() == 7 && fields[0] == user && fields[6] != shell {
            fields[6] = shell;
            changed = true;
            out.push_str(&fields.join(":"));
        } else {
            out.push_str(body);
        }
        out.push_str(end);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\nalice:x:1000:1001:Alice:/home/alice:/bin/bash\n";
    const GROUP: &str = "root:x:0:\nadm:x:4:alice,bob\nalice:x:1001:\n";

    #[test]
    fn looks_up_users_and_groups() {
        let a = Accounts::parse(PASSWD, GROUP);
        let alice = a.user("alice").expect("alice");
        assert_eq!(
            (alice.uid, alice.gid, alice.home.as_str()),
            (1000, 1001, "/home/alice")
        );
        assert_eq!(a.group("adm").map(|g| g.gid), Some(4));
        assert!(a.user("broken").is_none());
        assert!(a.group("nope").is_none());
    }

    #[test]
    fn replaces_one_shell() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("alice", "/bin/sh", Some("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\nalice:x:1000:1001:Alice:/home/alice:/bin/sh\n")),
            ("alice", "/bin/bash", None),
            ("nobody", "/bin/sh", None),
        ];
        for (user, shell, want) in cases {
            assert_eq!(
                with_shell(PASSWD, user, shell).as_deref(),
                *want,
                "{user} {shell}"
            );
        }
    }
}
