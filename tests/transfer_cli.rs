//! Each known bug of the transfer models, run from the command line on the bundled story with
//! its seed (42): exit 1, and the invariant that catches it named in the JSON report.

mod common;

use std::process::Command;

/// Runs `consim run SCENARIO --json` with overrides; returns the exit code and the statuses.
fn run(scenario: &str, overrides: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consim"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", scenario, "--json"]);
    for o in overrides {
        cmd.args(["--set", o]);
    }
    let out = cmd.output().expect("consim runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

fn status<'a>(report: &'a serde_json::Value, invariant: &str) -> &'a str {
    common::invariant(report, invariant)["status"]
        .as_str()
        .unwrap()
}

#[test]
fn commit_before_log_breaks_atomicity() {
    // The coordinator dies right after its first Commit leaves, before logging the decision.
    let trigger = r#"faults.0.when={ node = "coordinator", sends = "Commit", count = 1 }"#;
    let (code, r) = run(
        "scenarios/bank-transfer-2pc.toml",
        &["model.bug=commit-before-log", trigger],
    );
    assert_eq!(code, Some(1));
    assert_eq!(status(&r, "atomicity"), "violated");
    let (code, r) = run("scenarios/bank-transfer-2pc.toml", &[trigger]);
    assert_eq!(
        (code, status(&r, "atomicity")),
        (Some(0), "holds"),
        "the correct protocol survives the same crash"
    );
}

#[test]
fn unsynced_prepare_breaks_atomicity() {
    // db1 dies right after its first yes vote leaves, losing its unsynced prepare record.
    let trigger = r#"faults.0.when={ node = "db1", sends = "Vote", count = 1 }"#;
    let (code, r) = run(
        "scenarios/bank-transfer-2pc.toml",
        &["model.bug=unsynced-prepare", trigger, "faults.0.crash=db1"],
    );
    assert_eq!(code, Some(1));
    assert_eq!(status(&r, "atomicity"), "violated");
    let (code, _) = run(
        "scenarios/bank-transfer-2pc.toml",
        &[trigger, "faults.0.crash=db1"],
    );
    assert_eq!(
        code,
        Some(0),
        "the correct protocol survives the same crash"
    );
}

#[test]
fn no_compensation_breaks_conservation() {
    // Balances near the credit limit: credits get refused and sagas must compensate.
    let tight = [
        "model.bank.initial_balance=500",
        "model.bank.max_balance=600",
        "model.bank.amount_max=200",
    ];
    let (code, r) = run(
        "scenarios/bank-transfer-saga.toml",
        &[&["model.bug=no-compensation"][..], &tight].concat(),
    );
    assert_eq!(code, Some(1));
    assert_eq!(status(&r, "conservation"), "violated");
    assert_eq!(status(&r, "saga_completes"), "violated");
    let (code, r) = run("scenarios/bank-transfer-saga.toml", &tight);
    assert_eq!(code, Some(0));
    assert!(
        r["metrics"]["compensations"].as_u64().unwrap() > 0,
        "the correct saga compensates"
    );
}
