//! Drawing the diagram: hand-written SVG, every element with a `<title>` tooltip.
//!
//! **The time axis is compressed.** Within a window, a burst of local messages a few
//! microseconds apart and a five-second outage both matter; a linear axis would flatten the
//! first or stretch the second off the page. Every distinct event time gets a row, and the
//! gap to the next row grows with the logarithm of the time between them: bursts spread
//! apart, idle stretches shrink, order is kept exactly. The left axis gives the true times
//! and every tooltip the exact ones.

use super::capture::{Anchored, Fate, Mark, Message, Trace};
use super::Focus;
use crate::chart::{DOWN, PARTITION, SERIES};
use crate::runner::RunReport;
use plotters::style::RGBColor;
use sim::invariant::Status;
use sim::Time;
use std::fmt::Write as _;

/// Horizontal distance between lanes, px.
const LANE_GAP: f64 = 150.0;
/// Left margin (the time axis) and right margin, px.
const LEFT: f64 = 100.0;
const RIGHT: f64 = 40.0;
/// The narrowest diagram: the title and legend need this much.
const MIN_WIDTH: f64 = 1000.0;
/// The rows of the compressed time axis: a fixed step per distinct time, plus this many
/// pixels per e-fold of the gap in milliseconds.
const ROW: f64 = 6.0;
const PER_LOG_MS: f64 = 7.0;
/// Clock jumps and drifts (the palette's colours are message kinds; red and grey, faults).
const CLOCK: RGBColor = RGBColor(188, 189, 34);
/// The halo behind the messages of the request a violation names.
const HALO: &str = "#ffd92f";
/// A white outline behind text, so labels stay legible where lines cross them.
const OUTLINE: &str = r#"stroke="white" stroke-width="2.5" paint-order="stroke""#;
/// The longest invariant detail shown in the title, in bytes.
const MAX_DETAIL: usize = 170;

