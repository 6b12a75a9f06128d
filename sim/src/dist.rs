//! Probability distributions over durations, written the way a person reads them:
//! `"5ms"`, `"uniform(1ms, 5ms)"`, `"normal(20ms, 3ms)"`, `"lognormal(20ms, 0.3)"`,
//! `"exponential(5ms)"`, `"pareto(1ms, 1.5)"`. Arguments may be named
//! (`"normal(mean=20ms, sd=3ms)"`). Draws are whole nanoseconds, never negative, and never
//! above [`MAX_DRAW_NS`] (1000 days, the longest duration a scenario may write): a heavy tail
//! such as `lognormal(1s, 30)` would otherwise draw infinities that wrap simulated time.

use crate::rng::Rng;
use crate::time::{format_nanos, nanos, parse_duration, MAX_DURATION};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A distribution of durations, in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Always the same value.
    Constant(u64),
    /// Uniform in [lo, hi].
    Uniform { lo: u64, hi: u64 },
    /// Normal with mean and standard deviation; negative draws are clamped to 0.
    Normal { mean: u64, sd: u64 },
    /// Log-normal with the given median and shape `sigma` (the sd of the underlying normal):
    /// the usual shape of network round trips.
    LogNormal { median: u64, sigma: f64 },
    /// Exponential with the given mean: memoryless waits, Poisson arrivals.
    Exponential { mean: u64 },
    /// Pareto with scale (minimum) and shape `alpha`: a heavy tail. alpha <= 2 has infinite
    /// variance; draws are capped at one hour so a single draw cannot end the run.
    Pareto { min: u64, alpha: f64 },
}

const PARETO_CAP_NS: f64 = 3600e9;

/// The largest value any draw takes (1000 days, [`MAX_DURATION`]). A draw above it — the far
/// tail of `lognormal(45ms, 1000)`, whose raw value is often infinite — is capped to it: a
/// message that takes 1000 days never arrives within any run (durations are at most 1000
/// days too), which is what such a tail means in practice, and simulated time (u64 ns, 584
/// years) can add two of them without overflowing. Pareto keeps its tighter one-hour cap.
pub const MAX_DRAW_NS: u64 = MAX_DURATION.as_secs() * 1_000_000_000;

/// A real-valued draw as whole nanoseconds within `0 ..= MAX_DRAW_NS`. NaN (`0 × ∞`) is 0.
fn capped(x: f64) -> u64 {
    if x.is_nan() {
        return 0;
    }
    x.clamp(0.0, MAX_DRAW_NS as f64).round() as u64
}

impl Dist {
    /// One draw, in nanoseconds. A constant draws no randomness.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        match *self {
            // Parsed values are at most MAX_DURATION; a value built in code is capped too.
            Dist::Constant(v) => v.min(MAX_DRAW_NS),
            Dist::Uniform { lo, hi } => {
                let span = hi.saturating_sub(lo).saturating_add(1);
                lo.saturating_add(rng.below(span)).min(MAX_DRAW_NS)
            }
            Dist::Normal { mean, sd } => capped(mean as f64 + sd as f64 * rng.standard_normal()),
            Dist::LogNormal { median, sigma } => {
                capped(median as f64 * libm::exp(sigma * rng.standard_normal()))
            }
            Dist::Exponential { mean } => capped(rng.exponential(mean as f64)),
            Dist::Pareto { min, alpha } => {
                let u = 1.0 - rng.unit(); // (0, 1]
                capped((min as f64 / libm::pow(u, 1.0 / alpha)).min(PARETO_CAP_NS))
            }
        }
    }

    /// True when the distribution can never draw zero.
    pub fn is_positive(&self) -> bool {
        match *self {
            Dist::Constant(v) => v > 0,
            Dist::Uniform { lo, .. } => lo > 0,
            Dist::Normal { mean, .. } => mean > 0,
            Dist::LogNormal { median, .. } => median > 0,
            Dist::Exponential { mean } => mean > 0,
            Dist::Pareto { min, .. } => min > 0,
        }
    }
}

impl std::str::FromStr for Dist {
    type Err = String;

