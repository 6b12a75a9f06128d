//! The `consim` command line. Exit codes are the contract of [`consim::exit`]: 0 every
//! expectation met (check: linearizable), 1 one unmet (check: not linearizable), 2 bad input,
//! usage, or output that could not be written, 3 unknown (a checker's budget or a run's event
//! limit ran out).

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use consim::exit::{self, Judgement};
use consim::runner::{self, RunReport, Samples};
use consim::watch::ProgressLine;
use consim::{bench, output, registry};
use rayon::prelude::*;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod check;

#[derive(Parser, Debug)]
#[command(
    name = "consim",
    version,
    about = "Deterministic simulator for distributed data-consistency techniques"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run scenario files (or every *.toml in a directory) and judge their invariants.
    Run(RunArgs),
    /// Check a JSON Lines history for linearizability.
    Check(check::CheckArgs),
    /// List the model kinds with their parameters, invariants, metrics and known bugs.
    Models {
        #[arg(long)]
        json: bool,
    },
    /// Kernel benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run a scenario over a range of seeds until an invariant it should keep is violated,
    /// then shrink that run's faults to a reproducer (DIR/repro.toml) that `consim run`
    /// replays. Exit 1 when one was found, 0 when none, 3 when runs ended unknown.
    Hunt(HuntArgs),
    /// Run scenarios over a seed range for every combination of the `--vary` values (the
    /// same seeds for each), writing DIR/results.jsonl, DIR/summary.csv and charts. Exit 1
    /// when a run did not end as its scenario expects, 3 when one ended unknown.
    Sweep(SweepArgs),
    /// Rebuild a sweep's summary.csv and charts from results files (shards concatenate), with
    /// DIR/index.html: verdicts, stories, charts and the replay command of each failing run.
    Report(ReportArgs),
}

#[derive(clap::Args, Debug)]
struct SweepArgs {
    /// Scenario files or directories of them; every file is swept over the same points.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The seeds every point runs, `A..B` (both included).
    #[arg(long, value_parser = parse_seed_range, default_value = "1..100")]
    seeds: std::ops::RangeInclusive<u64>,
    /// Override a scenario field by dotted path for every point, as `run --set` does.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    set: Vec<(String, String)>,
    /// Sweep a field over values (`--vary model.mode=sync,semisync,async`); several `--vary`
    /// make the cartesian product. Commas inside parentheses stay in their value.
    #[arg(long, value_name = "KEY=V1,V2,...", value_parser = consim::sweep::parse_vary)]
    vary: Vec<consim::sweep::Vary>,
    /// Runs at once (each run single-threaded); the output is the same for any number.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,
    /// Run only the I-th of N deterministic slices (run k goes to shard k mod N). Without it,
    /// the shard comes from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, or from
    /// JOB_COMPLETION_INDEX with `--shards N`.
    #[arg(long, value_name = "I/N", value_parser = consim::sweep::Shard::parse)]
    shard: Option<consim::sweep::Shard>,
    /// The number of shards, for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX gives I).
    #[arg(long, value_name = "N")]
    shards: Option<u64>,
    /// Where results.jsonl, summary.csv and the charts are written.
    #[arg(long, value_name = "DIR", default_value = "sweep")]
    out: PathBuf,
    #[command(flatten)]
    charts: ChartArgs,
}

#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// results.jsonl files of sweeps or of a sweep's shards.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Where index.html, summary.csv and the charts are written.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    charts: ChartArgs,
}

#[derive(clap::Args, Debug)]
struct ChartArgs {
    /// The latency distribution whose p99 the trade-off chart plots (default: the first
    /// `*latency_ms` metric).
    #[arg(long, value_name = "METRIC")]
    latency: Option<String>,
    /// The metric the trade-off chart counts as anomalies, mean per run (default: invariants
    /// violated per run), e.g. `lost_acked_writes`.
    #[arg(long, value_name = "METRIC")]
    anomalies: Option<String>,
    /// Chart only this metric (repeatable): a distribution's name selects its CDF and its
    /// p99 and max against each varied key. Default: every metric that varies.
    #[arg(long = "metric", value_name = "METRIC")]
    metrics: Vec<String>,
}

