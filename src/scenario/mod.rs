//! Scenario files: TOML in, a runnable configuration out (the format is documented field by
//! field in `scenarios/README.md`).
//!
//! Every error names the file, the line and the field: unknown keys, wrong types, probabilities
//! outside [0, 1], non-positive latencies, nodes, regions or links named nowhere. Loading is
//! two passes over the text: the first reads only `model.kind` to pick the model, the second
//! deserializes the whole file with that model's parameter type, so the model's own fields get
//! the same precise errors as the kernel's.

mod locate; // from a byte offset or a field to a line of the file
mod overrides; // `--set key.path=value`
mod spec; // the file's serde types, with validation at deserialization

pub use locate::line_of;
use locate::{find_key_line, key_line, toml_error};
use models::{ModelSpec, NodeInfo, ParamError, Params};
use overrides::apply_overrides;
pub use overrides::Origins;
use sim::clock::Clock;
use sim::fault::{Direction, Fault, FaultSchedule, Nemesis, ScheduledFault, When};
use sim::invariant::Status;
use sim::net::{LinkParams, Network, Order};
use sim::time::{format_nanos, nanos};
use sim::NodeId;
use spec::{FaultSpec, File, Head, NemesisSpec, NetworkSpec, NodeSpec};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// A scenario error: file, line (when known), the `--set KEY=VALUE` argument the value came
/// from (then there is no line), field (when known) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub set: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(set) = &self.set {
            write!(f, ": --set {set}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// What a loaded scenario needs to run any number of seeds: everything but the model.
#[derive(Clone)]
pub struct Common {
    pub path: String,
    pub name: String,
    pub description: Option<String>,
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
    /// Past this much wall-clock time a run stops as `unknown` (`limits.max_wall_time`).
    pub max_wall_time: Duration,
    /// Past this many client-history events a run stops as `unknown`.
    pub max_history_events: usize,
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
/// deserialize and where its lines came from (errors in that text go through
/// [`Origins::relocate`]).
pub fn read(
    path: &Path,
    overrides: &[(String, String)],
) -> Result<(String, String, Origins), ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: None,
        set: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    let (text, origins) = apply_overrides(&file, &text, overrides)?;
    let head: Head =
        toml::from_str(&text).map_err(|e| origins.relocate(toml_error(&file, &text, &e)))?;
    let kind = head.model.get_ref().kind.clone().ok_or_else(|| {
        origins.relocate(ScenarioError {
            file: file.clone(),
            line: Some(line_of(&text, head.model.span().start)),
            set: None,
            field: Some("model.kind".into()),
            message: format!("missing; one of: {}", crate::registry::kinds().join(", ")),
        })
    })?;
    Ok((kind, text, origins))
}

/// Second pass: the whole file as model `P`.
pub fn parse<P: Params>(file: &str, text: &str) -> Result<(Common, P), ScenarioError> {
    let f: File<P> = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let mut r = Resolver {
        file,
        text,
        nodes: Vec::new(),
        regions: Vec::new(),
    };
    let clocks = r.nodes(&f.nodes)?;
    let network = r.network(&f.network)?;
    let mut schedule = FaultSchedule::default();
    for spec in &f.faults {
        schedule
            .faults
            .push(r.fault(spec, f.duration.0, P::SPEC.messages)?);
    }
    let nemesis = match &f.nemesis {
        None => Nemesis::default(),
        Some(spec) => r.nemesis(spec, f.duration.0)?,
    };
    let expect = r.expect(&f.expect, &P::SPEC)?;
    if !output_folder(&f.name).contains(|c: char| c.is_ascii_alphanumeric()) {
        return Err(r.top_level_error(
            "",
            "name",
            &format!(
                "{:?} cannot name an output folder: give it at least one ASCII letter or digit",
                f.name
            ),
        ));
    }
    if f.duration.0.is_zero() {
        return Err(r.top_level_error("", "duration", "must be positive"));
    }
    if f.limits.max_events == 0 {
        return Err(r.top_level_error("limits", "max_events", "must be positive"));
    }
    if f.limits.max_wall_time.0.is_zero() {
        return Err(r.top_level_error("limits", "max_wall_time", "must be positive"));
    }
    if f.limits.max_history_events == 0 {
        return Err(r.top_level_error("limits", "max_history_events", "must be positive"));
    }
    let common = Common {
        path: file.to_string(),
        name: f.name,
        description: f.description,
        seed: f.seed,
        duration: f.duration.0,
        settle: f.settle.0,
        nodes: r.nodes,
        clocks,
        network,
        schedule,
        nemesis,
        expect,
        max_events: f.limits.max_events,
        max_wall_time: f.limits.max_wall_time.0,
        max_history_events: usize::try_from(f.limits.max_history_events).unwrap_or(usize::MAX),
    };
    Ok((common, f.model))
}

/// The folder `--out DIR` writes a scenario's files into, `DIR/<this>`: its name kept to
/// one plain path component (ASCII letters, digits, `-`, `_`, `.`; anything else becomes `_`;
/// no leading dot). A name without an ASCII letter or digit is refused at load.
pub fn output_folder(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    safe.trim_start_matches('.').to_string()
}

/// A duration for an error message, exact to the nanosecond so that two different values
/// never print alike: `10s`, `10.000000001s`, `250ms`.
fn exact(d: Duration) -> String {
    if d.as_secs() == 0 {
        return format_nanos(nanos(d));
    }
    let frac = format!("{:09}", d.subsec_nanos());
    match frac.trim_end_matches('0') {
        "" => format!("{}s", d.as_secs()),
        f => format!("{}.{f}s", d.as_secs()),
    }
}

/// Turns a model's parameter error into a located scenario error.
pub fn param_error(file: &str, text: &str, e: ParamError) -> ScenarioError {
    let (table, key) = e.field.rsplit_once('.').unwrap_or(("", &e.field));
    let line = find_key_line(text, table, key);
    ScenarioError {
        set: None,
        file: file.into(),
        line: Some(line),
        field: Some(e.field),
        message: e.message,
    }
}

/// Turns the file's names into ids and its values into kernel types, locating every error
/// in the file's text.
struct Resolver<'a> {
    file: &'a str,
    text: &'a str,
    nodes: Vec<NodeInfo>,
    /// In order of first appearance in `[[nodes]]`.
    regions: Vec<String>,
}

