//! The [`Check`] interface and the Jepsen-style history checks beside linearizability: one
//! module per check, each reading its own operation names (documented on it and in
//! `docs/HISTORY_FORMAT.md`) and ignoring every other operation.
//!
//! Every check here runs in O(n log n) in the size of the history (the sum of its values'
//! sizes), so a million-operation history is fine; none can run out of budget. The exception
//! is `session`'s writes-follow-reads in one shape of history, said in its module doc.

mod session;
mod set_full;
mod total_queue;
mod unique_ids;

pub use session::Session;
pub use set_full::SetFull;
pub use total_queue::TotalQueue;
pub use unique_ids::UniqueIds;

use crate::history::{History, HistoryError, Operation, Outcome};
use crate::linearizability::{self, Budget, Model};
use crate::verdict::Verdict;

/// A check of a whole history.
pub trait Check {
    /// The name `consim check --checker` uses, and the verdict's name.
    fn name(&self) -> &'static str;
    /// What the check reads: operation names and fields, in words.
    fn reads(&self) -> &'static str;
    /// The verdict, with its evidence (operation, line, what was expected) when violated; a
    /// value of a shape the check cannot read is bad input on its line.
    fn check(&self, history: &History) -> Result<Verdict, HistoryError>;
}

/// Every check's `--checker` name, the one list: [`by_name`] knows each (tested) and the CLI
/// offers exactly these.
pub const NAMES: &[&str] = &[
    "linearizable",
    "session",
    "total-queue",
    "set-full",
    "unique-ids",
];

/// Every check by its `--checker` name (one of [`NAMES`]): `linearizable` (against the model
/// the history begins with), `session`, `total-queue`, `set-full`, `unique-ids`.
pub fn by_name(name: &str) -> Option<Box<dyn Check>> {
    Some(match name {
        "linearizable" => Box::new(Linearizable {
            model: None,
            budget: Budget::default(),
        }),
        "session" => Box::new(Session),
        "total-queue" => Box::new(TotalQueue),
        "set-full" => Box::new(SetFull),
        "unique-ids" => Box::new(UniqueIds),
        _ => return None,
    })
}

/// Linearizability as a [`Check`]: the verdict of [`linearizability::check`], its explanation
/// as evidence.
pub struct Linearizable {
    /// `None`: the model the history's first operation belongs to.
    pub model: Option<Model>,
    pub budget: Budget,
}

impl Check for Linearizable {
    fn name(&self) -> &'static str {
        "linearizable"
    }

    fn reads(&self) -> &'static str {
        "register read/write/cas or key-value get/put/append, with key and value"
    }

    fn check(&self, history: &History) -> Result<Verdict, HistoryError> {
        let model = self
            .model
            .or_else(|| Model::of(history))
            .unwrap_or(Model::Register);
        let r = linearizability::check(history, model, &self.budget)?;
        let ops = linearizability::operations(r.stats.operations);
        Ok(match (r.verdict, r.explanation, r.unknown_reason) {
            (linearizability::Verdict::NotLinearizable, Some(e), _) => Verdict::violated(
                self.name(),
                format!("{} (line {})", e.reason, e.blocked.invoke_line),
            ),
            (linearizability::Verdict::Linearizable, ..) => {
                Verdict::holds(self.name(), format!("{ops}, {} model", model.as_str()))
            }
            (_, _, why) => Verdict::unknown(self.name(), why.unwrap_or_default()),
        })
    }
}

/// The evidence a check gathers: per kind of finding, how many and the first few, so a
/// history with a million lost messages cannot pile up a million strings. A kind is either a
/// violation or only reported (Jepsen's duplicated deliveries, stale reads): reported kinds
/// are listed in the detail whatever the verdict, and never make it violated.
pub(crate) struct Findings {
    kinds: Vec<Kind>,
}

struct Kind {
    name: &'static str,
    count: usize,
    examples: Vec<String>,
    violates: bool,
}

/// Examples kept per kind of violation.
const EXAMPLES: usize = 5;

impl Findings {
    /// The kinds, in the order reports list them; each a violation.
    pub(crate) fn new(kinds: &[&'static str]) -> Findings {
        Findings {
            kinds: kinds
                .iter()
                .map(|&name| Kind {
                    name,
                    count: 0,
                    examples: Vec::new(),
                    violates: true,
                })
                .collect(),
        }
    }

    /// Marks `kinds` as reported only: listed in the detail, never a violation.
    pub(crate) fn reported(mut self, kinds: &[&'static str]) -> Findings {
        for k in &mut self.kinds {
            if kinds.contains(&k.name) {
                k.violates = false;
            }
        }
        self
    }

    /// Records one finding of `kind`; `evidence` is only built for the first few.
    pub(crate) fn add(&mut self, kind: &'static str, evidence: impl FnOnce() -> String) {
        if let Some(k) = self.kinds.iter_mut().find(|k| k.name == kind) {
            k.count += 1;
            if k.examples.len() < EXAMPLES {
                k.examples.push(evidence());
            }
        }
    }

    /// Violated if a violating kind was found, the detail a summary line ("lost 2,
    /// duplicated 1") followed by one line per example. Else holds with `holds_detail`, followed
    /// by what was reported ("; reported: stale 1" and its examples).
    pub(crate) fn verdict(self, name: &'static str, holds_detail: String) -> Verdict {
        let violated = self.kinds.iter().any(|k| k.violates && k.count > 0);
        let found: Vec<_> = self.kinds.into_iter().filter(|k| k.count > 0).collect();
        let summary: Vec<String> = found
            .iter()
            .map(|k| format!("{} {}", k.name, k.count))
            .collect();
        let mut detail = match (violated, found.is_empty()) {
            (true, _) => summary.join(", "),
            (false, true) => holds_detail,
            (false, false) => format!("{holds_detail}; reported: {}", summary.join(", ")),
        };
        for k in &found {
            for e in &k.examples {
                detail.push_str(&format!("\n{}: {e}", k.name));
            }
            if k.count > k.examples.len() {
                detail.push_str(&format!(
                    "\n{}: … and {} more",
                    k.name,
                    k.count - k.examples.len()
                ));
            }
        }
        if violated {
            Verdict::violated(name, detail)
        } else {
            Verdict::holds(name, detail)
        }
    }
}

/// "lines 3–4", "line 3, never completed": where an operation is in the file.
pub(crate) fn lines(op: &Operation) -> String {
    match op.complete_line() {
        Some(c) => format!("lines {}–{c}", op.invoke_line()),
        None => format!("line {}, never completed", op.invoke_line()),
    }
}

/// Whether `op` may have taken effect: `ok` or indeterminate (`info`, never completed), as
/// Jepsen counts attempts; a `fail` certainly did not.
pub(crate) fn attempted(op: &Operation) -> bool {
    op.outcome != Outcome::Fail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_a_check_of_that_name() {
        for &name in NAMES {
            let check = by_name(name).unwrap_or_else(|| panic!("no check {name}"));
            assert_eq!(check.name(), name);
        }
        assert!(by_name("no-such-check").is_none());
    }
}
