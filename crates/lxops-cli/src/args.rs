//! The command line, as clap types. Names and flags follow the original lxops so existing
//! scripts keep working (`lxops launch -name a1 -P k=v x.yaml`); `--dry-run`, `--force` and
//! `-j` are our additions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Launch and maintain LXD/Incus system containers from YAML config files.
#[derive(Debug, Parser)]
#[command(disable_help_subcommand = true, version, propagate_version = true)]
pub struct Cli {
    /// Options that apply to every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that apply to every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Unix socket of the daemon (default: found from the usual environment variables and paths).
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "remote")]
    pub socket: Option<PathBuf>,
    /// Remote daemon of the client config (config.yml) to talk to, over HTTPS with its client
    /// certificate (default: the config's default-remote; "local" is the unix socket).
    #[arg(long, global = true, value_name = "NAME")]
    pub remote: Option<String>,
    /// Seconds to wait for any one server operation before giving up.
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
    /// Seconds a command inside an instance (runcmd, package installs) may run; 0: no limit.
    /// Such commands do not count against --timeout; a long one is logged every 30 s.
    #[arg(long, global = true, default_value_t = 0, value_name = "SECONDS")]
    pub exec_timeout: u64,
    /// More log output on stderr (repeat for more); RUST_LOG overrides.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Output format of commands that list or describe, and of the summary of runs over
    /// several instances (default: table; `instance addresses`: csv).
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Print only errors and the summary of runs over several instances.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
}

/// The output format of `--format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people: tables and lines (the default).
    #[default]
    Table,
    /// A JSON array of objects with snake_case keys.
    Json,
    /// The same array as YAML.
    Yaml,
    /// A header line of the JSON keys, then one line per row (RFC 4180 quoting).
    Csv,
}

/// Options shared by commands that read config files for an instance.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Instance name (default: the config file's base name without its extension). Several
    /// names for one config file: `-name a1,a2,a3` or `-name` repeated, one instance each.
    #[arg(long, value_delimiter = ',', action = clap::ArgAction::Append)]
    pub name: Vec<String>,
    /// Project (default: the config's `project`, else the client's current project).
    #[arg(long)]
    pub project: Option<String>,
    /// Global properties file (default ~/.config/lxops/properties.yaml; "" for none), read on
    /// top of ~/.config/lxops/properties.d/*.yaml, which is always read.
    #[arg(long, value_name = "FILE", value_parser = path_or_empty())]
    pub properties: Option<PathBuf>,
    /// A property, key=value (repeatable); overrides config and global properties.
    #[arg(short = 'P', value_name = "KEY=VALUE", value_parser = key_value)]
    pub property: Vec<String>,
}

/// Options of commands that change something.
#[derive(Debug, Clone, Default, Args)]
pub struct ChangeArgs {
    /// Print exactly what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Handle up to N instances at once (default 1: one at a time, in order).
    #[arg(short = 'j', long = "jobs", default_value_t = 1, value_name = "N", value_parser = at_least_one)]
    pub jobs: usize,
    /// Stop at the first instance that fails (by default the others still run).
    #[arg(long = "fail-fast")]
    pub fail_fast: bool,
}

/// Config files, one instance each.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigFiles {
    /// lxops config files.
    #[arg(value_name = "CONFIG", required = true)]
    pub files: Vec<PathBuf>,
}

/// Options of commands that wait for an instance to come up (`launch`, `rebuild`, `extract`).
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Seconds to wait, after the start, until commands can run in the instance.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub poll: u64,
    /// launch: seconds to sleep after the instance is up (running, with its address) and
    /// before its cloud-config is applied, as the original. Accepted and without effect on
    /// rebuild and extract, as in the original.
    #[arg(long = "wait-configure", default_value_t = 0, value_name = "SECONDS")]
    pub wait_configure: u64,
    /// Accepted for compatibility with the original lxops, where it no longer has an effect.
    #[arg(long = "wait-stop", default_value_t = 5, value_name = "SECONDS")]
    pub wait_stop: u64,
    /// Trace (accepted for compatibility; use -v).
    #[arg(short = 't', long = "trace", hide = true)]
    pub trace: bool,
}

