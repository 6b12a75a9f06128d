//! `consim sweep`: one or more scenarios over the cartesian product of varied parameters and a
//! range of seeds, every parameter point on the same seeds (common random numbers: the
//! difference between two points is the parameters', not the noise's).
//!
//! **Plan.** Points are numbered file-major, then over the product of the `--vary` values
//! with the last key varying fastest; runs are numbered point-major, then by seed. The run
//! numbering is the sweep's identity: results are written in that order whatever `--jobs`,
//! and `--shard I/N` keeps the runs whose number is I modulo N (round robin, so every shard
//! gets a share of the slow points), a pure function of (run number, I, N).
//!
//! **Output.** One JSON line per run: the `run --json` object with its `params` (the varied
//! values), `set` (the fixed overrides), `point` (its point's number) and `quantiles_ms`
//! (each latency distribution at [`QUANTILES`], what the report's CDFs are drawn from). No
//! wall-clock time goes into a line, so shards and job counts compare line for line.

use crate::exit::Judgement;
use crate::runner::{self, RunReport, Samples};
use crate::scenario::ScenarioError;
use crate::watch::ProgressLine;
use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// The cumulative probabilities at which each run's latency distributions are recorded: fine
/// steps through the body, then the tail the CDFs are drawn for.
pub const QUANTILES: [f64; 24] = [
    0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75,
    0.8, 0.85, 0.9, 0.95, 0.99, 0.999, 1.0,
];

/// A `--vary KEY=V1,V2,...` argument: a dotted scenario path and the values it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    pub key: String,
    pub values: Vec<String>,
}

/// Parses `KEY=V1,V2,...`. Commas inside parentheses or brackets belong to a value
/// (`uniform(1ms, 5ms)`, `[1, 2]`), so distributions and arrays can be varied too.
pub fn parse_vary(text: &str) -> Result<Vary, String> {
    let (key, list) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=V1,V2,..."))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("`{text}`: the key before `=` is empty"));
    }
    let mut values = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                values.push(list[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    values.push(list[start..].trim().to_string());
    if values.iter().any(String::is_empty) {
        return Err(format!("`{text}`: a value in the list is empty"));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = values.iter().find(|v| !seen.insert(v.as_str())) {
        return Err(format!("`{text}`: the value `{dup}` is listed twice"));
    }
    Ok(Vary {
        key: key.to_string(),
        values,
    })
}

/// The I-th of N deterministic slices of a sweep's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N` with `I < N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a shard I/N (e.g. 0/4)"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{text}`: `{s}` is not a whole number"))
        };
        Shard::new(number(i)?, number(n)?).map_err(|e| format!("`{text}`: {e}"))
    }

    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 {
            return Err("a sweep cannot be cut into 0 shards".into());
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist: shards are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard a batch scheduler gave this process, when no `--shard` was passed: a Slurm
    /// job array (`SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT`, which assumes the array
    /// is numbered from 0, as `--array=0-(N-1)` does), or a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, with the count given as `--shards N`: the pod is not told it).
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        shards: Option<u64>,
    ) -> Result<Shard, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{name}={v} is not a whole number"))
                })
                .transpose()
        };
        if let (Some(i), Some(n)) = (
            number("SLURM_ARRAY_TASK_ID")?,
            number("SLURM_ARRAY_TASK_COUNT")?,
        ) {
            return Shard::new(i, n).map_err(|e| format!("from the Slurm job array: {e}"));
        }
        match (number("JOB_COMPLETION_INDEX")?, shards) {
            (Some(i), Some(n)) => {
                Shard::new(i, n).map_err(|e| format!("JOB_COMPLETION_INDEX with --shards: {e}"))
            }
            (Some(_), None) => Err(
                "JOB_COMPLETION_INDEX is set but not the number of shards: pass --shards N \
                 (the Indexed Job's completions)"
                    .into(),
            ),
            (None, Some(n)) => Err(format!(
                "--shards {n} needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or --shard I/{n}"
            )),
            (None, None) => Ok(Shard::ALL),
        }
    }

    /// The sweep's number of this shard's m-th run: runs `index`, `index + count`, ...
    /// belong to shard `index` (round robin, so every shard gets a share of every point).
    pub fn nth_run(self, m: u64) -> u64 {
        self.index + m * self.count
    }
}

/// What to sweep.
pub struct Plan {
    pub files: Vec<PathBuf>,
    /// `--set` overrides, the same for every point.
    pub set: Vec<(String, String)>,
    pub vary: Vec<Vary>,
    pub seeds: RangeInclusive<u64>,
}

