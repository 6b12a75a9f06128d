//! Checks the whole bundled corpus (tests/corpus) and reports time per set and the slowest file.
//!
//! Reference (Porcupine on this class of 2-core machine): etcd set ~0.8 s, kv set ~0.3 s,
//! slowest single file ~0.3 s. Parsing is timed apart from checking so the two can be compared
//! with Porcupine's check-only figures.
//!
//! Run: `cargo bench -p check --bench linearizability`.

use check::history::History;
use check::linearizability::{check, Budget, Model, Verdict};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

struct Case {
    file: String,
    set: &'static str,
    model: Model,
    expected: bool,
    text: String,
}

fn main() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus"));
    let tsv = std::fs::read_to_string(dir.join("verdicts.tsv"))
        .unwrap_or_else(|e| panic!("corpus not found at {}: {e}", dir.display()));
    let cases: Vec<Case> = tsv
        .lines()
        .skip(1)
        .map(|row| {
            let c: Vec<&str> = row.split('\t').collect();
            let (set, model) = if c[1] == "kv" {
                ("kv", Model::Kv)
            } else {
                ("etcd", Model::Register)
            };
            Case {
                file: c[0].to_string(),
                set,
                model,
                expected: c[2] == "true",
                text: std::fs::read_to_string(dir.join(c[0])).expect("corpus file"),
            }
        })
        .collect();

    // Per file: the fastest of RUNS runs (check only; parse reported apart).
    let mut best_check = vec![Duration::MAX; cases.len()];
    let mut best_parse = vec![Duration::MAX; cases.len()];
    for _ in 0..RUNS {
        for (i, case) in cases.iter().enumerate() {
            let t = Instant::now();
            let history = History::parse_jsonl(&case.text).expect("corpus parses");
            best_parse[i] = best_parse[i].min(t.elapsed());
            let t = Instant::now();
            let report = check(&history, case.model, &Budget::default()).expect("valid history");
            best_check[i] = best_check[i].min(t.elapsed());
            let want = if case.expected {
                Verdict::Linearizable
            } else {
                Verdict::NotLinearizable
            };
            assert_eq!(report.verdict, want, "{}", case.file);
        }
    }
    for set in ["etcd", "kv"] {
        let idx: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].set == set).collect();
        let check: Duration = idx.iter().map(|&i| best_check[i]).sum();
        let parse: Duration = idx.iter().map(|&i| best_parse[i]).sum();
        let slowest = idx
            .iter()
            .copied()
            .max_by_key(|&i| best_check[i])
            .expect("non-empty set");
        println!(
            "{set:>4}: {} files, check {:>8.2} ms, parse {:>7.2} ms; slowest {} {:.2} ms",
            idx.len(),
            check.as_secs_f64() * 1e3,
            parse.as_secs_f64() * 1e3,
            cases[slowest].file,
            best_check[slowest].as_secs_f64() * 1e3
        );
    }
    let slowest = (0..cases.len())
        .max_by_key(|&i| best_check[i])
        .expect("non-empty corpus");
    println!(
        " all: slowest file {} {:.2} ms (best of {RUNS} runs per file)",
        cases[slowest].file,
        best_check[slowest].as_secs_f64() * 1e3
    );
}
