//! The saga: the same cross-database transfer as a chain of local transactions with a
//! compensating step, after Garcia-Molina & Salem, "Sagas" (SIGMOD 1987).
//!
//! The node with role `coordinator` is the orchestrator, a durable workflow log standing in
//! for the message queue: every step result is logged (synced) before the next step is
//! sent, so a restarted orchestrator resumes each saga where it stood. A transfer runs as
//!
//! 1. `Debit` at the participant owning the source account: a local transaction, committed
//!    at once if the balance covers the amount, refused otherwise (the saga then ends,
//!    aborted, with nothing to undo);
//! 2. `Credit` at the participant owning the destination account: refused if it would push
//!    the account above `max_balance`;
//! 3. if the credit was refused, the compensating `Refund` of the source account, which
//!    cannot be refused.
//!
//! Each step is retried every `step_retry` until its `StepDone` reply arrives; participants
//! log every step's result (synced) keyed by (transaction, step), so a retried or duplicated
//! step returns the first answer and never applies twice (idempotency). No locks are held
//! across steps, so between the debit and the credit or refund the money is visibly *in
//! flight*: a reader summing all accounts sees less than the total. That is the anomaly
//! sagas trade for never blocking; the model measures it (`in_flight_ms` per transfer, and
//! `in_flight_money_max`, the largest sum in flight seen at any moment).
//!
//! Message kinds, for fault triggers: `Transfer`, `Debit`, `Credit`, `Refund`, `StepDone`,
//! `Outcome`.
//!
//! Invariants: `conservation` (at quiescence, all accounts plus the money held by sagas not
//! yet finished — debited, neither credited nor refunded — sum to the initial total: money
//! still in flight is not lost, money a finished saga left nowhere is),
//! `no_negative_balance` (online), `saga_completes` (at quiescence every saga is either
//! fully committed — debited and credited — or fully compensated — not debited, or debited
//! and refunded), `outcome_matches_decision` (each outcome a client was told matches the
//! participants: committed means debited and credited, aborted means not credited and, if
//! debited, refunded).
//!
//! Known bugs: `no-compensation` (a refused credit ends the saga without the refund: the
//! debited money vanishes, and `conservation` breaks), `compensated-reported-committed` (a
//! compensated saga is reported to its client as committed: `outcome_matches_decision`
//! breaks while the money is all where it should be).

use crate::bank::{
    self, participant, Accounts, Bank, BankClient, BankMsg, BankNode, BankObserver, BankParams,
    BankSetup, BankTimer, ClientNodes, Ledger, RunState, Transfer, TxnId,
};
use crate::{ModelSpec, NodeInfo, ParamError, Params};
use serde::{Deserialize, Serialize};
use sim::history::History;
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::{Ctx, Message, NodeId, Observed, Part, Stopwatch, TimerId, World};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// The `[model]` table; the accounts and workload are its `[model.bank]` table, shared with
/// the other transfer model ([`BankParams`]).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SagaParams {
    pub kind: String,
    pub bug: Bug,
    /// The accounts and the workload.
    pub bank: BankParams,
    /// How often the orchestrator resends a step that has not been answered.
    #[serde(with = "crate::serde_duration")]
    pub step_retry: Duration,
}

impl Default for SagaParams {
    fn default() -> Self {
        SagaParams {
            kind: "saga".into(),
            bug: Bug::None,
            bank: BankParams::default(),
            step_retry: Duration::from_millis(300),
        }
    }
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// A refused credit ends the saga without refunding the debit.
        NoCompensation = "no-compensation",
        /// A compensated saga is reported to its client as committed ("the saga finished"):
        /// the client believes money moved that came back (`outcome_matches_decision` breaks).
        CompensatedReportedCommitted = "compensated-reported-committed",
    }
    unnamed {
        /// The orchestrator retries the debit and the credit, but sends the refund once.
        RefundNotRetried = "refund-not-retried",
        /// A participant runs a retried step again instead of answering with its result.
        StepRerun = "step-rerun",
    }
}

/// A saga's local transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Debit,
    Credit,
    /// The compensation of `Debit`.
    Refund,
}

