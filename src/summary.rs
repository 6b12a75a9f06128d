//! Sweep results read back and summarised: every results line becomes a [`RunRecord`], runs
//! are grouped by parameter point, and each numeric metric gets its mean with a 95%
//! confidence interval across seeds (`summary.csv`).
//!
//! The summary is a function of the set of lines, not of their order: records are sorted by
//! (point, scenario, params, seed) before anything is added up, so the concatenated results
//! of a sweep's shards give the very summary of the unsharded sweep (floating-point sums
//! depend on their order).

use crate::exit::Judgement;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::rc::Rc;

/// A name that every run repeats (a metric, an invariant, a scenario, a parameter): kept once
/// in memory however many runs hold it (see [`Names`]).
pub type Name = Rc<str>;

/// The interned names of a set of records. A report over the shards of a 100,000-seed sweep
/// holds hundreds of thousands of records of about a hundred named numbers each: with a
/// string per name that is gigabytes, with shared names a few hundred megabytes.
#[derive(Default)]
pub struct Names(HashSet<Name>);

impl Names {
    pub fn get(&mut self, text: &str) -> Name {
        if let Some(name) = self.0.get(text) {
            return name.clone();
        }
        let name: Name = text.into();
        self.0.insert(name.clone());
        name
    }
}

/// One run of a sweep, as its results line tells it.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub point: u64,
    pub scenario: Name,
    pub path: Name,
    pub description: Option<Name>,
    pub seed: u64,
    /// The fixed overrides (`--set`), then the varied ones (`params`).
    pub set: Vec<(Name, Name)>,
    pub params: Vec<(Name, Name)>,
    pub judgement: Judgement,
    /// Every invariant as (name, status, expected): `holds`, `violated` or `unknown`.
    pub invariants: Vec<(Name, Name, Name)>,
    /// Every numeric metric, flattened: `aborts`, `write_latency_ms.p99`, `p_fresh_after_ms.10`.
    pub metrics: Vec<(Name, f64)>,
    /// Each latency distribution at `sweep::QUANTILES`, in ms.
    pub quantiles_ms: Vec<(Name, Vec<f64>)>,
}

impl RunRecord {
    /// Reads one results line; the error says what is missing.
    pub fn parse(line: &str, names: &mut Names) -> Result<RunRecord, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let text = |key: &str| -> Result<&str, String> {
            v.get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("no `{key}` text: not a line of a sweep's results.jsonl"))
        };
        let number = |key: &str| -> Result<u64, String> {
            v.get(key)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("no `{key}` number: not a line of a sweep's results.jsonl"))
        };
        let mut pairs = |key: &str| -> Vec<(Name, Name)> {
            v.get(key)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            let value = v.as_str().map_or(v.to_string(), String::from);
                            (names.get(k), names.get(&value))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let (set, params) = (pairs("set"), pairs("params"));
        let invariants: Vec<(Name, Name, Name)> = v
            .get("invariants")
            .and_then(Value::as_array)
            .ok_or("no `invariants` list")?
            .iter()
            .map(|i| {
                let mut field = |k: &str| names.get(i.get(k).and_then(Value::as_str).unwrap_or(""));
                (field("name"), field("status"), field("expected"))
            })
            .collect();
        let mut flat = Vec::new();
        flatten(
            "",
            v.get("metrics").ok_or("no `metrics` object")?,
            &mut flat,
        );
        let metrics = flat.into_iter().map(|(n, x)| (names.get(&n), x)).collect();
        let quantiles_ms = v
            .get("quantiles_ms")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, q)| {
                        let values = q
                            .as_array()
                            .map_or(Vec::new(), |a| a.iter().filter_map(Value::as_f64).collect());
                        (names.get(k), values)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(RunRecord {
            point: number("point")?,
            scenario: names.get(text("scenario")?),
            path: names.get(text("path")?),
            description: text("description").ok().map(|d| names.get(d)),
            seed: number("seed")?,
            set,
            params,
            judgement: judgement(&invariants),
            invariants,
            metrics,
            quantiles_ms,
        })
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        let overrides: Vec<(String, String)> = self
            .set
            .iter()
            .chain(&self.params)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::runner::replay_command(&self.path, self.seed, &overrides)
    }
}

