//! The payment figures, on the same seeds for every variant: double charges and cents
//! over-charged per known bug, and the redelivery and retry rates at which `check-then-act`
//! starts to bite. Markdown tables on stdout.
//!
//! ```sh
//! cargo run --release --example payments_report           # seeds 1..=200
//! cargo run --release --example payments_report -- 50     # seeds 1..=50
//! ```

use consim::runner::{load, RunReport};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::Path;

fn runs(overrides: &[(&str, String)], seeds: u64, bar: &ProgressBar) -> Vec<RunReport> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/payment-retries.toml");
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
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

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map_or(200, |s| s.parse().expect("a number of seeds"));
    let bugs = [
        "none",
        "no-ledger",
        "ledger-separate-step",
        "check-then-act",
        "key-per-attempt",
    ];
    let duplicates = ["0", "0.01", "0.05", "0.2"];
    let retries = ["2s", "500ms", "100ms", "20ms"];
    let bar = ProgressBar::new(seeds * (bugs.len() + duplicates.len() * retries.len()) as u64)
        .with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {eta} left")
                .expect("a template"),
        );

    println!("## Per variant (payment-retries.toml, {seeds} seeds)\n");
    println!("| bug | payments | retries | double charges (runs) | cents over-charged | in-progress replies | duplicates suppressed | payment p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for bug in bugs {
        let r = runs(&[("model.bug", bug.to_string())], seeds, &bar);
        let double_runs = r
            .iter()
            .filter(|r| r.metrics["double_charges"].as_u64() > Some(0))
            .count();
        let mut p99: Vec<f64> = r
            .iter()
            .filter_map(|r| r.metrics["payment_latency_ms"]["p99"].as_f64())
            .collect();
        p99.sort_by(f64::total_cmp);
        let payments: u64 = r
            .iter()
            .map(|r| {
                r.metrics["payment_latency_ms"]["count"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .sum();
        println!(
            "| {bug} | {payments} | {} | {} ({double_runs}) | {} | {} | {} | {:.0} |",
            total(&r, "retries"),
            total(&r, "double_charges"),
            total(&r, "overcharged_cents"),
            total(&r, "in_progress_replies"),
            total(&r, "duplicates_suppressed"),
            p99.get(p99.len() / 2).copied().unwrap_or(0.0),
        );
    }

    println!(
        "\n## When check-then-act bites: double charges by redelivery rate and client retry\n"
    );
    print!("| `network.duplicate` \\ `client_retry` |");
    for retry in retries {
        print!(" {retry} |");
    }
    println!("\n| --- |{}", " --- |".repeat(retries.len()));
    for dup in duplicates {
        print!("| {dup} |");
        for retry in retries {
            let r = runs(
                &[
                    ("model.bug", "check-then-act".into()),
                    ("network.duplicate", dup.into()),
                    ("model.client_retry", retry.into()),
                ],
                seeds,
                &bar,
            );
            print!(" {} |", total(&r, "double_charges"));
        }
        println!();
    }
    bar.finish_and_clear();
}
