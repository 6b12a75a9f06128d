//! `consim sweep`: shards and job counts give the very lines of the unsharded sweep, the
//! summary has a row per point and metric with its confidence interval, the charts hold the
//! series they must, the shard comes from the batch scheduler's environment, and bad input is
//! refused before any run.

mod common;

use common::{consim, Scratch};
use std::path::Path;
use std::process::Output;

const REPLICAS: &str = "scenarios/regional-replicas-sync.toml";
const MODES: &str = "model.mode=sync,semisync,async";

/// `consim sweep ARGS --out DIR`.
fn sweep(args: &[&str], out: &Path) -> Output {
    sweep_env(args, out, &[])
}

fn sweep_env(args: &[&str], out: &Path, env: &[(&str, &str)]) -> Output {
    let mut argv = vec!["sweep"];
    argv.extend_from_slice(args);
    argv.extend(["--out", out.to_str().unwrap()]);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_consim"));
    cmd.args(&argv).current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("consim runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .expect("results.jsonl is written")
        .lines()
        .map(String::from)
        .collect()
}

/// The text of every `<text>` element of an SVG.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().to_string())
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The three replication modes over seeds 1..6 (18 runs).
fn modes(extra: &[&str], out: &Path) -> Output {
    let mut args = vec![REPLICAS, "--seeds", "1..6", "--vary", MODES];
    args.extend_from_slice(extra);
    sweep(&args, out)
}

#[test]
fn shards_and_job_counts_give_the_unsharded_lines() {
    let dir = Scratch::new("sweep-shards");
    let (whole, one_job, shard0, shard1) = (
        dir.join("whole"),
        dir.join("one-job"),
        dir.join("shard0"),
        dir.join("shard1"),
    );
    let o = modes(&["--jobs", "2"], &whole);
    // The async point loses acknowledged writes its file expects to keep: exit 1.
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let all = lines(&whole);
    assert_eq!(all.len(), 18);
    assert_eq!(modes(&["--jobs", "1"], &one_job).status.code(), Some(1));
    // The same lines in the same order (point-major, then seed) whatever the jobs.
    assert_eq!(lines(&one_job), all);
    modes(&["--shard", "0/2"], &shard0);
    modes(&["--shard", "1/2"], &shard1);
    let (a, b) = (lines(&shard0), lines(&shard1));
    assert_eq!(a.len(), 9);
    assert_eq!(b.len(), 9);
    assert_eq!(sorted([a, b].concat()), sorted(all.clone()));

    // Point-major, then seed; every line carries its point's varied value.
    let parsed: Vec<serde_json::Value> = all
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (k, v) in parsed.iter().enumerate() {
        assert_eq!(v["point"], k / 6);
        assert_eq!(v["seed"], (k % 6 + 1) as u64);
        assert_eq!(
            v["params"]["model.mode"],
            ["sync", "semisync", "async"][k / 6]
        );
        assert_eq!(
            v["quantiles_ms"]["write_latency_ms"]
                .as_array()
                .unwrap()
                .len(),
            24
        );
    }
}

#[test]
fn the_summary_has_a_confidence_interval_per_point_and_metric() {
    let dir = Scratch::new("sweep-summary");
    modes(&[], &dir);
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("scenario,params,metric,runs,mean,ci95_low,ci95_high,min,max")
    );
    let row = |params: &str, metric: &str| -> Vec<String> {
        csv.lines()
            .find(|l| l.contains(&format!(",{params},{metric},")))
            .unwrap_or_else(|| panic!("no row {params} {metric} in\n{csv}"))
            .split(',')
            .map(String::from)
            .collect()
    };
    // Sync loses no acknowledged write on any seed: a zero-width interval at 0.
    let sync = row("model.mode=sync", "lost_acked_writes");
    assert_eq!(sync[3..], ["6", "0", "0", "0", "0", "0"]);
    // Async loses some on every seed; its mean sits inside its interval.
    let lost = row("model.mode=async", "lost_acked_writes");
    let [mean, low, high] = [4, 5, 6].map(|i| lost[i].parse::<f64>().unwrap());
    assert!(mean > 0.0 && low < mean && mean < high, "{lost:?}");
    // Distributions are flattened; invariants give their violation rate.
    row("model.mode=semisync", "write_latency_ms.p99");
    let violated = row("model.mode=async", "no_lost_acked_writes.violated");
    assert_eq!(violated[4], "1", "{violated:?}");
}

