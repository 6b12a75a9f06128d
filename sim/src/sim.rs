//! The event loop.
//!
//! One thread, one queue of events ordered by (true time, insertion sequence): ties break by
//! insertion order, so the same inputs always give the same order. Every event is folded into
//! the trace hash. Nothing here allocates per event unless the trace file is on (the queue and
//! timer table grow to their high-water marks and stay there).

use crate::clock::Clock;
use crate::disk::Disk;
use crate::fault::{Direction, Fault, FaultCoverage, FaultSchedule, Nemesis, ScheduledFault, When};
use crate::history::History;
use crate::invariant::Verdict;
use crate::metrics::Metrics;
use crate::net::{DropReason, Fate, Network, ToRestarted};
use crate::node::{Ctx, Message, Model, Node, Observed, TimerId, World};
use crate::rng::Rng;
use crate::time::{nanos, Time};
use crate::trace::{field_num, field_str, TraceHash, TraceWriter};
use crate::NodeId;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::hash::Hash;
use std::io::Write;
use std::time::Duration;

/// Everything the kernel needs to run one simulation, resolved from a scenario.
pub struct SimConfig {
    pub seed: u64,
    pub node_names: Vec<String>,
    pub network: Network,
    pub clocks: Vec<Clock>,
    pub schedule: FaultSchedule,
    pub nemesis: Nemesis,
    /// Workload and faults run for `duration`; then the run settles (partitions heal, loss and
    /// duplication faults end, crashed nodes restart, clients stop) for `settle`, so
    /// end-of-run checks see a quiescent system.
    pub duration: Duration,
    pub settle: Duration,
    /// A bound on the run: hitting it is reported as a liveness problem, never a hang.
    pub max_events: u64,
}

/// Why the run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Simulated time reached `duration + settle`.
    TimeUp,
    /// No event was left to process.
    Quiescent,
    /// `max_events` was reached first.
    EventLimit,
    /// The caller's [`Watch`] hook stopped the run (a wall-clock limit, say).
    Interrupted,
}

/// What a [`Watch`] hook is shown every [`WATCH_EVERY`] events: enough for a progress line.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub events: u64,
    /// True simulated time reached.
    pub now: Time,
    /// When the run ends (duration + settle).
    pub end: Time,
}

/// A hook owned by the caller, called every [`WATCH_EVERY`] events: it may look at the wall
/// clock, memory or a terminal — the kernel itself never does — and ends the run by returning
/// why. It sees the run but cannot change it, so the trace hash of a run it lets finish is the
/// same with or without it.
pub type Watch = Box<dyn FnMut(&Progress) -> Option<String>>;

/// The most client-history events a run records by default (~100 bytes each: ~200 MiB). A
/// history is kept whole for the linearizability check, so it is the one kernel structure
/// that grows with the run's length; past this the run stops as `unknown` (checked with the
/// watch, so it may overshoot by what [`WATCH_EVERY`] events record).
pub const MAX_HISTORY_EVENTS: usize = 2_000_000;

/// How often the watch hook runs, in events: a power of two, so the test is one mask; rare
/// enough to cost nothing per event (a wall-clock read is ~25 ns; 64 Ki events take ~4 ms).
pub const WATCH_EVERY: u64 = 1 << 16;

/// Counts of what the kernel did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub events: u64,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub messages_duplicated: u64,
    pub dropped_loss: u64,
    pub dropped_partition: u64,
    pub dropped_receiver_down: u64,
    /// Messages sent to an earlier life of their receiver and delivered after it restarted
    /// (`ToRestarted::Deliver`); counted in `messages_delivered` too.
    pub delivered_to_restarted: u64,
    pub timers_fired: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub unsynced_records_lost: u64,
    /// Messages still travelling when the run ended. Every message sent (or duplicated) is
    /// delivered, dropped, or counted here.
    pub messages_in_flight: u64,
}

/// A stretch of time during which something was wrong, for charts and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    pub what: EpisodeKind,
    pub from: Time,
    pub to: Time,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpisodeKind {
    /// The node was crashed.
    Down(NodeId),
    /// At least one link was cut by a partition.
    Partitioned,
}

