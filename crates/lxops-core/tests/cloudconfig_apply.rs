//! Applying cloud-config through the in-memory `FakeServer`, with an exec handler that
//! simulates the account tools: the exact API calls, files with mode and owner set in one call,
//! idempotent re-apply, a failing command, staged stdin, and (logs: `cloudconfig_logs.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use expect_test::expect;
use lxops_core::cloudconfig::{self, ApplyError, OsTypes, ParsedFile, Step};
use lxops_core::server::fake::FakeServer;
use lxops_core::server::{
    ExecOutput, ExecRequest, FileContent, FileKind, ImageSource, InstanceServer, InstanceSource,
    NewInstance,
};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:999:999::/srv/app:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nadm:x:4:\napp:x:999:\n";

fn file(content: &str, mode: u32) -> FileContent {
    FileContent {
        kind: FileKind::File,
        content: content.as_bytes().to_vec(),
        uid: 0,
        gid: 0,
        mode,
    }
}

fn dir(mode: u32, uid: u32) -> FileContent {
    FileContent {
        kind: FileKind::Directory,
        content: Vec::new(),
        uid,
        gid: uid,
        mode,
    }
}

/// A running fake instance with a small /etc/passwd and /etc/group.
async fn instance(server: &FakeServer, name: &str) {
    server.add_image("img");
    server
        .create_instance(&NewInstance {
            ephemeral: false,
            target: None,
            instance_type: None,
            name: name.into(),
            source: InstanceSource::Image(ImageSource::local("img")),
            profiles: vec!["default".into()],
            config: BTreeMap::new(),
            devices: BTreeMap::new(),
            vm: false,
            description: String::new(),
        })
        .await
        .expect("create");
    server.start_instance(name).await.expect("start");
    server.set_file(name, "/etc/passwd", file(PASSWD, 0o644));
    server.set_file(name, "/etc/group", file(GROUP, 0o644));
    server.clear_calls();
}

/// What the simulated account tools know, per instance.
#[derive(Default)]
struct Accounts {
    users: Vec<(String, u32, u32, String, String)>, // name uid gid home shell
    groups: Vec<(String, u32, Vec<String>)>,
}

impl Accounts {
    fn load(server: &FakeServer, instance: &str) -> Self {
        let text = |p: &str| {
            server
                .file(instance, p)
                .map(|f| String::from_utf8_lossy(&f.content).into_owned())
                .unwrap_or_default()
        };
        let mut a = Accounts::default();
        for line in text("/etc/passwd").lines() {
            let f: Vec<&str> = line.split(':').collect();
            a.users.push((
                f[0].into(),
                f[2].parse().unwrap_or(0),
                f[3].parse().unwrap_or(0),
                f[5].into(),
                f[6].into(),
            ));
        }
        for line in text("/etc/group").lines() {
            let f: Vec<&str> = line.split(':').collect();
            let members = f[3].split(',').filter(|m| !m.is_empty()).map(Into::into);
            a.groups
                .push((f[0].into(), f[2].parse().unwrap_or(0), members.collect()));
        }
        a
    }

    fn save(&self, server: &FakeServer, instance: &str) {
        let passwd: String = self
            .users
            .iter()
            .map(|(n, u, g, h, s)| format!("{n}:x:{u}:{g}::{h}:{s}\n"))
            .collect();
        let group: String = self
            .groups
            .iter()
            .map(|(n, g, m)| format!("{n}:x:{g}:{}\n", m.join(",")))
            .collect();
        let mode = server
            .file(instance, "/etc/passwd")
            .map_or(0o644, |f| f.mode);
        server.set_file(instance, "/etc/passwd", file(&passwd, mode));
        server.set_file(instance, "/etc/group", file(&group, 0o644));
    }

    fn add_group(&mut self, name: &str) -> u32 {
        let gid = 1000 + self.groups.len() as u32;
        self.groups.push((name.into(), gid, Vec::new()));
        gid
    }
}

fn ok() -> ExecOutput {
    ExecOutput::default()
}

