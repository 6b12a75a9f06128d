//! Linearizability checking of client histories (`docs/HISTORY_FORMAT.md`).
//!
//! Pipeline, one module per step:
//! - `partition`: turns paired operations into search operations per independent object —
//!   one for a register, one per key for the key-value model, since linearizability is
//!   compositional over independent objects (Herlihy & Wing 1990; Horn & Kroening 2015,
//!   "Faster linearizability checking via P-compositionality"). It also applies the format's
//!   rules that drop operations constraining nothing (failed writes, failed or indeterminate
//!   reads) and runs cheap pre-checks that refute many bad histories without a search.
//! - `model`: the open [`SequentialSpec`] trait and the register and key-value models, over
//!   interned states.
//! - `zones`: unique-value read/write objects decided in O(n log n) (Gibbons & Korach 1997).
//! - `search` + `memo`: the Wing–Gong–Lowe search with memoized configurations.
//! - `explain`: turns a failed search into words and line numbers.
//!
//! Architecture invariant: no I/O, no panics on any history; bad input is a
//! [`HistoryError`], an exhausted budget is [`Verdict::Unknown`].

mod explain;
mod jit;
mod memo;
mod model;
mod partition;
mod search;
mod zones;

use crate::history::{EventType, History, HistoryError, Operation};
use serde::Serialize;
use std::time::{Duration, Instant};

pub use explain::{operations, Explanation, OpSummary};
pub use model::{KvKey, KvSpec, Register, RegisterSpec, SequentialSpec, Spec, StateId, Step};

/// The bundled models by the names `--model` uses; each is a [`SequentialSpec`], and
/// [`check_spec`] takes any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// One integer register with `read`, `write`, `cas` ([`RegisterSpec`]).
    Register,
    /// String keys with `get`, `put`, `append` ([`KvSpec`]).
    Kv,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Register => RegisterSpec.name(),
            Model::Kv => KvSpec.name(),
        }
    }

    /// The model whose operations the history begins with (`None` for an empty history or an
    /// operation neither model reads).
    pub fn of(history: &History) -> Option<Model> {
        let f = history.events.first()?.f;
        [Model::Register, Model::Kv].into_iter().find(|m| match m {
            Model::Register => RegisterSpec.operations().contains(&f),
            Model::Kv => KvSpec.operations().contains(&f),
        })
    }
}

/// How much the checker may spend before answering [`Verdict::Unknown`].
///
/// The timeout is wall-clock time. That is acceptable here, and only here, because the checker
/// runs outside simulations: its timing never feeds back into a simulated run, so determinism
/// of the simulator is untouched. The verdict itself is deterministic whenever the budget
/// suffices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Wall-clock limit for the whole check; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Cap on the check's memory: the operations and their per-object copies, and every
    /// search's memo table, interned states and working arrays, counted with the buffers
    /// they would allocate before the search next looks (so it bounds the heap, not an
    /// average). Each explored configuration is stored once, so this cap also bounds the
    /// search's running time. (Not counted: the parsed history the caller holds.)
    pub max_memo_bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            timeout: None,
            max_memo_bytes: 512 << 20,
        }
    }
}

/// What a progress hook is shown while a check runs: enough for a progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Operations placed: all of those of objects already decided, plus the current
    /// linearization's length in a search under way.
    pub placed: usize,
    /// Operations to place (after the format's rules and pruning dropped the rest).
    pub total: usize,
    /// Configurations explored so far.
    pub configurations: u64,
    /// The search's memory estimate, in bytes.
    pub memory_bytes: usize,
}

/// How a check runs, beside its [`Budget`].
#[derive(Clone, Copy, Default)]
pub struct Options<'w> {
    /// Called with the check's [`Progress`] wherever the search checks its budget (every few
    /// thousand steps), from the thread doing the search. The checker does no I/O itself: the
    /// caller decides what to show, and when; the hook only looks, so the verdict and the
    /// explanation are the same with it or without.
    pub watch: Option<&'w (dyn Fn(&Progress) + Sync)>,
    /// Threads searching independent objects (the keys of a key-value history) at once; 0 or
    /// 1: the caller's thread only. The report is the same for any number (see `partition`).
    pub jobs: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The budget ran out before the search decided.
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not_linearizable",
            Verdict::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Operations in the history (invocations).
    pub operations: usize,
    /// Operations the search had to consider after the format's rules dropped the rest.
    pub searched_operations: usize,
    /// Independent objects checked (1 for a register, one per key for kv).
    pub partitions: usize,
    /// Search loop iterations.
    pub steps: u64,
    /// Distinct configurations memoized.
    pub configurations: u64,
    /// The check's peak memory as the cap counts it (see [`Budget::max_memo_bytes`]): an
    /// upper bound on what it held, in bytes (sampled where the search looks at its budget).
    pub peak_memo_bytes: usize,
    /// True if a pre-check refuted the history without a search.
    pub decided_by_precheck: bool,
    /// What decided: `"precheck"` (a pre-check refuted the history), `"jit"` (just-in-time
    /// linearization: one pass over the events, memory following concurrency), `"wgl"` (the
    /// Wing–Gong–Lowe search with windowed memoization, for objects with too many operations
    /// left open for the first), `"jit+wgl"` (some objects each), or `"none"` (nothing to
    /// search); `"zones"` (the zone test for objects whose writes write distinct values:
    /// O(n log n), no configuration) alone or before the others (`"zones+jit"`, …).
    pub algorithm: &'static str,
    /// Indeterminate writes dropped before the search: no operation ever reads their value,
    /// so a linearization never needs them (see `partition`).
    pub info_dropped: usize,
    /// Indeterminate writes given a completion: the only writer of a value some operation
    /// read, they took effect before the earliest such read completed.
    pub info_closed: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    /// Why the history is not linearizable (present iff `verdict` is `NotLinearizable`).
    pub explanation: Option<Explanation>,
    /// Which budget ran out (present iff `verdict` is `Unknown`).
    pub unknown_reason: Option<String>,
    pub stats: Stats,
}

