//! [`evaluate`]: a loaded config for one instance: built-in properties, `(name)` substitution
//! with precedence built-ins > `-P` > config > global, defaults, and validation (every problem
//! of the config is reported at once).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::error::ConfigError;
use super::format::Formats;
use super::instance::{DeviceDir, FsKind, Instance, InstanceDevice, InstanceFilesystem};
use super::load::{load, LoadOptions, Loaded};
use super::properties::{substitute, PropertySources};

/// The default per-instance profile pattern.
pub const DEFAULT_PROFILE_PATTERN: &str = "(instance).lxops";

/// Options of [`evaluate`].
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// device-template, device-origin and source-config must resolve too.
    pub include_source: bool,
    /// The `-project` flag; overrides the config's `project`.
    pub project: Option<String>,
}

/// The built-in properties of an instance in a project ("" = default).
pub fn builtins(name: &str, project: &str) -> BTreeMap<String, String> {
    let default = project.is_empty() || project == "default";
    let mut map = BTreeMap::new();
    map.insert("instance".to_string(), name.to_string());
    map.insert(
        "project".to_string(),
        if default { "default" } else { project }.to_string(),
    );
    map.insert(
        "project/".to_string(),
        if default {
            String::new()
        } else {
            format!("{project}/")
        },
    );
    map.insert(
        "project_instance".to_string(),
        if default {
            name.to_string()
        } else {
            format!("{project}_{name}")
        },
    );
    map
}

struct Evaluator<'a> {
    builtins: BTreeMap<String, String>,
    sources: &'a PropertySources,
    config_properties: &'a BTreeMap<String, String>,
    problems: Vec<String>,
}

impl Evaluator<'_> {
    fn lookup(&self, key: &str) -> Option<String> {
        self.builtins
            .get(key)
            .or_else(|| self.sources.cli.get(key))
            .or_else(|| self.config_properties.get(key))
            .or_else(|| self.sources.global.get(key))
            .cloned()
    }

    /// Substitutes `pattern`; an unknown property is a problem when `required`.
    fn pattern(&mut self, field: &str, pattern: &str, required: bool) -> Option<String> {
        match substitute(pattern, &|k| self.lookup(k)) {
            Ok(s) => Some(s),
            Err(key) => {
                if required {
                    self.problems.push(format!(
                        "{field}: unknown property ({key}) in {pattern:?}; define it in the config's `properties`, with -P {key}=VALUE, or in the global properties"
                    ));
                }
                None
            }
        }
    }

    fn optional(&mut self, field: &str, pattern: &str, required: bool) -> Option<String> {
        if pattern.is_empty() {
            return None;
        }
        self.pattern(field, pattern, required)
    }
}

