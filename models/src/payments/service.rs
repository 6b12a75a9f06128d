//! A payment service instance: stateless between payments; a payment in flight is a chain
//! of calls (ledger, processor, ledger) kept in memory and lost with the instance.

use super::{Bug, CallId, ChargeId, Key, Ledger, Msg, PaymentId, PaymentNode, Setup, Timer};
use sim::{Ctx, NodeId, Part, TimerId};
use std::collections::BTreeMap;

/// The most calls an instance waits on at once.
const MAX_WAITING: usize = 4096;

#[derive(Default)]
pub struct Service {
    next_call: u64,
    next_charge: u64,
    /// Payments in flight, by the call they wait on.
    waiting: BTreeMap<CallId, Flight>,
}

/// A payment in flight: whom to answer, and what it is.
#[derive(Clone, Copy)]
struct Flight {
    client: NodeId,
    req: PaymentId,
    key: Key,
    amount: i64,
    /// The charge id, once minted or read from the ledger.
    charge: Option<ChargeId>,
}

impl Service {
    fn call(
        &mut self,
        ctx: &mut Ctx<'_, PaymentNode>,
        to: NodeId,
        flight: Flight,
        msg: impl FnOnce(CallId) -> Msg,
    ) {
        let call = CallId {
            incarnation: ctx.incarnation(),
            seq: self.next_call,
        };
        self.next_call += 1;
        // A call whose reply was lost waits here for ever; past the bound the oldest is
        // forgotten (its payment's next retry recovers it from the ledger).
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.pop_first();
        }
        self.waiting.insert(call, flight);
        ctx.send(to, msg(call));
    }

    fn mint(&mut self, ctx: &Ctx<'_, PaymentNode>) -> ChargeId {
        self.next_charge += 1;
        ChargeId {
            service: ctx.id(),
            incarnation: ctx.incarnation(),
            seq: self.next_charge,
        }
    }

    fn charge(
        &mut self,
        ctx: &mut Ctx<'_, PaymentNode>,
        s: &Setup,
        mut f: Flight,
        charge: ChargeId,
    ) {
        f.charge = Some(charge);
        let (payment, amount) = (f.req, f.amount);
        self.call(ctx, s.processor, f, |call| Msg::Charge {
            call,
            charge,
            payment,
            amount,
        });
    }

    fn answer(ctx: &mut Ctx<'_, PaymentNode>, f: Flight, charge: ChargeId) {
        ctx.send(f.client, Msg::PayOk { req: f.req, charge });
    }

    fn on_pay(&mut self, ctx: &mut Ctx<'_, PaymentNode>, s: &Setup, f: Flight) {
        let key = f.key;
        match s.params.bug {
            Bug::NoLedger => {
                let charge = self.mint(ctx);
                self.charge(ctx, s, f, charge);
            }
            Bug::LedgerSeparateStep | Bug::CheckThenAct => {
                self.call(ctx, s.database, f, |call| Msg::Get { call, key })
            }
            Bug::None | Bug::KeyPerAttempt | Bug::LedgerUnsynced => {
                // Mint the charge id and claim the key with it in one transaction.
                let charge = self.mint(ctx);
                let f = Flight {
                    charge: Some(charge),
                    ..f
                };
                self.call(ctx, s.database, f, |call| Msg::Claim { call, key, charge });
            }
        }
    }

    /// The ledger already has the key.
    fn on_exists(
        &mut self,
        ctx: &mut Ctx<'_, PaymentNode>,
        s: &Setup,
        f: Flight,
        state: Ledger,
        stale: bool,
    ) {
        match state {
            Ledger::Done(charge) => {
                ctx.metrics().add("duplicates_suppressed", 1);
                Service::answer(ctx, f, charge);
            }
            // Its first attempt may still be charging: wait for it, unless it has been in
            // progress too long; then drive it again, with the ledger's charge id, which the
            // processor never charges twice.
            Ledger::InProgress(charge) if stale => {
                ctx.metrics().add("recoveries", 1);
                self.charge(ctx, s, f, charge);
            }
            Ledger::InProgress(_) => {
                ctx.metrics().add("in_progress_replies", 1);
                ctx.send(f.client, Msg::InProgress { req: f.req });
            }
        }
    }
}

impl Part<PaymentNode, Setup> for Service {
    fn on_start(&mut self, _: &mut Ctx<'_, PaymentNode>, _: &Setup) {}

    fn on_message(&mut self, ctx: &mut Ctx<'_, PaymentNode>, s: &Setup, from: NodeId, msg: Msg) {
        if let Msg::Pay { req, key, amount } = msg {
            let f = Flight {
                client: from,
                req,
                key,
                amount,
                charge: None,
            };
            return self.on_pay(ctx, s, f);
        }
        let call = match msg {
            Msg::Claimed { call }
            | Msg::Exists { call, .. }
            | Msg::Absent { call }
            | Msg::Stored { call }
            | Msg::Completed { call }
            | Msg::Charged { call, .. } => call,
            _ => return,
        };
        // A reply to a call of an earlier life, or a duplicate: nothing waits for it.
        let Some(f) = self.waiting.remove(&call) else {
            return;
        };
        let key = f.key;
        match msg {
            Msg::Claimed { .. } => {
                let charge = f.charge.expect("a claim carries its charge");
                self.charge(ctx, s, f, charge);
            }
            Msg::Exists { state, stale, .. } => self.on_exists(ctx, s, f, state, stale),
            Msg::Absent { .. } => {
                let charge = self.mint(ctx);
                if s.params.bug == Bug::CheckThenAct {
                    // The bug: nothing stops another attempt from finding it absent too.
                    let f = Flight {
                        charge: Some(charge),
                        ..f
                    };
                    self.call(ctx, s.database, f, |call| Msg::Put { call, key, charge });
                } else {
                    // `ledger-separate-step`: charge first, record afterwards.
                    self.charge(ctx, s, f, charge);
                }
            }
            Msg::Stored { .. } => {
                let charge = f.charge.expect("a put carries its charge");
                self.charge(ctx, s, f, charge);
            }
            Msg::Charged { charge, .. } if s.params.bug == Bug::NoLedger => {
                Service::answer(ctx, f, charge)
            }
            Msg::Charged { charge, .. } => self.call(ctx, s.database, f, |call| Msg::Complete {
                call,
                key,
                charge,
            }),
            Msg::Completed { .. } => {
                let charge = f.charge.expect("a completion follows a charge");
                Service::answer(ctx, f, charge);
            }
            _ => unreachable!("matched above"),
        }
    }

    fn on_timer(&mut self, _: &mut Ctx<'_, PaymentNode>, _: &Setup, _: TimerId, _: Timer) {}
}