/// The original's launcher flags on commands that start nothing (`delete`, `destroy`,
/// `rename`, `create-devices`, `create-profile`): the original accepts them there and ignores
/// them, and so do we, so that its scripts keep working.
#[derive(Debug, Clone, Args)]
pub struct CompatWaitArgs {
    /// Accepted for compatibility with the original lxops; no effect on this command.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    pub poll: u64,
    /// Accepted for compatibility with the original lxops; no effect on this command.
    #[arg(long = "wait-configure", default_value_t = 0, value_name = "SECONDS")]
    pub wait_configure: u64,
    /// Accepted for compatibility with the original lxops; no effect on this command.
    #[arg(long = "wait-stop", default_value_t = 5, value_name = "SECONDS")]
    pub wait_stop: u64,
    /// Trace (accepted for compatibility; use -v).
    #[arg(short = 't', long = "trace", hide = true)]
    pub trace: bool,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create filesystems, the instance profile and the instance, start it and apply cloud-config.
    Launch(LaunchArgs),
    /// Delete the instance and its profile; filesystems are kept.
    Delete(DeleteArgs),
    /// Delete the instance and its profile, and destroy its `destroy: true` filesystems.
    Destroy(DeleteArgs),
    /// Replace the instance's OS with the config's image; device data is kept.
    Rebuild(LaunchArgs),
    /// Rename an instance, its root filesystems and its profile.
    Rename(RenameArgs),
    /// Snapshot the instance's filesystems (and with -c the instance).
    Snapshot(SnapshotArgs),
    /// Roll the instance's filesystems (and with -c the instance) back to a snapshot.
    Rollback(RollbackArgs),
    /// Apply the config's cloud-config files to an existing instance.
    Configure(ConfigureArgs),
    /// Create the instance's filesystems and device directories.
    CreateDevices(SimpleArgs),
    /// Create the instance's lxops profile.
    CreateProfile(SimpleArgs),
    /// Profiles of config instances.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Global properties.
    #[command(subcommand)]
    Property(PropertyCommand),
    /// Config files, without a server.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Information about a config's instance.
    #[command(name = "i", subcommand)]
    Info(InfoCommand),
    /// Instances on the server.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Apply cloud-config files to instances.
    Cloudconfig(CloudconfigArgs),
    /// Publish an instance snapshot as an image.
    Publish(PublishArgs),
    /// Images of the local image store: list, info, instances, alias, export, import, delete.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Export a config's filesystems as tarballs.
    Export(ExportArgs),
    /// Import a config's filesystems from tarballs.
    Import(ExportArgs),
    /// Initialise device directories from the files of the config's image.
    Extract(LaunchArgs),
    /// Copy an instance's ZFS filesystems from another instance's (zfs send | zfs receive).
    CopyFilesystems(CopyFilesystemsArgs),
    /// Add UID to uids below it and GID to gids below it in directory trees.
    Shiftids(ShiftidsArgs),
    /// The OS types known to the cloud-config applier.
    Ostypes,
    /// Compare instances with their configs: state, image, profiles, devices, filesystems.
    /// Exit status 0 when everything matches, 3 when something differs.
    Status(StatusArgs),
    /// Print the version.
    Version,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completion(CompletionArgs),
    /// Documentation topics: config, filesystem, device, pattern, hostpath, safety, cluster,
    /// cloud-config, images.
    Help(HelpArgs),
}

/// `launch` and `rebuild`.
#[derive(Debug, Clone, Args)]
pub struct LaunchArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// How long to wait for a started instance.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Cluster member (or `@group`) to create the instance on; overrides the config's
    /// `target` (see `help cluster`). Without either, the cluster's scheduler places it.
    #[arg(long, value_name = "MEMBER")]
    pub target: Option<String>,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `delete` and `destroy`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Stop a running instance first (otherwise a running instance is refused).
    #[arg(long)]
    pub force: bool,
    /// Also remove filesystems and the profile that carry no lxops mark (made by an older
    /// lxops) when they pass every safety rule and the instance exists (see `help safety`).
    #[arg(long)]
    pub adopt: bool,
    /// The original's launcher flags, accepted without effect.
    #[command(flatten)]
    pub compat: CompatWaitArgs,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `create-devices`, `create-profile`.
