//! The order pipeline's figures, on the same seeds for every variant, under the random
//! faults of `tests/order_pipeline.rs` (crashes of any node every ~3 s, partitions every ~5 s,
//! on top of the scenarios' 1% loss, 5% duplication and the crash between commit and
//! publish): lost events with a dual write against the outbox, duplicates delivered and
//! suppressed, end-to-end latency (order to reservation), and the reconciliation's repair
//! time and cost against its interval. Markdown tables on stdout.
//!
//! Latency columns are over runs: the median of the runs' p50 and of their p99, and the
//! largest max.
//!
//! ```sh
//! cargo run --release --example order_pipeline_report           # seeds 1..=200
//! cargo run --release --example order_pipeline_report -- 50     # seeds 1..=50
//! ```

use consim::runner::{load, RunReport};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::Path;

const FAULTS: [(&str, &str); 5] = [
    ("duration", "30s"),
    ("nemesis.crash_every", "exponential(3s)"),
    ("nemesis.restart_after", "uniform(100ms, 2s)"),
    ("nemesis.partition_every", "exponential(5s)"),
    ("nemesis.heal_after", "uniform(100ms, 3s)"),
];

fn runs(file: &str, overrides: &[(&str, &str)], seeds: u64, bar: &ProgressBar) -> Vec<RunReport> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let overrides: Vec<(String, String)> = FAULTS
        .iter()
        .chain(overrides)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let s = load(&path, &overrides).unwrap_or_else(|e| panic!("{e}"));
    (1..=seeds)
        .into_par_iter()
        .map(|seed| {
            let r = s.run(seed, None).expect("no trace file");
            bar.inc(1);
            r
        })
        .collect()
}

fn total(reports: &[RunReport], counter: &str) -> u64 {
    reports
        .iter()
        .map(|r| r.metrics[counter].as_u64().unwrap_or(0))
        .sum()
}

/// The median over runs of a distribution's `stat` (runs without samples left out).
fn median(reports: &[RunReport], dist: &str, stat: &str) -> f64 {
    let mut v: Vec<f64> = reports
        .iter()
        .filter(|r| r.metrics[dist]["count"].as_u64() > Some(0))
        .filter_map(|r| r.metrics[dist][stat].as_f64())
        .collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max(reports: &[RunReport], dist: &str) -> f64 {
    reports
        .iter()
        .filter_map(|r| r.metrics[dist]["max"].as_f64())
        .fold(f64::NAN, f64::max)
}

/// Runs whose invariant `name` was violated.
fn violated(reports: &[RunReport], name: &str) -> usize {
    reports
        .iter()
        .filter(|r| {
            r.invariants
                .iter()
                .any(|i| i.name == name && i.status == sim::invariant::Status::Violated)
        })
        .count()
}

/// Every variant runs the same file, so the same nodes and the same faults on a seed; the
/// reconciler idles when it is off.
const OFF: (&str, &str) = ("model.reconciliation", "false");
const RECONCILIATION: &str = "scenarios/billing-reconciliation.toml";

/// A variant: its name, its file and its overrides.
type Variant = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map_or(200, |s| s.parse().expect("a number of seeds"));
    let variants: [Variant; 6] = [
        (
            "outbox",
            RECONCILIATION,
            &[("model.publish", "outbox"), OFF],
        ),
        ("dual-write", RECONCILIATION, &[OFF]),
        (
            "outbox + reconciliation",
            RECONCILIATION,
            &[("model.publish", "outbox")],
        ),
        ("dual-write + reconciliation", RECONCILIATION, &[]),
        (
            "dual-write + report-only",
            RECONCILIATION,
            &[("model.bug", "report-only")],
        ),
        (
            "outbox, no-dedupe",
            RECONCILIATION,
            &[("model.publish", "outbox"), OFF, ("model.bug", "no-dedupe")],
        ),
    ];
    let intervals = ["1s", "5s", "10s"];
    let bar = ProgressBar::new(seeds * (variants.len() + intervals.len()) as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {eta} left").expect("a template"),
    );

    println!("## Per variant ({seeds} seeds, random faults)\n");
    println!(
        "| variant | orders | lost events (runs) | no_lost_events violated | duplicates delivered | \
         suppressed | end-to-end p50 / p99 / max ms | in_order violated | exactly_once_effect violated | open drift |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, file, set) in variants {
        let r = runs(file, set, seeds, &bar);
        let orders: u64 = r
            .iter()
            .map(|r| r.metrics["place_latency_ms"]["count"].as_u64().unwrap_or(0))
            .sum();
        let lost_runs = r
            .iter()
            .filter(|r| r.metrics["lost_events"].as_u64() > Some(0))
            .count();
        println!(
            "| {name} | {orders} | {} ({lost_runs}) | {} | {} | {} | {:.0} / {:.0} / {:.0} | {} | {} | {} |",
            total(&r, "lost_events"),
            violated(&r, "no_lost_events"),
            total(&r, "duplicates_delivered"),
            total(&r, "duplicates_suppressed"),
            median(&r, "end_to_end_ms", "p50"),
            median(&r, "end_to_end_ms", "p99"),
            max(&r, "end_to_end_ms"),
            violated(&r, "in_order"),
            violated(&r, "exactly_once_effect"),
            total(&r, "open_drift"),
        );
    }

    println!("\n## Repair time against the reconciliation interval (dual write, {seeds} seeds)\n");
    println!(
        "| `reconcile_every` | lost events | drift found | replayed | republished | manual review | \
         repair p50 / max ms | rows read per run | unrepaired runs |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for every in intervals {
        let r = runs(
            RECONCILIATION,
            &[("model.reconcile_every", every)],
            seeds,
            &bar,
        );
        println!(
            "| {every} | {} | {} | {} | {} | {} | {:.0} / {:.0} | {} | {} |",
            total(&r, "lost_events"),
            total(&r, "drift_found"),
            total(&r, "replayed_events"),
            total(&r, "republished_events"),
            total(&r, "manual_review"),
            median(&r, "repair_ms", "p50"),
            max(&r, "repair_ms"),
            total(&r, "rows_read") / seeds.max(1),
            violated(&r, "no_lost_events"),
        );
    }
    bar.finish_and_clear();
}
