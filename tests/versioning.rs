//! The user-profile stories (`scenarios/user-profile-*.toml`) through the `consim` binary: the
//! same devices, workload, partition and skew under each policy, and the versioned store's
//! known bugs exiting 1 by name.

mod common;

use common::{consim, invariant};

/// Runs `file` with `args`, returning the exit code and the JSON report.
fn run(file: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["run", file, "--json"];
    all.extend_from_slice(args);
    let out = consim(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("an exit code"), report)
}

fn metric(report: &serde_json::Value, name: &str) -> u64 {
    report["metrics"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {report}"))
}

#[test]
fn the_same_story_loses_causal_updates_only_under_wall_clock_lww() {
    let (code, lww) = run("scenarios/user-profile-lww.toml", &[]);
    assert_eq!(code, 0, "the story expects its loss");
    assert_eq!(invariant(&lww, "no_silent_loss")["status"], "violated");
    assert!(metric(&lww, "lost_updates_causal") > 0);

    let (code, hlc) = run("scenarios/user-profile-hlc.toml", &[]);
    assert_eq!(code, 0);
    assert_eq!(metric(&hlc, "lost_updates_causal"), 0);
    assert!(metric(&hlc, "lost_updates_concurrent") > 0);

    let (code, vc) = run("scenarios/user-profile-vector-clocks.toml", &[]);
    assert_eq!(code, 0);
    assert_eq!(invariant(&vc, "no_silent_loss")["status"], "holds");
    assert!(metric(&vc, "siblings_max") >= 2);
    for r in [&lww, &hlc, &vc] {
        assert_eq!(invariant(r, "convergence")["status"], "holds");
    }
}

#[test]
fn no_tiebreak_exits_1_by_name_on_seed_3() {
    // The bug's own story expects it; asked to expect convergence, the run fails by name.
    let file = "scenarios/user-profile-lww-no-tiebreak.toml";
    let (code, r) = run(file, &["--seed", "3"]);
    assert_eq!(code, 0, "the story expects the divergence");
    assert_eq!(invariant(&r, "convergence")["status"], "violated");
    let (code, r) = run(file, &["--seed", "3", "--set", "expect.convergence=holds"]);
    assert_eq!(code, 1);
    assert_eq!(invariant(&r, "convergence")["status"], "violated");
    let (code, _) = run(
        file,
        &[
            "--seed",
            "3",
            "--set",
            "model.bug=none",
            "--set",
            "expect.convergence=holds",
        ],
    );
    assert_eq!(code, 0, "with the tie-break the replicas converge");
}

#[test]
fn no_clock_merge_exits_1_by_name_on_seed_7() {
    let (code, r) = run(
        "scenarios/user-profile-vector-clocks.toml",
        &["--seed", "7", "--set", "model.bug=no-clock-merge"],
    );
    assert_eq!(code, 1);
    assert_eq!(invariant(&r, "siblings_concurrent")["status"], "violated");
}
