//! The leaderless quorum store: strict quorums (R + W > N) make every read fresh, over many
//! seeds and under faults; partial quorums (R = W = 1 of 3) give a freshness curve rising
//! with the time since the write's acknowledgement, against PBS's WARS model; each known bug
//! is caught by name on a named seed where the correct model holds.

mod support;

use models::quorum::{Bug, QuorumParams, FRESH_AFTER_MS};
use models::{NodeInfo, Params};
use sim::invariant::Status;
use sim::RunResult;
use support::sweep;

fn params(r: u32, w: u32) -> QuorumParams {
    QuorumParams {
        r,
        w,
        ..QuorumParams::default()
    }
}

/// One calm run (no loss, no faults) of the sweep's store: 3 replicas, 4 clients, every leg
/// `exponential(10ms)`.
fn calm(p: QuorumParams, seed: u64) -> RunResult {
    sweep::quorum_with(p, seed, 0.0, 0.0, false)
}

fn verdict<'a>(o: &'a RunResult, name: &str) -> &'a sim::invariant::Verdict {
    o.verdicts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no verdict {name}"))
}

/// (hits, trials) of `p_fresh_after_ms` per label, summed over `runs`.
fn curve(runs: impl Iterator<Item = RunResult>) -> Vec<(u64, u64)> {
    let mut sum = vec![(0, 0); FRESH_AFTER_MS.len()];
    for o in runs {
        for (i, (_, label)) in FRESH_AFTER_MS.iter().enumerate() {
            let (h, t) = o.metrics.fraction("p_fresh_after_ms", label).unwrap();
            sum[i].0 += h;
            sum[i].1 += t;
        }
    }
    sum
}

#[test]
fn strict_quorums_make_every_read_fresh() {
    for (r, w) in [(2, 2), (1, 3), (3, 1)] {
        let runs = (1..=20).map(|seed| {
            let o = calm(params(r, w), seed);
            let f = sweep::findings(&o);
            assert!(f.is_empty(), "r={r} w={w} seed {seed}: {f:?}");
            assert_eq!(
                o.metrics.counter("stale_reads"),
                Some(0),
                "r={r} w={w} seed {seed}"
            );
            o
        });
        for (&(h, t), (ms, _)) in curve(runs).iter().zip(FRESH_AFTER_MS) {
            assert!(
                t > 500,
                "r={r} w={w}: only {t} probes {ms} ms after a write"
            );
            assert_eq!(h, t, "r={r} w={w}: a probe {ms} ms after a write missed it");
        }
    }
}

#[test]
fn strict_quorums_stay_fresh_under_faults() {
    // The heavy-fault sweep runs R = W = 2 (`fault_sweep.rs`); here every probe also saw its
    // write, and reads without read repair still converge through anti-entropy alone.
    for seed in 1..=30 {
        let p = QuorumParams {
            read_repair: seed % 2 == 0,
            ..params(2, 2)
        };
        let o = sweep::quorum_with(p, seed, 0.05, 0.05, true);
        let f = sweep::findings(&o);
        assert!(f.is_empty(), "seed {seed}: {f:?}");
        for (_, label) in FRESH_AFTER_MS {
            let (h, t) = o.metrics.fraction("p_fresh_after_ms", label).unwrap();
            assert_eq!(h, t, "seed {seed}, {label} ms");
        }
    }
}

#[test]
fn one_of_three_gives_a_rising_curve() {
    let c = curve((1..=20).map(|seed| {
        let o = calm(params(1, 1), seed);
        let v = verdict(&o, "read_sees_acked_writes");
        assert_eq!(v.status, Status::Holds);
        assert!(v.detail.starts_with("not applicable"), "{}", v.detail);
        assert_eq!(verdict(&o, "convergence").status, Status::Holds);
        o
    }));
    let p: Vec<f64> = c.iter().map(|&(h, t)| h as f64 / t as f64).collect();
    assert!(
        p[0] < 0.9,
        "right after the ack a third of the replicas has the write: {p:?}"
    );
    // Monotone within sampling noise (~2,500 probes per delay), and fresh by 100 ms.
    for i in 1..p.len() {
        assert!(p[i] > p[i - 1] - 0.03, "{p:?}");
    }
    assert!(p[7] > 0.99 && p[7] > p[0] + 0.1, "{p:?}");
}

