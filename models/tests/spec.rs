//! `consim models` lists what each model emits: every verdict and metric a run reports, for
//! the correct model and every known bug, is named in the model's `ModelSpec`. (Message kinds and
//! bug names are the `ModelSpec`'s by construction — `Message::KINDS`, which debug builds check
//! on every send, and `Bug::KNOWN` — and the runs here exercise that check too.)

mod support;

use models::order_pipeline::{PipelineParams, Publish};
use models::payments::PaymentParams;
use models::quorum::QuorumParams;
use models::replication::ReplicationParams;
use models::saga::SagaParams;
use models::two_phase_commit::TwoPcParams;
use models::versioning::{MergeMode, Policy, VersionedParams};
use models::{ModelSpec, Params};
use sim::RunResult;
use support::sweep::{self, Case};

/// `bug` parsed as the model's bug type, as a scenario's `model.bug` would be.
fn bug<B: serde::de::DeserializeOwned>(name: &str) -> B {
    serde_json::from_value(serde_json::Value::String(name.into())).expect("a listed bug parses")
}

fn assert_listed(spec: &ModelSpec, bug: &str, o: &RunResult) {
    for v in &o.verdicts {
        assert!(
            spec.invariants.contains(&v.name),
            "{} (bug {bug}) reports the invariant {} that its ModelSpec does not list",
            spec.kind,
            v.name
        );
    }
    let metrics = o.metrics.to_json();
    for name in metrics.as_object().expect("metrics are an object").keys() {
        // A metric per region is listed once, as `<region>.` and its name.
        let per_region = name
            .split_once('.')
            .map(|(_, metric)| format!("<region>.{metric}"));
        assert!(
            spec.metrics.contains(&name.as_str())
                || per_region.is_some_and(|n| spec.metrics.contains(&n.as_str())),
            "{} (bug {bug}) reports the metric {name} that its ModelSpec does not list",
            spec.kind
        );
    }
}

#[test]
fn every_emitted_verdict_and_metric_is_listed() {
    for seed in 1..=3 {
        for b in std::iter::once("none").chain(
            ReplicationParams::SPEC
                .bugs
                .iter()
                .chain(ReplicationParams::SPEC.unnamed_bugs)
                .copied(),
        ) {
            for case in [Case::ReplicationSync, Case::ReplicationSemisync] {
                let o = sweep::run_with(case, seed, |p| p.bug = bug(b), |_| {}, |_| {});
                assert_listed(&ReplicationParams::SPEC, b, &o);
            }
        }
        for b in std::iter::once("none").chain(
            TwoPcParams::SPEC
                .bugs
                .iter()
                .chain(TwoPcParams::SPEC.unnamed_bugs)
                .copied(),
        ) {
            for case in [Case::TwoPcWait, Case::TwoPcNoWait] {
                let o = sweep::run_with(case, seed, |_| {}, |p| p.bug = bug(b), |_| {});
                assert_listed(&TwoPcParams::SPEC, b, &o);
            }
        }
        for b in std::iter::once("none").chain(
            SagaParams::SPEC
                .bugs
                .iter()
                .chain(SagaParams::SPEC.unnamed_bugs)
                .copied(),
        ) {
            let o = sweep::run_with(Case::Saga, seed, |_| {}, |_| {}, |p| p.bug = bug(b));
            assert_listed(&SagaParams::SPEC, b, &o);
        }
        for b in std::iter::once("none").chain(
            QuorumParams::SPEC
                .bugs
                .iter()
                .chain(QuorumParams::SPEC.unnamed_bugs)
                .copied(),
        ) {
            for (r, w) in [(1, 1), (2, 2)] {
                let p = QuorumParams {
                    r,
                    w,
                    bug: bug(b),
                    ..QuorumParams::default()
                };
                let o = sweep::quorum_with(p, seed, 0.05, 0.05, true);
                assert_listed(&QuorumParams::SPEC, b, &o);
            }
        }
        for b in std::iter::once("none").chain(
            PaymentParams::SPEC
                .bugs
                .iter()
                .chain(PaymentParams::SPEC.unnamed_bugs)
                .copied(),
        ) {
            let p = PaymentParams {
                bug: bug(b),
                ..PaymentParams::default()
            };
            assert_listed(&PaymentParams::SPEC, b, &sweep::payments_with(p, seed));
        }
        for b in std::iter::once("none").chain(
            VersionedParams::SPEC
                .bugs
                .iter()
                .chain(VersionedParams::SPEC.unnamed_bugs)
                .copied(),
        ) {
            for (policy, merge) in [
                (Policy::LwwWall, MergeMode::App),
                (Policy::LwwHlc, MergeMode::App),
                (Policy::VectorClocks, MergeMode::App),
                (Policy::VectorClocks, MergeMode::Siblings),
            ] {
                let p = VersionedParams {
                    policy,
                    merge,
                    bug: bug(b),
                    ..VersionedParams::default()
                };
                let nodes = sweep::versioned_nodes_with(0);
                let o = sweep::versioned_with(
                    p,
                    &nodes,
                    seed,
                    sweep::VERSIONED,
                    std::time::Duration::from_millis(100),
                    true,
                    vec![],
                    std::time::Duration::from_secs(10),
                );
                assert_listed(&VersionedParams::SPEC, b, &o);
            }
        }
        for b in std::iter::once("none").chain(
            PipelineParams::SPEC
                .bugs
                .iter()
                .chain(PipelineParams::SPEC.unnamed_bugs)
                .copied(),
        ) {
            for publish in [Publish::Outbox, Publish::DualWrite] {
                let p = PipelineParams {
                    bug: bug(b),
                    publish,
                    reconciliation: true,
                    ..PipelineParams::default()
                };
                assert_listed(&PipelineParams::SPEC, b, &sweep::pipeline_with(p, seed));
            }
        }
    }
}
