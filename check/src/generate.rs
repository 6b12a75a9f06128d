//! Seeded random histories for tests and benches: `P` clients against a register or a
//! key-value store that really is atomic (each operation takes effect at an instant drawn
//! inside its interval), so the history is linearizable unless an anomaly is injected.
//!
//! Written values are distinct (`write` 1, 2, 3 …; `put` "p1" …), as Jepsen's generators do.
//! A fraction of operations ends `info`: the operation took effect or not (a coin) and the
//! client continues under a fresh process number, as the format requires. The anomaly, when
//! asked for, is a stale read: an `ok` read late in the history is made to return the value of
//! a write that was overwritten, by a write that completed, before the read was invoked — never
//! linearizable.
//!
//! The random numbers are splitmix64, written here, so a seed means the same history on every
//! platform and no dependency is needed.

use crate::history::{EventType, History, OpFn, Value};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Which model the history's operations belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `read`, `write` and (if [`Config::cas`]) `cas` on one register.
    Register,
    /// `get`, `put` and (if [`Config::appends`]) `append` on [`Config::keys`] keys.
    Kv,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub kind: Kind,
    /// Operations (invocations) in the history.
    pub operations: usize,
    /// Concurrent clients.
    pub processes: usize,
    /// Percentage of operations that end `info` (0–100).
    pub info_percent: u32,
    /// Keys, for [`Kind::Kv`].
    pub keys: usize,
    /// Register: some operations are `cas` (`ok` or `fail`).
    pub cas: bool,
    /// Key-value: some operations are `append`.
    pub appends: bool,
    /// Inject one stale read (the history is then not linearizable). With appends the anomaly
    /// is not injected (an appended value is built, not written).
    pub anomaly: bool,
    /// Longest think time between a client's operations, in ns (0: always busy).
    pub think_ns: u64,
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kind: Kind::Register,
            operations: 1000,
            processes: 10,
            info_percent: 5,
            keys: 8,
            cas: false,
            appends: false,
            anomaly: false,
            think_ns: 20_000,
            seed: 1,
        }
    }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn percent(&mut self, p: u32) -> bool {
        self.below(100) < p as u64
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Invoke,
    TakeEffect,
    Complete,
}

struct Op {
    f: OpFn,
    key: Option<String>,
    input: Value,
    output: Value,
    info: bool,
    ok: bool,
    invoke_at: u64,
    complete_event: usize,
    complete_at: u64,
}

/// The register's or a key's value.
#[derive(Clone, PartialEq)]
enum State {
    Int(Option<i64>),
    Str(String),
}

