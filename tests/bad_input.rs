//! Bad scenario files end to end: `consim run` exits 2 with
//! `error: FILE:LINE: field `dotted.field`: message`, and never panics.
//!
//! Each file in `tests/bad_scenarios/` is a minimal valid register scenario with one defect,
//! described by its first line.

use std::process::{Command, Output};

/// `(file, line, field, message substring)`: where the error must point and what it must say.
#[rustfmt::skip]
const CASES: &[(&str, usize, &str, &str)] = &[
    ("toml_syntax.toml", 3, "seed", "invalid string"),
    ("unknown_top_level_field.toml", 5, "colour", "unknown field `colour`"),
    ("unknown_model_field.toml", 9, "model.replicaton", "unknown field `replicaton`"),
    ("unknown_network_field.toml", 28, "network.jitter", "unknown field `jitter`"),
    ("wrong_type_seed.toml", 3, "seed", "invalid type: string \"x\""),
    ("network_loss_above_one.toml", 28, "network.loss", "within [0, 1], got 1.5"),
    ("link_loss_negative.toml", 32, "network.links.loss", "within [0, 1], got -0.1"),
    ("zero_latency.toml", 27, "network.latency", "a latency must be positive"),
    ("negative_latency.toml", 31, "network.links.latency", "invalid duration `-5ms`"),
    ("garbled_latency.toml", 27, "network.latency", "invalid duration `fast-ish`"),
    ("unknown_distribution.toml", 31, "network.links.latency", "unknown distribution `gaussian`"),
    ("link_unknown_region.toml", 30, "network.links.between", "region `mars`"),
    ("link_missing_between.toml", 29, "network.links.between", "missing field `between`"),
    ("crash_unknown_node.toml", 35, "faults.crash", "node `ghost`"),
    ("trigger_unknown_kind.toml", 34, "faults.when", "no message of kind `Writ`"),
    ("too_many_nodes.toml", 25, "nodes.count", "at most 4096"),
    ("nemesis_partition_one_target.toml", 35, "nemesis.partition_every", "at least two targets"),
    ("partition_unknown_node.toml", 35, "faults.partition", "node `ghost`"),
    ("fault_at_and_when.toml", 33, "faults", "exactly one of `at` (a time) or `when`"),
    ("fault_no_action.toml", 33, "faults", "names no fault"),
    ("fault_after_duration.toml", 34, "faults.at", "50s is after the end of the run (10s)"),
    ("missing_model_kind.toml", 6, "model.kind", "missing"),
    ("missing_seed.toml", 1, "seed", "missing field `seed`"),
    ("unknown_model_kind.toml", 7, "model.kind", "unknown model kind `paxos`"),
    ("unknown_bug.toml", 8, "model.bug", "unknown variant `lose-everything`"),
    ("unknown_role.toml", 11, "nodes", "role `clint`"),
    ("no_clients.toml", 11, "nodes", "at least one node with role `client`"),
    ("expect_unknown_invariant.toml", 39, "expect.serializable", "no invariant `serializable`"),
    ("bad_duration.toml", 4, "duration", "invalid duration `fast`"),
    ("nemesis_crash_every_1ns.toml", 34, "nemesis.crash_every", "about 10000000000 faults, more than 100000"),
    ("nemesis_partition_every_1ns.toml", 34, "nemesis.partition_every", "about 10000000000 faults"),
    ("nemesis_clock_jump_every_1ns.toml", 34, "nemesis.clock_jump_every", "about 10000000000 faults"),
    ("accounts_too_many.toml", 8, "model.accounts_per_participant", "4294967296 accounts, more than 4194304"),
    ("saga_accounts_too_many.toml", 8, "model.accounts_per_participant", "more than 4194304"),
    ("client_retry_1ns.toml", 8, "model.client_retry", "at least 1ms"),
    ("pingpong_too_many_messages.toml", 8, "model.messages_per_node", "more than 4194304"),
];

const GOOD: &str = "scenarios/register-singapore-sync.toml";

fn consim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_consim"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

/// Exit code 2, no panic, and the error line on stderr.
fn bad_input(args: &[&str]) -> String {
    let o = consim(args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(2),
        "consim {}: expected exit 2\nstderr: {stderr}",
        args.join(" ")
    );
    assert!(
        !stderr.contains("panicked"),
        "consim {} panicked:\n{stderr}",
        args.join(" ")
    );
    assert!(
        stderr.starts_with("error: "),
        "consim {}: stderr does not start with `error: `:\n{stderr}",
        args.join(" ")
    );
    stderr
}

#[test]
fn every_bad_scenario_is_located() {
    let mut failures = Vec::new();
    for &(file, line, field, message) in CASES {
        let path = format!("tests/bad_scenarios/{file}");
        let stderr = bad_input(&["run", &path]);
        let wanted = [
            format!("{path}:{line}:"),
            format!(": field `{field}`: "),
            message.to_string(),
        ];
        for w in wanted {
            if !stderr.contains(&w) {
                failures.push(format!("{file}: missing {w:?} in: {}", stderr.trim_end()));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_bad_scenario_file_has_a_case() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad_scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            CASES.iter().any(|c| c.0 == name),
            "tests/bad_scenarios/{name} has no line in CASES"
        );
        let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
        assert!(
            text.starts_with("# BAD: "),
            "{name}: the first line must say what is wrong"
        );
    }
}

#[test]
fn the_good_scenario_loads() {
    // The bad files are copies of a valid scenario; this one must still be accepted.
    let o = consim(&["run", GOOD]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_bad_override_names_the_field() {
    let stderr = bad_input(&["run", GOOD, "--set", "network.loss=2"]);
    assert!(stderr.contains(GOOD), "{stderr}");
    assert!(stderr.contains(": field `network.loss`: "), "{stderr}");
    assert!(stderr.contains("within [0, 1], got 2"), "{stderr}");
}

#[test]
fn a_missing_file_exits_2() {
    let stderr = bad_input(&["run", "nonexistent.toml"]);
    assert!(stderr.contains("nonexistent.toml"), "{stderr}");
}