#[derive(Debug, Clone, Args)]
pub struct SimpleArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// The original's launcher flags, accepted without effect.
    #[command(flatten)]
    pub compat: CompatWaitArgs,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `configure`.
#[derive(Debug, Clone, Args)]
pub struct ConfigureArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Seconds to wait until commands can run in the instance.
    #[arg(long = "poll-seconds", default_value_t = 20, value_name = "SECONDS")]
    pub poll_seconds: u64,
    /// Trace (accepted for compatibility; use -v).
    #[arg(short = 't', long = "trace", hide = true)]
    pub trace: bool,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `rename CONFIG NEWNAME`.
#[derive(Debug, Clone, Args)]
pub struct RenameArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Also rename filesystems and replace the profile that carry no lxops mark (made by an
    /// older lxops) when they pass every safety rule.
    #[arg(long)]
    pub adopt: bool,
    /// The original's launcher flags, accepted without effect.
    #[command(flatten)]
    pub compat: CompatWaitArgs,
    /// The config file.
    pub file: PathBuf,
    /// The new instance name.
    pub new_name: String,
}

/// `snapshot`.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Snapshot name (default: the UTC time, YYYYMMDDHHMMSS).
    #[arg(short = 's', value_name = "NAME")]
    pub snapshot: Option<String>,
    /// Also snapshot the instance through the API.
    #[arg(short = 'c')]
    pub instance: bool,
    /// Destroy the snapshot instead of creating it.
    #[arg(short = 'd')]
    pub destroy: bool,
    /// With -d: `zfs destroy -R` on the outermost filesystems, as the original: the snapshots
    /// of the datasets inside and every clone that depends on them (device-origin clones) go
    /// too. Only when the filesystems carry this instance's mark and every such clone was made
    /// by lxops for an instance that no longer exists; --dry-run lists them.
    #[arg(short = 'R')]
    pub recursive: bool,
    /// With -d -R: also destroy clones (and filesystems) that carry no lxops mark.
    #[arg(long)]
    pub adopt: bool,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `rollback`.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Snapshot name.
    #[arg(short = 's', value_name = "NAME", required = true)]
    pub snapshot: String,
    /// Also restore the instance snapshot through the API.
    #[arg(short = 'c')]
    pub instance: bool,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// The profiles the config gives its instance.
    List(ProfileConfigArgs),
    /// Differences between the config's profiles and the instance's.
    Diff(ProfileConfigArgs),
    /// Set the instance's profiles to the config's.
    Apply(ProfileChangeArgs),
    /// Reorder the instance's profiles as in the config (same set only).
    Reorder(ProfileChangeArgs),
    /// Write profiles as YAML files.
    Export(ProfileExportArgs),
    /// Create or update profiles from YAML files (name = file base name).
    Import(ProfileImportArgs),
    /// Print the profile's name if it exists.
    Exists(ProfileExistsArgs),
}

/// `profile list|diff`.
#[derive(Debug, Clone, Args)]
pub struct ProfileConfigArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `profile apply|reorder`.
#[derive(Debug, Clone, Args)]
pub struct ProfileChangeArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `profile export`.
#[derive(Debug, Clone, Args)]
pub struct ProfileExportArgs {
    /// Directory to write to.
    #[arg(short = 'd', long = "dir", default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Export every profile.
    #[arg(long)]
    pub all: bool,
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Profile names.
    pub profiles: Vec<String>,
}

/// `profile import`.
#[derive(Debug, Clone, Args)]
pub struct ProfileImportArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Profile YAML files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `profile exists`.
#[derive(Debug, Clone, Args)]
pub struct ProfileExistsArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Profile name.
    pub profile: String,
}

/// `property ...`.
#[derive(Debug, Subcommand)]
pub enum PropertyCommand {
    /// The global properties.
    List(PropertyArgs),
    /// Print one global property.
    Get(PropertyGetArgs),
    /// Set a property in the properties file.
    Set(PropertySetArgs),
    /// Print the properties file's path.
    File(PropertyArgs),
}

