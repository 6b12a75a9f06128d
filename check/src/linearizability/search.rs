//! The Wing–Gong search with Lowe's memoization (Wing & Gong 1993; Lowe 2017, "Testing for
//! linearizability", §3–4), in the shape Porcupine popularised.
//!
//! The history is a doubly linked list of call and return entries in real-time order. The
//! search walks it from the head: at a call entry it tries to linearize that operation now
//! (apply it to the model state); at a return entry it has met an operation that must already
//! have taken effect but has not, so it backtracks to the last choice. Linearized operations
//! are unlinked (dancing links), so "the operations that may go next" is always a prefix walk
//! of the list. A configuration (set of linearized operations, model state) that was explored
//! once is never explored again, which is what makes the search practical (Lowe's
//! memoization). Indeterminate operations have no return entry: they may be linearized when
//! useful and are never required, which is the format's "any subset of the info operations".
//!
//! The search is exponential in the number of concurrent operations in the worst case
//! (the problem is NP-complete, Gibbons & Korach 1997); it stops and reports
//! [`SearchResult::OutOfTime`] / [`SearchResult::OutOfMemory`] past its budget.

use super::memo::{op_key, Insert, Memo, Set, Window};
use super::model::{Spec, StateId, Step, INITIAL};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// One operation of a partition as the search sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SearchOp {
    pub step: Step,
    /// Event index of the invocation.
    pub call: u32,
    /// Event index of the completion for operations that must be linearized; `None` for
    /// indeterminate ones (`info` or never completed), which stay open to the end.
    pub ret: Option<u32>,
    /// An indeterminate write given the completion of the earliest read of its value (see
    /// `partition::prune_info`): its return entry goes right after that read's, which shares
    /// the event.
    pub closed: bool,
}

impl SearchOp {
    /// An operation as the history gives it: not (yet) closed by pruning.
    pub(crate) fn new(step: Step, call: u32, ret: Option<u32>) -> SearchOp {
        SearchOp {
            step,
            call,
            ret,
            closed: false,
        }
    }
}

/// Why a history is not linearizable.
///
/// Every explored configuration (a valid linearization of a set of operations) stops at its
/// first return entry: the completion of an operation it has not placed. Over all
/// configurations, the latest such completion is the point past which the history cannot be
/// linearized: the history cut there (operations still running treated as indeterminate) is
/// linearizable, and requiring the operation completing there makes it not, so that operation
/// is the one that cannot be placed. When the search explored every configuration (see
/// [`Search::is_exact`]) this is exact.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    /// The longest valid linearization, in order (operation indices), of the operations
    /// completed before `blocked` completes (and any still running).
    pub prefix: Vec<u32>,
    pub state_after_prefix: StateId,
    /// The operation that cannot be placed.
    pub blocked: u32,
    /// Every state the object could hold where `blocked` could take effect: the states of the
    /// configurations in which `blocked` could go next and from which the operations completed
    /// before its completion can all be placed (without `blocked`). Sorted, distinct.
    pub possible: Vec<StateId>,
}

#[derive(Clone, Debug)]
pub(crate) enum SearchResult {
    Linearizable,
    Violation(Failure),
    OutOfTime,
    OutOfMemory,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SearchStats {
    pub steps: u64,
    pub configurations: u64,
    pub peak_bytes: usize,
}

/// Limits for one search. The deadline is wall-clock time: acceptable because the checker
/// runs outside any simulation and its timing never feeds back into a simulated run.
#[derive(Clone, Copy)]
pub(crate) struct Limits<'m> {
    pub deadline: Option<Instant>,
    pub max_bytes: usize,
    /// Shown the search's progress where it checks the budget; see [`super::Progress`].
    pub meter: Option<&'m Meter<'m>>,
    /// The cap as the caller set it, for messages (`max_bytes` is what is left of it for the
    /// searches).
    pub cap: usize,
}

