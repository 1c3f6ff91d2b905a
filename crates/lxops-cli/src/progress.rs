//! Progress of runs over instances: every instance's step lines go into its [`Buffer`] (printed
//! as a block when the instance ends, see `commands::fleet`); on a terminal the buffer also
//! drives one live line per running instance (indicatif): its name, the elapsed time and its
//! current step. The core only sees `lifecycle::Progress`; all drawing is here.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use lxops_core::lifecycle::Progress;
use lxops_core::ops::fleet::UnitSink;

/// How often a live line redraws (its spinner and elapsed time).
const TICK: Duration = Duration::from_millis(200);

/// The widest step text on a live line; longer steps are cut with `…`.
const STEP_WIDTH: usize = 80;

/// The live lines on screen now, if any: log lines are printed with them taken off the screen.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// The writer of log lines (`tracing`): stderr, with the live lines (when there are any)
/// taken off the screen while a line is written, so logs never garble them.
pub(crate) fn log_writer() -> LogWriter {
    LogWriter(Vec::new())
}

/// One log event's text, written to stderr when dropped.
pub(crate) struct LogWriter(Vec<u8>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let write = || {
            let _ = io::stderr().lock().write_all(&self.0);
        };
        let active = ACTIVE.lock().ok().and_then(|a| a.clone());
        match active {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}

/// One instance's output: the lines it printed, and its live line when there is one; and the
/// cluster member the instance runs on once the operation reported it (for the run's summary).
#[derive(Default)]
pub(crate) struct Buffer {
    lines: Vec<u8>,
    bar: Option<ProgressBar>,
    location: Option<String>,
}

impl Buffer {
    /// A buffer that also shows its latest step on `bar`.
    fn live(bar: ProgressBar) -> Self {
        Buffer {
            lines: Vec::new(),
            bar: Some(bar),
            location: None,
        }
    }

    /// Sets the live line's prefix (e.g. the instance and a count of steps done), when there
    /// is a live line.
    pub(crate) fn set_prefix(&self, prefix: String) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(prefix);
        }
    }

    /// The lines printed so far; removes the live line.
    pub(crate) fn into_lines(self) -> Vec<u8> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.lines
    }

    fn show_last_line(&self) {
        let Some(bar) = &self.bar else { return };
        let text = String::from_utf8_lossy(&self.lines);
        if let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) {
            bar.set_message(step_text(line));
        }
    }
}

impl Progress for Buffer {
    fn step(&mut self, line: &str) {
        self.lines.step(line);
        if let Some(bar) = &self.bar {
            bar.set_message(step_text(line));
        }
    }

    fn located(&mut self, member: &str) {
        self.location = Some(member.to_string());
    }
}

impl UnitSink for Buffer {
    fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }
}

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.lines.extend_from_slice(bytes);
        if bytes.contains(&b'\n') {
            self.show_last_line();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The live lines of one run, drawn on stderr; `None` when not on a terminal.
pub(crate) struct Live {
    multi: MultiProgress,
    style: ProgressStyle,
    width: usize,
}

impl Live {
    /// Live lines on stderr for instances named up to `width` characters, coloured or not.
    /// Log lines take them off the screen while they print (see [`log_writer`]); do not log
    /// inside [`Live::suspend`].
    pub(crate) fn stderr(width: usize, colour: bool) -> Self {
        let live = Self::with_target(ProgressDrawTarget::stderr(), width, colour);
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(live.multi.clone());
        }
        live
    }

    /// Live lines on `target`.
    pub(crate) fn with_target(target: ProgressDrawTarget, width: usize, colour: bool) -> Self {
        Live {
            multi: MultiProgress::with_draw_target(target),
            style: style(colour),
            width,
        }
    }

    /// A buffer for `instance` with its live line, shown from now on.
    pub(crate) fn start(&self, instance: &str) -> Buffer {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.style.clone());
        bar.set_prefix(format!("{instance:<width$}", width = self.width));
        bar.set_message("starting");
        bar.enable_steady_tick(TICK);
        Buffer::live(bar)
    }

    /// Runs `f` (which prints) with the live lines taken off the screen, then redraws them.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
    }
}

