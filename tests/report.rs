//! `consim report`: shards' results give the unsharded sweep's summary, the page holds the
//! verdicts, the stories, the charts and a replay command that replays, every file it links
//! exists, it loads in a real headless browser (Chromium) with no console message and every
//! image decodes there, and unreadable results are refused.

mod common;

use common::{consim, Scratch};
use std::path::Path;
use std::process::{Command, Output};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The replication modes over seeds 1..5 into `out` (extra arguments appended).
fn sweep(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sweep",
        "scenarios/regional-replicas-sync.toml",
        "--seeds",
        "1..5",
        "--vary",
        "model.mode=sync,semisync,async",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    consim(&args)
}

fn report(results: &[&Path], out: &Path) -> Output {
    let mut args = vec!["report"];
    args.extend(results.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    consim(&args)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The values of every `src="..."` and `href="..."` in a page.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("attributes are closed");
            found.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    found
}

#[test]
fn shards_report_the_unsharded_summary() {
    let dir = Scratch::new("report-shards");
    let (whole, s0, s1, merged) = (
        dir.join("whole"),
        dir.join("s0"),
        dir.join("s1"),
        dir.join("merged"),
    );
    sweep(&whole, &[]);
    sweep(&s0, &["--shard", "0/2"]);
    sweep(&s1, &["--shard", "1/2"]);
    // In either order: the summary does not depend on the order of the lines.
    for order in [[&s1, &s0], [&s0, &s1]] {
        let files: Vec<_> = order.iter().map(|d| d.join("results.jsonl")).collect();
        let o = report(&[&files[0], &files[1]], &merged);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            read(&merged.join("summary.csv")),
            read(&whole.join("summary.csv"))
        );
    }
}

#[test]
fn the_page_tells_the_verdicts_the_stories_and_how_to_replay() {
    let dir = Scratch::new("report-page");
    let (runs, out) = (dir.join("runs"), dir.join("report"));
    sweep(&runs, &["--anomalies", "lost_acked_writes"]);
    let o = report(&[&runs.join("results.jsonl")], &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = read(&out.join("index.html"));
    // The verdict row of async: 5 runs, none passed (it loses acknowledged writes).
    assert!(
        html.contains(
            "<td>regional-replicas-sync model.mode=async</td><td>5</td><td class=\"pass\">0</td>"
        ),
        "{html}"
    );
    assert!(html.contains("no_lost_acked_writes: 5"), "{html}");
    // The story is the scenario file's leading comment block.
    assert!(
        html.contains("The e-commerce store of the seed story"),
        "{html}"
    );
    // Every linked file exists, and every chart is linked.
    for link in links(&html) {
        assert!(
            out.join(&link).is_file(),
            "index.html links {link}, which is missing"
        );
    }
    assert!(html.contains("src=\"cdf-write_latency_ms.png\""), "{html}");
    assert!(html.contains("src=\"tradeoff.png\""), "{html}");
    // The first failing run's replay command replays the failure.
    let failing = html
        .find("<h2>Failing runs")
        .expect("a section of failing runs");
    let start = failing
        + html[failing..]
            .find("consim run ")
            .expect("a replay command");
    let command = &html[start..start + html[start..].find("  #").unwrap()];
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    assert!(
        args.iter().any(|a| a.starts_with("model.mode=")),
        "{command}"
    );
    let o = consim(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "`{command}` did not replay a failure"
    );
}

#[test]
fn unreadable_results_are_refused() {
    let dir = Scratch::new("report-bad");
    let o = report(&[&dir.join("missing.jsonl")], &dir.join("out"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    // A `run --json` line is not a sweep's: it has no point.
    let run = consim(&["run", "scenarios/bank-transfer-2pc.toml", "--json"]);
    let file = dir.join("run.jsonl");
    std::fs::write(&file, &run.stdout).unwrap();
    let o = report(&[&file], &dir.join("out"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("run.jsonl, line 1"), "{}", stderr(&o));
    std::fs::write(&file, "{not json\n").unwrap();
    assert_eq!(report(&[&file], &dir.join("out")).status.code(), Some(2));
}

/// Chromium, or `None` with the reason the browser test cannot run here.
fn chromium() -> Option<&'static str> {
    let path = "/usr/bin/chromium";
    Path::new(path).exists().then_some(path)
}

/// Loads `page` in headless Chromium; returns the console lines it logged.
fn console_of(browser: &str, page: &Path) -> Vec<String> {
    let o = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--enable-logging=stderr",
            "--v=0",
            // Lets image loads and their handlers finish before the DOM is dumped.
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(o.status.success(), "chromium failed: {}", stderr(&o));
    stderr(&o)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect()
}

#[test]
fn the_page_loads_in_a_headless_browser() {
    let Some(browser) = chromium() else {
        println!(
            "SKIPPED: no /usr/bin/chromium; install it (`apt-get install -y chromium`, as \
             .ci/run does) to test the report in a browser"
        );
        return;
    };
    let dir = Scratch::new("report-browser");
    let (runs, out) = (dir.join("runs"), dir.join("report"));
    sweep(&runs, &[]);
    assert_eq!(
        report(&[&runs.join("results.jsonl")], &out).status.code(),
        Some(0)
    );

    // The detector works: a page that logs an error is caught.
    let control = dir.join("control.html");
    std::fs::write(&control, "<script>console.error('boom')</script>").unwrap();
    assert!(
        console_of(browser, &control)
            .iter()
            .any(|l| l.contains("boom")),
        "chromium's console is not visible on stderr: the test would prove nothing"
    );

    // The page (it has no script) logs nothing: no error of any kind.
    let page = out.join("index.html");
    let console = console_of(browser, &page);
    assert!(console.is_empty(), "console messages: {console:#?}");

    // Every image the page shows decodes in the browser; a missing one is reported as such.
    let html = read(&page);
    let mut images: Vec<String> = links(&html)
        .into_iter()
        .filter(|l| l.ends_with(".png") || l.ends_with(".svg"))
        .collect();
    assert!(images.len() >= 8, "{images:?}");
    images.push("missing-control.png".into());
    let list: Vec<String> = images.iter().map(|i| format!("{i:?}")).collect();
    let probe = out.join("probe.html");
    std::fs::write(
        &probe,
        format!(
            "<script>for (const src of [{}]) {{ const img = new Image(); \
             img.onload = () => console.log(img.naturalWidth > 0 ? 'loaded ' + src : 'empty ' + src); \
             img.onerror = () => console.log('failed ' + src); img.src = src; }}</script>",
            list.join(",")
        ),
    )
    .unwrap();
    let console = console_of(browser, &probe).join("\n");
    for image in &images {
        let expected = if image == "missing-control.png" {
            "failed"
        } else {
            "loaded"
        };
        assert!(
            console.contains(&format!("\"{expected} {image}\"")),
            "{image} not {expected}:\n{console}"
        );
    }
}
