//! Just-in-time linearization (Lowe 2017, "Testing for linearizability", §5): the history's
//! events are read once, in order, carrying the set of configurations a linearization can be
//! in — (model state, which running operations it has already placed) — instead of searching
//! depth first over the whole history. An operation is placed only when it must be: at its
//! completion, every configuration that has not placed it places it, after any running
//! operations it may need first. A configuration that cannot is dropped; when none is left,
//! the completing operation is the one that cannot be placed.
//!
//! Memory is the current set, which follows the operations running at once (a configuration
//! is a state and a 64-bit mask over their slots), not the history's length, and time is
//! linear in the history for a bounded number of concurrent clients. Indeterminate operations
//! never complete, so each one left open doubles the set at worst: the search gives up (and
//! the caller falls back to the Wing–Gong–Lowe search) past 64 running operations or
//! [`MAX_CONFIGS`] configurations.

use super::model::{FxMap, Spec, StateId, INITIAL};
use super::search::{Failure, SearchOp};
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

type FxSet<T> = HashSet<T, BuildHasherDefault<super::model::FxHasher>>;

/// Configurations held at once before giving up.
pub(crate) const MAX_CONFIGS: usize = 1 << 16;

pub(crate) enum JitResult {
    Linearizable,
    /// `prefix` is empty: this search keeps no orders.
    Violation(Failure),
    GaveUp,
}

#[derive(Default)]
pub(crate) struct JitStats {
    pub configurations: u64,
    pub peak_bytes: usize,
}

/// Runs the search over `ops` (in invocation order, as the partition builds them).
pub(crate) fn run<S: Spec>(ops: &[SearchOp], spec: &mut S, stats: &mut JitStats) -> JitResult {
    let mut events: Vec<(u32, bool, u32)> = Vec::with_capacity(2 * ops.len());
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, false, 2 * i as u32));
        if let Some(r) = op.ret {
            events.push((r, op.closed, 2 * i as u32 + 1));
        }
    }
    events.sort_unstable();
    let read_only: Vec<bool> = ops
        .iter()
        .map(|o| {
            matches!(
                o.step,
                super::model::Step::Read(_) | super::model::Step::CasFail { .. }
            )
        })
        .collect();
    let mut slot_of: Vec<u8> = vec![u8::MAX; ops.len()];
    let mut slot_op = [0u32; 64];
    // Slots of running operations (placed or not in some configuration).
    let mut running: u64 = 0;
    // Slots of running indeterminate operations.
    let mut open_info: u64 = 0;
    let mut frontier: Vec<(StateId, u64)> = vec![(INITIAL, 0)];
    let mut next: FxSet<(StateId, u64)> = FxSet::default();
    let mut seen: FxSet<(StateId, u64)> = FxSet::default();
    let mut stack: Vec<(StateId, u64)> = Vec::new();
    let mut reachable: FxMap<StateId, ()> = FxMap::default();
    for &(_, _, e) in &events {
        let o = (e >> 1) as usize;
        if e & 1 == 0 {
            let free = !running;
            if free == 0 {
                return JitResult::GaveUp;
            }
            let k = free.trailing_zeros();
            running |= 1 << k;
            if ops[o].ret.is_none() {
                open_info |= 1 << k;
            }
            slot_of[o] = k as u8;
            slot_op[k as usize] = o as u32;
            continue;
        }
        let k = slot_of[o] as u32;
        let bit = 1u64 << k;
        next.clear();
        seen.clear();
        reachable.clear();
        for &c in &frontier {
            if c.1 & bit != 0 {
                next.insert((c.0, c.1 & !bit));
                continue;
            }
            stack.push(c);
            while let Some(mut x) = stack.pop() {
                // Read-first, as in the search: a state-preserving running operation that
                // fits now is placed now, without a choice (Wing & Gong's argument).
                let mut placed = true;
                while placed {
                    placed = false;
                    let mut m = running & !x.1;
                    while m != 0 {
                        let j = m.trailing_zeros();
                        m &= m - 1;
                        let op = slot_op[j as usize] as usize;
                        if read_only[op] && spec.apply(x.0, ops[op].step).is_some() {
                            x.1 |= 1 << j;
                            placed = true;
                        }
                    }
                }
                if x.1 & bit != 0 {
                    next.insert((x.0, x.1 & !bit));
                    continue;
                }
                reachable.insert(x.0, ());
                let mut m = running & !x.1;
                while m != 0 {
                    let j = m.trailing_zeros();
                    m &= m - 1;
                    let op = slot_op[j as usize] as usize;
                    let Some(s) = spec.apply(x.0, ops[op].step) else {
                        continue;
                    };
                    let y = (s, x.1 | 1 << j);
                    if j == k {
                        next.insert((y.0, y.1 & !bit));
                    } else if seen.insert(y) {
                        stack.push(y);
                    }
                }
                if seen.len() + next.len() > MAX_CONFIGS {
                    return JitResult::GaveUp;
                }
            }
        }
        stats.configurations += (seen.len() + next.len()) as u64;
        if next.is_empty() {
            let mut possible: Vec<StateId> = reachable.keys().copied().collect();
            possible.sort_unstable();
            return JitResult::Violation(Failure {
                prefix: Vec::new(),
                state_after_prefix: INITIAL,
                blocked: o as u32,
                possible,
            });
        }
        running &= !bit;
        frontier.clear();
        frontier.extend(next.iter().copied());
        // Indeterminate operations every configuration has placed are settled: free their
        // slots, so the set keeps only what is still open.
        let all = frontier.iter().fold(open_info, |a, c| a & c.1);
        if all != 0 {
            running &= !all;
            open_info &= !all;
            for c in &mut frontier {
                c.1 &= !all;
            }
            frontier.sort_unstable();
            frontier.dedup();
        }
        // Deterministic order, whatever the hash set did.
        frontier.sort_unstable();
        let bytes = (frontier.capacity() + next.capacity() + seen.capacity() + stack.capacity())
            * 16
            + ops.len() * 5;
        stats.peak_bytes = stats.peak_bytes.max(bytes + spec.heap_bytes());
    }
    JitResult::Linearizable
}
