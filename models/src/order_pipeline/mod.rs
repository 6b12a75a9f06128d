//! The order pipeline of the seed story: "when an order is placed, the order service confirms
//! it, the inventory service later consumes an event and updates stock, the notification
//! service sends confirmation" — eventual consistency over a message log, no distributed
//! transaction — and the nightly reconciliation between billing and orders that catches
//! missed events and replays them from the log.
//!
//! Nodes: clients place orders (and now and then cancel one of theirs) at the **orders**
//! service, retrying with the request id as the idempotency key (the order's id); the orders
//! service commits each order (and cancellation) to its own durable database and publishes
//! an event to the **broker** ([`crate::broker`], keyed by order id, so an order's events
//! stay in one partition, in order); **inventory** (reserves stock, releases it at a
//! cancellation), **notification** (sends one confirmation per order) and **billing** (bills,
//! refunds) each consume the events as a consumer group of their own, with their own durable
//! database; an optional **reconciler** compares orders with billing and inventory in
//! batches every `reconcile_every` and repairs the drift.
//!
//! Publishing (`publish`): `dual-write` commits, then publishes from memory: a crash between
//! the two loses the event (the client was answered, nothing will ever tell the consumers).
//! `outbox` writes the event to an outbox table in the commit's own transaction (one disk
//! record); a relay publishes the outbox in order, at least once, and marks rows sent when
//! the broker acknowledges them. Either way the publisher keeps one batch in flight, so an
//! order's events reach the log in commit order.
//!
//! Consumers apply each event in one local transaction with its message id in a
//! processed-ids table (one disk record), so a redelivered or duplicated event is suppressed;
//! they commit offsets after processing (at-least-once), or before (`delivery =
//! "at-most-once"`).
//!
//! Known bugs: `no-dedupe` (consumers apply every delivery), `commit-offset-first` (offsets
//! committed before the batch is processed: a crash in between loses its events),
//! `wrong-partition-key` (the order-placed event is keyed by customer, the cancellation by
//! order: they land in different partitions and reorder) and `report-only` (reconciliation
//! reports drift and repairs nothing).
//!
//! Invariants, judged at the end from every service's disk and the broker's log:
//! `no_lost_events`, `exactly_once_notify`, `exactly_once_effect`, `in_order`, `convergence`.

mod consumer;
mod orders;
mod reconciler;

use crate::broker::{self, Broker, BrokerMsg, Delivered, Host, LogRecord};
use crate::{check_roles, nodes_with_role, ModelSpec, NodeInfo, ParamError, Params};
use consumer::Consumer;
use orders::Orders;
use reconciler::Reconciler;
use serde::{Deserialize, Serialize};
use sim::client::{
    Client, ClientConfig, ClientTimer, Completion, HistoryOp, OnTimeout, RequestId, Workload,
};
use sim::dist::Dist;
use sim::history::{EventType, History, OpFn, Value};
use sim::invariant::{Status, Verdict};
use sim::metrics::Metrics;
use sim::rng::Rng;
use sim::{Ctx, Message, NodeId, Stopwatch, World};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

/// How the orders service gets its events to the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Publish {
    /// Commit, then publish from memory.
    DualWrite,
    /// The event in an outbox row of the commit's transaction; a relay publishes it.
    Outbox,
}

