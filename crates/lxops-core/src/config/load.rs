//! [`load`]: reads a config file with its includes and merges them. Includes are merged
//! post-order (an include's values first, the including file's own values last), lists are
//! appended with included entries first, maps are merged per key with whole-entry replacement,
//! a file included twice is merged once, and an include cycle skips the repeated file with a
//! warning (as the original; the depth limit still stops long chains). The including file
//! always wins; overriding a different value from an include adds a warning naming both files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::format::Formats;
use super::model::Config;
use super::properties::{substitute, PropertySources};
use super::read::read_file;

/// How deep includes may nest (the top file is level 0). Real configs use a few levels; the
/// limit turns a runaway chain into a clear error instead of a stack overflow.
pub const MAX_INCLUDE_DEPTH: usize = 64;

/// The characters that are reserved in `include` and `cloud-config-files` paths.
pub const RESERVED: &[char] = &['|', ';', ',', ':'];

/// How to load a config.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// Config formats and migrators.
    pub formats: &'a Formats,
    /// Global and `-P` properties (for conditional paths).
    pub sources: &'a PropertySources,
    /// Unknown keys are errors.
    pub strict: bool,
    /// Read only the file itself: no includes, no path resolution.
    pub raw: bool,
}

/// A config file with its includes, merged.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The top file as given.
    pub file: PathBuf,
    /// The merged config: include/cloud-config paths resolved (unless raw), `include` empty.
    pub config: Config,
    /// Unknown keys and overridden include values, each naming the file(s).
    pub warnings: Vec<String>,
    /// The included files that were merged, in the order they were read.
    pub includes: Vec<PathBuf>,
    /// Conditional include/cloud-config entries that were skipped, with the reason.
    pub dropped: Vec<String>,
    /// Whether includes were skipped.
    pub raw: bool,
}

/// Reads the file (header -> format -> migrate), follows includes (unless raw), merges.
pub fn load(file: &Path, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut merger = Merger {
        options: *options,
        result: Config::default(),
        origins: HashMap::new(),
        stack: Vec::new(),
        done: HashSet::new(),
        warnings: Vec::new(),
        includes: Vec::new(),
        dropped: Vec::new(),
    };
    merger.merge_file(file, None)?;
    Ok(Loaded {
        file: file.to_path_buf(),
        config: merger.result,
        warnings: merger.warnings,
        includes: merger.includes,
        dropped: merger.dropped,
        raw: options.raw,
    })
}

/// Every `include` entry of `file` and (recursively) of the files it includes, resolved
/// against the including file's directory but not substituted or filtered. Entries with a
/// `(name)` or that do not exist are listed but not followed.
pub fn raw_includes(file: &Path, formats: &Formats) -> Result<Vec<PathBuf>, ConfigError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut chain = Vec::new();
    collect_raw(file, formats, &mut out, &mut seen, &mut chain)?;
    Ok(out)
}

fn collect_raw(
    file: &Path,
    formats: &Formats,
    out: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
    chain: &mut Vec<PathBuf>,
) -> Result<(), ConfigError> {
    if !seen.insert(identity(file)) {
        return Ok(());
    }
    check_depth(chain, file)?;
    let read = read_file(file, formats, false)?;
    chain.push(file.to_path_buf());
    for include in &read.config.include {
        let path = join(file, include);
        out.push(path.clone());
        if !include.to_string_lossy().contains('(') && path.exists() {
            collect_raw(&path, formats, out, seen, chain)?;
        }
    }
    chain.pop();
    Ok(())
}

/// Refuses `file` when `ancestors` (the top file first) are already [`MAX_INCLUDE_DEPTH`]
/// levels deep.
fn check_depth(ancestors: &[PathBuf], file: &Path) -> Result<(), ConfigError> {
    if ancestors.len() <= MAX_INCLUDE_DEPTH {
        return Ok(());
    }
    let (Some(first), Some(last)) = (ancestors.first(), ancestors.last()) else {
        return Ok(());
    };
    Err(ConfigError::IncludeDepth {
        file: last.clone(),
        max: MAX_INCLUDE_DEPTH,
        chain: format!(
            "{} -> ... -> {} -> {}",
            first.display(),
            last.display(),
            file.display()
        ),
    })
}

struct Merger<'a> {
    options: LoadOptions<'a>,
    result: Config,
    /// Which file set each single value or map entry (`image`, `properties.k`, ...).
    origins: HashMap<String, PathBuf>,
    stack: Vec<(PathBuf, PathBuf)>,
    done: HashSet<PathBuf>,
    warnings: Vec<String>,
    includes: Vec<PathBuf>,
    dropped: Vec<String>,
}

