//! Fault schedules (the "nemesis"): plain data saying what goes wrong and when.
//!
//! A schedule lists faults, each fired at a true time or by a protocol event ("right after
//! the coordinator sends its 3rd `Prepare`"). Random faults are drawn from rates *before*
//! the run, from the `faults` stream, into the same timed list, so every schedule — scripted
//! or random — can be printed back as TOML, shrunk, and replayed.

use crate::dist::Dist;
use crate::net::ToRestarted;
use crate::rng::Rng;
use crate::time::{format_nanos, format_signed_nanos};
use crate::NodeId;
use std::fmt::Write as _;

/// One thing that goes wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The node loses its memory, timers and incoming messages; unsynced disk writes are lost.
    Crash {
        node: NodeId,
        restart_after_ns: Option<u64>,
    },
    /// The node is rebuilt from its synced disk and started again.
    Restart { node: NodeId },
    /// Nodes in different groups cannot reach each other; nodes in no group are unaffected.
    Partition {
        groups: Vec<Vec<NodeId>>,
        heal_after_ns: Option<u64>,
    },
    /// Messages from `from` to `to` are lost; the other direction still works.
    PartitionOneWay {
        from: Vec<NodeId>,
        to: Vec<NodeId>,
        heal_after_ns: Option<u64>,
    },
    /// Every link works again.
    Heal,
    /// The node's clock steps by `by_ns` (negative: backwards).
    ClockJump { node: NodeId, by_ns: i64 },
    /// The node's clock runs `ppm` parts per million fast (negative: slow) from now on.
    ClockDrift { node: NodeId, ppm: i64 },
    /// Every link loses messages with this probability from now on.
    Loss { p: f64 },
    /// Every link duplicates messages with this probability from now on.
    Duplicate { p: f64 },
    /// Messages in flight to a node that crashes are dropped, or delivered if it is up again
    /// when they arrive, from now on.
    ToRestarted(ToRestarted),
}

impl Fault {
    /// Every fault's kind, as the key that names it in a scenario's `[[faults]]` table.
    pub const KINDS: [&'static str; 10] = [
        "crash",
        "restart",
        "partition",
        "partition_one_way",
        "heal",
        "clock_jump",
        "clock_drift",
        "loss",
        "duplicate",
        "to_restarted",
    ];

    /// This fault's kind, one of [`Fault::KINDS`].
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    /// This fault's kind as an index into [`Fault::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Fault::Crash { .. } => 0,
            Fault::Restart { .. } => 1,
            Fault::Partition { .. } => 2,
            Fault::PartitionOneWay { .. } => 3,
            Fault::Heal => 4,
            Fault::ClockJump { .. } => 5,
            Fault::ClockDrift { .. } => 6,
            Fault::Loss { .. } => 7,
            Fault::Duplicate { .. } => 8,
            Fault::ToRestarted(_) => 9,
        }
    }
}

/// Which protocol phases were under way when each fault struck ([`crate::Model::phases`]):
/// what a search of fault schedules exercised, and what it never touched. A fault under way
/// in no phase counts as idle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCoverage {
    phases: &'static [&'static str],
    /// `hits[kind * (phases + 1) + phase]`, kinds in [`Fault::KINDS`] order, idle last.
    hits: Vec<u64>,
    /// Faults of each kind that struck (one may hit several phases at once).
    strikes: [u64; Fault::KINDS.len()],
}

impl FaultCoverage {
    /// The most phases a model may name: they travel as a bitmask.
    pub const MAX_PHASES: usize = 32;

