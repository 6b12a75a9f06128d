//! The charts of a sweep, each written as SVG and PNG (plotters, the embedded font of
//! [`crate::font`]):
//! - `cdf-<metric>`: the CDF of every sample of a latency distribution, one line per variant,
//!   pooled over the seeds (each run's CDF, from its recorded quantiles, weighted by its
//!   sample count);
//! - `<metric>-by-<key>`: a metric's mean against a varied parameter, one line per variant of
//!   the other parameters, with its 95% confidence band;
//! - `tradeoff`: p99 latency against anomalies, one point per configuration, the Pareto
//!   front (the configurations no other beats on both) marked.

use super::Options;
use crate::chart::SERIES;
use crate::font::FAMILY;
use crate::summary::{Name, PointRuns, Results, Stat};
use crate::sweep::QUANTILES;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::path::Path;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

const SIZE: (u32, u32) = (960, 540);

/// A chart written: its file stem (`.svg` and `.png` beside each other) and its title.
pub struct Written {
    pub stem: String,
    pub title: String,
}

/// Draws every chart of `results` into `dir`.
pub fn write_all(dir: &Path, results: &Results, options: &Options) -> anyhow::Result<Vec<Written>> {
    crate::font::register();
    let mut figures = Vec::new();
    figures.extend(cdfs(results, options));
    figures.extend(by_parameter(results, options));
    figures.extend(tradeoff(results, options));
    let mut written = Vec::new();
    for (stem, figure) in figures {
        write(dir, &stem, &figure)?;
        written.push(Written {
            stem,
            title: figure.title.clone(),
        });
    }
    Ok(written)
}

/// A labelled series of points.
type Line<P> = (String, Vec<P>);

/// A chart's data, ready to draw on any backend.
struct Figure {
    title: String,
    x_desc: String,
    y_desc: String,
    kind: Kind,
}

enum Kind {
    /// Lines of (x, cumulative fraction) on a log x axis.
    Cdf {
        lines: Vec<(String, Vec<(f64, f64)>)>,
    },
    /// Per variant, (category index, mean, 95% interval) over the categories `ticks`.
    ByParameter {
        ticks: Vec<Name>,
        lines: Vec<Line<(usize, Stat)>>,
    },
    /// (label, x, y) per configuration.
    Scatter { points: Vec<(String, f64, f64)> },
}