/// Progress of one check, for the caller's hook: operations of objects already decided and
/// configurations of searches already finished, plus whatever the live search reports.
pub(crate) struct Meter<'w> {
    pub watch: &'w (dyn Fn(&super::Progress) + Sync),
    pub total: usize,
    pub placed_done: AtomicUsize,
    pub configurations_done: AtomicU64,
}

impl Meter<'_> {
    /// An object's search is over: its operations and configurations count as done.
    pub(crate) fn done(&self, operations: usize, configurations: u64) {
        self.placed_done.fetch_add(operations, Ordering::Relaxed);
        self.configurations_done
            .fetch_add(configurations, Ordering::Relaxed);
    }

    /// Calls the hook with a live search's figures added to those done.
    pub(crate) fn tick(&self, placed: usize, configurations: u64, bytes: usize) {
        (self.watch)(&super::Progress {
            placed: (self.placed_done.load(Ordering::Relaxed) + placed).min(self.total),
            total: self.total,
            configurations: self.configurations_done.load(Ordering::Relaxed) + configurations,
            memory_bytes: bytes,
        });
    }
}

const NIL: u32 = u32::MAX;

/// The search looks at its budget every so many steps; each step adds at most one
/// configuration.
const BUDGET_STEPS: u64 = 4096;

/// Doubly linked list of entries: `2 i` is the call of operation `i`, `2 i + 1` its return;
/// the head sentinel is `2 n`.
struct Links {
    next: Vec<u32>,
    prev: Vec<u32>,
    head: u32,
}

impl Links {
    fn new(ops: &[SearchOp]) -> Links {
        let n = ops.len();
        let mut order: Vec<(u32, bool, u32)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call, false, 2 * i as u32));
            if let Some(r) = op.ret {
                order.push((r, op.closed, 2 * i as u32 + 1));
            }
        }
        // Event indices are distinct but for closed writes, which follow the read whose
        // completion they share; so this order is total and the list deterministic.
        order.sort_unstable();
        let head = 2 * n as u32;
        let mut next = vec![NIL; 2 * n + 1];
        let mut prev = vec![NIL; 2 * n + 1];
        let mut last = head;
        for &(_, _, e) in &order {
            next[last as usize] = e;
            prev[e as usize] = last;
            last = e;
        }
        Links { next, prev, head }
    }

    #[inline]
    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    /// Re-inserts `e`, which still holds its old neighbours (dancing links); must undo
    /// unlinks in reverse order.
    #[inline]
    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }
}

/// The search's mutable state; methods keep the bitset, its hash, the links and the stack in
/// step with each other.
pub(crate) struct Search<'a, S> {
    ops: &'a [SearchOp],
    pub(crate) spec: S,
    links: Links,
    keys: Vec<u64>,
    memo: Memo,
    /// The linearized set as a bitset over the partition, for membership tests; the memo
    /// stores it as such for a small object, else as a window (`front`, `open`, maintained
    /// only then), see [`super::memo`].
    bits: Vec<u64>,
    /// One past the latest-invoked linearized operation.
    front: u32,
    /// Operations below `front` not linearized, ascending.
    open: Vec<u32>,
    set_hash: u64,
    state: StateId,
    /// Operations with a return entry not yet linearized; 0 means success.
    remaining: usize,
    stack: Vec<Frame>,
    prune: Option<AppendPrune>,
    /// See [`Search::is_exact`].
    exact: bool,
    /// Ops that leave the state unchanged (the read-first rule applies to them).
    read_only: Vec<bool>,
    /// With [`Search::reduced`]: per operation, its twin class (see [`twin_classes`]), or
    /// `NIL`; empty otherwise.
    twin: Vec<u32>,
    /// With [`Search::reduced`]: the value standing for every value no operation observes
    /// (`partition::merge_unobserved`), if any operation writes it.
    junk: Option<StateId>,
    /// With [`Search::reduced`], per value: whether at most one operation ever writes it (none
    /// for the initial value), and how many operations that must be placed and observe it
    /// (`ok` reads, `ok` cas expecting it) are not placed yet. See [`Search::reduced`].
    unique: Vec<bool>,
    pending: Vec<u32>,
    /// Per operation: the value it observes if it must be placed, else `NIL` (empty unless
    /// reduced).
    observes: Vec<u32>,
    /// Where the walk stands, so that [`Search::run`] can stop after a slice and resume.
    entry: u32,
    /// True when the search just arrived at a configuration not yet scanned for reads.
    arrived: bool,
    /// Per memo entry: the latest return entry (event index + 1; 0 for none yet) at which a
    /// configuration at or beyond it stopped. See [`Failure`].
    reach: Vec<u32>,
    /// The same for the empty configuration, which has no memo entry.
    root_reach: u32,
    /// The configuration that stopped at the latest return entry, the deepest among those.
    best: Option<(u32, Failure)>,
    fixed_bytes: usize,
}

