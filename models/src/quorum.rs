//! A leaderless, Dynamo-style partial-quorum store (Dynamo, Cassandra, Riak): N replicas, a
//! write acknowledged after W replica acks, a read answered with the newest of the first R
//! replies; and how fresh its reads are.
//!
//! The model follows the WARS model of P. Bailis, S. Venkataraman, M. J. Franklin,
//! J. M. Hellerstein and I. Stoica, "Probabilistically Bounded Staleness for Practical
//! Partial Quorums", PVLDB 5(8), 2012: the coordinator sends a write to all N replicas (leg
//! W), each replica acknowledges (leg A), the write commits at the W-th ack; a read goes to
//! all N (leg R), each replica answers with what it holds (leg S), the read returns the newest
//! of the first R answers. With R + W > N every read set meets every write set, so a read
//! sees every write acknowledged before it started; with R + W ≤ N it may not, and PBS's
//! *t-visibility* is the probability that a read started t after a write commits sees it.
//!
//! **Coordinator.** Each client is its own coordinator (as a "smart" client driver is): it
//! sends every request to all N replicas itself and counts the replies. The generic
//! [`Client`] sends one request to one node, so the workload's [`Workload::issued`] hook
//! sends the copies to the other N − 1 replicas, and the client part ([`QuorumClient`]) hands
//! replica replies to the workload, which forwards to the `Client` only the reply that
//! completes the quorum.
//!
//! **Versions.** A write carries a [`Version`]: the client's local clock when it is issued
//! (kept strictly increasing within one client life), then the client and its incarnation as
//! the tie-break, so versions are unique and totally ordered and "newest" is well defined.
//! This is Cassandra's last-writer-wins by client timestamp, skewed clocks included: a client
//! whose clock is behind writes versions that lose to older writes. Replicas keep the newest
//! version per key (synced to their disk before they acknowledge).
//!
//! **Convergence: read repair and anti-entropy.** After a read has its answer it keeps
//! collecting the remaining replies and sends the newest version it has seen to every replica
//! that answered with an older one (`read_repair`, default on). Read repair only reaches keys
//! that are read, and a write that reached fewer than N replicas (a lost message, a crashed
//! client) would otherwise stay partial for ever, so replicas also run anti-entropy: every
//! `anti_entropy_every` each replica sends its whole (small) key map to the next peer in
//! turn, which keeps what is newer and answers with what it holds newer (push-pull, Dynamo's
//! Merkle-tree exchange reduced to its effect for a handful of keys). Writes are not
//! retransmitted by the coordinator and there is no hinted handoff: anti-entropy alone brings
//! every replica up to date once the network heals, whoever crashed, which is what the
//! `convergence` check needs; the price is a timer that never stops (runs end `time_up`, not
//! `quiescent`).
//!
//! **Freshness.** After each acknowledged write, the client probes: it reads the same key
//! t ms later, t cycling through [`FRESH_AFTER_MS`] (0, 1, 2, 5, 10, 20, 50, 100), and
//! records in the fraction metric `p_fresh_after_ms` (label t) whether the probe returned
//! that write or a newer one. Probes run beside the client's own operations and other
//! clients keep writing, so a newer write counts as fresh, as PBS's "or newer" does. Probes
//! are measurement reads: they count in `read_latency_ms` and `stale_reads` and are checked
//! by `read_sees_acked_writes`, but are not in the client history. A probe that gets no R
//! answers within `client_timeout` is no trial.
//!
//! Invariants: `read_sees_acked_writes` (online: every read, the client's and the probes,
//! returns a version at least as new as every write of its key acknowledged before it
//! started; checked when R + W > N, and reported holding as "not applicable" with the count
//! of stale reads when R + W ≤ N, where staleness is the expected behaviour the metrics
//! measure), `convergence` (after the settle phase every replica holds the same newest
//! version of every key). Metrics: `write_latency_ms`, `read_latency_ms`, `stale_reads`
//! (reads that returned an older version than the newest acknowledged at their start),
//! `timeouts` (client operations without their quorum within `client_timeout`),
//! `p_fresh_after_ms`. Known bugs: `ack-before-quorum` (a write is acknowledged one ack
//! short of W; with W = 1 it changes nothing), `read-first-reply` (a read answers with the
//! first reply instead of the newest of R): with R + W = N + 1 (R = W = 2 of 3, the tests')
//! `read_sees_acked_writes` catches both; with more overlap the shrunken quorum (W − 1 acks,
//! or one reply) may still meet every write set, and the bug goes unseen.
//!
//! Clients record a key-value history (`put` / `get`, keys `k0`, `k1`, …); it is not
//! checked, since a partial quorum promises no linearizability.

