//! Sequential specifications of the two models, over interned states.
//!
//! The search compares and hashes states on every step, so a state is a `u32` id: register
//! values and key-value strings are interned once, and an `append` result is hash-consed
//! (`(state, suffix) -> state` is computed once and then looked up), which keeps the search
//! loop free of string building and allocation after the first visit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A state id. Id 0 is always the initial state (`null` register, `""` key).
pub(crate) type StateId = u32;
pub(crate) const INITIAL: StateId = 0;

/// One operation as the search sees it, after the format's rules dropped the operations that
/// constrain nothing (failed writes, failed or indeterminate reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `ok` read/get: the state must equal the id.
    Read(StateId),
    /// write/put: the state becomes the id.
    Write(StateId),
    /// cas that took effect (`ok`, or an indeterminate one that is linearized): the state must
    /// equal `expected` and becomes `new`. An indeterminate cas whose comparison failed is a
    /// no-op, which the search covers by not linearizing it at all.
    Cas { expected: StateId, new: StateId },
    /// `fail` cas: the state must differ from `expected`, and stays.
    CasFail { expected: StateId },
    /// append: the state becomes the state followed by the suffix (an id in the suffix table).
    Append(u32),
}

/// A sequential specification over interned states.
pub(crate) trait Spec {
    /// The state after applying `step` to `state`, or `None` if the step's precondition or
    /// recorded result does not hold there.
    fn apply(&mut self, state: StateId, step: Step) -> Option<StateId>;
    /// The state as a JSON value, for reports.
    fn to_json(&self, state: StateId) -> serde_json::Value;
    /// Heap bytes held, counted against the memory budget.
    fn heap_bytes(&self) -> usize;
    /// Whether every state reachable from `state` by appends alone can still reach `target`
    /// (for strings: `state` is a prefix of `target`). Models without appends never ask.
    fn extends_to(&self, state: StateId, target: StateId) -> bool {
        let _ = (state, target);
        true
    }
}

/// FxHash-style hasher: the keys are small integers and strings we produced ourselves, so
/// SipHash's flooding resistance buys nothing here and costs most of a lookup.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The register: one `i64` or `null`.
#[derive(Default, Clone)]
pub(crate) struct Register {
    ids: FxMap<i64, StateId>,
    /// `values[id - 1]`; id 0 is `null`.
    values: Vec<i64>,
}

impl Register {
    pub(crate) fn intern(&mut self, v: Option<i64>) -> StateId {
        let Some(v) = v else { return INITIAL };
        let next = self.values.len() as StateId + 1;
        *self.ids.entry(v).or_insert_with(|| {
            self.values.push(v);
            next
        })
    }
}

impl Spec for Register {
    #[inline]
    fn apply(&mut self, state: StateId, step: Step) -> Option<StateId> {
        match step {
            Step::Read(v) => (state == v).then_some(state),
            Step::Write(v) => Some(v),
            Step::Cas { expected, new } => (state == expected).then_some(new),
            Step::CasFail { expected } => (state != expected).then_some(state),
            Step::Append(_) => None,
        }
    }

    fn to_json(&self, state: StateId) -> serde_json::Value {
        match state {
            INITIAL => serde_json::Value::Null,
            s => self.values.get(s as usize - 1).copied().into(),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.values.capacity() * 8 + self.ids.capacity() * 16
    }
}

/// One key of the key-value model: a string, initially `""`.
#[derive(Clone)]
pub(crate) struct KvKey {
    ids: FxMap<Box<str>, StateId>,
    strings: Vec<Box<str>>,
    suffixes: Vec<Box<str>>,
    /// Hash-consed appends: `(state, suffix) -> state`.
    appended: FxMap<(StateId, u32), StateId>,
    string_bytes: usize,
}

impl Default for KvKey {
    fn default() -> Self {
        let mut k = KvKey {
            ids: FxMap::default(),
            strings: Vec::new(),
            suffixes: Vec::new(),
            appended: FxMap::default(),
            string_bytes: 0,
        };
        k.intern("");
        k
    }
}

impl KvKey {
    pub(crate) fn intern(&mut self, s: &str) -> StateId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as StateId;
        self.string_bytes += 2 * s.len();
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    pub(crate) fn suffix(&mut self, s: &str) -> u32 {
        self.suffixes.push(s.into());
        self.string_bytes += s.len();
        self.suffixes.len() as u32 - 1
    }

    pub(crate) fn string(&self, id: StateId) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }
}

impl Spec for KvKey {
    #[inline]
    fn apply(&mut self, state: StateId, step: Step) -> Option<StateId> {
        match step {
            Step::Read(v) => (state == v).then_some(state),
            Step::Write(v) => Some(v),
            Step::Append(suffix) => {
                if let Some(&s) = self.appended.get(&(state, suffix)) {
                    return Some(s);
                }
                let mut s = String::with_capacity(64);
                s.push_str(self.string(state));
                s.push_str(self.suffixes.get(suffix as usize).map_or("", |s| s));
                let id = self.intern(&s);
                self.appended.insert((state, suffix), id);
                Some(id)
            }
            Step::Cas { .. } | Step::CasFail { .. } => None,
        }
    }

    fn to_json(&self, state: StateId) -> serde_json::Value {
        self.string(state).into()
    }

    fn extends_to(&self, state: StateId, target: StateId) -> bool {
        state == target || self.string(target).starts_with(self.string(state))
    }

    fn heap_bytes(&self) -> usize {
        self.string_bytes
            + self.strings.capacity() * 16
            + self.ids.capacity() * 24
            + self.appended.capacity() * 16
    }
}