    pub fn new(phases: &'static [&'static str]) -> FaultCoverage {
        assert!(phases.len() <= Self::MAX_PHASES, "at most 32 phases");
        FaultCoverage {
            phases,
            hits: vec![0; Fault::KINDS.len() * (phases.len() + 1)],
            strikes: [0; Fault::KINDS.len()],
        }
    }

    pub fn phases(&self) -> &'static [&'static str] {
        self.phases
    }

    /// A fault of kind `kind` (an index into [`Fault::KINDS`]) struck while the phases of
    /// `under_way` (bit i for phase i) were under way.
    pub fn record(&mut self, kind: usize, under_way: u32) {
        let width = self.phases.len() + 1;
        debug_assert!(
            under_way >> self.phases.len() == 0,
            "a phase the model did not name"
        );
        self.strikes[kind] += 1;
        let row = &mut self.hits[kind * width..(kind + 1) * width];
        if under_way == 0 {
            row[width - 1] += 1;
        }
        for (i, hits) in row[..width - 1].iter_mut().enumerate() {
            *hits += u64::from(under_way >> i & 1);
        }
    }

    /// Adds another run's counts (of the same model).
    pub fn merge(&mut self, other: &FaultCoverage) {
        if self.hits.is_empty() {
            *self = other.clone();
            return;
        }
        assert_eq!(self.phases, other.phases, "coverage of one model");
        for (a, b) in self.hits.iter_mut().zip(&other.hits) {
            *a += b;
        }
        for (a, b) in self.strikes.iter_mut().zip(&other.strikes) {
            *a += b;
        }
    }

    /// Per fault kind that struck at all: its name, how many struck in all, and the hits per
    /// phase (idle last).
    pub fn rows(&self) -> impl Iterator<Item = (&'static str, u64, &[u64])> + '_ {
        let width = self.phases.len() + 1;
        self.hits
            .chunks(width)
            .zip(Fault::KINDS)
            .zip(self.strikes)
            .filter_map(move |((row, kind), total)| (total > 0).then_some((kind, total, row)))
    }
}

/// Which side of a message a trigger watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Sends,
    Receives,
}

/// When a fault fires.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    /// At this true time, in nanoseconds.
    At(u64),
    /// When `node` sends (or receives) its `count`-th message of kind `kind`: right after that
    /// send (a crash then suppresses the rest of the handler), or right before that message is
    /// handled (a crash then loses it).
    Message {
        node: NodeId,
        direction: Direction,
        kind: String,
        count: u32,
    },
}

/// A fault with its firing condition.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    pub when: When,
    pub fault: Fault,
}

/// A whole schedule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSchedule {
    pub faults: Vec<ScheduledFault>,
}

/// Rates of random faults. Each kind is off unless its `*_every` mean interval is set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Nemesis {
    /// Nodes random faults may hit (crash, clock); empty means every node.
    pub targets: Vec<NodeId>,
    pub crash_every: Option<Dist>,
    pub restart_after: Option<Dist>,
    pub partition_every: Option<Dist>,
    pub heal_after: Option<Dist>,
    pub clock_jump_every: Option<Dist>,
    /// The size of a step (drawn positive, then given a random sign).
    pub clock_jump: Option<Dist>,
    /// Swarm testing (Groce et al., "Swarm testing", ISSTA 2012): each seed also switches
    /// every configured fault kind on or off and scales its rate by 1/4 to 4, so that rare
    /// combinations (crashes without partitions, a storm of clock jumps) get explored. A seed
    /// with crashes on also delivers, half the time, the messages in flight to a crashed node
    /// that arrive after it restarted ([`ToRestarted::Deliver`], a fault at time 0), so that
    /// recovery code meets late messages of the node's previous life.
    pub swarm: bool,
}

/// What swarm testing chose for one seed: which kinds are on, and each one's interval scale.
struct SwarmChoice {
    on: [bool; 3],
    scale: [f64; 3],
}

impl SwarmChoice {
    const CRASH: usize = 0;
    const PARTITION: usize = 1;
    const CLOCK_JUMP: usize = 2;

    fn all_on() -> SwarmChoice {
        SwarmChoice {
            on: [true; 3],
            scale: [1.0; 3],
        }
    }

    fn draw(rng: &mut Rng) -> SwarmChoice {
        let mut on: [bool; 3] = std::array::from_fn(|_| rng.chance(0.5));
        if !on.contains(&true) {
            on[rng.below(3) as usize] = true;
        }
        let scale = std::array::from_fn(|_| libm::pow(2.0, rng.unit() * 4.0 - 2.0));
        SwarmChoice { on, scale }
    }
}

/// The most random faults of one kind a run draws. The schedule is drawn whole before the run
/// (so it can be printed and replayed), so an interval of `1ns` would otherwise fill memory;
/// scenario loading refuses intervals that draw more than a tenth of this on a probe
/// ([`Nemesis::probe_faults`]), and a run whose own draw still reaches it says so
/// ([`FaultSchedule::nemesis_was_cut`]).
pub const MAX_RANDOM_FAULTS: usize = 1_000_000;

