//! `index.html` of a report: the verdict table, each scenario's story, the charts, and the
//! command that replays every failing run. Plain HTML with its style inline and images beside
//! it, so the folder opens from the disk in any browser.

use super::charts::Written;
use crate::exit::Judgement;
use crate::summary::Results;
use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

/// The leading `#` comment block of a scenario file, without the `#`s; `None` when the file
/// cannot be read from here (a report built elsewhere than the sweep ran) or has none.
fn story(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .map(|l| {
            let l = l.trim_start().trim_start_matches('#');
            l.strip_prefix(' ').unwrap_or(l)
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
th{background:#f3f3f3}.fail{color:#b00;font-weight:bold}.unknown{color:#a60}.pass{color:#070}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}\
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #ddd}figcaption{color:#555}";

/// The page.
pub fn page(results: &Results, charts: &[Written]) -> String {
    let several = results.several_scenarios();
    let runs: usize = results.points.iter().map(|p| p.runs.len()).sum();
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>consim report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>consim report</h1>\n<p>{runs} runs over {} parameter points; overall verdict: \
         <span class=\"{}\">{}</span>. Per-metric means with 95% confidence intervals are in \
         <a href=\"summary.csv\">summary.csv</a>.</p>\n",
        results.points.len(),
        css_class(results.judgement()),
        results.judgement().as_str()
    );

    s.push_str("<h2>Verdicts</h2>\n<table>\n<tr><th>configuration</th><th>runs</th><th>pass</th><th>fail</th><th>unknown</th><th>invariants violated (runs; expected or not)</th></tr>\n");
    for p in &results.points {
        let count = |j: Judgement| p.runs.iter().filter(|r| r.judgement == j).count();
        let violated: Vec<String> = p
            .invariant_names()
            .iter()
            .filter_map(|inv| {
                let n = p.count(inv, "violated");
                (n > 0).then(|| {
                    let expected = p.runs.iter().any(|r| {
                        r.invariants
                            .iter()
                            .any(|(name, _, e)| name == inv && &**e == "violated")
                    });
                    format!("{inv}: {n}{}", if expected { " (expected)" } else { "" })
                })
            })
            .collect();
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"pass\">{}</td><td class=\"fail\">{}</td><td class=\"unknown\">{}</td><td>{}</td></tr>",
            esc(&p.label(true)),
            p.runs.len(),
            count(Judgement::Met),
            count(Judgement::Unmet),
            count(Judgement::Unknown),
            esc(&violated.join(", "))
        );
    }
    s.push_str("</table>\n");

    s.push_str("<h2>Stories</h2>\n");
    let mut seen: Vec<&str> = Vec::new();
    for p in &results.points {
        if seen.contains(&&*p.path) {
            continue;
        }
        seen.push(&p.path);
        let _ = writeln!(
            s,
            "<h3>{} <small>({})</small></h3>",
            esc(&p.scenario),
            esc(&p.path)
        );
        if let Some(d) = &p.description {
            let _ = writeln!(s, "<p>{}</p>", esc(d));
        }
        if let Some(text) = story(&p.path) {
            let _ = writeln!(s, "<pre>{}</pre>", esc(&text));
        }
    }

    s.push_str("<h2>Charts</h2>\n");
    if several {
        s.push_str("<p>Legends name each configuration by its scenario and varied values.</p>\n");
    }
    for c in charts {
        let _ = writeln!(
            s,
            "<figure><a href=\"{0}.svg\"><img src=\"{0}.png\" alt=\"{1}\" width=\"960\" height=\"540\"></a>\
             <figcaption>{1} (<a href=\"{0}.svg\">SVG</a>)</figcaption></figure>",
            esc(&c.stem),
            esc(&c.title)
        );
    }

    s.push_str("<h2>Failing runs</h2>\n");
    let mut any = false;
    for p in &results.points {
        let failing: Vec<_> = p
            .runs
            .iter()
            .filter(|r| r.judgement != Judgement::Met)
            .collect();
        if failing.is_empty() {
            continue;
        }
        any = true;
        let _ = writeln!(
            s,
            "<details><summary>{}: {} of {} runs failed or ended unknown</summary><pre>",
            esc(&p.label(true)),
            failing.len(),
            p.runs.len()
        );
        for r in failing {
            let _ = writeln!(
                s,
                "{}  # {}",
                esc(&r.replay_command()),
                r.judgement.as_str()
            );
        }
        s.push_str("</pre></details>\n");
    }
    if !any {
        s.push_str("<p>None: every run ended as its scenario expects.</p>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

fn css_class(j: Judgement) -> &'static str {
    match j {
        Judgement::Met => "pass",
        Judgement::Unmet => "fail",
        Judgement::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(super::esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