/// The result of one run.
pub struct RunResult {
    pub seed: u64,
    pub trace_hash: u64,
    pub sim_time: Time,
    pub stop: Stop,
    pub stats: Stats,
    pub verdicts: Vec<Verdict>,
    pub metrics: Metrics,
    pub history: History,
    /// The schedule that ran, random faults included: printable as TOML, replayable.
    pub schedule: FaultSchedule,
    /// Message-triggered faults whose trigger never fired (a misspelt message kind, or a
    /// count the run never reached): the run did not test what they describe.
    pub unfired: FaultSchedule,
    /// When nodes were down and the network partitioned, in time order of their start.
    pub episodes: Vec<Episode>,
    /// Which of the model's phases each fault struck in.
    pub coverage: FaultCoverage,
}

enum Ev<M, T> {
    Start {
        node: NodeId,
        incarnation: u32,
    },
    Deliver {
        from: NodeId,
        to: NodeId,
        incarnation: u32,
        msg: M,
    },
    Timer {
        node: NodeId,
        incarnation: u32,
        id: TimerId,
        tag: T,
    },
    Fault(u32),
    /// The end of the partition `faults[fault]` (its `heal_after`): unblock exactly its
    /// links — unless a full heal since it began (`heals` moved on) already did.
    Unblock {
        fault: u32,
        heals: u32,
    },
    Settle,
}

struct Entry<M, T> {
    time: u64,
    seq: u64,
    ev: Ev<M, T>,
}

impl<M, T> PartialEq for Entry<M, T> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<M, T> Eq for Entry<M, T> {}
impl<M, T> PartialOrd for Entry<M, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M, T> Ord for Entry<M, T> {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// Per-node environment that survives crashes: clock, disk, random streams.
pub(crate) struct Slot<R> {
    pub(crate) clock: Clock,
    pub(crate) disk: Disk<R>,
    pub(crate) rng: Rng,
    pub(crate) workload_rng: Rng,
    pub(crate) think_rng: Rng,
    pub(crate) up: bool,
    /// Bumped at every crash and restart; timers and messages aimed at an older incarnation
    /// are dropped.
    pub(crate) incarnation: u32,
}

/// Timer slots with generations: cancelling is O(1), and a slot is reused only after its
/// event has left the queue.
#[derive(Default)]
pub(crate) struct Timers {
    live: Vec<bool>,
    generation: Vec<u32>,
    free: Vec<u32>,
}

impl Timers {
    fn allocate(&mut self) -> TimerId {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.live.push(false);
            self.generation.push(0);
            (self.live.len() - 1) as u32
        });
        self.live[slot as usize] = true;
        TimerId {
            slot,
            generation: self.generation[slot as usize],
        }
    }

    pub(crate) fn cancel(&mut self, id: TimerId) {
        if self.generation[id.slot as usize] == id.generation {
            self.live[id.slot as usize] = false;
        }
    }

    /// Frees the slot of a popped timer event; true if the timer was still live.
    fn take(&mut self, id: TimerId) -> bool {
        let s = id.slot as usize;
        debug_assert_eq!(
            self.generation[s], id.generation,
            "a timer slot is freed only when its event pops"
        );
        let was_live = self.live[s];
        self.live[s] = false;
        self.generation[s] = self.generation[s].wrapping_add(1);
        self.free.push(id.slot);
        was_live
    }
}

/// A message-triggered fault and how many matching messages it has seen.
struct Trigger {
    node: NodeId,
    direction: Direction,
    kind: String,
    count: u32,
    seen: u32,
    /// The schedule entry it came from, to report it if it never fires.
    source: ScheduledFault,
}

/// The kernel's state, apart from the nodes themselves (so a node and its context can be
/// borrowed at once).
pub struct Kernel<N: Node> {
    pub(crate) now: Time,
    seq: u64,
    queue: BinaryHeap<Entry<N::Msg, N::Timer>>,
    pub(crate) names: Vec<String>,
    pub(crate) slots: Vec<Slot<N::Record>>,
    pub(crate) timers: Timers,
    net: Network,
    net_rng: Rng,
    /// Faults fired by events; `Ev::Fault(i)` indexes this.
    faults: Vec<Fault>,
    triggers: Vec<Trigger>,
    /// Faults fired by a trigger inside a handler, applied right after it returns.
    pending: Vec<Fault>,
    /// The node crashed by a trigger during the current handler, whose effects from then on
    /// are discarded.
    pub(crate) halted: Option<NodeId>,
    /// The halted node's disk at that instant: (records, synced records).
    halted_disk: (usize, usize),
    /// Where a halted node's metrics go: nowhere.
    pub(crate) discarded_metrics: Metrics,
    pub(crate) settling: bool,
    /// Set when the event limit ended the run before its end time.
    stopped_early: bool,
    episodes: Vec<Episode>,
    /// Start of the current partition episode, if the network has a cut link.
    partitioned_since: Option<Time>,
    pub(crate) metrics: Metrics,
    pub(crate) history: History,
    stats: Stats,
    hash: TraceHash,
    trace: Option<TraceWriter>,
}

