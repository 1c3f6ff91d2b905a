//! Running one operation per instance, up to N at once on one tokio runtime: the fleet runner
//! behind every lxops command that takes many instances, usable without the CLI.
//!
//! One instance failing does not stop the others, unless [`FleetOptions::fail_fast`] is set: then
//! no new instance starts after the first failure. A [`StopFlag`] stops the run from outside
//! (the CLI sets it on Ctrl-C): no new instance starts, the running ones finish. Results come
//! back in the order of the units, each with its duration.
//!
//! Two ways in:
//! - [`run`]: the operation gets a [`Progress`] whose steps, with the start and end of every
//!   instance, reach a callback as [`Event`]s. This is the embedding API (see
//!   `crates/lxops-core/examples/embed.rs`).
//! - [`run_units`]: the caller makes each unit's progress sink and receives it back, in unit
//!   order, when the unit ends; the CLI uses it to print each instance's lines as one block and
//!   to draw live lines.
//!
//! ```no_run
//! # async fn example(env: lxops_core::ops::Env, instances: Vec<lxops_core::config::Instance>) {
//! use lxops_core::ops::{self, fleet};
//! let units = instances
//!     .into_iter()
//!     .map(|i| fleet::Unit { instance: i.name.clone(), item: i })
//!     .collect();
//! let on_event = |event: fleet::Event<'_>| eprintln!("{event:?}");
//! let report = fleet::run(
//!     units,
//!     fleet::FleetOptions { jobs: 4, fail_fast: false },
//!     &fleet::StopFlag::default(),
//!     &on_event,
//!     async |instance, progress| {
//!         let prepared = ops::prepare_launch(&env, instance, Default::default()).await?;
//!         ops::launch(&env, prepared, progress).await
//!     },
//! )
//! .await;
//! assert!(report.is_ok());
//! # }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

pub use crate::lifecycle::{Event, EventProgress, Progress, SkipReason};

/// One unit of work: the instance it is for, and what the operation needs.
#[derive(Debug, Clone)]
pub struct Unit<T> {
    /// The instance name, as shown in events, output prefixes and summaries.
    pub instance: String,
    /// The operation's input.
    pub item: T,
}

/// How a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetOptions {
    /// At most this many instances at once (0 counts as 1).
    pub jobs: usize,
    /// After the first failure, start no new instance.
    pub fail_fast: bool,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            jobs: 1,
            fail_fast: false,
        }
    }
}

/// Stops a run from outside: once set, no new instance starts; running ones finish.
/// Clones share the flag, so one can be handed to a signal handler.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks the run to start no new instance.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`StopFlag::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How one unit ended.
#[derive(Debug)]
pub enum Outcome<E> {
    /// The operation succeeded, in this time.
    Done(Duration),
    /// The operation failed after this time.
    Failed(Duration, E),
    /// The operation was not started.
    Skipped(SkipReason),
}

/// One unit's result.
#[derive(Debug)]
pub struct UnitResult<E> {
    /// The unit's instance.
    pub instance: String,
    /// How it ended.
    pub outcome: Outcome<E>,
    /// The cluster member the instance runs on, as the operation reported it through
    /// [`Progress::located`] (a launch on a cluster, also one that failed after creating the
    /// instance); `None` on a standalone server, for a skipped unit, or when the operation did
    /// not learn it (no request is made for it).
    pub location: Option<String>,
}

/// What [`run_units`] reads back from a unit's progress sink when the unit ends.
pub trait UnitSink {
    /// The member the unit's instance runs on, if its operation reported it
    /// ([`Progress::located`]).
    fn location(&self) -> Option<&str> {
        None
    }
}

/// A sink that keeps nothing.
impl UnitSink for () {}

impl UnitSink for EventProgress<'_> {
    fn location(&self) -> Option<&str> {
        EventProgress::location(self)
    }
}

/// The results of a run, in the order of its units.
#[derive(Debug)]
pub struct Report<E> {
    /// One result per unit, in unit order.
    pub results: Vec<UnitResult<E>>,
    /// Whether the run's [`StopFlag`] was set by the time it ended.
    pub stopped: bool,
}

