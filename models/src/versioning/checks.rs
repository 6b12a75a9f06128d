//! The end-of-run checks, god's-eye: every replica's synced log is the ledger of what was
//! written where and on top of what; the devices' history says which updates were
//! acknowledged.
//!
//! **Causality.** An update `v` causally follows `u` (`u` is in `past(v)`) when `v`'s device
//! had read a state reflecting `u` before writing `v`, directly or through a chain of such
//! reads (the transitive closure of "read, then wrote"). A device's own earlier update is in
//! its next update's past only if the device read it back: a device that moves to a replica
//! that has not yet received its last write writes concurrently with it.
//!
//! **Silent loss.** An acknowledged update `u` (it wrote value `u` into field `f`) is
//! *lost* when, in the final profile,
//! 1. `f` does not hold `u`, and
//! 2. no update that causally followed `u` wrote `f` (had one, the device replaced `u`
//!    knowingly: the name changed again), and
//! 3. no application merge dropped `u` in favour of a value concurrent with it (vector
//!    clocks, `merge = "app"`: the merge saw both values and chose; counted apart in
//!    `merge_discarded`).
//!
//! Address additions are never replaced, so an address is lost whenever it is missing.
//!
//! **Causal or concurrent.** A lost update is *causal* when the store ordered an update from
//! its own past after it: under last-writer-wins, some `w` in `past(u)` has a greater stamp
//! than `u` (the clock that stamped `u` was behind the one that stamped `w`: skew made an
//! older write win); under vector clocks, the final field holds a value from `past(u)`, or
//! a merge dropped `u` for one (the clocks took causally ordered values for concurrent ones).
//! Every other lost update is *concurrent*: the values that won over it were written without
//! knowing it. Hybrid logical clocks stamp every update above everything in its past, so they
//! never lose a causal one; neither clock saves concurrent ones, which last-writer-wins
//! discards by design.
//!
//! **Siblings.** Under vector clocks every set of sibling values (logged whenever a field
//! holds several, and in the final profile) must be pairwise concurrent: `siblings_concurrent`.

use super::clocks::{Stamp, UpdateId};
use super::merge::{Field, Resolution, State};
use super::{device::UPDATE, Policy, Role, Setup, VersionedNode};
use sim::history::{EventType, History, Value};
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::World;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A replica's disk record: its state after a change, its clocks, and what happened.
#[derive(Clone, Debug)]
pub struct Stored {
    pub state: State,
    pub seq: u64,
    pub hlc: super::clocks::Hlc,
    pub events: Rc<Vec<Event>>,
}

/// What a replica logged with a state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// It accepted update `id` from a device that had read the updates `deps`.
    Wrote {
        id: UpdateId,
        field: Field,
        replica: u32,
        /// Its stamp under last-writer-wins (`Stamp::ZERO` under vector clocks).
        stamp: Stamp,
        deps: Vec<UpdateId>,
    },
    /// A scalar field of the stored profile came to hold these concurrent values (the
    /// application merge's view shows one of them).
    Siblings { field: Field, values: Vec<UpdateId> },
    /// The application merge's view newly resolved a field (logged once per replica while the
    /// view keeps making the same choice).
    Resolved(Resolution),
}

/// An update as the ledger knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub field: Field,
    pub replica: u32,
    pub stamp: Stamp,
    pub deps: Vec<UpdateId>,
}

/// Everything the replicas logged.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub updates: BTreeMap<UpdateId, Update>,
    pub siblings: Vec<(Field, Vec<UpdateId>)>,
    pub resolutions: Vec<Resolution>,
}

impl Ledger {
    pub fn add(&mut self, e: &Event) {
        match e {
            Event::Wrote {
                id,
                field,
                replica,
                stamp,
                deps,
            } => {
                self.updates.entry(*id).or_insert_with(|| Update {
                    field: *field,
                    replica: *replica,
                    stamp: *stamp,
                    deps: deps.clone(),
                });
            }
            Event::Siblings { field, values } => self.siblings.push((*field, values.clone())),
            Event::Resolved(r) => self.resolutions.push(r.clone()),
        }
    }
}

