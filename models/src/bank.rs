//! The bank that the transaction models move money in, and the clients that move it.
//!
//! Accounts are numbered `0 .. participants × accounts_per_participant` and partitioned in
//! blocks: participant `p` (the `p`-th node with role `participant`) owns accounts
//! `p·k .. (p+1)·k`. A client repeatedly draws a transfer between two accounts owned by
//! *different* participants, sends it to the coordinator, and waits for its outcome,
//! resending it (same transaction id, higher `attempt`) until it gets one.
//!
//! Both `two_phase_commit` and `saga` use this module, and clients draw every transfer and
//! think time from `Ctx::workload_rng` in the same order, so for a given seed both models —
//! and every fault setting — see the same sequence of transfers (common random numbers).
//!
//! Business rules, the same in both models so that their abort rates compare: a debit needs
//! the balance to cover the amount, and a credit may not push an account above
//! `max_balance` (a per-account limit, the reason a *later* step can fail and a saga must
//! compensate).

use crate::{check_roles, nodes_with_role, NodeInfo, ParamError};
use sim::dist::Dist;
use sim::invariant::{OnlineCheck, Verdict};
use sim::metrics::Metrics;
use sim::{Ctx, Message, Node, NodeId, Observed, Stopwatch, TimerId, World};
use std::time::Duration;

/// A transaction id, unique across clients and client restarts.
pub type TxnId = u64;

/// One transfer of `amount` from account `from` to account `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transfer {
    pub id: TxnId,
    pub from: u32,
    pub to: u32,
    pub amount: i64,
}

/// The accounts and the workload, resolved from a model's parameters.
#[derive(Clone, Debug)]
pub struct Bank {
    /// Participant nodes, in account-block order.
    pub participants: Vec<NodeId>,
    pub accounts_per_participant: u32,
    pub initial_balance: i64,
    pub max_balance: i64,
    /// Amounts are uniform in `1 ..= amount_max`.
    pub amount_max: i64,
    pub think_time: Dist,
    /// How long a client waits for an outcome before resending its request.
    pub client_retry: Duration,
}

impl Bank {
    /// Checks the parameters against each other; `participants` come from the roles.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.participants.len() < 2 {
            return Err(ParamError::new(
                "nodes",
                format!(
                    "needs at least two nodes with role `participant` (a transfer crosses databases), found {}",
                    self.participants.len()
                ),
            ));
        }
        if self.accounts_per_participant == 0 {
            return Err(ParamError::new(
                "model.accounts_per_participant",
                "must be at least 1",
            ));
        }
        if self.initial_balance < 0 || self.max_balance < self.initial_balance {
            return Err(ParamError::new(
                "model.max_balance",
                format!(
                    "needs 0 <= initial_balance <= max_balance, got {} and {}",
                    self.initial_balance, self.max_balance
                ),
            ));
        }
        if self.amount_max < 1 {
            return Err(ParamError::new("model.amount_max", "must be at least 1"));
        }
        if self.client_retry.is_zero() {
            return Err(ParamError::new("model.client_retry", "must be positive"));
        }
        Ok(())
    }

    /// The participant that owns `account`.
    pub fn owner(&self, account: u32) -> NodeId {
        self.participants[(account / self.accounts_per_participant) as usize]
    }

    /// The index of `account` within its owner's accounts.
    pub fn local(&self, account: u32) -> usize {
        (account % self.accounts_per_participant) as usize
    }

    /// The two participants of a transfer: the debited one first.
    pub fn pair(&self, t: &Transfer) -> [NodeId; 2] {
        [self.owner(t.from), self.owner(t.to)]
    }

    /// The other participant of a transfer.
    pub fn peer(&self, t: &Transfer, me: NodeId) -> NodeId {
        let [a, b] = self.pair(t);
        if a == me {
            b
        } else {
            a
        }
    }

    /// What a transfer does at participant `me`: (local account index, balance change).
    pub fn effect_at(&self, t: &Transfer, me: NodeId) -> (usize, i64) {
        if self.owner(t.from) == me {
            (self.local(t.from), -t.amount)
        } else {
            debug_assert_eq!(self.owner(t.to), me, "{me:?} is not a participant of {t:?}");
            (self.local(t.to), t.amount)
        }
    }

    /// Whether the business rules allow `balance` to change by `delta`.
    pub fn allows(&self, balance: i64, delta: i64) -> bool {
        let after = balance + delta;
        if delta < 0 {
            after >= 0
        } else {
            after <= self.max_balance
        }
    }

    /// The sum of every account's balance at the start (and, conserved, at any quiet moment).
    pub fn total(&self) -> i64 {
        self.participants.len() as i64
            * i64::from(self.accounts_per_participant)
            * self.initial_balance
    }

    pub fn initial_balances(&self) -> Vec<i64> {
        vec![self.initial_balance; self.accounts_per_participant as usize]
    }

    /// Draws the next transfer from the workload stream: two different participants, an
    /// account in each, an amount. The number of draws never depends on the outcome.
    fn draw(&self, ctx_rng: &mut sim::rng::Rng, id: TxnId) -> Transfer {
        let p = self.participants.len() as u64;
        let k = u64::from(self.accounts_per_participant);
        let a = ctx_rng.below(p);
        let b = (a + 1 + ctx_rng.below(p - 1)) % p;
        let from = (a * k + ctx_rng.below(k)) as u32;
        let to = (b * k + ctx_rng.below(k)) as u32;
        let amount = 1 + ctx_rng.below(self.amount_max as u64) as i64;
        Transfer {
            id,
            from,
            to,
            amount,
        }
    }
}