impl Nemesis {
    /// How many faults an interval `every` draws over `[0, until_ns)`, counted on a fixed probe
    /// stream at swarm testing's fastest scale (intervals down to 1/4), but at most `limit`:
    /// `(count, time reached)`. Drawing rather than dividing by the mean is what judges heavy
    /// tails right: `lognormal(1ns, 7.5)` has a mean of minutes, yet draws half a million
    /// faults in its first days.
    pub fn probe_faults(&self, every: &Dist, until_ns: u64, limit: usize) -> (usize, u64) {
        let mut rng = Rng::stream(0, "nemesis/probe");
        let scale = if self.swarm { 0.25 } else { 1.0 };
        let (mut count, mut t) = (0, 0u64);
        while count < limit {
            let gap = ((every.sample(&mut rng) as f64 * scale) as u64).max(1);
            if t.saturating_add(gap) >= until_ns {
                return (count, until_ns);
            }
            t += gap;
            count += 1;
        }
        (count, t)
    }

    pub fn is_active(&self) -> bool {
        self.crash_every.is_some()
            || self.partition_every.is_some()
            || self.clock_jump_every.is_some()
    }

    /// Draws the random faults of `[0, until_ns)` into timed faults, from `rng` only.
    pub fn generate(&self, node_count: usize, until_ns: u64, rng: &mut Rng) -> Vec<ScheduledFault> {
        let targets: Vec<NodeId> = if self.targets.is_empty() {
            (0..node_count as u32).map(NodeId).collect()
        } else {
            self.targets.clone()
        };
        let mut out = Vec::new();
        if targets.is_empty() {
            return out;
        }
        let swarm = if self.swarm {
            SwarmChoice::draw(rng)
        } else {
            SwarmChoice::all_on()
        };
        let times = |kind: usize, every: &Dist, rng: &mut Rng| {
            let mut t = 0u64;
            let mut at = Vec::new();
            if !swarm.on[kind] {
                return at;
            }
            loop {
                let gap = every.sample(rng);
                // Scaled only under swarm testing, so plain schedules stay exact integers.
                let gap = if self.swarm {
                    (gap as f64 * swarm.scale[kind]) as u64
                } else {
                    gap
                };
                t = t.saturating_add(gap.max(1));
                if t >= until_ns || at.len() == MAX_RANDOM_FAULTS {
                    return at;
                }
                at.push(t);
            }
        };
        if let Some(every) = &self.crash_every {
            for t in times(SwarmChoice::CRASH, every, rng) {
                let node = targets[rng.below(targets.len() as u64) as usize];
                let restart_after_ns = Some(
                    self.restart_after
                        .as_ref()
                        .map_or(1_000_000_000, |d| d.sample(rng)),
                );
                out.push(ScheduledFault {
                    when: When::At(t),
                    fault: Fault::Crash {
                        node,
                        restart_after_ns,
                    },
                });
            }
        }
        // A partition needs two sides.
        if let Some(every) = self.partition_every.as_ref().filter(|_| targets.len() >= 2) {
            for t in times(SwarmChoice::PARTITION, every, rng) {
                // Split the targets into two random non-empty sides.
                let mut sides = [Vec::new(), Vec::new()];
                for &n in &targets {
                    sides[rng.below(2) as usize].push(n);
                }
                if sides[0].is_empty() || sides[1].is_empty() {
                    let moved = sides
                        .iter_mut()
                        .max_by_key(|s| s.len())
                        .and_then(|s| s.pop());
                    if let (Some(m), Some(empty)) = (moved, sides.iter_mut().find(|s| s.is_empty()))
                    {
                        empty.push(m);
                    }
                }
                let heal_after_ns = Some(
                    self.heal_after
                        .as_ref()
                        .map_or(5_000_000_000, |d| d.sample(rng)),
                );
                out.push(ScheduledFault {
                    when: When::At(t),
                    fault: Fault::Partition {
                        groups: sides.to_vec(),
                        heal_after_ns,
                    },
                });
            }
        }
        if let Some(every) = &self.clock_jump_every {
            // Steps of 1 ms to 200 ms, either way: a clamped normal would make half of them zero.
            let jump = self.clock_jump.clone().unwrap_or(Dist::Uniform {
                lo: 1_000_000,
                hi: 200_000_000,
            });
            for t in times(SwarmChoice::CLOCK_JUMP, every, rng) {
                let node = targets[rng.below(targets.len() as u64) as usize];
                let magnitude = jump.sample(rng) as i64;
                let by_ns = if rng.below(2) == 0 {
                    magnitude
                } else {
                    -magnitude
                };
                out.push(ScheduledFault {
                    when: When::At(t),
                    fault: Fault::ClockJump { node, by_ns },
                });
            }
        }
        // Drawn last, so that the faults above stay what they were before this choice existed.
        if self.swarm
            && swarm.on[SwarmChoice::CRASH]
            && self.crash_every.is_some()
            && rng.chance(0.5)
        {
            out.push(ScheduledFault {
                when: When::At(0),
                fault: Fault::ToRestarted(ToRestarted::Deliver),
            });
        }
        out.sort_by_key(|f| match f.when {
            When::At(t) => t,
            When::Message { .. } => u64::MAX,
        });
        out
    }
}