const TAG_START: u64 = 1;
const TAG_SEND: u64 = 2;
const TAG_DELIVER: u64 = 3;
const TAG_DROP: u64 = 4;
const TAG_TIMER: u64 = 5;
const TAG_CRASH: u64 = 6;
const TAG_RESTART: u64 = 7;
const TAG_FAULT: u64 = 8;

impl<N: Node> Kernel<N> {
    fn push(&mut self, time: u64, ev: Ev<N::Msg, N::Timer>) {
        self.seq += 1;
        self.queue.push(Entry {
            time,
            seq: self.seq,
            ev,
        });
    }

    pub(crate) fn send(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        if self.halted == Some(from) {
            return;
        }
        assert!(to.index() < self.slots.len(), "send to unknown node {to:?}");
        let now = self.now.0;
        self.stats.messages_sent += 1;
        self.hash.mix(TAG_SEND);
        self.hash.mix(u64::from(from.0) << 32 | u64::from(to.0));
        msg.hash(&mut self.hash);
        let kind = msg.kind();
        debug_assert!(
            <N::Msg as Message>::KINDS.contains(&kind),
            "message kind {kind} is missing from Message::KINDS"
        );
        let fate = self.net.route(now, from, to, &mut self.net_rng);
        if let Some(t) = &mut self.trace {
            let names = &self.names;
            t.event(now, "send", |l| {
                field_str(l, "from", &names[from.index()]);
                field_str(l, "to", &names[to.index()]);
                field_str(l, "kind", kind);
                field_str(l, "msg", &format!("{msg:?}"));
                match fate {
                    Fate::Arrives { at, duplicate_at } => {
                        field_num(l, "arrive", at);
                        if let Some(d) = duplicate_at {
                            field_num(l, "duplicate_arrive", d);
                        }
                    }
                    Fate::Dropped(r) => field_str(l, "dropped", r.as_str()),
                }
            });
        }
        match fate {
            Fate::Dropped(reason) => self.count_drop(reason),
            Fate::Arrives { at, duplicate_at } => {
                let incarnation = self.slots[to.index()].incarnation;
                self.hash.mix(at);
                if let Some(d) = duplicate_at {
                    self.stats.messages_duplicated += 1;
                    self.hash.mix(d);
                    self.push(
                        d,
                        Ev::Deliver {
                            from,
                            to,
                            incarnation,
                            msg: msg.clone(),
                        },
                    );
                }
                self.push(
                    at,
                    Ev::Deliver {
                        from,
                        to,
                        incarnation,
                        msg,
                    },
                );
            }
        }
        if !self.triggers.is_empty() {
            self.fire_triggers(from, Direction::Sends, kind);
        }
    }

    /// Opens or closes the partition episode when the network gains its first cut link or
    /// loses its last.
    fn note_partition_change(&mut self) {
        match (self.net.has_cuts(), self.partitioned_since) {
            (true, None) => self.partitioned_since = Some(self.now),
            (false, Some(from)) => {
                self.episodes.push(Episode {
                    what: EpisodeKind::Partitioned,
                    from,
                    to: self.now,
                });
                self.partitioned_since = None;
            }
            _ => {}
        }
    }

    fn count_drop(&mut self, reason: DropReason) {
        self.hash.mix(TAG_DROP);
        self.hash.mix(reason as u64);
        match reason {
            DropReason::Loss => self.stats.dropped_loss += 1,
            DropReason::Partition => self.stats.dropped_partition += 1,
            DropReason::ReceiverDown => self.stats.dropped_receiver_down += 1,
        }
    }