impl ChartArgs {
    fn options(&self) -> consim::report::Options {
        consim::report::Options {
            latency: self.latency.clone(),
            anomalies: self.anomalies.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
struct HuntArgs {
    /// The scenario file.
    path: PathBuf,
    /// The seeds to try, `A..B` (both included).
    #[arg(long, value_parser = parse_seed_range, default_value = "1..200")]
    seeds: std::ops::RangeInclusive<u64>,
    /// Override a scenario field by dotted path, as `run --set` does.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    set: Vec<(String, String)>,
    /// Seeds run at once (each run single-threaded); the first failure found is the same
    /// for any number.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,
    /// Where the reproducer and its run are written.
    #[arg(long, value_name = "DIR", default_value = "hunt")]
    out: PathBuf,
    /// Search the whole range and shrink the first failure of every distinct invariant
    /// violated, each into DIR/<invariant>/.
    #[arg(long)]
    all: bool,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Scenario files or directories of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Run this seed instead of each scenario's own (0 to 2^64-1).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Override a scenario field by dotted path, e.g. `--set network.loss=0.05` or
    /// `--set nodes.0.region=mumbai`. VALUE is TOML, or else taken as a string; quote the
    /// argument for the shell when it holds parentheses or spaces:
    /// `--set 'model.think_time="exponential(10ms)"'`.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    set: Vec<(String, String)>,
    /// Print one JSON object per run instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write the JSON Lines trace of every kernel event to FILE (one scenario only).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Write each run's result.json, history.jsonl, schedule.toml and timeline.svg (latency
    /// against time, faults shaded) under DIR/<scenario>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Every delivery triggers one send to a random node; reports deliveries per second.
    Pingpong {
        #[arg(long, default_value_t = 5)]
        nodes: u32,
        #[arg(long, default_value_t = 1_000_000)]
        deliveries: u64,
        /// Link latency distribution, e.g. "1ms" or "uniform(1ms, 5ms)".
        #[arg(long, default_value = "1ms")]
        latency: String,
        /// Messages each node sends at start.
        #[arg(long, default_value_t = 10)]
        messages: u32,
        #[arg(long)]
        json: bool,
    },
}

/// A seed: `-1` reaches here (not clap's "did you mean `-- -1`", which would make it a
/// path), and every error says what a seed is.
fn parse_seed(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| {
        format!("`{s}` is not a seed: seeds are integers from 0 to 2^64-1 (18446744073709551615)")
    })
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// `A..B`, both included, `A <= B`, at most 2^63-1: a hunt's reproducer writes its seed into
/// a scenario file, and TOML integers are signed 64-bit.
fn parse_seed_range(s: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}` is not a seed range A..B"))?;
    let (a, b) = (parse_seed(a.trim())?, parse_seed(b.trim())?);
    if a > b {
        return Err(format!("`{s}`: the range is empty ({a} > {b})"));
    }
    if b > i64::MAX as u64 {
        return Err(format!(
            "`{s}`: seed ranges go up to 2^63-1 ({}), the largest a scenario file can hold",
            i64::MAX
        ));
    }
    Ok(a..=b)
}

fn hunt(a: &HuntArgs) -> anyhow::Result<ExitCode> {
    use consim::hunt::{self, Hunt, Outcome};
    // Bad input (an unreadable file, a bad --set) is reported before any run.
    runner::load(&a.path, &a.set).map_err(|e| BadInput(e.to_string()))?;
    let overrides = hunt::hunt_overrides(&a.path, &a.set)?;
    runner::load(&a.path, &overrides).map_err(|e| BadInput(e.to_string()))?;
    let h = Hunt {
        path: a.path.clone(),
        overrides,
        seeds: a.seeds.clone(),
        jobs: usize::from(a.jobs),
        all: a.all,
    };
    // At most 2^63 seeds (`parse_seed_range`): no overflow.
    let total = a.seeds.end() - a.seeds.start() + 1;
    let bar = work_bar(total, "seeds");
    let started = std::time::Instant::now();
    let searched = hunt::hunt(&h, &|p| {
        bar.set_position(p.runs);
        bar.set_message(format!("{} violated, {} unknown,", p.violations, p.unknown));
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let coverage = hunt::coverage_table(&searched.coverage, searched.runs);
    match searched.outcome {
        Outcome::Clean { unknown } => {
            let runs = searched.runs;
            output::emit(&format!(
                "no violation in {runs} runs (seeds {}..{}, {:.1} runs/s); {unknown} ended unknown\n",
                a.seeds.start(),
                a.seeds.end(),
                runs as f64 / secs
            ))?;
            output::emit(&coverage)?;
            let judgement = if unknown > 0 {
                exit::Judgement::Unknown
            } else {
                exit::Judgement::Met
            };
            Ok(judgement.into())
        }
        Outcome::Found(found) => {
            for f in &found {
                // With --all, each invariant's reproducer in its own folder.
                let dir = if a.all {
                    a.out.join(f.invariant)
                } else {
                    a.out.clone()
                };
                let (repro, run) = hunt::write(&dir, f)?;
                output::emit(&found_summary(f, &run, &repro))?;
            }
            output::emit(&coverage)?;
            Ok(exit::Judgement::Unmet.into())
        }
    }
}

fn sweep(a: &SweepArgs) -> anyhow::Result<ExitCode> {
    use consim::summary::{Names, Results, RunRecord};
    use consim::sweep::{self, Plan, Shard};
    let plan = Plan {
        files: scenario_files(&a.paths)?,
        set: a.set.clone(),
        vary: a.vary.clone(),
        seeds: a.seeds.clone(),
    };
    plan.check().map_err(BadInput)?;
    let shard = match a.shard {
        Some(s) if a.shards.is_some_and(|n| n != s.count) => {
            return Err(BadInput(format!(
                "--shard {}/{} and --shards {} disagree",
                s.index,
                s.count,
                a.shards.unwrap_or_default()
            ))
            .into())
        }
        Some(s) => s,
        None => Shard::from_env(|k| std::env::var(k).ok(), a.shards).map_err(BadInput)?,
    };
    // Every point is loaded (and so validated) before any run.
    let points = sweep::load(&plan).map_err(|e| BadInput(e.to_string()))?;
    output::create_dir(&a.out)?;
    let results_path = a.out.join("results.jsonl");
    let file = std::fs::File::create(&results_path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", results_path.display()))?;
    let mut results_file = std::io::BufWriter::new(file);
    // `plan.check()` refused a sweep whose runs cannot be numbered.
    let total = sweep::runs_in_shard(plan.runs().unwrap_or(u64::MAX), shard);
    let bar = work_bar(total, "runs");
    let mut records = Vec::new();
    let mut names = Names::default();
    let started = std::time::Instant::now();
    let judgement = sweep::run(
        &plan,
        &points,
        shard,
        usize::from(a.jobs),
        &mut |line| {
            use std::io::Write as _;
            writeln!(results_file, "{line}")
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", results_path.display()))?;
            // Read back as `report` reads it: the summary has one source of truth.
            records.push(RunRecord::parse(line, &mut names).map_err(anyhow::Error::msg)?);
            Ok(())
        },
        &|p| {
            bar.set_position(p.runs);
            bar.set_message(format!("{} failed, {} unknown,", p.unmet, p.unknown));
        },
    )?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    {
        use std::io::Write as _;
        results_file
            .flush()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", results_path.display()))?;
    }
    let runs = records.len();
    let results = Results::new(records);
    let charts = consim::report::write_summary_and_charts(&a.out, &results, &a.charts.options())?;
    // Wall-clock figures go to stderr: results.jsonl must not depend on the machine.
    eprintln!(
        "{runs} runs ({} points × seeds {}..{}{}) in {secs:.1} s, {:.1} runs/s on {} jobs",
        points.len(),
        plan.seeds.start(),
        plan.seeds.end(),
        if shard == Shard::ALL {
            String::new()
        } else {
            format!(", shard {}/{}", shard.index, shard.count)
        },
        runs as f64 / secs.max(1e-9),
        a.jobs
    );
    output::emit(&format!(
        "{runs} runs: {} failed, {} ended unknown; {}, summary.csv and {} charts in {}\n",
        results
            .points
            .iter()
            .flat_map(|p| &p.runs)
            .filter(|r| r.judgement == Judgement::Unmet)
            .count(),
        results
            .points
            .iter()
            .flat_map(|p| &p.runs)
            .filter(|r| r.judgement == Judgement::Unknown)
            .count(),
        results_path.display(),
        charts.len(),
        a.out.display()
    ))?;
    Ok(judgement.into())
}

fn report(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let records = consim::report::read_results(&a.results).map_err(BadInput)?;
    let results = consim::summary::Results::new(records);
    consim::report::write_report(&a.out, &results, &a.charts.options())?;
    output::emit(&format!(
        "{} runs of {} points: {}\n",
        results.points.iter().map(|p| p.runs.len()).sum::<usize>(),
        results.points.len(),
        a.out.join("index.html").display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// What a hunt prints of one violation found and its reproducer.
fn found_summary(f: &consim::hunt::Found, run: &RunReport, repro: &std::path::Path) -> String {
    let detail = run
        .invariants
        .iter()
        .find(|i| i.name == f.invariant)
        .map_or("", |i| i.detail.as_str());
    let kinds: Vec<String> = f.kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let shrink = if f.shrunk {
        format!(
            "shrunk from {} faults to {} and {} clients to {} ({} candidate runs, {} kept)",
            f.faults_before,
            f.faults_after,
            f.clients_before,
            f.clients_after,
            f.candidates,
            f.kept
        )
    } else {
        "not shrunk: its fault schedule alone does not replay it, so the reproducer keeps \
         the nemesis with the seed written in"
            .to_string()
    };
    format!(
        "seed {}: {} violated\n  {detail}\n  the failing run's faults: {}\n  {shrink}\n  reproducer: {}\n  replay: consim run {}\n",
        f.seed,
        f.invariant,
        if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.join(", ")
        },
        repro.display(),
        repro.display()
    )
}

/// The progress bar of a hunt or a sweep over `total` units: done, the message, the pace and
/// the time left; hidden when stderr is not a terminal.
fn work_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let template = format!("{{bar:30}} {{pos}}/{{len}} {unit}, {{msg}} {{per_sec}}, {{eta}} left");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).expect("valid template"));
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// A usage or input error: exit code 2.
struct BadInput(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(a) => run(a),
        Command::Check(a) => check::run(a),
        Command::Models { json } => models(*json),
        Command::Bench(b) => bench_cmd(b),
        Command::Hunt(a) => hunt(a),
        Command::Sweep(a) => sweep(a),
        Command::Report(a) => report(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<BadInput>() {
                Some(BadInput(msg)) => eprintln!("error: {msg}"),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::from(exit::BAD_INPUT)
        }
    }
}

impl std::fmt::Debug for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

/// Expands directories into their `*.toml` files, sorted by name.
fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(BadInput(format!("{}: no *.toml scenario files", p.display())).into());
            }
            files.extend(found);
        } else {
            // The real reason (a symlink loop, a permission), not "no such file".
            std::fs::metadata(p).map_err(|e| BadInput(format!("{}: {e}", p.display())))?;
            files.push(p.clone());
        }
    }
    Ok(files)
}

fn run(a: &RunArgs) -> anyhow::Result<ExitCode> {
    let files = scenario_files(&a.paths)?;
    if a.trace.is_some() && files.len() != 1 {
        return Err(
            BadInput("--trace takes exactly one scenario (one trace file per run)".into()).into(),
        );
    }
    // Load everything first: one bad file stops the run before any simulation starts.
    let scenarios = files
        .iter()
        .map(|f| runner::load(f, &a.set).map_err(|e| BadInput(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    // Two scenarios writing into one folder: the second would overwrite the first.
    if let Some(dir) = &a.out {
        let mut folders = std::collections::BTreeMap::new();
        for (s, f) in scenarios.iter().zip(&files) {
            let folder = dir.join(consim::scenario::output_folder(&s.common().name));
            if let Some(first) = folders.insert(folder.clone(), f) {
                return Err(BadInput(format!(
                    "{} and {} would both write into {} (scenario name `{}`): give them different `name`s",
                    first.display(),
                    f.display(),
                    folder.display(),
                    s.common().name
                ))
                .into());
            }
        }
    }
    let progress = (!a.json && files.len() > 1 && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(files.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} scenarios {elapsed}")
                .expect("valid template"),
        );
        bar
    });
    let seed_of = |s: &dyn runner::Scenario| a.seed.unwrap_or(s.common().seed);
    // Charts need every sample; without --out nobody would see them.
    let samples = if a.out.is_some() {
        Samples::Keep
    } else {
        Samples::Drop
    };
    let reports: Vec<std::io::Result<RunReport>> = match &a.trace {
        // One scenario (checked above), run with its trace file.
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let s = scenarios[0].as_ref();
            // A failed write names the trace file (`--trace /dev/full`: no space left).
            let report = s
                .run_with(
                    seed_of(s),
                    Some(Box::new(file)),
                    samples,
                    ProgressLine::OnTerminal,
                )
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
                });
            vec![report]
        }
        // Scenarios are independent simulations: run them in parallel, report in file order.
        None => scenarios
            .par_iter()
            .map(|s| {
                // One scenario gets its own progress line; several share the bar above.
                // Several scenarios share the scenario bar; one alone draws its own line.
                let line = if files.len() == 1 {
                    ProgressLine::OnTerminal
                } else {
                    ProgressLine::Never
                };
                let report = s.run_with(seed_of(s.as_ref()), None, samples, line);
                if let Some(b) = &progress {
                    b.inc(1);
                }
                report
            })
            .collect(),
    };
    if let Some(b) = progress {
        b.finish_and_clear();
    }
    let mut worst = Judgement::Met;
    let mut not_met = Vec::new();
    let runs = reports.len();
    for (s, r) in scenarios.iter().zip(reports) {
        let r = r?;
        worst = worst.worse(r.judgement());
        if r.judgement() != Judgement::Met {
            not_met.push(format!(
                "  {} {} (seed {})",
                r.judgement().as_str(),
                r.path,
                r.seed
            ));
        }
        if a.json {
            output::emit(&(serde_json::to_string(&r)? + "\n"))?;
        } else {
            output::emit(&(output::summary(&r, &a.set) + "\n"))?;
        }
        if let Some(dir) = &a.out {
            write_outputs(dir, s.as_ref(), &r)?;
        }
    }
    if !a.json {
        output::emit(&closing_line(runs, &not_met))?;
    }
    Ok(worst.into())
}

/// The last lines of a human-readable `run`: how many scenarios behaved as their files say,
/// then the ones that did not.
fn closing_line(runs: usize, not_met: &[String]) -> String {
    let mut s = format!(
        "scenarios: {} passed, {} failed\n",
        runs - not_met.len(),
        not_met.len()
    );
    for line in not_met {
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// Writes `DIR/<scenario>/{result.json, history.jsonl, schedule.toml, timeline.svg,
/// spacetime.svg}`.
fn write_outputs(dir: &Path, s: &dyn runner::Scenario, r: &RunReport) -> anyhow::Result<()> {
    // The name comes from a file: kept to one plain path component inside DIR.
    output::write_run(
        &dir.join(consim::scenario::output_folder(&r.scenario)),
        s,
        r,
    )
}

fn models(json: bool) -> anyhow::Result<ExitCode> {
    use std::fmt::Write as _;
    let mut text = String::new();
    for d in registry::describe_all() {
        let s = d.spec;
        if json {
            let v = serde_json::json!({
                "kind": s.kind, "summary": s.summary, "params": d.params,
                "invariants": s.invariants, "metrics": s.metrics, "bugs": s.bugs, "unnamed_bugs": s.unnamed_bugs, "messages": s.messages,
            });
            writeln!(text, "{v}")?;
        } else {
            writeln!(text, "{}: {}", s.kind, s.summary)?;
            // Nested tables (`[model.bank]`) print as dotted keys, as `--set` takes them.
            fn params(text: &mut String, prefix: &str, v: &serde_json::Value) -> std::fmt::Result {
                match v.as_object() {
                    Some(table) => {
                        for (k, v) in table {
                            params(text, &format!("{prefix}{k}."), v)?;
                        }
                        Ok(())
                    }
                    None => writeln!(text, "    {} = {v}", prefix.trim_end_matches('.')),
                }
            }
            params(&mut text, "", &d.params)?;
            writeln!(text, "  invariants: {}", s.invariants.join(", "))?;
            writeln!(text, "  metrics:    {}", s.metrics.join(", "))?;
            writeln!(text, "  messages:   {}", s.messages.join(", "))?;
            let bugs = if s.bugs.is_empty() {
                "(none)".to_string()
            } else {
                s.bugs.join(", ")
            };
            writeln!(text, "  bugs:       {bugs}")?;
            if !s.unnamed_bugs.is_empty() {
                // Selected with `bug` too; no story expects them (see `hunt::UNNAMED_BUGS`).
                writeln!(text, "  unnamed:    {}", s.unnamed_bugs.join(", "))?;
            }
            writeln!(text)?;
        }
    }
    output::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

const MAX_BENCH_DELIVERIES: u64 = 1_000_000_000_000;

fn bench_cmd(b: &BenchCommand) -> anyhow::Result<ExitCode> {
    let BenchCommand::Pingpong {
        nodes,
        deliveries,
        latency,
        messages,
        json,
    } = b;
    if *nodes < 2 || *nodes as usize > sim::net::MAX_NODES {
        return Err(BadInput(format!(
            "--nodes must be within 2..={}",
            sim::net::MAX_NODES
        ))
        .into());
    }
    let dist: sim::dist::Dist = latency
        .parse()
        .map_err(|e: String| BadInput(format!("--latency: {e}")))?;
    if !dist.is_positive() {
        return Err(BadInput("--latency must be positive".into()).into());
    }
    models::pingpong::PingPong::check(*nodes, *messages)
        .map_err(|e| BadInput(format!("--messages: {e}")))?;
    // 10^12 deliveries take about a day at ~15 M/s: more is a typo, not a benchmark.
    if !(1..=MAX_BENCH_DELIVERIES).contains(deliveries) {
        return Err(BadInput(format!(
            "--deliveries must be within 1..={MAX_BENCH_DELIVERIES}"
        ))
        .into());
    }
    let r = bench::pingpong(*nodes, *deliveries, dist, *messages);
    let text = if *json {
        serde_json::to_string(&r)? + "\n"
    } else {
        format!(
            "pingpong: {} nodes, {} deliveries{}, latency {}: {:.2} M deliveries/s ({:.3} s wall), peak RSS {}\n",
            r.nodes,
            r.deliveries,
            if r.stop == "time_up" { " (simulated time ran out first)" } else { "" },
            r.latency,
            r.deliveries_per_s / 1e6,
            r.wall_s,
            r.peak_rss_mib.map_or("n/a".into(), |m| format!("{m:.1} MiB"))
        )
    };
    output::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}
