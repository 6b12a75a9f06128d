//! A consuming service (inventory, notification or billing): a consumer group of one member
//! with its own database. It joins, fetches a batch from its positions, processes the events
//! one at a time (each in one local transaction with its message id in the processed-ids
//! table), then commits the offsets — or, at most once, commits first.

use super::{
    Bug, Delivery, EventKind, Incoming, Msg, OrderId, Origin, PipelineNode, Record, Service, Setup,
    Timer, View,
};
use crate::broker::BrokerMsg;
use sim::{Ctx, NodeId, Part, TimerId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Polls with no answer before the consumer takes its session for lost and joins again
/// (a rebalance).
const SESSION_POLLS: u32 = 25;

pub struct Consumer {
    service: Service,
    /// The processed-ids table.
    processed: BTreeSet<u64>,
    /// What its database says of each order (for the reconciler).
    views: BTreeMap<OrderId, View>,
    generation: Option<u64>,
    positions: Vec<u64>,
    batch: VecDeque<Incoming>,
    processing: Option<TimerId>,
    silent_polls: u32,
}

impl Consumer {
    /// Whether it applied the event with this message id.
    pub(super) fn processed(&self, id: u64) -> bool {
        self.processed.contains(&id)
    }

    /// Whether it holds fetched deliveries not yet applied and committed.
    pub(super) fn holds_a_batch(&self) -> bool {
        !self.batch.is_empty() || self.processing.is_some()
    }

    pub(super) fn new(service: Service, disk: &[Record]) -> Consumer {
        let mut c = Consumer {
            service,
            processed: BTreeSet::new(),
            views: BTreeMap::new(),
            generation: None,
            positions: Vec::new(),
            batch: VecDeque::new(),
            processing: None,
            silent_polls: 0,
        };
        for r in disk {
            if let Record::Applied { event, .. } = r {
                c.processed.insert(event.id());
                c.note(event.order, event.kind);
            }
        }
        c
    }

    fn note(&mut self, order: OrderId, kind: EventKind) {
        let v = self.views.entry(order).or_default();
        match kind {
            EventKind::Placed => v.placed = true,
            EventKind::Cancelled => v.cancelled = true,
        }
    }

    fn commits_first(s: &Setup) -> bool {
        s.params.delivery == Delivery::AtMostOnce || s.params.bug == Bug::CommitOffsetFirst
    }

    fn commit(&self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, offsets: Vec<u64>) {
        let Some(generation) = self.generation else {
            return;
        };
        ctx.send(
            s.broker,
            Msg::Broker(BrokerMsg::Commit {
                group: self.service.group(),
                generation,
                offsets,
            }),
        );
    }

    fn join(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup) {
        self.silent_polls = 0;
        let group = self.service.group();
        ctx.send(s.broker, Msg::Broker(BrokerMsg::Join { group }));
    }

    fn start_processing(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup) {
        let after = s.params.processing_time.sample(ctx.rng());
        self.processing =
            Some(ctx.set_timer(std::time::Duration::from_nanos(after), Timer::Processed));
    }

    /// Applies one delivery in one local transaction, unless its id was processed already.
    fn apply(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, d: Incoming) {
        let event = d.entry.event;
        let id = event.id();
        let replayed = d.entry.replay || event.origin == Origin::Republish;
        let duplicate = self.processed.contains(&id);
        if duplicate {
            ctx.metrics().add("duplicates_delivered", 1);
            if s.params.bug != Bug::NoDedupe {
                ctx.metrics().add("duplicates_suppressed", 1);
                return;
            }
        }
        ctx.disk().append_synced(Record::Applied {
            service: self.service,
            event,
            replayed,
        });
        self.processed.insert(id);
        self.note(event.order, event.kind);
        if duplicate {
            return;
        }
        if replayed {
            ctx.record_elapsed("repair_ms", event.committed);
        } else if self.service == Service::Inventory && event.kind == EventKind::Placed {
            ctx.record_elapsed("end_to_end_ms", event.committed);
        }
    }
}

impl Part<PipelineNode, Setup> for Consumer {
    fn on_start(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup) {
        self.join(ctx, s);
        ctx.set_timer(s.params.poll_every, Timer::Poll);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, from: NodeId, msg: Msg) {
        match msg {
            Msg::Broker(BrokerMsg::Joined {
                group,
                generation,
                offsets,
            }) if group == self.service.group() => {
                // A newer generation (a duplicated join is answered twice): back to the
                // committed offsets; what was processed since is suppressed when redelivered.
                if self.generation.is_some_and(|g| g >= generation) {
                    return;
                }
                self.generation = Some(generation);
                self.positions = offsets;
                self.batch.clear();
                if let Some(t) = self.processing.take() {
                    ctx.cancel_timer(t);
                }
            }
            Msg::Broker(BrokerMsg::Records {
                group,
                generation,
                from,
                records,
            }) => {
                if group != self.service.group()
                    || self.generation != Some(generation)
                    || from != self.positions
                {
                    return;
                }
                self.silent_polls = 0;
                if self.processing.is_some() || records.is_empty() {
                    return;
                }
                if Self::commits_first(s) {
                    let mut end = self.positions.clone();
                    for d in &records {
                        end[d.partition as usize] = d.offset + 1;
                    }
                    self.commit(ctx, s, end);
                }
                self.batch = records.into();
                self.start_processing(ctx, s);
            }
            Msg::Lookup { round, orders } => {
                let views = orders
                    .iter()
                    .map(|o| self.views.get(o).copied().unwrap_or_default())
                    .collect();
                ctx.send(
                    from,
                    Msg::Views {
                        round,
                        service: self.service,
                        views,
                    },
                );
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, timer: TimerId, t: Timer) {
        match t {
            Timer::Poll => {
                ctx.set_timer(s.params.poll_every, Timer::Poll);
                match self.generation {
                    None => self.join(ctx, s),
                    Some(_) if self.silent_polls >= SESSION_POLLS => self.join(ctx, s),
                    Some(generation) if self.processing.is_none() => {
                        self.silent_polls += 1;
                        ctx.send(
                            s.broker,
                            Msg::Broker(BrokerMsg::Fetch {
                                group: self.service.group(),
                                generation,
                                from: self.positions.clone(),
                                max: s.params.fetch_max,
                            }),
                        );
                    }
                    Some(_) => {}
                }
            }
            Timer::Processed if self.processing == Some(timer) => {
                self.processing = None;
                let Some(d) = self.batch.pop_front() else {
                    return;
                };
                let (p, offset) = (d.partition as usize, d.offset);
                self.apply(ctx, s, d);
                if let Some(pos) = self.positions.get_mut(p) {
                    *pos = offset + 1;
                }
                if !self.batch.is_empty() {
                    self.start_processing(ctx, s);
                } else if !Self::commits_first(s) {
                    self.commit(ctx, s, self.positions.clone());
                }
            }
            _ => {}
        }
    }
}
