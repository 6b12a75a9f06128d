//! The reconciliation job ("nightly", compressed to `reconcile_every`): pages through the
//! orders database in batches of `reconcile_batch`, asks inventory, notification and billing
//! what they know of each order, and repairs the drift — replaying the missing events from
//! the broker's log, or, where the log never had them (a dual write's lost publication),
//! having the orders service publish them again from its database. An order still drifting
//! after `MAX_ATTEMPTS` repairs is flagged for manual review. Under `report-only` it counts
//! the drift and repairs nothing.
//!
//! Its own cost is measured: `rows_read` (order rows and consumer rows compared),
//! `drift_found` (drifting orders found, a round at a time), `replayed_events`,
//! `republished_events`, `manual_review`.

use super::{event_id, Bug, EventKind, Msg, OrderId, PipelineNode, Service, Setup, Timer, View};
use crate::broker::BrokerMsg;
use sim::{Ctx, NodeId, Part, TimerId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Repairs of one order before it goes to manual review.
const MAX_ATTEMPTS: u32 = 3;

/// How long one step of a round waits for its answers before asking again (its requests are
/// idempotent), and how often it asks before the round is abandoned (the next round starts
/// over).
const STEP_TIMEOUT: Duration = Duration::from_millis(500);
const STEP_TRIES: u32 = 5;

/// Where a round is.
enum Step {
    Idle,
    /// Waiting for a page of orders.
    Scanning,
    /// Waiting for the consumers' views of `rows`.
    Comparing {
        rows: Vec<(OrderId, View)>,
        more: bool,
        views: [Option<Vec<View>>; 3],
    },
    /// Waiting for the broker's replay of `events`.
    Replaying {
        events: BTreeMap<u64, (OrderId, EventKind)>,
        more: bool,
        last: OrderId,
    },
}

pub struct Reconciler {
    step: Step,
    /// The number of the request the round waits on: answers to any other are stale.
    request: u64,
    /// The current step's requests, sent again at its timeout, and how often they were.
    sent: Vec<(NodeId, Msg)>,
    tries: u32,
    attempts: BTreeMap<OrderId, u32>,
    flagged: BTreeSet<OrderId>,
}

impl Default for Reconciler {
    fn default() -> Self {
        Reconciler {
            step: Step::Idle,
            request: 0,
            sent: Vec::new(),
            tries: 0,
            attempts: BTreeMap::new(),
            flagged: BTreeSet::new(),
        }
    }
}

impl Reconciler {
    fn next_request(&mut self, ctx: &mut Ctx<'_, PipelineNode>) -> u64 {
        self.request += 1;
        self.sent.clear();
        self.tries = 0;
        ctx.set_timer(
            STEP_TIMEOUT,
            Timer::ReconcileTimeout {
                round: self.request,
            },
        );
        self.request
    }

    fn scan(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, after: Option<OrderId>) {
        let round = self.next_request(ctx);
        self.step = Step::Scanning;
        let older_than = s
            .params
            .reconcile_grace
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64;
        let scan = Msg::Scan {
            round,
            after,
            limit: s.params.reconcile_batch,
            older_than,
        };
        self.send(ctx, s.orders, scan);
    }

    fn send(&mut self, ctx: &mut Ctx<'_, PipelineNode>, to: NodeId, msg: Msg) {
        self.sent.push((to, msg.clone()));
        ctx.send(to, msg);
    }

    /// The batch's drift: events a consumer lacks, by message id; repairs asked for.
    fn compare(
        &mut self,
        ctx: &mut Ctx<'_, PipelineNode>,
        s: &Setup,
        rows: Vec<(OrderId, View)>,
        more: bool,
        views: [Vec<View>; 3],
    ) {
        let last = rows.last().expect("a non-empty page").0;
        let mut events = BTreeMap::new();
        for (i, &(order, want)) in rows.iter().enumerate() {
            let mut lacking = Vec::new();
            for v in &views {
                let have = v.get(i).copied().unwrap_or_default();
                if want.placed && !have.placed {
                    lacking.push(EventKind::Placed);
                }
                if want.cancelled && !have.cancelled {
                    lacking.push(EventKind::Cancelled);
                }
            }
            if lacking.is_empty() {
                continue;
            }
            ctx.metrics().add("drift_found", 1);
            if s.params.bug == Bug::ReportOnly {
                continue;
            }
            let attempts = self.attempts.entry(order).or_default();
            if *attempts >= MAX_ATTEMPTS {
                if self.flagged.insert(order) {
                    ctx.metrics().add("manual_review", 1);
                }
                continue;
            }
            *attempts += 1;
            for kind in lacking {
                events.insert(event_id(order, kind), (order, kind));
            }
        }
        if events.is_empty() {
            return self.next_page(ctx, s, more, last);
        }
        let tag = self.next_request(ctx);
        let ids = events.keys().copied().collect();
        self.step = Step::Replaying { events, more, last };
        self.send(ctx, s.broker, Msg::Broker(BrokerMsg::Replay { tag, ids }));
    }

    fn next_page(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, more: bool, last: OrderId) {
        if more {
            self.scan(ctx, s, Some(last));
        } else {
            self.step = Step::Idle;
        }
    }
}

impl Part<PipelineNode, Setup> for Reconciler {
    fn on_start(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup) {
        if s.params.reconciliation {
            ctx.set_timer(s.params.reconcile_every, Timer::Reconcile);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, _: NodeId, msg: Msg) {
        match msg {
            Msg::Page { round, rows, more } if round == self.request => {
                if !matches!(self.step, Step::Scanning) {
                    return;
                }
                ctx.metrics().add("rows_read", rows.len() as u64);
                if rows.is_empty() {
                    self.step = Step::Idle;
                    return;
                }
                let round = self.next_request(ctx);
                let orders: Vec<OrderId> = rows.iter().map(|r| r.0).collect();
                for service in Service::ALL {
                    let lookup = Msg::Lookup {
                        round,
                        orders: orders.clone(),
                    };
                    self.send(ctx, s.consumer(service), lookup);
                }
                self.step = Step::Comparing {
                    rows,
                    more,
                    views: Default::default(),
                };
            }
            Msg::Views {
                round,
                service,
                views,
            } if round == self.request => {
                let Step::Comparing { views: got, .. } = &mut self.step else {
                    return;
                };
                if got[service as usize].is_some() {
                    return;
                }
                ctx.metrics().add("rows_read", views.len() as u64);
                got[service as usize] = Some(views);
                if got.iter().any(Option::is_none) {
                    return;
                }
                let Step::Comparing { rows, more, views } =
                    std::mem::replace(&mut self.step, Step::Idle)
                else {
                    unreachable!("matched above");
                };
                let views = views.map(|v| v.expect("all three present"));
                self.compare(ctx, s, rows, more, views);
            }
            Msg::Broker(BrokerMsg::Replayed {
                tag,
                found,
                missing,
            }) if tag == self.request => {
                let Step::Replaying { events, more, last } =
                    std::mem::replace(&mut self.step, Step::Idle)
                else {
                    return;
                };
                ctx.metrics().add("replayed_events", found.len() as u64);
                let republish: Vec<(OrderId, EventKind)> = missing
                    .iter()
                    .filter_map(|id| events.get(id).copied())
                    .collect();
                if !republish.is_empty() {
                    ctx.metrics()
                        .add("republished_events", republish.len() as u64);
                    ctx.send(s.orders, Msg::Republish { events: republish });
                }
                self.next_page(ctx, s, more, last);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, PipelineNode>, s: &Setup, _: TimerId, t: Timer) {
        match t {
            Timer::Reconcile => {
                ctx.set_timer(s.params.reconcile_every, Timer::Reconcile);
                if matches!(self.step, Step::Idle) {
                    self.scan(ctx, s, None);
                }
            }
            Timer::ReconcileTimeout { round } if round == self.request => {
                if matches!(self.step, Step::Idle) {
                    return;
                }
                self.tries += 1;
                if self.tries >= STEP_TRIES {
                    self.step = Step::Idle;
                    return;
                }
                for (to, msg) in &self.sent {
                    ctx.send(*to, msg.clone());
                }
                ctx.set_timer(STEP_TIMEOUT, Timer::ReconcileTimeout { round });
            }
            _ => {}
        }
    }
}
