//! Reading one file: header and migration ([`Formats`]), YAML syntax and types (with lines),
//! YAML merge keys (`<<: *anchor`, as the original's yaml.v2 applies them), and unknown keys
//! (warnings with lines, errors with `strict`).

use std::path::Path;

use serde_yaml::Value;

use super::error::ConfigError;
use super::format::Formats;
use super::model::{Config, CONFIG_KEYS, DEVICE_KEYS, FILESYSTEM_KEYS};

/// One file, read and migrated, not yet merged.
#[derive(Debug, Clone)]
pub struct ReadFile {
    /// The file's config as written (paths not resolved).
    pub config: Config,
    /// Unknown-key warnings (`file: line N: unknown key ...`).
    pub warnings: Vec<String>,
    /// Headers it was migrated from (empty when it was `#lxops-v1`).
    pub migrated_from: Vec<String>,
}

/// Reads `file` from disk (a regular file of at most [`crate::input::MAX_INPUT_BYTES`]); see
/// [`parse_bytes`].
pub fn read_file(file: &Path, formats: &Formats, strict: bool) -> Result<ReadFile, ConfigError> {
    let bytes = crate::input::read_bounded(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse_bytes(file, bytes, formats, strict)
}

/// Parses the bytes of `file`: migrates to `#lxops-v1`, then decodes the YAML.
pub fn parse_bytes(
    file: &Path,
    bytes: Vec<u8>,
    formats: &Formats,
    strict: bool,
) -> Result<ReadFile, ConfigError> {
    let before = bytes.clone();
    let (bytes, migrated_from) = formats.to_current(file, bytes)?;
    let original = if migrated_from.is_empty() {
        String::new()
    } else {
        String::from_utf8_lossy(&before).into_owned()
    };
    match (
        decode(file, bytes, strict, &original),
        migrated_from.first(),
    ) {
        (Ok((config, warnings)), _) => Ok(ReadFile {
            config,
            warnings,
            migrated_from,
        }),
        // The parser's line is a line of the migrated text, not of the file: say so.
        (
            Err(ConfigError::Yaml {
                file,
                line: Some(line),
                message,
            }),
            Some(header),
        ) => {
            let message = format!(
                "{message} (line {line} of the config as migrated from {header}; `lxops config convert` writes it out)"
            );
            Err(ConfigError::Yaml {
                file,
                line: None,
                message,
            })
        }
        (Err(e), _) => Err(e),
    }
}

/// Decodes current-format bytes. `original` is the file's text before migration (empty when
/// it was current), where unknown keys are looked up for their lines.
fn decode(
    file: &Path,
    bytes: Vec<u8>,
    strict: bool,
    original: &str,
) -> Result<(Config, Vec<String>), ConfigError> {
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Yaml {
        file: file.to_path_buf(),
        line: None,
        message: format!("not UTF-8 text ({e})"),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| yaml_error(file, text, &e))?;
    let config = match &value {
        Value::Null => Config::default(),
        // YAML merge keys (`<<: *anchor`), applied as the original's yaml.v2 does: the map's
        // own keys win over merged ones. The config is then decoded from the merged tree, which
        // knows no lines or quoting (so booleans there are read by the YAML 1.1 words alone).
        Value::Mapping(_) if has_merge_key(&value) => {
            value
                .apply_merge()
                .map_err(|e| yaml_error(file, text, &e))?;
            super::model::source::with_tree(|| serde_yaml::from_value(value.clone()))
                .map_err(|e| yaml_error(file, text, &e))?
        }
        Value::Mapping(_) => super::model::source::with(text, || serde_yaml::from_str(text))
            .map_err(|e| yaml_error(file, text, &e))?,
        _ => {
            return Err(ConfigError::Yaml {
                file: file.to_path_buf(),
                line: Some(2),
                message: "the config must be a map of keys to values".to_string(),
            })
        }
    };
    let unknown = unknown_keys(&value, if original.is_empty() { text } else { original });
    if strict && !unknown.is_empty() {
        return Err(ConfigError::UnknownKeys {
            file: file.to_path_buf(),
            keys: unknown,
        });
    }
    let warnings = unknown
        .into_iter()
        .map(|k| format!("{}: {k} (ignored)", file.display()))
        .collect();
    Ok((config, warnings))
}

/// Whether any map in `value` has a `<<` merge key.
fn has_merge_key(value: &Value) -> bool {
    match value {
        Value::Mapping(map) => map
            .iter()
            .any(|(k, v)| k.as_str() == Some("<<") || has_merge_key(v)),
        Value::Sequence(list) => list.iter().any(has_merge_key),
        Value::Tagged(tagged) => has_merge_key(&tagged.value),
        _ => false,
    }
}

fn yaml_error(file: &Path, text: &str, e: &serde_yaml::Error) -> ConfigError {
    let (line, message) = yaml_location(text, e);
    ConfigError::Yaml {
        file: file.to_path_buf(),
        line,
        message,
    }
}

/// The 1-based line of a parser error in `text`, and its message without the location.
pub(crate) fn yaml_location(text: &str, e: &serde_yaml::Error) -> (Option<usize>, String) {
    let message = e.to_string();
    let mut line = e.location().map(|l| l.line());
    // The parser appends " at line L column C"; the line goes into its own field. Errors of
    // its reader (control characters, bad encoding) only know a byte offset: " at position N".
    let message = if let Some(i) = message.find(" at line ") {
        message[..i].to_string()
    } else if let Some(i) = message.find(" at position ") {
        let rest = &message[i + " at position ".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(offset) = digits.parse::<usize>() {
            let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
            line = Some(before.iter().filter(|&&b| b == b'\n').count() + 1);
        }
        format!("{}{}", &message[..i], &rest[digits.len()..])
    } else {
        message
    };
    // A duplicate key is reported at the start of its map: name the line of the duplicate.
    if let Some(key) = message
        .split("duplicate entry with key \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    {
        let lines: Vec<&str> = text.lines().collect();
        if let Some(second) = duplicate_line(&lines, line.unwrap_or(1), key) {
            line = Some(second);
        }
    }
    (line, message)
}

/// The line of the second block-style `key:` at the same indent, from line `from` on.
fn duplicate_line(lines: &[&str], from: usize, key: &str) -> Option<usize> {
    let mut first_indent = None;
    for (i, line) in lines.iter().enumerate().skip(from.saturating_sub(1)) {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if !is_key(trimmed, key) {
            continue;
        }
        match first_indent {
            None => first_indent = Some(indent),
            Some(first) if first == indent => return Some(i + 1),
            Some(_) => {}
        }
    }
    None
}

/// `line N: unknown key K` for every key the model does not know.
fn unknown_keys(value: &Value, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Value::Mapping(top) = value else {
        return out;
    };
    let lines: Vec<&str> = text.lines().collect();
    for (key, v) in top {
        let key = key_text(key);
        if !CONFIG_KEYS.contains(&key.as_str()) {
            out.push(describe(&lines, &[&key], &key));
            continue;
        }
        let known = match key.as_str() {
            "filesystems" => FILESYSTEM_KEYS,
            "devices" => DEVICE_KEYS,
            _ => continue,
        };
        let Value::Mapping(entries) = v else { continue };
        for (id, entry) in entries {
            let id = key_text(id);
            let Value::Mapping(fields) = entry else {
                continue;
            };
            for field in fields.keys() {
                let field = key_text(field);
                if !known.contains(&field.as_str()) {
                    let name = format!("{key}.{id}.{field}");
                    out.push(describe(&lines, &[&key, &id, &field], &name));
                }
            }
        }
    }
    out
}

fn describe(lines: &[&str], path: &[&str], name: &str) -> String {
    match key_line(lines, path) {
        Some(line) => format!("line {line}: unknown key `{name}`"),
        None => format!("unknown key `{name}`"),
    }
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The 1-based line of a nested block-style key (`a:` then, indented below it, `b:`).
pub(crate) fn key_line(lines: &[&str], path: &[&str]) -> Option<usize> {
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for key in path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if let Some(p) = parent_indent {
                if indent <= p {
                    break;
                }
            } else if indent > 0 {
                continue;
            }
            if is_key(trimmed, key) {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some(i + 1);
        start = i + 1;
        parent_indent = Some(indent);
    }
    found
}

fn is_key(line: &str, key: &str) -> bool {
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            line.strip_prefix(k.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_key_lines() {
        let text = "#lxops-v1\nimage: x\nfilesystems:\n  a:\n    pattern: p\n    color: red\ndevices:\n  color:\n    path: /x\n";
        let lines: Vec<&str> = text.lines().collect();
        let cases: &[(&[&str], Option<usize>)] = &[
            (&["image"], Some(2)),
            (&["filesystems", "a", "color"], Some(6)),
            (&["devices", "color"], Some(8)),
            (&["devices", "color", "path"], Some(9)),
            (&["color"], None),
        ];
        for (path, want) in cases {
            assert_eq!(key_line(&lines, path), *want, "{path:?}");
        }
    }
}
