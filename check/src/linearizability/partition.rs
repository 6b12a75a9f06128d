//! From paired operations to searches: the format's dropping rules, per-key partitioning and
//! pre-checks.
//!
//! Dropping rules (HISTORY_FORMAT.md, *Completion types*): a failed write/put/append never took
//! effect and a failed or indeterminate read/get constrains nothing, so none of them enter the
//! search. A failed cas stays: it asserts the register did not hold `expected`.
//!
//! Partitioning: keys of the key-value model are independent objects, and linearizability is
//! local (Herlihy & Wing 1990, Theorem 1), so each key is searched on its own (Horn & Kroening
//! 2015 call this P-compositionality). Many small searches are exponentially cheaper than one
//! big one.

use super::explain;
use super::model::{FxMap, SequentialSpec, Spec, StateId, Step, INITIAL};
use super::search::{Limits, Search, SearchOp, SearchResult, SearchStats};
use super::Stats;
use crate::history::Operation;

pub(crate) enum Outcome {
    Linearizable,
    Violation(Box<explain::Explanation>),
    Unknown(String),
}

/// One independent object: its search operations and, for each, the index of the
/// [`Operation`] it came from.
pub(crate) struct Part<'a> {
    pub key: Option<&'a str>,
    pub ops: Vec<SearchOp>,
    pub src: Vec<usize>,
}

impl Part<'_> {
    fn push(&mut self, src: usize, op: &Operation, step: Step) {
        let required = !op.outcome.is_indeterminate();
        self.ops.push(SearchOp {
            step,
            call: op.invoke as u32,
            ret: if required {
                op.complete.map(|c| c as u32)
            } else {
                None
            },
        });
        self.src.push(src);
    }
}

/// Splits `ops` into `spec`'s independent objects and searches each.
pub(crate) fn check<M: SequentialSpec>(
    spec: &M,
    ops: &[Operation],
    limits: Limits,
    stats: &mut Stats,
) -> Outcome {
    let mut index: FxMap<Option<&str>, usize> = Default::default();
    let mut parts: Vec<(Part, M::Object)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let key = spec.object(op);
        let p = *index.entry(key).or_insert_with(|| {
            parts.push((
                Part {
                    key,
                    ops: Vec::new(),
                    src: Vec::new(),
                },
                M::Object::default(),
            ));
            parts.len() - 1
        });
        let (part, object) = &mut parts[p];
        if let Some(step) = spec.step(op, object) {
            part.push(i, op, step);
        }
    }
    stats.partitions = parts.len();
    stats.searched_operations = parts.iter().map(|(p, _)| p.ops.len()).sum();
    for (part, object) in &parts {
        if let Some(v) = precheck(ops, part, object, stats) {
            return v;
        }
    }
    stats.algorithm = if stats.searched_operations == 0 {
        "none"
    } else {
        "wgl"
    };
    let (parts, objects): (Vec<Part>, Vec<M::Object>) = parts.into_iter().unzip();
    // Objects are searched in interleaved slices of steps that double each round, like
    // Porcupine's parallel per-key checks that stop at the first violation, but on one thread
    // and deterministically: an easily refuted key is found before a hard key exhausts the
    // budget, and a linearizable history costs the same total work.
    let mut live: Vec<(usize, Search<M::Object>)> = parts
        .iter()
        .zip(objects)
        .enumerate()
        .map(|(i, (p, object))| (i, Search::new(&p.ops, object)))
        .collect();
    let mut unknown = None;
    let mut slice: u64 = 1 << 12;
    let mut s = SearchStats::default();
    while !live.is_empty() {
        let mut i = 0;
        while i < live.len() {
            // The memory cap holds for all live searches together.
            let others: usize = live
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, (_, s))| s.heap_bytes())
                .sum();
            let lim = Limits {
                max_bytes: limits.max_bytes.saturating_sub(others),
                ..limits
            };
            let Some(result) = live[i].1.run(lim, slice, &mut s) else {
                i += 1;
                continue;
            };
            let (p, mut search) = live.remove(i);
            match result {
                SearchResult::Linearizable => {}
                SearchResult::OutOfMemory => {
                    // Other keys may still show a violation, which settles the history.
                    unknown
                        .get_or_insert_with(|| unknown_reason(SearchResult::OutOfMemory, limits));
                }
                r @ (SearchResult::Violation(_) | SearchResult::OutOfTime) => {
                    add_stats(stats, &s);
                    return conclude(ops, &parts[p], &mut search, r, limits);
                }
            }
        }
        slice = slice.saturating_mul(2);
    }
    add_stats(stats, &s);
    unknown.map_or(Outcome::Linearizable, Outcome::Unknown)
}

