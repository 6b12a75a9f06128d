//! The versioned store's merges are commutative, associative and idempotent, so replicas
//! that receive the same versions in any order, any number of times, end equal: the
//! last-writer-wins merge (the maximum by (timestamp, node id, sequence, update)) on any
//! records, and the vector-clock join (with and without the application merge) on profiles
//! reachable by writes and merges.

use models::versioning::clocks::{Stamp, VClock};
use models::versioning::merge::{lww_merge, Causal, ClockMerge, Compare, Edit, Field, Record};
use proptest::prelude::*;
use std::rc::Rc;

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
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

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

/// Three replicas' profiles after `steps` (a device always writes where it read, as the
/// model's devices do; `read_from_self` false reads an older snapshot of that replica).
fn replay(steps: &[Step], resolve: bool) -> Vec<Causal> {
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
                if resolve {
                    reps[at].resolve();
                }
                snapshots[at].push(reps[at].clone());
            }
            Step::Merge { from, to } => {
                let other = reps[from].clone();
                reps[to].join(&other, ClockMerge::Join);
                if resolve {
                    reps[to].resolve();
                }
                snapshots[to].push(reps[to].clone());
            }
        }
    }
    reps
}

fn join(a: &Causal, b: &Causal, resolve: bool) -> Causal {
    let mut out = a.clone();
    out.join(b, ClockMerge::Join);
    if resolve {
        out.resolve();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn vector_clock_join_is_commutative_associative_idempotent(s in steps(), resolve in any::<bool>()) {
        let r = replay(&s, resolve);
        let (a, b, c) = (&r[0], &r[1], &r[2]);
        prop_assert_eq!(join(a, b, resolve), join(b, a, resolve));
        prop_assert_eq!(join(&join(a, b, resolve), c, resolve), join(a, &join(b, c, resolve), resolve));
        prop_assert_eq!(&join(a, a, resolve), a);
    }
}

#[test]
fn vclock_covers_what_it_joined() {
    let mut v = VClock::new(2);
    v.join(&VClock(vec![0, 4]));
    assert_eq!(v.0, vec![0, 4]);
}
