//! Payments through the bundled scenario: each known bug double-charges on seed 42, named by
//! `exactly_once_charge`, while the correct service on the same seed charges exactly once;
//! the correct service holds on 200 seeds of random crashes, partitions, loss and
//! duplication.

use consim::runner::{load, RunReport};
use sim::invariant::Status;
use std::path::{Path, PathBuf};

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/payment-retries.toml")
}

fn run(pairs: &[(&str, &str)], seed: u64) -> RunReport {
    let set: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&scenario(), &set).unwrap().run(seed, None).unwrap()
}

fn status(report: &RunReport, name: &str) -> Status {
    report
        .invariants
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no invariant {name}"))
        .status
}

fn counter(report: &RunReport, name: &str) -> u64 {
    report.metrics[name].as_u64().unwrap_or(0)
}

#[test]
fn each_known_bug_double_charges_on_seed_42_and_the_ledger_does_not() {
    let correct = run(&[], 42);
    assert_eq!(status(&correct, "exactly_once_charge"), Status::Holds);
    assert_eq!(counter(&correct, "double_charges"), 0);
    // The seed exercises what the ledger is for: retries, first attempts still in flight,
    // and payments the crash left in progress.
    for metric in [
        "retries",
        "in_progress_replies",
        "duplicates_suppressed",
        "recoveries",
    ] {
        assert!(counter(&correct, metric) > 0, "{metric}");
    }
    for bug in [
        "no-ledger",
        "ledger-separate-step",
        "check-then-act",
        "key-per-attempt",
    ] {
        let r = run(&[("model.bug", bug)], 42);
        assert_eq!(status(&r, "exactly_once_charge"), Status::Violated, "{bug}");
        assert!(counter(&r, "double_charges") > 0, "{bug}");
        assert!(counter(&r, "overcharged_cents") > 0, "{bug}");
        assert_eq!(status(&r, "no_lost_payment"), Status::Holds, "{bug}");
    }
}

#[test]
fn the_correct_service_charges_exactly_once_on_200_random_fault_seeds() {
    let faults = [
        ("duration", "30s"),
        ("nemesis.crash_every", "exponential(3s)"),
        ("nemesis.restart_after", "uniform(100ms, 2s)"),
        ("nemesis.partition_every", "exponential(5s)"),
        ("nemesis.heal_after", "uniform(100ms, 3s)"),
    ];
    let (mut crashes, mut recoveries) = (0, 0);
    for seed in 1..=200 {
        let r = run(&faults, seed);
        crashes += r.kernel.crashes;
        recoveries += counter(&r, "recoveries");
        for i in &r.invariants {
            assert_eq!(
                i.status,
                Status::Holds,
                "seed {seed}: {} {}",
                i.name,
                i.detail
            );
        }
    }
    assert!(crashes > 1000, "the nemesis should crash nodes: {crashes}");
    assert!(
        recoveries > 200,
        "crashes should leave payments in progress: {recoveries}"
    );
}
