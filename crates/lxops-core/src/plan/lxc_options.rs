//! `lxc-options`: the extra `lxc init`/`incus create` arguments of a config, parsed into the
//! parts of a create request. Only options that map onto the API are accepted; anything else is
//! an error that names the option, so nothing is silently dropped.

use std::fmt;

use crate::server::{ConfigMap, Device, Devices};

/// What `lxc-options` add to the create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LxcOptions {
    /// `-c key=value` / `--config key=value`.
    pub config: ConfigMap,
    /// `-s POOL` / `--storage POOL` (a root disk device) and `-n NET` / `--network NET` (eth0).
    pub devices: Devices,
    /// `--vm`.
    pub vm: bool,
}

/// An option that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lxc-options: {message}; supported: -c/--config KEY=VALUE, -s/--storage POOL, -n/--network NETWORK, --vm")]
pub struct LxcOptionsError {
    message: String,
}

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
                let (key, val) = kv.split_once('=').ok_or_else(|| {
                    LxcOptionsError::new(format!("{flag} {kv:?} is not KEY=VALUE"))
                })?;
                parsed.config.insert(key.to_string(), val.to_string());
            }
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
            "--vm" => parsed.vm = true,
            other => {
                return Err(LxcOptionsError::new(format!(
                    "unsupported option {other:?}"
                )))
            }
        }
    }
    Ok(parsed)
}