/// Property file options.
#[derive(Debug, Clone, Args)]
pub struct PropertyArgs {
    /// Global properties file (default ~/.config/lxops/properties.yaml), read on top of
    /// ~/.config/lxops/properties.d/*.yaml, which is always read.
    #[arg(long, value_name = "FILE", value_parser = path_or_empty())]
    pub properties: Option<PathBuf>,
    /// A property, key=value (repeatable).
    #[arg(short = 'P', value_name = "KEY=VALUE", value_parser = key_value)]
    pub property: Vec<String>,
}

/// `property get`.
#[derive(Debug, Clone, Args)]
pub struct PropertyGetArgs {
    /// The global property file and `-P` properties.
    #[command(flatten)]
    pub properties: PropertyArgs,
    /// Property name.
    pub key: String,
}

/// `property set`.
#[derive(Debug, Clone, Args)]
pub struct PropertySetArgs {
    /// The global property file and `-P` properties.
    #[command(flatten)]
    pub properties: PropertyArgs,
    /// Property name.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Read and merge config files, printing warnings.
    Parse(ConfigReadArgs),
    /// Print the merged config.
    Print(ConfigReadArgs),
    /// Print the merged config's properties.
    Properties(ConfigReadArgs),
    /// Print the packages of the config's cloud-config files.
    Packages(ConfigReadArgs),
    /// Print the config's cloud-config file paths.
    #[command(name = "cloud-config")]
    CloudConfig(ConfigReadArgs),
    /// List included files recursively.
    Includes(ConfigReadArgs),
    /// Print the current and the supported older formats.
    Formats,
    /// Rewrite config files in the current format.
    Convert(ConfigConvertArgs),
}

/// `config parse|print|...`.
#[derive(Debug, Clone, Args)]
pub struct ConfigReadArgs {
    /// The global property file and `-P` properties.
    #[command(flatten)]
    pub properties: PropertyArgs,
    /// Do not follow includes or resolve paths.
    #[arg(long)]
    pub raw: bool,
    /// Treat unknown keys as errors.
    #[arg(long)]
    pub strict: bool,
    /// Config files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `config convert`.
#[derive(Debug, Clone, Args)]
pub struct ConfigConvertArgs {
    /// Output file (only with one input).
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Convert files that are already current.
    #[arg(short = 'f')]
    pub force: bool,
    /// Config files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `i ...`.
#[derive(Debug, Subcommand)]
pub enum InfoCommand {
    /// Check a config completely, without a server: everything launch checks before it
    /// changes anything (config, source configs, names, cloud-config files and OS type,
    /// lxc-options, owner); print the instance name.
    Verify(InfoVerifyArgs),
    /// Print the config's description.
    Description(InfoArgs),
    /// Print the effective properties: global, then config, then -P (not the built-ins, nor
    /// a property named like a built-in, which patterns never use).
    Properties(InfoArgs),
    /// Print the instance's filesystems.
    Filesystems(InfoArgs),
    /// Print the instance's devices.
    Devices(InfoArgs),
    /// Print the config's project.
    Project(InfoArgs),
}

/// `i description|properties|...`.
#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `i verify`.
#[derive(Debug, Clone, Args)]
pub struct InfoVerifyArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Treat unknown keys as errors.
    #[arg(long)]
    pub strict: bool,
    /// The config files.
    #[command(flatten)]
    pub files: ConfigFiles,
}

/// `instance ...`.
#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Print an instance's profiles.
    Profiles(InstanceNamesArgs),
    /// Wait until instances can run commands (and have an address if they have a NIC).
    Wait(InstanceNamesArgs),
    /// Print an instance's disk devices.
    Devices(InstanceNamesArgs),
    /// Print the MAC addresses of all instances.
    Hwaddr(InstanceProjectArgs),
    /// Print an instance as YAML.
    Info(InstanceNamesArgs),
    /// Print the global addresses of all instances.
    Addresses(InstanceAddressesArgs),
    /// Apply cloud-config files (stdin when none) to an instance.
    Cloudconfig(InstanceCloudconfigArgs),
    /// Copy a local file (or with -r a directory tree) into an instance.
    ///
    /// Modes and owners are kept (the files API drops set-id and sticky bits, with a
    /// warning), symlinks are copied as symlinks, never followed. An instance path with `..`,
    /// or a path in the instance that is a symlink where the tree has a file or directory, is
    /// refused before anything changes (exit 2). See `lxops help safety`.
    Push(InstancePushArgs),
    /// Copy a file (or with -r a directory tree) out of an instance.
    ///
    /// Modes are kept, and owners when run as root; symlinks are copied as symlinks (targets
    /// inside the tree written relative). A name the daemon lists that would leave the
    /// directory, or a local path that is a symlink where the tree has a file or directory, is
    /// refused before anything changes (exit 2). See `lxops help safety`.
    Pull(InstancePullArgs),
    /// Assign persistent numbers (e.g. ssh ports) to instances, kept in a CSV file of
    /// `name,number` lines.
    Number(InstanceNumberArgs),
}

