//! A single-leader replicated register, the kernel's own demonstration model.
//!
//! Clients write unique integers to the leader and read either from the leader or from a
//! random replica. The leader durably logs each write, replicates it to every replica and
//! acknowledges the client either once all replicas have it (`replication = "sync"`) or at
//! once (`"async"`). Lost replication messages are retransmitted until acknowledged. There is
//! no failover: a crashed leader is unavailable until it restarts from its log.
//!
//! Requests carry the client's incarnation with the operation number ([`ReqId`]): a reply
//! to an earlier life's request never completes a later one's. The leader logs each client
//! request once (its log records which request wrote what, so this survives its crashes): a
//! duplicated or late `Write` is answered again or ignored, never logged twice. Replicas
//! apply writes by log position, so the leader keeps, per replica, the highest position it
//! acknowledged, resends only the latest write to a lagging replica, and runs its
//! retransmit timer only while a replica lags: a quiet register goes quiescent.
//!
//! Invariants: `linearizable` (the clients' history), `acked_writes_durable` (every
//! acknowledged write is in the leader's synced log), `acked_on_every_replica` (online,
//! sync replication: when the leader acknowledges a write, every replica's synced log has
//! reached it), `replicas_converge` (after settling). Known bugs: `ack-before-sync`,
//! `ack-after-one-replica`.
//!
//! It exercises the whole kernel: network faults (retransmission), crashes (recovery from the
//! synced log), client histories with timeouts (`info`), online and end-of-run invariants.

use crate::{check_roles, nodes_with_role, ModelSpec, NodeInfo, ParamError, Params};
use serde::{Deserialize, Serialize};
use sim::client::{
    Client, ClientConfig, ClientTimer, Completion, HasClientTimer, HistoryOp, OnTimeout, RequestId,
    Workload,
};
use sim::dist::Dist;
use sim::history::{EventType, History, OpFn, Value};
use sim::invariant::{OnlineCheck, Verdict};
use sim::metrics::Metrics;
use sim::rng::Rng;
use sim::{Ctx, Message, NodeId, Observed, Part, TimerId, World};
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterParams {
    pub kind: String,
    pub bug: Bug,
    /// When the leader acknowledges a write: after every replica has it, or at once.
    pub replication: Replication,
    /// Where clients read: the leader (linearizable) or a random replica (possibly stale).
    pub read_from: ReadFrom,
    /// Fraction of client operations that are writes.
    pub write_ratio: f64,
    /// Think time between a client's operations.
    pub think_time: Dist,
    /// How long a client waits before recording an operation as indeterminate (`info`).
    #[serde(with = "crate::serde_duration")]
    pub client_timeout: Duration,
    /// How often the leader retransmits unacknowledged replication messages.
    #[serde(with = "crate::serde_duration")]
    pub retransmit_every: Duration,
}

impl Default for RegisterParams {
    fn default() -> Self {
        RegisterParams {
            kind: "replicated_register".into(),
            bug: Bug::None,
            replication: Replication::Sync,
            read_from: ReadFrom::Leader,
            write_ratio: 0.5,
            think_time: Dist::Exponential { mean: 50_000_000 },
            client_timeout: Duration::from_secs(1),
            retransmit_every: Duration::from_millis(200),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    Sync,
    Async,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    Leader,
    Replicas,
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// The leader acknowledges a write before syncing it: a leader crash loses acknowledged
        /// writes (`acked_writes_durable` breaks).
        AckBeforeSync = "ack-before-sync",
        /// With sync replication, the leader acknowledges a write once *one* replica has it
        /// instead of every replica (`acked_on_every_replica` breaks).
        AckAfterOneReplica = "ack-after-one-replica",
    }
}

/// A client request's id ([`RequestId`]): the client, its incarnation
/// ([`Ctx::incarnation`]) and the operation's number within it. Ordered: a client's later
/// requests have larger ids, across its restarts too, so a reply to an earlier life's
/// request never completes a later one's, and the leader can tell a late duplicate from a
/// new write.
pub type ReqId = RequestId;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Write { req: ReqId, value: i64 },
    WriteOk { req: ReqId },
    Read { req: ReqId },
    ReadOk { req: ReqId, value: Option<i64> },
    Replicate { seq: u64, value: i64 },
    ReplicateAck { seq: u64 },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "Write",
        "WriteOk",
        "Read",
        "ReadOk",
        "Replicate",
        "ReplicateAck",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Write { .. } => "Write",
            Msg::WriteOk { .. } => "WriteOk",
            Msg::Read { .. } => "Read",
            Msg::ReadOk { .. } => "ReadOk",
            Msg::Replicate { .. } => "Replicate",
            Msg::ReplicateAck { .. } => "ReplicateAck",
        }
    }
}

