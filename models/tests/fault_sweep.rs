//! A slice of the heavy-fault sweep (`cargo bench -p models --bench fault_sweep` runs
//! thousands of seeds): every correct model keeps every invariant, with no `unknown`, on
//! its first seeds under loss, duplication, crashes, partitions, clock jumps and
//! message-triggered crashes.

mod support;

use support::sweep::{self, Case};

fn sweep(case: Case, seeds: u64) {
    let mut crashes = 0;
    for seed in 1..=seeds {
        let o = sweep::run(case, seed);
        crashes += o.stats.crashes;
        let f = sweep::case_findings(case, &o);
        assert!(f.is_empty(), "{} seed {seed}: {f:?}", case.name());
    }
    assert!(
        crashes > seeds,
        "the nemesis should crash nodes: {crashes} crashes"
    );
}

#[test]
fn replication_sync_keeps_every_invariant_under_heavy_faults() {
    sweep(Case::ReplicationSync, 100);
}

#[test]
fn replication_semisync_keeps_every_invariant_under_heavy_faults() {
    sweep(Case::ReplicationSemisync, 100);
}

#[test]
fn two_pc_no_wait_keeps_every_invariant_under_heavy_faults() {
    sweep(Case::TwoPcNoWait, 100);
}

#[test]
fn two_pc_wait_keeps_every_invariant_under_heavy_faults() {
    sweep(Case::TwoPcWait, 100);
}

#[test]
fn saga_keeps_every_invariant_under_heavy_faults() {
    sweep(Case::Saga, 100);
}

#[test]
fn quorum_with_strict_quorums_keeps_every_invariant_under_heavy_faults() {
    sweep(Case::Quorum, 100);
}

#[test]
fn payments_keep_every_invariant_under_heavy_faults() {
    sweep(Case::Payments, 100);
}

/// The versioned store converges after the last heal under every policy, on 200 seeds each
/// (last-writer-wins loses concurrent updates by design: that verdict is measured, not a
/// finding here).
#[test]
fn versioned_store_converges_under_heavy_faults_with_every_policy() {
    sweep(Case::VersionedLwwWall, 200);
    sweep(Case::VersionedLwwHlc, 200);
    sweep(Case::VersionedVectorClocks, 200);
}

#[test]
fn the_order_pipeline_with_an_outbox_keeps_every_invariant_under_heavy_faults() {
    sweep(Case::OrderPipeline, 100);
}
