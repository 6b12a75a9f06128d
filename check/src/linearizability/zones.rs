//! Unique-value registers in O(n log n): the zone test.
//!
//! When every write of an object writes a distinct value, each read names the one write it
//! read (the *read-mapping*), and linearizability of a read/write register stops being
//! NP-complete: Gibbons & Korach, "Testing shared memories", SIAM J. Computing 26(4), 1997,
//! decide it in O(n log n). This module uses the characterization by *zones* given with that
//! read-mapping by Golab, Li & Shah, "Analyzing consistency properties for fun and profit",
//! PODC 2011 (§3, the atomicity test).
//!
//! Group each write with the reads of its value into a *cluster*. For a cluster, let `f` be the
//! least response and `s` the greatest invocation over its operations: the cluster's zone is
//! *forward*, the interval `[f, s]`, when `f < s`, and *backward*, `[s, f]`, otherwise. The
//! history is linearizable iff
//!
//! - (a) no read completes before the write of its value is invoked (and every read's value
//!   has a write, or is the initial value),
//! - (b) no two forward zones overlap, and
//! - (c) no backward zone lies inside a forward zone.
//!
//! Times are event indices, all distinct, so every comparison is strict.
//!
//! **When it applies**: only `read` and `write` steps (no cas, failed or not, no append), no
//! two writes of one value, no write of the initial value, every read complete. Otherwise
//! [`check`] answers [`Zones::NotApplicable`] and the general search decides.
//!
//! **Indeterminate writes**, exactly:
//! - one whose value nobody reads may have taken effect or not; with neither cas nor appends
//!   dropping it changes nothing (the rule `partition::prune_info` applies). Here its
//!   response is taken as +∞, so its zone `[call, +∞]` is backward and inside no forward
//!   zone, and it changes no answer: the same as dropping it.
//! - one whose value some read returned must be linearized before that read, so before the
//!   earliest such read's response `r`: the history is linearizable iff it is with the write
//!   completing just after `r` (what `prune_info`'s *close* does). Either way the cluster's
//!   `f` is `r` (a read's response is less), the write's response enters nothing else, so
//!   taking it as +∞ is exact.
//!
//! **The initial value**: reads of it must precede every write (no write writes it again).
//! They form a cluster whose write is a virtual write completed at time 0, before every event:
//! a history is linearizable iff it is with such a write prepended (of the initial value, onto
//! a fresh value nobody reads), and the test is exact on that history.
//!
//! The caller (`partition`) takes [`Zones::Linearizable`] as the object's verdict; on
//! [`Zones::Violation`] it runs the general path anyway, so that the search's explanation
//! names the operation that cannot be placed.

use super::explain::{self, Explanation};
use super::model::{Step, INITIAL};
use super::partition::{Outcome, Part};
use super::search::SearchOp;
use super::Stats;
use crate::history::Operation;

/// What the zone test says about one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Zones {
    Linearizable,
    Violation(Refutation),
    /// Not a unique-value read/write object: the general search must decide.
    NotApplicable,
}

/// Why the zone test refuted an object, by search indices of its operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refutation {
    /// (a): a read; (b), (c): the operation invoked last on the value of the forward zone.
    pub blocked: usize,
    pub rule: Rule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    /// (a): the read's write, if there is one, was invoked after the read completed.
    ReadBeforeWrite { write: Option<usize> },
    /// (b): `blocked`'s value's zone starts at the completion of `first` (`None`: the initial
    /// value, from the start) and overlaps the forward zone of another value, from the
    /// completion of `other_first` to the invocation of `other_last`.
    Overlap {
        first: Option<usize>,
        other_first: usize,
        other_last: usize,
    },
    /// (c): every operation on another value (`inner`, one of them) lies between the
    /// completion of `first` and the invocation of `blocked`, both on `blocked`'s value.
    Inside { first: Option<usize>, inner: usize },
}