    pub(crate) fn set_timer(&mut self, node: NodeId, after: Duration, tag: N::Timer) -> TimerId {
        let slot = &self.slots[node.index()];
        let incarnation = slot.incarnation;
        let delay = slot.clock.true_delay(nanos(after));
        let id = self.timers.allocate();
        if self.halted == Some(node) {
            // The node is gone; the event still runs to free the slot, and is then ignored.
            self.timers.cancel(id);
        }
        let at = self.now.0.saturating_add(delay);
        self.push(
            at,
            Ev::Timer {
                node,
                incarnation,
                id,
                tag,
            },
        );
        id
    }

    /// Counts a message against the triggers watching `node`; fired faults go to `pending`.
    fn fire_triggers(&mut self, node: NodeId, direction: Direction, kind: &str) {
        if self.settling {
            return; // no fault fires while the run settles
        }
        for t in &mut self.triggers {
            if t.node == node && t.direction == direction && t.kind == kind {
                t.seen += 1;
                if t.seen == t.count {
                    if let Fault::Crash { node: crashed, .. } = t.source.fault {
                        if crashed == node && direction == Direction::Sends {
                            self.halted = Some(node);
                            let disk = &self.slots[node.index()].disk;
                            self.halted_disk = (disk.records().len(), disk.synced().len());
                        }
                    }
                    self.pending.push(t.source.fault.clone());
                }
            }
        }
    }
}

/// Splits the kernel into the model's god's-eye view, its metrics (the one thing a model may
/// change) and the history.
fn split<'a, N: Node>(
    k: &'a mut Kernel<N>,
    nodes: &'a [Option<N>],
) -> (World<'a, N>, &'a mut Metrics, &'a History) {
    let world = World {
        now: k.now,
        nodes,
        names: &k.names,
        slots: &k.slots,
        settling: k.settling,
        stopped_early: k.stopped_early,
        stats: &k.stats,
    };
    (world, &mut k.metrics, &k.history)
}

/// A simulation of one model under one configuration and seed.
pub struct Sim<M: Model> {
    kernel: Kernel<M::Node>,
    nodes: Vec<Option<M::Node>>,
    model: M,
    end: u64,
    settle_at: u64,
    max_events: u64,
    seed: u64,
    schedule: FaultSchedule,
    watch: Option<Watch>,
    /// Why the watch hook (or the history limit) stopped the run.
    interrupted: Option<String>,
    max_history: usize,
    coverage: FaultCoverage,
}

impl<M: Model> Sim<M> {
    /// Prepares a run. `trace` receives the JSON Lines trace when given.
    pub fn new(config: SimConfig, mut model: M, trace: Option<Box<dyn Write>>) -> Sim<M> {
        let n = config.node_names.len();
        assert_eq!(config.clocks.len(), n, "one clock per node");
        let seed = config.seed;
        let slots = config
            .clocks
            .into_iter()
            .zip(&config.node_names)
            .map(|(clock, name)| Slot {
                clock,
                disk: Disk::default(),
                rng: Rng::stream(seed, &format!("node/{name}")),
                workload_rng: Rng::stream(seed, &format!("workload/{name}")),
                think_rng: Rng::stream(seed, &format!("think/{name}")),
                up: true,
                incarnation: 0,
            })
            .collect();
        let duration = nanos(config.duration);
        let end = duration.saturating_add(nanos(config.settle));
        let mut schedule = config.schedule;
        if config.nemesis.is_active() {
            let mut fault_rng = Rng::stream(seed, "faults");
            schedule
                .faults
                .extend(config.nemesis.generate(n, duration, &mut fault_rng));
        }
        let mut kernel = Kernel {
            now: Time::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            names: config.node_names,
            slots,
            timers: Timers::default(),
            net: config.network,
            net_rng: Rng::stream(seed, "network"),
            faults: Vec::new(),
            triggers: Vec::new(),
            pending: Vec::new(),
            halted: None,
            halted_disk: (0, 0),
            discarded_metrics: Metrics::default(),
            settling: false,
            stopped_early: false,
            episodes: Vec::new(),
            partitioned_since: None,
            metrics: Metrics::default(),
            history: History::default(),
            stats: Stats::default(),
            hash: TraceHash::default(),
            trace: trace.map(TraceWriter::new),
        };
        let nodes = (0..n as u32)
            .map(|i| Some(model.build(NodeId(i), &[])))
            .collect();
        for i in 0..n as u32 {
            kernel.push(
                0,
                Ev::Start {
                    node: NodeId(i),
                    incarnation: 0,
                },
            );
        }
        for ScheduledFault { when, fault } in &schedule.faults {
            match when {
                When::At(t) => {
                    kernel.faults.push(fault.clone());
                    let i = (kernel.faults.len() - 1) as u32;
                    kernel.push(*t, Ev::Fault(i));
                }
                When::Message {
                    node,
                    direction,
                    kind,
                    count,
                } => kernel.triggers.push(Trigger {
                    node: *node,
                    direction: *direction,
                    kind: kind.clone(),
                    count: *count,
                    seen: 0,
                    source: ScheduledFault {
                        when: when.clone(),
                        fault: fault.clone(),
                    },
                }),
            }
        }
        if end > duration {
            kernel.push(duration, Ev::Settle);
        }
        Sim {
            coverage: FaultCoverage::new(model.phases()),
            kernel,
            nodes,
            model,
            end,
            settle_at: duration,
            max_events: config.max_events,
            seed,
            schedule,
            watch: None,
            interrupted: None,
            max_history: MAX_HISTORY_EVENTS,
        }
    }

