//! Fuzzing what users feed consim: mutated scenario files, `--set` values and histories go
//! through the real binary, which must never panic, must exit with one of its four codes
//! (0–3), must stay within a memory and a time bound while it loads and runs, and must give
//! the same answer built for tests (debug assertions and overflow checks on) and for release.
//!
//! The bases are the bundled scenarios (every model kind runs: the transfers, the register,
//! the quorum store, and a small ping-pong file kept beside this test) and four corpus
//! histories; proptest mutates them from a fixed seed, so a run of the tests is repeatable
//! and a failure shrinks to a small input. `CONSIM_FUZZ_CASES` raises the number of cases per family for a long hunt (the
//! default keeps the suite quick).

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many inputs of one family ended with exit 0, 1, 2, 3, another code, or a signal:
/// printed at the end (`cargo test --test fuzz -- --nocapture`) to show what the mutations
/// reached.
#[derive(Default)]
struct Tally([AtomicUsize; 6]);

impl Tally {
    fn record(&self, code: Option<i32>) {
        self.0[code.map_or(5, |c| c.clamp(0, 4) as usize)].fetch_add(1, Ordering::Relaxed);
    }

    fn print(&self, family: &str) {
        let n: Vec<usize> = self.0.iter().map(|e| e.load(Ordering::Relaxed)).collect();
        eprintln!(
            "fuzz {family}: {} inputs; exit 0: {}, 1: {}, 2: {}, 3: {}, other: {}, signal: {}",
            n.iter().sum::<usize>(),
            n[0],
            n[1],
            n[2],
            n[3],
            n[4],
            n[5]
        );
    }
}

/// Address space a single consim process may take: past it allocation fails and the process
/// aborts, which the harness reports. Far above any sane run, far below the machine.
const MEMORY_LIMIT_KIB: u64 = 3 * 1024 * 1024;
/// Wall-clock seconds a single consim process may take before `timeout` ends it.
const TIME_LIMIT_S: u32 = 20;

fn config() -> Config {
    let cases = std::env::var("CONSIM_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0xC0_5113),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Runs consim under the memory and time bounds, in `dir`.
fn consim_bounded(dir: &Path, args: &[&str]) -> Output {
    bounded(Path::new(env!("CARGO_BIN_EXE_consim")), dir, args)
}

/// Runs `binary` under the memory and time bounds, in `dir`.
fn bounded(binary: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -v {MEMORY_LIMIT_KIB}; exec timeout {TIME_LIMIT_S} \"$0\" \"$@\""
        ))
        .arg(binary)
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("bash runs")
}

/// The same consim built with the release profile (no debug assertions, no overflow checks),
/// built once by the first test that asks: every input must get the same answer from both.
fn release_binary() -> &'static Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--bin", "consim"])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the release build failed");
        let debug = Path::new(env!("CARGO_BIN_EXE_consim"));
        let release = debug
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("release/consim");
        assert!(
            release.is_file(),
            "no release binary at {}",
            release.display()
        );
        release
    })
}

/// Runs the same arguments through the release build and asserts the same exit code and, for
/// runs, the same standard output (the JSON reports, trace hashes included). A checker's
/// output is compared by its verdict only: it reports its own wall-clock time, and its budget
/// is wall-clock time too, so "unknown" (3) in either build agrees with any verdict.
fn assert_same_in_release(
    debug: &Output,
    dir: &Path,
    args: &[&str],
    input: &str,
) -> Result<(), TestCaseError> {
    let release = bounded(release_binary(), dir, args);
    let (d, r) = (debug.status.code(), release.status.code());
    let budget_race = args[0] == "check" && (d == Some(3) || r == Some(3));
    prop_assert!(
        d == r || budget_race,
        "exit {:?} in the test build, {:?} in release\ninput:\n{}",
        d,
        r,
        input
    );
    if args[0] == "run" {
        prop_assert!(
            debug.stdout == release.stdout,
            "debug and release differ\n{}\n{}\ninput:\n{}",
            String::from_utf8_lossy(&debug.stdout),
            String::from_utf8_lossy(&release.stdout),
            input
        );
    }
    Ok(())
}

