//! Payments with idempotency keys: the checkout pays through a payment service in front of a
//! card processor, retries on timeout with the same key — possibly at another instance of
//! the service — and must never be charged twice.
//!
//! The **processor** (a node of its own, with its own latency) is the ground truth: it
//! moves money for every charge it receives, once per charge id (the reference the service
//! mints for a payment; a card network's retrieval reference), and answers after a
//! `processing_time`. The **service** instances are stateless; they share the **database**,
//! whose ledger maps each idempotency key to the charge the service minted for it and its
//! state (in progress or done), written in the same local transaction that claims the key
//! (an atomic insert-if-absent). A duplicate of a done payment gets the first result; one
//! whose first attempt is still in progress gets "in progress", not a second charge; one in
//! progress for longer than `recover_after` (its instance crashed, or a reply was lost) is
//! driven again with the charge id from the ledger, which the processor will not charge
//! twice. (Stripe's idempotency keys, and the transaction-id ledger of the seed story.)
//!
//! Known bugs, each a mistake found in real systems: `no-ledger` (every request charges),
//! `ledger-separate-step` (the ledger is written after the charge, in its own step: a crash
//! in between, or a retry racing the first attempt, charges again), `check-then-act` (the
//! service reads the ledger, then writes it, without a uniqueness guarantee: two concurrent
//! attempts both find the key absent and both charge) and `key-per-attempt` (the checkout
//! derives the key from the attempt, so every retry is a new payment).
//!
//! Invariants: `exactly_once_charge` (no payment charged twice at the processor, and every
//! acknowledged payment charged exactly once) and `no_lost_payment` (an acknowledged payment
//! is charged), judged at the end from the processor's records and the checkout's history.

mod database;
mod processor;
mod service;

use crate::{check_roles, nodes_with_role, ModelSpec, NodeInfo, ParamError, Params};
use database::Database;
use processor::Processor;
use serde::{Deserialize, Serialize};
use service::Service;
use sim::client::{
    Client, ClientConfig, ClientTimer, Completion, HistoryOp, OnTimeout, RequestId, Workload,
};
use sim::dist::Dist;
use sim::history::{EventType, History, OpFn, Value};
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::rng::Rng;
use sim::{Ctx, Message, NodeId, World};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentParams {
    pub kind: String,
    pub bug: Bug,
    /// Payment amounts are uniform in `1 ..= amount_max` (cents).
    pub amount_max: i64,
    /// Think time between a checkout's payments.
    pub think_time: Dist,
    /// How long the checkout waits before paying again with the same key.
    #[serde(with = "crate::serde_duration")]
    pub client_retry: Duration,
    /// How long the processor takes to answer a charge.
    pub processing_time: Dist,
    /// How long a payment may stay in progress before another attempt drives it again.
    #[serde(with = "crate::serde_duration")]
    pub recover_after: Duration,
}

impl Default for PaymentParams {
    fn default() -> Self {
        PaymentParams {
            kind: "payments".into(),
            bug: Bug::None,
            amount_max: 10_000,
            think_time: Dist::Exponential { mean: 200_000_000 },
            client_retry: Duration::from_millis(500),
            processing_time: "lognormal(150ms, 0.6)".parse().expect("a distribution"),
            recover_after: Duration::from_secs(3),
        }
    }
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// No ledger: every request charges.
        NoLedger = "no-ledger",
        /// The ledger is written after the charge, in a separate step.
        LedgerSeparateStep = "ledger-separate-step",
        /// The ledger is read, then written, with no uniqueness guarantee in between.
        CheckThenAct = "check-then-act",
        /// The checkout's key names the attempt, not the payment.
        KeyPerAttempt = "key-per-attempt",
    }
    unnamed {
        /// The ledger row is written but not flushed: a database crash loses it.
        LedgerUnsynced = "ledger-unsynced",
    }
}

/// A payment: the checkout's request id, unique across checkouts and their restarts.
pub type PaymentId = RequestId;

/// The idempotency key the checkout sends: the payment, and (only with `key-per-attempt`)
/// the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub payment: PaymentId,
    pub attempt: u32,
}

