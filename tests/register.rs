//! The replicated register: its known bug is caught by name, and the correct protocol keeps
//! every invariant across seeds with random crashes, partitions, loss and duplication.

use consim::runner::load;
use sim::invariant::Status;
use std::path::Path;

fn scenario() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/register-singapore-sync.toml")
}

fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn status(report: &consim::runner::RunReport, name: &str) -> Status {
    report
        .invariants
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no invariant {name}"))
        .status
}

/// The crash comes right after an acknowledgement, inside the bug's window on every seed;
/// the correct protocol, crashed at the same point, loses nothing.
#[test]
fn ack_before_sync_loses_acknowledged_writes_on_every_seed() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/register-ack-before-sync.toml");
    let buggy = load(&file, &[]).unwrap();
    let correct = load(&file, &set(&[("model.bug", "none")])).unwrap();
    for seed in 1..=10 {
        let r = buggy.run(seed, None).unwrap();
        assert_eq!(
            status(&r, "acked_writes_durable"),
            Status::Violated,
            "seed {seed}"
        );
        assert!(r.metrics["acked_writes_lost"].as_u64().unwrap() >= 1);
        let r = correct.run(seed, None).unwrap();
        assert_eq!(
            status(&r, "acked_writes_durable"),
            Status::Holds,
            "seed {seed}"
        );
    }
}

#[test]
fn ack_after_one_replica_is_caught_by_acked_on_every_replica_on_seed_42() {
    // Mumbai answers in ~56 ms, Frankfurt in ~160 ms: acknowledging after the first replica
    // tells clients a write is replicated while Frankfurt does not have it yet.
    let s = load(&scenario(), &set(&[("model.bug", "ack-after-one-replica")])).unwrap();
    let r = s.run(42, None).unwrap();
    assert_eq!(status(&r, "acked_on_every_replica"), Status::Violated);
    // The same scenario and seed with the correct protocol keeps it.
    let r = load(&scenario(), &[]).unwrap().run(42, None).unwrap();
    assert_eq!(status(&r, "acked_on_every_replica"), Status::Holds);
}

#[test]
fn async_replica_reads_are_caught_as_not_linearizable_on_seed_42() {
    let s = load(
        &scenario(),
        &set(&[
            ("model.replication", "async"),
            ("model.read_from", "replicas"),
        ]),
    )
    .unwrap();
    let r = s.run(42, None).unwrap();
    assert_eq!(status(&r, "linearizable"), Status::Violated);
    assert_eq!(status(&r, "acked_writes_durable"), Status::Holds);
}

#[test]
fn the_correct_protocol_survives_random_faults() {
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
    let s = load(&scenario(), &faults).unwrap();
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