/// The harness's one assertion: a clean exit with one of consim's codes and no panic.
fn assert_clean(tally: &Tally, out: &Output, input: &str) -> Result<(), TestCaseError> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    tally.record(code);
    prop_assert!(
        matches!(code, Some(0..=3)) && !stderr.contains("panicked"),
        "exit {code:?} (124: over {TIME_LIMIT_S} s; none: killed, e.g. out of memory)\n\
         stderr: {}\ninput:\n{input}",
        stderr.chars().take(2000).collect::<String>()
    );
    Ok(())
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scenario_bases() -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.push(root().join("tests/fuzz/pingpong.toml"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// Values that have broken parsers and simulators before: zeros, extremes, wrong types,
/// degenerate durations and distributions, odd names.
const TOML_VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "4294967295",
    "2147483648",
    "18446744073709551615",
    "1e300",
    "-0.0",
    "nan",
    "0.5",
    "1.5",
    "true",
    "\"\"",
    "\".\"",
    "\"primary\"",
    "\"1ns\"",
    "\"0s\"",
    "\"-5s\"",
    "\"1000d\"",
    "\"1001d\"",
    "\"60.000000001s\"",
    "\"lognormal(1s, 30)\"",
    "\"lognormal(45ms, 1000)\"",
    "\"pareto(1ms, 0.1)\"",
    "\"exponential(1ns)\"",
    "\"uniform(5s, 1s)\"",
    "\"normal(1ms, 1s)\"",
    "\"constant(0s)\"",
    "[]",
    "[[]]",
    "[\"primary\", \"primary\"]",
    "[\"singapore\", \"mumbai\", \"frankfurt\"]",
    "{}",
    "2024-01-01",
];

/// Lines that add structure: fault and nemesis entries, links, tables (some several lines
/// long, so that an appended table arrives with its keys).
const TOML_LINES: &[&str] = &[
    "[[faults]]\nat = \"1s\"\ncrash = \"primary\"\nrestart_after = \"1ns\"",
    "[[faults]]\nat = \"1s\"\ncrash = \"coordinator\"",
    "[[faults]]\nat = \"60.000000001s\"\nheal = true",
    "[[faults]]\nat = \"1s\"\npartition = [[\"primary\"], [\"primary\"]]\nheal_after = \"0s\"",
    "[[faults]]\nat = \"1s\"\npartition_one_way = { from = [\"primary\"], to = [\"primary\"] }",
    "[nemesis]\ncrash_every = \"1ns\"\nrestart_after = \"1s\"",
    "[nemesis]\npartition_every = \"1ns\"\nheal_after = \"1ns\"",
    "[nemesis]\nclock_jump_every = \"1ns\"",
    "[nemesis]\ncrash_every = \"exponential(1ms)\"\ntargets = []",
    "[nemesis]\ncrash_every = \"exponential(1s)\"\ntargets = [\"primary\", \"primary\"]",
    "[[network.links]]\nbetween = [\"a\"]\nlatency = \"1ms\"",
    "[[network.links]]\nbetween = [\"singapore\", \"mumbai\", \"frankfurt\"]\nlatency = \"1ms\"",
    "[[network.links]]\nbetween = [\"singapore\", \"frankfurt\"]\nlatency = \"lognormal(1s, 30)\"",
    "[limits]\nmax_events = 0",
    "[expect]\nlinearizable = \"violated\"",
    "[[nodes]]\nname = \"\"\nregion = \"\"\nrole = \"client\"",
    "[[nodes]]\nname = \"x\"\nregion = \"r\"\nrole = \"client\"\ncount = 100000",
    "[[nodes]]\nname = \"y\"\nregion = \"r\"\nrole = \"replica\"\nclock = { offset = \"-1000000h\", drift_ppm = 1e9 }",
    "loss = 1.0",
    "duplicate = 1.0",
    "count = 4294967295",
];

/// One edit of a text, its numbers taken modulo what they index.
#[derive(Clone, Debug)]
enum Edit {
    /// Replaces the value of the `n`-th `key = value` line with pool value `v`.
    Value(usize, usize),
    /// Inserts pool line `l` before line `n`.
    Insert(usize, usize),
    /// Appends pool line `l` at the end.
    Append(usize),
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Cuts the text at the `n`-th character.
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<usize>(), any::<usize>()).prop_map(|(n, v)| Edit::Value(n, v)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(n, l)| Edit::Insert(n, l)),
        2 => any::<usize>().prop_map(Edit::Append),
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ];
    prop::collection::vec(edit, 1..4)
}

