//! The benchmark cases: a table, so adding a case is adding an entry.
//!
//! Commands are whitespace-separated words with placeholders: `{cli}` (`lxc` or `incus`),
//! `{lxops}` (the release `lxops-lxd` or `lxops-incus`), `{name}` (a fresh instance name per
//! run) and `{dir}` (a temporary directory holding the case's `files`).

/// One benchmark: variants of the same work, timed on each daemon.
pub struct Case {
    /// Name given on the command line.
    pub name: &'static str,
    /// What the case measures.
    pub description: &'static str,
    /// Files written into `{dir}` before the case runs: (file name, contents).
    pub files: &'static [(&'static str, &'static str)],
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

/// Every case, in the order `cargo xtask bench` runs them.
pub const CASES: &[Case] = &[Case {
    name: "launch-busybox",
    description: "create and start a busybox container",
    files: &[("busybox.yaml", MINIMAL_BUSYBOX)],
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
}];
