//! `consim hunt`: runs a scenario over a range of seeds, stops at the first seed whose run
//! violates an invariant it should keep, and shrinks that run to a small reproducer.
//!
//! **Search.** Seeds run in contiguous chunks, each chunk in parallel (every run stays
//! single-threaded), and the hunt stops after the first chunk with a violation, at its lowest
//! failing seed: the same seed whatever the number of jobs.
//!
//! **Faults.** A hunt runs the scenario's own `[nemesis]`, or, if it has none, a default one
//! (a crash of a random node every ~5 s, down for up to 3 s; a partition every ~10 s, healed
//! within 3 s), in both cases with swarm testing on (Groce et al., ISSTA 2012: each seed
//! switches every fault kind on or off and scales its rate), on top of its scripted faults.
//!
//! **Shrinking.** A run's faults are data: its schedule (`RunReport::schedule_toml`) lists
//! every fault that ran, the nemesis's random ones included, as `[[faults]]` tables that
//! replay it. The reproducer is the scenario with the `[nemesis]` replaced by that schedule
//! and the failing seed written in; it is then shrunk as delta debugging does (Zeller &
//! Hildebrandt, TSE 2002): drop chunks of faults, then single faults, then halve each outage
//! and partition, then the clients one by one, then the run's duration, keeping a candidate
//! only if the same invariant is still violated. Every candidate is a scenario file `consim
//! run` accepts.

use crate::runner::{self, RunReport, Samples};
use crate::scenario;
use crate::watch::ProgressLine;
use anyhow::Context;
use rayon::prelude::*;
use sim::fault::FaultCoverage;
use sim::invariant::Status;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table};

/// A bug (known or unnamed) and the bundled story a hunt looks for it in (with the settings
/// it needs).
pub struct BugStory {
    pub scenario: &'static str,
    pub bug: &'static str,
    pub set: &'static [(&'static str, &'static str)],
}

/// Every known-bug variant of every model, with its story: what the hunt benchmark runs
/// (`cargo run --release --example hunt_benchmark`), and what `tests/hunt.rs` checks covers
/// every model's `bugs`.
pub const KNOWN_BUGS: &[BugStory] = &[
    BugStory {
        scenario: "bank-transfer-2pc",
        bug: "commit-before-log",
        set: &[],
    },
    BugStory {
        scenario: "bank-transfer-2pc",
        bug: "unsynced-prepare",
        set: &[],
    },
    BugStory {
        scenario: "bank-transfer-2pc",
        bug: "abort-keeps-lock",
        set: &[],
    },
    BugStory {
        scenario: "bank-transfer-saga",
        bug: "no-compensation",
        set: &[],
    },
    BugStory {
        scenario: "bank-transfer-saga",
        bug: "compensated-reported-committed",
        set: &[],
    },
    BugStory {
        scenario: "register-singapore-sync",
        bug: "no-epochs",
        set: &[],
    },
    BugStory {
        scenario: "register-singapore-sync",
        bug: "fake-sync",
        set: &[],
    },
    BugStory {
        scenario: "regional-read-after-write",
        bug: "ignore-session",
        set: &[
            ("model.read_from", "nearest"),
            ("model.read_your_writes", "session"),
        ],
    },
    BugStory {
        scenario: "regional-read-after-write",
        bug: "early-invalidation",
        set: &[],
    },
    BugStory {
        scenario: "payment-retries",
        bug: "no-ledger",
        set: &[],
    },
    BugStory {
        scenario: "payment-retries",
        bug: "ledger-separate-step",
        set: &[],
    },
    BugStory {
        scenario: "payment-retries",
        bug: "check-then-act",
        set: &[],
    },
    BugStory {
        scenario: "payment-retries",
        bug: "key-per-attempt",
        set: &[],
    },
    BugStory {
        scenario: "order-pipeline-outbox",
        bug: "no-dedupe",
        set: &[],
    },
    BugStory {
        scenario: "order-pipeline-outbox",
        bug: "commit-offset-first",
        set: &[],
    },
    BugStory {
        scenario: "order-pipeline-outbox",
        bug: "wrong-partition-key",
        set: &[],
    },
    BugStory {
        scenario: "billing-reconciliation",
        bug: "report-only",
        set: &[],
    },
    BugStory {
        scenario: "quorum-staleness",
        bug: "ack-before-quorum",
        set: &[("model.r", "2"), ("model.w", "2")],
    },
    BugStory {
        scenario: "quorum-staleness",
        bug: "read-first-reply",
        set: &[("model.r", "2"), ("model.w", "2")],
    },
    // The bug's own story expects the violation: the hunt runs the correct story with the
    // bug and the coarse timestamps of the bug's story.
    BugStory {
        scenario: "user-profile-lww",
        bug: "no-tiebreak",
        set: &[("model.timestamp_resolution", "1s")],
    },
    BugStory {
        scenario: "user-profile-vector-clocks",
        bug: "no-clock-merge",
        set: &[],
    },
];

