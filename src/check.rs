//! `consim check HISTORY.jsonl [--checker NAME] [--model register|kv]`: the history checkers
//! at the CLI edge. All checking lives in the `check` crate; this module reads the file,
//! prints the verdict and, for linearizability, draws the timeline SVG of a counterexample.
//!
//! Exit codes: 0 holds (linearizable), 1 violated, 2 bad input, 3 unknown (budget exhausted,
//! or nothing the checker can judge).

use anyhow::Context as _;
use consim::exit::{self, Judgement};
use consim::output;
use sim::history::{History, Operation, Outcome};
use sim::invariant::Status;
use sim::linearizability::{
    check_with, operations, Budget, Explanation, Model, Options, Progress, Report, Verdict,
};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The history, JSON Lines as in docs/HISTORY_FORMAT.md; `-` for standard input.
    pub history: PathBuf,
    /// The check to run (docs/HISTORY_FORMAT.md says which operations each reads).
    #[arg(long, default_value = "linearizable",
          value_parser = clap::builder::PossibleValuesParser::new(check::checkers::NAMES))]
    pub checker: String,
    /// The model to check linearizability against; by default the one the history's
    /// operations belong to.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Give up with "unknown" (exit 3) after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Write the timeline SVG of a counterexample to this file, or into this directory (an
    /// existing one, or a path ending in `/`, created like `run --out`) as
    /// `<history>.timeline.svg`. Without it no file is written.
    #[arg(long, value_name = "FILE_OR_DIR")]
    pub out: Option<PathBuf>,
    /// Search the keys of a key-value history on N threads; the report is the same for any N.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelArg {
    Register,
    Kv,
}

/// The longest timeout accepted: a year, far beyond any useful check.
const MAX_TIMEOUT_SECS: f64 = 365.0 * 24.0 * 3600.0;

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if (0.0..=MAX_TIMEOUT_SECS).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "expected a number of seconds from 0 to {MAX_TIMEOUT_SECS} (a year)"
        )),
    }
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let stdin = is_stdin(&args.history);
    let file = if stdin {
        "standard input".to_string()
    } else {
        args.history.display().to_string()
    };
    let bytes = if stdin {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut b).map(|_| b)
    } else {
        std::fs::read(&args.history)
    }
    .with_context(|| format!("cannot read history {file}"))?;
    let history = match History::parse_jsonl_bytes(&bytes) {
        Ok(h) => h,
        Err(e) => return Ok(bad_input(args, &file, e.line, &e.message)),
    };
    if args.checker != "linearizable" {
        return run_checker(args, &file, &history);
    }
    let model = match args.model {
        Some(ModelArg::Register) => Model::Register,
        Some(ModelArg::Kv) => Model::Kv,
        None => Model::of(&history).unwrap_or(Model::Register),
    };
    let budget = Budget {
        timeout: args.timeout,
        ..Budget::default()
    };

    let started = Instant::now();
    let watch = consim::watch::CheckWatch::new();
    let hook = |p: &Progress| watch.poll(p);
    let options = Options {
        watch: Some(&hook),
        jobs: args.jobs.into(),
    };
    let report = check_with(&history, model, &budget, options);
    drop(watch);
    let report = match report {
        Ok(r) => r,
        Err(e) => return Ok(bad_input(args, &file, e.line, &e.message)),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut timeline = None;
    let mut timeline_error = None;
    if let (Some(expl), Some(out)) = (&report.explanation, &args.out) {
        // A paired history: `check` already validated it, so this cannot fail.
        let ops = history.operations().unwrap_or_default();
        let name = if stdin {
            "history".into()
        } else {
            args.history
                .file_name()
                .map_or("history".into(), |n| n.to_string_lossy())
        };
        match write_timeline(out, &name, &timeline_svg(&ops, expl, &file)) {
            Ok(path) => timeline = Some(path),
            Err(e) => timeline_error = Some(e),
        }
    }

    if args.json {
        let out = serde_json::json!({
            "file": file,
            "checker": "linearizable",
            "model": model.as_str(),
            "verdict": report.verdict.as_str(),
            "operations": report.stats.operations,
            "elapsed_ms": elapsed_ms,
            "explanation": report.explanation,
            "timeline": timeline.as_ref().map(|p| p.display().to_string()),
            "unknown_reason": report.unknown_reason,
            "stats": report.stats,
        });
        output::emit(&format!("{out}\n"))?;
    } else {
        output::emit(&human(
            &file,
            model,
            &report,
            elapsed_ms,
            timeline.as_deref(),
        ))?;
    }
    // Output that could not be written is exit 2, as for `run --out`; the verdict is printed.
    if let Some(e) = timeline_error {
        return Err(e);
    }
    Ok(match report.verdict {
        Verdict::Linearizable => Judgement::Met,
        Verdict::NotLinearizable => Judgement::Unmet,
        Verdict::Unknown => Judgement::Unknown,
    }
    .into())
}

