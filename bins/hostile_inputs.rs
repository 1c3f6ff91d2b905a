//! The hostile and mistaken inputs of issue 11 through a real binary (shared by the tests of
//! both binaries through `#[path]`): every one is refused with exit status 2 and a message that
//! names the file, in bounded time, without a panic and without a raw control character. The
//! corpus is `crates/lxops-core/tests/data/hostile/`; FIFOs, a 2000-include chain and an
//! oversized file are made at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus directory.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/lxops-core/tests/data/hostile")
}

/// What a run gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `binary args` with an empty home, under `timeout` (a hang is exit status 124).
fn run(binary: &str, home: &Path, args: &[&str]) -> Run {
    let output = Command::new("timeout")
        .arg("30")
        .arg(binary)
        .args(args)
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("running {binary}: {e}"));
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let what = format!("{args:?}: exit {}: {}", run.code, run.stderr);
    assert_ne!(run.code, 124, "hung: {what}");
    assert!(![101, 134, -1].contains(&run.code), "crashed: {what}");
    assert!(!run.stderr.contains("panicked"), "panicked: {what}");
    let raw = run.stderr.chars().find(|c| c.is_control() && *c != '\n');
    assert_eq!(raw, None, "a raw control character on stderr: {what}");
    run
}

/// Asserts a bad-input refusal: exit 2, every `wants` on stderr.
fn refused(run: &Run, args: &[&str], wants: &[&str]) {
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    for want in wants {
        assert!(
            run.stderr.contains(want),
            "{args:?}: {want:?} not in {}",
            run.stderr
        );
    }
}

/// (corpus file, what `i verify` says, whether `config print` refuses it too: it only reads
/// and merges). Each message starts with the file it names.
const CASES: &[(&str, &str, bool)] = &[
    ("include-dev-zero.yaml", "include-dev-zero.yaml: include `/dev/zero` cannot be read: it is a character device, not a regular file", true),
    ("include-directory.yaml", "include-directory.yaml: include `", true),
    ("quoted-bool.yaml", "quoted-bool.yaml: line 6: filesystems.data.destroy: expected a boolean (true/false), found the quoted string \"yes\"", true),
    ("null-profile.yaml", "null-profile.yaml: invalid config for instance null-profile:\n  profiles: entry 1 is empty", false),
    ("bad-type-line-3.yaml", "bad-type-line-3.yaml: line 3: ostype:", true),
    ("control-byte-line-2.yaml", "control-byte-line-2.yaml: line 2: control characters are not allowed", true),
    ("escape-sequence-value.yaml", "escape-sequence-value.yaml: line 6: filesystems.data.destroy: expected a boolean (true/false), found the quoted string \"\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\"", true),
    ("cloud-config-dev-zero.yaml", "cloud-config-dev-zero.yaml: invalid config for instance cloud-config-dev-zero:\n  cloud-config-files: /dev/zero is not a regular file", false),
    ("cloud-config-no-header.yaml", "not-cloud-config.cfg:1: not a cloud-config file", false),
    ("cloud-config-bad-yaml.yaml", "bad-yaml.cfg: invalid YAML", false),
    ("unknown-ostype.yaml", "unknown-ostype.yaml: ostype \"beos\" is not a known OS type", false),
    ("device-origin-no-snapshot.yaml", "device-origin-no-snapshot.yaml: invalid config for instance device-origin-no-snapshot:\n  device-origin: \"a1\" must be INSTANCE@SNAPSHOT", false),
    ("unknown-lxc-option.yaml", "unknown-lxc-option.yaml: lxc-options: unsupported option \"--bogus\"", false),
    ("undefined-property.yaml", "undefined-property.yaml: invalid config for instance undefined-property:\n  image: unknown property (undefined)", false),
    ("no-header.yaml", "no-header.yaml: line 1: missing format header", true),
    ("not-a-map.yaml", "not-a-map.yaml: line 2: the config must be a map of keys to values", true),
    ("relative-device-path.yaml", "relative-device-path.yaml: invalid config for instance relative-device-path:\n  devices.d.path: \"relative\" is not an absolute path", false),
    ("dot-dot-pattern.yaml", "dot-dot-pattern.yaml: invalid config for instance dot-dot-pattern:\n  filesystems.a.pattern: \"/srv/../etc\" contains `..`", false),
    ("recursive-alias.yaml", "recursive-alias.yaml: line 3: recursion limit exceeded", true),
    ("deep-nesting.yaml", "deep-nesting.yaml: line 3: recursion limit exceeded", true),
    ("billion-laughs.yaml", "billion-laughs.yaml: repetition limit exceeded", true),
];

/// Every corpus file, and the inputs made at run time, through `binary`.
pub fn check(binary: &str) {
    let home = tempfile::tempdir().expect("tempdir");
    let home = home.path();
    let corpus = corpus();
    let mut listed: Vec<&str> = CASES.iter().map(|(f, _, _)| *f).collect();
    listed.extend(["include-cycle-a.yaml", "include-cycle-b.yaml"]);
    for entry in std::fs::read_dir(&corpus).expect("corpus") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".yaml") {
            assert!(listed.contains(&name.as_ref()), "{name}: not in CASES");
        }
    }
    for (file, verify, print_refuses) in CASES {
        let path = corpus.join(file);
        let path = path.to_str().expect("utf-8 path");
        let args = ["i", "verify", "-properties", "", path];
        refused(&run(binary, home, &args), &args, &[verify]);
        let args = ["config", "print", path];
        let print = run(binary, home, &args);
        if *print_refuses {
            refused(&print, &args, &[verify]);
        } else {
            assert_eq!(print.code, 0, "{args:?}: {}", print.stderr);
        }
    }
    include_cycle(binary, home);
    made_at_run_time(binary, home);
    flags(binary, home);
}

