//! Run metrics, named with their unit last: HDR histograms of durations
//! (`transfer_latency_ms`), plain counters (`aborts`), and fractions by label
//! (`p_fresh_after_ms`: for each label, how many trials hit — a probability per label).
//!
//! Names and labels are `&'static str` and each registry is a short vector searched linearly:
//! recording a sample allocates nothing once the metric (and the fraction's label) exists
//! (unless samples are kept for charts).

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

/// A named set of fractions: per label, hits out of trials (`p_fresh_after_ms`, label `"5"`:
/// of the reads started 5 ms after a write's acknowledgement, how many saw it).
#[derive(Debug)]
struct Fractions {
    name: &'static str,
    /// (label, hits, trials), in the order the labels were first declared or recorded.
    labels: Vec<(&'static str, u64, u64)>,
}

/// All metrics of one run.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Vec<Series>,
    counters: Vec<(&'static str, u64)>,
    fractions: Vec<Fractions>,
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

    /// Makes a set of fractions exist with these labels, in this order (reported even before
    /// any trial; a label with no trial reports `null`).
    pub fn declare_fractions(&mut self, name: &'static str, labels: &[&'static str]) {
        for &label in labels {
            self.fraction_mut(name, label);
        }
    }

    /// Records one trial of fraction `name` under `label`: a hit or a miss.
    pub fn record_fraction(&mut self, name: &'static str, label: &'static str, hit: bool) {
        let f = self.fraction_mut(name, label);
        f.1 += u64::from(hit);
        f.2 += 1;
    }

    /// (hits, trials) of fraction `name` under `label`.
    pub fn fraction(&self, name: &str, label: &str) -> Option<(u64, u64)> {
        let f = self.fractions.iter().find(|f| f.name == name)?;
        f.labels
            .iter()
            .find(|l| l.0 == label)
            .map(|&(_, hits, trials)| (hits, trials))
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
    /// `{"p50","p99","max","count"}`, counters as integers, fractions as an object from each
    /// label to its probability (hits / trials, [`round_fraction`]; `null` with no trial). JSON
    /// objects here keep their keys sorted as text ("10" before "5"), so a reader that wants
    /// numeric labels in order sorts them (the human summary does).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for s in &self.series {
            let sum = self.summary(s.name).expect("the series exists");
            m.insert(s.name.to_string(), json!({"p50": round3(sum.p50), "p99": round3(sum.p99), "max": round3(sum.max), "count": sum.count}));
        }
        for (name, v) in &self.counters {
            m.insert(name.to_string(), json!(v));
        }
        for f in &self.fractions {
            let labels: Map<String, Value> = f
                .labels
                .iter()
                .map(|&(label, hits, trials)| {
                    (label.to_string(), json!(round_fraction(hits, trials)))
                })
                .collect();
            m.insert(f.name.to_string(), Value::Object(labels));
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

    fn fraction_mut(
        &mut self,
        name: &'static str,
        label: &'static str,
    ) -> &mut (&'static str, u64, u64) {
        let i = match self.fractions.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.fractions.push(Fractions {
                    name,
                    labels: Vec::new(),
                });
                self.fractions.len() - 1
            }
        };
        let labels = &mut self.fractions[i].labels;
        let j = match labels.iter().position(|l| l.0 == label) {
            Some(j) => j,
            None => {
                labels.push((label, 0, 0));
                labels.len() - 1
            }
        };
        &mut labels[j]
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

/// `hits / trials` rounded to 4 decimals, but never to 1 while a trial missed nor to 0 while
/// one hit (0.99996 is reported 0.9999, not 1: "every read was fresh" must be exact); `None`
/// with no trial.
pub fn round_fraction(hits: u64, trials: u64) -> Option<f64> {
    if trials == 0 {
        return None;
    }
    let p = ((hits as f64 / trials as f64) * 10_000.0).round() / 10_000.0;
    Some(if hits < trials { p.min(0.9999) } else { p }.max(if hits > 0 { 0.0001 } else { 0.0 }))
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
    fn fractions_by_label_in_declaration_order() {
        let mut m = Metrics::default();
        m.declare_fractions("p_fresh_after_ms", &["0", "5", "10"]);
        m.record_fraction("p_fresh_after_ms", "5", true);
        m.record_fraction("p_fresh_after_ms", "5", false);
        m.record_fraction("p_fresh_after_ms", "0", true);
        for _ in 0..99_999 {
            m.record_fraction("p_fresh_after_ms", "10", true);
        }
        m.record_fraction("p_fresh_after_ms", "10", false);
        assert_eq!(m.fraction("p_fresh_after_ms", "5"), Some((1, 2)));
        assert_eq!(m.fraction("p_fresh_after_ms", "7"), None);
        let j = m.to_json();
        let f = j["p_fresh_after_ms"].as_object().unwrap();
        // A JSON object's keys are sorted as text: readers order numeric labels themselves.
        assert_eq!(f.keys().collect::<Vec<_>>(), ["0", "10", "5"]);
        assert_eq!(f["0"], 1.0);
        assert_eq!(f["5"], 0.5);
        // One miss in 100,000 is not "every time".
        assert_eq!(f["10"], 0.9999);
        assert_eq!(round_fraction(0, 0), None);
        assert_eq!(round_fraction(1, 100_000), Some(0.0001));
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
