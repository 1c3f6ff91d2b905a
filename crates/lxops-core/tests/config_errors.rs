//! Every bad input gives one error naming the file (and line where the parser knows it) and
//! what to do; never a panic. Each case writes its files into a temporary directory, loads
//! and evaluates `a1.yaml` as instance `a1`, and checks the files it names as a launch does
//! (`ops::check_input_files`: `config::evaluate` itself reads no file).

use lxops_core::config::{evaluate, load, EvalOptions, Formats, LoadOptions, PropertySources};

/// Files of a case: (name, text).
type Files = &'static [(&'static str, &'static str)];

/// (case, files, substrings the error must contain)
const CASES: &[(&str, Files, &[&str])] = &[
    (
        "no header",
        &[("a1.yaml", "image: x\n")],
        &["a1.yaml: line 1: missing format header", "#lxops-v1"],
    ),
    (
        "unknown format",
        &[("a1.yaml", "#lxops-v9\nimage: x\n")],
        &["a1.yaml: line 1: unknown config format `#lxops-v9`", "supported formats: #lxops-v1, #broken, #loop-a"],
    ),
    (
        "migrator loop",
        &[("a1.yaml", "#loop-a\n")],
        &["a1.yaml: config format migration loop: #loop-a -> #loop-b -> #loop-a"],
    ),
    (
        "failing migrator",
        &[("a1.yaml", "#broken\n")],
        &["a1.yaml: migrating from `#broken` failed: cannot migrate"],
    ),
    (
        "yaml syntax error",
        &[("a1.yaml", "#lxops-v1\nimage: x\nprofiles: [a\n")],
        &["a1.yaml: line ", "fix the YAML"],
    ),
    (
        "wrong type",
        &[("a1.yaml", "#lxops-v1\nimage: x\nprofiles:\n  a: b\n")],
        &["a1.yaml: line 4", "profiles"],
    ),
    (
        "wrong bool",
        &[("a1.yaml", "#lxops-v1\nfilesystems:\n  a:\n    pattern: z/a\n    destroy: maybe\n")],
        &["a1.yaml: line 5: filesystems.a.destroy: expected a boolean (true/false), found \"maybe\""],
    ),
    (
        "quoted bool is text, as in the original",
        &[("a1.yaml", "#lxops-v1\nfilesystems:\n  a:\n    pattern: z/a\n    destroy: \"yes\"\n")],
        &["a1.yaml: line 5: filesystems.a.destroy: expected a boolean (true/false), found the quoted string \"yes\"", "without quotes"],
    ),
    (
        "number for a bool, on line 2",
        &[("a1.yaml", "#lxops-v1\ndevices: {d: {path: /d, dir: /h, readonly: 1}}\n")],
        &["a1.yaml: line 2: devices.d.readonly: expected a boolean (true/false), found the number 1"],
    ),
    (
        "bad bool on line 3 of a flow map",
        &[("a1.yaml", "#lxops-v1\nfilesystems: {a: {pattern: z/a,\n  destroy: maybe}}\n")],
        &["a1.yaml: line 3: filesystems.a.destroy:"],
    ),
    (
        "escape bytes in a bad bool are escaped",
        &[("a1.yaml", "#lxops-v1\nfilesystems:\n  a:\n    pattern: z/a\n    destroy: \"\\e[31m\"\n")],
        &["found the quoted string \"\\u{1b}[31m\""],
    ),
    (
        "a duplicate key names its own line",
        &[("a1.yaml", "#lxops-v1\nimage: x\nimage: y\n")],
        &["a1.yaml: line 3: duplicate entry with key \"image\""],
    ),
    (
        "a nested duplicate key names its own line",
        &[("a1.yaml", "#lxops-v1\nimage: x\nfilesystems:\n  a:\n    pattern: p\n    destroy: true\n    pattern: q\n")],
        &["a1.yaml: line 7: filesystems.a: duplicate entry with key \"pattern\""],
    ),
    (
        "a control character on line 2 says line 2",
        &[("a1.yaml", "#lxops-v1\n\u{1}\n")],
        &["a1.yaml: line 2: control characters are not allowed; fix the YAML"],
    ),
    (
        "a control character on line 3 says line 3",
        &[("a1.yaml", "#lxops-v1\nimage: x\nostype: \u{1b}[31m\n")],
        &["a1.yaml: line 3: control characters are not allowed; fix the YAML"],
    ),
    (
        "an escape sequence in an unknown key is escaped",
        &[("a1.yaml", "#lxops-v1\n\"\\e]0;title\\a\": 1\n")],
        &["unknown key `\\u{1b}]0;title\\u{7}`"],
    ),
    (
        "null profile is an empty name, as in the original, and refused",
        &[("a1.yaml", "#lxops-v1\nimage: x\nprofiles: [default, ~]\n")],
        &["a1.yaml: invalid config for instance a1", "profiles: entry 2 is empty (null or \"\"); remove it or name a profile"],
    ),
    (
        "unknown property",
        &[("a1.yaml", "#lxops-v1\nimage: (nope)\n")],
        &["a1.yaml: invalid config for instance a1", "image: unknown property (nope)", "-P nope=VALUE"],
    ),
    (
        "unknown filesystem id",
        &[("a1.yaml", "#lxops-v1\ndevices:\n  d:\n    path: /d\n    filesystem: fs\n")],
        &["a1.yaml: invalid config", "devices.d.filesystem: unknown filesystem id \"fs\""],
    ),
    (
        "duplicate device path",
        &[("a1.yaml", "#lxops-v1\ndevices:\n  a:\n    path: /x\n    dir: /h/a\n  b:\n    path: /x/\n    dir: /h/b\n")],
        &["a1.yaml: invalid config", "devices.b.path: \"/x/\" is also the path of device a"],
    ),
    (
        "relative device path",
        &[("a1.yaml", "#lxops-v1\ndevices:\n  a:\n    path: x\n    dir: /h/a\n")],
        &["devices.a.path: \"x\" is not an absolute path"],
    ),
    (
        "relative dir without filesystem",
        &[("a1.yaml", "#lxops-v1\ndevices:\n  a:\n    path: /x\n")],
        &["devices.a: a relative dir needs a filesystem"],
    ),
    (
        "empty pattern",
        &[("a1.yaml", "#lxops-v1\nfilesystems:\n  a:\n    destroy: true\n")],
        &["filesystems.a.pattern: empty"],
    ),
    (
        "dot-dot pattern",
        &[("a1.yaml", "#lxops-v1\nfilesystems:\n  a:\n    pattern: /srv/../etc\n")],
        &["filesystems.a.pattern: \"/srv/../etc\" contains `..`"],
    ),
    (
        "duplicate profiles",
        &[("a1.yaml", "#lxops-v1\nprofiles: [p, q]\ninclude: [b.yaml]\n"), ("b.yaml", "#lxops-v1\nprofiles: [p]\n")],
        &["profiles: listed more than once: p"],
    ),
    (
        "missing include",
        &[("a1.yaml", "#lxops-v1\ninclude:\n- nope.yaml\n")],
        &["a1.yaml: include `", "nope.yaml` cannot be read", "relative to the including file"],
    ),
    (
        "missing cloud-config file",
        &[("a1.yaml", "#lxops-v1\nostype: alpine\ncloud-config-files:\n- nope.cfg\n")],
        &["a1.yaml: invalid config", "cloud-config-files: ", "nope.cfg does not exist"],
    ),
    (
        "cloud-config without ostype",
        &[("a1.yaml", "#lxops-v1\ncloud-config-files:\n- c.cfg\n"), ("c.cfg", "#cloud-config\n")],
        &["ostype: required with cloud-config files"],
    ),
    (
        "reserved character",
        &[("a1.yaml", "#lxops-v1\ninclude: ['x|b.yaml']\n")],
        &["a1.yaml: path `x|b.yaml` contains the reserved character `|`"],
    ),
    (
        "unknown key in strict mode",
        &[("a1.yaml", "#lxops-v1\nimage: x\ncolour: red\nfilesystems:\n  a:\n    pattern: z/a\n    size: 1G\n")],
        &["a1.yaml: unknown keys (strict mode): line 3: unknown key `colour`; line 7: unknown key `filesystems.a.size`"],
    ),
    (
        "error in an included file names that file",
        &[("a1.yaml", "#lxops-v1\ninclude: [b.yaml]\n"), ("b.yaml", "#lxops-v1\nimage: [x\n")],
        &["b.yaml: line "],
    ),
];

