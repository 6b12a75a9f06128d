//! The human-readable summary of a run: invariants with their expectations, key metrics as
//! p50 / p99 / max (counters as numbers, fractions as `label: probability` in label order),
//! the kernel's counts and the command that replays the run.

use crate::runner::{RunReport, Scenario};
use std::fmt::Write as _;

/// Writes `text` to standard output. A reader that went away (`consim run ... | head`) is not
/// an error: the rest is simply not shown, and the command still exits with its verdict.
pub fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Creates directory `dir` and its parents; the error names it and says why.
pub fn create_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create directory {}: {e}", dir.display()))
}

/// Writes `bytes` to `path`; the error names the file and says why (`run --out` and
/// `check --out` alike: exit 2).
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Writes a run of `scenario` into `dir`: `result.json`, `history.jsonl` (if its clients
/// record one), `schedule.toml`, `timeline.svg` and `spacetime.svg` (which replays the run
/// once, traced: see [`crate::spacetime`]). Every failure names the path and why.
pub fn write_run(
    dir: &std::path::Path,
    scenario: &dyn Scenario,
    r: &RunReport,
) -> anyhow::Result<()> {
    create_dir(dir)?;
    let json = serde_json::to_string_pretty(r)? + "\n";
    write_file(&dir.join("result.json"), json.as_bytes())?;
    // Models whose clients record no history (the transfers) get no empty file.
    if !r.history.events.is_empty() {
        let mut h = Vec::new();
        r.history.write_jsonl(&mut h)?;
        write_file(&dir.join("history.jsonl"), &h)?;
    }
    write_file(&dir.join("schedule.toml"), r.schedule_toml.as_bytes())?;
    if let Some(svg) =
        crate::chart::timeline(r).map_err(|e| anyhow::anyhow!("{}: {e}", r.scenario))?
    {
        write_file(&dir.join("timeline.svg"), svg.as_bytes())?;
    }
    if let Some(svg) = crate::spacetime::diagram(scenario, r)? {
        write_file(&dir.join("spacetime.svg"), svg.as_bytes())?;
    }
    Ok(())
}

/// Formats one run's summary.
pub fn summary(r: &RunReport, overrides: &[(String, String)]) -> String {
    let mut s = String::new();
    let verdict = r.judgement().as_str();
    let _ = writeln!(
        s,
        "{verdict}  {}  (model {}, bug {}, seed {})",
        r.scenario, r.model, r.bug, r.seed
    );
    let width = r
        .invariants
        .iter()
        .map(|i| i.name.len())
        .max()
        .unwrap_or(9)
        .max(9);
    if !r.invariants.is_empty() {
        let _ = writeln!(
            s,
            "  {:width$}  {:9} {:9} detail",
            "invariant", "status", "expected"
        );
    }
    for i in &r.invariants {
        let mark = if i.status == i.expected { ' ' } else { '!' };
        let _ = writeln!(
            s,
            "{mark} {:width$}  {:9} {:9} {}",
            i.name,
            i.status.as_str(),
            i.expected.as_str(),
            i.detail
        );
    }
    if let Some(m) = r.metrics.as_object() {
        for (name, v) in m {
            match v.as_object() {
                // A set of fractions: label → probability, numeric labels in numeric order.
                Some(d) if !d.contains_key("p50") => {
                    let mut labels: Vec<(&String, &serde_json::Value)> = d.iter().collect();
                    labels.sort_by(|a, b| match (a.0.parse::<f64>(), b.0.parse::<f64>()) {
                        (Ok(x), Ok(y)) => x.total_cmp(&y),
                        _ => a.0.cmp(b.0),
                    });
                    let cells: Vec<String> = labels
                        .iter()
                        .map(|(label, p)| match p.as_f64() {
                            Some(p) => format!("{label}: {p}"),
                            None => format!("{label}: -"),
                        })
                        .collect();
                    let _ = writeln!(s, "  {name:28} {}", cells.join("  "));
                }
                Some(d) => {
                    let f = |k: &str| d.get(k).and_then(|x| x.as_f64()).unwrap_or(0.0);
                    let _ = writeln!(
                        s,
                        "  {name:28} p50 {:>10.3}  p99 {:>10.3}  max {:>10.3}  (n={})",
                        f("p50"),
                        f("p99"),
                        f("max"),
                        f("count")
                    );
                }
                None => {
                    let _ = writeln!(s, "  {name:28} {v}");
                }
            }
        }
    }
    let k = &r.kernel;
    let _ = writeln!(
        s,
        "  events {}  sim time {}  sent {}  delivered {}  dropped {}  crashes {}  stop {}",
        r.events,
        sim::Time(r.sim_time_ns),
        k.messages_sent,
        k.messages_delivered,
        k.dropped_loss + k.dropped_partition + k.dropped_receiver_down,
        k.crashes,
        r.stop
    );
    for w in &r.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    let _ = writeln!(s, "  trace_hash {}", r.trace_hash);
    let _ = writeln!(s, "  replay: {}", r.replay_command(overrides));
    s
}
