//! What the caller watches while a run goes on, through the kernel's [`sim::Watch`] hook
//! (called every [`sim::WATCH_EVERY`] events): the wall-clock limit (`limits.max_wall_time`)
//! and, on a terminal, a progress line for runs that take more than a second.
//!
//! The wall clock and `/proc` are read here, outside the simulation; the hook only looks, so
//! a run's trace hash is the same with the progress line on or off.

use sim::{Progress, Watch};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// How long a run goes before its progress line appears on a terminal: short runs stay silent.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// Whether a run draws its progress line on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressLine {
    Never,
    /// When stderr is a terminal, once the run has taken [`SHOW_AFTER`].
    OnTerminal,
    /// From the first poll, wherever stderr goes (indicatif hides it off a terminal): the
    /// drawing path runs, so tests can show that drawing leaves the run unchanged.
    Always,
}

/// The watch of one run.
pub struct RunWatch {
    started: Instant,
    limit: Duration,
    /// Wall time before the line appears; `None`: never.
    show_after: Option<Duration>,
    bar: Option<indicatif::ProgressBar>,
    /// Wall time and event count at the last redraw, for the event rate.
    last: (Instant, u64),
}

impl RunWatch {
    /// Stops the run past `limit` of wall time; draws a progress line as `line` says.
    pub fn new(limit: Duration, line: ProgressLine) -> RunWatch {
        let now = Instant::now();
        let show_after = match line {
            ProgressLine::Never => None,
            ProgressLine::OnTerminal => std::io::stderr().is_terminal().then_some(SHOW_AFTER),
            ProgressLine::Always => Some(Duration::ZERO),
        };
        RunWatch {
            started: now,
            limit,
            show_after,
            bar: None,
            last: (now, 0),
        }
    }

    pub fn into_hook(mut self) -> Watch {
        Box::new(move |p| self.poll(p))
    }

    /// Called every `WATCH_EVERY` events: a reason to stop, or `None` to go on.
    pub fn poll(&mut self, p: &Progress) -> Option<String> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        if elapsed > self.limit {
            return Some(format!(
                "the wall-clock limit (limits.max_wall_time = {}) was reached; raise it with \
                 --set limits.max_wall_time=...",
                sim::time::format_nanos(sim::time::nanos(self.limit))
            ));
        }
        if self.show_after.is_none_or(|after| elapsed < after) {
            return None;
        }
        let since_redraw = now.duration_since(self.last.0);
        // Redraw at most 5 times a second: a /proc read costs more than 64 Ki events' work.
        if self.bar.is_some() && since_redraw < Duration::from_millis(200) {
            return None;
        }
        let rate = (p.events - self.last.1) as f64 / since_redraw.as_secs_f64().max(1e-9);
        self.last = (now, p.events);
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(p.end.as_nanos().max(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {msg}").expect("valid template"),
            );
            bar
        });
        bar.set_position(p.now.as_nanos().min(p.end.as_nanos()));
        bar.set_message(format!(
            "sim time {} of {}, {:.2} M events/s, {} events{}",
            p.now,
            p.end,
            rate / 1e6,
            p.events,
            rss_mib().map_or(String::new(), |m| format!(", RSS {m:.0} MiB"))
        ));
        None
    }
}

impl Drop for RunWatch {
    /// The run is over: the progress line goes, so the summary starts on a clean line.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The progress line of a long `consim check`: on stderr when it is a terminal, once the
/// check has taken [`SHOW_AFTER`]; fed by the checker's progress hook
/// (`linearizability::Options::watch`), which may call it from several threads.
pub struct CheckWatch {
    started: Instant,
    show: bool,
    /// The line, and when it was last redrawn.
    bar: std::sync::Mutex<Option<(indicatif::ProgressBar, Instant)>>,
}

impl CheckWatch {
    pub fn new() -> CheckWatch {
        CheckWatch {
            started: Instant::now(),
            show: std::io::stderr().is_terminal(),
            bar: std::sync::Mutex::new(None),
        }
    }

    /// The checker's hook: redraws at most 5 times a second.
    pub fn poll(&self, p: &check::linearizability::Progress) {
        if !self.show || self.started.elapsed() < SHOW_AFTER {
            return;
        }
        let Ok(mut guard) = self.bar.lock() else {
            return;
        };
        let now = Instant::now();
        if guard
            .as_ref()
            .is_some_and(|(_, last)| now.duration_since(*last) < Duration::from_millis(200))
        {
            return;
        }
        let (bar, last) = guard.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(p.total.max(1) as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {msg}").expect("valid template"),
            );
            (bar, now)
        });
        *last = now;
        bar.set_length(p.total.max(1) as u64);
        bar.set_position(p.placed as u64);
        bar.set_message(format!(
            "{} / {} operations placed, {} configurations, memo {:.0} MiB",
            p.placed,
            p.total,
            p.configurations,
            p.memory_bytes as f64 / (1024.0 * 1024.0)
        ));
    }
}

impl Default for CheckWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CheckWatch {
    /// The check is over: the line goes, so the verdict starts on a clean line.
    fn drop(&mut self) {
        if let Ok(mut guard) = self.bar.lock() {
            if let Some((bar, _)) = guard.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// Current resident memory of this process (Linux `/proc/self/statm`, in 4 KiB pages as on
/// x86-64), in MiB; `None` elsewhere.
pub fn rss_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::Time;

    #[test]
    fn stops_past_the_limit_and_only_then() {
        let p = Progress {
            events: 1 << 16,
            now: Time(5),
            end: Time(10),
        };
        assert_eq!(
            RunWatch::new(Duration::from_secs(3600), ProgressLine::Always).poll(&p),
            None
        );
        let mut w = RunWatch::new(Duration::from_nanos(1), ProgressLine::Never);
        std::thread::sleep(Duration::from_millis(1)); // a bound, not a timed assertion
        let why = w.poll(&p).expect("1 ns is over");
        assert!(why.contains("limits.max_wall_time = 1ns"), "{why}");
    }
}
