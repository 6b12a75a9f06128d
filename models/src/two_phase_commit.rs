//! Two-phase commit with presumed abort: the cross-database money transfer done atomically.
//!
//! A coordinator runs each client transfer (see [`crate::bank`]) as a distributed
//! transaction over the two participant databases that own its accounts, after Gray &
//! Lamport, "Consensus on transaction commit" (ACM TODS 2006), with the presumed-abort
//! optimisation of Mohan, Lindsay & Obermarck, "Transaction management in the R* distributed
//! database management system" (ACM TODS 1986):
//!
//! 1. **Prepare.** The coordinator sends `Prepare` to both participants. Each validates its
//!    half (the debit is covered, the credit stays under `max_balance`), locks the account,
//!    durably logs a prepare record and only then votes yes (`Vote`). A no vote is not
//!    logged. What a `Prepare` does when its account is already locked is the `locking`
//!    parameter (see *Locking* below); by default (`no-wait`) it votes no.
//! 2. **Decide.** With two yes votes the coordinator durably logs the commit decision and
//!    only then sends `Commit` (retransmitted until each participant sends `Ack`) and tells
//!    the client (`Outcome`). A no vote or `vote_timeout` aborts: nothing is logged — absence
//!    of a record *is* the abort (presumed abort) — `Abort` is sent once, never acknowledged.
//! 3. **Recovery.** A restarted coordinator resends `Commit` for every logged decision not
//!    yet acknowledged and answers every question about a transaction it has no record of
//!    with abort. A participant that voted yes is *in doubt*: it keeps its locks, across its
//!    own crashes too, and asks the coordinator (`Query`) every `in_doubt_query_every` until
//!    it learns the outcome. This is 2PC's blocking: while the coordinator is down or cut
//!    off, in-doubt participants hold their locks, and transfers touching those accounts
//!    abort. With `cooperative_termination = true` an in-doubt participant also asks the
//!    other participant (`PeerQuery`); a peer that knows the outcome answers (`PeerState`),
//!    and a peer that has not voted aborts unilaterally and says so. Two participants both
//!    in doubt still block: only the coordinator can unblock them (Paxos Commit's point).
//!
//! **Locking.** With `locking = "no-wait"` (the default) a `Prepare` that finds its
//! account locked votes no at once. With `locking = "wait"` it joins the account's FIFO
//! queue instead, without voting. When the lock is released (a commit or abort applied),
//! the first waiter is validated against the balance *at that time*; if valid it is
//! granted the lock, its prepare record is logged exactly as on the immediate path (so
//! `unsynced-prepare` bites the same way) and it votes yes; if not it votes no and the next
//! waiter is tried. A waiter whose transaction is decided meanwhile — an `Abort` from the
//! coordinator (its `vote_timeout` fired), a peer's `PeerState`, or this participant's own
//! unilateral abort on a peer's `PeerQuery` under cooperative termination — leaves the
//! queue without voting. Waiting is volatile: a crash forgets the queues (the waiters never
//! voted, so nothing was promised), and the coordinator's `vote_timeout` aborts those
//! transactions. Waits can form a cycle (T1 holds account *a* at db1 and waits for *b* at
//! db2 while T2 holds *b* and waits for *a*), but no run can stay stuck in it: each
//! transaction's `vote_timeout` aborts it, releasing its lock — a timeout-based deadlock
//! breaker, as in many real databases, at the price of an abort and a `vote_timeout` wait.
//! If the coordinator crashes and its timers with it, the lock holders, prepared, are in
//! doubt and keep asking: the restarted coordinator presumes abort, or sooner, under
//! cooperative termination, the peer where the transaction still waits aborts it
//! unilaterally.
//!
//! Message kinds, for fault triggers: `Transfer`, `Prepare`, `Vote`, `Commit`, `Abort`,
//! `Ack`, `Query`, `PeerQuery`, `PeerState`, `Outcome`.
//!
//! Invariants: `atomicity` (at the end, no transaction is committed at one participant and
//! aborted or unknown at the other), `conservation` (online, after every event while every
//! participant is up: the committed balances plus the halves of transfers that the peer has
//! already committed and this participant still holds prepared sum to the initial total),
//! `no_negative_balance` (online), `no_stuck_locks` (no prepared transaction left at the end),
//! `locks_held_by_prepared` (online: every held lock belongs to a prepared transaction),
//! `outcome_matches_decision` (each outcome a client was told matches the participants: a
//! committed transfer is committed, or still prepared, at both; an aborted one at neither).
//!
//! Known bugs: `commit-before-log` (the coordinator writes its decision but syncs it only at
//! its next retransmit tick, after sending `Commit`: a crash in between loses a decision
//! some participant has applied, and recovery presumes abort), `unsynced-prepare` (a
//! participant votes yes before syncing its prepare record: a crash loses the vote's
//! promise, and the restarted participant acknowledges a commit it cannot apply; it counts
//! them in `commits_without_prepare`), `abort-keeps-lock` (a participant applying an abort
//! drops the prepared transaction but keeps its account's lock: later transfers on that
//! account abort forever, and `locks_held_by_prepared` breaks).
//!
//! Metrics specific to 2PC: `in_doubt_ms` (from a participant's prepare record to its
//! learning the outcome, spanning its crashes), `lock_held_ms` (from lock grant to release),
//! `lock_wait_ms` (for each `Prepare` that queued and was then granted the lock, from its
//! arrival to the grant; grants on arrival record nothing, nor do waiters that vote no or
//! leave the queue aborted — so under `no-wait` it is declared but always empty, and its
//! count under `wait` is the number of waits that ended in a lock),
//! `lock_conflicts` (prepares that found their account locked: each voted no under
//! `no-wait`, each queued under `wait`), `vote_timeouts`.
//!
//! Limits: exactly two participants per transaction; one lock per account, exclusive;
//! `in_doubt_ms` and `lock_held_ms` coincide because the lock is granted in the same step
//! as the prepare record is logged and the yes vote sent, under either discipline (time
//! spent queued counts in `lock_wait_ms` only: a waiter holds nothing and promised
//! nothing) — both are kept because they differ in the saga and in disciplines that lock
//! before voting.