/// One cluster's zone: times, and the operations (search indices) that bound it.
#[derive(Clone, Copy)]
struct Zone {
    f: u64,
    s: u64,
    f_op: Option<usize>,
    s_op: usize,
}

/// The zone test on one object's search operations (see the module).
pub(crate) fn check(ops: &[SearchOp]) -> Zones {
    let mut values = INITIAL as usize + 1;
    for o in ops {
        match (o.step, o.ret) {
            (Step::Write(v), _) | (Step::Read(v), Some(_)) => values = values.max(v as usize + 1),
            _ => return Zones::NotApplicable,
        }
    }
    const NONE: u32 = u32::MAX;
    let mut writer = vec![NONE; values];
    for (i, o) in ops.iter().enumerate() {
        if let Step::Write(v) = o.step {
            if v == INITIAL || writer[v as usize] != NONE {
                return Zones::NotApplicable;
            }
            writer[v as usize] = i as u32;
        }
    }
    // Times are event indices + 1, so that 0 is before every event (the initial value's
    // virtual write); an indeterminate (or closed) write's response is +∞.
    let mut zone: Vec<Option<Zone>> = vec![None; values];
    for (i, o) in ops.iter().enumerate() {
        let (v, read) = match o.step {
            Step::Read(v) => (v as usize, true),
            Step::Write(v) => (v as usize, false),
            _ => return Zones::NotApplicable,
        };
        let call = o.call as u64 + 1;
        let ret = match o.ret {
            Some(r) if !o.closed => r as u64 + 1,
            _ => u64::MAX,
        };
        if read && v != INITIAL as usize {
            // (a): the read's write exists and is invoked before the read completes.
            let w = writer[v];
            if w == NONE || ret < ops[w as usize].call as u64 + 1 {
                let write = (w != NONE).then_some(w as usize);
                return Zones::Violation(Refutation {
                    blocked: i,
                    rule: Rule::ReadBeforeWrite { write },
                });
            }
        }
        let z = zone[v].get_or_insert(Zone {
            f: ret,
            s: call,
            f_op: Some(i),
            s_op: i,
        });
        if ret < z.f {
            (z.f, z.f_op) = (ret, Some(i));
        }
        if call > z.s {
            (z.s, z.s_op) = (call, i);
        }
    }
    if let Some(z) = &mut zone[INITIAL as usize] {
        (z.f, z.f_op) = (0, None);
    }
    let (mut forward, backward): (Vec<Zone>, Vec<Zone>) =
        zone.into_iter().flatten().partition(|z| z.f < z.s);
    forward.sort_unstable_by_key(|z| z.f);
    // (b): sorted by start, pairwise disjoint iff each starts after the previous one ends.
    if let Some(w) = forward.windows(2).find(|w| w[1].f < w[0].s) {
        return Zones::Violation(Refutation {
            blocked: w[0].s_op,
            rule: Rule::Overlap {
                first: w[0].f_op,
                other_first: w[1].f_op.unwrap_or(w[1].s_op),
                other_last: w[1].s_op,
            },
        });
    }
    // (c): disjoint and sorted, the only forward zone that may hold a backward one is the last
    // to start before it.
    for b in &backward {
        let i = forward.partition_point(|z| z.f < b.s);
        if i > 0 && b.f < forward[i - 1].s {
            return Zones::Violation(Refutation {
                blocked: forward[i - 1].s_op,
                rule: Rule::Inside {
                    first: forward[i - 1].f_op,
                    inner: b.s_op,
                },
            });
        }
    }
    Zones::Linearizable
}

/// The object's outcome when the general search, run for the explanation, could not decide
/// (`outcome` unknown) although the zone test refuted the object `refuted`: not linearizable,
/// explained by the zone test. Any other outcome stands.
pub(crate) fn settle(
    outcome: Outcome,
    refuted: Option<(usize, Refutation)>,
    ops: &[Operation],
    parts: &[Part],
    stats: &mut Stats,
) -> Outcome {
    match (outcome, refuted) {
        (Outcome::Unknown(why), Some((p, r))) => {
            stats.algorithm = "zones";
            Outcome::Violation(Box::new(explanation(ops, &parts[p], r, &why)))
        }
        (outcome, _) => outcome,
    }
}

