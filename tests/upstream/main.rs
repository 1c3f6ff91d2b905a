//! Differential test of the config engine against the Go original's own code: the upstream
//! oracle (`shared/tools/upstream-oracle`, built by `cargo xtask setup` into the test cache)
//! prints what the original computes for a config; this test computes the same with
//! `lxops_core::config` and compares, on the real configs of the original's repositories
//! (`corpus/upstream`) and on generated cases (merge keys, nulls, merge order, includes,
//! property precedence, substitution, device directories). Only the deliberate differences
//! of `upstream-behavior.md` are allowed, each normalised by name below.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lxops_core::config::{
    self, builtins, DeviceDir, EvalOptions, Formats, FsKind, Instance, LoadOptions, Loaded,
    PropertyOptions, PropertySources,
};
use serde_json::Value;

/// The oracle binary: `$LXOPS_UPSTREAM_ORACLE`, else where `cargo xtask setup` builds it.
fn oracle() -> PathBuf {
    let path = std::env::var_os("LXOPS_UPSTREAM_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/lxops-test/upstream-oracle/oracle"));
    assert!(
        path.is_file(),
        "{}: the upstream oracle is missing; run `cargo xtask setup` (it builds it from shared/tools/upstream-oracle) or set LXOPS_UPSTREAM_ORACLE",
        path.display()
    );
    path
}

/// `shared/tools/upstream-oracle/corpus` next to the checkout (or next to a parent of it).
fn corpus() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared/tools/upstream-oracle/corpus"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "shared/tools/upstream-oracle/corpus not found next to {} or its parents",
                here.display()
            )
        })
}

fn formats() -> Formats {
    let mut formats = Formats::new();
    lxops_migrator_lxdops::register(&mut formats);
    formats
}

