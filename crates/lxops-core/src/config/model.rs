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
    /// Copy device directories from this instance (pattern).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub device_template: String,
    /// Clone ZFS filesystems from `instance@snapshot` (pattern).
    #[serde(skip_serializing_if = "String::is_empty", deserialize_with = "string")]
    pub device_origin: String,
    /// Config of the source instance (hostpath, not substituted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_config: Option<PathBuf>,
    /// Extra instance creation options.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "or_default")]
    pub lxc_options: Vec<String>,
    /// Profiles attached at launch.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "or_default")]
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
        deserialize_with = "or_default"
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
    /// `btrfs`, or empty.
    #[serde(
        rename = "type",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "string"
    )]
    pub kind: String,
    /// ZFS properties.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "or_default"
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
pub(crate) const FILESYSTEM_KEYS: &[&str] =
    &["pattern", "type", "zfsproperties", "destroy", "transient"];
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
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A YAML 1.1 boolean: true/false, yes/no, on/off, y/n (any case); null is false.
fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::Null => Ok(false),
        serde_yaml::Value::Bool(b) => Ok(b),
        serde_yaml::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "on" | "y" | "true" => Ok(true),
            "no" | "off" | "n" | "false" => Ok(false),
            _ => Err(D::Error::custom(format!(
                "expected a boolean (true/false), found \"{s}\""
            ))),
        },
        other => Err(D::Error::custom(format!(
            "expected a boolean (true/false), found {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "null",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a map",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}