/// PBS's WARS model for N = 3, every leg exponential with mean 10 ms, by Monte Carlo
/// outside the simulator: the write reaches replica i at W_i and commits at the `w`-th
/// fastest ack W_i + A_i; a read started t later is answered by the `r` replicas whose
/// request and reply legs R_j + S_j are shortest, and is fresh if the write reached one of
/// them before its read request did: W_j ≤ commit + t + R_j. (WARS leaves out what the
/// simulator adds: newer writes, read repair, anti-entropy.)
fn wars(r: usize, w: usize, t_ms: f64, trials: u32) -> f64 {
    let mut rng = sim::rng::Rng::stream(1, "wars");
    let mut exp = || -(1.0 - rng.unit()).ln() * 10.0;
    let mut fresh = 0;
    for _ in 0..trials {
        let write: [f64; 3] = [exp(), exp(), exp()];
        let mut acks: Vec<f64> = write.iter().map(|wi| wi + exp()).collect();
        acks.sort_by(f64::total_cmp);
        let commit = acks[w - 1];
        // (R_j + S_j, R_j) per replica, fastest answers first.
        let mut reads: Vec<(f64, f64, usize)> = (0..3)
            .map(|j| {
                let req = exp();
                (req + exp(), req, j)
            })
            .collect();
        reads.sort_by(|a, b| a.0.total_cmp(&b.0));
        let seen = reads[..r]
            .iter()
            .any(|&(_, req, j)| write[j] <= commit + t_ms + req);
        fresh += u32::from(seen);
    }
    f64::from(fresh) / f64::from(trials)
}

/// The simulated curves (20 seeds, ~2,500 probes per delay) against WARS, for
/// (R, W) = (1, 1) and (1, 2): within sampling noise, and never much fresher (what WARS
/// leaves out only makes reads fresher, and with 8 keys it is rare).
#[test]
fn partial_quorums_follow_pbs_wars() {
    for (r, w) in [(1, 1), (1, 2)] {
        let c = curve((1..=20).map(|seed| calm(params(r as u32, w as u32), seed)));
        for (&(h, t), (ms, _)) in c.iter().zip(FRESH_AFTER_MS) {
            let sim = h as f64 / t as f64;
            let model = wars(r, w, ms as f64, 200_000);
            assert!(
                (sim - model).abs() < 0.04,
                "r={r} w={w}, {ms} ms: simulated {sim:.3}, WARS {model:.3}"
            );
        }
    }
}

#[test]
fn each_bug_is_caught_by_name_where_the_correct_model_holds() {
    for (bug, seed) in [(Bug::AckBeforeQuorum, 1), (Bug::ReadFirstReply, 1)] {
        let correct = calm(params(2, 2), seed);
        assert!(sweep::findings(&correct).is_empty(), "{bug:?} seed {seed}");
        let broken = calm(
            QuorumParams {
                bug,
                ..params(2, 2)
            },
            seed,
        );
        let v = verdict(&broken, "read_sees_acked_writes");
        assert_eq!(
            v.status,
            Status::Violated,
            "{bug:?} seed {seed}: {}",
            v.detail
        );
        assert!(
            v.detail.contains("acknowledged before the read started"),
            "{}",
            v.detail
        );
        assert_eq!(verdict(&broken, "convergence").status, Status::Holds);
    }
}

#[test]
fn quorum_sizes_are_checked_against_the_replicas() {
    let nodes: Vec<NodeInfo> = ["replica", "replica", "replica", "client"]
        .iter()
        .enumerate()
        .map(|(i, role)| NodeInfo {
            name: format!("n{i}"),
            region: "dc".into(),
            role: role.to_string(),
        })
        .collect();
    for (p, field) in [
        (params(0, 1), "model.r"),
        (params(1, 4), "model.w"),
        (
            QuorumParams {
                n: Some(5),
                ..params(1, 1)
            },
            "model.n",
        ),
        (
            QuorumParams {
                keys: 0,
                ..params(1, 1)
            },
            "model.keys",
        ),
    ] {
        let e = p.build(&nodes).err().expect("refused");
        assert_eq!(e.field, field, "{}", e.message);
    }
    assert!(QuorumParams {
        n: Some(3),
        ..params(3, 3)
    }
    .build(&nodes)
    .is_ok());
}

/// The figures of the report (`cargo test -p models --test quorum -- --nocapture`): the
/// curve for (R, W) = (1, 1), (1, 2), (2, 2) of N = 3 over 20 seeds, with WARS beside.
/// A larger write quorum only helps: (1, 2) is at least as fresh as (1, 1) at every delay.
#[test]
fn freshness_table() {
    let curves: Vec<Vec<f64>> = [(1, 1), (1, 2), (2, 2)]
        .iter()
        .map(|&(r, w)| {
            curve((1..=20).map(|seed| calm(params(r, w), seed)))
                .iter()
                .map(|&(h, t)| h as f64 / t as f64)
                .collect()
        })
        .collect();
    println!("| t (ms) | R=1 W=1 | WARS | R=1 W=2 | WARS | R=2 W=2 | WARS |");
    for (i, (ms, _)) in FRESH_AFTER_MS.iter().enumerate() {
        let t = *ms as f64;
        println!(
            "| {ms} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            curves[0][i],
            wars(1, 1, t, 200_000),
            curves[1][i],
            wars(1, 2, t, 200_000),
            curves[2][i],
            wars(2, 2, t, 200_000),
        );
        assert!(curves[1][i] > curves[0][i] - 0.03, "{curves:?}");
        assert_eq!(curves[2][i], 1.0);
    }
}
