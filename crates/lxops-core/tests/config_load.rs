//! Loading configs: includes merged post-order with the includer winning (and warning),
//! lists appended, duplicates skipped, conditional includes, per-file migration, and
//! substitution precedence for one instance.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lxops_core::config::{
    builtins, evaluate, instance_names, load, DeviceDir, EvalOptions, Formats, FsKind, LoadOptions,
    PropertySources,
};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(path)
}

fn formats() -> Formats {
    let mut formats = Formats::new();
    // A tiny #lxdops migrator for the core tests (the real one lives in its own crate).
    formats.register("#lxdops", |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes)
            .replacen("#lxdops", "#lxops-v1", 1)
            .replace("os:\n  name:", "ostype:");
        Ok(text.into_bytes())
    });
    formats
}

fn sources(cli: &[(&str, &str)], global: &[(&str, &str)]) -> PropertySources {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    PropertySources {
        global: map(global),
        cli: map(cli),
        files: Vec::new(),
    }
}

#[test]
fn includes_merge_post_order_with_the_includer_winning() {
    let formats = formats();
    let sources = sources(&[], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let loaded = load(&data("merge/top.yaml"), &options).expect("loads");
    let c = &loaded.config;
    assert_eq!(c.description, "the top file");
    assert_eq!(c.ostype, "alpine");
    assert_eq!(c.image, "top-image");
    assert_eq!(c.profiles, ["base", "top"]);
    assert_eq!(c.properties["shared"], "from-top");
    assert_eq!(c.properties["base-only"], "b");
    assert_eq!(c.filesystems["data"].pattern, "(root)/(instance)");
    assert!(c.filesystems.contains_key("tmp"));
    assert_eq!(
        c.cloud_config_files,
        [data("merge/inc/base.cfg"), data("merge/top.cfg")]
    );
    assert_eq!(loaded.includes, [data("merge/inc/base.yaml")]);
    assert_eq!(loaded.dropped.len(), 1, "{:?}", loaded.dropped);
    let warnings = loaded.warnings.join("\n");
    for expected in [
        "ostype: \"alpine\" overrides \"debian\"",
        "image: \"top-image\" overrides \"base-image\"",
        "properties.shared overrides the entry",
        "filesystems.data overrides the entry",
    ] {
        assert!(warnings.contains(expected), "{expected} not in\n{warnings}");
    }
    assert!(warnings.contains("base.yaml"), "{warnings}");
}

#[test]
fn a_conditional_include_is_merged_when_its_property_is_defined() {
    let formats = formats();
    for (cli, global) in [
        (vec![("site", "siteA")], vec![]),
        (vec![], vec![("site", "siteA")]),
    ] {
        let sources = sources(&cli, &global);
        let options = LoadOptions {
            formats: &formats,
            sources: &sources,
            strict: false,
            raw: false,
        };
        let loaded = load(&data("merge/top.yaml"), &options).expect("loads");
        assert_eq!(loaded.config.profiles, ["base", "site", "top"]);
        assert!(loaded.dropped.is_empty());
        assert_eq!(loaded.includes.len(), 2);
    }
    // An empty value counts as undefined.
    let sources = sources(&[("site", "")], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let loaded = load(&data("merge/top.yaml"), &options).expect("loads");
    assert_eq!(loaded.config.profiles, ["base", "top"]);
}

#[test]
fn raw_reads_only_the_file_itself() {
    let formats = formats();
    let sources = sources(&[], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: false,
        raw: true,
    };
    let loaded = load(&data("merge/top.yaml"), &options).expect("loads");
    assert_eq!(loaded.config.include.len(), 3);
    assert_eq!(loaded.config.profiles, ["top"]);
    assert!(loaded.includes.is_empty());
}

/// Property pairs.
type Pairs<'a> = &'a [(&'a str, &'a str)];
/// A precedence case.
type Case<'a> = (Pairs<'a>, Pairs<'a>, Option<&'a str>, &'a str);

#[test]
fn evaluation_substitutes_with_builtins_over_cli_over_config_over_global() {
    let formats = formats();
    // (-P properties, global properties, -project, the data filesystem's path)
    let cases: &[Case] = &[
        (&[], &[], None, "/top/a1"),
        (&[("root", "/cli")], &[("root", "/global")], None, "/cli/a1"),
        (&[], &[("root", "/global")], None, "/top/a1"),
        (&[("instance", "nope")], &[], None, "/top/a1"),
        (&[], &[], Some("p1"), "/top/a1"),
    ];
    for (cli, global, project, want) in cases {
        let sources = sources(cli, global);
        let options = LoadOptions {
            formats: &formats,
            sources: &sources,
            strict: false,
            raw: false,
        };
        let loaded = load(&data("merge/top.yaml"), &options).expect("loads");
        let eval = EvalOptions {
            include_source: true,
            project: project.map(str::to_string),
        };
        let instance = evaluate(&loaded, "a1", &sources, &eval).expect("valid");
        let data_fs = instance.filesystem("data").expect("data fs");
        assert_eq!(data_fs.path, *want, "{cli:?} {global:?}");
        assert_eq!(data_fs.kind, FsKind::Dir);
        assert_eq!(instance.filesystem("tmp").unwrap().kind, FsKind::Dir);
        assert_eq!(instance.project, project.unwrap_or(""));
        assert_eq!(instance.profile, "a1.lxops");
        assert_eq!(instance.devices[0].name, "home");
        assert_eq!(instance.devices[0].dir, DeviceDir::Relative("home".into()));
        assert_eq!(instance.devices[1].dir, DeviceDir::FilesystemRoot);
        for (k, v) in cli.iter() {
            // A built-in's name is never effective: patterns always use the built-in.
            let want = (!builtins("a1", "").contains_key(*k)).then_some(*v);
            assert_eq!(
                instance.properties.get(*k).map(String::as_str),
                want,
                "-P wins in effective properties, except over a built-in"
            );
        }
    }
}

#[test]
fn builtin_project_properties() {
    let cases = [
        ("", "default", "", "a1"),
        ("default", "default", "", "a1"),
        ("p1", "p1", "p1/", "p1_a1"),
    ];
    for (project, p, slash, pi) in cases {
        let b = lxops_core::config::builtins("a1", project);
        assert_eq!(b["instance"], "a1");
        assert_eq!(b["project"], p);
        assert_eq!(b["project/"], slash);
        assert_eq!(b["project_instance"], pi);
    }
}

#[test]
fn instance_names_come_from_the_file_or_the_name_list() {
    let files = vec![PathBuf::from("d/a.b.yaml"), PathBuf::from("c1.yaml")];
    let names = |files: &[PathBuf], names: &[&str]| -> Result<Vec<String>, String> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        instance_names(files, &names)
            .map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(f, n)| format!("{}={n}", f.display()))
                    .collect()
            })
            .map_err(|e| e.to_string())
    };
    type Case<'a> = (&'a [PathBuf], &'a [&'a str], Result<Vec<&'a str>, &'a str>);
    let cases: &[Case] = &[
        (&files, &[], Ok(vec!["d/a.b.yaml=a.b", "c1.yaml=c1"])),
        (&files[..1], &["x"], Ok(vec!["d/a.b.yaml=x"])),
        (
            &files[..1],
            &["w1", "w2", "w3"],
            Ok(vec!["d/a.b.yaml=w1", "d/a.b.yaml=w2", "d/a.b.yaml=w3"]),
        ),
        (&files, &["x"], Err("-name can be used with only one config file (2 given); give each file its own run, or list several names for one file: -name a1,a2")),
        (&files[..1], &["a", ""], Err("-name has an empty instance name; list names separated by commas: -name a1,a2")),
    ];
    for (files, given, want) in cases {
        let want = want
            .clone()
            .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .map_err(str::to_string);
        assert_eq!(names(files, given), want, "{given:?}");
    }
}

