//! The bank that the transaction models move money in, and the clients that move it.
//!
//! Accounts are numbered `0 .. participants × accounts_per_participant` and partitioned in
//! blocks: participant `p` (the `p`-th node with role `participant`) owns accounts
//! `p·k .. (p+1)·k`. A client (the generic [`sim::client::Client`] with the
//! [`BankWorkload`]) repeatedly draws a transfer between two accounts owned by *different*
//! participants, sends it to the coordinator, and waits for its outcome, resending it (same
//! transaction id, higher `attempt`: [`OnTimeout::Retry`]) until it gets one.
//!
//! Both `two_phase_commit` and `saga` use this module, and clients draw every transfer from
//! `Ctx::workload_rng` (think times from `Ctx::think_rng`), so for a given seed both models —
//! and every fault setting — see the same sequence of transfers (common random numbers).
//!
//! Business rules, the same in both models so that their abort rates compare: a debit needs
//! the balance to cover the amount, and a credit may not push an account above
//! `max_balance` (a per-account limit, the reason a *later* step can fail and a saga must
//! compensate).

use crate::{check_roles, nodes_with_role, NodeInfo, ParamError};
use serde::{Deserialize, Serialize};
use sim::client::{Client, ClientConfig, ClientTimer, Completion, OnTimeout, RequestId, Workload};
use sim::dist::Dist;
use sim::history::Value;
use sim::invariant::{OnlineCheck, Verdict};
use sim::metrics::Metrics;
use sim::rng::Rng;
use sim::{Ctx, Message, Node, NodeId, Observed, Stats, World};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// A transaction id: the client's request id, unique across clients and client restarts.
pub type TxnId = RequestId;

/// One transfer of `amount` from account `from` to account `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transfer {
    pub id: TxnId,
    pub from: u32,
    pub to: u32,
    pub amount: i64,
}

/// The `[model.bank]` table both transfer models read: the accounts and the workload. A
/// nested table rather than `#[serde(flatten)]`, which would disable `deny_unknown_fields`
/// (and with it the located error on a misspelt key). [`Bank`] is where their meaning lives.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BankParams {
    pub accounts_per_participant: u32,
    pub initial_balance: i64,
    /// No credit may push an account above this (a saga's refunds may).
    pub max_balance: i64,
    /// Transfer amounts are uniform in `1 ..= amount_max`.
    pub amount_max: i64,
    /// Think time between a client's transfers.
    pub think_time: Dist,
    /// How long a client waits for an outcome before asking again.
    #[serde(with = "crate::serde_duration")]
    pub client_retry: Duration,
}

impl Default for BankParams {
    fn default() -> Self {
        BankParams {
            accounts_per_participant: 10,
            initial_balance: 1000,
            max_balance: 2000,
            amount_max: 300,
            think_time: Dist::Exponential { mean: 100_000_000 },
            client_retry: Duration::from_secs(1),
        }
    }
}

impl BankParams {
    /// The bank over the nodes with role `participant`, validated.
    pub fn bank(&self, nodes: &[NodeInfo]) -> Result<Bank, ParamError> {
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
        Ok(bank)
    }
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
    /// Bookkeeping the model and its nodes share during a run; `RunState::default()`.
    pub run: RunState,
}

/// Run-wide bookkeeping shared, through the model's `Rc` setup, by the model and every node
/// it builds, and kept across node crashes: the outcomes clients were told. It is not
/// protocol state — no node decides anything from it — and the simulation is
/// single-threaded and deterministic, so it evolves the same on every replay. A handle:
/// clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct RunState {
    told: Rc<RefCell<Told>>,
}

/// The outcomes clients accepted, for `outcome_matches_decision`: kept here because a client
/// that crashes forgets what it was told. An outcome is dropped once the databases' state
/// for it is final and matches it ([`RunState::sweep`]), so memory follows the outcomes
/// still open, not the length of the run; the verdict is the one judging every outcome at
/// the end would give.
#[derive(Debug, Default)]
struct Told {
    /// Outcomes accepted so far.
    count: u64,
    /// The outcomes not yet settled, in the order they were told: (index among all told,
    /// transfer, committed).
    open: Vec<(u64, Transfer, bool)>,
    /// `open.len()` after the last sweep: the next sweep waits until it has doubled.
    swept: usize,
    /// Per participant, the first settled (dropped) outcome whose transfer involves it: if
    /// that participant is down at the end, judging every outcome would have stopped there
    /// with an unknown verdict, and still does.
    first_settled: std::collections::BTreeMap<NodeId, (u64, [NodeId; 2])>,
}