/// A model's message type, as far as clients are concerned.
pub trait BankMsg: Message {
    /// A client's request to run `transfer`; `attempt` is 0 the first time.
    fn request(transfer: Transfer, attempt: u32) -> Self;
}

/// Client timer tags (client nodes use no other timers).
pub const CLIENT_NEXT: u64 = 1;
pub const CLIENT_RETRY: u64 = 2;

/// A closed-loop client: one transfer at a time, think time between transfers.
pub struct Client {
    next_id: TxnId,
    pending: Option<Pending>,
}

struct Pending {
    transfer: Transfer,
    attempt: u32,
    started: Stopwatch,
    retry: TimerId,
}

impl Client {
    /// `ordinal` numbers the clients, `incarnation` counts this client's restarts: both go
    /// into the transaction ids, which therefore never repeat.
    pub fn new(ordinal: usize, incarnation: u64) -> Client {
        assert!(
            incarnation < 1 << 12,
            "too many client restarts for the id space"
        );
        Client {
            next_id: ((ordinal as u64 + 1) << 40) | (incarnation << 28),
            pending: None,
        }
    }

    pub fn start<N: Node>(&mut self, ctx: &mut Ctx<'_, N>, bank: &Bank) {
        schedule_next(ctx, bank);
    }

    pub fn on_timer<N: Node>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        tag: u64,
        bank: &Bank,
        coordinator: NodeId,
    ) where
        N::Msg: BankMsg,
    {
        match tag {
            CLIENT_NEXT => self.issue(ctx, bank, coordinator),
            CLIENT_RETRY => {
                // Keep asking, even while settling: the outcome is what we are waiting for.
                if let Some(p) = &mut self.pending {
                    p.attempt += 1;
                    p.retry = ctx.set_timer(bank.client_retry, CLIENT_RETRY);
                    send(ctx, coordinator, N::Msg::request(p.transfer, p.attempt));
                }
            }
            _ => unreachable!("clients set no timer with tag {tag}"),
        }
    }

    fn issue<N: Node>(&mut self, ctx: &mut Ctx<'_, N>, bank: &Bank, coordinator: NodeId)
    where
        N::Msg: BankMsg,
    {
        if ctx.is_settling() || self.pending.is_some() {
            return;
        }
        let transfer = bank.draw(ctx.workload_rng(), self.next_id);
        self.next_id += 1;
        let retry = ctx.set_timer(bank.client_retry, CLIENT_RETRY);
        self.pending = Some(Pending {
            transfer,
            attempt: 0,
            started: ctx.stopwatch(),
            retry,
        });
        ctx.metrics().add("transfers", 1);
        send(ctx, coordinator, N::Msg::request(transfer, 0));
    }

    /// The coordinator's answer for `id`; duplicates and answers to old requests are ignored.
    pub fn on_outcome<N: Node>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        id: TxnId,
        committed: bool,
        bank: &Bank,
    ) {
        let Some(p) = self.pending.take_if(|p| p.transfer.id == id) else {
            return;
        };
        ctx.cancel_timer(p.retry);
        ctx.record_elapsed("transfer_latency_ms", p.started);
        ctx.metrics()
            .add(if committed { "committed" } else { "aborts" }, 1);
        schedule_next(ctx, bank);
    }
}

