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
use super::jit;
use super::model::{FxMap, SequentialSpec, Spec, StateId, Step, INITIAL};
use super::search::{Limits, Meter, Search, SearchOp, SearchResult, SearchStats};
use super::zones;
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
        let ret = if required {
            op.complete.map(|c| c as u32)
        } else {
            None
        };
        self.ops.push(SearchOp::new(step, op.invoke as u32, ret));
        self.src.push(src);
    }
}

/// What [`prune_info`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pruned {
    pub dropped: usize,
    pub closed: usize,
}

/// Makes indeterminate writes cheap. An `info` operation stays open to the end of the
/// history, so the search may place it anywhere later, and every configuration carries it
/// until it is placed; thousands of them make the search exponential. Two rules remove most:
///
/// - *Drop*: an indeterminate write (or cas) of a value `v` that no operation reads (no `ok`
///   read of `v`, no cas expecting `v`) is removed. Sound when the object has no failed cas:
///   in any linearization, the operations between it and the next change of value can only
///   be failed cas (reads would return `v`, a cas would expect `v`); without any, removing it
///   leaves a linearization. A failed cas could tell the difference (it needs the value to
///   differ from what the write overwrote), so then nothing is dropped.
/// - *Close*: an indeterminate write of a value `v ≠` initial that is the only writer of `v`,
///   which some operation reads: every linearization places it before that read, so it took
///   effect before the earliest such read completed. It gets that completion (its return
///   entry right after the read's), and becomes an ordinary operation.
///
/// Objects with appends are left alone: an appended value is built on what was there, so a
/// read of `"ab"` reads a put of `"a"` without returning it.
pub(crate) fn prune_info(part: &mut Part) -> Pruned {
    let mut pruned = Pruned::default();
    if !part.ops.iter().any(|o| o.ret.is_none()) {
        return pruned;
    }
    if part.ops.iter().any(|o| matches!(o.step, Step::Append(_))) {
        return pruned;
    }
    let has_cas_fail = part
        .ops
        .iter()
        .any(|o| matches!(o.step, Step::CasFail { .. }));
    let mut values = 0usize;
    for o in &part.ops {
        let m = match o.step {
            Step::Read(v) | Step::Write(v) => v,
            Step::Cas { expected, new } => expected.max(new),
            Step::CasFail { expected } => expected,
            Step::Append(_) => 0,
        };
        values = values.max(m as usize + 1);
    }
    // Per value: how many operations write it, whether any reads it, and the earliest
    // completion of an operation that reads it.
    let mut writers = vec![0u32; values];
    let mut read = vec![false; values];
    let mut earliest = vec![u32::MAX; values];
    for o in &part.ops {
        let seen = match o.step {
            Step::Write(v) => {
                writers[v as usize] += 1;
                continue;
            }
            Step::Cas { expected, new } => {
                writers[new as usize] += 1;
                expected
            }
            Step::Read(v) => v,
            _ => continue,
        };
        read[seen as usize] = true;
        if let Some(r) = o.ret {
            earliest[seen as usize] = earliest[seen as usize].min(r);
        }
    }
    let mut keep = vec![true; part.ops.len()];
    for (i, o) in part.ops.iter_mut().enumerate() {
        let written = match (o.ret, o.step) {
            (None, Step::Write(v) | Step::Cas { new: v, .. }) => v as usize,
            _ => continue,
        };
        if !read[written] && !has_cas_fail {
            keep[i] = false;
            pruned.dropped += 1;
        } else if written != INITIAL as usize
            && writers[written] == 1
            && earliest[written] != u32::MAX
            && earliest[written] > o.call
        {
            o.ret = Some(earliest[written]);
            o.closed = true;
            pruned.closed += 1;
        }
    }
    if pruned.dropped > 0 {
        let mut k = keep.iter();
        part.ops.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        part.src.retain(|_| *k.next().unwrap_or(&true));
    }
    pruned
}

/// Values no operation observes are one value to the search. An `ok` read, a cas's expected
/// value (whatever its outcome) observe a value; a write or a cas's new value only set it.
/// Every step of a register compares the state only with observed values, so two states
/// that are both unobserved behave alike under every step (they are bisimilar), and writing
/// one or the other makes no difference to which operations can follow. All writes of
/// unobserved values become writes of one of them (the initial value when it is unobserved,
/// else the lowest such id), which makes them twins (see `search::twin_classes`) and lets the
/// memo merge configurations that differ only by which unread value the object holds.
/// Returns the junk value chosen (if any operation writes an unobserved value) and the
/// operations (empty when nothing changes). Objects with appends are left alone: an appended
/// value is built on what was there.
pub(crate) fn merge_unobserved(ops: &[SearchOp]) -> (Option<StateId>, Vec<SearchOp>) {
    let mut observed: Vec<bool> = Vec::new();
    let mut see = |v: StateId| {
        let v = v as usize;
        if observed.len() <= v {
            observed.resize(v + 1, false);
        }
        observed[v] = true;
    };
    for o in ops {
        match o.step {
            Step::Read(v) | Step::CasFail { expected: v } | Step::Cas { expected: v, .. } => see(v),
            Step::Write(_) => {}
            Step::Append(_) => return (None, Vec::new()),
        }
    }
    let seen = |v: StateId| observed.get(v as usize).copied().unwrap_or(false);
    let Some(lowest) = ops
        .iter()
        .filter_map(|o| match o.step {
            Step::Write(v) | Step::Cas { new: v, .. } if !seen(v) => Some(v),
            _ => None,
        })
        .min()
    else {
        return (None, Vec::new());
    };
    let junk = if seen(INITIAL) { lowest } else { INITIAL };
    let mut changed = false;
    let merged = ops
        .iter()
        .map(|o| {
            let step = match o.step {
                Step::Write(v) if !seen(v) && v != junk => Step::Write(junk),
                Step::Cas { expected, new } if !seen(new) && new != junk => Step::Cas {
                    expected,
                    new: junk,
                },
                step => step,
            };
            changed |= step != o.step;
            SearchOp { step, ..*o }
        })
        .collect();
    (Some(junk), if changed { merged } else { Vec::new() })
}

