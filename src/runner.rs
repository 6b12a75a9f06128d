//! Loading a scenario into something runnable for any seed, and the run report of the
//! `--json` contract.

use crate::exit::Judgement;
use crate::registry::{self, Visitor};
use crate::scenario::{self, Common, ScenarioError};
use crate::watch::{ProgressLine, RunWatch};
use models::Params;
use serde::Serialize;
use sim::history::History;
use sim::invariant::Status;
use sim::{EpisodeKind, Sim, Stats, Stop};
use std::io::Write;
use std::path::Path;

/// A loaded scenario: runs any seed.
pub trait Scenario: Send + Sync {
    fn common(&self) -> &Common;
    fn kind(&self) -> &'static str;
    fn bug(&self) -> String;
    /// Runs one seed; `trace` receives the JSON Lines trace when given.
    fn run(&self, seed: u64, trace: Option<Box<dyn Write>>) -> std::io::Result<RunReport> {
        self.run_with(seed, trace, Samples::Drop, ProgressLine::Never)
    }

    /// [`Scenario::run`], keeping every latency sample with its time when asked (for charts),
    /// and showing a progress line on a terminal when `progress` (see [`crate::watch`]).
    fn run_with(
        &self,
        seed: u64,
        trace: Option<Box<dyn Write>>,
        samples: Samples,
        progress: ProgressLine,
    ) -> std::io::Result<RunReport>;
}

/// Whether a run keeps every latency sample with its time (memory grows with the run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Samples {
    Keep,
    Drop,
}

struct Loaded<P> {
    common: Common,
    params: P,
}

impl<P: Params> Scenario for Loaded<P> {
    fn common(&self) -> &Common {
        &self.common
    }

    fn kind(&self) -> &'static str {
        P::SPEC.kind
    }

    fn bug(&self) -> String {
        serde_json::to_value(&self.params)
            .ok()
            .and_then(|v| v.get("bug").and_then(|b| b.as_str().map(String::from)))
            .unwrap_or_else(|| "none".into())
    }

    fn run_with(
        &self,
        seed: u64,
        trace: Option<Box<dyn Write>>,
        samples: Samples,
        progress: ProgressLine,
    ) -> std::io::Result<RunReport> {
        let c = &self.common;
        let model = self
            .params
            .clone()
            .build(&c.nodes)
            .expect("parameters were validated at load");
        let watch = RunWatch::new(c.max_wall_time, progress);
        let mut sim = Sim::new(c.sim_config(seed), model, trace)
            .max_history(c.max_history_events)
            .watch(watch.into_hook());
        if samples == Samples::Keep {
            sim = sim.keep_samples();
        }
        let names = c.node_names();
        let schedule_toml = sim.schedule().to_toml(&names);
        let nemesis_cut = sim.schedule().nemesis_was_cut();
        let out = sim.run()?;
        let mut warnings: Vec<String> = out
            .unfired
            .faults
            .iter()
            .map(|f| {
                let entry = sim::fault::FaultSchedule {
                    faults: vec![f.clone()],
                }
                .to_toml(&names);
                let when = entry
                    .lines()
                    .find(|l| l.starts_with("when"))
                    .unwrap_or_default()
                    .to_string();
                format!("a triggered fault never fired ({when}): this run did not test it")
            })
            .collect();
        if nemesis_cut {
            warnings.push(format!(
                "the nemesis stopped drawing one kind of fault at {} (sim::fault::\
                 MAX_RANDOM_FAULTS): the rest of the run had none of that kind",
                sim::fault::MAX_RANDOM_FAULTS
            ));
        }
        for name in out.metrics.distribution_names() {
            let dropped = out.metrics.samples_dropped(name);
            if dropped > 0 {
                warnings.push(format!(
                    "{name}: the chart shows the first {} samples; {dropped} more are in the \
                     percentiles only",
                    sim::metrics::MAX_KEPT_SAMPLES
                ));
            }
        }
        let invariants = out
            .verdicts
            .iter()
            .map(|v| InvariantReport {
                name: v.name,
                status: v.status,
                expected: c.expect.get(v.name).copied().unwrap_or(Status::Holds),
                detail: v.detail.clone(),
            })
            .collect();
        Ok(RunReport {
            scenario: c.name.clone(),
            description: c.description.clone(),
            path: c.path.clone(),
            model: P::SPEC.kind,
            bug: self.bug(),
            seed,
            trace_hash: format!("{:016x}", out.trace_hash),
            events: out.stats.events,
            sim_time_ns: out.sim_time.as_nanos(),
            stop: match out.stop {
                Stop::TimeUp => "time_up",
                Stop::Quiescent => "quiescent",
                Stop::EventLimit => "event_limit",
                Stop::Interrupted => "interrupted",
            },
            invariants,
            metrics: out.metrics.to_json(),
            samples: out
                .metrics
                .distribution_names()
                .map(|n| (n, out.metrics.samples(n).to_vec()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            coverage: out.coverage,
            episodes: out
                .episodes
                .iter()
                .map(|e| EpisodeReport {
                    what: match e.what {
                        EpisodeKind::Down(n) => format!("{} down", names[n.index()]),
                        EpisodeKind::Partitioned => "partition".into(),
                    },
                    from_ns: e.from.as_nanos(),
                    to_ns: e.to.as_nanos(),
                })
                .collect(),
            kernel: out.stats,
            params: None,
            history: out.history,
            schedule_toml,
            warnings,
        })
    }
}

/// Loads a scenario file, with `--set` overrides applied.
pub fn load(
    path: &Path,
    overrides: &[(String, String)],
) -> Result<Box<dyn Scenario>, ScenarioError> {
    let file = path.display().to_string();
    let (kind, text, origins) = scenario::read(path, overrides)?;
    struct Load<'a> {
        file: &'a str,
        text: &'a str,
    }
    impl Visitor for Load<'_> {
        type Out = Result<Box<dyn Scenario>, ScenarioError>;
        fn visit<P: Params>(self) -> Self::Out {
            let (common, params) = scenario::parse::<P>(self.file, self.text)?;
            // Build once now so that a bad parameter is reported at load, with its line.
            params
                .clone()
                .build(&common.nodes)
                .map_err(|e| scenario::param_error(self.file, self.text, e))?;
            Ok(Box::new(Loaded { common, params }))
        }
    }
    registry::dispatch(
        &kind,
        Load {
            file: &file,
            text: &text,
        },
    )
    .unwrap_or_else(|| {
        Err(ScenarioError {
            set: None,
            line: Some(
                text.lines()
                    .position(|l| l.trim_start().starts_with("kind"))
                    .map_or(1, |i| i + 1),
            ),
            file,
            field: Some("model.kind".into()),
            message: format!(
                "unknown model kind `{kind}`; known: {}",
                registry::kinds().join(", ")
            ),
        })
    })
    .map_err(|e| origins.relocate(e))
}

