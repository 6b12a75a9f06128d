//! The versioned store's merges are commutative, associative and idempotent, so replicas
//! that receive the same versions in any order, any number of times, end equal: the
//! last-writer-wins merge (the maximum by (timestamp, node id, sequence, update)) on any
//! records, and the vector-clock join on profiles reachable by writes and merges, as stored
//! and as the application merge shows them (the view of a join is the same in any order).
//!
//! Proptest runs from a fixed seed (as `tests/fuzz.rs` does), so a test run is repeatable:
//! `CONSIM_PROPTEST_SEED` picks another seed and `CONSIM_PROPTEST_CASES` scales every
//! property's case count, to search further by hand.

use models::versioning::clocks::{Stamp, VClock};
use models::versioning::merge::{lww_merge, Causal, ClockMerge, Compare, Edit, Field, Record};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use std::rc::Rc;

/// `cases` cases (times `CONSIM_PROPTEST_CASES`/1000 when set) from a fixed seed, with no
/// failure file: the same inputs every run.
fn config(cases: u32) -> Config {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let cases =
        env("CONSIM_PROPTEST_CASES").map_or(cases, |c| (u64::from(cases) * c / 1000) as u32);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(env("CONSIM_PROPTEST_SEED").unwrap_or(0xC0_5113)),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

fn field(i: u8) -> Field {
    Field::ALL[(i % 3) as usize]
}

/// Five records, one per update: an update is written once, so its id fixes its stamp and
/// its content. Small stamp ranges, so that equal timestamps (the tie-break's case) are
/// common.
fn records() -> impl Strategy<Value = Vec<Rc<Record>>> {
    let stamp = (0i64..3, 0u32..2, 0u32..3, 0u64..2).prop_map(|(ts, c, node, seq)| Stamp {
        ts,
        c,
        node,
        seq,
    });
    prop::collection::vec(stamp, 5).prop_map(|stamps| {
        stamps
            .into_iter()
            .enumerate()
            .map(|(i, stamp)| {
                let id = i as u64 + 1;
                let edit = Edit {
                    field: field(i as u8),
                    id,
                };
                Rc::new(Record::empty().with_edit(edit, stamp))
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn lww_merge_is_commutative_associative_idempotent(
        r in records(),
        (i, j, k) in (0usize..5, 0usize..5, 0usize..5),
    ) {
        let (a, b, c) = (&r[i], &r[j], &r[k]);
        let m = |x: &Rc<Record>, y: &Rc<Record>| lww_merge(x, y, Compare::Total);
        prop_assert_eq!(m(a, b), m(b, a));
        prop_assert_eq!(m(&m(a, b), c), m(a, &m(b, c)));
        prop_assert_eq!(&m(a, a), a);
    }

    /// Without the node id in the comparison, two records with equal timestamps each win
    /// where they already are: the merge is not commutative (the `no-tiebreak` bug).
    #[test]
    fn timestamp_only_merge_is_not_commutative_on_ties(r in records()) {
        let (a, b) = (&r[0], &r[1]);
        let m = |x: &Rc<Record>, y: &Rc<Record>| lww_merge(x, y, Compare::TimestampOnly);
        let tie = (a.stamp.ts, a.stamp.c) == (b.stamp.ts, b.stamp.c);
        prop_assert_eq!(m(a, b) == m(b, a), !tie);
    }
}

/// A step of a random history over three replicas: a write at a replica by a device that
/// read some replica's state, or a merge of one replica's state into another's.
#[derive(Clone, Debug)]
enum Step {
    Write {
        at: usize,
        read_from_self: bool,
        field: u8,
    },
    Merge {
        from: usize,
        to: usize,
    },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0usize..3, any::<bool>(), 0u8..3).prop_map(|(at, read_from_self, field)| Step::Write {
            at,
            read_from_self,
            field
        }),
        (0usize..3, 0usize..3).prop_map(|(from, to)| Step::Merge { from, to }),
    ];
    prop::collection::vec(step, 0..40)
}

/// Three replicas' stored profiles after `steps` (a device always writes where it read, as
/// the model's devices do; `read_from_self` false reads an older snapshot of that replica).
/// A replica stores the join itself; the application merge is only a view of it, which is
/// all a device reads (its clock is the stored one), so it does not change what is stored.
/// `in_place` resolves the stored profile after every change instead (the old, wrong way).
fn replay(steps: &[Step], in_place: bool) -> Vec<Causal> {
    let mut reps = vec![Causal::new(3); 3];
    let mut snapshots: Vec<Vec<Causal>> = vec![vec![Causal::new(3)]; 3];
    let mut next_id = 1;
    for s in steps {
        match *s {
            Step::Write {
                at,
                read_from_self,
                field: f,
            } => {
                let seen = if read_from_self {
                    reps[at].ctx.clone()
                } else {
                    snapshots[at][snapshots[at].len() / 2].ctx.clone()
                };
                reps[at].write(
                    at as u32,
                    Edit {
                        field: field(f),
                        id: next_id,
                    },
                    &seen,
                );
                next_id += 1;
                if in_place {
                    reps[at].resolve();
                }
                snapshots[at].push(reps[at].clone());
            }
            Step::Merge { from, to } => {
                let other = reps[from].clone();
                reps[to].join(&other, ClockMerge::Join);
                if in_place {
                    reps[to].resolve();
                }
                snapshots[to].push(reps[to].clone());
            }
        }
    }
    reps
}

fn join(a: &Causal, b: &Causal) -> Causal {
    let mut out = a.clone();
    out.join(b, ClockMerge::Join);
    out
}

/// What a device reads: the application merge's view, or the stored profile.
fn view(c: &Causal, resolve: bool) -> Causal {
    if resolve {
        c.resolved().0
    } else {
        c.clone()
    }
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn vector_clock_join_is_commutative_associative_idempotent(s in steps(), resolve in any::<bool>()) {
        let r = replay(&s, false);
        let (a, b, c) = (&r[0], &r[1], &r[2]);
        let v = |x: &Causal| view(x, resolve);
        prop_assert_eq!(v(&join(a, b)), v(&join(b, a)));
        prop_assert_eq!(v(&join(&join(a, b), c)), v(&join(a, &join(b, c))));
        prop_assert_eq!(v(&join(a, a)), v(a));
    }
}

/// The recorded failure: resolving in the stored profile (the old application merge) made
/// the join depend on the order of merges. Replica 0 holds 7 (its third write), replica 1
/// holds 4, and replica 2 holds 8, written having read 4 but not 7. Resolving (7, 4) to 4 and
/// then merging 8 lost 7; merging 4 and 8 first and then 7 kept 7 and dropped 8. The view of
/// the stored join keeps 7 and 8 as siblings and shows 7 (the greater dot) either way.
#[test]
fn the_view_of_a_join_does_not_depend_on_the_order_of_merges() {
    let w = |at, field| Step::Write {
        at,
        read_from_self: false,
        field,
    };
    let s = [
        w(1, 0),
        w(1, 0),
        w(1, 0),
        w(1, 0),
        w(0, 0),
        w(0, 0),
        Step::Merge { from: 1, to: 2 },
        w(0, 0),
        w(2, 0),
    ];
    let r = replay(&s, false);
    let (a, b, c) = (&r[0], &r[1], &r[2]);
    let left = join(&join(a, b), c);
    let right = join(a, &join(b, c));
    assert_eq!(left, right);
    let values = |x: &Causal| {
        x.field(Field::Name)
            .iter()
            .map(|e| e.value)
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&left), vec![8, 6, 7]);
    assert_eq!(values(&view(&left, true)), vec![7]);
    // The old way: every replica resolved its stored profile after every change.
    let r = replay(&s, true);
    let (a, b, c) = (&r[0], &r[1], &r[2]);
    let resolved = |x: &Causal, y: &Causal| join(x, y).resolved().0;
    assert_eq!(values(&resolved(&resolved(a, b), c)), vec![8]);
    assert_eq!(values(&resolved(a, &resolved(b, c))), vec![7]);
    // Merging those two results keeps neither: each clock covers the other's value.
    assert!(values(&join(
        &resolved(&resolved(a, b), c),
        &resolved(a, &resolved(b, c))
    ))
    .is_empty());
    assert_ne!(resolved(&resolved(a, b), c), resolved(a, &resolved(b, c)));
}

#[test]
fn vclock_covers_what_it_joined() {
    let mut v = VClock::new(2);
    v.join(&VClock(vec![0, 4]));
    assert_eq!(v.0, vec![0, 4]);
}
