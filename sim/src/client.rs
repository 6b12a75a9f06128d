//! Clients and workloads: the one client every model uses.
//!
//! A [`Client`] runs one request at a time: it waits a think time, draws the next
//! operation from its [`Workload`], sends it, and waits for the reply or its timeout.
//! Operations come only from the node's workload stream ([`Ctx::workload_rng`]), one draw
//! per operation whatever replies and faults do, so every fault setting sees the same
//! sequence of operations (common random numbers); think times come from a stream of their
//! own ([`Ctx::think_rng`]), since a crash discards a drawn think time and a restart draws
//! a fresh one.
//!
//! Request ids ([`RequestId`]) are built from the client's ordinal, its incarnation
//! ([`Ctx::incarnation`], which never repeats) and a sequence number: unique across clients
//! and restarts with no allocator. What a timeout does is the client's policy
//! ([`OnTimeout`]): resend the same request id (an idempotency key: the server must answer
//! a duplicate with the first answer), or give up and record the operation as
//! indeterminate (`info`) and retire the history process (history format, rule 3).
//!
//! The client records `invoke` / `ok` / `fail` / `info` in the run's history when the
//! workload names the operation for it ([`Workload::history`]), and every completed
//! operation's latency under the workload's metric name for it ([`Workload::metric`]).

use crate::dist::Dist;
use crate::history::{EventType, OpFn, Value};
use crate::node::{Ctx, Node, Stopwatch, TimerId};
use crate::parts::Part;
use crate::rng::Rng;
use crate::NodeId;
use std::time::Duration;

/// A client request's id: which client (its ordinal among the model's clients), which life
/// of it ([`Ctx::incarnation`]) and which request of that life. Ordered: one client's later
/// requests have larger ids, across its restarts too, so a server can tell a late duplicate
/// from a new request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    pub client: u32,
    pub incarnation: u32,
    pub seq: u64,
}

/// Printed as `client/incarnation/seq`.
impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.client, self.incarnation, self.seq)
    }
}

/// The client's timers: a node type that holds a client wraps these in its own timer type
/// (`From<ClientTimer>` and [`HasClientTimer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientTimer {
    /// The think time is over: issue the next operation.
    Next,
    /// The outstanding request has waited `timeout`.
    Timeout,
}

/// A node timer type that may carry a [`ClientTimer`].
pub trait HasClientTimer: From<ClientTimer> {
    fn client_timer(self) -> Option<ClientTimer>;
}

/// Makes variant `$variant(ClientTimer)` of a node's timer enum carry the client's timers:
/// `From<ClientTimer>` and [`HasClientTimer`], written once for every model.
///
/// ```text
/// enum Timer { Client(ClientTimer), Tick }
/// sim::client_timer!(Timer::Client);
/// ```
#[macro_export]
macro_rules! client_timer {
    ($timer:ident :: $variant:ident) => {
        impl From<$crate::client::ClientTimer> for $timer {
            fn from(t: $crate::client::ClientTimer) -> $timer {
                $timer::$variant(t)
            }
        }

        impl $crate::client::HasClientTimer for $timer {
            #[allow(unreachable_patterns)] // a timer type may have no other variant
            fn client_timer(self) -> Option<$crate::client::ClientTimer> {
                match self {
                    $timer::$variant(t) => Some(t),
                    _ => None,
                }
            }
        }
    };
}

/// What a client does when a request times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnTimeout {
    /// Resend the same request (same id, next attempt) and keep waiting: the request id is
    /// an idempotency key, and the server answers every copy alike.
    Retry,
    /// Record the operation as indeterminate (`info`, `timed-out`), retire the history
    /// process and go on with the next operation.
    GiveUp,
}

/// How a client behaves, whatever its workload.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Between a completed (or abandoned) operation and the next.
    pub think_time: Dist,
    /// How long the client waits for a reply.
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
}

/// How a reply ends an operation, with the value the history records.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    Ok(Value),
    /// The operation definitely did not take effect.
    Fail(Value),
    /// The server could not serve it and it may still take effect (a refused request whose
    /// duplicate may yet arrive elsewhere): recorded as `info` with this error, the history
    /// process retired, as after a timeout.
    Indeterminate(&'static str),
    /// Not an answer: the server points elsewhere (a deposed primary naming its successor).
    /// The workload has updated where [`Workload::target`] sends; the client resends the
    /// same request at once, under the same timeout, at most [`MAX_REDIRECTS`] times before
    /// it gives the operation up as indeterminate (`redirected`).
    Redirect,
}

/// How often one operation may be redirected ([`Completion::Redirect`]).
pub const MAX_REDIRECTS: u32 = 8;

/// What a history records of an operation at its invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryOp {
    pub f: OpFn,
    pub key: Option<String>,
    pub value: Value,
}

/// What clients ask, where they send it and how they read the answer.
pub trait Workload {
    /// The node type the client lives in.
    type Node: Node;
    /// One operation, as drawn.
    type Op: Clone;
    /// What a reply says about its operation.
    type Reply;

