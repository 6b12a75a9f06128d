//! The orders service: its database (orders, cancellations, and under `outbox` the outbox
//! table), the answers to clients and to the reconciler, and the publisher — one batch in
//! flight to the broker at a time, in commit order, sent again until acknowledged.

use super::{
    Event, EventKind, Msg, OrderId, Origin, PipelineNode, Publish, Record, Setup, Timer, View,
};
use crate::broker::{BrokerMsg, Entry};
use sim::{Ctx, NodeId, Part, TimerId};
use std::collections::{BTreeMap, VecDeque};

/// Most events in one produce batch.
const BATCH_MAX: usize = 16;

/// An order's row: its events, and when (by this node's clock) it last changed.
struct Row {
    placed: Event,
    cancelled: Option<Event>,
    at: i64,
}

pub struct Orders {
    rows: BTreeMap<OrderId, Row>,
    /// Events to publish, in commit order: the outbox's unsent rows under `outbox` (rebuilt
    /// from disk after a crash), memory only under `dual-write` (lost with it).
    queue: VecDeque<Event>,
    /// The batch in flight: its sequence number, its size and its retry timer.
    in_flight: Option<(u64, usize, TimerId)>,
    next_seq: u64,
}

impl Orders {
    /// Whether events it committed are not yet in the log: queued, or in a batch in flight.
    pub(super) fn unpublished(&self) -> bool {
        !self.queue.is_empty() || self.in_flight.is_some()
    }

    pub(super) fn new(s: &Setup, disk: &[Record]) -> Orders {
        let mut o = Orders {
            rows: BTreeMap::new(),
            queue: VecDeque::new(),
            in_flight: None,
            next_seq: 0,
        };
        for r in disk {
            match r {
                Record::Committed { event, outbox, at } => {
                    o.store(*event, *at);
                    if *outbox {
                        o.queue.push_back(*event);
                    }
                }
                Record::Outboxed { event } => o.queue.push_back(*event),
                Record::Sent { ids } => {
                    for id in ids {
                        if let Some(i) = o.queue.iter().position(|e| e.id() == *id) {
                            o.queue.remove(i);
                        }
                    }
                }
                _ => {}
            }
        }
        debug_assert!(s.params.publish == Publish::Outbox || o.queue.is_empty());
        o
    }

    fn store(&mut self, event: Event, at: i64) {
        match event.kind {
            EventKind::Placed => {
                self.rows.insert(
                    event.order,
                    Row {
                        placed: event,
                        cancelled: None,
                        at,
                    },
                );
            }
            EventKind::Cancelled => {
                if let Some(row) = self.rows.get_mut(&event.order) {
                    row.cancelled = Some(event);
                    row.at = at;
                }
            }
        }
    }

    /// Commits `event` (with its outbox row under `outbox`, in the same record), answers the
    /// client, then hands the event to the publisher: the order a dual write has.
    fn commit(
        &mut self,
        ctx: &mut Ctx<'_, PipelineNode>,
        s: &Setup,
        event: Event,
        reply: (NodeId, Msg),
    ) {
        let at = ctx.local_clock();
        let outbox = s.params.publish == Publish::Outbox;
        ctx.disk()
            .append_synced(Record::Committed { event, outbox, at });
        self.store(event, at);
        ctx.send(reply.0, reply.1);
        self.queue.push_back(event);
        self.kick(ctx, s);
    }

    /// Sends the next batch if none is in flight.
    fn kick(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup) {
        if self.in_flight.is_some() || self.queue.is_empty() {
            return;
        }
        let seq = (u64::from(ctx.incarnation()) << 32) | self.next_seq;
        self.next_seq += 1;
        let n = self.queue.len().min(BATCH_MAX);
        let timer = self.send_batch(ctx, s, seq, n);
        self.in_flight = Some((seq, n, timer));
    }

