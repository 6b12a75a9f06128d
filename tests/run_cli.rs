//! `consim run`, `consim models` and `consim bench` as a user calls them: exit codes, the
//! `--json` contract, `--out` files, `--trace` files, and a run's history checked on its own.

mod common;

use common::{consim, Scratch};
use std::path::Path;
use std::process::Output;

fn scenario(name: &str) -> String {
    format!("scenarios/{name}.toml")
}

fn temp_dir(name: &str) -> Scratch {
    Scratch::new(name)
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

#[test]
fn json_output_follows_the_contract() {
    let out = consim(&["run", "scenarios/", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = json_lines(&out);
    let bundled = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(runs.len(), bundled);
    for r in &runs {
        for field in [
            "scenario",
            "model",
            "bug",
            "seed",
            "trace_hash",
            "events",
            "sim_time_ns",
            "invariants",
            "metrics",
        ] {
            assert!(r.get(field).is_some(), "missing {field} in {r}");
        }
        for i in r["invariants"].as_array().unwrap() {
            for field in ["name", "status", "expected", "detail"] {
                assert!(
                    i.get(field).is_some(),
                    "missing invariants[].{field} in {i}"
                );
            }
            assert_eq!(i["status"], i["expected"], "{}", r["scenario"]);
        }
        for (name, m) in r["metrics"].as_object().unwrap() {
            // A counter, a distribution, or fractions by label (a probability or null each).
            let fractions = m.as_object().is_some_and(|f| {
                !f.contains_key("p50")
                    && f.values().all(|p| {
                        p.is_null() || p.as_f64().is_some_and(|p| (0.0..=1.0).contains(&p))
                    })
            });
            assert!(
                m.is_u64() || fractions || ["p50", "p99", "max"].iter().all(|k| m[k].is_number()),
                "{name}: {m}"
            );
        }
    }
}

#[test]
fn an_unexpected_violation_exits_1_and_prints_the_replay_command() {
    let out = consim(&[
        "run",
        &scenario("register-singapore-sync"),
        "--set",
        "model.bug=no-epochs",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("single_primary        violated"),
        "{text}"
    );
    assert!(text.contains("replay: consim run scenarios/register-singapore-sync.toml --seed 42 --set model.bug=no-epochs"), "{text}");
    assert!(
        text.ends_with(
            "scenarios: 0 passed, 1 failed\n  FAIL scenarios/register-singapore-sync.toml (seed 42)\n"
        ),
        "{text}"
    );
}

#[test]
fn a_run_of_several_scenarios_ends_with_a_count() {
    let out = consim(&["run", "scenarios/"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let bundled = text.matches("\nPASS  ").count() + usize::from(text.starts_with("PASS  "));
    assert!(bundled > 5, "{text}");
    assert!(
        text.ends_with(&format!("\nscenarios: {bundled} passed, 0 failed\n")),
        "{text}"
    );
}

#[test]
fn the_event_limit_exits_3() {
    let out = consim(&[
        "run",
        &scenario("register-singapore-sync"),
        "--set",
        "limits.max_events=500",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let r = &json_lines(&out)[0];
    assert_eq!(r["stop"], "event_limit");
    let v = common::invariant(r, "run_completed");
    assert_eq!(v["status"], "unknown");
}

#[test]
fn out_dir_holds_a_history_that_check_agrees_with() {
    for (name, verdict_exit) in [
        ("register-singapore-sync", 0),
        ("register-singapore-async", 1),
    ] {
        let dir = temp_dir(name);
        let out = consim(&["run", &scenario(name), "--out", dir.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run_dir = dir.join(name);
        for f in [
            "result.json",
            "history.jsonl",
            "schedule.toml",
            "timeline.svg",
            "spacetime.svg",
        ] {
            assert!(run_dir.join(f).is_file(), "{name}: no {f}");
        }
        let chart = std::fs::read_to_string(run_dir.join("timeline.svg")).unwrap();
        for label in [
            "<svg",
            "write_latency_ms",
            "down: primary",
            "network partitioned",
        ] {
            assert!(
                chart.contains(label),
                "{name}: the timeline chart lacks {label}"
            );
        }
        let schedule = std::fs::read_to_string(run_dir.join("schedule.toml")).unwrap();
        assert!(schedule.contains("crash = \"primary\""), "{schedule}");
        let history = run_dir.join("history.jsonl");
        let check = consim(&[
            "check",
            history.to_str().unwrap(),
            "--model",
            "kv",
            "--out",
            dir.join("t.svg").to_str().unwrap(),
        ]);
        assert_eq!(
            check.status.code(),
            Some(verdict_exit),
            "{name}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}

#[test]
fn trace_files_of_the_same_seed_are_identical() {
    let dir = temp_dir("trace");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    for t in [&a, &b] {
        let out = consim(&[
            "run",
            &scenario("bank-transfer-2pc"),
            "--trace",
            t.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0));
    }
    let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(
        ta.len() > 1000 && ta == tb,
        "trace files differ or are empty"
    );
    let first: serde_json::Value =
        serde_json::from_slice(ta.split(|&c| c == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["ev"], "start");
    assert_eq!(
        consim(&["run", "scenarios/", "--trace", a.to_str().unwrap()])
            .status
            .code(),
        Some(2),
        "one trace file, one scenario"
    );
}

#[test]
fn models_lists_every_kind_with_its_contract() {
    let out = consim(&["models", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let models = json_lines(&out);
    let kinds: Vec<&str> = models.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    for k in ["two_phase_commit", "saga", "replication", "pingpong"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    let tpc = models
        .iter()
        .find(|m| m["kind"] == "two_phase_commit")
        .unwrap();
    for (field, name) in [
        ("invariants", "atomicity"),
        ("metrics", "in_doubt_ms"),
        ("bugs", "commit-before-log"),
    ] {
        assert!(
            tpc[field].as_array().unwrap().iter().any(|x| x == name),
            "{field}: {}",
            tpc[field]
        );
    }
    assert!(tpc["params"].is_object());
}

#[test]
fn bench_reports_deliveries_per_second() {
    let out = consim(&[
        "bench",
        "pingpong",
        "--nodes",
        "5",
        "--deliveries",
        "20000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r = &json_lines(&out)[0];
    assert_eq!(r["deliveries"], 20000);
    assert!(r["deliveries_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        consim(&["bench", "pingpong", "--nodes", "1"]).status.code(),
        Some(2)
    );
}

/// The transfer models' clients record no history, so `--out` writes no empty history file;
/// the run's other files are there.
#[test]
fn out_dir_of_a_model_without_history_has_no_history_file() {
    let dir = temp_dir("no-history");
    let out = consim(&[
        "run",
        &scenario("bank-transfer-saga"),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let run_dir = dir.join("bank-transfer-saga");
    assert!(run_dir.join("result.json").is_file());
    assert!(run_dir.join("timeline.svg").is_file());
    assert!(!run_dir.join("history.jsonl").exists());
}

#[test]
fn set_help_shows_the_shell_quoting() {
    let o = consim(&["run", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains(r#"--set 'model.think_time="exponential(10ms)"'"#),
        "{help}"
    );
}