/// One parameter point: a scenario file with one value of each varied key.
pub struct Point {
    pub number: usize,
    pub file: PathBuf,
    /// The varied keys with this point's values, in `--vary` order.
    pub params: Vec<(String, String)>,
}

impl Point {
    /// The overrides this point runs with: the fixed ones, then its varied values.
    pub fn overrides(&self, set: &[(String, String)]) -> Vec<(String, String)> {
        set.iter().chain(&self.params).cloned().collect()
    }
}

impl Plan {
    /// Every point, in the plan's order (see the module doc).
    pub fn points(&self) -> Vec<Point> {
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for v in &self.vary {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    v.values.iter().map(move |value| {
                        let mut next = c.clone();
                        next.push((v.key.clone(), value.clone()));
                        next
                    })
                })
                .collect();
        }
        self.files
            .iter()
            .flat_map(|f| combos.iter().map(move |c| (f, c)))
            .enumerate()
            .map(|(number, (file, params))| Point {
                number,
                file: file.clone(),
                params: params.clone(),
            })
            .collect()
    }

    /// Seeds per point (`parse_seed_range` caps seeds at 2^63-1, so this cannot overflow).
    pub fn seeds_per_point(&self) -> u64 {
        self.seeds.end() - self.seeds.start() + 1
    }

    /// How many runs the whole sweep has (every shard's together): points × seeds. `None`
    /// past 2^64, which [`Plan::check`] refuses.
    pub fn runs(&self) -> Option<u64> {
        let combos = self
            .vary
            .iter()
            .try_fold(1u64, |n, v| n.checked_mul(v.values.len() as u64))?;
        combos
            .checked_mul(self.files.len() as u64)?
            .checked_mul(self.seeds_per_point())
    }

    /// A key both fixed and varied, or varied twice, is a mistake: one would silently win.
    /// A sweep too large to number its runs is refused too.
    pub fn check(&self) -> Result<(), String> {
        if self.runs().is_none() {
            return Err("the sweep has more than 2^64 runs: narrow --seeds or --vary".into());
        }
        let mut varied = std::collections::BTreeSet::new();
        for v in &self.vary {
            if !varied.insert(v.key.as_str()) {
                return Err(format!("--vary {} is given twice", v.key));
            }
            if self.set.iter().any(|(k, _)| *k == v.key) {
                return Err(format!("{} is both --set and --vary", v.key));
            }
        }
        Ok(())
    }
}

/// A sweep's progress, for a progress bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub runs: u64,
    pub unmet: u64,
    pub unknown: u64,
}

/// A loaded point, ready to run any seed.
pub struct Loaded {
    pub point: Point,
    scenario: Box<dyn runner::Scenario>,
}

/// Loads every point: a bad file, key or value is reported before any run starts.
pub fn load(plan: &Plan) -> Result<Vec<Loaded>, ScenarioError> {
    plan.points()
        .into_iter()
        .map(|point| {
            let scenario = runner::load(&point.file, &point.overrides(&plan.set))?;
            Ok(Loaded { point, scenario })
        })
        .collect()
}

/// One line of `results.jsonl`.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    run: &'a RunReport,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    set: serde_json::Map<String, serde_json::Value>,
    point: usize,
    quantiles_ms: serde_json::Map<String, serde_json::Value>,
}

/// Runs one seed of one point and returns its results line (without the newline).
fn run_line(plan: &Plan, p: &Loaded, seed: u64) -> anyhow::Result<(String, Judgement)> {
    let mut r = p
        .scenario
        .run_with(seed, None, Samples::Keep, ProgressLine::Never)
        .with_context(|| format!("running {} seed {seed}", p.point.file.display()))?;
    let strings = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
    };
    r.params = Some(strings(&p.point.params));
    let quantiles_ms = r
        .samples
        .iter()
        // Per-region breakdowns (`mumbai.write_latency_ms`) repeat their total's samples.
        .filter(|(name, _)| !name.contains('.'))
        .map(|(name, samples)| (name.to_string(), quantiles(samples).into()))
        .collect();
    let line = Line {
        run: &r,
        set: strings(&plan.set),
        point: p.point.number,
        quantiles_ms,
    };
    Ok((serde_json::to_string(&line)?, r.judgement()))
}

/// The values (ns samples, in ms rounded to µs) at each of [`QUANTILES`], by the
/// nearest-rank rule on the sorted samples; none for no sample.
fn quantiles(samples: &[(u64, u64)]) -> Vec<f64> {
    if samples.is_empty() {
        return Vec::new();
    }
    let mut values: Vec<u64> = samples.iter().map(|&(_, v)| v).collect();
    values.sort_unstable();
    QUANTILES
        .iter()
        .map(|&q| {
            let rank = (q * (values.len() - 1) as f64).round() as usize;
            sim::metrics::round3(values[rank] as f64 / 1e6)
        })
        .collect()
}

