//! No id handed out twice: Jepsen's `unique-ids` checker (`jepsen.checker/unique-ids`).
//!
//! Reads `generate`: its `ok` value is the id (any JSON value). Failed and indeterminate
//! generates returned nothing, so they constrain nothing.

use super::{Check, Findings};
use crate::history::{History, HistoryError, OpFn, Outcome, Value};
use crate::verdict::Verdict;
use std::collections::BTreeMap;

const GENERATE: OpFn = OpFn::known("generate");

pub struct UniqueIds;

impl Check for UniqueIds {
    fn name(&self) -> &'static str {
        "unique-ids"
    }

    fn reads(&self) -> &'static str {
        "generate (ok value: the id)"
    }

    fn check(&self, history: &History) -> Result<Verdict, HistoryError> {
        let ops = history.operations()?;
        // id -> (how many times returned, the lines of the first two)
        let mut ids: BTreeMap<&Value, (usize, [usize; 2])> = BTreeMap::new();
        let (mut attempts, mut acked) = (0usize, 0usize);
        for op in ops.iter().filter(|o| o.f == GENERATE) {
            attempts += 1;
            if op.outcome != Outcome::Ok {
                continue;
            }
            acked += 1;
            let (n, at) = ids.entry(&op.output).or_default();
            if *n < 2 {
                at[*n] = op.complete_line().unwrap_or(0);
            }
            *n += 1;
        }
        let mut findings = Findings::new(&["duplicated"]);
        for (id, (n, at)) in ids.iter().filter(|(_, (n, _))| *n > 1) {
            findings.add("duplicated", || {
                format!(
                    "id {id} returned {n} times (first on lines {} and {})",
                    at[0], at[1]
                )
            });
        }
        Ok(findings.verdict(
            self.name(),
            format!(
                "{attempts} generates, {acked} acknowledged, {} distinct ids",
                ids.len()
            ),
        ))
    }
}