/// The reference a service instance mints for a charge: unique per instance life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChargeId {
    pub service: NodeId,
    pub incarnation: u32,
    pub seq: u64,
}

/// A ledger entry's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ledger {
    InProgress(ChargeId),
    Done(ChargeId),
}

/// A service instance's call to the database or the processor, by its number in the
/// instance's life (replies from an earlier life never match: the number restarts, the
/// incarnation does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId {
    pub incarnation: u32,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    // Checkout and service.
    Pay {
        req: PaymentId,
        key: Key,
        amount: i64,
    },
    PayOk {
        req: PaymentId,
        charge: ChargeId,
    },
    InProgress {
        req: PaymentId,
    },
    // Service and database.
    /// Insert `key` as in progress with `charge` if absent, in one transaction.
    Claim {
        call: CallId,
        key: Key,
        charge: ChargeId,
    },
    Claimed {
        call: CallId,
    },
    /// The key is there already; `stale`: in progress for longer than `recover_after`.
    Exists {
        call: CallId,
        state: Ledger,
        stale: bool,
    },
    /// Read the key (the buggy variants' first step).
    Get {
        call: CallId,
        key: Key,
    },
    Absent {
        call: CallId,
    },
    /// Write the key as in progress, whatever is there (`check-then-act`'s second step).
    Put {
        call: CallId,
        key: Key,
        charge: ChargeId,
    },
    Stored {
        call: CallId,
    },
    /// Mark the key done (inserting it if absent).
    Complete {
        call: CallId,
        key: Key,
        charge: ChargeId,
    },
    Completed {
        call: CallId,
    },
    // Service and processor.
    Charge {
        call: CallId,
        charge: ChargeId,
        payment: PaymentId,
        amount: i64,
    },
    Charged {
        call: CallId,
        charge: ChargeId,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "Pay",
        "PayOk",
        "InProgress",
        "Claim",
        "Claimed",
        "Exists",
        "Get",
        "Absent",
        "Put",
        "Stored",
        "Complete",
        "Completed",
        "Charge",
        "Charged",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Pay { .. } => "Pay",
            Msg::PayOk { .. } => "PayOk",
            Msg::InProgress { .. } => "InProgress",
            Msg::Claim { .. } => "Claim",
            Msg::Claimed { .. } => "Claimed",
            Msg::Exists { .. } => "Exists",
            Msg::Get { .. } => "Get",
            Msg::Absent { .. } => "Absent",
            Msg::Put { .. } => "Put",
            Msg::Stored { .. } => "Stored",
            Msg::Complete { .. } => "Complete",
            Msg::Completed { .. } => "Completed",
            Msg::Charge { .. } => "Charge",
            Msg::Charged { .. } => "Charged",
        }
    }
}

/// What the database and the processor write to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    Ledger {
        key: Key,
        state: Ledger,
    },
    Charged {
        charge: ChargeId,
        payment: PaymentId,
        amount: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    Client(ClientTimer),
    /// The processor answers charge `charge` of call `call` from `to`.
    Answer {
        to: NodeId,
        call: CallId,
        charge: ChargeId,
    },
}

sim::client_timer!(Timer::Client);

/// What every node of one run shares.
struct Setup {
    params: PaymentParams,
    services: Vec<NodeId>,
    database: NodeId,
    processor: NodeId,
    clients: Vec<NodeId>,
}

sim::node_of_parts! {
    /// A node of the payment system.
    pub struct PaymentNode(Setup) {
        msg: Msg, timer: Timer, record: Record,
        role: Role {
            Service(Service),
            Database(Database),
            Processor(Processor),
            Client(Client<Checkout>)
        }
    }
}

pub struct Payments {
    setup: Rc<Setup>,
}

impl sim::Model for Payments {
    type Node = PaymentNode;

