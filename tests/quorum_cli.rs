//! The quorum store through its bundled scenario and the binary: the freshness curve in the
//! `--json` report and the summary, and a known bug caught by name (exit 1) once
//! R + W > N, where the correct store passes on the same seed.

mod common;

use common::{consim, invariant};

const FILE: &str = "scenarios/quorum-staleness.toml";

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

#[test]
fn the_freshness_curve_is_in_the_report_and_the_summary() {
    let out = consim(&["run", FILE, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let r = json(&out);
    let curve = r["metrics"]["p_fresh_after_ms"].as_object().unwrap();
    let labels = ["0", "1", "2", "5", "10", "20", "50", "100"];
    assert_eq!(curve.len(), labels.len(), "{curve:?}");
    let p: Vec<f64> = labels.iter().map(|l| curve[*l].as_f64().unwrap()).collect();
    assert!(p[0] < 0.95 && p[7] > p[0], "{p:?}");
    assert!(r["metrics"]["stale_reads"].as_u64().unwrap() > 0);
    let v = invariant(&r, "read_sees_acked_writes");
    assert!(
        v["detail"].as_str().unwrap().starts_with("not applicable"),
        "{v}"
    );

    let out = consim(&["run", FILE]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("p_fresh_after_ms"))
        .unwrap_or_else(|| panic!("{text}"));
    // Labels in numeric order, not as text.
    let at = |l: &str| {
        line.find(&format!(" {l}: "))
            .unwrap_or_else(|| panic!("{line}"))
    };
    assert!(
        at("0") < at("2") && at("5") < at("10") && at("50") < at("100"),
        "{line}"
    );
}

#[test]
fn both_known_bugs_are_caught_by_name_with_strict_quorums() {
    let strict = ["--set", "model.r=2", "--set", "model.w=2"];
    let mut args = vec!["run", FILE, "--json"];
    args.extend(strict);
    let out = consim(&args);
    assert_eq!(out.status.code(), Some(0));
    let r = json(&out);
    assert_eq!(invariant(&r, "read_sees_acked_writes")["status"], "holds");
    for (_, p) in r["metrics"]["p_fresh_after_ms"].as_object().unwrap() {
        assert_eq!(p, 1.0);
    }
    for bug in ["read-first-reply", "ack-before-quorum"] {
        let set = format!("model.bug={bug}");
        let mut args = vec!["run", FILE];
        args.extend(strict);
        args.extend(["--set", &set]);
        let out = consim(&args);
        assert_eq!(out.status.code(), Some(1), "{bug}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("read_sees_acked_writes  violated"),
            "{bug}: {text}"
        );
    }
}
