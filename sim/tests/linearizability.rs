//! Linearizability checker: the shared corpus (known verdicts), hand-written histories for
//! each rule of `docs/HISTORY_FORMAT.md`, and bad input with its line number.

use sim::history::History;
use sim::linearizability::{check, Budget, Model, Verdict};
use std::path::PathBuf;

/// The corpus lives outside the repository; a missing corpus is a failure, not a skip.
fn corpus() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus"));
    assert!(
        dir.join("verdicts.tsv").is_file(),
        "corpus not found at {}",
        dir.display()
    );
    dir
}

fn model(name: &str) -> Model {
    match name {
        "register" => Model::Register,
        "kv" => Model::Kv,
        other => panic!("unknown model {other} in verdicts.tsv"),
    }
}

#[test]
fn corpus_verdicts_match() {
    let dir = corpus();
    let tsv = std::fs::read_to_string(dir.join("verdicts.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (file, m, expected) = (cols[0], model(cols[1]), cols[2] == "true");
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let history = History::parse_jsonl(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let report = check(&history, m, &Budget::default()).unwrap();
        let want = if expected {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        if report.verdict != want {
            wrong.push(format!("{file}: got {:?}, want {want:?}", report.verdict));
        }
        if report.verdict == Verdict::NotLinearizable {
            assert!(report.explanation.is_some(), "{file}: no explanation");
        }
        checked += 1;
    }
    assert_eq!(
        checked, 109,
        "verdicts.tsv should list 103 etcd + 6 kv histories"
    );
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}
