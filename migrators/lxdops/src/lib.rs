//! The `#lxdops` -> `#lxops-v1` migrator: `os: {name, image}` becomes `ostype` and `image`;
//! every other key is kept (keys the current format does not know are then reported as
//! unknown-key warnings). Keys come out sorted.

#![warn(missing_docs)]

use lxops_core::config::Formats;
use serde_yaml::{Mapping, Value};

/// The header of the format this crate migrates.
pub const HEADER: &str = "#lxdops";

/// Registers the `#lxdops` migrator.
pub fn register(formats: &mut Formats) {
    formats.register(HEADER, migrate);
}

/// Migrates the bytes of an `#lxdops` file to `#lxops-v1` bytes.
pub fn migrate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let value: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut map = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(m) => m,
        _ => return Err("the config must be a map of keys to values".to_string()),
    };
    if let Some(os) = map.remove("os") {
        match os {
            Value::Null => {}
            Value::Mapping(os) => {
                for (from, to) in [("name", "ostype"), ("image", "image")] {
                    if let Some(v) = os.get(from).filter(|v| !v.is_null()) {
                        map.insert(Value::from(to), v.clone());
                    }
                }
            }
            _ => return Err("`os` must be a map with `name` and `image`".to_string()),
        }
    }
    let mut entries: Vec<(Value, Value)> = map.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.as_str().unwrap_or_default().to_string());
    let sorted: Mapping = entries.into_iter().collect();
    let body = if sorted.is_empty() {
        String::new()
    } else {
        serde_yaml::to_string(&sorted).map_err(|e| e.to_string())?
    };
    Ok(format!("#lxops-v1\n{body}").into_bytes())
}