/// Checks `history` against one of the bundled models.
pub fn check(history: &History, model: Model, budget: &Budget) -> Result<Report, HistoryError> {
    check_with(history, model, budget, Options::default())
}

/// [`check`] with [`Options`].
pub fn check_with(
    history: &History,
    model: Model,
    budget: &Budget,
    options: Options<'_>,
) -> Result<Report, HistoryError> {
    match model {
        Model::Register => check_spec_with(history, &RegisterSpec, budget, options),
        Model::Kv => check_spec_with(history, &KvSpec, budget, options),
    }
}

/// Checks `history` against `spec`. Validates the history first (so a history built in
/// memory gets the same checks as a parsed one), then every event against the model: an
/// operation it does not read, or a value of the wrong shape, is bad input on its line.
pub fn check_spec<M: SequentialSpec>(
    history: &History,
    spec: &M,
    budget: &Budget,
) -> Result<Report, HistoryError> {
    check_spec_with(history, spec, budget, Options::default())
}

/// [`check_spec`] with [`Options`].
pub fn check_spec_with<M: SequentialSpec>(
    history: &History,
    spec: &M,
    budget: &Budget,
    options: Options<'_>,
) -> Result<Report, HistoryError> {
    let ops = history.operations()?;
    validate(history, &ops, spec)?;
    Ok(check_operations_with(&ops, spec, budget, options))
}

fn validate<M: SequentialSpec>(
    history: &History,
    ops: &[Operation],
    spec: &M,
) -> Result<(), HistoryError> {
    for e in &history.events {
        let line = e.index + 1;
        if !spec.operations().contains(&e.f) {
            let names: Vec<&str> = spec.operations().iter().map(|f| f.as_str()).collect();
            return Err(HistoryError::new(
                line,
                format!(
                    "`{}` is not a {} operation ({}); one history holds one model",
                    e.f,
                    spec.name(),
                    names.join(", ")
                ),
            ));
        }
        spec.validate(e).map_err(|m| HistoryError::new(line, m))?;
    }
    // Writes echo their argument; a different echo means a broken recorder.
    for op in ops {
        let Some(c) = op.complete else { continue };
        let echo = &history.events[c];
        if echo.kind == EventType::Ok && spec.echoes(op.f) && echo.value != op.input {
            return Err(HistoryError::new(
                c + 1,
                format!(
                    "ok value {} differs from the invoked value {} on line {}",
                    echo.value,
                    op.input,
                    op.invoke_line()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks operations already paired by [`History::operations`] and validated against `spec`.
/// Operations the model does not read are ignored.
pub fn check_operations<M: SequentialSpec>(ops: &[Operation], spec: &M, budget: &Budget) -> Report {
    check_operations_with(ops, spec, budget, Options::default())
}

/// [`check_operations`] with [`Options`].
pub fn check_operations_with<M: SequentialSpec>(
    ops: &[Operation],
    spec: &M,
    budget: &Budget,
    options: Options<'_>,
) -> Report {
    // A timeout too large to add to now is no deadline at all.
    let deadline = budget.timeout.and_then(|t| Instant::now().checked_add(t));
    let limits = search::Limits {
        deadline,
        max_bytes: budget.max_memo_bytes,
        meter: None,
        cap: budget.max_memo_bytes,
    };
    let mut stats = Stats {
        operations: ops.len(),
        ..Stats::default()
    };
    let result = partition::check(spec, ops, limits, options.watch, options.jobs, &mut stats);
    let (verdict, explanation, unknown_reason) = match result {
        partition::Outcome::Linearizable => (Verdict::Linearizable, None, None),
        partition::Outcome::Violation(e) => (Verdict::NotLinearizable, Some(*e), None),
        partition::Outcome::Unknown(why) => (Verdict::Unknown, None, Some(why)),
    };
    Report {
        verdict,
        explanation,
        unknown_reason,
        stats,
    }
}
