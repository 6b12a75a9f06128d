//! The 2PC coordinator: runs each client transfer as a transaction over its two
//! participants, logs the commit decision (abort is presumed), and recovers from its log.

use super::participant::position;
use super::{Bug, Msg, Record, Setup, TwoPcNode};
use crate::bank::{BankTimer, Transfer, TxnId};
use sim::{Ctx, NodeId, Part, TimerId};
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Coordinator {
    pub(super) active: BTreeMap<TxnId, Active>,
    /// Every outcome this incarnation knows, so client retries get the same answer.
    pub(super) outcomes: BTreeMap<TxnId, bool>,
}

pub(super) struct Active {
    pub(super) txn: Transfer,
    /// Unknown after a recovery: the client will ask again.
    pub(super) client: Option<NodeId>,
    pub(super) phase: Phase,
    pub(super) timer: Option<TimerId>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Yes votes received, in `Bank::pair` order.
    Voting([bool; 2]),
    /// Acks received, in `Bank::pair` order.
    Committing([bool; 2]),
}

impl Coordinator {
    pub(super) fn recover(disk: &[Record]) -> Coordinator {
        let mut c = Coordinator::default();
        for r in disk {
            match *r {
                Record::Decided { txn } => {
                    c.outcomes.insert(txn.id, true);
                    c.active.insert(
                        txn.id,
                        Active {
                            txn,
                            client: None,
                            phase: Phase::Committing([false; 2]),
                            timer: None,
                        },
                    );
                }
                Record::Ended { id } => {
                    c.active.remove(&id);
                }
                _ => unreachable!("participant record {r:?} on the coordinator's disk"),
            }
        }
        c
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup) {
        // Decisions logged before the crash but not acknowledged: finish them.
        if s.params.bug == Bug::NoDecisionResend {
            return;
        }
        let ids: Vec<TxnId> = self.active.keys().copied().collect();
        for id in ids {
            self.retransmit(ctx, s, id);
        }
    }

