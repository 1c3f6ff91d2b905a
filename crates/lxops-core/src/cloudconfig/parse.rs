//! Reading `#cloud-config` text into a [`ParsedFile`]: the header check, YAML, every module's
//! types and values (decoded `write_files` content included), and warnings for what is ignored.
//! All problems of a file are collected, so one run shows them all.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_yaml::{Mapping, Value};

use super::error::{CloudConfigError, Problem};
use super::locate::Locator;
use super::model::{
    CloudConfig, Group, IdRef, Owner, Package, ParsedFile, RunCommand, Sensitive, User, Warning,
    WriteFile,
};

/// The first line every cloud-config file starts with.
pub const HEADER: &str = "#cloud-config";

/// The modules lxops applies.
pub const MODULES: &[&str] = &[
    "write_files",
    "packages",
    "package_update",
    "package_upgrade",
    "groups",
    "users",
    "timezone",
    "runcmd",
];

/// The keys of a `write_files` entry.
pub const WRITE_FILES_KEYS: &[&str] = &[
    "path",
    "content",
    "owner",
    "permissions",
    "encoding",
    "append",
    "defer",
];

/// The keys of a `users` entry.
pub const USERS_KEYS: &[&str] = &[
    "name",
    "uid",
    "gecos",
    "shell",
    "homedir",
    "no_create_home",
    "system",
    "primary_group",
    "groups",
    "lock_passwd",
    "hashed_passwd",
    "passwd",
    "ssh_authorized_keys",
    "sudo",
];

/// The accepted `write_files` encodings.
pub const ENCODINGS: &str = "b64, base64, gz, gzip, gz+b64, gz+base64, gzip+b64, gzip+base64";

/// Decoded (gunzipped) file contents larger than this are refused.
const MAX_DECODED: u64 = 256 << 20;

/// Parses the text of one cloud-config file; `origin` names it in messages.
pub fn parse(text: &str, origin: &Path) -> Result<ParsedFile, CloudConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    if first.trim_end() != HEADER {
        let mut found: String = first.chars().take(80).collect();
        if found.len() < first.len() {
            found.push_str("...");
        }
        return Err(CloudConfigError::MissingHeader {
            path: origin.to_path_buf(),
            found,
        });
    }
    let value: Value = serde_yaml::from_str(text).map_err(|e| CloudConfigError::Yaml {
        path: origin.to_path_buf(),
        line: e.location().map(|l| l.line()),
        message: e.to_string(),
    })?;
    let mut parser = Parser {
        path: origin.to_path_buf(),
        locate: Locator::new(text),
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let config = parser.top(&value);
    if parser.problems.is_empty() {
        Ok(ParsedFile {
            path: origin.to_path_buf(),
            config,
            warnings: parser.warnings,
        })
    } else {
        Err(CloudConfigError::Invalid {
            path: origin.to_path_buf(),
            problems: parser.problems,
        })
    }
}

/// Reads (a regular file of at most [`crate::input::MAX_INPUT_BYTES`]) and parses one file.
pub fn parse_file(path: &Path) -> Result<ParsedFile, CloudConfigError> {
    let text = crate::input::read_text(path).map_err(|source| CloudConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Reads and parses every file before anything is applied; reports the errors of all files.
pub fn parse_all(paths: &[PathBuf]) -> Result<Vec<ParsedFile>, CloudConfigError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match parse_file(path) {
            Ok(file) => files.push(file),
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(files),
        1 => Err(errors.remove(0)),
        _ => Err(CloudConfigError::Several(errors)),
    }
}

struct Parser<'a> {
    path: PathBuf,
    locate: Locator<'a>,
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
}

/// Where a value sits: a top-level module, optionally an item, optionally a field.
#[derive(Clone, Copy)]
struct At<'k> {
    module: &'k str,
    item: Option<usize>,
    field: Option<&'k str>,
}

