//! The space-time diagram of a run (Lamport 1978, fig. 1): one lane per node, time flowing
//! down, every message an arrow from its sending to its arrival, with crashes, partitions,
//! clock jumps and the violation marked. `consim run --out` and `consim hunt` write it as
//! `spacetime.svg` beside `timeline.svg`.
//!
//! **How it is made.** The run is replayed with the kernel's JSON Lines trace going to an
//! in-memory [`capture::Capture`] that keeps only the window drawn, so the first, untraced
//! run stays as fast as ever and the memory is bounded by the window. The replay must have
//! the first run's trace hash: runs are deterministic, so anything else is a bug, reported.
//!
//! **Where it looks.** A run sends thousands of messages; the diagram shows the
//! [`WINDOW_MESSAGES`] around one moment, and says which in its title:
//! 1. if a violated invariant names a request of the generic client (`txn 0/0/294`, a
//!    [`sim::RequestId`]), the first message carrying that request id, and every message
//!    carrying it is highlighted;
//! 2. else, if a violated invariant says when it broke (`at t=54.068s`), that time;
//! 3. else, for a violation, the last fault: a hunt's reproducer keeps only the faults the
//!    violation needs, so it broke after the last of them;
//! 4. else the first fault, or the start of a run without any.
//!
//! The invariants judge the run as a whole and their details are free text, so this is a
//! heuristic: it highlights what the detail names in a form the kernel knows (a request id),
//! and nothing model-specific. A reproducer is short, and often fits whole in the window.
//! A run stopped by its wall-clock limit cannot be replayed to the same point: it gets no
//! diagram.

mod capture;
mod svg;

use crate::runner::{RunReport, Scenario};

/// How many messages the diagram draws at most, at most half of them before its anchor.
pub const WINDOW_MESSAGES: usize = 300;

/// The diagram of `r`, a run of `scenario`, as SVG text; `None` for a run the wall-clock
/// limit interrupted. Replays the run once, traced.
pub fn diagram(scenario: &dyn Scenario, r: &RunReport) -> anyhow::Result<Option<String>> {
    if r.stop == "interrupted" {
        return Ok(None);
    }
    let focus = Focus::of(r);
    let (writer, captured) = capture::Capture::new(
        focus.at_ns,
        focus.request.as_ref().map(|q| q.needle.clone()),
        WINDOW_MESSAGES,
    );
    let replay = scenario.run(r.seed, Some(Box::new(writer)))?;
    anyhow::ensure!(
        replay.trace_hash == r.trace_hash,
        "{}: the traced replay of seed {} has trace hash {}, not {} (a determinism bug: \
         please report it)",
        r.scenario,
        r.seed,
        replay.trace_hash,
        r.trace_hash
    );
    Ok(Some(svg::draw(r, &focus, &captured.finish())))
}

/// What the diagram centres on, decided from the run's report before the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Focus {
    /// The anchor time when no message of the request comes first.
    at_ns: u64,
    /// What `at_ns` is, for the title: `when conservation was found broken`.
    why: String,
    request: Option<Request>,
    /// Every time a violated invariant says it broke, with the invariant: marked.
    broke: Vec<(u64, &'static str)>,
}

/// A request a violated invariant names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Request {
    /// As the invariant wrote it: `0/0/294`.
    shown: String,
    /// As the request id appears in a message's `Debug` text.
    needle: String,
    invariant: &'static str,
}

impl Focus {
    fn of(r: &RunReport) -> Focus {
        use sim::invariant::Status;
        let violated: Vec<_> = r
            .invariants
            .iter()
            .filter(|i| i.status == Status::Violated)
            .collect();
        let request = violated.iter().find_map(|i| {
            request_id(&i.detail).map(|(shown, [client, incarnation, seq])| Request {
                shown,
                needle: format!(
                    "RequestId {{ client: {client}, incarnation: {incarnation}, seq: {seq} }}"
                ),
                invariant: i.name,
            })
        });
        let mut broke: Vec<(u64, &'static str)> = violated
            .iter()
            .filter_map(|i| time_named(&i.detail).map(|t| (t, i.name)))
            .collect();
        broke.sort_unstable();
        let faults = fault_times(r);
        let (at_ns, why) = if let Some(&(t, name)) = broke.first() {
            (
                t,
                format!("when {name} was found broken ({})", sim::Time(t)),
            )
        } else if let (false, Some(&last)) = (violated.is_empty(), faults.last()) {
            (
                last,
                format!(
                    "the last fault ({}): the invariants do not say when they broke",
                    sim::Time(last)
                ),
            )
        } else if let Some(&first) = faults.first() {
            (first, format!("the first fault ({})", sim::Time(first)))
        } else {
            (0, "the start".into())
        };
        Focus {
            at_ns,
            why,
            request,
            broke,
        }
    }
}

/// The first request id written `client/incarnation/seq` in `text` (how a
/// [`sim::RequestId`] displays), as written and as numbers.
fn request_id(text: &str) -> Option<(String, [u64; 3])> {
    text.split(|c: char| c.is_whitespace() || ",;:()[]".contains(c))
        .find_map(|word| {
            let parts: Vec<u64> = word
                .split('/')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let numbers: [u64; 3] = parts.try_into().ok()?;
            Some((word.to_string(), numbers))
        })
}

/// The earliest time written `t=<duration>` in `text` (`at t=54.068s, after ...`).
fn time_named(text: &str) -> Option<u64> {
    text.match_indices("t=")
        .filter(|(i, _)| {
            text[..*i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        })
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .unwrap_or(rest.len());
            let d = sim::time::parse_duration(&rest[..end]).ok()?;
            u64::try_from(d.as_nanos()).ok()
        })
        .min()
}

/// When the run's faults struck, in order: crashes and partitions from its episodes, every
/// timed fault (clock jumps included) from its schedule.
fn fault_times(r: &RunReport) -> Vec<u64> {
    let mut times: Vec<u64> = r.episodes.iter().map(|e| e.from_ns).collect();
    if let Ok(schedule) = r.schedule_toml.parse::<toml::Table>() {
        let faults = schedule.get("faults").and_then(|f| f.as_array());
        for f in faults.into_iter().flatten() {
            let at = f.get("at").and_then(|a| a.as_str());
            if let Some(Ok(d)) = at.map(sim::time::parse_duration) {
                times.extend(u64::try_from(d.as_nanos()).ok());
            }
        }
    }
    times.retain(|&t| t <= r.sim_time_ns);
    times.sort_unstable();
    times.dedup();
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_requests_and_times() {
        let detail = "txn 0/0/294 (move 127 from account 7 to 19) committed at db1";
        assert_eq!(request_id(detail), Some(("0/0/294".into(), [0, 0, 294])));
        assert_eq!(request_id("version 12/5 of k1"), None);
        assert_eq!(request_id("1/2/3/4 and 5/x/6"), None);
        assert_eq!(
            time_named("at t=54.068s, after an event at db2"),
            Some(54_068_000_000)
        );
        assert_eq!(time_named("at t=2s: a; at t=1.5s: b"), Some(1_500_000_000));
        assert_eq!(
            time_named("count=3s"),
            None,
            "a word ending in t is no time"
        );
        assert_eq!(time_named("t=soon"), None);
    }
}
