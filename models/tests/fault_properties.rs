//! Every correct model keeps its invariants under fault schedules that proptest draws and,
//! on a failure, shrinks: crashes with their restarts, partitions with their heals, clock
//! jumps, and late messages delivered to restarted nodes, at any time of the run, on any
//! node (clients included), with any seed. The heavy-fault sweep (`fault_sweep.rs`) covers
//! the nemesis's random schedules; these are schedules as data, so a counterexample comes
//! back as the smallest list of faults that still breaks the model. The last test shows that
//! shrinking on a known bug.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use sim::fault::{Fault, ScheduledFault, When};
use sim::net::ToRestarted;
use sim::NodeId;
use support::sweep::{self, Case, Faults};

/// The run's 60 s of faults, in milliseconds.
const RUN_MS: u64 = 60_000;

/// One fault at a random time on a system of `nodes` nodes.
fn fault(nodes: usize) -> impl Strategy<Value = ScheduledFault> {
    let node = (0..nodes as u32).prop_map(NodeId);
    let what = prop_oneof![
        4 => (node.clone(), 10u64..3_000).prop_map(|(node, ms)| Fault::Crash {
            node,
            restart_after_ns: Some(ms * 1_000_000),
        }),
        // Two sides from a bitmask, neither empty.
        3 => (1u64..(1 << nodes) - 1, 10u64..5_000).prop_map(move |(mask, ms)| {
            let side = |bit: u64| {
                (0..nodes as u32)
                    .filter(|&i| (mask >> i & 1) == bit)
                    .map(NodeId)
                    .collect::<Vec<_>>()
            };
            Fault::Partition {
                groups: vec![side(1), side(0)],
                heal_after_ns: Some(ms * 1_000_000),
            }
        }),
        1 => (node, -200i64..200).prop_map(|(node, ms)| Fault::ClockJump {
            node,
            by_ns: ms * 1_000_000,
        }),
        1 => Just(Fault::ToRestarted(ToRestarted::Deliver)),
    ];
    (0..RUN_MS, what).prop_map(|(ms, fault)| ScheduledFault {
        when: When::At(ms * 1_000_000),
        fault,
    })
}

/// A seed and up to eight faults for `case`'s system.
fn schedule(case: Case) -> impl Strategy<Value = (u64, Vec<ScheduledFault>)> {
    (
        1u64..10_000,
        proptest::collection::vec(fault(sweep::node_count(case)), 0..=8),
    )
}

/// A runner with a fixed seed: the same schedules on every machine, every run.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(0x5C4E_D01E),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Checks `case` on `cases` drawn schedules; on a failure, the panic names the shrunk one.
fn holds_under_drawn_schedules(case: Case, cases: u32) {
    let result = runner(cases).run(&schedule(case), |(seed, faults)| {
        let o = sweep::run_under(case, seed, &Faults::Scheduled(faults));
        let f = sweep::case_findings(case, &o);
        prop_assert!(f.is_empty(), "seed {seed}: {f:?}");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", case.name());
    }
}

#[test]
fn replication_holds_under_drawn_fault_schedules() {
    holds_under_drawn_schedules(Case::ReplicationSync, 64);
    holds_under_drawn_schedules(Case::ReplicationSemisync, 64);
}

#[test]
fn two_pc_holds_under_drawn_fault_schedules() {
    holds_under_drawn_schedules(Case::TwoPcNoWait, 64);
    holds_under_drawn_schedules(Case::TwoPcWait, 64);
}

#[test]
fn saga_holds_under_drawn_fault_schedules() {
    holds_under_drawn_schedules(Case::Saga, 64);
}

#[test]
fn quorum_holds_under_drawn_fault_schedules() {
    holds_under_drawn_schedules(Case::Quorum, 64);
}

#[test]
fn payments_hold_under_drawn_fault_schedules() {
    holds_under_drawn_schedules(Case::Payments, 64);
}

#[test]
fn versioned_store_holds_under_drawn_fault_schedules() {
    holds_under_drawn_schedules(Case::VersionedLwwWall, 48);
    holds_under_drawn_schedules(Case::VersionedLwwHlc, 48);
    holds_under_drawn_schedules(Case::VersionedVectorClocks, 48);
}

#[test]
fn order_pipeline_holds_under_drawn_fault_schedules() {
    holds_under_drawn_schedules(Case::OrderPipeline, 48);
}

/// The same strategy finds 2PC's `unsynced-prepare` (a participant votes yes before its
/// prepare record is on disk) and proptest shrinks the schedule to the crash that loses it.
#[test]
fn a_known_bug_is_found_and_shrunk_to_a_few_faults() {
    use models::two_phase_commit::Bug;
    let case = Case::TwoPcNoWait;
    let result = runner(64).run(&schedule(case), |(seed, faults)| {
        let o = sweep::run_case(
            case,
            seed,
            &Faults::Scheduled(faults),
            |_| {},
            |p| p.bug = Bug::UnsyncedPrepare,
            |_| {},
        );
        if sweep::case_findings(case, &o).is_empty() {
            Ok(())
        } else {
            Err(TestCaseError::fail("a violation"))
        }
    });
    let Err(TestError::Fail(_, (seed, faults))) = result else {
        panic!("unsynced-prepare not found in 64 drawn schedules: {result:?}");
    };
    assert!(
        (1..=2).contains(&faults.len()),
        "seed {seed}: shrunk to {} faults: {faults:?}",
        faults.len()
    );
    assert!(
        faults
            .iter()
            .any(|f| matches!(f.fault, Fault::Crash { .. })),
        "seed {seed}: the bug needs a crash to show: {faults:?}"
    );
}