/// Arms the timer for the client's next transfer, after a think time.
fn schedule_next<N: Node>(ctx: &mut Ctx<'_, N>, bank: &Bank) {
    let wait = bank.think_time.sample(ctx.workload_rng());
    ctx.set_timer(Duration::from_nanos(wait), CLIENT_NEXT);
}

/// Sends `msg` and counts it in `messages`, for `messages_per_txn`.
pub fn send<N: Node>(ctx: &mut Ctx<'_, N>, to: NodeId, msg: N::Msg) {
    ctx.metrics().add("messages", 1);
    ctx.send(to, msg);
}

/// The one node with role `coordinator` (the saga's orchestrator uses the same role).
pub(crate) fn single_coordinator(nodes: &[NodeInfo]) -> Result<NodeId, ParamError> {
    let found = nodes_with_role(nodes, "coordinator");
    match found[..] {
        [c] => Ok(c),
        _ => Err(ParamError::new(
            "nodes",
            format!(
                "needs exactly one node with role `coordinator`, found {}",
                found.len()
            ),
        )),
    }
}

/// Checks the roles a bank model needs (`coordinator`, `participant`, `client`, nothing
/// else) and returns the single coordinator and the clients.
pub fn coordinator_and_clients(nodes: &[NodeInfo]) -> Result<(NodeId, ClientNodes), ParamError> {
    check_roles(nodes, &["coordinator", "participant", "client"])?;
    let coordinator = single_coordinator(nodes)?;
    let clients = ClientNodes::from_roles(nodes)?;
    Ok((coordinator, clients))
}

/// The client nodes of a bank model, with how many times each has been built, so that a
/// restarted client gets a new incarnation (and fresh transaction ids).
pub struct ClientNodes {
    ids: Vec<NodeId>,
    builds: Vec<u64>,
}

impl ClientNodes {
    /// The nodes with role `client`; a bank model needs at least one.
    pub fn from_roles(nodes: &[NodeInfo]) -> Result<ClientNodes, ParamError> {
        let ids = nodes_with_role(nodes, "client");
        if ids.is_empty() {
            return Err(ParamError::new(
                "nodes",
                "needs at least one node with role `client`",
            ));
        }
        Ok(ClientNodes {
            builds: vec![0; ids.len()],
            ids,
        })
    }

    /// Builds the client on node `id`, at start or after a crash, as its next incarnation.
    /// Panics if `id` is not a client: every node has a role.
    pub fn build(&mut self, id: NodeId) -> Client {
        let ordinal = self
            .ids
            .iter()
            .position(|&c| c == id)
            .expect("every node has a role");
        self.builds[ordinal] += 1;
        Client::new(ordinal, self.builds[ordinal] - 1)
    }
}

/// A participant's accounts, as the shared checks see them.
pub(crate) trait Ledger {
    /// The balances of the accounts this participant owns, in local order.
    fn balances(&self) -> &[i64];
}

/// A bank model's node type, as the shared checks see it: some nodes are participants.
pub(crate) trait BankNode: Node {
    /// The model's participant state.
    type Participant: Ledger;
    /// This node's participant state, if it is a participant.
    fn participant(&self) -> Option<&Self::Participant>;
}

/// The participant state of node `id`, if it is a participant and up.
pub(crate) fn participant<'w, N: BankNode>(
    world: &'w World<'_, N>,
    id: NodeId,
) -> Option<&'w N::Participant> {
    world.nodes[id.index()].as_ref().and_then(N::participant)
}

impl Bank {
    /// Sums `value` over every participant, in order; `Err` names the first participant
    /// that is down or for which `value` is `None` (the sum is then unknown).
    pub(crate) fn sum_over_participants<N: BankNode>(
        &self,
        world: &World<'_, N>,
        mut value: impl FnMut(&N::Participant) -> Option<i64>,
    ) -> Result<i64, NodeId> {
        let mut total = 0;
        for &q in &self.participants {
            match participant(world, q).and_then(&mut value) {
                Some(v) => total += v,
                None => return Err(q),
            }
        }
        Ok(total)
    }

