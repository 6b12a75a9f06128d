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
    self, participant, Bank, BankClient, BankMsg, BankNode, BankObserver, BankParams, BankSetup,
    BankTimer, ClientNodes, RunState, Transfer, TxnId,
};
use crate::{ModelSpec, NodeInfo, ParamError, Params};
use serde::{Deserialize, Serialize};
use sim::history::History;
use sim::invariant::{OnlineCheck, Verdict};
use sim::metrics::Metrics;
use sim::{Message, NodeId, Observed, Stopwatch, World};
use std::rc::Rc;
use std::time::Duration;

/// The `[model]` table; the accounts and workload are its `[model.bank]` table, shared with
/// the other transfer model ([`BankParams`]).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwoPcParams {
    pub kind: String,
    pub bug: Bug,
    /// The accounts and the workload.
    pub bank: BankParams,
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
            bank: BankParams::default(),
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
    unnamed {
        /// A participant restarts without its prepare records (read from a cache, say):
        /// it forgets what it promised.
        ForgetPrepared = "forget-prepared",
        /// A recovering coordinator does not resend the decisions it logged: participants
        /// must ask.
        NoDecisionResend = "no-decision-resend",
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

mod checks; // atomicity, outcome_matches_decision, no_stuck_locks; declared metrics
mod coordinator; // runs transactions, logs decisions, recovers
mod participant; // locks, prepares, votes, applies, asks while in doubt

use checks::{atomicity, declare_metrics, no_stuck_locks, outcome_matches_decision, settle_told};
pub use coordinator::Coordinator;
pub use participant::Participant;

/// What every node of a run shares. Coordinator and participant timers carry their
/// transaction's id (`BankTimer::Txn`).
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

impl BankNode for TwoPcNode {
    type Participant = Participant;
    fn participant(&self) -> Option<&Participant> {
        match &self.role {
            Role::Participant(p) => Some(p),
            _ => None,
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

impl TwoPc {
    /// A handle on the outcomes clients were told, for tests: how many, how many still open.
    pub fn told(&self) -> RunState {
        self.setup.bank.run.clone()
    }
}

impl sim::Model for TwoPc {
    type Node = TwoPcNode;

    fn build(&mut self, id: NodeId, disk: &[Record]) -> TwoPcNode {
        let s = &self.setup;
        let role = if id == s.coordinator {
            Role::Coordinator(Coordinator::recover(disk))
        } else if s.bank.participants.contains(&id) {
            Role::Participant(Participant::recover(id, s, disk))
        } else {
            Role::Client(self.clients.build(s, id))
        };
        TwoPcNode {
            setup: Rc::clone(s),
            role,
        }
    }

    fn phases(&self) -> &'static [&'static str] {
        checks::PHASES
    }

    fn phases_now(&self, world: &World<'_, TwoPcNode>) -> u32 {
        checks::phases_now(world, &self.setup)
    }

    fn observe(&mut self, world: &World<'_, TwoPcNode>, event: Observed, metrics: &mut Metrics) {
        settle_told(world, &self.setup);
        let Some(changed) = self
            .observer
            .observe(world, event, metrics, declare_metrics)
        else {
            return;
        };
        let s = &*self.setup;
        // An orphan lock is an O(1) count test; the scan that names it runs until the first
        // violation only — afterwards the evidence is kept and violations are only counted.
        if let Some(p) = participant(world, changed).filter(|p| p.holds_orphan_lock()) {
            if self.locks_held_by_prepared.violated() {
                self.locks_held_by_prepared.violate(String::new);
            } else if let Some((account, id)) = p.orphan_lock() {
                self.locks_held_by_prepared.violate(|| {
                    format!(
                        "at t={}: {} holds the lock of its account {account} for txn {id}, which is not prepared there",
                        world.now,
                        world.name(changed)
                    )
                });
            }
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

impl Params for TwoPcParams {
    type Model = TwoPc;
    const SPEC: ModelSpec = ModelSpec {
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
        unnamed_bugs: Bug::UNNAMED,
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
        let bank = self.bank.bank(nodes)?;
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
