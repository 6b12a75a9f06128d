//! Nodes and their context: the only way a node acts on the world.
//!
//! A node is a state machine reacting to `start`, `message` and `timer`. It sends, sets
//! timers, reads its *local* clock, draws randomness and writes its disk only through
//! [`Ctx`]; true time stays in the kernel. A [`Model`] builds nodes (from their disks, on
//! restart), watches every event with a god's-eye view (online invariants) and judges the
//! run at its end.

use crate::disk::Disk;
use crate::history::{EventType, History, OpFn, Value};
use crate::invariant::Verdict;
use crate::metrics::Metrics;
use crate::rng::Rng;
use crate::sim::{Kernel, Slot, Stats};
use crate::time::Time;
use crate::NodeId;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

/// A protocol message. `kind` names it for fault triggers, traces and diagrams ("Prepare");
/// `Hash` feeds its content into the trace hash.
pub trait Message: Clone + Debug + Hash {
    /// Every kind `kind` may return: the one list of the model's message names (what
    /// `consim models` prints and fault triggers may name). Debug builds check each message
    /// sent against it.
    const KINDS: &'static [&'static str];

    fn kind(&self) -> &'static str;
}

/// A node's state machine.
pub trait Node: Sized {
    type Msg: Message;
    /// What the node writes to its disk.
    type Record: Clone + Debug;
    /// What its timers say when they fire (an enum of the node's timers; `()` if it has
    /// none). `Hash` feeds it into the trace hash.
    type Timer: Copy + Debug + Hash;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg);
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: TimerId, tag: Self::Timer);
}

/// A technique under test: how to build its nodes, what it checks.
pub trait Model {
    type Node: Node;

    /// Builds node `id` from its durable records: empty at first start, the synced log after
    /// a crash.
    fn build(&mut self, id: NodeId, disk: &[<Self::Node as Node>::Record]) -> Self::Node;

    /// Called after every event with a god's-eye view: the place for online invariants and
    /// metrics that need true time. Must not allocate on the common path.
    fn observe(
        &mut self,
        _world: &World<'_, Self::Node>,
        _event: Observed,
        _metrics: &mut Metrics,
    ) {
    }

    /// The protocol's phases (at most [`crate::fault::FaultCoverage::MAX_PHASES`]), for fault coverage:
    /// each fault that strikes is counted against the phases under way at that moment.
    fn phases(&self) -> &'static [&'static str] {
        &[]
    }

    /// Which of [`Model::phases`] are under way now, bit i for phase i (several at once when
    /// several operations are in flight). Asked once per fault, just before it takes effect,
    /// so it may scan: a crashed node's state is on its disk.
    fn phases_now(&self, _world: &World<'_, Self::Node>) -> u32 {
        0
    }

    /// The end-of-run verdicts, one per invariant the model checks.
    fn finish(
        &mut self,
        world: &World<'_, Self::Node>,
        history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict>;
}

/// What just happened, for [`Model::observe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    Started(NodeId),
    Delivered {
        from: NodeId,
        to: NodeId,
        kind: &'static str,
    },
    TimerFired(NodeId),
    Crashed(NodeId),
}

/// The god's-eye view: every node's state (`None` while crashed) and disk, and true time.
pub struct World<'a, N: Node> {
    pub now: Time,
    pub nodes: &'a [Option<N>],
    pub(crate) names: &'a [String],
    pub(crate) slots: &'a [Slot<N::Record>],
    pub(crate) settling: bool,
    pub(crate) stopped_early: bool,
    pub(crate) stats: &'a Stats,
}

impl<N: Node> World<'_, N> {
    pub fn disk(&self, id: NodeId) -> &Disk<N::Record> {
        &self.slots[id.index()].disk
    }

    pub fn name(&self, id: NodeId) -> &str {
        &self.names[id.index()]
    }

    /// What the kernel counted so far (messages sent and delivered, crashes, restarts...):
    /// a model reports these instead of counting them again.
    pub fn stats(&self) -> &Stats {
        self.stats
    }

    /// True once the run is in its settle phase: faults stopped, every node restarted.
    pub fn is_settling(&self) -> bool {
        self.settling
    }

    /// For checks that need a quiescent system (convergence, no stuck locks, every saga
    /// finished): an `unknown` verdict when the run never settled — it has no `settle` phase,
    /// or the event limit stopped it first — so that a run cut short is not mistaken for a
    /// broken protocol.
    pub fn unsettled(&self, name: &'static str) -> Option<Verdict> {
        if self.stopped_early {
            Some(Verdict::unknown(
                name,
                "the run stopped at its event limit before it could settle",
            ))
        } else if !self.settling {
            Some(Verdict::unknown(name, "the run has no settle phase (`settle` in the scenario), so nothing is quiescent to check"))
        } else {
            None
        }
    }
}