/// The causal past of every update in a ledger, as bitsets over the updates in id order.
pub struct Past {
    index: BTreeMap<UpdateId, usize>,
    words: usize,
    bits: Vec<u64>,
    /// Per update, the greatest (stamp, id) in its past: under last-writer-wins, the
    /// strongest record it had seen.
    max_past: Vec<Option<(Stamp, UpdateId)>>,
    /// Per scalar field, the union of the pasts of the updates that wrote it: the updates
    /// some later write of that field had seen.
    seen_by_writer: [Vec<u64>; 2],
}

impl Past {
    /// The most updates a run's causal analysis covers: the pasts take n²/8 bytes (112 MiB
    /// here). Past it, the loss and sibling verdicts are `unknown`.
    pub const MAX_UPDATES: usize = 30_000;

    pub fn new(ledger: &Ledger) -> Past {
        let index: BTreeMap<UpdateId, usize> = ledger
            .updates
            .keys()
            .enumerate()
            .map(|(i, &id)| (id, i))
            .collect();
        let n = index.len();
        let words = n.div_ceil(64);
        let mut bits = vec![0u64; n * words];
        let deps: Vec<Vec<usize>> = ledger
            .updates
            .values()
            .map(|u| {
                u.deps
                    .iter()
                    .filter_map(|d| index.get(d).copied())
                    .collect()
            })
            .collect();
        // Iterative depth-first closure: deps were written before their dependents, so the
        // graph has no cycle; 0 unvisited, 1 open, 2 done. `finished` numbers updates in a
        // topological order, and an update's deps are folded in from the latest finished
        // down, skipping those already in its past: usually one or two bitset unions per
        // update, however many values it read.
        let keys: Vec<(Stamp, UpdateId)> = ledger
            .updates
            .iter()
            .map(|(&id, u)| (u.stamp, id))
            .collect();
        let mut max_past: Vec<Option<(Stamp, UpdateId)>> = vec![None; n];
        let mut mark = vec![0u8; n];
        let mut finished = vec![0usize; n];
        let mut next = 0;
        let mut stack = Vec::new();
        let mut order: Vec<usize> = Vec::new();
        for root in 0..n {
            stack.push(root);
            while let Some(&x) = stack.last() {
                match mark[x] {
                    2 => {
                        stack.pop();
                    }
                    0 => {
                        mark[x] = 1;
                        stack.extend(deps[x].iter().filter(|&&d| mark[d] == 0 && d != x));
                    }
                    _ => {
                        max_past[x] = deps[x]
                            .iter()
                            .filter(|&&d| d != x && mark[d] == 2)
                            .map(|&d| max_past[d].map_or(keys[d], |m| m.max(keys[d])))
                            .max();
                        order.clear();
                        order.extend(deps[x].iter().copied().filter(|&d| d != x && mark[d] == 2));
                        order.sort_unstable_by_key(|&d| std::cmp::Reverse(finished[d]));
                        for &d in &order {
                            if bits[x * words + d / 64] & (1 << (d % 64)) != 0 {
                                continue;
                            }
                            for w in 0..words {
                                let v = bits[d * words + w];
                                bits[x * words + w] |= v;
                            }
                            bits[x * words + d / 64] |= 1 << (d % 64);
                        }
                        mark[x] = 2;
                        finished[x] = next;
                        next += 1;
                        stack.pop();
                    }
                }
            }
        }
        let mut seen_by_writer = [vec![0u64; words], vec![0u64; words]];
        for (x, u) in ledger.updates.values().enumerate() {
            if let f @ (Field::Name | Field::Email) = u.field {
                let union = &mut seen_by_writer[f as usize];
                for w in 0..words {
                    union[w] |= bits[x * words + w];
                }
            }
        }
        Past {
            index,
            words,
            bits,
            max_past,
            seen_by_writer,
        }
    }