/// The judgement of a run from its invariants, as `RunReport::judgement` makes it.
fn judgement(invariants: &[(Name, Name, Name)]) -> Judgement {
    let mismatched = || invariants.iter().filter(|(_, s, e)| s != e);
    if mismatched().any(|(_, s, _)| &**s != "unknown") {
        Judgement::Unmet
    } else if mismatched().next().is_some() {
        Judgement::Unknown
    } else {
        Judgement::Met
    }
}

/// Numbers under `value` as dotted names; text and `null` (a fraction with no trial) are
/// left out.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) => out.extend(n.as_f64().map(|x| (prefix.to_string(), x))),
        Value::Object(m) => {
            for (k, v) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        _ => {}
    }
}

/// The runs of one parameter point, in seed order.
pub struct PointRuns {
    pub point: u64,
    pub scenario: Name,
    pub path: Name,
    pub description: Option<Name>,
    pub params: Vec<(Name, Name)>,
    pub runs: Vec<RunRecord>,
}

impl PointRuns {
    /// The point's name in legends and tables: its varied values, with the scenario's name
    /// when the sweep has several scenarios.
    pub fn label(&self, with_scenario: bool) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        match (with_scenario, params.is_empty()) {
            (true, true) => self.scenario.to_string(),
            (true, false) => format!("{} {}", self.scenario, params.join(" ")),
            (false, true) => "(as written)".into(),
            (false, false) => params.join(" "),
        }
    }

    /// Metric names (flattened) in the order they first appear.
    pub fn metric_names(&self) -> Vec<Name> {
        let mut names: Vec<Name> = Vec::new();
        for r in &self.runs {
            for (name, _) in &r.metrics {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// The values of one metric, in seed order (runs without it are left out).
    pub fn values(&self, metric: &str) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| r.metrics.iter().find(|(n, _)| &**n == metric).map(|m| m.1))
            .collect()
    }

    /// Invariant names in the order they first appear.
    pub fn invariant_names(&self) -> Vec<Name> {
        let mut names: Vec<Name> = Vec::new();
        for r in &self.runs {
            for (name, _, _) in &r.invariants {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// How many runs ended with `invariant` in `status`.
    pub fn count(&self, invariant: &str, status: &str) -> usize {
        self.runs
            .iter()
            .filter(|r| {
                r.invariants
                    .iter()
                    .any(|(n, s, _)| &**n == invariant && &**s == status)
            })
            .count()
    }
}

/// Every point of one or more sweeps.
pub struct Results {
    pub points: Vec<PointRuns>,
}

impl Results {
    /// Groups runs by point, in a canonical order whatever the order of `records`.
    pub fn new(mut records: Vec<RunRecord>) -> Results {
        records.sort_by(|a, b| {
            (a.point, &a.path, &a.params, a.seed).cmp(&(b.point, &b.path, &b.params, b.seed))
        });
        let mut points: Vec<PointRuns> = Vec::new();
        for r in records {
            match points.last_mut() {
                Some(p) if p.point == r.point && p.path == r.path && p.params == r.params => {
                    p.runs.push(r)
                }
                _ => points.push(PointRuns {
                    point: r.point,
                    scenario: r.scenario.clone(),
                    path: r.path.clone(),
                    description: r.description.clone(),
                    params: r.params.clone(),
                    runs: vec![r],
                }),
            }
        }
        Results { points }
    }

    /// Whether the points come from more than one scenario file (legends then name them).
    pub fn several_scenarios(&self) -> bool {
        self.points.iter().any(|p| p.path != self.points[0].path)
    }

    /// The worst judgement over every run.
    pub fn judgement(&self) -> Judgement {
        self.points
            .iter()
            .flat_map(|p| &p.runs)
            .fold(Judgement::Met, |w, r| w.worse(r.judgement))
    }

    /// `summary.csv`: one row per point and metric (every numeric metric, then one
    /// `<invariant>.violated` row per invariant, whose mean is the fraction of runs that
    /// violated it), with the runs it was seen in, its mean, the 95% confidence interval of
    /// the mean, and its smallest and largest value.
    pub fn csv(&self) -> String {
        let mut s = String::from("scenario,params,metric,runs,mean,ci95_low,ci95_high,min,max\n");
        for p in &self.points {
            let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let lead = format!(
                "{},{}",
                csv_field(&p.scenario),
                csv_field(&params.join(" "))
            );
            let mut rows: Vec<(Name, Vec<f64>)> = p
                .metric_names()
                .into_iter()
                .map(|m| {
                    let v = p.values(&m);
                    (m, v)
                })
                .collect();
            for inv in p.invariant_names() {
                let violated: Vec<f64> = p
                    .runs
                    .iter()
                    .map(|r| {
                        let hit = r
                            .invariants
                            .iter()
                            .any(|(n, s, _)| *n == inv && &**s == "violated");
                        f64::from(u8::from(hit))
                    })
                    .collect();
                rows.push((format!("{inv}.violated").into(), violated));
            }
            for (metric, values) in rows {
                let st = Stat::of(&values);
                let (low, high) = st
                    .ci95
                    .map_or((String::new(), String::new()), |(l, h)| (num(l), num(h)));
                let _ = writeln!(
                    s,
                    "{lead},{},{},{},{low},{high},{},{}",
                    csv_field(&metric),
                    st.n,
                    num(st.mean),
                    num(st.min),
                    num(st.max)
                );
            }
        }
        s
    }
}

/// Numbers in the CSV: six decimals at most, trailing zeros dropped (`0.5`, `12`).
fn num(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Mean, 95% confidence interval of the mean (Student's t: with 10 seeds, 1.96 would
/// claim 13% more certainty than the data gives), and range of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub n: usize,
    pub mean: f64,
    /// None with fewer than two values.
    pub ci95: Option<(f64, f64)>,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        if n == 0 {
            return Stat {
                n,
                mean: f64::NAN,
                ci95: None,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let ci95 = (n >= 2).then(|| {
            let variance = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let half = t975(n - 1) * (variance / n as f64).sqrt();
            (mean - half, mean + half)
        });
        Stat {
            n,
            mean,
            ci95,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// The 97.5% quantile of Student's t distribution with `df` degrees of freedom (the
/// two-sided 95% interval): exact to three decimals from the table up to 30, then
/// interpolated in 1/df towards the normal's 1.960 (the error stays under 0.002).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    // Beyond the table, t - 1.960 falls almost exactly as 1/df: 2.042 at 30, 2.021 at 60,
    // 2.000 at 120, 1.960 at infinity.
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => 1.960 + (2.042 - 1.960) * 30.0 / df as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        assert_eq!(t975(1), 12.706);
        assert_eq!(t975(9), 2.262);
        assert!((t975(60) - 2.000).abs() < 0.003, "{}", t975(60));
        assert!((t975(120) - 1.980).abs() < 0.003, "{}", t975(120));
        assert!((t975(1_000_000) - 1.960).abs() < 0.001);
    }

    #[test]
    fn the_interval_is_the_t_interval() {
        // Mean 2, sample standard deviation 1, n = 3: half-width t(2) / sqrt(3).
        let s = Stat::of(&[1.0, 2.0, 3.0]);
        assert_eq!(s.mean, 2.0);
        let (low, high) = s.ci95.unwrap();
        let half = 4.303 / 3f64.sqrt();
        assert!((low - (2.0 - half)).abs() < 1e-9 && (high - (2.0 + half)).abs() < 1e-9);
        assert_eq!(Stat::of(&[5.0]).ci95, None);
    }

    #[test]
    fn metrics_flatten_to_dotted_names() {
        let v: Value = serde_json::json!({"aborts": 3, "lat_ms": {"p50": 1.5, "p99": 9.0},
            "p_fresh": {"0": 0.75, "10": null}, "note": "x"});
        let mut out = Vec::new();
        flatten("", &v, &mut out);
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["aborts", "lat_ms.p50", "lat_ms.p99", "p_fresh.0"]);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a=uniform(1ms, 5ms)"), "\"a=uniform(1ms, 5ms)\"");
        assert_eq!(num(2.5000), "2.5");
        assert_eq!(num(-0.0000001), "0");
    }
}
