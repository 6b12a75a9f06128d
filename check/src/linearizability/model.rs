//! Sequential specifications, over interned states: the open [`SequentialSpec`] trait a
//! model implements, and the register and key-value models.
//!
//! The search compares and hashes states on every step, so a state is a `u32` id: register
//! values and key-value strings are interned once, and an `append` result is hash-consed
//! (`(state, suffix) -> state` is computed once and then looked up), which keeps the search
//! loop free of string building and allocation after the first visit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::history::{Event, EventType, OpFn, Operation, Outcome, Value};

/// A state id. Id 0 is always the initial state (`null` register, `""` key).
pub type StateId = u32;
pub const INITIAL: StateId = 0;

/// One operation as the search sees it, after the format's rules dropped the operations that
/// constrain nothing (failed writes, failed or indeterminate reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
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

/// One independent object's states: how steps apply to them (the search calls this on every
/// step, so it works on interned ids and never allocates once a state is known).
pub trait Spec {
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
pub struct Register {
    ids: FxMap<i64, StateId>,
    /// `values[id - 1]`; id 0 is `null`.
    values: Vec<i64>,
}

impl Register {
    pub fn intern(&mut self, v: Option<i64>) -> StateId {
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
pub struct KvKey {
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
    pub fn intern(&mut self, s: &str) -> StateId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strings.len() as StateId;
        self.string_bytes += 2 * s.len();
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    pub fn suffix(&mut self, s: &str) -> u32 {
        self.suffixes.push(s.into());
        self.string_bytes += s.len();
        self.suffixes.len() as u32 - 1
    }

    pub fn string(&self, id: StateId) -> &str {
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

/// A sequential specification a history is checked against: which operations it reads, the
/// shapes their values take, how its operations split into independent objects, and what each
/// operation does to its object, as a [`Step`] over the object's interned [`Spec`] states.
/// Implement it for a new model; the search is generic over it, so a model costs no dispatch.
pub trait SequentialSpec {
    /// One independent object's states.
    type Object: Spec + Default + Clone + Send;
    /// The name `--model` uses.
    fn name(&self) -> &'static str;
    /// The operation names the model reads; any other `f` is bad input.
    fn operations(&self) -> &'static [OpFn];
    /// Checks one event's `key` and `value` (its `f` is one of [`Self::operations`]).
    fn validate(&self, event: &Event) -> Result<(), String>;
    /// Whether an `ok` completion of `f` repeats its invocation's value (a different one is
    /// a broken recorder).
    fn echoes(&self, f: OpFn) -> bool;
    /// The independent object `op` addresses (`None`: the history is one object).
    fn object<'a>(&self, op: &'a Operation) -> Option<&'a str>;
    /// What `op` does to `object`, interning its values there; `None` for an operation that
    /// constrains nothing (a failed write, a failed or indeterminate read).
    fn step(&self, op: &Operation, object: &mut Self::Object) -> Option<Step>;
    /// Whether `op` shows the object's value (a read), for explanations.
    fn reads(&self, f: OpFn) -> bool;
}

/// The register model: `read`, `write`, `cas` on one integer register, initially `null`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterSpec;

/// The key-value model: `get`, `put`, `append` on string keys, each initially `""`.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvSpec;

/// The format's rule on `fail` and `info` values: ignored, so any shape goes.
fn value_counts(e: &Event) -> bool {
    matches!(e.kind, EventType::Invoke | EventType::Ok)
}

fn shape_error(e: &Event, want: &str) -> String {
    format!(
        "{} {} value must be {want}, got {}",
        e.f,
        e.kind.as_str(),
        e.value.describe()
    )
}

impl SequentialSpec for RegisterSpec {
    type Object = Register;

    fn name(&self) -> &'static str {
        "register"
    }

    fn operations(&self) -> &'static [OpFn] {
        &[OpFn::Read, OpFn::Write, OpFn::Cas]
    }

    fn validate(&self, e: &Event) -> Result<(), String> {
        if e.key.is_some() {
            return Err(format!(
                "`{}` is a register operation and takes no `key`",
                e.f
            ));
        }
        let want = match (e.f, e.kind) {
            _ if !value_counts(e) => return Ok(()),
            (OpFn::Read, EventType::Invoke) => (e.value == Value::Null, "null"),
            (OpFn::Read, _) => (
                matches!(e.value, Value::Null | Value::Int(_)),
                "an integer or null",
            ),
            (OpFn::Write, _) => (matches!(e.value, Value::Int(_)), "an integer"),
            _ => (
                e.value.pair().is_some(),
                "an [expected, new] array of two integers",
            ),
        };
        match want {
            (true, _) => Ok(()),
            (false, want) => Err(shape_error(e, want)),
        }
    }

    fn echoes(&self, f: OpFn) -> bool {
        f != OpFn::Read
    }

    fn object<'a>(&self, _: &'a Operation) -> Option<&'a str> {
        None
    }

