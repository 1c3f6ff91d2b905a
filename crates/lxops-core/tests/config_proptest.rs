//! Property-based tests (proptest) of the config reader, `(name)` substitution, includes,
//! property files and the cloud-config parser, through their public API: on any input they
//! return in bounded time without a panic, every error names the file it is about, and a
//! config that reads prints back (`config print`) to text that reads as the same config.
//! Sizes are bounded so every case is fast; the hostile corpus in `data/hostile/` covers the
//! named cases of issue 11 through the real binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lxops_core::config::{
    evaluate, load, parse_bytes, parse_properties, substitute, EvalOptions, Formats, LoadOptions,
    PropertySources,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Characters that are special somewhere in YAML, in a message, or in a pattern.
const TRICKY: &[char] = &[
    '"', '\'', ':', '#', '&', '*', '!', '%', '@', '`', '|', '>', '{', '}', '[', ']', ',', '?', '-',
    ' ', '\t', '\n', '\r', '(', ')', '/', '\\', '~', '\u{1b}', '\u{7}', '\u{0}', '\u{85}',
    '\u{feff}', '\u{202e}', 'é', 'a', 'z', '0', '1', '.',
];

fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TRICKY), 0..max)
        .prop_map(|c| c.into_iter().collect())
}

/// A YAML scalar as written: plain words that YAML 1.1 or 1.2 read as something else,
/// quoted strings with escapes, and arbitrary tricky text.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "Yes",
            "NO",
            "true",
            "False",
            "~",
            "null",
            "",
            "0",
            "1",
            "-1",
            "0x10",
            "0o7",
            "1e3",
            ".inf",
            ".nan",
            "0644",
            "\"yes\"",
            "'no'",
            "\"\\e[31m\"",
            "\"\\u202e\"",
            "\"\\0\"",
            "!!binary aGk=",
            "!!str 1",
            "!custom x",
            "&x a",
            "*x",
            "*nope",
            "(instance)",
            "/srv/(instance)",
            "(",
            ")",
            "()",
            "((a))",
            "|\n  block\n",
            ">\n  folded\n",
            "[a, ~, 1]",
            "{a: 1}",
            "[",
            "{",
            "- a",
        ])
        .prop_map(str::to_string),
        tricky_string(12),
        tricky_string(12).prop_map(|s| format!("{s:?}")),
        "[a-z0-9/().-]{0,12}",
        "[a-z0-9/().-]{0,12}",
    ]
}

/// A value: a scalar, or a small flow or block list or map of them (nested once).
fn value() -> impl Strategy<Value = String> {
    let leaf = scalar();
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key(), inner.clone()), 0..4).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
            prop::collection::vec(inner, 0..3).prop_map(|v| {
                let items: Vec<String> = v.into_iter().map(|i| format!("\n  - {i}")).collect();
                items.concat()
            }),
        ]
    })
}

/// A key: the model's keys (so values reach the typed fields), and others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
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
            "pattern",
            "type",
            "zfsproperties",
            "destroy",
            "transient",
            "path",
            "filesystem",
            "dir",
            "readonly",
            "<<",
            "? a",
            "\"quoted\"",
        ])
        .prop_map(str::to_string),
        1 => tricky_string(6),
    ]
}

/// Block-style filesystems and devices with generated fields (where the booleans live).
fn entries() -> impl Strategy<Value = String> {
    let fs_field = prop::sample::select(vec![
        "pattern",
        "type",
        "destroy",
        "transient",
        "zfsproperties",
        "size",
    ]);
    let dev_field = prop::sample::select(vec!["path", "filesystem", "dir", "readonly", "colour"]);
    (
        prop::collection::vec((fs_field, value()), 0..4),
        prop::collection::vec((dev_field, value()), 0..4),
    )
        .prop_map(|(fs, dev)| {
            let mut text = String::from("filesystems:\n  data:\n");
            for (k, v) in fs {
                text.push_str(&format!("    {k}: {v}\n"));
            }
            text.push_str("devices:\n  d:\n");
            for (k, v) in dev {
                text.push_str(&format!("    {k}: {v}\n"));
            }
            text
        })
}