/// Pruning for objects with appends. Appends only extend the value and reads leave it alone,
/// so after an append the value must be a prefix of what every later read returns — unless a
/// put comes between. A put can come before a read only if it is invoked before the read
/// completes. Hence: let `g` be the unlinearized `ok` read that completes first; if no
/// unlinearized put is invoked before `g` completes, the new value must be a prefix of `g`'s.
/// Without this, k concurrent appends yield k! distinct states that plain WGL explores until a
/// read far later refutes them.
struct AppendPrune {
    /// Reads, by completion.
    reads: Vec<(u32, StateId, u32)>,
    /// Puts (any outcome kept by the search), by invocation: (call, op).
    puts: Vec<(u32, u32)>,
}

impl AppendPrune {
    /// Prunes by the reads completing before event `before` only.
    fn new(ops: &[SearchOp], before: u32) -> Option<AppendPrune> {
        if !ops.iter().any(|o| matches!(o.step, Step::Append(_))) {
            return None;
        }
        let mut reads: Vec<(u32, StateId, u32)> = Vec::new();
        let mut puts: Vec<(u32, u32)> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            match (o.step, o.ret) {
                (Step::Read(v), Some(r)) if r < before => reads.push((r, v, i as u32)),
                (Step::Write(_), _) => puts.push((o.call, i as u32)),
                _ => {}
            }
        }
        reads.sort_unstable();
        puts.sort_unstable();
        Some(AppendPrune { reads, puts })
    }
}

#[derive(Clone, Copy)]
struct Frame {
    op: u32,
    /// The memo entry of the configuration after `op`.
    entry: u32,
    before: StateId,
    /// `front` before `op` was linearized.
    old_front: u32,
    /// Linearized by the read-first rule: if the configuration after it fails, so does the
    /// one before it, and no alternative needs trying there.
    forced: bool,
}

enum Try {
    Pushed,
    Seen,
    Inapplicable,
    Full,
}

