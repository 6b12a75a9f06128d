//! What a first outside try broke: extreme latencies, benchmark arguments, runaway runs.
//! Every case goes through the binary (or the library for the progress hook), and each failed
//! before its fix: a wrapped time, a panic, or memory without bound.

use consim::runner::{self, Samples};
use consim::watch::ProgressLine;
mod common;

use common::consim;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.lines().next().expect("one run")).expect("a JSON run")
}

/// A heavy tail overflowed simulated time: 2PC reported `in_doubt_ms` max = u64::MAX ns, the
/// register's history went backwards, and debug builds panicked. The hashes are those of a
/// release build: both profiles give the same run.
#[test]
fn extreme_latencies_give_sane_runs_in_every_profile() {
    let a_day_ms = 86_400_000.0;
    for (file, set, hash) in [
        (
            "scenarios/bank-transfer-2pc.toml",
            r#"network.latency="lognormal(1s, 30)""#,
            "e3cc9c20105a7a1f",
        ),
        (
            "scenarios/bank-transfer-2pc.toml",
            r#"network.links.0.latency="lognormal(45ms, 1000)""#,
            "2047382315d155c5",
        ),
        (
            "scenarios/register-singapore-sync.toml",
            r#"network.latency="lognormal(1s, 30)""#,
            "30f897ae6d59a363",
        ),
    ] {
        let o = consim(&["run", file, "--json", "--set", set]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{file} {set}: {err}");
        let r = json(&o);
        for (name, m) in r["metrics"].as_object().unwrap() {
            if let Some(max) = m.get("max").and_then(|v| v.as_f64()) {
                assert!(max < a_day_ms, "{file} {set}: {name} max {max} ms");
            }
        }
        let end = r["sim_time_ns"].as_u64().unwrap();
        assert!(end <= 100_000_000_000, "{file} {set}: sim time {end}");
        for i in r["invariants"].as_array().unwrap() {
            let detail = i["detail"].as_str().unwrap();
            assert!(
                !detail.contains("invalid history"),
                "{file} {set}: {detail}"
            );
        }
        assert_eq!(r["trace_hash"], hash, "{file} {set}");
    }
}

/// Each of these panicked (exit 101).
#[test]
fn bench_arguments_run_or_are_refused() {
    for (args, code, says) in [
        (
            &["--messages", "0"][..],
            2,
            "--messages: must be at least 1",
        ),
        (&["--messages", "4294967295"][..], 2, "messages in flight"),
        (
            &["--deliveries", "18446744073709551615"][..],
            2,
            "--deliveries must be within",
        ),
        (&["--deliveries", "0"][..], 2, "--deliveries must be within"),
        (&["--latency", "1d", "--deliveries", "1000"][..], 0, ""),
        (
            &["--latency", "lognormal(1ms,1000)", "--deliveries", "100000"][..],
            0,
            "",
        ),
    ] {
        let mut all = vec!["bench", "pingpong"];
        all.extend_from_slice(args);
        let o = consim(&all);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && err.contains(says),
            "{args:?}: {err}"
        );
        if code == 0 {
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(out.starts_with("pingpong: 5 nodes"), "{args:?}: {out}");
        }
    }
}

/// A run longer than its wall-clock limit ends as unknown (exit 3), like the event limit. The
/// limit is 1 ns, so the first look at the clock (after 65,536 events) is past it.
#[test]
fn the_wall_clock_limit_ends_a_run_as_unknown() {
    let o = consim(&[
        "run",
        "scenarios/register-singapore-sync.toml",
        "--json",
        "--set",
        "duration=1h",
        "--set",
        "limits.max_wall_time=1ns",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["stop"], "interrupted");
    assert_eq!(r["events"], 1 << 16);
    let completed = common::invariant(&r, "run_completed");
    assert_eq!(completed["status"], "unknown");
    assert!(completed["detail"]
        .as_str()
        .unwrap()
        .contains("limits.max_wall_time"));
}

/// `duration = 1000h` took 6.1 GB, most of it the client history kept for the checker; past
/// its limit the run ends as unknown instead.
#[test]
fn the_history_limit_ends_a_run_as_unknown() {
    let o = consim(&[
        "run",
        "scenarios/register-singapore-sync.toml",
        "--json",
        "--set",
        "duration=1h",
        "--set",
        "limits.max_history_events=1000",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["stop"], "interrupted");
    let text = r["invariants"].to_string();
    assert!(text.contains("client history reached"), "{text}");
}

/// The progress hook only looks: a run with it drawing gives the same trace hash.
#[test]
fn progress_does_not_change_the_run() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/register-singapore-sync.toml");
    let set = [("duration".to_string(), "20m".to_string())];
    let s = runner::load(&path, &set).unwrap();
    let quiet = s
        .run_with(7, None, Samples::Drop, ProgressLine::Never)
        .unwrap();
    let shown = s
        .run_with(7, None, Samples::Drop, ProgressLine::Always)
        .unwrap();
    assert!(quiet.events > 1 << 16, "the hook must have run");
    assert_eq!(quiet.trace_hash, shown.trace_hash);
    assert_eq!(quiet.events, shown.events);
}
