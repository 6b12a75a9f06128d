//! The versioned store (`versioning`): which policy loses which updates under clock skew,
//! its known bugs caught by name, and the loss-free cases. (Convergence under heavy faults
//! is in `fault_sweep.rs`; the bundled user-profile scenarios and their exit codes in the
//! root `tests/versioning.rs`.)

mod support;

use models::versioning::{Bug, MergeMode, Policy, VersionedParams};
use sim::invariant::Status;
use sim::RunResult;
use std::time::Duration;
use support::sweep::{self, versioned_nodes_with, VERSIONED};

const SETTLE: Duration = Duration::from_secs(10);
/// Replica 0's clock lead: more than the time between a device's consecutive updates (two
/// think times of 100 ms on average, plus the round trips).
const SKEW: Duration = Duration::from_millis(300);

/// The sweep's store (three replicas; a phone and a laptop beside replica 0, the web beside
/// replica 1) with replica 0 `skew` ahead, no faults.
fn run(
    policy: Policy,
    seed: u64,
    skew: Duration,
    adjust: impl FnOnce(&mut VersionedParams),
) -> RunResult {
    let mut p = VersionedParams {
        policy,
        ..VersionedParams::default()
    };
    adjust(&mut p);
    let nodes = versioned_nodes_with(0);
    sweep::versioned_with(p, &nodes, seed, VERSIONED, skew, false, vec![], SETTLE)
}

fn status(o: &RunResult, name: &str) -> Status {
    o.verdicts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no verdict {name}"))
        .status
}

fn counter(o: &RunResult, name: &str) -> u64 {
    o.metrics
        .counter(name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn lww_wall_loses_causally_later_updates_when_skew_exceeds_the_gap_on_seed_1() {
    let o = run(Policy::LwwWall, 1, SKEW, |_| {});
    assert_eq!(status(&o, "no_silent_loss"), Status::Violated);
    let causal = counter(&o, "lost_updates_causal");
    assert!(
        causal > 100,
        "a fast replica's writes beat later writes that read them: {causal}"
    );
    assert_eq!(
        status(&o, "convergence"),
        Status::Holds,
        "converged, and wrong"
    );
}

#[test]
fn lww_hlc_loses_no_causally_later_update_under_the_same_skew() {
    for seed in 1..=5 {
        let o = run(Policy::LwwHlc, seed, SKEW, |_| {});
        assert_eq!(counter(&o, "lost_updates_causal"), 0, "seed {seed}");
        // Concurrent edits still overwrite each other whole: HLC orders, it does not merge.
        assert!(counter(&o, "lost_updates_concurrent") > 0, "seed {seed}");
        assert_eq!(status(&o, "convergence"), Status::Holds, "seed {seed}");
    }
}

#[test]
fn vector_clocks_lose_no_acknowledged_update_with_either_merge() {
    for seed in 1..=5 {
        for merge in [MergeMode::App, MergeMode::Siblings] {
            let o = run(Policy::VectorClocks, seed, SKEW, |p| p.merge = merge);
            let f = sweep::findings(&o);
            assert!(f.is_empty(), "{merge:?} seed {seed}: {f:?}");
            assert_eq!(counter(&o, "lost_updates_causal"), 0);
            assert_eq!(counter(&o, "lost_updates_concurrent"), 0);
            assert!(
                counter(&o, "siblings_max") >= 2,
                "concurrent edits were detected"
            );
            if merge == MergeMode::App {
                assert!(counter(&o, "merges") > 0 && counter(&o, "merge_discarded") > 0);
            } else {
                assert_eq!(counter(&o, "merges"), 0);
            }
        }
    }
}

#[test]
fn lww_wall_loses_nothing_with_zero_skew_and_no_concurrency() {
    // One device, hopping to a random replica for every update, 500 ms between its read
    // and its write and between its write and its next read: every replica has its last
    // update when it reads, so each update follows the previous one, and with exact clocks
    // stamps follow causality.
    let nodes = vec![
        ("replica0".to_string(), 0, "replica"),
        ("replica1".to_string(), 1, "replica"),
        ("replica2".to_string(), 2, "replica"),
        ("phone".to_string(), 0, "client"),
    ];
    for seed in 1..=3 {
        let p = VersionedParams {
            policy: Policy::LwwWall,
            roam: 1.0,
            think_time: "500ms".parse().unwrap(),
            ..VersionedParams::default()
        };
        let o = sweep::versioned_with(
            p,
            &nodes,
            seed,
            VERSIONED,
            Duration::ZERO,
            false,
            vec![],
            SETTLE,
        );
        let f = sweep::findings(&o);
        assert!(f.is_empty(), "seed {seed}: {f:?}");
        assert!(counter(&o, "updates_acked") > 40);
    }
}

#[test]
fn no_tiebreak_never_converges_on_seed_1() {
    // Timestamps in whole seconds (a SQL DATETIME column) and nine devices: in the last
    // second two replicas each accept a write before hearing of the other's, and with equal
    // timestamps each keeps its own.
    let nodes = versioned_nodes_with(6);
    let p = |bug| VersionedParams {
        policy: Policy::LwwWall,
        bug,
        timestamp_resolution: Duration::from_secs(1),
        ..VersionedParams::default()
    };
    let run = |bug| {
        sweep::versioned_with(
            p(bug),
            &nodes,
            1,
            VERSIONED,
            Duration::ZERO,
            false,
            vec![],
            SETTLE,
        )
    };
    assert_eq!(
        status(&run(Bug::NoTiebreak), "convergence"),
        Status::Violated
    );
    assert_eq!(status(&run(Bug::None), "convergence"), Status::Holds);
}

#[test]
fn no_clock_merge_is_caught_by_siblings_concurrent_on_seed_1() {
    for merge in [MergeMode::App, MergeMode::Siblings] {
        let o = run(Policy::VectorClocks, 1, Duration::ZERO, |p| {
            p.bug = Bug::NoClockMerge;
            p.merge = merge;
        });
        assert_eq!(
            status(&o, "siblings_concurrent"),
            Status::Violated,
            "{merge:?}"
        );
    }
}

#[test]
fn hlc_stamps_follow_causality_through_clock_jumps() {
    // The nemesis steps clocks back and forth by up to 200 ms every ~5 s, on top of the skew:
    // hybrid clocks still never let an update lose to its own past.
    let nodes = versioned_nodes_with(0);
    for seed in 1..=5 {
        let p = VersionedParams {
            policy: Policy::LwwHlc,
            ..VersionedParams::default()
        };
        let o = sweep::versioned_with(p, &nodes, seed, VERSIONED, SKEW, true, vec![], SETTLE);
        assert_eq!(counter(&o, "lost_updates_causal"), 0, "seed {seed}");
        assert_eq!(status(&o, "convergence"), Status::Holds, "seed {seed}");
    }
}