use crate::bank::{
    self, participant, Accounts, Bank, BankClient, BankMsg, BankNode, BankObserver, BankSetup,
    BankTimer, ClientNodes, Ledger, RunState, Transfer, TxnId,
};
use crate::{nodes_with_role, NodeInfo, ParamError, Params, Spec};
use serde::{Deserialize, Serialize};
use sim::dist::Dist;
use sim::history::History;
use sim::invariant::{OnlineCheck, Verdict};
use sim::metrics::Metrics;
use sim::{Ctx, Message, NodeId, Observed, Part, Stopwatch, TimerId, World};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

/// The `[model]` table. The accounts and workload fields (`accounts_per_participant` to
/// `client_retry`) repeat in [`crate::saga::SagaParams`] on purpose: sharing them through
/// `#[serde(flatten)]` would disable `deny_unknown_fields`, and with it the located error on
/// a misspelt key. [`crate::bank::Bank`] is where their meaning lives.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwoPcParams {
    pub kind: String,
    pub bug: Bug,
    pub accounts_per_participant: u32,
    pub initial_balance: i64,
    /// No credit may push an account above this.
    pub max_balance: i64,
    /// Transfer amounts are uniform in `1 ..= amount_max`.
    pub amount_max: i64,
    /// Think time between a client's transfers.
    pub think_time: Dist,
    /// How long a client waits for an outcome before asking again.
    #[serde(with = "crate::serde_duration")]
    pub client_retry: Duration,
    /// How long the coordinator waits for both votes before aborting.
    #[serde(with = "crate::serde_duration")]
    pub vote_timeout: Duration,
    /// How often the coordinator resends an unacknowledged `Commit`.
    #[serde(with = "crate::serde_duration")]
    pub retransmit_every: Duration,
    /// How often an in-doubt participant asks for the outcome.
    #[serde(with = "crate::serde_duration")]
    pub in_doubt_query_every: Duration,
    /// In-doubt participants also ask each other.
    pub cooperative_termination: bool,
    /// What a `Prepare` does when its account is locked: vote no at once (`no-wait`, the
    /// default) or queue for the lock (`wait`).
    pub locking: Locking,
}

impl Default for TwoPcParams {
    fn default() -> Self {
        TwoPcParams {
            kind: "two_phase_commit".into(),
            bug: Bug::None,
            accounts_per_participant: 10,
            initial_balance: 1000,
            max_balance: 2000,
            amount_max: 300,
            think_time: Dist::Exponential { mean: 100_000_000 },
            client_retry: Duration::from_secs(1),
            vote_timeout: Duration::from_millis(500),
            retransmit_every: Duration::from_millis(300),
            in_doubt_query_every: Duration::from_millis(500),
            cooperative_termination: false,
            locking: Locking::NoWait,
        }
    }
}