/// Objects with at least this many operations (after pruning) are searched with
/// [`merge_unobserved`] and [`Search::reduced`]; a violation is then searched again exactly
/// for its explanation. Smaller objects are cheap enough to search exactly at once (the
/// bundled corpus has none this large).
const REDUCE_MIN_OPS: usize = 512;

/// Splits `ops` into `spec`'s independent objects and searches each.
pub(crate) fn check<M: SequentialSpec>(
    spec: &M,
    ops: &[Operation],
    limits: Limits<'_>,
    watch: Option<&(dyn Fn(&super::Progress) + Sync)>,
    jobs: usize,
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
            // What a pre-check holds: the operations and each object's search operations.
            stats.peak_memo_bytes = std::mem::size_of_val(ops)
                + parts
                    .iter()
                    .map(|(p, _)| {
                        p.ops.capacity() * std::mem::size_of::<SearchOp>() + p.src.capacity() * 8
                    })
                    .sum::<usize>();
            return v;
        }
    }
    // Pruned objects keep their unpruned operations for the explanation (see `conclude`).
    let mut unpruned: Vec<Option<Part>> = Vec::with_capacity(parts.len());
    for (part, _) in &mut parts {
        // Small objects are searched as they are and exactly: pruning would cost their
        // explanation a second, unpruned search, more than it saves.

        if part.ops.len() < REDUCE_MIN_OPS {
            unpruned.push(None);
            continue;
        }
        let before = Part {
            key: part.key,
            ops: part.ops.clone(),
            src: part.src.clone(),
        };
        let p = prune_info(part);
        stats.info_dropped += p.dropped;
        stats.info_closed += p.closed;
        unpruned.push((p.dropped > 0).then_some(before));
    }
    stats.searched_operations = parts.iter().map(|(p, _)| p.ops.len()).sum();
    let meter = watch.map(|watch| Meter {
        watch,
        total: stats.searched_operations,
        placed_done: Default::default(),
        configurations_done: Default::default(),
    });
    let limits = Limits {
        meter: meter.as_ref(),
        ..limits
    };
    let (parts, objects): (Vec<Part>, Vec<M::Object>) = parts.into_iter().unzip();
    // The operations the fast search of each large object sees (empty: its own).
    // Each object first goes through just-in-time linearization, one pass in memory that
    // follows concurrency; objects it gives up on (too many operations left open) go to the
    // Wing–Gong–Lowe search.
    let mut searched: Vec<(usize, M::Object)> = Vec::new();
    let mut decided = None;
    let (mut by_jit, mut by_wgl, mut by_zones) = (false, false, false);
    let mut refuted = None;
    let mut js = jit::JitStats::default();
    for (i, (p, mut object)) in parts.iter().zip(objects).enumerate() {
        if decided.is_some() || p.ops.is_empty() {
            continue;
        }
        match zones::check(&p.ops) {
            zones::Zones::Linearizable => {
                by_zones = true;
                continue;
            }
            zones::Zones::Violation(r) => _ = refuted.get_or_insert((i, r)),
            zones::Zones::NotApplicable => {}
        }
        // The pre-check for large objects, on those the zone test did not find linearizable.
        // Their operations are pruned by now: closed writes count as `ok` (they take effect
        // before the read they were closed at), dropped ones were never observed.
        if p.ops.len() >= REDUCE_MIN_OPS {
            if let Some((blocked, writer, over)) = overwritten_value(&p.ops) {
                stats.decided_by_precheck = true;
                stats.algorithm = "precheck";
                stats.peak_memo_bytes = std::mem::size_of_val(ops)
                    + parts
                        .iter()
                        .map(|p| {
                            p.ops.capacity() * std::mem::size_of::<SearchOp>()
                                + p.src.capacity() * 8
                        })
                        .sum::<usize>();
                return Outcome::Violation(Box::new(explain::overwritten(
                    ops, p, blocked, writer, over, &object,
                )));
            }
        }
        let open = p.ops.iter().filter(|o| o.ret.is_none()).count();
        let appends = p.ops.iter().any(|o| matches!(o.step, Step::Append(_)));
        let result = if open <= MAX_JIT_OPEN && !appends && p.ops.len() >= MIN_JIT_OPS {
            jit::run(&p.ops, &mut object, &mut js)
        } else {
            jit::JitResult::GaveUp
        };
        match result {
            jit::JitResult::Linearizable => {
                by_jit = true;
                if let Some(m) = limits.meter {
                    m.done(p.ops.len(), 0);
                }
            }
            jit::JitResult::Violation(f) => {
                by_jit = true;
                decided = Some((i, false, object, SearchResult::Violation(f)));
            }
            jit::JitResult::GaveUp => {
                by_wgl = true;
                searched.push((i, object));
            }
        }
    }
    if decided.is_some() {
        searched.clear();
    }
    // The operations the reduced search of each large object left to search sees (empty: its
    // own), built only for those.
    let mut merged: Vec<(Option<StateId>, Vec<SearchOp>)> = vec![(None, Vec::new()); parts.len()];
    for (i, _) in &searched {
        if parts[*i].ops.len() >= REDUCE_MIN_OPS {
            merged[*i] = merge_unobserved(&parts[*i].ops);
        }
    }
    let mut live: Vec<(usize, Search<M::Object>)> = searched
        .into_iter()
        .map(|(i, object)| {
            let p = &parts[i];
            let search = if p.ops.len() < REDUCE_MIN_OPS {
                Search::new(&p.ops, object)
            } else if merged[i].1.is_empty() {
                Search::reduced(&p.ops, object, merged[i].0)
            } else {
                Search::reduced(&merged[i].1, object, merged[i].0)
            };
            (i, search)
        })
        .collect();
    // What the check holds besides its searches: the operations, each object's search
    // operations and the copies kept for explanations and the reduced searches. The searches
    // get the rest of the memory cap, and the reported peak counts it.
    let held = |p: &Part| p.ops.capacity() * std::mem::size_of::<SearchOp>() + p.src.capacity() * 8;
    let base = std::mem::size_of_val(ops)
        + ops
            .iter()
            .map(|o| o.key.as_ref().map_or(0, |k| k.capacity()))
            .sum::<usize>()
        + parts.iter().map(held).sum::<usize>()
        + unpruned.iter().flatten().map(held).sum::<usize>()
        + merged
            .iter()
            .map(|m| m.1.capacity() * std::mem::size_of::<SearchOp>())
            .sum::<usize>();
    let limits = Limits {
        max_bytes: limits.max_bytes.saturating_sub(base),
        cap: limits.max_bytes,
        ..limits
    };
    stats.configurations += js.configurations;
    stats.peak_memo_bytes = stats.peak_memo_bytes.max(js.peak_bytes);
    if decided.is_some() {
        live.clear();
    }
    stats.algorithm = match (by_jit, by_wgl) {
        _ if stats.searched_operations == 0 => "none",
        (true, false) => "jit",
        (false, _) => "wgl",
        (true, true) => "jit+wgl",
    };
    stats.algorithm = zones::algorithm(by_zones, by_jit || by_wgl, stats.algorithm);
    // Objects are searched in interleaved slices of steps that double each round, like
    // Porcupine's parallel per-key checks that stop at the first violation, but
    // deterministically: an easily refuted key is found before a hard key exhausts the budget,
    // and a linearizable history costs the same total work. A round gives every live search
    // one slice, on `jobs` threads; what it decides is the lowest-numbered key that a
    // violation (or the timeout) stopped in the earliest such round, and the work counted is
    // that of the keys up to it, so the report is the same for any number of threads. Each
    // search counts its own steps (the budget is checked every so many of them) and may grow
    // by an equal share of the memory free when the round began.
    let mut live: Vec<(usize, Search<M::Object>, SearchStats)> = live
        .into_iter()
        .map(|(p, search)| (p, search, SearchStats::default()))
        .collect();
    let pool = if jobs > 1 && live.len() > 1 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build()
            .ok()
    } else {
        None
    };
    let mut unknown = None;
    let mut slice: u64 = 1 << 12;
    let mut s = SearchStats::default();
    let mut together = 0usize;
    while !live.is_empty() && decided.is_none() {
        let bytes: Vec<usize> = live.iter().map(|l| l.1.heap_bytes()).collect();
        let all: usize = bytes.iter().sum();
        let searches = live.len();
        let before: Vec<SearchStats> = live.iter().map(|l| l.2).collect();
        let step = |(l, own): (&mut (usize, Search<M::Object>, SearchStats), &usize)| {
            // The memory cap holds for all live searches together: each may take an equal
            // share of what was free when the round began (so the report does not depend on
            // the order or the number of threads they run on).
            let lim = Limits {
                max_bytes: own + limits.max_bytes.saturating_sub(all) / searches,
                ..limits
            };
            l.1.run(lim, slice, &mut l.2)
        };
        let results: Vec<Option<SearchResult>> = match &pool {
            Some(pool) => pool.install(|| {
                use rayon::prelude::*;
                live.par_iter_mut()
                    .zip(bytes.par_iter())
                    .map(step)
                    .collect()
            }),
            None => {
                let mut results = Vec::with_capacity(live.len());
                for l in live.iter_mut().zip(&bytes) {
                    let r = step(l);
                    let decisive = matches!(
                        r,
                        Some(SearchResult::Violation(_) | SearchResult::OutOfTime)
                    );
                    results.push(r);
                    if decisive {
                        break;
                    }
                }
                results
            }
        };
        let first = results.iter().position(|r| {
            matches!(
                r,
                Some(SearchResult::Violation(_) | SearchResult::OutOfTime)
            )
        });
        // Keys after the deciding one count as if this round had stopped there.
        if let Some(d) = first {
            for (l, b) in live.iter_mut().zip(before).skip(d + 1) {
                l.2 = b;
            }
        }
        // The live searches hold their memory together: the peak reported is their sum,
        // counting keys after the deciding one as they were when the round began (as if the
        // round had stopped there, whatever ran on other threads).
        together = together.max(
            live.iter()
                .zip(&bytes)
                .enumerate()
                .map(|(i, (l, &b))| {
                    if first.is_none_or(|d| i <= d) {
                        l.1.heap_bytes()
                    } else {
                        b
                    }
                })
                .sum(),
        );
        let mut kept = Vec::with_capacity(live.len());
        for (i, (l, r)) in live
            .drain(..)
            .zip(results.into_iter().map(Some).chain(std::iter::repeat(None)))
            .enumerate()
        {
            let (p, search, st) = l;
            let r = match r.flatten() {
                Some(r) if first.is_none_or(|d| i <= d) => r,
                _ => {
                    kept.push((p, search, st));
                    continue;
                }
            };
            add_search_stats(&mut s, &st);
            match r {
                SearchResult::Linearizable => {
                    if let Some(m) = limits.meter {
                        m.done(parts[p].ops.len(), search.configurations());
                    }
                }
                SearchResult::OutOfMemory => {
                    // Other keys may still show a violation, which settles the history.
                    unknown
                        .get_or_insert_with(|| unknown_reason(SearchResult::OutOfMemory, limits));
                }
                r @ (SearchResult::Violation(_) | SearchResult::OutOfTime) => {
                    decided = Some((p, search.is_exact(), search.spec, r));
                }
            }
        }
        live = kept;
        slice = slice.saturating_mul(2);
    }
    for l in &live {
        add_search_stats(&mut s, &l.2);
    }
    // Every other search is done with: its memory goes back to the budget before any search
    // for an explanation.
    drop(live);
    add_stats(stats, &s);
    let outcome = match decided {
        Some((p, exact, spec, r)) => conclude(
            ops,
            &parts[p],
            unpruned[p].as_ref(),
            exact,
            spec,
            r,
            limits,
            stats,
        ),
        None => unknown.map_or(Outcome::Linearizable, Outcome::Unknown),
    };
    stats.peak_memo_bytes = stats.peak_memo_bytes.max(together) + base;
    zones::settle(outcome, refuted, ops, &parts, stats)
}