    /// Sets the history limit (default [`MAX_HISTORY_EVENTS`]).
    pub fn max_history(mut self, events: usize) -> Self {
        self.max_history = events;
        self
    }

    /// Calls `watch` every [`WATCH_EVERY`] events; when it returns a reason, the run stops
    /// there with [`Stop::Interrupted`] and an `unknown` verdict `run_completed` giving it.
    pub fn watch(mut self, watch: Watch) -> Self {
        self.watch = Some(watch);
        self
    }

    /// Keeps every metric sample with its true time (for charts): memory grows with the run.
    pub fn keep_samples(mut self) -> Self {
        self.kernel.metrics = Metrics::keeping_samples();
        self
    }

    /// The schedule this run will execute (random faults included).
    pub fn schedule(&self) -> &FaultSchedule {
        &self.schedule
    }

    /// Runs to the end and judges the run.
    pub fn run(mut self) -> std::io::Result<RunResult> {
        let stop = self.event_loop();
        let k = &mut self.kernel;
        k.stats.messages_in_flight = k
            .queue
            .iter()
            .filter(|e| matches!(e.ev, Ev::Deliver { .. }))
            .count() as u64;
        self.kernel.stopped_early = matches!(stop, Stop::EventLimit | Stop::Interrupted);
        let (world, metrics, history) = split(&mut self.kernel, &self.nodes);
        let mut verdicts = self.model.finish(&world, history, metrics);
        if stop == Stop::EventLimit {
            verdicts.push(Verdict::unknown(
                "run_completed",
                format!(
                    "stopped after {} events at t={} of {}: the event limit (limits.max_events) was reached before the end; \
                     the protocol may be livelocked, or the limit is too low",
                    self.kernel.stats.events,
                    self.kernel.now,
                    Time(self.end)
                ),
            ));
        }
        if let Some(why) = self.interrupted.take() {
            verdicts.push(Verdict::unknown(
                "run_completed",
                format!(
                    "stopped after {} events at t={} of {}: {why}",
                    self.kernel.stats.events,
                    self.kernel.now,
                    Time(self.end)
                ),
            ));
        }
        if let Some(t) = self.kernel.trace.take() {
            t.finish()?;
        }
        let mut k = self.kernel;
        // Whatever is still wrong at the end lasts until the end.
        if let Some(from) = k.partitioned_since.take() {
            k.episodes.push(Episode {
                what: EpisodeKind::Partitioned,
                from,
                to: k.now,
            });
        }
        for e in k.episodes.iter_mut().filter(|e| e.to == Time::MAX) {
            e.to = k.now;
        }
        k.episodes.sort_by_key(|e| e.from);
        Ok(RunResult {
            seed: self.seed,
            trace_hash: k.hash.value(),
            sim_time: k.now,
            stop,
            stats: k.stats,
            verdicts,
            metrics: k.metrics,
            history: k.history,
            schedule: self.schedule,
            episodes: k.episodes,
            coverage: self.coverage,
            unfired: FaultSchedule {
                faults: k
                    .triggers
                    .into_iter()
                    .filter(|t| t.seen < t.count)
                    .map(|t| t.source)
                    .collect(),
            },
        })
    }