impl<'k> At<'k> {
    fn module(module: &'k str) -> Self {
        At {
            module,
            item: None,
            field: None,
        }
    }
    fn item(self, index: usize) -> Self {
        At {
            item: Some(index),
            ..self
        }
    }
    fn field(self, field: &'k str) -> Self {
        At {
            field: Some(field),
            ..self
        }
    }
    fn name(&self) -> String {
        let mut s = self.module.to_string();
        if let Some(i) = self.item {
            s.push_str(&format!("[{i}]"));
        }
        if let Some(f) = self.field {
            s.push('.');
            s.push_str(f);
        }
        s
    }
}

impl Parser<'_> {
    fn line(&self, at: At<'_>) -> Option<usize> {
        match (at.item, at.field) {
            (Some(i), Some(f)) => self.locate.field(at.module, i, f),
            (Some(i), None) => self.locate.item(at.module, i),
            _ => self.locate.module(at.module),
        }
    }

    fn problem(&mut self, at: At<'_>, message: impl Into<String>) {
        self.problems.push(Problem {
            line: self.line(at),
            field: at.name(),
            message: message.into(),
        });
    }

    fn warn(&mut self, at: At<'_>, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: self.path.clone(),
            line: self.line(at),
            message: format!("{}: {}", at.name(), message.into()),
        });
    }

    fn top(&mut self, value: &Value) -> CloudConfig {
        let mut config = CloudConfig::default();
        let map = match value {
            Value::Null => return config,
            Value::Mapping(map) => map,
            _ => {
                self.problems.push(Problem {
                    line: Some(2),
                    field: "(top level)".into(),
                    message: "a cloud-config file must be a mapping of modules \
                              (write_files:, packages:, users:, ...)"
                        .into(),
                });
                return config;
            }
        };
        for (key, value) in map {
            let Some(key) = key.as_str() else {
                self.problems.push(Problem {
                    line: None,
                    field: format!("{key:?}"),
                    message: "module names must be strings".into(),
                });
                continue;
            };
            let at = At::module(key);
            match key {
                "write_files" => config.write_files = self.write_files(at, value),
                "packages" => config.packages = self.packages(at, value),
                "package_update" => config.package_update = Some(self.boolean(at, value)),
                "package_upgrade" => config.package_upgrade = self.boolean(at, value),
                "groups" => config.groups = self.groups(at, value),
                "users" => config.users = self.users(at, value),
                "timezone" => config.timezone = self.timezone(at, value),
                "runcmd" => config.runcmd = self.runcmd(at, value),
                _ => self.warnings.push(Warning {
                    path: self.path.clone(),
                    line: self.locate.module(key),
                    message: format!(
                        "unknown module `{key}` is ignored (lxops applies {})",
                        MODULES.join(", ")
                    ),
                }),
            }
        }
        config
    }

    // ---- generic values ---------------------------------------------------------------------

    fn list<'v>(&mut self, at: At<'_>, value: &'v Value) -> &'v [Value] {
        match value {
            Value::Null => &[],
            Value::Sequence(items) => items,
            _ => {
                self.problem(at, format!("must be a list, found {}", kind(value)));
                &[]
            }
        }
    }

    fn mapping<'v>(&mut self, at: At<'_>, value: &'v Value) -> Option<&'v Mapping> {
        match value {
            Value::Mapping(map) => Some(map),
            _ => {
                self.problem(at, format!("must be a mapping, found {}", kind(value)));
                None
            }
        }
    }

    fn boolean(&mut self, at: At<'_>, value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "y" => true,
                "false" | "no" | "off" | "n" => false,
                _ => {
                    self.problem(at, format!("must be true or false, found {s:?}"));
                    false
                }
            },
            _ => {
                self.problem(at, format!("must be true or false, found {}", kind(value)));
                false
            }
        }
    }

    fn text(&mut self, at: At<'_>, value: &Value) -> Option<String> {
        match scalar_text(value) {
            Some(text) => Some(text),
            None if value.is_null() => None,
            None => {
                self.problem(at, format!("must be a string, found {}", kind(value)));
                None
            }
        }
    }

    /// A string that must not contain line breaks or `:` (fields of /etc/passwd and similar).
    fn field_text(&mut self, at: At<'_>, value: &Value) -> Option<String> {
        let text = self.text(at, value)?;
        if text.contains(['\n', '\r', ':', '\0']) {
            self.problem(at, "must not contain ':' or line breaks");
            return None;
        }
        Some(text)
    }

    fn absolute_path(&mut self, at: At<'_>, value: &Value) -> Option<String> {
        let path = self.text(at, value)?;
        match check_absolute(&path) {
            Ok(()) => Some(path),
            Err(message) => {
                self.problem(at, message);
                None
            }
        }
    }

    fn name(&mut self, at: At<'_>, what: &str, value: &Value) -> Option<String> {
        let name = self.text(at, value)?;
        if is_valid_name(&name) {
            Some(name)
        } else {
            self.problem(at, invalid_name_message(what, &name));
            None
        }
    }

    /// A list of names, or one comma-separated string.
    fn names(&mut self, at: At<'_>, what: &str, value: &Value) -> Vec<String> {
        let raw: Vec<String> = match value {
            Value::Null => Vec::new(),
            Value::String(s) => s.split(',').map(|g| g.trim().to_string()).collect(),
            Value::Sequence(items) => {
                let mut names = Vec::new();
                for item in items {
                    match scalar_text(item) {
                        Some(name) => names.push(name.trim().to_string()),
                        None => self
                            .problem(at, format!("must hold {what} names, found {}", kind(item))),
                    }
                }
                names
            }
            _ => {
                self.problem(
                    at,
                    format!(
                        "must be a list of {what} names or a comma-separated string, found {}",
                        kind(value)
                    ),
                );
                Vec::new()
            }
        };
        let mut names = Vec::new();
        for name in raw.into_iter().filter(|n| !n.is_empty()) {
            if is_valid_name(&name) {
                names.push(name);
            } else {
                self.problem(at, invalid_name_message(what, &name));
            }
        }
        names
    }

    fn unknown_keys(&mut self, at: At<'_>, map: &Mapping, known: &[&str], hint: &str) {
        for key in map.keys() {
            let name = key
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{key:?}"));
            if !known.contains(&name.as_str()) {
                // Only the key: the value may be a secret.
                let line = match at.item {
                    Some(i) => self.locate.field(at.module, i, &name),
                    None => self.line(at),
                };
                self.warnings.push(Warning {
                    path: self.path.clone(),
                    line,
                    message: format!(
                        "{}: unknown key `{name}` is ignored (known: {}){hint}",
                        at.name(),
                        known.join(", ")
                    ),
                });
            }
        }
    }

    // ---- modules ----------------------------------------------------------------------------

    fn write_files(&mut self, at: At<'_>, value: &Value) -> Vec<WriteFile> {
        const KNOWN: &[&str] = WRITE_FILES_KEYS;
        let mut files = Vec::new();
        for (i, item) in self.list(at, value).iter().enumerate() {
            let at = at.item(i);
            let Some(map) = self.mapping(at, item) else {
                continue;
            };
            let hint = if map.contains_key("mode") {
                "; for the file mode use `permissions`"
            } else {
                ""
            };
            self.unknown_keys(at, map, KNOWN, hint);
            let get = |k: &str| map.get(k).unwrap_or(&Value::Null);
            let path = match map.get("path") {
                Some(v) => self.absolute_path(at.field("path"), v),
                None => {
                    self.problem(at, "`path` is missing; give the absolute path of the file");
                    None
                }
            };
            let content = self.content(at, get("content"), get("encoding"));
            let owner = self.owner(at.field("owner"), get("owner"));
            let mode = self.permissions(at.field("permissions"), get("permissions"));
            let append = self.boolean(at.field("append"), get("append"));
            let defer = self.boolean(at.field("defer"), get("defer"));
            if let (Some(path), Some(content), Some(owner), Some(mode)) =
                (path, content, owner, mode)
            {
                files.push(WriteFile {
                    path,
                    content: Sensitive::new(content),
                    owner,
                    mode,
                    append,
                    defer,
                });
            }
        }
        files
    }

    fn content(&mut self, at: At<'_>, content: &Value, encoding: &Value) -> Option<Vec<u8>> {
        let text = self.text(at.field("content"), content).unwrap_or_default();
        let encoding = self
            .text(at.field("encoding"), encoding)
            .unwrap_or_default();
        // The YAML parser drops the `!!binary` tag: look for it in the text.
        let binary = at.item.is_some_and(|i| {
            self.locate
                .field(at.module, i, "content")
                .is_some_and(|line| self.locate.text(line).contains("!!binary"))
        });
        let bytes = if binary {
            match base64_decode(&text) {
                Ok(bytes) => bytes,
                Err(message) => {
                    self.problem(at.field("content"), message);
                    return None;
                }
            }
        } else {
            text.into_bytes()
        };
        match decode_bytes(&bytes, &encoding) {
            Ok(bytes) => Some(bytes),
            Err(message) => {
                let field = if message.starts_with("unknown encoding") {
                    "encoding"
                } else {
                    "content"
                };
                self.problem(at.field(field), message);
                None
            }
        }
    }

    fn owner(&mut self, at: At<'_>, value: &Value) -> Option<Owner> {
        let Some(text) = self.text(at, value) else {
            return if value.is_null() {
                Some(Owner::root())
            } else {
                None
            };
        };
        match parse_owner(&text) {
            Ok(owner) => Some(owner),
            Err(message) => {
                self.problem(at, message);
                None
            }
        }
    }

    fn permissions(&mut self, at: At<'_>, value: &Value) -> Option<u32> {
        let text = match value {
            Value::Null => return Some(0o644),
            // The YAML parser has already turned `0o644` into 420 and `0x1ff` into 511: read
            // the number as written. An unquoted 644 means the octal digits it shows (cloud-init
            // 22.4 reads it as decimal 644, mode 1204, which nobody means).
            Value::Number(n) => self
                .raw_scalar(at)
                .filter(|raw| yaml_int(raw).is_some_and(|v| n.as_u64() == Some(v)))
                .unwrap_or_else(|| n.to_string()),
            Value::String(s) => s.clone(),
            _ => {
                self.problem(
                    at,
                    format!(
                        "must be an octal mode such as '0644', found {}",
                        kind(value)
                    ),
                );
                return None;
            }
        };
        match parse_mode(&text) {
            Some(mode) => Some(mode),
            None => {
                self.problem(
                    at,
                    format!(
                        "{text:?} is not a file mode; write it in octal like '0644', '0o644' or \
                         '4755' (at most 07777)"
                    ),
                );
                None
            }
        }
    }

    /// The text of a scalar field as written on its line (`key: value  # comment`, or inside a
    /// flow mapping `{..., key: value, ...}`).
    fn raw_scalar(&self, at: At<'_>) -> Option<String> {
        let (i, field) = (at.item?, at.field?);
        let line = self.locate.text(self.locate.field(at.module, i, field)?);
        let start = line.find(&format!("{field}:"))? + field.len() + 1;
        let value = line[start..]
            .split([',', '}'])
            .next()
            .unwrap_or("")
            .split(" #")
            .next()
            .unwrap_or("")
            .trim();
        (!value.is_empty()).then(|| value.to_string())
    }

    fn packages(&mut self, at: At<'_>, value: &Value) -> Vec<Package> {
        let mut packages = Vec::new();
        for (i, item) in self.list(at, value).iter().enumerate() {
            let at = at.item(i);
            let (name, version) = match item {
                Value::Sequence(pair) if pair.len() == 2 => {
                    (scalar_text(&pair[0]), scalar_text(&pair[1]))
                }
                Value::Sequence(_) => {
                    self.problem(at, "a list entry must be [name, version]");
                    continue;
                }
                _ => match scalar_text(item) {
                    Some(name) => (Some(name), None),
                    None => {
                        self.problem(at, format!("must be a package name, found {}", kind(item)));
                        continue;
                    }
                },
            };
            let valid = |s: &Option<String>| {
                s.as_deref().is_some_and(|s| {
                    !s.is_empty() && !s.starts_with('-') && !s.chars().any(char::is_whitespace)
                })
            };
            if !valid(&name) || (version.is_some() && !valid(&version)) {
                self.problem(
                    at,
                    "package names and versions must be non-empty, without spaces, and must \
                     not start with '-'",
                );
                continue;
            }
            if let Some(name) = name {
                packages.push(Package { name, version });
            }
        }
        packages
    }

    fn groups(&mut self, at: At<'_>, value: &Value) -> Vec<Group> {
        let mut groups = Vec::new();
        let mut add = |parser: &mut Self, at: At<'_>, name: &Value, members: &Value| {
            let name = parser.name(at, "group", name);
            let members = parser.names(at, "user", members);
            if let Some(name) = name {
                groups.push(Group { name, members });
            }
        };
        match value {
            Value::Mapping(map) => {
                for (name, members) in map {
                    add(self, at, name, members);
                }
            }
            Value::String(_) => {
                for name in self.names(at, "group", value) {
                    add(self, at, &Value::String(name), &Value::Null);
                }
            }
            _ => {
                for (i, item) in self.list(at, value).iter().enumerate() {
                    match item {
                        Value::Mapping(map) => {
                            for (name, members) in map {
                                add(self, at.item(i), name, members);
                            }
                        }
                        _ => add(self, at.item(i), item, &Value::Null),
                    }
                }
            }
        }
        groups
    }

    fn users(&mut self, at: At<'_>, value: &Value) -> Vec<User> {
        const KNOWN: &[&str] = USERS_KEYS;
        let mut users = Vec::new();
        for (i, item) in self.list(at, value).iter().enumerate() {
            let at = at.item(i);
            if item.as_str() == Some("default") {
                self.warn(at, "the `default` user is not supported and is ignored");
                continue;
            }
            if let Some(name) = item.as_str() {
                if let Some(name) = self.name(at, "user", &Value::String(name.into())) {
                    users.push(User {
                        name,
                        ..Default::default()
                    });
                }
                continue;
            }
            let Some(map) = self.mapping(at, item) else {
                continue;
            };
            self.unknown_keys(at, map, KNOWN, "");
            let get = |k: &str| map.get(k).unwrap_or(&Value::Null);
            let Some(name) = (match map.get("name") {
                Some(v) => self.name(at.field("name"), "user", v),
                None => {
                    self.problem(at, "`name` is missing");
                    None
                }
            }) else {
                continue;
            };
            let user = User {
                uid: self.uid(at.field("uid"), get("uid")),
                gecos: self.field_text(at.field("gecos"), get("gecos")),
                shell: self.absolute_path(at.field("shell"), get("shell")),
                homedir: self.absolute_path(at.field("homedir"), get("homedir")),
                no_create_home: self.boolean(at.field("no_create_home"), get("no_create_home")),
                system: self.boolean(at.field("system"), get("system")),
                primary_group: match get("primary_group") {
                    Value::Null => None,
                    v => self.name(at.field("primary_group"), "group", v),
                },
                groups: self.names(at.field("groups"), "group", get("groups")),
                lock_passwd: match get("lock_passwd") {
                    Value::Null => None,
                    v => Some(self.boolean(at.field("lock_passwd"), v)),
                },
                hashed_passwd: self
                    .secret_line(at.field("hashed_passwd"), get("hashed_passwd"))
                    .map(Sensitive::new),
                passwd: self
                    .secret_line(at.field("passwd"), get("passwd"))
                    .map(Sensitive::new),
                ssh_authorized_keys: Sensitive::new(
                    self.keys(at.field("ssh_authorized_keys"), get("ssh_authorized_keys")),
                ),
                sudo: self.sudo(at.field("sudo"), get("sudo")),
                name,
            };
            users.push(user);
        }
        users
    }

    fn uid(&mut self, at: At<'_>, value: &Value) -> Option<u32> {
        let text = self.text(at, value)?;
        match text.trim().parse::<u32>() {
            Ok(uid) => Some(uid),
            Err(_) => {
                self.problem(at, format!("{text:?} is not a numeric user id"));
                None
            }
        }
    }

    /// A secret on one line: never echoed in messages.
    fn secret_line(&mut self, at: At<'_>, value: &Value) -> Option<String> {
        let text = match value {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            _ => {
                self.problem(at, format!("must be a string, found {}", kind(value)));
                return None;
            }
        };
        if text.is_empty() || text.contains(['\n', '\r', ':', '\0']) {
            self.problem(at, "must be one crypt(3) hash, without ':' or line breaks");
            return None;
        }
        Some(text)
    }

    fn keys(&mut self, at: At<'_>, value: &Value) -> Vec<String> {
        let items: Vec<Value> = match value {
            Value::String(_) => vec![value.clone()],
            other => self.list(at, other).to_vec(),
        };
        let mut keys = Vec::new();
        for item in &items {
            match item.as_str().map(str::trim) {
                Some(key) if !key.is_empty() && !key.contains(['\n', '\r', '\0']) => {
                    keys.push(key.to_string())
                }
                _ => self.problem(at, "each key must be one non-empty line of text"),
            }
        }
        keys
    }

    fn sudo(&mut self, at: At<'_>, value: &Value) -> Option<Vec<String>> {
        let rules = match value {
            Value::Null | Value::Bool(false) => return None,
            Value::Bool(true) => return Some(Vec::new()),
            Value::String(rule) => vec![rule.clone()],
            Value::Sequence(items) => {
                let mut rules = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(rule) => rules.push(rule.to_string()),
                        None => self.problem(
                            at,
                            format!("sudo rules must be strings, found {}", kind(item)),
                        ),
                    }
                }
                rules
            }
            _ => {
                self.problem(
                    at,
                    format!(
                        "must be true, false, a rule or a list of rules, found {}",
                        kind(value)
                    ),
                );
                return None;
            }
        };
        if rules
            .iter()
            .any(|r| r.trim().is_empty() || r.contains(['\n', '\r', '\0']))
        {
            self.problem(at, "each sudo rule must be one non-empty line");
            return None;
        }
        Some(rules)
    }

    fn timezone(&mut self, at: At<'_>, value: &Value) -> Option<String> {
        let tz = self.text(at, value)?;
        let valid = !tz.is_empty()
            && !tz.starts_with(['-', '/'])
            && tz
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c))
            && !tz.split('/').any(|part| part.is_empty() || part == "..");
        if valid {
            Some(tz)
        } else {
            self.problem(
                at,
                format!("{tz:?} is not a time zone name; write it like Europe/London or UTC"),
            );
            None
        }
    }

    fn runcmd(&mut self, at: At<'_>, value: &Value) -> Vec<RunCommand> {
        let mut commands = Vec::new();
        for (i, item) in self.list(at, value).iter().enumerate() {
            let at = at.item(i);
            match item {
                Value::Sequence(words) => {
                    let argv: Option<Vec<String>> = words.iter().map(scalar_text).collect();
                    match argv {
                        Some(argv) if !argv.is_empty() => commands.push(RunCommand::Argv(argv)),
                        Some(_) => self.problem(at, "empty command"),
                        None => self.problem(
                            at,
                            "every word of a command list must be a string or a number",
                        ),
                    }
                }
                // cloud-init 22.4 refuses the whole module for an unquoted `false` or `1`.
                Value::Bool(_) | Value::Number(_) => self.problem(
                    at,
                    format!(
                        "must be a shell command string or an argv list, found {}; quote it \
                         (e.g. '{}')",
                        kind(item),
                        scalar_text(item).unwrap_or_default()
                    ),
                ),
                _ => match scalar_text(item) {
                    Some(script) if !script.trim().is_empty() => {
                        commands.push(RunCommand::Shell(script))
                    }
                    Some(_) => self.problem(at, "empty command"),
                    None => self.problem(
                        at,
                        format!(
                            "must be a shell command string or an argv list, found {}",
                            kind(item)
                        ),
                    ),
                },
            }
        }
        commands
    }
}

