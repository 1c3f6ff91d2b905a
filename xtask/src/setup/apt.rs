//! Debian packages: the main-suite packages, the `<codename>-backports` suite (its mirror read
//! from the host's own apt sources at run time), Incus from backports, and source packages
//! fetched through a private apt state (the host's sources stay as they are).

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cmd::{log, Cmd};

/// Packages from the main suite.
const PACKAGES: &[&str] = &[
    "lxd",
    "rsync",
    "bzip2",
    "gcc",
    "libc6-dev",
    "make",
    "debootstrap",
    "zfs-fuse",
    "btrfs-progs",
    "dpkg-dev",
    "sudo",
    // The test client certificate (set-up, HTTPS tests) and the bench's raw-request baseline.
    "openssl",
    "curl",
];
/// Packages from the backports suite.
const BACKPORTS_PACKAGES: &[&str] = &["incus"];

const DEB822_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
const ONE_LINE_SOURCES: &str = "/etc/apt/sources.list";
const BACKPORTS_SOURCES: &str = "/etc/apt/sources.list.d/lxops-test-backports.sources";

/// Installs whatever is missing.
pub fn run() -> Result<()> {
    let mut all: Vec<&str> = PACKAGES.to_vec();
    all.extend(BACKPORTS_PACKAGES);
    let missing = missing_packages(&all)?;
    if missing.is_empty() {
        log("apt", format!("{} packages already installed", all.len()));
        return Ok(());
    }
    log("apt", format!("installing {}", missing.join(" ")));
    let codename = codename()?;
    let main_missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| missing.contains(p))
        .collect();
    apt_get(&["update"])?;
    if !main_missing.is_empty() {
        let mut args = vec!["install", "-y"];
        args.extend(&main_missing);
        apt_get(&args)?;
    }
    let bp_missing: Vec<&str> = BACKPORTS_PACKAGES
        .iter()
        .copied()
        .filter(|p| missing.contains(p))
        .collect();
    if !bp_missing.is_empty() {
        let suite = format!("{codename}-backports");
        add_backports(&codename)?;
        apt_get(&["update"])?;
        let mut args = vec!["install", "-y", "-t", suite.as_str()];
        args.extend(&bp_missing);
        apt_get(&args)?;
    }
    Ok(())
}

/// The Debian mirror URI of the host's own apt sources (for backports and debootstrap).
pub fn mirror() -> Result<String> {
    let codename = codename()?;
    Ok(main_source(&codename)?.uri)
}

/// Downloads (does not build) the main suite's source package `name` into `dir`, through an
/// apt state of its own under `state`: a `deb-src` entry for the host's own mirror, and
/// package lists kept apart from the host's.
pub fn download_source(name: &str, dir: &Path, state: &Path) -> Result<()> {
    let codename = codename()?;
    let source = main_source(&codename)?;
    let parts = state.join("sources.list.d");
    let lists = state.join("lists");
    let cache = state.join("cache");
    for d in [&parts, &lists.join("partial"), &cache, dir] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut entry = format!(
        "Types: deb-src\nURIs: {}\nSuites: {codename}\nComponents: main\n",
        source.uri
    );
    if let Some(key) = &source.signed_by {
        entry.push_str(&format!("Signed-By: {key}\n"));
    }
    let file = parts.join("src.sources");
    std::fs::write(&file, entry).with_context(|| format!("cannot write {}", file.display()))?;
    let options = [
        format!("Dir::Etc::SourceParts={}", parts.display()),
        "Dir::Etc::SourceList=/dev/null".to_string(),
        format!("Dir::State::Lists={}", lists.display()),
        format!("Dir::Cache={}", cache.display()),
        "APT::Sandbox::User=root".to_string(),
    ];
    let apt = |args: &[&str]| {
        let mut cmd = apt_get_cmd().current_dir(dir);
        for option in &options {
            cmd = cmd.args(["-o", option.as_str()]);
        }
        cmd.args(args).run()
    };
    log("apt", format!("source package {name} from {}", source.uri));
    apt(&["update"])?;
    apt(&["source", "--download-only", name])
}

fn apt_get(args: &[&str]) -> Result<()> {
    apt_get_cmd().args(args).run()
}

/// `apt-get -q`, non-interactive.
fn apt_get_cmd() -> Cmd {
    Cmd::new("apt-get")
        .arg("-q")
        .env("DEBIAN_FRONTEND", "noninteractive")
}

/// Which of `packages` are not installed, asking dpkg once.
fn missing_packages<'a>(packages: &[&'a str]) -> Result<Vec<&'a str>> {
    // dpkg-query exits 1 when some package is unknown; its stdout still lists the known ones.
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${Status}\\n"])
        .args(packages)
        .stderr(std::process::Stdio::null())
        .output()
        .context("cannot run dpkg-query")?;
    let listing = String::from_utf8_lossy(&out.stdout);
    Ok(packages
        .iter()
        .copied()
        .filter(|p| {
            !listing.lines().any(|line| {
                line.split_once(' ').is_some_and(|(name, status)| {
                    name == *p && status.ends_with("installed") && !status.contains("not-installed")
                })
            })
        })
        .collect())
}