/// Applies `edits` to `text` line by line; `values` and `lines` are the pools.
fn apply(text: &str, edits: &[Edit], values: &[&str], lines: &[&str]) -> String {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if v.is_empty() {
            break;
        }
        let len = v.len();
        match *e {
            Edit::Value(n, p) => {
                let assignments: Vec<usize> = (0..len).filter(|&i| v[i].contains(" = ")).collect();
                if let Some(&i) = assignments.get(n % assignments.len().max(1)) {
                    let key = v[i].split(" = ").next().unwrap().to_string();
                    v[i] = format!("{key} = {}", values[p % values.len()]);
                }
            }
            Edit::Insert(n, l) => v.insert(n % (len + 1), lines[l % lines.len()].to_string()),
            Edit::Append(l) => v.push(lines[l % lines.len()].to_string()),
            Edit::Delete(n) => {
                v.remove(n % len);
            }
            Edit::Duplicate(n) => v.insert(n % len, v[n % len].clone()),
            Edit::Swap(a, b) => v.swap(a % len, b % len),
            Edit::Truncate(n) => {
                let joined = v.join("\n");
                let cut: String = joined.chars().take(n % (joined.len() + 1)).collect();
                v = cut.lines().map(str::to_string).collect();
            }
        }
    }
    v.join("\n") + "\n"
}

/// Every run is kept short: the event limit bounds a mutated `duration = "1000d"`.
const SHORT: [&str; 2] = ["--set", "limits.max_events=200000"];

#[test]
fn mutated_scenarios_never_panic_or_run_away() {
    let bases = scenario_bases();
    let dir = common::Scratch::new("fuzz-scenarios");
    let tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&(0..bases.len(), edits()), |(b, edits)| {
            let text = apply(&bases[b].1, &edits, TOML_VALUES, TOML_LINES);
            let file = dir.join("input.toml");
            std::fs::write(&file, &text).unwrap();
            let args = ["run", "input.toml", "--json", SHORT[0], SHORT[1]];
            let out = consim_bounded(&dir, &args);
            assert_clean(&tally, &out, &text)?;
            assert_same_in_release(&out, &dir, &args, &text)
        })
        .unwrap();
    tally.print("scenarios");
}