/// When consumers commit their offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// After processing: a crash redelivers, deduplication suppresses.
    AtLeastOnce,
    /// Before processing: a crash in between loses the batch's rest.
    AtMostOnce,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineParams {
    pub kind: String,
    pub bug: Bug,
    pub publish: Publish,
    pub delivery: Delivery,
    /// Whether the reconciler runs (it needs a node with role `reconciler`).
    pub reconciliation: bool,
    /// How often a reconciliation round starts ("nightly", compressed).
    #[serde(with = "crate::serde_duration")]
    pub reconcile_every: Duration,
    /// Orders compared per batch.
    pub reconcile_batch: u32,
    /// Orders younger than this (by the orders service's clock) are left to the next round:
    /// their events may still be on their way.
    #[serde(with = "crate::serde_duration")]
    pub reconcile_grace: Duration,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Most messages a fetch returns per partition.
    pub fetch_max: u32,
    /// How often an idle consumer polls.
    #[serde(with = "crate::serde_duration")]
    pub poll_every: Duration,
    /// How long a consumer takes over one event.
    pub processing_time: Dist,
    /// How long the publisher waits for the broker's acknowledgement before sending again.
    #[serde(with = "crate::serde_duration")]
    pub publish_retry: Duration,
    /// Think time between a client's operations.
    pub think_time: Dist,
    /// How long a client waits before sending the same request again.
    #[serde(with = "crate::serde_duration")]
    pub client_retry: Duration,
    /// The chance that a client's next operation cancels its latest order.
    pub cancel_ratio: f64,
}

impl Default for PipelineParams {
    fn default() -> Self {
        PipelineParams {
            kind: "order_pipeline".into(),
            bug: Bug::None,
            publish: Publish::Outbox,
            delivery: Delivery::AtLeastOnce,
            reconciliation: false,
            reconcile_every: Duration::from_secs(5),
            reconcile_batch: 50,
            reconcile_grace: Duration::from_secs(2),
            partitions: 4,
            fetch_max: 10,
            poll_every: Duration::from_millis(20),
            processing_time: "uniform(1ms, 5ms)".parse().expect("a distribution"),
            publish_retry: Duration::from_millis(200),
            think_time: Dist::Exponential { mean: 200_000_000 },
            client_retry: Duration::from_millis(500),
            cancel_ratio: 0.2,
        }
    }
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// Consumers apply every delivery: redeliveries and duplicates apply twice.
        NoDedupe = "no-dedupe",
        /// Offsets committed before the batch is processed.
        CommitOffsetFirst = "commit-offset-first",
        /// Placements keyed by customer, cancellations by order.
        WrongPartitionKey = "wrong-partition-key",
        /// Reconciliation reports drift and repairs nothing.
        ReportOnly = "report-only",
    }
}

/// An order: the client's request id that placed it (unique across clients and restarts).
pub type OrderId = RequestId;

/// An order's number, as the history and the reports print it: client k's life l places
/// (k + 1)·10^12 + l·10^9 + n.
pub fn order_number(o: OrderId) -> u64 {
    (u64::from(o.client) + 1) * 1_000_000_000_000
        + u64::from(o.incarnation / 2) * 1_000_000_000
        + o.seq
}

/// What happened to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    Placed,
    Cancelled,
}

/// How an event reached the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Published by the orders service after its commit.
    Publish,
    /// Published again from the orders database at the reconciler's request.
    Republish,
}

/// The event the orders service publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    pub order: OrderId,
    pub kind: EventKind,
    pub customer: u32,
    pub amount: i64,
    /// When the orders service committed it (true time, for latency only).
    pub committed: Stopwatch,
    pub origin: Origin,
}

impl Event {
    /// The message id: one per order and kind, the same at every publication.
    pub fn id(&self) -> u64 {
        event_id(self.order, self.kind)
    }
}

pub fn event_id(order: OrderId, kind: EventKind) -> u64 {
    order_number(order) * 2 + u64::from(kind == EventKind::Cancelled)
}

/// The three consuming services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Inventory,
    Notification,
    Billing,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Inventory, Service::Notification, Service::Billing];

    fn group(self) -> broker::Group {
        self as broker::Group
    }

    fn name(self) -> &'static str {
        match self {
            Service::Inventory => "inventory",
            Service::Notification => "notification",
            Service::Billing => "billing",
        }
    }
}