use crate::{check_roles, nodes_with_role, ModelSpec, NodeInfo, ParamError, Params};
use serde::{Deserialize, Serialize};
use sim::client::{
    Client, ClientConfig, ClientTimer, Completion, HistoryOp, OnTimeout, RequestId, Workload,
};
use sim::dist::Dist;
use sim::history::{History, OpFn, Value};
use sim::invariant::{OnlineCheck, Verdict};
use sim::metrics::Metrics;
use sim::rng::Rng;
use sim::{Ctx, Message, NodeId, Observed, Part, Stopwatch, TimerId, World};
use std::rc::Rc;
use std::time::Duration;

/// The delays (ms) after a write's acknowledgement at which clients probe its key, with
/// their labels in `p_fresh_after_ms`.
pub const FRESH_AFTER_MS: [(u64, &str); 8] = [
    (0, "0"),
    (1, "1"),
    (2, "2"),
    (5, "5"),
    (10, "10"),
    (20, "20"),
    (50, "50"),
    (100, "100"),
];

/// The most replicas (acks and replies are counted in a 64-bit mask) and keys (anti-entropy
/// sends every key in one message).
pub const MAX_REPLICAS: usize = 64;
pub const MAX_KEYS: u32 = 1024;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuorumParams {
    pub kind: String,
    pub bug: Bug,
    /// The replication factor: must equal the number of `replica` nodes when given; derived
    /// from them when left out (and not printed by `consim models`: TOML has no null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Replies a read waits for (1 ≤ r ≤ n).
    pub r: u32,
    /// Acks a write waits for (1 ≤ w ≤ n).
    pub w: u32,
    /// Whether a read sends the newest version it saw to replicas that answered older ones.
    pub read_repair: bool,
    /// Fraction of client operations that are writes.
    pub write_ratio: f64,
    /// How many keys (`k0` .. `k{keys-1}`), each operation picking one uniformly.
    pub keys: u32,
    /// Think time between a client's operations.
    pub think_time: Dist,
    /// How long a client waits for a quorum before recording the operation as indeterminate.
    #[serde(with = "crate::serde_duration")]
    pub client_timeout: Duration,
    /// How often each replica exchanges its versions with the next peer.
    #[serde(with = "crate::serde_duration")]
    pub anti_entropy_every: Duration,
}

impl Default for QuorumParams {
    fn default() -> Self {
        QuorumParams {
            kind: "quorum".into(),
            bug: Bug::None,
            n: None,
            r: 1,
            w: 1,
            read_repair: true,
            write_ratio: 0.5,
            keys: 8,
            think_time: Dist::Exponential { mean: 100_000_000 },
            client_timeout: Duration::from_secs(1),
            anti_entropy_every: Duration::from_secs(1),
        }
    }
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// The coordinator acknowledges a write one replica ack short of W (after one ack
        /// when W = 1): a later read quorum may miss it.
        AckBeforeQuorum = "ack-before-quorum",
        /// A read answers with the first reply instead of the newest of the first R.
        ReadFirstReply = "read-first-reply",
    }
}

/// A write's version: the client's timestamp, then the client and its incarnation as the
/// tie-break. Unique (a client's stamps strictly increase within a life, and no two lives
/// share (client, incarnation)) and totally ordered by the derived `Ord`, fields in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub stamp: i64,
    pub client: u32,
    pub incarnation: u32,
}

/// Printed as `stamp/client/incarnation` (the stamp in the writer's clock nanoseconds).
impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.stamp, self.client, self.incarnation)
    }
}

/// A key's version as evidence prints it: `none` before its first write.
fn show(v: Option<Version>) -> String {
    v.map_or_else(|| "none".into(), |v| format!("version {v}"))
}

/// What a replica stores for a key: the newest version and the value it wrote (unique per
/// write, for the history). Ordered by version: the value never decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub version: Version,
    pub value: i64,
}

/// A quorum operation of one client life: the incarnation, then a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId {
    pub incarnation: u32,
    pub n: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Coordinator → replica: store `cell` under `key` if it is newer.
    Put {
        op: OpId,
        key: u32,
        cell: Cell,
    },
    PutAck {
        op: OpId,
    },
    Get {
        op: OpId,
        key: u32,
    },
    GetReply {
        op: OpId,
        cell: Option<Cell>,
    },
    /// Read repair: a newer version than the replica answered.
    Repair {
        key: u32,
        cell: Cell,
    },
    /// Anti-entropy: the sender's every key; `reply` asks the receiver to answer with what
    /// it holds newer.
    Sync {
        cells: Vec<(u32, Cell)>,
        reply: bool,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &["Put", "PutAck", "Get", "GetReply", "Repair", "Sync"];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Put { .. } => "Put",
            Msg::PutAck { .. } => "PutAck",
            Msg::Get { .. } => "Get",
            Msg::GetReply { .. } => "GetReply",
            Msg::Repair { .. } => "Repair",
            Msg::Sync { .. } => "Sync",
        }
    }
}