/// One invariant in a report.
#[derive(Clone, Debug, Serialize)]
pub struct InvariantReport {
    pub name: &'static str,
    pub status: Status,
    pub expected: Status,
    pub detail: String,
}

/// One run: the object printed per line by `--json`.
#[derive(Serialize)]
pub struct RunReport {
    pub scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub path: String,
    pub model: &'static str,
    pub bug: String,
    pub seed: u64,
    pub trace_hash: String,
    pub events: u64,
    pub sim_time_ns: u64,
    pub stop: &'static str,
    pub invariants: Vec<InvariantReport>,
    pub metrics: serde_json::Value,
    /// What the kernel did: messages, drops, timers, crashes.
    pub kernel: Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip)]
    pub history: History,
    #[serde(skip)]
    pub schedule_toml: String,
    /// Which of the model's phases each fault struck in.
    #[serde(skip)]
    pub coverage: sim::fault::FaultCoverage,
    /// Every sample of each duration metric as (true time ns, value ns), when kept.
    #[serde(skip)]
    pub samples: Vec<(&'static str, Vec<(u64, u64)>)>,
    /// When nodes were down and the network partitioned.
    pub episodes: Vec<EpisodeReport>,
    /// Things the reader should know that are not verdicts (a trigger that never fired).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A stretch of time during which something was wrong: `"db1 down"`, `"partition"`.
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeReport {
    pub what: String,
    pub from_ns: u64,
    pub to_ns: u64,
}

impl RunReport {
    /// Met when every invariant ended as expected; Unmet when one did not (a violation nobody
    /// expected, or an expected violation that did not happen); Unknown when a check could
    /// not decide and nothing was unmet.
    pub fn judgement(&self) -> Judgement {
        let mismatched = || self.invariants.iter().filter(|i| i.status != i.expected);
        if mismatched().any(|i| i.status != Status::Unknown) {
            Judgement::Unmet
        } else if mismatched().next().is_some() {
            Judgement::Unknown
        } else {
            Judgement::Met
        }
    }

    /// The command that replays this run exactly.
    pub fn replay_command(&self, overrides: &[(String, String)]) -> String {
        replay_command(&self.path, self.seed, overrides)
    }
}

/// The command that replays the run of scenario file `path` on `seed` with `overrides`
/// (a sweep's report builds it from a results line).
pub fn replay_command(path: &str, seed: u64, overrides: &[(String, String)]) -> String {
    let mut cmd = format!("consim run {} --seed {seed}", shell_quote(path));
    for (k, v) in overrides {
        cmd.push_str(&format!(" --set {}", shell_quote(&format!("{k}={v}"))));
    }
    cmd
}

/// Quotes `text` for a POSIX shell when it holds anything beyond plain word characters.
fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn replay_arguments_survive_the_shell() {
        assert_eq!(shell_quote("network.loss=0.05"), "network.loss=0.05");
        assert_eq!(
            shell_quote("network.latency=uniform(1ms, 5ms)"),
            "'network.latency=uniform(1ms, 5ms)'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