/// A history as `config` says.
pub fn history(config: &Config) -> History {
    let mut rng = Rng(config.seed ^ 0x005e_ed0f_c0de);
    let p = config.processes.max(1);
    let keys = config.keys.max(1);
    let mut process: Vec<u64> = (0..p as u64).collect();
    let mut next_process = p as u64;
    let mut current: Vec<Option<usize>> = vec![None; p];
    let mut ops: Vec<Op> = Vec::with_capacity(config.operations);
    let initial = match config.kind {
        Kind::Register => State::Int(None),
        Kind::Kv => State::Str(String::new()),
    };
    let mut state: Vec<State> = vec![initial; keys];
    let mut queue: BinaryHeap<Reverse<(u64, Step, usize)>> = BinaryHeap::new();
    for c in 0..p {
        queue.push(Reverse((rng.below(1000), Step::Invoke, c)));
    }
    let mut h = History::default();
    let mut written: i64 = 0;
    while let Some(Reverse((t, step, c))) = queue.pop() {
        match step {
            Step::Invoke => {
                if ops.len() >= config.operations {
                    continue;
                }
                written += 1;
                let key_ix = rng.below(keys as u64) as usize;
                let roll = rng.below(100);
                let (f, key, input) = match config.kind {
                    Kind::Register => {
                        if config.cas && roll < 10 {
                            let expected = match &state[0] {
                                State::Int(Some(v)) if rng.percent(60) => *v,
                                _ => (written - 1 - rng.below(3) as i64).max(1),
                            };
                            let pair = [Value::Int(expected), Value::Int(written)];
                            (OpFn::Cas, None, Value::List(Box::new(pair)))
                        } else if roll < 55 {
                            (OpFn::Read, None, Value::Null)
                        } else {
                            (OpFn::Write, None, Value::Int(written))
                        }
                    }
                    Kind::Kv => {
                        let key = Some(format!("k{key_ix}"));
                        if config.appends && roll < 25 {
                            (OpFn::Append, key, Value::Str(format!("{written},")))
                        } else if roll < 55 {
                            (OpFn::Get, key, Value::Null)
                        } else {
                            (OpFn::Put, key, Value::Str(format!("p{written}")))
                        }
                    }
                };
                h.push(
                    t,
                    process[c],
                    EventType::Invoke,
                    f,
                    key.clone(),
                    input.clone(),
                    None,
                );
                current[c] = Some(ops.len());
                ops.push(Op {
                    f,
                    key,
                    input,
                    output: Value::Null,
                    info: rng.percent(config.info_percent),
                    ok: true,
                    invoke_at: t,
                    complete_event: 0,
                    complete_at: 0,
                });
                queue.push(Reverse((t + 1 + rng.below(100_000), Step::TakeEffect, c)));
            }
            Step::TakeEffect => {
                let Some(o) = current[c] else { continue };
                let op = &mut ops[o];
                // An indeterminate operation takes effect or not, a coin.
                let happens = !op.info || rng.percent(50);
                let k = op
                    .key
                    .as_deref()
                    .and_then(|k| k[1..].parse::<usize>().ok())
                    .unwrap_or(0);
                let s = &mut state[k];
                match (op.f, s) {
                    (OpFn::Read, State::Int(v)) => op.output = v.map_or(Value::Null, Value::Int),
                    (OpFn::Get, State::Str(v)) => op.output = Value::Str(v.clone()),
                    (OpFn::Write, State::Int(v)) if happens => {
                        *v = match op.input {
                            Value::Int(x) => Some(x),
                            _ => None,
                        }
                    }
                    (OpFn::Put, State::Str(v)) if happens => {
                        if let Value::Str(x) = &op.input {
                            v.clone_from(x);
                        }
                    }
                    (OpFn::Append, State::Str(v)) if happens => {
                        if let Value::Str(x) = &op.input {
                            v.push_str(x);
                        }
                    }
                    (OpFn::Cas, State::Int(v)) => {
                        let (e, n) = op.input.pair().unwrap_or((0, 0));
                        op.ok = *v == Some(e);
                        if op.ok && happens {
                            *v = Some(n);
                        }
                    }
                    _ => {}
                }
                queue.push(Reverse((t + 1 + rng.below(100_000), Step::Complete, c)));
            }
            Step::Complete => {
                let Some(o) = current[c].take() else { continue };
                let op = &mut ops[o];
                let (kind, value) = if op.info {
                    (EventType::Info, op.input.clone())
                } else if !op.ok {
                    (EventType::Fail, op.input.clone())
                } else if matches!(op.f, OpFn::Read | OpFn::Get) {
                    (EventType::Ok, op.output.clone())
                } else {
                    (EventType::Ok, op.input.clone())
                };
                op.complete_event = h.events.len();
                op.complete_at = t;
                h.push(t, process[c], kind, op.f, op.key.clone(), value, None);
                if op.info {
                    process[c] = next_process;
                    next_process += 1;
                }
                let think = 1 + rng.below(config.think_ns);
                queue.push(Reverse((t + think, Step::Invoke, c)));
            }
        }
    }
    if config.anomaly && !config.appends {
        inject_stale_read(&mut h, &ops, &mut rng);
    }
    h
}

/// Makes one `ok` read in the second half return an overwritten value (see the module).
fn inject_stale_read(h: &mut History, ops: &[Op], rng: &mut Rng) {
    let n = ops.len();
    let is_write = |o: &Op| matches!(o.f, OpFn::Write | OpFn::Put) && !o.info && o.ok;
    for _ in 0..64 {
        let r = n / 2 + rng.below((n - n / 2) as u64) as usize;
        let read = &ops[r];
        if !matches!(read.f, OpFn::Read | OpFn::Get) || read.info {
            continue;
        }
        let same = |o: &&Op| o.key == read.key && is_write(o);
        let Some(w2) = ops[..r]
            .iter()
            .filter(same)
            .filter(|o| o.complete_at < read.invoke_at)
            .max_by_key(|o| o.complete_at)
        else {
            continue;
        };
        let Some(w1) = ops[..r]
            .iter()
            .filter(same)
            .rfind(|o| o.complete_at < w2.invoke_at)
        else {
            continue;
        };
        h.events[read.complete_event].value = w1.input.clone();
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::{check, Budget, Model, Verdict};

    #[test]
    fn generated_histories_are_valid_and_seeded() {
        for kind in [Kind::Register, Kind::Kv] {
            let c = Config {
                kind,
                operations: 500,
                cas: true,
                appends: true,
                ..Config::default()
            };
            let h = history(&c);
            assert_eq!(h, history(&c), "same seed, same history");
            let ops = h.operations().expect("valid");
            assert_eq!(ops.len(), 500);
            let model = match kind {
                Kind::Register => Model::Register,
                Kind::Kv => Model::Kv,
            };
            let r = check(&h, model, &Budget::default()).expect("valid");
            assert_eq!(r.verdict, Verdict::Linearizable, "{kind:?}");
            let bad = history(&Config {
                anomaly: true,
                appends: false,
                ..c
            });
            let r = check(&bad, model, &Budget::default()).expect("valid");
            assert_eq!(r.verdict, Verdict::NotLinearizable, "{kind:?}");
        }
    }
}
