//! `crates/lxops-core/examples/embed.rs`, the example of embedding lxops, run as a built
//! program on both daemons (so it cannot rot): it launches, checks, rebuilds and deletes two
//! instances through `lxops_core::ops` and prints the fleet runner's progress events.

use std::path::PathBuf;
use std::process::Command;

use crate::cli::{instance_exists, profile_exists, server};
use lxops_tests::{unique_name, Cleanup, DAEMONS};

/// The example program, built once per test run.
fn embed_example() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    BUILT.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--quiet", "-p", "lxops-core", "--example", "embed"])
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "building the embed example failed: {status:?}"
        );
    });
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|d| root.join(d))
        .unwrap_or_else(|| root.join("target"));
    target.join("debug").join("examples").join("embed")
}

#[test]
fn the_embed_example_launches_checks_rebuilds_and_deletes_two_instances() {
    let example = embed_example();
    for daemon in DAEMONS {
        let server = server(daemon);
        let prefix = unique_name("t-embed");
        let names = [format!("{prefix}-1"), format!("{prefix}-2")];
        let mut cleanup = Cleanup::new(daemon);
        for name in &names {
            cleanup.instance(name);
            cleanup.profile(&format!("{name}.lxops"));
        }
        let out = Command::new(&example)
            .args([&daemon.to_string(), lxops_tests::BUSYBOX, &prefix])
            .output()
            .expect("running the embed example");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{daemon}: {:?}\n{stdout}\n{stderr}",
            out.status
        );
        // The phases in order, each with both instances' events.
        let phases: Vec<&str> = stdout.lines().filter(|l| l.starts_with("== ")).collect();
        assert_eq!(
            phases,
            [
                "== launch",
                "== status",
                "== rebuild",
                "== status",
                "== delete"
            ],
            "{daemon}:\n{stdout}"
        );
        for name in &names {
            for want in [
                format!("[{name}] started"),
                format!("[{name}] create instance {name}"),
                format!("{name}: Running, matches its config"),
            ] {
                assert!(
                    stdout.lines().any(|l| l.starts_with(&want)),
                    "{daemon}: no line {want:?} in\n{stdout}"
                );
            }
            let oks = stdout
                .lines()
                .filter(|l| l.starts_with(&format!("[{name}] ok in ")))
                .count();
            assert_eq!(
                oks, 3,
                "{daemon}: launch, rebuild and delete of {name}:\n{stdout}"
            );
            // It cleaned up after itself.
            assert!(!instance_exists(&server, name), "{daemon}: {name} is left");
            assert!(
                !profile_exists(&server, &format!("{name}.lxops")),
                "{daemon}: profile of {name} is left"
            );
        }
    }
}

#[test]
fn the_embed_example_refuses_an_unknown_daemon_with_status_2() {
    let out = Command::new(embed_example())
        .arg("docker")
        .output()
        .expect("running the embed example");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown daemon \"docker\""), "{stderr}");
}
