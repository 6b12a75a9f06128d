//! Charts of a run, drawn as SVG with plotters: every latency sample against simulated time,
//! on a log scale, with the stretches when nodes were down or the network partitioned shaded
//! behind them. It is the picture of a story: 2PC's latency leaping while its coordinator is
//! down, a saga's money in flight, sync replication stalling behind a cut-off replica.

use crate::runner::RunReport;
use plotters::prelude::*;

/// Colours of the latency series, of the space-time diagram's message kinds and of the sweep
/// charts' variants, in order (the Tableau palette, readable on white, less the red and grey
/// that mark faults and the olive of clock faults).
pub(crate) const SERIES: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
    RGBColor(227, 119, 194),
];
/// A node down.
pub(crate) const DOWN: RGBColor = RGBColor(214, 39, 40);
/// The network partitioned.
pub(crate) const PARTITION: RGBColor = RGBColor(127, 127, 127);

/// The timeline chart of one run as SVG text; `None` when the run kept no latency samples.
pub fn timeline(r: &RunReport) -> Result<Option<String>, String> {
    if r.samples.is_empty() {
        return Ok(None);
    }
    let to_point = |&(t, ns): &(u64, u64)| (t as f64 / 1e9, (ns as f64 / 1e6).max(MIN_MS));
    let x_max = (r.sim_time_ns as f64 / 1e9).max(1e-3);
    let y_max = r
        .samples
        .iter()
        .flat_map(|(_, v)| v.iter().map(|s| to_point(s).1))
        .fold(MIN_MS, f64::max)
        * 2.0;
    let grid = Grid { x_max, y_max };
    // A per-region breakdown (`mumbai.write_latency_ms`) repeats its total's samples: the
    // chart draws the totals, and the report gives the breakdown.
    let series: Vec<Series> = r
        .samples
        .iter()
        .filter(|(name, _)| !name.contains('.'))
        .map(|(name, v)| Series {
            name,
            samples: v.len(),
            points: grid.thin(v.iter().map(to_point)),
        })
        .collect();
    let mut svg = String::new();
    draw(&mut svg, r, &series, x_max, y_max).map_err(|e| format!("drawing the chart: {e}"))?;
    Ok(Some(svg))
}

/// One latency metric as drawn: its name, how many samples it had, and the points left to
/// draw after thinning.
struct Series<'a> {
    name: &'a str,
    samples: usize,
    points: Vec<(f64, f64)>,
}

/// The plot area cut into cells about two pixels wide and high. Two samples in one cell
/// draw the same dot, so only the first is kept: a ten-hour run's million samples become a
/// few thousand dots and the SVG stays small, while every outlier still shows.
struct Grid {
    x_max: f64,
    y_max: f64,
}

impl Grid {
    const COLUMNS: f64 = 500.0;
    const ROWS: f64 = 200.0;

    fn cell(&self, (x, y): (f64, f64)) -> (u32, u32) {
        let column = (x / self.x_max * Self::COLUMNS).clamp(0.0, Self::COLUMNS);
        let row =
            ((y / MIN_MS).ln() / (self.y_max / MIN_MS).ln() * Self::ROWS).clamp(0.0, Self::ROWS);
        (column as u32, row as u32)
    }

    /// The points in distinct cells, the earliest of each (at most COLUMNS × ROWS).
    fn thin(&self, points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
        let mut seen = std::collections::BTreeSet::new();
        points.filter(|&p| seen.insert(self.cell(p))).collect()
    }
}

/// Samples below 10 µs are drawn at 10 µs: a log scale has no zero.
const MIN_MS: f64 = 0.01;

fn draw(
    svg: &mut String,
    r: &RunReport,
    series: &[Series],
    x_max: f64,
    y_max: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    crate::font::register();
    let root = SVGBackend::with_string(svg, (1100, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{} — {} (bug {}), seed {}",
        r.scenario, r.model, r.bug, r.seed
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, (MIN_MS..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc("ms (log scale)")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    // Fault episodes first, so the samples stay on top. One legend entry per kind.
    for (kind, colour) in [("down", DOWN), ("partition", PARTITION)] {
        let spans: Vec<_> = r
            .episodes
            .iter()
            .filter(|e| e.what.ends_with(kind))
            .collect();
        if spans.is_empty() {
            continue;
        }
        let label = if kind == "down" {
            let mut nodes: Vec<&str> = spans
                .iter()
                .map(|e| e.what.trim_end_matches(" down"))
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            format!("down: {}", nodes.join(", "))
        } else {
            "network partitioned".to_string()
        };
        chart
            .draw_series(spans.iter().map(|e| {
                let (from, to) = (e.from_ns as f64 / 1e9, e.to_ns as f64 / 1e9);
                Rectangle::new(
                    [(from, MIN_MS), (to.max(from + x_max / 1000.0), y_max)],
                    colour.mix(0.15).filled(),
                )
            }))?
            .label(label)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.mix(0.3).filled())
            });
    }
    for (i, s) in series.iter().enumerate() {
        let colour = SERIES[i % SERIES.len()];
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|&p| Circle::new(p, 2, colour.mix(0.6).filled())),
            )?
            .label(format!("{} ({} samples)", s.name, s.samples))
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_bounds_the_points_and_keeps_every_outlier() {
        let grid = Grid {
            x_max: 36_000.0,
            y_max: 2_000.0,
        };
        // A million samples of a steady ~1 ms latency, with one 900 ms outlier in the middle.
        let points = (0..1_000_000u64).map(|i| {
            let y = if i == 500_000 {
                900.0
            } else {
                0.5 + (i % 1000) as f64 / 1000.0
            };
            (i as f64 * 0.036, y)
        });
        let kept = grid.thin(points);
        assert!(kept.len() < 20_000, "{} points kept", kept.len());
        assert!(
            kept.iter().any(|&(_, y)| y == 900.0),
            "the outlier was thinned away"
        );
        assert!(
            kept.first() == Some(&(0.0, 0.5)),
            "the earliest sample of a cell is kept"
        );
    }
}
