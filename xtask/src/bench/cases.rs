//! The benchmark cases: a table, so adding a case is adding an entry.
//!
//! Commands are whitespace-separated words with placeholders: `{cli}` (`lxc` or `incus`),
//! `{lxops}` (the release `lxops-lxd` or `lxops-incus`), `{name}` (a fresh instance name per
//! run), `{daemon}` (`lxd` or `incus`) and `{dir}` (a temporary directory holding the case's
//! `files`). Cases that work on
//! several instances set `count`: a command with `{i}` runs once per instance, and a word with
//! `{all}` expands to one word per instance. File names and contents may use `{i}` and `{dir}`.

/// One benchmark: variants of the same work, timed on each daemon.
pub struct Case {
    /// Name given on the command line.
    pub name: &'static str,
    /// What the case measures.
    pub description: &'static str,
    /// Files written into `{dir}` before the case runs: (file name, contents).
    pub files: &'static [(&'static str, &'static str)],
    /// How many instances the case works on (`{i}` = 1..=count).
    pub count: usize,
    /// On each daemon's 3-member test cluster (`cargo xtask setup`) rather than the daemon
    /// itself: the rows say `lxd cluster` / `incus cluster`.
    pub cluster: bool,
    /// The variants; the first is the bare baseline the others' overhead is relative to.
    pub variants: &'static [Variant],
}

/// One way of doing the case's work.
pub struct Variant {
    /// Shown in the table.
    pub name: &'static str,
    /// Untimed commands run before each run (e.g. creating what the timed part changes).
    pub before: &'static [&'static str],
    /// The timed commands, run in order.
    pub timed: &'static [&'static str],
    /// Untimed clean-up after each run, also after a failure; failures here are reported.
    pub after: &'static [&'static str],
}

const MINIMAL_BUSYBOX: &str = "#lxops-v1\nostype: alpine\nimage: lxops-test-busybox\n";

/// A client config (`LXD_CONF`/`INCUS_CONF`) naming each daemon's loopback HTTPS listener; the
/// certificates are copied in by [`PIN_AND_CLIENT_CERT`].
const BENCH_REMOTES: &str = "default-remote: local
remotes:
  local: {addr: 'unix://', public: false}
  bench-lxd: {addr: 'https://127.0.0.1:18443', protocol: lxd, public: false}
  bench-incus: {addr: 'https://127.0.0.1:18444', protocol: incus, public: false}
";

/// Pins both daemons' certificates and installs the test client certificate that
/// `cargo xtask setup` made and had both daemons trust.
const PIN_AND_CLIENT_CERT: &[&str] = &[
    "mkdir -p {dir}/conf/servercerts",
    "cp /var/lib/lxd/server.crt {dir}/conf/servercerts/bench-lxd.crt",
    "cp /var/lib/incus/server.crt {dir}/conf/servercerts/bench-incus.crt",
    "cp /var/lib/lxops-test/client/client.crt /var/lib/lxops-test/client/client.key {dir}/conf/",
];