/// Open outcomes below this many are not swept: sweeping tiny lists gains nothing.
const SWEEP_FLOOR: usize = 1024;

impl RunState {
    /// A client accepted `committed` as the outcome of `t`.
    fn tell(&self, t: Transfer, committed: bool) {
        let mut told = self.told.borrow_mut();
        let index = told.count;
        told.count += 1;
        told.open.push((index, t, committed));
    }

    /// How many outcomes clients accepted so far.
    pub fn told(&self) -> u64 {
        self.told.borrow().count
    }

    /// How many of them are kept, not yet settled.
    pub fn open(&self) -> usize {
        self.told.borrow().open.len()
    }

    /// Drops every open outcome that `settled` says is final and right — its databases'
    /// state can no longer change in a way that contradicts it, and does not now — once the
    /// open list has doubled since the last sweep (amortised O(1) per outcome). `pair`
    /// gives a transfer's two participants, debited first. Called by the models' `observe`.
    pub(crate) fn sweep(
        &self,
        pair: impl Fn(&Transfer) -> [NodeId; 2],
        mut settled: impl FnMut(&Transfer, bool) -> bool,
    ) {
        let mut told = self.told.borrow_mut();
        if told.open.len() < told.swept.max(SWEEP_FLOOR) * 2 {
            return;
        }
        let Told {
            open,
            first_settled,
            ..
        } = &mut *told;
        open.retain(|&(index, t, committed)| {
            if !settled(&t, committed) {
                return true;
            }
            let p = pair(&t);
            for q in p {
                first_settled.entry(q).or_insert((index, p));
            }
            false
        });
        told.swept = told.open.len();
    }

    /// The `outcome_matches_decision` verdict over every outcome told, as if each were
    /// judged now: `down` says whether a participant is down (the verdict is then unknown,
    /// naming the first down participant of the first outcome in told order that involves
    /// one); `contradiction` says, for an open outcome, how the databases contradict it
    /// (`Ok(None)`: they do not; `Err`: a participant, named, is down).
    fn verdict(
        &self,
        down: impl Fn(NodeId) -> Option<String>,
        mut contradiction: impl FnMut(&Transfer, bool) -> Result<Option<String>, String>,
    ) -> Verdict {
        const NAME: &str = "outcome_matches_decision";
        let told = self.told.borrow();
        // The first settled outcome that a down participant would have made unknown.
        let settled_down = told
            .first_settled
            .values()
            .filter_map(|&(index, pair)| {
                let name = pair.iter().find_map(|&q| down(q))?;
                Some((index, name))
            })
            .min_by_key(|(index, _)| *index);
        let mut wrong = Vec::new();
        for &(index, t, committed) in &told.open {
            if let Some((first, name)) = &settled_down {
                if *first < index {
                    return Verdict::unknown(NAME, format!("{name} is down at the end"));
                }
            }
            match contradiction(&t, committed) {
                Ok(None) => {}
                Ok(Some(why)) => wrong.push(format!(
                    "txn {} (move {} from account {} to {}): the client was told {} but {why}",
                    t.id,
                    t.amount,
                    t.from,
                    t.to,
                    if committed { "committed" } else { "aborted" }
                )),
                Err(down) => return Verdict::unknown(NAME, format!("{down} is down at the end")),
            }
        }
        if let Some((_, name)) = settled_down {
            return Verdict::unknown(NAME, format!("{name} is down at the end"));
        }
        match wrong.first() {
            None => Verdict::holds(
                NAME,
                format!(
                    "each of the {} outcomes clients were told matches the databases",
                    told.count
                ),
            ),
            Some(first) => {
                Verdict::violated(NAME, format!("{first} ({} wrong outcome(s))", wrong.len()))
            }
        }
    }
}

