//! Properties: the global files (`~/.config/lxops/properties.d/*.yaml`, then
//! `properties.yaml`, or `-properties FILE`), the `-P key=value` pairs, and `(name)`
//! substitution.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::ConfigError;

/// Where global and command-line properties come from (`-properties`, `-P`).
#[derive(Debug, Clone, Default)]
pub struct PropertyOptions {
    /// `None`: the default properties.yaml; `Some("")`: none; `Some(f)`: `f` (after
    /// properties.d, which is always read).
    pub file: Option<PathBuf>,
    /// `-P key=value` pairs, as given.
    pub pairs: Vec<String>,
}

impl PropertyOptions {
    /// `-properties FILE` (None = ~/.config/lxops/properties.yaml, optional; Some("") = no
    /// properties file; properties.d/*.yaml is always read first) and `-P key=value` pairs.
    pub fn from_args(properties: Option<&Path>, pairs: &[String]) -> Self {
        PropertyOptions {
            file: properties.map(Path::to_path_buf),
            pairs: pairs.to_vec(),
        }
    }

    /// The properties file that `property set` writes: `-properties FILE`, or the default
    /// `~/.config/lxops/properties.yaml`. `None` with `-properties ""`.
    pub fn properties_file(&self) -> Option<PathBuf> {
        match &self.file {
            Some(f) if f.as_os_str().is_empty() => None,
            Some(f) => Some(f.clone()),
            None => Some(default_dir().join("properties.yaml")),
        }
    }

    /// Loads the global files and parses the `-P` pairs (a pair without `=` is an error). As
    /// the original: every `properties.d/*.yaml` of the user's lxops config directory, in name
    /// order, is always read; then the properties file on top: `-properties FILE` (which must
    /// exist), none with `-properties ""`, else `properties.yaml` there if it exists.
    pub fn load(&self) -> Result<PropertySources, ConfigError> {
        let mut global = BTreeMap::new();
        let mut files = Vec::new();
        let dir = default_dir();
        let mut parts: Vec<PathBuf> = std::fs::read_dir(dir.join("properties.d"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                    .collect()
            })
            .unwrap_or_default();
        parts.sort();
        match &self.file {
            Some(f) if f.as_os_str().is_empty() => {}
            Some(f) => parts.push(f.clone()),
            None => {
                let default = dir.join("properties.yaml");
                if default.exists() {
                    parts.push(default);
                }
            }
        }
        for part in parts {
            global.extend(read_properties(&part)?);
            files.push(part);
        }
        let mut cli = BTreeMap::new();
        for pair in &self.pairs {
            let (k, v) = pair
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| ConfigError::PropertyArg { arg: pair.clone() })?;
            cli.insert(k.to_string(), v.to_string());
        }
        Ok(PropertySources { global, cli, files })
    }
}

/// The global and command-line property layers.
#[derive(Debug, Clone, Default)]
pub struct PropertySources {
    /// Global (user) properties: properties.d, then properties.yaml.
    pub global: BTreeMap<String, String>,
    /// `-P` properties.
    pub cli: BTreeMap<String, String>,
    /// The global files that were read, in order.
    pub files: Vec<PathBuf>,
}

impl PropertySources {
    /// The same sources without the `-P` layer (for source instances).
    pub fn without_cli(&self) -> PropertySources {
        PropertySources {
            cli: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// A `-P` or global property, for conditional paths: an empty value counts as undefined.
    pub fn path_property(&self, key: &str) -> Option<&str> {
        self.cli
            .get(key)
            .or_else(|| self.global.get(key))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// `$XDG_CONFIG_HOME/lxops`, else `$HOME/.config/lxops`.
pub fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    base.join("lxops")
}

/// Reads one properties file (a YAML map; an empty file is an empty map; a regular file of at
/// most [`crate::input::MAX_INPUT_BYTES`]).
pub fn read_properties(file: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = crate::input::read_text(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse_properties(file, &text)
}

/// Parses the text of a properties file.
pub fn parse_properties(file: &Path, text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        let (line, message) = super::read::yaml_location(text, &e);
        ConfigError::PropertyFile {
            file: file.to_path_buf(),
            message: match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            },
        }
    })?;
    let mut out = BTreeMap::new();
    match value {
        serde_yaml::Value::Null => {}
        serde_yaml::Value::Mapping(map) => {
            for (k, v) in map {
                let (Some(k), Some(v)) = (scalar(&k), scalar(&v)) else {
                    let key = scalar(&k).unwrap_or_else(|| "(a list or map)".to_string());
                    let lines: Vec<&str> = text.lines().collect();
                    let line = super::read::key_line(&lines, &[&key])
                        .map(|l| format!("line {l}: "))
                        .unwrap_or_default();
                    return Err(ConfigError::PropertyFile {
                        file: file.to_path_buf(),
                        message: format!(
                            "{line}`{}`: keys and values must be text, numbers or booleans, not lists or maps",
                            crate::input::escape_controls(&key)
                        ),
                    });
                };
                out.insert(k, v);
            }
        }
        _ => {
            return Err(ConfigError::PropertyFile {
                file: file.to_path_buf(),
                message: "not a map".to_string(),
            })
        }
    }
    Ok(out)
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::Null => Some(String::new()),
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Replaces every `(name)` in `pattern` with `lookup(name)`, in a single pass (a value is not
/// substituted again; `(` without a matching `)` stays). Returns the first undefined name as
/// the error.
pub fn substitute(
    pattern: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('(') {
        let after = &rest[open + 1..];
        match after.find(['(', ')']) {
            Some(i) if after.as_bytes()[i] == b')' => {
                let name = &after[..i];
                let value = lookup(name).ok_or_else(|| name.to_string())?;
                out.push_str(&rest[..open]);
                out.push_str(&value);
                rest = &after[i + 1..];
            }
            Some(i) => {
                out.push_str(&rest[..open + 1 + i]);
                rest = &after[i..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Writes `key: value` into the properties file, creating it (and its directory) if needed.
pub fn set_property(file: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
    let mut map = if file.exists() {
        read_properties(file)?
    } else {
        BTreeMap::new()
    };
    map.insert(key.to_string(), value.to_string());
    let text = serde_yaml::to_string(&map).map_err(|e| ConfigError::PropertyFile {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let io = |source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    };
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o775)
            .create(dir)
            .map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o664)
        .open(file)
        .map_err(io)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_is_single_pass_and_reports_the_missing_name() {
        let lookup = |k: &str| match k {
            "a" => Some("A".to_string()),
            "loop" => Some("(a)".to_string()),
            "empty" => Some(String::new()),
            _ => None,
        };
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("x/(a)/y", Ok("x/A/y")),
            ("(a)(a)", Ok("AA")),
            ("(loop)", Ok("(a)")),
            ("(empty)z", Ok("z")),
            ("no parens", Ok("no parens")),
            ("((a)", Ok("(A")),
            ("(a", Ok("(a")),
            ("a)", Ok("a)")),
            ("(b)", Err("b")),
            ("()", Err("")),
        ];
        for (pattern, want) in cases {
            let got = substitute(pattern, &lookup);
            assert_eq!(got.as_deref().map_err(String::as_str), *want, "{pattern}");
        }
    }
}