    pub(super) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_, TwoPcNode>,
        s: &Setup,
        from: NodeId,
        msg: Msg,
    ) {
        match msg {
            Msg::Transfer { txn, attempt } => self.request(ctx, s, from, txn, attempt),
            Msg::Vote { id, yes } => self.vote(ctx, s, from, id, yes),
            Msg::Ack { id } => self.ack(ctx, s, from, id),
            Msg::Query { id } => match self.outcome(id) {
                Some(true) => ctx.send(from, Msg::Commit { id }),
                Some(false) => ctx.send(from, Msg::Abort { id }),
                None => {} // still voting: the decision will come
            },
            _ => {}
        }
    }

    /// The outcome of `id` if decided; a transaction never heard of is aborted on the spot
    /// (presumed abort), so the answer never changes afterwards.
    pub(super) fn outcome(&mut self, id: TxnId) -> Option<bool> {
        match self.active.get(&id).map(|a| a.phase) {
            Some(Phase::Voting(_)) => None,
            Some(Phase::Committing(_)) => Some(true),
            None => Some(*self.outcomes.entry(id).or_insert(false)),
        }
    }

    pub(super) fn request(
        &mut self,
        ctx: &mut Ctx<'_, TwoPcNode>,
        s: &Setup,
        client: NodeId,
        txn: Transfer,
        attempt: u32,
    ) {
        if let Some(a) = self.active.get_mut(&txn.id) {
            a.client = Some(client);
            if let Phase::Committing(_) = a.phase {
                ctx.send(
                    client,
                    Msg::Outcome {
                        id: txn.id,
                        committed: true,
                    },
                );
            }
            return;
        }
        if attempt > 0 || self.outcomes.contains_key(&txn.id) {
            // A retry we have no live state for: either decided, or lost in our crash before
            // any decision was logged, which presumed abort answers with abort.
            let committed = self.outcome(txn.id) == Some(true);
            if !committed {
                for p in s.bank.pair(&txn) {
                    ctx.send(p, Msg::Abort { id: txn.id });
                }
            }
            ctx.send(
                client,
                Msg::Outcome {
                    id: txn.id,
                    committed,
                },
            );
            return;
        }
        let timer = ctx.set_timer(s.params.vote_timeout, BankTimer::Txn(txn.id));
        self.active.insert(
            txn.id,
            Active {
                txn,
                client: Some(client),
                phase: Phase::Voting([false; 2]),
                timer: Some(timer),
            },
        );
        for p in s.bank.pair(&txn) {
            ctx.send(p, Msg::Prepare { txn });
        }
    }

    pub(super) fn vote(
        &mut self,
        ctx: &mut Ctx<'_, TwoPcNode>,
        s: &Setup,
        from: NodeId,
        id: TxnId,
        yes: bool,
    ) {
        let Some(a) = self.active.get_mut(&id) else {
            // Decided already, or forgotten in a crash: a yes voter must hear abort.
            if yes && self.outcome(id) == Some(false) {
                ctx.send(from, Msg::Abort { id });
            }
            return;
        };
        let Phase::Voting(mut votes) = a.phase else {
            return; // a duplicate vote after the decision
        };
        if !yes {
            self.abort(ctx, s, id);
            return;
        }
        let i = position(&s.bank.pair(&a.txn), from);
        votes[i] = true;
        a.phase = Phase::Voting(votes);
        if votes == [true; 2] {
            self.commit(ctx, s, id);
        }
    }

    pub(super) fn commit(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
        let a = self
            .active
            .get_mut(&id)
            .expect("committing an active transaction");
        let txn = a.txn;
        if s.params.bug == Bug::CommitBeforeLog {
            // The bug: the decision reaches the disk's volatile tail only; it is synced at
            // the next retransmit tick, after the participants have been told.
            ctx.disk().append(Record::Decided { txn });
        } else {
            ctx.disk().append_synced(Record::Decided { txn });
        }
        self.outcomes.insert(id, true);
        a.phase = Phase::Committing([false; 2]);
        if let Some(t) = a.timer.take() {
            ctx.cancel_timer(t);
        }
        a.timer = Some(ctx.set_timer(s.params.retransmit_every, BankTimer::Txn(id)));
        let client = a.client;
        for p in s.bank.pair(&txn) {
            ctx.send(p, Msg::Commit { id });
        }
        if let Some(c) = client {
            ctx.send(
                c,
                Msg::Outcome {
                    id,
                    committed: true,
                },
            );
        }
    }

    pub(super) fn abort(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
        let a = self
            .active
            .remove(&id)
            .expect("aborting an active transaction");
        if let Some(t) = a.timer {
            ctx.cancel_timer(t);
        }
        self.outcomes.insert(id, false);
        for p in s.bank.pair(&a.txn) {
            ctx.send(p, Msg::Abort { id });
        }
        if let Some(c) = a.client {
            ctx.send(
                c,
                Msg::Outcome {
                    id,
                    committed: false,
                },
            );
        }
    }

    pub(super) fn ack(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, from: NodeId, id: TxnId) {
        let Some(a) = self.active.get_mut(&id) else {
            return;
        };
        let Phase::Committing(mut acks) = a.phase else {
            return;
        };
        acks[position(&s.bank.pair(&a.txn), from)] = true;
        a.phase = Phase::Committing(acks);
        if acks == [true; 2] {
            if let Some(t) = a.timer.take() {
                ctx.cancel_timer(t);
            }
            self.active.remove(&id);
            // Lazily: losing it only means resending a commit that will be acked again.
            ctx.disk().append(Record::Ended { id });
        }
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
        match self.active.get(&id).map(|a| a.phase) {
            Some(Phase::Voting(_)) => {
                ctx.metrics().add("vote_timeouts", 1);
                self.abort(ctx, s, id);
            }
            Some(Phase::Committing(_)) => {
                if s.params.bug == Bug::CommitBeforeLog {
                    ctx.disk().sync();
                }
                self.retransmit(ctx, s, id);
            }
            None => {}
        }
    }

    pub(super) fn retransmit(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
        let a = self
            .active
            .get_mut(&id)
            .expect("retransmitting an active commit");
        let Phase::Committing(acks) = a.phase else {
            unreachable!("only commits are retransmitted");
        };
        a.timer = Some(ctx.set_timer(s.params.retransmit_every, BankTimer::Txn(id)));
        for (p, acked) in s.bank.pair(&a.txn).into_iter().zip(acks) {
            if !acked {
                ctx.send(p, Msg::Commit { id });
            }
        }
    }
}

impl Part<TwoPcNode, Setup> for Coordinator {
    fn on_start(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup) {
        Coordinator::on_start(self, ctx, s);
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, from: NodeId, msg: Msg) {
        Coordinator::on_message(self, ctx, s, from, msg);
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, _: TimerId, tag: BankTimer) {
        if let BankTimer::Txn(id) = tag {
            Coordinator::on_timer(self, ctx, s, id);
        }
    }
}
