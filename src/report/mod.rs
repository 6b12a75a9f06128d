//! What a sweep leaves in its folder, and what `consim report` rebuilds from results files:
//! `summary.csv`, the charts ([`charts`]) and, for a report, `index.html` ([`html`]), a page
//! that opens from the disk with no server and no script.

pub mod charts;
pub mod html;

use crate::summary::{Names, Results, RunRecord};
use std::path::{Path, PathBuf};

/// Choices for the trade-off chart.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The latency distribution whose p99 is the trade-off's cost axis (default: the first
    /// `*latency_ms` metric).
    pub latency: Option<String>,
    /// The metric counted as anomalies (default: invariants violated per run).
    pub anomalies: Option<String>,
    /// The metrics to chart (a distribution's name selects its CDF and its p99 and max);
    /// empty: every metric.
    pub metrics: Vec<String>,
}

impl Options {
    /// Whether the (flattened) metric `name` is to be charted.
    pub fn charts(&self, name: &str) -> bool {
        self.metrics.is_empty()
            || self.metrics.iter().any(|m| {
                name == m
                    || name
                        .strip_prefix(m.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
    }
}

/// Reads results files (JSON Lines) into records; an error names the file and line.
pub fn read_results(paths: &[PathBuf]) -> Result<Vec<RunRecord>, String> {
    let mut records = Vec::new();
    let mut names = Names::default();
    for path in paths {
        use std::io::BufRead as _;
        let cannot_read = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
        // Line by line: a shard's file can be larger than the records it holds.
        let file = std::io::BufReader::new(std::fs::File::open(path).map_err(cannot_read)?);
        for (i, line) in file.lines().enumerate() {
            let line = line.map_err(cannot_read)?;
            if line.trim().is_empty() {
                continue;
            }
            let record = RunRecord::parse(&line, &mut names)
                .map_err(|e| format!("{}, line {}: {e}", path.display(), i + 1))?;
            records.push(record);
        }
    }
    if records.is_empty() {
        return Err("the results files hold no run".into());
    }
    Ok(records)
}

/// Writes `summary.csv` and the charts into `dir` (created if needed); returns the charts.
pub fn write_summary_and_charts(
    dir: &Path,
    results: &Results,
    options: &Options,
) -> anyhow::Result<Vec<charts::Written>> {
    crate::output::create_dir(dir)?;
    crate::output::write_file(&dir.join("summary.csv"), results.csv().as_bytes())?;
    charts::write_all(dir, results, options)
}

/// `consim report`: summary, charts and `index.html` in `dir`.
pub fn write_report(dir: &Path, results: &Results, options: &Options) -> anyhow::Result<()> {
    let charts = write_summary_and_charts(dir, results, options)?;
    let page = html::page(results, &charts);
    crate::output::write_file(&dir.join("index.html"), page.as_bytes())
}
