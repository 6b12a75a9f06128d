//! Counterexamples a person can read: which operation could not be placed, why, and how far a
//! linearization got (Porcupine's "longest partial linearization", with line numbers).

use super::model::{Spec, StateId, Step};
use super::partition::Part;
use super::search::Failure;
use crate::history::{OpFn, Operation, Outcome, Value};
use serde::Serialize;

/// One operation, located in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpSummary {
    /// Position in [`crate::history::History::operations`].
    pub op: usize,
    pub process: u64,
    pub f: OpFn,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument, or for an `ok` read/get its result.
    pub value: serde_json::Value,
    /// `ok`, `fail`, `info` or `pending` (never completed).
    pub outcome: &'static str,
    pub invoke_line: usize,
    pub complete_line: Option<usize>,
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The key whose operations are not linearizable (key-value model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The operation that cannot be placed: the history up to its completion (operations
    /// still running treated as indeterminate) is linearizable, and with it it is not. (If the
    /// budget ran out before the exhaustive search, which `reason` then says and an empty
    /// `could_hold` and no `prefix` show, only where the fast search got furthest. After a
    /// pre-check, an operation that can never be placed, not necessarily the first.)
    pub blocked: OpSummary,
    /// Why, in words.
    pub reason: String,
    /// Every value the object could hold where `blocked` could take effect, over every order
    /// of the operations before and concurrent with it that lets the operations completed
    /// before `blocked` completes return what they returned. Empty when not searched.
    pub could_hold: Vec<serde_json::Value>,
    /// The longest linearization of the operations completed before `blocked` completes (and
    /// any then still running), in order; `None` when no search established one (a pre-check
    /// decided, or the budget ran out before an exhaustive search).
    pub prefix: Option<Vec<OpSummary>>,
    /// The object's value after `prefix` (`None` with it).
    pub state_after_prefix: Option<serde_json::Value>,
    /// Other operations of the same object overlapping `blocked` in real time and not in
    /// `prefix`: the candidates a reader should look at.
    pub concurrent: Vec<OpSummary>,
}

/// What an operation is shown with: the result of a read (an invocation without argument
/// that completed `ok`), else its argument. Model-free, so every model's reports agree.
pub(crate) fn shown_value(op: &Operation) -> &Value {
    if op.outcome == Outcome::Ok && op.input == Value::Null {
        &op.output
    } else {
        &op.input
    }
}

pub(crate) fn summary(ops: &[Operation], i: usize) -> OpSummary {
    let op = &ops[i];
    OpSummary {
        op: i,
        process: op.process,
        f: op.f,
        key: op.key.clone(),
        value: shown_value(op).to_json(),
        outcome: op.outcome.as_str(),
        invoke_line: op.invoke_line(),
        complete_line: op.complete_line(),
    }
}

/// "read by process 3 (lines 12–15)", "append \"x\" by process 2 (lines 4–9)".
pub(crate) fn describe(op: &Operation) -> String {
    let arg = match &op.input {
        Value::Null => String::new(),
        v => format!(" {v}"),
    };
    let lines = match op.complete_line() {
        Some(c) => format!("lines {}–{c}", op.invoke_line()),
        None => format!("line {}, never completed", op.invoke_line()),
    };
    format!("{}{arg} by process {} ({lines})", op.f, op.process)
}

pub(crate) fn object(part: &Part) -> String {
    match part.key {
        Some(k) => format!("key {k:?}"),
        None => "register".into(),
    }
}

/// "1", "1 or 2", "1, 2 or 3".
fn one_of(values: &[serde_json::Value]) -> String {
    let s: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    match s.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

pub(crate) fn concurrent(
    ops: &[Operation],
    part: &Part,
    blocked: usize,
    prefix: &[usize],
) -> Vec<OpSummary> {
    let b = &ops[part.src[blocked]];
    let b_end = b.complete.unwrap_or(usize::MAX);
    part.src
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != blocked && !prefix.contains(&i))
        .filter(|&(_, &g)| {
            let o = &ops[g];
            o.invoke < b_end && o.complete.is_none_or(|c| c > b.invoke)
        })
        .map(|(_, &g)| summary(ops, g))
        .collect()
}

/// "1 operation", "2 operations".
pub fn operations(n: usize) -> String {
    if n == 1 {
        "1 operation".into()
    } else {
        format!("{n} operations")
    }
}

/// The explanation of a failed search. `exact` says whether the search explored every
/// configuration (then the failure names the operation that cannot be placed, and the values
/// the object could hold there, see [`Failure`]); otherwise only what the search did is said.
pub(crate) fn from_failure<S: Spec>(
    ops: &[Operation],
    part: &Part,
    failure: &Failure,
    spec: &mut S,
    exact: bool,
) -> Explanation {
    let blocked = (failure.blocked as usize).min(part.src.len().saturating_sub(1));
    let bop = &ops[part.src[blocked]];
    let step = part.ops[blocked].step;
    let mut held: Vec<serde_json::Value> =
        failure.possible.iter().map(|&s| spec.to_json(s)).collect();
    // Numbers in numeric order, strings in lexicographic order, null first.
    held.sort_by(|a, b| (a.as_i64(), a.as_str()).cmp(&(b.as_i64(), b.as_str())));
    let obj = object(part);
    let what = describe(bop);
    let completion = bop.complete_line().unwrap_or(0);
    let expected_possible = |e: StateId| failure.possible.contains(&e);
    let reason = match step {
        _ if !exact => format!(
            "not linearizable, but the budget ran out before an exhaustive search could tell which operation cannot be placed (the search got furthest at {what})"
        ),
        Step::Read(v) if !held.is_empty() => format!(
            "{what} returned {} but the {obj} could only hold {} at that point",
            spec.to_json(v),
            one_of(&held)
        ),
        Step::Cas { expected, .. } if !held.is_empty() && !expected_possible(expected) => {
            format!(
                "{what} succeeded, so the {obj} held {} just before it, but the {obj} could only hold {} at that point",
                spec.to_json(expected),
                one_of(&held)
            )
        }
        Step::CasFail { expected } if held.len() == 1 && expected_possible(expected) => format!(
            "{what} failed, so the {obj} did not hold {}, but it held {} wherever the cas could take effect",
            spec.to_json(expected),
            spec.to_json(expected)
        ),
        _ => format!(
            "{what} cannot be placed: wherever it takes effect, some operation completed before line {completion} cannot return what it returned"
        ),
    };
    let prefix_local: Vec<usize> = failure.prefix.iter().map(|&o| o as usize).collect();
    Explanation {
        key: part.key.map(str::to_owned),
        blocked: summary(ops, part.src[blocked]),
        reason,
        could_hold: if exact { held } else { Vec::new() },
        prefix: exact.then(|| {
            prefix_local
                .iter()
                .map(|&o| summary(ops, part.src[o]))
                .collect()
        }),
        state_after_prefix: exact.then(|| spec.to_json(failure.state_after_prefix)),
        concurrent: concurrent(ops, part, blocked, if exact { &prefix_local } else { &[] }),
    }
}

/// The explanation for the "value never written" pre-check.
pub(crate) fn unwritten<S: Spec>(
    ops: &[Operation],
    part: &Part,
    blocked: usize,
    value: StateId,
    spec: &S,
) -> Explanation {
    let bop = &ops[part.src[blocked]];
    let obj = object(part);
    let verb = match part.ops[blocked].step {
        Step::Read(_) => "returned",
        _ => "expected",
    };
    let reason = format!(
        "{} {verb} {} but no write to the {obj} invoked before line {} ever writes that value",
        describe(bop),
        spec.to_json(value),
        bop.complete_line().unwrap_or(0)
    );
    Explanation {
        key: part.key.map(str::to_owned),
        blocked: summary(ops, part.src[blocked]),
        reason,
        could_hold: Vec::new(),
        prefix: None,
        state_after_prefix: None,
        concurrent: concurrent(ops, part, blocked, &[]),
    }
}

/// The explanation for the "value overwritten" pre-check: `blocked` observes a value that
/// `writer` (`usize::MAX`: the initial value) alone writes, after `over` overwrote it.
pub(crate) fn overwritten<S: Spec>(
    ops: &[Operation],
    part: &Part,
    blocked: usize,
    writer: usize,
    over: usize,
    spec: &S,
) -> Explanation {
    let bop = &ops[part.src[blocked]];
    let obj = object(part);
    let (verb, value) = match part.ops[blocked].step {
        Step::Read(v) => ("returned", v),
        Step::Cas { expected, .. } => ("expected", expected),
        _ => ("observed", 0),
    };
    let source = if writer == usize::MAX {
        format!("the {obj}'s initial value, which no operation writes")
    } else {
        format!(
            "written only by {}, which completed before {} was invoked",
            describe(&ops[part.src[writer]]),
            describe(&ops[part.src[over]])
        )
    };
    let reason = format!(
        "{} {verb} {} ({source}) but {} completed before it was invoked, so the {obj} no longer held that value",
        describe(bop),
        spec.to_json(value),
        describe(&ops[part.src[over]]),
    );
    Explanation {
        key: part.key.map(str::to_owned),
        blocked: summary(ops, part.src[blocked]),
        reason,
        could_hold: Vec::new(),
        prefix: None,
        state_after_prefix: None,
        concurrent: concurrent(ops, part, blocked, &[]),
    }
}