    fn phases(&self) -> &'static [&'static str] {
        &["claimed-uncharged", "charged-unrecorded"]
    }

    /// By the ledger and the processor (each as it would recover while down): a payment
    /// claimed in the ledger that the processor has not charged, and one it has charged that
    /// the ledger does not yet record done, the window where a retry must not charge again.
    fn phases_now(&self, world: &World<'_, PaymentNode>) -> u32 {
        let s = &*self.setup;
        let role = |id: NodeId| world.nodes[id.index()].as_ref().map(|n| &n.role);
        let recovered_db;
        let database = match role(s.database) {
            Some(Role::Database(d)) => d,
            _ => {
                recovered_db = Database::new(world.disk(s.database).synced());
                &recovered_db
            }
        };
        let recovered_processor;
        let processor = match role(s.processor) {
            Some(Role::Processor(p)) => p,
            _ => {
                recovered_processor = Processor::new(world.disk(s.processor).synced());
                &recovered_processor
            }
        };
        database.in_progress().fold(0, |under_way, charge| {
            under_way | if processor.has_charged(charge) { 2 } else { 1 }
        })
    }

    fn build(&mut self, id: NodeId, disk: &[Record]) -> PaymentNode {
        let s = &self.setup;
        let role = if s.services.contains(&id) {
            Role::Service(Service::default())
        } else if id == s.database {
            Role::Database(Database::new(disk))
        } else if id == s.processor {
            Role::Processor(Processor::new(disk))
        } else {
            let ordinal = s.clients.iter().position(|&c| c == id).expect("a role");
            let config = ClientConfig {
                think_time: s.params.think_time.clone(),
                timeout: s.params.client_retry,
                on_timeout: OnTimeout::Retry,
            };
            let checkout = Checkout {
                setup: Rc::clone(s),
                ordinal: ordinal as u32,
            };
            Role::Client(Client::new(
                checkout,
                config,
                ordinal as u32,
                s.clients.len() as u32,
            ))
        };
        PaymentNode {
            setup: Rc::clone(s),
            role,
        }
    }

    fn finish(
        &mut self,
        world: &World<'_, PaymentNode>,
        history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        judge(&self.setup, world, history, metrics)
    }
}

/// A payment's number in the history.
fn payment_number(p: PaymentId) -> i64 {
    crate::unique_value(p, p.seq)
}

const PAY: OpFn = OpFn::known("pay");

/// `exactly_once_charge` and `no_lost_payment`, from the processor's records (every charge it
/// made, by payment) and the history (every payment the checkout saw acknowledged).
fn judge(
    s: &Setup,
    world: &World<'_, PaymentNode>,
    history: &History,
    metrics: &mut Metrics,
) -> Vec<Verdict> {
    // Payment number -> (charges, amount).
    let mut charged: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
    for r in world.disk(s.processor).records() {
        if let Record::Charged {
            payment, amount, ..
        } = *r
        {
            let c = charged
                .entry(payment_number(payment))
                .or_insert((0, amount));
            c.0 += 1;
        }
    }
    let acked: Vec<i64> = history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f == PAY)
        .filter_map(|e| match e.value {
            Value::Int(p) => Some(p),
            _ => None,
        })
        .collect();
    let twice: Vec<(i64, u64, i64)> = charged
        .iter()
        .filter(|(_, &(n, _))| n > 1)
        .map(|(&p, &(n, amount))| (p, n, amount))
        .collect();
    let double_charges: u64 = twice.iter().map(|&(_, n, _)| n - 1).sum();
    let overcharged: i64 = twice.iter().map(|&(_, n, a)| (n as i64 - 1) * a).sum();
    let lost: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|p| !charged.contains_key(p))
        .collect();
    metrics.add("double_charges", double_charges);
    metrics.add("overcharged_cents", overcharged.max(0) as u64);
    metrics.add("lost_payments", lost.len() as u64);
    let exactly_once = match twice.first() {
        None => Verdict::holds(
            "exactly_once_charge",
            format!(
                "{} payment(s) charged, none twice; {} acknowledged",
                charged.len(),
                acked.len()
            ),
        ),
        Some(&(p, n, amount)) => Verdict::violated(
            "exactly_once_charge",
            format!(
                "{} payment(s) charged more than once ({double_charges} extra charge(s), \
                 {overcharged} cents over-charged); first: payment {p} charged {n} times \
                 {amount} cents",
                twice.len()
            ),
        ),
    };
    let no_lost = match lost.first() {
        None => Verdict::holds(
            "no_lost_payment",
            format!("all {} acknowledged payment(s) were charged", acked.len()),
        ),
        Some(p) => Verdict::violated(
            "no_lost_payment",
            format!(
                "{} acknowledged payment(s) never charged; first: payment {p}",
                lost.len()
            ),
        ),
    };
    vec![exactly_once, no_lost]
}