#[test]
fn scalars_of_any_type_are_read_as_text_in_string_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a1.yaml");
    std::fs::write(
        &file,
        "#lxops-v1\nimage: 3.18\ndevice-owner: 0644\nproperties:\n  uid: 1000\n  on: yes\nfilesystems:\n  a:\n    pattern: z/(instance)\n    zfsproperties:\n      compression: on\n      quota: 10\n    destroy: yes\n    transient: off\n",
    )
    .expect("write");
    let formats = Formats::new();
    let sources = sources(&[], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: true,
        raw: false,
    };
    let c = load(&file, &options).expect("loads").config;
    assert_eq!(c.image, "3.18");
    assert_eq!(c.device_owner, "0644");
    assert_eq!(c.properties["uid"], "1000");
    assert_eq!(c.properties["on"], "yes");
    let fs = &c.filesystems["a"];
    assert_eq!(fs.zfsproperties["compression"], "on");
    assert_eq!(fs.zfsproperties["quota"], "10");
    assert!(fs.destroy);
    assert!(!fs.transient);
}

#[test]
fn the_source_instance_comes_from_source_config_without_cli_properties() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("src.yaml"),
        "#lxops-v1\nfilesystems:\n  data:\n    pattern: /srv/(where)/(instance)\nproperties:\n  where: src\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a1.yaml"),
        "#lxops-v1\ndevice-template: (tmpl)\nsource-config: src.yaml\nproperties:\n  tmpl: t1\n  where: here\nfilesystems:\n  data:\n    pattern: /srv/(where)/(instance)\n",
    )
    .unwrap();
    let formats = Formats::new();
    let sources = sources(&[("where", "cli")], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: true,
        raw: false,
    };
    let loaded = load(&dir.path().join("a1.yaml"), &options).expect("loads");
    let eval = EvalOptions {
        include_source: true,
        project: None,
    };
    let instance = evaluate(&loaded, "a1", &sources, &eval).expect("valid");
    assert_eq!(instance.device_template.as_deref(), Some("t1"));
    assert_eq!(instance.filesystems[0].path, "/srv/cli/a1");
    assert_eq!(instance.source_config, Some(dir.path().join("src.yaml")));
    let source = lxops_core::config::evaluate_source(&loaded, &instance, "t1", &formats, &sources)
        .expect("source");
    assert_eq!(source.name, "t1");
    assert_eq!(source.filesystems[0].path, "/srv/src/t1");
}

