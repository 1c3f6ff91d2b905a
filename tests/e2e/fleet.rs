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

/// The `INSTANCE DIFFERENCE` pairs of a `status` table (`-` for a matching instance).
fn status_rows(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .splitn(4, "  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            let difference = row
                .split_once(cells.get(2).copied().unwrap_or(""))
                .map_or("", |(_, rest)| rest.trim());
            (cells[0].to_string(), difference.to_string())
        })
        .collect()
}

#[test]
fn status_matches_a_launched_fleet_and_reports_each_kind_of_drift() {
    for daemon in DAEMONS {
        let server = server(daemon);
        let [a, b] = ["t-status", "t-status"].map(unique_name);
        let mut cleanup = Cleanup::new(daemon);
        for name in [&a, &b] {
            cleanup.instance(name);
            cleanup.profile(&format!("{name}.lxops"));
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().display().to_string();
        let text = |image: &str| {
            format!(
                "#lxops-v1\nostype: alpine\nimage: {image}\nfilesystems:\n  data:\n    pattern: {root}/(instance)\ndevices:\n  srv:\n    path: /srv\n    filesystem: data\n"
            )
        };
        let config = write_config(tmp.path(), "web.yaml", &text(lxops_tests::BUSYBOX));
        let names = format!("{a},{b}");
        lxops(daemon, &["launch", "-j", "2", "-name", &names, &config]).ok();

        let matching = lxops(daemon, &["status", "-name", &names, &config]).ok();
        assert_eq!(
            status_rows(&matching.stdout),
            [(a.clone(), "-".to_string()), (b.clone(), "-".to_string())],
            "{daemon}:\n{}",
            matching.stdout
        );

        // Drift: a is stopped and its device directory is gone; b's profile lost its device.
        lxops_tests_stop(&server, &a);
        std::fs::remove_dir(tmp.path().join(&a).join("srv")).expect("remove device dir");
        let mut profile = crate::cli::block_on(server.profile(&format!("{b}.lxops")))
            .expect("profile")
            .expect("profile exists");
        profile.devices.clear();
        crate::cli::block_on(server.update_profile(&profile)).expect("update profile");
        let drifted = lxops(daemon, &["status", "-name", &names, &config])
            .fails(3, "2 of 2 instances differ from their configs");
        let rows = status_rows(&drifted.stdout);
        let srv_dir = tmp.path().join(&a).join("srv");
        assert_eq!(
            rows,
            [
                (
                    a.clone(),
                    "instance is Stopped, not Running: start it".to_string()
                ),
                (
                    a.clone(),
                    format!(
                        "device srv: directory {} does not exist: run create-devices",
                        srv_dir.display()
                    )
                ),
                (
                    b.clone(),
                    format!(
                        "profile {b}.lxops differs from the config: + device srv: path=/srv source={} type=disk",
                        tmp.path().join(&b).join("srv").display()
                    )
                ),
            ],
            "{daemon}:\n{}",
            drifted.stdout
        );

        // The config now names another image: every instance built from the old one is outdated.
        let newer = write_config(tmp.path(), "web.yaml", &text(lxops_tests::BUSYBOX_V2));
        let outdated = lxops(daemon, &["status", "-name", &b, &newer]).fails(3, "1 of 1");
        assert!(
            outdated
                .stdout
                .contains(&format!("image {} is now ", lxops_tests::BUSYBOX_V2))
                && outdated.stdout.contains(": rebuild it"),
            "{daemon}:\n{}",
            outdated.stdout
        );
        let missing =
            lxops(daemon, &["status", "-name", "t-status-never", &config]).fails(3, "1 of 1");
        assert!(
            missing
                .stdout
                .contains("instance does not exist: launch it"),
            "{daemon}:\n{}",
            missing.stdout
        );
    }
}

fn lxops_tests_stop(server: &std::sync::Arc<dyn lxops_core::server::InstanceServer>, name: &str) {
    crate::cli::block_on(server.stop_instance(name, lxops_core::server::StopMode::Force))
        .expect("stop");
}