impl<S: Spec> Search<'_, S> {
    #[inline]
    fn try_op(&mut self, op: usize, forced: bool) -> Try {
        let step = self.ops[op].step;
        let Some(next_state) = self.spec.apply(self.state, step) else {
            return Try::Inapplicable;
        };
        if !self.twin.is_empty() && !self.reduced_allows(op, next_state) {
            return Try::Inapplicable;
        }
        if matches!(step, Step::Append(_)) && !self.append_viable(next_state) {
            return Try::Inapplicable;
        }
        let hash = self.set_hash ^ self.keys[op];
        let bit = 1u64 << (op % 64);
        let (old_front, result) = if self.memo.keyed_by_bits() {
            self.bits[op / 64] |= bit;
            let r = self.memo.insert(hash, next_state, Set::Bits(&self.bits));
            if !matches!(r, Insert::New(_)) {
                self.bits[op / 64] &= !bit;
            }
            (self.front, r)
        } else {
            let old_front = self.advance(op as u32);
            let window = Window {
                front: self.front,
                open: &self.open,
            };
            let r = self.memo.insert(hash, next_state, Set::Window(window));
            if matches!(r, Insert::New(_)) {
                self.bits[op / 64] |= bit;
            } else {
                self.retreat(op as u32, old_front);
            }
            (old_front, r)
        };
        match result {
            Insert::New(entry) => {
                self.reach.push(0);
                self.stack.push(Frame {
                    op: op as u32,
                    entry,
                    before: self.state,
                    old_front,
                    forced,
                });
                self.state = next_state;
                self.set_hash = hash;
                if !self.observes.is_empty() && self.observes[op] != NIL {
                    self.pending[self.observes[op] as usize] -= 1;
                }
                let call = 2 * op as u32;
                if self.ops[op].ret.is_some() {
                    self.remaining -= 1;
                    self.links.unlink(call | 1);
                }
                self.links.unlink(call);
                Try::Pushed
            }
            Insert::Seen(entry) => {
                // Explored already: what it reached, this configuration reaches.
                let r = self.reach[entry as usize];
                self.bump_reach(r);
                Try::Seen
            }
            Insert::Full => Try::Full,
        }
    }

    /// Raises the current configuration's reach to `r`.
    #[inline]
    fn bump_reach(&mut self, r: u32) {
        let slot = match self.stack.last() {
            Some(f) => &mut self.reach[f.entry as usize],
            None => &mut self.root_reach,
        };
        *slot = (*slot).max(r);
    }

    #[inline]
    fn pop(&mut self) -> Option<Frame> {
        let frame = self.stack.pop()?;
        let r = self.reach[frame.entry as usize];
        self.bump_reach(r);
        let op = frame.op as usize;
        self.bits[op / 64] &= !(1 << (op % 64));
        if !self.memo.keyed_by_bits() {
            self.retreat(frame.op, frame.old_front);
        }
        self.set_hash ^= self.keys[op];
        self.state = frame.before;
        if !self.observes.is_empty() && self.observes[op] != NIL {
            self.pending[self.observes[op] as usize] += 1;
        }
        let call = 2 * frame.op;
        self.links.relink(call);
        if self.ops[op].ret.is_some() {
            self.remaining += 1;
            self.links.relink(call | 1);
        }
        Some(frame)
    }

    /// Moves the window past `op` (being linearized); returns the old frontier for
    /// [`Search::retreat`]. Operations between the old frontier and `op` become open: none of
    /// them completed before `op` was invoked (the search reaches `op` before any
    /// unlinearized completion), so they overlap `op` in time.
    #[inline]
    fn advance(&mut self, op: u32) -> u32 {
        let old = self.front;
        if op < old {
            if let Ok(i) = self.open.binary_search(&op) {
                self.open.remove(i);
            }
        } else {
            self.open.extend(old..op);
            self.front = op + 1;
        }
        old
    }

    /// Undoes [`Search::advance`] (in reverse order of advances).
    #[inline]
    fn retreat(&mut self, op: u32, old_front: u32) {
        if op < old_front {
            let i = self.open.partition_point(|&o| o < op);
            self.open.insert(i, op);
        } else {
            let keep = self.open.len() - (op - old_front) as usize;
            self.open.truncate(keep);
            self.front = old_front;
        }
    }

    #[inline]
    fn linearized(&self, op: u32) -> bool {
        self.bits[op as usize / 64] & (1 << (op % 64)) != 0
    }

    /// The rules of [`Search::reduced`] for placing `op`, leading to `next_state`.
    #[inline(never)]
    fn reduced_allows(&self, op: usize, next_state: StateId) -> bool {
        if self.twin[op] != NIL && self.earlier_twin(op) {
            return false;
        }
        // An indeterminate operation that changes nothing is left out: a linearization
        // placing it stays one without it.
        if self.ops[op].ret.is_none()
            && (next_state == self.state || (Some(next_state) == self.junk && !self.junk_needed()))
        {
            return false;
        }
        // A value written at most once cannot come back: leaving it while an operation that
        // must observe it is still unplaced (other than `op` itself) is a dead end.
        if next_state != self.state {
            let u = self.state as usize;
            if self.unique.get(u).copied().unwrap_or(false) {
                let own = self.observes[op] == self.state;
                if self.pending[u] > own as u32 {
                    return false;
                }
            }
        }
        true
    }

    /// Whether a twin of `op` that completes earlier could be placed now instead (see
    /// [`twin_classes`]).
    fn earlier_twin(&self, op: usize) -> bool {
        let due = |i: usize| (self.ops[i].ret.unwrap_or(u32::MAX), i);
        let mine = due(op);
        let mut e = self.first();
        while e != NIL && e & 1 == 0 {
            let y = (e >> 1) as usize;
            if self.twin[y] == self.twin[op] && due(y) < mine {
                return true;
            }
            e = self.links.next[e as usize];
        }
        false
    }

    /// Whether an indeterminate write of the junk value may be placed now: only right before a
    /// failed cas that expects the current value. No operation observes the junk value, so in
    /// a linearization what follows it, up to the next write, are failed cas (reads and
    /// successful cas expect observed values); if none of them expects the value it
    /// overwrote, the write can go, and else it can move to just before the first that does,
    /// which is then invoked already.
    fn junk_needed(&self) -> bool {
        let mut e = self.first();
        while e != NIL && e & 1 == 0 {
            if let Step::CasFail { expected } = self.ops[(e >> 1) as usize].step {
                if expected == self.state {
                    return true;
                }
            }
            e = self.links.next[e as usize];
        }
        false
    }

    /// See [`AppendPrune`].
    fn append_viable(&self, state: StateId) -> bool {
        let Some(prune) = &self.prune else {
            return true;
        };
        let next_put = prune
            .puts
            .iter()
            .find(|&&(_, op)| !self.linearized(op))
            .map_or(u32::MAX, |p| p.0);
        match prune.reads.iter().find(|&&(_, _, op)| !self.linearized(op)) {
            Some(&(ret, value, _)) if ret < next_put => self.spec.extends_to(state, value),
            _ => true,
        }
    }

    fn first(&self) -> u32 {
        self.links.next[self.links.head as usize]
    }
}