/// The checkers other than linearizability: a [`Verdict`] whose detail is the evidence.
fn run_checker(args: &CheckArgs, file: &str, history: &History) -> anyhow::Result<ExitCode> {
    let name = &args.checker;
    if args.model.is_some() || args.out.is_some() || args.timeout.is_some() {
        eprintln!("error: --model, --out and --timeout apply to --checker linearizable only");
        return Ok(ExitCode::from(exit::BAD_INPUT));
    }
    let Some(checker) = check::checkers::by_name(name) else {
        anyhow::bail!("no checker named {name}");
    };
    let started = Instant::now();
    let verdict = match checker.check(history) {
        Ok(v) => v,
        Err(e) => return Ok(bad_input(args, file, e.line, &e.message)),
    };
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    let n_ops = history.operations().map_or(0, |o| o.len());
    if args.json {
        let out = serde_json::json!({
            "file": file,
            "checker": checker.name(),
            "verdict": verdict.status.as_str(),
            "operations": n_ops,
            "elapsed_ms": elapsed_ms,
            "detail": verdict.detail,
        });
        output::emit(&format!("{out}\n"))?;
    } else {
        let mut s = format!(
            "{file}: {} ({}, {}, {elapsed_ms:.1} ms)\n",
            match verdict.status {
                Status::Violated => "VIOLATED",
                other => other.as_str(),
            },
            checker.name(),
            operations(n_ops)
        );
        for line in verdict.detail.lines() {
            let _ = writeln!(s, "  {line}");
        }
        output::emit(&s)?;
    }
    Ok(match verdict.status {
        Status::Holds => Judgement::Met,
        Status::Violated => Judgement::Unmet,
        Status::Unknown => Judgement::Unknown,
    }
    .into())
}

fn bad_input(args: &CheckArgs, file: &str, line: usize, message: &str) -> ExitCode {
    eprintln!("error: {file}: line {line}: {message}");
    if args.json {
        let out = serde_json::json!({
            "file": file,
            "verdict": "bad_input",
            "error": { "line": line, "message": message },
        });
        // A closed pipe changes nothing here: the exit code says it all.
        let _ = output::emit(&format!("{out}\n"));
    }
    ExitCode::from(exit::BAD_INPUT)
}

/// Writes the timeline to `out`: into it as `<name>.timeline.svg` if it is a directory or
/// names one (a trailing `/`, created if missing), else to the file `out`. Returns the path
/// written; the error names the path that could not be written and why.
fn write_timeline(out: &Path, name: &str, svg: &str) -> anyhow::Result<PathBuf> {
    let text = out.as_os_str().to_string_lossy();
    let names_dir = text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR);
    let path = if out.is_dir() || names_dir {
        consim::output::create_dir(out)?;
        out.join(format!("{name}.timeline.svg"))
    } else {
        out.to_path_buf()
    };
    consim::output::write_file(&path, svg.as_bytes())?;
    Ok(path)
}