/// `instance push`.
#[derive(Debug, Clone, Args)]
pub struct InstancePushArgs {
    /// Copy a whole directory tree: modes, owners, symlinks (as symlinks) and empty
    /// directories.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Print the steps and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Owner uid of everything pushed (default: each local entry's own).
    #[arg(long, value_name = "UID")]
    pub uid: Option<u32>,
    /// Owner gid of everything pushed (default: each local entry's own).
    #[arg(long, value_name = "GID")]
    pub gid: Option<u32>,
    /// Mode of every file pushed, in octal, e.g. 0640 (default: each local file's own;
    /// directories keep theirs).
    #[arg(long, value_name = "OCTAL", value_parser = octal_mode)]
    pub mode: Option<u32>,
    /// The local file or directory.
    #[arg(value_name = "LOCAL")]
    pub source: PathBuf,
    /// Where in the instance: an existing directory receives LOCAL under its own name,
    /// anything else is the new name.
    #[arg(value_name = "INSTANCE/PATH")]
    pub target: String,
}

/// An octal permission mode (`0640`, `755`).
fn octal_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{text:?} is not an octal mode such as 0640"))
}

/// `instance pull`.
#[derive(Debug, Clone, Args)]
pub struct InstancePullArgs {
    /// Copy a whole directory tree: modes, owners (when run as root), symlinks (as symlinks)
    /// and empty directories.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Print the steps and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// The file or directory in the instance.
    #[arg(value_name = "INSTANCE/PATH")]
    pub source: String,
    /// Where: an existing directory receives the source under its own name, anything else is
    /// the new name.
    #[arg(value_name = "LOCAL")]
    pub target: PathBuf,
}

/// Instance names.
#[derive(Debug, Clone, Args)]
pub struct InstanceNamesArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Instance names.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Only a project.
#[derive(Debug, Clone, Args)]
pub struct InstanceProjectArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
}

/// `instance addresses`.
#[derive(Debug, Clone, Args)]
pub struct InstanceAddressesArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Address family: inet or inet6.
    #[arg(long, default_value = "inet")]
    pub family: String,
    /// Print a header line (csv).
    #[arg(long)]
    pub headers: bool,
    /// Write to FILE instead of stdout (written completely, then renamed into place).
    #[arg(short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `instance cloudconfig`.
#[derive(Debug, Clone, Args)]
pub struct InstanceCloudconfigArgs {
    /// The instance.
    #[arg(short = 'i', required = true, value_name = "INSTANCE")]
    pub instance: String,
    /// OS type (alpine, debian, ...).
    #[arg(long)]
    pub ostype: Option<String>,
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Treat cloud-config keys and modules that lxops does not apply as errors.
    #[arg(long)]
    pub strict: bool,
    /// cloud-config files (stdin when none).
    pub files: Vec<PathBuf>,
}

/// `cloudconfig`.
#[derive(Debug, Clone, Args)]
pub struct CloudconfigArgs {
    /// The instance (then the arguments are files; stdin when none).
    #[arg(short = 'i', value_name = "INSTANCE")]
    pub instance: Option<String>,
    /// The file (then the arguments are instances).
    #[arg(short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// OS type (alpine, debian, ...).
    #[arg(long)]
    pub ostype: Option<String>,
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// `--dry-run`, `-j`, `--fail-fast`.
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Treat cloud-config keys and modules that lxops does not apply as errors.
    #[arg(long)]
    pub strict: bool,
    /// Files (with -i) or instances (with -f).
    pub args: Vec<String>,
}

