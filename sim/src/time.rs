//! Simulated time: integer nanoseconds since the start of the run. Never floats.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// An instant of true simulated time, in nanoseconds since the run started. Nodes never see
/// it; they read their own skewed [`crate::clock::Clock`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(u64::MAX);

    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier` (saturating: never negative).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(nanos(d)))
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, rhs: Time) -> Duration {
        self.since(rhs)
    }
}

impl fmt::Display for Time {
    /// For people: rounded to three decimals of the largest fitting unit (`5.031s`).
    /// [`format_nanos`] is the exact form, for files that must parse back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us")];
        let ns = self.0;
        match UNITS.iter().find(|(scale, _)| ns >= *scale) {
            Some((scale, unit)) => {
                let text = format!("{:.3}", ns as f64 / *scale as f64);
                write!(
                    f,
                    "{}{unit}",
                    text.trim_end_matches('0').trim_end_matches('.')
                )
            }
            None => write!(f, "{ns}ns"),
        }
    }
}

/// A duration as whole nanoseconds, saturating at `u64::MAX` (584 years of simulated time).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats nanoseconds the way a person reads them — `1.5s`, `250ms`, `40us`, `7ns` — and
/// exactly: the text parses back to the same nanoseconds (a printed fault schedule must replay
/// the same run), so a value that needs more than three decimals drops to a smaller unit.
pub fn format_nanos(ns: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (scale, unit) in UNITS {
        let thousandth = (scale / 1000).max(1);
        if (ns >= scale || scale == 1) && ns.is_multiple_of(thousandth) {
            let (whole, frac) = (ns / scale, ns % scale / thousandth);
            if frac == 0 || scale == 1 {
                return format!("{whole}{unit}");
            }
            let decimals = format!("{frac:03}");
            return format!("{whole}.{}{unit}", decimals.trim_end_matches('0'));
        }
    }
    unreachable!("the last unit has scale 1 and divides everything")
}

/// Parses a duration written like `250ms`, `1.5s`, `2m 30s` or `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_duration_in(text.trim(), text)
}

/// [`parse_duration`] of `t`, a part of `text`: errors quote the whole `text` as written
/// (a signed duration's minus sign included).
fn parse_duration_in(t: &str, text: &str) -> Result<Duration, String> {
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    // humantime rejects fractions ("1.5s"); accept a single fractional number with a unit.
    let d = match parse_fractional(t) {
        Some(d) => d,
        None => humantime::parse_duration(t).map_err(|e| {
            format!("invalid duration `{text}`: {e} (write e.g. \"250ms\", \"1.5s\", \"2m\")")
        })?,
    };
    if d > MAX_DURATION {
        let days = MAX_DURATION.as_secs() / 86_400;
        return Err(format!(
            "duration `{text}` is too large (at most {days} days)"
        ));
    }
    Ok(d)
}

/// The longest duration a scenario may write: far beyond any useful run, far below overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(1000 * 86_400);

fn parse_fractional(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    if !num.contains('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    Some(Duration::from_nanos((value * scale).round() as u64))
}

/// Parses a signed duration: an optional leading `-` then [`parse_duration`]. Nanoseconds.
pub fn parse_signed_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let d = parse_duration_in(rest, text)?;
    let n = i64::try_from(nanos(d)).map_err(|_| format!("duration `{text}` is too large"))?;
    Ok(sign * n)
}

/// Formats signed nanoseconds like [`format_nanos`], with a leading `-` when negative.
pub fn format_signed_nanos(ns: i64) -> String {
    if ns < 0 {
        format!("-{}", format_nanos(ns.unsigned_abs()))
    } else {
        format_nanos(ns as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_durations() {
        for (text, ns) in [
            ("250ms", 250_000_000),
            ("1.5s", 1_500_000_000),
            ("2m 30s", 150_000_000_000),
            ("0", 0),
            ("40us", 40_000),
        ] {
            assert_eq!(nanos(parse_duration(text).unwrap()), ns, "{text}");
        }
        assert_eq!(format_nanos(1_500_000_000), "1.5s");
        assert_eq!(format_nanos(250_000_000), "250ms");
        for ns in [
            1,
            999,
            1_000,
            1_500,
            1_234_567,
            1_234_567_891,
            60_000_000_000,
            5_000_000_001,
        ] {
            let text = format_nanos(ns);
            assert_eq!(
                nanos(parse_duration(&text).unwrap()),
                ns,
                "{ns} printed as {text}"
            );
        }
        assert_eq!(parse_signed_duration("-5ms").unwrap(), -5_000_000);
        assert_eq!(format_signed_nanos(-5_000_000), "-5ms");
        assert_eq!(Time(5_031_481_122).to_string(), "5.031s");
        assert_eq!(Time(7).to_string(), "7ns");
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("100000000000h").is_err());
        // An error quotes the text as written, its sign included.
        let e = parse_signed_duration("-1000000h").unwrap_err();
        assert!(e.starts_with("duration `-1000000h` is too large"), "{e}");
        let e = parse_signed_duration("-fast").unwrap_err();
        assert!(e.starts_with("invalid duration `-fast`"), "{e}");
    }
}
