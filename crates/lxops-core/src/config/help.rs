//! The `lxops help` topics. Each is the markdown file that is also the doc comment of its type
//! (or of this module's constants), so the help and the API docs cannot drift.

#[doc = include_str!("docs/pattern.md")]
pub const PATTERN: &str = include_str!("docs/pattern.md");
#[doc = include_str!("docs/hostpath.md")]
pub const HOSTPATH: &str = include_str!("docs/hostpath.md");

/// Every topic: name, text.
pub const TOPICS: &[(&str, &str)] = &[
    ("config", include_str!("docs/config.md")),
    ("filesystem", include_str!("docs/filesystem.md")),
    ("device", include_str!("docs/device.md")),
    ("pattern", PATTERN),
    ("hostpath", HOSTPATH),
    ("safety", include_str!("docs/safety.md")),
    ("cluster", include_str!("docs/cluster.md")),
];

/// The text of a topic.
pub fn topic(name: &str) -> Option<&'static str> {
    TOPICS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