/// The diagram of the window `t` of run `r` centred as `focus` says.
pub fn draw(r: &RunReport, focus: &Focus, t: &Trace) -> String {
    let lanes = t.names.len().max(1);
    let width = (LEFT + LANE_GAP * lanes as f64 + RIGHT).max(MIN_WIDTH);
    let (lo, hi) = match (t.messages.first(), t.messages.iter().map(last_ns).max()) {
        (Some(first), Some(last)) => (first.sent_ns, last),
        _ => (0, r.sim_time_ns),
    };
    let within = |at: u64| (lo..=hi).contains(&at);
    let highlighted = |m: &Message| {
        focus
            .request
            .as_ref()
            .is_some_and(|q| m.text.contains(&q.needle))
    };
    let shown = Shown {
        highlighted: t.messages.iter().any(highlighted),
        lost: t
            .messages
            .iter()
            .any(|m| matches!(m.fate, Fate::DroppedAtSend(_) | Fate::DroppedOnArrival(..))),
        down: r
            .episodes
            .iter()
            .any(|e| e.what.ends_with(" down") && overlaps(e, lo, hi)),
        partitioned: r
            .episodes
            .iter()
            .any(|e| e.what == "partition" && overlaps(e, lo, hi)),
        clock: t
            .marks
            .iter()
            .any(|(at, m)| within(*at) && matches!(m, Mark::Fault(f) if f.starts_with("Clock"))),
    };

    // The header is written first, as its height places everything else; the `<svg>` tag,
    // which needs the whole height, goes in front of it once that is known.
    let mut svg = String::new();
    let header = header(&mut svg, r, focus, t, &shown, width);
    let top = header + 40.0;

    // Every time drawn gets a row.
    let mut times: Vec<u64> = t
        .messages
        .iter()
        .flat_map(|m| [Some(m.sent_ns), m.end_ns()])
        .flatten()
        .chain(t.marks.iter().map(|(at, _)| *at).filter(|&at| within(at)))
        .chain(
            r.episodes
                .iter()
                .flat_map(|e| [e.from_ns, e.to_ns])
                .filter(|&at| within(at)),
        )
        .chain([lo, hi])
        .collect();
    times.extend(anchor_time(focus, t));
    times.extend(focus.broke.iter().map(|&(at, _)| at));
    times.retain(|&at| within(at));
    let axis = Axis::new(times, top);
    let bottom = axis.bottom();
    let height = bottom + 50.0;
    let x = |lane: usize| LEFT + LANE_GAP * (lane as f64 + 0.5);
    let lanes_right = LEFT + LANE_GAP * lanes as f64;

    let body = std::mem::take(&mut svg);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    svg.push('\n');
    let _ = writeln!(
        svg,
        r#"<rect width="{width:.0}" height="{height:.0}" fill="white"/>"#
    );
    svg.push_str(&body);

    // Partitions: bands across every lane.
    for e in r.episodes.iter().filter(|e| e.what == "partition") {
        let (from, to) = (e.from_ns.max(lo), e.to_ns.min(hi));
        if from > to {
            continue;
        }
        let cuts: Vec<String> = t
            .marks
            .iter()
            .filter(|(at, _)| (e.from_ns..=e.to_ns).contains(at))
            .filter_map(|(_, m)| match m {
                Mark::Fault(f) if f.starts_with("Partition") => Some(with_names(f, &t.names)),
                _ => None,
            })
            .collect();
        // The first cut's groups, in short: `[[coordinator, db1], [db2]]`.
        let groups = cuts.first().map_or(String::new(), |c| {
            let inner = c.find(['[', '{']).map_or(c.as_str(), |i| &c[i..]);
            let inner = inner.split(", heal_after_ns").next().unwrap_or(inner);
            format!(
                ": {}",
                inner
                    .trim_start_matches("{ ")
                    .trim_start_matches("groups: ")
                    .trim_end_matches(" }")
            )
        });
        let (y1, y2) = (axis.y(from), axis.y(to));
        let _ = writeln!(
            svg,
            r#"<g><title>network partitioned from {} to {}{}{}</title><rect x="{LEFT:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.18"/><text x="{:.1}" y="{:.1}" font-size="10" fill="{}" font-style="italic">partitioned{}</text></g>"#,
            Time(e.from_ns),
            Time(e.to_ns),
            if cuts.is_empty() { "" } else { ": " },
            escape(&cuts.join("; ")),
            lanes_right - LEFT,
            (y2 - y1).max(2.0),
            hex(PARTITION),
            LEFT + 4.0,
            y1 + 11.0,
            hex(PARTITION),
            escape(&groups)
        );
    }

    // Lanes, with the stretches each node was down.
    for (i, name) in t.names.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<line x1="{0:.1}" y1="{top:.1}" x2="{0:.1}" y2="{bottom:.1}" stroke="#555" stroke-width="1.2"/>"##,
            x(i)
        );
        for y in [top - 12.0, bottom + 24.0] {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{y:.1}" font-size="13" font-weight="bold" text-anchor="middle">{}</text>"#,
                x(i),
                escape(name)
            );
        }
        let down = format!("{name} down");
        for e in r.episodes.iter().filter(|e| e.what == down) {
            let (from, to) = (e.from_ns.max(lo), e.to_ns.min(hi));
            if from > to {
                continue;
            }
            let (y1, y2) = (axis.y(from), axis.y(to));
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{y1:.1}" width="14" height="{:.1}" fill="{}" fill-opacity="0.3"><title>{} down from {} to {}</title></rect>"#,
                x(i) - 7.0,
                (y2 - y1).max(2.0),
                hex(DOWN),
                escape(name),
                Time(e.from_ns),
                Time(e.to_ns)
            );
        }
    }

    // The time axis: a label wherever there is room for one.
    let mut last_label = (f64::MIN, String::new());
    for (&at, &y) in axis.times.iter().zip(&axis.ys) {
        let label = format!("{:.4}s", at as f64 / 1e9);
        if y - last_label.0 >= 13.0 && label != last_label.1 {
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#666" text-anchor="end">{label}</text><line x1="{:.1}" y1="{y:.1}" x2="{LEFT:.1}" y2="{y:.1}" stroke="#bbb"/>"##,
                LEFT - 8.0,
                y + 3.0,
                LEFT - 5.0
            );
            last_label = (y, label);
        }
    }

    // The anchor, where the window is centred, and every moment an invariant says it broke.
    let broke = focus
        .broke
        .iter()
        .map(|&(at, name)| (at, format!("{name} found broken")));
    for (at, label) in anchor_time(focus, t)
        .map(|at| (at, anchor_label(focus, t)))
        .into_iter()
        .chain(broke)
        .filter(|(at, _)| within(*at))
    {
        let y = axis.y(at);
        let _ = writeln!(
            svg,
            r#"<g><title>{} at {}</title><line x1="{LEFT:.1}" y1="{y:.1}" x2="{lanes_right:.1}" y2="{y:.1}" stroke="{}" stroke-width="1.2" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" font-size="10" fill="{}" text-anchor="end">{}</text></g>"#,
            escape(&label),
            Time(at),
            hex(DOWN),
            lanes_right,
            y - 3.0,
            hex(DOWN),
            escape(&label)
        );
    }

    // Messages, the highlighted ones last so they stay on top.
    let (plain, marked): (Vec<&Message>, Vec<&Message>) =
        t.messages.iter().partition(|m| !highlighted(m));
    for m in plain.iter().chain(&marked) {
        message(&mut svg, m, t, &axis, x, highlighted(m));
    }

    // Crashes, restarts, clock jumps and network-wide faults, over the messages.
    for (at, mark) in t.marks.iter().filter(|(at, _)| within(*at)) {
        mark_svg(&mut svg, *at, mark, t, axis.y(*at), x);
    }

    svg.push_str("</svg>\n");
    svg
}

