//! Charts of a run, drawn as SVG with plotters: every latency sample against simulated time,
//! on a log scale, with the stretches when nodes were down or the network partitioned shaded
//! behind them. It is the picture of a story: 2PC's latency leaping while its coordinator is
//! down, a saga's money in flight, sync replication stalling behind a cut-off replica.

use crate::runner::RunReport;
use plotters::prelude::*;

/// Colours of the latency series, in order (the Tableau palette, readable on white).
const SERIES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
const DOWN: RGBColor = RGBColor(214, 39, 40);
const PARTITION: RGBColor = RGBColor(127, 127, 127);

/// The timeline chart of one run as SVG text; `None` when the run kept no latency samples.
pub fn timeline(r: &RunReport) -> Result<Option<String>, String> {
    let points = |v: &[(u64, u64)]| {
        v.iter()
            .map(|&(t, ns)| (t as f64 / 1e9, (ns as f64 / 1e6).max(MIN_MS)))
            .collect::<Vec<_>>()
    };
    let series: Vec<(&str, Vec<(f64, f64)>)> = r
        .samples
        .iter()
        .map(|(name, v)| (*name, points(v)))
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let x_max = (r.sim_time_ns as f64 / 1e9).max(1e-3);
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(MIN_MS, f64::max)
        * 2.0;
    let mut svg = String::new();
    draw(&mut svg, r, &series, x_max, y_max).map_err(|e| format!("drawing the chart: {e}"))?;
    Ok(Some(svg))
}

/// Samples below 10 µs are drawn at 10 µs: a log scale has no zero.
const MIN_MS: f64 = 0.01;

fn draw(
    svg: &mut String,
    r: &RunReport,
    series: &[(&str, Vec<(f64, f64)>)],
    x_max: f64,
    y_max: f64,
) -> Result<(), Box<dyn std::error::Error>> {
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
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = SERIES[i % SERIES.len()];
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 2, colour.mix(0.6).filled())),
            )?
            .label(format!("{name} ({} samples)", points.len()))
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