fn fail(status: i32, stderr: &str) -> ExecOutput {
    ExecOutput {
        status,
        stdout: Vec::new(),
        stderr: stderr.as_bytes().to_vec(),
    }
}

fn option<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    let i = argv.iter().position(|a| a == flag)?;
    argv.get(i + 1).map(String::as_str)
}

/// Simulates Debian's and busybox's account tools (failing on duplicates like the real
/// ones), `false`, and records the stdin files commands read.
fn simulate(server: &FakeServer, stdin_seen: Arc<Mutex<Vec<(String, u32)>>>) {
    let fake = server.clone();
    server.set_exec_handler(Arc::new(move |instance: &str, req: &ExecRequest| {
        let argv = &req.argv;
        let mut a = Accounts::load(&fake, instance);
        let name = argv.last().cloned().unwrap_or_default();
        let out = match argv.first().map(String::as_str) {
            Some("addgroup" | "groupadd") if argv.len() == 2 => {
                if a.groups.iter().any(|g| g.0 == name) {
                    return fail(1, &format!("addgroup: The group `{name}' already exists."));
                }
                a.add_group(&name);
                ok()
            }
            Some("adduser") if argv.len() == 3 && !argv[1].starts_with('-') => {
                // busybox: adduser USER GROUP
                let (user, group) = (&argv[1], &argv[2]);
                match a.groups.iter_mut().find(|g| &g.0 == group) {
                    Some(g) if !g.2.contains(user) => g.2.push(user.clone()),
                    Some(_) => {}
                    None => return fail(1, "adduser: unknown group"),
                }
                ok()
            }
            Some("adduser" | "useradd") => {
                if a.users.iter().any(|u| u.0 == name) {
                    return fail(1, &format!("adduser: The user `{name}' already exists."));
                }
                let system = argv.iter().any(|x| x == "--system" || x == "-S");
                let uid = option(argv, "--uid")
                    .or(option(argv, "-u"))
                    .and_then(|u| u.parse().ok())
                    .unwrap_or(if system { 999 } else { 1000 } + a.users.len() as u32);
                let primary = option(argv, "--ingroup")
                    .or(option(argv, "-G"))
                    .or(option(argv, "--gid"));
                let gid = match primary {
                    Some(g) => match a.groups.iter().find(|x| x.0 == g) {
                        Some(x) => x.1,
                        None => return fail(1, "adduser: the group does not exist"),
                    },
                    None => a.add_group(&name),
                };
                let home = option(argv, "--home")
                    .or(option(argv, "-h"))
                    .map(String::from)
                    .unwrap_or(format!("/home/{name}"));
                let shell = option(argv, "--shell")
                    .or(option(argv, "-s"))
                    .unwrap_or("/bin/sh")
                    .to_string();
                if !argv
                    .iter()
                    .any(|x| x == "--no-create-home" || x == "-H" || x == "-M")
                {
                    fake.set_file(
                        instance,
                        &home,
                        FileContent {
                            uid,
                            gid,
                            ..dir(0o755, uid)
                        },
                    );
                }
                a.users.push((name.clone(), uid, gid, home, shell));
                ok()
            }
            Some("usermod") if argv[1] == "-s" => {
                for u in a.users.iter_mut().filter(|u| u.0 == name) {
                    u.4 = argv[2].clone();
                }
                ok()
            }
            Some("usermod") if argv[1] == "-a" => {
                for group in argv[3].split(',') {
                    match a.groups.iter_mut().find(|g| g.0 == group) {
                        Some(g) if !g.2.contains(&name) => g.2.push(name.clone()),
                        Some(_) => {}
                        None => {
                            return fail(6, &format!("usermod: group '{group}' does not exist"))
                        }
                    }
                }
                ok()
            }
            Some("/bin/sh") if argv.len() == 2 => {
                // the runcmd script: fails in the entry that runs `false`
                let script = fake
                    .file(instance, &argv[1])
                    .map(|f| String::from_utf8_lossy(&f.content).into_owned())
                    .unwrap_or_default();
                let mut entry = 0;
                for line in script.lines() {
                    if let Some(n) = line.strip_prefix("__lxops_rc=$?; __lxops_entry=") {
                        entry = n.split(';').next().unwrap_or("0").parse().unwrap_or(0);
                    }
                    if line.starts_with("false") {
                        return fail(
                            1,
                            &format!("something went wrong\nlxops-runcmd-entry {entry}\n"),
                        );
                    }
                }
                ok()
            }
            Some("/bin/sh") if argv.len() > 4 => {
                // exec "$@" < "$0": the staged stdin file
                if let Some(staged) = fake.file(instance, &argv[3]) {
                    stdin_seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((String::from_utf8_lossy(&staged.content).into(), staged.mode));
                }
                ok()
            }
            Some("false") => fail(1, "something went wrong\n"),
            _ => ok(),
        };
        a.save(&fake, instance);
        out
    }));
}