    /// The sum of every account's balance right now; `Err` names a participant that is down.
    pub(crate) fn balances_now<N: BankNode>(&self, world: &World<'_, N>) -> Result<i64, NodeId> {
        self.sum_over_participants(world, |p| Some(p.balances().iter().sum::<i64>()))
    }
}

/// What both bank models watch the same way while a run goes on: that the metrics are
/// declared once, early, and the online `no_negative_balance` invariant.
#[derive(Default)]
pub struct BankObserver {
    declared: bool,
    no_negative: OnlineCheck,
}

impl BankObserver {
    /// The shared start of `Model::observe`: on the first event declares the metrics with
    /// `declare`; then, if `event` changed a participant that is up, checks that none of its
    /// balances is negative and returns that participant's node, for the model's own checks.
    pub(crate) fn observe<N: BankNode>(
        &mut self,
        world: &World<'_, N>,
        event: Observed,
        metrics: &mut Metrics,
        declare: fn(&mut Metrics),
    ) -> Option<NodeId> {
        if !self.declared {
            declare(metrics);
            self.declared = true;
        }
        let changed = match event {
            Observed::Delivered { to, .. } => to,
            Observed::Started(n) | Observed::TimerFired(n) => n,
            Observed::Crashed(_) => return None,
        };
        let p = participant(world, changed)?;
        if let Some(&b) = p.balances().iter().find(|&&b| b < 0) {
            self.no_negative.violate(|| {
                format!(
                    "at t={}: an account of {} holds {b}",
                    world.now,
                    world.name(changed)
                )
            });
        }
        Some(changed)
    }

    /// The shared start of `Model::finish`: declares the metrics with `declare` (in case no
    /// event was observed) and reports `messages_per_txn`.
    pub fn finish_metrics(&self, metrics: &mut Metrics, declare: fn(&mut Metrics)) {
        declare(metrics);
        report_messages_per_txn(metrics);
    }

    /// The `no_negative_balance` verdict.
    pub fn no_negative_verdict(&self) -> Verdict {
        self.no_negative.verdict(
            "no_negative_balance",
            "no participant ever held a negative balance",
        )
    }
}

/// Declares the metrics every bank model reports, so they show up even when empty.
pub fn declare_metrics(metrics: &mut Metrics) {
    use sim::metrics::Unit;
    metrics.declare("transfer_latency_ms", Unit::Nanos);
    for counter in ["transfers", "committed", "aborts", "messages"] {
        metrics.declare_counter(counter);
    }
}

/// `messages_per_txn`: every message sent (client requests and retries included) divided
/// by the transfers issued, rounded; a counter because the kernel does not attribute
/// messages to transactions.
pub fn report_messages_per_txn(metrics: &mut Metrics) {
    let transfers = metrics.counter("transfers").unwrap_or(0);
    let messages = metrics.counter("messages").unwrap_or(0);
    let per_txn = (messages + transfers / 2)
        .checked_div(transfers)
        .unwrap_or(0);
    metrics.add("messages_per_txn", per_txn);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bank() -> Bank {
        Bank {
            participants: vec![NodeId(1), NodeId(2), NodeId(3)],
            accounts_per_participant: 4,
            initial_balance: 100,
            max_balance: 150,
            amount_max: 60,
            think_time: Dist::Constant(1),
            client_retry: Duration::from_secs(1),
        }
    }

    #[test]
    fn transfers_cross_participants_and_repeat_per_seed() {
        let b = bank();
        let draws = |seed| {
            let mut rng = sim::rng::Rng::stream(seed, "workload/client");
            (0..200).map(|i| b.draw(&mut rng, i)).collect::<Vec<_>>()
        };
        let ts = draws(7);
        assert_eq!(ts, draws(7));
        for t in &ts {
            assert_ne!(b.owner(t.from), b.owner(t.to), "{t:?}");
            assert!((1..=60).contains(&t.amount));
            let [a, c] = b.pair(t);
            assert_eq!(b.effect_at(t, a).1 + b.effect_at(t, c).1, 0);
        }
    }

    #[test]
    fn business_rules() {
        let b = bank();
        assert!(b.allows(100, -100) && !b.allows(99, -100));
        assert!(b.allows(100, 50) && !b.allows(101, 50));
        assert_eq!(b.total(), 1200);
    }
}