/// What a consumer's database says of an order (the reconciler's view of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct View {
    pub placed: bool,
    pub cancelled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Broker(BrokerMsg<Event>),
    // Clients and the orders service.
    Place {
        req: RequestId,
        customer: u32,
        amount: i64,
    },
    Placed {
        req: RequestId,
    },
    Cancel {
        req: RequestId,
        order: OrderId,
    },
    CancelDone {
        req: RequestId,
    },
    // The reconciler and the services.
    /// Orders after `after` (all if `None`), at most `limit`, committed at least `older_than`
    /// nanoseconds ago by the orders service's clock.
    Scan {
        round: u64,
        after: Option<OrderId>,
        limit: u32,
        older_than: u64,
    },
    Page {
        round: u64,
        rows: Vec<(OrderId, View)>,
        more: bool,
    },
    Lookup {
        round: u64,
        orders: Vec<OrderId>,
    },
    Views {
        round: u64,
        service: Service,
        views: Vec<View>,
    },
    /// Publish these events again from the orders database.
    Republish {
        events: Vec<(OrderId, EventKind)>,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "Produce",
        "Produced",
        "Join",
        "Joined",
        "Fetch",
        "Records",
        "Commit",
        "Replay",
        "Replayed",
        "Place",
        "Placed",
        "Cancel",
        "CancelDone",
        "Scan",
        "Page",
        "Lookup",
        "Views",
        "Republish",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Broker(m) => m.kind(),
            Msg::Place { .. } => "Place",
            Msg::Placed { .. } => "Placed",
            Msg::Cancel { .. } => "Cancel",
            Msg::CancelDone { .. } => "CancelDone",
            Msg::Scan { .. } => "Scan",
            Msg::Page { .. } => "Page",
            Msg::Lookup { .. } => "Lookup",
            Msg::Views { .. } => "Views",
            Msg::Republish { .. } => "Republish",
        }
    }
}

/// What the services write to their disks; each record is one local transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The broker's log.
    Log(LogRecord<Event>),
    /// The orders database: an order or cancellation committed, with its outbox row if
    /// `outbox` (the same transaction), and its commit time by the service's clock.
    Committed { event: Event, outbox: bool, at: i64 },
    /// Outbox rows for these events were published and acknowledged.
    Sent { ids: Vec<u64> },
    /// An outbox row written for a republication.
    Outboxed { event: Event },
    /// A consumer applied `event`, its message id into the processed-ids table in the same
    /// transaction; `replayed`: it came from a replay or a republication.
    Applied {
        service: Service,
        event: Event,
        replayed: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    Client(ClientTimer),
    /// The publisher's batch waited `publish_retry`.
    PublishRetry {
        seq: u64,
    },
    /// A consumer polls (or joins, if it has not yet).
    Poll,
    /// A consumer finished processing the event at the head of its batch.
    Processed,
    /// The reconciler's round starts.
    Reconcile,
    /// The reconciler gives up waiting for round `round`'s answers.
    ReconcileTimeout {
        round: u64,
    },
}

sim::client_timer!(Timer::Client);

/// What every node of one run shares.
pub(crate) struct Setup {
    params: PipelineParams,
    orders: NodeId,
    broker: NodeId,
    consumers: [NodeId; 3],
    reconciler: Option<NodeId>,
    clients: Vec<NodeId>,
}

impl Setup {
    fn consumer(&self, s: Service) -> NodeId {
        self.consumers[s as usize]
    }

    /// The partitioning key of `e`: its order, except for `wrong-partition-key`'s placements.
    fn key(&self, e: &Event) -> u64 {
        if self.params.bug == Bug::WrongPartitionKey && e.kind == EventKind::Placed {
            u64::from(e.customer)
        } else {
            order_number(e.order)
        }
    }
}

sim::node_of_parts! {
    /// A node of the order pipeline.
    pub struct PipelineNode(Setup) {
        msg: Msg, timer: Timer, record: Record,
        role: Role {
            Orders(Orders),
            Broker(Broker<Event>),
            Consumer(Consumer),
            Reconciler(Reconciler),
            Client(Client<Shopper>)
        }
    }
}

impl Host for PipelineNode {
    type Event = Event;
    fn wrap(msg: BrokerMsg<Event>) -> Msg {
        Msg::Broker(msg)
    }
    fn unwrap(msg: Msg) -> Option<BrokerMsg<Event>> {
        match msg {
            Msg::Broker(m) => Some(m),
            _ => None,
        }
    }
    fn record(r: LogRecord<Event>) -> Record {
        Record::Log(r)
    }
}