/// Keys `--set` may name, each with values that stress it; the harness also tries every key
/// with any value of [`TOML_VALUES`], and as a shell user might type it, without quotes.
const SET_KEYS: &[(&str, &[&str])] = &[
    ("duration", &["\"1000h\"", "\"1ns\"", "\"0s\""]),
    ("settle", &["\"1000d\"", "\"0s\""]),
    ("seed", &["18446744073709551615", "-1"]),
    ("name", &["\"\"", "\".\"", "\"../x\""]),
    ("description", &["2024-01-01", "\"\""]),
    ("model.bug", &["\"no-such-bug\""]),
    (
        "model.think_time",
        &["\"exponential(1ns)\"", "exponential(10ms)"],
    ),
    (
        "model.bank.think_time",
        &["\"exponential(1ns)\"", "exponential(10ms)"],
    ),
    ("model.client_timeout", &["\"1ns\"", "\"0s\""]),
    ("model.bank.client_retry", &["\"1ns\""]),
    ("model.heartbeat_every", &["\"0s\"", "\"1ns\"", "\"1000d\""]),
    ("model.failover_after", &["\"1ns\"", "\"1000d\""]),
    ("model.keys", &["0", "4294967295", "1", "1025"]),
    ("model.sync_replicas", &["0", "4294967295"]),
    ("model.mode", &["\"semisync\"", "\"quorum\""]),
    ("model.on_partition", &["\"accept\""]),
    ("model.read_from", &["\"cache\"", "\"nearest\""]),
    (
        "model.read_your_writes",
        &["\"session\"", "\"cache-invalidation\""],
    ),
    ("model.primary_reads_for", &["\"0s\"", "\"1000d\""]),
    (
        "model.bank.accounts_per_participant",
        &["2147483648", "0", "1"],
    ),
    ("model.messages_per_node", &["4294967295", "0"]),
    ("model.bank.initial_balance", &["9223372036854775807", "-1"]),
    ("model.bank.amount_max", &["9223372036854775807", "0"]),
    ("model.write_ratio", &["1.5", "-0.1", "nan"]),
    ("model.r", &["0", "4294967295"]),
    ("model.w", &["0", "3"]),
    ("model.n", &["0", "4"]),
    ("model.read_repair", &["false"]),
    (
        "model.policy",
        &["\"lww-hlc\"", "\"vector-clocks\"", "\"lamport\""],
    ),
    ("model.merge", &["\"siblings\"", "\"union\""]),
    ("model.roam", &["1.0", "1.5"]),
    ("model.address_ratio", &["1.0", "-0.5"]),
    (
        "model.anti_entropy_every",
        &["\"0s\"", "\"1ns\"", "\"1ms\""],
    ),
    (
        "model.timestamp_resolution",
        &["\"1ns\"", "\"0s\"", "\"1000d\""],
    ),
    (
        "model.publish",
        &["\"dual-write\"", "\"outbox\"", "\"two-phase\""],
    ),
    ("model.delivery", &["\"at-most-once\"", "\"exactly-once\""]),
    ("model.reconciliation", &["true", "false"]),
    ("model.reconcile_every", &["\"0s\"", "\"1ms\"", "\"1000d\""]),
    ("model.reconcile_batch", &["0", "1", "4294967295"]),
    ("model.reconcile_grace", &["\"0s\"", "\"1000d\""]),
    ("model.partitions", &["0", "1", "65", "4294967295"]),
    ("model.fetch_max", &["0", "1", "4294967295"]),
    ("model.poll_every", &["\"0s\"", "\"1ms\"", "\"1000d\""]),
    (
        "model.processing_time",
        &["\"exponential(1ns)\"", "\"lognormal(1s, 30)\""],
    ),
    ("model.publish_retry", &["\"0s\"", "\"1ms\""]),
    ("model.cancel_ratio", &["1.0", "-0.1", "nan"]),
    (
        "network.latency",
        &[
            "\"lognormal(1s, 30)\"",
            "\"lognormal(45ms, 1000)\"",
            "\"pareto(1ms, 0.01)\"",
        ],
    ),
    ("network.loss", &["1.0", "0.999", "2"]),
    ("network.duplicate", &["1.0", "0.999"]),
    ("nemesis.crash_every", &["\"1ns\"", "\"exponential(1ns)\""]),
    ("nemesis.partition_every", &["\"1ns\""]),
    ("nemesis.clock_jump_every", &["\"1ns\""]),
    ("nemesis.targets", &["[]", "[\"primary\", \"primary\"]"]),
    ("nodes", &["[]"]),
    ("faults", &["[]"]),
    ("limits.max_events", &["0", "1"]),
    ("expect.atomicity", &["\"violated\"", "\"maybe\""]),
    ("no.such.key", &["1"]),
    ("", &["1"]),
    ("model..bug", &["\"none\""]),
];

