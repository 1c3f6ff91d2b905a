//! `lxc-options`: the extra `lxc init`/`incus create` arguments of a config, parsed into the
//! parts of a create request. The original lxops passes them to the CLI; every option of
//! `incus create` / `lxc init` that the API can express is mapped onto the request, and
//! anything else is an error that names the option, so nothing is silently dropped.

use std::collections::BTreeMap;
use std::fmt;

use crate::server::{ConfigMap, Device, Devices};

/// What `lxc-options` add to the create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LxcOptions {
    /// `-c key=value` / `--config key=value`.
    pub config: ConfigMap,
    /// `-s POOL` / `--storage POOL` (a root disk device) and `-n NET` / `--network NET` (eth0).
    pub devices: Devices,
    /// `-d DEVICE,key=value` / `--device`: keys that override a device of the instance's
    /// profiles (the device is copied into the instance with them, as `lxc launch` does).
    pub device_overrides: BTreeMap<String, ConfigMap>,
    /// `-p PROFILE` / `--profile`: profiles added after the config's and the lxops profile.
    pub profiles: Vec<String>,
    /// `--no-profiles`: no implicit `default` profile when the config lists no profiles.
    pub no_profiles: bool,
    /// `--vm`, or `--type virtual-machine`.
    pub vm: bool,
    /// `-e` / `--ephemeral`.
    pub ephemeral: bool,
    /// `--target MEMBER`.
    pub target: Option<String>,
    /// `-t TYPE` / `--type TYPE` (other than `container` and `virtual-machine`): a cloud
    /// instance type such as `c2.micro`.
    pub instance_type: Option<String>,
    /// `--description TEXT`.
    pub description: Option<String>,
}

/// An option that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lxc-options: {message}; supported: {SUPPORTED}")]
pub struct LxcOptionsError {
    message: String,
}

/// The options `lxc-options` understands, for the error message.
const SUPPORTED: &str =
    "-c/--config KEY=VALUE, -d/--device DEVICE,KEY=VALUE, -p/--profile PROFILE, \
--no-profiles, -s/--storage POOL, -n/--network NETWORK, -t/--type TYPE, --vm, -e/--ephemeral, \
--target MEMBER, --description TEXT";

impl LxcOptionsError {
    fn new(message: impl fmt::Display) -> Self {
        LxcOptionsError {
            message: message.to_string(),
        }
    }
}

/// Parses the `lxc-options` list (`["-c", "security.nesting=true", "--vm"]`).
pub fn parse_lxc_options(options: &[String]) -> Result<LxcOptions, LxcOptionsError> {
    let mut parsed = LxcOptions::default();
    let mut args = options.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, LxcOptionsError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .cloned()
                    .ok_or_else(|| LxcOptionsError::new(format!("{name} needs a value"))),
            }
        };
        match flag {
            "-c" | "--config" => {
                let kv = value(flag)?;
                let (key, val) = key_value(flag, &kv)?;
                parsed.config.insert(key, val);
            }
            "-d" | "--device" => {
                let spec = value(flag)?;
                let (device, kv) = spec.split_once(',').ok_or_else(|| {
                    LxcOptionsError::new(format!("{flag} {spec:?} is not DEVICE,KEY=VALUE"))
                })?;
                if device.is_empty() {
                    return Err(LxcOptionsError::new(format!(
                        "{flag} {spec:?} names no device"
                    )));
                }
                let (key, val) = key_value(flag, kv)?;
                parsed
                    .device_overrides
                    .entry(device.to_string())
                    .or_default()
                    .insert(key, val);
            }
            "-p" | "--profile" => {
                let profile = value(flag)?;
                if profile.is_empty() {
                    return Err(LxcOptionsError::new(format!("{flag} needs a profile name")));
                }
                parsed.profiles.push(profile);
            }
            "--no-profiles" => parsed.no_profiles = true,
            "-s" | "--storage" => {
                let pool = value(flag)?;
                let mut root = Device::new();
                root.insert("type".into(), "disk".into());
                root.insert("path".into(), "/".into());
                root.insert("pool".into(), pool);
                parsed.devices.insert("root".into(), root);
            }
            "-n" | "--network" => {
                let network = value(flag)?;
                let mut nic = Device::new();
                nic.insert("type".into(), "nic".into());
                nic.insert("network".into(), network);
                nic.insert("name".into(), "eth0".into());
                parsed.devices.insert("eth0".into(), nic);
            }
            "-t" | "--type" => match value(flag)?.as_str() {
                "container" => parsed.vm = false,
                "virtual-machine" => parsed.vm = true,
                "" => return Err(LxcOptionsError::new(format!("{flag} needs a value"))),
                other => parsed.instance_type = Some(other.to_string()),
            },
            "--vm" => parsed.vm = true,
            "-e" | "--ephemeral" => parsed.ephemeral = true,
            "--target" => {
                let target = value(flag)?;
                if target.is_empty() {
                    return Err(LxcOptionsError::new(format!("{flag} needs a member name")));
                }
                parsed.target = Some(target);
            }
            "--description" => parsed.description = Some(value(flag)?),
            "--empty" => {
                return Err(LxcOptionsError::new(
                    "\"--empty\" cannot be used: the instance is made from the config's `image` \
                     or `origin` (incus create and lxc init refuse --empty with an image too)",
                ))
            }
            other => {
                return Err(LxcOptionsError::new(format!(
                    "unsupported option {other:?}"
                )))
            }
        }
    }
    Ok(parsed)
}

/// `KEY=VALUE` of `flag`, with a non-empty key.
fn key_value(flag: &str, kv: &str) -> Result<(String, String), LxcOptionsError> {
    match kv.split_once('=') {
        Some((key, val)) if !key.is_empty() => Ok((key.to_string(), val.to_string())),
        _ => Err(LxcOptionsError::new(format!(
            "{flag} {kv:?} is not KEY=VALUE"
        ))),
    }
}
