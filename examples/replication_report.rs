//! The replication figures, on the same seeds for every variant: write latency per region,
//! acknowledged writes lost, Frankfurt's staleness and unavailability by mode; what the CAP
//! choice costs under partition; read-your-writes per technique. Markdown tables on stdout.
//!
//! ```sh
//! cargo run --release --example replication_report            # seeds 1..=200
//! cargo run --release --example replication_report -- 50      # seeds 1..=50
//! ```
//!
//! Per-run percentiles are summarised across seeds by their median (p50 of p50s, p50 of
//! p99s): a typical run, not one pooled distribution. Counts are summed over the seeds.

use consim::runner::{load, RunReport};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::Value;
use std::path::Path;

/// Runs `scenario` with `overrides` on every seed, in parallel.
fn runs(
    scenario: &str,
    overrides: &[(&str, &str)],
    seeds: u64,
    bar: &ProgressBar,
) -> Vec<RunReport> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{scenario}.toml"));
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let s = load(&path, &overrides).unwrap_or_else(|e| panic!("{scenario}: {e}"));
    (1..=seeds)
        .into_par_iter()
        .map(|seed| {
            let r = s.run(seed, None).expect("no trace file");
            bar.inc(1);
            r
        })
        .collect()
}

/// The median across runs of a distribution's `stat` (`p50`, `p99`); `-` if none has it.
fn median(reports: &[RunReport], metric: &str, stat: &str) -> String {
    let mut v: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.metrics.get(metric)?.get(stat)?.as_f64())
        .collect();
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(f64::total_cmp);
    format!("{:.1}", v[v.len() / 2])
}

fn total(reports: &[RunReport], counter: &str) -> u64 {
    reports
        .iter()
        .map(|r| r.metrics.get(counter).and_then(Value::as_u64).unwrap_or(0))
        .sum()
}

fn runs_with(reports: &[RunReport], counter: &str) -> usize {
    reports
        .iter()
        .filter(|r| r.metrics.get(counter).and_then(Value::as_u64).unwrap_or(0) > 0)
        .count()
}

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map_or(200, |s| s.parse().expect("a number of seeds"));
    let bar = ProgressBar::new(seeds * 14).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {eta} left").expect("a template"),
    );

    println!("## By mode ({seeds} seeds: the primary crashes, then its successor is cut off)\n");
    println!("| mode | write p50 / p99 ms: Singapore | Mumbai | Frankfurt | lost acked writes (runs) | Frankfurt staleness p99 ms | unavailable ops |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut by_mode = Vec::new();
    for mode in ["sync", "semisync", "async"] {
        let r = runs(&format!("regional-replicas-{mode}"), &[], seeds, &bar);
        let lat = |region: &str| {
            let m = format!("{region}.write_latency_ms");
            format!("{} / {}", median(&r, &m, "p50"), median(&r, &m, "p99"))
        };
        println!(
            "| {mode} | {} | {} | {} | {} ({}) | {} | {} |",
            lat("singapore"),
            lat("mumbai"),
            lat("frankfurt"),
            total(&r, "lost_acked_writes"),
            runs_with(&r, "lost_acked_writes"),
            median(&r, "frankfurt.staleness_ms", "p99"),
            total(&r, "unavailable_ops"),
        );
        by_mode.push((mode, r));
    }

    println!("\n## Async: lost writes against write rate × replication lag\n");
    println!("| | acked writes / s | replication lag p50 ms (all replicas) | rate × lag | lost per run |");
    println!("| --- | --- | --- | --- | --- |");
    let (_, async_runs) = &by_mode[2];
    let n = async_runs.len() as f64;
    let secs: f64 = async_runs
        .iter()
        .map(|r| r.sim_time_ns as f64 * 1e-9 - 10.0)
        .sum::<f64>()
        / n;
    let acked: f64 = async_runs
        .iter()
        .map(|r| {
            r.metrics["write_latency_ms"]["count"]
                .as_f64()
                .unwrap_or(0.0)
        })
        .sum::<f64>()
        / n;
    let lag: f64 = median(async_runs, "replication_lag_ms", "p50")
        .parse()
        .unwrap_or(0.0);
    let rate = acked / secs;
    println!(
        "| async, refuse | {rate:.1} | {lag:.1} | {:.2} | {:.2} |",
        rate * lag / 1000.0,
        total(async_runs, "lost_acked_writes") as f64 / n
    );

    println!("\n## The CAP choice (async, the same seeds)\n");
    println!("| on_partition | unavailable ops | divergent writes discarded | lost acked writes | single_primary held |");
    println!("| --- | --- | --- | --- | --- |");
    for choice in ["refuse", "accept"] {
        let r = runs(
            "regional-replicas-async",
            &[("model.on_partition", choice)],
            seeds,
            &bar,
        );
        let held = r
            .iter()
            .filter(|r| {
                r.invariants
                    .iter()
                    .any(|i| i.name == "single_primary" && i.status.as_str() == "holds")
            })
            .count();
        println!(
            "| {choice} | {} | {} | {} | {held} / {} |",
            total(&r, "unavailable_ops"),
            total(&r, "divergent_writes_discarded"),
            total(&r, "lost_acked_writes"),
            r.len()
        );
    }

    println!("\n## Read-your-writes per technique (regional-read-after-write, Mumbai clients)\n");
    println!("| read_from | read_your_writes | bug | RYW violations (runs) | stale reads | read p50 / p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (from, technique, bug) in [
        ("cache", "none", "none"),
        ("cache", "cache-invalidation", "none"),
        ("cache", "cache-invalidation", "early-invalidation"),
        ("nearest", "none", "none"),
        ("nearest", "session", "none"),
        ("nearest", "session", "ignore-session"),
        ("nearest", "primary-after-write", "none"),
    ] {
        let r = runs(
            "regional-read-after-write",
            &[
                ("model.read_from", from),
                ("model.read_your_writes", technique),
                ("model.bug", bug),
            ],
            seeds,
            &bar,
        );
        println!(
            "| {from} | {technique} | {bug} | {} ({}) | {} | {} / {} |",
            total(&r, "read_your_writes_violations"),
            runs_with(&r, "read_your_writes_violations"),
            total(&r, "stale_reads"),
            median(&r, "read_latency_ms", "p50"),
            median(&r, "read_latency_ms", "p99"),
        );
    }
    bar.finish_and_clear();
}