/// Every unnamed bug (`ModelSpec::unnamed_bugs`: plausible mistakes no invariant or story was
/// written against), with the story of its model a hunt runs: what the invariants and the
/// hunt catch unaided (`cargo run --release --example hunt_benchmark` prints both tables).
pub const UNNAMED_BUGS: &[BugStory] = &[
    BugStory {
        scenario: "bank-transfer-2pc",
        bug: "forget-prepared",
        set: &[],
    },
    BugStory {
        scenario: "bank-transfer-2pc",
        bug: "no-decision-resend",
        set: &[],
    },
    BugStory {
        scenario: "bank-transfer-saga",
        bug: "refund-not-retried",
        set: &[],
    },
    BugStory {
        scenario: "bank-transfer-saga",
        bug: "step-rerun",
        set: &[],
    },
    BugStory {
        scenario: "register-singapore-sync",
        bug: "sync-after-one",
        set: &[],
    },
    BugStory {
        scenario: "register-singapore-sync",
        bug: "empty-disk-restart",
        set: &[],
    },
    BugStory {
        scenario: "payment-retries",
        bug: "ledger-unsynced",
        set: &[],
    },
];

impl BugStory {
    /// The hunt for it over `seeds`, on `jobs` threads, from the project root `root`.
    pub fn hunt(
        &self,
        root: &Path,
        seeds: RangeInclusive<u64>,
        jobs: usize,
    ) -> anyhow::Result<Hunt> {
        let path = root
            .join("scenarios")
            .join(format!("{}.toml", self.scenario));
        let mut set: Vec<(String, String)> = self
            .set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        set.push(("model.bug".into(), self.bug.into()));
        Ok(Hunt {
            overrides: hunt_overrides(&path, &set)?,
            path,
            seeds,
            jobs,
            all: false,
        })
    }
}

/// The nemesis a hunt adds to a scenario that has none, as `--set` overrides.
const DEFAULT_NEMESIS: [(&str, &str); 4] = [
    ("nemesis.crash_every", "exponential(5s)"),
    ("nemesis.restart_after", "uniform(100ms, 3s)"),
    ("nemesis.partition_every", "exponential(10s)"),
    ("nemesis.heal_after", "uniform(100ms, 3s)"),
];