/// The checkout: pays, and pays again with the same key until it hears back.
pub struct Checkout {
    setup: Rc<Setup>,
    ordinal: u32,
}

/// One payment, as drawn.
#[derive(Clone, Copy, Debug)]
pub struct Payment {
    id: PaymentId,
    amount: i64,
}

impl Workload for Checkout {
    type Node = PaymentNode;
    type Op = Payment;
    type Reply = ();

    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Payment {
        let amount = 1 + rng.below(self.setup.params.amount_max as u64) as i64;
        Payment { id, amount }
    }

    /// Each attempt at the next instance: a retry behind a load balancer.
    fn target(&self, _: &Payment, attempt: u32) -> NodeId {
        let services = &self.setup.services;
        services[(self.ordinal as usize + attempt as usize) % services.len()]
    }

    fn request(&self, req: RequestId, p: &Payment, attempt: u32) -> Msg {
        let attempt = if self.setup.params.bug == Bug::KeyPerAttempt {
            attempt
        } else {
            0
        };
        Msg::Pay {
            req,
            key: Key {
                payment: req,
                attempt,
            },
            amount: p.amount,
        }
    }

    /// Only the answer ends a payment; "in progress" means wait, and ask again at the
    /// next timeout.
    fn reply(&self, msg: Msg) -> Option<(RequestId, ())> {
        match msg {
            Msg::PayOk { req, .. } => Some((req, ())),
            _ => None,
        }
    }

    fn metric(&self, _: &Payment) -> &'static str {
        "payment_latency_ms"
    }

    /// `pay` with the payment's number: the checkout's view of which payments went through.
    fn history(&self, p: &Payment) -> Option<HistoryOp> {
        Some(HistoryOp {
            f: PAY,
            key: None,
            value: Value::Int(payment_number(p.id)),
        })
    }

    fn retried(&mut self, ctx: &mut Ctx<'_, PaymentNode>, _: &Payment, _attempt: u32) {
        ctx.metrics().add("retries", 1);
    }

    fn completed(&mut self, _: &mut Ctx<'_, PaymentNode>, p: &Payment, _: ()) -> Completion {
        Completion::Ok(Value::Int(payment_number(p.id)))
    }
}

impl Params for PaymentParams {
    type Model = Payments;
    const SPEC: ModelSpec = ModelSpec {
        kind: "payments",
        summary: "checkout, payment service instances with an idempotency ledger in a shared \
                  database, and a card processor: exactly one charge under retries and crashes",
        invariants: &["exactly_once_charge", "no_lost_payment"],
        metrics: &[
            "payment_latency_ms",
            "retries",
            "duplicates_suppressed",
            "in_progress_replies",
            "recoveries",
            "double_charges",
            "overcharged_cents",
            "lost_payments",
        ],
        bugs: Bug::KNOWN,
        unnamed_bugs: Bug::UNNAMED,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<Payments, ParamError> {
        check_roles(nodes, &["client", "service", "database", "processor"])?;
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
        let (database, processor) = (one("database")?, one("processor")?);
        let services = nodes_with_role(nodes, "service");
        let clients = nodes_with_role(nodes, "client");
        for (role, found) in [("service", &services), ("client", &clients)] {
            if found.is_empty() {
                return Err(ParamError::new(
                    "nodes",
                    format!("needs at least one node with role `{role}`"),
                ));
            }
        }
        if !(1..=1_000_000_000).contains(&self.amount_max) {
            return Err(ParamError::new(
                "model.amount_max",
                format!(
                    "must be within 1..=1000000000 cents, got {}",
                    self.amount_max
                ),
            ));
        }
        for (field, d) in [
            ("model.client_retry", self.client_retry),
            ("model.recover_after", self.recover_after),
        ] {
            if d < Duration::from_millis(1) {
                return Err(ParamError::new(field, "must be at least 1ms"));
            }
        }
        Ok(Payments {
            setup: Rc::new(Setup {
                params: self,
                services,
                database,
                processor,
                clients,
            }),
        })
    }
}