/// The locking discipline of participants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Locking {
    /// A `Prepare` that finds its account locked votes no at once.
    #[default]
    NoWait,
    /// A `Prepare` that finds its account locked waits in the account's FIFO queue and is
    /// validated and votes when the lock comes to it.
    Wait,
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// The coordinator sends `Commit` before its decision is durable.
        CommitBeforeLog = "commit-before-log",
        /// A participant votes yes before its prepare record is durable.
        UnsyncedPrepare = "unsynced-prepare",
        /// A participant applying an abort drops the prepared transaction but forgets to
        /// release its account's lock: later transfers on that account abort, forever.
        AbortKeepsLock = "abort-keeps-lock",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Transfer { txn: Transfer, attempt: u32 },
    Prepare { txn: Transfer },
    Vote { id: TxnId, yes: bool },
    Commit { id: TxnId },
    Abort { id: TxnId },
    Ack { id: TxnId },
    Query { id: TxnId },
    PeerQuery { id: TxnId },
    PeerState { id: TxnId, committed: bool },
    Outcome { id: TxnId, committed: bool },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "Transfer",
        "Prepare",
        "Vote",
        "Commit",
        "Abort",
        "Ack",
        "Query",
        "PeerQuery",
        "PeerState",
        "Outcome",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Transfer { .. } => "Transfer",
            Msg::Prepare { .. } => "Prepare",
            Msg::Vote { .. } => "Vote",
            Msg::Commit { .. } => "Commit",
            Msg::Abort { .. } => "Abort",
            Msg::Ack { .. } => "Ack",
            Msg::Query { .. } => "Query",
            Msg::PeerQuery { .. } => "PeerQuery",
            Msg::PeerState { .. } => "PeerState",
            Msg::Outcome { .. } => "Outcome",
        }
    }
}

impl BankMsg for Msg {
    fn request(txn: Transfer, attempt: u32) -> Msg {
        Msg::Transfer { txn, attempt }
    }

    fn outcome(&self) -> Option<(TxnId, bool)> {
        match *self {
            Msg::Outcome { id, committed } => Some((id, committed)),
            _ => None,
        }
    }
}

/// What nodes write to their disks. The coordinator writes `Decided` and `Ended`;
/// participants write `Prepared`, `Committed` and `Aborted`.
#[derive(Clone, Debug)]
pub enum Record {
    /// The commit decision (the only decision logged: abort is presumed).
    Decided {
        txn: Transfer,
    },
    /// Every participant acknowledged the commit; written lazily, never synced on its own.
    Ended {
        id: TxnId,
    },
    /// The yes vote's promise. `since` lets the in-doubt time span the participant's crashes.
    Prepared {
        txn: Transfer,
        since: Stopwatch,
    },
    Committed {
        id: TxnId,
    },
    /// Not forced (presumed abort), except for a unilateral abort under cooperative
    /// termination, which must outlive a crash.
    Aborted {
        id: TxnId,
    },
}

/// Coordinator timers are tagged with their transaction's id; participants' likewise.
pub struct Setup {
    params: TwoPcParams,
    bank: Bank,
    coordinator: NodeId,
}

sim::node_of_parts! {
    /// A node of 2PC: the coordinator, a participant or a client.
    pub struct TwoPcNode(Setup) {
        msg: Msg, timer: BankTimer, record: Record,
        role: Role { Coordinator(Coordinator), Participant(Participant), Client(BankClient<Setup>) }
    }
}

#[derive(Default)]
pub struct Coordinator {
    active: BTreeMap<TxnId, Active>,
    /// Every outcome this incarnation knows, so client retries get the same answer.
    outcomes: BTreeMap<TxnId, bool>,
}

struct Active {
    txn: Transfer,
    /// Unknown after a recovery: the client will ask again.
    client: Option<NodeId>,
    phase: Phase,
    timer: Option<TimerId>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Yes votes received, in `Bank::pair` order.
    Voting([bool; 2]),
    /// Acks received, in `Bank::pair` order.
    Committing([bool; 2]),
}

