//! Executing [`Step`]s inside an instance through [`InstanceServer`]: files with one
//! `write_file` call each (mode and owner set there, parent directories created only when the
//! write reports them missing), commands with `exec` as argv. The first failure stops the
//! apply. Nothing secret is logged: steps are logged through their `Display`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::accounts::{with_shell, Accounts};
use super::error::ApplyError;
use super::model::{IdRef, Owner};
use super::step::{
    runcmd_script, Action, Command, FileStep, Module, Step, UserUpdate, RUNCMD_MARKER,
};
use crate::server::{
    DirCreate, ExecOutput, ExecRequest, FileKind, FileWrite, InstanceServer, ServerError,
};

/// Where standard input for a command is staged (a root-only file, deleted afterwards).
const STDIN_DIR: &str = "/tmp";

/// setuid, setgid and sticky: the bits the file API cannot set.
const SPECIAL_BITS: u32 = 0o7000;

/// Numbers the staged stdin files of this process.
static STDIN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Applies steps in order to one instance; `progress` is called before each step.
/// The future is `Send`, so many instances can be configured at once on one runtime.
pub async fn apply_steps(
    server: &dyn InstanceServer,
    instance: &str,
    steps: &[Step],
    progress: &mut (dyn FnMut(&Step) + Send),
) -> Result<(), ApplyError> {
    let mut applier = Applier {
        server,
        instance,
        accounts: None,
        dirs: HashSet::new(),
    };
    for step in steps {
        progress(step);
        tracing::info!(instance, "{step}");
        let mut ctx = Ctx {
            applier: &mut applier,
            path: &step.path,
            module: step.module,
        };
        ctx.apply(&step.action).await?;
    }
    Ok(())
}

struct Applier<'a> {
    server: &'a dyn InstanceServer,
    instance: &'a str,
    /// `/etc/passwd` and `/etc/group`, read when first needed and again after commands ran.
    accounts: Option<Accounts>,
    /// Directories known to exist.
    dirs: HashSet<String>,
}

/// The applier plus the step being applied, for error messages.
struct Ctx<'a, 'b> {
    applier: &'b mut Applier<'a>,
    path: &'b PathBuf,
    module: Module,
}

fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The runcmd script's stderr without the entry marker, and the entry number it names.
fn split_marker(stderr: &str) -> (Option<usize>, String) {
    let mut entry = None;
    let mut rest = Vec::new();
    for line in stderr.lines() {
        match line.strip_prefix(RUNCMD_MARKER) {
            Some(n) => entry = n.trim().parse().ok().or(entry),
            None => rest.push(line),
        }
    }
    (entry, rest.join("\n"))
}

fn is_missing(e: &ServerError) -> bool {
    e.is_not_found() || matches!(e, ServerError::Api { status: 404, .. })
}

impl Ctx<'_, '_> {
    fn server_error(&self, action: impl Into<String>, source: ServerError) -> ApplyError {
        ApplyError::Server {
            path: self.path.clone(),
            module: self.module,
            action: action.into(),
            source,
        }
    }

    fn instance_error(&self, message: impl Into<String>) -> ApplyError {
        ApplyError::Instance {
            path: self.path.clone(),
            module: self.module,
            message: message.into(),
        }
    }

    async fn apply(&mut self, action: &Action) -> Result<(), ApplyError> {
        match action {
            Action::WriteFile(file) => self.write(file).await,
            Action::Exec(command) => self.run(command).await,
            Action::EnsureGroup { name, create } => {
                if self.accounts().await?.group(name).is_some() {
                    tracing::debug!("group {name} exists");
                    return Ok(());
                }
                self.run(create).await
            }
            Action::EnsureUser {
                name,
                create,
                update,
                created,
            } => {
                if self.accounts().await?.user(name).is_none() {
                    self.run(create).await?;
                    for command in created {
                        self.run(command).await?;
                    }
                    return Ok(());
                }
                tracing::debug!("user {name} exists: updating it");
                for update in update {
                    match update {
                        UserUpdate::Exec(command) => self.run(command).await?,
                        UserUpdate::PasswdShell(shell) => self.set_shell(name, shell).await?,
                    }
                }
                Ok(())
            }
            Action::AuthorizedKeys { user, home, keys } => {
                self.authorized_keys(user, home, keys.expose()).await
            }
            Action::RunScript { entries } => self.run_script(entries).await,
            Action::CheckSudoers { path, command } => {
                let output = self.exec(command.argv.clone(), command).await?;
                if output.status == 0 {
                    return Ok(());
                }
                let stderr = String::from_utf8_lossy(&output.stderr);
                Err(self.instance_error(format!(
                    "{path} is not valid sudoers syntax (visudo -c), so it was removed; fix the \
                     `sudo` rules of that user: {}",
                    stderr.trim()
                )))
            }
            Action::RequireFile { path, message } => match self.read(path).await? {
                Some(_) => Ok(()),
                None => Err(self.instance_error(message.clone())),
            },
        }
    }