/// Writes `<stem>.svg` and `<stem>.png`; an error names the file.
fn write(dir: &Path, stem: &str, figure: &Figure) -> anyhow::Result<()> {
    let svg_path = dir.join(format!("{stem}.svg"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        figure
            .draw(&root)
            .map_err(|e| anyhow::anyhow!("drawing {}: {e}", svg_path.display()))?;
    }
    crate::output::write_file(&svg_path, svg.as_bytes())?;
    let png_path = dir.join(format!("{stem}.png"));
    let root = BitMapBackend::new(&png_path, SIZE).into_drawing_area();
    figure
        .draw(&root)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", png_path.display()))
}

/// A file stem from a chart's names: letters, digits, `_`, `-` and `.` kept, the rest `-`.
fn stem(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// "seeds 1–100" or "seed 7", for titles.
fn seeds(results: &Results) -> String {
    let all = || {
        results
            .points
            .iter()
            .flat_map(|p| p.runs.iter().map(|r| r.seed))
    };
    match (all().min(), all().max()) {
        (Some(a), Some(b)) if a == b => format!("seed {a}"),
        (Some(a), Some(b)) => format!("seeds {a}–{b}"),
        _ => String::new(),
    }
}

/// The CDF of each latency distribution the runs recorded quantiles for.
fn cdfs(results: &Results, options: &Options) -> Vec<(String, Figure)> {
    let mut metrics: Vec<&str> = Vec::new();
    for p in &results.points {
        for r in &p.runs {
            for (m, q) in &r.quantiles_ms {
                if !q.is_empty() && options.charts(m) && !metrics.contains(&&**m) {
                    metrics.push(m);
                }
            }
        }
    }
    let several = results.several_scenarios();
    metrics
        .into_iter()
        .filter_map(|metric| {
            let lines: Vec<(String, Vec<(f64, f64)>)> = results
                .points
                .iter()
                .filter_map(|p| Some((p.label(several), pooled_cdf(p, metric)?)))
                .collect();
            (!lines.is_empty()).then(|| {
                let figure = Figure {
                    title: format!(
                        "{metric}: distribution of every sample ({})",
                        seeds(results)
                    ),
                    x_desc: format!("{metric} (ms, log scale)"),
                    y_desc: "fraction of samples at or below".into(),
                    kind: Kind::Cdf { lines },
                };
                (stem(&format!("cdf-{metric}")), figure)
            })
        })
        .collect()
}

/// Below this the log axis stops: 1 µs.
const MIN_MS: f64 = 0.001;

/// The CDF of `metric` over every run of the point: at each x of a log-spaced grid, the
/// runs' CDFs (linear between their recorded quantiles) averaged, weighted by sample count.
fn pooled_cdf(p: &PointRuns, metric: &str) -> Option<Vec<(f64, f64)>> {
    let runs: Vec<(&[f64], f64)> = p
        .runs
        .iter()
        .filter_map(|r| {
            let q = &r
                .quantiles_ms
                .iter()
                .find(|(m, q)| &**m == metric && q.len() == QUANTILES.len())?
                .1;
            let count = r
                .metrics
                .iter()
                .find(|(n, _)| **n == format!("{metric}.count"))
                .map_or(1.0, |m| m.1);
            Some((q.as_slice(), count))
        })
        .collect();
    let total: f64 = runs.iter().map(|r| r.1).sum();
    if runs.is_empty() || total <= 0.0 {
        return None;
    }
    let lo = runs
        .iter()
        .map(|r| r.0[0])
        .fold(f64::INFINITY, f64::min)
        .max(MIN_MS);
    let hi = runs
        .iter()
        .map(|r| r.0[QUANTILES.len() - 1])
        .fold(0.0, f64::max)
        .max(lo * 1.01);
    const STEPS: usize = 300;
    let grid = (0..=STEPS).map(|i| lo * (hi / lo).powf(i as f64 / STEPS as f64));
    Some(
        grid.map(|x| {
            let f: f64 = runs.iter().map(|(q, n)| run_cdf(q, x) * n).sum();
            (x, f / total)
        })
        .collect(),
    )
}

/// One run's CDF at `x`, linear between its quantiles `q` (at [`QUANTILES`]).
fn run_cdf(q: &[f64], x: f64) -> f64 {
    match q.iter().rposition(|&v| v <= x) {
        None => 0.0,
        Some(j) if j + 1 == q.len() => 1.0,
        Some(j) => {
            let (a, b) = (q[j], q[j + 1]);
            let t = if b > a { (x - a) / (b - a) } else { 0.0 };
            QUANTILES[j] + t * (QUANTILES[j + 1] - QUANTILES[j])
        }
    }
}

/// The metrics a by-parameter chart is drawn for: counts, the p99 and max of each
/// distribution (the max is where an outage shows: 2PC's in-doubt time) and each label of a
/// fraction, leaving out per-region breakdowns (`mumbai.write_latency_ms`), the median (the
/// CDFs show it) and sample counts.
fn charted_metric(name: &str) -> bool {
    match name.split_once('.') {
        None => true,
        Some((_, rest)) => !rest.contains('.') && !["p50", "count"].contains(&rest),
    }
}

/// The unit of a flattened metric, for its axis: a distribution's percentiles are in its
/// unit (the name's last word, `_ms`), a fraction's labels are probabilities, and a count is
/// per run.
fn unit(metric: &str) -> &'static str {
    match metric.split_once('.') {
        Some((base, "p50" | "p99" | "max")) if base.ends_with("_ms") => " (ms)",
        Some(_) => " (fraction of trials)",
        None if metric.ends_with("_ms") => " (ms)",
        None => " per run",
    }
}

/// One chart per varied key and charted metric whose mean is not the same everywhere.
fn by_parameter(results: &Results, options: &Options) -> Vec<(String, Figure)> {
    let Some(first) = results.points.first() else {
        return Vec::new();
    };
    let keys: Vec<&str> = first.params.iter().map(|(k, _)| &**k).collect();
    let mut metrics: Vec<Name> = Vec::new();
    for p in &results.points {
        for m in p.metric_names() {
            if charted_metric(&m) && options.charts(&m) && !metrics.contains(&m) {
                metrics.push(m);
            }
        }
    }
    let several = results.several_scenarios();
    let mut figures = Vec::new();
    for key in keys {
        let value_of = |p: &PointRuns| {
            p.params
                .iter()
                .find(|(k, _)| &**k == key)
                .map(|(_, v)| v.clone())
        };
        let mut ticks: Vec<Name> = Vec::new();
        for p in &results.points {
            if let Some(v) = value_of(p) {
                if !ticks.contains(&v) {
                    ticks.push(v);
                }
            }
        }
        if ticks.len() < 2 {
            continue;
        }
        // A variant: the scenario (when several) and the values of the other keys.
        let variant = |p: &PointRuns| {
            let others: Vec<String> = p
                .params
                .iter()
                .filter(|(k, _)| &**k != key)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut parts = Vec::new();
            if several {
                parts.push(p.scenario.to_string());
            }
            parts.extend(others);
            if parts.is_empty() {
                "mean ± 95% CI".to_string()
            } else {
                parts.join(" ")
            }
        };
        for metric in &metrics {
            let mut lines: Vec<Line<(usize, Stat)>> = Vec::new();
            for p in &results.points {
                let (Some(v), st) = (value_of(p), Stat::of(&p.values(metric))) else {
                    continue;
                };
                if st.n == 0 {
                    continue;
                }
                let x = ticks
                    .iter()
                    .position(|t| *t == v)
                    .expect("ticks hold every value");
                let name = variant(p);
                match lines.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, pts)) => pts.push((x, st)),
                    None => lines.push((name, vec![(x, st)])),
                }
            }
            let means = || {
                lines
                    .iter()
                    .flat_map(|(_, pts)| pts.iter().map(|p| p.1.mean))
            };
            let constant = means().all(|m| Some(m) == means().next());
            if lines.is_empty() || constant {
                continue;
            }
            let unit = unit(metric);
            figures.push((
                stem(&format!("{metric}-by-{key}")),
                Figure {
                    title: format!(
                        "{metric} by {key} (mean and 95% CI over {})",
                        seeds(results)
                    ),
                    x_desc: key.to_string(),
                    y_desc: format!("{metric}{unit}"),
                    kind: Kind::ByParameter {
                        ticks: ticks.clone(),
                        lines,
                    },
                },
            ));
        }
    }
    figures
}

