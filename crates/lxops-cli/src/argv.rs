//! Go-style flags: the original lxops accepted `-name a1` as well as `--name a1`. Before clap
//! sees the arguments, every single-dash word whose name is a long flag of the command being
//! parsed is rewritten to its double-dash form. Single-letter flags (`-P`, `-s`) are clap short
//! flags already and pass through unchanged.
//!
//! The original also parses each command level's own flags before the subcommand name:
//! `lxops i -name x verify f.yaml`, `lxops config -raw print f.yaml`,
//! `lxops property -properties p.yaml set k v`. Flags written between a command group (`i`,
//! `config`, `property`, `profile`, `instance`) and its subcommand are moved after the
//! subcommand name, where clap parses them; a flag the chosen subcommand does not take is
//! then refused by clap, naming it (exit status 2).

use std::ffi::OsString;

use clap::Command;

/// Rewrites `-long[=value]` to `--long[=value]` where `long` is a long flag of the (sub)command
/// in effect at that position, and moves flags given to a command group after its subcommand
/// name. Stops at `--`.
pub fn normalize(command: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let args = publish_format(args);
    let mut out = Vec::with_capacity(args.len());
    let mut current = command.clone();
    // Building propagates global flags into every subcommand.
    current.build();
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    // Flags seen between a command group and its subcommand name, already normalized.
    let mut pending: Vec<OsString> = Vec::new();
    let mut depth = 0usize;
    let mut rest_verbatim = false;
    while let Some(arg) = iter.next() {
        if rest_verbatim {
            out.push(arg);
            continue;
        }
        let in_group = depth > 0 && current.has_subcommands();
        let Some(text) = arg.to_str().map(str::to_string) else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest_verbatim = true;
            out.append(&mut pending);
            out.push(arg);
            continue;
        }
        if in_group && text.starts_with('-') && text.len() > 1 {
            // A flag of the group's subcommands, before the subcommand name.
            let leaves: Vec<&Command> = current.get_subcommands().collect();
            let (word, value, known) = flag_word(&leaves, &text);
            if !known {
                // No subcommand takes it: refused right here, by its name.
                out.append(&mut pending);
                out.push(word);
                continue;
            }
            pending.push(word);
            if value {
                if let Some(v) = iter.next() {
                    pending.push(v);
                }
            }
            continue;
        }
        if let Some(word) = text.strip_prefix('-').filter(|w| !w.starts_with('-')) {
            let name = word.split('=').next().unwrap_or(word);
            if name.len() > 1 && has_long(&current, name) {
                out.push(OsString::from(format!("-{text}")));
                if takes_value(&current, name) && !word.contains('=') {
                    if let Some(value) = iter.next() {
                        out.push(value);
                    }
                }
                continue;
            }
            let first = word.chars().next().filter(|c| c.is_ascii_alphabetic());
            if name.len() > 1 && first.is_some_and(|c| !has_short(&current, c)) {
                // Not a flag and not a cluster of short flags: let clap's refusal name all
                // of it (`--raw`), not its first letter.
                out.push(OsString::from(format!("-{text}")));
                continue;
            }
            out.push(arg);
            continue;
        }
        if !text.starts_with('-') {
            if let Some(sub) = current.find_subcommand(&text).cloned() {
                // Only subcommands of a built command carry the propagated globals.
                current = sub;
                depth += 1;
                out.push(arg);
                out.append(&mut pending);
                continue;
            }
        }
        out.push(arg);
    }
    out.append(&mut pending);
    out
}

/// A flag word written before a group's subcommand name, in the form clap parses after the
/// subcommand (`-name` -> `--name`), whether the next word is its value, and whether any
/// subcommand of the group knows it. A flag that none knows keeps its whole name (`-raw` ->
/// `--raw`), so that clap's refusal names it rather than its first letter.
fn flag_word(leaves: &[&Command], text: &str) -> (OsString, bool, bool) {
    let word = text.trim_start_matches('-');
    let (name, inline_value) = match word.split_once('=') {
        Some((name, _)) => (name, true),
        None => (word, false),
    };
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if !text.starts_with("--") {
            // A short flag: `-P k=v`, or `-Pk=v` with the value attached.
            let known = leaves.iter().any(|l| has_short(l, c));
            let value = leaves.iter().any(|l| short_takes_value(l, c));
            return (OsString::from(text), value && !inline_value, known);
        }
    }
    let known = leaves.iter().any(|l| has_long(l, name));
    if !known && !text.starts_with("--") {
        // `-Pk=v`: a known short flag with its value attached.
        if let Some(c) = word.chars().next() {
            if leaves.iter().any(|l| short_takes_value(l, c)) {
                return (OsString::from(text), false, true);
            }
        }
    }
    let value = known && !inline_value && leaves.iter().any(|l| takes_value(l, name));
    (OsString::from(format!("--{word}")), value, known)
}