    async fn read(&self, path: &str) -> Result<Option<crate::server::FileContent>, ApplyError> {
        let a = &self.applier;
        a.server
            .read_file(a.instance, path)
            .await
            .map_err(|e| self.server_error(format!("reading {path}"), e))
    }

    async fn accounts(&mut self) -> Result<&Accounts, ApplyError> {
        if self.applier.accounts.is_none() {
            let passwd = self.read("/etc/passwd").await?;
            let group = self.read("/etc/group").await?;
            let text = |f: Option<crate::server::FileContent>| {
                f.map(|f| String::from_utf8_lossy(&f.content).into_owned())
                    .unwrap_or_default()
            };
            self.applier.accounts = Some(Accounts::parse(&text(passwd), &text(group)));
        }
        match &self.applier.accounts {
            Some(accounts) => Ok(accounts),
            None => Err(self.instance_error("cannot read /etc/passwd")),
        }
    }

    async fn resolve(&mut self, owner: &Owner) -> Result<(u32, Option<u32>), ApplyError> {
        let uid = match &owner.user {
            IdRef::Id(id) => *id,
            IdRef::Name(name) => match self.accounts().await?.user(name) {
                Some(user) => user.uid,
                None => {
                    return Err(self.instance_error(format!(
                        "owner {owner}: there is no user {name:?} in the instance's /etc/passwd; \
                         create it first (users:) or use a numeric id"
                    )))
                }
            },
        };
        let gid = match &owner.group {
            None => None,
            Some(IdRef::Id(id)) => Some(*id),
            Some(IdRef::Name(name)) => match self.accounts().await?.group(name) {
                Some(group) => Some(group.gid),
                None => {
                    return Err(self.instance_error(format!(
                        "owner {owner}: there is no group {name:?} in the instance's /etc/group; \
                         create it first (groups:) or use a numeric id"
                    )))
                }
            },
        };
        Ok((uid, gid))
    }

    async fn write(&mut self, file: &FileStep) -> Result<(), ApplyError> {
        if let Some(dir) = &file.only_if_dir {
            let exists = matches!(self.read(dir).await?, Some(d) if d.kind == FileKind::Directory);
            if !exists {
                tracing::info!("skipping {}: {dir} does not exist", file.path);
                return Ok(());
            }
        }
        let (uid, gid) = self.resolve(&file.owner).await?;
        // Steps that end in chown/chmod, which follow symlinks, look at the path first.
        if file.append || file.mode & SPECIAL_BITS != 0 {
            match self.read(&file.path).await? {
                Some(existing) if existing.kind != FileKind::File => {
                    return Err(self.instance_error(format!(
                        "{} exists and is not a regular file (a {}); lxops does not change the \
                         mode or owner of what it points to",
                        file.path,
                        match existing.kind {
                            FileKind::Directory => "directory",
                            _ => "symlink",
                        }
                    )));
                }
                Some(existing) if file.append => {
                    return self.append(file, &existing, uid, gid).await;
                }
                // cloud-init creates a missing file (and its directories) for `append: true`.
                _ => {}
            }
        }
        let write = FileWrite {
            path: file.path.clone(),
            content: file.content.expose().clone(),
            mode: Some(file.mode),
            uid: Some(uid),
            gid,
            append: false,
        };
        self.write_file(&write).await?;
        if file.mode & SPECIAL_BITS != 0 {
            // The file API keeps only the permission bits (`& 0777`): set the rest after it.
            self.chmod(&file.path, file.mode).await?;
        }
        Ok(())
    }

