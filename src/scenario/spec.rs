//! The scenario file's shape, as serde types. Values are validated as they are read
//! (probabilities, latencies, drifts, durations), so a bad value's error carries its span.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use sim::clock::Clock;
use sim::dist::Dist;
use sim::invariant::Status;
use sim::net::{InFlight, ToRestarted};
use sim::time::{parse_duration, parse_signed_duration};
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// Ten seconds of quiet after the workload, unless the file says otherwise: long enough for
/// retries and recoveries to finish, so that quiescence checks can judge.
fn default_settle() -> Dur {
    Dur(Duration::from_secs(10))
}

/// The scenario-wide part of a file, with the model's parameters as `P`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File<P> {
    pub(super) name: String,
    pub(super) seed: u64,
    pub(super) duration: Dur,
    #[serde(default = "default_settle")]
    pub(super) settle: Dur,
    #[serde(default)]
    pub(super) description: Option<String>,
    pub(super) model: P,
    pub(super) nodes: Vec<Spanned<NodeSpec>>,
    #[serde(default)]
    pub(super) network: NetworkSpec,
    #[serde(default)]
    pub(super) faults: Vec<Spanned<FaultSpec>>,
    #[serde(default)]
    pub(super) nemesis: Option<Spanned<NemesisSpec>>,
    #[serde(default)]
    pub(super) expect: BTreeMap<String, Spanned<Status>>,
    #[serde(default)]
    pub(super) limits: LimitsSpec,
}

/// First pass: just enough to pick the model.
#[derive(Deserialize)]
pub(super) struct Head {
    pub(super) model: Spanned<ModelHead>,
}

#[derive(Deserialize)]
pub(super) struct ModelHead {
    pub(super) kind: Option<String>,
}

/// Reads a `T` and turns it into a `U` with `check`, whose error becomes a deserialization
/// error: so a bad value is reported at its own span, with its line and field.
fn checked<'de, D, T, U>(d: D, check: impl FnOnce(T) -> Result<U, String>) -> Result<U, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    check(T::deserialize(d)?).map_err(de::Error::custom)
}

/// A duration written as a string: `"250ms"`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Dur(pub(super) Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        checked(d, |s: String| parse_duration(&s).map(Dur))
    }
}

/// A signed duration: `"-5ms"`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct SignedDur(pub(super) i64);

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SignedDur, D::Error> {
        checked(d, |s: String| parse_signed_duration(&s).map(SignedDur))
    }
}

/// A probability: a number within [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Prob(pub(super) f64);

impl<'de> Deserialize<'de> for Prob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Prob, D::Error> {
        checked(d, |p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(Prob(p))
            } else {
                Err(format!("a probability must be within [0, 1], got {p}"))
            }
        })
    }
}

/// A clock drift in parts per million, within the kernel's bound.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Ppm(pub(super) i64);

impl<'de> Deserialize<'de> for Ppm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ppm, D::Error> {
        checked(d, |ppm: i64| {
            if ppm.abs() <= Clock::MAX_DRIFT_PPM {
                Ok(Ppm(ppm))
            } else {
                Err(format!(
                    "a clock drift must be within ±{} ppm, got {ppm}",
                    Clock::MAX_DRIFT_PPM
                ))
            }
        })
    }
}

/// A latency distribution that can never draw zero or less.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Latency(pub(super) Dist);

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Latency, D::Error> {
        checked(d, |dist: Dist| {
            if dist.is_positive() {
                Ok(Latency(dist))
            } else {
                Err(format!("a latency must be positive, got `{dist}`"))
            }
        })
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency(Dist::Constant(1_000_000))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeSpec {
    pub(super) name: String,
    pub(super) region: String,
    #[serde(default)]
    pub(super) role: String,
    /// Expands to `name1 .. nameN`.
    pub(super) count: Option<u32>,
    #[serde(default)]
    pub(super) clock: ClockSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockSpec {
    #[serde(default)]
    pub(super) offset: SignedDur,
    #[serde(default)]
    pub(super) drift_ppm: Ppm,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct NetworkSpec {
    pub(super) latency: Latency,
    pub(super) loss: Prob,
    pub(super) duplicate: Prob,
    pub(super) fifo: bool,
    pub(super) in_flight: InFlight,
    pub(super) to_restarted: ToRestarted,
    pub(super) links: Vec<Spanned<LinkSpec>>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: Latency::default(),
            loss: Prob(0.0),
            duplicate: Prob(0.0),
            fifo: false,
            in_flight: InFlight::Drop,
            to_restarted: ToRestarted::Drop,
            links: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkSpec {
    /// Exactly two regions (checked by the resolver, which names the entry's line).
    pub(super) between: Vec<String>,
    pub(super) latency: Option<Latency>,
    pub(super) loss: Option<Prob>,
    pub(super) duplicate: Option<Prob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultSpec {
    pub(super) at: Option<Dur>,
    pub(super) when: Option<TriggerSpec>,
    pub(super) crash: Option<String>,
    pub(super) restart_after: Option<Dur>,
    pub(super) restart: Option<String>,
    pub(super) partition: Option<Vec<Vec<String>>>,
    pub(super) partition_one_way: Option<OneWaySpec>,
    pub(super) heal_after: Option<Dur>,
    pub(super) heal: Option<bool>,
    pub(super) clock_jump: Option<ClockJumpSpec>,
    pub(super) clock_drift: Option<ClockDriftSpec>,
    pub(super) loss: Option<Prob>,
    pub(super) duplicate: Option<Prob>,
    pub(super) to_restarted: Option<ToRestarted>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerSpec {
    pub(super) node: String,
    pub(super) sends: Option<String>,
    pub(super) receives: Option<String>,
    #[serde(default = "one")]
    pub(super) count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OneWaySpec {
    pub(super) from: Vec<String>,
    pub(super) to: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockJumpSpec {
    pub(super) node: String,
    pub(super) by: SignedDur,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockDriftSpec {
    pub(super) node: String,
    pub(super) ppm: Ppm,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NemesisSpec {
    /// `None`: every node. An explicit empty list is an error, not "every node".
    pub(super) targets: Option<Vec<String>>,
    pub(super) crash_every: Option<Latency>,
    pub(super) restart_after: Option<Dist>,
    pub(super) partition_every: Option<Latency>,
    pub(super) heal_after: Option<Dist>,
    pub(super) clock_jump_every: Option<Latency>,
    pub(super) clock_jump: Option<Dist>,
    #[serde(default)]
    pub(super) swarm: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct LimitsSpec {
    pub(super) max_events: u64,
    /// Wall-clock time a run may take before it stops as `unknown`.
    pub(super) max_wall_time: Dur,
    /// Client-history events a run may record before it stops as `unknown`.
    pub(super) max_history_events: u64,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec {
            max_events: 50_000_000,
            max_wall_time: Dur(Duration::from_secs(600)),
            max_history_events: sim::sim::MAX_HISTORY_EVENTS as u64,
        }
    }
}