/// A config text: a header (mostly the right one), top-level pairs, maybe entries.
fn config_text() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            6 => Just("#lxops-v1\n"),
            1 => prop::sample::select(vec![
                "#lxops-v1\r\n",
                "\u{feff}#lxops-v1\n",
                "#lxdops\n",
                "#nope\n",
                "",
            ]),
        ],
        prop::collection::vec((key(), value()), 0..8),
        prop::option::of(entries()),
    )
        .prop_map(|(header, pairs, entries)| {
            let mut text = header.to_string();
            for (k, v) in pairs {
                text.push_str(&format!("{k}: {v}\n"));
            }
            if let Some(e) = entries {
                text.push_str(&e);
            }
            text
        })
}

/// The message names `file` (its control characters escaped, as every message does).
fn names(message: &str, file: &Path) -> bool {
    message.contains(&lxops_core::input::escape_path(file))
}

fn no_raw_controls(message: &str) -> bool {
    !message.chars().any(|c| c.is_control() && c != '\n')
}

fn eval(loaded: &lxops_core::config::Loaded, sources: &PropertySources) -> Result<(), String> {
    let options = EvalOptions {
        include_source: true,
        project: None,
    };
    match evaluate(loaded, "a1", sources, &options) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes: no panic; an error names the file.
    #[test]
    fn any_bytes_read_or_fail_naming_the_file(
        header in prop::sample::select(vec!["#lxops-v1\n", ""]),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let file = Path::new("dir/a1.yaml");
        let mut all = header.as_bytes().to_vec();
        all.extend(bytes);
        if let Err(e) = parse_bytes(file, all, &Formats::new(), false) {
            let e = e.to_string();
            prop_assert!(names(&e, file), "{e}");
            prop_assert!(no_raw_controls(&e), "{e:?}");
        }
    }

    /// YAML-shaped configs with hostile values: reading and evaluating never panics, errors
    /// name the file, and what reads prints back to the same config.
    #[test]
    fn generated_configs_read_evaluate_and_print_back(text in config_text(), strict in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a1.yaml");
        std::fs::write(&file, &text).expect("write");
        let formats = Formats::new();
        let sources = PropertySources::default();
        let options = LoadOptions { formats: &formats, sources: &sources, strict, raw: true };
        match load(&file, &options) {
            Err(e) => {
                let e = e.to_string();
                prop_assert!(names(&e, &file), "{e}");
                prop_assert!(no_raw_controls(&e), "{e:?}");
            }
            Ok(loaded) => {
                if let Err(e) = eval(&loaded, &sources) {
                    prop_assert!(names(&e, &file), "{e}");
                    prop_assert!(no_raw_controls(&e), "{e:?}");
                }
                let printed = loaded.config.to_yaml();
                let again = parse_bytes(&file, printed.clone().into_bytes(), &formats, true);
                prop_assert!(again.is_ok(), "printed config does not read: {again:?}\n{printed}");
                let again = again.expect("checked").config;
                prop_assert_eq!(&again, &loaded.config, "printed:\n{}", printed);
            }
        }
    }

    /// Substitution is one pass: every defined `(name)` is replaced, values are not
    /// substituted again, and an error is a name that is in the pattern and undefined.
    #[test]
    fn substitution_is_one_pass_and_reports_an_undefined_name(
        pattern in prop::collection::vec(prop::sample::select(vec!['(', ')', 'a', 'b', 'c', '/', 'x']), 0..24),
        defined in prop::collection::btree_map(prop::sample::select(vec!["a", "b", "ab", ""]), prop::sample::select(vec!["A", "(a)", "", "B(C"]), 0..4),
    ) {
        let pattern: String = pattern.into_iter().collect();
        let lookup = |k: &str| defined.get(k).map(|v| v.to_string());
        match substitute(&pattern, &lookup) {
            Ok(out) => {
                if !pattern.contains('(') {
                    prop_assert_eq!(&out, &pattern);
                }
                // With values that are not empty and have no parentheses, no `(name)` can form
                // again from a value and the text around it.
                let plain = defined
                    .values()
                    .all(|v| !v.is_empty() && !v.contains('(') && !v.contains(')'));
                if plain {
                    for name in defined.keys() {
                        prop_assert!(!out.contains(&format!("({name})")), "{pattern} -> {out}");
                    }
                }
            }
            Err(name) => {
                prop_assert!(pattern.contains(&format!("({name})")), "{pattern}: {name}");
                prop_assert!(!defined.contains_key(name.as_str()));
            }
        }
    }

    /// Random include graphs over a few files, with missing, special and conditional
    /// entries: loading ends, never panics, and an error names a file of the graph.
    #[test]
    fn include_graphs_load_or_fail_naming_a_file(
        edges in prop::collection::vec(prop::collection::vec(0usize..9, 0..4), 1..6),
        defined in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = edges.len();
        let entry = |target: usize| -> String {
            match target {
                t if t < n => format!("f{t}.yaml"),
                6 => "missing.yaml".to_string(),
                7 => "/dev/zero".to_string(),
                _ => "(site)/f0.yaml".to_string(),
            }
        };
        for (i, targets) in edges.iter().enumerate() {
            let list: Vec<String> = targets.iter().map(|t| format!("'{}'", entry(*t))).collect();
            let text = format!("#lxops-v1\nimage: i{i}\nproperties:\n  p{i}: v\ninclude: [{}]\n", list.join(", "));
            std::fs::write(dir.path().join(format!("f{i}.yaml")), text).expect("write");
        }
        let mut sources = PropertySources::default();
        if defined {
            sources.cli.insert("site".to_string(), dir.path().display().to_string());
        }
        let formats = Formats::new();
        let options = LoadOptions { formats: &formats, sources: &sources, strict: true, raw: false };
        let top = dir.path().join("f0.yaml");
        match load(&top, &options) {
            Ok(loaded) => {
                prop_assert_eq!(loaded.config.image, "i0");
                prop_assert!(loaded.includes.len() < n.max(1) + 1);
            }
            Err(e) => {
                let e = e.to_string();
                let named = (0..n).any(|i| e.contains(&format!("f{i}.yaml")));
                prop_assert!(named, "{e}");
            }
        }
    }

    /// Property files: any text; no panic, errors name the file.
    #[test]
    fn property_files_read_or_fail_naming_the_file(
        pairs in prop::collection::vec((key(), value()), 0..6),
    ) {
        let file = PathBuf::from("props/properties.yaml");
        let text: String = pairs.into_iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        if let Err(e) = parse_properties(&file, &text) {
            let e = e.to_string();
            prop_assert!(names(&e, &file), "{e}");
            prop_assert!(no_raw_controls(&e), "{e:?}");
        }
    }

    /// cloud-config text with the modules and generated values: no panic, errors name the
    /// file.
    #[test]
    fn cloud_config_parses_or_fails_naming_the_file(
        header in prop::sample::select(vec!["#cloud-config\n", "#cloud-config\r\n", "#nope\n", ""]),
        pairs in prop::collection::vec((
            prop_oneof![
                prop::sample::select(lxops_core::cloudconfig::MODULES.to_vec()).prop_map(str::to_string),
                key(),
            ],
            value(),
        ), 0..6),
    ) {
        let file = PathBuf::from("cc/x.cfg");
        let mut text = header.to_string();
        for (k, v) in pairs {
            text.push_str(&format!("{k}: {v}\n"));
        }
        if let Err(e) = lxops_core::cloudconfig::parse(&text, &file) {
            let e = e.to_string();
            prop_assert!(names(&e, &file), "{e}");
        }
    }
}

/// The generators reach the interesting outcomes (so the properties above are not vacuous).
#[test]
fn the_generators_reach_both_outcomes() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let formats = Formats::new();
    let (mut ok, mut err) = (0, 0);
    let mut seen = BTreeMap::new();
    for _ in 0..300 {
        let text = config_text()
            .new_tree(&mut runner)
            .expect("a value")
            .current();
        match parse_bytes(Path::new("a1.yaml"), text.into_bytes(), &formats, false) {
            Ok(_) => ok += 1,
            Err(e) => {
                err += 1;
                let kind = e
                    .to_string()
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string();
                *seen.entry(kind).or_insert(0) += 1;
            }
        }
    }
    assert!(
        ok > 20,
        "only {ok} generated configs read ({err} failed: {seen:?})"
    );
    assert!(err > 20, "only {err} generated configs failed");
}
