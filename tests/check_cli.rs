//! `consim check` end to end: exit codes 0/1/2, the timeline file, and the located error.

mod common;

use common::Scratch;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn corpus(file: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus")).join(file);
    assert!(p.is_file(), "corpus file missing: {}", p.display());
    p
}

/// A scratch directory per test, so the corpus is never written to (removed at the end).
fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("check-{name}"))
}

/// Files in `dir`, by name.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `consim ARGS` run in directory `cwd`, with `stdin` on standard input.
fn consim_in(cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_consim"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails on its arguments exits without reading: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// Lines of a history in the compact notation `P TYPE F [VALUE]`, `|`-separated (register).
fn history(spec: &str) -> String {
    let mut out = String::new();
    let mut last = std::collections::HashMap::new();
    for (i, item) in spec.split('|').map(str::trim).enumerate() {
        let w: Vec<&str> = item.split_whitespace().collect();
        let value = match w.get(3) {
            Some(v) => v.to_string(),
            None if w[1] == "invoke" => "null".into(),
            None => last.get(w[0]).cloned().unwrap_or_else(|| "null".into()),
        };
        if w[1] == "invoke" {
            last.insert(w[0], value.clone());
        }
        out.push_str(&format!(
            r#"{{"index":{i},"time":{i},"process":{},"type":"{}","f":"{}","value":{value}}}"#,
            w[0], w[1], w[2]
        ));
        out.push('\n');
    }
    out
}

const STALE_READ: &str = "0 invoke write 1 | 0 ok write | 1 invoke read | 1 ok read null";

fn consim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_consim"))
        .args(args)
        .output()
        .unwrap()
}

/// `consim check FILE --model register --out DIR`.
fn check_register(file: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    consim(&[
        "check",
        file.to_str().unwrap(),
        "--model",
        "register",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn linearizable_history_exits_0() {
    let out = scratch("ok");
    let o = check_register(&corpus("etcd/etcd_002.jsonl"), &out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("linearizable"));
}

#[test]
fn violation_exits_1_and_writes_timeline() {
    let out = scratch("bad");
    let o = check_register(&corpus("etcd/etcd_000.jsonl"), &out);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let timeline = out.join("etcd_000.jsonl.timeline.svg");
    let svg = std::fs::read_to_string(&timeline).expect("timeline written");
    assert!(svg.starts_with("<svg") && svg.contains("#d62728"));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&timeline.display().to_string()));
}

#[test]
fn json_output_is_one_object() {
    let out = scratch("json");
    let o = consim(&[
        "check",
        corpus("kv/c01-bad.jsonl").to_str().unwrap(),
        "--model",
        "kv",
        "--json",
        "--out",
        out.join("t.svg").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "not_linearizable");
    assert_eq!(v["model"], "kv");
    assert!(v["operations"].as_u64().unwrap() > 0);
    assert!(v["explanation"]["reason"].is_string());
    assert!(v["explanation"]["blocked"]["invoke_line"].is_u64());
}

#[test]
fn malformed_history_exits_2_with_line() {
    let dir = scratch("malformed");
    let file = dir.join("broken.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}"#,
            "\n",
            r#"{"index":1,"time":5,"process":0,"type":"ok","f":"write","value":1"#,
            "\n"
        ),
    )
    .unwrap();
    let o = consim(&["check", file.to_str().unwrap(), "--model", "register"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.jsonl") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn missing_file_exits_2() {
    let o = consim(&["check", "/nonexistent/history.jsonl", "--model", "register"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn no_timeline_is_written_unless_asked() {
    let data = scratch("default-data");
    let cwd = scratch("default-cwd");
    let file = data.join("h.jsonl");
    std::fs::write(&file, history(STALE_READ)).unwrap();
    let o = consim_in(&cwd, &["check", file.to_str().unwrap()], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(files_in(&data), vec!["h.jsonl"]);
    assert!(files_in(&cwd).is_empty());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("timeline:"), "{stdout}");
}

#[test]
fn dash_reads_standard_input() {
    let cwd = scratch("stdin");
    let o = consim_in(
        &cwd,
        &["check", "-", "--out", "t/"],
        history(STALE_READ).as_bytes(),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.starts_with("standard input: NOT linearizable"),
        "{stdout}"
    );
    assert_eq!(files_in(&cwd.join("t")), vec!["history.timeline.svg"]);
    assert!(files_in(&cwd).len() == 1);
}

#[test]
fn counts_are_singular_or_plural() {
    let cwd = scratch("plural");
    let o = consim_in(&cwd, &["check", "-"], history(STALE_READ).as_bytes());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("(register model, 2 operations, "),
        "{stdout}"
    );
    assert!(
        stdout.contains("  longest linearizable prefix: 1 operation, leaving the value 1\n"),
        "{stdout}"
    );
    let o = consim_in(
        &cwd,
        &["check", "-"],
        history("0 invoke read | 0 ok read 5").as_bytes(),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("(register model, 1 operation, "),
        "{stdout}"
    );
    assert!(
        stdout.contains("(decided by a pre-check, without a search: no prefix)"),
        "{stdout}"
    );
}

#[test]
fn unwritable_out_names_the_path_and_exits_2() {
    let cwd = scratch("unwritable");
    std::fs::write(cwd.join("file"), "").unwrap();
    // A directory that cannot exist (under a file), asked for with a trailing slash.
    let dir = cwd.join("file/missing/");
    let dir = format!("{}/", dir.display());
    let o = consim_in(
        &cwd,
        &["check", "-", "--out", &dir],
        history(STALE_READ).as_bytes(),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("cannot create directory {dir}")) && err.contains("Not a directory"),
        "{err}"
    );
    // The verdict was still printed.
    assert!(String::from_utf8_lossy(&o.stdout).contains("NOT linearizable"));
}

#[test]
fn huge_timeout_is_refused_briefly() {
    let cwd = scratch("timeout");
    for bad in ["1e300", "-1", "NaN", "inf"] {
        let arg = format!("--timeout={bad}");
        let o = consim_in(&cwd, &["check", "-", &arg], history(STALE_READ).as_bytes());
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--timeout") && err.contains("a year"), "{err}");
        assert!(err.len() < 300, "{err}");
    }
}

#[test]
fn invalid_utf8_names_the_line() {
    let cwd = scratch("utf8");
    let mut bytes = history("0 invoke write 1").into_bytes();
    bytes.extend_from_slice(b"{\"index\":1,\xff}\n");
    let o = consim_in(&cwd, &["check", "-"], &bytes);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("standard input: line 2: invalid UTF-8"),
        "{err}"
    );
}

#[test]
fn run_and_check_fail_alike_on_an_unwritable_out() {
    let cwd = scratch("unwritable-run");
    std::fs::write(cwd.join("file"), "").unwrap();
    let out = cwd.join("file");
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/register-singapore-sync.toml"
    );
    let o = consim_in(
        &cwd,
        &["run", scenario, "--out", out.to_str().unwrap()],
        b"",
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let dir = out.join("register-singapore-sync");
    assert!(
        err.contains(&format!("cannot create directory {}: ", dir.display()))
            && err.contains("Not a directory"),
        "{err}"
    );
}

/// `consim check FILE --checker NAME [--json]` on the checkers' known histories.
fn run_checker(checker: &str, file: &str, json: bool) -> Output {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/check/tests/data"))
        .join(checker)
        .join(file);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consim"));
    cmd.arg("check").arg(&path).args(["--checker", checker]);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

fn checker_cli(checker: &str, good: &str, bad: &str, finding: &str) {
    let out = run_checker(checker, good, false);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("holds ({checker},")));
    let out = run_checker(checker, bad, false);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("VIOLATED") && text.contains(&format!("  {finding}: ")),
        "{text}"
    );
    let out = run_checker(checker, bad, true);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["checker"], checker);
    assert_eq!(v["verdict"], "violated");
    assert!(v["detail"].as_str().unwrap().starts_with(finding), "{v}");
}