#[test]
fn booleans_are_read_as_the_originals_yaml_v2_reads_them() {
    // (value as written, Some(bool) or None for an error): unquoted YAML 1.1 words in
    // lower, Title or UPPER case are booleans; quoted strings, numbers and mixed case are not.
    let cases: &[(&str, Option<bool>)] = &[
        ("true", Some(true)),
        ("True", Some(true)),
        ("yes", Some(true)),
        ("YES", Some(true)),
        ("on", Some(true)),
        ("y", Some(true)),
        ("Y", Some(true)),
        ("false", Some(false)),
        ("No", Some(false)),
        ("OFF", Some(false)),
        ("n", Some(false)),
        ("~", Some(false)),
        ("", Some(false)),
        ("null", Some(false)),
        ("\"yes\"", None),
        ("'true'", None),
        ("\"y\\x65s\"", None),
        ("yEs", None),
        ("1", None),
        ("0", None),
        ("maybe", None),
    ];
    let formats = Formats::new();
    for (written, want) in cases {
        let text =
            format!("#lxops-v1\nfilesystems:\n  a:\n    pattern: z/a\n    destroy: {written}\n");
        let got = lxops_core::config::parse_bytes(
            Path::new("a1.yaml"),
            text.into_bytes(),
            &formats,
            true,
        );
        match (want, got) {
            (Some(b), Ok(read)) => {
                assert_eq!(read.config.filesystems["a"].destroy, *b, "{written}")
            }
            (None, Err(e)) => {
                let e = e.to_string();
                assert!(
                    e.starts_with("a1.yaml: line 5: filesystems.a.destroy: expected a boolean"),
                    "{written}: {e}"
                );
            }
            (want, got) => panic!("{written}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn a_null_in_a_string_list_or_map_is_empty_as_in_the_original() {
    let text = "#lxops-v1\nprofiles: [a, ~, null, 'null', '~']\nlxc-options: [~]\nproperties:\n  a: ~\n  b: null\n  c: 'null'\nfilesystems:\n  f:\n    pattern: z/f\n    zfsproperties:\n      x: ~\n";
    let read = lxops_core::config::parse_bytes(
        Path::new("a1.yaml"),
        text.as_bytes().to_vec(),
        &Formats::new(),
        true,
    )
    .expect("parses");
    let c = read.config;
    assert_eq!(c.profiles, ["a", "", "", "null", "~"]);
    assert_eq!(c.lxc_options, [""]);
    let props: Vec<(&str, &str)> = c
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(props, [("a", ""), ("b", ""), ("c", "null")]);
    assert_eq!(c.filesystems["f"].zfsproperties["x"], "");
}

#[test]
fn merge_keys_clean_device_dirs_and_a_substituted_mountpoint_as_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a1.yaml");
    std::fs::write(
        &file,
        "#lxops-v1\nimage: x\nfilesystems:\n  fs:\n    pattern: z/(instance)\n    zfsproperties:\n      mountpoint: /srv/(instance)\n      compression: (instance)\ndevices:\n  base: &base\n    path: /a\n    filesystem: fs\n    dir: ./x//y/\n    readonly: yes\n  d2:\n    <<: *base\n    path: /b\n  root:\n    path: /r\n    filesystem: fs\n    dir: ./\n  abs:\n    path: /abs\n    dir: /h//a/\nproperties:\n  <<: {a: 1, b: 2, c: 0x10}\n  b: 3\n",
    )
    .expect("write");
    let formats = Formats::new();
    let sources = sources(&[], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: true,
        raw: false,
    };
    let loaded = load(&file, &options).expect("loads");
    let c = &loaded.config;
    // The merged map's own keys win over the merged ones; numbers are text.
    let props: Vec<(&str, &str)> = c
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(props, [("a", "1"), ("b", "3"), ("c", "16")]);
    assert_eq!(c.devices["d2"].path, "/b");
    assert_eq!(c.devices["d2"].filesystem, "fs");
    assert_eq!(
        c.devices["d2"].dir, "./x//y/",
        "the config keeps dir as written"
    );
    assert!(c.devices["d2"].readonly);
    assert_eq!(loaded.warnings, Vec::<String>::new());

    let eval = EvalOptions::default();
    let instance = evaluate(&loaded, "a1", &sources, &eval).expect("valid");
    let dirs: Vec<(&str, String)> = instance
        .devices
        .iter()
        .map(|d| (d.name.as_str(), d.dir.to_string()))
        .collect();
    // Relative dirs are cleaned as the original's filepath.Join does; absolute ones are not.
    assert_eq!(
        dirs,
        [
            ("abs", "/h//a/".to_string()),
            ("base", "x/y".to_string()),
            ("d2", "x/y".to_string()),
            ("root", ".".to_string()),
        ]
    );
    let fs = instance.filesystem("fs").expect("fs");
    assert_eq!(fs.zfsproperties["mountpoint"], "/srv/a1");
    assert_eq!(fs.zfsproperties["compression"], "(instance)");
}

#[test]
fn a_line_in_a_migrated_file_is_named_as_a_line_of_the_migrated_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a1.yaml");
    // The test migrator turns `os:\n  name:` into `ostype:`, one line shorter.
    std::fs::write(
        &file,
        "#lxdops\nos:\n  name: alpine\nprofiles: 3\ncolour: red\n",
    )
    .expect("write");
    let formats = formats();
    let sources = sources(&[], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let err = load(&file, &options)
        .expect_err("profiles is not a list")
        .to_string();
    assert!(
        err.ends_with("a1.yaml: profiles: invalid type: integer `3`, expected a sequence (line 3 of the config as migrated from #lxdops; `lxops config convert` writes it out); fix the YAML"),
        "{err}"
    );
    // Unknown keys are looked up in the file as written.
    std::fs::write(&file, "#lxdops\nos:\n  name: alpine\ncolour: red\n").expect("write");
    let loaded = load(&file, &options).expect("loads");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].ends_with("a1.yaml: line 4: unknown key `colour` (ignored)"),
        "{:?}",
        loaded.warnings
    );
}