/// The trade-off between the latency metric's p99 and anomalies, when there are two
/// configurations or more to compare.
fn tradeoff(results: &Results, options: &Options) -> Option<(String, Figure)> {
    if results.points.len() < 2 {
        return None;
    }
    let latency = match &options.latency {
        Some(m) => m.clone(),
        None => default_latency(results)?,
    };
    let several = results.several_scenarios();
    let points: Vec<(String, f64, f64)> = results
        .points
        .iter()
        .filter_map(|p| {
            let y = Stat::of(&p.values(&format!("{latency}.p99"))).mean;
            let x = match &options.anomalies {
                Some(m) => Stat::of(&p.values(m)).mean,
                None => {
                    let violated: Vec<f64> = p
                        .runs
                        .iter()
                        .map(|r| r.invariants.iter().filter(|i| &*i.1 == "violated").count() as f64)
                        .collect();
                    Stat::of(&violated).mean
                }
            };
            (x.is_finite() && y.is_finite()).then(|| (p.label(several), x, y))
        })
        .collect();
    if points.len() < 2 {
        return None;
    }
    let anomalies = options
        .anomalies
        .clone()
        .map_or("invariants violated per run".to_string(), |m| {
            format!("{m} per run")
        });
    Some((
        "tradeoff".into(),
        Figure {
            title: format!(
                "Trade-off: {latency} p99 against anomalies ({})",
                seeds(results)
            ),
            x_desc: format!("{anomalies} (mean)"),
            y_desc: format!("{latency} p99 (ms, mean over seeds)"),
            kind: Kind::Scatter { points },
        },
    ))
}