/// `publish -format unified|split` (the original's image format flag) is `--image-format`:
/// `--format` is the global output format.
fn publish_format(args: Vec<OsString>) -> Vec<OsString> {
    let Some(at) = args.iter().position(|a| a == "publish") else {
        return args;
    };
    let mut out = args;
    for i in at + 1..out.len() {
        let value = out.get(i + 1).and_then(|v| v.to_str());
        if (out[i] == "-format" || out[i] == "--format")
            && matches!(value, Some("unified" | "split"))
        {
            out[i] = OsString::from("--image-format");
        }
        if let Some(v) = out[i].to_str().and_then(|a| {
            a.strip_prefix("-format=")
                .or_else(|| a.strip_prefix("--format="))
        }) {
            if matches!(v, "unified" | "split") {
                out[i] = OsString::from(format!("--image-format={v}"));
            }
        }
    }
    out
}

fn has_long(command: &Command, name: &str) -> bool {
    command.get_arguments().any(|a| {
        a.get_long() == Some(name)
            || a.get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    })
}

fn takes_value(command: &Command, name: &str) -> bool {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(name))
        .is_some_and(|a| a.get_action().takes_values())
}

fn has_short(command: &Command, short: char) -> bool {
    command
        .get_arguments()
        .any(|a| a.get_short() == Some(short))
}