/// The most accounts a bank holds, over all participants (~32 bytes each per holder).
pub const MAX_ACCOUNTS: u64 = 1 << 22;

/// The shortest client retry interval: below a millisecond a retry storm only burns events
/// (`client_retry = "1ns"` ran for minutes without output).
pub const MIN_CLIENT_RETRY: Duration = Duration::from_millis(1);

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
                "model.bank.accounts_per_participant",
                "must be at least 1",
            ));
        }
        // Every participant holds a balance and a lock per account, allocated when it starts:
        // the total is bounded so that a large count is an error, not gigabytes of memory
        // (this also keeps account numbers within `u32`).
        let accounts = self.participants.len() as u64 * u64::from(self.accounts_per_participant);
        if accounts > MAX_ACCOUNTS {
            return Err(ParamError::new(
                "model.bank.accounts_per_participant",
                format!(
                    "{} participants × {} accounts is {accounts} accounts, more than {MAX_ACCOUNTS} \
                     (each holds a balance and a lock in memory)",
                    self.participants.len(),
                    self.accounts_per_participant
                ),
            ));
        }
        if self.initial_balance < 0 || self.max_balance < self.initial_balance {
            return Err(ParamError::new(
                "model.bank.max_balance",
                format!(
                    "needs 0 <= initial_balance <= max_balance, got {} and {}",
                    self.initial_balance, self.max_balance
                ),
            ));
        }
        // Sums of balances are `i64`s. Under 2PC every balance stays in 0 ..= max_balance;
        // a saga never creates money, so every balance and sum stays within the initial
        // total. Bounding every account at `max_balance` therefore bounds every sum the
        // models and their checks compute (and `total()` with it, as initial <= max).
        let fits = |per_account: i64| {
            i128::from(per_account) * i128::from(accounts) <= i128::from(i64::MAX)
        };
        if !fits(self.initial_balance) {
            return Err(ParamError::new(
                "model.bank.initial_balance",
                format!(
                    "{accounts} accounts of {} each hold more than {} in total",
                    self.initial_balance,
                    i64::MAX
                ),
            ));
        }
        if !fits(self.max_balance) {
            return Err(ParamError::new(
                "model.bank.max_balance",
                format!(
                    "{accounts} accounts of up to {} each could hold more than {} in total",
                    self.max_balance,
                    i64::MAX
                ),
            ));
        }
        if self.amount_max < 1 {
            return Err(ParamError::new(
                "model.bank.amount_max",
                "must be at least 1",
            ));
        }
        if self.client_retry < MIN_CLIENT_RETRY {
            return Err(ParamError::new(
                "model.bank.client_retry",
                format!(
                    "must be at least {} (faster retries flood the run with events and measure nothing)",
                    sim::time::format_nanos(sim::time::nanos(MIN_CLIENT_RETRY))
                ),
            ));
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

    /// Whether the business rules allow `balance` to change by `delta`. A change past the
    /// `i64` range is refused (it would leave `0 ..= max_balance` anyway).
    pub fn allows(&self, balance: i64, delta: i64) -> bool {
        let Some(after) = balance.checked_add(delta) else {
            return false;
        };
        if delta < 0 {
            after >= 0
        } else {
            after <= self.max_balance
        }
    }

    /// The sum of every account's balance at the start (and, conserved, at any quiet moment);
    /// `validate` makes sure it fits.
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
    fn draw(&self, ctx_rng: &mut Rng, id: TxnId) -> Transfer {
        let p = self.participants.len() as u64;
        let k = u64::from(self.accounts_per_participant);
        let a = ctx_rng.below(p);
        let b = (a + 1 + ctx_rng.below(p - 1)) % p;
        // Below participants × k, which `validate` keeps within the `u32` account numbers.
        let account = |n: u64| u32::try_from(n).expect("validated: accounts fit in u32");
        let from = account(a * k + ctx_rng.below(k));
        let to = account(b * k + ctx_rng.below(k));
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
    /// The outcome this message tells a client, if it is one: (transaction, committed).
    fn outcome(&self) -> Option<(TxnId, bool)>;
}

/// The timers of a bank model's nodes: the clients', and the servers', each for one
/// transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BankTimer {
    Client(ClientTimer),
    Txn(TxnId),
}