    fn event_loop(&mut self) -> Stop {
        loop {
            let Some(next) = self.kernel.queue.peek() else {
                return Stop::Quiescent;
            };
            if next.time > self.end {
                self.kernel.now = Time(self.end);
                return Stop::TimeUp;
            }
            if self.kernel.stats.events >= self.max_events {
                return Stop::EventLimit;
            }
            // One mask test per event; the hook itself runs once per WATCH_EVERY events.
            if self.kernel.stats.events & (WATCH_EVERY - 1) == 0 && self.kernel.stats.events != 0 {
                if let Some(stop) = self.poll_watch() {
                    return stop;
                }
            }
            let Entry { time, ev, .. } = self.kernel.queue.pop().expect("peeked");
            debug_assert!(time >= self.kernel.now.0, "time never goes backwards");
            self.kernel.now = Time(time);
            self.kernel.metrics.now = time;
            self.kernel.stats.events += 1;
            self.dispatch(ev);
        }
    }

    #[cold]
    fn poll_watch(&mut self) -> Option<Stop> {
        let recorded = self.kernel.history.events.len();
        if recorded > self.max_history {
            self.interrupted = Some(format!(
                "the client history reached {recorded} events, past the limit of {} \
                 (kept whole in memory for the checks); run a shorter duration",
                self.max_history
            ));
            return Some(Stop::Interrupted);
        }
        let watch = self.watch.as_mut()?;
        let progress = Progress {
            events: self.kernel.stats.events,
            now: self.kernel.now,
            end: Time(self.end),
        };
        self.interrupted = Some(watch(&progress)?);
        Some(Stop::Interrupted)
    }

    fn dispatch(&mut self, ev: Ev<<M::Node as Node>::Msg, <M::Node as Node>::Timer>) {
        let k = &mut self.kernel;
        let now = k.now.0;
        match ev {
            Ev::Start { node, incarnation } => {
                if k.slots[node.index()].incarnation != incarnation {
                    return;
                }
                k.hash.mix(TAG_START);
                k.hash.mix(now);
                k.hash.mix(u64::from(node.0));
                if let Some(t) = &mut k.trace {
                    let name = &k.names[node.index()];
                    t.event(now, "start", |l| field_str(l, "node", name));
                }
                let n = self.nodes[node.index()]
                    .as_mut()
                    .expect("a node with a current start event is up");
                n.on_start(&mut Ctx {
                    kernel: k,
                    id: node,
                });
                self.after_handler(Observed::Started(node));
            }
            Ev::Deliver {
                from,
                to,
                incarnation,
                msg,
            } => {
                let kind = msg.kind();
                let slot = &k.slots[to.index()];
                // A message of an earlier life of the receiver (it crashed after the send)
                // reaches the restarted node only under `ToRestarted::Deliver`.
                let earlier_life = slot.incarnation != incarnation;
                let mut reason =
                    if !slot.up || (earlier_life && k.net.to_restarted() == ToRestarted::Drop) {
                        Some(DropReason::ReceiverDown)
                    } else if k.net.drops_in_flight(from, to) {
                        Some(DropReason::Partition)
                    } else {
                        None
                    };
                // A receive trigger fires before the message is handled: if it crashes the
                // receiver, the message is lost with it.
                if reason.is_none() && !k.triggers.is_empty() {
                    k.fire_triggers(to, Direction::Receives, kind);
                    self.apply_pending();
                    if !self.kernel.slots[to.index()].up {
                        reason = Some(DropReason::ReceiverDown);
                    }
                }
                let k = &mut self.kernel;
                if let Some(t) = &mut k.trace {
                    let names = &k.names;
                    t.event(
                        now,
                        if reason.is_some() { "drop" } else { "deliver" },
                        |l| {
                            field_str(l, "from", &names[from.index()]);
                            field_str(l, "to", &names[to.index()]);
                            field_str(l, "kind", kind);
                            if let Some(r) = reason {
                                field_str(l, "reason", r.as_str());
                            }
                        },
                    );
                }
                if let Some(r) = reason {
                    k.count_drop(r);
                    return;
                }
                k.hash.mix(TAG_DELIVER);
                k.hash.mix(now);
                k.hash.mix(u64::from(from.0));
                k.hash.mix(u64::from(to.0));
                k.stats.messages_delivered += 1;
                k.stats.delivered_to_restarted += u64::from(earlier_life);
                let n = self.nodes[to.index()]
                    .as_mut()
                    .expect("an up node has state");
                n.on_message(&mut Ctx { kernel: k, id: to }, from, msg);
                self.after_handler(Observed::Delivered { from, to, kind });
            }
            Ev::Timer {
                node,
                incarnation,
                id,
                tag,
            } => {
                let live = k.timers.take(id);
                if !live || k.slots[node.index()].incarnation != incarnation {
                    return;
                }
                k.hash.mix(TAG_TIMER);
                k.hash.mix(now);
                k.hash.mix(u64::from(node.0));
                tag.hash(&mut k.hash);
                k.stats.timers_fired += 1;
                if let Some(t) = &mut k.trace {
                    let name = &k.names[node.index()];
                    t.event(now, "timer", |l| {
                        field_str(l, "node", name);
                        field_str(l, "tag", &format!("{tag:?}"));
                    });
                }
                let n = self.nodes[node.index()]
                    .as_mut()
                    .expect("an up node has state");
                n.on_timer(
                    &mut Ctx {
                        kernel: k,
                        id: node,
                    },
                    id,
                    tag,
                );
                self.after_handler(Observed::TimerFired(node));
            }
            Ev::Fault(i) => {
                let fault = self.kernel.faults[i as usize].clone();
                self.apply_fault(fault, Some(i));
            }
            Ev::Unblock { fault: i, heals } => {
                let k = &mut self.kernel;
                if heals != k.net.heals() {
                    return; // healed with everything else already
                }
                k.hash.mix(TAG_FAULT);
                if let Some(t) = &mut k.trace {
                    t.event(now, "heal", |l| field_num(l, "partition", i));
                }
                let fault = &k.faults[i as usize];
                for_each_cut_link(fault, |x, y| k.net.unblock(x, y));
                k.note_partition_change();
            }
            Ev::Settle => self.settle(),
        }
    }

