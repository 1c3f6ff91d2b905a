//! Fleets through the command line on both daemons: several instances from one config
//! (`-name a,b,c`, `-name` repeated), `-j`, failure isolation and the summary, `--fail-fast`,
//! and names that would race for one instance refused before anything runs.

use crate::cli::{instance_exists, lxops, profile_exists, server, write_config};
use lxops_tests::{unique_name, Cleanup, DAEMONS};

fn busybox_config() -> String {
    format!(
        "#lxops-v1\nostype: alpine\nimage: {}\n",
        lxops_tests::BUSYBOX
    )
}

/// The summary rows (`INSTANCE COMMAND RESULT`, duration left out) of a multi-instance run.
fn summary(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|line| !(line.starts_with("INSTANCE ") && line.contains(" COMMAND ")))
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            cells[..cells.len().saturating_sub(1)].join(" ")
        })
        .collect()
}

#[test]
fn a_name_list_launches_one_instance_per_name_and_a_failure_spares_the_others() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let [a, b, c] = ["t-fleet", "t-fleet", "t-fleet"].map(unique_name);
        let mut cleanup = Cleanup::new(daemon);
        for name in [&a, &b, &c] {
            cleanup.instance(name);
            cleanup.profile(&format!("{name}.lxops"));
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = write_config(tmp.path(), "web.yaml", &busybox_config());

        // b already exists: its launch fails, a and c still launch.
        lxops(daemon, &["launch", "-name", &b, &config]).ok();
        let names = format!("{a},{b}");
        let run = lxops(
            daemon,
            &["launch", "-j", "2", "-name", &names, "-name", &c, &config],
        )
        .fails(1, "1 of 3 failed");
        assert!(
            run.stderr.contains(&format!("- {b}: ")),
            "{daemon}: {}",
            run.stderr
        );
        let rows = summary(&run.stdout);
        assert_eq!(rows.len(), 3, "{daemon}:\n{}", run.stdout);
        assert_eq!(rows[0], format!("{a} launch ok"), "{daemon}");
        assert!(
            rows[1].starts_with(&format!("{b} launch failed: "))
                && rows[1].contains("already exists"),
            "{daemon}: {}",
            rows[1]
        );
        assert_eq!(rows[2], format!("{c} launch ok"), "{daemon}");
        for line in run.stdout.split("\n\n").next().unwrap_or("").lines() {
            assert!(
                [&a, &b, &c]
                    .iter()
                    .any(|n| line.starts_with(&format!("{n}: "))),
                "{daemon}: every output line names its instance: {line:?}"
            );
        }
        for name in [&a, &b, &c] {
            assert!(instance_exists(&server, name), "{daemon}: {name}");
        }

        // --fail-fast: the first failure (a exists now) stops the run before c2 starts.
        let c2 = unique_name("t-fleet");
        cleanup.instance(&c2);
        cleanup.profile(&format!("{c2}.lxops"));
        let names = format!("{a},{c2}");
        let run = lxops(daemon, &["launch", "--fail-fast", "-name", &names, &config])
            .fails(1, "1 of 2 failed");
        assert_eq!(
            summary(&run.stdout)[1],
            format!("{c2} launch skipped (--fail-fast)"),
            "{daemon}"
        );
        assert!(
            !instance_exists(&server, &c2),
            "{daemon}: {c2} was not launched"
        );

        lxops(
            daemon,
            &[
                "delete",
                "--force",
                "-j",
                "3",
                "-name",
                &format!("{a},{b},{c}"),
                &config,
            ],
        )
        .ok();
        for name in [&a, &b, &c] {
            assert!(!instance_exists(&server, name), "{daemon}: {name} deleted");
            assert!(
                !profile_exists(&server, &format!("{name}.lxops")),
                "{daemon}"
            );
        }
    }
}

#[test]
fn names_that_are_the_same_instance_are_refused_before_anything_runs() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let a = unique_name("t-fleetdup");
        let mut cleanup = Cleanup::new(daemon);
        cleanup.instance(&a);
        cleanup.profile(&format!("{a}.lxops"));
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = write_config(tmp.path(), "web.yaml", &busybox_config());
        let other = write_config(tmp.path(), "other/web.yaml", &busybox_config());

        let twice = format!("{a},{a}");
        lxops(daemon, &["launch", "-name", &twice, &config])
            .fails(2, &format!("instance {a} is named twice"));
        lxops(daemon, &["launch", "-name", &format!("{a},"), &config])
            .fails(2, "-name has an empty instance name");
        // Two files with the same base name are the same instance.
        lxops(daemon, &["launch", "--dry-run", &config, &other])
            .fails(2, "instance web is named twice");
        assert!(
            !instance_exists(&server, &a),
            "{daemon}: nothing was launched"
        );
    }
}