fn formats() -> Formats {
    let mut formats = Formats::new();
    formats.register("#loop-a", |_: &[u8]| Ok(b"#loop-b\n".to_vec()));
    formats.register("#loop-b", |_: &[u8]| Ok(b"#loop-a\n".to_vec()));
    formats.register("#broken", |_: &[u8]| Err("cannot migrate".to_string()));
    formats
}

#[test]
fn every_bad_input_gives_a_clear_error() {
    let formats = formats();
    let sources = PropertySources::default();
    for (case, files, expected) in CASES {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in *files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        let options = LoadOptions {
            formats: &formats,
            sources: &sources,
            strict: true,
            raw: false,
        };
        let result = load(&dir.path().join("a1.yaml"), &options).and_then(|loaded| {
            let eval = EvalOptions {
                include_source: true,
                project: None,
            };
            let instance = evaluate(&loaded, "a1", &sources, &eval)?;
            lxops_core::ops::check_input_files(&instance)
        });
        let err = match result {
            Ok(_) => panic!("{case}: loaded without an error"),
            Err(e) => e.to_string(),
        };
        for want in *expected {
            assert!(err.contains(want), "{case}: {want:?} not in\n{err}");
        }
        let raw = err.chars().find(|c| c.is_control() && *c != '\n');
        assert_eq!(raw, None, "{case}: a raw control character in\n{err}");
    }
}