pub struct Pipeline {
    setup: Rc<Setup>,
}

impl sim::Model for Pipeline {
    type Node = PipelineNode;

    fn phases(&self) -> &'static [&'static str] {
        &["unpublished", "in-log-unapplied", "consumer-batch"]
    }

    /// An order event committed and not yet in the log (the orders service as it would
    /// recover while down: the outbox survives, a dual write's queue does not); an event in
    /// the log that some consumer has not applied (by its processed-ids table, as it would
    /// recover); a consumer holding fetched deliveries not yet applied (an up one only: a
    /// batch is memory).
    fn phases_now(&self, world: &World<'_, PipelineNode>) -> u32 {
        let s = &*self.setup;
        let role = |id: NodeId| world.nodes[id.index()].as_ref().map(|n| &n.role);
        let mut under_way = 0;
        let recovered_orders;
        let orders = match role(s.orders) {
            Some(Role::Orders(o)) => o,
            _ => {
                recovered_orders = Orders::new(s, world.disk(s.orders).synced());
                &recovered_orders
            }
        };
        if orders.unpublished() {
            under_way |= 1;
        }
        let up = |id: NodeId| match role(id) {
            Some(Role::Consumer(c)) => Some(c),
            _ => None,
        };
        let recovered: Vec<Consumer> = s
            .consumers
            .iter()
            .enumerate()
            .filter(|&(_, &id)| up(id).is_none())
            .map(|(i, &id)| Consumer::new(Service::ALL[i], world.disk(id).synced()))
            .collect();
        let consumers: Vec<&Consumer> = s
            .consumers
            .iter()
            .filter_map(|&id| up(id))
            .chain(&recovered)
            .collect();
        if consumers.iter().any(|c| c.holds_a_batch()) {
            under_way |= 4;
        }
        let broker = match role(s.broker) {
            Some(Role::Broker(b)) => Some(b),
            _ => None, // its log is back when it is; meanwhile nothing is readable
        };
        if let Some(b) = broker {
            if b.log()
                .any(|(_, e)| consumers.iter().any(|c| !c.processed(e.id)))
            {
                under_way |= 2;
            }
        }
        under_way
    }

    fn build(&mut self, id: NodeId, disk: &[Record]) -> PipelineNode {
        let s = &self.setup;
        let role = if id == s.orders {
            Role::Orders(Orders::new(s, disk))
        } else if id == s.broker {
            Role::Broker(Broker::new(
                s.params.partitions,
                disk.iter().filter_map(|r| match r {
                    Record::Log(l) => Some(l),
                    _ => None,
                }),
            ))
        } else if let Some(i) = s.consumers.iter().position(|&c| c == id) {
            Role::Consumer(Consumer::new(Service::ALL[i], disk))
        } else if s.reconciler == Some(id) {
            Role::Reconciler(Reconciler::default())
        } else {
            let ordinal = s.clients.iter().position(|&c| c == id).expect("a role");
            let config = ClientConfig {
                think_time: s.params.think_time.clone(),
                timeout: s.params.client_retry,
                on_timeout: OnTimeout::Retry,
            };
            let shopper = Shopper {
                setup: Rc::clone(s),
                ordinal: ordinal as u32,
                latest: None,
            };
            Role::Client(Client::new(
                shopper,
                config,
                ordinal as u32,
                s.clients.len() as u32,
            ))
        };
        PipelineNode {
            setup: Rc::clone(s),
            role,
        }
    }

    fn finish(
        &mut self,
        world: &World<'_, PipelineNode>,
        history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        judge(&self.setup, world, history, metrics)
    }
}

const PLACE: OpFn = OpFn::known("place");
const CANCEL: OpFn = OpFn::known("cancel");

/// Up to three examples, for a verdict's evidence.
fn examples(ids: &[OrderId]) -> String {
    let shown: Vec<String> = ids
        .iter()
        .take(3)
        .map(|&o| order_number(o).to_string())
        .collect();
    shown.join(", ")
}