    /// Whether an update that wrote scalar field `f` had `u` in its past.
    pub fn replaced(&self, f: Field, u: UpdateId) -> bool {
        match (f, self.index.get(&u)) {
            (Field::Name | Field::Email, Some(&i)) => {
                self.seen_by_writer[f as usize][i / 64] & (1 << (i % 64)) != 0
            }
            _ => false,
        }
    }

    /// The greatest (stamp, id) in `u`'s past.
    pub fn max_past(&self, u: UpdateId) -> Option<(Stamp, UpdateId)> {
        self.index.get(&u).and_then(|&i| self.max_past[i])
    }

    /// Whether `earlier` is in the causal past of `later`.
    pub fn follows(&self, later: UpdateId, earlier: UpdateId) -> bool {
        match (self.index.get(&later), self.index.get(&earlier)) {
            (Some(&l), Some(&e)) => self.bits[l * self.words + e / 64] & (1 << (e % 64)) != 0,
            _ => false,
        }
    }

    pub fn concurrent(&self, a: UpdateId, b: UpdateId) -> bool {
        !self.follows(a, b) && !self.follows(b, a)
    }
}

/// The acknowledged updates judged against a final state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    pub causal: Vec<UpdateId>,
    pub concurrent: Vec<UpdateId>,
    /// Acknowledged but in no replica's log (cannot happen: replicas sync before they
    /// acknowledge; counted as concurrent losses if it does).
    pub unlogged: Vec<UpdateId>,
    /// Dropped by an application merge that saw a concurrent value: not silent.
    pub merge_discarded: Vec<UpdateId>,
}

/// Judges every acknowledged update against `last` (see the module doc).
pub fn classify(
    ledger: &Ledger,
    past: &Past,
    acked: &[UpdateId],
    last: &State,
    policy: Policy,
) -> Losses {
    let mut out = Losses::default();
    // The first merge that dropped each value.
    let mut dropped_by: BTreeMap<UpdateId, usize> = BTreeMap::new();
    for (i, r) in ledger.resolutions.iter().enumerate() {
        for &d in &r.dropped {
            dropped_by.entry(d).or_insert(i);
        }
    }
    for &u in acked {
        let Some(up) = ledger.updates.get(&u) else {
            out.unlogged.push(u);
            continue;
        };
        if last.holds(up.field, u) {
            continue;
        }
        if past.replaced(up.field, u) {
            continue; // replaced by an update that had seen it
        }
        let merged = dropped_by.get(&u).map(|&i| &ledger.resolutions[i]);
        if let Some(r) = merged {
            if past.concurrent(u, r.kept) {
                out.merge_discarded.push(u);
                continue;
            }
        }
        let causal = match policy {
            Policy::LwwWall | Policy::LwwHlc => past.max_past(u) > Some((up.stamp, u)),
            Policy::VectorClocks => {
                merged.is_some_and(|r| past.follows(u, r.kept))
                    || last.values(up.field).any(|v| past.follows(u, v))
            }
        };
        if causal {
            out.causal.push(u);
        } else {
            out.concurrent.push(u);
        }
    }
    out
}

/// Sibling sets whose values are not pairwise concurrent: (field, earlier, later).
fn false_siblings<'a>(
    sets: impl Iterator<Item = (Field, &'a [UpdateId])>,
    past: &Past,
) -> Vec<(Field, UpdateId, UpdateId)> {
    let mut out = Vec::new();
    for (f, values) in sets {
        for (i, &a) in values.iter().enumerate() {
            for &b in &values[i + 1..] {
                if past.follows(b, a) {
                    out.push((f, a, b));
                } else if past.follows(a, b) {
                    out.push((f, b, a));
                }
            }
        }
    }
    out
}