fn parse(text: &str, name: &str) -> ParsedFile {
    cloudconfig::parse(text, Path::new(name)).expect("valid")
}

fn full() -> ParsedFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cloudconfig/full.cfg");
    parse(
        &std::fs::read_to_string(path).expect("test data"),
        "full.cfg",
    )
}

fn plan(files: &[ParsedFile], os: &str) -> Vec<Step> {
    let types = OsTypes::builtin();
    cloudconfig::plan_all(files, types.get(os).expect("os")).expect("plan")
}

async fn apply(server: &FakeServer, instance: &str, steps: &[Step]) -> Result<(), ApplyError> {
    cloudconfig::apply_steps(server, instance, steps, &mut |_| {}).await
}

/// The call log with the process-specific stdin file names made stable.
fn calls(server: &FakeServer) -> String {
    let calls: Vec<String> = server
        .calls()
        .into_iter()
        .map(|c| {
            let mut c = c;
            for staged in ["/tmp/.lxops-stdin.", "/tmp/.lxops-runcmd."] {
                let mut out = String::new();
                let mut rest = c.as_str();
                while let Some(i) = rest.find(staged) {
                    out.push_str(&rest[..i]);
                    out.push_str(staged);
                    out.push('N');
                    rest = &rest[i + staged.len()..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .unwrap_or(rest.len());
                    rest = &rest[end..];
                }
                out.push_str(rest);
                c = out;
            }
            c
        })
        .collect();
    calls.join("\n")
}

/// The debian instance of the full example, with /etc/sudoers.d present.
async fn debian_instance(server: &FakeServer, name: &str) {
    instance(server, name).await;
    server.set_file(name, "/etc/sudoers.d", dir(0o755, 0));
    server.set_file(name, "/var", dir(0o755, 0));
    server.set_file(name, "/var/log", dir(0o755, 0));
    server.set_file(
        name,
        "/usr/share/zoneinfo/Europe/London",
        file("TZif", 0o644),
    );
}

#[tokio::test]
async fn applies_every_module_through_the_api() {
    let server = FakeServer::new();
    debian_instance(&server, "c1").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    simulate(&server, seen.clone());
    let steps = plan(&[full()], "debian");
    let mut shown = Vec::new();
    cloudconfig::apply_steps(&server, "c1", &steps, &mut |s| shown.push(s.to_string()))
        .await
        .expect("apply");
    assert_eq!(shown.len(), steps.len());
    expect![[r#"
        write c1:/etc/motd mode=0644 owner=0:0
        mkdir c1:/etc/app
        write c1:/etc/app/secret.conf mode=0600 owner=999:999
        exec c1: apt-get update
        exec c1: apt-get -y -oDpkg::Options::=--force-confold upgrade
        exec c1: apt-get -y -oDpkg::Options::=--force-confold install curl vim=2:9.0
        exec c1: groupadd admins
        exec c1: groupadd staff
        exec c1: groupadd alice
        exec c1: useradd --comment Alice Example --gid alice --shell /bin/bash --uid 1001 -m alice
        exec c1: usermod -a -G adm,staff alice
        exec c1: groupadd wheel
        exec c1: useradd --home /srv/bob -M bob
        exec c1: usermod -a -G adm,wheel bob
        exec c1: usermod -a -G admins alice
        write c1:/tmp/.lxops-stdin.N mode=0600 owner=0:0
        exec c1: /bin/sh -c exec "$@" < "$0" /tmp/.lxops-stdin.N chpasswd -e
        delete file c1:/tmp/.lxops-stdin.N
        exec c1: passwd -l bob
        write c1:/etc/sudoers.d/alice mode=0440 owner=0:0
        exec c1: /bin/sh -c [ -e "$1" ] && command -v visudo >/dev/null 2>&1 || exit 0; visudo -c -f "$1" >&2 && exit 0; rm -f "$1"; exit 1 visudo-check /etc/sudoers.d/alice
        write c1:/etc/sudoers.d/bob mode=0440 owner=0:0
        exec c1: /bin/sh -c [ -e "$1" ] && command -v visudo >/dev/null 2>&1 || exit 0; visudo -c -f "$1" >&2 && exit 0; rm -f "$1"; exit 1 visudo-check /etc/sudoers.d/bob
        mkdir c1:/home/alice/.ssh
        write c1:/home/alice/.ssh/authorized_keys mode=0600 owner=1001:1005
        exec c1: ln -sf /usr/share/zoneinfo/Europe/London /etc/localtime
        write c1:/etc/timezone mode=0644 owner=0:0
        write c1:/var/log/app.log mode=0640 owner=1000:0
        write c1:/tmp/.lxops-runcmd.N mode=0700 owner=0:0
        exec c1: /bin/sh /tmp/.lxops-runcmd.N
        delete file c1:/tmp/.lxops-runcmd.N"#]].assert_eq(&calls(&server));

    let f = |p: &str| {
        server
            .file("c1", p)
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    let secret = f("/etc/app/secret.conf");
    assert_eq!(
        (
            secret.content.as_slice(),
            secret.mode,
            secret.uid,
            secret.gid
        ),
        (&b"secret value"[..], 0o600, 999, 999)
    );
    let log = f("/var/log/app.log");
    assert_eq!((log.mode, log.uid, log.gid), (0o640, 1000, 0));
    let ssh = f("/home/alice/.ssh");
    assert_eq!(
        (ssh.kind, ssh.mode, ssh.uid, ssh.gid),
        (FileKind::Directory, 0o700, 1001, 1005)
    );
    let keys = f("/home/alice/.ssh/authorized_keys");
    assert_eq!((keys.mode, keys.uid, keys.gid), (0o600, 1001, 1005));
    assert_eq!(
        String::from_utf8_lossy(&keys.content),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKEYMATERIAL alice@host\n"
    );
    let sudo = f("/etc/sudoers.d/alice");
    assert_eq!(
        (String::from_utf8_lossy(&sudo.content).as_ref(), sudo.mode),
        ("alice ALL=(ALL) NOPASSWD:ALL\n", 0o440)
    );
    assert_eq!(
        String::from_utf8_lossy(&f("/etc/sudoers.d/bob").content),
        "bob ALL=(ALL) ALL\nbob ALL=(root) NOPASSWD:/usr/bin/apt-get\n"
    );
    assert_eq!(f("/etc/timezone").content, b"Europe/London\n");
    let group = String::from_utf8_lossy(&f("/etc/group").content).into_owned();
    assert!(group.contains("adm:x:4:alice,bob\n"), "{group}");
    assert!(
        group.contains(":alice\n") && group.starts_with("root"),
        "{group}"
    );
    // The password hash went through a root-only file that is gone now.
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        seen,
        [("alice:$6$rounds=4096$salt$HASHVALUE\n".to_string(), 0o600)]
    );
    assert!(!calls(&server).contains("HASHVALUE"));
}

#[tokio::test]
async fn reapplying_updates_existing_users_and_groups() {
    let server = FakeServer::new();
    debian_instance(&server, "c1").await;
    simulate(&server, Arc::default());
    let steps = plan(&[full()], "debian");
    apply(&server, "c1", &steps).await.expect("first apply");
    let passwd = server.file("c1", "/etc/passwd").expect("passwd");
    server.clear_calls();

    apply(&server, "c1", &steps).await.expect("second apply");
    let calls = calls(&server);
    assert!(!calls.contains("adduser --disabled"), "{calls}");
    assert!(!calls.contains("addgroup"), "{calls}");
    expect![[r#"
        write c1:/etc/motd mode=0644 owner=0:0
        write c1:/etc/app/secret.conf mode=0600 owner=999:999
        exec c1: apt-get update
        exec c1: apt-get -y -oDpkg::Options::=--force-confold upgrade
        exec c1: apt-get -y -oDpkg::Options::=--force-confold install curl vim=2:9.0
        exec c1: usermod -s /bin/bash alice
        exec c1: usermod -a -G adm,staff alice
        exec c1: usermod -a -G adm,wheel bob
        exec c1: usermod -a -G admins alice
        write c1:/tmp/.lxops-stdin.N mode=0600 owner=0:0
        exec c1: /bin/sh -c exec "$@" < "$0" /tmp/.lxops-stdin.N chpasswd -e
        delete file c1:/tmp/.lxops-stdin.N
        exec c1: passwd -l bob
        write c1:/etc/sudoers.d/alice mode=0440 owner=0:0
        exec c1: /bin/sh -c [ -e "$1" ] && command -v visudo >/dev/null 2>&1 || exit 0; visudo -c -f "$1" >&2 && exit 0; rm -f "$1"; exit 1 visudo-check /etc/sudoers.d/alice
        write c1:/etc/sudoers.d/bob mode=0440 owner=0:0
        exec c1: /bin/sh -c [ -e "$1" ] && command -v visudo >/dev/null 2>&1 || exit 0; visudo -c -f "$1" >&2 && exit 0; rm -f "$1"; exit 1 visudo-check /etc/sudoers.d/bob
        write c1:/home/alice/.ssh/authorized_keys mode=0600 owner=1001:1005
        exec c1: ln -sf /usr/share/zoneinfo/Europe/London /etc/localtime
        write c1:/etc/timezone mode=0644 owner=0:0
        append c1:/var/log/app.log mode=0640 owner=1000:0
        write c1:/tmp/.lxops-runcmd.N mode=0700 owner=0:0
        exec c1: /bin/sh /tmp/.lxops-runcmd.N
        delete file c1:/tmp/.lxops-runcmd.N"#]]
    .assert_eq(&calls);
    assert_eq!(server.file("c1", "/etc/passwd"), Some(passwd));
    let keys = server
        .file("c1", "/home/alice/.ssh/authorized_keys")
        .expect("keys");
    assert_eq!(
        String::from_utf8_lossy(&keys.content).lines().count(),
        1,
        "keys are not duplicated"
    );
}

#[tokio::test]
async fn runcmd_is_one_script_from_the_root_and_a_failure_names_its_entry() {
    let server = FakeServer::new();
    instance(&server, "c1").await;
    server.set_file("c1", "/tmp", dir(0o1777, 0));
    simulate(&server, Arc::default());
    let file = parse(
        "#cloud-config\nruncmd:\n  - cd /tmp\n  - [echo, \"a b\"]\n  - [\"false\", \"--flag\"]\nwrite_files: [{path: /etc/after, content: x, defer: true}]\n",
        "fail.cfg",
    );
    let steps = plan(&[file], "debian");
    expect![[r#"
        fail.cfg: write_files (deferred): write /etc/after (mode 0644, owner root:root, 1 bytes)
        fail.cfg: runcmd: run as one /bin/sh script from /: [0] cd /tmp [1] echo 'a b' [2] false --flag"#]]
    .assert_eq(&steps.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    let err = apply(&server, "c1", &steps).await.expect_err("must fail");
    expect![[r#"
        fail.cfg: runcmd: the script (run by /bin/sh from /, as cloud-init does) failed with exit status 1 in entry runcmd[2] `false --flag`:
        something went wrong"#]]
    .assert_eq(&err.to_string());
    let ApplyError::Runcmd { status, .. } = err else {
        panic!("expected a runcmd error");
    };
    assert_eq!(status, 1);
    expect![[r#"
        write c1:/etc/after mode=0644 owner=0:0
        write c1:/tmp/.lxops-runcmd.N mode=0700 owner=0:0
        exec c1: /bin/sh /tmp/.lxops-runcmd.N
        delete file c1:/tmp/.lxops-runcmd.N"#]]
    .assert_eq(&calls(&server));
}

#[test]
fn the_runcmd_script_keeps_the_exit_status_between_entries() {
    // Runs the script with the host's /bin/sh: `$?`, `cd` and variables carry over, and the
    // trap names the entry the script ended in.
    let script = cloudconfig::runcmd_script(&[
        "cd /tmp".into(),
        "X=1; false".into(),
        "echo \"status=$? x=$X pwd=$(pwd)\"".into(),
        "exit 3".into(),
        "echo never".into(),
    ]);
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .current_dir("/")
        .output()
        .expect("sh");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "status=1 x=1 pwd=/tmp\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "lxops-runcmd-entry 3\n"
    );
}

#[tokio::test]
async fn files_take_one_call_each_and_missing_parents_are_created() {
    let server = FakeServer::new();
    instance(&server, "c1").await;
    let file = parse(
        "#cloud-config\nwrite_files:\n  - {path: /etc/motd, content: hi}\n  - {path: /opt/app/conf/a.conf, content: a, owner: 'app:adm', permissions: '0640'}\n  - {path: /opt/app/conf/b.conf, content: b, owner: '12:34'}\n  - {path: /etc/motd, content: ' more', append: true}\n",
        "files.cfg",
    );
    apply(&server, "c1", &plan(&[file], "alpine"))
        .await
        .expect("apply");
    expect![[r#"
        write c1:/etc/motd mode=0644 owner=0:0
        mkdir c1:/opt
        mkdir c1:/opt/app
        mkdir c1:/opt/app/conf
        write c1:/opt/app/conf/a.conf mode=0640 owner=999:4
        write c1:/opt/app/conf/b.conf mode=0644 owner=12:34
        append c1:/etc/motd mode=0644 owner=0:0"#]]
    .assert_eq(&calls(&server));
    assert_eq!(
        server.file("c1", "/etc/motd").expect("motd").content,
        b"hi more"
    );
}

#[tokio::test]
async fn special_bits_are_set_after_the_write_and_append_acts_like_cloud_init() {
    let server = FakeServer::new();
    instance(&server, "c1").await;
    server.set_file("c1", "/var", dir(0o755, 0));
    server.set_file("c1", "/var/log", dir(0o755, 0));
    server.set_file(
        "c1",
        "/var/log/kept.log",
        FileContent {
            uid: 999,
            gid: 999,
            ..file("old\n", 0o600)
        },
    );
    let file = parse(
        "#cloud-config\nwrite_files:\n  - {path: /usr/bin/su2, content: x, permissions: '4755'}\n  - {path: /srv/new/dir/app.log, content: a, append: true, permissions: '0600', owner: app}\n  - {path: /var/log/kept.log, content: more, append: true, owner: 'root:adm', permissions: '2640'}\n  - {path: /var/log/kept.log, content: again, append: true, owner: 'root:adm', permissions: '2640'}\n",
        "modes.cfg",
    );
    let steps = plan(&[file], "debian");
    expect![[r#"
        modes.cfg: write_files: write /usr/bin/su2 (mode 4755, owner root:root, 1 bytes)
        modes.cfg: write_files: append to /srv/new/dir/app.log (mode 0600, owner app, 1 bytes)
        modes.cfg: write_files: append to /var/log/kept.log (mode 2640, owner root:adm, 4 bytes)
        modes.cfg: write_files: append to /var/log/kept.log (mode 2640, owner root:adm, 5 bytes)"#]]
    .assert_eq(
        &steps
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    apply(&server, "c1", &steps).await.expect("apply");
    // A missing file is created with its directories; an existing one gets the owner, then
    // the mode (chown clears set-id bits), as cloud-init does.
    expect![[r#"
        mkdir c1:/usr
        mkdir c1:/usr/bin
        write c1:/usr/bin/su2 mode=4755 owner=0:0
        exec c1: chmod 4755 /usr/bin/su2
        mkdir c1:/srv
        mkdir c1:/srv/new
        mkdir c1:/srv/new/dir
        write c1:/srv/new/dir/app.log mode=0600 owner=999:0
        append c1:/var/log/kept.log mode=0600 owner=999:999
        exec c1: chown 0:4 /var/log/kept.log
        exec c1: chmod 2640 /var/log/kept.log
        append c1:/var/log/kept.log mode=0600 owner=999:999
        exec c1: chown 0:4 /var/log/kept.log
        exec c1: chmod 2640 /var/log/kept.log"#]]
    .assert_eq(&calls(&server));
    assert_eq!(
        server.file("c1", "/var/log/kept.log").expect("log").content,
        b"old\nmoreagain"
    );
}

#[tokio::test]
async fn append_and_set_id_modes_refuse_symlinks_and_directories() {
    // chown and chmod follow symlinks: a link to /etc/shadow must not get the file's mode.
    for (kind, what) in [
        (FileKind::Symlink, "symlink"),
        (FileKind::Directory, "directory"),
    ] {
        for entry in [
            "{path: /etc/link, content: x, append: true, permissions: '0666'}",
            "{path: /etc/link, content: x, permissions: '4777'}",
        ] {
            let server = FakeServer::new();
            instance(&server, "c1").await;
            server.set_file("c1", "/etc", dir(0o755, 0));
            server.set_file(
                "c1",
                "/etc/link",
                FileContent {
                    kind,
                    content: b"/etc/shadow".to_vec(),
                    ..file("", 0o777)
                },
            );
            let steps = plan(
                &[parse(
                    &format!("#cloud-config\nwrite_files: [{entry}]\n"),
                    "l.cfg",
                )],
                "debian",
            );
            let err = apply(&server, "c1", &steps).await.expect_err("must refuse");
            assert_eq!(
                err.to_string(),
                format!("l.cfg: write_files: /etc/link exists and is not a regular file (a {what}); lxops does not change the mode or owner of what it points to"),
            );
            let calls = calls(&server);
            assert!(
                !calls.contains("exec") && !calls.contains("write c1:/etc/link"),
                "{calls}"
            );
        }
    }
}

#[tokio::test]
async fn bad_owners_and_missing_time_zones_are_reported() {
    let server = FakeServer::new();
    instance(&server, "c1").await;
    let cases = [
        (
            "#cloud-config\nwrite_files: [{path: /etc/x, owner: nobody}]\n",
            expect![[
                r#"t.cfg: write_files: owner nobody: there is no user "nobody" in the instance's /etc/passwd; create it first (users:) or use a numeric id"#
            ]],
        ),
        (
            "#cloud-config\nwrite_files: [{path: /etc/x, owner: 'root:nogroup'}]\n",
            expect![[
                r#"t.cfg: write_files: owner root:nogroup: there is no group "nogroup" in the instance's /etc/group; create it first (groups:) or use a numeric id"#
            ]],
        ),
        (
            "#cloud-config\ntimezone: Mars/Olympus\n",
            expect![[
                r#"t.cfg: timezone: unknown time zone "Mars/Olympus": /usr/share/zoneinfo/Mars/Olympus does not exist in the instance (check the name, or install the tzdata package first)"#
            ]],
        ),
    ];
    for (text, expect) in cases {
        let err = apply(&server, "c1", &plan(&[parse(text, "t.cfg")], "debian"))
            .await
            .expect_err("must fail");
        expect.assert_eq(&err.to_string());
    }
}

#[tokio::test]
async fn sudo_and_doas_files_only_where_their_directory_exists() {
    let server = FakeServer::new();
    instance(&server, "c1").await;
    simulate(&server, Arc::default());
    server.set_file("c1", "/etc/doas.d", dir(0o755, 0));
    let file = parse(
        "#cloud-config\nusers: [{name: dave, sudo: true}]\n",
        "s.cfg",
    );
    apply(&server, "c1", &plan(&[file], "alpine"))
        .await
        .expect("apply");
    assert!(server.file("c1", "/etc/sudoers.d/dave").is_none());
    let doas = server.file("c1", "/etc/doas.d/dave.conf").expect("doas");
    assert_eq!(
        (String::from_utf8_lossy(&doas.content).as_ref(), doas.mode),
        ("permit nopass dave\n", 0o600)
    );
}

#[tokio::test]
async fn existing_ssh_dir_is_fixed_and_keys_are_merged() {
    let server = FakeServer::new();
    instance(&server, "c1").await;
    simulate(&server, Arc::default());
    let passwd = format!("{PASSWD}erin:x:1500:1500::/home/erin:/bin/sh\n");
    server.set_file("c1", "/etc/passwd", file(&passwd, 0o644));
    server.set_file("c1", "/home/erin", dir(0o755, 1500));
    server.set_file("c1", "/home/erin/.ssh", dir(0o755, 0));
    server.set_file(
        "c1",
        "/home/erin/.ssh/authorized_keys",
        file("ssh-rsa OLD erin@old\n", 0o644),
    );
    let text = "#cloud-config\nusers:\n  - name: erin\n    shell: /bin/ash\n    ssh_authorized_keys: ['ssh-rsa OLD erin@old', 'ssh-ed25519 NEW erin@new']\n";
    apply(&server, "c1", &plan(&[parse(text, "k.cfg")], "alpine"))
        .await
        .expect("apply");
    expect![[r#"
        write c1:/etc/passwd mode=0644 owner=0:0
        write c1:/tmp/.lxops-stdin.N mode=0600 owner=0:0
        exec c1: /bin/sh -c exec "$@" < "$0" /tmp/.lxops-stdin.N chpasswd -e
        delete file c1:/tmp/.lxops-stdin.N
        exec c1: chmod 0700 /home/erin/.ssh
        exec c1: chown 1500:1500 /home/erin/.ssh
        write c1:/home/erin/.ssh/authorized_keys mode=0600 owner=1500:1500"#]]
    .assert_eq(&calls(&server));
    let keys = server
        .file("c1", "/home/erin/.ssh/authorized_keys")
        .expect("keys");
    assert_eq!(
        String::from_utf8_lossy(&keys.content),
        "ssh-rsa OLD erin@old\nssh-ed25519 NEW erin@new\n"
    );
    assert_eq!((keys.mode, keys.uid, keys.gid), (0o600, 1500, 1500));
    let passwd = server.file("c1", "/etc/passwd").expect("passwd");
    assert!(String::from_utf8_lossy(&passwd.content)
        .contains("erin:x:1500:1500::/home/erin:/bin/ash\n"));
}

#[test]
fn apply_is_send_and_configures_instances_concurrently() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = FakeServer::new();
        debian_instance(&server, "a").await;
        debian_instance(&server, "b").await;
        simulate(&server, Arc::default());
        let steps = plan(&[full()], "debian");
        let tasks: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let server = server.clone();
                let steps = steps.clone();
                tokio::spawn(assert_send(async move {
                    cloudconfig::apply_steps(&server, name, &steps, &mut |_| {}).await
                }))
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("apply");
        }
        for name in ["a", "b"] {
            assert!(server
                .file(name, "/home/alice/.ssh/authorized_keys")
                .is_some());
        }
    });
}