fn verdict(name: &'static str, bad: &[OrderId], what: &str, fine: String) -> Verdict {
    if bad.is_empty() {
        Verdict::holds(name, fine)
    } else {
        Verdict::violated(
            name,
            format!("{} order(s) {what}; first: {}", bad.len(), examples(bad)),
        )
    }
}

/// Every invariant, from the disks: the orders database (what was committed), the broker's
/// log (what was published), each consumer's database (what it applied, in which order), and
/// the history (what the clients were told).
fn judge(
    s: &Setup,
    world: &World<'_, PipelineNode>,
    history: &History,
    metrics: &mut Metrics,
) -> Vec<Verdict> {
    // What the orders service committed: order -> its events.
    let mut committed: BTreeMap<OrderId, BTreeSet<EventKind>> = BTreeMap::new();
    for r in world.disk(s.orders).records() {
        if let Record::Committed { event, .. } = r {
            committed.entry(event.order).or_default().insert(event.kind);
        }
    }
    // Events the orders service published itself (not replays, not republications).
    let published: BTreeSet<u64> = world
        .disk(s.broker)
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Log(LogRecord::Append { entry, .. })
                if !entry.replay && entry.event.origin == Origin::Publish =>
            {
                Some(entry.id)
            }
            _ => None,
        })
        .collect();
    let lost_events = committed
        .iter()
        .flat_map(|(&o, kinds)| kinds.iter().map(move |&k| event_id(o, k)))
        .filter(|id| !published.contains(id))
        .count();
    // The figures are reported even when zero.
    for name in [
        "duplicates_delivered",
        "duplicates_suppressed",
        "replayed_events",
        "manual_review",
    ] {
        metrics.declare_counter(name);
    }
    metrics.declare("end_to_end_ms");
    metrics.declare("repair_ms");
    metrics.add("lost_events", lost_events as u64);

    // Per service: applications per (order, kind), in order; and cancels before places.
    let mut twice: BTreeSet<OrderId> = BTreeSet::new();
    let mut notified_twice: Vec<OrderId> = Vec::new();
    let mut reordered: BTreeSet<OrderId> = BTreeSet::new();
    let mut views: [BTreeMap<OrderId, View>; 3] = Default::default();
    for service in Service::ALL {
        let mut applied: BTreeMap<(OrderId, EventKind), u32> = BTreeMap::new();
        for r in world.disk(s.consumer(service)).records() {
            let Record::Applied { event, .. } = r else {
                continue;
            };
            let n = applied.entry((event.order, event.kind)).or_default();
            *n += 1;
            let view = views[service as usize].entry(event.order).or_default();
            match event.kind {
                EventKind::Placed => view.placed = true,
                EventKind::Cancelled => {
                    if !view.placed {
                        reordered.insert(event.order);
                    }
                    view.cancelled = true;
                }
            }
            if *n == 2 {
                if service == Service::Notification && event.kind == EventKind::Placed {
                    notified_twice.push(event.order);
                } else if service != Service::Notification {
                    twice.insert(event.order);
                }
            }
        }
    }
    let twice: Vec<OrderId> = twice.into_iter().collect();
    let reordered: Vec<OrderId> = reordered.into_iter().collect();

    // Acknowledged orders the orders database does not have.
    let numbers: BTreeSet<u64> = committed.keys().map(|&o| order_number(o)).collect();
    let acked_missing: Vec<u64> = history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f == PLACE)
        .filter_map(|e| match e.value {
            Value::Int(n) => Some(n as u64),
            _ => None,
        })
        .filter(|n| !numbers.contains(n))
        .collect();
    // Committed events some consumer never applied; views that differ from the orders'.
    let mut missing: Vec<OrderId> = Vec::new();
    let mut drift: Vec<OrderId> = Vec::new();
    for (&o, kinds) in &committed {
        let want = View {
            placed: kinds.contains(&EventKind::Placed),
            cancelled: kinds.contains(&EventKind::Cancelled),
        };
        let mut lacks = false;
        let mut differs = false;
        for v in &views {
            let have = v.get(&o).copied().unwrap_or_default();
            lacks |= (want.placed && !have.placed) || (want.cancelled && !have.cancelled);
            differs |= have != want;
        }
        if lacks {
            missing.push(o);
        }
        if differs {
            drift.push(o);
        }
    }
    // Orders some consumer knows that the orders service never committed.
    for v in &views {
        for o in v.keys() {
            if !committed.contains_key(o) && !drift.contains(o) {
                drift.push(*o);
            }
        }
    }
    metrics.add("open_drift", drift.len() as u64);

    let queues = total_queue(s, world);
    let no_lost = world.unsettled("no_lost_events").unwrap_or_else(|| {
        if let Some(o) = acked_missing.first() {
            return Verdict::violated(
                "no_lost_events",
                format!(
                    "{} acknowledged order(s) not in the orders database; first: {}",
                    acked_missing.len(),
                    o
                ),
            );
        }
        let mut v = verdict(
            "no_lost_events",
            &missing,
            &format!(
                "committed but never reserved, notified or billed ({lost_events} event(s) \
                 never published)"
            ),
            format!(
                "all {} committed order(s) reached inventory, notification and billing",
                committed.len()
            ),
        );
        // The total-queue checker's word, per consumer.
        match queues.iter().find(|(_, q)| q.status != Status::Holds) {
            Some((service, q)) => {
                let also = format!(
                    "total-queue over the events {} consumed: {}",
                    service.name(),
                    q.detail
                );
                if v.status == Status::Holds {
                    v = Verdict::violated("no_lost_events", also);
                } else {
                    v.detail = format!("{}; {also}", v.detail);
                }
            }
            None => v
                .detail
                .push_str("; total-queue holds on each consumer's events"),
        }
        v
    });
    let notify = verdict(
        "exactly_once_notify",
        &notified_twice,
        "confirmed twice",
        "no order confirmed twice".into(),
    );
    let effect = verdict(
        "exactly_once_effect",
        &twice,
        "reserved, released, billed or refunded twice",
        "every effect applied at most once per order".into(),
    );
    let in_order = verdict(
        "in_order",
        &reordered,
        "cancelled at a consumer before they were placed there",
        "no consumer saw a cancellation before its order".into(),
    );
    let convergence = world.unsettled("convergence").unwrap_or_else(|| {
        verdict(
            "convergence",
            &drift,
            "disagree between orders, inventory, notification and billing at the end",
            format!(
                "orders, inventory, notification and billing agree on all {} order(s)",
                committed.len()
            ),
        )
    });
    vec![no_lost, notify, effect, in_order, convergence]
}