/// A replica's disk record: it stored `cell` under `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub key: u32,
    pub cell: Cell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    Client(ClientTimer),
    /// Probe `key` for the write `write`, acknowledged `FRESH_AFTER_MS[label]` ago.
    Probe {
        key: u32,
        label: u8,
        write: Version,
    },
    AntiEntropy,
}

sim::client_timer!(Timer::Client);

/// What every node of one run shares.
struct Setup {
    params: QuorumParams,
    replicas: Vec<NodeId>,
    clients: Vec<NodeId>,
    /// Replies a read waits for and acks a write waits for, as the (possibly buggy)
    /// coordinator counts them.
    read_quorum: usize,
    write_quorum: usize,
}

sim::node_of_parts! {
    /// A node of the store: a replica or a client (its own coordinator).
    pub struct QuorumNode(Setup) {
        msg: Msg, timer: Timer, record: Stored,
        role: Role { Replica(Replica), Client(QuorumClient) }
    }
}

/// A replica: the newest cell per key, and whose turn it is for anti-entropy.
pub struct Replica {
    cells: Vec<Option<Cell>>,
    next_peer: usize,
}

impl Replica {
    /// Keeps `cell` if it is newer than what `key` holds (syncing it first): last writer
    /// wins by version, so a late or duplicated message never rolls a key back.
    fn store(&mut self, ctx: &mut Ctx<'_, QuorumNode>, key: u32, cell: Cell) {
        let Some(slot) = self.cells.get_mut(key as usize) else {
            return;
        };
        if slot.is_none_or(|c| c < cell) {
            *slot = Some(cell);
            ctx.disk().append_synced(Stored { key, cell });
        }
    }

    fn all_cells(&self) -> Vec<(u32, Cell)> {
        self.cells
            .iter()
            .enumerate()
            .filter_map(|(k, c)| c.map(|c| (k as u32, c)))
            .collect()
    }
}

impl Part<QuorumNode, Setup> for Replica {
    fn on_start(&mut self, ctx: &mut Ctx<'_, QuorumNode>, s: &Setup) {
        // Start each replica's rounds at its own phase, so exchanges do not all coincide.
        let period = s.params.anti_entropy_every.as_nanos() as u64;
        let first = 1 + ctx.rng().below(period);
        ctx.set_timer(Duration::from_nanos(first), Timer::AntiEntropy);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, QuorumNode>, _: &Setup, from: NodeId, msg: Msg) {
        match msg {
            Msg::Put { op, key, cell } => {
                self.store(ctx, key, cell);
                // Acknowledged even when a newer version is kept: the key holds this write
                // or one that supersedes it, durably.
                ctx.send(from, Msg::PutAck { op });
            }
            Msg::Get { op, key } => {
                let cell = self.cells.get(key as usize).copied().flatten();
                ctx.send(from, Msg::GetReply { op, cell });
            }
            Msg::Repair { key, cell } => self.store(ctx, key, cell),
            Msg::Sync { cells, reply } => {
                let mut theirs: Vec<Option<Cell>> = vec![None; self.cells.len()];
                for (key, cell) in cells {
                    if let Some(t) = theirs.get_mut(key as usize) {
                        *t = Some(cell);
                    }
                    self.store(ctx, key, cell);
                }
                if reply {
                    let newer: Vec<(u32, Cell)> = self
                        .all_cells()
                        .into_iter()
                        .filter(|&(k, c)| theirs[k as usize].is_none_or(|t| t < c))
                        .collect();
                    if !newer.is_empty() {
                        ctx.send(
                            from,
                            Msg::Sync {
                                cells: newer,
                                reply: false,
                            },
                        );
                    }
                }
            }
            // Replies are for clients.
            Msg::PutAck { .. } | Msg::GetReply { .. } => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, QuorumNode>, s: &Setup, _: TimerId, tag: Timer) {
        if tag != Timer::AntiEntropy {
            return;
        }
        ctx.set_timer(s.params.anti_entropy_every, Timer::AntiEntropy);
        let me = ctx.id();
        let peers = s.replicas.len();
        if peers < 2 {
            return;
        }
        // The next peer in turn, skipping itself: every pair exchanges every N − 1 rounds.
        self.next_peer = (self.next_peer + 1) % peers;
        if s.replicas[self.next_peer] == me {
            self.next_peer = (self.next_peer + 1) % peers;
        }
        ctx.send(
            s.replicas[self.next_peer],
            Msg::Sync {
                cells: self.all_cells(),
                reply: true,
            },
        );
    }
}

/// What a client's coordinator just did that the model's online check must see: at most
/// one per event (a reply completes at most one operation; an operation starts only on a
/// timer), read by [`Quorum::observe`] after the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    None,
    WriteAcked {
        key: u32,
        version: Version,
    },
    ReadStarted {
        op: OpId,
        key: u32,
    },
    ReadAnswered {
        op: OpId,
        key: u32,
        version: Option<Version>,
    },
}

