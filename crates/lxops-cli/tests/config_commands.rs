//! The offline commands (`config`, `i`, `property`, `help`) run in-process through
//! `run_with` with a backend that never connects: none of them may need a daemon.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use expect_test::expect;
use lxops_cli::{run_with, App, Backend, ConnectOptions};
use lxops_core::server::{InstanceServer, ServerError};

/// A backend whose every connection fails.
struct Offline;

#[async_trait]
impl Backend for Offline {
    fn server_name(&self) -> &'static str {
        "Offline"
    }
    async fn connect(&self, _: &ConnectOptions) -> Result<Arc<dyn InstanceServer>, ServerError> {
        Err(ServerError::Unsupported("offline test backend".into()))
    }
}

/// Runs lxops with `args` in `dir`-relative paths; returns (status, stdout, stderr).
fn lxops(args: &[&str]) -> (u8, String, String) {
    let mut app = App::new(Box::new(Offline));
    lxops_migrator_lxdops::register(&mut app.formats);
    let argv = std::iter::once("lxops")
        .chain(args.iter().copied())
        .map(Into::into)
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(app, argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

const A1: &str = "#lxops-v1
description: test instance
ostype: alpine
image: (img)
project: p1
properties:
  img: from-config
  root: /srv/lxops
filesystems:
  data:
    pattern: (root)/(project_instance)
    destroy: true
  z:
    pattern: pool/(instance)
    transient: true
devices:
  home:
    path: /home
    filesystem: data
  etc:
    path: /etc/x
    filesystem: z
    dir: .
    readonly: true
include:
- old.yaml
";

const OLD: &str = "#lxdops
os:
  name: debian
profiles:
- base
";

/// A temp dir with `a1.yaml`, `old.yaml` (#lxdops) and `global.yaml` properties.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a1.yaml"), A1).unwrap();
    std::fs::write(dir.path().join("old.yaml"), OLD).unwrap();
    std::fs::write(
        dir.path().join("global.yaml"),
        "img: from-global\nextra: g\n",
    )
    .unwrap();
    dir
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn config_print_shows_the_merged_config() {
    let dir = fixture();
    let (code, out, err) = lxops(&[
        "config",
        "print",
        "-properties",
        "",
        &path(dir.path(), "a1.yaml"),
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
    expect![[r#"
        #lxops-v1
        description: test instance
        ostype: alpine
        image: (img)
        project: p1
        profiles:
        - base
        filesystems:
          data:
            pattern: (root)/(project_instance)
            destroy: true
          z:
            pattern: pool/(instance)
            destroy: false
            transient: true
        devices:
          etc:
            path: /etc/x
            filesystem: z
            dir: .
            readonly: true
          home:
            path: /home
            filesystem: data
        properties:
          img: from-config
          root: /srv/lxops
    "#]]
    .assert_eq(&out);
}

#[test]
fn i_filesystems_and_devices_print_tables() {
    let dir = fixture();
    let file = path(dir.path(), "a1.yaml");
    let (code, out, err) = lxops(&["i", "filesystems", "-properties", "", &file]);
    assert_eq!((code, err.as_str()), (0, ""));
    expect![[r#"
        ID    KIND  PATH              PATTERN                    TRANSIENT  DESTROY
        data  dir   /srv/lxops/p1_a1  (root)/(project_instance)  false      true
        z     zfs   pool/a1           pool/(instance)            true       false
    "#]]
    .assert_eq(&out);
    let (code, out, _) = lxops(&[
        "i",
        "devices",
        "-name",
        "b2",
        "-project",
        "default",
        "-properties",
        "",
        &file,
    ]);
    assert_eq!(code, 0);
    expect![[r#"
        SOURCE              PATH    NAME  DIR   FILESYSTEM  READONLY
                            /etc/x  etc   .     z           true
        /srv/lxops/b2/home  /home   home  home  data        false
    "#]]
    .assert_eq(&out);
}

#[test]
fn i_properties_layers_global_config_and_p() {
    let dir = fixture();
    let (code, out, err) = lxops(&[
        "i",
        "properties",
        "-properties",
        &path(dir.path(), "global.yaml"),
        "-P",
        "root=/cli",
        &path(dir.path(), "a1.yaml"),
    ]);
    assert_eq!((code, err.as_str()), (0, ""));
    expect![[r#"
        Effective Properties:
        KEY    VALUE
        extra  g
        img    from-config
        root   /cli
    "#]]
    .assert_eq(&out);

    // A property named like a built-in is never used by a pattern: it is not shown as
    // effective (the warning on stderr is checked through the binaries, in bins/).
    let (code, out, err) = lxops(&[
        "i",
        "properties",
        "-properties",
        "",
        "-P",
        "instance=other",
        "-P",
        "project_instance=x",
        &path(dir.path(), "a1.yaml"),
    ]);
    assert_eq!(code, 0, "{err}");
    expect![[r#"
        Effective Properties:
        KEY   VALUE
        img   from-config
        root  /srv/lxops
    "#]]
    .assert_eq(&out);
}

#[test]
fn i_verify_prints_the_name_or_exits_2() {
    let dir = fixture();
    let file = path(dir.path(), "a1.yaml");
    let (code, out, err) = lxops(&["i", "verify", "-properties", "", "-name", "a9", &file]);
    assert_eq!((code, err.as_str()), (0, ""));
    let warning = format!(
        "warning: {}: ostype: \"alpine\" overrides \"debian\" from {}\n",
        file,
        path(dir.path(), "old.yaml")
    );
    assert_eq!(out, format!("{warning}a9\n"));

    std::fs::write(dir.path().join("bad.yaml"), "#lxops-v1\nimage: (missing)\n").unwrap();
    let (code, out, err) = lxops(&[
        "i",
        "verify",
        "-properties",
        "",
        &path(dir.path(), "bad.yaml"),
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("bad.yaml: invalid config for instance bad"),
        "{err}"
    );
    assert!(err.contains("image: unknown property (missing)"), "{err}");

    // Usage errors: exit 2 and say which value is wrong.
    let cases: &[(&[&str], &str)] = &[
        (
            &["-P", "novalue"],
            "invalid value 'novalue' for '-P <KEY=VALUE>': no `=`",
        ),
        (
            &["-P", "=x"],
            "invalid value '=x' for '-P <KEY=VALUE>': the key is empty",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["i", "verify"];
        args.extend_from_slice(flags);
        args.push(&file);
        let (code, _, err) = lxops(&args);
        assert_eq!(code, 2, "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
}

#[test]
fn i_verify_checks_what_launch_checks_before_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("good.cfg"), "#cloud-config\nruncmd: [echo hi]\n").unwrap();
    std::fs::write(d.join("bad.cfg"), "#cloud-config\npackages: [\n").unwrap();
    std::fs::write(d.join("nohdr.cfg"), "runcmd: [echo hi]\n").unwrap();
    // (config body after `#lxops-v1\nimage: x\n`, what the error says; "" = it verifies)
    let cases: &[(&str, &str)] = &[
        ("ostype: alpine\ncloud-config-files: [good.cfg]\n", ""),
        (
            "ostype: alpine\ncloud-config-files: [bad.cfg]\n",
            "bad.cfg: invalid YAML",
        ),
        (
            "ostype: alpine\ncloud-config-files: [nohdr.cfg]\n",
            "nohdr.cfg:1: not a cloud-config file",
        ),
        (
            "ostype: beos\ncloud-config-files: [good.cfg]\n",
            "v.yaml: ostype \"beos\" is not a known OS type",
        ),
        (
            "ostype: alpine\ncloud-config-files: [/dev/zero]\n",
            "cloud-config-files: /dev/zero is not a regular file",
        ),
        (
            "lxc-options: [--bogus]\n",
            "v.yaml: lxc-options: unsupported option \"--bogus\"",
        ),
        (
            "device-origin: a1\n",
            "  device-origin: \"a1\" must be INSTANCE@SNAPSHOT",
        ),
        (
            "device-owner: x:y\n",
            "v.yaml: device-owner \"x:y\" is not UID:GID",
        ),
        (
            "origin: p1_/snap\n",
            "v.yaml: origin \"p1_/snap\" names no instance",
        ),
    ];
    for (body, want) in cases {
        std::fs::write(d.join("v.yaml"), format!("#lxops-v1\nimage: x\n{body}")).unwrap();
        let (code, out, err) = lxops(&["i", "verify", "-properties", "", &path(d, "v.yaml")]);
        if want.is_empty() {
            assert_eq!((code, out.as_str(), err.as_str()), (0, "v\n", ""), "{body}");
        } else {
            assert_eq!((code, out.as_str()), (2, ""), "{body}: {err}");
            assert!(err.contains(want), "{body}: {want:?} not in {err}");
        }
    }
}

#[test]
fn config_formats_lists_current_and_migrated_formats() {
    let (code, out, _) = lxops(&["config", "formats"]);
    assert_eq!(code, 0);
    expect![[r#"
        current format: #lxops-v1
        #lxdops
    "#]]
    .assert_eq(&out);
}

#[test]
fn config_convert_rewrites_an_lxdops_file() {
    let dir = fixture();
    let old = path(dir.path(), "old.yaml");
    let (code, out, _) = lxops(&["config", "convert", &old]);
    assert_eq!((code, out), (0, format!("{old}\n")));
    expect![[r#"
        #lxops-v1
        ostype: debian
        profiles:
        - base
    "#]]
    .assert_eq(&std::fs::read_to_string(&old).unwrap());
}

#[test]
fn help_config_is_the_config_documentation() {
    let (code, out, _) = lxops(&["help", "config"]);
    assert_eq!(code, 0);
    assert_eq!(out, lxops_core::config::help::topic("config").unwrap());
    assert!(out.contains("`device-template` (pattern)"), "{out}");
    let (code, _, err) = lxops(&["help", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown topic or command"), "{err}");
    let (code, out, _) = lxops(&["help", "cloud-config"]);
    assert_eq!((code, out.as_str()), (0, lxops_core::cloudconfig::HELP));
    let (_, out, _) = lxops(&["help"]);
    assert!(out.contains("  cloud-config\n"), "{out}");
    assert!(out.contains("  images\n"), "{out}");
    // `help images` is the topic, `help image` the command's usage.
    let (code, out, _) = lxops(&["help", "images"]);
    assert_eq!(code, 0);
    assert!(out.contains("alpine3-nginx-20260105"), "{out}");
    let (code, out, _) = lxops(&["help", "image"]);
    assert_eq!(code, 0);
    assert!(out.contains("instances"), "{out}");
}

#[test]
fn property_set_get_list_use_the_properties_file() {
    let dir = fixture();
    let file = path(dir.path(), "props/p.yaml");
    let (code, _, err) = lxops(&["property", "set", "-properties", &file, "k", "v"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let (_, out, _) = lxops(&["property", "get", "-properties", &file, "k"]);
    assert_eq!(out, "v\n");
    let (_, out, _) = lxops(&["property", "list", "-properties", &file]);
    assert_eq!(out, "KEY  VALUE\nk    v\n");
    let (_, out, _) = lxops(&["property", "file", "-properties", &file]);
    assert_eq!(out, format!("{file}\n"));
    let (code, _, err) = lxops(&["property", "set", "-properties", &file, "", "v"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("property set: the key is empty"), "{err}");
    let (_, out, _) = lxops(&["property", "list", "-properties", &file]);
    assert_eq!(out, "KEY  VALUE\nk    v\n", "nothing was written");
}

#[test]
fn the_demo_config_verifies() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo/demo.yaml");
    let (code, out, err) = lxops(&[
        "i",
        "verify",
        "-properties",
        "",
        &demo.display().to_string(),
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "demo\n", ""));
}

#[test]
fn bad_input_exits_2_with_a_message_naming_the_file() {
    let cases: &[(&str, &str)] = &[
        ("image: x\n", "missing format header"),
        ("#lxops-v7\n", "unknown config format `#lxops-v7`"),
        ("#lxops-v1\nimage: x: y\n", "bad.yaml: line 2"),
        ("#lxops-v1\nimage: (nope)\n", "unknown property (nope)"),
        (
            "#lxops-v1\ninclude: [nope.yaml]\n",
            "nope.yaml` cannot be read",
        ),
        ("#lxops-v1\ncolour: red\n", "line 2: unknown key `colour`"),
    ];
    for (text, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "bad.yaml");
        std::fs::write(&file, text).unwrap();
        let (code, out, err) = lxops(&["i", "verify", "--strict", "-properties", "", &file]);
        assert_eq!((code, out.as_str()), (2, ""), "{text}");
        assert!(err.contains(&file), "{text}: {err}");
        assert!(err.contains(want), "{text}: {want} not in {err}");
    }
}

#[test]
fn config_lists_cloud_config_files_includes_and_packages() {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path(), "c1.yaml");
    std::fs::write(
        &file,
        "#lxops-v1\nostype: alpine\ninclude: [inc.yaml, (maybe)/x.yaml]\ncloud-config-files: [a.cfg]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("inc.yaml"),
        "#lxops-v1\ncloud-config-files: [b.cfg]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.cfg"),
        "#cloud-config\npackages: [curl, git]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.cfg"),
        "#cloud-config\npackages: [git, vim]\n",
    )
    .unwrap();
    let run = |command: &str| {
        let (code, out, err) = lxops(&["config", command, "-properties", "", &file]);
        assert_eq!((code, err.as_str()), (0, ""), "{command}");
        out
    };
    let d = dir.path().display();
    assert_eq!(run("cloud-config"), format!("{d}/b.cfg\n{d}/a.cfg\n"));
    assert_eq!(run("packages"), "git\nvim\ncurl\n");
    assert_eq!(
        run("includes"),
        format!("{d}/inc.yaml\n{d}/(maybe)/x.yaml\n")
    );
    assert_eq!(run("properties"), "");
    assert_eq!(run("parse"), format!("{file}: ok\n"));
}

/// Runs `args` (ending with the config file) with `--format FORMAT` given Go-style; returns
/// stdout after checking the exit status.
fn formatted(format: &str, args: &[&str]) -> String {
    let mut all = vec!["-format", format];
    all.extend_from_slice(args);
    let (code, out, err) = lxops(&all);
    assert_eq!(code, 0, "{args:?} --format {format}: {err}");
    out
}

#[test]
fn every_offline_listing_prints_json_yaml_and_csv_of_the_same_rows() {
    let dir = fixture();
    let file = path(dir.path(), "a1.yaml");
    let props = path(dir.path(), "global.yaml");
    // (command, the keys of every row, how many rows)
    let cases: &[(&[&str], &[&str], usize)] = &[
        (
            &["i", "filesystems"],
            &[
                "instance",
                "id",
                "kind",
                "path",
                "pattern",
                "transient",
                "destroy",
            ],
            2,
        ),
        (
            &["i", "devices"],
            &[
                "instance",
                "source",
                "path",
                "name",
                "dir",
                "filesystem",
                "readonly",
            ],
            2,
        ),
        (&["i", "properties"], &["instance", "key", "value"], 3),
        (&["i", "description"], &["instance", "description"], 1),
        (&["i", "project"], &["instance", "project"], 1),
        (&["i", "verify"], &["instance", "file", "warnings"], 1),
        (&["config", "parse"], &["file", "warnings"], 1),
        (&["config", "properties"], &["file", "key", "value"], 2),
        (&["config", "includes"], &["file", "include"], 1),
        (&["config", "cloud-config"], &["file", "cloud_config"], 0),
        (&["config", "packages"], &["file", "package"], 0),
        (&["property", "list"], &["key", "value"], 2),
        (&["config", "formats"], &["format", "current"], 2),
    ];
    for (command, keys, count) in cases {
        let mut args = command.to_vec();
        args.extend(["-properties", props.as_str()]);
        if command[1] != "list" && command[1] != "formats" {
            args.push(&file);
        }
        if command[1] == "formats" {
            args.truncate(2);
        }
        let json: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(&formatted("json", &args))
                .unwrap_or_else(|e| panic!("{command:?}: not a JSON array of objects: {e}"));
        assert_eq!(json.len(), *count, "{command:?}: {json:?}");
        for row in &json {
            let got: Vec<&str> = row.keys().map(String::as_str).collect();
            let mut want = keys.to_vec();
            want.sort_unstable();
            let mut got = got;
            got.sort_unstable();
            assert_eq!(got, want, "{command:?}");
        }
        let yaml: serde_json::Value = serde_yaml::from_str(&formatted("yaml", &args)).unwrap();
        assert_eq!(
            yaml,
            serde_json::to_value(&json).unwrap(),
            "{command:?}: yaml"
        );
        let csv = formatted("csv", &args);
        assert_eq!(
            csv.lines().next(),
            Some(keys.join(",").as_str()),
            "{command:?}: csv"
        );
        assert_eq!(csv.lines().count(), count + 1, "{command:?}: csv\n{csv}");
    }

    // Values keep their types: booleans stay booleans.
    let out = formatted("json", &["i", "filesystems", "-properties", "", &file]);
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        rows[0],
        serde_json::json!({"instance": "a1", "id": "data", "kind": "dir",
            "path": "/srv/lxops/p1_a1", "pattern": "(root)/(project_instance)",
            "transient": false, "destroy": true})
    );
    // config print: one object per file, the merged config as nested JSON.
    let out = formatted("json", &["config", "print", "-properties", "", &file]);
    let docs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(docs[0]["file"], file.as_str());
    assert_eq!(docs[0]["config"]["devices"]["etc"]["readonly"], true);
    // Nested data has no CSV form: exit 2 with a way out.
    let (code, _, err) = lxops(&["config", "print", "--format", "csv", &file]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("use json or yaml"), "{err}");
    // A format lxops does not know is a usage error.
    let (code, _, err) = lxops(&["i", "project", "--format", "xml", &file]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("possible values: table, json, yaml, csv"),
        "{err}"
    );
}

#[test]
fn completion_scripts_name_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = lxops(&["completion", shell]);
        assert_eq!((code, err.as_str()), (0, ""), "{shell}");
        for word in ["launch", "fail-fast", "status", "format"] {
            assert!(out.contains(word), "{shell}: no {word:?} in the script");
        }
        assert!(out.contains("lxops"), "{shell}: the program name");
    }
    let (code, _, err) = lxops(&["completion", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn man_pages_are_lxops_1_and_one_per_command_and_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let written = lxops_cli::write_man_pages(dir.path()).unwrap();
    let mut names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Every visible command of the clap definition, nested ones joined by `-`.
    fn pages(command: &clap::Command, name: &str, out: &mut Vec<String>) {
        out.push(format!("{name}.1"));
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            pages(sub, &format!("{name}-{}", sub.get_name()), out);
        }
    }
    let mut want = Vec::new();
    pages(&lxops_cli::command("lxops", "LXD"), "lxops", &mut want);
    want.sort();
    assert_eq!(names, want);
    for page in [
        "lxops.1",
        "lxops-launch.1",
        "lxops-profile-diff.1",
        "lxops-i-verify.1",
    ] {
        assert!(names.contains(&page.to_string()), "{page}");
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}: not a man page");
    }
    let launch = std::fs::read_to_string(dir.path().join("lxops-launch.1")).unwrap();
    assert!(launch.contains("fail\\-fast"), "{launch}");
}