/// An include cycle skips the file that is being read already, with a warning naming the
/// cycle (as the original); everything else of every file is merged once.
#[test]
fn an_include_cycle_skips_the_repeated_file_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).expect("write");
        dir.path().join(name)
    };
    let top = write(
        "a1.yaml",
        "#lxops-v1\nimage: x\nprofiles: [a]\ninclude: [b.yaml]\n",
    );
    write("b.yaml", "#lxops-v1\nprofiles: [b]\ninclude: [c.yaml]\n");
    write(
        "c.yaml",
        "#lxops-v1\nprofiles: [c]\ninclude: [a1.yaml, b.yaml]\n",
    );
    let formats = formats();
    let sources = sources(&[], &[]);
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let loaded = load(&top, &options).expect("a cycle is not an error");
    assert_eq!(loaded.config.profiles, ["c", "b", "a"]);
    let warnings = loaded.warnings.join("\n");
    for want in [
        "c.yaml: include cycle: ",
        "a1.yaml -> ",
        "skipping ",
        "a1.yaml (it is being read already)",
        "b.yaml (it is being read already)",
    ] {
        assert!(warnings.contains(want), "{want:?} not in\n{warnings}");
    }
}

/// `target` (an lxops extension): a pattern, the includer's value wins over an include's, and
/// one that substitutes to nothing means no target (the scheduler places the instance).
#[test]
fn target_is_a_pattern_merged_like_other_scalars() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("base.yaml"),
        "#lxops-v1\nimage: x\ntarget: m1\n",
    )
    .expect("write");
    for (what, top, cli, expected) in [
        (
            "from the include",
            "include:\n- base.yaml\n",
            vec![],
            Some("m1"),
        ),
        (
            "the includer wins",
            "include:\n- base.yaml\ntarget: m2\n",
            vec![],
            Some("m2"),
        ),
        (
            "a property",
            "image: x\ntarget: (member)\n",
            vec![("member", "m3")],
            Some("m3"),
        ),
        (
            "a property that is empty",
            "image: x\ntarget: (member)\n",
            vec![("member", "")],
            None,
        ),
        ("none", "image: x\n", vec![], None),
    ] {
        let file = dir.path().join("a1.yaml");
        std::fs::write(&file, format!("#lxops-v1\n{top}")).expect("write");
        let formats = formats();
        let sources = sources(&cli, &[]);
        let options = LoadOptions {
            formats: &formats,
            sources: &sources,
            strict: false,
            raw: false,
        };
        let loaded = load(&file, &options).expect(what);
        let instance = evaluate(&loaded, "a1", &sources, &EvalOptions::default()).expect(what);
        assert_eq!(instance.target.as_deref(), expected, "{what}");
    }
}
