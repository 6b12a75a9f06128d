//! `consim hunt`: it finds a known bug, shrinks the failing run to a reproducer that `consim
//! run` replays to the same violation, finds the same first failure whatever `--jobs`, exits
//! 0 on a clean range, and refuses bad input.

mod common;

use common::{consim, Scratch};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `consim hunt ARGS --out DIR`.
fn hunt(args: &[&str], out: &std::path::Path) -> std::process::Output {
    let mut argv = vec!["hunt"];
    argv.extend_from_slice(args);
    argv.extend(["--out", out.to_str().unwrap()]);
    consim(&argv)
}

#[test]
fn a_known_bug_is_found_shrunk_and_replayed() {
    let dir = Scratch::new("hunt-found");
    let o = hunt(
        &[
            "scenarios/bank-transfer-2pc.toml",
            "--set",
            "model.bug=commit-before-log",
            "--seeds",
            "1..40",
        ],
        &dir,
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("atomicity violated"), "{text}");
    let repro = std::fs::read_to_string(dir.join("repro.toml")).unwrap();
    // The nemesis is gone: every fault is scripted, and at most three are left.
    assert!(!repro.contains("[nemesis]"), "{repro}");
    let faults = repro.matches("[[faults]]").count();
    assert!(faults <= 3, "{faults} faults left:\n{repro}");
    for f in [
        "result.json",
        "history.jsonl",
        "schedule.toml",
        "timeline.svg",
        "trace.jsonl",
        "spacetime.svg",
    ] {
        assert!(dir.join(f).is_file() || f == "history.jsonl", "no {f}");
    }
    // `consim run` replays it to the same violation.
    let replay = consim(&["run", dir.join("repro.toml").to_str().unwrap(), "--json"]);
    assert_eq!(replay.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(
        common::invariant(&report, "atomicity")["status"],
        "violated"
    );
}

#[test]
fn the_first_failure_is_the_same_whatever_the_jobs() {
    let runs: Vec<(String, String)> = ["1", "2", "5"]
        .iter()
        .map(|jobs| {
            let dir = Scratch::new(&format!("hunt-jobs-{jobs}"));
            let o = hunt(
                &[
                    "scenarios/regional-replicas-sync.toml",
                    "--set",
                    "model.bug=no-epochs",
                    "--seeds",
                    "1..30",
                    "--jobs",
                    jobs,
                ],
                &dir,
            );
            assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
            let first = stdout(&o).lines().next().unwrap_or("").to_string();
            // The reproducer, less its header (which names the folder it is in).
            let repro = std::fs::read_to_string(dir.join("repro.toml")).unwrap();
            let body: Vec<&str> = repro
                .lines()
                .skip_while(|l| !l.starts_with("name ="))
                .collect();
            (first, body.join("\n"))
        })
        .collect();
    assert!(runs.windows(2).all(|w| w[0] == w[1]), "{runs:?}");
}

#[test]
fn a_clean_range_exits_0_and_says_how_much_it_ran() {
    let dir = Scratch::new("hunt-clean");
    let o = hunt(
        &["scenarios/register-singapore-sync.toml", "--seeds", "1..12"],
        &dir,
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.starts_with("no violation in 12 runs"), "{text}");
    assert!(!dir.join("repro.toml").exists());
}

#[test]
fn bad_input_exits_2() {
    let dir = Scratch::new("hunt-bad");
    for args in [
        &["scenarios/register-singapore-sync.toml", "--seeds", "9..1"][..],
        &["scenarios/register-singapore-sync.toml", "--seeds", "1-9"],
        // Above 2^63-1, which a reproducer's `seed` could not hold.
        &[
            "scenarios/register-singapore-sync.toml",
            "--seeds",
            "1..9223372036854775808",
        ],
        &["scenarios/register-singapore-sync.toml", "--jobs", "0"],
        &[
            "scenarios/register-singapore-sync.toml",
            "--set",
            "model.bug=nope",
        ],
        &["scenarios/no-such-file.toml"],
    ] {
        let o = hunt(args, &dir);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
    }
}

/// Every known bug of every model is in the hunt's list, and a hunt of its story finds it
/// within 200 seeds with a reproducer that replays to the same violation.
#[test]
fn every_known_bug_is_hunted_down_and_replayed() {
    use consim::hunt::{self, Outcome, KNOWN_BUGS};
    use consim::registry;
    for d in registry::describe_all() {
        for bug in d.spec.bugs {
            assert!(
                KNOWN_BUGS.iter().any(|k| k.bug == *bug),
                "{} bug {bug} has no story in hunt::KNOWN_BUGS",
                d.spec.kind
            );
        }
        for bug in d.spec.unnamed_bugs {
            assert!(
                hunt::UNNAMED_BUGS.iter().any(|k| k.bug == *bug),
                "{} unnamed bug {bug} has no story in hunt::UNNAMED_BUGS",
                d.spec.kind
            );
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for known in KNOWN_BUGS {
        let h = known.hunt(root, 1..=200, 2).unwrap();
        let Outcome::Found(found) = hunt::hunt(&h, &|_| {}).unwrap().outcome else {
            panic!("{} {}: not found in 200 seeds", known.scenario, known.bug);
        };
        let f = &found[0];
        let dir = Scratch::new(&format!("hunt-known-{}", known.bug));
        let (repro, _) = hunt::write(&dir, f).unwrap();
        let r = consim::runner::load(&repro, &[])
            .unwrap()
            .run(f.seed, None)
            .unwrap();
        let status = r
            .invariants
            .iter()
            .find(|i| i.name == f.invariant)
            .unwrap()
            .status;
        assert_eq!(
            status,
            sim::invariant::Status::Violated,
            "{} {}: the reproducer does not replay {}",
            known.scenario,
            known.bug,
            f.invariant
        );
        // The bar for 2PC, the saga and the register; the other models' counts are
        // in the benchmark's table.
        let small = [
            "bank-transfer-2pc",
            "bank-transfer-saga",
            "register-singapore-sync",
        ];
        assert!(
            f.shrunk,
            "{} {}: the schedule alone did not replay the failure",
            known.scenario, known.bug
        );
        if small.contains(&known.scenario) {
            assert!(
                f.faults_after <= 3,
                "{} {}: {} faults left",
                known.scenario,
                known.bug,
                f.faults_after
            );
        }
    }
}

/// Faults are counted against the phases under way when they strike: the 2PC story's
/// coordinator crash, on its fourth vote, lands between prepare and decision; a hunt of the
/// correct saga prints its steps and how often each fault kind struck in each.
#[test]
fn faults_are_counted_against_the_protocol_phases_they_strike() {
    let r = consim::runner::load(
        std::path::Path::new("scenarios/bank-transfer-2pc.toml"),
        &[],
    )
    .unwrap()
    .run(42, None)
    .unwrap();
    let phases = r.coverage.phases();
    let rows: Vec<_> = r.coverage.rows().collect();
    let (kind, struck, hits) = rows[0];
    assert_eq!((kind, struck), ("crash", 1), "{rows:?}");
    let undecided = phases
        .iter()
        .position(|p| *p == "prepared-undecided")
        .unwrap();
    assert_eq!(hits[undecided], 1, "{phases:?} {hits:?}");

    let dir = Scratch::new("hunt-coverage");
    let o = hunt(
        &["scenarios/bank-transfer-saga.toml", "--seeds", "1..20"],
        &dir,
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let header = text
        .lines()
        .find(|l| l.starts_with("  fault "))
        .unwrap_or_else(|| panic!("no coverage table:\n{text}"));
    for column in ["struck", "debiting", "crediting", "refunding", "idle"] {
        assert!(header.contains(column), "{header}");
    }
    let crash: Vec<u64> = text
        .lines()
        .find(|l| l.trim_start().starts_with("crash "))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    // Crashes struck, some while sagas were debiting and crediting.
    assert!(crash[0] > 0 && crash[1] > 0 && crash[2] > 0, "{text}");
}

/// The shrinker drops clients too: the payment story's four checkouts become one, which
/// still double-charges without a ledger, and the reproducer replays with that one.
#[test]
fn the_reproducer_keeps_only_the_clients_the_failure_needs() {
    let dir = Scratch::new("hunt-clients");
    let o = hunt(
        &[
            "scenarios/payment-retries.toml",
            "--set",
            "model.bug=no-ledger",
            "--seeds",
            "1..5",
        ],
        &dir,
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("and 4 clients to 1"), "{text}");
    let repro = std::fs::read_to_string(dir.join("repro.toml")).unwrap();
    let checkout = repro
        .split("[[nodes]]")
        .find(|n| n.contains("\"checkout\""))
        .unwrap();
    assert!(checkout.contains("count = 1"), "{checkout}");
    let replay = consim(&["run", dir.join("repro.toml").to_str().unwrap(), "--json"]);
    assert_eq!(replay.status.code(), Some(1));
}

/// `--all` goes on past the first failure: 2PC's commit-before-log breaks three invariants,
/// and each gets its own reproducer folder that replays it.
#[test]
fn all_shrinks_every_distinct_invariant_violated() {
    let dir = Scratch::new("hunt-all");
    let o = hunt(
        &[
            "scenarios/bank-transfer-2pc.toml",
            "--set",
            "model.bug=commit-before-log",
            "--seeds",
            "1..40",
            "--all",
        ],
        &dir,
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    for invariant in ["atomicity", "conservation", "outcome_matches_decision"] {
        assert!(text.contains(&format!("{invariant} violated")), "{text}");
        let repro = dir.join(invariant).join("repro.toml");
        let replay = consim(&["run", repro.to_str().unwrap(), "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
        assert_eq!(
            common::invariant(&report, invariant)["status"],
            "violated",
            "{invariant}"
        );
    }
}
