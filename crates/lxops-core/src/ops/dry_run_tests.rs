//! One truth for dry runs: for every changing command, on a fresh and on an existing instance,
//! `--dry-run` prints exactly the steps that the real run then prints as it carries them out
//! (same fake server and host state for both runs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::config::{self, DeviceDir, FsKind, InstanceDevice, InstanceFilesystem};
use crate::host::{self, fake::FakeHost};
use crate::server::fake::FakeServer;
use crate::server::{InstanceServer, Profile};

fn instance(name: &str) -> config::Instance {
    let fs = |id: &str, kind: FsKind, pattern: &str| InstanceFilesystem {
        id: id.into(),
        kind,
        path: pattern.replace("(instance)", name),
        zfsproperties: BTreeMap::new(),
        transient: false,
        destroy: true,
    };
    let device = |name: &str, fs: &str| InstanceDevice {
        name: name.into(),
        path: format!("/{name}"),
        filesystem: Some(fs.into()),
        dir: DeviceDir::Relative(name.into()),
        readonly: false,
    };
    config::Instance {
        target: None,
        name: name.into(),
        file: PathBuf::from("/cfg/x.yaml"),
        description: String::new(),
        project: String::new(),
        ostype: "alpine".into(),
        image: "img".into(),
        origin: None,
        device_template: None,
        device_origin: None,
        source_config: None,
        lxc_options: Vec::new(),
        profiles: Vec::new(),
        profile: format!("{name}.lxops"),
        device_owner: None,
        filesystems: vec![
            fs("data", FsKind::Dir, "/srv/(instance)"),
            fs("z", FsKind::Zfs, "tank/(instance)"),
        ],
        devices: vec![device("data", "data"), device("home", "z")],
        properties: BTreeMap::new(),
        cloud_config_files: Vec::new(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap()
        .block_on(f)
}

/// A server and host where instance a1 does not exist (`existing: false`), or exists as lxops
/// launched it: its profile, its marked directory and dataset.
fn world(existing: bool) -> (FakeServer, Arc<FakeHost>) {
    let server = FakeServer::new();
    server.add_image("img");
    let mut host = FakeHost::new().with_datasets(&[("tank", "/tank")]);
    if existing {
        host = host
            .with_datasets(&[("tank/a1", "/tank/a1")])
            .with_zfs_marks(&[("tank/a1", "default/a1")])
            .with_dirs(&["/srv/a1/data", "/tank/a1/home"])
            .with_xattrs(&[("/srv/a1", "user.lxops.instance", "default/a1")]);
        let profile = Profile {
            name: "a1.lxops".into(),
            description: "/cfg/x.yaml".into(),
            config: [(host::PROFILE_MARK_KEY.to_string(), "default/a1".to_string())]
                .into_iter()
                .collect(),
            devices: BTreeMap::new(),
        };
        block_on(server.create_profile(&profile)).unwrap();
        let new = crate::server::NewInstance {
            ephemeral: false,
            target: None,
            instance_type: None,
            name: "a1".into(),
            source: crate::server::InstanceSource::Image(crate::server::ImageSource::local("img")),
            profiles: vec!["default".into(), "a1.lxops".into()],
            config: BTreeMap::new(),
            devices: BTreeMap::new(),
            vm: false,
            description: String::new(),
        };
        block_on(server.create_instance(&new)).unwrap();
    }
    (server, Arc::new(host))
}

type Command = fn(Env, Vec<String>) -> (Vec<String>, String);

/// Runs `command` in a fresh world, dry and for real; returns both outputs (lines and error).
fn both(existing: bool, command: Command) -> [(Vec<String>, String); 2] {
    [true, false].map(|dry_run| {
        let (server, host) = world(existing);
        let env = Env {
            server: Arc::new(server),
            host,
            os_types: Arc::new(crate::cloudconfig::OsTypes::builtin()),
            wait: crate::lifecycle::WaitOptions::default(),
            dry_run,
        };
        command(env, Vec::new())
    })
}

fn outcome(lines: Vec<String>, result: Result<(), OpsError>) -> (Vec<String>, String) {
    (
        lines,
        result.err().map(|e| e.to_string()).unwrap_or_default(),
    )
}

fn twin() -> config::Instance {
    instance("lxops-twin")
}

#[test]
fn dry_runs_print_the_steps_the_real_runs_take() {
    let commands: Vec<(&str, Command)> = vec![
        ("launch", |env, mut lines| {
            let result = block_on(async {
                let prepared =
                    prepare_launch(&env, instance("a1"), LaunchSources::default()).await?;
                launch(&env, prepared, &mut lines).await
            });
            outcome(lines, result)
        }),
        ("rebuild", |env, mut lines| {
            let result = block_on(rebuild(&env, &instance("a1"), &mut lines));
            outcome(lines, result)
        }),
        ("delete", |env, mut lines| {
            let options = RemoveOptions {
                force: true,
                adopt: false,
                twin: twin(),
                others: Vec::new(),
            };
            let result = block_on(delete(&env, &instance("a1"), &options, &mut lines));
            outcome(lines, result)
        }),
        ("destroy", |env, mut lines| {
            let options = RemoveOptions {
                force: true,
                adopt: false,
                twin: twin(),
                others: Vec::new(),
            };
            let result = block_on(destroy(&env, &instance("a1"), &options, &mut lines));
            outcome(lines, result)
        }),
        ("rename", |env, mut lines| {
            let options = RenameOptions {
                adopt: false,
                twin: twin(),
                others: Vec::new(),
            };
            let result = block_on(rename(
                &env,
                &instance("a1"),
                &instance("b1"),
                &options,
                &mut lines,
            ));
            outcome(lines, result)
        }),
        ("snapshot", |env, mut lines| {
            let options = SnapshotOptions {
                name: "s1".into(),
                instance: false,
                destroy: false,
                recursive: false,
                adopt: false,
            };
            let result = block_on(snapshot(&env, &instance("a1"), &options, &mut lines));
            outcome(lines, result)
        }),
        ("rollback", |env, mut lines| {
            let result = block_on(rollback(&env, &instance("a1"), "s1", false, &mut lines));
            outcome(lines, result)
        }),
        ("create-devices", |env, mut lines| {
            let result = block_on(create_devices(&env, &instance("a1"), &mut lines));
            outcome(lines, result)
        }),
        ("create-profile", |env, mut lines| {
            let result = block_on(create_profile(&env, &instance("a1"), &mut lines));
            outcome(lines, result)
        }),
    ];
    let mut text = Vec::new();
    for (name, command) in commands {
        for existing in [false, true] {
            let [dry, real] = both(existing, command);
            let state = if existing { "existing" } else { "fresh" };
            assert_eq!(dry, real, "{name} ({state}): dry run and real run differ");
            text.push(format!("{name} ({state}):"));
            text.extend(dry.0.iter().map(|l| format!("  {l}")));
            if !dry.1.is_empty() {
                text.push(format!("  error: {}", dry.1.replace('\n', "\n  ")));
            }
        }
    }
    expect_test::expect![[r#"
        launch (fresh):
          launch a1
          mkdir -p /srv/a1
          zfs create -p -o lxops:instance=default/a1 tank/a1
          mkdir /srv/a1/data
          mkdir /tank/a1/home
          create profile a1.lxops
            device data: path=/data source=/srv/a1/data type=disk
            device home: path=/home source=/tank/a1/home type=disk
          create instance a1 from image img with profiles default, a1.lxops
          chown new device directories to root of the instance (its id map)
          start instance a1
        launch (existing):
          error: instance a1 already exists: use `rebuild` to replace its OS image, or `delete` it first
        rebuild (fresh):
          rebuild a1
          error: instance a1 does not exist
        rebuild (existing):
          rebuild a1
          rebuild instance a1 from image img
          start instance a1
        delete (fresh):
          delete a1
          instance a1 does not exist
          profile a1.lxops does not exist
          remaining filesystems:
          ID    KIND  PATH     DIR       EXISTS
          data  dir   /srv/a1  /srv/a1   no
          z     zfs   tank/a1  /tank/a1  no
        delete (existing):
          delete a1
          delete instance a1
          delete profile a1.lxops
          remaining filesystems:
          ID    KIND  PATH     DIR       EXISTS
          data  dir   /srv/a1  /srv/a1   yes
          z     zfs   tank/a1  /tank/a1  yes
        destroy (fresh):
          delete a1
          instance a1 does not exist
          profile a1.lxops does not exist
        destroy (existing):
          delete a1
          delete instance a1
          delete profile a1.lxops
          destroy filesystem data (/srv/a1)
          destroy filesystem z (tank/a1)
        rename (fresh):
          error: instance a1 does not exist
        rename (existing):
          rename a1 to b1
          rename filesystem /srv/a1 -> /srv/b1
          rename filesystem tank/a1 -> tank/b1
          rename instance a1 to b1
          create profile b1.lxops
          set profiles of b1: default, b1.lxops
          delete profile a1.lxops
        snapshot (fresh):
          snapshot tank/a1@s1
        snapshot (existing):
          snapshot tank/a1@s1
        rollback (fresh):
          rollback tank/a1@s1
        rollback (existing):
          rollback tank/a1@s1
        create-devices (fresh):
          create-devices a1
          mkdir -p /srv/a1
          zfs create -p -o lxops:instance=default/a1 tank/a1
          mkdir /srv/a1/data
          mkdir /tank/a1/home
        create-devices (existing):
          create-devices a1
          keep /srv/a1/data (device data: exists)
          keep /tank/a1/home (device home: exists)
        create-profile (fresh):
          create profile a1.lxops
            device data: path=/data source=/srv/a1/data type=disk
            device home: path=/home source=/tank/a1/home type=disk
        create-profile (existing):
          error: a1: profile a1.lxops already exists and differs from the config:
          + device data: path=/data source=/srv/a1/data type=disk
          + device home: path=/home source=/tank/a1/home type=disk
          + config user.lxops.config=/cfg/x.yaml
          run `profile diff`, or delete the profile if it is stale (`delete` removes it with its instance)"#]].assert_eq(&text.join("\n"));
}