#[test]
fn mutated_set_values_never_panic_or_run_away() {
    let bases = scenario_bases();
    let root = root().to_str().unwrap().to_string();
    let set = (any::<usize>(), any::<usize>(), any::<bool>());
    let tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(
            &(0..bases.len(), prop::collection::vec(set, 1..3)),
            |(b, sets)| {
                let mut args = vec![
                    "run".to_string(),
                    bases[b].0.to_str().unwrap().to_string(),
                    "--json".into(),
                ];
                for (k, v, raw) in sets {
                    let (key, own) = SET_KEYS[k % SET_KEYS.len()];
                    // Half the time one of the key's own extremes, else any value.
                    let value = if v % 2 == 0 {
                        own[(v / 2) % own.len()]
                    } else {
                        TOML_VALUES[(v / 2) % TOML_VALUES.len()]
                    };
                    // Also the value as a shell user might type it, without TOML's quotes.
                    let value = if raw { value.trim_matches('"') } else { value };
                    args.push("--set".into());
                    args.push(format!("{key}={value}"));
                }
                args.extend(SHORT.iter().map(|s| s.to_string()));
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = consim_bounded(Path::new(&root), &argv);
                assert_clean(&tally, &out, &args.join(" "))?;
                assert_same_in_release(&out, Path::new(&root), &argv, &args.join(" "))
            },
        )
        .unwrap();
    tally.print("set values");
}

/// JSON fragments for history fields: wrong types, extremes, nesting.
const JSON_VALUES: &[&str] = &[
    "null",
    "0",
    "-1",
    "18446744073709551616",
    "1e400",
    "\"\"",
    "\"ok\"",
    "\"invoke\"",
    "\"info\"",
    "\"cas\"",
    "[1]",
    "[1,2,3]",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "{}",
    "true",
];

/// Whole lines for histories: valid events out of place, garbage, invalid UTF-8 markers.
const JSON_LINES: &[&str] = &[
    r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}"#,
    r#"{"index":0,"time":0,"process":0,"type":"ok","f":"read","value":1}"#,
    r#"{"index":0,"time":0,"process":99,"type":"info","f":"write","value":null}"#,
    "",
    "{",
    "not json",
    "\u{FFFD}\u{0}",
];

/// Replaces the `n`-th `"field":value` pair's value, JSON-aware enough to keep the line
/// shaped like an object.
fn mutate_history(text: &str, edits: &[Edit]) -> String {
    let mut out = Vec::new();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if let Edit::Value(n, p) = *e {
            if lines.is_empty() {
                continue;
            }
            let i = n % lines.len();
            if let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str(&lines[i]) {
                // Half the edits keep the history well formed and change what an operation
                // saw or wrote, so the checker itself runs (and must decide or give up).
                if p % 2 == 0 {
                    let plausible = match m.get("value") {
                        Some(serde_json::Value::String(_)) => format!("x {} 0 y", p % 7).into(),
                        Some(serde_json::Value::Number(_)) => serde_json::Value::from(p % 7),
                        Some(serde_json::Value::Array(a)) if a.len() != 2 => {
                            (0..p % 5).map(|i| (i + p) % 7).collect()
                        }
                        _ => continue, // a read's null, a cas pair: left as they are
                    };
                    m.insert("value".into(), plausible);
                    lines[i] = serde_json::Value::Object(m).to_string();
                    continue;
                }
                let keys: Vec<String> = m.keys().cloned().collect();
                let key = &keys[(n / lines.len()) % keys.len()];
                let raw = JSON_VALUES[p % JSON_VALUES.len()];
                m.insert(key.clone(), serde_json::Value::Null);
                lines[i] = serde_json::Value::Object(m)
                    .to_string()
                    .replace(&format!("\"{key}\":null"), &format!("\"{key}\":{raw}"));
            }
        } else {
            let t = apply(&lines.join("\n"), std::slice::from_ref(e), &[], JSON_LINES);
            lines = t.lines().map(str::to_string).collect();
        }
    }
    out.extend(lines);
    out.join("\n") + "\n"
}