    fn step(&self, op: &Operation, spec: &mut Register) -> Option<Step> {
        let int = |v: &Value| match v {
            Value::Int(x) => Some(Some(*x)),
            Value::Null => Some(None),
            _ => None,
        };
        match (op.f, op.outcome) {
            (OpFn::Read, Outcome::Ok) => int(&op.output).map(|v| Step::Read(spec.intern(v))),
            (OpFn::Write, Outcome::Fail) => None,
            (OpFn::Write, _) => int(&op.input).map(|v| Step::Write(spec.intern(v))),
            (OpFn::Cas, outcome) => {
                let (e, n) = op.input.pair()?;
                let expected = spec.intern(Some(e));
                Some(match outcome {
                    Outcome::Fail => Step::CasFail { expected },
                    _ => Step::Cas {
                        expected,
                        new: spec.intern(Some(n)),
                    },
                })
            }
            // Failed/indeterminate reads: no constraint.
            _ => None,
        }
    }

    fn reads(&self, f: OpFn) -> bool {
        f == OpFn::Read
    }
}

impl SequentialSpec for KvSpec {
    type Object = KvKey;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn operations(&self) -> &'static [OpFn] {
        &[OpFn::Get, OpFn::Put, OpFn::Append]
    }

    fn validate(&self, e: &Event) -> Result<(), String> {
        if e.key.is_none() {
            return Err(format!("`{}` needs a `key` (key-value model)", e.f));
        }
        let ok = match (e.f, e.kind) {
            _ if !value_counts(e) => return Ok(()),
            (OpFn::Get, EventType::Invoke) => e.value == Value::Null,
            _ => matches!(e.value, Value::Str(_)),
        };
        match (ok, e.f, e.kind) {
            (true, ..) => Ok(()),
            (false, OpFn::Get, EventType::Invoke) => Err(shape_error(e, "null")),
            _ => Err(shape_error(e, "a string")),
        }
    }

    fn echoes(&self, f: OpFn) -> bool {
        f != OpFn::Get
    }

    fn object<'a>(&self, op: &'a Operation) -> Option<&'a str> {
        op.key.as_deref()
    }

    fn step(&self, op: &Operation, spec: &mut KvKey) -> Option<Step> {
        match (op.f, op.outcome, &op.input, &op.output) {
            (OpFn::Get, Outcome::Ok, _, Value::Str(s)) => Some(Step::Read(spec.intern(s))),
            (OpFn::Put | OpFn::Append, Outcome::Fail, _, _) => None,
            (OpFn::Put, _, Value::Str(s), _) => Some(Step::Write(spec.intern(s))),
            (OpFn::Append, _, Value::Str(s), _) => Some(Step::Append(spec.suffix(s))),
            _ => None,
        }
    }

    fn reads(&self, f: OpFn) -> bool {
        f == OpFn::Get
    }
}