/// Every case, in the order `cargo xtask bench` runs them.
pub const CASES: &[Case] = &[
    Case {
    name: "launch-busybox",
    description: "create and start a busybox container",
    files: &[("busybox.yaml", MINIMAL_BUSYBOX)],
    count: 1,
    cluster: false,
    variants: &[
        Variant {
            name: "bare",
            before: &[],
            timed: &["{cli} launch lxops-test-busybox {name}"],
            after: &["{cli} delete --force {name}"],
        },
        Variant {
            name: "lxops",
            before: &[],
            timed: &["{lxops} launch -name {name} {dir}/busybox.yaml"],
            after: &["{lxops} delete --force -name {name} {dir}/busybox.yaml"],
        },
    ],
},
    Case {
        name: "launch-https",
        description: "launch a busybox container over HTTPS (--remote, target at most 1.15x) \
                      and over the unix socket",
        files: &[("busybox.yaml", MINIMAL_BUSYBOX), ("conf/config.yml", BENCH_REMOTES)],
        count: 1,
        cluster: false,
        variants: &[
            Variant {
                name: "lxops (unix socket)",
                before: &[],
                timed: &["{lxops} launch -name {name} {dir}/busybox.yaml"],
                after: &["{lxops} delete --force -name {name} {dir}/busybox.yaml"],
            },
            Variant {
                name: "lxops --remote (HTTPS)",
                before: PIN_AND_CLIENT_CERT,
                timed: &["env LXD_CONF={dir}/conf INCUS_CONF={dir}/conf {lxops} --remote \
                          bench-{daemon} launch -name {name} {dir}/busybox.yaml"],
                after: &["{lxops} delete --force -name {name} {dir}/busybox.yaml"],
            },
        ],
    },
    Case {
        name: "launch-10x3-devices",
        description: "launch 10 busybox containers with 3 disk devices each",
        files: &[("lxbench-{i}.yaml", THREE_DEVICES)],
        count: 10,
        cluster: false,
        variants: &[
            Variant {
                name: "bare (CLI)",
                before: &[],
                timed: &[
                    "mkdir -p {dir}/fs/lxbench-{i}/a {dir}/fs/lxbench-{i}/b {dir}/fs/lxbench-{i}/c",
                    "chown 1000000:1000000 {dir}/fs/lxbench-{i}/a {dir}/fs/lxbench-{i}/b {dir}/fs/lxbench-{i}/c",
                    "{cli} profile create lxbench-{i}.lxops",
                    "{cli} profile device add lxbench-{i}.lxops a disk path=/a source={dir}/fs/lxbench-{i}/a",
                    "{cli} profile device add lxbench-{i}.lxops b disk path=/b source={dir}/fs/lxbench-{i}/b",
                    "{cli} profile device add lxbench-{i}.lxops c disk path=/c source={dir}/fs/lxbench-{i}/c",
                    "{cli} launch lxops-test-busybox lxbench-{i} -p default -p lxbench-{i}.lxops",
                ],
                after: &[
                    "{cli} delete --force lxbench-{i}",
                    "{cli} profile delete lxbench-{i}.lxops",
                    "rm -rf {dir}/fs",
                ],
            },
            Variant {
                name: "lxops -j 1",
                before: &[],
                timed: &["{lxops} launch {dir}/lxbench-{all}.yaml"],
                after: &["{lxops} destroy --force {dir}/lxbench-{all}.yaml"],
            },
            Variant {
                name: "lxops -j 10",
                before: &[],
                timed: &["{lxops} launch -j 10 {dir}/lxbench-{all}.yaml"],
                after: &["{lxops} destroy --force -j 10 {dir}/lxbench-{all}.yaml"],
            },
        ],
    },
    Case {
        name: "cloudconfig-20-files-3-users",
        description: "apply a cloud-config with 20 files and 3 users to a running Debian container",
        files: &[("cc.cfg", CLOUD_CONFIG)],
        count: 1,
        cluster: false,
        variants: &[
            Variant {
                name: "bare (CLI)",
                before: &["{cli} launch lxops-test-debian {name}"],
                timed: &[
                    "{cli} exec {name} -- mkdir -p /srv/bench",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f01",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f02",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f03",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f04",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f05",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f06",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f07",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f08",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f09",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f10",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f11",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f12",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f13",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f14",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f15",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f16",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f17",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f18",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f19",
                    "{cli} file push --mode 0644 {dir}/cc.cfg {name}/srv/bench/f20",
                    "{cli} exec {name} -- useradd -m -s /bin/bash bench1",
                    "{cli} exec {name} -- useradd -m -s /bin/bash bench2",
                    "{cli} exec {name} -- useradd -m -s /bin/bash bench3",
                ],
                after: &["{cli} delete --force {name}"],
            },
            Variant {
                name: "lxops",
                before: &["{cli} launch lxops-test-debian {name}"],
                timed: &["{lxops} cloudconfig --ostype debian -i {name} {dir}/cc.cfg"],
                after: &["{cli} delete --force {name}"],
            },
        ],
    },
    Case {
        name: "fleet-50",
        description: "launch 50 busybox containers from one config, 8 at a time; the baseline \
            sends the fewest raw API requests for the same result (create the profile, create the \
            instance, start it, one exec to see it runs; each operation waited for) with curl on \
            the unix socket, 8 instances at once (xargs -P 8)",
        files: &[("fleet.yaml", MINIMAL_BUSYBOX), ("raw-launch.sh", RAW_LAUNCH)],
        count: 50,
        cluster: false,
        variants: &[
            Variant {
                name: "bare (curl -P 8)",
                before: &[],
                timed: &["sh {dir}/raw-launch.sh {cli} lxfleet-{all}"],
                // Its profiles carry no lxops marks, so lxops rightly leaves them: the CLI
                // removes them.
                after: &[
                    "{cli} delete --force lxfleet-{all}",
                    "{cli} profile delete lxfleet-{i}.lxops",
                ],
            },
            Variant {
                name: "lxops -j 8",
                before: &[],
                timed: &["{lxops} launch -j 8 -name=lxfleet-{all} {dir}/fleet.yaml"],
                after: &["{lxops} delete --force -j 8 -name=lxfleet-{all} {dir}/fleet.yaml"],
            },
        ],
    },
    Case {
        name: "status-50",
        description: "status of 50 running busybox containers against their config (bulk reads)",
        files: &[("fleet.yaml", MINIMAL_BUSYBOX)],
        count: 50,
        cluster: false,
        variants: &[
            Variant {
                name: "bare (CLI list)",
                before: &["{lxops} launch -j 8 -name=lxstatus-{all} {dir}/fleet.yaml"],
                timed: &["{cli} list --format csv"],
                after: &["{lxops} delete --force -j 8 -name=lxstatus-{all} {dir}/fleet.yaml"],
            },
            Variant {
                name: "lxops status",
                before: &["{lxops} launch -j 8 -name=lxstatus-{all} {dir}/fleet.yaml"],
                timed: &["{lxops} status -name=lxstatus-{all} {dir}/fleet.yaml"],
                after: &["{lxops} delete --force -j 8 -name=lxstatus-{all} {dir}/fleet.yaml"],
            },
        ],
    },
    Case {
        name: "push-500-files",
        description: "push a tree of 500 small files into a running busybox container \
                      (`file push -r` of the daemon's CLI, then `instance push -r`)",
        files: &[("tree/f{i}", "small file\n")],
        count: 500,
        cluster: false,
        variants: &[
            Variant {
                name: "bare (CLI file push -r)",
                before: &["{cli} launch lxops-test-busybox {name}"],
                timed: &["{cli} file push -r {dir}/tree {name}/tmp/"],
                after: &["{cli} delete --force {name}"],
            },
            Variant {
                name: "lxops instance push -r",
                before: &["{cli} launch lxops-test-busybox {name}"],
                timed: &["{lxops} instance push -r {dir}/tree {name}/tmp"],
                after: &["{cli} delete --force {name}"],
            },
        ],
    },
    Case {
        name: "cluster-launch-member",
        description: "launch a busybox container through member 1's socket of the 3-member \
                      test cluster: on member 1 itself, and on member 2 (--target; target: \
                      lxops on member 2 at most 1.2x lxops on member 1); the bare rows send \
                      fleet-50's raw requests with the same ?target=, for what the daemon's \
                      forwarding costs by itself, and through member 2's own socket, for what \
                      a member that is not the database leader costs with no forwarding",
        files: &[("busybox.yaml", MINIMAL_BUSYBOX), ("raw-launch.sh", RAW_LAUNCH)],
        count: 1,
        cluster: true,
        variants: &[
            Variant {
                name: "bare (curl) on member 1",
                before: &[],
                timed: &["env P=1 T={m1} sh {dir}/raw-launch.sh {csock} cs-{name}"],
                after: &[
                    "{ccli} delete --force cs-{name}",
                    "{ccli} profile delete cs-{name}.lxops",
                ],
            },
            Variant {
                name: "bare (curl) on member 2",
                before: &[],
                timed: &["env P=1 T={m2} sh {dir}/raw-launch.sh {csock} cs-{name}"],
                after: &[
                    "{ccli} delete --force cs-{name}",
                    "{ccli} profile delete cs-{name}.lxops",
                ],
            },
            Variant {
                name: "bare (curl) on member 2, through its own socket",
                before: &[],
                timed: &["env P=1 T={m2} sh {dir}/raw-launch.sh {csock2} cs-{name}"],
                after: &[
                    "{ccli} delete --force cs-{name}",
                    "{ccli} profile delete cs-{name}.lxops",
                ],
            },
            Variant {
                name: "lxops --target member 1 (the one it talks to)",
                before: &[],
                timed: &["{lxops} --socket {csock} launch \
                          --target {m1} -name cs-{name} {dir}/busybox.yaml"],
                after: &["{lxops} --socket {csock} delete \
                          --force -name cs-{name} {dir}/busybox.yaml"],
            },
            Variant {
                name: "lxops --target member 2 (another one)",
                before: &[],
                timed: &["{lxops} --socket {csock} launch \
                          --target {m2} -name cs-{name} {dir}/busybox.yaml"],
                after: &["{lxops} --socket {csock} delete \
                          --force -name cs-{name} {dir}/busybox.yaml"],
            },
        ],
    },
    Case {
        name: "cluster-fleet-20",
        description: "launch 20 busybox containers on the 3-member test cluster, 4 at a time, \
            placed by the scheduler, through member 1's socket; the baseline sends the same raw \
            requests as fleet-50's (xargs -P 4; target at most 1.15x)",
        files: &[("fleet.yaml", MINIMAL_BUSYBOX), ("raw-launch.sh", RAW_LAUNCH)],
        count: 20,
        cluster: true,
        variants: &[
            Variant {
                name: "bare (curl -P 4)",
                before: &[],
                timed: &["env P=4 sh {dir}/raw-launch.sh {csock} \
                          cs-fleet-{all}"],
                after: &[
                    "{ccli} delete --force cs-fleet-{all}",
                    "{ccli} profile delete cs-fleet-{i}.lxops",
                ],
            },
            Variant {
                name: "lxops -j 4",
                before: &[],
                timed: &["{lxops} --socket {csock} launch -j 4 \
                          -name=cs-fleet-{all} {dir}/fleet.yaml"],
                after: &["{lxops} --socket {csock} delete --force \
                          -j 4 -name=cs-fleet-{all} {dir}/fleet.yaml"],
            },
        ],
    },
];

