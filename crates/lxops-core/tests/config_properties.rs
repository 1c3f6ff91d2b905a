//! Global properties: `properties.d/*.yaml` in name order (always), then `properties.yaml`
//! (missing files are fine), or `-properties FILE` instead of it, or `-properties ""` for no
//! file, and `-P` pairs.
//! One test only: it points `XDG_CONFIG_HOME` at a temporary directory.

use std::path::Path;

use lxops_core::config::{set_property, PropertyOptions};

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    map.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[test]
fn global_properties_layer_properties_d_then_the_file_then_p() {
    let home = tempfile::tempdir().expect("tempdir");
    std::env::set_var("XDG_CONFIG_HOME", home.path());
    let dir = home.path().join("lxops");

    // Nothing exists yet: an empty set, not an error.
    let none = PropertyOptions::from_args(None, &[]).load().expect("loads");
    assert!(none.global.is_empty());

    std::fs::create_dir_all(dir.join("properties.d")).unwrap();
    std::fs::write(dir.join("properties.d/b.yaml"), "a: from-b\nb: b\n").unwrap();
    std::fs::write(dir.join("properties.d/a.yaml"), "a: from-a\nx: 1\n").unwrap();
    std::fs::write(dir.join("properties.d/ignored.txt"), "a: txt\n").unwrap();
    set_property(&dir.join("properties.yaml"), "b", "from-file").unwrap();

    let other = home.path().join("other.yaml");
    std::fs::write(&other, "b: from-other\n").unwrap();
    // properties.d is always read (as the original), the properties file on top of it.
    let cases: &[(Option<&Path>, &[&str], &[&str])] = &[
        (None, &[], &["a=from-b", "b=from-file", "x=1"]),
        (Some(Path::new("")), &[], &["a=from-b", "b=b", "x=1"]),
        (Some(&other), &[], &["a=from-b", "b=from-other", "x=1"]),
        (
            Some(&dir.join("properties.d/a.yaml")),
            &["k=v=w"],
            &["a=from-a", "b=b", "x=1"],
        ),
    ];
    for (file, p, want_global) in cases {
        let pairs_in: Vec<String> = p.iter().map(|s| s.to_string()).collect();
        let sources = PropertyOptions::from_args(*file, &pairs_in)
            .load()
            .expect("loads");
        assert_eq!(pairs(&sources.global), *want_global, "{file:?}");
        assert_eq!(pairs(&sources.cli), *p, "-P is split at the first =");
    }
    assert_eq!(
        PropertyOptions::from_args(None, &[]).properties_file(),
        Some(dir.join("properties.yaml"))
    );

    for bad in ["novalue", "=x", "\u{1b}[2J"] {
        let err = PropertyOptions::from_args(None, &[bad.to_string()])
            .load()
            .expect_err("bad -P");
        let shown = lxops_core::input::escape_controls(bad);
        assert_eq!(
            err.to_string(),
            format!("-P {shown}: expected KEY=VALUE with a non-empty key")
        );
    }

    let missing = dir.join("missing.yaml");
    let err = PropertyOptions::from_args(Some(&missing), &[])
        .load()
        .expect_err("an explicit file must exist");
    assert!(
        err.to_string().contains("missing.yaml: cannot read"),
        "{err}"
    );

    std::fs::write(dir.join("properties.d/c.yaml"), "[a, b]\n").unwrap();
    let err = PropertyOptions::from_args(None, &[])
        .load()
        .expect_err("not a map");
    assert!(
        err.to_string().contains("c.yaml: bad properties file"),
        "{err}"
    );
}

#[test]
fn a_bad_property_file_names_the_line() {
    let cases = [
        ("a: 1\na: 2\n", "p.yaml: bad properties file: line 2: duplicate entry with key \"a\""),
        ("a: 1\nb: [\n", "p.yaml: bad properties file: line 3: did not find expected node content"),
        ("a: 1\nb: 2\nc: {x: 1}\n", "p.yaml: bad properties file: line 3: `c`: keys and values must be text, numbers or booleans"),
        ("- a\n", "p.yaml: bad properties file: not a map"),
    ];
    for (text, want) in cases {
        let err = lxops_core::config::parse_properties(std::path::Path::new("p.yaml"), text)
            .expect_err("refused")
            .to_string();
        assert!(err.starts_with(want), "{want:?} not in {err}");
    }
}

#[test]
fn a_property_file_that_is_not_a_regular_file_is_refused() {
    let cases = [
        (
            "/dev/zero",
            "/dev/zero: cannot read the file: it is a character device",
        ),
        ("/", "/: cannot read the file: it is a directory"),
    ];
    for (file, want) in cases {
        let err = lxops_core::config::read_properties(std::path::Path::new(file))
            .expect_err("refused")
            .to_string();
        assert!(err.contains(want), "{want:?} not in {err}");
    }
}