    fn from_str(text: &str) -> Result<Dist, String> {
        let t = text.trim();
        let Some(open) = t.find('(') else {
            return parse_duration(t)
                .map(|d| Dist::Constant(nanos(d)))
                .map_err(|e| format!("{e}; or a distribution such as \"uniform(1ms, 5ms)\""));
        };
        let name = t[..open].trim();
        let body = t[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("`{text}`: missing closing `)`"))?;
        // `(name, value)`: a name is optional, but when given it must be the parameter's.
        let named: Vec<(Option<&str>, &str)> = body
            .split(',')
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (Some(k.trim()), v.trim()),
                None => (None, a.trim()),
            })
            .collect();
        let args: Vec<&str> = named.iter().map(|(_, v)| *v).collect();
        // The parameters in order, each with the names it may be given by.
        let want = |params: &[&[&str]]| {
            if args.len() != params.len() {
                return Err(format!(
                    "`{text}`: {name} takes {} argument(s), got {}",
                    params.len(),
                    args.len()
                ));
            }
            for (i, ((given, _), names)) in named.iter().zip(params).enumerate() {
                if let Some(given) = given.filter(|g| !names.contains(g)) {
                    let order: Vec<&str> = params.iter().map(|p| p[0]).collect();
                    return Err(format!(
                        "`{text}`: argument {} of {name} is `{}`, not `{given}` (arguments go in this order, named or not: {name}({}))",
                        i + 1,
                        names[0],
                        order.join(", ")
                    ));
                }
            }
            Ok(())
        };
        let dur = |i: usize| {
            parse_duration(args[i])
                .map(nanos)
                .map_err(|e| format!("`{text}`: {e}"))
        };
        let num = |i: usize| {
            args[i]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("`{text}`: `{}` must be a positive number", args[i]))
        };
        let dist = match name {
            "constant" => {
                want(&[&["value"]])?;
                Dist::Constant(dur(0)?)
            }
            "uniform" => {
                want(&[&["low", "lo", "min"], &["high", "hi", "max"]])?;
                let (lo, hi) = (dur(0)?, dur(1)?);
                if lo > hi {
                    return Err(format!("`{text}`: the low end is above the high end"));
                }
                Dist::Uniform { lo, hi }
            }
            "normal" => {
                want(&[&["mean"], &["sd"]])?;
                Dist::Normal { mean: dur(0)?, sd: dur(1)? }
            }
            "lognormal" => {
                want(&[&["median"], &["sigma"]])?;
                Dist::LogNormal { median: dur(0)?, sigma: num(1)? }
            }
            "exponential" | "exp" => {
                want(&[&["mean"]])?;
                Dist::Exponential { mean: dur(0)? }
            }
            "pareto" => {
                want(&[&["min"], &["alpha"]])?;
                Dist::Pareto { min: dur(0)?, alpha: num(1)? }
            }
            other => {
                return Err(format!("`{text}`: unknown distribution `{other}` (constant, uniform, normal, lognormal, exponential, pareto)"))
            }
        };
        Ok(dist)
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |ns: u64| format_nanos(ns);
        match *self {
            Dist::Constant(v) => write!(f, "{}", d(v)),
            Dist::Uniform { lo, hi } => write!(f, "uniform({}, {})", d(lo), d(hi)),
            Dist::Normal { mean, sd } => write!(f, "normal({}, {})", d(mean), d(sd)),
            Dist::LogNormal { median, sigma } => write!(f, "lognormal({}, {sigma})", d(median)),
            Dist::Exponential { mean } => write!(f, "exponential({})", d(mean)),
            Dist::Pareto { min, alpha } => write!(f, "pareto({}, {alpha})", d(min)),
        }
    }
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Dist, D::Error> {
        let text = String::deserialize(de)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_shape_and_prints_it_back() {
        for text in [
            "5ms",
            "uniform(1ms, 5ms)",
            "normal(20ms, 3ms)",
            "lognormal(20ms, 0.3)",
            "exponential(5ms)",
            "pareto(1ms, 1.5)",
        ] {
            let d: Dist = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
        assert_eq!(
            "normal(mean=20ms, sd=3ms)".parse::<Dist>().unwrap(),
            Dist::Normal {
                mean: 20_000_000,
                sd: 3_000_000
            }
        );
        assert!("uniform(5ms, 1ms)".parse::<Dist>().is_err());
        assert!("gauss(1ms)".parse::<Dist>().is_err());
        // A name must be its parameter's: swapped or unknown names were once ignored.
        assert!("normal(sd=3ms, mean=20ms)".parse::<Dist>().is_err());
        assert!("normal(foo=1ms, bar=2ms)".parse::<Dist>().is_err());
        assert!("uniform(lo=1ms, hi=2ms)".parse::<Dist>().is_ok());
        assert!("pareto(1ms, -2)".parse::<Dist>().is_err());
    }

    #[test]
    fn samples_have_the_right_centre() {
        let mut rng = Rng::stream(3, "dist");
        for (text, centre) in [
            ("uniform(1ms, 3ms)", 2e6),
            ("normal(20ms, 2ms)", 20e6),
            ("exponential(5ms)", 5e6),
        ] {
            let d: Dist = text.parse().unwrap();
            let mean = (0..20_000).map(|_| d.sample(&mut rng) as f64).sum::<f64>() / 20_000.0;
            assert!((mean - centre).abs() < centre * 0.05, "{text}: mean {mean}");
        }
        let p: Dist = "pareto(1ms, 1.5)".parse().unwrap();
        assert!((0..1000).all(|_| p.sample(&mut rng) >= 1_000_000));
    }

    #[test]
    fn extreme_spreads_are_capped_not_infinite() {
        let mut rng = Rng::stream(4, "dist");
        for text in [
            "lognormal(1s, 30)",
            "lognormal(45ms, 1000)",
            "normal(1000d, 1000d)",
            "exponential(1000d)",
        ] {
            let d: Dist = text.parse().unwrap();
            let draws: Vec<u64> = (0..10_000).map(|_| d.sample(&mut rng)).collect();
            assert!(draws.iter().all(|&x| x <= MAX_DRAW_NS), "{text}");
            if text.starts_with("lognormal") {
                // The tail really reaches the cap, and the cap is what it draws there.
                assert!(draws.contains(&MAX_DRAW_NS), "{text}");
            }
        }
        // Two capped draws added to the longest run still fit simulated time.
        assert!(MAX_DRAW_NS.checked_mul(3).is_some());
    }
}