#[test]
fn unknown_keys_are_warnings_with_lines_when_not_strict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a1.yaml");
    std::fs::write(&file, "#lxops-v1\r\nimage: x\r\nstop: true\r\n").expect("write");
    let formats = Formats::new();
    let sources = PropertySources::default();
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let loaded = load(&file, &options).expect("loads");
    assert_eq!(loaded.config.image, "x");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].ends_with("a1.yaml: line 3: unknown key `stop` (ignored)"),
        "{:?}",
        loaded.warnings
    );
}

/// Loads `a1.yaml` of `dir` (strict, no properties) and returns the error text.
fn load_error(dir: &std::path::Path) -> String {
    let formats = Formats::new();
    let sources = PropertySources::default();
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: true,
        raw: false,
    };
    match load(&dir.join("a1.yaml"), &options) {
        Ok(_) => panic!("{}: loaded without an error", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn only_regular_files_of_at_most_1_mib_are_read_as_configs_and_includes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.expect("mkfifo runs").success());
    std::fs::create_dir(dir.path().join("dir.yaml")).expect("mkdir");
    let big = format!("#lxops-v1\n{}", "# padding\n".repeat(110_000));
    std::fs::write(dir.path().join("big.yaml"), big).expect("write");
    // (include, what the error says after "a1.yaml: include `...` cannot be read: ")
    let cases = [
        ("/dev/zero", "it is a character device, not a regular file"),
        ("fifo.yaml", "it is a FIFO (named pipe), not a regular file"),
        ("dir.yaml", "it is a directory, not a regular file"),
        ("big.yaml", "the limit is 1 MiB"),
    ];
    for (include, want) in cases {
        std::fs::write(
            dir.path().join("a1.yaml"),
            format!("#lxops-v1\ninclude: [{include}]\n"),
        )
        .expect("write");
        let err = load_error(dir.path());
        assert!(err.contains("a1.yaml: include `"), "{include}: {err}");
        assert!(err.contains(want), "{include}: {want:?} not in {err}");
        assert!(!err.contains("permissions"), "{include}: {err}");
    }
    // The top file itself.
    let formats = Formats::new();
    let sources = PropertySources::default();
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: false,
        raw: false,
    };
    let err = load(&fifo, &options).expect_err("a FIFO is refused");
    let err = err.to_string();
    assert!(
        err.contains("fifo.yaml: cannot read the file: it is a FIFO"),
        "{err}"
    );
}