/// The overrides a hunt runs with: the user's, then swarm testing on the scenario's nemesis,
/// or the default nemesis if the scenario (with the user's overrides) has none.
pub fn hunt_overrides(
    path: &Path,
    overrides: &[(String, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    let (_, text, _) = scenario::read(path, overrides)?;
    let doc: DocumentMut = text.parse().context("reading the scenario")?;
    let mut all = overrides.to_vec();
    if doc.get("nemesis").is_none() {
        all.extend(
            DEFAULT_NEMESIS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    if !overrides.iter().any(|(k, _)| k == "nemesis.swarm") {
        all.push(("nemesis.swarm".into(), "true".into()));
    }
    Ok(all)
}

/// What to hunt (with its overrides as [`hunt_overrides`] made them).
pub struct Hunt {
    pub path: PathBuf,
    pub overrides: Vec<(String, String)>,
    pub seeds: RangeInclusive<u64>,
    pub jobs: usize,
    /// Search the whole range for every distinct invariant violated, not only the first.
    pub all: bool,
}

/// How the search is going, for a progress bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub runs: u64,
    pub violations: u64,
    pub unknown: u64,
}

/// How many faults of each kind (`crash`, `partition`, ...) a run had, in order of first
/// appearance.
pub type KindCounts = Vec<(&'static str, usize)>;

/// A violation and its reproducer.
pub struct Found {
    pub seed: u64,
    /// The invariant the reproducer violates (without `--all`, the first the run violated,
    /// in the model's order).
    pub invariant: &'static str,
    /// The failing run, as found.
    pub original: RunReport,
    /// The reproducer: a scenario file that replays the violation.
    pub repro_text: String,
    /// Whether the run's fault schedule alone replayed it, so that the reproducer is
    /// scripted and shrunk. If not (a fault the schedule cannot express), the reproducer is
    /// the scenario with its nemesis kept and the failing seed written in.
    pub shrunk: bool,
    pub faults_before: usize,
    pub faults_after: usize,
    /// Client nodes in the scenario, and in the reproducer.
    pub clients_before: u64,
    pub clients_after: u64,
    /// The failing run's faults by kind (`crash`, `partition`, ...): what swarm testing had on.
    pub kinds: KindCounts,
    /// Candidates run while shrinking, and how many were kept.
    pub candidates: usize,
    pub kept: usize,
}

pub enum Outcome {
    /// The first failure (without `all`), or the first failure of each distinct invariant
    /// in seed order (with `all`); never empty.
    Found(Vec<Found>),
    /// No violation in the range; `unknown` runs ended undecided.
    Clean { runs: u64, unknown: u64 },
}

/// What a hunt found, and what its runs exercised.
pub struct Searched {
    pub outcome: Outcome,
    /// The runs made before the hunt stopped (the whole chunk with the failure included).
    pub runs: u64,
    /// Their faults against the model's phases, summed.
    pub coverage: FaultCoverage,
}

/// The invariants `r` violates that its scenario expects to hold, in the model's order.
fn violations(r: &RunReport) -> impl Iterator<Item = &'static str> + '_ {
    r.invariants
        .iter()
        .filter(|i| i.status == Status::Violated && i.expected != Status::Violated)
        .map(|i| i.name)
}

fn violates(r: &RunReport, invariant: &str) -> bool {
    violations(r).any(|i| i == invariant)
}

/// Runs the hunt; `progress` is told after every chunk of seeds.
pub fn hunt(h: &Hunt, progress: &(dyn Fn(Progress) + Sync)) -> anyhow::Result<Searched> {
    let scenario = runner::load(&h.path, &h.overrides)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(h.jobs.max(1))
        .build()
        .context("starting the worker threads")?;
    let chunk = (h.jobs.max(1) * 4) as u64;
    let mut done = Progress::default();
    let mut coverage = FaultCoverage::default();
    // The first seed of each distinct invariant violated, in seed order.
    let mut first: Vec<(&'static str, u64)> = Vec::new();
    let mut start = *h.seeds.start();
    while start <= *h.seeds.end() {
        let end = start.saturating_add(chunk - 1).min(*h.seeds.end());
        let reports: Vec<RunReport> = pool.install(|| {
            (start..=end)
                .into_par_iter()
                .map(|seed| scenario.run(seed, None))
                .collect::<std::io::Result<_>>()
        })?;
        for r in &reports {
            done.runs += 1;
            done.violations += u64::from(violations(r).next().is_some());
            done.unknown += u64::from(r.invariants.iter().any(|i| i.status == Status::Unknown));
            coverage.merge(&r.coverage);
            for invariant in violations(r) {
                if !first.iter().any(|(i, _)| *i == invariant) {
                    first.push((invariant, r.seed));
                }
            }
        }
        progress(done);
        if !h.all && !first.is_empty() {
            first.truncate(1);
            break;
        }
        if end == u64::MAX {
            break;
        }
        start = end + 1;
    }
    let outcome = if first.is_empty() {
        Outcome::Clean {
            runs: done.runs,
            unknown: done.unknown,
        }
    } else {
        // Each failing run again (runs are deterministic), to shrink it.
        let found = first
            .into_iter()
            .map(|(invariant, seed)| shrink(h, scenario.run(seed, None)?, invariant))
            .collect::<anyhow::Result<_>>()?;
        Outcome::Found(found)
    };
    Ok(Searched {
        outcome,
        runs: done.runs,
        coverage,
    })
}

/// The coverage table a hunt prints: per fault kind that struck, how many struck while each
/// of the model's phases was under way (one fault may strike several at once) and while none
/// was, then the pairs never hit.
pub fn coverage_table(c: &FaultCoverage, runs: u64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if c.rows().next().is_none() {
        let _ = writeln!(out, "fault coverage: no fault struck in {runs} runs");
        return out;
    }
    if c.phases().is_empty() {
        let kinds: Vec<String> = c.rows().map(|(k, n, _)| format!("{n} {k}")).collect();
        let _ = writeln!(
            out,
            "fault coverage over {runs} runs: {} (this model names no phases)",
            kinds.join(", ")
        );
        return out;
    }
    let _ = writeln!(
        out,
        "fault coverage over {runs} runs: faults struck while each phase was under way"
    );
    let headers: Vec<&str> = ["fault", "struck"]
        .into_iter()
        .chain(c.phases().iter().copied())
        .chain(["idle"])
        .collect();
    let kind_width = c.rows().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                kind_width.max(h.len())
            } else {
                h.len().max(6)
            }
        })
        .collect();
    let mut line = |cells: &[String]| {
        let _ = write!(out, "  {:<w$}", cells[0], w = widths[0]);
        for (cell, w) in cells[1..].iter().zip(&widths[1..]) {
            let _ = write!(out, "  {cell:>w$}");
        }
        out.push('\n');
    };
    line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    let mut never = Vec::new();
    for (kind, struck, hits) in c.rows() {
        let cells: Vec<String> = [kind.to_string(), struck.to_string()]
            .into_iter()
            .chain(hits.iter().map(u64::to_string))
            .collect();
        line(&cells);
        // Restarts, heals and network settings are the ends and frames of faults: only a
        // fault that breaks something counts as leaving a phase untested.
        if ["crash", "partition", "partition_one_way", "clock_jump"].contains(&kind) {
            never.extend(
                c.phases()
                    .iter()
                    .zip(hits)
                    .filter(|(_, &n)| n == 0)
                    .map(|(phase, _)| format!("{kind} during {phase}")),
            );
        }
    }
    if !never.is_empty() {
        let _ = writeln!(out, "  never hit: {}", never.join(", "));
    }
    out
}

/// A candidate reproducer: the scenario text with its overrides, the seed, and these faults.
#[derive(Clone)]
struct Candidate {
    base: DocumentMut,
    faults: Vec<Table>,
    duration: Option<String>,
}

impl Candidate {
    fn text(&self) -> String {
        let mut doc = self.base.clone();
        if let Some(d) = &self.duration {
            doc["duration"] = toml_edit::value(d.as_str());
        }
        let mut faults = toml_edit::ArrayOfTables::new();
        for f in &self.faults {
            faults.push(f.clone());
        }
        if !faults.is_empty() {
            doc.insert("faults", Item::ArrayOfTables(faults));
        }
        doc.to_string()
    }

    /// This candidate with a run of `duration`, less the faults timed after its end (which
    /// a shorter run never reaches, and the scenario rules refuse).
    fn cut_to(&self, duration: String) -> anyhow::Result<Candidate> {
        let end = sim::time::parse_duration(&duration).map_err(anyhow::Error::msg)?;
        let mut faults = Vec::with_capacity(self.faults.len());
        for f in &self.faults {
            let at = match f.get("at").and_then(Item::as_str) {
                Some(at) => Some(sim::time::parse_duration(at).map_err(anyhow::Error::msg)?),
                None => None,
            };
            if at.is_none_or(|at| at <= end) {
                faults.push(f.clone());
            }
        }
        Ok(Candidate {
            base: self.base.clone(),
            faults,
            duration: Some(duration),
        })
    }
}

impl Candidate {
    /// This candidate with one client fewer in the `i`-th `[[nodes]]` entry, if it is a
    /// client entry that can lose one: its `count` lowered (the last-numbered node goes), or
    /// the whole entry dropped while another client entry remains. Faults that name the
    /// removed node go with it. Other nodes keep their names, so their random streams (named
    /// after them) are unchanged.
    fn without_a_client(&self, i: usize) -> Option<Candidate> {
        let nodes = self.base.get("nodes")?.as_array_of_tables()?;
        let is_client = |t: &Table| t.get("role").and_then(Item::as_str) == Some("client");
        let entry = nodes.get(i).filter(|t| is_client(t))?;
        let name = entry.get("name")?.as_str()?.to_string();
        let count = entry.get("count").and_then(Item::as_integer);
        let mut base = self.base.clone();
        let nodes = base["nodes"].as_array_of_tables_mut()?;
        let removed = match count {
            Some(n) if n > 1 => {
                nodes.get_mut(i)?["count"] = toml_edit::value(n - 1);
                format!("{name}{n}")
            }
            _ if nodes.iter().filter(|t| is_client(t)).count() > 1 => {
                nodes.remove(i);
                if count.is_some() {
                    format!("{name}1")
                } else {
                    name
                }
            }
            _ => return None,
        };
        let faults = self
            .faults
            .iter()
            .filter(|f| !f.iter().any(|(_, item)| names(item, &removed)))
            .cloned()
            .collect();
        Some(Candidate {
            base,
            faults,
            duration: self.duration.clone(),
        })
    }
}

/// How many client nodes a scenario declares (`count` expanded).
fn clients(doc: &DocumentMut) -> u64 {
    doc.get("nodes")
        .and_then(Item::as_array_of_tables)
        .map_or(0, |nodes| {
            nodes
                .iter()
                .filter(|t| t.get("role").and_then(Item::as_str) == Some("client"))
                .map(|t| t.get("count").and_then(Item::as_integer).unwrap_or(1) as u64)
                .sum()
        })
}

/// Whether `item` holds the string `name`, at any depth.
fn names(item: &Item, name: &str) -> bool {
    fn value_names(v: &toml_edit::Value, name: &str) -> bool {
        match v {
            toml_edit::Value::String(s) => s.value() == name,
            toml_edit::Value::Array(a) => a.iter().any(|v| value_names(v, name)),
            toml_edit::Value::InlineTable(t) => t.iter().any(|(_, v)| value_names(v, name)),
            _ => false,
        }
    }
    match item {
        Item::Value(v) => value_names(v, name),
        Item::Table(t) => t.iter().any(|(_, i)| names(i, name)),
        Item::ArrayOfTables(a) => a.iter().any(|t| t.iter().any(|(_, i)| names(i, name))),
        Item::None => false,
    }
}

/// A scratch file, removed when dropped (on an error too).
struct ScratchFile(PathBuf);

impl ScratchFile {
    /// A path unique to this process and this shrink (hunts may run side by side in one
    /// process).
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("consim-hunt-{}-{n}.toml", std::process::id());
        ScratchFile(std::env::temp_dir().join(name))
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs candidates from a scratch file, and says whether each still violates `invariant`.
struct Tester<'a> {
    scratch: ScratchFile,
    seed: u64,
    invariant: &'a str,
    tried: usize,
}

impl Tester<'_> {
    /// Whether the candidate still violates the invariant. Every candidate of the fault and
    /// time steps is a valid scenario (the shrinker only removes faults and shortens times,
    /// and cuts a run only with the faults after its end), so a load error there is a bug of
    /// the shrinker, reported.
    fn reproduces(&mut self, c: &Candidate) -> anyhow::Result<bool> {
        self.run(c, false)
    }

    /// The same for a candidate with fewer nodes, which a model may refuse (it may need a
    /// client in some role or region): a refused candidate does not reproduce.
    fn reproduces_unless_refused(&mut self, c: &Candidate) -> anyhow::Result<bool> {
        self.run(c, true)
    }

    fn run(&mut self, c: &Candidate, may_be_refused: bool) -> anyhow::Result<bool> {
        self.tried += 1;
        let path = &self.scratch.0;
        std::fs::write(path, c.text()).with_context(|| format!("writing {}", path.display()))?;
        let s = match runner::load(path, &[]) {
            Ok(s) => s,
            Err(_) if may_be_refused => return Ok(false),
            Err(e) => return Err(e).context("a shrinking candidate was refused"),
        };
        Ok(violates(&s.run(self.seed, None)?, self.invariant))
    }
}

/// The faults of a run's schedule, and how many of each kind.
fn schedule_faults(original: &RunReport) -> anyhow::Result<(Vec<Table>, KindCounts)> {
    let schedule: DocumentMut = original
        .schedule_toml
        .parse()
        .context("reading the run's fault schedule")?;
    let faults: Vec<Table> = schedule
        .get("faults")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().cloned().collect())
        .unwrap_or_default();
    let mut kinds = KindCounts::new();
    for f in &faults {
        let kind = sim::fault::Fault::KINDS
            .iter()
            .copied()
            .find(|k| f.contains_key(k))
            .unwrap_or("other");
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    Ok((faults, kinds))
}

/// Shrinks the failing run `original` to a reproducer that still violates `invariant`.
fn shrink(h: &Hunt, original: RunReport, invariant: &'static str) -> anyhow::Result<Found> {
    debug_assert!(violates(&original, invariant));
    let (_, text, _) = scenario::read(&h.path, &h.overrides)?;
    let mut scenario: DocumentMut = text.parse().context("re-reading the scenario")?;
    // TOML integers are i64: `main` refuses hunt seeds above i64::MAX.
    let seed = i64::try_from(original.seed).context("a seed above 2^63-1 cannot be written")?;
    scenario["seed"] = toml_edit::value(seed);
    let (faults, kinds) = schedule_faults(&original)?;
    let faults_before = faults.len();
    let mut base = scenario.clone();
    base.remove("nemesis");
    base.remove("faults");
    let mut c = Candidate {
        base,
        faults,
        duration: None,
    };
    let mut t = Tester {
        scratch: ScratchFile::new(),
        seed: original.seed,
        invariant,
        tried: 0,
    };
    // The schedule in place of the nemesis must replay the same failure; if it does not
    // (a fault the schedule cannot express), the reproducer keeps the nemesis.
    if !t.reproduces(&c)? {
        return Ok(Found {
            seed: original.seed,
            invariant,
            original,
            repro_text: scenario.to_string(),
            shrunk: false,
            faults_before,
            faults_after: faults_before,
            clients_before: clients(&scenario),
            clients_after: clients(&scenario),
            kinds,
            candidates: t.tried,
            kept: 0,
        });
    }
    let mut kept = 0;
    // Delta debugging over the faults: drop chunks of them, halving the chunk size down to
    // single faults, and at size one until no fault can go.
    let mut size = (c.faults.len() / 2).max(1);
    while !c.faults.is_empty() {
        let (mut at, mut removed) = (0, false);
        while at < c.faults.len() {
            let mut trial = c.clone();
            trial.faults.drain(at..(at + size).min(c.faults.len()));
            if t.reproduces(&trial)? {
                c = trial;
                kept += 1;
                removed = true;
            } else {
                at += size;
            }
        }
        if size == 1 && !removed {
            break;
        }
        size = (size / 2).max(1);
    }
    // Shorter outages and partitions.
    for i in 0..c.faults.len() {
        for key in ["restart_after", "heal_after"] {
            while let Some(shorter) = c.faults[i].get(key).and_then(Item::as_str).and_then(half) {
                let mut trial = c.clone();
                trial.faults[i][key] = toml_edit::value(shorter);
                if !t.reproduces(&trial)? {
                    break;
                }
                c = trial;
                kept += 1;
            }
        }
    }
    // Fewer clients, one at a time, until no client entry can lose one.
    let mut i = 0;
    while let Some(entries) = c
        .base
        .get("nodes")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.len())
    {
        if i >= entries {
            break;
        }
        match c.without_a_client(i) {
            Some(trial) if t.reproduces_unless_refused(&trial)? => {
                c = trial;
                kept += 1;
                i = 0; // a removed entry shifts the ones after it
            }
            _ => i += 1,
        }
    }
    // A shorter run.
    while let Some(shorter) = c
        .duration
        .as_deref()
        .or_else(|| c.base.get("duration").and_then(Item::as_str))
        .and_then(half)
    {
        let trial = c.cut_to(shorter)?;
        if !t.reproduces(&trial)? {
            break;
        }
        c = trial;
        kept += 1;
    }
    Ok(Found {
        seed: original.seed,
        invariant,
        original,
        repro_text: c.text(),
        shrunk: true,
        faults_before,
        faults_after: c.faults.len(),
        clients_before: clients(&scenario),
        clients_after: clients(&c.base),
        kinds,
        candidates: t.tried,
        kept,
    })
}

