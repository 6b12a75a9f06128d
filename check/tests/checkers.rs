//! The history checkers on known histories: `tests/data/verdicts.tsv` lists one case per
//! line (file, checker, expected verdict, and for a violation the kind of finding it must
//! name), so a new known-bad history is one file and one line.

use check::checkers::by_name;
use check::history::History;

#[test]
fn known_histories_get_their_verdicts() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let table = std::fs::read_to_string(format!("{dir}/verdicts.tsv")).unwrap();
    for row in table.lines().skip(1) {
        let c: Vec<&str> = row.split('\t').collect();
        let (file, checker, status, finding) = (c[0], c[1], c[2], c.get(3).copied().unwrap_or(""));
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let history = History::parse_jsonl(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let check = by_name(checker).unwrap_or_else(|| panic!("no checker {checker}"));
        let v = check
            .check(&history)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(v.status.as_str(), status, "{file}: {}", v.detail);
        assert_eq!(v.name, checker);
        if !finding.is_empty() {
            // A violation names it as the summary's first kind; a holding verdict as reported
            // (not a violation). Either way with at least one example line of it.
            let first = v.detail.lines().next().unwrap_or_default();
            let named = match v.status.as_str() {
                "violated" => first.starts_with(finding),
                _ => first.split_once("; reported: ").is_some_and(|(_, r)| {
                    r.split(", ").any(|k| k.starts_with(&format!("{finding} ")))
                }),
            };
            assert!(named, "{file}: {}", v.detail);
            assert!(
                v.detail.contains(&format!("\n{finding}: ")),
                "{file}: {}",
                v.detail
            );
            assert!(
                v.detail.contains("line"),
                "{file}: evidence names a line: {}",
                v.detail
            );
        }
    }
}

#[test]
fn shapes_a_checker_cannot_read_are_bad_input_on_their_line() {
    let read = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":1,"process":0,"type":"ok","f":"read","value":5,"session":1}"#;
    let h = History::parse_jsonl(read).unwrap();
    assert_eq!(by_name("set-full").unwrap().check(&h).unwrap_err().line, 2);
}

#[test]
fn a_million_operations_check_quickly() {
    // Enqueue, add and generate n distinct values, then read them all back: the four checks
    // must stay near linear.
    let n = 250_000u64;
    let mut text = String::new();
    let mut i = 0;
    let mut push = |p: u64, t: &str, f: &str, v: String, extra: &str| {
        text.push_str(&format!(
            "{{\"index\":{i},\"time\":{i},\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"value\":{v}{extra}}}\n"
        ));
        i += 1;
    };
    for x in 0..n {
        for f in ["enqueue", "add", "append"] {
            push(0, "invoke", f, x.to_string(), ",\"session\":0");
            push(0, "ok", f, x.to_string(), ",\"session\":0");
        }
        push(0, "invoke", "generate", "null".into(), "");
        push(0, "ok", "generate", x.to_string(), "");
    }
    let all: Vec<String> = (0..n).map(|x| x.to_string()).collect();
    push(1, "invoke", "drain", "null".into(), "");
    push(1, "ok", "drain", format!("[{}]", all.join(",")), "");
    push(1, "invoke", "read", "null".into(), ",\"session\":0");
    push(
        1,
        "ok",
        "read",
        format!("[{}]", all.join(",")),
        ",\"session\":0",
    );
    let h = History::parse_jsonl(&text).unwrap();
    let started = std::time::Instant::now();
    for &name in check::checkers::NAMES
        .iter()
        .filter(|&&n| n != "linearizable")
    {
        let v = by_name(name).unwrap().check(&h).unwrap();
        assert_eq!(v.status.as_str(), "holds", "{name}: {}", v.detail);
    }
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn many_reads_check_quickly() {
    // 200,000 operations: one session alternating append and read on each of 500 keys, every
    // read showing all the key's appends so far (10 million elements shown in all). The session
    // check must stay linear in that; checking each shown element's dependencies against the
    // whole read it depends on was cubic in a key's run (3.5 times slower here, parsing
    // included, and 8 times slower per doubling of the run).
    let (keys, rounds) = (500u64, 200u64);
    let mut text = String::new();
    let mut i = 0;
    for k in 0..keys {
        let mut list = String::new();
        for x in 0..rounds {
            let mut push = |t: &str, f: &str, v: &str| {
                text.push_str(&format!(
                    "{{\"index\":{i},\"time\":{i},\"process\":0,\"type\":\"{t}\",\"f\":\"{f}\",\"key\":\"k{k}\",\"value\":{v},\"session\":0}}\n"
                ));
                i += 1;
            };
            push("invoke", "append", &x.to_string());
            push("ok", "append", &x.to_string());
            if x > 0 {
                list.push(',');
            }
            list.push_str(&x.to_string());
            push("invoke", "read", "null");
            push("ok", "read", &format!("[{list}]"));
        }
    }
    let h = History::parse_jsonl(&text).unwrap();
    let started = std::time::Instant::now();
    let v = by_name("session").unwrap().check(&h).unwrap();
    assert_eq!(v.status.as_str(), "holds", "{}", v.detail);
    assert!(v.detail.contains("100000 reads"), "{}", v.detail);
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}