/// The text of a scalar (numbers and booleans as written), `None` for anything else.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(tagged) => scalar_text(&tagged.value),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Whether a user or group name is safe to pass to the account tools: 1 to 32 of letters,
/// digits, `_`, `.`, `-` (not first), optionally ending in `$`.
pub fn is_valid_name(name: &str) -> bool {
    let body = name.strip_suffix('$').unwrap_or(name);
    !body.is_empty()
        && name.len() <= 32
        && !body.starts_with(['-', '.'])
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn invalid_name_message(what: &str, name: &str) -> String {
    format!(
        "{name:?} is not a valid {what} name; use letters, digits, '_', '.' and '-' \
         (not first), at most 32 characters"
    )
}

fn check_absolute(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} is not an absolute path; paths inside the instance start with '/'"
        ));
    }
    if path.contains(['\0', '\n', '\r']) {
        return Err(format!("{path:?} contains a line break or NUL"));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("{path:?} contains '..'; write the path without it"));
    }
    Ok(())
}

/// Parses `user`, `user:group` (names or numbers).
pub fn parse_owner(text: &str) -> Result<Owner, String> {
    let text = text.trim();
    let (user, group) = match text.split_once(':') {
        Some((user, group)) => (user.trim(), Some(group.trim())),
        None => (text, None),
    };
    let id = |part: &str| -> Result<IdRef, String> {
        if let Ok(id) = part.parse::<u32>() {
            Ok(IdRef::Id(id))
        } else if is_valid_name(part) {
            Ok(IdRef::Name(part.to_string()))
        } else {
            Err(format!(
                "{text:?} is not an owner; write user, user:group or uid:gid (e.g. root:adm)"
            ))
        }
    };
    Ok(Owner {
        user: id(user)?,
        group: group.map(id).transpose()?,
    })
}

