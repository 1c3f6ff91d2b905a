//! Where lifecycle steps report what they do: one line per step, for the CLI's stdout (or a
//! per-instance buffer when many instances run at once), and the [`Event`]s of a run over many
//! instances ([`ops::fleet`](crate::ops::fleet)) for a caller that wants them as values.

use std::time::Duration;

/// Receives one line per step.
pub trait Progress: Send {
    /// Reports a step.
    fn step(&mut self, line: &str);

    /// Records the cluster member the instance runs on, once an operation learned it (a launch
    /// on a cluster reads where the instance went, after its step line saying so). A run over
    /// many instances keeps it for its report ([`UnitResult::location`]); the default
    /// forgets it.
    ///
    /// [`UnitResult::location`]: crate::ops::fleet::UnitResult::location
    fn located(&mut self, _member: &str) {}
}

impl Progress for Vec<String> {
    fn step(&mut self, line: &str) {
        self.push(line.to_string());
    }
}

impl Progress for Vec<u8> {
    fn step(&mut self, line: &str) {
        self.extend_from_slice(line.as_bytes());
        self.push(b'\n');
    }
}

/// What happened to one instance of a run over many instances, as it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The instance's operation started.
    Started {
        /// The instance.
        instance: &'a str,
    },
    /// The instance's operation reported a step (one [`Progress::step`] line).
    Step {
        /// The instance.
        instance: &'a str,
        /// The step's line.
        line: &'a str,
    },
    /// The instance's operation ended; `error` is its failure's message when it failed.
    Finished {
        /// The instance.
        instance: &'a str,
        /// How long the operation ran.
        duration: Duration,
        /// The failure's message (with its causes), `None` on success.
        error: Option<&'a str>,
    },
    /// The instance's operation was not started.
    Skipped {
        /// The instance.
        instance: &'a str,
        /// Why not.
        reason: SkipReason,
    },
}

/// Why a run over many instances did not start an instance's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// An earlier instance failed and the run was asked to fail fast.
    FailFast,
    /// The run was stopped from outside (its [`StopFlag`](crate::ops::fleet::StopFlag), e.g.
    /// Ctrl-C).
    Stopped,
}

/// A [`Progress`] that hands every step to a callback as an [`Event::Step`] of `instance`,
/// and keeps the instance's location ([`Progress::located`]).
pub struct EventProgress<'a> {
    instance: String,
    on_event: &'a (dyn Fn(Event<'_>) + Send + Sync),
    location: Option<String>,
}

impl<'a> EventProgress<'a> {
    /// Steps of `instance`, delivered to `on_event`.
    pub fn new(instance: &str, on_event: &'a (dyn Fn(Event<'_>) + Send + Sync)) -> Self {
        EventProgress {
            instance: instance.to_string(),
            on_event,
            location: None,
        }
    }

    /// The cluster member the instance runs on, if the operation reported it.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }
}

impl Progress for EventProgress<'_> {
    fn step(&mut self, line: &str) {
        (self.on_event)(Event::Step {
            instance: &self.instance,
            line,
        });
    }

    fn located(&mut self, member: &str) {
        self.location = Some(member.to_string());
    }
}