/// Runs this shard's runs of the sweep on `jobs` threads, handing each results line to
/// `write` in run order (in chunks, so memory stays bounded however many seeds), and
/// `progress` after every run. Returns the worst judgement of the runs.
pub fn run(
    plan: &Plan,
    points: &[Loaded],
    shard: Shard,
    jobs: usize,
    write: &mut dyn FnMut(&str) -> anyhow::Result<()>,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<Judgement> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .context("starting the worker threads")?;
    let per_point = plan.seeds_per_point();
    let total = plan.runs().context("the sweep has more than 2^64 runs")?;
    // Chunks are cut from the shard's own runs, so a thin slice of a big sweep keeps every
    // job busy.
    let mine = runs_in_shard(total, shard);
    let chunk = (jobs.max(1) * 64) as u64;
    let done = std::sync::Mutex::new(Progress::default());
    let mut worst = Judgement::Met;
    let mut start = 0u64;
    while start < mine {
        let end = (start + chunk).min(mine);
        let lines: Vec<(String, Judgement)> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map(|m| {
                    let k = shard.nth_run(m);
                    let p = &points[(k / per_point) as usize];
                    let line = run_line(plan, p, plan.seeds.start() + k % per_point)?;
                    let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                    d.runs += 1;
                    d.unmet += u64::from(line.1 == Judgement::Unmet);
                    d.unknown += u64::from(line.1 == Judgement::Unknown);
                    progress(*d);
                    Ok(line)
                })
                .collect::<anyhow::Result<_>>()
        })?;
        for (line, judgement) in lines {
            write(&line)?;
            worst = worst.worse(judgement);
        }
        start = end;
    }
    Ok(worst)
}

/// How many runs the shard takes of a sweep of `total` runs.
pub fn runs_in_shard(total: u64, shard: Shard) -> u64 {
    total / shard.count + u64::from(total % shard.count > shard.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_values_keep_their_inner_commas() {
        let v = parse_vary("network.latency=uniform(1ms, 5ms),2ms").unwrap();
        assert_eq!(v.key, "network.latency");
        assert_eq!(v.values, ["uniform(1ms, 5ms)", "2ms"]);
        assert!(parse_vary("model.mode").is_err());
        assert!(parse_vary("model.mode=sync,,async").is_err());
        assert!(parse_vary("=sync").is_err());
        assert!(parse_vary("model.mode=sync,sync").is_err());
    }

    #[test]
    fn shards_partition_the_runs() {
        for count in 1..6u64 {
            let mut seen = vec![0; 50];
            for index in 0..count {
                let shard = Shard::new(index, count).unwrap();
                for m in 0..runs_in_shard(50, shard) {
                    seen[shard.nth_run(m) as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{count} shards: {seen:?}");
        }
        assert!(Shard::parse("2/2").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("a/2").is_err());
        assert_eq!(Shard::parse(" 1/3").unwrap(), Shard { index: 1, count: 3 });
    }

    #[test]
    fn the_environment_names_the_shard() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ]);
        assert_eq!(
            Shard::from_env(slurm, None).unwrap(),
            Shard { index: 3, count: 8 }
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert_eq!(
            Shard::from_env(k8s, Some(4)).unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert!(Shard::from_env(k8s, None).is_err());
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "4")]), Some(4)).is_err());
        assert_eq!(Shard::from_env(env(&[]), None).unwrap(), Shard::ALL);
    }

    #[test]
    fn points_are_file_major_with_the_last_key_fastest() {
        let plan = Plan {
            files: vec!["a.toml".into(), "b.toml".into()],
            set: vec![],
            vary: vec![parse_vary("x=1,2").unwrap(), parse_vary("y=p,q,r").unwrap()],
            seeds: 1..=3,
        };
        let points = plan.points();
        assert_eq!(points.len(), 12);
        assert_eq!(
            points[1].params,
            [("x".into(), "1".into()), ("y".into(), "q".into())]
        );
        assert_eq!(points[3].params[0].1, "2");
        assert_eq!(points[6].file, PathBuf::from("b.toml"));
        assert_eq!(points[11].number, 11);
        assert_eq!(plan.runs(), Some(36));
        let huge = Plan {
            seeds: 0..=(1u64 << 62),
            ..plan
        };
        assert!(huge.check().is_err());
    }
}