/// Twins are operations with the same step, neither state-preserving: which of them takes
/// effect where makes no difference to any state. Per operation, its twin class (`NIL` for
/// none). The search places a twin only if no other twin it could place instead completes
/// earlier (indeterminate ones complete last; ties go to the earlier invoked): earliest
/// deadline first. If a linearization places twin `b` where an unplaced twin `a` that
/// completes no later could go, swapping them (or putting `a` in `b`'s place, if `a` is
/// indeterminate and never placed) gives a linearization with the same states: `a` was
/// invoked before that point, and `b` goes where `a` was, before `a` completes, so before `b`
/// does. Repeating this yields one that follows the rule, from any configuration the search
/// reaches.
pub(crate) fn twin_classes(ops: &[SearchOp], read_only: &[bool]) -> Vec<u32> {
    let mut count: super::model::FxMap<Step, u32> = Default::default();
    for (i, o) in ops.iter().enumerate() {
        if !read_only[i] {
            *count.entry(o.step).or_default() += 1;
        }
    }
    let mut ids: super::model::FxMap<Step, u32> = Default::default();
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            if read_only[i] || count[&o.step] < 2 {
                return NIL;
            }
            let next = ids.len() as u32;
            *ids.entry(o.step).or_insert(next)
        })
        .collect()
}

