//! The card processor: moves money once per charge id, and answers after its processing
//! time. Its disk is the ground truth the invariants are judged on.

use super::{ChargeId, Msg, PaymentNode, Record, Setup, Timer};
use sim::{Ctx, NodeId, Part, TimerId};
use std::collections::BTreeSet;
use std::time::Duration;

pub struct Processor {
    /// Every charge id it has charged.
    charged: BTreeSet<ChargeId>,
}

impl Processor {
    pub(super) fn has_charged(&self, charge: ChargeId) -> bool {
        self.charged.contains(&charge)
    }

    pub(super) fn new(disk: &[Record]) -> Processor {
        let charged = disk
            .iter()
            .filter_map(|r| match *r {
                Record::Charged { charge, .. } => Some(charge),
                Record::Ledger { .. } => None,
            })
            .collect();
        Processor { charged }
    }
}

impl Part<PaymentNode, Setup> for Processor {
    fn on_start(&mut self, _: &mut Ctx<'_, PaymentNode>, _: &Setup) {}

    fn on_message(&mut self, ctx: &mut Ctx<'_, PaymentNode>, s: &Setup, from: NodeId, msg: Msg) {
        let Msg::Charge {
            call,
            charge,
            payment,
            amount,
        } = msg
        else {
            return;
        };
        if self.charged.insert(charge) {
            ctx.disk().append_synced(Record::Charged {
                charge,
                payment,
                amount,
            });
        }
        let after = s.params.processing_time.sample(ctx.rng());
        ctx.set_timer(
            Duration::from_nanos(after),
            Timer::Answer {
                to: from,
                call,
                charge,
            },
        );
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, PaymentNode>, _: &Setup, _: TimerId, t: Timer) {
        if let Timer::Answer { to, call, charge } = t {
            ctx.send(to, Msg::Charged { call, charge });
        }
    }
}
