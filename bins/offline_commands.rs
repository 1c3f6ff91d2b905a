//! The offline commands through a real binary, on the demo config (shared by the tests of
//! both binaries through `#[path]`): `config print|formats`, `i filesystems|devices|
//! properties|verify` and `help config`, with an include, config properties and `-P`; and
//! the flags of `i`, `config` and `property` before and after the subcommand name.

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
        .env_remove("XDG_CONFIG_HOME")
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
    group_flags_work_before_and_after_the_subcommand(binary, home, config);
}

/// (group, flags, subcommand, arguments, expected in stdout).
type GroupCase<'a> = (&'a str, &'a [&'a str], &'a str, &'a [&'a str], &'a str);

/// The original parses a command group's flags before the subcommand name (`lxops i -name x
/// verify f.yaml`); both that position and after the subcommand name give the same output,
/// for every `i`, `config` and `property` subcommand. A flag neither position takes is exit 2,
/// naming it.
fn group_flags_work_before_and_after_the_subcommand(binary: &str, home: &Path, config: &str) {
    let props = home.join("p.yaml");
    std::fs::write(&props, "demo-root: /srv/p\n").expect("write p.yaml");
    // properties.d is always read, under the -properties file (as the original).
    let dir = home.join(".config/lxops/properties.d");
    std::fs::create_dir_all(&dir).expect("properties.d");
    std::fs::write(dir.join("site.yaml"), "from-d: yes-d\ndemo-root: /srv/d\n")
        .expect("write site.yaml");
    let props = props.to_str().expect("utf-8 path");
    let cases: &[GroupCase] = &[
        ("i", &["-name", "d1"], "verify", &[config], "d1"),
        ("i", &["-name", "d1"], "description", &[config], "busybox"),
        (
            "i",
            &["-name", "d1", "-P", "site=x"],
            "properties",
            &[config],
            "site",
        ),
        (
            "i",
            &["-name", "d1", "-properties", props],
            "filesystems",
            &[config],
            "/var/lib/lxops-demo/d1",
        ),
        (
            "i",
            &["-name", "d1", "-P", "demo-root=/srv/x"],
            "devices",
            &[config],
            "/srv",
        ),
        ("i", &["-name", "d1"], "project", &[config], ""),
        (
            "config",
            &["-raw"],
            "print",
            &[config],
            "include/devices.yaml",
        ),
        ("config", &["-raw"], "parse", &[config], ""),
        (
            "config",
            &["-P", "a=b"],
            "properties",
            &[config],
            "demo-root",
        ),
        ("config", &["-properties", props], "packages", &[config], ""),
        (
            "config",
            &["-P", "a=b"],
            "cloud-config",
            &[config],
            "motd.cfg",
        ),
        ("config", &["-raw"], "includes", &[config], "devices.yaml"),
        (
            "property",
            &["-properties", props],
            "set",
            &["k1", "v1"],
            "",
        ),
        ("property", &["-properties", props], "get", &["k1"], "v1"),
        ("property", &["-properties", props], "list", &[], "yes-d"),
        (
            "property",
            &["-properties", props],
            "get",
            &["demo-root"],
            "/srv/p",
        ),
        (
            "property",
            &["-properties", props],
            "get",
            &["from-d"],
            "yes-d",
        ),
        ("property", &["-properties", props], "file", &[], "p.yaml"),
    ];
    for (group, flags, sub, rest, expected) in cases {
        let before: Vec<&str> = [&[*group][..], flags, &[*sub], rest].concat();
        let after: Vec<&str> = [&[*group, *sub][..], flags, rest].concat();
        let (_, got_before) = run(binary, home, &before);
        let (_, got_after) = run(binary, home, &after);
        assert_eq!(got_before, got_after, "{before:?} vs {after:?}");
        assert!(
            got_before.contains(expected),
            "{before:?}: expected {expected:?} in:\n{got_before}"
        );
    }
    let refused: &[(&[&str], &str)] = &[
        (&["i", "-raw", "verify", config], "--raw"),
        (&["i", "verify", "-raw", config], "--raw"),
        (&["config", "-name", "d1", "print", config], "--name"),
        (&["config", "print", "-name", "d1", config], "--name"),
        (&["property", "-o", "x", "list"], "-o"),
    ];
    for (args, flag) in refused {
        let output = Command::new(binary)
            .args(*args)
            .env("HOME", home)
            .output()
            .unwrap_or_else(|e| panic!("running {binary}: {e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {flag:?} not in {stderr}");
    }
}