/// A disk record: the write with log position `seq` set the register to `value`. On the
/// leader it also names the client request it logged (`by`), so that a restarted leader
/// still recognises a duplicate of it; replicas write `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub seq: u64,
    pub value: i64,
    pub by: Option<(NodeId, ReqId)>,
}

/// The register's timers: the clients' and the leader's retransmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    Client(ClientTimer),
    Retransmit,
}

impl From<ClientTimer> for Timer {
    fn from(t: ClientTimer) -> Timer {
        Timer::Client(t)
    }
}

impl HasClientTimer for Timer {
    fn client_timer(self) -> Option<ClientTimer> {
        match self {
            Timer::Client(t) => Some(t),
            Timer::Retransmit => None,
        }
    }
}

/// What every node of one run shares: its parameters and who is who.
struct Setup {
    params: RegisterParams,
    leader: NodeId,
    replicas: Vec<NodeId>,
    clients: Vec<NodeId>,
    /// How many nodes the run has (clients' latest requests are indexed by node).
    nodes: usize,
}

/// A write the leader has logged but not yet acknowledged to its client.
struct PendingWrite {
    seq: u64,
    client: NodeId,
    req: ReqId,
}

sim::node_of_parts! {
    /// A node of the register: the leader, a replica or a client.
    pub struct RegisterNode(Setup) {
        msg: Msg, timer: Timer, record: Applied,
        role: Role { Leader(Leader), Replica(Replica), Client(Client<RegisterWorkload>) }
    }
}

/// A replica: the latest write it applied, by log position.
pub struct Replica {
    seq: u64,
    value: Option<i64>,
}

pub struct Leader {
    seq: u64,
    value: Option<i64>,
    /// Per node (indexed by `NodeId`), the latest write request of that client the log
    /// holds, with its log position: a duplicated or late request is never logged twice.
    /// Rebuilt from the log on restart.
    latest: Vec<Option<(ReqId, u64)>>,
    /// Sync-replicated writes waiting for replica acknowledgements, in log order.
    pending: VecDeque<PendingWrite>,
    /// Per replica (in `Setup::replicas` order), the highest log position it acknowledged.
    /// Replicas apply by log position and the register keeps only the latest value, so
    /// one ack covers every earlier write, and a lagging replica needs only the latest
    /// write resent. Zero after a restart: the leader resends its latest write to all.
    acked: Vec<u64>,
    /// The highest log position acknowledged to a client under sync replication (for the
    /// `acked_on_every_replica` check).
    acked_sync: u64,
    /// Writes acknowledged but not yet synced (only with the `ack-before-sync` bug).
    unsynced: bool,
    /// Whether the retransmit timer is armed: only while a replica lags or a write awaits
    /// its sync, so that a quiet register goes quiescent.
    retransmitting: bool,
}

pub struct Register {
    setup: Rc<Setup>,
    /// `acked_on_every_replica`, checked after every leader event under sync replication.
    acked_on_every_replica: OnlineCheck,
}

impl sim::Model for Register {
    type Node = RegisterNode;

    fn build(&mut self, id: NodeId, disk: &[Applied]) -> RegisterNode {
        let s = &self.setup;
        let last = disk.last();
        let (seq, value) = (last.map_or(0, |a| a.seq), last.map(|a| a.value));
        let role = if id == s.leader {
            let mut latest = vec![None; s.nodes];
            for a in disk {
                if let Some((client, req)) = a.by {
                    latest[client.index()] = Some((req, a.seq));
                }
            }
            Role::Leader(Leader {
                seq,
                value,
                latest,
                pending: VecDeque::new(),
                acked: vec![0; s.replicas.len()],
                acked_sync: 0,
                unsynced: false,
                retransmitting: false,
            })
        } else if s.replicas.contains(&id) {
            Role::Replica(Replica { seq, value })
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
            let workload = RegisterWorkload {
                setup: Rc::clone(s),
                writes: 0,
            };
            Role::Client(Client::new(
                workload,
                config,
                ordinal as u32,
                s.clients.len() as u32,
            ))
        };
        RegisterNode {
            setup: Rc::clone(s),
            role,
        }
    }

