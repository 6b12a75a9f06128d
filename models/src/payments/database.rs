//! The service's database: the idempotency ledger, one durable record per change.

use super::{Bug, ChargeId, Key, Ledger, Msg, PaymentNode, Record, Setup, Timer};
use sim::{Ctx, NodeId, Part, TimerId};
use std::collections::BTreeMap;

pub struct Database {
    /// Per key: its state, and since when (by this node's clock) it has been in progress.
    ledger: BTreeMap<Key, (Ledger, i64)>,
    /// Whether the ledger came back from disk: its in-progress times are then reset at
    /// start, when the clock can be read.
    restarted: bool,
}

impl Database {
    pub(super) fn new(disk: &[Record]) -> Database {
        let mut ledger = BTreeMap::new();
        for r in disk {
            if let Record::Ledger { key, state } = *r {
                ledger.insert(key, (state, 0));
            }
        }
        Database {
            restarted: !disk.is_empty(),
            ledger,
        }
    }

    /// The charge ids of the payments claimed and not yet recorded done.
    pub(super) fn in_progress(&self) -> impl Iterator<Item = ChargeId> + '_ {
        self.ledger.values().filter_map(|(state, _)| match *state {
            Ledger::InProgress(charge) => Some(charge),
            Ledger::Done(_) => None,
        })
    }

    fn write(&mut self, ctx: &mut Ctx<'_, PaymentNode>, s: &Setup, key: Key, state: Ledger) {
        if s.params.bug == Bug::LedgerUnsynced {
            ctx.disk().append(Record::Ledger { key, state });
        } else {
            ctx.disk().append_synced(Record::Ledger { key, state });
        }
        let now = ctx.local_clock();
        self.ledger.insert(key, (state, now));
    }

    /// The key's state, and whether it is in progress for longer than `recover_after`.
    fn lookup(&self, ctx: &Ctx<'_, PaymentNode>, s: &Setup, key: Key) -> Option<(Ledger, bool)> {
        let &(state, since) = self.ledger.get(&key)?;
        let age = ctx.local_clock().saturating_sub(since);
        let stale = matches!(state, Ledger::InProgress(_))
            && age > s.params.recover_after.as_nanos() as i64;
        Some((state, stale))
    }
}

impl Part<PaymentNode, Setup> for Database {
    fn on_start(&mut self, ctx: &mut Ctx<'_, PaymentNode>, _: &Setup) {
        if self.restarted {
            // In progress from now on: the clock before the crash is not to be trusted.
            let now = ctx.local_clock();
            for entry in self.ledger.values_mut() {
                entry.1 = now;
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, PaymentNode>, s: &Setup, from: NodeId, msg: Msg) {
        let reply = match msg {
            Msg::Claim { call, key, charge } => match self.lookup(ctx, s, key) {
                Some((state, stale)) => Msg::Exists { call, state, stale },
                None => {
                    self.write(ctx, s, key, Ledger::InProgress(charge));
                    Msg::Claimed { call }
                }
            },
            Msg::Get { call, key } => match self.lookup(ctx, s, key) {
                Some((state, stale)) => Msg::Exists { call, state, stale },
                None => Msg::Absent { call },
            },
            Msg::Put { call, key, charge } => {
                self.write(ctx, s, key, Ledger::InProgress(charge));
                Msg::Stored { call }
            }
            Msg::Complete { call, key, charge } => {
                self.write(ctx, s, key, Ledger::Done(charge));
                Msg::Completed { call }
            }
            _ => return,
        };
        ctx.send(from, reply);
    }

    fn on_timer(&mut self, _: &mut Ctx<'_, PaymentNode>, _: &Setup, _: TimerId, _: Timer) {}
}
