//! A single-leader replicated register, the kernel's own demonstration model.
//!
//! Clients write unique integers to the leader and read either from the leader or from a
//! random replica. The leader durably logs each write, replicates it to every replica and
//! acknowledges the client either once all replicas have it (`replication = "sync"`) or at
//! once (`"async"`). Lost replication messages are retransmitted until acknowledged. There is
//! no failover: a crashed leader is unavailable until it restarts from its log.
//!
//! It exercises the whole kernel: network faults (retransmission), crashes (recovery from the
//! synced log), client histories with timeouts (`info`), online and end-of-run invariants.

use crate::{check_roles, nodes_with_role, NodeInfo, ParamError, Params, Spec};
use serde::{Deserialize, Serialize};
use sim::dist::Dist;
use sim::history::{EventType, History, OpFn, Value};
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::{Ctx, Message, NodeId, Stopwatch, TimerId, World};
use std::collections::BTreeSet;
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

/// Known-bug variants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    #[default]
    None,
    /// The leader acknowledges a write before syncing it: a leader crash loses acknowledged
    /// writes (`acked_writes_durable` breaks).
    AckBeforeSync,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Write { op: u64, value: i64 },
    WriteOk { op: u64 },
    Read { op: u64 },
    ReadOk { op: u64, value: Option<i64> },
    Replicate { seq: u64, value: i64 },
    ReplicateAck { seq: u64 },
}

impl Message for Msg {
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

/// A disk record: the write with log position `seq` set the register to `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub seq: u64,
    pub value: i64,
}

const TIMER_NEXT_OP: u64 = 1;
const TIMER_TIMEOUT: u64 = 2;
const TIMER_RETRANSMIT: u64 = 3;

/// What every node of one run shares: its parameters and who is who.
struct Setup {
    params: RegisterParams,
    leader: NodeId,
    replicas: Vec<NodeId>,
    clients: Vec<NodeId>,
}

/// A write the leader has logged but not yet acknowledged to its client.
struct PendingWrite {
    seq: u64,
    client: NodeId,
    op: u64,
}

pub struct RegisterNode {
    setup: Rc<Setup>,
    role: Role,
}

enum Role {
    Leader(Leader),
    Replica { seq: u64, value: Option<i64> },
    Client(Client),
}

struct Leader {
    seq: u64,
    value: Option<i64>,
    /// Sync-replicated writes waiting for replica acknowledgements.
    pending: Vec<PendingWrite>,
    /// Replication messages not yet acknowledged: (replica, seq, value).
    unacked: Vec<(NodeId, u64, i64)>,
    /// Writes acknowledged but not yet synced (only with the `ack-before-sync` bug).
    unsynced: bool,
}

struct Client {
    process: u64,
    clients: u64,
    next_op: u64,
    next_value: i64,
    outstanding: Option<Outstanding>,
}

struct Outstanding {
    op: u64,
    f: OpFn,
    value: Value,
    timeout: TimerId,
    started: Stopwatch,
}

pub struct Register {
    setup: Rc<Setup>,
    /// Restarts per client: a restarted client takes fresh process numbers and values.
    client_restarts: Vec<u64>,
}

impl sim::Model for Register {
    type Node = RegisterNode;

    fn build(&mut self, id: NodeId, disk: &[Applied]) -> RegisterNode {
        let s = &self.setup;
        let last = disk.last();
        let (seq, value) = (last.map_or(0, |a| a.seq), last.map(|a| a.value));
        let role = if id == s.leader {
            Role::Leader(Leader {
                seq,
                value,
                pending: Vec::new(),
                unacked: Vec::new(),
                unsynced: false,
            })
        } else if s.replicas.contains(&id) {
            Role::Replica { seq, value }
        } else {
            let ordinal = s
                .clients
                .iter()
                .position(|&c| c == id)
                .expect("every node has a role");
            let restarts = self.client_restarts[ordinal];
            self.client_restarts[ordinal] += 1;
            let clients = s.clients.len() as u64;
            Role::Client(Client {
                // Processes of client k are k, k + clients, k + 2*clients, ...: one more per
                // timeout; a restart jumps a million ahead, so no number is ever reused.
                process: ordinal as u64 + clients * 1_000_000 * restarts,
                clients,
                next_op: 0,
                // Written values are unique across clients and restarts.
                next_value: (ordinal as i64 + 1) * 1_000_000_000_000
                    + restarts as i64 * 1_000_000_000,
                outstanding: None,
            })
        };
        RegisterNode {
            setup: Rc::clone(s),
            role,
        }
    }