/// The trade-off's default cost: `write_latency_ms` (writes are where replication and
/// commit protocols pay for their guarantees), else the first other `*latency_ms`
/// distribution by name, never a per-region breakdown.
fn default_latency(results: &Results) -> Option<String> {
    let mut names: Vec<String> = results
        .points
        .iter()
        .flat_map(|p| p.metric_names())
        .filter_map(|m| m.strip_suffix(".p99").map(String::from))
        .filter(|m| !m.contains('.') && m.ends_with("latency_ms"))
        .collect();
    names.sort();
    names
        .iter()
        .find(|m| *m == "write_latency_ms")
        .or(names.first())
        .cloned()
}

/// The indices of the points no other point beats on both axes (lower is better on both).
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[a].1.total_cmp(&points[b].1))
    });
    let mut best_y = f64::INFINITY;
    let mut front = Vec::new();
    for i in order {
        if points[i].1 < best_y {
            best_y = points[i].1;
            front.push(i);
        }
    }
    front
}

/// A range around `lo..hi` with a margin, never empty.
fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let span = (hi - lo).abs().max(hi.abs() * 0.1).max(1e-9);
    (lo - span * 0.08)..(hi + span * 0.08)
}

/// The mesh every chart shares: axis descriptions with their units, the embedded font, the
/// major grid only (the fine one triples the PNGs' size for little help in reading). (A macro: plotters' mesh type differs with each axis kind.)
macro_rules! mesh {
    ($chart:expr, $figure:expr) => {
        $chart
            .configure_mesh()
            .x_desc(&$figure.x_desc)
            .y_desc(&$figure.y_desc)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .light_line_style(WHITE.mix(0.0))
    };
}

/// How variant `i` is drawn. Colours cycle through the palette; each further round changes
/// the mark (circle, triangle, square) and the line (solid, dashed, dotted), so that up to
/// three rounds of variants (21) stay apart.
#[derive(Clone, Copy)]
struct Look {
    colour: RGBColor,
    round: usize,
}

impl Look {
    fn of(i: usize) -> Look {
        Look {
            colour: SERIES[i % SERIES.len()],
            round: (i / SERIES.len()) % 3,
        }
    }

    /// The line's dash and gap in pixels; `None`: solid.
    fn dashes(self) -> Option<(i32, i32)> {
        match self.round {
            0 => None,
            1 => Some((10, 6)),
            _ => Some((3, 4)),
        }
    }
}

/// Draws a line through `points` in `look`'s colour and dashes; the caller labels it.
macro_rules! draw_line {
    ($chart:expr, $look:expr, $points:expr) => {{
        let style = $look.colour.stroke_width(2);
        match $look.dashes() {
            None => $chart.draw_series(LineSeries::new($points, style))?,
            Some((dash, gap)) => {
                $chart.draw_series(DashedLineSeries::new($points, dash, gap, style))?
            }
        }
    }};
}

