//! Scenario files: TOML in, a runnable configuration out (the format is documented field by
//! field in `scenarios/README.md`).
//!
//! Every error names the file, the line and the field: unknown keys, wrong types, probabilities
//! outside [0, 1], non-positive latencies, nodes, regions or links named nowhere. Loading is
//! two passes over the text: the first reads only `model.kind` to pick the model, the second
//! deserializes the whole file with that model's parameter type, so the model's own fields get
//! the same precise errors as the kernel's.

use models::{NodeInfo, ParamError, Params};
use serde::de::{self, Deserializer};
use serde::Deserialize;
use sim::clock::Clock;
use sim::dist::Dist;
use sim::fault::{Direction, Fault, FaultSchedule, Nemesis, ScheduledFault, When};
use sim::invariant::Status;
use sim::net::{InFlight, LinkParams, Network};
use sim::time::{nanos, parse_duration, parse_signed_duration};
use sim::NodeId;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// A scenario error: file, line (when known), field (when known) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// The scenario-wide part of a file, with the model's parameters as `P`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File<P> {
    name: String,
    seed: u64,
    duration: Dur,
    #[serde(default)]
    settle: Dur,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the file; reports may show it later
    description: Option<String>,
    model: P,
    nodes: Vec<Spanned<NodeSpec>>,
    #[serde(default)]
    network: NetworkSpec,
    #[serde(default)]
    faults: Vec<Spanned<FaultSpec>>,
    #[serde(default)]
    nemesis: Option<Spanned<NemesisSpec>>,
    #[serde(default)]
    expect: BTreeMap<String, Spanned<Status>>,
    #[serde(default)]
    limits: LimitsSpec,
}

/// First pass: just enough to pick the model.
#[derive(Deserialize)]
struct Head {
    model: Spanned<ModelHead>,
}

#[derive(Deserialize)]
struct ModelHead {
    kind: Option<String>,
}

/// A duration written as a string: `"250ms"`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Dur(Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Dur).map_err(de::Error::custom)
    }
}

/// A signed duration: `"-5ms"`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct SignedDur(i64);

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SignedDur, D::Error> {
        let s = String::deserialize(d)?;
        parse_signed_duration(&s)
            .map(SignedDur)
            .map_err(de::Error::custom)
    }
}

/// A probability: a number within [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Prob(f64);

impl<'de> Deserialize<'de> for Prob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Prob, D::Error> {
        let p = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&p) {
            Ok(Prob(p))
        } else {
            Err(de::Error::custom(format!(
                "a probability must be within [0, 1], got {p}"
            )))
        }
    }
}

/// A clock drift in parts per million, within the kernel's bound.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Ppm(i64);

impl<'de> Deserialize<'de> for Ppm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ppm, D::Error> {
        let ppm = i64::deserialize(d)?;
        if ppm.abs() <= Clock::MAX_DRIFT_PPM {
            Ok(Ppm(ppm))
        } else {
            Err(de::Error::custom(format!(
                "a clock drift must be within ±{} ppm, got {ppm}",
                Clock::MAX_DRIFT_PPM
            )))
        }
    }
}

