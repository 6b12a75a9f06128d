//! Silent losses against clock skew: the versioned store's three policies on the same seeds,
//! with replica 0's clock ahead by 0, 10, 50, 100 and 200 ms (and 300 ms, the tests'), no
//! other fault, beside the analytic expectation for `lww-wall`'s causal losses (derived at
//! [`expected_causal`]; README.md shows the table).
//!
//! ```sh
//! cargo bench -p models --bench versioning_skew          # 20 seeds per cell
//! cargo bench -p models --bench versioning_skew -- 100   # 100 seeds per cell
//! ```

#[path = "../tests/support/sweep.rs"]
mod sweep;

use models::versioning::{Policy, VersionedParams};
use rayon::prelude::*;
use std::time::Duration;

const SKEWS_MS: [u64; 6] = [0, 10, 50, 100, 200, 300];

/// Expected causal losses of `lww-wall` among `acked` updates with replica 0 `skew_ms`
/// ahead. An update `u` accepted at a slower replica loses to the newest replica-0 write `w`
/// it read when `t_u − t_w < s`. That gap is `d + A + T + ε`: the WAN delay `d` for `w` to
/// reach `u`'s replica (40 ms), the age `A` of the newest replica-0 write there when the
/// device reads (exponential, mean 1/λ0, λ0 the rate of replica-0 writes: two devices at
/// ~4.6 writes/s each, 93% of them at home, and the web's roaming, ≈ 8.7/s, so 115 ms), the device's think time `T`
/// between read and write (exponential, mean θ = 100 ms) and the two local hops ε (2.2 ms).
/// So P(loss) = P(A + T < x) with x = s − d − ε, for two exponentials of means a and θ:
/// 1 − (a·e^(−x/a) − θ·e^(−x/θ)) / (a − θ), and 0 for x ≤ 0. The updates at slower replicas
/// are the web's (a third of the devices, 97% at its home replica) and the roaming
/// updates of the other two (2/3 of 10%): 0.367 of all.
fn expected_causal(acked: f64, skew_ms: f64) -> f64 {
    let (d, eps, a, theta) = (40.2, 2.2, 115.0, 100.0);
    let x = skew_ms - d - eps;
    if x <= 0.0 {
        return 0.0;
    }
    let p = 1.0 - (a * (-x / a).exp() - theta * (-x / theta).exp()) / (a - theta);
    acked * 0.367 * p
}

fn main() {
    let seeds: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map_or(20, |s| s.parse().expect("a seed count"));
    println!("{seeds} seeds per cell; sums over the seeds; replica 0 ahead by the skew");
    println!();
    println!(
        "| skew | policy | acked | lost causal | lost concurrent | lww-wall causal, expected |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let nodes = sweep::versioned_nodes_with(0);
    for skew in SKEWS_MS {
        for policy in [Policy::LwwWall, Policy::LwwHlc, Policy::VectorClocks] {
            let runs: Vec<(u64, u64, u64)> = (1..=seeds)
                .into_par_iter()
                .map(|seed| {
                    let p = VersionedParams {
                        policy,
                        ..VersionedParams::default()
                    };
                    let o = sweep::versioned_with(
                        p,
                        &nodes,
                        seed,
                        sweep::VERSIONED,
                        Duration::from_millis(skew),
                        false,
                        vec![],
                        Duration::from_secs(10),
                    );
                    let c = |n| o.metrics.counter(n).unwrap_or(0);
                    (
                        c("updates_acked"),
                        c("lost_updates_causal"),
                        c("lost_updates_concurrent"),
                    )
                })
                .collect();
            let sum = |f: fn(&(u64, u64, u64)) -> u64| runs.iter().map(f).sum::<u64>();
            let acked = sum(|r| r.0);
            let expected = if policy == Policy::LwwWall {
                format!("{:.0}", expected_causal(acked as f64, skew as f64))
            } else {
                "".into()
            };
            println!(
                "| {skew} ms | {policy:?} | {acked} | {} | {} | {expected} |",
                sum(|r| r.1),
                sum(|r| r.2)
            );
        }
    }
}