fn explanation(ops: &[Operation], part: &Part, r: Refutation, unknown: &str) -> Explanation {
    let op = |i: usize| &ops[part.src[i]];
    let what = |i: usize| explain::describe(op(i));
    let value = |i: usize| explain::shown_value(op(i)).to_string();
    let obj = explain::object(part);
    let b = r.blocked;
    let since = |first: Option<usize>| match first {
        Some(f) => format!("from the completion of {}", what(f)),
        None => "from the start (the initial value)".into(),
    };
    let reason = match r.rule {
        Rule::ReadBeforeWrite { write: Some(w) } => format!(
            "{} returned {} but the write of that value, {}, was invoked after it completed",
            what(b),
            value(b),
            what(w)
        ),
        Rule::ReadBeforeWrite { write: None } => format!(
            "{} returned {} but no write to the {obj} writes that value",
            what(b),
            value(b)
        ),
        Rule::Overlap {
            first,
            other_first,
            other_last,
        } => format!(
            "{} saw {}, seen {}, but meanwhile another value, {}, was seen from the completion of {} to the invocation of {}: with every value written once, neither can take effect wholly before the other (zone test)",
            what(b),
            value(b),
            since(first),
            value(other_last),
            what(other_first),
            what(other_last)
        ),
        Rule::Inside { first, inner } => format!(
            "{} saw {}, seen {}, but every operation on {} ({} among them) took place in between: with every value written once, the {obj} cannot hold {} again (zone test)",
            what(b),
            value(b),
            since(first),
            value(inner),
            what(inner),
            value(b)
        ),
    };
    Explanation {
        key: part.key.map(str::to_owned),
        blocked: explain::summary(ops, part.src[b]),
        reason: format!("{reason}; the search for a linearizable prefix gave up ({unknown})"),
        could_hold: Vec::new(),
        prefix: None,
        state_after_prefix: None,
        concurrent: explain::concurrent(ops, part, b, &[]),
    }
}