    /// `acked_on_every_replica`: under sync replication, whenever the leader has
    /// acknowledged the write at log position `n`, every replica's durable log reaches `n`.
    /// Replicas sync before they acknowledge, so this holds at every moment after the ack.
    fn observe(&mut self, world: &World<'_, RegisterNode>, event: Observed, _: &mut Metrics) {
        let s = &*self.setup;
        let at = match event {
            Observed::Delivered { to, .. } => to,
            Observed::Started(n) | Observed::TimerFired(n) => n,
            Observed::Crashed(_) => return,
        };
        if at != s.leader || s.params.replication != Replication::Sync {
            return;
        }
        let Some(Role::Leader(l)) = world.nodes[s.leader.index()].as_ref().map(|n| &n.role) else {
            return;
        };
        for &r in &s.replicas {
            let has = world.disk(r).synced().last().map_or(0, |a| a.seq);
            if has < l.acked_sync {
                self.acked_on_every_replica.violate(|| {
                    format!(
                        "at t={}: the leader has acknowledged the write at log position {} but {} holds only up to {has}",
                        world.now,
                        l.acked_sync,
                        world.name(r)
                    )
                });
            }
        }
    }

    fn finish(
        &mut self,
        world: &World<'_, RegisterNode>,
        history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        let s = &self.setup;
        let on_every_replica = match s.params.replication {
            Replication::Sync => self.acked_on_every_replica.verdict(
                "acked_on_every_replica",
                "every write the leader acknowledged was in every replica's synced log by then",
            ),
            Replication::Async => Verdict::holds(
                "acked_on_every_replica",
                "not applicable: async replication acknowledges writes before replicating them",
            ),
        };
        vec![
            linearizable(history),
            acked_writes_durable(world, s.leader, history, metrics),
            on_every_replica,
            replicas_converge(world, s),
        ]
    }
}

fn linearizable(history: &History) -> Verdict {
    use sim::linearizability as lin;
    match lin::check(history, lin::Model::Register, &lin::Budget::default()) {
        Ok(r) => match r.verdict {
            lin::Verdict::Linearizable => Verdict::holds(
                "linearizable",
                format!("{} client operations", r.stats.operations),
            ),
            lin::Verdict::NotLinearizable => Verdict::violated(
                "linearizable",
                r.explanation.map_or_else(
                    || "not linearizable".to_string(),
                    |e| format!("{} (history line {})", e.reason, e.blocked.invoke_line),
                ),
            ),
            lin::Verdict::Unknown => {
                Verdict::unknown("linearizable", "the checker's budget ran out")
            }
        },
        Err(e) => Verdict::unknown(
            "linearizable",
            format!("the simulator wrote an invalid history: {e}"),
        ),
    }
}

fn acked_writes_durable(
    world: &World<'_, RegisterNode>,
    leader: NodeId,
    history: &History,
    metrics: &mut Metrics,
) -> Verdict {
    let synced: BTreeSet<i64> = world
        .disk(leader)
        .synced()
        .iter()
        .map(|a| a.value)
        .collect();
    let lost: Vec<(usize, i64)> = history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f == OpFn::Write)
        .filter_map(|e| match e.value {
            Value::Int(v) if !synced.contains(&v) => Some((e.index, v)),
            _ => None,
        })
        .collect();
    metrics.add("acked_writes_lost", lost.len() as u64);
    match lost.first() {
        None => Verdict::holds("acked_writes_durable", "every acknowledged write is in the leader's synced log"),
        Some((line, v)) => Verdict::violated(
            "acked_writes_durable",
            format!("{} acknowledged write(s) missing from the leader's synced log; first: value {v} (history line {})", lost.len(), line + 1),
        ),
    }
}

