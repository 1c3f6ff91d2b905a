//! Go-style flags: the original lxops accepted `-name a1` as well as `--name a1`. Before clap
//! sees the arguments, every single-dash word whose name is a long flag of the command being
//! parsed is rewritten to its double-dash form. Single-letter flags (`-P`, `-s`) are clap short
//! flags already and pass through unchanged.

use std::ffi::OsString;

use clap::Command;

/// Rewrites `-long[=value]` to `--long[=value]` where `long` is a long flag of the (sub)command
/// in effect at that position. Stops at `--`.
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
    let mut rest_verbatim = false;
    while let Some(arg) = iter.next() {
        if rest_verbatim {
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str().map(str::to_string) else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            rest_verbatim = true;
            out.push(arg);
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
            out.push(arg);
            continue;
        }
        if !text.starts_with('-') {
            if let Some(sub) = current.find_subcommand(&text).cloned() {
                // Only subcommands of a built command carry the propagated globals.
                current = sub;
            }
        }
        out.push(arg);
    }
    out
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
            ("lxops launch -nosuch x", "lxops launch -nosuch x"),
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
}