/// `publish`.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// Alias of the new image.
    #[arg(long)]
    pub alias: Option<String>,
    /// Config file that supplies defaults.
    #[arg(short = 'c', value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Print what would be published and publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Image property `os`.
    #[arg(long)]
    pub os: Option<String>,
    /// Image property `variant`.
    #[arg(long)]
    pub variant: Option<String>,
    /// Image property `release`.
    #[arg(long)]
    pub release: Option<String>,
    /// Image property `serial`.
    #[arg(long)]
    pub serial: Option<String>,
    /// Image property `description`.
    #[arg(long)]
    pub description: Option<String>,
    /// Image property `name`.
    #[arg(long)]
    pub name: Option<String>,
    /// Compression algorithm.
    #[arg(long)]
    pub compression: Option<String>,
    /// Image property `architecture`; Go names (amd64, arm64, 386, ...) are mapped to the
    /// daemon's (x86_64, aarch64, i686, ...). Default: this host's architecture.
    #[arg(long)]
    pub architecture: Option<String>,
    /// Image format: unified or split (as `-format`; needs the daemon's `image_format` API
    /// extension for split).
    #[arg(long = "image-format", value_name = "FORMAT", value_parser = ["unified", "split"])]
    pub image_format: Option<String>,
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// `instance/snapshot`, or `instance` followed by the snapshot.
    #[arg(required = true, num_args = 1..=2)]
    pub source: Vec<String>,
}

/// `export` and `import`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Which instance of each config file, and its project and properties.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Directory of the tarballs.
    #[arg(short = 'd', value_name = "DIR", required = true)]
    pub dir: PathBuf,
    /// Export from this snapshot (filesystems that have no snapshots, plain directories,
    /// are exported live, as the original does).
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Also export the image aliased as the instance to DIR/image.tar.gz (import: import
    /// DIR/image.tar.gz with the instance name as alias).
    #[arg(long)]
    pub image: bool,
    /// Print what would be done and do nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The config file.
    pub file: PathBuf,
}

/// `copy-filesystems`.
#[derive(Debug, Clone, Args)]
pub struct CopyFilesystemsArgs {
    /// The config file (absolute with --from-host and no -s: the remote lxops reads it too).
    #[arg(short = 'c', value_name = "CONFIG", required = true)]
    pub config: PathBuf,
    /// The instance whose filesystems are written.
    #[arg(long, value_name = "INSTANCE", required = true)]
    pub container: String,
    /// The instance whose filesystems are read (default: --container).
    #[arg(long = "from-container", value_name = "INSTANCE")]
    pub from_container: Option<String>,
    /// Read the source filesystems on this ssh host.
    #[arg(long = "from-host", value_name = "HOST", conflicts_with = "to_host")]
    pub from_host: Option<String>,
    /// Write the target filesystems on this ssh host.
    #[arg(long = "to-host", value_name = "HOST")]
    pub to_host: Option<String>,
    /// Snapshot to send (default: snapshot the source now, named by the UTC time).
    #[arg(short = 's', value_name = "SNAPSHOT")]
    pub snapshot: Option<String>,
    /// The global property file and `-P` properties.
    #[command(flatten)]
    pub properties: PropertyArgs,
    /// Print what would be done and do nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `shiftids`.
#[derive(Debug, Clone, Args)]
pub struct ShiftidsArgs {
    /// Add UID to every uid below UID.
    #[arg(short = 'u', value_name = "UID", default_value_t = 0)]
    pub uid: u32,
    /// Add GID to every gid below GID.
    #[arg(short = 'g', value_name = "GID", default_value_t = 0)]
    pub gid: u32,
    /// Directory trees (root included; symlinks are skipped). With -v each is printed when done.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
}

/// `completion SHELL`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell, e.g. bash: `source <(lxops completion bash)`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `help [TOPIC]`.
#[derive(Debug, Clone, Args)]
pub struct HelpArgs {
    /// A topic (config, filesystem, device, pattern, hostpath, cluster) or a command name.
    pub topic: Vec<String>,
}

/// `-P KEY=VALUE`: a non-empty key, `=`, and a value (which may be empty).
fn key_value(arg: &str) -> Result<String, String> {
    match arg.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(arg.to_string()),
        Some(_) => Err("the key is empty; write KEY=VALUE, such as -P host=h1".to_string()),
        None => Err("no `=`; write KEY=VALUE, such as -P host=h1".to_string()),
    }
}