impl<'a, S: Spec> Search<'a, S> {
    /// The fast search with more reductions, for large objects: twins are placed earliest
    /// deadline first ([`twin_classes`]), an indeterminate operation that leaves the state as it is is
    /// never placed, one that writes `junk` only where [`Search::junk_needed`], and the value is
    /// never changed while it has unplaced observers if no operation can write it again
    /// (Jepsen's generators write each value once): those observers could never be placed. Both lose configurations the explanation would use, so its
    /// [`Failure`] is not exact.
    pub(crate) fn reduced(ops: &'a [SearchOp], spec: S, junk: Option<StateId>) -> Self {
        let mut s = Search::new(ops, spec);
        s.twin = twin_classes(ops, &s.read_only);
        s.junk = junk;
        let mut writers: Vec<u32> = Vec::new();
        let mut pending: Vec<u32> = Vec::new();
        let bump = |v: &mut Vec<u32>, i: StateId| {
            if v.len() <= i as usize {
                v.resize(i as usize + 1, 0);
            }
            v[i as usize] += 1;
        };
        s.observes = ops
            .iter()
            .map(|o| {
                match o.step {
                    Step::Write(v) | Step::Cas { new: v, .. } => bump(&mut writers, v),
                    _ => {}
                }
                match (o.step, o.ret) {
                    (Step::Read(v) | Step::Cas { expected: v, .. }, Some(_)) => {
                        bump(&mut pending, v);
                        v
                    }
                    _ => NIL,
                }
            })
            .collect();
        let values = writers.len().max(pending.len());
        writers.resize(values, 0);
        pending.resize(values, 0);
        // Appends build values no write writes (and may build one twice): then no value
        // counts as written once.
        let appends = ops.iter().any(|o| matches!(o.step, Step::Append(_)));
        s.unique = writers
            .iter()
            .enumerate()
            .map(|(v, &w)| !appends && w + (v == INITIAL as usize) as u32 <= 1)
            .collect();
        s.pending = pending;
        s.fixed_bytes += ops.len() * 4 + values * 5;
        s.exact = false;
        s.fixed_bytes += ops.len() * 4;
        s
    }

    /// A search that prunes appends by the next read (fast; its [`Failure`] may then name an
    /// operation other than the one that cannot be placed, see [`Search::is_exact`]).
    pub(crate) fn new(ops: &'a [SearchOp], spec: S) -> Self {
        let mut s = Search::exact(ops, spec, 0);
        s.prune = AppendPrune::new(ops, u32::MAX);
        s.exact = s.prune.is_none();
        s
    }

    /// A search whose [`Failure`] is exact, for a history known not to be linearizable and to
    /// reach at least the return entry at event `reached` (a fast search's failure). It prunes
    /// appends only by reads completing before that event: a pruned configuration can never
    /// place such a read, so it stops before the failure's point and loses nothing the
    /// explanation uses (its reach, its states).
    pub(crate) fn exact(ops: &'a [SearchOp], spec: S, reached: u32) -> Self {
        let n = ops.len();
        let words = n.div_ceil(64).max(1);
        let links = Links::new(ops);
        let entry = links.next[links.head as usize];
        Search {
            ops,
            spec,
            links,
            keys: (0..n).map(op_key).collect(),
            memo: Memo::for_ops(n),
            bits: vec![0u64; words],
            front: 0,
            open: Vec::new(),
            set_hash: 0,
            state: INITIAL,
            remaining: ops.iter().filter(|o| o.ret.is_some()).count(),
            stack: Vec::with_capacity(n),
            prune: AppendPrune::new(ops, reached),
            exact: true,
            read_only: ops
                .iter()
                .map(|o| matches!(o.step, Step::Read(_) | Step::CasFail { .. }))
                .collect(),
            twin: Vec::new(),
            junk: None,
            unique: Vec::new(),
            pending: Vec::new(),
            observes: Vec::new(),
            entry,
            arrived: true,
            reach: Vec::new(),
            root_reach: 0,
            best: None,
            fixed_bytes: n * 80 + words * 8,
        }
    }