/// Who an open operation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum For {
    /// The client's current request.
    Client,
    /// A freshness probe for `write`, `FRESH_AFTER_MS[label]` after its acknowledgement.
    Probe { label: u8, write: Version },
}

/// An open quorum operation.
struct Open {
    id: OpId,
    key: u32,
    of: For,
    /// The cell a write writes; `None` for a read.
    write: Option<Cell>,
    /// Replicas that answered (bit = index in `Setup::replicas`): duplicates count once.
    answered: u64,
    /// A read's replies so far, by replica index (a write keeps none).
    replies: Vec<(usize, Option<Cell>)>,
    /// The newest cell among the replies so far (or the answer, with `read-first-reply`).
    newest: Option<Cell>,
    /// Whether the client (or probe) has its answer; a read stays open after it for read
    /// repair.
    done: bool,
    started: Stopwatch,
    /// Local clock at the start, to drop reads whose last replies never come.
    started_local: i64,
}

/// A client operation, as drawn.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Put { key: u32, value: i64 },
    Get { key: u32 },
}

/// What completes a client operation.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    Written,
    Read(Option<Cell>),
}

/// The clients' workload and their coordinator: puts and gets of random keys, each sent to
/// every replica, answered at the quorum; freshness probes after every acknowledged write.
pub struct QuorumWorkload {
    setup: Rc<Setup>,
    /// Writes this life issued (history values are unique across clients and lives).
    writes: u64,
    /// The next operation's number, and the last version stamp, in this life.
    next_op: u64,
    last_stamp: i64,
    /// Acknowledged writes this life (cycles the probe delays).
    acked: u64,
    open: Vec<Open>,
    /// The client's current request, while open.
    current: Option<OpId>,
    /// The quorum reply that completes the client's current request, as `reply` reads it.
    answer: Option<(OpId, RequestId, Reply)>,
    /// The request id of the client's current request.
    current_req: Option<RequestId>,
    /// The last note and how many this life wrote (see [`Note`]).
    pub note: Note,
    pub notes: u64,
}

impl QuorumWorkload {
    fn notify(&mut self, note: Note) {
        self.note = note;
        self.notes += 1;
    }

    fn next_id(&mut self, ctx: &Ctx<'_, QuorumNode>) -> OpId {
        self.next_op += 1;
        OpId {
            incarnation: ctx.incarnation(),
            n: self.next_op,
        }
    }

    /// Opens an operation and sends it to every replica but `skip` (the one the generic
    /// client sends to itself).
    fn open(
        &mut self,
        ctx: &mut Ctx<'_, QuorumNode>,
        id: OpId,
        key: u32,
        of: For,
        write: Option<Cell>,
        skip: Option<NodeId>,
    ) {
        let s = Rc::clone(&self.setup);
        let now = ctx.local_clock();
        let timeout = s.params.client_timeout.as_nanos() as i64;
        // Reads whose last replies never came (read repair is best effort), and probes that
        // got no quorum: dropped once `client_timeout` has passed. The client's own request
        // ends through the client (`gave_up`).
        let current = self.current;
        self.open
            .retain(|o| Some(o.id) == current || now.saturating_sub(o.started_local) <= timeout);
        for &r in &s.replicas {
            if Some(r) != skip {
                ctx.send(r, request(id, key, write));
            }
        }
        self.open.push(Open {
            id,
            key,
            of,
            write,
            answered: 0,
            replies: Vec::new(),
            newest: None,
            done: false,
            started: ctx.stopwatch(),
            started_local: now,
        });
        if write.is_none() {
            self.notify(Note::ReadStarted { op: id, key });
        }
    }

