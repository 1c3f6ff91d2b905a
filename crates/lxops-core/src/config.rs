//! The config engine: reading `#lxops-v1` files (migrating older formats through the
//! [`Formats`] registry), includes and merging ([`load`]), `(name)` property substitution and
//! validation for one instance ([`evaluate`]), and the `lxops help` topics ([`help`]).

mod error;
mod evaluate;
mod format;
pub mod help;
mod instance;
mod load;
mod model;
mod properties;
mod read;

pub use error::ConfigError;
pub use evaluate::{
    builtins, check_distinct, evaluate, evaluate_source, instance_names, EvalOptions,
    DEFAULT_PROFILE_PATTERN,
};
pub use format::{header_line, Formats, CURRENT};
pub use instance::{DeviceDir, FsKind, Instance, InstanceDevice, InstanceFilesystem};
pub use load::{load, raw_includes, LoadOptions, Loaded, MAX_INCLUDE_DEPTH, RESERVED};
pub use model::{Config, Device, Filesystem};
pub use properties::{
    default_dir, parse_properties, read_properties, set_property, substitute, PropertyOptions,
    PropertySources,
};
pub use read::{parse_bytes, read_file, ReadFile};

impl Config {
    /// The config as `#lxops-v1` text.
    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).unwrap_or_default();
        let body = if body.trim() == "{}" {
            String::new()
        } else {
            body
        };
        format!("{CURRENT}\n{body}")
    }
}