impl Merger<'_> {
    fn merge_file(&mut self, file: &Path, includer: Option<&Path>) -> Result<(), ConfigError> {
        let id = identity(file);
        if let Some(pos) = self.stack.iter().position(|(i, _)| *i == id) {
            let mut chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(_, p)| p.display().to_string())
                .collect();
            chain.push(file.display().to_string());
            // As the original: the file being read already is skipped, with a warning.
            let warning = format!(
                "{}: include cycle: {}; skipping {} (it is being read already)",
                includer.unwrap_or(file).display(),
                chain.join(" -> "),
                file.display()
            );
            tracing::debug!("{warning}");
            self.warnings.push(warning);
            return Ok(());
        }
        if self.done.contains(&id) {
            tracing::info!("ignoring duplicate include: {}", file.display());
            return Ok(());
        }
        let ancestors: Vec<PathBuf> = self.stack.iter().map(|(_, p)| p.clone()).collect();
        check_depth(&ancestors, file)?;
        let read =
            read_file(file, self.options.formats, self.options.strict).map_err(|e| {
                match (e, includer) {
                    (ConfigError::Read { source, .. }, Some(includer)) => {
                        ConfigError::MissingInclude {
                            file: includer.to_path_buf(),
                            include: file.to_path_buf(),
                            source,
                        }
                    }
                    (e, _) => e,
                }
            })?;
        tracing::info!("reading {}", file.display());
        if includer.is_some() {
            self.includes.push(file.to_path_buf());
        }
        self.warnings.extend(read.warnings);
        let mut config = read.config;
        if self.options.raw {
            self.result = config;
            return Ok(());
        }
        config.include = self.resolve(file, &config.include)?;
        config.cloud_config_files = self.resolve(file, &config.cloud_config_files)?;
        config.source_config = config.source_config.map(|p| join(file, &p));
        if includer.is_none() {
            self.result.description = config.description.clone();
        }
        self.stack.push((id.clone(), file.to_path_buf()));
        for include in std::mem::take(&mut config.include) {
            self.merge_file(&include, Some(file))?;
        }
        self.stack.pop();
        self.done.insert(id);
        self.apply(file, config);
        Ok(())
    }

    /// Conditional paths: `(name)` from `-P` and global properties only; an undefined (or
    /// empty) name drops the entry. Relative paths are joined to the file's directory.
    fn resolve(&mut self, file: &Path, paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigError> {
        let mut out = Vec::new();
        for path in paths {
            let text = path.to_string_lossy();
            if let Some(ch) = text.chars().find(|c| RESERVED.contains(c)) {
                return Err(ConfigError::ReservedCharacter {
                    file: file.to_path_buf(),
                    path: text.into_owned(),
                    ch,
                });
            }
            let sources = self.options.sources;
            match substitute(&text, &|k| sources.path_property(k).map(str::to_string)) {
                Ok(p) => out.push(join(file, Path::new(&p))),
                Err(name) => {
                    let why = format!(
                        "{}: skipping {text}: property ({name}) is not defined",
                        file.display()
                    );
                    tracing::info!("{why}");
                    self.dropped.push(why);
                }
            }
        }
        Ok(out)
    }

    fn apply(&mut self, file: &Path, config: Config) {
        let Config {
            description: _,
            ostype,
            image,
            project,
            origin,
            target,
            device_template,
            device_origin,
            source_config,
            lxc_options,
            profiles,
            profile_pattern,
            device_owner,
            filesystems,
            devices,
            properties,
            include: _,
            cloud_config_files,
        } = config;
        let scalars: [(&str, String); 9] = [
            ("ostype", ostype),
            ("image", image),
            ("project", project),
            ("origin", origin),
            ("target", target),
            ("device-template", device_template),
            ("device-origin", device_origin),
            ("profile-pattern", profile_pattern),
            ("device-owner", device_owner),
        ];
        for (key, value) in scalars {
            if value.is_empty() {
                continue;
            }
            let slot = match key {
                "ostype" => &mut self.result.ostype,
                "image" => &mut self.result.image,
                "project" => &mut self.result.project,
                "origin" => &mut self.result.origin,
                "target" => &mut self.result.target,
                "device-template" => &mut self.result.device_template,
                "device-origin" => &mut self.result.device_origin,
                "profile-pattern" => &mut self.result.profile_pattern,
                _ => &mut self.result.device_owner,
            };
            let old = std::mem::replace(slot, value.clone());
            self.note(file, key.to_string(), &old, &value);
        }
        if let Some(source) = source_config {
            let old = self.result.source_config.replace(source.clone());
            let show = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
            self.note(
                file,
                "source-config".into(),
                &show(&old).unwrap_or_default(),
                &source.display().to_string(),
            );
        }
        if !lxc_options.is_empty() {
            let old = std::mem::replace(&mut self.result.lxc_options, lxc_options.clone());
            self.note(
                file,
                "lxc-options".into(),
                &old.join(" "),
                &lxc_options.join(" "),
            );
        }
        self.result.profiles.extend(profiles);
        self.result.cloud_config_files.extend(cloud_config_files);
        let mut maps = std::mem::take(&mut self.result);
        merge_map(self, file, "properties", &mut maps.properties, properties);
        merge_map(
            self,
            file,
            "filesystems",
            &mut maps.filesystems,
            filesystems,
        );
        merge_map(self, file, "devices", &mut maps.devices, devices);
        self.result = maps;
    }

    /// Records that `file` set `key`; warns when it replaced a different value from another file.
    fn note(&mut self, file: &Path, key: String, old: &str, new: &str) {
        let previous = self.origins.insert(key.clone(), file.to_path_buf());
        if let Some(previous) = previous {
            if !old.is_empty() && old != new && previous != file {
                self.warnings.push(format!(
                    "{}: {key}: {new:?} overrides {old:?} from {}",
                    file.display(),
                    previous.display()
                ));
            }
        }
    }
}

fn merge_map<V: PartialEq + std::fmt::Debug>(
    merger: &mut Merger,
    file: &Path,
    field: &str,
    into: &mut BTreeMap<String, V>,
    from: BTreeMap<String, V>,
) {
    for (key, value) in from {
        let new = format!("{value:?}");
        let old = into.insert(key.clone(), value);
        let old = old.map(|v| format!("{v:?}")).unwrap_or_default();
        let name = format!("{field}.{key}");
        let previous = merger.origins.insert(name.clone(), file.to_path_buf());
        if let Some(previous) = previous {
            if !old.is_empty() && old != new && previous != file {
                merger.warnings.push(format!(
                    "{}: {name} overrides the entry from {}",
                    file.display(),
                    previous.display()
                ));
            }
        }
    }
}

/// `path` if absolute, else joined to the directory of `file`.
pub(crate) fn join(file: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// A file's identity for duplicate and cycle detection: canonical when it exists.
fn identity(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}