#[test]
fn the_charts_hold_every_variant() {
    let dir = Scratch::new("sweep-charts");
    modes(&["--anomalies", "lost_acked_writes"], &dir);
    for stem in [
        "cdf-write_latency_ms",
        "write_latency_ms.p99-by-model.mode",
        "lost_acked_writes-by-model.mode",
        "tradeoff",
    ] {
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg")))
            .unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
        let png = std::fs::read(dir.join(format!("{stem}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{stem}.png is not a PNG");
        // Every variant is in the legend of the CDF and of the trade-off, and on the axis of
        // the by-mode charts.
        let labels = texts(&svg);
        for mode in ["sync", "semisync", "async"] {
            let label = format!("model.mode={mode}");
            assert!(
                labels.iter().any(|t| *t == mode || *t == label),
                "{stem}.svg lacks {mode}: {labels:?}"
            );
        }
    }
    let tradeoff = std::fs::read_to_string(dir.join("tradeoff.svg")).unwrap();
    let labels = texts(&tradeoff);
    assert!(
        labels.iter().any(|t| t.starts_with("Pareto front")),
        "{labels:?}"
    );
    assert!(
        labels.contains(&"lost_acked_writes per run (mean)".to_string()),
        "{labels:?}"
    );
    // The CDF's axes say what and in which unit.
    let cdf = texts(&std::fs::read_to_string(dir.join("cdf-write_latency_ms.svg")).unwrap());
    assert!(
        cdf.contains(&"write_latency_ms (ms, log scale)".to_string()),
        "{cdf:?}"
    );
    assert!(
        cdf.contains(&"fraction of samples at or below".to_string()),
        "{cdf:?}"
    );
}

#[test]
fn the_shard_comes_from_slurm_or_an_indexed_job() {
    let dir = Scratch::new("sweep-env");
    let args = [
        REPLICAS,
        "--seeds",
        "1..4",
        "--vary",
        "model.mode=sync,async",
    ];
    sweep(&args, &dir.join("whole"));
    let whole = lines(&dir.join("whole"));
    let slurm = dir.join("slurm");
    let o = sweep_env(
        &args,
        &slurm,
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    );
    assert!(stderr(&o).contains("shard 1/3"), "{}", stderr(&o));
    // Runs 1, 4 and 7 of the eight.
    let expected: Vec<String> = [1, 4, 7].iter().map(|&k| whole[k].clone()).collect();
    assert_eq!(lines(&slurm), expected);
    let k8s = dir.join("k8s");
    let mut k8s_args = args.to_vec();
    k8s_args.extend(["--shards", "3"]);
    sweep_env(&k8s_args, &k8s, &[("JOB_COMPLETION_INDEX", "1")]);
    assert_eq!(lines(&k8s), expected);
    // An index without its count is refused.
    let o = sweep_env(&args, &dir.join("bad"), &[("JOB_COMPLETION_INDEX", "1")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--shards"), "{}", stderr(&o));
}

#[test]
fn bad_input_is_refused_before_any_run() {
    let dir = Scratch::new("sweep-bad");
    let cases: [(&[&str], &str); 7] = [
        (&[REPLICAS, "--vary", "model.mode"], "not KEY=V1,V2"),
        (&[REPLICAS, "--vary", "model.mode=sync,,async"], "empty"),
        (&[REPLICAS, "--vary", "model.nonsense=1,2"], "nonsense"),
        (&[REPLICAS, "--vary", "model.mode=sync,quantum"], "quantum"),
        (&[REPLICAS, "--shard", "2/2"], "shard 2 of 2"),
        (&[REPLICAS, "--shard", "0/0"], "0 shards"),
        (
            &[
                REPLICAS,
                "--set",
                "model.mode=sync",
                "--vary",
                "model.mode=sync,async",
            ],
            "both --set and --vary",
        ),
    ];
    for (args, message) in cases {
        let o = sweep(args, &dir);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(
            !dir.join("results.jsonl").exists(),
            "{args:?} started running"
        );
    }
    let o = consim(&["sweep", "scenarios/no-such-file.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
