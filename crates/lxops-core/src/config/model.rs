//! The `#lxops-v1` file model: [`Config`], [`Filesystem`] and [`Device`], as written in a file
//! (before substitution). Their doc comments are the `lxops help` topics.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

#[doc = include_str!("docs/config.md")]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Config {
    /// Free text; only the top file's value is kept.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub description: String,
    /// OS type for cloud-config.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub ostype: String,
    /// Image (pattern): a local alias or fingerprint, or `remote:alias` with a remote of the
    /// daemon's CLI (`lxc remote list`, `incus remote list`), whose stored certificate is used.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub image: String,
    /// Project ("" = the client's current project).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub project: String,
    /// Copy from this instance (pattern).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub origin: String,
    /// The cluster member (or `@group`) to launch on (pattern); an lxops extension.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub target: String,
    /// Copy device directories from this instance (pattern).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub device_template: String,
    /// Clone ZFS filesystems from `instance@snapshot` (pattern).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub device_origin: String,
    /// Config of the source instance (hostpath, not substituted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_config: Option<PathBuf>,
    /// Extra `lxc launch`/`incus create` options, applied through the API: -c KEY=VALUE,
    /// -d DEVICE,KEY=VALUE, -p PROFILE, --no-profiles, -s POOL, -n NETWORK, -t TYPE, --vm,
    /// -e, --target MEMBER, --description TEXT. Any other option is an error.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "strings")]
    pub lxc_options: Vec<String>,
    /// Profiles attached at launch.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "strings")]
    pub profiles: Vec<String>,
    /// The per-instance profile name (pattern), default `(instance).lxops`.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub profile_pattern: String,
    /// `uid:gid` owner of new filesystems and device directories (pattern).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub device_owner: String,
    /// Host filesystems by id.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "or_default"
    )]
    pub filesystems: BTreeMap<String, Filesystem>,
    /// Disk devices by name.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "or_default"
    )]
    pub devices: BTreeMap<String, Device>,
    /// Properties for `(name)` substitution.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub properties: BTreeMap<String, String>,
    /// Other lxops files to merge (hostpaths, conditional).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "or_default")]
    pub include: Vec<PathBuf>,
    /// cloud-config files (hostpaths, conditional).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "or_default")]
    pub cloud_config_files: Vec<PathBuf>,
}

#[doc = include_str!("docs/filesystem.md")]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filesystem {
    /// ZFS dataset or absolute directory (pattern).
    #[serde(deserialize_with = "string")]
    pub pattern: String,
    /// `btrfs`, `volume`, or empty.
    #[serde(
        rename = "type",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "string"
    )]
    pub kind: String,
    /// `type: volume`: the daemon's storage pool that holds the volume.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub pool: String,
    /// ZFS properties.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub zfsproperties: BTreeMap<String, String>,
    /// Destroyed by `lxops destroy`.
    #[serde(deserialize_with = "boolean")]
    pub destroy: bool,
    /// Skipped by snapshots and copies.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "boolean")]
    pub transient: bool,
}

#[doc = include_str!("docs/device.md")]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Device {
    /// Mount path in the instance.
    #[serde(deserialize_with = "string")]
    pub path: String,
    /// Filesystem id.
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub filesystem: String,
    /// Host directory (pattern).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub dir: String,
    /// Read-only mount.
    #[serde(skip_serializing_if = "is_false", deserialize_with = "boolean")]
    pub readonly: bool,
}

/// The keys of each part of the model, for unknown-key warnings.
pub(crate) const CONFIG_KEYS: &[&str] = &[
    "description",
    "ostype",
    "image",
    "project",
    "origin",
    "target",
    "device-template",
    "device-origin",
    "source-config",
    "lxc-options",
    "profiles",
    "profile-pattern",
    "device-owner",
    "filesystems",
    "devices",
    "properties",
    "include",
    "cloud-config-files",
];
/// Keys of a filesystem entry.
pub(crate) const FILESYSTEM_KEYS: &[&str] = &[
    "pattern",
    "type",
    "pool",
    "zfsproperties",
    "destroy",
    "transient",
];
/// Keys of a device entry.
pub(crate) const DEVICE_KEYS: &[&str] = &["path", "filesystem", "dir", "readonly"];

fn is_false(b: &bool) -> bool {
    !*b
}

/// A null value is the default (an empty list or map).
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Any scalar as its raw text (`uid: 1000` is "1000", `mode: 0644` is "0644"); null is "".
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<Text>::deserialize(d)?
        .map(|t| t.0)
        .unwrap_or_default())
}

/// A list of strings; a null entry is "" (as in the original's yaml.v2).
fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Option::<Vec<Option<Text>>>::deserialize(d)?.unwrap_or_default();
    Ok(list
        .into_iter()
        .map(|t| t.map(|t| t.0).unwrap_or_default())
        .collect())
}

/// A map of names to strings; a null value is "" (as in the original's yaml.v2).
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<Text, Option<Text>>>::deserialize(d)?.unwrap_or_default();
    Ok(map
        .into_iter()
        .map(|(k, v)| (k.0, v.map(|t| t.0).unwrap_or_default()))
        .collect())
}