/// `-j N`: a whole number of at least 1.
fn at_least_one(arg: &str) -> Result<usize, String> {
    match arg.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (1 handles one config file at a time)".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of at least 1".to_string()),
    }
}

/// A path that may be empty (`-properties ""` means no file); clap's path parser refuses "".
fn path_or_empty() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// `instance number`.
#[derive(Debug, Clone, Args)]
pub struct InstanceNumberArgs {
    /// The numbers file (CSV `name,number`; created when missing).
    #[arg(short = 'f', value_name = "FILE", required = true)]
    pub file: PathBuf,
    /// First number (default: the smallest number in the file).
    #[arg(long, default_value_t = 0)]
    pub first: i64,
    /// Last number (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub last: i64,
    /// Also number the instances of this project.
    #[arg(long)]
    pub project: Option<String>,
    /// With --project: only its running instances.
    #[arg(short = 'r')]
    pub running: bool,
    /// Drop the numbers of instances that are not selected.
    #[arg(long)]
    pub clean: bool,
    /// Instance names.
    pub names: Vec<String>,
}

/// `image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List the images with their aliases and properties.
    List(ImageProjectArgs),
    /// Print one image (alias or fingerprint) with its properties.
    Info(ImageNameArgs),
    /// Which instances use which image (from `volatile.base_image`), to plan rebuilds.
    Instances(ImageProjectArgs),
    /// Image aliases.
    #[command(subcommand)]
    Alias(ImageAliasCommand),
    /// Download an image (alias or fingerprint) into DIR: a unified tarball, or the metadata
    /// and rootfs files of a split image.
    Export(ImageExportArgs),
    /// Upload a unified tarball, or a split pair (metadata tarball, then rootfs), as an image.
    Import(ImageImportArgs),
    /// Delete images (alias or fingerprint).
    Delete(ImageNamesArgs),
}

/// `image alias ...`.
#[derive(Debug, Subcommand)]
pub enum ImageAliasCommand {
    /// Create ALIAS for an image (alias or fingerprint).
    Create(ImageAliasCreateArgs),
    /// Rename an alias.
    Rename(ImageAliasRenameArgs),
    /// Delete aliases (their images stay).
    Delete(ImageNamesArgs),
}

/// Only a project.
#[derive(Debug, Clone, Args)]
pub struct ImageProjectArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
}

/// One image.
#[derive(Debug, Clone, Args)]
pub struct ImageNameArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Alias or fingerprint (prefix).
    pub image: String,
}

/// Several images or aliases.
#[derive(Debug, Clone, Args)]
pub struct ImageNamesArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Names.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `image alias create`.
#[derive(Debug, Clone, Args)]
pub struct ImageAliasCreateArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Description of the alias.
    #[arg(long, default_value = "")]
    pub description: String,
    /// The new alias.
    pub alias: String,
    /// The image: alias or fingerprint (prefix).
    pub image: String,
}

/// `image alias rename`.
#[derive(Debug, Clone, Args)]
pub struct ImageAliasRenameArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// The alias.
    pub alias: String,
    /// Its new name.
    pub new_name: String,
}

/// `image export`.
#[derive(Debug, Clone, Args)]
pub struct ImageExportArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Alias or fingerprint (prefix).
    pub image: String,
    /// Target: DIR/NAME (files DIR/NAME.tar.gz, ...), or an existing directory (files named
    /// by the fingerprint). Default: the current directory.
    pub target: Option<PathBuf>,
}

/// `image import`.
#[derive(Debug, Clone, Args)]
pub struct ImageImportArgs {
    /// Project.
    #[arg(long)]
    pub project: Option<String>,
    /// Alias of the new image (must be free).
    #[arg(long)]
    pub alias: Option<String>,
    /// A unified tarball, or the metadata tarball of a split image.
    pub file: PathBuf,
    /// The rootfs (tarball or squashfs) of a split image.
    pub rootfs: Option<PathBuf>,
}