/// The value of a YAML 1.2 integer as written (`420`, `0o644`, `0x1a4`), to check that a raw
/// text is the number the parser read.
fn yaml_int(raw: &str) -> Option<u64> {
    let raw = raw.strip_prefix('+').unwrap_or(raw);
    if let Some(hex) = raw.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = raw.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok()
    } else {
        raw.parse().ok()
    }
}

/// Parses a file mode as cloud-config writes it: octal digits (`0644`, `644`, `4755`), `0o644`,
/// or hexadecimal `0x1a4`; at most `07777`.
pub fn parse_mode(text: &str) -> Option<u32> {
    let text = text.trim();
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        (hex, 16)
    } else {
        (
            text.strip_prefix("0o")
                .or(text.strip_prefix("0O"))
                .unwrap_or(text),
            8,
        )
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix)
        .ok()
        .filter(|m| *m <= 0o7777)
}

/// Decodes `write_files` content according to its `encoding`.
pub fn decode(content: &str, encoding: &str) -> Result<Vec<u8>, String> {
    decode_bytes(content.as_bytes(), encoding)
}

/// Decodes `write_files` content given as bytes (from a `!!binary` value) by its `encoding`.
pub fn decode_bytes(content: &[u8], encoding: &str) -> Result<Vec<u8>, String> {
    let text = || String::from_utf8_lossy(content).into_owned();
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "text/plain" => Ok(content.to_vec()),
        "b64" | "base64" => base64_decode(&text()),
        "gz" | "gzip" => gunzip(content),
        "gz+b64" | "gz+base64" | "gzip+b64" | "gzip+base64" => gunzip(&base64_decode(&text())?),
        other => Err(format!(
            "unknown encoding {other:?}; use one of {ENCODINGS}"
        )),
    }
}

fn base64_decode(content: &str) -> Result<Vec<u8>, String> {
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
    engine
        .decode(compact)
        .map_err(|e| format!("content is not valid base64 ({e}); check the encoding"))
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(MAX_DECODED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("content is not valid gzip data ({e}); check the encoding"))?;
    if out.len() as u64 > MAX_DECODED {
        return Err(format!(
            "decompressed content is larger than {MAX_DECODED} bytes"
        ));
    }
    Ok(out)
}