    fn finish(
        &mut self,
        world: &World<'_, RegisterNode>,
        history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        let s = &self.setup;
        vec![
            linearizable(history),
            acked_writes_durable(world, s.leader, history, metrics),
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
        Some(Role::Replica { value, .. }) => Some(*value),
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

impl sim::Node for RegisterNode {
    type Msg = Msg;
    type Record = Applied;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let params = &self.setup.params;
        match &mut self.role {
            Role::Leader(l) => {
                // Replicas may have missed writes while we were down: resend the latest.
                if let Some(value) = l.value {
                    for &r in &self.setup.replicas {
                        ctx.send(r, Msg::Replicate { seq: l.seq, value });
                        l.unacked.push((r, l.seq, value));
                    }
                }
                ctx.set_timer(params.retransmit_every, TIMER_RETRANSMIT);
            }
            Role::Replica { .. } => {}
            Role::Client(c) => {
                c.schedule_next(ctx, params);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let setup = Rc::clone(&self.setup);
        match (&mut self.role, msg) {
            (Role::Leader(l), Msg::Write { op, value }) => l.write(ctx, &setup, from, op, value),
            (Role::Leader(l), Msg::Read { op }) => {
                ctx.send(from, Msg::ReadOk { op, value: l.value })
            }
            (Role::Leader(l), Msg::ReplicateAck { seq }) => l.replica_acked(ctx, from, seq),
            (
                Role::Replica {
                    seq: applied,
                    value,
                },
                Msg::Replicate { seq, value: v },
            ) => {
                // Last writer by log position: a late, reordered Replicate never rolls back.
                if seq > *applied {
                    *applied = seq;
                    *value = Some(v);
                    ctx.disk().append_synced(Applied { seq, value: v });
                }
                ctx.send(from, Msg::ReplicateAck { seq });
            }
            (Role::Replica { value, .. }, Msg::Read { op }) => {
                ctx.send(from, Msg::ReadOk { op, value: *value })
            }
            (Role::Client(c), Msg::WriteOk { op }) => c.complete(ctx, &setup, op, None),
            (Role::Client(c), Msg::ReadOk { op, value }) => {
                c.complete(ctx, &setup, op, Some(value))
            }
            // Anything else is a stray duplicate or a message for a role this node lacks.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: TimerId, tag: u64) {
        let setup = Rc::clone(&self.setup);
        match (&mut self.role, tag) {
            (Role::Leader(l), TIMER_RETRANSMIT) => {
                if l.unsynced {
                    ctx.disk().sync();
                    l.unsynced = false;
                }
                for &(r, seq, value) in &l.unacked {
                    ctx.send(r, Msg::Replicate { seq, value });
                }
                ctx.set_timer(setup.params.retransmit_every, TIMER_RETRANSMIT);
            }
            (Role::Client(c), TIMER_NEXT_OP) => c.issue(ctx, &setup),
            (Role::Client(c), TIMER_TIMEOUT) => c.time_out(ctx, &setup.params),
            _ => {}
        }
    }
}

impl Leader {
    fn write(
        &mut self,
        ctx: &mut Ctx<'_, RegisterNode>,
        s: &Setup,
        client: NodeId,
        op: u64,
        value: i64,
    ) {
        self.seq += 1;
        self.value = Some(value);
        let record = Applied {
            seq: self.seq,
            value,
        };
        if s.params.bug == Bug::AckBeforeSync {
            // The bug: acknowledge now, sync at the next tick (group commit done wrong).
            ctx.disk().append(record);
            self.unsynced = true;
        } else {
            ctx.disk().append_synced(record);
        }
        if s.params.replication == Replication::Async || s.replicas.is_empty() {
            ctx.send(client, Msg::WriteOk { op });
        } else {
            self.pending.push(PendingWrite {
                seq: self.seq,
                client,
                op,
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
            self.unacked.push((r, self.seq, value));
        }
    }

    fn replica_acked(&mut self, ctx: &mut Ctx<'_, RegisterNode>, replica: NodeId, seq: u64) {
        let before = self.unacked.len();
        // An ack for `seq` covers every older write to that replica: it applies in seq order.
        self.unacked
            .retain(|&(r, s, _)| !(r == replica && s <= seq));
        if self.unacked.len() == before {
            return; // a duplicate ack
        }
        let unacked = &self.unacked;
        self.pending.retain(|p| {
            // Done once no replica still owes an ack for this write.
            let done = !unacked.iter().any(|&(_, s, _)| s == p.seq);
            if done {
                ctx.send(p.client, Msg::WriteOk { op: p.op });
            }
            !done
        });
    }
}

impl Client {
    fn issue(&mut self, ctx: &mut Ctx<'_, RegisterNode>, s: &Setup) {
        if ctx.is_settling() || self.outstanding.is_some() {
            return;
        }
        let op = self.next_op;
        self.next_op += 1;
        let is_write = ctx.workload_rng().unit() < s.params.write_ratio;
        let (f, value, to, msg) = if is_write {
            self.next_value += 1;
            let v = self.next_value;
            (
                OpFn::Write,
                Value::Int(v),
                s.leader,
                Msg::Write { op, value: v },
            )
        } else {
            let to = match s.params.read_from {
                ReadFrom::Leader => s.leader,
                ReadFrom::Replicas if s.replicas.is_empty() => s.leader,
                ReadFrom::Replicas => {
                    s.replicas[ctx.workload_rng().below(s.replicas.len() as u64) as usize]
                }
            };
            (OpFn::Read, Value::Null, to, Msg::Read { op })
        };
        ctx.record_op(
            self.process,
            EventType::Invoke,
            f,
            None,
            value.clone(),
            None,
        );
        ctx.send(to, msg);
        let timeout = ctx.set_timer(s.params.client_timeout, TIMER_TIMEOUT);
        self.outstanding = Some(Outstanding {
            op,
            f,
            value,
            timeout,
            started: ctx.stopwatch(),
        });
    }

    fn complete(
        &mut self,
        ctx: &mut Ctx<'_, RegisterNode>,
        setup: &Setup,
        op: u64,
        read: Option<Option<i64>>,
    ) {
        let Some(o) = self.outstanding.take_if(|o| o.op == op) else {
            return;
        }; // late or duplicate reply
        ctx.cancel_timer(o.timeout);
        let value = match read {
            Some(v) => v.map_or(Value::Null, Value::Int),
            None => o.value,
        };
        let metric = if o.f == OpFn::Write {
            "write_latency_ms"
        } else {
            "read_latency_ms"
        };
        ctx.record_elapsed(metric, o.started);
        ctx.record_op(self.process, EventType::Ok, o.f, None, value, None);
        self.schedule_next(ctx, &setup.params);
    }

    fn time_out(&mut self, ctx: &mut Ctx<'_, RegisterNode>, params: &RegisterParams) {
        let Some(o) = self.outstanding.take() else {
            return;
        };
        ctx.record_op(
            self.process,
            EventType::Info,
            o.f,
            None,
            o.value,
            Some("timed-out".into()),
        );
        ctx.metrics().add("timeouts", 1);
        // After an indeterminate outcome the process is retired (history format, rule 3).
        self.process += self.clients;
        self.schedule_next(ctx, params);
    }

    fn schedule_next(&self, ctx: &mut Ctx<'_, RegisterNode>, params: &RegisterParams) {
        let wait = params.think_time.sample(ctx.workload_rng());
        ctx.set_timer(Duration::from_nanos(wait), TIMER_NEXT_OP);
    }
}

impl Params for RegisterParams {
    type Model = Register;
    const SPEC: Spec = Spec {
        kind: "replicated_register",
        summary: "single-leader register, sync or async replication to replicas, reads from leader or replicas",
        invariants: &["linearizable", "acked_writes_durable", "replicas_converge"],
        metrics: &["write_latency_ms", "read_latency_ms", "timeouts", "acked_writes_lost"],
        bugs: &["ack-before-sync"],
        messages: &["Write", "WriteOk", "Read", "ReadOk", "Replicate", "ReplicateAck"],
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
        let client_restarts = vec![0; clients.len()];
        Ok(Register {
            setup: Rc::new(Setup {
                params: self,
                leader,
                replicas,
                clients,
            }),
            client_restarts,
        })
    }
}
