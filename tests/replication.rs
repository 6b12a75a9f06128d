//! Replication through its bundled scenarios: each known bug is caught by name on a named
//! seed while the correct protocol, on the same scenario and seed, keeps the invariant; the
//! binary exits 1 on a bug; the correct register survives random faults.

mod common;

use common::{consim, invariant};
use consim::runner::{load, RunReport};
use sim::invariant::Status;
use std::path::{Path, PathBuf};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"))
}

fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn status(report: &RunReport, name: &str) -> Status {
    report
        .invariants
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no invariant {name}"))
        .status
}

/// Runs `name` on `seed` with `bug`, then without it, and returns the invariant's status in
/// both runs.
fn with_and_without(
    name: &str,
    extra: &[(&str, &str)],
    bug: &str,
    invariant: &str,
    seed: u64,
) -> (Status, Status) {
    let run = |bug: &str| {
        let mut pairs = extra.to_vec();
        pairs.push(("model.bug", bug));
        let r = load(&scenario(name), &set(&pairs))
            .unwrap()
            .run(seed, None)
            .unwrap();
        status(&r, invariant)
    };
    (run(bug), run("none"))
}

#[test]
fn fake_sync_loses_acknowledged_writes_on_every_seed_and_sync_does_not() {
    // The crash comes right after an acknowledgement, before that write is shipped: a sync
    // primary has not acknowledged it yet; the fake one has.
    for seed in 1..=10 {
        let (buggy, correct) = with_and_without(
            "replication-fake-sync",
            &[],
            "fake-sync",
            "no_lost_acked_writes",
            seed,
        );
        assert_eq!(
            (buggy, correct),
            (Status::Violated, Status::Holds),
            "seed {seed}"
        );
    }
}

#[test]
fn no_epochs_is_caught_by_single_primary_on_seed_42() {
    // The Singapore primary crashes; the replica promoted in its place keeps its epoch.
    let (buggy, correct) = with_and_without(
        "regional-replicas-sync",
        &[],
        "no-epochs",
        "single_primary",
        42,
    );
    assert_eq!((buggy, correct), (Status::Violated, Status::Holds));
}

#[test]
fn ignore_session_is_caught_by_read_your_writes_on_seed_42() {
    let session = [
        ("model.read_from", "nearest"),
        ("model.read_your_writes", "session"),
    ];
    let (buggy, correct) = with_and_without(
        "regional-read-after-write",
        &session,
        "ignore-session",
        "read_your_writes",
        42,
    );
    assert_eq!((buggy, correct), (Status::Violated, Status::Holds));
}

#[test]
fn early_invalidation_is_caught_by_read_your_writes_on_seed_42() {
    let (buggy, correct) = with_and_without(
        "regional-read-after-write",
        &[],
        "early-invalidation",
        "read_your_writes",
        42,
    );
    assert_eq!((buggy, correct), (Status::Violated, Status::Holds));
}

#[test]
fn a_bug_makes_the_binary_exit_1_naming_the_invariant() {
    let o = consim(&[
        "run",
        "scenarios/regional-read-after-write.toml",
        "--set",
        "model.bug=early-invalidation",
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON report");
    assert_eq!(invariant(&report, "read_your_writes")["status"], "violated");
}

#[test]
fn async_replica_reads_are_caught_as_not_linearizable_on_seed_42() {
    let r = load(&scenario("register-singapore-async"), &[])
        .unwrap()
        .run(42, None)
        .unwrap();
    assert_eq!(status(&r, "linearizable"), Status::Violated);
    assert_eq!(status(&r, "read_your_writes"), Status::Violated);
    // Reading the primary instead, on the same seed, is linearizable.
    let primary = set(&[("model.read_from", "primary")]);
    let r = load(&scenario("register-singapore-async"), &primary)
        .unwrap()
        .run(42, None)
        .unwrap();
    assert_eq!(status(&r, "linearizable"), Status::Holds);
}

#[test]
fn the_correct_register_survives_random_faults() {
    let faults = set(&[
        ("duration", "45s"),
        ("network.loss", "0.02"),
        ("network.duplicate", "0.02"),
        ("nemesis.crash_every", "exponential(4s)"),
        ("nemesis.restart_after", "uniform(100ms, 2s)"),
        ("nemesis.partition_every", "exponential(5s)"),
        ("nemesis.heal_after", "uniform(100ms, 3s)"),
        ("nemesis.clock_jump_every", "exponential(5s)"),
    ]);
    let s = load(&scenario("register-singapore-sync"), &faults).unwrap();
    let mut crashes = 0;
    for seed in 0..40 {
        let r = s.run(seed, None).unwrap();
        crashes += r.kernel.crashes;
        for i in &r.invariants {
            assert_eq!(
                i.status,
                Status::Holds,
                "seed {seed}: {} {}: {}",
                i.name,
                i.status,
                i.detail
            );
        }
    }
    assert!(
        crashes > 40,
        "the nemesis should crash nodes: {crashes} crashes"
    );
}