#[test]
fn a_chain_of_2000_includes_stops_at_the_depth_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..2000 {
        let name = if i == 0 {
            "a1.yaml".to_string()
        } else {
            format!("c{i}.yaml")
        };
        let text = format!("#lxops-v1\ninclude: [c{}.yaml]\n", i + 1);
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    std::fs::write(dir.path().join("c2000.yaml"), "#lxops-v1\n").expect("write");
    let err = load_error(dir.path());
    let want = [
        "c64.yaml: includes are nested more than 64 levels deep (",
        "a1.yaml -> ... -> ",
        "c64.yaml -> ",
        "c65.yaml)",
    ];
    for w in want {
        assert!(err.contains(w), "{w:?} not in {err}");
    }
    let raw = lxops_core::config::raw_includes(&dir.path().join("a1.yaml"), &Formats::new());
    let raw = raw
        .expect_err("raw_includes has the same limit")
        .to_string();
    assert!(raw.contains("nested more than 64 levels deep"), "{raw}");

    // 64 levels are fine.
    std::fs::write(dir.path().join("c64.yaml"), "#lxops-v1\nimage: deep\n").expect("write");
    let formats = Formats::new();
    let sources = PropertySources::default();
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: true,
        raw: false,
    };
    let loaded = load(&dir.path().join("a1.yaml"), &options).expect("64 levels load");
    assert_eq!(loaded.config.image, "deep");
    assert_eq!(loaded.includes.len(), 64);
}

/// `config::evaluate` is pure: a cloud-config file that does not exist (or is a FIFO) is
/// resolved, not looked at; the launch's checks report it.
#[test]
fn evaluate_reads_no_cloud_config_file_and_the_launch_checks_report_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.cfg");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.expect("mkfifo runs").success());
    std::fs::write(
        dir.path().join("a1.yaml"),
        "#lxops-v1\nostype: alpine\ncloud-config-files: [nope.cfg, fifo.cfg]\n",
    )
    .expect("write");
    let (formats, sources) = (formats(), PropertySources::default());
    let options = LoadOptions {
        formats: &formats,
        sources: &sources,
        strict: true,
        raw: false,
    };
    let loaded = load(&dir.path().join("a1.yaml"), &options).expect("loads");
    let instance = evaluate(&loaded, "a1", &sources, &EvalOptions::default()).expect("evaluates");
    assert_eq!(
        instance.cloud_config_files,
        [dir.path().join("nope.cfg"), fifo.clone()]
    );
    let err = lxops_core::ops::check_input_files(&instance)
        .expect_err("refused")
        .to_string();
    let want = format!(
        "{0}/a1.yaml: invalid config for instance a1:\n  cloud-config-files: {0}/nope.cfg does not exist; fix the path (relative to the file that names it)\n  cloud-config-files: {0}/fifo.cfg is not a regular file; fix the path (relative to the file that names it)",
        dir.path().display()
    );
    assert_eq!(err, want);
}

/// cloud-config files go through the same bounded reader as configs (`lxops_core::input`).
#[test]
fn cloud_config_files_are_read_only_when_regular_and_small() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.cfg");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.expect("mkfifo runs").success());
    let big = dir.path().join("big.cfg");
    std::fs::write(
        &big,
        format!("#cloud-config\n{}", "# pad\n".repeat(200_000)),
    )
    .expect("write");
    let cases = [
        (std::path::PathBuf::from("/dev/zero"), "/dev/zero: cannot read cloud-config file: it is a character device, not a regular file"),
        (fifo, "fifo.cfg: cannot read cloud-config file: it is a FIFO (named pipe), not a regular file"),
        (big, "big.cfg: cannot read cloud-config file: the file is larger than the limit for lxops input files"),
    ];
    for (path, want) in cases {
        let err = lxops_core::cloudconfig::parse_file(&path)
            .expect_err("refused")
            .to_string();
        assert!(err.contains(want), "{want:?} not in {err}");
    }
}