    fn after_handler(&mut self, event: Observed) {
        if let Some(node) = self.kernel.halted.take() {
            // The node crashed mid-handler: whatever it wrote after that instant never was.
            let (len, synced) = self.kernel.halted_disk;
            self.kernel.slots[node.index()].disk.rewind(len, synced);
        }
        if !self.kernel.pending.is_empty() {
            self.apply_pending();
        }
        self.observe(event);
    }

    fn observe(&mut self, event: Observed) {
        let (world, metrics, _) = split(&mut self.kernel, &self.nodes);
        self.model.observe(&world, event, metrics);
    }

    fn apply_pending(&mut self) {
        let pending = std::mem::take(&mut self.kernel.pending);
        for f in pending {
            self.apply_fault(f, None);
        }
    }

    /// Applies a fault; `index` is its place in `faults` when it came from there (a partition
    /// needs it to schedule its own end).
    fn apply_fault(&mut self, fault: Fault, index: Option<u32>) {
        let now = self.kernel.now.0;
        if self.kernel.settling && !matches!(fault, Fault::Restart { .. } | Fault::Heal) {
            return; // the settle phase is fault-free by definition
        }
        if !self.kernel.settling {
            let (world, _, _) = split(&mut self.kernel, &self.nodes);
            let under_way = self.model.phases_now(&world);
            self.coverage.record(fault.kind_index(), under_way);
        }
        let k = &mut self.kernel;
        k.hash.mix(TAG_FAULT);
        if let Some(t) = &mut k.trace {
            let text = format!("{fault:?}");
            t.event(now, "fault", |l| field_str(l, "fault", &text));
        }
        match fault {
            Fault::Crash {
                node,
                restart_after_ns,
            } => {
                // Crashing a node that is already down changes nothing, its restart included.
                if let (true, Some(after)) = (self.crash(node), restart_after_ns) {
                    self.schedule_fault(now.saturating_add(after), Fault::Restart { node });
                }
            }
            Fault::Restart { node } => self.restart(node),
            Fault::Partition { heal_after_ns, .. }
            | Fault::PartitionOneWay { heal_after_ns, .. } => {
                for_each_cut_link(&fault, |x, y| k.net.block(x, y));
                k.note_partition_change();
                if let Some(after) = heal_after_ns {
                    let i = index.unwrap_or_else(|| {
                        k.faults.push(fault.clone());
                        (k.faults.len() - 1) as u32
                    });
                    let heals = k.net.heals();
                    k.push(now.saturating_add(after), Ev::Unblock { fault: i, heals });
                }
            }
            Fault::Heal => {
                k.net.heal();
                k.note_partition_change();
            }
            Fault::ClockJump { node, by_ns } => k.slots[node.index()].clock.jump(k.now, by_ns),
            Fault::ClockDrift { node, ppm } => k.slots[node.index()].clock.set_drift(k.now, ppm),
            Fault::Loss { p } => k.net.set_loss(p),
            Fault::Duplicate { p } => k.net.set_duplicate(p),
            Fault::ToRestarted(policy) => k.net.set_to_restarted(policy),
        }
    }

