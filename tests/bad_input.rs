//! Bad scenario files end to end: `consim run` exits 2 with
//! `error: FILE:LINE: field `dotted.field`: message`, and never panics.
//!
//! Each file in `tests/bad_scenarios/` is a minimal valid register scenario with one defect,
//! described by its first line.

mod common;

use common::consim;

/// `(file, line, field, message substring)`: where the error must point and what it must say.
#[rustfmt::skip]
const CASES: &[(&str, usize, &str, &str)] = &[
    ("toml_syntax.toml", 3, "seed", "invalid string"),
    ("unknown_top_level_field.toml", 5, "colour", "unknown field `colour`"),
    ("unknown_model_field.toml", 9, "model.replicaton", "unknown field `replicaton`"),
    ("bank_unknown_field.toml", 10, "model.bank.amount_mx", "unknown field `amount_mx`"),
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
    ("heartbeat_zero.toml", 11, "model.heartbeat_every", "must be at least 1ms"),
    ("link_three_regions.toml", 34, "network.links.between", "names 3 regions; a link joins exactly two"),
    ("link_pair_twice.toml", 34, "network.links.between", "the link between `in` and `sg` is already given on line 30"),
    ("partition_node_twice.toml", 35, "faults.partition", "puts node `leader` in two groups"),
    ("partition_empty_group.toml", 35, "faults.partition", "group 2 is empty"),
    ("one_way_from_is_to.toml", 35, "faults.partition_one_way", "node `leader` is both in `from` and in `to`"),
    ("nemesis_target_twice.toml", 34, "nemesis.targets", "names node `leader` twice"),
    ("nemesis_targets_empty.toml", 34, "nemesis.targets", "is empty: leave `targets` out"),
    ("node_name_empty.toml", 17, "nodes.name", "must not be empty"),
    ("region_name_empty.toml", 18, "nodes.region", "must not be empty"),
    ("name_dot.toml", 2, "name", "\".\" cannot name an output folder"),
    ("name_empty.toml", 2, "name", "\"\" cannot name an output folder"),
    ("fault_just_after_duration.toml", 34, "faults.at", "10.000000001s is after the end of the run (10s)"),
    ("description_date.toml", 4, "description", "`2024-01-01` is read as a TOML date-time, expected a string; if it is text, quote it: \"2024-01-01\""),
    ("nemesis_no_fault.toml", 33, "nemesis", "names no random fault"),
    ("nemesis_heal_without_partitions.toml", 35, "nemesis.heal_after", "only applies with `partition_every`"),
    ("dist_named_out_of_order.toml", 35, "network.links.latency", "argument 1 of normal is `mean`, not `sd`"),
    ("clock_offset_huge_negative.toml", 15, "nodes.clock", "duration `-1000000h` is too large"),
    ("nemesis_crash_every_1ns.toml", 34, "nemesis.crash_every", "about 10000000000 faults, more than 100000"),
    ("nemesis_heavy_tail.toml", 34, "nemesis.crash_every", "`lognormal(1ns, 7.5)` over 86400000s draws about"),
    ("nemesis_partition_every_1ns.toml", 34, "nemesis.partition_every", "about 10000000000 faults"),
    ("nemesis_clock_jump_every_1ns.toml", 34, "nemesis.clock_jump_every", "about 10000000000 faults"),
    ("accounts_too_many.toml", 10, "model.bank.accounts_per_participant", "4294967296 accounts, more than 4194304"),
    ("saga_accounts_too_many.toml", 10, "model.bank.accounts_per_participant", "more than 4194304"),
    ("client_retry_1ns.toml", 10, "model.bank.client_retry", "at least 1ms"),
    ("pingpong_too_many_messages.toml", 8, "model.messages_per_node", "more than 4194304"),
];

const GOOD: &str = "scenarios/register-singapore-sync.toml";

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
fn a_bad_override_names_the_set_argument_and_the_field() {
    let stderr = bad_input(&["run", GOOD, "--set", "network.loss=2"]);
    assert!(
        stderr.contains(&format!(
            "{GOOD}: --set network.loss=2: field `network.loss`: a probability must be within [0, 1], got 2"
        )),
        "{stderr}"
    );
    // A key the file does not have: still the argument, never a line of the file.
    let stderr = bad_input(&["run", GOOD, "--set", "model.heartbeat_every=0s"]);
    assert!(
        stderr.contains(&format!(
            "{GOOD}: --set model.heartbeat_every=0s: field `model.heartbeat_every`: must be at least 1ms: every server ticks at this period for the whole run"
        )),
        "{stderr}"
    );
    // Of several overrides, the one that wrote the value.
    let stderr = bad_input(&[
        "run",
        GOOD,
        "--set",
        "network.duplicate=0.1",
        "--set",
        "limits.max_events=0",
    ]);
    assert!(
        stderr.contains(": --set limits.max_events=0: field `limits.max_events`: must be positive"),
        "{stderr}"
    );
}

#[test]
fn a_file_error_keeps_its_line_when_an_override_inserts_one_above() {
    let path = "tests/bad_scenarios/crash_unknown_node.toml";
    let stderr = bad_input(&["run", path, "--set", "network.duplicate=0.1"]);
    assert!(
        stderr.contains(&format!("{path}:35: field `faults.crash`")),
        "{stderr}"
    );
}

#[test]
fn override_values_that_are_not_toml_or_are_dates_are_strings() {
    // No shell here: the shell needs the quotes, `--set 'model.think_time=exponential(10ms)'`.
    let o = consim(&[
        "run",
        GOOD,
        "--set",
        "model.think_time=exponential(10ms)",
        "--set",
        "description=2024-01-01",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains(r#""description":"2024-01-01""#), "{stdout}");
}

#[test]
fn a_missing_file_exits_2() {
    let stderr = bad_input(&["run", "nonexistent.toml"]);
    assert!(stderr.contains("nonexistent.toml"), "{stderr}");
}

#[test]
fn two_scenarios_with_one_name_refuse_to_share_an_out_folder() {
    let dir = std::env::temp_dir().join(format!("consim-out-twice-{}", std::process::id()));
    let stderr = bad_input(&["run", GOOD, GOOD, "--out", dir.to_str().unwrap()]);
    assert!(
        stderr.contains(&format!("{GOOD} and {GOOD} would both write into")),
        "{stderr}"
    );
    // Refused before anything ran or was written.
    assert!(!dir.exists(), "{} was created", dir.display());
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_says_so() {
    let dir = std::env::temp_dir().join(format!("consim-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let stderr = bad_input(&["run", a.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(stderr.contains("a.toml: "), "{stderr}");
    assert!(!stderr.contains("no such file"), "{stderr}");
    assert!(stderr.contains("symbolic links"), "{stderr}");
}

#[test]
fn a_trace_that_cannot_be_written_names_its_file() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let stderr = bad_input(&["run", GOOD, "--trace", "/dev/full"]);
    assert!(stderr.contains("writing /dev/full: "), "{stderr}");
}

#[test]
fn a_negative_seed_says_what_a_seed_is() {
    for seed in ["-1", "18446744073709551616", "x"] {
        let o = consim(&["run", GOOD, "--seed", seed]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("seeds are integers from 0 to 2^64-1"),
            "{stderr}"
        );
        assert!(!stderr.contains("-- -1"), "{stderr}");
    }
}