pub(crate) struct Participant {
    me: NodeId,
    balances: Accounts,
    /// The transaction holding each account's lock.
    locks: Vec<Option<TxnId>>,
    /// How many accounts are locked, kept up to date so that `locks_held_by_prepared`
    /// costs O(1) per event: each prepared transaction holds exactly one lock, so the
    /// counts match exactly when every held lock belongs to a prepared transaction.
    held: usize,
    prepared: BTreeMap<TxnId, Prepared>,
    decided: BTreeMap<TxnId, Decision>,
    /// With `locking = "wait"`: per locked account, the prepares waiting for its lock, in
    /// arrival order. Volatile: a crash forgets them (they never voted).
    queues: BTreeMap<usize, VecDeque<Waiter>>,
    /// The account each waiting transaction is queued on.
    waiting: BTreeMap<TxnId, usize>,
}

/// A `Prepare` waiting for its account's lock.
struct Waiter {
    txn: Transfer,
    /// Whom to send the vote to.
    from: NodeId,
    arrived: Stopwatch,
}

struct Prepared {
    txn: Transfer,
    since: Stopwatch,
    query: Option<TimerId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Committed(Transfer),
    Aborted,
}

impl Coordinator {
    fn recover(disk: &[Record]) -> Coordinator {
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

    fn on_start(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup) {
        // Decisions logged before the crash but not acknowledged: finish them.
        let ids: Vec<TxnId> = self.active.keys().copied().collect();
        for id in ids {
            self.retransmit(ctx, s, id);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, from: NodeId, msg: Msg) {
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
    fn outcome(&mut self, id: TxnId) -> Option<bool> {
        match self.active.get(&id).map(|a| a.phase) {
            Some(Phase::Voting(_)) => None,
            Some(Phase::Committing(_)) => Some(true),
            None => Some(*self.outcomes.entry(id).or_insert(false)),
        }
    }

    fn request(
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

    fn vote(
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

    fn commit(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
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

    fn abort(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
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

    fn ack(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, from: NodeId, id: TxnId) {
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

    fn on_timer(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
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

    fn retransmit(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
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

impl Participant {
    fn recover(me: NodeId, bank: &Bank, disk: &[Record]) -> Participant {
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

    fn lock(&mut self, bank: &Bank, txn: Transfer, since: Stopwatch) {
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
    fn release(&mut self, bank: &Bank, id: TxnId) -> Option<Prepared> {
        let p = self.prepared.remove(&id)?;
        let (account, _) = bank.effect_at(&p.txn, self.me);
        debug_assert_eq!(self.locks[account], Some(id));
        self.locks[account] = None;
        self.held -= 1;
        Some(p)
    }

    /// The first held lock that no prepared transaction owns, as (account, holder).
    fn orphan_lock(&self) -> Option<(usize, TxnId)> {
        if self.held == self.prepared.len() {
            return None;
        }
        self.locks.iter().enumerate().find_map(|(a, l)| {
            l.filter(|id| !self.prepared.contains_key(id))
                .map(|id| (a, id))
        })
    }

    /// Applies a prepared transaction's half; returns it for metrics.
    fn apply(&mut self, bank: &Bank, id: TxnId) -> Option<Prepared> {
        let p = self.release(bank, id)?;
        let (account, delta) = bank.effect_at(&p.txn, self.me);
        self.balances.add(account, delta);
        self.decided.insert(id, Decision::Committed(p.txn));
        Some(p)
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup) {
        // Still in doubt after the restart: ask at once.
        let ids: Vec<TxnId> = self.prepared.keys().copied().collect();
        for id in ids {
            self.ask(ctx, s, id);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, from: NodeId, msg: Msg) {
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

    fn prepare(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, from: NodeId, txn: Transfer) {
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
    fn grant(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, txn: Transfer) {
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
    fn grant_next(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, account: usize) {
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
    fn unqueue(&mut self, id: TxnId) {
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
    fn learn(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId, committed: bool) {
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

    fn peer_query(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, from: NodeId, id: TxnId) {
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

    fn on_timer(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
        if self.prepared.contains_key(&id) {
            self.ask(ctx, s, id);
        }
    }

    /// In doubt about `id`: ask the coordinator (and the peer, cooperatively), and again later.
    fn ask(&mut self, ctx: &mut Ctx<'_, TwoPcNode>, s: &Setup, id: TxnId) {
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
    fn conserved_sum(&self, s: &Setup, world: &World<'_, TwoPcNode>) -> Option<i64> {
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
fn position(pair: &[NodeId; 2], node: NodeId) -> usize {
    pair.iter()
        .position(|&p| p == node)
        .expect("a vote or ack from a participant of the transaction")
}

impl Ledger for Participant {
    fn accounts(&self) -> &Accounts {
        &self.balances
    }
}

impl BankNode for TwoPcNode {
    type Participant = Participant;
    fn participant(&self) -> Option<&Participant> {
        match &self.role {
            Role::Participant(p) => Some(p),
            _ => None,
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

/// The two-phase-commit model: builds nodes and judges the run.
pub struct TwoPc {
    setup: Rc<Setup>,
    clients: ClientNodes,
    observer: BankObserver,
    conservation: OnlineCheck,
    locks_held_by_prepared: OnlineCheck,
}

impl sim::Model for TwoPc {
    type Node = TwoPcNode;

    fn build(&mut self, id: NodeId, disk: &[Record]) -> TwoPcNode {
        let s = &self.setup;
        let role = if id == s.coordinator {
            Role::Coordinator(Coordinator::recover(disk))
        } else if s.bank.participants.contains(&id) {
            Role::Participant(Participant::recover(id, &s.bank, disk))
        } else {
            Role::Client(self.clients.build(s, id))
        };
        TwoPcNode {
            setup: Rc::clone(s),
            role,
        }
    }

    fn observe(&mut self, world: &World<'_, TwoPcNode>, event: Observed, metrics: &mut Metrics) {
        let Some(changed) = self
            .observer
            .observe(world, event, metrics, declare_metrics)
        else {
            return;
        };
        let s = &*self.setup;
        if let Some((account, id)) = participant(world, changed).and_then(Participant::orphan_lock)
        {
            self.locks_held_by_prepared.violate(|| {
                format!(
                    "at t={}: {} holds the lock of its account {account} for txn {id}, which is not prepared there",
                    world.now,
                    world.name(changed)
                )
            });
        }
        // Skipped while any participant is down: its committed state is on its disk, and the
        // check resumes, exact, once it is back.
        let Ok(total) = s
            .bank
            .sum_over_participants(world, |p| p.conserved_sum(s, world))
        else {
            return;
        };
        if total != s.bank.total() {
            self.conservation.violate(|| {
                format!(
                    "at t={}, after an event at {}: committed money sums to {total}, not {}",
                    world.now,
                    world.name(changed),
                    s.bank.total()
                )
            });
        }
    }

    fn finish(
        &mut self,
        world: &World<'_, TwoPcNode>,
        _history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        self.observer
            .finish_metrics(metrics, declare_metrics, world.stats());
        vec![
            atomicity(world, &self.setup),
            self.conservation.verdict(
                "conservation",
                "checked after every event while all participants were up",
            ),
            self.observer.no_negative_verdict(),
            no_stuck_locks(world, &self.setup),
            self.locks_held_by_prepared.verdict(
                "locks_held_by_prepared",
                "after every participant event, every held lock belonged to a prepared transaction",
            ),
            outcome_matches_decision(world, &self.setup),
        ]
    }
}

fn declare_metrics(metrics: &mut Metrics) {
    bank::declare_metrics(metrics);
    metrics.declare("in_doubt_ms");
    metrics.declare("lock_held_ms");
    metrics.declare("lock_wait_ms");
}

fn atomicity(world: &World<'_, TwoPcNode>, s: &Setup) -> Verdict {
    let mut committed = 0;
    let mut broken = Vec::new();
    for &q in &s.bank.participants {
        let Some(p) = participant(world, q) else {
            return Verdict::unknown("atomicity", format!("{} is down at the end", world.name(q)));
        };
        for (id, d) in &p.decided {
            let Decision::Committed(txn) = d else {
                continue;
            };
            committed += 1;
            let peer_id = s.bank.peer(txn, q);
            let Some(peer) = participant(world, peer_id) else {
                return Verdict::unknown(
                    "atomicity",
                    format!("{} is down at the end", world.name(peer_id)),
                );
            };
            let peer_state = match peer.decided.get(id) {
                Some(Decision::Committed(_)) => continue,
                _ if peer.prepared.contains_key(id) => continue, // in doubt: no_stuck_locks
                Some(Decision::Aborted) => "aborted",
                None => "no record of it",
            };
            broken.push(format!(
                "txn {id} (move {} from account {} to {}) committed at {}, but {} has {peer_state}",
                txn.amount,
                txn.from,
                txn.to,
                world.name(q),
                world.name(peer_id)
            ));
        }
    }
    match broken.first() {
        None => Verdict::holds(
            "atomicity",
            format!("{committed} committed halves, each matched by its peer"),
        ),
        Some(first) => Verdict::violated(
            "atomicity",
            format!(
                "{first} ({} such half-committed transaction(s))",
                broken.len()
            ),
        ),
    }
}

/// Each outcome a client was told matches the participants: a committed transfer is
/// committed (or, still in doubt, prepared) at both, an aborted one committed at neither.
fn outcome_matches_decision(world: &World<'_, TwoPcNode>, s: &Setup) -> Verdict {
    bank::outcome_matches_decision(&s.bank, |t, committed| {
        for q in s.bank.pair(t) {
            let p = participant(world, q).ok_or_else(|| world.name(q).to_string())?;
            let state = match p.decided.get(&t.id) {
                Some(Decision::Committed(_)) => "committed",
                Some(Decision::Aborted) => "aborted",
                None if p.prepared.contains_key(&t.id) => "prepared",
                None => "no record of it",
            };
            let contradicts = if committed {
                !matches!(state, "committed" | "prepared")
            } else {
                state == "committed"
            };
            if contradicts {
                return Ok(Some(format!("{} has {state}", world.name(q))));
            }
        }
        Ok(None)
    })
}

fn no_stuck_locks(world: &World<'_, TwoPcNode>, s: &Setup) -> Verdict {
    if let Some(unknown) = world.unsettled("no_stuck_locks") {
        return unknown;
    }
    let mut stuck = Vec::new();
    for &q in &s.bank.participants {
        if let Some(p) = participant(world, q) {
            stuck.extend(
                p.prepared
                    .keys()
                    .map(|id| format!("txn {id} at {}", world.name(q))),
            );
        }
    }
    match stuck.first() {
        None => Verdict::holds(
            "no_stuck_locks",
            "no prepared transaction left after settling",
        ),
        Some(first) => Verdict::violated(
            "no_stuck_locks",
            format!(
                "{} transaction(s) still in doubt, holding locks, after settling; first: {first}",
                stuck.len()
            ),
        ),
    }
}

impl Params for TwoPcParams {
    type Model = TwoPc;
    const SPEC: Spec = Spec {
        kind: "two_phase_commit",
        summary: "two-phase commit with presumed abort over participant databases, optional cooperative termination",
        invariants: &[
            "atomicity",
            "conservation",
            "no_negative_balance",
            "no_stuck_locks",
            "locks_held_by_prepared",
            "outcome_matches_decision",
        ],
        metrics: &[
            "transfer_latency_ms",
            "in_doubt_ms",
            "lock_held_ms",
            "lock_wait_ms",
            "transfers",
            "committed",
            "aborts",
            "messages",
            "messages_per_txn",
            "vote_timeouts",
            "lock_conflicts",
            "commits_without_prepare",
        ],
        bugs: Bug::KNOWN,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<TwoPc, ParamError> {
        let (coordinator, clients) = bank::coordinator_and_clients(nodes)?;
        for (field, d) in [
            ("model.vote_timeout", self.vote_timeout),
            ("model.retransmit_every", self.retransmit_every),
            ("model.in_doubt_query_every", self.in_doubt_query_every),
        ] {
            if d.is_zero() {
                return Err(ParamError::new(field, "must be positive"));
            }
        }
        let bank = Bank {
            participants: nodes_with_role(nodes, "participant"),
            accounts_per_participant: self.accounts_per_participant,
            initial_balance: self.initial_balance,
            max_balance: self.max_balance,
            amount_max: self.amount_max,
            think_time: self.think_time.clone(),
            client_retry: self.client_retry,
            run: RunState::default(),
        };
        bank.validate()?;
        Ok(TwoPc {
            clients,
            setup: Rc::new(Setup {
                params: self,
                bank,
                coordinator,
            }),
            observer: BankObserver::default(),
            conservation: OnlineCheck::default(),
            locks_held_by_prepared: OnlineCheck::default(),
        })
    }
}

impl BankSetup for Setup {
    type Node = TwoPcNode;
    fn bank(&self) -> &Bank {
        &self.bank
    }
    fn coordinator(&self) -> NodeId {
        self.coordinator
    }
}