sim::client_timer!(BankTimer::Client);

/// What a bank model's shared setup tells its clients.
pub trait BankSetup {
    /// The model's node type.
    type Node: Node<Timer = BankTimer>;
    fn bank(&self) -> &Bank;
    /// Where clients send their transfers.
    fn coordinator(&self) -> NodeId;
}

/// The transfer workload: draws transfers ([`Bank::draw`]), sends them to the coordinator,
/// counts `transfers`, `committed` and `aborts`, and keeps what each client was told.
/// Records no history (a transfer is no register operation).
pub struct BankWorkload<S> {
    setup: Rc<S>,
}

/// A bank model's client.
pub type BankClient<S> = Client<BankWorkload<S>>;

impl<S: BankSetup> Workload for BankWorkload<S>
where
    <S::Node as Node>::Msg: BankMsg,
{
    type Node = S::Node;
    type Op = Transfer;
    /// Committed or not.
    type Reply = bool;

    fn next(&mut self, rng: &mut Rng, id: RequestId) -> Transfer {
        self.setup.bank().draw(rng, id)
    }

    fn target(&self, _: &Transfer, _attempt: u32) -> NodeId {
        self.setup.coordinator()
    }

    fn request(&self, _: RequestId, t: &Transfer, attempt: u32) -> <S::Node as Node>::Msg {
        <S::Node as Node>::Msg::request(*t, attempt)
    }

    fn reply(&self, msg: <S::Node as Node>::Msg) -> Option<(RequestId, bool)> {
        msg.outcome()
    }

    fn metric(&self, _: &Transfer) -> &'static str {
        "transfer_latency_ms"
    }

    fn issued(&mut self, ctx: &mut Ctx<'_, S::Node>, _: &Transfer) {
        ctx.metrics().add("transfers", 1);
    }

    fn completed(
        &mut self,
        ctx: &mut Ctx<'_, S::Node>,
        t: &Transfer,
        committed: bool,
    ) -> Completion {
        if !ctx.is_halted() {
            self.setup.bank().run.tell(*t, committed);
        }
        ctx.metrics()
            .add(if committed { "committed" } else { "aborts" }, 1);
        if committed {
            Completion::Ok(Value::Null)
        } else {
            Completion::Fail(Value::Null)
        }
    }
}

/// Builds the client on node `ordinal`-th client node, at start or after a crash: the
/// generic client, retrying with the same transaction id every `client_retry`.
pub fn client<S: BankSetup>(setup: &Rc<S>, ordinal: usize, clients: usize) -> BankClient<S>
where
    <S::Node as Node>::Msg: BankMsg,
{
    let bank = setup.bank();
    let config = ClientConfig {
        think_time: bank.think_time.clone(),
        timeout: bank.client_retry,
        on_timeout: OnTimeout::Retry,
    };
    let workload = BankWorkload {
        setup: Rc::clone(setup),
    };
    Client::new(workload, config, ordinal as u32, clients as u32)
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

/// The client nodes of a bank model.
pub struct ClientNodes {
    ids: Vec<NodeId>,
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
        Ok(ClientNodes { ids })
    }

    /// Builds the client on node `id`, at start or after a crash (its incarnation, from the
    /// kernel, keeps its transaction ids fresh). Panics if `id` is not a client: every node
    /// has a role.
    pub fn build<S: BankSetup>(&self, setup: &Rc<S>, id: NodeId) -> BankClient<S>
    where
        <S::Node as Node>::Msg: BankMsg,
    {
        let ordinal = self
            .ids
            .iter()
            .position(|&c| c == id)
            .expect("every node has a role");
        client(setup, ordinal, self.ids.len())
    }
}

/// The balances of the accounts one participant owns, in local order, with their running
/// sum and a count of negative ones kept up to date on every change, so that the online
/// checks cost O(1) per participant instead of O(accounts).
#[derive(Clone, Debug)]
pub(crate) struct Accounts {
    balances: Vec<i64>,
    sum: i64,
    negative: usize,
}