    /// Draws the next operation from the workload stream `rng` (and nothing else: the
    /// number and order of draws must not depend on replies or faults). `id` is its request
    /// id.
    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Self::Op;

    /// Where to send `op` (a leader hint, a session's server, the nearest region), at its
    /// `attempt`-th sending (0 first).
    fn target(&self, op: &Self::Op, attempt: u32) -> NodeId;

    /// The request message for `op`.
    fn request(&self, id: RequestId, op: &Self::Op, attempt: u32) -> <Self::Node as Node>::Msg;

    /// Reads `msg` as a reply: the request it answers and what it says; `None` if it is not
    /// a reply.
    fn reply(&self, msg: <Self::Node as Node>::Msg) -> Option<(RequestId, Self::Reply)>;

    /// The duration metric for `op`'s latency (`"write_latency_ms"`).
    fn metric(&self, op: &Self::Op) -> &'static str;

    /// How `op` appears in the history; `None` (the default) records nothing.
    fn history(&self, _op: &Self::Op) -> Option<HistoryOp> {
        None
    }

    /// The client session the history puts request `id` in (the unit of session guarantees:
    /// read-your-writes, monotonic reads); `None` (the default) records none.
    fn session(&self, _id: RequestId) -> Option<u64> {
        None
    }

    /// Called once `op` is sent for the first time (for counters).
    fn issued(&mut self, _ctx: &mut Ctx<'_, Self::Node>, _op: &Self::Op) {}

    /// Called when `op` is sent again after a timeout ([`OnTimeout::Retry`]), as attempt
    /// `attempt` (for counters).
    fn retried(&mut self, _ctx: &mut Ctx<'_, Self::Node>, _op: &Self::Op, _attempt: u32) {}

    /// The reply completes `op`: how it ended (counters and the like go here too).
    fn completed(
        &mut self,
        ctx: &mut Ctx<'_, Self::Node>,
        op: &Self::Op,
        reply: Self::Reply,
    ) -> Completion;

    /// `op` ended indeterminate: it timed out and the client gave up on it
    /// ([`OnTimeout::GiveUp`]), or the reply was [`Completion::Indeterminate`], or it was
    /// redirected too often.
    fn gave_up(&mut self, _ctx: &mut Ctx<'_, Self::Node>, _op: &Self::Op) {}
}

/// A history process per client life and abandoned operation: `ordinal + clients × n`, with
/// `n` moving on by one at every abandoned operation and by a million at every restart, so
/// no process number is ever reused.
const PROCESSES_PER_LIFE: u64 = 1_000_000;

/// A closed-loop client: one operation at a time, think time between operations.
pub struct Client<W: Workload> {
    pub workload: W,
    config: ClientConfig,
    ordinal: u32,
    clients: u32,
    next_seq: u64,
    /// The history process of the current operation; set at start.
    process: u64,
    /// Operations abandoned in this life (each retired a process).
    abandoned: u64,
    pending: Option<Pending<W::Op>>,
}

struct Pending<Op> {
    id: RequestId,
    op: Op,
    attempt: u32,
    /// Redirects so far (bounded by [`MAX_REDIRECTS`], apart from timeout retries).
    redirects: u32,
    started: Stopwatch,
    timer: TimerId,
    /// What the history recorded at invocation, if anything.
    recorded: Option<HistoryOp>,
    /// The session the history puts it in.
    session: Option<u64>,
}

impl<W: Workload> Client<W>
where
    <W::Node as Node>::Timer: HasClientTimer,
{
    /// Client `ordinal` of `clients`, as (re)built by the model.
    pub fn new(workload: W, config: ClientConfig, ordinal: u32, clients: u32) -> Client<W> {
        Client {
            workload,
            config,
            ordinal,
            clients,
            next_seq: 0,
            process: 0,
            abandoned: 0,
            pending: None,
        }
    }

    /// Whether a request is outstanding.
    pub fn is_busy(&self) -> bool {
        self.pending.is_some()
    }

    pub fn start(&mut self, ctx: &mut Ctx<'_, W::Node>) {
        // The kernel bumps the incarnation at a crash and again at the restart.
        debug_assert!(
            ctx.incarnation() % 2 == 0,
            "a client starts in an even incarnation"
        );
        let life = u64::from(ctx.incarnation() / 2);
        self.abandoned = 0;
        self.process =
            u64::from(self.ordinal) + u64::from(self.clients) * PROCESSES_PER_LIFE * life;
        self.schedule_next(ctx);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, W::Node>, timer: ClientTimer) {
        match timer {
            ClientTimer::Next => self.issue(ctx),
            ClientTimer::Timeout => self.time_out(ctx),
        }
    }

    /// Hands `msg` to the workload to read; a reply to the outstanding request completes
    /// it, anything else (a late or duplicated reply, one to an earlier life) is ignored.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, W::Node>, msg: <W::Node as Node>::Msg) {
        let Some((id, reply)) = self.workload.reply(msg) else {
            return;
        };
        let Some(p) = self.pending.take_if(|p| p.id == id) else {
            return;
        };
        let (kind, value) = match self.workload.completed(ctx, &p.op, reply) {
            Completion::Ok(v) => (EventType::Ok, v),
            Completion::Fail(v) => (EventType::Fail, v),
            Completion::Indeterminate(error) => {
                ctx.cancel_timer(p.timer);
                return self.abandon(ctx, p, error);
            }
            Completion::Redirect if p.redirects < MAX_REDIRECTS => {
                let mut p = p;
                p.attempt += 1;
                p.redirects += 1;
                let msg = self.workload.request(p.id, &p.op, p.attempt);
                ctx.send(self.workload.target(&p.op, p.attempt), msg);
                self.pending = Some(p);
                return;
            }
            Completion::Redirect => {
                ctx.cancel_timer(p.timer);
                return self.abandon(ctx, p, "redirected");
            }
        };
        ctx.cancel_timer(p.timer);
        ctx.record_elapsed(self.workload.metric(&p.op), p.started);
        if let Some(h) = p.recorded {
            ctx.record_op(self.process, kind, h.f, h.key, value, None, p.session);
        }
        self.schedule_next(ctx);
    }

    fn issue(&mut self, ctx: &mut Ctx<'_, W::Node>) {
        if ctx.is_settling() || self.pending.is_some() {
            return;
        }
        let id = RequestId {
            client: self.ordinal,
            incarnation: ctx.incarnation(),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let op = self.workload.next(ctx.workload_rng(), id);
        let recorded = self.workload.history(&op);
        let session = self.workload.session(id);
        if let Some(h) = &recorded {
            ctx.record_op(
                self.process,
                EventType::Invoke,
                h.f,
                h.key.clone(),
                h.value.clone(),
                None,
                session,
            );
        }
        self.workload.issued(ctx, &op);
        ctx.send(
            self.workload.target(&op, 0),
            self.workload.request(id, &op, 0),
        );
        let timer = ctx.set_timer(self.config.timeout, ClientTimer::Timeout.into());
        self.pending = Some(Pending {
            id,
            op,
            attempt: 0,
            redirects: 0,
            started: ctx.stopwatch(),
            timer,
            recorded,
            session,
        });
    }

    fn time_out(&mut self, ctx: &mut Ctx<'_, W::Node>) {
        match self.config.on_timeout {
            OnTimeout::Retry => {
                // Keep asking, even while settling: the outcome is what we are waiting for.
                let Some(p) = &mut self.pending else {
                    return;
                };
                p.attempt += 1;
                p.timer = ctx.set_timer(self.config.timeout, ClientTimer::Timeout.into());
                self.workload.retried(ctx, &p.op, p.attempt);
                let msg = self.workload.request(p.id, &p.op, p.attempt);
                ctx.send(self.workload.target(&p.op, p.attempt), msg);
            }
            OnTimeout::GiveUp => {
                if let Some(p) = self.pending.take() {
                    self.abandon(ctx, p, "timed-out");
                }
            }
        }
    }

    /// Ends `p` with an indeterminate outcome: `info` with `error`, and the history process
    /// retired (history format, rule 3), to the next number of this life's block.
    fn abandon(&mut self, ctx: &mut Ctx<'_, W::Node>, p: Pending<W::Op>, error: &'static str) {
        if let Some(h) = p.recorded {
            ctx.record_op(
                self.process,
                EventType::Info,
                h.f,
                h.key,
                h.value,
                Some(error.into()),
                p.session,
            );
        }
        self.workload.gave_up(ctx, &p.op);
        self.process += u64::from(self.clients);
        self.abandoned += 1;
        assert!(
            self.abandoned < PROCESSES_PER_LIFE,
            "more than {PROCESSES_PER_LIFE} abandoned operations in one life would \
             reuse the next life's history processes"
        );
        self.schedule_next(ctx);
    }

    fn schedule_next(&mut self, ctx: &mut Ctx<'_, W::Node>) {
        let wait = self.config.think_time.sample(ctx.think_rng());
        ctx.set_timer(Duration::from_nanos(wait), ClientTimer::Next.into());
    }
}

/// A client is a part of any node that can carry its timers: it ignores the node's shared
/// setup.
impl<W: Workload, S: ?Sized> Part<W::Node, S> for Client<W>
where
    <W::Node as Node>::Timer: HasClientTimer,
{
    fn on_start(&mut self, ctx: &mut Ctx<'_, W::Node>, _: &S) {
        self.start(ctx);
    }

    fn on_message(
        &mut self,
        ctx: &mut Ctx<'_, W::Node>,
        _: &S,
        _from: NodeId,
        msg: <W::Node as Node>::Msg,
    ) {
        Client::on_message(self, ctx, msg);
    }

    fn on_timer(
        &mut self,
        ctx: &mut Ctx<'_, W::Node>,
        _: &S,
        _timer: TimerId,
        tag: <W::Node as Node>::Timer,
    ) {
        if let Some(t) = tag.client_timer() {
            Client::on_timer(self, ctx, t);
        }
    }
}