    /// A replica's reply: counts it, and when it completes the client's request returns the
    /// message for the [`Client`] to read.
    fn collect(&mut self, ctx: &mut Ctx<'_, QuorumNode>, from: NodeId, msg: Msg) -> Option<Msg> {
        let s = Rc::clone(&self.setup);
        let (op, cell) = match msg {
            Msg::PutAck { op } => (op, None),
            Msg::GetReply { op, cell } => (op, cell),
            _ => return None,
        };
        let replica = s.replicas.iter().position(|&r| r == from)?;
        let i = self.open.iter().position(|o| o.id == op)?;
        let o = &mut self.open[i];
        if o.answered & (1 << replica) != 0 {
            return None; // a duplicate
        }
        o.answered |= 1 << replica;
        let count = o.answered.count_ones() as usize;
        if let Some(written) = o.write {
            if count < s.write_quorum {
                return None;
            }
            // Acknowledged: later acks are of no use (anti-entropy spreads the write).
            let o = self.open.swap_remove(i);
            self.notify(Note::WriteAcked {
                key: o.key,
                version: written.version,
            });
            self.probe_later(ctx, o.key, written.version);
            return self.complete(&o, op, msg, Reply::Written);
        }
        // A read.
        o.replies.push((replica, cell));
        let first_reply = count == 1;
        if !o.done {
            if s.params.bug != Bug::ReadFirstReply || first_reply {
                o.newest = o.newest.max(cell);
            }
            if count < s.read_quorum {
                return None;
            }
            o.done = true;
            let (key, answer) = (o.key, o.newest);
            if s.params.read_repair {
                repair(ctx, &s, o);
            }
            let o = &self.open[i];
            let (of, started) = (o.of, o.started);
            if count == s.replicas.len() {
                self.open.swap_remove(i);
            }
            self.notify(Note::ReadAnswered {
                op,
                key,
                version: answer.map(|c| c.version),
            });
            return match of {
                For::Client => {
                    let req = self.current_req?;
                    (self.current == Some(op)).then(|| {
                        self.answer = Some((op, req, Reply::Read(answer)));
                        msg
                    })
                }
                For::Probe { label, write } => {
                    ctx.record_elapsed("read_latency_ms", started);
                    let fresh = answer.is_some_and(|c| c.version >= write);
                    ctx.metrics().record_fraction(
                        "p_fresh_after_ms",
                        FRESH_AFTER_MS[label as usize].1,
                        fresh,
                    );
                    None
                }
            };
        }
        // A reply after the answer: read repair only.
        if s.params.read_repair {
            o.newest = o.newest.max(cell);
            repair(ctx, &s, o);
        }
        if count == s.replicas.len() {
            self.open.swap_remove(i);
        }
        None
    }

    /// The client's request is complete: remembers its reply for `reply` to read.
    fn complete(&mut self, o: &Open, op: OpId, msg: Msg, reply: Reply) -> Option<Msg> {
        if o.of != For::Client || self.current != Some(op) {
            return None;
        }
        self.answer = Some((op, self.current_req?, reply));
        Some(msg)
    }

    /// Sets the probe of the write just acknowledged, at the next delay in turn.
    fn probe_later(&mut self, ctx: &mut Ctx<'_, QuorumNode>, key: u32, write: Version) {
        if ctx.is_settling() {
            return;
        }
        let label = (self.acked % FRESH_AFTER_MS.len() as u64) as u8;
        self.acked += 1;
        let after = Duration::from_millis(FRESH_AFTER_MS[label as usize].0);
        ctx.set_timer(after, Timer::Probe { key, label, write });
    }

    fn probe(&mut self, ctx: &mut Ctx<'_, QuorumNode>, key: u32, label: u8, write: Version) {
        if ctx.is_settling() {
            return;
        }
        let id = self.next_id(ctx);
        self.open(ctx, id, key, For::Probe { label, write }, None, None);
    }
}

/// Sends the newest cell a read has seen to every replica that answered an older one (once:
/// the reply is marked as repaired).
fn repair(ctx: &mut Ctx<'_, QuorumNode>, s: &Setup, o: &mut Open) {
    let Some(newest) = o.newest else {
        return;
    };
    for (replica, cell) in &mut o.replies {
        if cell.is_none_or(|c| c < newest) {
            ctx.send(
                s.replicas[*replica],
                Msg::Repair {
                    key: o.key,
                    cell: newest,
                },
            );
            *cell = Some(newest);
        }
    }
}

fn request(op: OpId, key: u32, write: Option<Cell>) -> Msg {
    match write {
        Some(cell) => Msg::Put { op, key, cell },
        None => Msg::Get { op, key },
    }
}

fn key_name(key: u32) -> String {
    format!("k{key}")
}

impl Workload for QuorumWorkload {
    type Node = QuorumNode;
    type Op = Op;
    type Reply = Reply;

    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Op {
        self.current_req = Some(id);
        let s = &*self.setup;
        let write = rng.unit() < s.params.write_ratio;
        let key = rng.below(u64::from(s.params.keys)) as u32;
        if write {
            self.writes += 1;
            let value = crate::unique_value(id, self.writes);
            Op::Put { key, value }
        } else {
            Op::Get { key }
        }
    }

    /// The generic client sends to the first replica; [`Workload::issued`] has sent the
    /// copies to the others.
    fn target(&self, _: &Op, _: u32) -> NodeId {
        self.setup.replicas[0]
    }

    fn request(&self, _: RequestId, op: &Op, _: u32) -> Msg {
        let id = self.current.expect("issued opened the request");
        let o = self
            .open
            .iter()
            .find(|o| o.id == id)
            .expect("the request is open");
        let key = match *op {
            Op::Put { key, .. } | Op::Get { key } => key,
        };
        request(id, key, o.write)
    }

    fn reply(&self, msg: Msg) -> Option<(RequestId, Reply)> {
        let op = match msg {
            Msg::PutAck { op } | Msg::GetReply { op, .. } => op,
            _ => return None,
        };
        match self.answer {
            Some((answered, req, reply)) if answered == op => Some((req, reply)),
            _ => None,
        }
    }