impl Accounts {
    /// A participant's accounts at the start.
    pub(crate) fn new(bank: &Bank) -> Accounts {
        let balances = bank.initial_balances();
        Accounts {
            sum: balances.iter().sum(),
            negative: balances.iter().filter(|&&b| b < 0).count(),
            balances,
        }
    }

    /// The balance of local account `i`.
    pub(crate) fn get(&self, i: usize) -> i64 {
        self.balances[i]
    }

    /// Changes local account `i` by `delta`.
    pub(crate) fn add(&mut self, i: usize, delta: i64) {
        let b = &mut self.balances[i];
        self.negative -= usize::from(*b < 0);
        *b += delta;
        self.negative += usize::from(*b < 0);
        self.sum += delta;
    }

    /// The sum of the balances.
    pub(crate) fn sum(&self) -> i64 {
        self.sum
    }

    /// The first negative balance in local order, if any (scans only when there is one).
    pub(crate) fn first_negative(&self) -> Option<i64> {
        if self.negative == 0 {
            return None;
        }
        self.balances.iter().copied().find(|&b| b < 0)
    }
}

/// A participant's accounts, as the shared checks see them.
pub(crate) trait Ledger {
    /// The accounts this participant owns.
    fn accounts(&self) -> &Accounts;
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
    /// O(participants): each keeps its running sum.
    pub(crate) fn balances_now<N: BankNode>(&self, world: &World<'_, N>) -> Result<i64, NodeId> {
        self.sum_over_participants(world, |p| Some(p.accounts().sum()))
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
        if let Some(b) = p.accounts().first_negative() {
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
    /// event was observed), reports the `messages` the kernel counted and then
    /// `messages_per_txn`.
    pub fn finish_metrics(&self, metrics: &mut Metrics, declare: fn(&mut Metrics), stats: &Stats) {
        declare(metrics);
        metrics.add("messages", stats.messages_sent);
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

/// The `outcome_matches_decision` verdict: `contradiction` says, for a transfer and the
/// outcome its client was told, how the databases' state contradicts it (`Ok(None)`: it does
/// not), or `Err` with the name of a database that is down at the end (the verdict is then
/// unknown). Outcomes already settled ([`RunState::sweep`]) are not asked again.
pub(crate) fn outcome_matches_decision<N: BankNode>(
    bank: &Bank,
    world: &World<'_, N>,
    contradiction: impl FnMut(&Transfer, bool) -> Result<Option<String>, String>,
) -> Verdict {
    bank.run.verdict(
        |q| {
            participant(world, q)
                .is_none()
                .then(|| world.name(q).to_string())
        },
        contradiction,
    )
}

impl Bank {
    /// Settles the outcomes told so far that `settled` says are final and right (see
    /// [`RunState::sweep`]); cheap unless the open outcomes have doubled.
    pub(crate) fn sweep_told(&self, settled: impl FnMut(&Transfer, bool) -> bool) {
        self.run.sweep(|t| self.pair(t), settled);
    }
}

/// Declares the metrics every bank model reports, so they show up even when empty.
pub fn declare_metrics(metrics: &mut Metrics) {
    metrics.declare("transfer_latency_ms");
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
            run: RunState::default(),
        }
    }

    #[test]
    fn transfers_cross_participants_and_repeat_per_seed() {
        let b = bank();
        let draws = |seed| {
            let mut rng = sim::rng::Rng::stream(seed, "workload/client");
            (0..200)
                .map(|seq| {
                    b.draw(
                        &mut rng,
                        RequestId {
                            client: 0,
                            incarnation: 0,
                            seq,
                        },
                    )
                })
                .collect::<Vec<_>>()
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
        assert!(
            !b.allows(i64::MAX, 1),
            "an overflowing credit is refused, not a panic"
        );
    }

    #[test]
    fn client_retry_has_a_floor() {
        let mut b = bank();
        b.client_retry = Duration::from_nanos(1);
        assert_eq!(b.validate().unwrap_err().field, "model.bank.client_retry");
        b.client_retry = MIN_CLIENT_RETRY;
        assert!(b.validate().is_ok());
    }

    #[test]
    fn validation_bounds_accounts_and_money() {
        let field = |b: Bank| b.validate().unwrap_err().field;
        // 3 × 2^21 accounts are too many to hold; 2 × 2^21 are not.
        let mut b = bank();
        b.accounts_per_participant = 1 << 21;
        assert_eq!(field(b.clone()), "model.bank.accounts_per_participant");
        b.participants.pop();
        b.initial_balance = 0;
        b.max_balance = 0;
        assert!(b.validate().is_ok());
        let last = b.draw(
            &mut Rng::stream(1, "w"),
            RequestId {
                client: 0,
                incarnation: 0,
                seq: 0,
            },
        );
        assert!(b.owner(last.from) != b.owner(last.to));
        // 12 accounts: their sum must fit in an i64.
        let mut b = bank();
        b.initial_balance = i64::MAX / 11;
        b.max_balance = i64::MAX;
        assert_eq!(field(b.clone()), "model.bank.initial_balance");
        b.initial_balance = i64::MAX / 12;
        assert_eq!(field(b.clone()), "model.bank.max_balance");
        b.max_balance = i64::MAX / 12;
        assert!(b.validate().is_ok());
        assert_eq!(b.total(), i64::MAX / 12 * 12);
    }

    /// Judging open outcomes at the end, after sweeps, gives the verdict judging every
    /// outcome at the end gives, down participants included; and sweeps keep only the
    /// unsettled ones.
    #[test]
    fn settled_outcomes_are_dropped_and_the_verdict_is_unchanged() {
        let b = bank();
        let mut rng = Rng::stream(3, "w");
        let transfers: Vec<Transfer> = (0..5000)
            .map(|seq| {
                let id = RequestId {
                    client: 0,
                    incarnation: 0,
                    seq,
                };
                b.draw(&mut rng, id)
            })
            .collect();
        // A transfer "goes wrong" when its amount is 7; "settles" when it is even.
        let why = |t: &Transfer| (t.amount == 7).then(|| "it is 7".to_string());
        let judge = |run: &RunState, down: Option<NodeId>| {
            let name = |q: NodeId| format!("db{}", q.0);
            run.verdict(
                |q| (Some(q) == down).then(|| name(q)),
                |t, _| match b.pair(t).into_iter().find(|&q| Some(q) == down) {
                    Some(q) => Err(name(q)),
                    None => Ok(why(t)),
                },
            )
        };
        let (kept, swept) = (RunState::default(), RunState::default());
        for (i, t) in transfers.iter().enumerate() {
            kept.tell(*t, true);
            swept.tell(*t, true);
            if i % 10 == 0 {
                swept.sweep(|t| b.pair(t), |t, _| t.amount % 2 == 0 && why(t).is_none());
            }
        }
        assert_eq!(swept.told(), 5000);
        assert!(swept.open() < 5000 * 3 / 4, "{} open", swept.open());
        for down in [None, Some(NodeId(1)), Some(NodeId(2)), Some(NodeId(3))] {
            assert_eq!(judge(&swept, down), judge(&kept, down), "{down:?} down");
        }
        // A down participant that only settled outcomes involve still makes it unknown.
        let run = RunState::default();
        let settled = Transfer {
            amount: 2,
            ..transfers[0]
        };
        run.tell(settled, true);
        for _ in 0..2 * SWEEP_FLOOR {
            run.tell(
                Transfer {
                    amount: 3,
                    ..transfers[0]
                },
                true,
            );
        }
        run.sweep(|t| b.pair(t), |t, _| t.amount == 2);
        assert_eq!(run.open(), 2 * SWEEP_FLOOR);
        let down = b.owner(settled.to);
        let v = run.verdict(|q| (q == down).then(|| "gone".to_string()), |_, _| Ok(None));
        assert_eq!(v.status, sim::invariant::Status::Unknown, "{v:?}");
    }

    #[test]
    fn accounts_keep_their_sum_and_negatives() {
        let mut a = Accounts::new(&bank());
        assert_eq!((a.sum(), a.first_negative()), (400, None));
        a.add(2, -130);
        a.add(1, -20);
        assert_eq!((a.sum(), a.first_negative()), (250, Some(-30)));
        a.add(2, 40);
        assert_eq!((a.sum(), a.first_negative()), (290, None));
        assert_eq!(a.get(2), 10);
    }
}
