//! Planning cloud-config: the exact steps (files and argv commands) per OS type, the module
//! order, user values that stay single argv elements, and secrets that never show.

use std::path::Path;

use expect_test::{expect, Expect};
use lxops_core::cloudconfig::{self, Action, Module, OsType, OsTypes, ParsedFile, PlanError, Step};

fn full() -> ParsedFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloudconfig/full.cfg");
    let text = std::fs::read_to_string(path).expect("test data");
    cloudconfig::parse(&text, Path::new("full.cfg")).expect("valid")
}

fn parse(text: &str) -> ParsedFile {
    cloudconfig::parse(text, Path::new("t.cfg")).expect("valid")
}

fn render(steps: &[Step]) -> String {
    let lines: Vec<String> = steps.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

fn check_os(os: &str, expect: Expect) {
    let types = OsTypes::builtin();
    let os = types.get(os).expect("built-in OS type");
    let rendered = match cloudconfig::plan_all(&[full()], os) {
        Ok(steps) => render(&steps),
        Err(e) => format!("error: {e}"),
    };
    expect.assert_eq(&rendered);
}

#[test]
fn registry_has_the_builtin_types_and_can_be_extended() {
    let mut types = OsTypes::builtin();
    assert_eq!(
        types.names(),
        ["alpine", "debian", "fedora", "openwrt", "ubuntu"]
    );
    struct Custom;
    impl OsType for Custom {
        fn name(&self) -> &str {
            "custom"
        }
        fn update_packages(&self) -> Option<Vec<cloudconfig::Command>> {
            None
        }
        fn upgrade_packages(&self) -> Option<Vec<cloudconfig::Command>> {
            None
        }
        fn install_packages(
            &self,
            packages: &[cloudconfig::Package],
        ) -> Option<Vec<cloudconfig::Command>> {
            let mut argv = vec!["pkg".to_string(), "add".into()];
            argv.extend(packages.iter().map(|p| p.name.clone()));
            Some(vec![cloudconfig::Command::new(argv)])
        }
        fn add_group(&self, _name: &str) -> Option<cloudconfig::Command> {
            None
        }
        fn add_user(&self, _user: &cloudconfig::User) -> Option<cloudconfig::Command> {
            None
        }
        fn set_timezone(&self, _timezone: &str) -> Option<Vec<Action>> {
            None
        }
    }
    types.register(Box::new(Custom));
    assert!(types.names().contains(&"custom".to_string()));
    let steps = cloudconfig::plan_all(
        &[parse("#cloud-config\npackages: [x]\n")],
        types.get("custom").expect("registered"),
    )
    .expect("plan");
    assert_eq!(render(&steps), "t.cfg: packages: exec pkg add x");
    assert!(OsTypes::empty().get("debian").is_none());
    assert!(types.get("Debian").is_none());
}

#[test]
fn debian_steps() {
    check_os(
        "debian",
        expect![[r#"
            full.cfg: write_files: write /etc/motd (mode 0644, owner root:root, 8 bytes)
            full.cfg: write_files: write /etc/app/secret.conf (mode 0600, owner app:app, 12 bytes)
            full.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get update
            full.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get -y -oDpkg::Options::=--force-confold upgrade
            full.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get -y -oDpkg::Options::=--force-confold install curl vim=2:9.0
            full.cfg: groups: group admins: unless it exists: groupadd admins
            full.cfg: groups: group staff: unless it exists: groupadd staff
            full.cfg: users: group alice: unless it exists: groupadd alice
            full.cfg: users: group adm: unless it exists: groupadd adm
            full.cfg: users: user alice: unless it exists: useradd --comment 'Alice Example' --gid alice --shell /bin/bash --uid 1001 -m alice; if it exists: usermod -s /bin/bash alice
            full.cfg: users: exec usermod -a -G adm,staff alice
            full.cfg: users: group wheel: unless it exists: groupadd wheel
            full.cfg: users: user bob: unless it exists: useradd --home /srv/bob -M bob
            full.cfg: users: exec usermod -a -G adm,wheel bob
            full.cfg: groups: exec usermod -a -G admins alice
            full.cfg: users: exec chpasswd -e < (stdin: 36 bytes, not shown)
            full.cfg: users: exec passwd -l bob
            full.cfg: users: write /etc/sudoers.d/alice (mode 0440, owner root:root, 29 bytes) if /etc/sudoers.d exists
            full.cfg: users: check /etc/sudoers.d/alice with visudo -c where the instance has visudo (removed if invalid)
            full.cfg: users: write /etc/sudoers.d/bob (mode 0440, owner root:root, 59 bytes) if /etc/sudoers.d exists
            full.cfg: users: check /etc/sudoers.d/bob with visudo -c where the instance has visudo (removed if invalid)
            full.cfg: users: add 1 keys to ~alice/.ssh/authorized_keys (mode 0600, .ssh mode 0700, owner alice)
            full.cfg: timezone: check that /usr/share/zoneinfo/Europe/London exists
            full.cfg: timezone: exec ln -sf /usr/share/zoneinfo/Europe/London /etc/localtime
            full.cfg: timezone: write /etc/timezone (mode 0644, owner root:root, 14 bytes)
            full.cfg: write_files (deferred): append to /var/log/app.log (mode 0640, owner 1000, 14 bytes)
            full.cfg: runcmd: run as one /bin/sh script from /: [0] echo "hello $(hostname)" > /tmp/hello [1] touch /tmp/touched [2] echo 1 true"#]],
    );
}

#[test]
fn ubuntu_steps_are_debian_steps() {
    let types = OsTypes::builtin();
    let plan =
        |name: &str| cloudconfig::plan_all(&[full()], types.get(name).expect("os")).expect("plan");
    assert_eq!(plan("ubuntu"), plan("debian"));
}

#[test]
fn alpine_steps() {
    check_os(
        "alpine",
        expect![[r#"
            full.cfg: write_files: write /etc/motd (mode 0644, owner root:root, 8 bytes)
            full.cfg: write_files: write /etc/app/secret.conf (mode 0600, owner app:app, 12 bytes)
            full.cfg: packages: exec apk update
            full.cfg: packages: exec apk upgrade
            full.cfg: packages: exec apk add curl vim=2:9.0
            full.cfg: groups: group admins: unless it exists: addgroup admins
            full.cfg: groups: group staff: unless it exists: addgroup staff
            full.cfg: users: group alice: unless it exists: addgroup alice
            full.cfg: users: group adm: unless it exists: addgroup adm
            full.cfg: users: user alice: unless it exists: adduser -g 'Alice Example' -D -u 1001 -s /bin/bash -G alice alice; if it exists: set shell /bin/bash in /etc/passwd
            full.cfg: users: exec adduser alice adm
            full.cfg: users: exec adduser alice staff
            full.cfg: users: group wheel: unless it exists: addgroup wheel
            full.cfg: users: user bob: unless it exists: adduser -g '' -D -H -h /srv/bob bob
            full.cfg: users: exec adduser bob adm
            full.cfg: users: exec adduser bob wheel
            full.cfg: groups: exec adduser alice admins
            full.cfg: users: exec chpasswd -e < (stdin: 36 bytes, not shown)
            full.cfg: users: exec passwd -l bob
            full.cfg: users: write /etc/sudoers.d/alice (mode 0440, owner root:root, 29 bytes) if /etc/sudoers.d exists
            full.cfg: users: check /etc/sudoers.d/alice with visudo -c where the instance has visudo (removed if invalid)
            full.cfg: users: write /etc/doas.d/alice.conf (mode 0600, owner root:root, 20 bytes) if /etc/doas.d exists
            full.cfg: users: write /etc/sudoers.d/bob (mode 0440, owner root:root, 59 bytes) if /etc/sudoers.d exists
            full.cfg: users: check /etc/sudoers.d/bob with visudo -c where the instance has visudo (removed if invalid)
            full.cfg: users: write /etc/doas.d/bob.conf (mode 0600, owner root:root, 59 bytes) if /etc/doas.d exists
            full.cfg: users: add 1 keys to ~alice/.ssh/authorized_keys (mode 0600, .ssh mode 0700, owner alice)
            full.cfg: timezone: exec setup-timezone -z Europe/London
            full.cfg: write_files (deferred): append to /var/log/app.log (mode 0640, owner 1000, 14 bytes)
            full.cfg: runcmd: run as one /bin/sh script from /: [0] echo "hello $(hostname)" > /tmp/hello [1] touch /tmp/touched [2] echo 1 true"#]],
    );
}

#[test]
fn fedora_steps() {
    check_os(
        "fedora",
        expect![[r#"
            full.cfg: write_files: write /etc/motd (mode 0644, owner root:root, 8 bytes)
            full.cfg: write_files: write /etc/app/secret.conf (mode 0600, owner app:app, 12 bytes)
            full.cfg: packages: exec dnf -y makecache
            full.cfg: packages: exec dnf -y upgrade
            full.cfg: packages: exec dnf -y install curl vim-2:9.0
            full.cfg: groups: group admins: unless it exists: groupadd admins
            full.cfg: groups: group staff: unless it exists: groupadd staff
            full.cfg: users: group alice: unless it exists: groupadd alice
            full.cfg: users: group adm: unless it exists: groupadd adm
            full.cfg: users: user alice: unless it exists: useradd --comment 'Alice Example' --gid alice --shell /bin/bash --uid 1001 -m alice; if it exists: usermod -s /bin/bash alice
            full.cfg: users: exec usermod -a -G adm,staff alice
            full.cfg: users: group wheel: unless it exists: groupadd wheel
            full.cfg: users: user bob: unless it exists: useradd --home /srv/bob -M bob
            full.cfg: users: exec usermod -a -G adm,wheel bob
            full.cfg: groups: exec usermod -a -G admins alice
            full.cfg: users: exec chpasswd -e < (stdin: 36 bytes, not shown)
            full.cfg: users: exec passwd -l bob
            full.cfg: users: write /etc/sudoers.d/alice (mode 0440, owner root:root, 29 bytes) if /etc/sudoers.d exists
            full.cfg: users: check /etc/sudoers.d/alice with visudo -c where the instance has visudo (removed if invalid)
            full.cfg: users: write /etc/sudoers.d/bob (mode 0440, owner root:root, 59 bytes) if /etc/sudoers.d exists
            full.cfg: users: check /etc/sudoers.d/bob with visudo -c where the instance has visudo (removed if invalid)
            full.cfg: users: add 1 keys to ~alice/.ssh/authorized_keys (mode 0600, .ssh mode 0700, owner alice)
            full.cfg: timezone: check that /usr/share/zoneinfo/Europe/London exists
            full.cfg: timezone: exec ln -sf /usr/share/zoneinfo/Europe/London /etc/localtime
            full.cfg: write_files (deferred): append to /var/log/app.log (mode 0640, owner 1000, 14 bytes)
            full.cfg: runcmd: run as one /bin/sh script from /: [0] echo "hello $(hostname)" > /tmp/hello [1] touch /tmp/touched [2] echo 1 true"#]],
    );
}

#[test]
fn openwrt_steps() {
    check_os("openwrt", expect!["error: full.cfg: packages: the openwrt OS type cannot upgrade packages; remove the module or use another ostype"]);
    let types = OsTypes::builtin();
    let openwrt = types.get("openwrt").expect("os");
    let steps = cloudconfig::plan_all(
        &[parse(
            "#cloud-config\npackage_update: true\npackages: [luci]\nwrite_files: [{path: /etc/banner, content: hi}]\nruncmd: [reboot]\n",
        )],
        openwrt,
    )
    .expect("plan");
    expect![[r#"
        t.cfg: write_files: write /etc/banner (mode 0644, owner root:root, 2 bytes)
        t.cfg: packages: exec opkg update
        t.cfg: packages: exec opkg install luci
        t.cfg: runcmd: run as one /bin/sh script from /: [0] reboot"#]]
    .assert_eq(&render(&steps));
}

#[test]
fn unsupported_modules_fail_before_anything_runs() {
    let types = OsTypes::builtin();
    let openwrt = types.get("openwrt").expect("os");
    let cases: &[(&str, Expect)] = &[
        ("users: [u]", expect!["t.cfg: users: the openwrt OS type cannot create users; remove the module or use another ostype"]),
        ("groups: [g]", expect!["t.cfg: groups: the openwrt OS type cannot create groups; remove the module or use another ostype"]),
        ("timezone: UTC", expect!["t.cfg: timezone: the openwrt OS type cannot set the time zone; remove the module or use another ostype"]),
        ("package_upgrade: true", expect!["t.cfg: packages: the openwrt OS type cannot upgrade packages; remove the module or use another ostype"]),
    ];
    for (yaml, expect) in cases {
        let err: PlanError =
            cloudconfig::plan_all(&[parse(&format!("#cloud-config\n{yaml}\n"))], openwrt)
                .expect_err("unsupported");
        expect.assert_eq(&err.to_string());
    }
}

#[test]
fn modules_run_in_the_original_order_per_file() {
    let types = OsTypes::builtin();
    let debian = types.get("debian").expect("os");
    let second = parse("#cloud-config\nruncmd: [second]\nwrite_files: [{path: /second}]\n");
    let steps = cloudconfig::plan_all(&[full(), second], debian).expect("plan");
    let mut order: Vec<String> = Vec::new();
    for step in &steps {
        let label = format!("{}: {}", step.path.display(), step.module);
        if order.last() != Some(&label) {
            order.push(label);
        }
    }
    expect![[r#"
        full.cfg: write_files
        full.cfg: packages
        full.cfg: groups
        full.cfg: users
        full.cfg: groups
        full.cfg: users
        full.cfg: timezone
        full.cfg: write_files (deferred)
        full.cfg: runcmd
        t.cfg: write_files
        t.cfg: runcmd"#]]
    .assert_eq(&order.join("\n"));
    let first_runcmd = steps
        .iter()
        .position(|s| s.module == Module::Runcmd)
        .expect("runcmd");
    let last_deferred = steps
        .iter()
        .rposition(|s| s.module == Module::DeferredWriteFiles)
        .expect("deferred");
    assert!(
        last_deferred < first_runcmd,
        "deferred files come before runcmd"
    );
}

#[test]
fn user_values_stay_single_argv_elements() {
    let text = r#"#cloud-config
packages: ["foo$(reboot)", "bar;reboot"]
users:
  - name: mallory
    gecos: "x; reboot; $(id) `id` 'q'"
    shell: "/bin/sh -c reboot"
runcmd:
  - [echo, "$(reboot)", "; rm -rf /", "a b"]
  - "echo $HOME; exit 3"
"#;
    let types = OsTypes::builtin();
    for name in types.names() {
        let os = types.get(&name).expect("os");
        let Ok(steps) = cloudconfig::plan_all(&[parse(text)], os) else {
            continue; // openwrt cannot create users
        };
        let argvs: Vec<&Vec<String>> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Exec(c) => Some(&c.argv),
                Action::EnsureUser { create, .. } => Some(&create.argv),
                _ => None,
            })
            .collect();
        let has = |word: &str| argvs.iter().any(|argv| argv.iter().any(|a| a == word));
        for word in ["foo$(reboot)", "bar;reboot", "/bin/sh -c reboot"] {
            assert!(has(word), "{name}: {word:?} is not one argv element");
        }
        // runcmd is cloud-init's script: a list's words are quoted, a string is shell text.
        let script: Vec<&Vec<String>> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::RunScript { entries } => Some(entries),
                _ => None,
            })
            .collect();
        assert_eq!(
            script,
            [&vec![
                "echo '$(reboot)' '; rm -rf /' 'a b'".to_string(),
                "echo $HOME; exit 3".to_string()
            ]],
            "{name}"
        );
        if name != "fedora" && name != "alpine" && name != "debian" {
            continue;
        }
        assert!(has("x; reboot; $(id) `id` 'q'"), "{name}: gecos");
        // A `sh -c` script is only ever a fixed one, with values as its arguments.
        for argv in &argvs {
            if argv.first().map(String::as_str) == Some("/bin/sh") {
                assert!(
                    !argv[2].contains("reboot") && !argv[2].contains("HOME"),
                    "{argv:?}"
                );
            }
        }
    }
    // --dry-run shows them quoted.
    let types = OsTypes::builtin();
    let steps =
        cloudconfig::plan_all(&[parse(text)], types.get("debian").expect("os")).expect("plan");
    expect![[r#"
        t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get update
        t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get -y -oDpkg::Options::=--force-confold install 'foo$(reboot)' 'bar;reboot'
        t.cfg: users: user mallory: unless it exists: useradd --comment 'x; reboot; $(id) `id` '\''q'\''' --shell '/bin/sh -c reboot' -m mallory; if it exists: usermod -s '/bin/sh -c reboot' mallory
        t.cfg: users: exec passwd -l mallory
        t.cfg: runcmd: run as one /bin/sh script from /: [0] echo '$(reboot)' '; rm -rf /' 'a b' [1] echo $HOME; exit 3"#]].assert_eq(&render(&steps));
}

#[test]
fn secrets_never_show_in_display_or_debug() {
    let types = OsTypes::builtin();
    for name in ["alpine", "debian", "fedora"] {
        let steps = cloudconfig::plan_all(&[full()], types.get(name).expect("os")).expect("plan");
        let shown = format!("{}\n{steps:?}\n{steps:#?}", render(&steps));
        for secret in [
            "HASHVALUE",
            "KEYMATERIAL",
            "secret value",
            "Welcome",
            "appended line",
        ] {
            assert!(!shown.contains(secret), "{name}: {secret} leaked");
        }
    }
}

#[test]
fn passwords_and_locks() {
    let text = "#cloud-config\nusers:\n  - {name: a, hashed_passwd: HASH_A}\n  - {name: b}\n  - {name: c, lock_passwd: true}\n  - {name: d, hashed_passwd: HASH_D, lock_passwd: true}\n";
    let types = OsTypes::builtin();
    for (os, expect) in [
        (
            "alpine",
            expect![[r#"
                t.cfg: users: user a: unless it exists: adduser -g '' -D a
                t.cfg: users: user b: unless it exists: adduser -g '' -D b
                t.cfg: users: user c: unless it exists: adduser -g '' -D c
                t.cfg: users: user d: unless it exists: adduser -g '' -D d
                t.cfg: users: exec chpasswd -e < (stdin: 22 bytes, not shown)
                t.cfg: users: exec passwd -l a
                t.cfg: users: exec passwd -l c
                t.cfg: users: exec passwd -l d
                stdin:
                a:HASH_A
                b:*
                d:HASH_D
            "#]],
        ),
        (
            "debian",
            expect![[r#"
                t.cfg: users: user a: unless it exists: useradd -m a
                t.cfg: users: user b: unless it exists: useradd -m b
                t.cfg: users: user c: unless it exists: useradd -m c
                t.cfg: users: user d: unless it exists: useradd -m d
                t.cfg: users: exec chpasswd -e < (stdin: 18 bytes, not shown)
                t.cfg: users: exec passwd -l a
                t.cfg: users: exec passwd -l b
                t.cfg: users: exec passwd -l c
                t.cfg: users: exec passwd -l d
                stdin:
                a:HASH_A
                d:HASH_D
            "#]],
        ),
    ] {
        let steps =
            cloudconfig::plan_all(&[parse(text)], types.get(os).expect("os")).expect("plan");
        let stdin: Vec<String> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Exec(c) => c
                    .stdin
                    .as_ref()
                    .map(|i| String::from_utf8_lossy(i.expose()).into_owned()),
                _ => None,
            })
            .collect();
        expect.assert_eq(&format!(
            "{}\nstdin:\n{}",
            render(&steps),
            stdin.join("---\n")
        ));
    }
}

#[test]
fn packages_imply_the_index_refresh_and_false_refreshes_only_a_missing_index() {
    let cases = [
        (
            "packages: [curl]",
            expect![[r#"
            debian:
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get update
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get -y -oDpkg::Options::=--force-confold install curl
            alpine:
            t.cfg: packages: exec apk update
            t.cfg: packages: exec apk add curl
            fedora:
            t.cfg: packages: exec dnf -y makecache
            t.cfg: packages: exec dnf -y install curl
            openwrt:
            t.cfg: packages: exec opkg update
            t.cfg: packages: exec opkg install curl"#]],
        ),
        (
            "package_update: false\npackages: [curl]",
            expect![[r#"
            debian:
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive /bin/sh -c 'for f in /var/lib/apt/lists/*_Packages; do [ -e "$f" ] && exit 0; done; exec "$@"' package-index apt-get update
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get -y -oDpkg::Options::=--force-confold install curl
            alpine:
            t.cfg: packages: exec /bin/sh -c 'for f in /var/cache/apk/APKINDEX.*.tar.gz; do [ -e "$f" ] && exit 0; done; exec "$@"' package-index apk update
            t.cfg: packages: exec apk add curl
            fedora:
            t.cfg: packages: exec /bin/sh -c 'for f in /var/cache/dnf/*.solv; do [ -e "$f" ] && exit 0; done; exec "$@"' package-index dnf -y makecache
            t.cfg: packages: exec dnf -y install curl
            openwrt:
            t.cfg: packages: exec /bin/sh -c 'for f in /var/opkg-lists/*; do [ -e "$f" ] && exit 0; done; exec "$@"' package-index opkg update
            t.cfg: packages: exec opkg install curl"#]],
        ),
        (
            "package_update: false\npackage_upgrade: true",
            expect![[r#"
            debian:
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive /bin/sh -c 'for f in /var/lib/apt/lists/*_Packages; do [ -e "$f" ] && exit 0; done; exec "$@"' package-index apt-get update
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get -y -oDpkg::Options::=--force-confold upgrade
            alpine:
            t.cfg: packages: exec /bin/sh -c 'for f in /var/cache/apk/APKINDEX.*.tar.gz; do [ -e "$f" ] && exit 0; done; exec "$@"' package-index apk update
            t.cfg: packages: exec apk upgrade
            fedora:
            t.cfg: packages: exec /bin/sh -c 'for f in /var/cache/dnf/*.solv; do [ -e "$f" ] && exit 0; done; exec "$@"' package-index dnf -y makecache
            t.cfg: packages: exec dnf -y upgrade
            openwrt: t.cfg: packages: the openwrt OS type cannot upgrade packages; remove the module or use another ostype"#]],
        ),
        (
            "package_update: false",
            expect![[r#"
            debian:

            alpine:

            fedora:

            openwrt:
        "#]],
        ),
        (
            "package_update: true",
            expect![[r#"
            debian:
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get update
            alpine:
            t.cfg: packages: exec apk update
            fedora:
            t.cfg: packages: exec dnf -y makecache
            openwrt:
            t.cfg: packages: exec opkg update"#]],
        ),
        (
            "package_upgrade: true",
            expect![[r#"
            debian:
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get update
            t.cfg: packages: exec DEBIAN_FRONTEND=noninteractive apt-get -y -oDpkg::Options::=--force-confold upgrade
            alpine:
            t.cfg: packages: exec apk update
            t.cfg: packages: exec apk upgrade
            fedora:
            t.cfg: packages: exec dnf -y makecache
            t.cfg: packages: exec dnf -y upgrade
            openwrt: t.cfg: packages: the openwrt OS type cannot upgrade packages; remove the module or use another ostype"#]],
        ),
    ];
    let types = OsTypes::builtin();
    for (text, expect) in cases {
        let file = parse(&format!("#cloud-config\n{text}\n"));
        let mut out = Vec::new();
        for os in ["debian", "alpine", "fedora", "openwrt"] {
            let os = types.get(os).expect("os");
            match cloudconfig::plan_all(std::slice::from_ref(&file), os) {
                Ok(steps) => out.push(format!("{}:\n{}", os.name(), render(&steps))),
                Err(e) => out.push(format!("{}: {e}", os.name())),
            }
        }
        expect.assert_eq(&out.join("\n"));
    }
}