/// Every verdict and the end-of-run metrics.
pub fn judge(
    world: &World<'_, VersionedNode>,
    s: &Setup,
    history: &History,
    metrics: &mut Metrics,
) -> Vec<Verdict> {
    let mut ledger = Ledger::default();
    for &r in &s.replicas {
        for rec in world.disk(r).synced() {
            rec.events.iter().for_each(|e| ledger.add(e));
        }
    }
    let acked: Vec<UpdateId> = history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f == UPDATE)
        .filter_map(|e| match e.value {
            Value::Int(v) => Some(v as u64),
            _ => None,
        })
        .collect();
    metrics.add("updates_acked", acked.len() as u64);

    // The replicas' states at the end (a replica down at the end, only without a settle
    // phase, is left out).
    let states: Vec<(usize, &State, u64)> = s
        .replicas
        .iter()
        .enumerate()
        .filter_map(
            |(i, &r)| match world.nodes[r.index()].as_ref().map(|n| &n.role) {
                Some(Role::Replica(rep)) => Some((i, rep.state(), rep.value_digest)),
                _ => None,
            },
        )
        .collect();
    let convergence = convergence(world, s, &states);
    let Some(&(_, last, _)) = states.first() else {
        return vec![
            convergence,
            Verdict::unknown("no_silent_loss", "no replica is up at the end"),
            Verdict::unknown("siblings_concurrent", "no replica is up at the end"),
        ];
    };

    if ledger.updates.len() > Past::MAX_UPDATES {
        let why = format!(
            "{} updates, more than the causal analysis covers ({})",
            ledger.updates.len(),
            Past::MAX_UPDATES
        );
        return vec![
            convergence,
            Verdict::unknown("no_silent_loss", why.clone()),
            Verdict::unknown("siblings_concurrent", why),
        ];
    }
    let past = Past::new(&ledger);
    let losses = classify(&ledger, &past, &acked, last, s.params.policy);
    let causal = losses.causal.len() as u64;
    let concurrent = (losses.concurrent.len() + losses.unlogged.len()) as u64;
    metrics.add("lost_updates_causal", causal);
    metrics.add("lost_updates_concurrent", concurrent);
    metrics.add("merges", ledger.resolutions.len() as u64);
    metrics.add("merge_discarded", losses.merge_discarded.len() as u64);
    let siblings_max = ledger
        .siblings
        .iter()
        .map(|(_, v)| v.len())
        .chain(states.iter().map(|(_, st, _)| st.siblings()))
        .max()
        .unwrap_or(0);
    metrics.add("siblings_max", siblings_max as u64);

    let describe = |u: UpdateId| match ledger.updates.get(&u) {
        Some(up) => format!(
            "update {u:#x} ({} at {})",
            up.field.text(),
            world.name(s.replicas[up.replica as usize])
        ),
        None => format!("update {u:#x} (in no replica's log)"),
    };
    let no_silent_loss = if causal + concurrent == 0 {
        Verdict::holds(
            "no_silent_loss",
            format!(
                "every one of {} acknowledged updates is in the final profile or was replaced by an update that had seen it",
                acked.len()
            ),
        )
    } else {
        let first = losses
            .causal
            .first()
            .or(losses.concurrent.first())
            .or(losses.unlogged.first())
            .copied()
            .expect("a loss");
        Verdict::violated(
            "no_silent_loss",
            format!(
                "{} of {} acknowledged updates silently lost: {causal} causally later than an update that won over them, {concurrent} concurrent with the winner; first: {}",
                causal + concurrent,
                acked.len(),
                describe(first)
            ),
        )
    };

    let final_sets: Vec<(Field, Vec<UpdateId>)> = states
        .iter()
        .flat_map(|(_, st, _)| {
            [Field::Name, Field::Email]
                .into_iter()
                .map(|f| (f, st.values(f).collect::<Vec<_>>()))
        })
        .collect();
    let bad = false_siblings(
        ledger
            .siblings
            .iter()
            .chain(&final_sets)
            .map(|(f, v)| (*f, v.as_slice())),
        &past,
    );
    let siblings_concurrent = match bad.first() {
        None => Verdict::holds(
            "siblings_concurrent",
            format!("every set of siblings was concurrent (at most {siblings_max} values in one field)"),
        ),
        Some(&(f, a, b)) => Verdict::violated(
            "siblings_concurrent",
            format!(
                "{} sibling pair(s) were causally ordered; first: in {}, {} beside {}, which had read it",
                bad.len(),
                f.text(),
                describe(a),
                describe(b)
            ),
        ),
    };
    vec![convergence, no_silent_loss, siblings_concurrent]
}