fn human(
    file: &str,
    model: Model,
    report: &Report,
    elapsed_ms: f64,
    timeline: Option<&Path>,
) -> String {
    let mut s = String::new();
    let verdict = match report.verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "NOT linearizable",
        Verdict::Unknown => "unknown",
    };
    let _ = writeln!(
        s,
        "{file}: {verdict} ({} model, {}, {elapsed_ms:.1} ms)",
        model.as_str(),
        operations(report.stats.operations)
    );
    if let Some(why) = &report.unknown_reason {
        let _ = writeln!(s, "  {why}");
    }
    if let Some(e) = &report.explanation {
        if let Some(k) = &e.key {
            let _ = writeln!(s, "  key: {k:?}");
        }
        let _ = writeln!(s, "  {}", e.reason);
        let prefix: &[_] = e.prefix.as_deref().unwrap_or_default();
        match (&e.prefix, &e.state_after_prefix) {
            (Some(p), Some(v)) => {
                let _ = writeln!(
                    s,
                    "  longest linearizable prefix: {}, leaving the value {v}",
                    operations(p.len())
                );
            }
            _ if report.stats.decided_by_precheck => {
                let _ = writeln!(s, "  (decided by a pre-check, without a search: no prefix)");
            }
            _ => {}
        }
        const SHOWN: usize = 8;
        if prefix.len() > SHOWN {
            let _ = writeln!(s, "    ... {} earlier", operations(prefix.len() - SHOWN));
        }
        for op in prefix.iter().skip(prefix.len().saturating_sub(SHOWN)) {
            let _ = writeln!(
                s,
                "    {} {} by process {} (lines {}–{})",
                op.f,
                op.value,
                op.process,
                op.invoke_line,
                op.complete_line.map_or("open".into(), |c| c.to_string())
            );
        }
        match timeline {
            Some(p) => {
                let _ = writeln!(s, "  timeline: {}", p.display());
            }
            None => {
                let _ = writeln!(s, "  (--out FILE_OR_DIR draws the timeline as SVG)");
            }
        }
    }
    s
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn op_label(op: &Operation) -> String {
    // A read (no argument) shows its result, anything else its argument.
    let v = match (&op.input, op.outcome) {
        (sim::history::Value::Null, Outcome::Ok) => format!("→ {}", op.output),
        (sim::history::Value::Null, _) => "?".to_string(),
        (v, _) => v.to_string(),
    };
    let mark = match op.outcome {
        Outcome::Ok => "",
        Outcome::Fail => " (fail)",
        Outcome::Info => " (info)",
        Outcome::Pending => " (pending)",
    };
    truncate(&format!("{} {v}{mark}", op.f.as_str()), 28)
}