fn short_takes_value(command: &Command, short: char) -> bool {
    command
        .get_arguments()
        .find(|a| a.get_short() == Some(short))
        .is_some_and(|a| a.get_action().takes_values())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        Command::new("lxops")
            .arg(
                Arg::new("verbose")
                    .long("verbose")
                    .short('v')
                    .action(ArgAction::SetTrue)
                    .global(true),
            )
            .subcommand(
                Command::new("launch")
                    .arg(Arg::new("name").long("name"))
                    .arg(Arg::new("prop").short('P').action(ArgAction::Append))
                    .arg(
                        Arg::new("dry-run")
                            .long("dry-run")
                            .action(ArgAction::SetTrue),
                    )
                    .arg(Arg::new("files").num_args(0..)),
            )
    }

    #[test]
    fn rewrites_single_dash_long_flags_of_the_current_subcommand() {
        let cases: &[(&str, &str)] = &[
            (
                "lxops launch -name a1 x.yaml",
                "lxops launch --name a1 x.yaml",
            ),
            (
                "lxops launch -name=a1 x.yaml",
                "lxops launch --name=a1 x.yaml",
            ),
            (
                "lxops launch --name a1 x.yaml",
                "lxops launch --name a1 x.yaml",
            ),
            (
                "lxops launch -P a=b -dry-run x.yaml",
                "lxops launch -P a=b --dry-run x.yaml",
            ),
            (
                "lxops launch -verbose x.yaml",
                "lxops launch --verbose x.yaml",
            ),
            (
                "lxops launch -name -dry-run",
                "lxops launch --name -dry-run",
            ),
            ("lxops launch -- -name", "lxops launch -- -name"),
            ("lxops launch -nosuch x", "lxops launch --nosuch x"),
        ];
        for (input, expected) in cases {
            let args = input.split(' ').map(OsString::from).collect();
            let got: Vec<String> = normalize(&command(), args)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect();
            assert_eq!(got.join(" "), *expected, "input: {input}");
        }
    }

    #[test]
    fn the_global_remote_flag_works_go_style_before_and_after_the_command() {
        use clap::{CommandFactory, FromArgMatches};
        let cases: &[(&str, Option<&str>)] = &[
            ("lxops -remote r1 launch x.yaml", Some("r1")),
            ("lxops launch -remote r1 x.yaml", Some("r1")),
            ("lxops launch --remote=r2 -name a1 x.yaml", Some("r2")),
            ("lxops launch x.yaml", None),
        ];
        for (input, expected) in cases {
            let command = crate::args::Cli::command();
            let args = normalize(&command, input.split(' ').map(OsString::from).collect());
            let matches = command.try_get_matches_from(args).unwrap();
            let cli = crate::args::Cli::from_arg_matches(&matches).unwrap();
            assert_eq!(cli.global.remote.as_deref(), *expected, "input: {input}");
        }
    }

    /// Parses `line` with the real command line; Err is clap's message.
    fn parse(line: &str) -> Result<String, String> {
        use clap::{CommandFactory, FromArgMatches};
        let command = crate::args::Cli::command();
        let args = normalize(&command, line.split(' ').map(OsString::from).collect());
        let matches = command
            .try_get_matches_from(args)
            .map_err(|e| e.to_string())?;
        let cli = crate::args::Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        Ok(format!("{cli:?}"))
    }

    #[test]
    fn group_flags_before_the_subcommand_name_mean_the_same_as_after_it() {
        // (group, subcommand, its flags, its arguments): every `i`, `config` and `property`
        // subcommand, with the original's flags before the subcommand name and after it.
        let cases: &[(&str, &str, &str, &str)] = &[
            ("i", "verify", "-name x -P a=b -properties p.yaml", "f.yaml"),
            ("i", "verify", "--strict -project p1", "f.yaml"),
            ("i", "description", "-name x -properties=", "f.yaml"),
            ("i", "properties", "-name=x -P a=b -P c=d", "f.yaml"),
            ("i", "filesystems", "-name x,y -Pa=b", "f.yaml"),
            ("i", "devices", "--name x -project p1", "f.yaml"),
            ("i", "project", "-name x", "f.yaml"),
            (
                "config",
                "parse",
                "-raw -properties p.yaml",
                "f.yaml g.yaml",
            ),
            ("config", "print", "-raw", "f.yaml"),
            ("config", "properties", "-P a=b -strict", "f.yaml"),
            ("config", "packages", "-properties p.yaml", "f.yaml"),
            ("config", "cloud-config", "-P a=b", "f.yaml"),
            ("config", "includes", "-raw -P a=b", "f.yaml"),
            ("config", "convert", "-o out.yaml -f", "f.yaml"),
            ("property", "list", "-properties p.yaml", ""),
            ("property", "get", "-properties p.yaml -P a=b", "k"),
            ("property", "set", "-properties p.yaml", "k v"),
            ("property", "file", "-properties=p.yaml", ""),
            ("profile", "list", "-name x", "f.yaml"),
            ("instance", "devices", "-project p1", "a1"),
        ];
        for (group, sub, flags, rest) in cases {
            let join = |words: &[&str]| {
                words
                    .iter()
                    .filter(|w| !w.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let leaf = join(&["lxops", group, sub, flags, rest]);
            let before = join(&["lxops", group, flags, sub, rest]);
            let want = parse(&leaf).unwrap_or_else(|e| panic!("{leaf}: {e}"));
            let got = parse(&before).unwrap_or_else(|e| panic!("{before}: {e}"));
            assert_eq!(got, want, "{before}");
        }
    }

    #[test]
    fn a_flag_neither_position_accepts_is_refused_naming_it() {
        let cases: &[(&str, &str)] = &[
            ("lxops i -raw verify f.yaml", "--raw"),
            ("lxops i verify -raw f.yaml", "--raw"),
            ("lxops config -name x print f.yaml", "--name"),
            ("lxops config print -name x f.yaml", "--name"),
            ("lxops property -raw set k v", "--raw"),
            ("lxops config -o x print f.yaml", "-o"),
        ];
        for (line, flag) in cases {
            let err = parse(line).map(|_| ()).expect_err(line);
            assert!(err.contains(flag), "{line}: {flag:?} not in {err}");
        }
    }

    #[test]
    fn the_launcher_flags_are_accepted_where_the_original_accepts_them() {
        let flags = "-t -poll 3 -wait-configure 2 -wait-stop 1";
        for command in [
            "launch",
            "rebuild",
            "extract",
            "delete",
            "destroy",
            "create-devices",
            "create-profile",
        ] {
            let line = format!("lxops {command} {flags} -name a1 f.yaml");
            parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        let line = format!("lxops rename {flags} f.yaml a2");
        parse(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let err = parse("lxops snapshot -wait-stop 1 f.yaml")
            .map(|_| ())
            .unwrap_err();
        assert!(err.contains("--wait-stop"), "{err}");
    }
}
