//! Parsing `#cloud-config` files: every module, every encoding, warnings for what is ignored,
//! and clear errors (file, line, field, what to do) for every kind of bad input.

use std::path::{Path, PathBuf};

use expect_test::{expect, Expect};
use lxops_core::cloudconfig::{self, CloudConfigError, RunCommand};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cloudconfig")
        .join(name)
}

/// Parses a test data file, naming it by its file name only (stable in golden output).
fn parse_data(name: &str) -> Result<cloudconfig::ParsedFile, CloudConfigError> {
    let text = std::fs::read_to_string(data(name)).expect("test data");
    cloudconfig::parse(&text, Path::new(name))
}

fn check_error(text: &str, expect: &Expect) {
    let err = cloudconfig::parse(text, Path::new("t.cfg")).expect_err("must fail");
    expect.assert_eq(&err.to_string());
}

#[test]
fn parses_every_module() {
    let parsed = parse_data("full.cfg").expect("valid");
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    expect![[r#"
        CloudConfig {
            write_files: [
                WriteFile {
                    path: "/etc/motd",
                    content: <redacted 8 bytes>,
                    owner: Owner {
                        user: Id(
                            0,
                        ),
                        group: Some(
                            Id(
                                0,
                            ),
                        ),
                    },
                    mode: 420,
                    append: false,
                    defer: false,
                },
                WriteFile {
                    path: "/etc/app/secret.conf",
                    content: <redacted 12 bytes>,
                    owner: Owner {
                        user: Name(
                            "app",
                        ),
                        group: Some(
                            Name(
                                "app",
                            ),
                        ),
                    },
                    mode: 384,
                    append: false,
                    defer: false,
                },
                WriteFile {
                    path: "/var/log/app.log",
                    content: <redacted 14 bytes>,
                    owner: Owner {
                        user: Id(
                            1000,
                        ),
                        group: None,
                    },
                    mode: 416,
                    append: true,
                    defer: true,
                },
            ],
            package_update: Some(
                true,
            ),
            package_upgrade: true,
            packages: [
                Package {
                    name: "curl",
                    version: None,
                },
                Package {
                    name: "vim",
                    version: Some(
                        "2:9.0",
                    ),
                },
            ],
            groups: [
                Group {
                    name: "admins",
                    members: [
                        "alice",
                    ],
                },
                Group {
                    name: "staff",
                    members: [],
                },
            ],
            users: [
                User {
                    name: "alice",
                    uid: Some(
                        1001,
                    ),
                    gecos: Some(
                        "Alice Example",
                    ),
                    shell: Some(
                        "/bin/bash",
                    ),
                    homedir: None,
                    no_create_home: false,
                    system: false,
                    primary_group: Some(
                        "alice",
                    ),
                    groups: [
                        "adm",
                        "staff",
                    ],
                    lock_passwd: Some(
                        false,
                    ),
                    hashed_passwd: Some(
                        <redacted 29 bytes>,
                    ),
                    passwd: None,
                    ssh_authorized_keys: <redacted 1 items>,
                    sudo: Some(
                        [],
                    ),
                },
                User {
                    name: "bob",
                    uid: None,
                    gecos: None,
                    shell: None,
                    homedir: Some(
                        "/srv/bob",
                    ),
                    no_create_home: true,
                    system: false,
                    primary_group: None,
                    groups: [
                        "adm",
                        "wheel",
                    ],
                    lock_passwd: Some(
                        true,
                    ),
                    hashed_passwd: None,
                    passwd: None,
                    ssh_authorized_keys: <redacted 0 items>,
                    sudo: Some(
                        [
                            "ALL=(ALL) ALL",
                            "ALL=(root) NOPASSWD:/usr/bin/apt-get",
                        ],
                    ),
                },
            ],
            timezone: Some(
                "Europe/London",
            ),
            runcmd: [
                Shell(
                    "echo \"hello $(hostname)\" > /tmp/hello",
                ),
                Argv(
                    [
                        "touch",
                        "/tmp/touched",
                    ],
                ),
                Argv(
                    [
                        "echo",
                        "1",
                        "true",
                    ],
                ),
            ],
        }
    "#]]
    .assert_debug_eq(&parsed.config);
    let secret = &parsed.config.write_files[1];
    assert_eq!(secret.content.expose(), b"secret value");
}

#[test]
fn debug_output_never_shows_secrets() {
    let parsed = parse_data("full.cfg").expect("valid");
    let debug = format!("{parsed:?} {parsed:#?}");
    for secret in [
        "HASHVALUE",
        "KEYMATERIAL",
        "secret value",
        "Welcome",
        "appended",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
}

#[test]
fn decodes_every_encoding() {
    let text = "hello, cloud\n";
    let b64 = "aGVsbG8sIGNsb3VkCg==";
    // gzip of "hello, cloud\n" (made with `gzip -n`), base64-encoded.
    let gz_b64 = "H4sIAAAAAAAAA8tIzcnJ11FIzskvTeECALNZR5oNAAAA";
    let gz = base64_decode(gz_b64);
    let cases: &[(&str, &[u8])] = &[
        ("", text.as_bytes()),
        ("text/plain", text.as_bytes()),
        ("b64", b64.as_bytes()),
        ("base64", b64.as_bytes()),
        ("B64", b64.as_bytes()),
        ("gz+b64", gz_b64.as_bytes()),
        ("gz+base64", gz_b64.as_bytes()),
        ("gzip+base64", gz_b64.as_bytes()),
        ("gzip+b64", gz_b64.as_bytes()),
    ];
    for (encoding, content) in cases {
        let content = std::str::from_utf8(content).expect("utf-8 test input");
        let decoded = cloudconfig::decode(content, encoding)
            .unwrap_or_else(|e| panic!("encoding {encoding:?}: {e}"));
        assert_eq!(decoded, text.as_bytes(), "encoding {encoding:?}");
    }
    for encoding in ["gz", "gzip"] {
        let decoded = cloudconfig::decode_bytes(&gz, encoding).expect("valid gzip");
        assert_eq!(decoded, text.as_bytes(), "encoding {encoding:?}");
    }
    // Base64 split over lines (a YAML block scalar) and without padding.
    let split = "aGVsbG8s\n  IGNsb3Vk\nCg";
    assert_eq!(
        cloudconfig::decode(split, "base64").expect("valid"),
        text.as_bytes()
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    cloudconfig::decode(s, "b64").expect("valid base64")
}

#[test]
fn binary_gzip_content_as_in_the_cloud_init_docs() {
    let text = "#cloud-config\nwrite_files:\n-   encoding: gzip\n    content: !!binary |\n        H4sIAAAAAAAAA8tIzcnJ11FIzskvTeECALNZR5oNAAAA\n    path: /usr/local/share/hello\n";
    let parsed = cloudconfig::parse(text, Path::new("t.cfg")).expect("valid");
    assert_eq!(
        parsed.config.write_files[0].content.expose(),
        b"hello, cloud\n"
    );
}

#[test]
fn permissions_forms() {
    // Quoted or not, digits are octal (cloud-init 22.4 reads an unquoted 644 as decimal, mode
    // 1204); `0o` and `0x` numbers are read as written, not as the YAML parser's decimal value.
    let cases: &[(&str, u32)] = &[
        ("'0644'", 0o644),
        ("'644'", 0o644),
        ("0644", 0o644),
        ("644", 0o644),
        ("'0o600'", 0o600),
        ("0o600", 0o600),
        ("0o4755  # setuid", 0o4755),
        ("0x1ed", 0o755),
        ("'4755'", 0o4755),
        ("'2750'", 0o2750),
        ("1777", 0o1777),
        ("'0400'", 0o400),
    ];
    for (yaml, mode) in cases {
        let block = format!("#cloud-config\nwrite_files:\n- path: /a\n  permissions: {yaml}\n");
        let flow = format!(
            "#cloud-config\nwrite_files:\n  - {{path: /a, permissions: {}}}\n",
            yaml.split(" #").next().unwrap_or(yaml)
        );
        for text in [block, flow] {
            let parsed = cloudconfig::parse(&text, Path::new("t.cfg"))
                .unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(parsed.config.write_files[0].mode, *mode, "{text}");
        }
    }
}

#[test]
fn groups_and_user_groups_forms() {
    let cases: &[(&str, &str)] = &[
        ("groups: [a, b]", "a:[] b:[]"),
        ("groups: {a: [x, y], b: null}", "a:[x,y] b:[]"),
        ("groups: {a: 'x, y'}", "a:[x,y]"),
        ("groups: [{a: [x]}, b]", "a:[x] b:[]"),
        ("groups: 'a, b'", "a:[] b:[]"),
        ("users: [{name: u, groups: 'a,b , c'}]", "u:[a,b,c]"),
        ("users: [{name: u, groups: [a, b]}]", "u:[a,b]"),
        ("users: [u1, {name: u2}]", "u1:[] u2:[]"),
    ];
    for (yaml, want) in cases {
        let text = format!("#cloud-config\n{yaml}\n");
        let parsed =
            cloudconfig::parse(&text, Path::new("t.cfg")).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let c = &parsed.config;
        let got: Vec<String> = c
            .groups
            .iter()
            .map(|g| format!("{}:[{}]", g.name, g.members.join(",")))
            .chain(
                c.users
                    .iter()
                    .map(|u| format!("{}:[{}]", u.name, u.groups.join(","))),
            )
            .collect();
        assert_eq!(got.join(" "), *want, "{yaml}");
    }
}

#[test]
fn runcmd_forms() {
    let text = "#cloud-config\nruncmd:\n  - ls -l /\n  - [ls, -l, /]\n  - [sleep, 1]\n";
    let parsed = cloudconfig::parse(text, Path::new("t.cfg")).expect("valid");
    assert_eq!(
        parsed.config.runcmd,
        vec![
            RunCommand::Shell("ls -l /".into()),
            RunCommand::Argv(vec!["ls".into(), "-l".into(), "/".into()]),
            RunCommand::Argv(vec!["sleep".into(), "1".into()]),
        ]
    );
}

#[test]
fn header_and_empty_files() {
    let ok: &[&str] = &[
        "#cloud-config\n",
        "#cloud-config",
        "#cloud-config  \r\n{}\n",
        "\u{feff}#cloud-config\n",
    ];
    for text in ok {
        let parsed = cloudconfig::parse(text, Path::new("t.cfg"))
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(parsed.config, Default::default());
    }
}

#[test]
fn warns_about_ignored_modules_and_keys_with_lines() {
    let parsed = parse_data("unknown.cfg").expect("valid");
    let warnings: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    expect![[r#"
        unknown.cfg:2: warning: unknown module `hostname` is ignored (lxops applies write_files, packages, package_update, package_upgrade, groups, users, timezone, runcmd)
        unknown.cfg:5: warning: write_files[0]: unknown key `mode` is ignored (known: path, content, owner, permissions, encoding, append, defer); for the file mode use `permissions`
        unknown.cfg:8: warning: users[0]: the `default` user is not supported and is ignored
        unknown.cfg:10: warning: users[1]: unknown key `plain_text_passwd` is ignored (known: name, uid, gecos, shell, homedir, no_create_home, system, primary_group, groups, lock_passwd, hashed_passwd, passwd, ssh_authorized_keys, sudo)
        unknown.cfg:11: warning: unknown module `bootcmd` is ignored (lxops applies write_files, packages, package_update, package_upgrade, groups, users, timezone, runcmd)"#]]
    .assert_eq(&warnings.join("\n"));
    assert!(!warnings.join("\n").contains("hunter2"));
}

#[test]
fn missing_header_names_the_file() {
    let err = parse_data("no-header.cfg").expect_err("must fail");
    expect![[r##"no-header.cfg:1: not a cloud-config file: the first line must be `#cloud-config`, found "#!/bin/sh""##]]
        .assert_eq(&err.to_string());
    check_error(
        "",
        &expect![[
            r#"t.cfg:1: not a cloud-config file: the first line must be `#cloud-config`, found """#
        ]],
    );
    check_error(
        "#cloud-config-archive\n",
        &expect![[
            r##"t.cfg:1: not a cloud-config file: the first line must be `#cloud-config`, found "#cloud-config-archive""##
        ]],
    );
}

#[test]
fn bad_yaml_names_file_and_line() {
    let err = parse_data("bad-yaml.cfg").expect_err("must fail");
    expect!["bad-yaml.cfg: invalid YAML: did not find expected ',' or ']' at line 3 column 7, while parsing a flow sequence at line 2 column 11"]
        .assert_eq(&err.to_string());
}

#[test]
fn reports_every_bad_value_of_a_file() {
    let err = parse_data("bad-values.cfg").expect_err("must fail");
    expect![[r#"
        bad-values.cfg:3: write_files[0].path: "relative/path" is not an absolute path; paths inside the instance start with '/'
        bad-values.cfg:6: write_files[1].permissions: "0689" is not a file mode; write it in octal like '0644', '0o644' or '4755' (at most 07777)
        bad-values.cfg:8: write_files[2].encoding: unknown encoding "rot13"; use one of b64, base64, gz, gzip, gz+b64, gz+base64, gzip+b64, gzip+base64
        bad-values.cfg:12: write_files[3].content: content is not valid base64 (Invalid symbol 33, offset 0.); check the encoding
        bad-values.cfg:14: write_files[4].owner: "bad owner" is not an owner; write user, user:group or uid:gid (e.g. root:adm)
        bad-values.cfg:15: write_files[5]: `path` is missing; give the absolute path of the file
        bad-values.cfg:17: users[0].name: "bob; rm -rf /" is not a valid user name; use letters, digits, '_', '.' and '-' (not first), at most 32 characters
        bad-values.cfg:19: users[1].uid: "abc" is not a numeric user id
        bad-values.cfg:21: users[1].groups: must be a list of group names or a comma-separated string, found a mapping
        bad-values.cfg:20: users[1].sudo: must be true, false, a rule or a list of rules, found a number
        bad-values.cfg:22: packages: must be a list, found a string
        bad-values.cfg:24: runcmd[0]: empty command
        bad-values.cfg:25: runcmd[1]: empty command"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn rejects_bad_values() {
    let cases: &[(&str, Expect)] = &[
        ("- 1\n- 2", expect![[r#"t.cfg:2: (top level): a cloud-config file must be a mapping of modules (write_files:, packages:, users:, ...)"#]]),
        ("write_files: {path: /a}", expect![[r#"t.cfg:2: write_files: must be a list, found a mapping"#]]),
        ("write_files: [/a]", expect![[r#"t.cfg:2: write_files[0]: must be a mapping, found a string"#]]),
        ("write_files: [{path: /a, append: maybe}]", expect![[r#"t.cfg:2: write_files[0].append: must be true or false, found "maybe""#]]),
        ("write_files: [{path: /a/../b}]", expect![[r#"t.cfg:2: write_files[0].path: "/a/../b" contains '..'; write the path without it"#]]),
        ("write_files: [{path: /a, permissions: '77777'}]", expect![[r#"t.cfg:2: write_files[0].permissions: "77777" is not a file mode; write it in octal like '0644', '0o644' or '4755' (at most 07777)"#]]),
        ("write_files: [{path: /a, permissions: [1]}]", expect![[r#"t.cfg:2: write_files[0].permissions: must be an octal mode such as '0644', found a list"#]]),
        ("write_files: [{path: /a, encoding: gz, content: plain}]", expect!["t.cfg:2: write_files[0].content: content is not valid gzip data (unexpected end of file); check the encoding"]),
        ("write_files: [{path: /a, owner: 'a:b:c'}]", expect![[r#"t.cfg:2: write_files[0].owner: "a:b:c" is not an owner; write user, user:group or uid:gid (e.g. root:adm)"#]]),
        ("write_files: [{path: /a, owner: ':x'}]", expect![[r#"t.cfg:2: write_files[0].owner: ":x" is not an owner; write user, user:group or uid:gid (e.g. root:adm)"#]]),
        ("packages: [-y]", expect![[r#"t.cfg:2: packages[0]: package names and versions must be non-empty, without spaces, and must not start with '-'"#]]),
        ("packages: ['a b']", expect![[r#"t.cfg:2: packages[0]: package names and versions must be non-empty, without spaces, and must not start with '-'"#]]),
        ("packages: [[a, b, c]]", expect![[r#"t.cfg:2: packages[0]: a list entry must be [name, version]"#]]),
        ("packages: [{a: b}]", expect![[r#"t.cfg:2: packages[0]: must be a package name, found a mapping"#]]),
        ("package_update: 1", expect![[r#"t.cfg:2: package_update: must be true or false, found a number"#]]),
        ("users: [{uid: 1}]", expect![[r#"t.cfg:2: users[0]: `name` is missing"#]]),
        ("users: [{name: -rf}]", expect![[r#"t.cfg:2: users[0].name: "-rf" is not a valid user name; use letters, digits, '_', '.' and '-' (not first), at most 32 characters"#]]),
        ("users: [{name: u, shell: bash}]", expect![[r#"t.cfg:2: users[0].shell: "bash" is not an absolute path; paths inside the instance start with '/'"#]]),
        ("users: [{name: u, homedir: home/u}]", expect![[r#"t.cfg:2: users[0].homedir: "home/u" is not an absolute path; paths inside the instance start with '/'"#]]),
        ("users: [{name: u, gecos: 'a:b'}]", expect![[r#"t.cfg:2: users[0].gecos: must not contain ':' or line breaks"#]]),
        ("users: [{name: u, groups: [ok, 'b c']}]", expect![[r#"t.cfg:2: users[0].groups: "b c" is not a valid group name; use letters, digits, '_', '.' and '-' (not first), at most 32 characters"#]]),
        ("users: [{name: u, primary_group: 'x;y'}]", expect![[r#"t.cfg:2: users[0].primary_group: "x;y" is not a valid group name; use letters, digits, '_', '.' and '-' (not first), at most 32 characters"#]]),
        ("users: [{name: u, hashed_passwd: 'a:b'}]", expect![[r#"t.cfg:2: users[0].hashed_passwd: must be one crypt(3) hash, without ':' or line breaks"#]]),
        ("users: [{name: u, ssh_authorized_keys: ['']}]", expect![[r#"t.cfg:2: users[0].ssh_authorized_keys: each key must be one non-empty line of text"#]]),
        ("users: [{name: u, ssh_authorized_keys: {a: b}}]", expect![[r#"t.cfg:2: users[0].ssh_authorized_keys: must be a list, found a mapping"#]]),
        ("users: [{name: u, sudo: \"ALL\\nroot ALL\"}]", expect![[r#"t.cfg:2: users[0].sudo: each sudo rule must be one non-empty line"#]]),
        ("users: [{name: u, lock_passwd: sure}]", expect![[r#"t.cfg:2: users[0].lock_passwd: must be true or false, found "sure""#]]),
        ("groups: [{'a b': [x]}]", expect![[r#"t.cfg:2: groups[0]: "a b" is not a valid group name; use letters, digits, '_', '.' and '-' (not first), at most 32 characters"#]]),
        ("timezone: ../../etc/passwd", expect![[r#"t.cfg:2: timezone: "../../etc/passwd" is not a time zone name; write it like Europe/London or UTC"#]]),
        ("timezone: '-u'", expect![[r#"t.cfg:2: timezone: "-u" is not a time zone name; write it like Europe/London or UTC"#]]),
        ("timezone: [UTC]", expect![[r#"t.cfg:2: timezone: must be a string, found a list"#]]),
        ("runcmd: ls", expect![[r#"t.cfg:2: runcmd: must be a list, found a string"#]]),
        ("runcmd: [ls, false]", expect!["t.cfg:2: runcmd[1]: must be a shell command string or an argv list, found a boolean; quote it (e.g. 'false')"]),
        ("runcmd: [[ls, [a]]]", expect![[r#"t.cfg:2: runcmd[0]: every word of a command list must be a string or a number"#]]),
        ("runcmd: [{a: b}]", expect![[r#"t.cfg:2: runcmd[0]: must be a shell command string or an argv list, found a mapping"#]]),
    ];
    for (yaml, expect) in cases {
        check_error(&format!("#cloud-config\n{yaml}\n"), expect);
    }
}

#[test]
fn parse_all_reports_every_bad_file_before_anything_runs() {
    let paths = vec![
        data("full.cfg"),
        data("no-header.cfg"),
        data("bad-yaml.cfg"),
        data("missing.cfg"),
    ];
    let err = cloudconfig::parse_all(&paths).expect_err("must fail");
    let CloudConfigError::Several(errors) = &err else {
        panic!("expected several errors, got {err}");
    };
    let kinds: Vec<&str> = errors
        .iter()
        .map(|e| match e {
            CloudConfigError::MissingHeader { .. } => "header",
            CloudConfigError::Yaml { .. } => "yaml",
            CloudConfigError::Read { .. } => "read",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["header", "yaml", "read"]);
    let message = err.to_string();
    for name in ["no-header.cfg", "bad-yaml.cfg", "missing.cfg"] {
        assert!(message.contains(name), "{message}");
    }

    let ok = cloudconfig::parse_all(&[data("full.cfg"), data("unknown.cfg")]).expect("valid");
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].path, data("full.cfg"));
}

#[test]
fn packages_lists_every_file_in_order_without_duplicates() {
    let a = cloudconfig::parse("#cloud-config\npackages: [curl, vim]\n", Path::new("a"))
        .expect("valid");
    let b = cloudconfig::parse(
        "#cloud-config\npackages: [vim, [jq, '1.6']]\n",
        Path::new("b"),
    )
    .expect("valid");
    assert_eq!(cloudconfig::packages(&[a, b]), ["curl", "vim", "jq=1.6"]);
}

#[test]
fn help_names_every_module_key_and_encoding() {
    let help = cloudconfig::HELP;
    let keys = cloudconfig::MODULES
        .iter()
        .chain(cloudconfig::USERS_KEYS)
        .chain(cloudconfig::WRITE_FILES_KEYS);
    for key in keys {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{key} "))
                    || l.trim_start().starts_with(&format!("{key}:"))),
            "help cloud-config lacks {key}"
        );
    }
    for encoding in cloudconfig::ENCODINGS.split(", ") {
        assert!(help.contains(encoding), "help lacks encoding {encoding}");
    }
    for name in cloudconfig::OsTypes::builtin().names() {
        assert!(help.contains(&name), "help lacks OS type {name}");
    }
}