/// What the window holds, for the legend: it lists only what is drawn.
struct Shown {
    highlighted: bool,
    lost: bool,
    down: bool,
    partitioned: bool,
    clock: bool,
}

/// Whether an episode overlaps the window `lo..=hi`.
fn overlaps(e: &crate::runner::EpisodeReport, lo: u64, hi: u64) -> bool {
    e.from_ns <= hi && e.to_ns >= lo
}

/// Writes the title, the violated invariants and the legend; returns the height used.
fn header(
    svg: &mut String,
    r: &RunReport,
    focus: &Focus,
    t: &Trace,
    shown: &Shown,
    width: f64,
) -> f64 {
    let mut y = 24.0;
    let _ = writeln!(
        svg,
        r#"<text x="12" y="{y}" font-size="16" font-weight="bold">{}</text>"#,
        escape(&format!(
            "{} — {} (bug {}), seed {}: space-time diagram",
            r.scenario, r.model, r.bug, r.seed
        ))
    );
    let window = match (t.messages.first(), t.messages.last()) {
        (Some(a), Some(b)) if a.serial == 1 && b.serial == t.sent => {
            format!("all {} messages of the run", t.sent)
        }
        (Some(a), Some(b)) => format!(
            "messages {}–{} of {}: a window around {}",
            a.serial,
            b.serial,
            t.sent,
            anchor_words(focus, t)
        ),
        _ => "no messages".into(),
    };
    let lines = [
        window,
        "Time flows down, compressed: each event gets a row, idle stretches shrink (true time \
         on the left, exact times in tooltips)."
            .to_string(),
    ];
    for line in lines {
        y += 18.0;
        let _ = writeln!(
            svg,
            r##"<text x="12" y="{y}" font-size="12" fill="#333">{}</text>"##,
            escape(&line)
        );
    }
    for i in r.invariants.iter().filter(|i| i.status == Status::Violated) {
        y += 17.0;
        let expected = if i.expected == Status::Violated {
            " (expected)"
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<text x="12" y="{y}" font-size="12" fill="{}"><tspan font-weight="bold">✗ {}{expected}:</tspan> {}<title>{}</title></text>"#,
            hex(DOWN),
            escape(i.name),
            escape(&super::capture::cut(&i.detail, MAX_DETAIL)),
            escape(&i.detail)
        );
    }
    // The legend: message kinds by colour, then what the marks mean.
    y += 26.0;
    let mut lx = 12.0;
    let mut item = |svg: &mut String, y: &mut f64, glyph: String, label: &str| {
        let w = 30.0 + 6.5 * label.chars().count() as f64;
        if lx + w > width - 12.0 {
            lx = 12.0;
            *y += 20.0;
        }
        let _ = writeln!(
            svg,
            r#"<g transform="translate({lx:.1},{:.1})">{glyph}<text x="26" y="4" font-size="11">{}</text></g>"#,
            *y,
            escape(label)
        );
        lx += w + 10.0;
    };
    for (k, kind) in t.kinds.iter().enumerate() {
        let c = hex(kind_colour(k));
        item(
            svg,
            &mut y,
            format!(r#"<line x1="0" y1="0" x2="20" y2="0" stroke="{c}" stroke-width="2"/>"#),
            kind,
        );
    }
    let red = hex(DOWN);
    if shown.lost {
        let glyph = format!(
            r##"<line x1="0" y1="0" x2="14" y2="0" stroke="#888" stroke-dasharray="3 2"/>{}"##,
            cross(16.0, 0.0, &red, 2.0)
        );
        item(svg, &mut y, glyph, "lost (hover for why)");
    }
    if shown.down {
        let glyph = format!(
            r#"<rect x="3" y="-6" width="14" height="12" fill="{red}" fill-opacity="0.3"/>"#
        );
        item(svg, &mut y, glyph, "node down");
    }
    if shown.partitioned {
        let glyph = format!(
            r#"<rect x="0" y="-6" width="20" height="12" fill="{}" fill-opacity="0.18"/>"#,
            hex(PARTITION)
        );
        item(svg, &mut y, glyph, "network partitioned");
    }
    if shown.clock {
        item(svg, &mut y, diamond(10.0, 0.0), "clock jump or drift");
    }
    if let (Some(q), true) = (&focus.request, shown.highlighted) {
        item(
            svg,
            &mut y,
            format!(r#"<line x1="0" y1="0" x2="20" y2="0" stroke="{HALO}" stroke-width="8"/>"#),
            &format!("request {} (named by {})", q.shown, q.invariant),
        );
    }
    y
}

/// The anchor's time, if the window was centred on one.
fn anchor_time(focus: &Focus, t: &Trace) -> Option<u64> {
    match t.anchored {
        Anchored::Request(at) => Some(at),
        Anchored::Time(_) => Some(focus.at_ns),
        Anchored::End => None,
    }
}

/// What the window is centred on, for the title.
fn anchor_words(focus: &Focus, t: &Trace) -> String {
    match (t.anchored, &focus.request) {
        (Anchored::Request(_), Some(q)) => format!(
            "the first message of request {} (named by {})",
            q.shown, q.invariant
        ),
        (Anchored::End, _) => "the end of the run".into(),
        _ => focus.why.clone(),
    }
}

/// The anchor line's label.
fn anchor_label(focus: &Focus, t: &Trace) -> String {
    match (t.anchored, &focus.request) {
        (Anchored::Request(_), Some(q)) => format!("request {} begins", q.shown),
        _ => focus.why.clone(),
    }
}

/// The latest time a message reaches on the page.
fn last_ns(m: &Message) -> u64 {
    m.end_ns().unwrap_or(m.sent_ns).max(m.sent_ns)
}

fn message(
    svg: &mut String,
    m: &Message,
    t: &Trace,
    axis: &Axis,
    x: impl Fn(usize) -> f64,
    highlighted: bool,
) {
    let name = |lane: usize| t.names.get(lane).map_or("?", String::as_str);
    let kind = t.kinds.get(m.kind).map_or("?", String::as_str);
    let colour = hex(kind_colour(m.kind));
    let (x1, y1) = (x(m.from), axis.y(m.sent_ns));
    let (x2, y2, lost) = match &m.fate {
        Fate::DroppedAtSend(_) => (x1 + (x(m.to) - x1) * 0.35, y1 + 10.0, true),
        Fate::DroppedOnArrival(at, _) => (x(m.to), axis.y(*at), true),
        Fate::Delivered(at) | Fate::InFlight(at) => (x(m.to), axis.y(*at), false),
    };
    let fate = match &m.fate {
        Fate::Delivered(at) => format!(
            "delivered at {} (after {})",
            Time(*at),
            Time(at.saturating_sub(m.sent_ns))
        ),
        Fate::DroppedAtSend(reason) => format!("lost as it was sent: {reason}"),
        Fate::DroppedOnArrival(at, reason) => format!("lost on arrival at {}: {reason}", Time(*at)),
        Fate::InFlight(at) => format!("still in flight when the run ended (due at {})", Time(*at)),
    };
    let _ = write!(
        svg,
        "<g><title>#{}{} {kind} {} → {}, sent at {}, {fate}\n{}</title>",
        m.serial,
        if m.duplicate { " (a duplicate)" } else { "" },
        escape(name(m.from)),
        escape(name(m.to)),
        Time(m.sent_ns),
        escape(&m.text)
    );
    // A message to itself loops out to the right of its lane.
    let path = if m.from == m.to && !lost {
        format!(
            "M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}",
            x1 + 40.0,
            x2 + 40.0
        )
    } else {
        format!("M{x1:.1},{y1:.1} L{x2:.1},{y2:.1}")
    };
    if highlighted {
        let _ = write!(
            svg,
            r#"<path d="{path}" fill="none" stroke="{HALO}" stroke-width="8" stroke-linecap="round"/>"#
        );
    }
    let dash = if lost || matches!(m.fate, Fate::InFlight(_)) || m.duplicate {
        r#" stroke-dasharray="4 3""#
    } else {
        ""
    };
    let width = if highlighted { 2.2 } else { 1.2 };
    let _ = write!(
        svg,
        r#"<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>"#
    );
    if lost {
        svg.push_str(&cross(x2, y2, &hex(DOWN), 2.0));
    } else if m.from != m.to {
        svg.push_str(&arrowhead(x1, y1, x2, y2, &colour));
    }
    // The kind, a third of the way along: nearer the sender, so fan-outs stay apart; a
    // message lost as it was sent is labelled past its cross, as its stubs overlap.
    let (lx, ly) = if matches!(m.fate, Fate::DroppedAtSend(_)) {
        (x2 + (x2 - x1).signum() * 22.0, y2 + 3.0)
    } else {
        (x1 + (x2 - x1) / 3.0, y1 + (y2 - y1) / 3.0 - 2.0)
    };
    let weight = if highlighted {
        r#" font-weight="bold""#
    } else {
        ""
    };
    let _ = writeln!(
        svg,
        r#"<text x="{lx:.1}" y="{ly:.1}" font-size="9" fill="{colour}" text-anchor="middle" {OUTLINE}{weight}>{}</text></g>"#,
        escape(kind)
    );
}

fn mark_svg(svg: &mut String, at: u64, mark: &Mark, t: &Trace, y: f64, x: impl Fn(usize) -> f64) {
    let name = |lane: usize| t.names.get(lane).map_or("?", String::as_str);
    let red = hex(DOWN);
    match mark {
        Mark::Crash(lane) => {
            let _ = writeln!(
                svg,
                r#"<g><title>{} crashes at {}</title>{}<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="{red}">crash</text></g>"#,
                escape(name(*lane)),
                Time(at),
                cross(x(*lane), y, &red, 3.0),
                x(*lane) + 10.0,
                y + 4.0
            );
        }
        Mark::Restart(lane) => {
            let _ = writeln!(
                svg,
                r##"<g><title>{} restarts at {} from its synced disk</title><line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#2ca02c" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#2ca02c">restart</text></g>"##,
                escape(name(*lane)),
                Time(at),
                x(*lane) - 8.0,
                x(*lane) + 8.0,
                x(*lane) + 10.0,
                y + 4.0
            );
        }
        Mark::Fault(f) => {
            let (lane, label) = if f.starts_with("ClockJump") {
                let by = number_after(f, "by_ns: ").unwrap_or(0);
                (
                    node_of(f),
                    format!(
                        "clock {}{}",
                        if by >= 0 { "+" } else { "" },
                        sim::time::format_signed_nanos(by)
                    ),
                )
            } else if f.starts_with("ClockDrift") {
                let ppm = number_after(f, "ppm: ").unwrap_or(0);
                (node_of(f), format!("clock drift {ppm:+}ppm"))
            } else if f.starts_with("Loss") || f.starts_with("Duplicate") {
                (None, f.clone())
            } else {
                return; // crashes, restarts, partitions and heals are drawn as such
            };
            let title = escape(&format!("{} at {}", with_names(f, &t.names), Time(at)));
            match lane.filter(|&l| l < t.names.len()) {
                Some(l) => {
                    let _ = writeln!(
                        svg,
                        r##"<g><title>{title}</title>{}<text x="{:.1}" y="{:.1}" font-size="10" font-weight="bold" fill="#6b6c00" {OUTLINE}>{}</text></g>"##,
                        diamond(x(l), y),
                        x(l) + 9.0,
                        y + 4.0,
                        escape(&label)
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r##"<g><title>{title}</title><text x="{:.1}" y="{:.1}" font-size="10" fill="#444">{}</text></g>"##,
                        LEFT + 4.0,
                        y - 3.0,
                        escape(&label)
                    );
                }
            }
        }
    }
}

/// Rows of the compressed time axis: `ys[i]` is where `times[i]` is drawn.
struct Axis {
    times: Vec<u64>,
    ys: Vec<f64>,
}

impl Axis {
    fn new(mut times: Vec<u64>, top: f64) -> Axis {
        times.sort_unstable();
        times.dedup();
        let mut ys = Vec::with_capacity(times.len());
        let mut y = top;
        for (i, &t) in times.iter().enumerate() {
            if i > 0 {
                let gap_ms = (t - times[i - 1]) as f64 / 1e6;
                y += ROW + PER_LOG_MS * gap_ms.ln_1p();
            }
            ys.push(y);
        }
        Axis { times, ys }
    }

    fn bottom(&self) -> f64 {
        self.ys.last().copied().unwrap_or(0.0) + 20.0
    }

    /// Where `t` is drawn: between the rows around it, in proportion.
    fn y(&self, t: u64) -> f64 {
        let i = self.times.partition_point(|&x| x < t);
        match (i.checked_sub(1), self.times.get(i)) {
            (_, Some(&x)) if x == t => self.ys[i],
            (Some(p), Some(&next)) => {
                let prev = self.times[p];
                let f = (t - prev) as f64 / (next - prev) as f64;
                self.ys[p] + f * (self.ys[i] - self.ys[p])
            }
            (Some(p), None) => self.ys[p],
            (None, _) => self.ys.first().copied().unwrap_or(0.0),
        }
    }
}

fn kind_colour(kind: usize) -> RGBColor {
    SERIES[kind % SERIES.len()]
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn arrowhead(x1: f64, y1: f64, x2: f64, y2: f64, colour: &str) -> String {
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len = dx.hypot(dy);
    if len < 1.0 {
        return String::new();
    }
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (x2 - 8.0 * ux, y2 - 8.0 * uy);
    format!(
        r#"<polygon points="{x2:.1},{y2:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
        bx - 3.5 * uy,
        by + 3.5 * ux,
        bx + 3.5 * uy,
        by - 3.5 * ux
    )
}

fn cross(x: f64, y: f64, colour: &str, width: f64) -> String {
    format!(
        r#"<path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="{colour}" stroke-width="{width}"/>"#,
        x - 4.0,
        y - 4.0,
        x + 4.0,
        y + 4.0,
        x - 4.0,
        y + 4.0,
        x + 4.0,
        y - 4.0
    )
}

fn diamond(x: f64, y: f64) -> String {
    format!(
        r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{}"/>"#,
        y - 6.0,
        x + 6.0,
        y + 6.0,
        x - 6.0,
        hex(CLOCK)
    )
}

/// The node a fault's `Debug` text names (`NodeId(2)`).
fn node_of(fault: &str) -> Option<usize> {
    let rest = &fault[fault.find("NodeId(")? + "NodeId(".len()..];
    rest[..rest.find(')')?].parse().ok()
}

/// The integer after `key` in a fault's `Debug` text (`by_ns: -5000000`).
fn number_after(fault: &str, key: &str) -> Option<i64> {
    let rest = &fault[fault.find(key)? + key.len()..];
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

/// A fault's `Debug` text with every `NodeId(i)` replaced by the node's name.
fn with_names(fault: &str, names: &[String]) -> String {
    let mut out = String::with_capacity(fault.len());
    let mut rest = fault;
    while let Some(i) = rest.find("NodeId(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "NodeId(".len()..];
        let named = after.find(')').and_then(|end| {
            let id: usize = after[..end].parse().ok()?;
            Some((names.get(id)?, end))
        });
        match named {
            Some((name, end)) => {
                out.push_str(name);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("NodeId(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `text` made safe inside an XML element or attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newline are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_texts_are_read_and_named() {
        let names = ["coordinator".to_string(), "db1".into(), "db2".into()];
        let jump = "ClockJump { node: NodeId(2), by_ns: -5000000 }";
        assert_eq!(node_of(jump), Some(2));
        assert_eq!(number_after(jump, "by_ns: "), Some(-5_000_000));
        assert_eq!(
            with_names(
                "Partition { groups: [[NodeId(0)], [NodeId(1), NodeId(9)]] }",
                &names
            ),
            "Partition { groups: [[coordinator], [db1, NodeId(9)]] }"
        );
        assert_eq!(with_names("NodeId(", &names), "NodeId(");
    }

    #[test]
    fn the_axis_keeps_order_and_compresses_gaps() {
        let axis = Axis::new(vec![5_000_000_000, 0, 1_000, 2_000], 100.0);
        assert_eq!(axis.y(0), 100.0);
        assert!(axis.y(1_000) < axis.y(1_500) && axis.y(1_500) < axis.y(2_000));
        let burst = axis.y(2_000) - axis.y(0);
        let idle = axis.y(5_000_000_000) - axis.y(2_000);
        assert!(
            idle < 10.0 * burst,
            "5 s idle drawn {idle} px, 2 µs {burst} px"
        );
        assert_eq!(axis.y(u64::MAX), axis.y(5_000_000_000));
        assert_eq!(Axis::new(Vec::new(), 10.0).y(7), 0.0);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape("\u{1}"), "\u{FFFD}");
    }
}