fn replicas_converge(world: &World<'_, RegisterNode>, s: &Setup) -> Verdict {
    if let Some(unknown) = world.unsettled("replicas_converge") {
        return unknown;
    }
    let value_of = |id: NodeId| match world.nodes[id.index()].as_ref().map(|n| &n.role) {
        Some(Role::Leader(l)) => Some(l.value),
        Some(Role::Replica(r)) => Some(r.value),
        _ => None,
    };
    let Some(leader_value) = value_of(s.leader) else {
        return Verdict::unknown("replicas_converge", "the leader is down at the end");
    };
    let diverged: Vec<String> = s
        .replicas
        .iter()
        .filter(|&&r| value_of(r) != Some(leader_value))
        .map(|&r| format!("{} holds {:?}", world.name(r), value_of(r).flatten()))
        .collect();
    if diverged.is_empty() {
        Verdict::holds(
            "replicas_converge",
            format!(
                "leader and {} replica(s) hold {leader_value:?} at the end",
                s.replicas.len()
            ),
        )
    } else {
        Verdict::violated(
            "replicas_converge",
            format!(
                "the leader holds {leader_value:?} but {}",
                diverged.join(", ")
            ),
        )
    }
}

impl Part<RegisterNode, Setup> for Leader {
    fn on_start(&mut self, ctx: &mut Ctx<'_, RegisterNode>, s: &Setup) {
        // Replicas may have missed writes while we were down: resend the latest.
        self.resend_latest(ctx, s);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, RegisterNode>, s: &Setup, from: NodeId, msg: Msg) {
        match msg {
            Msg::Write { req, value } => self.write(ctx, s, from, req, value),
            Msg::Read { req } => ctx.send(
                from,
                Msg::ReadOk {
                    req,
                    value: self.value,
                },
            ),
            Msg::ReplicateAck { seq } => self.replica_acked(ctx, s, from, seq),
            // Anything else is a stray duplicate or a message for another role.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, RegisterNode>, s: &Setup, _: TimerId, tag: Timer) {
        if tag == Timer::Retransmit {
            self.retransmit(ctx, s);
        }
    }
}

impl Part<RegisterNode, Setup> for Replica {
    fn on_start(&mut self, _: &mut Ctx<'_, RegisterNode>, _: &Setup) {}

    fn on_message(&mut self, ctx: &mut Ctx<'_, RegisterNode>, _: &Setup, from: NodeId, msg: Msg) {
        match msg {
            Msg::Replicate { seq, value } => {
                // Last writer by log position: a late, reordered Replicate never rolls back.
                if seq > self.seq {
                    self.seq = seq;
                    self.value = Some(value);
                    ctx.disk().append_synced(Applied {
                        seq,
                        value,
                        by: None,
                    });
                }
                ctx.send(from, Msg::ReplicateAck { seq });
            }
            Msg::Read { req } => ctx.send(
                from,
                Msg::ReadOk {
                    req,
                    value: self.value,
                },
            ),
            _ => {}
        }
    }

    fn on_timer(&mut self, _: &mut Ctx<'_, RegisterNode>, _: &Setup, _: TimerId, _: Timer) {}
}

impl Leader {
    fn write(
        &mut self,
        ctx: &mut Ctx<'_, RegisterNode>,
        s: &Setup,
        client: NodeId,
        req: ReqId,
        value: i64,
    ) {
        match self.latest[client.index()] {
            // A late copy of an earlier request: its client has moved on (it got an answer,
            // timed out or restarted). Logging it now would roll the register back.
            Some((latest, _)) if req < latest => return,
            // A duplicate of the latest request: it is logged already; answer it again once
            // it is acknowledgeable, never log it twice.
            Some((latest, seq)) if req == latest => {
                self.reacknowledge(ctx, s, client, req, seq);
                return;
            }
            _ => {}
        }
        self.seq += 1;
        self.value = Some(value);
        self.latest[client.index()] = Some((req, self.seq));
        let record = Applied {
            seq: self.seq,
            value,
            by: Some((client, req)),
        };
        if s.params.bug == Bug::AckBeforeSync {
            // The bug: acknowledge now, sync at the next tick (group commit done wrong).
            ctx.disk().append(record);
            self.unsynced = true;
        } else {
            ctx.disk().append_synced(record);
        }
        if s.params.replication == Replication::Async || s.replicas.is_empty() {
            ctx.send(client, Msg::WriteOk { req });
        } else {
            self.pending.push_back(PendingWrite {
                seq: self.seq,
                client,
                req,
            });
        }
        for &r in &s.replicas {
            ctx.send(
                r,
                Msg::Replicate {
                    seq: self.seq,
                    value,
                },
            );
        }
        self.arm_retransmit(ctx, s);
    }

    /// A duplicate of the write logged at `seq`: acknowledge it again if every replica has
    /// it (or replication is async); otherwise its acknowledgement is pending, or — after a
    /// leader restart forgot the pending list — becomes pending again.
    fn reacknowledge(
        &mut self,
        ctx: &mut Ctx<'_, RegisterNode>,
        s: &Setup,
        client: NodeId,
        req: ReqId,
        seq: u64,
    ) {
        if s.params.replication == Replication::Async || seq <= self.replicated(s) {
            self.acked_sync = self.acked_sync.max(seq);
            ctx.send(client, Msg::WriteOk { req });
            return;
        }
        let at = self.pending.partition_point(|p| p.seq < seq);
        if self.pending.get(at).is_none_or(|p| p.seq != seq) {
            self.pending.insert(at, PendingWrite { seq, client, req });
        }
    }

    /// The log position up to which writes count as replicated: the lowest position every
    /// replica acknowledged (with the `ack-after-one-replica` bug, the highest any did).
    fn replicated(&self, s: &Setup) -> u64 {
        let acked = self.acked.iter().copied();
        if s.params.bug == Bug::AckAfterOneReplica {
            acked.max()
        } else {
            acked.min()
        }
        .unwrap_or(self.seq)
    }

    fn replica_acked(
        &mut self,
        ctx: &mut Ctx<'_, RegisterNode>,
        s: &Setup,
        replica: NodeId,
        seq: u64,
    ) {
        let Some(i) = s.replicas.iter().position(|&r| r == replica) else {
            return;
        };
        if seq <= self.acked[i] {
            return; // a duplicate or stale ack
        }
        // An ack for `seq` covers every older write to that replica: it applies in seq order.
        self.acked[i] = seq;
        let replicated = self.replicated(s);
        while let Some(p) = self.pending.front() {
            if p.seq > replicated {
                break;
            }
            self.acked_sync = self.acked_sync.max(p.seq);
            ctx.send(p.client, Msg::WriteOk { req: p.req });
            self.pending.pop_front();
        }
    }

    /// Sends the latest write to every replica that has not acknowledged it, and keeps
    /// retransmitting until they all have.
    fn resend_latest(&mut self, ctx: &mut Ctx<'_, RegisterNode>, s: &Setup) {
        let Some(value) = self.value else {
            return;
        };
        for (&r, &acked) in s.replicas.iter().zip(&self.acked) {
            if acked < self.seq {
                ctx.send(
                    r,
                    Msg::Replicate {
                        seq: self.seq,
                        value,
                    },
                );
            }
        }
        self.arm_retransmit(ctx, s);
    }

    fn retransmit(&mut self, ctx: &mut Ctx<'_, RegisterNode>, s: &Setup) {
        self.retransmitting = false;
        if self.unsynced {
            ctx.disk().sync();
            self.unsynced = false;
        }
        self.resend_latest(ctx, s);
    }

    /// Arms the retransmit timer if a replica lags or a write awaits its sync, and it is not
    /// armed already: with nothing to retransmit the leader sets no timer.
    fn arm_retransmit(&mut self, ctx: &mut Ctx<'_, RegisterNode>, s: &Setup) {
        let lagging = self.acked.iter().any(|&a| a < self.seq);
        if !self.retransmitting && (lagging || self.unsynced) {
            ctx.set_timer(s.params.retransmit_every, Timer::Retransmit);
            self.retransmitting = true;
        }
    }
}

/// The register's workload: writes of unique values to the leader, reads from the leader
/// or a random replica (`write_ratio`, `read_from`).
pub struct RegisterWorkload {
    setup: Rc<Setup>,
    /// Writes this client life has issued: values are unique across clients and restarts.
    writes: i64,
}

/// A register operation, as drawn.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Write(i64),
    Read { at: NodeId },
}

impl Workload for RegisterWorkload {
    type Node = RegisterNode;
    type Op = Op;
    /// `None` for a write's acknowledgement, the value read for a read's.
    type Reply = Option<Option<i64>>;

    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Op {
        let s = &*self.setup;
        if rng.unit() < s.params.write_ratio {
            self.writes += 1;
            // Client k's life l writes (k + 1)·10^12 + l·10^9 + n.
            let life = i64::from(id.incarnation / 2);
            Op::Write(
                (i64::from(id.client) + 1) * 1_000_000_000_000 + life * 1_000_000_000 + self.writes,
            )
        } else {
            let at = match s.params.read_from {
                ReadFrom::Leader => s.leader,
                ReadFrom::Replicas if s.replicas.is_empty() => s.leader,
                ReadFrom::Replicas => s.replicas[rng.below(s.replicas.len() as u64) as usize],
            };
            Op::Read { at }
        }
    }