fn add_search_stats(total: &mut SearchStats, s: &SearchStats) {
    total.steps += s.steps;
    total.configurations += s.configurations;
    total.peak_bytes = total.peak_bytes.max(s.peak_bytes);
}

fn add_stats(stats: &mut Stats, s: &SearchStats) {
    stats.steps += s.steps;
    stats.configurations += s.configurations;
    stats.peak_memo_bytes = stats.peak_memo_bytes.max(s.peak_bytes);
}

fn unknown_reason(r: SearchResult, limits: Limits<'_>) -> String {
    match r {
        SearchResult::OutOfTime => "timeout reached before the search decided".into(),
        _ => format!(
            "memory reached its cap of {} bytes before the search decided",
            limits.cap
        ),
    }
}

/// Indeterminate operations an object may leave open for just-in-time linearization: each can
/// double its set of configurations.
const MAX_JIT_OPEN: usize = 12;

/// Objects smaller than this go straight to the Wing–Gong–Lowe search, which is faster on
/// them (and its memo small). Objects with appends too: the search's append pruning makes it
/// the faster there, and just-in-time linearization would try every order of concurrent
/// appends.
const MIN_JIT_OPS: usize = 2048;

/// Steps the search for an explanation may take on an object's unpruned operations before it
/// falls back to the pruned ones: counted in steps, not time, so the explanation is the same
/// on every machine.
fn unpruned_steps(part: &Part) -> u64 {
    1_000_000 + 16 * part.ops.len() as u64
}

