//! The 2PC participant: validates and locks its half of a transfer, logs its prepare record
//! before voting yes, applies the decision, and asks for it while in doubt.

use super::{Bug, Locking, Msg, Record, Setup, TwoPcNode};
use crate::bank::{participant, Accounts, Bank, BankTimer, Ledger, Transfer, TxnId};
use sim::{Ctx, NodeId, Part, Stopwatch, TimerId, World};
use std::collections::{BTreeMap, VecDeque};

pub struct Participant {
    pub(super) me: NodeId,
    pub(super) balances: Accounts,
    /// The transaction holding each account's lock.
    pub(super) locks: Vec<Option<TxnId>>,
    /// How many accounts are locked, kept up to date so that `locks_held_by_prepared`
    /// costs O(1) per event: each prepared transaction holds exactly one lock, so the
    /// counts match exactly when every held lock belongs to a prepared transaction.
    pub(super) held: usize,
    pub(super) prepared: BTreeMap<TxnId, Prepared>,
    pub(super) decided: BTreeMap<TxnId, Decision>,
    /// With `locking = "wait"`: per locked account, the prepares waiting for its lock, in
    /// arrival order. Volatile: a crash forgets them (they never voted).
    pub(super) queues: BTreeMap<usize, VecDeque<Waiter>>,
    /// The account each waiting transaction is queued on.
    pub(super) waiting: BTreeMap<TxnId, usize>,
}

/// A `Prepare` waiting for its account's lock.
pub(super) struct Waiter {
    pub(super) txn: Transfer,
    /// Whom to send the vote to.
    pub(super) from: NodeId,
    pub(super) arrived: Stopwatch,
}

pub(super) struct Prepared {
    pub(super) txn: Transfer,
    pub(super) since: Stopwatch,
    pub(super) query: Option<TimerId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    Committed(Transfer),
    Aborted,
}

impl Participant {
    pub(super) fn recover(me: NodeId, s: &Setup, disk: &[Record]) -> Participant {
        let bank = &s.bank;
        let mut p = Participant {
            me,
            balances: Accounts::new(bank),
            locks: vec![None; bank.accounts_per_participant as usize],
            held: 0,
            prepared: BTreeMap::new(),
            decided: BTreeMap::new(),
            queues: BTreeMap::new(),
            waiting: BTreeMap::new(),
        };
        for r in disk {
            match *r {
                Record::Prepared { .. } if s.params.bug == Bug::ForgetPrepared => {}
                Record::Prepared { txn, since } => p.lock(bank, txn, since),
                Record::Committed { id } => {
                    p.apply(bank, id);
                }
                Record::Aborted { id } => {
                    p.release(bank, id);
                    p.decided.insert(id, Decision::Aborted);
                }
                _ => unreachable!("coordinator record {r:?} on a participant's disk"),
            }
        }
        p
    }

    pub(super) fn lock(&mut self, bank: &Bank, txn: Transfer, since: Stopwatch) {
        let (account, _) = bank.effect_at(&txn, self.me);
        debug_assert!(self.locks[account].is_none(), "double lock on {account}");
        self.locks[account] = Some(txn.id);
        self.held += 1;
        self.prepared.insert(
            txn.id,
            Prepared {
                txn,
                since,
                query: None,
            },
        );
    }

    /// Drops the prepared state of `id`, if any, releasing its lock.
    pub(super) fn release(&mut self, bank: &Bank, id: TxnId) -> Option<Prepared> {
        let p = self.prepared.remove(&id)?;
        let (account, _) = bank.effect_at(&p.txn, self.me);
        debug_assert_eq!(self.locks[account], Some(id));
        self.locks[account] = None;
        self.held -= 1;
        Some(p)
    }

    /// Whether some held lock belongs to no prepared transaction, in O(1): each prepared
    /// transaction holds exactly one lock, so this is exactly when the counts differ.
    pub(super) fn holds_orphan_lock(&self) -> bool {
        self.held != self.prepared.len()
    }

    /// The first held lock that no prepared transaction owns, as (account, holder).
    pub(super) fn orphan_lock(&self) -> Option<(usize, TxnId)> {
        if !self.holds_orphan_lock() {
            return None;
        }
        self.locks.iter().enumerate().find_map(|(a, l)| {
            l.filter(|id| !self.prepared.contains_key(id))
                .map(|id| (a, id))
        })
    }

    /// Applies a prepared transaction's half; returns it for metrics.
    pub(super) fn apply(&mut self, bank: &Bank, id: TxnId) -> Option<Prepared> {
        let p = self.release(bank, id)?;
        let (account, delta) = bank.effect_at(&p.txn, self.me);
        self.balances.add(account, delta);
        self.decided.insert(id, Decision::Committed(p.txn));
        Some(p)
    }