/// Draws a mark in `look`'s colour and shape at each of `points`, `size` pixels in radius. (The
/// marks and legends are macros: plotters draws a series of one element type, and its
/// type-erased element cannot borrow the backend, so each shape gets its own call.)
macro_rules! draw_marks {
    ($chart:expr, $look:expr, $points:expr, $size:expr) => {{
        let (style, size) = ($look.colour.filled(), $size);
        match $look.round {
            0 => $chart.draw_series($points.map(|p| Circle::new(p, size, style)))?,
            1 => $chart.draw_series($points.map(|p| TriangleMarker::new(p, size + 2, style)))?,
            _ => $chart.draw_series($points.map(|p| {
                EmptyElement::at(p) + Rectangle::new([(-size, -size), (size, size)], style)
            }))?,
        }
    }};
}

/// The legend entry of a series of marks in `look`.
macro_rules! legend_mark {
    ($series:expr, $look:expr, $size:expr) => {{
        let (style, size) = ($look.colour.filled(), $size);
        match $look.round {
            0 => $series.legend(move |(x, y)| Circle::new((x + 9, y), size, style)),
            1 => $series.legend(move |(x, y)| TriangleMarker::new((x + 9, y), size + 2, style)),
            _ => $series.legend(move |(x, y)| {
                EmptyElement::at((x + 9, y)) + Rectangle::new([(-size, -size), (size, size)], style)
            }),
        }
    }};
}

/// The legend entry of a line in `look`.
macro_rules! legend_line {
    ($series:expr, $look:expr) => {{
        let style = $look.colour.stroke_width(3);
        match $look.dashes() {
            None => $series.legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], style)),
            Some((dash, gap)) => $series.legend(move |(x, y)| {
                DashedPathElement::new([(x, y), (x + 18, y)], dash, gap, style)
            }),
        }
    }};
}