/// A scalar as text. From the source text it is the scalar as written (the YAML parser hands
/// plain scalars to a string field unchanged); from a merged tree (a file with `<<` merge
/// keys, see [`source::with_tree`]) numbers and booleans are printed back.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if source::tree() {
            d.deserialize_any(TextVisitor).map(Text)
        } else {
            String::deserialize(d).map(Text)
        }
    }
}

struct TextVisitor;

impl serde::de::Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<String, E> {
        Ok(s.to_string())
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<String, E> {
        Ok(b.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<String, E> {
        Ok(n.to_string())
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<String, E> {
        Ok(n.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<String, E> {
        Ok(n.to_string())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

/// A boolean as the original's yaml.v2 reads it (YAML 1.1): unquoted `true`/`false`,
/// `yes`/`no`, `on`/`off`, `y`/`n` in lower, Title or UPPER case; null is false. A quoted
/// string (`"yes"`, `"true"`) is text, not a boolean, and so is a number: both are errors.
fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

struct BoolVisitor;

impl BoolVisitor {
    fn plain<E: serde::de::Error>(s: &str) -> Result<bool, E> {
        match s {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Ok(true)
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Ok(false),
            _ => Err(E::custom(format!(
                "expected a boolean (true/false), found \"{}\"",
                escape(s)
            ))),
        }
    }

    fn quoted<E: serde::de::Error>(s: &str) -> E {
        E::custom(format!(
            "expected a boolean (true/false), found the quoted string \"{}\"; a quoted value is text: write true or false without quotes",
            escape(s)
        ))
    }
}

impl<'de> serde::de::Visitor<'de> for BoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a boolean (true/false)")
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<bool, E> {
        Ok(b)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<bool, E> {
        match source::style(s) {
            source::Style::Quoted => Err(Self::quoted(s)),
            source::Style::Plain | source::Style::Unknown => Self::plain(s),
        }
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<bool, E> {
        // Not a slice of the source: a quoted scalar with escapes, or a folded one.
        if source::active() {
            Err(Self::quoted(s))
        } else {
            Self::plain(s)
        }
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<bool, E> {
        Err(E::custom(format!(
            "expected a boolean (true/false), found the number {n}"
        )))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<bool, E> {
        Err(E::custom(format!(
            "expected a boolean (true/false), found the number {n}"
        )))
    }

    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<bool, E> {
        Err(E::custom(format!(
            "expected a boolean (true/false), found the number {n}"
        )))
    }
}

/// Control characters and terminal escapes of file text, escaped for a message.
fn escape(s: &str) -> String {
    crate::input::escape_controls(s).into_owned()
}

/// Which style a scalar was written in, for strict booleans: serde_yaml_ng gives a visitor the
/// same string for `yes` and `"yes"`, but a borrowed string is a slice of the source text, so
/// the byte before it tells a quoted scalar from a plain one. [`source::with`] makes the text
/// known for one deserialization on this thread.
pub(crate) mod source {
    use std::cell::RefCell;

    thread_local! {
        static SOURCE: RefCell<Option<(usize, Vec<u8>)>> = const { RefCell::new(None) };
        static TREE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// How a scalar was written.
    pub(crate) enum Style {
        Plain,
        Quoted,
        /// No source is known, or the string is not a slice of it.
        Unknown,
    }

    struct Reset;

    impl Drop for Reset {
        fn drop(&mut self) {
            SOURCE.with(|s| *s.borrow_mut() = None);
        }
    }

    /// Runs `f` (which deserializes from `text`) with `text` known to [`style`].
    pub(crate) fn with<T>(text: &str, f: impl FnOnce() -> T) -> T {
        SOURCE.with(|s| *s.borrow_mut() = Some((text.as_ptr() as usize, text.as_bytes().to_vec())));
        let _reset = Reset;
        f()
    }

    /// Runs `f` (which deserializes from a merged `Value` tree, not from text).
    pub(crate) fn with_tree<T>(f: impl FnOnce() -> T) -> T {
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                TREE.with(|t| t.set(false));
            }
        }
        TREE.with(|t| t.set(true));
        let _reset = Reset;
        f()
    }

    /// Whether a merged tree is being deserialized.
    pub(crate) fn tree() -> bool {
        TREE.with(|t| t.get())
    }

    /// Whether a source is known.
    pub(crate) fn active() -> bool {
        SOURCE.with(|s| s.borrow().is_some())
    }

    /// The style of `s`, a string handed to a visitor.
    pub(crate) fn style(s: &str) -> Style {
        SOURCE.with(|source| {
            let source = source.borrow();
            let Some((base, bytes)) = source.as_ref() else {
                return Style::Unknown;
            };
            let at = (s.as_ptr() as usize).wrapping_sub(*base);
            if at == 0 || at > bytes.len() {
                return Style::Unknown;
            }
            match bytes.get(at - 1) {
                Some(b'"' | b'\'') => Style::Quoted,
                Some(_) => Style::Plain,
                None => Style::Unknown,
            }
        })
    }
}