/// Half of a duration written as text, if that is at least a millisecond.
fn half(text: &str) -> Option<String> {
    let d = sim::time::parse_duration(text).ok()?;
    let half = d / 2;
    (half >= std::time::Duration::from_millis(1))
        .then(|| sim::time::format_nanos(half.as_nanos() as u64))
}

/// Writes the reproducer into `dir` as `repro.toml`, replays it from there (every latency
/// sample kept, for its timeline; every kernel event into `trace.jsonl`), and writes that
/// run's result, history, schedule, timeline and space-time diagram as `consim run --out`
/// does. The replay must violate the same invariant: runs are deterministic, so anything
/// else is a bug, reported as an error.
pub fn write(dir: &Path, found: &Found) -> anyhow::Result<(PathBuf, RunReport)> {
    crate::output::create_dir(dir)?;
    let repro = dir.join("repro.toml");
    let how = if found.shrunk {
        format!(
            "shrunk from {} faults to {} and {} clients to {} in {} candidate runs",
            found.faults_before,
            found.faults_after,
            found.clients_before,
            found.clients_after,
            found.candidates
        )
    } else {
        "not shrunk: its fault schedule alone does not replay it, so the nemesis stays".into()
    };
    let header = format!(
        "# Found by `consim hunt`: seed {} violates {}; {how}.\n# Replay: consim run {}\n",
        found.seed,
        found.invariant,
        repro.display()
    );
    crate::output::write_file(&repro, (header + &found.repro_text).as_bytes())?;
    let scenario =
        runner::load(&repro, &[]).with_context(|| format!("reloading {}", repro.display()))?;
    let trace = dir.join("trace.jsonl");
    let file =
        std::fs::File::create(&trace).with_context(|| format!("creating {}", trace.display()))?;
    let run = scenario
        .run_with(
            found.seed,
            Some(Box::new(std::io::BufWriter::new(file))),
            Samples::Keep,
            ProgressLine::Never,
        )
        .with_context(|| format!("writing {}", trace.display()))?;
    anyhow::ensure!(
        violates(&run, found.invariant),
        "{} does not replay the violation of {} (a determinism bug: please report it)",
        repro.display(),
        found.invariant
    );
    crate::output::write_run(dir, scenario.as_ref(), &run)?;
    Ok((repro, run))
}
