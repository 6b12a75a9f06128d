//! 2PC's end-of-run checks and the metrics it declares.

use super::coordinator::Phase;
use super::participant::Decision;
use super::{Coordinator, Participant, Role, Setup, TwoPcNode};
use crate::bank::{self, participant};
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::World;

pub(super) fn declare_metrics(metrics: &mut Metrics) {
    bank::declare_metrics(metrics);
    metrics.declare("in_doubt_ms");
    metrics.declare("lock_held_ms");
    metrics.declare("lock_wait_ms");
}

pub(super) fn atomicity(world: &World<'_, TwoPcNode>, s: &Setup) -> Verdict {
    let mut committed = 0;
    let mut broken = Vec::new();
    for &q in &s.bank.participants {
        let Some(p) = participant(world, q) else {
            return Verdict::unknown("atomicity", format!("{} is down at the end", world.name(q)));
        };
        for (id, d) in &p.decided {
            let Decision::Committed(txn) = d else {
                continue;
            };
            committed += 1;
            let peer_id = s.bank.peer(txn, q);
            let Some(peer) = participant(world, peer_id) else {
                return Verdict::unknown(
                    "atomicity",
                    format!("{} is down at the end", world.name(peer_id)),
                );
            };
            let peer_state = match peer.decided.get(id) {
                Some(Decision::Committed(_)) => continue,
                _ if peer.prepared.contains_key(id) => continue, // in doubt: no_stuck_locks
                Some(Decision::Aborted) => "aborted",
                None => "no record of it",
            };
            broken.push(format!(
                "txn {id} (move {} from account {} to {}) committed at {}, but {} has {peer_state}",
                txn.amount,
                txn.from,
                txn.to,
                world.name(q),
                world.name(peer_id)
            ));
        }
    }
    match broken.first() {
        None => Verdict::holds(
            "atomicity",
            format!("{committed} committed halves, each matched by its peer"),
        ),
        Some(first) => Verdict::violated(
            "atomicity",
            format!(
                "{first} ({} such half-committed transaction(s))",
                broken.len()
            ),
        ),
    }
}

/// Each outcome a client was told matches the participants: a committed transfer is
/// committed (or, still in doubt, prepared) at both, an aborted one committed at neither.
pub(super) fn outcome_matches_decision(world: &World<'_, TwoPcNode>, s: &Setup) -> Verdict {
    bank::outcome_matches_decision(&s.bank, world, |t, committed| {
        for q in s.bank.pair(t) {
            let p = participant(world, q).ok_or_else(|| world.name(q).to_string())?;
            let state = match p.decided.get(&t.id) {
                Some(Decision::Committed(_)) => "committed",
                Some(Decision::Aborted) => "aborted",
                None if p.prepared.contains_key(&t.id) => "prepared",
                None => "no record of it",
            };
            let contradicts = if committed {
                !matches!(state, "committed" | "prepared")
            } else {
                state == "committed"
            };
            if contradicts {
                return Ok(Some(format!("{} has {state}", world.name(q))));
            }
        }
        Ok(None)
    })
}

/// Settles the told outcomes that can no longer go wrong: a commit applied at both
/// participants (the `Committed` record is synced, so it survives any crash). An abort is
/// never settled: a participant's abort is not forced to disk (presumed abort), so a crash
/// can forget it.
pub(super) fn settle_told(world: &World<'_, TwoPcNode>, s: &Setup) {
    s.bank.sweep_told(|t, committed| {
        committed
            && s.bank.pair(t).iter().all(|&q| {
                participant(world, q)
                    .is_some_and(|p| matches!(p.decided.get(&t.id), Some(Decision::Committed(_))))
            })
    });
}

pub(super) fn no_stuck_locks(world: &World<'_, TwoPcNode>, s: &Setup) -> Verdict {
    if let Some(unknown) = world.unsettled("no_stuck_locks") {
        return unknown;
    }
    let mut stuck = Vec::new();
    for &q in &s.bank.participants {
        if let Some(p) = participant(world, q) {
            stuck.extend(
                p.prepared
                    .keys()
                    .map(|id| format!("txn {id} at {}", world.name(q))),
            );
        }
    }
    match stuck.first() {
        None => Verdict::holds(
            "no_stuck_locks",
            "no prepared transaction left after settling",
        ),
        Some(first) => Verdict::violated(
            "no_stuck_locks",
            format!(
                "{} transaction(s) still in doubt, holding locks, after settling; first: {first}",
                stuck.len()
            ),
        ),
    }
}

/// A transfer's phases, for fault coverage (`Model::phases`), in the order of
/// [`phases_now`]'s bits.
pub(super) const PHASES: &[&str] = &["collecting-votes", "prepared-undecided", "decided-unacked"];

/// Which of [`PHASES`] some transfer is in: the coordinator collecting votes with no yes
/// yet; a participant holding a prepare record the coordinator has not decided (in doubt,
/// if it asked); a decision the coordinator logged that some participant has not applied or
/// acknowledged. A crashed node's state is what it would recover from its disk.
pub(super) fn phases_now(world: &World<'_, TwoPcNode>, s: &Setup) -> u32 {
    let recovered;
    let coordinator = match world.nodes[s.coordinator.index()].as_ref().map(|n| &n.role) {
        Some(Role::Coordinator(c)) => c,
        _ => {
            recovered = Coordinator::recover(world.disk(s.coordinator).synced());
            &recovered
        }
    };
    let mut under_way = 0;
    for a in coordinator.active.values() {
        under_way |= match a.phase {
            Phase::Voting([false, false]) => 1,
            Phase::Voting(_) => 0,
            Phase::Committing(_) => 4,
        };
    }
    for &q in &s.bank.participants {
        let recovered;
        let p = match participant(world, q) {
            Some(p) => p,
            None => {
                recovered = Participant::recover(q, s, world.disk(q).synced());
                &recovered
            }
        };
        for id in p.prepared.keys() {
            let decided = coordinator.outcomes.contains_key(id)
                || coordinator
                    .active
                    .get(id)
                    .is_some_and(|a| matches!(a.phase, Phase::Committing(_)));
            under_way |= if decided { 4 } else { 2 };
        }
    }
    under_way
}
