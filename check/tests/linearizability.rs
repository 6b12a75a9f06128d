//! Linearizability checker: the bundled corpus (tests/corpus) (known verdicts), hand-written histories for
//! each rule of `docs/HISTORY_FORMAT.md`, and bad input with its line number.

use check::history::History;
use check::linearizability::{check, Budget, Model, Verdict};
use std::path::PathBuf;

/// The corpus is bundled in tests/corpus (see SOURCE.md there); a missing file is a failure, not a skip.
fn corpus() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus"));
    assert!(
        dir.join("verdicts.tsv").is_file(),
        "corpus not found at {}",
        dir.display()
    );
    dir
}

fn model(name: &str) -> Model {
    match name {
        "register" => Model::Register,
        "kv" => Model::Kv,
        other => panic!("unknown model {other} in verdicts.tsv"),
    }
}

#[test]
fn corpus_verdicts_match() {
    let dir = corpus();
    let tsv = std::fs::read_to_string(dir.join("verdicts.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (file, m, expected) = (cols[0], model(cols[1]), cols[2] == "true");
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let history = History::parse_jsonl(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let report = check(&history, m, &Budget::default()).unwrap();
        let want = if expected {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        if report.verdict != want {
            wrong.push(format!("{file}: got {:?}, want {want:?}", report.verdict));
        }
        if report.verdict == Verdict::NotLinearizable {
            assert!(report.explanation.is_some(), "{file}: no explanation");
        }
        checked += 1;
    }
    assert_eq!(
        checked, 109,
        "verdicts.tsv should list 103 etcd + 6 kv histories"
    );
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

/// Builds a JSON Lines history from a compact notation, one event per `|`-separated item:
/// `PROCESS TYPE F [VALUE] [@KEY]`, e.g. `0 invoke write 3 | 0 ok write`. A missing value is
/// `null` on invoke and, on a completion, the invocation's value (the format's echo rule).
fn jsonl(spec: &str) -> String {
    use std::collections::HashMap;
    let mut invoked: HashMap<String, String> = HashMap::new();
    let mut out = String::new();
    for (i, item) in spec
        .split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let mut words: Vec<&str> = item.split_whitespace().collect();
        let key = match words.last() {
            Some(w) if w.starts_with('@') => {
                let k = format!(r#","key":"{}""#, &w[1..]);
                words.pop();
                k
            }
            _ => String::new(),
        };
        let (p, ty, f) = (words[0], words[1], words[2]);
        let value = match words.get(3..).map(|w| w.join(" ")) {
            Some(v) if !v.is_empty() => v,
            _ if ty == "invoke" => "null".to_string(),
            _ => invoked.get(p).cloned().unwrap_or_else(|| "null".into()),
        };
        if ty == "invoke" {
            invoked.insert(p.to_string(), value.clone());
        }
        out.push_str(&format!(
            r#"{{"index":{i},"time":{},"process":{p},"type":"{ty}","f":"{f}"{key},"value":{value}}}"#,
            i * 1000
        ));
        out.push('\n');
    }
    out
}

fn verdict_of(model: Model, spec: &str) -> Verdict {
    let history = History::parse_jsonl(&jsonl(spec)).unwrap_or_else(|e| panic!("{spec}: {e}"));
    check(&history, model, &Budget::default()).unwrap().verdict
}

const LIN: Verdict = Verdict::Linearizable;
const NOT: Verdict = Verdict::NotLinearizable;

#[test]
fn register_rules() {
    use Model::Register as R;
    #[rustfmt::skip]
    let cases: &[(&str, Model, Verdict, &str)] = &[
        ("empty history", R, LIN, ""),
        // The three register examples of HISTORY_FORMAT.md, and the variant it describes.
        ("doc: read overlapping write", R, LIN, "0 invoke write 3 | 1 invoke read | 0 ok write | 1 ok read null | 0 invoke cas [3,4] | 0 ok cas"),
        ("doc: stale read", R, NOT, "0 invoke write 1 | 0 ok write | 1 invoke read | 1 ok read null"),
        ("doc: info write late", R, LIN, "0 invoke write 7 | 0 info write | 1 invoke read | 1 ok read null | 2 invoke read | 2 ok read 7"),
        ("doc: fail write never", R, NOT, "0 invoke write 7 | 0 fail write | 1 invoke read | 1 ok read null | 2 invoke read | 2 ok read 7"),
        ("fail write discarded", R, LIN, "0 invoke write 1 | 0 fail write | 1 invoke read | 1 ok read null"),
        ("read of unwritten value", R, NOT, "0 invoke write 1 | 0 ok write | 1 invoke read | 1 ok read 9"),
        ("sequential read own write", R, LIN, "0 invoke write 1 | 0 ok write | 0 invoke read | 0 ok read 1"),
        ("cas ok then read new", R, LIN, "0 invoke write 1 | 0 ok write | 1 invoke cas [1,2] | 1 ok cas | 2 invoke read | 2 ok read 2"),
        ("cas ok then read old", R, NOT, "0 invoke write 1 | 0 ok write | 1 invoke cas [1,2] | 1 ok cas | 2 invoke read | 2 ok read 1"),
        ("cas ok on null register", R, NOT, "0 invoke cas [1,2] | 0 ok cas"),
        ("cas fail while holding expected", R, NOT, "0 invoke write 1 | 0 ok write | 1 invoke cas [1,2] | 1 fail cas"),
        ("cas fail on other value", R, LIN, "0 invoke write 1 | 0 ok write | 1 invoke cas [2,3] | 1 fail cas"),
        ("cas fail leaves register unchanged", R, NOT, "0 invoke write 1 | 0 ok write | 1 invoke cas [2,3] | 1 fail cas | 2 invoke read | 2 ok read 3"),
        ("cas fail concurrent with write", R, LIN, "0 invoke write 1 | 0 ok write | 2 invoke write 5 | 1 invoke cas [1,2] | 1 fail cas | 2 ok write"),
        ("info cas may take effect", R, LIN, "0 invoke write 1 | 0 ok write | 1 invoke cas [1,2] | 1 info cas | 2 invoke read | 2 ok read 2"),
        ("info cas takes effect at most once", R, NOT, "0 invoke write 1 | 0 ok write | 1 invoke cas [1,2] | 1 info cas | 2 invoke read | 2 ok read 2 | 2 invoke read | 2 ok read 1"),
        ("info cas may not take effect", R, LIN, "0 invoke write 1 | 0 ok write | 1 invoke cas [1,2] | 1 info cas | 2 invoke read | 2 ok read 1"),
        ("never-completed write may take effect", R, LIN, "0 invoke write 1 | 1 invoke read | 1 ok read 1"),
        ("never-completed write may not", R, LIN, "0 invoke write 1 | 1 invoke read | 1 ok read null | 1 invoke read | 1 ok read null"),
        ("never-completed write cannot undo", R, NOT, "0 invoke write 1 | 1 invoke read | 1 ok read 1 | 1 invoke read | 1 ok read null"),
        ("info and fail reads constrain nothing", R, LIN, "0 invoke read | 0 info read | 1 invoke read | 1 fail read | 2 invoke write 1 | 2 ok write"),
        ("concurrent writes, one final order", R, LIN, "0 invoke write 1 | 1 invoke write 2 | 0 ok write | 1 ok write | 2 invoke read | 2 ok read 1 | 2 invoke read | 2 ok read 1"),
        ("concurrent writes, two final orders", R, NOT, "0 invoke write 1 | 1 invoke write 2 | 0 ok write | 1 ok write | 2 invoke read | 2 ok read 1 | 2 invoke read | 2 ok read 2"),
        ("new-old inversion during a write", R, NOT, "0 invoke write 1 | 1 invoke read | 1 ok read 1 | 2 invoke read | 2 ok read null | 0 ok write"),
        ("reads during a write flip once", R, LIN, "0 invoke write 1 | 1 invoke read | 1 ok read null | 2 invoke read | 2 ok read 1 | 0 ok write"),
    ];
    for (name, model, want, spec) in cases {
        assert_eq!(verdict_of(*model, spec), *want, "{name}: {spec}");
    }
}

#[test]
fn kv_rules() {
    use Model::Kv as K;
    #[rustfmt::skip]
    let cases: &[(&str, Model, Verdict, &str)] = &[
        ("doc: kv example", K, LIN, r#"0 invoke append "a" @k1 | 1 invoke put "z" @k2 | 0 ok append @k1 | 1 ok put @k2 | 0 invoke get @k1 | 0 ok get "a" @k1"#),
        ("unwritten key reads empty", K, LIN, r#"0 invoke get @k | 0 ok get "" @k"#),
        ("keys are independent", K, LIN, r#"0 invoke put "v" @a | 0 ok put @a | 1 invoke get @b | 1 ok get "" @b"#),
        ("stale get on one key", K, NOT, r#"0 invoke put "v" @a | 0 ok put @a | 1 invoke get @b | 1 ok get "" @b | 1 invoke get @a | 1 ok get "" @a"#),
        ("appends concatenate in order", K, LIN, r#"0 invoke append "a" @k | 0 ok append @k | 0 invoke append "b" @k | 0 ok append @k | 1 invoke get @k | 1 ok get "ab" @k"#),
        ("appends cannot reorder", K, NOT, r#"0 invoke append "a" @k | 0 ok append @k | 0 invoke append "b" @k | 0 ok append @k | 1 invoke get @k | 1 ok get "ba" @k"#),
        ("concurrent appends either order", K, LIN, r#"0 invoke append "a" @k | 1 invoke append "b" @k | 0 ok append @k | 1 ok append @k | 2 invoke get @k | 2 ok get "ba" @k"#),
        ("put resets, append extends", K, LIN, r#"0 invoke append "q" @k | 0 ok append @k | 0 invoke put "x" @k | 0 ok put @k | 0 invoke append "y" @k | 0 ok append @k | 1 invoke get @k | 1 ok get "xy" @k"#),
        ("put is not append", K, NOT, r#"0 invoke append "q" @k | 0 ok append @k | 0 invoke put "x" @k | 0 ok put @k | 1 invoke get @k | 1 ok get "qx" @k"#),
        ("fail put discarded", K, NOT, r#"0 invoke put "v" @k | 0 fail put @k | 1 invoke get @k | 1 ok get "v" @k"#),
        ("fail append discarded", K, LIN, r#"0 invoke append "v" @k | 0 fail append @k | 1 invoke get @k | 1 ok get "" @k"#),
        ("info append may land late", K, LIN, r#"0 invoke append "a" @k | 0 info append @k | 1 invoke get @k | 1 ok get "" @k | 2 invoke get @k | 2 ok get "a" @k"#),
        ("info append lands once", K, NOT, r#"0 invoke append "a" @k | 0 info append @k | 1 invoke get @k | 1 ok get "a" @k | 2 invoke get @k | 2 ok get "aa" @k"#),
        ("info get constrains nothing", K, LIN, r#"0 invoke get @k | 0 info get @k"#),
    ];
    for (name, model, want, spec) in cases {
        assert_eq!(verdict_of(*model, spec), *want, "{name}: {spec}");
    }
}

#[test]
fn explanation_names_lines_and_values() {
    let h = History::parse_jsonl(&jsonl("0 invoke write 1 | 0 ok write | 1 invoke write 2 | 1 ok write | 2 invoke read | 2 ok read 1")).unwrap();
    let r = check(&h, Model::Register, &Budget::default()).unwrap();
    let e = r.explanation.expect("explanation");
    assert_eq!(
        (e.blocked.invoke_line, e.blocked.complete_line),
        (5, Some(6))
    );
    assert_eq!(e.blocked.process, 2);
    assert_eq!(
        e.prefix
            .as_ref()
            .map(|p| p.iter().map(|o| o.invoke_line).collect::<Vec<_>>()),
        Some(vec![1, 3])
    );
    assert_eq!(e.state_after_prefix, Some(serde_json::json!(2)));
    assert!(
        e.reason.contains("returned 1") && e.reason.contains("could only hold 2"),
        "{}",
        e.reason
    );
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["blocked"]["invoke_line"], 5);

    // The key-value explanation names the key that fails.
    let h = History::parse_jsonl(&jsonl(r#"0 invoke put "v" @a | 0 ok put @a | 1 invoke get @b | 1 ok get "" @b | 1 invoke get @a | 1 ok get "" @a"#)).unwrap();
    let e = check(&h, Model::Kv, &Budget::default())
        .unwrap()
        .explanation
        .unwrap();
    assert_eq!(e.key.as_deref(), Some("a"));
    assert_eq!(e.blocked.invoke_line, 5);
}

/// The explanation of a history that is not linearizable, as JSON (the `--json` contract).
fn explanation(model: Model, spec: &str) -> serde_json::Value {
    let history = History::parse_jsonl(&jsonl(spec)).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let r = check(&history, model, &Budget::default()).unwrap();
    assert_eq!(r.verdict, NOT, "{spec}");
    serde_json::to_value(r.explanation.expect("explanation")).unwrap()
}

/// Invocation lines of the explanation's prefix, in order.
fn prefix_lines(e: &serde_json::Value) -> Vec<u64> {
    e["prefix"]
        .as_array()
        .expect("a searched prefix")
        .iter()
        .map(|o| o["invoke_line"].as_u64().unwrap())
        .collect()
}

#[test]
fn possible_values_cover_every_order_of_overlapping_writes() {
    // The read runs from line 5 to 10; before it 2 is written, during it 3 and 4 overlap. It
    // could see 2 (before either), 3 or 4 (in either order), never 1.
    let e = explanation(
        Model::Register,
        "0 invoke write 1 | 0 ok write | 0 invoke write 2 | 0 ok write | 1 invoke read | 2 invoke write 3 | 3 invoke write 4 | 2 ok write | 3 ok write | 1 ok read 1",
    );
    assert_eq!(
        e["reason"],
        "read by process 1 (lines 5–10) returned 1 but the register could only hold 2, 3 or 4 at that point"
    );
    assert_eq!(prefix_lines(&e), vec![1, 3, 6, 7]);
    assert_eq!(e["state_after_prefix"], 4);

    // A cas that needs a value already overwritten.
    let e = explanation(
        Model::Register,
        "0 invoke write 2 | 0 ok write | 0 invoke write 1 | 0 ok write | 1 invoke cas [2,3] | 2 invoke write 4 | 2 ok write | 1 ok cas",
    );
    assert_eq!(
        e["reason"],
        "cas [2,3] by process 1 (lines 5–8) succeeded, so the register held 2 just before it, but the register could only hold 1 or 4 at that point"
    );
}

#[test]
fn possible_values_cover_a_put_overlapping_an_append() {
    // put "p;" and append "b;" overlap, then a get returns "c;": either order is possible.
    let e = explanation(
        Model::Kv,
        r#"0 invoke put "p;" @k | 1 invoke append "b;" @k | 0 ok put @k | 1 ok append @k | 2 invoke get @k | 2 ok get "c;" @k"#,
    );
    assert_eq!(
        e["reason"],
        r#"get by process 2 (lines 5–6) returned "c;" but the key "k" could only hold "p;" or "p;b;" at that point"#
    );
    assert_eq!(prefix_lines(&e), vec![1, 2]);
    assert_eq!(e["state_after_prefix"], "p;b;");
}

#[test]
fn a_stale_get_is_blamed_not_the_append_overlapping_it() {
    // "a;" is appended, then a get overlapping the append of "b;" returns "": the get cannot
    // be placed; "a;" and "b;" linearize.
    let e = explanation(
        Model::Kv,
        r#"0 invoke append "a;" @k | 0 ok append @k | 1 invoke get @k | 2 invoke append "b;" @k | 2 ok append @k | 1 ok get "" @k"#,
    );
    assert_eq!(e["blocked"]["f"], "get");
    assert_eq!(
        e["reason"],
        r#"get by process 1 (lines 3–6) returned "" but the key "k" could only hold "a;" or "a;b;" at that point"#
    );
    assert_eq!(prefix_lines(&e), vec![1, 4]);
    assert_eq!(e["state_after_prefix"], "a;b;");
}

#[test]
fn a_pre_check_claims_no_prefix() {
    // Three operations linearize before the read of a value nobody wrote; the pre-check
    // decides without searching, so no prefix is claimed.
    let e = explanation(
        Model::Register,
        "0 invoke write 1 | 0 ok write | 0 invoke read | 0 ok read 1 | 0 invoke write 2 | 0 ok write | 1 invoke read | 1 ok read 9",
    );
    assert_eq!(
        e["reason"],
        "read by process 1 (lines 7–8) returned 9 but no write to the register invoked before line 8 ever writes that value"
    );
    assert!(e["prefix"].is_null(), "{e}");
    assert!(e["state_after_prefix"].is_null(), "{e}");
}

#[test]
fn exhausted_budget_is_unknown() {
    let dir = corpus();
    let text = std::fs::read_to_string(dir.join("etcd/etcd_002.jsonl")).unwrap();
    let h = History::parse_jsonl(&text).unwrap();
    let tiny = Budget {
        timeout: None,
        max_memo_bytes: 1,
    };
    let r = check(&h, Model::Register, &tiny).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r.unknown_reason.is_some());
    let zero = Budget {
        timeout: Some(std::time::Duration::ZERO),
        ..Budget::default()
    };
    assert_eq!(
        check(&h, Model::Register, &zero).unwrap().verdict,
        Verdict::Unknown
    );
}

#[test]
fn wrong_model_is_an_error() {
    let h = History::parse_jsonl(&jsonl("0 invoke read | 0 ok read null")).unwrap();
    assert_eq!(
        check(&h, Model::Kv, &Budget::default()).unwrap_err().line,
        1
    );
}

#[test]
fn round_trip_through_write_jsonl() {
    let text =
        jsonl(r#"0 invoke append "a\"b" @k | 0 info append @k | 1 invoke get @k | 1 ok get "" @k"#);
    let h = History::parse_jsonl(&text).unwrap();
    let mut out = Vec::new();
    h.write_jsonl(&mut out).unwrap();
    assert_eq!(
        History::parse_jsonl(std::str::from_utf8(&out).unwrap()).unwrap(),
        h
    );
}

const W0: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}"#;
const OK1: &str = r#"{"index":1,"time":1,"process":0,"type":"ok","f":"write","value":1}"#;

#[test]
fn bad_input_names_the_line() {
    #[rustfmt::skip]
    let cases: &[(&str, usize, &str)] = &[
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1"#, 1, "malformed JSON"),
        (&format!("{W0}\nnot json"), 2, "malformed JSON"),
        (r#"[1,2]"#, 1, "expected a JSON object"),
        (r#"{"index":0,"process":0,"type":"invoke","f":"write","value":1}"#, 1, "missing field `time`"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write"}"#, 1, "missing field `value`"),
        (r#"{"index":0,"time":0,"process":"a","type":"invoke","f":"write","value":1}"#, 1, "`process` must be a non-negative integer"),
        (r#"{"index":0,"time":0,"process":-1,"type":"invoke","f":"write","value":1}"#, 1, "`process` must be a non-negative integer"),
        (r#"{"index":0,"time":1.5,"process":0,"type":"invoke","f":"write","value":1}"#, 1, "`time` must be"),
        (r#"{"index":3,"time":0,"process":0,"type":"invoke","f":"write","value":1}"#, 1, "`index` is 3"),
        (&format!("{W0}\n{}", r#"{"index":1,"time":0,"process":0,"type":"ok","f":"write","value":1}"#).replace(r#""time":0,"process":0,"type":"invoke""#, r#""time":9,"process":0,"type":"invoke""#), 2, "time goes backwards"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"delete","value":1}"#, 1, "`delete` is not a register operation"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"","value":1}"#, 1, "is not an operation name"),
        (r#"{"index":0,"time":0,"process":0,"type":"start","f":"write","value":1}"#, 1, "unknown `type`"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":"x"}"#, 1, "write invoke value must be an integer"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"cas","value":[1]}"#, 1, "cas invoke value must be an [expected, new] array"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"cas","value":5}"#, 1, "cas invoke value must be an [expected, new] array"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"read","value":5}"#, 1, "read invoke value must be null"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"put","key":"k","value":5}"#, 1, "put invoke value must be a string"),
        (&format!("{W0}\n{}", r#"{"index":1,"time":1,"process":0,"type":"ok","f":"write","value":2}"#), 2, "differs from the invoked value"),
        (r#"{"index":0,"time":0,"process":0,"type":"ok","f":"write","value":1}"#, 1, "no outstanding invocation"),
        (&format!("{W0}\n{}", r#"{"index":1,"time":1,"process":0,"type":"invoke","f":"write","value":2}"#), 2, "while its operation from line 1 is outstanding"),
        (&format!("{W0}\n{}", r#"{"index":1,"time":1,"process":0,"type":"ok","f":"cas","value":[1,2]}"#), 2, "differs from its invocation"),
        (&format!("{}\n{}", r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"get","key":"a","value":null}"#, r#"{"index":1,"time":1,"process":0,"type":"ok","f":"get","key":"b","value":""}"#), 2, "differs from its invocation"),
        (&format!("{W0}\n{}\n{}", r#"{"index":1,"time":1,"process":0,"type":"info","f":"write","value":1}"#, r#"{"index":2,"time":2,"process":0,"type":"invoke","f":"read","value":null}"#), 3, "process 0 reused after its info completion on line 2"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"get","value":null}"#, 1, "needs a `key`"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"read","key":"k","value":null}"#, 1, "takes no `key`"),
        (r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"get","key":7,"value":null}"#, 1, "`key` must be a string"),
        (&format!("{W0}\n{OK1}\n{}", r#"{"index":2,"time":2,"process":0,"type":"invoke","f":"get","key":"k","value":null}"#), 3, "one history holds one model"),
        (&format!("{W0}\n\n{OK1}"), 2, "blank line"),
    ];
    // Shared rules fail the parse; a model's rules fail the check against the history's model.
    for (text, line, message) in cases {
        let err = History::parse_jsonl(text)
            .and_then(|h| {
                check(
                    &h,
                    Model::of(&h).unwrap_or(Model::Register),
                    &Budget::default(),
                )
            })
            .expect_err(text);
        assert_eq!(err.line, *line, "{text}\n{err}");
        assert!(
            err.message.contains(message),
            "{text}\nwanted {message:?}, got {err}"
        );
        assert!(err.to_string().starts_with(&format!("line {line}: ")));
    }
}

#[test]
fn good_input_edge_cases_parse() {
    // Empty file, no final newline, CRLF, unknown fields, fail/info values of any shape.
    for text in [
        "",
        W0,
        &format!("{W0}\r\n{OK1}\r\n"),
        r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1,"extra":{"a":1}}"#,
        &format!(
            "{W0}\n{}",
            r#"{"index":1,"time":1,"process":0,"type":"info","f":"write","value":{"x":true},"error":"timed-out"}"#
        ),
    ] {
        History::parse_jsonl(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn invalid_utf8_names_the_line() {
    let mut bytes = format!("{W0}\n").into_bytes();
    bytes.extend_from_slice(b"{\"index\":1,\"time\":1,\"pro\xffcess\":0}\n");
    let err = History::parse_jsonl_bytes(&bytes).unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    assert!(err.message.contains("invalid UTF-8 at byte 25"), "{err}");
    assert_eq!(
        History::parse_jsonl_bytes(format!("{W0}\n{OK1}\n").as_bytes()).unwrap(),
        History::parse_jsonl(&format!("{W0}\n{OK1}\n")).unwrap()
    );
}

/// A brute-force oracle for explanations of small histories of one object: every order of
/// every subset, straight from the definitions in `Explanation`'s documentation.
mod oracle {
    use check::history::{OpFn, Operation, Outcome, Value};
    use serde_json::Value as J;

    #[derive(Clone, Debug)]
    pub enum Step {
        Read(J),
        Write(J),
        Append(String),
        Cas(J, J),
        CasFail(J),
    }

    pub struct Op {
        pub src: usize,
        pub step: Step,
        pub call: usize,
        /// Completion of a required operation.
        pub ret: Option<usize>,
    }

    fn json(v: &Value) -> J {
        match v {
            Value::Int(i) => (*i).into(),
            Value::Str(s) => s.as_str().into(),
            _ => J::Null,
        }
    }

    /// The operations the format keeps, as the checker reads them.
    pub fn ops(all: &[Operation]) -> Vec<Op> {
        let mut out = Vec::new();
        for (i, o) in all.iter().enumerate() {
            let step = match (o.f, o.outcome, &o.input) {
                (OpFn::Read | OpFn::Get, Outcome::Ok, _) => Step::Read(json(&o.output)),
                (OpFn::Read | OpFn::Get, _, _) => continue,
                (OpFn::Write | OpFn::Put | OpFn::Append, Outcome::Fail, _) => continue,
                (OpFn::Write | OpFn::Put, _, v) => Step::Write(json(v)),
                (OpFn::Append, _, Value::Str(s)) => Step::Append(s.clone()),
                (OpFn::Cas, Outcome::Fail, v) => match v.pair() {
                    Some((e, _)) => Step::CasFail(e.into()),
                    None => continue,
                },
                (OpFn::Cas, _, v) => match v.pair() {
                    Some((e, n)) => Step::Cas(e.into(), n.into()),
                    None => continue,
                },
                _ => continue,
            };
            let required = !o.outcome.is_indeterminate();
            out.push(Op {
                src: i,
                step,
                call: o.invoke,
                ret: if required { o.complete } else { None },
            });
        }
        out
    }

    fn apply(state: &J, step: &Step) -> Option<J> {
        match step {
            Step::Read(v) => (state == v).then(|| state.clone()),
            Step::Write(v) => Some(v.clone()),
            Step::Append(s) => Some(format!("{}{s}", state.as_str().unwrap_or("")).into()),
            Step::Cas(e, n) => (state == e).then(|| n.clone()),
            Step::CasFail(e) => (state != e).then(|| state.clone()),
        }
    }

    /// Calls `done(order, state before noop)` for every valid order of a subset of `set`
    /// containing every op in `required`; `noop` (if any) is applied without its check.
    struct Orders<'a> {
        ops: &'a [Op],
        set: &'a [usize],
        required: &'a [usize],
        noop: Option<usize>,
    }

    impl Orders<'_> {
        fn go(
            &self,
            order: &mut Vec<usize>,
            state: J,
            at_noop: Option<J>,
            done: &mut dyn FnMut(&[usize], Option<J>),
        ) {
            if self.required.iter().all(|r| order.contains(r)) {
                done(order, at_noop.clone());
            }
            for &i in self.set {
                if order.contains(&i) {
                    continue;
                }
                // Every op completed before i is invoked comes first.
                let call = self.ops[i].call;
                if self
                    .set
                    .iter()
                    .any(|&z| !order.contains(&z) && self.ops[z].ret.is_some_and(|r| r < call))
                {
                    continue;
                }
                let (next, at) = if Some(i) == self.noop {
                    (Some(state.clone()), Some(state.clone()))
                } else {
                    (apply(&state, &self.ops[i].step), at_noop.clone())
                };
                if let Some(next) = next {
                    order.push(i);
                    self.go(order, next, at, done);
                    order.pop();
                }
            }
        }
    }

    pub struct Expected {
        pub blocked: usize,
        pub could_hold: Vec<J>,
        pub prefix_len: usize,
    }

    /// The operation that cannot be placed, what the object could hold there, and the
    /// longest linearization of the history before its completion.
    pub fn explain(ops: &[Op], initial: J) -> Option<Expected> {
        let mut rets: Vec<usize> = ops.iter().filter_map(|o| o.ret).collect();
        rets.sort_unstable();
        for t in rets {
            let set: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].call < t).collect();
            let required: Vec<usize> = set
                .iter()
                .copied()
                .filter(|&i| ops[i].ret.is_some_and(|r| r <= t))
                .collect();
            let run = |set: &[usize],
                       required: &[usize],
                       noop,
                       done: &mut dyn FnMut(&[usize], Option<J>)| {
                Orders {
                    ops,
                    set,
                    required,
                    noop,
                }
                .go(&mut Vec::new(), initial.clone(), None, done)
            };
            let mut ok = false;
            run(&set, &required, None, &mut |_, _| ok = true);
            if ok {
                continue;
            }
            let x = (0..ops.len()).find(|&i| ops[i].ret == Some(t)).unwrap();
            let mut could_hold = Vec::new();
            run(&set, &required, Some(x), &mut |_, at| {
                could_hold.push(at.unwrap())
            });
            could_hold.sort_by(|a, b| (a.as_i64(), a.as_str()).cmp(&(b.as_i64(), b.as_str())));
            could_hold.dedup();
            let without: Vec<usize> = set.iter().copied().filter(|&i| i != x).collect();
            let before: Vec<usize> = required.iter().copied().filter(|&i| i != x).collect();
            let mut prefix_len = 0;
            run(&without, &before, None, &mut |o, _| {
                prefix_len = prefix_len.max(o.len())
            });
            return Some(Expected {
                blocked: ops[x].src,
                could_hold,
                prefix_len,
            });
        }
        None
    }
}

/// Small random histories of one object: three processes, six overlapping operations, some
/// failed or indeterminate. `kv` draws put/append/get on one key, else write/read/cas.
fn random_history(seed: u64, kv: bool) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut items: Vec<String> = Vec::new();
    let mut pid = [0u64, 1, 2];
    let mut fresh = 3;
    let mut open: [Option<String>; 3] = [None, None, None];
    let mut invoked = 0;
    let key = if kv { " @k" } else { "" };
    while invoked < 6 || open.iter().any(Option::is_some) {
        let p = next(3) as usize;
        match open[p].take() {
            None if invoked < 6 => {
                let v = 1 + next(3);
                let f = match (kv, next(3)) {
                    (false, 0) => format!("write {v}"),
                    (false, 1) => "read".into(),
                    (false, _) => format!("cas [{},{v}]", 1 + next(3)),
                    (true, 0) => format!(r#"put "{v};""#),
                    (true, 1) => "get".into(),
                    (true, _) => format!(r#"append "{v};""#),
                };
                items.push(format!("{} invoke {f}{key}", pid[p]));
                open[p] = Some(f);
                invoked += 1;
            }
            None => {}
            Some(f) => {
                let name = f.split_whitespace().next().unwrap().to_string();
                let ty = match next(10) {
                    0 => "info",
                    1 => "fail",
                    _ => "ok",
                };
                let value = match (name.as_str(), ty) {
                    ("read", "ok") => match next(4) {
                        0 => " null".to_string(),
                        v => format!(" {v}"),
                    },
                    ("get", "ok") => {
                        let parts: Vec<String> =
                            (0..next(3)).map(|_| format!("{};", 1 + next(3))).collect();
                        format!(r#" "{}""#, parts.concat())
                    }
                    _ => String::new(),
                };
                items.push(format!("{} {ty} {name}{value}{key}", pid[p]));
                if ty == "info" {
                    pid[p] = fresh;
                    fresh += 1;
                }
            }
        }
    }
    jsonl(&items.join(" | "))
}

#[test]
fn explanations_agree_with_brute_force() {
    for (model, kv, initial) in [
        (Model::Register, false, serde_json::Value::Null),
        (Model::Kv, true, serde_json::json!("")),
    ] {
        let mut compared = 0;
        for seed in 0..4000 {
            let text = random_history(seed, kv);
            let h = History::parse_jsonl(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let r = check(&h, model, &Budget::default()).unwrap();
            let ops = h.operations().unwrap();
            let expected = oracle::explain(&oracle::ops(&ops), initial.clone());
            assert_eq!(
                r.verdict == NOT,
                expected.is_some(),
                "verdict, seed {seed}\n{text}"
            );
            let (Some(e), Some(want)) = (r.explanation, expected) else {
                continue;
            };
            if r.stats.decided_by_precheck {
                continue;
            }
            assert_eq!(
                (e.blocked.op, &e.could_hold, e.prefix.as_ref().map(Vec::len)),
                (want.blocked, &want.could_hold, Some(want.prefix_len)),
                "{model:?} seed {seed}: {}\n{text}",
                e.reason
            );
            compared += 1;
        }
        assert!(
            compared > 200,
            "{model:?}: only {compared} explanations compared"
        );
    }
}

#[test]
fn open_values_names_and_sessions_round_trip() {
    let text = concat!(
        r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"enqueue","value":[1,[2,3]],"session":4}"#,
        "\n",
        r#"{"index":1,"time":1,"process":0,"type":"ok","f":"enqueue","value":{"v":1.5,"w":18446744073709551615,"x":true}}"#,
        "\n"
    );
    let h = History::parse_jsonl(text).unwrap();
    assert_eq!(h.events[0].f.as_str(), "enqueue");
    assert_eq!(h.events[0].session, Some(4));
    let mut out = Vec::new();
    h.write_jsonl(&mut out).unwrap();
    assert_eq!(std::str::from_utf8(&out).unwrap(), text);
}

#[test]
fn the_progress_hook_sees_the_search_and_changes_nothing() {
    use check::generate::{history, Config, Kind};
    use check::linearizability::{check_with, Options, Progress};
    use std::sync::Mutex;
    for anomaly in [false, true] {
        let h = history(&Config {
            kind: Kind::Register,
            // Under 512 operations, so that the stale read is left to the search, not to the
            // large objects' pre-check.
            operations: 500,
            processes: 12,
            info_percent: 20,
            anomaly,
            // With cas the zone test does not apply, so the search (and its hook) runs.
            cas: true,
            seed: 7,
            ..Config::default()
        });
        let plain = check(&h, Model::Register, &Budget::default()).unwrap();
        let seen: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
        let hook = |p: &Progress| seen.lock().unwrap().push(*p);
        let options = Options {
            watch: Some(&hook),
            ..Options::default()
        };
        let watched = check_with(&h, Model::Register, &Budget::default(), options).unwrap();
        assert_eq!(watched, plain);
        let seen = seen.into_inner().unwrap();
        assert!(!seen.is_empty(), "anomaly {anomaly}: {:?}", plain.stats);
        for p in &seen {
            assert_eq!(p.total, plain.stats.searched_operations);
            assert!(p.placed <= p.total && p.configurations > 0 && p.memory_bytes > 0);
        }
    }
}

#[test]
fn keys_searched_on_several_threads_give_the_same_report() {
    use check::generate::{history, Config, Kind};
    use check::linearizability::{check_with, Options};
    for (seed, anomaly) in [(1, false), (2, true), (3, true)] {
        let h = history(&Config {
            kind: Kind::Kv,
            operations: 1200,
            processes: 16,
            info_percent: 20,
            keys: 6,
            anomaly,
            seed,
            ..Config::default()
        });
        let run = |jobs| {
            let options = Options {
                jobs,
                ..Options::default()
            };
            check_with(&h, Model::Kv, &Budget::default(), options).unwrap()
        };
        let one = run(1);
        assert!(one.stats.partitions > 1);
        assert_eq!(one, run(4), "seed {seed}");
        assert_eq!(one, run(2), "seed {seed}");
    }
}

/// Unique-value read/write objects are decided by the zone test (no search, no
/// configuration); with a cas the search decides; a violation is still explained by the
/// search, and when the search cannot decide, by the zone test.
#[test]
fn unique_value_registers_are_decided_by_zones() {
    use check::generate::{history, Config, Kind};
    let base = Config {
        kind: Kind::Register,
        operations: 20_000,
        processes: 10,
        info_percent: 5,
        seed: 3,
        ..Config::default()
    };
    let r = check(&history(&base), Model::Register, &Budget::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Linearizable);
    assert_eq!((r.stats.algorithm, r.stats.configurations), ("zones", 0));

    let cas = history(&Config {
        cas: true,
        ..base.clone()
    });
    let r = check(&cas, Model::Register, &Budget::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Linearizable);
    assert!(!r.stats.algorithm.contains("zones"));

    let stale = history(&Config {
        anomaly: true,
        ..base.clone()
    });
    let r = check(&stale, Model::Register, &Budget::default()).unwrap();
    assert_eq!(r.verdict, Verdict::NotLinearizable);
    // A stale read in a large object: the overwritten-value pre-check names it at once.
    assert_eq!(r.stats.algorithm, "precheck");
    let reason = r.explanation.unwrap().reason;
    assert!(reason.contains("no longer held"), "{reason}");

    // Small keys (under 512 operations each, so searched exactly, without the reductions
    // that refute this one within the search's first budget check) go to the search, which
    // has no time at all here: the zone test decides every key, the refuted one included.
    let kv = history(&Config {
        kind: Kind::Kv,
        operations: 3_200,
        keys: 8,
        anomaly: true,
        ..base
    });
    let none = Budget {
        timeout: Some(std::time::Duration::ZERO),
        ..Budget::default()
    };
    let r = check(&kv, Model::Kv, &none).unwrap();
    assert_eq!(
        r.verdict,
        Verdict::NotLinearizable,
        "{:?}",
        r.unknown_reason
    );
    assert_eq!(r.stats.algorithm, "zones");
    let e = r.explanation.unwrap();
    assert!(e.reason.contains("zone test"), "{}", e.reason);
    println!("{}", e.reason);
}