/// The live line: spinner, instance (padded), elapsed time, step (cut at the terminal's
/// width, so a line never wraps). Without colour (`NO_COLOR`,
/// or stderr is not a terminal) the same text, unstyled.
fn style(colour: bool) -> ProgressStyle {
    let template = if colour {
        "{spinner:.cyan} {prefix:.bold}  {seconds:>7}  {wide_msg}"
    } else {
        "{spinner} {prefix}  {seconds:>7}  {wide_msg}"
    };
    // The template is a constant: it always parses; fall back to the default style anyway.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "seconds",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&elapsed_text(state.elapsed()));
            },
        )
}

/// Elapsed time as on the summary: `0.4s`, `12.0s`, `2m05s` from two minutes on.
pub(crate) fn elapsed_text(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    if seconds >= 120 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}

/// A step line as shown on a live line: its first line, control characters dropped, cut to
/// [`STEP_WIDTH`] characters.
pub(crate) fn step_text(line: &str) -> String {
    let first = line.lines().next().unwrap_or("").trim();
    let clean: String = first.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > STEP_WIDTH {
        let cut: String = clean.chars().take(STEP_WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    #[test]
    fn elapsed_and_step_texts() {
        let cases: &[(u64, &str)] = &[
            (0, "0.0s"),
            (400, "0.4s"),
            (12_049, "12.0s"),
            (119_900, "119.9s"),
            (125_000, "2m05s"),
            (3_600_000, "60m00s"),
        ];
        for (millis, want) in cases {
            assert_eq!(elapsed_text(Duration::from_millis(*millis)), *want);
        }
        assert_eq!(step_text("start instance a1\nmore"), "start instance a1");
        assert_eq!(
            step_text("  bell\u{7} and esc\u{1b}[31m  "),
            "bell and esc[31m"
        );
        let long = "x".repeat(200);
        let cut = step_text(&long);
        assert_eq!(cut.chars().count(), STEP_WIDTH);
        assert!(cut.ends_with('…'));
    }

    /// A terminal that records what is on each line.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            if !s.is_empty() {
                self.0.lock().unwrap().push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_live_line_shows_the_instance_its_elapsed_time_and_its_latest_step() {
        let screen = Screen::default();
        let live = Live::with_target(
            ProgressDrawTarget::term_like_with_hz(Box::new(screen.clone()), 100),
            6,
            false,
        );
        let mut a1 = live.start("a1");
        let mut web2 = live.start("web2");
        a1.step("create instance a1 from image busybox");
        writeln!(web2, "start instance web2").unwrap();
        a1.bar.as_ref().unwrap().tick();
        std::thread::sleep(Duration::from_millis(30));
        web2.bar.as_ref().unwrap().tick();
        let drawn = screen.0.lock().unwrap().join("\n");
        let a1_line = drawn
            .lines()
            .rev()
            .find(|l| l.contains("a1 "))
            .unwrap_or_else(|| panic!("no line for a1:\n{drawn}"));
        // spinner, name padded to 6, elapsed right-aligned in 7, step
        let (_, rest) = a1_line.split_once(' ').unwrap();
        assert!(rest.starts_with("a1    "), "{a1_line:?}");
        assert!(
            rest.ends_with("s  create instance a1 from image busybox"),
            "{a1_line:?}"
        );
        assert!(drawn.contains("web2  "), "{drawn}");
        assert!(drawn.contains("start instance web2"), "{drawn}");
        assert!(!drawn.contains('\u{1b}'), "no colour asked for:\n{drawn}");
        // The lines stay in the buffer for the block printed at the end.
        assert_eq!(
            String::from_utf8(a1.into_lines()).unwrap(),
            "create instance a1 from image busybox\n"
        );
        assert_eq!(
            String::from_utf8(web2.into_lines()).unwrap(),
            "start instance web2\n"
        );
    }
}