    fn send_batch(
        &self,
        ctx: &mut Ctx<'_, PipelineNode>,
        s: &Setup,
        seq: u64,
        n: usize,
    ) -> TimerId {
        let entries = self
            .queue
            .iter()
            .take(n)
            .map(|e| Entry {
                key: s.key(e),
                id: e.id(),
                replay: false,
                event: *e,
            })
            .collect();
        ctx.send(s.broker, Msg::Broker(BrokerMsg::Produce { seq, entries }));
        ctx.set_timer(s.params.publish_retry, Timer::PublishRetry { seq })
    }

    /// The page of rows after `after` old enough to compare.
    fn page(
        &self,
        ctx: &Ctx<'_, PipelineNode>,
        after: Option<OrderId>,
        limit: u32,
        older_than: u64,
    ) -> (Vec<(OrderId, View)>, bool) {
        let now = ctx.local_clock();
        let older_than = i64::try_from(older_than).unwrap_or(i64::MAX);
        let range = match after {
            Some(a) => self
                .rows
                .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => self.rows.range(..),
        };
        let mut rows = Vec::new();
        for (&id, row) in range {
            if rows.len() == limit as usize {
                return (rows, true);
            }
            if now.saturating_sub(row.at) >= older_than {
                rows.push((
                    id,
                    View {
                        placed: true,
                        cancelled: row.cancelled.is_some(),
                    },
                ));
            }
        }
        (rows, false)
    }
}

impl Part<PipelineNode, Setup> for Orders {
    fn on_start(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup) {
        self.kick(ctx, s);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, from: NodeId, msg: Msg) {
        match msg {
            Msg::Place {
                req,
                customer,
                amount,
            } => {
                if self.rows.contains_key(&req) {
                    // A retry of a committed order: the first answer again.
                    return ctx.send(from, Msg::Placed { req });
                }
                let event = Event {
                    order: req,
                    kind: EventKind::Placed,
                    customer,
                    amount,
                    committed: ctx.stopwatch(),
                    origin: Origin::Publish,
                };
                self.commit(ctx, s, event, (from, Msg::Placed { req }));
            }
            Msg::Cancel { req, order } => {
                let placed = match self.rows.get(&order) {
                    Some(row) if row.cancelled.is_none() => row.placed,
                    // Cancelled already (a retry), or never placed: nothing to do.
                    _ => return ctx.send(from, Msg::CancelDone { req }),
                };
                let event = Event {
                    kind: EventKind::Cancelled,
                    committed: ctx.stopwatch(),
                    ..placed
                };
                self.commit(ctx, s, event, (from, Msg::CancelDone { req }));
            }
            Msg::Broker(BrokerMsg::Produced { seq }) => {
                let Some((current, n, timer)) = self.in_flight else {
                    return;
                };
                if current != seq {
                    return;
                }
                ctx.cancel_timer(timer);
                let sent: Vec<Event> = self.queue.drain(..n).collect();
                if s.params.publish == Publish::Outbox {
                    let ids = sent.iter().map(Event::id).collect();
                    ctx.disk().append_synced(Record::Sent { ids });
                }
                ctx.metrics().add("published_events", n as u64);
                self.in_flight = None;
                self.kick(ctx, s);
            }
            Msg::Scan {
                round,
                after,
                limit,
                older_than,
            } => {
                let (rows, more) = self.page(ctx, after, limit, older_than);
                ctx.send(from, Msg::Page { round, rows, more });
            }
            Msg::Republish { events } => {
                for (order, kind) in events {
                    let Some(row) = self.rows.get(&order) else {
                        continue;
                    };
                    let event = match kind {
                        EventKind::Placed => Some(row.placed),
                        EventKind::Cancelled => row.cancelled,
                    };
                    let Some(event) = event else { continue };
                    let event = Event {
                        origin: Origin::Republish,
                        ..event
                    };
                    if s.params.publish == Publish::Outbox {
                        ctx.disk().append_synced(Record::Outboxed { event });
                    }
                    self.queue.push_back(event);
                }
                self.kick(ctx, s);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, _: TimerId, t: Timer) {
        if let Timer::PublishRetry { seq } = t {
            if let Some((current, n, _)) = self.in_flight {
                if current == seq {
                    let timer = self.send_batch(ctx, s, seq, n);
                    self.in_flight = Some((seq, n, timer));
                }
            }
        }
    }
}