/// Jepsen's total-queue checker (`check`) over each consumer's queue: every committed event
/// an acknowledged enqueue, every application a dequeue. It sees what `no_lost_events`
/// counts by hand, from the other side: a cross-check, and the checker's evidence when it
/// fails. (The history is built here from the disks, not recorded by the run: the consumers
/// are not clients.)
fn total_queue(s: &Setup, world: &World<'_, PipelineNode>) -> Vec<(Service, Verdict)> {
    use check::checkers::Check;
    let enqueued: Vec<u64> = world
        .disk(s.orders)
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Committed { event, .. } => Some(event.id()),
            _ => None,
        })
        .collect();
    Service::ALL
        .iter()
        .map(|&service| {
            let mut h = History::default();
            let mut t = 0;
            let mut op = |h: &mut History, process: u64, f: OpFn, id: u64| {
                for kind in [EventType::Invoke, EventType::Ok] {
                    h.push(t, process, kind, f, None, Value::Int(id as i64), None);
                    t += 1;
                }
            };
            for &id in &enqueued {
                op(&mut h, 0, ENQUEUE, id);
            }
            for r in world.disk(s.consumer(service)).records() {
                if let Record::Applied { event, .. } = r {
                    op(&mut h, 1, DEQUEUE, event.id());
                }
            }
            let v = check::checkers::TotalQueue
                .check(&h)
                .unwrap_or_else(|e| Verdict::unknown("total-queue", e.to_string()));
            (service, v)
        })
        .collect()
}

