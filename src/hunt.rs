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
//! and partition, then the run's duration, keeping a candidate only if the same invariant is
//! still violated. Every candidate is a scenario file `consim run` accepts.

use crate::runner::{self, RunReport, Samples};
use crate::scenario;
use crate::watch::ProgressLine;
use anyhow::Context;
use rayon::prelude::*;
use sim::invariant::Status;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table};

/// A known bug and the bundled story a hunt looks for it in (with the settings it needs).
pub struct KnownBug {
    pub scenario: &'static str,
    pub bug: &'static str,
    pub set: &'static [(&'static str, &'static str)],
}

/// Every known-bug variant of every model, with its story: what the hunt benchmark runs
/// (`cargo run --release --example hunt_benchmark`), and what `tests/hunt.rs` checks covers
/// every model's `bugs`.
pub const KNOWN_BUGS: &[KnownBug] = &[
    KnownBug {
        scenario: "bank-transfer-2pc",
        bug: "commit-before-log",
        set: &[],
    },
    KnownBug {
        scenario: "bank-transfer-2pc",
        bug: "unsynced-prepare",
        set: &[],
    },
    KnownBug {
        scenario: "bank-transfer-2pc",
        bug: "abort-keeps-lock",
        set: &[],
    },
    KnownBug {
        scenario: "bank-transfer-saga",
        bug: "no-compensation",
        set: &[],
    },
    KnownBug {
        scenario: "bank-transfer-saga",
        bug: "compensated-reported-committed",
        set: &[],
    },
    KnownBug {
        scenario: "register-singapore-sync",
        bug: "no-epochs",
        set: &[],
    },
    KnownBug {
        scenario: "register-singapore-sync",
        bug: "fake-sync",
        set: &[],
    },
    KnownBug {
        scenario: "regional-read-after-write",
        bug: "ignore-session",
        set: &[
            ("model.read_from", "nearest"),
            ("model.read_your_writes", "session"),
        ],
    },
    KnownBug {
        scenario: "regional-read-after-write",
        bug: "early-invalidation",
        set: &[],
    },
    KnownBug {
        scenario: "payment-retries",
        bug: "no-ledger",
        set: &[],
    },
    KnownBug {
        scenario: "payment-retries",
        bug: "ledger-separate-step",
        set: &[],
    },
    KnownBug {
        scenario: "payment-retries",
        bug: "check-then-act",
        set: &[],
    },
    KnownBug {
        scenario: "payment-retries",
        bug: "key-per-attempt",
        set: &[],
    },
    KnownBug {
        scenario: "order-pipeline-outbox",
        bug: "no-dedupe",
        set: &[],
    },
    KnownBug {
        scenario: "order-pipeline-outbox",
        bug: "commit-offset-first",
        set: &[],
    },
    KnownBug {
        scenario: "order-pipeline-outbox",
        bug: "wrong-partition-key",
        set: &[],
    },
    KnownBug {
        scenario: "billing-reconciliation",
        bug: "report-only",
        set: &[],
    },
    KnownBug {
        scenario: "quorum-staleness",
        bug: "ack-before-quorum",
        set: &[("model.r", "2"), ("model.w", "2")],
    },
    KnownBug {
        scenario: "quorum-staleness",
        bug: "read-first-reply",
        set: &[("model.r", "2"), ("model.w", "2")],
    },
    // The bug's own story expects the violation: the hunt runs the correct story with the
    // bug and the coarse timestamps of the bug's story.
    KnownBug {
        scenario: "user-profile-lww",
        bug: "no-tiebreak",
        set: &[("model.timestamp_resolution", "1s")],
    },
    KnownBug {
        scenario: "user-profile-vector-clocks",
        bug: "no-clock-merge",
        set: &[],
    },
];

impl KnownBug {
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
    /// The invariant the run violated (the first, in the model's order).
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
    /// The failing run's faults by kind (`crash`, `partition`, ...): what swarm testing had on.
    pub kinds: KindCounts,
    /// Candidates run while shrinking, and how many were kept.
    pub candidates: usize,
    pub kept: usize,
}

pub enum Outcome {
    Found(Box<Found>),
    /// No violation in the range; `unknown` runs ended undecided.
    Clean {
        runs: u64,
        unknown: u64,
    },
}

/// The invariant `r` violates that its scenario expects to hold, if any.
fn violated(r: &RunReport) -> Option<&'static str> {
    r.invariants
        .iter()
        .find(|i| i.status == Status::Violated && i.expected != Status::Violated)
        .map(|i| i.name)
}

/// Runs the hunt; `progress` is told after every chunk of seeds.
pub fn hunt(h: &Hunt, progress: &(dyn Fn(Progress) + Sync)) -> anyhow::Result<Outcome> {
    let scenario = runner::load(&h.path, &h.overrides)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(h.jobs.max(1))
        .build()
        .context("starting the worker threads")?;
    let chunk = (h.jobs.max(1) * 4) as u64;
    let mut done = Progress::default();
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
            done.violations += u64::from(violated(r).is_some());
            done.unknown += u64::from(r.invariants.iter().any(|i| i.status == Status::Unknown));
        }
        progress(done);
        if let Some(r) = reports.into_iter().find(|r| violated(r).is_some()) {
            return Ok(Outcome::Found(Box::new(shrink(h, r)?)));
        }
        if end == u64::MAX {
            break;
        }
        start = end + 1;
    }
    Ok(Outcome::Clean {
        runs: done.runs,
        unknown: done.unknown,
    })
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
    /// Whether the candidate still violates the invariant. Every candidate is a valid
    /// scenario (the shrinker only removes faults and shortens times, and cuts a run only
    /// with the faults after its end), so a load error is a bug of the shrinker, reported.
    fn reproduces(&mut self, c: &Candidate) -> anyhow::Result<bool> {
        self.tried += 1;
        let path = &self.scratch.0;
        std::fs::write(path, c.text()).with_context(|| format!("writing {}", path.display()))?;
        let s = runner::load(path, &[]).context("a shrinking candidate was refused")?;
        Ok(violated(&s.run(self.seed, None)?) == Some(self.invariant))
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

/// Shrinks the failing run `original` to a reproducer.
fn shrink(h: &Hunt, original: RunReport) -> anyhow::Result<Found> {
    let invariant = violated(&original).expect("a failing run");
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
/// sample kept, for its timeline), and writes that run's result, history, schedule,
/// timeline and space-time diagram as `consim run --out` does. The replay must violate the same invariant: runs are
/// deterministic, so anything else is a bug, reported as an error.
pub fn write(dir: &Path, found: &Found) -> anyhow::Result<(PathBuf, RunReport)> {
    crate::output::create_dir(dir)?;
    let repro = dir.join("repro.toml");
    let how = if found.shrunk {
        format!(
            "shrunk from {} faults to {} in {} candidate runs",
            found.faults_before, found.faults_after, found.candidates
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
    let run = scenario.run_with(found.seed, None, Samples::Keep, ProgressLine::Never)?;
    anyhow::ensure!(
        violated(&run) == Some(found.invariant),
        "{} does not replay the violation of {} (a determinism bug: please report it)",
        repro.display(),
        found.invariant
    );
    crate::output::write_run(dir, scenario.as_ref(), &run)?;
    Ok((repro, run))
}