/// An include cycle is not an error (as in the original): the file that is being read already
/// is skipped, with a warning that names the cycle.
fn include_cycle(binary: &str, home: &Path) {
    let path = corpus().join("include-cycle-a.yaml");
    let path = path.to_str().expect("utf-8 path");
    for args in [
        &["i", "verify", "-properties", "", path][..],
        &["config", "print", path][..],
    ] {
        let run = run(binary, home, args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        // `i verify` prints warnings with its output, other commands log them.
        let said = format!("{}{}", run.stdout, run.stderr);
        for want in [
            "include-cycle-b.yaml: include cycle: ",
            "include-cycle-a.yaml -> ",
            "skipping ",
        ] {
            assert!(said.contains(want), "{args:?}: {want:?} not in {said}");
        }
    }
}

/// FIFOs (which must not block), a 2000-include chain, an oversized file, a device as the
/// properties file.
fn made_at_run_time(binary: &str, home: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fifo = d.join("fifo.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let write = |name: &str, text: String| {
        std::fs::write(d.join(name), text).expect("write");
        d.join(name).to_str().expect("utf-8").to_string()
    };
    let include_fifo = write(
        "include-fifo.yaml",
        "#lxops-v1\nimage: x\ninclude: [fifo.yaml]\n".into(),
    );
    let cloud_fifo = write(
        "cloud-fifo.yaml",
        "#lxops-v1\nimage: x\nostype: alpine\ncloud-config-files: [fifo.yaml]\n".into(),
    );
    let big = write(
        "big.yaml",
        format!("#lxops-v1\nimage: x\n{}", "# padding\n".repeat(110_000)),
    );
    write(
        "big.cfg",
        format!("#cloud-config\n{}", "# padding\n".repeat(110_000)),
    );
    let cloud_big = write(
        "cloud-big.yaml",
        "#lxops-v1\nimage: x\nostype: alpine\ncloud-config-files: [big.cfg]\n".into(),
    );
    for i in 1..2000 {
        write(
            &format!("c{i}.yaml"),
            format!("#lxops-v1\ninclude: [c{}.yaml]\n", i + 1),
        );
    }
    write("c2000.yaml", "#lxops-v1\n".into());
    let chain = write(
        "chain.yaml",
        "#lxops-v1\nimage: x\ninclude: [c1.yaml]\n".into(),
    );
    let fifo = fifo.to_str().expect("utf-8").to_string();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["i", "verify", "-properties", "", &fifo], vec!["fifo.yaml: cannot read the file: it is a FIFO (named pipe), not a regular file"]),
        (vec!["config", "print", &include_fifo], vec!["include-fifo.yaml: include `", "fifo.yaml` cannot be read: it is a FIFO"]),
        (vec!["i", "verify", "-properties", "", &cloud_fifo], vec!["cloud-config-files: ", "fifo.yaml is not a regular file"]),
        (vec!["i", "verify", "-properties", "", &cloud_big], vec!["cloud-config-files: ", "big.cfg is larger than the 1 MiB limit for lxops input files"]),
        (vec!["config", "print", &big], vec!["big.yaml: cannot read the file: the file is larger than the limit for lxops input files", "the limit is 1 MiB"]),
        (vec!["i", "verify", "-properties", "", &chain], vec!["c64.yaml: includes are nested more than 64 levels deep"]),
        (vec!["i", "verify", "-properties", "/dev/zero", &chain], vec!["/dev/zero: cannot read the file: it is a character device"]),
        (vec!["i", "verify", "-properties", &fifo, &chain], vec!["fifo.yaml: cannot read the file: it is a FIFO"]),
    ];
    for (args, wants) in &cases {
        refused(&run(binary, home, args), args, wants);
    }
}

/// `-P` without a key or `=`, names the daemons refuse (`i verify` checks them as launch
/// does), `-j 0`, and a property named like a built-in.
fn flags(binary: &str, home: &Path) {
    let ok = corpus().join("../../../../../examples/demo/demo.yaml");
    let ok = ok.to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (
            &["i", "verify", "-P", "=x", ok],
            "invalid value '=x' for '-P <KEY=VALUE>': the key is empty",
        ),
        (
            &["i", "verify", "-P", "x", ok],
            "invalid value 'x' for '-P <KEY=VALUE>': no `=`",
        ),
        (
            &["i", "verify", "-name", "a b", ok],
            "demo.yaml: instance name \"a b\" is invalid",
        ),
        (
            &["i", "verify", "-name", ".", ok],
            "demo.yaml: instance name \".\" is invalid",
        ),
        (
            &["i", "verify", "-name", "x;rm", ok],
            "demo.yaml: instance name \"x;rm\" is invalid",
        ),
        (
            &["launch", "--dry-run", "-j", "0", ok],
            "invalid value '0' for '--jobs <N>': must be at least 1",
        ),
    ];
    for (args, want) in cases {
        refused(&run(binary, home, args), args, &[want]);
    }
    let args = ["i", "properties", "-name", "d1", "-P", "instance=x", ok];
    let shown = run(binary, home, &args);
    assert_eq!(shown.code, 0, "{args:?}: {}", shown.stderr);
    assert!(!shown.stdout.contains("instance"), "{}", shown.stdout);
    assert!(
        shown.stderr.contains("property instance=\"x\" from -P is not used: (instance) is built in and is \"d1\" here"),
        "{}",
        shown.stderr
    );
}