const ENQUEUE: OpFn = OpFn::known("enqueue");
const DEQUEUE: OpFn = OpFn::known("dequeue");

/// A client: places orders, and now and then cancels its latest acknowledged one.
pub struct Shopper {
    setup: Rc<Setup>,
    ordinal: u32,
    /// Its latest acknowledged order not yet cancelled.
    latest: Option<OrderId>,
}

/// One operation, as drawn.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Place { id: OrderId, amount: i64 },
    Cancel { order: OrderId },
}

impl Workload for Shopper {
    type Node = PipelineNode;
    type Op = Op;
    type Reply = ();

    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Op {
        // Two draws per operation whatever is chosen, so the sequence stays aligned.
        let cancel = rng.chance(self.setup.params.cancel_ratio);
        let amount = 1 + rng.below(10_000) as i64;
        match self.latest {
            Some(order) if cancel => {
                self.latest = None;
                Op::Cancel { order }
            }
            _ => Op::Place { id, amount },
        }
    }

    fn target(&self, _: &Op, _: u32) -> NodeId {
        self.setup.orders
    }

    fn request(&self, req: RequestId, op: &Op, _: u32) -> Msg {
        match *op {
            Op::Place { amount, .. } => Msg::Place {
                req,
                customer: self.ordinal,
                amount,
            },
            Op::Cancel { order } => Msg::Cancel { req, order },
        }
    }

    fn reply(&self, msg: Msg) -> Option<(RequestId, ())> {
        match msg {
            Msg::Placed { req } | Msg::CancelDone { req } => Some((req, ())),
            _ => None,
        }
    }

    fn metric(&self, op: &Op) -> &'static str {
        match op {
            Op::Place { .. } => "place_latency_ms",
            Op::Cancel { .. } => "cancel_latency_ms",
        }
    }

    fn history(&self, op: &Op) -> Option<HistoryOp> {
        let (f, order) = match *op {
            Op::Place { id, .. } => (PLACE, id),
            Op::Cancel { order } => (CANCEL, order),
        };
        Some(HistoryOp {
            f,
            key: None,
            value: Value::Int(order_number(order) as i64),
        })
    }

    fn completed(&mut self, _: &mut Ctx<'_, PipelineNode>, op: &Op, _: ()) -> Completion {
        let order = match *op {
            Op::Place { id, .. } => {
                self.latest = Some(id);
                id
            }
            Op::Cancel { order } => order,
        };
        Completion::Ok(Value::Int(order_number(order) as i64))
    }
}

fn at_least_1ms(field: &str, d: Duration) -> Result<(), ParamError> {
    if d < Duration::from_millis(1) {
        return Err(ParamError::new(field, "must be at least 1ms"));
    }
    if d > Duration::from_secs(86_400 * 365) {
        return Err(ParamError::new(field, "must be at most 365 days"));
    }
    Ok(())
}

