//! The offline commands through a real binary, on the demo config (shared by the tests of
//! both binaries through `#[path]`): `config print|formats`, `i filesystems|devices|
//! properties|verify` and `help config`, with an include, config properties and `-P`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The demo config in the repository.
fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo/demo.yaml")
}

/// Runs the binary with an empty home (no global property files); returns (status, stdout).
fn run(binary: &str, home: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(binary)
        .args(args)
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("running {binary}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{binary} {args:?} failed: {stderr}"
    );
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Every offline command gives what the demo config says, through `binary`.
pub fn check(binary: &str) {
    let home = tempfile::tempdir().expect("tempdir");
    let config = demo();
    let config = config.to_str().expect("utf-8 path");
    let home = home.path();
    let cases: &[(&[&str], &str)] = &[
        (&["config", "formats"], "#lxdops"),
        (
            &["config", "print", config],
            "pattern: (demo-root)/(instance)",
        ),
        (
            &["i", "filesystems", "-name", "d1", config],
            "/var/lib/lxops-demo/d1",
        ),
        (
            &[
                "i",
                "filesystems",
                "-name",
                "d1",
                "-P",
                "demo-root=/srv/x",
                config,
            ],
            "/srv/x/d1",
        ),
        (&["i", "devices", "-name", "d1", config], "/srv"),
        (
            &[
                "i",
                "properties",
                "-name",
                "d1",
                "-P",
                "site=athens",
                config,
            ],
            "athens",
        ),
        (&["i", "verify", "-name", "d1", config], "d1"),
        (&["help", "config"], "device-template"),
    ];
    for (args, expected) in cases {
        let (_, stdout) = run(binary, home, args);
        assert!(
            stdout.contains(expected),
            "{binary} {args:?}: expected {expected:?} in:\n{stdout}"
        );
    }
}