fn convergence(
    world: &World<'_, VersionedNode>,
    s: &Setup,
    states: &[(usize, &State, u64)],
) -> Verdict {
    if let Some(unknown) = world.unsettled("convergence") {
        return unknown;
    }
    if states.len() < s.replicas.len() {
        return Verdict::violated(
            "convergence",
            "a replica is down at the end of the settle phase",
        );
    }
    let (_, first, digest) = states[0];
    let differ: Vec<String> = states
        .iter()
        .filter(|(_, _, d)| *d != digest)
        .map(|&(i, st, _)| summary(world.name(s.replicas[i]), st))
        .collect();
    if differ.is_empty() {
        Verdict::holds(
            "convergence",
            format!(
                "all {} replicas hold the same profile after settling",
                s.replicas.len()
            ),
        )
    } else {
        Verdict::violated(
            "convergence",
            format!(
                "{} differs from {}",
                summary(world.name(s.replicas[0]), first),
                differ.join(", ")
            ),
        )
    }
}

fn summary(name: &str, st: &State) -> String {
    match st {
        State::Lww(r) => format!(
            "{name} (record by {:#x}, timestamp {} ns, node {})",
            r.by, r.stamp.ts, r.stamp.node
        ),
        State::Causal(c) => format!("{name} (clock {:?})", c.ctx.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versioning::clocks::{Dot, VClock};
    use crate::versioning::merge::{Causal, Entry, Record};

    fn stamp(ts: i64, node: u32) -> Stamp {
        Stamp {
            ts,
            c: 0,
            node,
            seq: 0,
        }
    }

    /// A ledger from (id, field, stamp, deps).
    fn ledger(updates: &[(UpdateId, Field, Stamp, &[UpdateId])]) -> Ledger {
        let mut l = Ledger::default();
        for &(id, field, stamp, deps) in updates {
            l.add(&Event::Wrote {
                id,
                field,
                replica: stamp.node,
                stamp,
                deps: deps.to_vec(),
            });
        }
        l
    }

    fn lww(by: UpdateId, name: UpdateId, email: UpdateId, addresses: &[UpdateId]) -> State {
        State::Lww(Rc::new(Record {
            stamp: Stamp::ZERO,
            by,
            name,
            email,
            addresses: addresses.to_vec(),
        }))
    }

    #[test]
    fn past_is_the_transitive_closure_of_reads() {
        let l = ledger(&[
            (1, Field::Name, stamp(1, 0), &[]),
            (2, Field::Email, stamp(2, 0), &[1]),
            (3, Field::Name, stamp(3, 1), &[2]),
            (4, Field::Name, stamp(4, 1), &[]),
        ]);
        let p = Past::new(&l);
        assert!(p.follows(3, 1) && p.follows(3, 2) && p.follows(2, 1));
        assert!(!p.follows(1, 3) && p.concurrent(4, 3) && p.concurrent(4, 1));
    }

    #[test]
    fn skew_makes_an_older_write_win_a_causal_loss() {
        // 1 is written at a replica whose clock is ahead (t=100); 2 read it and was written
        // at a replica behind (t=50): the record of 1 wins, 2 is lost causally.
        let l = ledger(&[
            (1, Field::Name, stamp(100, 0), &[]),
            (2, Field::Name, stamp(50, 1), &[1]),
        ]);
        let p = Past::new(&l);
        let out = classify(&l, &p, &[1, 2], &lww(1, 1, 0, &[]), Policy::LwwWall);
        assert_eq!(out.causal, vec![2]);
        assert!(
            out.concurrent.is_empty(),
            "1 was replaced by 2, which had seen it"
        );
    }

    #[test]
    fn a_concurrent_overwrite_of_the_whole_record_is_a_concurrent_loss() {
        // 1 sets the email; 2, concurrent, sets the name on the empty record and wins: the
        // whole record of 2 carries no email, so 1 is lost, concurrently.
        let l = ledger(&[
            (1, Field::Email, stamp(10, 0), &[]),
            (2, Field::Name, stamp(20, 1), &[]),
        ]);
        let p = Past::new(&l);
        let out = classify(&l, &p, &[1, 2], &lww(2, 2, 0, &[]), Policy::LwwWall);
        assert_eq!((out.causal, out.concurrent), (vec![], vec![1]));
    }

    #[test]
    fn a_loss_to_a_successor_of_an_older_write_is_still_causal() {
        // 1 (ahead, t=100) <- 2 (behind, t=50; read 1, set email); 3 read 1 and set the
        // address at t=120, winning: 2 is lost, and it lost first to its own past (1).
        let l = ledger(&[
            (1, Field::Name, stamp(100, 0), &[]),
            (2, Field::Email, stamp(50, 1), &[1]),
            (3, Field::Address, stamp(120, 0), &[1]),
        ]);
        let p = Past::new(&l);
        let out = classify(&l, &p, &[1, 2, 3], &lww(3, 1, 0, &[3]), Policy::LwwWall);
        assert_eq!((out.causal, out.concurrent), (vec![2], vec![]));
    }

    #[test]
    fn addresses_are_never_replaced_and_kept_ones_are_not_lost() {
        let l = ledger(&[
            (1, Field::Address, stamp(1, 0), &[]),
            (2, Field::Address, stamp(2, 1), &[1]),
            (3, Field::Address, stamp(3, 2), &[]),
        ]);
        let p = Past::new(&l);
        // 3 won over 2 (concurrent) and carries only its own address: 1 and 2 are lost.
        let out = classify(&l, &p, &[1, 2, 3], &lww(3, 0, 0, &[3]), Policy::LwwHlc);
        assert_eq!(out.concurrent, vec![1, 2]);
    }

    #[test]
    fn vector_clock_merges_that_saw_both_values_are_not_silent() {
        let mut l = ledger(&[
            (1, Field::Name, Stamp::ZERO, &[]),
            (2, Field::Name, Stamp::ZERO, &[]),
            (3, Field::Name, Stamp::ZERO, &[1]),
        ]);
        l.add(&Event::Resolved(Resolution {
            field: Field::Name,
            kept: 2,
            dropped: vec![1],
        }));
        l.add(&Event::Resolved(Resolution {
            field: Field::Name,
            kept: 1,
            dropped: vec![3],
        }));
        let p = Past::new(&l);
        let mut c = Causal::new(1);
        c.ctx = VClock(vec![3]);
        c.fields[Field::Name as usize] = vec![Entry {
            dot: Dot {
                counter: 2,
                replica: 0,
            },
            value: 2,
        }];
        let last = State::Causal(Rc::new(c));
        // 1 is replaced by 3 (which read it); 3 was dropped for 1, its own past: causal.
        let out = classify(&l, &p, &[1, 2, 3], &last, Policy::VectorClocks);
        assert_eq!(out.causal, vec![3]);
        assert!(out.concurrent.is_empty() && out.merge_discarded.is_empty());
        let out = classify(
            &l,
            &p,
            &[2],
            &State::Causal(Rc::new(Causal::new(1))),
            Policy::VectorClocks,
        );
        assert_eq!(out.concurrent, vec![2]);
    }

    #[test]
    fn false_siblings_are_found() {
        let l = ledger(&[
            (1, Field::Name, Stamp::ZERO, &[]),
            (2, Field::Name, Stamp::ZERO, &[1]),
            (3, Field::Name, Stamp::ZERO, &[]),
        ]);
        let p = Past::new(&l);
        let sets = [(Field::Name, vec![1, 3]), (Field::Name, vec![1, 2, 3])];
        let bad = false_siblings(sets.iter().map(|(f, v)| (*f, v.as_slice())), &p);
        assert_eq!(bad, vec![(Field::Name, 1, 2)]);
    }
}