impl<E> Report<E> {
    /// Whether every unit succeeded.
    pub fn is_ok(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Done(_)))
    }

    /// The failed units' instances and errors, in unit order.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &E)> {
        self.results.iter().filter_map(|r| match &r.outcome {
            Outcome::Failed(_, e) => Some((r.instance.as_str(), e)),
            _ => None,
        })
    }

    /// How many units were not started.
    pub fn skipped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
            .count()
    }
}

/// Runs `operation` for every unit, at most `options.jobs` at once, reporting through
/// `on_event`: [`Event::Started`], the operation's steps as [`Event::Step`], then
/// [`Event::Finished`] or [`Event::Skipped`] (the ends in unit order).
pub async fn run<T, E, Op>(
    units: Vec<Unit<T>>,
    options: FleetOptions,
    stop: &StopFlag,
    on_event: &(dyn Fn(Event<'_>) + Send + Sync),
    operation: Op,
) -> Report<E>
where
    E: Display,
    Op: AsyncFn(T, &mut dyn Progress) -> Result<(), E>,
{
    let operation = &operation;
    let finished = run_units(
        units,
        options,
        stop,
        |instance| {
            on_event(Event::Started { instance });
            EventProgress::new(instance, on_event)
        },
        |item, mut progress| async move {
            let result = operation(item, &mut progress).await;
            (progress, result)
        },
        |result, _| {
            let instance = result.instance.as_str();
            match &result.outcome {
                Outcome::Done(duration) => on_event(Event::Finished {
                    instance,
                    duration: *duration,
                    error: None,
                }),
                Outcome::Failed(duration, e) => on_event(Event::Finished {
                    instance,
                    duration: *duration,
                    error: Some(&e.to_string()),
                }),
                Outcome::Skipped(reason) => on_event(Event::Skipped {
                    instance,
                    reason: *reason,
                }),
            }
            Ok::<(), std::convert::Infallible>(())
        },
    )
    .await;
    match finished {
        Ok(report) => report,
        Err(never) => match never {},
    }
}

/// Runs `operation` for every unit, at most `options.jobs` at once. `start` makes a unit's
/// progress sink as the unit starts; `operation` gets the unit's item and sink and hands the
/// sink back with its result (the report takes the unit's location from it); `finish` receives every unit's result and sink (`None` when the
/// unit was skipped) in unit order as soon as the units before it ended. An error from `finish`
/// ends the run at once with that error.
pub async fn run_units<T, S, E, X, Start, Op, Fut, Finish>(
    units: Vec<Unit<T>>,
    options: FleetOptions,
    stop: &StopFlag,
    start: Start,
    operation: Op,
    mut finish: Finish,
) -> Result<Report<E>, X>
where
    S: UnitSink,
    Start: Fn(&str) -> S,
    Op: Fn(T, S) -> Fut,
    Fut: Future<Output = (S, Result<(), E>)>,
    Finish: FnMut(&UnitResult<E>, Option<S>) -> Result<(), X>,
{
    let failed = AtomicBool::new(false);
    let (failed, start, operation) = (&failed, &start, &operation);
    let mut results = stream::iter(units)
        .map(|unit| async move {
            if stop.is_stopped() || failed.load(Ordering::SeqCst) {
                let reason = if stop.is_stopped() {
                    SkipReason::Stopped
                } else {
                    SkipReason::FailFast
                };
                let outcome = Outcome::Skipped(reason);
                return (unit.instance, None, outcome, None);
            }
            let sink = start(&unit.instance);
            let started = Instant::now();
            let (sink, result) = operation(unit.item, sink).await;
            let location = sink.location().map(str::to_string);
            let outcome = match result {
                Ok(()) => Outcome::Done(started.elapsed()),
                Err(e) => {
                    if options.fail_fast {
                        failed.store(true, Ordering::SeqCst);
                    }
                    Outcome::Failed(started.elapsed(), e)
                }
            };
            (unit.instance, Some(sink), outcome, location)
        })
        .buffered(options.jobs.max(1));
    let mut finished = Vec::new();
    while let Some((instance, sink, outcome, location)) = results.next().await {
        let result = UnitResult {
            instance,
            outcome,
            location,
        };
        finish(&result, sink)?;
        finished.push(result);
    }
    Ok(Report {
        results: finished,
        stopped: stop.is_stopped(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn units(names: &[&str]) -> Vec<Unit<String>> {
        names
            .iter()
            .map(|n| Unit {
                instance: n.to_string(),
                item: n.to_string(),
            })
            .collect()
    }

    /// Runs a fake operation (`bad*` fails, `stop*` sets the stop flag, every unit reports one
    /// step) over `names` and returns the events as lines and the report.
    fn run_fake(names: &[&str], options: FleetOptions) -> (Vec<String>, Report<String>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let events = Mutex::new(Vec::new());
        let on_event = |event: Event<'_>| {
            let line = match event {
                Event::Started { instance } => format!("{instance} started"),
                Event::Step { instance, line } => format!("{instance}: {line}"),
                Event::Finished {
                    instance, error, ..
                } => format!("{instance} finished {error:?}"),
                Event::Skipped { instance, reason } => format!("{instance} skipped {reason:?}"),
            };
            events.lock().unwrap().push(line);
        };
        let stop = StopFlag::default();
        let report = runtime.block_on(run(
            units(names),
            options,
            &stop,
            &on_event,
            async |name: String, progress: &mut dyn Progress| {
                progress.step(&format!("working on {name}"));
                if name.starts_with("stop") {
                    stop.stop();
                }
                if name.starts_with("bad") {
                    return Err(format!("{name} broke"));
                }
                Ok(())
            },
        ));
        (events.into_inner().unwrap(), report)
    }

    fn outcomes(report: &Report<String>) -> Vec<String> {
        report
            .results
            .iter()
            .map(|r| match &r.outcome {
                Outcome::Done(_) => format!("{} ok", r.instance),
                Outcome::Failed(_, e) => format!("{} failed: {e}", r.instance),
                Outcome::Skipped(why) => format!("{} skipped {why:?}", r.instance),
            })
            .collect()
    }

    #[test]
    fn events_tell_each_instance_s_start_steps_and_end() {
        let (events, report) = run_fake(&["a1", "bad2"], FleetOptions::default());
        assert_eq!(
            events,
            [
                "a1 started",
                "a1: working on a1",
                "a1 finished None",
                "bad2 started",
                "bad2: working on bad2",
                "bad2 finished Some(\"bad2 broke\")",
            ]
        );
        assert!(!report.is_ok());
        assert_eq!(report.failures().collect::<Vec<_>>().len(), 1);
        assert!(!report.stopped);
    }

    #[test]
    fn a_failure_stops_the_others_only_with_fail_fast() {
        let cases: &[(usize, bool, &[&str])] = &[
            (1, false, &["a1 ok", "bad2 failed: bad2 broke", "a3 ok"]),
            (3, false, &["a1 ok", "bad2 failed: bad2 broke", "a3 ok"]),
            (
                1,
                true,
                &["a1 ok", "bad2 failed: bad2 broke", "a3 skipped FailFast"],
            ),
        ];
        for (jobs, fail_fast, want) in cases {
            let options = FleetOptions {
                jobs: *jobs,
                fail_fast: *fail_fast,
            };
            let (_, report) = run_fake(&["a1", "bad2", "a3"], options);
            assert_eq!(
                outcomes(&report),
                *want,
                "jobs {jobs} fail_fast {fail_fast}"
            );
            assert_eq!(report.skipped(), usize::from(*fail_fast));
        }
    }

    #[test]
    fn the_stop_flag_starts_no_new_instance_and_the_report_says_so() {
        let (events, report) = run_fake(&["a1", "stop2", "a3", "a4"], FleetOptions::default());
        assert_eq!(
            outcomes(&report),
            [
                "a1 ok",
                "stop2 ok",
                "a3 skipped Stopped",
                "a4 skipped Stopped"
            ]
        );
        assert!(report.stopped);
        assert_eq!(report.skipped(), 2);
        assert!(
            events.contains(&"a3 skipped Stopped".to_string()),
            "{events:?}"
        );
    }

    /// A launch on a cluster reports where each instance went (chosen target, or the
    /// scheduler's member), from what the launch read anyway: no extra request per instance.
    /// Not on a standalone server, and not for an instance that was never created.
    #[test]
    fn launches_report_each_instance_s_member_only_on_a_cluster() {
        use crate::host::fake::FakeHost;
        use crate::ops::test_support::dir_instance;
        use crate::server::fake::FakeServer;
        use crate::server::InstanceServer;

        let members = [("m1", "Online"), ("m2", "Online"), ("m3", "Online")];
        // (instance, target, member on the cluster; a target that is no member fails)
        let cases = [
            ("a1", Some("m2"), Some("m2")),
            ("a2", None, Some("m1")),
            ("a3", Some("m3"), Some("m3")),
            ("a4", Some("m9"), None),
        ];
        for clustered in [true, false] {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let server = FakeServer::new();
            server.add_image("img");
            if clustered {
                server.set_cluster(&members);
            }
            let env = crate::ops::Env {
                server: Arc::new(server.clone()),
                host: Arc::new(FakeHost::new()),
                os_types: Arc::new(crate::cloudconfig::OsTypes::builtin()),
                wait: crate::lifecycle::WaitOptions::default(),
                dry_run: false,
            };
            let root = tempfile::tempdir().unwrap();
            let units = cases
                .iter()
                .map(|(name, target, _)| {
                    let mut instance = dir_instance(root.path(), name);
                    // Standalone, every target is refused (not a cluster).
                    instance.target = target.map(str::to_string);
                    Unit {
                        instance: name.to_string(),
                        item: instance,
                    }
                })
                .collect();
            let report = runtime.block_on(run(
                units,
                FleetOptions {
                    jobs: 2,
                    fail_fast: false,
                },
                &StopFlag::default(),
                &|_| {},
                async |instance, progress| {
                    let prepared =
                        crate::ops::prepare_launch(&env, instance, Default::default()).await?;
                    crate::ops::launch(&env, prepared, progress).await
                },
            ));
            let got: Vec<(&str, Option<&str>)> = report
                .results
                .iter()
                .map(|r| (r.instance.as_str(), r.location.as_deref()))
                .collect();
            let want: Vec<(&str, Option<&str>)> = cases
                .iter()
                .map(|(name, _, member)| (*name, member.filter(|_| clustered)))
                .collect();
            assert_eq!(got, want, "clustered {clustered}");
            for (name, member) in &got {
                let live = runtime.block_on(server.instance(name)).unwrap();
                assert_eq!(
                    live.as_ref().and_then(|i| i.member()),
                    *member,
                    "clustered {clustered}: {name}"
                );
            }
            let failed: Vec<&str> = report.failures().map(|(name, _)| name).collect();
            let want_failed: &[&str] = if clustered {
                &["a4"]
            } else {
                &["a1", "a3", "a4"]
            };
            assert_eq!(failed, want_failed, "clustered {clustered}");
        }
    }

    #[test]
    fn an_error_of_finish_ends_the_run() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ran = Mutex::new(Vec::new());
        let result = runtime.block_on(run_units(
            units(&["a1", "a2", "a3"]),
            FleetOptions::default(),
            &StopFlag::default(),
            |_| (),
            |name, sink| {
                ran.lock().unwrap().push(name);
                async move { (sink, Ok::<(), String>(())) }
            },
            |result, _| match result.instance.as_str() {
                "a2" => Err("stdout closed"),
                _ => Ok(()),
            },
        ));
        assert_eq!(result.err(), Some("stdout closed"));
        assert_eq!(ran.into_inner().unwrap(), ["a1", "a2"]);
    }
}