impl Params for PipelineParams {
    type Model = Pipeline;
    const SPEC: ModelSpec = ModelSpec {
        kind: "order_pipeline",
        summary: "orders, a Kafka-like broker, inventory, notification and billing with their \
                  own databases: dual write or outbox, deduplicating consumers, and a \
                  reconciliation that replays missed events",
        invariants: &[
            "no_lost_events",
            "exactly_once_notify",
            "exactly_once_effect",
            "in_order",
            "convergence",
        ],
        metrics: &[
            "place_latency_ms",
            "cancel_latency_ms",
            "end_to_end_ms",
            "repair_ms",
            "lost_events",
            "duplicates_delivered",
            "duplicates_suppressed",
            "open_drift",
            "drift_found",
            "replayed_events",
            "republished_events",
            "manual_review",
            "rows_read",
            "published_events",
            "rebalances",
        ],
        bugs: Bug::KNOWN,
        unnamed_bugs: Bug::UNNAMED,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<Pipeline, ParamError> {
        check_roles(
            nodes,
            &[
                "client",
                "orders",
                "broker",
                "inventory",
                "notification",
                "billing",
                "reconciler",
            ],
        )?;
        let one = |role: &str| {
            let found = nodes_with_role(nodes, role);
            match found[..] {
                [id] => Ok(id),
                _ => Err(ParamError::new(
                    "nodes",
                    format!(
                        "needs exactly one node with role `{role}`, found {}",
                        found.len()
                    ),
                )),
            }
        };
        let orders = one("orders")?;
        let broker = one("broker")?;
        let consumers = [one("inventory")?, one("notification")?, one("billing")?];
        // A reconciler node is allowed with the reconciliation off (it idles), so the same
        // nodes — and so the same faults on a seed — run with it on and off.
        let found = nodes_with_role(nodes, "reconciler");
        let reconciler = match found[..] {
            [id] => Some(id),
            [] if !self.reconciliation => None,
            _ => {
                return Err(ParamError::new(
                    if self.reconciliation {
                        "model.reconciliation"
                    } else {
                        "nodes"
                    },
                    format!(
                        "needs {} node with role `reconciler`, found {}",
                        if self.reconciliation {
                            "exactly one"
                        } else {
                            "at most one"
                        },
                        found.len()
                    ),
                ));
            }
        };
        let clients = nodes_with_role(nodes, "client");
        if clients.is_empty() {
            return Err(ParamError::new(
                "nodes",
                "needs at least one node with role `client`",
            ));
        }
        if !(1..=64).contains(&self.partitions) {
            return Err(ParamError::new(
                "model.partitions",
                format!("must be within 1..=64, got {}", self.partitions),
            ));
        }
        if !(1..=1000).contains(&self.fetch_max) {
            return Err(ParamError::new(
                "model.fetch_max",
                format!("must be within 1..=1000, got {}", self.fetch_max),
            ));
        }
        if !(1..=10_000).contains(&self.reconcile_batch) {
            return Err(ParamError::new(
                "model.reconcile_batch",
                format!("must be within 1..=10000, got {}", self.reconcile_batch),
            ));
        }
        if !(0.0..=1.0).contains(&self.cancel_ratio) {
            return Err(ParamError::new(
                "model.cancel_ratio",
                format!("must be within 0..=1, got {}", self.cancel_ratio),
            ));
        }
        for (field, d) in [
            ("model.reconcile_every", self.reconcile_every),
            ("model.poll_every", self.poll_every),
            ("model.publish_retry", self.publish_retry),
            ("model.client_retry", self.client_retry),
        ] {
            at_least_1ms(field, d)?;
        }
        if self.reconcile_grace > Duration::from_secs(86_400 * 365) {
            return Err(ParamError::new(
                "model.reconcile_grace",
                "must be at most 365 days",
            ));
        }
        if self.bug == Bug::ReportOnly && !self.reconciliation {
            return Err(ParamError::new(
                "model.bug",
                "`report-only` is a bug of the reconciliation: set reconciliation = true",
            ));
        }
        Ok(Pipeline {
            setup: Rc::new(Setup {
                params: self,
                orders,
                broker,
                consumers,
                reconciler,
                clients,
            }),
        })
    }
}

/// A delivered event, as the pipeline's consumers see it.
type Incoming = Delivered<Event>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipeline's `Message::KINDS` is written out by hand: it must name every kind the
    /// embedded broker's messages have.
    #[test]
    fn the_pipeline_lists_every_broker_kind() {
        assert!(broker::kinds_listed::<Msg>());
    }

    /// An order's two events have distinct message ids, and no two orders share one.
    #[test]
    fn message_ids_are_one_per_order_and_kind() {
        let order = |client, seq| OrderId {
            client,
            incarnation: 2,
            seq,
        };
        let ids: BTreeSet<u64> = [order(0, 1), order(0, 2), order(1, 1)]
            .iter()
            .flat_map(|&o| {
                [
                    event_id(o, EventKind::Placed),
                    event_id(o, EventKind::Cancelled),
                ]
            })
            .collect();
        assert_eq!(ids.len(), 6);
    }
}
