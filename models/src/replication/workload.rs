//! The clients' workload: writes of unique values and reads of a few keys, sent where the
//! read-your-writes technique says, in one session per client life.

use super::log::Version;
use super::{Msg, ReadAt, ReadFrom, ReadYourWrites, ReplicationNode, Setup};
use sim::client::{Completion, HistoryOp, RequestId, Workload};
use sim::history::{OpFn, Value};
use sim::rng::Rng;
use sim::{Ctx, NodeId, Stopwatch};
use std::rc::Rc;

pub struct ReplicationWorkload {
    setup: Rc<Setup>,
    me: NodeId,
    /// The primary, as last heard (a redirect moves it).
    primary: NodeId,
    /// Writes this client life has issued: values are unique across clients and restarts.
    writes: u64,
    /// The newest version this session has written or read: its session token.
    token: Version,
    /// When (by this client's clock) its last write was acknowledged.
    wrote_at: Option<i64>,
    /// Whether the operation in flight reads from the primary (`primary-after-write`).
    read_primary: bool,
    /// When the operation in flight was issued (for the per-region latencies).
    issued_at: Stopwatch,
}

/// An operation, as drawn.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Write { key: u32, value: i64 },
    Read { key: u32 },
}

/// What a reply says.
pub enum Reply {
    Written(Version),
    Read(Option<i64>, Version),
    NotPrimary(Option<NodeId>),
    Unavailable,
}

impl ReplicationWorkload {
    pub(super) fn new(setup: Rc<Setup>, me: NodeId) -> ReplicationWorkload {
        let primary = setup.servers[usize::from(setup.first_primary)];
        ReplicationWorkload {
            setup,
            me,
            primary,
            writes: 0,
            token: Version::ZERO,
            wrote_at: None,
            read_primary: false,
            issued_at: Stopwatch::default(),
        }
    }

    fn region(&self) -> usize {
        self.setup.region[self.me.index()]
    }

    /// Whether writes go through the regional cache.
    fn writes_through_cache(&self) -> bool {
        self.setup.params.read_your_writes == ReadYourWrites::CacheInvalidation
    }

    /// Whether a read is for the primary to serve.
    fn reads_primary(&self) -> bool {
        self.setup.params.read_from == ReadFrom::Primary || self.read_primary
    }
}

/// A key's name in the history.
pub fn key_name(key: u32) -> String {
    format!("k{key}")
}

impl Workload for ReplicationWorkload {
    type Node = ReplicationNode;
    type Op = Op;
    type Reply = Reply;

    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Op {
        let p = &self.setup.params;
        let write = rng.unit() < p.write_ratio;
        let key = rng.below(u64::from(p.keys)) as u32;
        if !write {
            return Op::Read { key };
        }
        self.writes += 1;
        Op::Write {
            key,
            value: crate::unique_value(id, self.writes),
        }
    }

    fn issued(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, op: &Op) {
        self.issued_at = ctx.stopwatch();
        let window = self.setup.params.primary_reads_for.as_nanos() as i64;
        self.read_primary = matches!(op, Op::Read { .. })
            && self.setup.params.read_your_writes == ReadYourWrites::PrimaryAfterWrite
            && self
                .wrote_at
                .is_some_and(|t| ctx.local_clock().saturating_sub(t) < window);
    }

    fn target(&self, op: &Op, _attempt: u32) -> NodeId {
        let s = &*self.setup;
        let cache = || s.local_cache[self.region()].expect("checked at build");
        match op {
            Op::Write { .. } if self.writes_through_cache() => cache(),
            Op::Write { .. } => self.primary,
            Op::Read { .. } if s.params.read_from == ReadFrom::Cache => cache(),
            Op::Read { .. } if self.reads_primary() => self.primary,
            Op::Read { .. } => s.local_server[self.region()].unwrap_or(self.primary),
        }
    }

    fn request(&self, req: RequestId, op: &Op, _attempt: u32) -> Msg {
        match *op {
            Op::Write { key, value } => Msg::Write { req, key, value },
            Op::Read { key } => {
                let at = if self.reads_primary() {
                    ReadAt::Primary
                } else {
                    let session = self.setup.params.read_your_writes == ReadYourWrites::Session;
                    ReadAt::Any {
                        after: session.then_some(self.token),
                    }
                };
                Msg::Read { req, key, at }
            }
        }
    }

    fn reply(&self, msg: Msg) -> Option<(RequestId, Reply)> {
        match msg {
            Msg::WriteOk { req, version } => Some((req, Reply::Written(version))),
            Msg::ReadOk {
                req,
                value,
                version,
            } => Some((req, Reply::Read(value, version))),
            Msg::NotPrimary { req, hint } => Some((req, Reply::NotPrimary(hint))),
            Msg::Unavailable { req } => Some((req, Reply::Unavailable)),
            _ => None,
        }
    }

    fn metric(&self, op: &Op) -> &'static str {
        match op {
            Op::Write { .. } => "write_latency_ms",
            Op::Read { .. } => "read_latency_ms",
        }
    }

    fn history(&self, op: &Op) -> Option<HistoryOp> {
        let (f, key, value) = match *op {
            Op::Write { key, value } => (OpFn::Put, key, Value::Str(value.to_string())),
            Op::Read { key } => (OpFn::Get, key, Value::Null),
        };
        Some(HistoryOp {
            f,
            key: Some(key_name(key)),
            value,
        })
    }

    /// One session per client life: the token lives in the client's memory.
    fn session(&self, id: RequestId) -> Option<u64> {
        Some(u64::from(id.client) << 32 | u64::from(id.incarnation))
    }

    fn completed(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        op: &Op,
        reply: Reply,
    ) -> Completion {
        let region = self.setup.metrics[self.region()];
        match (op, reply) {
            (Op::Write { value, .. }, Reply::Written(version)) => {
                self.token = self.token.max(version);
                self.wrote_at = Some(ctx.local_clock());
                ctx.record_elapsed(region.write, self.issued_at);
                Completion::Ok(Value::Str(value.to_string()))
            }
            (Op::Read { .. }, Reply::Read(value, version)) => {
                self.token = self.token.max(version);
                ctx.record_elapsed(region.read, self.issued_at);
                Completion::Ok(Value::Str(
                    value.map_or_else(String::new, |v| v.to_string()),
                ))
            }
            (_, Reply::NotPrimary(Some(primary))) => {
                self.primary = primary;
                Completion::Redirect
            }
            (_, Reply::NotPrimary(None)) => Completion::Indeterminate("no-primary"),
            (_, Reply::Unavailable) => Completion::Indeterminate("unavailable"),
            (Op::Write { .. }, Reply::Read(..)) | (Op::Read { .. }, Reply::Written(_)) => {
                unreachable!("a server answers a request with the reply of its kind")
            }
        }
    }

    fn gave_up(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, _: &Op) {
        ctx.metrics().add("unavailable_ops", 1);
    }
}