    /// Appends to an existing file, then gives it the mode and owner of the step, as cloud-init
    /// does (the file API keeps an existing file's mode and owner).
    async fn append(
        &mut self,
        file: &FileStep,
        existing: &crate::server::FileContent,
        uid: u32,
        gid: Option<u32>,
    ) -> Result<(), ApplyError> {
        self.write_file(&FileWrite {
            path: file.path.clone(),
            content: file.content.expose().clone(),
            mode: None,
            uid: None,
            gid: None,
            append: true,
        })
        .await?;
        let gid_wanted = gid.unwrap_or(existing.gid);
        let chowned = (existing.uid, existing.gid) != (uid, gid_wanted);
        if chowned {
            let owner = match gid {
                Some(gid) => format!("{uid}:{gid}"),
                None => uid.to_string(),
            };
            self.run(&Command::new(["chown", owner.as_str(), file.path.as_str()]))
                .await?;
        }
        // chown clears the set-id bits, so chmod comes after it.
        if chowned || existing.mode & 0o7777 != file.mode || file.mode & SPECIAL_BITS != 0 {
            self.chmod(&file.path, file.mode).await?;
        }
        Ok(())
    }

    async fn chmod(&mut self, path: &str, mode: u32) -> Result<(), ApplyError> {
        self.run(&Command::new(["chmod", &format!("{mode:04o}"), path]))
            .await
    }

    /// One `write_file` call; when the parent directory is missing, creates it and retries.
    async fn write_file(&mut self, write: &FileWrite) -> Result<(), ApplyError> {
        let dir = parent(&write.path).to_string();
        let a = &self.applier;
        match a.server.write_file(a.instance, write).await {
            Ok(()) => {
                self.applier.dirs.insert(dir);
                Ok(())
            }
            Err(e) if is_missing(&e) && !self.applier.dirs.contains(&dir) => {
                tracing::debug!("creating {dir} for {}", write.path);
                self.make_dirs(&dir).await?;
                let a = &self.applier;
                a.server
                    .write_file(a.instance, write)
                    .await
                    .map_err(|e| self.server_error(format!("writing {}", write.path), e))
            }
            Err(e) => Err(self.server_error(format!("writing {}", write.path), e)),
        }
    }