impl FaultSchedule {
    /// Whether the nemesis stopped drawing some kind of fault at [`MAX_RANDOM_FAULTS`], so the
    /// rest of the run has none of that kind (scripted faults are far fewer than that).
    pub fn nemesis_was_cut(&self) -> bool {
        let mut counts = [0usize; 3];
        for f in &self.faults {
            match f.fault {
                Fault::Crash { .. } => counts[0] += 1,
                Fault::Partition { .. } => counts[1] += 1,
                Fault::ClockJump { .. } => counts[2] += 1,
                _ => {}
            }
        }
        counts.iter().any(|&c| c >= MAX_RANDOM_FAULTS)
    }

    /// The schedule as `[[faults]]` TOML tables, the same syntax a scenario file uses.
    pub fn to_toml(&self, names: &[String]) -> String {
        let name = |n: &NodeId| format!("{:?}", names[n.index()]);
        let list =
            |ns: &[NodeId]| format!("[{}]", ns.iter().map(name).collect::<Vec<_>>().join(", "));
        let mut s = String::new();
        for f in &self.faults {
            s.push_str("[[faults]]\n");
            match &f.when {
                When::At(t) => {
                    let _ = writeln!(s, "at = \"{}\"", format_nanos(*t));
                }
                When::Message {
                    node,
                    direction,
                    kind,
                    count,
                } => {
                    let dir = match direction {
                        Direction::Sends => "sends",
                        Direction::Receives => "receives",
                    };
                    let _ = writeln!(
                        s,
                        "when = {{ node = {}, {dir} = {kind:?}, count = {count} }}",
                        name(node)
                    );
                }
            }
            let after = |key: &str, ns: &Option<u64>| {
                ns.map(|n| format!("{key} = \"{}\"\n", format_nanos(n)))
                    .unwrap_or_default()
            };
            match &f.fault {
                Fault::Crash {
                    node,
                    restart_after_ns,
                } => {
                    let _ = write!(
                        s,
                        "crash = {}\n{}",
                        name(node),
                        after("restart_after", restart_after_ns)
                    );
                }
                Fault::Restart { node } => {
                    let _ = writeln!(s, "restart = {}", name(node));
                }
                Fault::Partition {
                    groups,
                    heal_after_ns,
                } => {
                    let gs: Vec<String> = groups.iter().map(|g| list(g)).collect();
                    let _ = write!(
                        s,
                        "partition = [{}]\n{}",
                        gs.join(", "),
                        after("heal_after", heal_after_ns)
                    );
                }
                Fault::PartitionOneWay {
                    from,
                    to,
                    heal_after_ns,
                } => {
                    let _ = write!(
                        s,
                        "partition_one_way = {{ from = {}, to = {} }}\n{}",
                        list(from),
                        list(to),
                        after("heal_after", heal_after_ns)
                    );
                }
                Fault::Heal => s.push_str("heal = true\n"),
                Fault::ClockJump { node, by_ns } => {
                    let _ = writeln!(
                        s,
                        "clock_jump = {{ node = {}, by = \"{}\" }}",
                        name(node),
                        format_signed_nanos(*by_ns)
                    );
                }
                Fault::ClockDrift { node, ppm } => {
                    let _ = writeln!(s, "clock_drift = {{ node = {}, ppm = {ppm} }}", name(node));
                }
                Fault::Loss { p } => {
                    let _ = writeln!(s, "loss = {p}");
                }
                Fault::Duplicate { p } => {
                    let _ = writeln!(s, "duplicate = {p}");
                }
                Fault::ToRestarted(policy) => {
                    let _ = writeln!(s, "to_restarted = {:?}", policy.as_str());
                }
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_testing_varies_the_fault_kinds_across_seeds() {
        let nemesis = Nemesis {
            crash_every: Some("exponential(2s)".parse().unwrap()),
            partition_every: Some("exponential(2s)".parse().unwrap()),
            clock_jump_every: Some("exponential(2s)".parse().unwrap()),
            swarm: true,
            ..Nemesis::default()
        };
        let kinds = |seed: u64| {
            let faults = nemesis.generate(3, 60_000_000_000, &mut Rng::stream(seed, "faults"));
            let has = |f: fn(&Fault) -> bool| faults.iter().any(|s| f(&s.fault));
            [
                has(|f| matches!(f, Fault::Crash { .. })),
                has(|f| matches!(f, Fault::Partition { .. })),
                has(|f| matches!(f, Fault::ClockJump { .. })),
            ]
        };
        let seen: std::collections::BTreeSet<[bool; 3]> = (0..40).map(kinds).collect();
        assert!(
            seen.len() >= 4,
            "swarm should mix kinds across seeds: {seen:?}"
        );
        assert!(
            seen.iter().all(|k| k.contains(&true)),
            "every seed keeps at least one kind"
        );
    }

    #[test]
    fn random_faults_are_seeded_plain_data() {
        let nemesis = Nemesis {
            crash_every: Some("exponential(5s)".parse().unwrap()),
            partition_every: Some("10s".parse().unwrap()),
            ..Nemesis::default()
        };
        let a = nemesis.generate(3, 60_000_000_000, &mut Rng::stream(9, "faults"));
        let b = nemesis.generate(3, 60_000_000_000, &mut Rng::stream(9, "faults"));
        assert_eq!(a, b);
        assert!(a.len() > 5, "{a:?}");
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let toml = FaultSchedule { faults: a }.to_toml(&names);
        assert!(
            toml.contains("crash = ") && toml.contains("partition = [["),
            "{toml}"
        );
    }

    #[test]
    fn each_fault_kind_is_the_key_its_toml_table_starts_with() {
        let n = NodeId(0);
        let faults = [
            Fault::Crash {
                node: n,
                restart_after_ns: None,
            },
            Fault::Restart { node: n },
            Fault::Partition {
                groups: vec![vec![n]],
                heal_after_ns: None,
            },
            Fault::PartitionOneWay {
                from: vec![n],
                to: vec![n],
                heal_after_ns: None,
            },
            Fault::Heal,
            Fault::ClockJump { node: n, by_ns: 1 },
            Fault::ClockDrift { node: n, ppm: 1 },
            Fault::Loss { p: 0.1 },
            Fault::Duplicate { p: 0.1 },
            Fault::ToRestarted(ToRestarted::Deliver),
        ];
        let names = ["a".to_string()];
        let mut kinds: Vec<&str> = faults.iter().map(Fault::kind).collect();
        for (f, kind) in faults.iter().zip(&kinds) {
            let schedule = FaultSchedule {
                faults: vec![ScheduledFault {
                    when: When::At(0),
                    fault: f.clone(),
                }],
            };
            let toml = schedule.to_toml(&names);
            assert!(toml.contains(&format!("\n{kind} = ")), "{kind}: {toml}");
        }
        kinds.dedup();
        assert_eq!(kinds, Fault::KINDS);
    }

    #[test]
    fn coverage_counts_each_strike_once_and_each_phase_it_hit() {
        let mut c = FaultCoverage::new(&["a", "b"]);
        c.record(0, 0b11); // a crash while both phases were under way
        c.record(0, 0); // a crash while none was
        c.record(2, 0b10); // a partition during b
        let mut sum = c.clone();
        sum.merge(&c);
        let rows: Vec<_> = sum.rows().collect();
        assert_eq!(
            rows,
            vec![
                ("crash", 4, &[2, 2, 2][..]),
                ("partition", 2, &[0, 2, 0][..])
            ]
        );
        let mut empty = FaultCoverage::default();
        empty.merge(&c);
        assert_eq!(empty, c);
    }
}