/// A latency distribution that can never draw zero or less.
#[derive(Clone, Debug, PartialEq)]
struct Latency(Dist);

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Latency, D::Error> {
        let dist = Dist::deserialize(d)?;
        if dist.is_positive() {
            Ok(Latency(dist))
        } else {
            Err(de::Error::custom(format!(
                "a latency must be positive, got `{dist}`"
            )))
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency(Dist::Constant(1_000_000))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSpec {
    name: String,
    region: String,
    #[serde(default)]
    role: String,
    /// Expands to `name1 .. nameN`.
    count: Option<u32>,
    #[serde(default)]
    clock: ClockSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClockSpec {
    #[serde(default)]
    offset: SignedDur,
    #[serde(default)]
    drift_ppm: Ppm,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct NetworkSpec {
    latency: Latency,
    loss: Prob,
    duplicate: Prob,
    fifo: bool,
    in_flight: InFlight,
    links: Vec<Spanned<LinkSpec>>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency: Latency::default(),
            loss: Prob(0.0),
            duplicate: Prob(0.0),
            fifo: false,
            in_flight: InFlight::Drop,
            links: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSpec {
    between: [String; 2],
    latency: Option<Latency>,
    loss: Option<Prob>,
    duplicate: Option<Prob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultSpec {
    at: Option<Dur>,
    when: Option<TriggerSpec>,
    crash: Option<String>,
    restart_after: Option<Dur>,
    restart: Option<String>,
    partition: Option<Vec<Vec<String>>>,
    partition_one_way: Option<OneWaySpec>,
    heal_after: Option<Dur>,
    heal: Option<bool>,
    clock_jump: Option<ClockJumpSpec>,
    clock_drift: Option<ClockDriftSpec>,
    loss: Option<Prob>,
    duplicate: Option<Prob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerSpec {
    node: String,
    sends: Option<String>,
    receives: Option<String>,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OneWaySpec {
    from: Vec<String>,
    to: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockJumpSpec {
    node: String,
    by: SignedDur,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockDriftSpec {
    node: String,
    ppm: Ppm,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NemesisSpec {
    #[serde(default)]
    targets: Vec<String>,
    crash_every: Option<Latency>,
    restart_after: Option<Dist>,
    partition_every: Option<Latency>,
    heal_after: Option<Dist>,
    clock_jump_every: Option<Latency>,
    clock_jump: Option<Dist>,
    #[serde(default)]
    swarm: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LimitsSpec {
    max_events: u64,
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec {
            max_events: 50_000_000,
        }
    }
}

/// What a loaded scenario needs to run any number of seeds: everything but the model.
#[derive(Clone)]
pub struct Common {
    pub path: String,
    pub name: String,
    pub seed: u64,
    pub duration: Duration,
    pub settle: Duration,
    pub nodes: Vec<NodeInfo>,
    pub clocks: Vec<Clock>,
    pub network: Network,
    pub schedule: FaultSchedule,
    pub nemesis: Nemesis,
    pub expect: BTreeMap<String, Status>,
    pub max_events: u64,
}

impl Common {
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The kernel configuration for one seed.
    pub fn sim_config(&self, seed: u64) -> sim::SimConfig {
        sim::SimConfig {
            seed,
            node_names: self.node_names(),
            network: self.network.clone(),
            clocks: self.clocks.clone(),
            schedule: self.schedule.clone(),
            nemesis: self.nemesis.clone(),
            duration: self.duration,
            settle: self.settle,
            max_events: self.max_events,
        }
    }
}

/// Reads `path`, applies `--set` overrides, and returns the model kind with the text to
/// deserialize.
pub fn read(
    path: &Path,
    overrides: &[(String, String)],
) -> Result<(String, String), ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    let text = apply_overrides(&file, &text, overrides)?;
    let head: Head = toml::from_str(&text).map_err(|e| toml_error(&file, &text, &e))?;
    let kind = head
        .model
        .get_ref()
        .kind
        .clone()
        .ok_or_else(|| ScenarioError {
            file: file.clone(),
            line: Some(line_of(&text, head.model.span().start)),
            field: Some("model.kind".into()),
            message: format!("missing; one of: {}", crate::registry::kinds().join(", ")),
        })?;
    Ok((kind, text))
}

/// Second pass: the whole file as model `P`.
pub fn parse<P: Params>(file: &str, text: &str) -> Result<(Common, P), ScenarioError> {
    let f: File<P> = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let err = |span: std::ops::Range<usize>, field: &str, message: String| ScenarioError {
        file: file.to_string(),
        line: Some(key_line(text, span, field)),
        field: Some(field.to_string()),
        message,
    };

    // Nodes, with `count` expanded, and regions in order of first appearance.
    let mut nodes = Vec::new();
    let mut clocks = Vec::new();
    let mut regions: Vec<String> = Vec::new();
    for spec in &f.nodes {
        let n = spec.get_ref();
        let names: Vec<String> = match n.count {
            None => vec![n.name.clone()],
            Some(0) => return Err(err(spec.span(), "nodes.count", "must be at least 1".into())),
            Some(c) => (1..=c).map(|i| format!("{}{i}", n.name)).collect(),
        };
        if !regions.contains(&n.region) {
            regions.push(n.region.clone());
        }
        for name in names {
            if nodes.iter().any(|x: &NodeInfo| x.name == name) {
                return Err(err(
                    spec.span(),
                    "nodes.name",
                    format!("node `{name}` is defined twice"),
                ));
            }
            nodes.push(NodeInfo {
                name,
                region: n.region.clone(),
                role: n.role.clone(),
            });
            clocks.push(Clock::new(n.clock.offset.0, n.clock.drift_ppm.0));
        }
    }
    if nodes.is_empty() {
        return Err(ScenarioError {
            file: file.into(),
            line: Some(find_key_line(text, "", "nodes")),
            field: Some("nodes".into()),
            message: "no [[nodes]]: a scenario needs at least one node".into(),
        });
    }
    let node_id =
        |name: &str, span: std::ops::Range<usize>, field: &str| -> Result<NodeId, ScenarioError> {
            nodes
                .iter()
                .position(|n| n.name == name)
                .map(|i| NodeId(i as u32))
                .ok_or_else(|| {
                    let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
                    err(
                        span,
                        field,
                        format!(
                            "names node `{name}`, which no [[nodes]] entry defines (nodes: {})",
                            known.join(", ")
                        ),
                    )
                })
        };

    // The network: a default link for every region pair, then the overrides.
    let net = &f.network;
    let default_link = LinkParams {
        latency: net.latency.0.clone(),
        loss: net.loss.0,
        duplicate: net.duplicate.0,
    };
    let r = regions.len();
    let mut links = vec![default_link; r * r];
    for spec in &net.links {
        let l = spec.get_ref();
        let mut idx = [0usize; 2];
        for (k, region) in l.between.iter().enumerate() {
            idx[k] = regions.iter().position(|x| x == region).ok_or_else(|| {
                err(
                    spec.span(),
                    "network.links.between",
                    format!(
                        "names region `{region}`, where no node lives (regions: {})",
                        regions.join(", ")
                    ),
                )
            })?;
        }
        for (a, b) in [(idx[0], idx[1]), (idx[1], idx[0])] {
            let link = &mut links[a * r + b];
            if let Some(lat) = &l.latency {
                link.latency = lat.0.clone();
            }
            if let Some(p) = l.loss {
                link.loss = p.0;
            }
            if let Some(p) = l.duplicate {
                link.duplicate = p.0;
            }
        }
    }
    let node_region = nodes
        .iter()
        .map(|n| {
            regions
                .iter()
                .position(|x| *x == n.region)
                .expect("collected above") as u32
        })
        .collect();
    let network = Network::new(node_region, r, links, net.fifo, net.in_flight);

    // Faults.
    let mut schedule = FaultSchedule::default();
    for spec in &f.faults {
        schedule
            .faults
            .push(resolve_fault(spec, &node_id, &err, f.duration.0)?);
    }
    let nemesis = match &f.nemesis {
        None => Nemesis::default(),
        Some(spec) => {
            let n = spec.get_ref();
            let targets = n
                .targets
                .iter()
                .map(|t| node_id(t, spec.span(), "nemesis.targets"))
                .collect::<Result<_, _>>()?;
            Nemesis {
                targets,
                crash_every: n.crash_every.as_ref().map(|l| l.0.clone()),
                restart_after: n.restart_after.clone(),
                partition_every: n.partition_every.as_ref().map(|l| l.0.clone()),
                heal_after: n.heal_after.clone(),
                clock_jump_every: n.clock_jump_every.as_ref().map(|l| l.0.clone()),
                clock_jump: n.clock_jump.clone(),
                swarm: n.swarm,
            }
        }
    };

    // Expectations must name invariants the model has.
    let spec = P::SPEC;
    let mut expect = BTreeMap::new();
    for (name, status) in &f.expect {
        if !spec.invariants.contains(&name.as_str()) && name != "run_completed" {
            return Err(err(
                status.span(),
                &format!("expect.{name}"),
                format!(
                    "`{}` has no invariant `{name}` (it checks: {})",
                    spec.kind,
                    spec.invariants.join(", ")
                ),
            ));
        }
        expect.insert(name.clone(), *status.get_ref());
    }
    if f.duration.0.is_zero() {
        return Err(ScenarioError {
            file: file.into(),
            line: Some(find_key_line(text, "", "duration")),
            field: Some("duration".into()),
            message: "must be positive".into(),
        });
    }
    if f.limits.max_events == 0 {
        return Err(ScenarioError {
            file: file.into(),
            line: Some(find_key_line(text, "limits", "max_events")),
            field: Some("limits.max_events".into()),
            message: "must be positive".into(),
        });
    }
    let common = Common {
        path: file.to_string(),
        name: f.name,
        seed: f.seed,
        duration: f.duration.0,
        settle: f.settle.0,
        nodes,
        clocks,
        network,
        schedule,
        nemesis,
        expect,
        max_events: f.limits.max_events,
    };
    Ok((common, f.model))
}

/// Turns a model's parameter error into a located scenario error.
pub fn param_error(file: &str, text: &str, e: ParamError) -> ScenarioError {
    let (table, key) = e.field.rsplit_once('.').unwrap_or(("", &e.field));
    let line = find_key_line(text, table, key);
    ScenarioError {
        file: file.into(),
        line: Some(line),
        field: Some(e.field),
        message: e.message,
    }
}

/// Resolves a node name written at a span of the file, for a field.
type NodeLookup<'a> =
    &'a dyn Fn(&str, std::ops::Range<usize>, &str) -> Result<NodeId, ScenarioError>;

fn resolve_fault(
    spec: &Spanned<FaultSpec>,
    node_id: NodeLookup<'_>,
    err: &dyn Fn(std::ops::Range<usize>, &str, String) -> ScenarioError,
    duration: Duration,
) -> Result<ScheduledFault, ScenarioError> {
    let s = spec.get_ref();
    let span = spec.span();
    let id = |name: &str, field: &str| node_id(name, span.clone(), field);
    let ids = |names: &[String], field: &str| {
        names
            .iter()
            .map(|n| id(n, field))
            .collect::<Result<Vec<_>, _>>()
    };
    let when = match (&s.at, &s.when) {
        (Some(at), None) => {
            if at.0 > duration {
                return Err(err(
                    span,
                    "faults.at",
                    format!(
                        "{} is after the end of the run ({})",
                        sim::time::format_nanos(nanos(at.0)),
                        sim::time::format_nanos(nanos(duration))
                    ),
                ));
            }
            When::At(nanos(at.0))
        }
        (None, Some(t)) => {
            let (direction, kind) = match (&t.sends, &t.receives) {
                (Some(k), None) => (Direction::Sends, k.clone()),
                (None, Some(k)) => (Direction::Receives, k.clone()),
                _ => {
                    return Err(err(
                        span,
                        "faults.when",
                        "give exactly one of `sends` or `receives`".into(),
                    ))
                }
            };
            if t.count == 0 {
                return Err(err(span, "faults.when.count", "must be at least 1".into()));
            }
            When::Message {
                node: id(&t.node, "faults.when.node")?,
                direction,
                kind,
                count: t.count,
            }
        }
        _ => {
            return Err(err(
                span,
                "faults",
                "give exactly one of `at` (a time) or `when` (a message trigger)".into(),
            ))
        }
    };
    let restart_after_ns = s.restart_after.map(|d| nanos(d.0));
    let heal_after_ns = s.heal_after.map(|d| nanos(d.0));
    let mut actions = Vec::new();
    if let Some(n) = &s.crash {
        actions.push(Fault::Crash {
            node: id(n, "faults.crash")?,
            restart_after_ns,
        });
    }
    if let Some(n) = &s.restart {
        actions.push(Fault::Restart {
            node: id(n, "faults.restart")?,
        });
    }
    if let Some(groups) = &s.partition {
        let groups = groups
            .iter()
            .map(|g| ids(g, "faults.partition"))
            .collect::<Result<Vec<_>, _>>()?;
        if groups.len() < 2 {
            return Err(err(
                span,
                "faults.partition",
                "needs at least two groups, e.g. [[\"a\"], [\"b\", \"c\"]]".into(),
            ));
        }
        actions.push(Fault::Partition {
            groups,
            heal_after_ns,
        });
    }
    if let Some(ow) = &s.partition_one_way {
        actions.push(Fault::PartitionOneWay {
            from: ids(&ow.from, "faults.partition_one_way.from")?,
            to: ids(&ow.to, "faults.partition_one_way.to")?,
            heal_after_ns,
        });
    }
    if s.heal == Some(true) {
        actions.push(Fault::Heal);
    }
    if let Some(j) = &s.clock_jump {
        actions.push(Fault::ClockJump {
            node: id(&j.node, "faults.clock_jump.node")?,
            by_ns: j.by.0,
        });
    }
    if let Some(d) = &s.clock_drift {
        actions.push(Fault::ClockDrift {
            node: id(&d.node, "faults.clock_drift.node")?,
            ppm: d.ppm.0,
        });
    }
    if let Some(p) = s.loss {
        actions.push(Fault::Loss { p: p.0 });
    }
    if let Some(p) = s.duplicate {
        actions.push(Fault::Duplicate { p: p.0 });
    }
    if s.restart_after.is_some() && s.crash.is_none() {
        return Err(err(
            span,
            "faults.restart_after",
            "only applies to a `crash`".into(),
        ));
    }
    if s.heal_after.is_some() && s.partition.is_none() && s.partition_one_way.is_none() {
        return Err(err(
            span,
            "faults.heal_after",
            "only applies to a `partition` or `partition_one_way`".into(),
        ));
    }
    match actions.len() {
        1 => Ok(ScheduledFault { when, fault: actions.pop().expect("one action") }),
        0 => Err(err(span, "faults", "names no fault: give one of crash, restart, partition, partition_one_way, heal, clock_jump, clock_drift, loss, duplicate".into())),
        _ => Err(err(span, "faults", "gives more than one fault: write one [[faults]] entry per fault".into())),
    }
}

/// Applies `--set key.path=value` overrides by editing the document, so every other line
/// keeps its number and errors still point into the file.
fn apply_overrides(
    file: &str,
    text: &str,
    overrides: &[(String, String)],
) -> Result<String, ScenarioError> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ScenarioError {
                file: file.into(),
                line: e.span().map(|s| line_of(text, s.start)),
                field: None,
                message: e.message().to_string(),
            })?;
    for (key, value) in overrides {
        // A value that is not valid TOML is taken as a string: `--set model.bug=ack-before-sync`.
        let parsed: toml_edit::Value = value
            .parse()
            .unwrap_or_else(|_| toml_edit::Value::from(value.as_str()));
        let parts: Vec<&str> = key.split('.').collect();
        set_path(doc.as_table_mut(), &parts, parsed).map_err(|message| ScenarioError {
            file: "--set".into(),
            line: None,
            field: Some(key.clone()),
            message,
        })?;
    }
    Ok(doc.to_string())
}

/// Sets `parts` (table keys, or indexes into lists of tables: `nodes.0.region`) to `value`.
fn set_path(
    table: &mut dyn toml_edit::TableLike,
    parts: &[&str],
    value: toml_edit::Value,
) -> Result<(), String> {
    match parts {
        [] => Err("empty key".into()),
        [key] => {
            table.insert(key, toml_edit::Item::Value(value));
            Ok(())
        }
        [key, index, rest @ ..] if index.parse::<usize>().is_ok() => {
            let list = table
                .get_mut(key)
                .and_then(|i| i.as_array_of_tables_mut())
                .ok_or_else(|| format!("`{key}` is not a list of tables"))?;
            let len = list.len();
            let i: usize = index.parse().expect("checked above");
            let entry = list
                .get_mut(i)
                .ok_or_else(|| format!("`{key}` has {len} entries; index {i} is out of range"))?;
            set_path(entry, rest, value)
        }
        [key, rest @ ..] => {
            if table.get(key).is_none() {
                table.insert(key, toml_edit::Item::Table(toml_edit::Table::new()));
            }
            let sub = table
                .get_mut(key)
                .and_then(|i| i.as_table_like_mut())
                .ok_or_else(|| format!("`{key}` is not a table"))?;
            set_path(sub, rest, value)
        }
    }
}

/// Converts a toml error into a located scenario error.
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> ScenarioError {
    let line = e.span().map(|s| line_of(text, s.start));
    let mut field = line.and_then(|l| field_at_line(text, l));
    // A missing field is reported at its table (the whole document for a top-level one).
    if let Some(name) = e
        .message()
        .strip_prefix("missing field `")
        .and_then(|m| m.split_once('`'))
        .map(|(name, _)| name)
    {
        let top_level = e
            .span()
            .is_some_and(|s| s.start == 0 && s.end >= text.len());
        field = Some(match field.filter(|_| !top_level) {
            Some(table) => format!("{table}.{name}"),
            None => name.to_string(),
        });
    }
    ScenarioError {
        file: file.into(),
        line,
        field,
        message: e.message().trim().to_string(),
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The dotted field a `key = value` line sets: the table header above it plus the key.
fn field_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line - 1)?.trim();
    if this.is_empty() || this.starts_with('#') {
        return None;
    }
    let key = this
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'));
    // This line's own header first: `[[network.links]]` is not inside the `[network]` above it.
    let header = std::iter::once(&this)
        .chain(lines[..line - 1].iter().rev())
        .find_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        });
    match (header, key) {
        (Some(h), Some(k)) if !k.starts_with('[') => Some(format!("{h}.{k}")),
        (None, Some(k)) => Some(k.to_string()),
        (Some(h), None) => Some(h),
        _ => None,
    }
}

/// The line of `key = ...` inside `[table]` (top level when `table` is empty); else the first
/// header of the key's own table (`[[nodes]]` for `nodes`); else the table's header line, or 1.
fn find_key_line(text: &str, table: &str, key: &str) -> usize {
    let own = if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    };
    let mut current = String::new();
    let mut header_line = 1;
    let mut own_line = None;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if current == table {
                header_line = i + 1;
            }
            if current == own && own_line.is_none() {
                own_line = Some(i + 1);
            }
            continue;
        }
        if current == table && t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return i + 1;
        }
    }
    own_line.unwrap_or(header_line)
}

/// The line where `field` is written inside `span` (one entry, such as a `[[faults]]` table):
/// the first `key = ...` line there for the field's last dotted component that has one (for
/// `faults.when.node`, `node` inside an inline table is skipped and `when` is found); the
/// span's first line when none is written there.
fn key_line(text: &str, span: std::ops::Range<usize>, field: &str) -> usize {
    let entry = text.get(span.clone()).unwrap_or("");
    for key in field.rsplit('.') {
        let mut offset = span.start;
        for l in entry.split_inclusive('\n') {
            if l.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
                return line_of(text, offset);
            }
            offset += l.len();
        }
    }
    line_of(text, span.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_table_and_key() {
        let text = "name = \"x\"\n[network]\nloss = 1.5\n";
        assert_eq!(field_at_line(text, 3).as_deref(), Some("network.loss"));
        assert_eq!(field_at_line(text, 1).as_deref(), Some("name"));
        assert_eq!(find_key_line(text, "network", "loss"), 3);
    }

    #[test]
    fn a_header_line_names_its_own_table() {
        let text = "# a = b\n[network]\nloss = 0.1\n[[network.links]]\nloss = 0.2\n";
        assert_eq!(field_at_line(text, 1), None);
        assert_eq!(field_at_line(text, 4).as_deref(), Some("network.links"));
        assert_eq!(
            field_at_line(text, 5).as_deref(),
            Some("network.links.loss")
        );
    }

    #[test]
    fn a_list_of_tables_is_found_by_its_header() {
        let text = "name = \"x\"\n\n[[nodes]]\nname = \"a\"\n";
        assert_eq!(find_key_line(text, "", "nodes"), 3);
    }

    #[test]
    fn a_key_is_found_inside_its_entry() {
        let text = "[[faults]]\nat = \"1s\"\ncrash = \"x\"\n[[faults]]\ncrash = \"y\"\n";
        let second = text.rfind("[[faults]]").unwrap()..text.len();
        assert_eq!(key_line(text, second.clone(), "faults.crash"), 5);
        assert_eq!(key_line(text, second, "faults.at"), 4);
        assert_eq!(key_line(text, 0..text.len(), "faults.when.node"), 1);
    }
}