/// A timer handle, for cancelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// An opaque start instant for measuring latency in true time. Nodes cannot read it, so
/// metrics are exact without letting true time leak into protocol logic. The default is the
/// start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stopwatch(Time);

/// A node's handle on the world during one event.
pub struct Ctx<'a, N: Node> {
    pub(crate) kernel: &'a mut Kernel<N>,
    pub(crate) id: NodeId,
}

impl<N: Node> Ctx<'_, N> {
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's incarnation: it changes at every crash and restart and never repeats, so
    /// a node can tag its requests with it and tell its own replies from an earlier life's.
    pub fn incarnation(&self) -> u32 {
        self.kernel.slots[self.id.index()].incarnation
    }

    pub fn node_count(&self) -> usize {
        self.kernel.names.len()
    }

    /// The node's local clock, in nanoseconds: skewed, drifting, possibly jumping backwards.
    pub fn local_clock(&self) -> i64 {
        self.kernel.slots[self.id.index()]
            .clock
            .local(self.kernel.now)
    }

    /// Sends `msg` to `to` through the network (which may drop, delay, duplicate or reorder it).
    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        self.kernel.send(self.id, to, msg);
    }

    /// Sets a timer firing after `after` as this node's clock measures it at the drift rate in
    /// force now (a later drift change or clock jump does not move a pending timer); `tag`
    /// comes back with it.
    pub fn set_timer(&mut self, after: Duration, tag: N::Timer) -> TimerId {
        self.kernel.set_timer(self.id, after, tag)
    }

    /// Cancels a timer; cancelling one that already fired is harmless.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.kernel.timers.cancel(timer);
    }

    /// The node's own random stream (protocol choices: jitter, backoff, peer choice).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.kernel.slots[self.id.index()].rng
    }

    /// The node's workload stream: what clients ask for. Kept apart from [`Ctx::rng`] so that
    /// faults and retries never shift the sequence of operations (common random numbers).
    pub fn workload_rng(&mut self) -> &mut Rng {
        &mut self.kernel.slots[self.id.index()].workload_rng
    }

    /// The node's think-time stream: how long a client waits between operations. Apart from
    /// [`Ctx::workload_rng`] because a crash throws away a drawn think time and a restart
    /// draws another: on one stream with the operations that would shift every later one.
    pub fn think_rng(&mut self) -> &mut Rng {
        &mut self.kernel.slots[self.id.index()].think_rng
    }

    /// The node's disk. After a triggered crash mid-handler, writes still land here but are
    /// forgotten when the handler returns, synced or not: the node died before making them.
    pub fn disk(&mut self) -> &mut Disk<N::Record> {
        &mut self.kernel.slots[self.id.index()].disk
    }

    /// True once the run settles: clients should stop issuing new operations.
    pub fn is_settling(&self) -> bool {
        self.kernel.settling
    }

    /// True when a triggered crash has hit this node during the current handler: everything
    /// it does from now on is discarded. Handlers may stop early when they see it.
    pub fn is_halted(&self) -> bool {
        self.kernel.halted == Some(self.id)
    }

    pub fn stopwatch(&self) -> Stopwatch {
        Stopwatch(self.kernel.now)
    }

    /// Records the true time elapsed since `since` into the duration metric `name`.
    pub fn record_elapsed(&mut self, name: &'static str, since: Stopwatch) {
        if self.is_halted() {
            return;
        }
        let ns = self.kernel.now.0.saturating_sub(since.0 .0);
        self.kernel.metrics.record_nanos(name, ns);
    }

    /// The run's metrics; a node halted by a triggered crash writes to a sink instead.
    pub fn metrics(&mut self) -> &mut Metrics {
        if self.is_halted() {
            return &mut self.kernel.discarded_metrics;
        }
        &mut self.kernel.metrics
    }

    /// Records a client history event at the current true time, in `session` if any.
    #[allow(clippy::too_many_arguments)] // one per field of the history's event
    pub fn record_op(
        &mut self,
        process: u64,
        kind: EventType,
        f: OpFn,
        key: Option<String>,
        value: Value,
        error: Option<String>,
        session: Option<u64>,
    ) {
        if self.is_halted() {
            return; // the client crashed before it could observe this
        }
        let now = self.kernel.now.0;
        let history = &mut self.kernel.history;
        history.push(now, process, kind, f, key, value, error);
        if let Some(session) = session {
            history.set_session(session);
        }
    }
}
