//! Every `tests/fixtures/NAME.lxdops` migrates to exactly `tests/fixtures/NAME.lxops`, and the
//! result reads as a valid `#lxops-v1` config through the registry.

use std::path::Path;

use lxops_core::config::{parse_bytes, Formats};

#[test]
fn every_fixture_pair_migrates_to_its_expected_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut formats = Formats::new();
    lxops_migrator_lxdops::register(&mut formats);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "lxdops"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 3, "fixtures missing in {}", dir.display());
    for input in inputs {
        let bytes = std::fs::read(&input).expect("read input");
        let expected = std::fs::read_to_string(input.with_extension("lxops")).expect("expected");
        let got = lxops_migrator_lxdops::migrate(&bytes).expect("migrates");
        assert_eq!(
            String::from_utf8(got).unwrap().trim(),
            expected.trim(),
            "{}",
            input.display()
        );
        parse_bytes(&input, bytes, &formats, false)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    }
}

#[test]
fn a_non_map_os_is_an_error() {
    let err = lxops_migrator_lxdops::migrate(b"#lxdops\nos: alpine\n").expect_err("fails");
    assert!(err.contains("`os` must be a map"), "{err}");
}