    fn metric(&self, op: &Op) -> &'static str {
        match op {
            Op::Put { .. } => "write_latency_ms",
            Op::Get { .. } => "read_latency_ms",
        }
    }

    fn history(&self, op: &Op) -> Option<HistoryOp> {
        let (f, key, value) = match *op {
            Op::Put { key, value } => (OpFn::Put, key, Value::Int(value)),
            Op::Get { key } => (OpFn::Get, key, Value::Null),
        };
        Some(HistoryOp {
            f,
            key: Some(key_name(key)),
            value,
        })
    }

    fn issued(&mut self, ctx: &mut Ctx<'_, QuorumNode>, op: &Op) {
        let id = self.next_id(ctx);
        let (key, write) = match *op {
            Op::Put { key, value } => {
                // The client's clock, strictly increasing within this life.
                self.last_stamp = ctx.local_clock().max(self.last_stamp.saturating_add(1));
                let version = Version {
                    stamp: self.last_stamp,
                    client: ctx.id().0,
                    incarnation: ctx.incarnation(),
                };
                (key, Some(Cell { version, value }))
            }
            Op::Get { key } => (key, None),
        };
        self.current = Some(id);
        let first = self.setup.replicas[0];
        self.open(ctx, id, key, For::Client, write, Some(first));
    }

    fn completed(&mut self, _: &mut Ctx<'_, QuorumNode>, op: &Op, reply: Reply) -> Completion {
        self.current = None;
        match (op, reply) {
            (Op::Put { value, .. }, _) => Completion::Ok(Value::Int(*value)),
            (Op::Get { .. }, Reply::Read(cell)) => {
                Completion::Ok(cell.map_or(Value::Null, |c| Value::Int(c.value)))
            }
            (Op::Get { .. }, Reply::Written) => unreachable!("a put's ack never answers a get"),
        }
    }

    fn gave_up(&mut self, ctx: &mut Ctx<'_, QuorumNode>, _: &Op) {
        if let Some(id) = self.current.take() {
            self.open.retain(|o| o.id != id);
        }
        ctx.metrics().add("timeouts", 1);
    }
}

/// A client node: the generic client, whose workload is also its coordinator.
pub struct QuorumClient {
    pub client: Client<QuorumWorkload>,
}

impl Part<QuorumNode, Setup> for QuorumClient {
    fn on_start(&mut self, ctx: &mut Ctx<'_, QuorumNode>, _: &Setup) {
        let m = ctx.metrics();
        m.declare("write_latency_ms");
        m.declare("read_latency_ms");
        m.declare_counter("stale_reads");
        m.declare_counter("timeouts");
        let labels = FRESH_AFTER_MS.map(|(_, label)| label);
        m.declare_fractions("p_fresh_after_ms", &labels);
        self.client.start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, QuorumNode>, _: &Setup, from: NodeId, msg: Msg) {
        if let Some(done) = self.client.workload.collect(ctx, from, msg) {
            self.client.on_message(ctx, done);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, QuorumNode>, _: &Setup, _: TimerId, tag: Timer) {
        match tag {
            Timer::Client(t) => self.client.on_timer(ctx, t),
            Timer::Probe { key, label, write } => {
                self.client.workload.probe(ctx, key, label, write)
            }
            Timer::AntiEntropy => {}
        }
    }
}

/// The model: the nodes' setup and the online freshness check.
pub struct Quorum {
    setup: Rc<Setup>,
    /// Per key, the newest version acknowledged to a client so far.
    acked: Vec<Option<Version>>,
    /// Per node, the client notes already seen.
    seen: Vec<u64>,
    /// Per node, the open reads with the newest acknowledged version of their key when they
    /// started (their floor).
    floors: Vec<Vec<(OpId, Option<Version>)>>,
    stale: u64,
    reads_checked: u64,
    read_sees_acked_writes: OnlineCheck,
}

impl Quorum {
    fn strict(&self) -> bool {
        let s = &self.setup;
        s.params.r as usize + s.params.w as usize > s.replicas.len()
    }
}

impl sim::Model for Quorum {
    type Node = QuorumNode;

    fn build(&mut self, id: NodeId, disk: &[Stored]) -> QuorumNode {
        let s = &self.setup;
        let role = if s.replicas.contains(&id) {
            let mut cells = vec![None; s.params.keys as usize];
            for st in disk {
                let c: &mut Option<Cell> = &mut cells[st.key as usize];
                *c = (*c).max(Some(st.cell));
            }
            Role::Replica(Replica {
                cells,
                next_peer: 0,
            })
        } else {
            let ordinal = s
                .clients
                .iter()
                .position(|&c| c == id)
                .expect("every node has a role");
            let config = ClientConfig {
                think_time: s.params.think_time.clone(),
                timeout: s.params.client_timeout,
                on_timeout: OnTimeout::GiveUp,
            };
            let workload = QuorumWorkload {
                setup: Rc::clone(s),
                writes: 0,
                next_op: 0,
                last_stamp: i64::MIN,
                acked: 0,
                open: Vec::new(),
                current: None,
                answer: None,
                current_req: None,
                note: Note::None,
                notes: 0,
            };
            Role::Client(QuorumClient {
                client: Client::new(workload, config, ordinal as u32, s.clients.len() as u32),
            })
        };
        QuorumNode {
            setup: Rc::clone(s),
            role,
        }
    }