/// The host's Debian codename (`bookworm`), from `/etc/os-release`.
pub fn codename() -> Result<String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .context("cannot read /etc/os-release to find the Debian codename")?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
        .context("/etc/os-release has no VERSION_CODENAME line; is this Debian?")
}

/// Writes the backports sources entry unless some source already names the suite.
fn add_backports(codename: &str) -> Result<()> {
    let suite = format!("{codename}-backports");
    if Path::new(BACKPORTS_SOURCES).exists() || any_source_mentions(&suite) {
        log("apt", format!("{suite} already in apt sources"));
        return Ok(());
    }
    let source = main_source(codename)?;
    let mut entry = format!(
        "Types: deb\nURIs: {}\nSuites: {suite}\nComponents: main\n",
        source.uri
    );
    if let Some(key) = &source.signed_by {
        entry.push_str(&format!("Signed-By: {key}\n"));
    }
    log("apt", format!("adding {suite} from {}", source.uri));
    std::fs::write(BACKPORTS_SOURCES, entry)
        .with_context(|| format!("cannot write {BACKPORTS_SOURCES}"))
}

fn any_source_mentions(suite: &str) -> bool {
    let mut files = vec![Path::new(ONE_LINE_SOURCES).to_owned()];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources")),
        );
    }
    files.iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|text| {
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.split_whitespace().any(|w| w == suite))
        })
    })
}

/// The apt source of the main suite.
#[derive(Debug, PartialEq, Eq)]
struct Source {
    uri: String,
    signed_by: Option<String>,
}

fn main_source(codename: &str) -> Result<Source> {
    if let Ok(text) = std::fs::read_to_string(DEB822_SOURCES) {
        if let Some(source) = parse_deb822(&text, codename) {
            return Ok(source);
        }
    }
    if let Ok(text) = std::fs::read_to_string(ONE_LINE_SOURCES) {
        if let Some(source) = parse_one_line(&text, codename) {
            return Ok(source);
        }
    }
    bail!(
        "found no `deb` source for suite {codename} in {DEB822_SOURCES} or {ONE_LINE_SOURCES}; \
         add the Debian mirror there"
    )
}

/// Finds the first stanza of a deb822 sources file with type `deb` and suite `codename`.
fn parse_deb822(text: &str, codename: &str) -> Option<Source> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim().eq_ignore_ascii_case(name) && !l.starts_with('#'))
                    .then(|| value.trim().to_owned())
            })
        };
        let types = field("Types").unwrap_or_default();
        let suites = field("Suites").unwrap_or_default();
        if field("Enabled").is_some_and(|v| v == "no") {
            continue;
        }
        if !types.split_whitespace().any(|t| t == "deb")
            || !suites.split_whitespace().any(|s| s == codename)
        {
            continue;
        }
        let uri = field("URIs")?.split_whitespace().next()?.to_owned();
        return Some(Source {
            uri,
            signed_by: field("Signed-By").filter(|k| !k.is_empty()),
        });
    }
    None
}

/// Finds the first `deb [options] uri suite components` line of a one-line sources file.
fn parse_one_line(text: &str, codename: &str) -> Option<Source> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let rest = line.strip_prefix("deb ")?.trim_start();
        let (options, rest) = match rest.strip_prefix('[') {
            Some(r) => {
                let (opts, rest) = r.split_once(']')?;
                (opts, rest)
            }
            None => ("", rest),
        };
        let mut words = rest.split_whitespace();
        let uri = words.next()?;
        (words.next()? == codename).then(|| Source {
            uri: uri.to_owned(),
            signed_by: options
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .map(str::to_owned),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_picks_the_main_suite_stanza() {
        let text = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\nSigned-By: /usr/share/keyrings/k.gpg\n\n\
                    Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\
                    Components: main\n";
        assert_eq!(
            parse_deb822(text, "bookworm"),
            Some(Source {
                uri: "http://mirror.example/debian".into(),
                signed_by: Some("/usr/share/keyrings/k.gpg".into()),
            })
        );
    }

    #[test]
    fn deb822_skips_deb_src_and_other_suites() {
        let cases = [
            ("Types: deb-src\nURIs: http://a/\nSuites: bookworm\n", None),
            (
                "Types: deb\nURIs: http://a/\nSuites: bookworm-security\n",
                None,
            ),
            (
                "Types: deb\nURIs: http://a/\nSuites: bookworm\nEnabled: no\n",
                None,
            ),
            (
                "Types: deb deb-src\nURIs: http://a/ http://b/\nSuites: bookworm\n",
                Some("http://a/"),
            ),
        ];
        for (text, want) in cases {
            let got = parse_deb822(text, "bookworm").map(|s| s.uri);
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn one_line_sources() {
        let cases = [
            (
                "deb http://a/debian bookworm main\n",
                Some("http://a/debian"),
            ),
            (
                "# deb http://x/ bookworm main\ndeb http://a/ bookworm main",
                Some("http://a/"),
            ),
            (
                "deb [arch=amd64 signed-by=/k.gpg] http://a/ bookworm main",
                Some("http://a/"),
            ),
            ("deb http://a/ bookworm-security main", None),
            ("deb-src http://a/ bookworm main", None),
        ];
        for (text, want) in cases {
            let got = parse_one_line(text, "bookworm").map(|s| s.uri);
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }
}