/// Draws the operations around the failure: one row per process, one bar per operation from
/// its invocation line to its completion line (indeterminate ones open to the right edge), the
/// unplaceable operation in red and the linearized prefix in blue, numbered in order. The x
/// axis is the line number: the file's order is the real-time order, times are informational.
fn timeline_svg(ops: &[Operation], e: &Explanation, file: &str) -> String {
    const TAIL: usize = 12;
    const MAX_OPS: usize = 150;
    let blocked = e.blocked.op;
    let prefix: &[_] = e.prefix.as_deref().unwrap_or_default();
    let prefix_rank: BTreeMap<usize, usize> = prefix
        .iter()
        .enumerate()
        .map(|(i, o)| (o.op, i + 1))
        .collect();
    // The window: the last prefix operations, the blocked one and those concurrent with it.
    let mut focus: Vec<usize> = vec![blocked];
    focus.extend(e.concurrent.iter().map(|o| o.op));
    focus.extend(prefix.iter().rev().take(TAIL).map(|o| o.op));
    let lo = focus
        .iter()
        .filter_map(|&i| ops.get(i))
        .map(|o| o.invoke)
        .min()
        .unwrap_or(0);
    let hi = ops
        .get(blocked)
        .map(|b| b.complete.unwrap_or(b.invoke))
        .unwrap_or(lo)
        .max(
            focus
                .iter()
                .filter_map(|&i| ops.get(i))
                .map(|o| o.invoke)
                .max()
                .unwrap_or(lo),
        );
    let same_key = |o: &Operation| o.key == e.key;
    let mut shown: Vec<usize> = (0..ops.len())
        .filter(|&i| {
            let o = &ops[i];
            same_key(o) && o.invoke <= hi && o.complete.is_none_or(|c| c >= lo)
        })
        .collect();
    if shown.len() > MAX_OPS {
        // Keep the operations nearest to the blocked one.
        let at = ops.get(blocked).map_or(0, |b| b.invoke);
        shown.sort_by_key(|&i| (ops[i].invoke.abs_diff(at), i));
        shown.truncate(MAX_OPS);
        // The operations the explanation names stay, however far they are.
        let named: HashSet<usize> = shown.iter().copied().collect();
        shown.extend(
            focus
                .iter()
                .copied()
                .filter(|i| !named.contains(i) && *i < ops.len()),
        );
        shown.sort_unstable();
        shown.dedup();
    }
    let lo = shown.iter().map(|&i| ops[i].invoke).min().unwrap_or(lo);
    let hi = shown
        .iter()
        .map(|&i| ops[i].complete.unwrap_or(ops[i].invoke))
        .max()
        .unwrap_or(hi);

    let mut procs: Vec<u64> = shown.iter().map(|&i| ops[i].process).collect();
    procs.sort_unstable();
    procs.dedup();
    let row_of: BTreeMap<u64, usize> = procs.iter().enumerate().map(|(r, &p)| (p, r)).collect();

    let (left, top, row_h) = (70.0, 90.0, 34.0);
    let span = (hi - lo + 2) as f64;
    let px_per_line = (1400.0 / span).clamp(4.0, 40.0);
    let width = left + span * px_per_line + 60.0;
    let height = top + procs.len() as f64 * row_h + 30.0;
    let x = |line: usize| left + (line - lo) as f64 * px_per_line;
    let right_edge = width - 20.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="monospace" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = match &e.key {
        Some(k) => format!("{file}: not linearizable (key {k:?})"),
        None => format!("{file}: not linearizable"),
    };
    let _ = writeln!(
        s,
        r#"<text x="10" y="18" font-size="13" font-weight="bold">{}</text>"#,
        xml_escape(&title)
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="36"><title>{}</title>{}</text>"#,
        xml_escape(&e.reason),
        xml_escape(&truncate(&e.reason, 220))
    );
    let _ = writeln!(
        s,
        r##"<rect x="10" y="48" width="12" height="10" fill="#d62728"/><text x="26" y="57">cannot be placed</text><rect x="150" y="48" width="12" height="10" fill="#1f77b4"/><text x="166" y="57">linearized prefix (#n = order)</text><rect x="390" y="48" width="12" height="10" fill="#bbbbbb"/><text x="406" y="57">other</text><text x="470" y="57">x axis: line number {}–{}</text>"##,
        lo + 1,
        hi + 1
    );
    for (r, p) in procs.iter().enumerate() {
        let y = top + r as f64 * row_h;
        let _ = writeln!(s, r#"<text x="10" y="{:.0}">p{p}</text>"#, y + 14.0);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{:.0}" x2="{right_edge:.0}" y2="{:.0}" stroke="#eeeeee"/>"##,
            y + row_h - 4.0,
            y + row_h - 4.0
        );
    }
    for &i in &shown {
        let o = &ops[i];
        let Some(&r) = row_of.get(&o.process) else {
            continue;
        };
        let y = top + r as f64 * row_h;
        let x0 = x(o.invoke);
        let x1 = o.complete.map_or(right_edge, |c| x(c).max(x0 + 3.0));
        let (fill, rank) = if i == blocked {
            ("#d62728", String::new())
        } else if let Some(k) = prefix_rank.get(&i) {
            ("#1f77b4", format!("#{k} "))
        } else {
            ("#bbbbbb", String::new())
        };
        let dash = if o.outcome.is_indeterminate() {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let lines = match o.complete_line() {
            Some(c) => format!("lines {}–{c}", o.invoke_line()),
            None => format!("line {}, never completed", o.invoke_line()),
        };
        let _ = writeln!(
            s,
            r##"<rect x="{x0:.1}" y="{:.0}" width="{:.1}" height="12" fill="{fill}" fill-opacity="0.85" stroke="#333333"{dash}><title>{}</title></rect>"##,
            y + 2.0,
            x1 - x0,
            xml_escape(&format!(
                "process {} {} ({lines}, {})",
                o.process,
                op_label(o),
                o.outcome.as_str()
            ))
        );
        let _ = writeln!(
            s,
            r#"<text x="{x0:.1}" y="{:.0}">{}</text>"#,
            y + 26.0,
            xml_escape(&format!("{rank}{}", op_label(o)))
        );
    }
    s.push_str("</svg>\n");
    s
}