    /// Reads each client's note: an acknowledged write raises its key's floor, a read
    /// started takes the floor of its key, a read answered is compared with it.
    fn observe(&mut self, world: &World<'_, QuorumNode>, event: Observed, metrics: &mut Metrics) {
        let at = match event {
            Observed::Delivered { to, .. } => to,
            Observed::TimerFired(n) => n,
            Observed::Started(n) | Observed::Crashed(n) => {
                // A new life writes its notes from zero; its reads died with the old one.
                self.seen[n.index()] = 0;
                self.floors[n.index()].clear();
                return;
            }
        };
        let Some(Role::Client(c)) = world.nodes[at.index()].as_ref().map(|n| &n.role) else {
            return;
        };
        let w = &c.client.workload;
        if w.notes == self.seen[at.index()] {
            return;
        }
        debug_assert_eq!(w.notes, self.seen[at.index()] + 1, "one note per event");
        self.seen[at.index()] = w.notes;
        match w.note {
            Note::None => {}
            Note::WriteAcked { key, version } => {
                let a = &mut self.acked[key as usize];
                *a = (*a).max(Some(version));
            }
            Note::ReadStarted { op, key } => {
                let floor = self.acked[key as usize];
                // Reads that ended unanswered (a client timeout, a probe without its quorum)
                // are no longer open: their floors go, so the table stays as small as the
                // client's open reads.
                let floors = &mut self.floors[at.index()];
                floors.retain(|f| w.open.iter().any(|o| o.id == f.0));
                floors.push((op, floor));
            }
            Note::ReadAnswered { op, key, version } => {
                let floors = &mut self.floors[at.index()];
                let Some(i) = floors.iter().position(|f| f.0 == op) else {
                    return;
                };
                let (_, floor) = floors.swap_remove(i);
                self.reads_checked += 1;
                if version < floor {
                    self.stale += 1;
                    metrics.add("stale_reads", 1);
                    if self.strict() {
                        self.read_sees_acked_writes.violate(|| {
                            format!(
                                "at t={}: {} read k{key} and got {}, but {} was acknowledged before the read started",
                                world.now,
                                world.name(at),
                                show(version),
                                show(floor)
                            )
                        });
                    }
                }
            }
        }
    }