    pub(super) fn on_start(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup) {
        // Still in doubt after the restart: ask at once.
        let ids: Vec<TxnId> = self.prepared.keys().copied().collect();
        for id in ids {
            self.ask(ctx, s, id);
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
            Msg::Prepare { txn } => self.prepare(ctx, s, from, txn),
            Msg::Commit { id }
            | Msg::PeerState {
                id,
                committed: true,
            } => self.learn(ctx, s, id, true),
            Msg::Abort { id }
            | Msg::PeerState {
                id,
                committed: false,
            } => self.learn(ctx, s, id, false),
            Msg::PeerQuery { id } => self.peer_query(ctx, from, id),
            _ => {}
        }
    }

    pub(super) fn prepare(
        &mut self,
        ctx: &mut Ctx<'_, TwoPcNode>,
        s: &Setup,
        from: NodeId,
        txn: Transfer,
    ) {
        let id = txn.id;
        let yes = match self.decided.get(&id) {
            Some(Decision::Committed(_)) => return, // a stale duplicate
            Some(Decision::Aborted) => false,
            None if self.prepared.contains_key(&id) => true, // a duplicate: same vote
            None if self.waiting.contains_key(&id) => return, // a duplicate: still queued
            None => {
                let (account, delta) = s.bank.effect_at(&txn, self.me);
                if self.locks[account].is_some() {
                    ctx.metrics().add("lock_conflicts", 1);
                    if s.params.locking == Locking::Wait {
                        self.queues.entry(account).or_default().push_back(Waiter {
                            txn,
                            from,
                            arrived: ctx.stopwatch(),
                        });
                        self.waiting.insert(id, account);
                        return;
                    }
                }
                let ok = self.locks[account].is_none()
                    && s.bank.allows(self.balances.get(account), delta);
                if ok {
                    self.grant(ctx, s, txn);
                } else {
                    // Remembered so that a late duplicate `Prepare` gets the same no.
                    self.decided.insert(id, Decision::Aborted);
                }
                ok
            }
        };
        ctx.send(from, Msg::Vote { id, yes });
    }

    /// Locks `txn`'s account (free, and its half validated) and logs the prepare record;
    /// the caller then votes yes.
    pub(super) fn grant(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, txn: Transfer) {
        let since = ctx.stopwatch();
        let record = Record::Prepared { txn, since };
        if s.params.bug == Bug::UnsyncedPrepare {
            // The bug: the vote leaves before the promise is durable; the record is synced
            // only by the next synced write.
            ctx.disk().append(record);
        } else {
            ctx.disk().append_synced(record);
        }
        self.lock(&s.bank, txn, since);
        let t = ctx.set_timer(s.params.in_doubt_query_every, BankTimer::Txn(txn.id));
        self.prepared.get_mut(&txn.id).expect("just locked").query = Some(t);
    }

    /// `account`'s lock was released: hand it to the first waiter whose half is still valid
    /// (balance rules at this time), recording its `lock_wait_ms`; each waiter found invalid
    /// on the way votes no (and records no wait).
    pub(super) fn grant_next(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, account: usize) {
        while self.locks[account].is_none() {
            let Some(queue) = self.queues.get_mut(&account) else {
                return;
            };
            let w = queue.pop_front().expect("no empty queue is kept");
            if queue.is_empty() {
                self.queues.remove(&account);
            }
            let id = w.txn.id;
            self.waiting.remove(&id);
            let (_, delta) = s.bank.effect_at(&w.txn, self.me);
            let yes = s.bank.allows(self.balances.get(account), delta);
            if yes {
                self.grant(ctx, s, w.txn);
                ctx.record_elapsed("lock_wait_ms", w.arrived);
            } else {
                self.decided.insert(id, Decision::Aborted);
            }
            ctx.send(w.from, Msg::Vote { id, yes });
        }
    }

    /// Takes `id` out of its lock queue, if it waits in one: it will never vote.
    pub(super) fn unqueue(&mut self, id: TxnId) {
        let Some(account) = self.waiting.remove(&id) else {
            return;
        };
        let queue = self.queues.get_mut(&account).expect("a waiter's queue");
        queue.retain(|w| w.txn.id != id);
        if queue.is_empty() {
            self.queues.remove(&account);
        }
    }