/// Launches the instances named after the daemon's CLI (`lxc` or `incus`, or a socket path)
/// with raw requests on the unix socket, 8 (or `$P`) at a time: profile, instance (on cluster
/// member `$T` when set), start, one exec; every operation waited for.
const RAW_LAUNCH: &str = r#"#!/bin/sh
set -eu
if [ "$1" = one ]; then
  sock=$2 name=$3
  req() { curl -sSf --unix-socket "$sock" -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "http://lxd$2"; }
  # The operation URL may end in `?project=...` (an operation of another cluster member).
  wait_op() { op=$(printf '%s' "$1" | sed -n 's/.*"operation":"\([^"?]*\)[^"]*".*/\1/p'); req GET "$op/wait?timeout=60" >/dev/null; }
  req POST /1.0/profiles '{"name":"'"$name"'.lxops","config":{},"devices":{}}' >/dev/null
  wait_op "$(req POST "/1.0/instances${T:+?target=$T}" '{"name":"'"$name"'","profiles":["default","'"$name"'.lxops"],"source":{"type":"image","alias":"lxops-test-busybox"}}')"
  wait_op "$(req PUT /1.0/instances/$name/state '{"action":"start"}')"
  wait_op "$(req POST /1.0/instances/$name/exec '{"command":["/bin/sh","-c","exit 0"],"wait-for-websocket":false,"interactive":false,"record-output":false}')"
  exit 0