    /// Creates a directory and its missing parents (root-owned, 0755).
    async fn make_dirs(&mut self, dir: &str) -> Result<(), ApplyError> {
        let mut path = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            path.push_str(part);
            if self.applier.dirs.contains(&path) {
                continue;
            }
            let create = DirCreate {
                path: path.clone(),
                ..Default::default()
            };
            let a = &self.applier;
            a.server
                .make_dir(a.instance, &create)
                .await
                .map_err(|e| self.server_error(format!("creating directory {path}"), e))?;
            self.applier.dirs.insert(path.clone());
        }
        Ok(())
    }

    async fn run(&mut self, command: &Command) -> Result<(), ApplyError> {
        let output = match &command.stdin {
            None => self.exec(command.argv.clone(), command).await?,
            Some(stdin) => {
                let n = STDIN_COUNTER.fetch_add(1, Ordering::Relaxed);
                let staged = format!("{STDIN_DIR}/.lxops-stdin.{}.{n}", std::process::id());
                self.write_file(&FileWrite {
                    path: staged.clone(),
                    content: stdin.expose().clone(),
                    mode: Some(0o600),
                    uid: Some(0),
                    gid: Some(0),
                    append: false,
                })
                .await?;
                // A fixed script: the file and the command are positional parameters.
                let mut argv: Vec<String> = vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "exec \"$@\" < \"$0\"".into(),
                    staged.clone(),
                ];
                argv.extend(command.argv.iter().cloned());
                let result = self.exec(argv, command).await;
                let a = &self.applier;
                if let Err(e) = a.server.delete_file(a.instance, &staged).await {
                    tracing::warn!("cannot delete {staged} in {}: {e}", a.instance);
                }
                result?
            }
        };
        // Commands may add users and groups (packages too): read them again when needed.
        self.applier.accounts = None;
        if output.status != 0 {
            return Err(ApplyError::Command {
                path: self.path.clone(),
                module: self.module,
                command: command.to_string(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(())
    }

    /// Stages the runcmd script in a root-only file and runs it with `/bin/sh` from `/`.
    async fn run_script(&mut self, entries: &[String]) -> Result<(), ApplyError> {
        let n = STDIN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let staged = format!("{STDIN_DIR}/.lxops-runcmd.{}.{n}", std::process::id());
        self.write_file(&FileWrite {
            path: staged.clone(),
            content: runcmd_script(entries).into_bytes(),
            mode: Some(0o700),
            uid: Some(0),
            gid: Some(0),
            append: false,
        })
        .await?;
        let request = ExecRequest {
            argv: vec!["/bin/sh".into(), staged.clone()],
            cwd: Some("/".into()),
            ..Default::default()
        };
        let a = &self.applier;
        let result = a.server.exec(a.instance, &request).await;
        if let Err(e) = a.server.delete_file(a.instance, &staged).await {
            tracing::warn!("cannot delete {staged} in {}: {e}", a.instance);
        }
        let output = result.map_err(|e| self.server_error("running the runcmd script", e))?;
        self.applier.accounts = None;
        let (entry, stderr) = split_marker(&String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status != 0 {
            return Err(ApplyError::Runcmd {
                path: self.path.clone(),
                status: output.status,
                entry: entry.and_then(|i| entries.get(i).map(|text| (i, text.clone()))),
                output: [stdout.trim_end(), stderr.trim_end()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        Ok(())
    }

    async fn exec(&self, argv: Vec<String>, command: &Command) -> Result<ExecOutput, ApplyError> {
        let request = ExecRequest {
            argv,
            env: command.env.iter().cloned().collect::<BTreeMap<_, _>>(),
            ..Default::default()
        };
        let a = &self.applier;
        a.server
            .exec(a.instance, &request)
            .await
            .map_err(|e| self.server_error(format!("running `{command}`"), e))
    }

    async fn set_shell(&mut self, user: &str, shell: &str) -> Result<(), ApplyError> {
        let Some(passwd) = self.read("/etc/passwd").await? else {
            return Err(self.instance_error("the instance has no /etc/passwd"));
        };
        let text = String::from_utf8_lossy(&passwd.content);
        if let Some(changed) = with_shell(&text, user, shell) {
            self.write_file(&FileWrite {
                path: "/etc/passwd".into(),
                content: changed.into_bytes(),
                mode: Some(passwd.mode),
                uid: Some(passwd.uid),
                gid: Some(passwd.gid),
                append: false,
            })
            .await?;
            self.applier.accounts = None;
        }
        Ok(())
    }

    async fn authorized_keys(
        &mut self,
        user: &str,
        home: &str,
        keys: &[String],
    ) -> Result<(), ApplyError> {
        let (uid, gid, home) = match self.accounts().await?.user(user) {
            Some(entry) => {
                let home = if entry.home.is_empty() {
                    home.to_string()
                } else {
                    entry.home.clone()
                };
                (entry.uid, entry.gid, home)
            }
            None => {
                return Err(self.instance_error(format!(
                    "cannot install ssh keys: there is no user {user:?} in /etc/passwd"
                )))
            }
        };
        let ssh = format!("{}/.ssh", home.trim_end_matches('/'));
        match self.read(&ssh).await? {
            None => {
                if !self.applier.dirs.contains(&home) && self.read(&home).await?.is_none() {
                    self.make_dirs(&home).await?;
                }
                let create = DirCreate {
                    path: ssh.clone(),
                    mode: Some(0o700),
                    uid: Some(uid),
                    gid: Some(gid),
                };
                let a = &self.applier;
                a.server
                    .make_dir(a.instance, &create)
                    .await
                    .map_err(|e| self.server_error(format!("creating directory {ssh}"), e))?;
            }
            Some(dir) if dir.kind != FileKind::Directory => {
                return Err(self.instance_error(format!("{ssh} exists and is not a directory")))
            }
            Some(dir) => {
                if dir.mode & 0o7777 != 0o700 {
                    self.run(&Command::new(["chmod", "0700", &ssh])).await?;
                }
                if (dir.uid, dir.gid) != (uid, gid) {
                    self.run(&Command::new(["chown", &format!("{uid}:{gid}"), &ssh]))
                        .await?;
                }
            }
        }
        self.applier.dirs.insert(ssh.clone());
        let path = format!("{ssh}/authorized_keys");
        let existing = match self.read(&path).await? {
            Some(file) => String::from_utf8_lossy(&file.content).into_owned(),
            None => String::new(),
        };
        let mut lines: Vec<&str> = existing.lines().collect();
        for key in keys {
            if !lines.iter().any(|line| line.trim() == key.trim()) {
                lines.push(key);
            }
        }
        let mut content = lines.join("\n");
        content.push('\n');
        self.write_file(&FileWrite {
            path,
            content: content.into_bytes(),
            mode: Some(0o600),
            uid: Some(uid),
            gid: Some(gid),
            append: false,
        })
        .await
    }
}