impl Step {
    /// Where the step runs and what it does there: (account, balance change).
    fn effect(self, txn: &Transfer) -> (u32, i64) {
        match self {
            Step::Debit => (txn.from, -txn.amount),
            Step::Credit => (txn.to, txn.amount),
            Step::Refund => (txn.from, txn.amount),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Transfer {
        txn: Transfer,
        attempt: u32,
    },
    /// Run `step` of `txn`; the kind is the step's name.
    Step {
        txn: Transfer,
        step: Step,
    },
    /// A step's result, the same for every retry of it.
    StepDone(Applied),
    Outcome {
        id: TxnId,
        committed: bool,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "Transfer", "Debit", "Credit", "Refund", "StepDone", "Outcome",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Transfer { .. } => "Transfer",
            Msg::Step {
                step: Step::Debit, ..
            } => "Debit",
            Msg::Step {
                step: Step::Credit, ..
            } => "Credit",
            Msg::Step {
                step: Step::Refund, ..
            } => "Refund",
            Msg::StepDone { .. } => "StepDone",
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

/// Where a saga stands. `since` is when the debit committed: money has been in flight since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Debiting,
    Crediting { since: Stopwatch },
    Refunding { since: Stopwatch },
    Done { committed: bool },
}

/// What nodes write to their disks, always synced.
#[derive(Clone, Debug)]
pub enum Record {
    /// Orchestrator: a saga started.
    Begun { txn: Transfer },
    /// Orchestrator: a saga moved to `stage`.
    Advanced { id: TxnId, stage: Stage },
    /// Participant: the result of one step.
    Applied(Applied),
}

/// The result of one step: applied to the balance when `ok`, at `at`, which tells the
/// orchestrator, even across its own crashes, since when money has been in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Applied {
    pub id: TxnId,
    pub step: Step,
    pub account: u32,
    pub delta: i64,
    pub ok: bool,
    pub at: Stopwatch,
}

pub struct Setup {
    params: SagaParams,
    bank: Bank,
    orchestrator: NodeId,
}

sim::node_of_parts! {
    /// A node of the saga: the orchestrator, a participant or a client.
    pub struct SagaNode(Setup) {
        msg: Msg, timer: BankTimer, record: Record,
        role: Role { Orchestrator(Orchestrator), Participant(Participant), Client(BankClient<Setup>) }
    }
}

#[derive(Default)]
pub struct Orchestrator {
    sagas: BTreeMap<TxnId, Saga>,
}

struct Saga {
    txn: Transfer,
    /// Unknown after a recovery: the client will ask again.
    client: Option<NodeId>,
    stage: Stage,
    retry: Option<TimerId>,
}

impl Saga {
    /// The step the saga waits for, if any.
    fn pending_step(&self) -> Option<Step> {
        match self.stage {
            Stage::Debiting => Some(Step::Debit),
            Stage::Crediting { .. } => Some(Step::Credit),
            Stage::Refunding { .. } => Some(Step::Refund),
            Stage::Done { .. } => None,
        }
    }
}

pub struct Participant {
    me: NodeId,
    balances: Accounts,
    /// Every step's first answer, for idempotent retries.
    steps: BTreeMap<(TxnId, Step), Applied>,
}

impl Orchestrator {
    fn recover(disk: &[Record]) -> Orchestrator {
        let mut o = Orchestrator::default();
        for r in disk {
            match *r {
                Record::Begun { txn } => {
                    o.sagas.insert(
                        txn.id,
                        Saga {
                            txn,
                            client: None,
                            stage: Stage::Debiting,
                            retry: None,
                        },
                    );
                }
                Record::Advanced { id, stage } => {
                    o.sagas
                        .get_mut(&id)
                        .expect("a saga begins before it advances")
                        .stage = stage;
                }
                Record::Applied { .. } => unreachable!("participant record on the orchestrator"),
            }
        }
        o
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup) {
        let ids: Vec<TxnId> = self.sagas.keys().copied().collect();
        for id in ids {
            self.send_step(ctx, s, id);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup, from: NodeId, msg: Msg) {
        match msg {
            Msg::Transfer { txn, .. } => self.request(ctx, s, from, txn),
            Msg::StepDone(result) => self.step_done(ctx, s, result),
            _ => {}
        }
    }

    fn request(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup, client: NodeId, txn: Transfer) {
        if let Some(saga) = self.sagas.get_mut(&txn.id) {
            saga.client = Some(client);
            if let Stage::Done { committed } = saga.stage {
                ctx.send(
                    client,
                    Msg::Outcome {
                        id: txn.id,
                        committed,
                    },
                );
            }
            return;
        }
        // Unknown even after a crash means it never began (beginning is logged first).
        ctx.disk().append_synced(Record::Begun { txn });
        self.sagas.insert(
            txn.id,
            Saga {
                txn,
                client: Some(client),
                stage: Stage::Debiting,
                retry: None,
            },
        );
        self.send_step(ctx, s, txn.id);
    }

    fn step_done(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup, result: Applied) {
        let Applied { id, step, ok, .. } = result;
        let Some(saga) = self.sagas.get(&id) else {
            return;
        };
        if saga.pending_step() != Some(step) {
            return; // a duplicate answer to a step already handled
        }
        let next = match (saga.stage, ok) {
            (Stage::Debiting, true) => Stage::Crediting { since: result.at },
            (Stage::Debiting, false) => Stage::Done { committed: false },
            (Stage::Crediting { since }, true) => {
                ctx.record_elapsed("in_flight_ms", since);
                Stage::Done { committed: true }
            }
            (Stage::Crediting { .. }, false) if s.params.bug == Bug::NoCompensation => {
                Stage::Done { committed: false }
            }
            (Stage::Crediting { since }, false) => {
                ctx.metrics().add("compensations", 1);
                Stage::Refunding { since }
            }
            (Stage::Refunding { since }, _) => {
                debug_assert!(ok, "a refund cannot be refused");
                ctx.record_elapsed("in_flight_ms", since);
                Stage::Done { committed: false }
            }
            (Stage::Done { .. }, _) => unreachable!("a done saga waits for no step"),
        };
        // The bug: a saga that ends by its refund is reported as a success.
        let reported = matches!(saga.stage, Stage::Refunding { .. })
            && s.params.bug == Bug::CompensatedReportedCommitted;
        ctx.disk()
            .append_synced(Record::Advanced { id, stage: next });
        let saga = self.sagas.get_mut(&id).expect("checked above");
        saga.stage = next;
        if let Some(t) = saga.retry.take() {
            ctx.cancel_timer(t);
        }
        match next {
            Stage::Done { committed } => {
                let committed = committed || reported;
                if let Some(c) = saga.client {
                    ctx.send(c, Msg::Outcome { id, committed });
                }
            }
            _ => self.send_step(ctx, s, id),
        }
    }

    /// Sends the step the saga waits for and arms its retry.
    fn send_step(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup, id: TxnId) {
        let saga = self.sagas.get_mut(&id).expect("a known saga");
        let Some(step) = saga.pending_step() else {
            return;
        };
        saga.retry = Some(ctx.set_timer(s.params.step_retry, BankTimer::Txn(id)));
        let txn = saga.txn;
        let (account, _) = step.effect(&txn);
        ctx.send(s.bank.owner(account), Msg::Step { txn, step });
    }
}

impl Participant {
    fn recover(me: NodeId, bank: &Bank, disk: &[Record]) -> Participant {
        let mut p = Participant {
            me,
            balances: Accounts::new(bank),
            steps: BTreeMap::new(),
        };
        for r in disk {
            match *r {
                Record::Applied(a) => p.record(bank, a),
                _ => unreachable!("orchestrator record on a participant"),
            }
        }
        p
    }

    fn record(&mut self, bank: &Bank, a: Applied) {
        if a.ok {
            self.balances.add(bank.local(a.account), a.delta);
        }
        self.steps.insert((a.id, a.step), a);
    }

    /// Runs `step` as a local transaction, or answers again if it already ran.
    fn run(
        &mut self,
        ctx: &mut Ctx<'_, SagaNode>,
        s: &Setup,
        from: NodeId,
        txn: Transfer,
        step: Step,
    ) {
        let done = self.steps.get(&(txn.id, step));
        let result = match done.filter(|_| s.params.bug != Bug::StepRerun) {
            Some(&done) => done,
            None => {
                let (account, delta) = step.effect(&txn);
                debug_assert_eq!(s.bank.owner(account), self.me);
                let ok = step == Step::Refund
                    || s.bank
                        .allows(self.balances.get(s.bank.local(account)), delta);
                let a = Applied {
                    id: txn.id,
                    step,
                    account,
                    delta,
                    ok,
                    at: ctx.stopwatch(),
                };
                ctx.disk().append_synced(Record::Applied(a));
                self.record(&s.bank, a);
                a
            }
        };
        ctx.send(from, Msg::StepDone(result));
    }
}

impl Ledger for Participant {
    fn accounts(&self) -> &Accounts {
        &self.balances
    }
}

impl BankNode for SagaNode {
    type Participant = Participant;
    fn participant(&self) -> Option<&Participant> {
        match &self.role {
            Role::Participant(p) => Some(p),
            _ => None,
        }
    }
}

impl Part<SagaNode, Setup> for Orchestrator {
    fn on_start(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup) {
        Orchestrator::on_start(self, ctx, s);
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup, from: NodeId, msg: Msg) {
        Orchestrator::on_message(self, ctx, s, from, msg);
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup, _: TimerId, tag: BankTimer) {
        if let BankTimer::Txn(id) = tag {
            let refunding = self
                .sagas
                .get(&id)
                .map(|saga| matches!(saga.stage, Stage::Refunding { .. }));
            match refunding {
                Some(true) if s.params.bug == Bug::RefundNotRetried => {}
                Some(_) => self.send_step(ctx, s, id),
                None => {}
            }
        }
    }
}

impl Part<SagaNode, Setup> for Participant {
    fn on_start(&mut self, _: &mut Ctx<'_, SagaNode>, _: &Setup) {}
    fn on_message(&mut self, ctx: &mut Ctx<'_, SagaNode>, s: &Setup, from: NodeId, msg: Msg) {
        if let Msg::Step { txn, step } = msg {
            self.run(ctx, s, from, txn, step);
        }
    }
    fn on_timer(&mut self, _: &mut Ctx<'_, SagaNode>, _: &Setup, _: TimerId, _: BankTimer) {
        unreachable!("participants set no timers")
    }
}

/// The saga model: builds nodes and judges the run.
pub struct SagaModel {
    setup: Rc<Setup>,
    clients: ClientNodes,
    observer: BankObserver,
    in_flight_money_max: i64,
}

impl SagaModel {
    /// A handle on the outcomes clients were told, for tests: how many, how many still open.
    pub fn told(&self) -> RunState {
        self.setup.bank.run.clone()
    }
}

impl sim::Model for SagaModel {
    type Node = SagaNode;

    fn build(&mut self, id: NodeId, disk: &[Record]) -> SagaNode {
        let s = &self.setup;
        let role = if id == s.orchestrator {
            Role::Orchestrator(Orchestrator::recover(disk))
        } else if s.bank.participants.contains(&id) {
            Role::Participant(Participant::recover(id, &s.bank, disk))
        } else {
            Role::Client(self.clients.build(s, id))
        };
        SagaNode {
            setup: Rc::clone(s),
            role,
        }
    }

    fn phases(&self) -> &'static [&'static str] {
        &["debiting", "crediting", "refunding"]
    }

    /// The steps some saga is at, by the orchestrator's state (recovered from its disk while
    /// it is down).
    fn phases_now(&self, world: &World<'_, SagaNode>) -> u32 {
        let id = self.setup.orchestrator;
        let recovered;
        let orchestrator = match world.nodes[id.index()].as_ref().map(|n| &n.role) {
            Some(Role::Orchestrator(o)) => o,
            _ => {
                recovered = Orchestrator::recover(world.disk(id).synced());
                &recovered
            }
        };
        orchestrator.sagas.values().fold(0, |under_way, saga| {
            under_way
                | match saga.stage {
                    Stage::Debiting => 1,
                    Stage::Crediting { .. } => 2,
                    Stage::Refunding { .. } => 4,
                    Stage::Done { .. } => 0,
                }
        })
    }

    fn observe(&mut self, world: &World<'_, SagaNode>, event: Observed, metrics: &mut Metrics) {
        settle_told(world, &self.setup);
        if self
            .observer
            .observe(world, event, metrics, declare_metrics)
            .is_none()
        {
            return;
        }
        let s = &*self.setup;
        // What a reader summing every account would see missing right now.
        let Ok(total) = s.bank.balances_now(world) else {
            return;
        };
        self.in_flight_money_max = self.in_flight_money_max.max(s.bank.total() - total);
    }

    fn finish(
        &mut self,
        world: &World<'_, SagaNode>,
        _history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        self.observer
            .finish_metrics(metrics, declare_metrics, world.stats());
        metrics.add(
            "in_flight_money_max",
            self.in_flight_money_max.max(0) as u64,
        );
        let s = &*self.setup;
        vec![
            conservation(world, s),
            self.observer.no_negative_verdict(),
            saga_completes(world, s),
            outcome_matches_decision(world, s),
        ]
    }
}

fn declare_metrics(metrics: &mut Metrics) {
    bank::declare_metrics(metrics);
    metrics.declare("in_flight_ms");
    metrics.declare_counter("compensations");
}

/// The orchestrator's state, if it is up.
fn orchestrator<'w>(world: &'w World<'_, SagaNode>, s: &Setup) -> Option<&'w Orchestrator> {
    match world.nodes[s.orchestrator.index()]
        .as_ref()
        .map(|n| &n.role)
    {
        Some(Role::Orchestrator(o)) => Some(o),
        _ => None,
    }
}

/// Whether `step` of `txn` was applied (and not refused) at its participant; false while
/// that participant is down.
fn applied(world: &World<'_, SagaNode>, s: &Setup, txn: &Transfer, step: Step) -> bool {
    let owner = s.bank.owner(step.effect(txn).0);
    participant(world, owner).and_then(|p| p.steps.get(&(txn.id, step)).map(|a| a.ok)) == Some(true)
}

/// At quiescence, the accounts plus the money that unfinished sagas hold — their debit
/// applied, neither the credit nor the refund yet — sum to the initial total. A saga still
/// running at the end has its money in flight, not lost (`saga_completes` reports it); a
/// saga that finished without crediting or refunding its debit (`no-compensation`) left
/// that money nowhere, and this fails.
fn conservation(world: &World<'_, SagaNode>, s: &Setup) -> Verdict {
    if let Some(unknown) = world.unsettled("conservation") {
        return unknown;
    }
    let total = match s.bank.balances_now(world) {
        Ok(total) => total,
        Err(q) => {
            return Verdict::unknown(
                "conservation",
                format!("{} is down at the end", world.name(q)),
            )
        }
    };
    let Some(o) = orchestrator(world, s) else {
        return Verdict::unknown("conservation", "the orchestrator is down at the end");
    };
    let (mut held, mut holding) = (0i128, 0usize);
    for saga in o.sagas.values() {
        let t = &saga.txn;
        if !matches!(saga.stage, Stage::Done { .. })
            && applied(world, s, t, Step::Debit)
            && !applied(world, s, t, Step::Credit)
            && !applied(world, s, t, Step::Refund)
        {
            held += i128::from(t.amount);
            holding += 1;
        }
    }
    let expected = s.bank.total();
    let missing = i128::from(expected) - i128::from(total) - held;
    let in_flight = if holding == 0 {
        String::new()
    } else {
        format!(", and {holding} unfinished saga(s) hold {held} in flight")
    };
    if missing == 0 {
        Verdict::holds(
            "conservation",
            format!("all accounts sum to {total} at quiescence{in_flight}"),
        )
    } else {
        let damage = if missing > 0 {
            format!("{missing} lost")
        } else {
            format!("{} created", -missing)
        };
        Verdict::violated(
            "conservation",
            format!(
                "at quiescence all accounts sum to {total}{in_flight}, not {expected}: {damage}"
            ),
        )
    }
}

/// Each outcome a client was told matches the participants: a committed transfer is debited
/// and credited, not refunded; an aborted one is not credited, and refunded if debited.
fn outcome_matches_decision(world: &World<'_, SagaNode>, s: &Setup) -> Verdict {
    bank::outcome_matches_decision(&s.bank, world, |t, committed| {
        told_contradiction(world, s, t, committed)
    })
}

/// How the databases contradict the outcome `committed` a client was told for `t`
/// (`Ok(None)`: they do not); `Err` names a participant that is down.
fn told_contradiction(
    world: &World<'_, SagaNode>,
    s: &Setup,
    t: &Transfer,
    committed: bool,
) -> Result<Option<String>, String> {
    for q in s.bank.pair(t) {
        if participant(world, q).is_none() {
            return Err(world.name(q).to_string());
        }
    }
    let (debit, credit, refund) = (
        applied(world, s, t, Step::Debit),
        applied(world, s, t, Step::Credit),
        applied(world, s, t, Step::Refund),
    );
    let matches = if committed {
        debit && credit && !refund
    } else {
        !credit && (!debit || refund)
    };
    Ok((!matches)
        .then(|| format!("the databases have debit={debit} credit={credit} refund={refund}")))
}

/// Settles the told outcomes that can no longer change: once a saga is `Done` (durably, at
/// the orchestrator) every step it ever sent has its first answer recorded, synced, at its
/// participant, and a recorded answer never changes; so if the databases match the outcome
/// now, they match it at the end.
fn settle_told(world: &World<'_, SagaNode>, s: &Setup) {
    let Some(o) = orchestrator(world, s) else {
        return;
    };
    s.bank.sweep_told(|t, committed| {
        o.sagas
            .get(&t.id)
            .is_some_and(|saga| matches!(saga.stage, Stage::Done { .. }))
            && told_contradiction(world, s, t, committed) == Ok(None)
    });
}

fn saga_completes(world: &World<'_, SagaNode>, s: &Setup) -> Verdict {
    if let Some(unknown) = world.unsettled("saga_completes") {
        return unknown;
    }
    let Some(o) = orchestrator(world, s) else {
        return Verdict::unknown("saga_completes", "the orchestrator is down at the end");
    };
    let applied = |txn: &Transfer, step: Step| applied(world, s, txn, step);
    let mut broken = Vec::new();
    let (mut committed, mut compensated) = (0, 0);
    for (id, saga) in &o.sagas {
        let t = &saga.txn;
        let (debit, credit, refund) = (
            applied(t, Step::Debit),
            applied(t, Step::Credit),
            applied(t, Step::Refund),
        );
        match (saga.stage, debit, credit, refund) {
            (Stage::Done { committed: true }, true, true, false) => committed += 1,
            (Stage::Done { committed: false }, false, false, false)
            | (Stage::Done { committed: false }, true, false, true) => compensated += 1,
            (stage, ..) => broken.push(format!(
                "saga {id} (move {} from account {} to {}) ended {stage:?} with debit={debit} credit={credit} refund={refund}",
                t.amount, t.from, t.to
            )),
        }
    }
    match broken.first() {
        None => Verdict::holds(
            "saga_completes",
            format!("{committed} saga(s) committed, {compensated} aborted or compensated, none left half-done"),
        ),
        Some(first) => Verdict::violated(
            "saga_completes",
            format!("{first} ({} saga(s) neither committed nor compensated)", broken.len()),
        ),
    }
}

impl Params for SagaParams {
    type Model = SagaModel;
    const SPEC: ModelSpec = ModelSpec {
        kind: "saga",
        summary: "orchestrated saga: debit, credit, refund on failure; retried idempotent steps, money visibly in flight",
        invariants: &[
            "conservation",
            "no_negative_balance",
            "saga_completes",
            "outcome_matches_decision",
        ],
        metrics: &[
            "transfer_latency_ms",
            "in_flight_ms",
            "in_flight_money_max",
            "transfers",
            "committed",
            "aborts",
            "compensations",
            "messages",
            "messages_per_txn",
        ],
        bugs: Bug::KNOWN,
        unnamed_bugs: Bug::UNNAMED,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<SagaModel, ParamError> {
        let (orchestrator, clients) = bank::coordinator_and_clients(nodes)?;
        if self.step_retry.is_zero() {
            return Err(ParamError::new("model.step_retry", "must be positive"));
        }
        let bank = self.bank.bank(nodes)?;
        Ok(SagaModel {
            clients,
            setup: Rc::new(Setup {
                params: self,
                bank,
                orchestrator,
            }),
            observer: BankObserver::default(),
            in_flight_money_max: 0,
        })
    }
}

impl BankSetup for Setup {
    type Node = SagaNode;
    fn bank(&self) -> &Bank {
        &self.bank
    }
    fn coordinator(&self) -> NodeId {
        self.orchestrator
    }
}