    /// Configurations memoized so far.
    pub(crate) fn configurations(&self) -> u64 {
        self.memo.len() as u64
    }

    /// Memory this search may hold until it next looks at its budget (every
    /// [`BUDGET_STEPS`] steps): what its memo, interned states and working arrays hold, plus
    /// what the vectors that may grow before then would allocate (see
    /// [`Memo::bound_bytes`]). An upper bound, so that a cap on it is a cap on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        let entries = BUDGET_STEPS as usize;
        // A window costs its frontier, its length and its open operations; the open list
        // grows by the operations overlapping the ones placed meanwhile.
        let words = 2 + 2 * self.open.len().max(64);
        let grow = |len: usize, cap: usize, more: usize, elem: usize| {
            if len + more > cap {
                2 * (len + more).max(2 * cap) * elem
            } else {
                0
            }
        };
        self.memo.bound_bytes(entries, words)
            + self.reach.capacity() * 4
            + grow(self.reach.len(), self.reach.capacity(), entries, 4)
            + self.open.capacity() * 4
            + grow(self.open.len(), self.open.capacity(), entries, 4)
            // Interned states: hash maps double too.
            + 2 * self.spec.heap_bytes()
            + self.best.as_ref().map_or(0, |b| b.1.prefix.capacity() * 4)
            + self.stack.len() * 4
            + self.fixed_bytes
    }

    /// Whether the search's [`Failure`] is exact: the reductions it uses (memoization, reads
    /// first, and for [`Search::exact`] its bounded pruning) lose no state or reach the
    /// explanation needs. Unbounded append pruning does: it drops states a later read refutes.
    pub(crate) fn is_exact(&self) -> bool {
        self.exact
    }

    /// Runs the search for at most about `max_steps` steps; `None` if it has not decided yet
    /// (call again to resume). Besides Lowe's memoization it uses one reduction: an operation
    /// that leaves the state unchanged (an `ok` read, a failed cas) and is applicable now may be
    /// linearized now without loss of generality — every operation that must precede it is
    /// already linearized (its call entry is reachable), and moving a state-preserving
    /// operation earlier changes no other operation's state. So such operations are taken
    /// first and without a choice point.
    pub(crate) fn run(
        &mut self,
        limits: Limits<'_>,
        max_steps: u64,
        stats: &mut SearchStats,
    ) -> Option<SearchResult> {
        let stop_at = stats.steps.saturating_add(max_steps);
        loop {
            if self.remaining == 0 {
                stats.configurations += self.memo.len() as u64;
                return Some(SearchResult::Linearizable);
            }
            stats.steps += 1;
            if stats.steps.is_multiple_of(BUDGET_STEPS) {
                let bytes = self.heap_bytes();
                stats.peak_bytes = stats.peak_bytes.max(bytes);
                if let Some(m) = limits.meter {
                    m.tick(self.stack.len(), self.memo.len() as u64, bytes);
                }
                let out_of_time = limits.deadline.is_some_and(|d| Instant::now() >= d);
                if bytes > limits.max_bytes || out_of_time {
                    stats.configurations += self.memo.len() as u64;
                    return Some(if out_of_time {
                        SearchResult::OutOfTime
                    } else {
                        SearchResult::OutOfMemory
                    });
                }
            }
            if stats.steps >= stop_at {
                return None;
            }

            let mut dead = false;
            if self.arrived {
                self.arrived = false;
                // The read-first rule: take the first applicable state-preserving candidate.
                let mut e = self.first();
                while e != NIL && e & 1 == 0 {
                    let op = (e >> 1) as usize;
                    if self.read_only[op] {
                        match self.try_op(op, true) {
                            Try::Pushed => {
                                self.arrived = true;
                                break;
                            }
                            // Explored (and failed) with this read taken: so did this one.
                            Try::Seen => {
                                dead = true;
                                break;
                            }
                            Try::Inapplicable => {}
                            Try::Full => return Some(SearchResult::OutOfMemory),
                        }
                    }
                    e = self.links.next[e as usize];
                }
                if self.arrived {
                    continue;
                }
                self.entry = self.first();
            }

            let entry = self.entry;
            if !dead {
                if entry != NIL && entry & 1 == 0 {
                    // A call entry: try to linearize this operation now. Read-only candidates
                    // were all found inapplicable by the scan above.
                    let op = (entry >> 1) as usize;
                    if !self.read_only[op] {
                        match self.try_op(op, false) {
                            Try::Pushed => {
                                self.arrived = true;
                                continue;
                            }
                            Try::Full => return Some(SearchResult::OutOfMemory),
                            Try::Seen | Try::Inapplicable => {}
                        }
                    }
                    self.entry = self.links.next[entry as usize];
                    continue;
                }
                // A return entry (or the end): the operation it closes cannot be placed in
                // this configuration. Remember the deepest such point for the explanation.
                if entry != NIL {
                    self.record_blocked(entry >> 1);
                }
            }

            // Backtrack to the last real choice; forced frames have no alternatives.
            loop {
                let Some(frame) = self.pop() else {
                    stats.configurations += self.memo.len() as u64;
                    return Some(SearchResult::Violation(self.failure()));
                };
                if !frame.forced {
                    self.entry = self.links.next[2 * frame.op as usize];
                    break;
                }
            }
        }
    }

    fn record_blocked(&mut self, blocked: u32) {
        // Return entries exist only for operations with a completion.
        let at = self.ops[blocked as usize].ret.map_or(0, |r| r + 1);
        self.bump_reach(at);
        let depth = self.stack.len();
        if self
            .best
            .as_ref()
            .is_none_or(|(b, f)| (at, depth) > (*b, f.prefix.len()))
        {
            self.best = Some((
                at,
                Failure {
                    prefix: self.stack.iter().map(|f| f.op).collect(),
                    state_after_prefix: self.state,
                    blocked,
                    possible: Vec::new(),
                },
            ));
        }
    }

    fn failure(&mut self) -> Failure {
        let Some((at, mut failure)) = self.best.take() else {
            // A violation always stops at some return entry; kept total for safety.
            return Failure {
                prefix: Vec::new(),
                state_after_prefix: INITIAL,
                blocked: 0,
                possible: Vec::new(),
            };
        };
        // The configurations where `blocked` could go next contain every operation that
        // completes before it is invoked, and not `blocked` itself.
        let x = failure.blocked;
        let call = self.ops[x as usize].call;
        let needed = |o: &SearchOp| o.ret.is_some_and(|r| r < call);
        // One past the latest-invoked operation that completes before `blocked` is invoked.
        let need_front = self
            .ops
            .iter()
            .rposition(needed)
            .map_or(0, |i| i as u32 + 1);
        let mut need = vec![0u64; self.bits.len()];
        for (i, o) in self.ops.iter().enumerate() {
            if needed(o) {
                need[i / 64] |= 1 << (i % 64);
            }
        }
        let candidate = |s: Set| {
            !s.contains(x)
                && match s {
                    Set::Bits(b) => b.iter().zip(&need).all(|(b, n)| b & n == *n),
                    Set::Window(w) => {
                        w.front >= need_front
                            && !w.open.iter().any(|&o| needed(&self.ops[o as usize]))
                    }
                }
        };
        let mut possible: Vec<StateId> = self
            .memo
            .entries()
            .filter(|&(e, _, w)| self.reach[e as usize] == at && candidate(w))
            .map(|(_, state, _)| state)
            .collect();
        let root = Set::Window(Window {
            front: 0,
            open: &[],
        });
        if self.root_reach == at && candidate(root) {
            possible.push(INITIAL);
        }
        possible.sort_unstable();
        possible.dedup();
        failure.possible = possible;
        failure
    }
}