    fn target(&self, op: &Op, _attempt: u32) -> NodeId {
        match *op {
            Op::Write(_) => self.setup.leader,
            Op::Read { at } => at,
        }
    }

    fn request(&self, req: RequestId, op: &Op, _attempt: u32) -> Msg {
        match *op {
            Op::Write(value) => Msg::Write { req, value },
            Op::Read { .. } => Msg::Read { req },
        }
    }

    fn reply(&self, msg: Msg) -> Option<(RequestId, Self::Reply)> {
        match msg {
            Msg::WriteOk { req } => Some((req, None)),
            Msg::ReadOk { req, value } => Some((req, Some(value))),
            _ => None,
        }
    }

    fn metric(&self, op: &Op) -> &'static str {
        match op {
            Op::Write(_) => "write_latency_ms",
            Op::Read { .. } => "read_latency_ms",
        }
    }

    fn history(&self, op: &Op) -> Option<HistoryOp> {
        let (f, value) = match *op {
            Op::Write(v) => (OpFn::Write, Value::Int(v)),
            Op::Read { .. } => (OpFn::Read, Value::Null),
        };
        Some(HistoryOp {
            f,
            key: None,
            value,
        })
    }

    fn completed(
        &mut self,
        _: &mut Ctx<'_, RegisterNode>,
        op: &Op,
        reply: Self::Reply,
    ) -> Completion {
        match (op, reply) {
            (_, Some(read)) => Completion::Ok(read.map_or(Value::Null, Value::Int)),
            (Op::Write(v), None) => Completion::Ok(Value::Int(*v)),
            (Op::Read { .. }, None) => unreachable!("a WriteOk never answers a read's id"),
        }
    }

