//! Run metrics: HDR histograms of durations and plain counters, named with their unit last
//! (`transfer_latency_ms`, `aborts`).
//!
//! Names are `&'static str` and the registry is a short vector searched linearly: recording a
//! sample allocates nothing once the metric exists (unless samples are kept for charts).

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// The most samples a distribution keeps for charts (16 MiB each): the histogram takes every
/// sample; the chart shows the first `MAX_KEPT_SAMPLES`, and [`Metrics::samples_dropped`]
/// says how many it does not.
pub const MAX_KEPT_SAMPLES: usize = 1 << 20;

/// A distribution of durations, recorded in nanoseconds, reported in milliseconds (its name
/// ends in `_ms`).
#[derive(Debug)]
struct Series {
    name: &'static str,
    hist: Histogram<u64>,
    /// (true time, value) of every sample, when samples are kept (for charts), up to
    /// `MAX_KEPT_SAMPLES`.
    samples: Vec<(u64, u64)>,
    /// Samples not kept past that limit.
    dropped: u64,
}

/// All metrics of one run.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Vec<Series>,
    counters: Vec<(&'static str, u64)>,
    /// True time of the event being handled, kept current by the kernel; stamps samples.
    pub(crate) now: u64,
    /// Keep every distribution sample with its time, not only the histogram. Off by default:
    /// it grows with the run, which a sweep of thousands of seeds does not need.
    keep_samples: bool,
}

/// A metric name made at build time (one per region: `"mumbai.write_latency_ms"`), as the
/// `&'static str` metrics are keyed by. Each distinct name is leaked once for the life of
/// the process, so a sweep of any number of runs holds one copy of each; call it when a
/// model is built, never per event (it takes a lock).
pub fn intern(name: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, PoisonError};
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// p50 / p99 / max of one distribution, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Metrics {
    /// Metrics that also keep every sample with its time (see [`Metrics::samples`]).
    pub fn keeping_samples() -> Metrics {
        Metrics {
            keep_samples: true,
            ..Metrics::default()
        }
    }

    /// Every sample of a distribution as (true time, value), both in nanoseconds, oldest first;
    /// empty unless samples are kept.
    pub fn samples(&self, name: &str) -> &[(u64, u64)] {
        self.series
            .iter()
            .find(|s| s.name == name)
            .map_or(&[], |s| &s.samples)
    }

    /// How many samples of a distribution were recorded but not kept (past
    /// [`MAX_KEPT_SAMPLES`]).
    pub fn samples_dropped(&self, name: &str) -> u64 {
        self.series
            .iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.dropped)
    }

    /// Names of the distributions, in declaration order.
    pub fn distribution_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.series.iter().map(|s| s.name)
    }

    /// Makes a distribution exist (so it is reported, empty, even with no samples).
    pub fn declare(&mut self, name: &'static str) {
        self.series_mut(name);
    }

    /// Makes a counter exist at zero.
    pub fn declare_counter(&mut self, name: &'static str) {
        self.counter_mut(name);
    }

    /// Records a duration sample, in nanoseconds.
    pub fn record_nanos(&mut self, name: &'static str, ns: u64) {
        self.record_nanos_at(name, self.now, ns);
    }

    /// Records a duration sample of something that happened at true time `at` (ns): a
    /// model judging its history at the end puts each sample where it belongs on the
    /// timeline.
    pub fn record_nanos_at(&mut self, name: &'static str, at: u64, ns: u64) {
        let (now, keep) = (at, self.keep_samples);
        let s = self.series_mut(name);
        // Recording fails only past u64::MAX / 2 ns, far beyond any simulated duration.
        if s.hist.record(ns).is_err() {
            s.hist.saturating_record(ns);
        }
        if keep {
            if s.samples.len() < MAX_KEPT_SAMPLES {
                s.samples.push((now, ns));
            } else {
                s.dropped += 1;
            }
        }
    }

    /// Adds to a counter.
    pub fn add(&mut self, name: &'static str, n: u64) {
        *self.counter_mut(name) += n;
    }

    /// Raises a counter to `n` if it is lower: a high-water mark.
    pub fn raise(&mut self, name: &'static str, n: u64) {
        let c = self.counter_mut(name);
        *c = (*c).max(n);
    }

    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    pub fn summary(&self, name: &str) -> Option<Summary> {
        let h = &self.series.iter().find(|s| s.name == name)?.hist;
        let ms = |ns: u64| if h.is_empty() { 0.0 } else { ns as f64 * 1e-6 };
        Some(Summary {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        })
    }

    /// The `metrics` object of the `--json` contract: distributions as
    /// `{"p50","p99","max","count"}`, counters as integers.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for s in &self.series {
            let sum = self.summary(s.name).expect("the series exists");
            m.insert(s.name.to_string(), json!({"p50": round3(sum.p50), "p99": round3(sum.p99), "max": round3(sum.max), "count": sum.count}));
        }
        for (name, v) in &self.counters {
            m.insert(name.to_string(), json!(v));
        }
        Value::Object(m)
    }

    fn series_mut(&mut self, name: &'static str) -> &mut Series {
        let i = match self.series.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                // Auto-resizing: memory grows with the largest value seen, not a fixed range.
                let hist = Histogram::new(3).expect("3 significant figures is valid");
                self.series.push(Series {
                    name,
                    hist,
                    samples: Vec::new(),
                    dropped: 0,
                });
                self.series.len() - 1
            }
        };
        &mut self.series[i]
    }

    fn counter_mut(&mut self, name: &'static str) -> &mut u64 {
        let i = match self.counters.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.counters.push((name, 0));
                self.counters.len() - 1
            }
        };
        &mut self.counters[i].1
    }
}

/// Rounds to 3 decimals so JSON output stays readable and stable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_in_milliseconds() {
        let mut m = Metrics::default();
        for ms in 1..=100 {
            m.record_nanos("latency_ms", ms * 1_000_000);
        }
        m.add("aborts", 2);
        let s = m.summary("latency_ms").unwrap();
        assert_eq!(s.count, 100);
        assert!(
            (s.p50 - 50.0).abs() < 0.1 && (s.max - 100.0).abs() < 0.1,
            "{s:?}"
        );
        assert_eq!(m.to_json()["aborts"], 2);
    }

    #[test]
    fn kept_samples_are_bounded() {
        let mut m = Metrics::keeping_samples();
        for i in 0..MAX_KEPT_SAMPLES as u64 + 10 {
            m.record_nanos("latency_ms", i);
        }
        assert_eq!(m.samples("latency_ms").len(), MAX_KEPT_SAMPLES);
        assert_eq!(m.samples_dropped("latency_ms"), 10);
        assert_eq!(
            m.summary("latency_ms").unwrap().count,
            MAX_KEPT_SAMPLES as u64 + 10
        );
    }
}