    fn schedule_fault(&mut self, at: u64, fault: Fault) {
        let k = &mut self.kernel;
        k.faults.push(fault);
        let i = (k.faults.len() - 1) as u32;
        k.push(at, Ev::Fault(i));
    }

    /// Crashes `node`; false if it was already down.
    fn crash(&mut self, node: NodeId) -> bool {
        let k = &mut self.kernel;
        let slot = &mut k.slots[node.index()];
        if !slot.up {
            return false;
        }
        slot.up = false;
        slot.incarnation += 1;
        k.stats.unsynced_records_lost += slot.disk.crash() as u64;
        k.stats.crashes += 1;
        k.episodes.push(Episode {
            what: EpisodeKind::Down(node),
            from: k.now,
            to: Time::MAX,
        });
        k.hash.mix(TAG_CRASH);
        k.hash.mix(u64::from(node.0));
        if let Some(t) = &mut k.trace {
            let name = &k.names[node.index()];
            t.event(k.now.0, "crash", |l| field_str(l, "node", name));
        }
        self.nodes[node.index()] = None;
        self.observe(Observed::Crashed(node));
        true
    }

    fn restart(&mut self, node: NodeId) {
        let k = &mut self.kernel;
        let slot = &mut k.slots[node.index()];
        if slot.up {
            return;
        }
        slot.up = true;
        slot.incarnation += 1;
        let incarnation = slot.incarnation;
        k.stats.restarts += 1;
        let down = EpisodeKind::Down(node);
        if let Some(e) = k
            .episodes
            .iter_mut()
            .rev()
            .find(|e| e.what == down && e.to == Time::MAX)
        {
            e.to = k.now;
        }
        k.hash.mix(TAG_RESTART);
        k.hash.mix(u64::from(node.0));
        if let Some(t) = &mut k.trace {
            let name = &k.names[node.index()];
            t.event(k.now.0, "restart", |l| field_str(l, "node", name));
        }
        self.nodes[node.index()] = Some(
            self.model
                .build(node, self.kernel.slots[node.index()].disk.synced()),
        );
        let now = self.kernel.now.0;
        self.kernel.push(now, Ev::Start { node, incarnation });
    }

    /// Enters the settle phase: every link heals and loses or duplicates nothing beyond its
    /// own configuration again, every crashed node restarts, and no fault fires any more.
    /// (Clock offsets and drifts stay: they are the hardware's.)
    fn settle(&mut self) {
        debug_assert_eq!(self.kernel.now.0, self.settle_at);
        // Settling first: the heal and restarts below end the run's faults, they are none.
        self.kernel.settling = true;
        self.apply_fault(Fault::Heal, None);
        self.kernel.net.reset_overrides();
        for i in 0..self.nodes.len() as u32 {
            self.restart(NodeId(i));
        }
    }
}

/// Calls `f` for every directed link a partition fault cuts.
fn for_each_cut_link(fault: &Fault, mut f: impl FnMut(NodeId, NodeId)) {
    match fault {
        Fault::Partition { groups, .. } => {
            for (gi, a) in groups.iter().enumerate() {
                for b in groups
                    .iter()
                    .enumerate()
                    .filter(|(gj, _)| *gj != gi)
                    .map(|(_, b)| b)
                {
                    for &x in a {
                        for &y in b {
                            f(x, y);
                        }
                    }
                }
            }
        }
        Fault::PartitionOneWay { from, to, .. } => {
            for &x in from {
                for &y in to {
                    f(x, y);
                }
            }
        }
        _ => unreachable!("only partitions cut links"),
    }
}