    fn gave_up(&mut self, ctx: &mut Ctx<'_, RegisterNode>, _: &Op) {
        ctx.metrics().add("timeouts", 1);
    }
}

impl Params for RegisterParams {
    type Model = Register;
    const SPEC: ModelSpec = ModelSpec {
        kind: "replicated_register",
        summary: "single-leader register, sync or async replication to replicas, reads from leader or replicas",
        invariants: &[
            "linearizable",
            "acked_writes_durable",
            "acked_on_every_replica",
            "replicas_converge",
        ],
        metrics: &["write_latency_ms", "read_latency_ms", "timeouts", "acked_writes_lost"],
        bugs: Bug::KNOWN,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<Register, ParamError> {
        check_roles(nodes, &["leader", "replica", "client"])?;
        let leaders = nodes_with_role(nodes, "leader");
        let [leader] = leaders[..] else {
            return Err(ParamError::new(
                "nodes",
                format!(
                    "needs exactly one node with role `leader`, found {}",
                    leaders.len()
                ),
            ));
        };
        let clients = nodes_with_role(nodes, "client");
        if clients.is_empty() {
            return Err(ParamError::new(
                "nodes",
                "needs at least one node with role `client`: the workload would be empty",
            ));
        }
        if !(0.0..=1.0).contains(&self.write_ratio) {
            return Err(ParamError::new(
                "model.write_ratio",
                format!("must be within [0, 1], got {}", self.write_ratio),
            ));
        }
        for (field, d) in [
            ("model.client_timeout", self.client_timeout),
            ("model.retransmit_every", self.retransmit_every),
        ] {
            if d.is_zero() {
                return Err(ParamError::new(field, "must be positive"));
            }
        }
        let replicas = nodes_with_role(nodes, "replica");
        Ok(Register {
            setup: Rc::new(Setup {
                params: self,
                leader,
                replicas,
                clients,
                nodes: nodes.len(),
            }),
            acked_on_every_replica: OnlineCheck::default(),
        })
    }
}