fn add_stats(stats: &mut Stats, s: &SearchStats) {
    stats.steps += s.steps;
    stats.configurations += s.configurations;
    stats.peak_memo_bytes = stats.peak_memo_bytes.max(s.peak_bytes);
}

fn unknown_reason(r: SearchResult, limits: Limits) -> String {
    match r {
        SearchResult::OutOfTime => "timeout reached before the search decided".into(),
        _ => format!(
            "memo table reached its cap of {} bytes before the search decided",
            limits.max_bytes
        ),
    }
}

fn conclude<S: Spec + Clone>(
    ops: &[Operation],
    part: &Part,
    search: &mut Search<S>,
    result: SearchResult,
    limits: Limits,
) -> Outcome {
    match result {
        SearchResult::Linearizable => Outcome::Linearizable,
        SearchResult::Violation(f) if search.is_exact() => Outcome::Violation(Box::new(
            explain::from_failure(ops, part, &f, &mut search.spec, true),
        )),
        SearchResult::Violation(f) => {
            // The verdict stands; the explanation needs the configurations the fast search
            // pruned, so search this object again without pruning, within what is left of
            // the budget.
            let reached = part.ops[f.blocked as usize].ret.unwrap_or(0);
            let mut exact = Search::exact(&part.ops, search.spec.clone(), reached);
            let mut s = SearchStats::default();
            let (f, mut spec, is_exact) = match exact.run(limits, u64::MAX, &mut s) {
                Some(SearchResult::Violation(e)) => (e, exact.spec, true),
                _ => (f, search.spec.clone(), false),
            };
            Outcome::Violation(Box::new(explain::from_failure(
                ops, part, &f, &mut spec, is_exact,
            )))
        }
        r => Outcome::Unknown(unknown_reason(r, limits)),
    }
}

fn precheck<S: Spec>(
    ops: &[Operation],
    part: &Part,
    spec: &S,
    stats: &mut Stats,
) -> Option<Outcome> {
    let (blocked, value) = unwritten_value(&part.ops)?;
    stats.decided_by_precheck = true;
    stats.algorithm = "precheck";
    Some(Outcome::Violation(Box::new(explain::unwritten(
        ops, part, blocked, value, spec,
    ))))
}

/// Pre-check: an operation that requires the object to hold a value (an `ok` read, an `ok`
/// cas's `expected`) that no other operation invoked before its completion ever writes can
/// never be linearized. This refutes a common kind of bad history in linear time. Objects with
/// appends are skipped: their values are built, not written. Returns the search index of the
/// offending operation and the value it needed.
fn unwritten_value(ops: &[SearchOp]) -> Option<(usize, StateId)> {
    if ops.iter().any(|o| matches!(o.step, Step::Append(_))) {
        return None;
    }
    // For each value: the two earliest invocations writing it, (call, op), to exclude the
    // operation itself (a `cas [v, v]` writes what it needs).
    let mut first: Vec<[(u32, usize); 2]> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let written = match op.step {
            Step::Write(v) | Step::Cas { new: v, .. } => v,
            _ => continue,
        };
        let w = written as usize;
        if first.len() <= w {
            first.resize(w + 1, [(u32::MAX, usize::MAX); 2]);
        }
        let slot = &mut first[w];
        if op.call < slot[0].0 {
            slot[1] = slot[0];
            slot[0] = (op.call, i);
        } else if op.call < slot[1].0 {
            slot[1] = (op.call, i);
        }
    }
    for (i, op) in ops.iter().enumerate() {
        let (needed, Some(ret)) = (
            match op.step {
                Step::Read(v) => v,
                Step::Cas { expected, .. } => expected,
                _ => continue,
            },
            op.ret,
        ) else {
            continue;
        };
        if needed == INITIAL {
            continue;
        }
        let writers = first
            .get(needed as usize)
            .copied()
            .unwrap_or([(u32::MAX, usize::MAX); 2]);
        let earliest = if writers[0].1 == i {
            writers[1].0
        } else {
            writers[0].0
        };
        if earliest > ret {
            return Some((i, needed));
        }
    }
    None
}