#[test]
fn checker_session() {
    checker_cli(
        "session",
        "good.jsonl",
        "monotonic-reads.jsonl",
        "monotonic-reads",
    );
}

#[test]
fn checker_total_queue() {
    checker_cli("total-queue", "good.jsonl", "lost.jsonl", "lost");
}

#[test]
fn checker_set_full() {
    checker_cli("set-full", "good.jsonl", "lost.jsonl", "lost");
}

#[test]
fn checker_unique_ids() {
    checker_cli("unique-ids", "good.jsonl", "duplicate.jsonl", "duplicated");
}

#[test]
fn checker_linearizable_is_the_default_and_by_name() {
    for args in [&[][..], &["--checker", "linearizable"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_consim"))
            .arg("check")
            .arg(corpus("etcd/etcd_002.jsonl"))
            .args(["--model", "register"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_consim"))
        .arg("check")
        .arg(corpus("etcd/etcd_000.jsonl"))
        .args(["--checker", "linearizable"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn checker_bad_input_names_the_line() {
    // A set-full read whose value is not a list: exit 2, with the line.
    let dir = scratch("checker_bad_input");
    let file = dir.join("h.jsonl");
    std::fs::write(
        &file,
        "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"index\":1,\"time\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":3}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_consim"))
        .arg("check")
        .arg(&file)
        .args(["--checker", "set-full"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: read ok value must be a list"));
}

#[test]
fn jobs_leave_the_report_unchanged() {
    // Key-value histories with several keys, linearizable or not: the whole JSON report but
    // for its timing is the same on one thread and on four.
    for file in ["kv/c10-bad.jsonl", "kv/c50-bad.jsonl", "kv/c50-ok.jsonl"] {
        let path = corpus(file);
        let path = path.to_str().unwrap();
        let report = |jobs: &str| {
            let out = consim_in(
                Path::new(env!("CARGO_MANIFEST_DIR")),
                &["check", path, "--json", "--jobs", jobs],
                b"",
            );
            let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v.as_object_mut().unwrap().remove("elapsed_ms");
            (out.status.code(), v)
        };
        let one = report("1");
        assert!(one.1["stats"]["partitions"].as_u64().unwrap() > 1, "{file}");
        assert_eq!(one, report("4"), "{file}");
        assert_eq!(one, report("3"), "{file}");
    }
}
