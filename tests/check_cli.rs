//! `consim check` end to end: exit codes 0/1/2, the timeline file, and the located error.

use std::path::PathBuf;
use std::process::{Command, Output};

fn corpus(file: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus")).join(file);
    assert!(p.is_file(), "corpus file missing: {}", p.display());
    p
}

/// A scratch directory per test, so the shared corpus is never written to.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("consim-check-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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