#[test]
fn mutated_histories_never_panic_or_run_away() {
    // (checker, the linearizability model, file): the corpus for linearizability, and each
    // other checker's good and bad histories.
    let mut bases: Vec<(&str, &str, PathBuf)> = [
        ("register", "etcd/etcd_000.jsonl"),
        ("register", "etcd/etcd_005.jsonl"),
        ("kv", "kv/c10-bad.jsonl"),
        ("kv", "kv/c10-ok.jsonl"),
    ]
    .iter()
    .map(|(model, f)| ("linearizable", *model, root().join("tests/corpus").join(f)))
    .collect();
    for &checker in check::checkers::NAMES
        .iter()
        .filter(|&&n| n != "linearizable")
    {
        let data = root().join("check/tests/data").join(checker);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
            .unwrap_or_else(|e| panic!("{}: {e}", data.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        bases.extend(files.into_iter().map(|f| (checker, "", f)));
    }
    let bases: Vec<(&str, &str, String)> = bases
        .into_iter()
        .map(|(c, m, f)| (c, m, std::fs::read_to_string(f).unwrap()))
        .collect();
    let dir = common::Scratch::new("fuzz-histories");
    let tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(
            &(
                0..bases.len(),
                edits(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            ),
            |(b, edits, other_model, invalid_utf8, well_formed)| {
                let (checker, model, text) = &bases[b];
                // Half the inputs stay well formed (only values change), so that they reach
                // the search rather than the parser.
                let (edits, invalid_utf8, other_model) = if well_formed {
                    let values = edits.iter().map(|e| match *e {
                        Edit::Value(n, p) | Edit::Insert(n, p) | Edit::Swap(n, p) => {
                            Edit::Value(n, p.wrapping_mul(2))
                        }
                        Edit::Append(n)
                        | Edit::Delete(n)
                        | Edit::Duplicate(n)
                        | Edit::Truncate(n) => Edit::Value(n, n.wrapping_mul(2)),
                    });
                    (values.collect(), false, false)
                } else {
                    (edits, invalid_utf8, other_model)
                };
                let mut bytes = mutate_history(text, &edits).into_bytes();
                if invalid_utf8 && !bytes.is_empty() {
                    let at = edits.len() * 7919 % bytes.len();
                    bytes[at] = 0xff;
                }
                std::fs::write(dir.join("h.jsonl"), &bytes).unwrap();
                // The other reading: another model, or linearizability of a history that
                // was written for another checker.
                let model = match (*model, other_model) {
                    ("register", true) => "kv",
                    ("kv" | "", true) => "register",
                    (m, _) => m,
                };
                let mut args = vec!["check", "h.jsonl", "--json"];
                if *checker == "linearizable" || other_model {
                    args.extend(["--model", model, "--timeout", "5"]);
                } else {
                    args.extend(["--checker", checker]);
                }
                let out = consim_bounded(&dir, &args);
                let input = String::from_utf8_lossy(&bytes);
                assert_clean(&tally, &out, &input)?;
                assert_same_in_release(&out, &dir, &args, &input)
            },
        )
        .unwrap();
    tally.print("histories");
}

/// `consim bench pingpong` with extreme flags: it must run or refuse, never panic.
#[test]
fn bench_flags_never_panic_or_run_away() {
    const FLAGS: &[(&str, &[&str])] = &[
        ("--nodes", &["0", "1", "2", "5000", "18446744073709551615"]),
        ("--messages", &["0", "1", "4294967295"]),
        ("--deliveries", &["0", "1", "18446744073709551615"]),
        (
            "--latency",
            &["1d", "0s", "lognormal(1ms,1000)", "pareto(1ms, 0.01)", "x"],
        ),
    ];
    let dir = common::Scratch::new("fuzz-bench");
    let flag = (any::<usize>(), any::<usize>());
    let tally = Tally::default();
    let mut runner = proptest::test_runner::TestRunner::new(config());
    runner
        .run(&prop::collection::vec(flag, 1..4), |flags| {
            let mut args = vec!["bench".to_string(), "pingpong".into()];
            for (f, v) in flags {
                let (name, values) = FLAGS[f % FLAGS.len()];
                args.push(name.into());
                args.push(values[v % values.len()].into());
            }
            // Without a deliveries flag the default million is fine; with one, keep it short.
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = consim_bounded(&dir, &argv);
            assert_clean(&tally, &out, &args.join(" "))
        })
        .unwrap();
    tally.print("bench flags");
}