/// The config evaluated for one instance: `(name)` substitution, built-ins, defaults,
/// validation. `options.project` (the -project flag) overrides the config's project. With
/// `include_source`, device-template / device-origin / source-config must resolve too.
pub fn evaluate(
    loaded: &Loaded,
    name: &str,
    sources: &PropertySources,
    options: &EvalOptions,
) -> Result<Instance, ConfigError> {
    let config = &loaded.config;
    let project = options
        .project
        .clone()
        .unwrap_or_else(|| config.project.clone());
    let mut ev = Evaluator {
        builtins: builtins(name, &project),
        sources,
        config_properties: &config.properties,
        problems: Vec::new(),
    };
    let src = options.include_source;
    let image = ev.pattern("image", &config.image, true).unwrap_or_default();
    let origin = ev.optional("origin", &config.origin, true);
    // A pattern that substitutes to nothing (`target: (member)` with `-P member=`): no target.
    let target = ev
        .optional("target", &config.target, true)
        .filter(|t| !t.is_empty());
    let device_template = ev.optional("device-template", &config.device_template, src);
    let device_origin = ev.optional("device-origin", &config.device_origin, src);
    if let Some(origin) = device_origin.as_deref().filter(|_| src) {
        // As the original: exactly one `@`, with a snapshot name after it.
        let parts: Vec<&str> = origin.split('@').collect();
        if parts.len() != 2 || parts[1].is_empty() {
            ev.problems.push(format!(
                "device-origin: {origin:?} must be INSTANCE@SNAPSHOT (the instance whose filesystems' snapshot is cloned)"
            ));
        }
    }
    let profile_pattern = if config.profile_pattern.is_empty() {
        DEFAULT_PROFILE_PATTERN
    } else {
        &config.profile_pattern
    };
    let profile = ev
        .pattern("profile-pattern", profile_pattern, true)
        .unwrap_or_default();
    if profile.is_empty() && ev.problems.is_empty() {
        ev.problems
            .push("profile-pattern: the profile name is empty; set profile-pattern".to_string());
    }
    let device_owner = ev.optional("device-owner", &config.device_owner, true);

    let mut filesystems = Vec::new();
    for (id, fs) in &config.filesystems {
        let field = format!("filesystems.{id}");
        if id.is_empty() {
            ev.problems
                .push("filesystems: an empty filesystem id; give it a name".to_string());
        }
        let path = ev
            .pattern(&format!("{field}.pattern"), &fs.pattern, true)
            .unwrap_or_else(|| fs.pattern.clone());
        if path.is_empty() {
            ev.problems.push(format!(
                "{field}.pattern: empty; give a ZFS dataset or an absolute directory"
            ));
        } else if has_parent_component(&path) {
            ev.problems.push(format!(
                "{field}.pattern: {path:?} contains `..`; use a path without `..`"
            ));
        }
        let kind = match fs.kind.as_str() {
            "btrfs" => FsKind::Btrfs,
            "" if path.starts_with('/') => FsKind::Dir,
            "" => FsKind::Zfs,
            other => {
                ev.problems.push(format!(
                    "{field}.type: unknown type {other:?}; use btrfs, or leave it out (ZFS or directory by pattern)"
                ));
                FsKind::Dir
            }
        };
        if kind == FsKind::Btrfs && !path.is_empty() && !path.starts_with('/') {
            ev.problems.push(format!(
                "{field}.pattern: a btrfs filesystem needs an absolute directory, not {path:?}"
            ));
        }
        // `mountpoint` names the dataset's directory, which lxops plans before the dataset
        // exists: it is a pattern, so `(instance)` there is this instance's directory.
        let mut zfsproperties = fs.zfsproperties.clone();
        if let Some(mountpoint) = zfsproperties.get_mut("mountpoint") {
            let field = format!("{field}.zfsproperties.mountpoint");
            if let Some(value) = ev.pattern(&field, mountpoint, true) {
                *mountpoint = value;
            }
        }
        filesystems.push(InstanceFilesystem {
            id: id.clone(),
            kind,
            path,
            zfsproperties,
            transient: fs.transient,
            destroy: fs.destroy,
        });
    }

    let mut devices = Vec::new();
    let mut paths: BTreeMap<String, String> = BTreeMap::new();
    for (dev_name, device) in &config.devices {
        let field = format!("devices.{dev_name}");
        if dev_name.is_empty() {
            ev.problems
                .push("devices: an empty device name; give it a name".to_string());
        }
        if !device.path.starts_with('/') {
            ev.problems.push(format!(
                "{field}.path: {:?} is not an absolute path in the instance; write it with a leading /",
                device.path
            ));
        }
        let normalized = device.path.trim_end_matches('/').to_string();
        if let Some(other) = paths.insert(normalized, dev_name.clone()) {
            ev.problems.push(format!(
                "{field}.path: {:?} is also the path of device {other}; give each device its own path",
                device.path
            ));
        }
        let filesystem = Some(device.filesystem.clone()).filter(|f| !f.is_empty());
        if let Some(fs) = &filesystem {
            if !config.filesystems.contains_key(fs) {
                let known: Vec<&str> = config.filesystems.keys().map(String::as_str).collect();
                ev.problems.push(format!(
                    "{field}.filesystem: unknown filesystem id {fs:?}; known ids: [{}]",
                    known.join(", ")
                ));
            }
        }
        let dir = if device.dir == "." {
            DeviceDir::FilesystemRoot
        } else {
            let dir = ev
                .pattern(&format!("{field}.dir"), &device.dir, true)
                .unwrap_or_else(|| device.dir.clone());
            if dir.starts_with('/') {
                DeviceDir::Absolute(PathBuf::from(dir))
            } else if dir.is_empty() {
                DeviceDir::Relative(dev_name.clone())
            } else if has_parent_component(&dir) {
                // Refused below; kept as written for the message.
                DeviceDir::Relative(dir)
            } else {
                // As the original's filepath.Join cleans it: `./`, `a//b`, `a/` name the same
                // directory as `.`, `a/b`, `a`, and so the same profile device source.
                match clean_relative(&dir) {
                    Some(clean) => DeviceDir::Relative(clean),
                    None => DeviceDir::FilesystemRoot,
                }
            }
        };
        match &dir {
            DeviceDir::Absolute(p) if has_parent_component(&p.to_string_lossy()) => {
                ev.problems.push(format!(
                    "{field}.dir: {} contains `..`; use a path without `..`",
                    p.display()
                ))
            }
            DeviceDir::Relative(d) if has_parent_component(d) => ev.problems.push(format!(
                "{field}.dir: {d:?} contains `..`; use a path without `..`"
            )),
            DeviceDir::FilesystemRoot | DeviceDir::Relative(_) if filesystem.is_none() => {
                ev.problems.push(format!(
                    "{field}: a relative dir needs a filesystem; set `filesystem`, or make `dir` an absolute host path"
                ))
            }
            _ => {}
        }
        devices.push(InstanceDevice {
            name: dev_name.clone(),
            path: device.path.clone(),
            filesystem,
            dir,
            readonly: device.readonly,
        });
    }

    for (i, profile) in config.profiles.iter().enumerate() {
        if profile.is_empty() {
            ev.problems.push(format!(
                "profiles: entry {} is empty (null or \"\"); remove it or name a profile",
                i + 1
            ));
        }
    }
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&str> = config
        .profiles
        .iter()
        .filter(|p| !p.is_empty() && !seen.insert(p.as_str()))
        .map(String::as_str)
        .collect();
    if !duplicates.is_empty() {
        ev.problems.push(format!(
            "profiles: listed more than once: {}; list each profile once",
            duplicates.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !config.cloud_config_files.is_empty() && config.ostype.is_empty() {
        ev.problems.push(
            "ostype: required with cloud-config files; set ostype (alpine, debian, ubuntu, openwrt, fedora)"
                .to_string(),
        );
    }

    if !ev.problems.is_empty() {
        return Err(ConfigError::Invalid {
            file: loaded.file.clone(),
            instance: name.to_string(),
            problems: ev.problems,
        });
    }
    let properties = effective_properties(&loaded.file, &ev.builtins, sources, &config.properties);
    Ok(Instance {
        name: name.to_string(),
        file: loaded.file.clone(),
        description: config.description.clone(),
        project,
        ostype: config.ostype.clone(),
        image,
        origin,
        target,
        device_template,
        device_origin,
        source_config: config.source_config.clone(),
        lxc_options: config.lxc_options.clone(),
        profiles: config.profiles.clone(),
        profile,
        device_owner,
        filesystems,
        devices,
        properties,
        cloud_config_files: config.cloud_config_files.clone(),
    })
}

/// The source instance `name` of device-template / device-origin: evaluated from the
/// `source-config` file when `instance.source_config` is set (loaded with `formats`), else from
/// the same loaded config; with instance = `name` and WITHOUT the -P (cli) properties.
pub fn evaluate_source(
    loaded: &Loaded,
    instance: &Instance,
    name: &str,
    formats: &Formats,
    sources: &PropertySources,
) -> Result<Instance, ConfigError> {
    let sources = sources.without_cli();
    match &instance.source_config {
        Some(path) => {
            if let Some(problem) = crate::input::file_problem(path) {
                return Err(ConfigError::Invalid {
                    file: instance.file.clone(),
                    instance: instance.name.clone(),
                    problems: vec![format!(
                        "source-config: {} {problem}; fix the path (relative to the file that names it)",
                        path.display()
                    )],
                });
            }
            let source = load(
                path,
                &LoadOptions {
                    formats,
                    sources: &sources,
                    strict: false,
                    raw: false,
                },
            )?;
            evaluate(&source, name, &sources, &EvalOptions::default())
        }
        None => evaluate(
            loaded,
            name,
            &sources,
            &EvalOptions {
                include_source: false,
                project: Some(instance.project.clone()),
            },
        ),
    }
}

/// The (file, instance name) pairs of a command: with `names`, one pair per name for the one
/// file (an error with more than one file, or for an empty name); else each file's base name
/// without its last extension.
pub fn instance_names(
    files: &[PathBuf],
    names: &[String],
) -> Result<Vec<(PathBuf, String)>, ConfigError> {
    if !names.is_empty() {
        if files.len() > 1 {
            return Err(ConfigError::NameWithManyFiles { count: files.len() });
        }
        if names.iter().any(String::is_empty) {
            return Err(ConfigError::EmptyName);
        }
        return Ok(files
            .iter()
            .flat_map(|f| names.iter().map(move |n| (f.clone(), n.clone())))
            .collect());
    }
    files
        .iter()
        .map(|f| {
            f.file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| !s.is_empty())
                .map(|s| (f.clone(), s.to_string()))
                .ok_or_else(|| ConfigError::NoInstanceName { file: f.clone() })
        })
        .collect()
}

/// Refuses two instances that are the same instance (same project and name), e.g. `-name a,a`
/// or two files with the same base name: they would race for one instance.
pub fn check_distinct(instances: &[&Instance]) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<(&str, &str), &Path> = BTreeMap::new();
    for instance in instances {
        let key = (instance.project.as_str(), instance.name.as_str());
        if let Some(first) = seen.insert(key, &instance.file) {
            return Err(ConfigError::DuplicateInstance {
                instance: instance.name.clone(),
                first: first.to_path_buf(),
                second: instance.file.clone(),
            });
        }
    }
    Ok(())
}

/// The "Effective Properties" of the original: global, then config, then `-P`, without the
/// built-ins, and without a property named like a built-in (`instance`, `project`, ...): a
/// pattern's `(instance)` is always the built-in, so such a property is never used; showing
/// it would mislead. Each one is a warning naming where it came from.
fn effective_properties(
    file: &Path,
    builtins: &BTreeMap<String, String>,
    sources: &PropertySources,
    config: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let layers = [
        ("the global properties", &sources.global),
        ("the config's properties", config),
        ("-P", &sources.cli),
    ];
    let mut properties = BTreeMap::new();
    for (origin, layer) in layers {
        for (key, value) in layer {
            match builtins.get(key) {
                Some(builtin) => tracing::warn!(
                    "{}: property {key}={value:?} from {origin} is not used: ({key}) is built in and is {builtin:?} here; rename the property",
                    file.display()
                ),
                None => {
                    properties.insert(key.clone(), value.clone());
                }
            }
        }
    }
    properties
}

/// A relative dir without `.` and empty components (`./a//b/` is `a/b`), or `None` when
/// nothing is left (`./`): the filesystem's directory itself.
fn clean_relative(dir: &str) -> Option<String> {
    let parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn has_parent_component(path: &str) -> bool {
    Path::new(path)
        .components()
        .any(|c| matches!(c, Component::ParentDir))
}