    fn finish(
        &mut self,
        world: &World<'_, QuorumNode>,
        _: &History,
        _: &mut Metrics,
    ) -> Vec<Verdict> {
        let s = &self.setup;
        let (n, r, w) = (s.replicas.len(), s.params.r, s.params.w);
        let fresh = if self.strict() {
            self.read_sees_acked_writes.verdict(
                "read_sees_acked_writes",
                format!(
                    "{} reads each returned a version at least as new as every write of its key acknowledged before it started (R + W = {} > N = {n})",
                    self.reads_checked,
                    r + w
                ),
            )
        } else {
            Verdict::holds(
                "read_sees_acked_writes",
                format!(
                    "not applicable: R + W = {} ≤ N = {n} promises no fresh reads; {} of {} reads were stale (stale_reads)",
                    r + w,
                    self.stale,
                    self.reads_checked
                ),
            )
        };
        vec![fresh, convergence(world, s)]
    }
}

fn convergence(world: &World<'_, QuorumNode>, s: &Setup) -> Verdict {
    if let Some(unknown) = world.unsettled("convergence") {
        return unknown;
    }
    let cells = |id: NodeId| match world.nodes[id.index()].as_ref().map(|n| &n.role) {
        Some(Role::Replica(r)) => Some(&r.cells),
        _ => None,
    };
    let Some(first) = cells(s.replicas[0]) else {
        return Verdict::unknown(
            "convergence",
            format!("{} is down at the end", world.name(s.replicas[0])),
        );
    };
    for &r in &s.replicas[1..] {
        let Some(other) = cells(r) else {
            return Verdict::unknown(
                "convergence",
                format!("{} is down at the end", world.name(r)),
            );
        };
        if let Some(k) = (0..first.len()).find(|&k| first[k] != other[k]) {
            let v = |c: Option<Cell>| show(c.map(|c| c.version));
            return Verdict::violated(
                "convergence",
                format!(
                    "k{k}: {} holds {} but {} holds {}",
                    world.name(s.replicas[0]),
                    v(first[k]),
                    world.name(r),
                    v(other[k])
                ),
            );
        }
    }
    let written = first.iter().filter(|c| c.is_some()).count();
    Verdict::holds(
        "convergence",
        format!(
            "{} replicas hold the same newest version of every key ({written} of {} keys written)",
            s.replicas.len(),
            first.len()
        ),
    )
}

impl Params for QuorumParams {
    type Model = Quorum;
    const SPEC: ModelSpec = ModelSpec {
        kind: "quorum",
        summary: "leaderless partial quorums (Dynamo, Cassandra): N replicas, W write acks, newest of R read replies, read repair, anti-entropy; freshness t ms after a write (PBS)",
        invariants: &["read_sees_acked_writes", "convergence"],
        metrics: &[
            "write_latency_ms",
            "read_latency_ms",
            "stale_reads",
            "timeouts",
            "p_fresh_after_ms",
        ],
        bugs: Bug::KNOWN,
        unnamed_bugs: Bug::UNNAMED,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<Quorum, ParamError> {
        check_roles(nodes, &["replica", "client"])?;
        let replicas = nodes_with_role(nodes, "replica");
        let clients = nodes_with_role(nodes, "client");
        if replicas.is_empty() || replicas.len() > MAX_REPLICAS {
            return Err(ParamError::new(
                "nodes",
                format!(
                    "needs 1 to {MAX_REPLICAS} nodes with role `replica`, found {}",
                    replicas.len()
                ),
            ));
        }
        if clients.is_empty() {
            return Err(ParamError::new(
                "nodes",
                "needs at least one node with role `client`: the workload would be empty",
            ));
        }
        let n = replicas.len() as u32;
        if let Some(given) = self.n {
            if given != n {
                return Err(ParamError::new(
                    "model.n",
                    format!("is {given} but the scenario has {n} nodes with role `replica` (leave `n` out to take their count)"),
                ));
            }
        }
        for (field, q) in [("model.r", self.r), ("model.w", self.w)] {
            if q < 1 || q > n {
                return Err(ParamError::new(
                    field,
                    format!("must be within 1 ..= n = {n}, got {q}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.write_ratio) {
            return Err(ParamError::new(
                "model.write_ratio",
                format!("must be within [0, 1], got {}", self.write_ratio),
            ));
        }
        if self.keys < 1 || self.keys > MAX_KEYS {
            return Err(ParamError::new(
                "model.keys",
                format!("must be within 1 ..= {MAX_KEYS}, got {}", self.keys),
            ));
        }
        if self.client_timeout.is_zero() {
            return Err(ParamError::new("model.client_timeout", "must be positive"));
        }
        if self.anti_entropy_every < Duration::from_millis(1) {
            return Err(ParamError::new(
                "model.anti_entropy_every",
                "must be at least 1ms (each round sends every key)",
            ));
        }
        let (r, w) = (self.r as usize, self.w as usize);
        let write_quorum = if self.bug == Bug::AckBeforeQuorum {
            w.saturating_sub(1).max(1)
        } else {
            w
        };
        let read_quorum = r;
        let (nodes_count, keys) = (nodes.len(), self.keys as usize);
        Ok(Quorum {
            setup: Rc::new(Setup {
                params: self,
                replicas,
                clients,
                read_quorum,
                write_quorum,
            }),
            acked: vec![None; keys],
            seen: vec![0; nodes_count],
            floors: vec![Vec::new(); nodes_count],
            stale: 0,
            reads_checked: 0,
            read_sees_acked_writes: OnlineCheck::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(stamp: i64, client: u32, incarnation: u32) -> Cell {
        Cell {
            version: Version {
                stamp,
                client,
                incarnation,
            },
            value: stamp * 100 + i64::from(client),
        }
    }

    /// Last writer wins by (stamp, client, incarnation): the tie-break decides equal stamps,
    /// and keeping the maximum is commutative, so replicas that receive the same writes in
    /// any order (writes, read repairs, anti-entropy) hold the same cell.
    #[test]
    fn newest_wins_in_any_order() {
        let cells = [
            cell(5, 1, 0),
            cell(5, 0, 2),
            cell(5, 0, 0),
            cell(4, 9, 9),
            cell(5, 1, 2),
        ];
        let newest = cell(5, 1, 2);
        // Every rotation and the reversal of the arrival order.
        for k in 0..cells.len() {
            for rev in [false, true] {
                let mut order = cells.to_vec();
                order.rotate_left(k);
                if rev {
                    order.reverse();
                }
                let kept = order
                    .iter()
                    .fold(None, |kept: Option<Cell>, &c| kept.max(Some(c)));
                assert_eq!(kept, Some(newest), "{order:?}");
            }
        }
        assert!(cell(5, 0, 2) < cell(5, 1, 0) && cell(4, 9, 9) < cell(5, 0, 0));
    }
}