/// What the original computed for `file` (`oracle json`), with a private HOME.
fn original(oracle: &Path, home: &Path, file: &Path, global: &Path, pairs: &[&str]) -> Value {
    let mut cmd = Command::new(oracle);
    cmd.arg("json").arg("-properties").arg(global);
    for pair in pairs {
        cmd.arg("-P").arg(pair);
    }
    let output = cmd
        .arg(file)
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", oracle.display()));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: oracle output is not JSON ({e}): {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Ours: the merged config and the evaluated instance, or the error.
fn ours(
    file: &Path,
    sources: &PropertySources,
) -> (Result<Loaded, String>, Result<Instance, String>) {
    let formats = formats();
    let options = LoadOptions {
        formats: &formats,
        sources,
        strict: false,
        raw: false,
    };
    let loaded = config::load(file, &options).map_err(|e| e.to_string());
    let instance = match &loaded {
        Ok(l) => config::instance_names(&[file.to_path_buf()], &[])
            .map_err(|e| e.to_string())
            .and_then(|n| {
                config::evaluate(l, &n[0].1, sources, &EvalOptions::default())
                    .map_err(|e| e.to_string())
            }),
        Err(e) => Err(e.clone()),
    };
    (loaded, instance)
}

/// A device's host directory as lxops computes it, with ZFS datasets at `/<dataset>` as the
/// original assumes (the test has no datasets to read a mountpoint from).
fn device_source(instance: &Instance, dev: &lxops_core::config::InstanceDevice) -> String {
    let fs_dir = || {
        let fs = dev
            .filesystem
            .as_deref()
            .and_then(|id| instance.filesystem(id))?;
        Some(match fs.kind {
            FsKind::Zfs => format!("/{}", fs.path),
            FsKind::Dir | FsKind::Btrfs => fs.path.clone(),
            // The original has no daemon volumes.
            FsKind::Volume => return None,
        })
    };
    match &dev.dir {
        DeviceDir::Absolute(p) => p.display().to_string(),
        DeviceDir::FilesystemRoot => fs_dir().unwrap_or_default(),
        // Joined as lxops's host code joins it (no cleaning here: lxops cleans the dir when
        // it evaluates the config).
        DeviceDir::Relative(r) => fs_dir()
            .map(|d| Path::new(&d).join(r).display().to_string())
            .unwrap_or_default(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The merged config's fields that the original and lxops read the same way. Not compared
/// (deliberate differences): `include` (lxops resolves and drops it after merging),
/// `description` (lxops keeps only the top file's), the single values an include sets that
/// the including file also sets (lxops: the includer wins), and `cloud-config-files`,
/// `source-config` (lxops resolves them to the including file's directory in the merged
/// config too).
fn merged_fields(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Value::Object(map) = v else { return out };
    for (key, value) in map {
        match key.as_str() {
            "include" | "description" | "cloud-config-files" | "source-config" => {}
            "filesystems" | "devices" => {
                let Value::Object(entries) = value else {
                    continue;
                };
                for (id, entry) in entries {
                    let Value::Object(fields) = entry else {
                        continue;
                    };
                    for (field, fv) in fields {
                        match (field.as_str(), fv) {
                            ("zfsproperties", Value::Object(props)) => {
                                for (k, pv) in props {
                                    out.insert(format!("{key}.{id}.zfsproperties.{k}"), text(pv));
                                }
                            }
                            // false is the default: one side may leave it out.
                            ("destroy" | "transient" | "readonly", Value::Bool(false)) => {}
                            _ => {
                                out.insert(format!("{key}.{id}.{field}"), text(fv));
                            }
                        }
                    }
                }
            }
            "properties" => {
                let Value::Object(props) = value else {
                    continue;
                };
                for (k, pv) in props {
                    out.insert(format!("properties.{k}"), text(pv));
                }
            }
            "profiles" | "lxc-options" => {
                let Value::Array(list) = value else { continue };
                let items: Vec<String> = list.iter().map(text).collect();
                out.insert(key.clone(), items.join(" | "));
            }
            _ => {
                out.insert(key.clone(), text(value));
            }
        }
    }
    out
}

/// Differences between the original's result and ours for one config, as lines.
fn compare(
    label: &str,
    go: &Value,
    loaded: &Result<Loaded, String>,
    instance: &Result<Instance, String>,
) -> (Vec<String>, usize) {
    let mut diffs = Vec::new();
    let mut compared = 0;
    if let (Some(merged), Ok(loaded)) = (go.get("merged").filter(|m| !m.is_null()), loaded) {
        let ours = serde_json::to_value(&loaded.config).expect("config as JSON");
        let (go_fields, our_fields) = (merged_fields(merged), merged_fields(&ours));
        // Single values overridden by an includer: lxops keeps the includer's (deliberate).
        let overridden: Vec<String> = loaded
            .warnings
            .iter()
            .filter_map(|w| w.split(": ").nth(1).map(str::to_string))
            .collect();
        for key in go_fields.keys().chain(our_fields.keys()) {
            if overridden.iter().any(|o| o == key) {
                continue;
            }
            let (g, o) = (go_fields.get(key), our_fields.get(key));
            if g != o && !(g.is_none_or(String::is_empty) && o.is_none_or(String::is_empty)) {
                diffs.push(format!(
                    "{label}: merged {key}: original {g:?}, lxops {o:?}"
                ));
            }
        }
        compared += 1;
    }
    let go_ok = go.get("instance_error").is_some_and(Value::is_null);
    if let (true, Ok(instance)) = (go_ok, instance) {
        compared += 1;
        let builtin = builtins(&instance.name, &instance.project);
        let go_props: BTreeMap<String, String> = go["effective_properties"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !builtin.contains_key(*k))
                    .map(|(k, v)| (k.clone(), text(v)))
                    .collect()
            })
            .unwrap_or_default();
        if go_props != instance.properties {
            diffs.push(format!(
                "{label}: effective properties: original {go_props:?}, lxops {:?}",
                instance.properties
            ));
        }
        if text(&go["profile"]) != instance.profile {
            diffs.push(format!(
                "{label}: profile: original {}, lxops {}",
                go["profile"], instance.profile
            ));
        }
        if go["image_error"].is_null() && text(&go["image"]) != instance.image {
            diffs.push(format!(
                "{label}: image: original {}, lxops {}",
                go["image"], instance.image
            ));
        }
        if let Some(list) = go["filesystems"].as_array() {
            for fs in list {
                let id = text(&fs["id"]);
                let ours = instance.filesystem(&id).map(|f| f.path.clone());
                if ours.as_deref() != Some(text(&fs["path"]).as_str()) {
                    diffs.push(format!(
                        "{label}: filesystem {id}: original {}, lxops {ours:?}",
                        fs["path"]
                    ));
                }
            }
        }
        if let Some(list) = go["devices"].as_array() {
            for dev in list {
                let name = text(&dev["name"]);
                let ours = instance
                    .devices
                    .iter()
                    .find(|d| d.name == name)
                    .map(|d| device_source(instance, d));
                if ours.as_deref() != Some(text(&dev["source"]).as_str()) {
                    diffs.push(format!(
                        "{label}: device {name} source: original {}, lxops {ours:?}",
                        dev["source"]
                    ));
                }
            }
        }
    }
    (diffs, compared)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[test]
fn the_upstream_corpus_reads_as_the_original_reads_it() {
    let oracle = oracle();
    let corpus = corpus();
    let global = corpus.join("upstream-global.yaml");
    let home = tempfile::tempdir().expect("tempdir");
    let sources = PropertyOptions::from_args(Some(&global), &[])
        .load()
        .expect("global properties");
    let mut files = Vec::new();
    yaml_files(&corpus.join("upstream"), &mut files);
    assert!(files.len() > 100, "only {} corpus files", files.len());
    let (mut diffs, mut compared) = (Vec::new(), 0);
    for file in &files {
        let go = original(&oracle, home.path(), file, &global, &[]);
        let (loaded, instance) = ours(file, &sources);
        let label = file
            .strip_prefix(&corpus)
            .unwrap_or(file)
            .display()
            .to_string();
        let (d, c) = compare(&label, &go, &loaded, &instance);
        diffs.extend(d);
        compared += c;
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    // About half of the corpus is older formats or include fragments that neither reads as an
    // instance; the rest is compared.
    assert!(compared > 140, "only {compared} results compared");
}

/// Generated configs for what the corpus does not exercise: YAML merge keys, nulls, device
/// dirs that need cleaning, merge order of includes, property precedence (-P over config
/// over global) and substitution, each compared with the original.
#[test]
fn generated_configs_read_as_the_original_reads_them() {
    let oracle = oracle();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let write = |name: &str, text: &str| {
        std::fs::write(d.join(name), text).expect("write");
        d.join(name)
    };
    let global = write(
        "global.yaml",
        "root: /srv/g\nsite: global\nonly-global: g\n",
    );
    write(
        "inc.yaml",
        "#lxops-v1\nprofiles: [inc]\nproperties:\n  site: from-include\n  inc: i\nfilesystems:\n  tmp:\n    pattern: (root)/tmp/(instance)\n    transient: true\ndevices:\n  tmp:\n    path: /tmp\n    filesystem: tmp\n    dir: .\n",
    );
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "merge.yaml",
            "#lxops-v1\nimage: img-(site)\nfilesystems:\n  fs:\n    pattern: pool/(instance)\n    zfsproperties:\n      compression: ~\ndevices:\n  base: &base\n    path: /a\n    filesystem: fs\n    dir: ./x//y/\n    readonly: yes\n  d2:\n    <<: *base\n    path: /b\n  root:\n    path: /r\n    filesystem: fs\n    dir: ./\n  trail:\n    path: /t\n    filesystem: fs\n    dir: t/\nproperties:\n  <<: {a: 1, b: 2}\n  b: 3\n  n: ~\nprofiles: [default, p2]\n",
            &[],
        ),
        (
            "precedence.yaml",
            "#lxops-v1\nimage: (site)-(only-global)-(a)\ninclude: [inc.yaml]\nprofiles: [top]\nproperties:\n  site: from-config\n  a: config\nfilesystems:\n  data:\n    pattern: (root)/(project_instance)\n    destroy: true\ndevices:\n  data:\n    path: /data\n    filesystem: data\n  abs:\n    path: /abs\n    dir: (root)/abs/(instance)\n",
            &["a=cli", "root=/srv/cli"],
        ),
        (
            "pattern.yaml",
            "#lxops-v1\nimage: x\nprofile-pattern: (instance)-(site).p\ndevice-owner: 1000:(a)\nproperties:\n  a: '1000'\nfilesystems:\n  z:\n    pattern: tank/(instance)/z\ndevices:\n  z:\n    path: /z\n    filesystem: z\n    dir: sub/(instance)\n",
            &[],
        ),
        (
            "nested.yaml",
            "#lxops-v1\nimage: top\ninclude: [sub/a.yaml, b.yaml, (cond)/c.yaml, (nope)/d.yaml]\nprofiles: [top]\nproperties:\n  k: top\nfilesystems:\n  data:\n    pattern: (root)/(instance)\ndevices:\n  a:\n    path: /a\n    filesystem: data\n",
            &["cond=cdir"],
        ),
    ];
    std::fs::create_dir_all(d.join("sub")).expect("mkdir");
    std::fs::create_dir_all(d.join("cdir")).expect("mkdir");
    write(
        "sub/a.yaml",
        "#lxops-v1\ninclude: [../inc.yaml]\nprofiles: [a]\nproperties:\n  k: a\n  ka: a\ndevices:\n  sa:\n    path: /sa\n    filesystem: data\n    dir: sa//x\n",
    );
    write(
        "b.yaml",
        "#lxops-v1\nprofiles: [b]\nproperties:\n  kb: b\n  k: b\nfilesystems:\n  data:\n    pattern: (root)/b/(instance)\n",
    );
    write(
        "cdir/c.yaml",
        "#lxops-v1\nprofiles: [c]\nproperties:\n  kc: (instance)\n",
    );
    let sources_of = |pairs: &[&str]| {
        let pairs: Vec<String> = pairs.iter().map(|p| p.to_string()).collect();
        PropertyOptions::from_args(Some(&global), &pairs)
            .load()
            .expect("properties")
    };
    let mut diffs = Vec::new();
    for (name, text, pairs) in cases {
        let file = write(name, text);
        let go = original(&oracle, d, &file, &global, pairs);
        assert!(
            go["instance_error"].is_null(),
            "{name}: the original refuses it: {go}"
        );
        let (loaded, instance) = ours(&file, &sources_of(pairs));
        assert!(instance.is_ok(), "{name}: lxops refuses it: {instance:?}");
        let (found, compared) = compare(name, &go, &loaded, &instance);
        assert_eq!(compared, 2, "{name}");
        diffs.extend(found);
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Configs both programs refuse when the device source is computed (`i verify`, `launch`):
/// a device-origin without `@snapshot`, or with more than one `@`.
#[test]
fn a_device_origin_without_one_snapshot_is_refused_by_both() {
    let oracle = oracle();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for origin in ["a1", "a1@", "a1@s@t"] {
        let file = d.join("c1.yaml");
        std::fs::write(
            &file,
            format!("#lxops-v1\nimage: x\ndevice-origin: {origin}\nfilesystems:\n  f:\n    pattern: p/(instance)\n"),
        )
        .expect("write");
        let global = d.join("none.yaml");
        std::fs::write(&global, "").expect("write");
        let output = Command::new(&oracle)
            .args(["json", "-source", "-properties"])
            .arg(&global)
            .arg(&file)
            .env("HOME", d)
            .output()
            .expect("oracle runs");
        let go: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert!(
            !go["instance_error"].is_null(),
            "{origin}: the original accepts it: {go}"
        );
        let sources = PropertySources::default();
        let formats = formats();
        let options = LoadOptions {
            formats: &formats,
            sources: &sources,
            strict: false,
            raw: false,
        };
        let loaded = config::load(&file, &options).expect("loads");
        let eval = EvalOptions {
            include_source: true,
            project: None,
        };
        let err = config::evaluate(&loaded, "c1", &sources, &eval)
            .expect_err("lxops refuses it")
            .to_string();
        assert!(err.contains("must be INSTANCE@SNAPSHOT"), "{origin}: {err}");
    }
}