fi
case $1 in
  lxc) sock=/var/lib/lxd/unix.socket ;;
  /*) sock=$1 ;;
  *) sock=/var/lib/incus/unix.socket ;;
esac
shift
printf '%s
' "$@" | xargs -P "${P:-8}" -I NAME sh "$0" one "$sock" NAME
"#;

/// A busybox config with one directory filesystem and three devices on it.
const THREE_DEVICES: &str = "#lxops-v1
ostype: alpine
image: lxops-test-busybox
filesystems:
  fs:
    pattern: {dir}/fs/(instance)
    destroy: true
devices:
  a:
    path: /a
    filesystem: fs
  b:
    path: /b
    filesystem: fs
  c:
    path: /c
    filesystem: fs
";

/// 20 files and 3 users.
const CLOUD_CONFIG: &str = "#cloud-config
write_files:
- {path: /srv/bench/f01, content: \"one\\n\", permissions: \"0644\"}
- {path: /srv/bench/f02, content: \"two\\n\", permissions: \"0644\"}
- {path: /srv/bench/f03, content: \"three\\n\", permissions: \"0644\"}
- {path: /srv/bench/f04, content: \"four\\n\", permissions: \"0644\"}
- {path: /srv/bench/f05, content: \"five\\n\", permissions: \"0644\"}
- {path: /srv/bench/f06, content: \"six\\n\", permissions: \"0644\"}
- {path: /srv/bench/f07, content: \"seven\\n\", permissions: \"0644\"}
- {path: /srv/bench/f08, content: \"eight\\n\", permissions: \"0644\"}
- {path: /srv/bench/f09, content: \"nine\\n\", permissions: \"0644\"}
- {path: /srv/bench/f10, content: \"ten\\n\", permissions: \"0644\"}
- {path: /srv/bench/f11, content: \"eleven\\n\", permissions: \"0644\"}
- {path: /srv/bench/f12, content: \"twelve\\n\", permissions: \"0644\"}
- {path: /srv/bench/f13, content: \"thirteen\\n\", permissions: \"0644\"}
- {path: /srv/bench/f14, content: \"fourteen\\n\", permissions: \"0644\"}
- {path: /srv/bench/f15, content: \"fifteen\\n\", permissions: \"0644\"}
- {path: /srv/bench/f16, content: \"sixteen\\n\", permissions: \"0644\"}
- {path: /srv/bench/f17, content: \"seventeen\\n\", permissions: \"0644\"}
- {path: /srv/bench/f18, content: \"eighteen\\n\", permissions: \"0644\"}
- {path: /srv/bench/f19, content: \"nineteen\\n\", permissions: \"0644\"}
- {path: /srv/bench/f20, content: \"twenty\\n\", permissions: \"0644\"}
users:
- {name: bench1, shell: /bin/bash}
- {name: bench2, shell: /bin/bash}
- {name: bench3, shell: /bin/bash}
";