/// `stats.algorithm` when the zone test decided some objects (`by_zones`), `others` says
/// whether any other object was searched, and `rest` names what searched them.
pub(crate) fn algorithm(by_zones: bool, others: bool, rest: &'static str) -> &'static str {
    match (by_zones, others, rest) {
        (false, _, r) => r,
        (true, false, _) => "zones",
        (true, true, "jit") => "zones+jit",
        (true, true, "wgl") => "zones+wgl",
        (true, true, _) => "zones+jit+wgl",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{history, Config, Kind};
    use crate::history::{EventType, Value};
    use crate::linearizability::model::{Register, SequentialSpec};
    use crate::linearizability::partition::{prune_info, Part};
    use crate::linearizability::search::{Limits, Search, SearchResult, SearchStats};
    use crate::linearizability::{RegisterSpec, Verdict};

    fn search(ops: &[SearchOp]) -> bool {
        let mut s = Search::exact(ops, Register::default(), 0);
        let limits = Limits {
            deadline: None,
            max_bytes: 1 << 28,
            meter: None,
            cap: 1 << 28,
        };
        match s.run(limits, u64::MAX, &mut SearchStats::default()) {
            Some(SearchResult::Linearizable) => true,
            Some(SearchResult::Violation(_)) => false,
            r => panic!("search: {r:?}"),
        }
    }

    fn verdict(z: Zones) -> Verdict {
        match z {
            Zones::Linearizable => Verdict::Linearizable,
            Zones::Violation(_) => Verdict::NotLinearizable,
            Zones::NotApplicable => Verdict::Unknown,
        }
    }

    fn rule(ops: &[SearchOp]) -> Rule {
        match check(ops) {
            Zones::Violation(r) => r.rule,
            z => panic!("{z:?}"),
        }
    }

    /// Each hand-made history: the zone test's answer, which the search confirms.
    fn assert_zones(ops: &[SearchOp], want: Verdict) {
        assert_eq!(verdict(check(ops)), want);
        assert_eq!(search(ops), want == Verdict::Linearizable);
    }

    #[test]
    fn rule_a_a_read_completing_before_its_write_is_invoked() {
        // read 1 [0, 1], then write 1 [2, 3].
        assert_zones(
            &[
                SearchOp::new(Step::Read(1), 0, Some(1)),
                SearchOp::new(Step::Write(1), 2, Some(3)),
            ],
            Verdict::NotLinearizable,
        );
        let ops = [
            SearchOp::new(Step::Read(1), 0, Some(1)),
            SearchOp::new(Step::Write(1), 2, Some(3)),
        ];
        assert_eq!(rule(&ops), Rule::ReadBeforeWrite { write: Some(1) });
        // Concurrent, it may read it.
        assert_zones(
            &[
                SearchOp::new(Step::Read(1), 0, Some(2)),
                SearchOp::new(Step::Write(1), 1, Some(3)),
            ],
            Verdict::Linearizable,
        );
    }

    #[test]
    fn rule_b_two_forward_zones_overlapping() {
        // write 1 [0, 1], write 2 [2, 3], read 1 [4, 5], read 2 [6, 7]: both clusters'
        // zones are forward, [1, 4] and [3, 6], and overlap — 1 was overwritten by 2 before
        // read 1, which read it, and 1 is never written again.
        let ops = [
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(2), 2, Some(3)),
            SearchOp::new(Step::Read(1), 4, Some(5)),
            SearchOp::new(Step::Read(2), 6, Some(7)),
        ];
        assert_zones(&ops, Verdict::NotLinearizable);
        assert_eq!(
            rule(&ops),
            Rule::Overlap {
                first: Some(0),
                other_first: 1,
                other_last: 3
            }
        );
        // With read 1 before write 2, the zones [1, 2] and [5, 6] are apart: linearizable.
        let ok = [
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Read(1), 2, Some(3)),
            SearchOp::new(Step::Write(2), 4, Some(5)),
            SearchOp::new(Step::Read(2), 6, Some(7)),
        ];
        assert_zones(&ok, Verdict::Linearizable);
    }

    #[test]
    fn rule_c_a_backward_zone_inside_a_forward_zone() {
        // write 1 [0, 1], write 2 [2, 3], read 1 [4, 5]: 1's zone is forward [1, 4], 2's
        // (a write alone) backward [2, 3], inside it: write 2 completed between write 1 and
        // the read of 1.
        let ops = [
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(2), 2, Some(3)),
            SearchOp::new(Step::Read(1), 4, Some(5)),
        ];
        assert_zones(&ops, Verdict::NotLinearizable);
        assert_eq!(
            rule(&ops),
            Rule::Inside {
                first: Some(0),
                inner: 1
            }
        );
        // Write 2 concurrent with the read ([3, 6]): its zone sticks out, linearizable.
        let ok = [
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(2), 3, Some(6)),
            SearchOp::new(Step::Read(1), 4, Some(5)),
        ];
        assert_zones(&ok, Verdict::Linearizable);
    }

    #[test]
    fn reads_of_the_initial_value_precede_every_write() {
        // write 1 [0, 1], read initial [2, 3]: never linearizable.
        assert_zones(
            &[
                SearchOp::new(Step::Write(1), 0, Some(1)),
                SearchOp::new(Step::Read(INITIAL), 2, Some(3)),
            ],
            Verdict::NotLinearizable,
        );
        // An indeterminate write 1 nobody reads, before the read: it may not have happened.
        assert_zones(
            &[
                SearchOp::new(Step::Write(1), 0, None),
                SearchOp::new(Step::Read(INITIAL), 2, Some(3)),
            ],
            Verdict::Linearizable,
        );
        // An indeterminate write 1 that a read returns: it happened before that read.
        assert_zones(
            &[
                SearchOp::new(Step::Write(1), 0, None),
                SearchOp::new(Step::Read(1), 1, Some(2)),
                SearchOp::new(Step::Read(INITIAL), 3, Some(4)),
            ],
            Verdict::NotLinearizable,
        );
    }

    #[test]
    fn cas_and_repeated_values_are_left_to_the_search() {
        let cas = [SearchOp::new(
            Step::Cas {
                expected: 0,
                new: 1,
            },
            0,
            Some(1),
        )];
        assert_eq!(check(&cas), Zones::NotApplicable);
        let twice = [
            SearchOp::new(Step::Write(1), 0, Some(1)),
            SearchOp::new(Step::Write(1), 2, Some(3)),
        ];
        assert_eq!(check(&twice), Zones::NotApplicable);
        let initial = [SearchOp::new(Step::Write(INITIAL), 0, Some(1))];
        assert_eq!(check(&initial), Zones::NotApplicable);
    }

    /// The zone test (on the operations as they are, and after `prune_info`) agrees with the
    /// exact Wing–Gong–Lowe search on thousands of generated unique-value register
    /// histories, with info operations, the generator's stale read, and reads made to return
    /// another value (any written value, a later one, or the initial one).
    #[test]
    fn zones_agree_with_the_search_on_generated_histories() {
        let mut rng = 0x2bad_5eedu64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n.max(1)
        };
        let mut verdicts = [0usize; 2];
        for seed in 0..4000u64 {
            let config = Config {
                kind: Kind::Register,
                operations: 8 + (seed % 50) as usize,
                processes: 2 + (seed % 5) as usize,
                info_percent: [0, 5, 20, 40][(seed % 4) as usize],
                cas: false,
                anomaly: seed % 5 == 1,
                think_ns: 1 + (seed % 3) * 50_000,
                seed,
                ..Config::default()
            };
            let mut h = history(&config);
            if seed % 5 == 2 {
                // Change one ok read's value.
                let reads: Vec<usize> = (0..h.events.len())
                    .filter(|&i| {
                        let e = &h.events[i];
                        e.kind == EventType::Ok && e.f == crate::history::OpFn::Read
                    })
                    .collect();
                if !reads.is_empty() {
                    let r = reads[next(reads.len() as u64) as usize];
                    let x = next(config.operations as u64 + 1) as i64;
                    h.events[r].value = if x == 0 { Value::Null } else { Value::Int(x) };
                }
            }
            let ops = h.operations().expect("valid");
            let mut object = Register::default();
            let mut p = Part {
                key: None,
                ops: Vec::new(),
                src: Vec::new(),
            };
            for (i, o) in ops.iter().enumerate() {
                if let Some(step) = RegisterSpec.step(o, &mut object) {
                    let ret = if o.outcome.is_indeterminate() {
                        None
                    } else {
                        o.complete.map(|c| c as u32)
                    };
                    p.ops.push(SearchOp::new(step, o.invoke as u32, ret));
                    p.src.push(i);
                }
            }
            let mut s = Search::exact(&p.ops, object, 0);
            let limits = Limits {
                deadline: None,
                max_bytes: 1 << 28,
                meter: None,
                cap: 1 << 28,
            };
            let want = match s.run(limits, u64::MAX, &mut SearchStats::default()) {
                Some(SearchResult::Linearizable) => Verdict::Linearizable,
                Some(SearchResult::Violation(_)) => Verdict::NotLinearizable,
                r => panic!("seed {seed}: search {r:?}"),
            };
            assert_eq!(verdict(check(&p.ops)), want, "seed {seed}, unpruned");
            prune_info(&mut p);
            assert_eq!(verdict(check(&p.ops)), want, "seed {seed}, pruned");
            verdicts[(want == Verdict::NotLinearizable) as usize] += 1;
        }
        assert!(verdicts[0] > 1500 && verdicts[1] > 800, "{verdicts:?}");
    }
}
