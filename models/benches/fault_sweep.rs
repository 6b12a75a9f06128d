//! The heavy-fault sweep: every correct model on thousands of seeds under loss, duplication,
//! crashes, partitions, clock jumps and message-triggered crashes (see
//! `tests/support/sweep.rs`). A correct model must never be reported broken: the sweep
//! prints, per model, the runs, the `violated` and `unknown` verdicts, and the time taken,
//! and exits 1 if any run had one.
//!
//! ```sh
//! cargo bench -p models --bench fault_sweep                 # seeds 1..=2000 per model
//! cargo bench -p models --bench fault_sweep -- 500          # seeds 1..=500
//! cargo bench -p models --bench fault_sweep -- clients 1000 # replication scaling, no faults
//! ```
//!
//! Seeds run in parallel (rayon), each run single-threaded and deterministic.

#[path = "../tests/support/sweep.rs"]
mod sweep;

use rayon::prelude::*;
use sim::invariant::Status;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("clients") {
        for n in &args[1..] {
            let n: usize = n.parse().expect("a client count");
            let start = Instant::now();
            let o = sweep::replication_clients(n, 1);
            println!(
                "replication, {n} clients: {:.2} s, {} events, {} client operations",
                start.elapsed().as_secs_f64(),
                o.stats.events,
                o.history.events.len() / 2
            );
        }
        return;
    }
    let seeds: u64 = args
        .first()
        .map_or(2000, |s| s.parse().expect("a seed count"));
    let mut failed = false;
    let total = Instant::now();
    println!("| model | runs | violated | unknown | time |");
    println!("| --- | --- | --- | --- | --- |");
    for case in sweep::CASES {
        let start = Instant::now();
        let results: Vec<(u64, Vec<(Status, String)>)> = (1..=seeds)
            .into_par_iter()
            .map(|seed| (seed, sweep::case_findings(case, &sweep::run(case, seed))))
            .collect();
        let count = |s: Status| {
            results
                .iter()
                .filter(|(_, f)| f.iter().any(|(st, _)| *st == s))
                .count()
        };
        let (violated, unknown) = (count(Status::Violated), count(Status::Unknown));
        println!(
            "| {} | {seeds} | {violated} | {unknown} | {:.1} s |",
            case.name(),
            start.elapsed().as_secs_f64()
        );
        for (seed, f) in results.iter().filter(|(_, f)| !f.is_empty()).take(5) {
            for (_, text) in f {
                eprintln!("  seed {seed}: {text}");
            }
        }
        failed |= violated + unknown > 0;
    }
    println!("total {:.1} s", total.elapsed().as_secs_f64());
    if failed {
        std::process::exit(1);
    }
}