/// Turns a decided search into the outcome. A fast search's failure (append pruning, or
/// indeterminate writes pruned) is searched again exactly for the explanation: first on the
/// unpruned operations within [`unpruned_steps`], so that the prefix and the values the
/// object could hold count every indeterminate write, then on the pruned ones, where they
/// leave out dropped writes (the reason says so). The fast search has been dropped by the
/// caller, so each re-search has the whole budget; its work is added to `stats`.
#[allow(clippy::too_many_arguments)]
fn conclude<S: Spec + Clone>(
    ops: &[Operation],
    part: &Part,
    unpruned: Option<&Part>,
    exact: bool,
    spec: S,
    result: SearchResult,
    limits: Limits<'_>,
    stats: &mut Stats,
) -> Outcome {
    let f = match result {
        SearchResult::Linearizable => return Outcome::Linearizable,
        SearchResult::Violation(f) => f,
        r => return Outcome::Unknown(unknown_reason(r, limits)),
    };
    if exact && unpruned.is_none() {
        let mut spec = spec;
        return Outcome::Violation(Box::new(explain::from_failure(
            ops, part, &f, &mut spec, true,
        )));
    }
    // The verdict stands; the explanation needs the configurations the fast search pruned.
    let reached = part.ops[f.blocked as usize].ret.unwrap_or(0);
    if let Some(full) = unpruned {
        let mut s = SearchStats::default();
        let mut search = Search::exact(&full.ops, spec.clone(), reached);
        let result = search.run(limits, unpruned_steps(full), &mut s);
        add_stats(stats, &s);
        if let Some(SearchResult::Violation(e)) = result {
            let mut spec = search.spec;
            return Outcome::Violation(Box::new(explain::from_failure(
                ops, full, &e, &mut spec, true,
            )));
        }
    }
    let mut s = SearchStats::default();
    let mut search = Search::exact(&part.ops, spec.clone(), reached);
    let result = search.run(limits, unpruned_steps(part), &mut s);
    add_stats(stats, &s);
    let (f, mut spec, is_exact) = match result {
        Some(SearchResult::Violation(e)) => (e, search.spec, true),
        _ => (f, spec, false),
    };
    let mut e = explain::from_failure(ops, part, &f, &mut spec, is_exact);
    if is_exact && unpruned.is_some() {
        e.reason.push_str(
            " (leaving out indeterminate writes of values no operation read, which the search dropped)",
        );
    }
    Outcome::Violation(Box::new(e))
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

/// Pre-check for large objects: a value written by one operation only, which completed,
/// cannot be observed (by an `ok` read or an `ok` cas expecting it) after another
/// state-changing operation that must take effect (`ok`) was invoked after that write
/// completed and completed before the observer was invoked: that one comes after the write
/// and before the observer in every linearization, and nothing writes the value again. (The
/// initial value, if nothing writes it, counts as written before the history.) This refutes
/// the stale reads of Jepsen-style histories, whose values are unique, in O(n log n), where
/// the search would have to try every order first. Returns the observer's, the writer's and
/// the overwriter's search indices (the writer is `usize::MAX` for the initial value); the
/// observer named is the one completing first.
fn overwritten_value(ops: &[SearchOp]) -> Option<(usize, usize, usize)> {
    if ops.iter().any(|o| matches!(o.step, Step::Append(_))) {
        return None;
    }
    // Per value: how many operations write it, and the one that does.
    let mut writers: FxMap<StateId, (u32, usize)> = Default::default();
    // Determinate state-changing operations by invocation: (call, ret, op).
    let mut changers: Vec<(u32, u32, usize)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let v = match o.step {
            Step::Write(v) | Step::Cas { new: v, .. } => v,
            _ => continue,
        };
        let w = writers.entry(v).or_insert((0, i));
        w.0 += 1;
        if let Some(r) = o.ret {
            changers.push((o.call, r, i));
        }
    }
    changers.sort_unstable();
    // Suffix minima of completions: the earliest-completing changer invoked at or after each.
    let mut suffix: Vec<(u32, usize)> = vec![(u32::MAX, usize::MAX); changers.len() + 1];
    for k in (0..changers.len()).rev() {
        suffix[k] = suffix[k + 1].min((changers[k].1, changers[k].2));
    }
    let mut found: Option<(u32, usize, usize, usize)> = None;
    for (i, o) in ops.iter().enumerate() {
        let (v, Some(ret)) = (
            match o.step {
                Step::Read(v) | Step::Cas { expected: v, .. } => v,
                _ => continue,
            },
            o.ret,
        ) else {
            continue;
        };
        // When the value was last written for sure: the writer's completion (the initial
        // value: before the history).
        let (written, writer) = match writers.get(&v) {
            None if v == INITIAL => (None, usize::MAX),
            Some(&(1, w)) if v != INITIAL => match ops[w].ret {
                Some(r) => (Some(r), w),
                None => continue,
            },
            _ => continue,
        };
        let k = match written {
            None => 0,
            Some(r) => changers.partition_point(|c| c.0 <= r),
        };
        let (over_ret, over) = suffix[k];
        if over_ret < o.call && found.is_none_or(|f| (ret, i) < (f.0, f.1)) {
            found = Some((ret, i, writer, over));
        }
    }
    found.map(|(_, i, w, x)| (i, w, x))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{history, Config, Kind};
    use crate::linearizability::model::{KvKey, Register};
    use crate::linearizability::SequentialSpec;

    fn part(ops: Vec<SearchOp>) -> Part<'static> {
        let src = (0..ops.len()).collect();
        Part {
            key: None,
            ops,
            src,
        }
    }

    #[test]
    fn an_unread_indeterminate_write_is_dropped_and_a_read_one_closed() {
        // write 1 (info, never read), write 2 (info, read by the read completing at 5).
        let mut p = part(vec![
            SearchOp::new(Step::Write(1), 0, None),
            SearchOp::new(Step::Write(2), 1, None),
            SearchOp::new(Step::Read(2), 2, Some(5)),
        ]);
        assert_eq!(
            prune_info(&mut p),
            Pruned {
                dropped: 1,
                closed: 1
            }
        );
        assert_eq!(p.src, vec![1, 2]);
        assert_eq!(p.ops[0].ret, Some(5));
        assert!(p.ops[0].closed);
    }

    #[test]
    fn a_failed_cas_keeps_unread_indeterminate_writes() {
        // Register: write 1 ok; write 2 info (nobody reads 2); cas [1, 3] fails after both.
        // The cas failing needs the register not to hold 1: only the info write 2 explains
        // it. Dropping write 2 would make the history non-linearizable, so it is kept.
        let ops = vec![
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(2), 2, None),
            SearchOp::new(Step::CasFail { expected: 1 }, 3, Some(4)),
        ];
        let mut p = part(ops.clone());
        assert_eq!(prune_info(&mut p), Pruned::default());
        assert_eq!(p.ops.len(), 3);
        // And the search agrees that the history is linearizable only with it.
        let mut s = Search::new(&p.ops, Register::default());
        let limits = Limits {
            deadline: None,
            max_bytes: 1 << 20,
            meter: None,
            cap: 1 << 20,
        };
        let r = s.run(limits, u64::MAX, &mut SearchStats::default());
        assert!(matches!(r, Some(SearchResult::Linearizable)));
        let without = vec![ops[0], ops[2]];
        let mut s = Search::new(&without, Register::default());
        let r = s.run(limits, u64::MAX, &mut SearchStats::default());
        assert!(matches!(r, Some(SearchResult::Violation(_))));
    }

    #[test]
    fn an_indeterminate_write_under_appends_is_kept() {
        // put "a" info, append "b" ok, get "ab": the get reads the put without returning
        // its value, so nothing is pruned.
        let mut p = part(vec![
            SearchOp::new(Step::Write(1), 0, None),
            SearchOp::new(Step::Append(0), 1, Some(2)),
            SearchOp::new(Step::Read(2), 3, Some(4)),
        ]);
        assert_eq!(prune_info(&mut p), Pruned::default());
    }

    /// Just-in-time linearization and the Wing–Gong–Lowe search (unpruned, on the same
    /// operations) agree on the verdict and on the operation that cannot be placed, over
    /// thousands of generated histories with and without anomalies, info and cas.
    #[test]
    fn jit_agrees_with_the_search_on_generated_histories() {
        let mut compared = [0usize; 2];
        for seed in 0..3000u64 {
            let kind = if seed % 3 == 0 {
                Kind::Kv
            } else {
                Kind::Register
            };
            let config = Config {
                kind,
                operations: 20 + (seed % 40) as usize,
                processes: 2 + (seed % 5) as usize,
                info_percent: [0, 5, 20][(seed % 3) as usize],
                keys: 1,
                cas: seed % 2 == 0,
                anomaly: seed % 4 == 1,
                think_ns: 1 + (seed % 3) * 50_000,
                seed,
                ..Config::default()
            };
            let h = history(&config);
            let ops = h.operations().expect("valid");
            macro_rules! agree {
                ($spec:expr) => {{
                    let spec = $spec;
                    let mut object = Default::default();
                    let mut p = Part {
                        key: None,
                        ops: Vec::new(),
                        src: Vec::new(),
                    };
                    for (i, o) in ops.iter().enumerate() {
                        if let Some(step) = spec.step(o, &mut object) {
                            p.push(i, o, step);
                        }
                    }
                    let mut wgl = Search::exact(&p.ops, object.clone(), 0);
                    let limits = Limits {
                        deadline: None,
                        max_bytes: 1 << 28,
                        meter: None,
                        cap: 1 << 28,
                    };
                    let w = wgl.run(limits, u64::MAX, &mut SearchStats::default());
                    let mut pruned = Part {
                        key: None,
                        ops: p.ops.clone(),
                        src: p.src.clone(),
                    };
                    prune_info(&mut pruned);
                    let mut o2 = object.clone();
                    let j = jit::run(&pruned.ops, &mut o2, &mut jit::JitStats::default());
                    let mut o3 = object.clone();
                    let j_unpruned = jit::run(&p.ops, &mut o3, &mut jit::JitStats::default());
                    for (j, part) in [(j, &pruned), (j_unpruned, &p)] {
                        match (&w, j) {
                            (Some(SearchResult::Linearizable), jit::JitResult::Linearizable) => {
                                compared[0] += 1
                            }
                            (Some(SearchResult::Violation(f)), jit::JitResult::Violation(g)) => {
                                assert_eq!(
                                    p.src[f.blocked as usize], part.src[g.blocked as usize],
                                    "blocked, seed {seed}"
                                );
                                compared[1] += 1;
                            }
                            (_, jit::JitResult::GaveUp) => {}
                            (w, _) => panic!("seed {seed}: search says {w:?}"),
                        }
                    }
                }};
            }
            match kind {
                Kind::Register => agree!(crate::linearizability::RegisterSpec),
                Kind::Kv => agree!(crate::linearizability::KvSpec),
            }
        }
        assert!(compared[0] > 1000 && compared[1] > 500, "{compared:?}");
    }

    fn verdict(ops: &[SearchOp], reduced: bool) -> bool {
        let limits = Limits {
            deadline: None,
            max_bytes: 1 << 28,
            meter: None,
            cap: 1 << 28,
        };
        let r = if reduced {
            let (junk, merged) = merge_unobserved(ops);
            let ops = if merged.is_empty() { ops } else { &merged };
            Search::reduced(ops, Register::default(), junk).run(
                limits,
                u64::MAX,
                &mut SearchStats::default(),
            )
        } else {
            Search::exact(ops, Register::default(), 0).run(
                limits,
                u64::MAX,
                &mut SearchStats::default(),
            )
        };
        match r {
            Some(SearchResult::Linearizable) => true,
            Some(SearchResult::Violation(_)) => false,
            r => panic!("undecided: {r:?}"),
        }
    }

    #[test]
    fn a_value_written_twice_may_be_left_with_a_reader_pending() {
        // write 1, write 2, write 1 again, then read 1: the register leaves 1 while the read
        // of 1 is still to come, which is fine only because 1 is written again. Treating 1
        // as written once would refute this history.
        let ops = vec![
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(2), 2, Some(3)),
            SearchOp::new(Step::Write(1), 4, Some(5)),
            SearchOp::new(Step::Read(1), 6, Some(7)),
        ];
        assert!(verdict(&ops, false) && verdict(&ops, true));
        // Written once, the same shape is refuted by both.
        let mut once = ops.clone();
        once[2].step = Step::Write(3);
        assert!(!verdict(&once, false) && !verdict(&once, true));
    }

    #[test]
    fn an_unread_indeterminate_write_is_placed_where_a_failed_cas_needs_it() {
        // write 1 ok; write 2 info (2 is never observed: the junk value); cas [1, 3] fails
        // later. Only the junk write explains the failure, and it may go only right before
        // a failed cas expecting the value it overwrites.
        let ops = vec![
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(2), 2, None),
            SearchOp::new(Step::CasFail { expected: 1 }, 3, Some(4)),
        ];
        let (junk, _) = merge_unobserved(&ops);
        assert_eq!(junk, Some(INITIAL));
        assert!(verdict(&ops, false) && verdict(&ops, true));
        // A failed cas expecting something else does not need it: refuted by the read.
        let mut other = ops.clone();
        other[2].step = Step::CasFail { expected: 5 };
        other.push(SearchOp::new(Step::Read(1), 5, Some(6)));
        assert!(verdict(&other, false) && verdict(&other, true));
    }

    #[test]
    fn identical_writes_are_placed_earliest_deadline_first() {
        // Two writes of 1 (twins): the one invoked first completes last, so the rule tries
        // only the other (it completes first); the history needs a write of 1 after the
        // write of 2, which the later-completing twin gives, and both searches find it.
        let ops = vec![
            SearchOp::new(Step::Write(1), 0, Some(9)),
            SearchOp::new(Step::Write(1), 1, Some(3)),
            SearchOp::new(Step::Write(2), 2, Some(4)),
            SearchOp::new(Step::Read(1), 5, Some(6)),
        ];
        assert!(verdict(&ops, false) && verdict(&ops, true));
    }

    #[test]
    fn an_overwritten_value_read_later_is_refuted_without_a_search() {
        // write 1 [0,1], write 2 [2,3], read 1 [4,5]: stale.
        let stale = vec![
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(2), 2, Some(3)),
            SearchOp::new(Step::Read(1), 4, Some(5)),
        ];
        assert_eq!(overwritten_value(&stale), Some((2, 0, 1)));
        assert!(!verdict(&stale, false));
        // Unsound if misapplied: 1 written again later, the overwriter indeterminate, or the
        // overwriter overlapping the first write (it may go first): all linearizable.
        let mut again = stale.clone();
        again.push(SearchOp::new(Step::Write(1), 3, Some(6)));
        again.swap(2, 3);
        again[2].call = 3;
        let mut info = stale.clone();
        info[1].ret = None;
        let mut overlap = stale.clone();
        overlap[1].call = 0;
        overlap[0].call = 1;
        overlap.swap(0, 1);
        for ops in [&again, &info, &overlap] {
            assert_eq!(overwritten_value(ops), None, "{ops:?}");
            assert!(verdict(ops, false), "{ops:?}");
        }
        // The initial value, never written, read after a write completed.
        let initial = vec![
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Read(INITIAL), 2, Some(3)),
        ];
        assert_eq!(overwritten_value(&initial), Some((1, usize::MAX, 0)));
    }

    /// Whenever the overwritten-value pre-check refutes a random history, the exact search
    /// does too.
    #[test]
    fn the_overwritten_value_check_agrees_with_the_search() {
        let mut refuted = 0;
        for seed in 0..3000u64 {
            let h = history(&Config {
                kind: Kind::Register,
                operations: 20 + (seed % 40) as usize,
                processes: 2 + (seed % 5) as usize,
                info_percent: [0, 5, 20][(seed % 3) as usize],
                cas: seed % 2 == 0,
                anomaly: seed % 4 == 1,
                seed,
                ..Config::default()
            });
            let ops = h.operations().expect("valid");
            let mut object = Register::default();
            let mut p = part(Vec::new());
            p.src.clear();
            for (i, o) in ops.iter().enumerate() {
                if let Some(step) = crate::linearizability::RegisterSpec.step(o, &mut object) {
                    p.push(i, o, step);
                }
            }
            if overwritten_value(&p.ops).is_some() {
                refuted += 1;
                assert!(!verdict(&p.ops, false), "seed {seed}");
            }
        }
        assert!(refuted > 300, "{refuted}");
    }

    /// On generated key-value histories with appends (values built, not written: no value
    /// counts as written once) the reduced search agrees with the exact one.
    #[test]
    fn reductions_agree_on_appends() {
        let limits = Limits {
            deadline: None,
            max_bytes: 1 << 28,
            meter: None,
            cap: 1 << 28,
        };
        let mut compared = [0; 2];
        for seed in 0..1500u64 {
            let h = history(&Config {
                kind: Kind::Kv,
                operations: 10 + (seed % 20) as usize,
                processes: 2 + (seed % 4) as usize,
                info_percent: [0, 10, 20][(seed % 3) as usize],
                keys: 1,
                appends: true,
                seed,
                ..Config::default()
            });
            let ops = h.operations().expect("valid");
            let mut object = KvKey::default();
            let mut p = part(Vec::new());
            for (i, o) in ops.iter().enumerate() {
                if let Some(step) = crate::linearizability::KvSpec.step(o, &mut object) {
                    p.push(i, o, step);
                }
            }
            // Some reads made to return a put's value, so that some histories fail.
            if seed % 2 == 1 {
                if let Some(r) = p.ops.iter().rposition(|o| matches!(o.step, Step::Read(_))) {
                    p.ops[r].step = Step::Read(object.intern("p1"));
                }
            }
            let run =
                |mut s: Search<KvKey>| match s.run(limits, u64::MAX, &mut SearchStats::default()) {
                    Some(SearchResult::Linearizable) => true,
                    Some(SearchResult::Violation(_)) => false,
                    r => panic!("seed {seed}: {r:?}"),
                };
            let reduced = run(Search::reduced(&p.ops, object.clone(), None));
            let exact = run(Search::exact(&p.ops, object.clone(), 0));
            assert_eq!(exact, reduced, "seed {seed}");
            compared[exact as usize] += 1;
        }
        assert!(compared[0] > 300 && compared[1] > 300, "{compared:?}");
    }

    /// The reduced search (unobserved values merged, twins, junk writes, values written once)
    /// and the exact search agree on the verdict over thousands of random histories with few
    /// values, so that values repeat, writes are twins and cas fail or not; some operations
    /// indeterminate.
    #[test]
    fn reductions_agree_with_the_exact_search() {
        let mut rng = 0x5eedu64;
        let mut next = move |n: u64| {
            rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        };
        let (mut yes, mut no) = (0, 0);
        for _ in 0..20_000 {
            let n = 3 + next(10) as usize;
            let values = 2 + next(4) as u32;
            let mut ops: Vec<SearchOp> = Vec::new();
            let mut running: Vec<usize> = Vec::new();
            let mut t = 0u32;
            while ops.len() < n || !running.is_empty() {
                if ops.len() < n && (running.is_empty() || next(2) == 0) {
                    let v = next(values as u64) as u32;
                    let e = next(values as u64) as u32;
                    let step = match next(5) {
                        0 | 1 => Step::Read(v),
                        2 => Step::Write(v.max(1)),
                        3 => Step::Cas {
                            expected: e,
                            new: v.max(1),
                        },
                        _ => Step::CasFail { expected: e },
                    };
                    running.push(ops.len());
                    ops.push(SearchOp::new(step, t, None));
                } else {
                    let o = running.swap_remove(next(running.len() as u64) as usize);
                    let info =
                        matches!(ops[o].step, Step::Write(_) | Step::Cas { .. }) && next(4) == 0;
                    if !info {
                        ops[o].ret = Some(t);
                    }
                }
                t += 1;
            }
            let exact = verdict(&ops, false);
            assert_eq!(exact, verdict(&ops, true), "{ops:?}");
            if overwritten_value(&ops).is_some() {
                assert!(!exact, "{ops:?}");
            }
            if exact {
                yes += 1;
            } else {
                no += 1;
            }
        }
        assert!(yes > 2000 && no > 2000, "{yes} {no}");
    }
}