type Span = std::ops::Range<usize>;

impl Resolver<'_> {
    /// An error about `field`, at its line within the entry at `span`.
    fn err(&self, span: Span, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            set: None,
            file: self.file.to_string(),
            line: Some(key_line(self.text, span, field)),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// An error about `key` of `[table]` (the top level when `table` is empty).
    fn top_level_error(&self, table: &str, key: &str, message: &str) -> ScenarioError {
        let field = if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        };
        ScenarioError {
            set: None,
            file: self.file.into(),
            line: Some(find_key_line(self.text, table, key)),
            field: Some(field),
            message: message.into(),
        }
    }

    fn node(&self, name: &str, span: Span, field: &str) -> Result<NodeId, ScenarioError> {
        match self.nodes.iter().position(|n| n.name == name) {
            Some(i) => Ok(NodeId(i as u32)),
            None => {
                let known: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                Err(self.err(
                    span,
                    field,
                    format!(
                        "names node `{name}`, which no [[nodes]] entry defines (nodes: {})",
                        known.join(", ")
                    ),
                ))
            }
        }
    }

    /// A non-empty list of distinct nodes.
    fn node_list(
        &self,
        names: &[String],
        span: &Span,
        field: &str,
    ) -> Result<Vec<NodeId>, ScenarioError> {
        if names.is_empty() {
            return Err(self.err(span.clone(), field, "is empty: name at least one node"));
        }
        let mut ids = Vec::with_capacity(names.len());
        for n in names {
            let id = self.node(n, span.clone(), field)?;
            if ids.contains(&id) {
                return Err(self.err(span.clone(), field, format!("names node `{n}` twice")));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// The nodes, with `count` expanded, and the regions they name; returns their clocks.
    fn nodes(&mut self, specs: &[Spanned<NodeSpec>]) -> Result<Vec<Clock>, ScenarioError> {
        let mut clocks = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for spec in specs {
            let n = spec.get_ref();
            let count = match n.count {
                None => 1,
                Some(0) => return Err(self.err(spec.span(), "nodes.count", "must be at least 1")),
                Some(c) => c as usize,
            };
            // Checked before expanding, so that `count = 4000000000` is an error, not a hang.
            let total = self.nodes.len().saturating_add(count);
            if total > sim::net::MAX_NODES {
                let field = if n.count.is_some() {
                    "nodes.count"
                } else {
                    "nodes"
                };
                return Err(self.err(
                    spec.span(),
                    field,
                    format!(
                        "{total} nodes so far; a scenario holds at most {}",
                        sim::net::MAX_NODES
                    ),
                ));
            }
            if n.name.is_empty() {
                return Err(self.err(spec.span(), "nodes.name", "must not be empty"));
            }
            if n.region.is_empty() {
                return Err(self.err(spec.span(), "nodes.region", "must not be empty"));
            }
            if !self.regions.contains(&n.region) {
                self.regions.push(n.region.clone());
            }
            for i in 1..=count {
                let name = if n.count.is_some() {
                    format!("{}{i}", n.name)
                } else {
                    n.name.clone()
                };
                if !seen.insert(name.clone()) {
                    return Err(self.err(
                        spec.span(),
                        "nodes.name",
                        format!("node `{name}` is defined twice"),
                    ));
                }
                self.nodes.push(NodeInfo {
                    name,
                    region: n.region.clone(),
                    role: n.role.clone(),
                });
                clocks.push(Clock::new(n.clock.offset.0, n.clock.drift_ppm.0));
            }
        }
        if self.nodes.is_empty() {
            return Err(self.top_level_error(
                "",
                "nodes",
                "no [[nodes]]: a scenario needs at least one node",
            ));
        }
        Ok(clocks)
    }

    /// A default link for every region pair, then the `[[network.links]]` overrides.
    fn network(&self, net: &NetworkSpec) -> Result<Network, ScenarioError> {
        let default_link = LinkParams {
            latency: net.latency.0.clone(),
            loss: net.loss.0,
            duplicate: net.duplicate.0,
        };
        let r = self.regions.len();
        let mut links = vec![default_link; r * r];
        // The line of the entry that set each unordered region pair.
        let mut given: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for spec in &net.links {
            let l = spec.get_ref();
            if l.between.len() != 2 {
                return Err(self.err(
                    spec.span(),
                    "network.links.between",
                    format!(
                        "names {} regions; a link joins exactly two, e.g. between = [\"a\", \"b\"] (the same region twice for the link inside it)",
                        l.between.len()
                    ),
                ));
            }
            let mut ends = [0usize; 2];
            for (end, region) in ends.iter_mut().zip(&l.between) {
                *end = self
                    .regions
                    .iter()
                    .position(|x| x == region)
                    .ok_or_else(|| {
                        self.err(
                            spec.span(),
                            "network.links.between",
                            format!(
                                "names region `{region}`, where no node lives (regions: {})",
                                self.regions.join(", ")
                            ),
                        )
                    })?;
            }
            let line = key_line(self.text, spec.span(), "between");
            let pair = (ends[0].min(ends[1]), ends[0].max(ends[1]));
            if let Some(first) = given.insert(pair, line) {
                return Err(self.err(
                    spec.span(),
                    "network.links.between",
                    format!(
                        "the link between `{}` and `{}` is already given on line {first}: write one entry per region pair",
                        l.between[0], l.between[1]
                    ),
                ));
            }
            for (a, b) in [(ends[0], ends[1]), (ends[1], ends[0])] {
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
        let node_region = self
            .nodes
            .iter()
            .map(|n| {
                self.regions
                    .iter()
                    .position(|x| *x == n.region)
                    .expect("collected with the nodes") as u32
            })
            .collect();
        let order = if net.fifo {
            Order::Fifo
        } else {
            Order::Unordered
        };
        let mut network = Network::new(node_region, r, links, order, net.in_flight);
        network.set_to_restarted(net.to_restarted);
        Ok(network)
    }

    fn nemesis(
        &self,
        spec: &Spanned<NemesisSpec>,
        duration: Duration,
    ) -> Result<Nemesis, ScenarioError> {
        let n = spec.get_ref();
        if n.crash_every.is_none() && n.partition_every.is_none() && n.clock_jump_every.is_none() {
            return Err(self.err(
                spec.span(),
                "nemesis",
                "names no random fault: give at least one of crash_every, partition_every, clock_jump_every",
            ));
        }
        for (set, needs, field) in [
            (
                n.restart_after.is_some(),
                n.crash_every.is_some(),
                "nemesis.restart_after",
            ),
            (
                n.heal_after.is_some(),
                n.partition_every.is_some(),
                "nemesis.heal_after",
            ),
            (
                n.clock_jump.is_some(),
                n.clock_jump_every.is_some(),
                "nemesis.clock_jump",
            ),
        ] {
            if set && !needs {
                let every = match field {
                    "nemesis.restart_after" => "crash_every",
                    "nemesis.heal_after" => "partition_every",
                    _ => "clock_jump_every",
                };
                return Err(self.err(
                    spec.span(),
                    field,
                    format!("only applies with `{every}`, which is not given"),
                ));
            }
        }
        // Leaving `targets` out means every node; an empty list is refused, not read as "all".
        let targets = match &n.targets {
            None => Vec::new(),
            Some(t) if t.is_empty() => {
                return Err(self.err(
                    spec.span(),
                    "nemesis.targets",
                    "is empty: leave `targets` out to let random faults hit every node",
                ))
            }
            Some(t) => self.node_list(t, &spec.span(), "nemesis.targets")?,
        };
        let sides = if targets.is_empty() {
            self.nodes.len()
        } else {
            targets.len()
        };
        if n.partition_every.is_some() && sides < 2 {
            return Err(self.err(
                spec.span(),
                "nemesis.partition_every",
                "a partition needs at least two targets to split",
            ));
        }
        let nemesis = Nemesis {
            targets,
            crash_every: n.crash_every.as_ref().map(|l| l.0.clone()),
            restart_after: n.restart_after.clone(),
            partition_every: n.partition_every.as_ref().map(|l| l.0.clone()),
            heal_after: n.heal_after.clone(),
            clock_jump_every: n.clock_jump_every.as_ref().map(|l| l.0.clone()),
            clock_jump: n.clock_jump.clone(),
            swarm: n.swarm,
        };
        // The random schedule is drawn whole before the run: bound it here, with the line.
        let limit = sim::fault::MAX_RANDOM_FAULTS / 10;
        for (field, every) in [
            ("nemesis.crash_every", &nemesis.crash_every),
            ("nemesis.partition_every", &nemesis.partition_every),
            ("nemesis.clock_jump_every", &nemesis.clock_jump_every),
        ] {
            let Some(every) = every else { continue };
            let until = nanos(duration);
            let (count, reached) = nemesis.probe_faults(every, until, limit + 1);
            if count > limit {
                // Extrapolated from the probe's pace, for scale.
                let about = count as f64 * until as f64 / reached.max(1) as f64;
                return Err(self.err(
                    spec.span(),
                    field,
                    format!(
                        "`{every}` over {} draws about {about:.0} faults{}, more than {limit}: \
                         choose a longer interval (or a shorter duration)",
                        sim::Time(until),
                        if nemesis.swarm {
                            " (swarm testing scales intervals down to 1/4)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        Ok(nemesis)
    }

    /// Expectations must name invariants the model has.
    fn expect(
        &self,
        expect: &BTreeMap<String, Spanned<Status>>,
        spec: &ModelSpec,
    ) -> Result<BTreeMap<String, Status>, ScenarioError> {
        let mut out = BTreeMap::new();
        for (name, status) in expect {
            if !spec.invariants.contains(&name.as_str()) && name != "run_completed" {
                return Err(self.err(
                    status.span(),
                    &format!("expect.{name}"),
                    format!(
                        "`{}` has no invariant `{name}` (it checks: {})",
                        spec.kind,
                        spec.invariants.join(", ")
                    ),
                ));
            }
            out.insert(name.clone(), *status.get_ref());
        }
        Ok(out)
    }

    /// One `[[faults]]` entry: exactly one trigger and exactly one fault. `messages` are the
    /// model's message kinds, the only ones a trigger may name.
    fn fault(
        &self,
        spec: &Spanned<FaultSpec>,
        duration: Duration,
        messages: &[&str],
    ) -> Result<ScheduledFault, ScenarioError> {
        let s = spec.get_ref();
        let span = spec.span();
        let id = |name: &str, field: &str| self.node(name, span.clone(), field);
        let when = match (&s.at, &s.when) {
            (Some(at), None) => {
                if at.0 > duration {
                    // Exact, not rounded: 60.000000001s is after 60s, and must look it.
                    let (at, end) = (exact(at.0), exact(duration));
                    return Err(self.err(
                        span,
                        "faults.at",
                        format!("{at} is after the end of the run ({end})"),
                    ));
                }
                When::At(nanos(at.0))
            }
            (None, Some(t)) => {
                let (direction, kind) = match (&t.sends, &t.receives) {
                    (Some(k), None) => (Direction::Sends, k.clone()),
                    (None, Some(k)) => (Direction::Receives, k.clone()),
                    _ => {
                        return Err(self.err(
                            span,
                            "faults.when",
                            "give exactly one of `sends` or `receives`",
                        ))
                    }
                };
                // A misspelt kind would never fire, and the story would test nothing.
                if !messages.contains(&kind.as_str()) {
                    return Err(self.err(
                        span,
                        "faults.when",
                        format!(
                            "the model sends no message of kind `{kind}` (its kinds: {})",
                            messages.join(", ")
                        ),
                    ));
                }
                if t.count == 0 {
                    return Err(self.err(span, "faults.when.count", "must be at least 1"));
                }
                When::Message {
                    node: id(&t.node, "faults.when.node")?,
                    direction,
                    kind,
                    count: t.count,
                }
            }
            _ => {
                return Err(self.err(
                    span,
                    "faults",
                    "give exactly one of `at` (a time) or `when` (a message trigger)",
                ))
            }
        };
        if s.restart_after.is_some() && s.crash.is_none() {
            return Err(self.err(span, "faults.restart_after", "only applies to a `crash`"));
        }
        if s.heal_after.is_some() && s.partition.is_none() && s.partition_one_way.is_none() {
            return Err(self.err(
                span,
                "faults.heal_after",
                "only applies to a `partition` or `partition_one_way`",
            ));
        }
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
            if let Some(i) = groups.iter().position(|g| g.is_empty()) {
                return Err(self.err(
                    span,
                    "faults.partition",
                    format!(
                        "group {} is empty: every group names at least one node",
                        i + 1
                    ),
                ));
            }
            let groups = groups
                .iter()
                .map(|g| self.node_list(g, &span, "faults.partition"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut seen = Vec::new();
            for (g, names) in groups.iter().zip(s.partition.iter().flatten()) {
                for (id, name) in g.iter().zip(names) {
                    if seen.contains(id) {
                        return Err(self.err(
                            span,
                            "faults.partition",
                            format!("puts node `{name}` in two groups"),
                        ));
                    }
                    seen.push(*id);
                }
            }
            if groups.len() < 2 {
                return Err(self.err(
                    span,
                    "faults.partition",
                    "needs at least two groups, e.g. [[\"a\"], [\"b\", \"c\"]]",
                ));
            }
            actions.push(Fault::Partition {
                groups,
                heal_after_ns,
            });
        }
        if let Some(ow) = &s.partition_one_way {
            let from = self.node_list(&ow.from, &span, "faults.partition_one_way.from")?;
            let to = self.node_list(&ow.to, &span, "faults.partition_one_way.to")?;
            if let Some(both) = ow.from.iter().find(|n| ow.to.contains(n)) {
                return Err(self.err(
                    span,
                    "faults.partition_one_way",
                    format!("node `{both}` is both in `from` and in `to`: a node cannot be cut from itself"),
                ));
            }
            actions.push(Fault::PartitionOneWay {
                from,
                to,
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
        if let Some(policy) = s.to_restarted {
            actions.push(Fault::ToRestarted(policy));
        }
        match actions.len() {
            1 => Ok(ScheduledFault {
                when,
                fault: actions.pop().expect("one action"),
            }),
            0 => Err(self.err(
                span,
                "faults",
                format!("names no fault: give one of {}", Fault::KINDS.join(", ")),
            )),
            _ => Err(self.err(
                span,
                "faults",
                "gives more than one fault: write one [[faults]] entry per fault",
            )),
        }
    }
}