    /// The outcome of `id` arrived, from the coordinator or a peer.
    pub(super) fn learn(
        &mut self,
        ctx: &mut Ctx<'_, TwoPcNode>,
        s: &Setup,
        id: TxnId,
        committed: bool,
    ) {
        let coordinator = s.coordinator;
        // A waiter decided before it got the lock (a vote timeout, a peer's abort) leaves
        // its queue without voting; it then has no prepare record, like any unvoted one.
        self.unqueue(id);
        if !self.prepared.contains_key(&id) {
            match self.decided.get(&id) {
                // Already applied: the coordinator needs the ack again.
                Some(Decision::Committed(_)) if committed => ctx.send(coordinator, Msg::Ack { id }),
                None if committed => {
                    // A commit for a transaction this node never durably prepared: only
                    // possible with `unsynced-prepare`. There is nothing to apply; the ack
                    // lets the coordinator finish, and `atomicity` reports the damage.
                    ctx.metrics().add("commits_without_prepare", 1);
                    ctx.send(coordinator, Msg::Ack { id });
                }
                None => {
                    self.decided.insert(id, Decision::Aborted);
                }
                _ => {}
            }
            return;
        }
        let p = if committed {
            ctx.disk().append_synced(Record::Committed { id });
            self.apply(&s.bank, id)
        } else {
            ctx.disk().append(Record::Aborted { id });
            self.decided.insert(id, Decision::Aborted);
            if s.params.bug == Bug::AbortKeepsLock {
                // The bug: the prepared state goes, the lock stays.
                self.prepared.remove(&id)
            } else {
                self.release(&s.bank, id)
            }
        }
        .expect("checked prepared");
        if let Some(t) = p.query {
            ctx.cancel_timer(t);
        }
        ctx.record_elapsed("in_doubt_ms", p.since);
        ctx.record_elapsed("lock_held_ms", p.since);
        if committed {
            ctx.send(coordinator, Msg::Ack { id });
        }
        self.grant_next(ctx, s, s.bank.effect_at(&p.txn, self.me).0);
    }

    pub(super) fn peer_query(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, from: NodeId, id: TxnId) {
        let committed = match self.decided.get(&id) {
            Some(Decision::Committed(_)) => true,
            Some(Decision::Aborted) => false,
            None if self.prepared.contains_key(&id) => return, // as uncertain as the asker
            None => {
                // Not voted yet: abort unilaterally, and durably, since a yes vote after
                // this answer would let the coordinator commit what the asker aborts.
                ctx.disk().append_synced(Record::Aborted { id });
                self.decided.insert(id, Decision::Aborted);
                self.unqueue(id); // a waiter, if it is one, will never vote
                false
            }
        };
        ctx.send(from, Msg::PeerState { id, committed });
    }

    pub(super) fn on_timer(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
        if self.prepared.contains_key(&id) {
            self.ask(ctx, s, id);
        }
    }

    /// In doubt about `id`: ask the coordinator (and the peer, cooperatively), and again later.
    pub(super) fn ask(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
        let p = self
            .prepared
            .get_mut(&id)
            .expect("asking about a prepared transaction");
        p.query = Some(ctx.set_timer(s.params.in_doubt_query_every, BankTimer::Txn(id)));
        let peer = s.bank.peer(&p.txn, self.me);
        ctx.send(s.coordinator, Msg::Query { id });
        if s.params.cooperative_termination {
            ctx.send(peer, Msg::PeerQuery { id });
        }
    }

    /// This participant's contribution to the conserved total, given the peers' state: its
    /// balances plus the halves it holds prepared of transfers the peer already committed.
    pub(super) fn conserved_sum(&self, s: &Setup, world: &World<'_, TwoPcNode>) -> Option<i64> {
        let mut sum = self.balances.sum();
        for (id, p) in &self.prepared {
            let peer = participant(world, s.bank.peer(&p.txn, self.me))?;
            if let Some(Decision::Committed(_)) = peer.decided.get(id) {
                sum += s.bank.effect_at(&p.txn, self.me).1;
            }
        }
        Some(sum)
    }
}

/// Index of `node` in a transaction's participant pair.
pub(super) fn position(pair: &[NodeId; 2], node: NodeId) -> usize {
    pair.iter()
        .position(|&p| p == node)
        .expect("a vote or ack from a participant of the transaction")
}

impl Ledger for Participant {
    fn accounts(&self) -> &Accounts {
        &self.balances
    }
}

impl Part<TwoPcNode, Setup> for Participant {
    fn on_start(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup) {
        Participant::on_start(self, ctx, s);
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, from: NodeId, msg: Msg) {
        Participant::on_message(self, ctx, s, from, msg);
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, _: TimerId, tag: BankTimer) {
        if let BankTimer::Txn(id) = tag {
            Participant::on_timer(self, ctx, s, id);
        }
    }
}
