//! Devices: a phone, a laptop, the web. Each alternates a read and a write, the write built on
//! the state read (read-modify-write), so its update causally follows what it saw.

use super::clocks::UpdateId;
use super::merge::{Edit, Field, State};
use super::{Msg, Setup, VersionedNode};
use sim::client::{Completion, HistoryOp, RequestId, Workload};
use sim::history::{OpFn, Value};
use sim::rng::Rng;
use sim::{Ctx, NodeId};
use std::rc::Rc;

/// The update id of request `req`: device ordinal + 1 in bits 44–62, the incarnation's low
/// 16 bits in bits 28–43, the request's number in bits 0–27. Unique across devices and
/// restarts (within 65,536 incarnations and 2^28 requests a life), increasing along each
/// device's requests, and never 0.
pub fn update_id(req: RequestId) -> UpdateId {
    ((u64::from(req.client) + 1) << 44)
        | ((u64::from(req.incarnation) & 0xFFFF) << 28)
        | (req.seq & 0x0FFF_FFFF)
}

/// The device ordinal that made update `id`.
pub fn device_of(id: UpdateId) -> usize {
    ((id >> 44) as usize).saturating_sub(1)
}

/// One device operation, as drawn.
#[derive(Clone, Debug)]
pub enum Op {
    /// Read the profile at replica ordinal `at`.
    Read { at: usize },
    /// Write `edit` on top of `base` (what was read last) at replica ordinal `at`, where
    /// `base` was read.
    Write { at: usize, edit: Edit, base: State },
}

/// What a reply says.
pub enum Reply {
    Read(State),
    Written,
}

pub struct DeviceWorkload {
    setup: Rc<Setup>,
    home: usize,
    /// The last state read and the replica it came from: the base of the next write. A read
    /// that timed out leaves the previous one (the app's cached view).
    base: Option<(usize, State)>,
    /// Whether the next operation is the write of a read-modify-write.
    writing: bool,
}

impl DeviceWorkload {
    pub fn new(setup: Rc<Setup>, ordinal: usize) -> DeviceWorkload {
        DeviceWorkload {
            home: setup.home[ordinal],
            setup,
            base: None,
            writing: false,
        }
    }
}

impl Workload for DeviceWorkload {
    type Node = VersionedNode;
    type Op = Op;
    type Reply = Reply;

    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Op {
        let p = &self.setup.params;
        // The same three draws for every operation, read or write.
        let roams = rng.unit() < p.roam;
        let pick = rng.below(self.setup.replicas.len() as u64) as usize;
        let f = rng.unit();
        if !self.writing {
            self.writing = true;
            return Op::Read {
                at: if roams { pick } else { self.home },
            };
        }
        self.writing = false;
        let (at, base) = self
            .base
            .clone()
            .unwrap_or_else(|| (self.home, self.setup.initial()));
        let full = base.values(Field::Address).count() >= p.max_addresses as usize;
        let field = if f < p.address_ratio {
            match (full, f < p.address_ratio / 2.0) {
                (false, _) => Field::Address,
                (true, true) => Field::Name,
                (true, false) => Field::Email,
            }
        } else if f < p.address_ratio + (1.0 - p.address_ratio) / 2.0 {
            Field::Name
        } else {
            Field::Email
        };
        Op::Write {
            at,
            edit: Edit {
                field,
                id: update_id(id),
            },
            base,
        }
    }

    fn target(&self, op: &Op, _attempt: u32) -> NodeId {
        match op {
            Op::Read { at } | Op::Write { at, .. } => self.setup.replicas[*at],
        }
    }

    fn request(&self, req: RequestId, op: &Op, _attempt: u32) -> Msg {
        match op {
            Op::Read { .. } => Msg::Read { req },
            Op::Write { edit, base, .. } => Msg::Write {
                req,
                edit: *edit,
                base: base.clone(),
            },
        }
    }

    fn reply(&self, msg: Msg) -> Option<(RequestId, Reply)> {
        match msg {
            Msg::ReadOk { req, state } => Some((req, Reply::Read(state))),
            Msg::WriteOk { req } => Some((req, Reply::Written)),
            _ => None,
        }
    }

    fn metric(&self, op: &Op) -> &'static str {
        match op {
            Op::Read { .. } => "read_latency_ms",
            Op::Write { .. } => "write_latency_ms",
        }
    }

    /// Writes only: `update`, the field as key, the update id as value.
    fn history(&self, op: &Op) -> Option<HistoryOp> {
        match op {
            Op::Read { .. } => None,
            Op::Write { edit, .. } => Some(HistoryOp {
                f: UPDATE,
                key: Some(edit.field.text().to_string()),
                value: Value::Int(edit.id as i64),
            }),
        }
    }

    fn completed(&mut self, _: &mut Ctx<'_, VersionedNode>, op: &Op, reply: Reply) -> Completion {
        match (op, reply) {
            (Op::Read { at }, Reply::Read(state)) => {
                self.base = Some((*at, state));
                Completion::Ok(Value::Null)
            }
            (Op::Write { edit, .. }, Reply::Written) => Completion::Ok(Value::Int(edit.id as i64)),
            _ => unreachable!("replies are matched by request id, and ids are never reused"),
        }
    }

    fn gave_up(&mut self, ctx: &mut Ctx<'_, VersionedNode>, _: &Op) {
        ctx.metrics().add("timeouts", 1);
    }
}

/// The history's name for a device's write.
pub const UPDATE: OpFn = match OpFn::new("update") {
    Some(f) => f,
    None => panic!("a valid operation name"),
};