impl Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, (FAMILY, 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80);
        match &self.kind {
            Kind::Cdf { lines } => {
                let xs = || lines.iter().flat_map(|(_, l)| l.iter().map(|p| p.0));
                let lo = xs().fold(f64::INFINITY, f64::min);
                let hi = xs().fold(0.0, f64::max).max(lo * 1.01);
                let mut chart =
                    builder.build_cartesian_2d((lo..hi * 1.05).log_scale(), 0f64..1.0)?;
                mesh!(chart, self).draw()?;
                for (i, (label, line)) in lines.iter().enumerate() {
                    let look = Look::of(i);
                    let series = draw_line!(chart, look, line.iter().copied()).label(label);
                    legend_line!(series, look);
                }
                legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
            }
            Kind::ByParameter { ticks, lines } => {
                let ys = || {
                    lines.iter().flat_map(|(_, l)| {
                        l.iter().flat_map(|(_, st)| {
                            let (lo, hi) = st.ci95.unwrap_or((st.mean, st.mean));
                            [st.mean, lo, hi]
                        })
                    })
                };
                let lo = ys().fold(f64::INFINITY, f64::min).min(0.0);
                let hi = ys().fold(f64::NEG_INFINITY, f64::max);
                let n = ticks.len();
                // Headroom above the lines for the legend.
                let legend_room = (hi - lo) * 0.06 * (lines.len() + 1) as f64;
                let mut chart = builder
                    .build_cartesian_2d(-0.4f64..(n as f64 - 0.6), padded(lo, hi + legend_room))?;
                let tick_label = |x: &f64| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                        ticks[i as usize].to_string()
                    } else {
                        String::new()
                    }
                };
                mesh!(chart, self)
                    .x_labels(n * 2 + 1)
                    .x_label_formatter(&tick_label)
                    .draw()?;
                for (i, (label, points)) in lines.iter().enumerate() {
                    let look = Look::of(i);
                    let c = look.colour;
                    let band: Vec<(f64, f64)> = points
                        .iter()
                        .filter_map(|(x, st)| st.ci95.map(|c| (*x as f64, c.1)))
                        .chain(
                            points
                                .iter()
                                .rev()
                                .filter_map(|(x, st)| st.ci95.map(|c| (*x as f64, c.0))),
                        )
                        .collect();
                    if band.len() >= 2 {
                        chart.draw_series(std::iter::once(Polygon::new(
                            band,
                            c.mix(0.18).filled(),
                        )))?;
                    }
                    let line: Vec<(f64, f64)> =
                        points.iter().map(|(x, st)| (*x as f64, st.mean)).collect();
                    draw_line!(chart, look, line.iter().copied());
                    let series = draw_marks!(chart, look, line.iter().copied(), 4).label(label);
                    legend_mark!(series, look, 4);
                }
                legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            }
            Kind::Scatter { points } => {
                let xy: Vec<(f64, f64)> = points.iter().map(|p| (p.1, p.2)).collect();
                let x_hi = xy.iter().map(|p| p.0).fold(0.0, f64::max);
                let y_lo = xy.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
                let y_hi = xy.iter().map(|p| p.1).fold(0.0, f64::max);
                // Headroom above the points for the legend.
                let mut chart = builder.build_cartesian_2d(
                    padded(0.0, x_hi),
                    padded(y_lo, y_hi + (y_hi - y_lo).max(y_hi * 0.1) * 0.5),
                )?;
                mesh!(chart, self).draw()?;
                let front = pareto_front(&xy);
                let front_line: Vec<(f64, f64)> = front.iter().map(|&i| xy[i]).collect();
                let front_colour = BLACK;
                chart
                    .draw_series(LineSeries::new(
                        front_line.iter().copied(),
                        front_colour.stroke_width(2),
                    ))?
                    .label("Pareto front (no configuration beats these on both)")
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 18, y)], front_colour.stroke_width(3))
                    });
                chart.draw_series(
                    front
                        .iter()
                        .map(|&i| Circle::new(xy[i], 9, front_colour.stroke_width(2))),
                )?;
                for (i, (label, x, y)) in points.iter().enumerate() {
                    let look = Look::of(i);
                    let series =
                        draw_marks!(chart, look, std::iter::once((*x, *y)), 5).label(label);
                    legend_mark!(series, look, 5);
                }
                legend(&mut chart, SeriesLabelPosition::UpperRight)?;
            }
        }
        root.present()?;
        Ok(())
    }
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pareto_front_keeps_only_the_unbeaten() {
        // (anomalies, latency): sync (0, 300), semisync (0, 170), async (6, 64), and a point
        // worse than semisync on both.
        let points = [(0.0, 300.0), (0.0, 170.0), (6.0, 64.0), (1.0, 200.0)];
        assert_eq!(pareto_front(&points), [1, 2]);
    }

    #[test]
    fn a_run_cdf_interpolates_between_its_quantiles() {
        let q: Vec<f64> = QUANTILES.iter().map(|p| p * 100.0).collect();
        assert_eq!(run_cdf(&q, -1.0), 0.0);
        assert!((run_cdf(&q, 50.0) - 0.5).abs() < 1e-9);
        assert!((run_cdf(&q, 97.0) - 0.97).abs() < 1e-9);
        assert_eq!(run_cdf(&q, 100.0), 1.0);
    }

    #[test]
    fn axes_name_their_units() {
        assert_eq!(unit("in_doubt_ms.max"), " (ms)");
        assert_eq!(unit("p_fresh_after_ms.10"), " (fraction of trials)");
        assert_eq!(unit("lost_acked_writes"), " per run");
    }

    #[test]
    fn breakdowns_and_lesser_percentiles_get_no_chart() {
        assert!(charted_metric("aborts"));
        assert!(charted_metric("write_latency_ms.p99"));
        assert!(charted_metric("p_fresh_after_ms.10"));
        assert!(charted_metric("in_doubt_ms.max"));
        assert!(!charted_metric("write_latency_ms.p50"));
        assert!(!charted_metric("mumbai.write_latency_ms.p99"));
    }
}
