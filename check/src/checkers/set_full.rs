//! Acknowledged adds present in every later read: Jepsen's `set-full` checker
//! (`jepsen.checker/set-full`, with its default `:linearizable? false`), which also says when
//! each element became visible.
//!
//! Reads `add` (value: the element) and `read` (`ok` value: the list of elements in the set).
//! An element is *known* from the completion of its acknowledged add or of the first read
//! that shows it, whichever comes first; the reads invoked after that point should show it.
//! Per element, as in Jepsen:
//! - *lost* (a violation): the last read misses it;
//! - *stable*: the last read shows it; *stale* among those: some read invoked after it was
//!   known missed it (a stale read). Stale elements are reported, with the read that missed
//!   it and the time from known to *visible* (the invocation of the first read from which on
//!   every read shows it), but are not a violation: that needs the reads to be linearizable,
//!   which Jepsen only asks for with `:linearizable? true`;
//! - *never read*: no read was invoked after it was known, so nothing can be said (counted);
//! - *duplicated* (a violation): a read lists it more than once;
//! - *unexpected* (a violation): read but never added (or only by failed adds).
//!
//! As in Jepsen, an indeterminate add that no read shows is none of these: it may never have
//! happened. The verdict is violated if anything is lost, duplicated or unexpected; else
//! unknown if no element is stable (nothing was read back), else holds.

use super::{attempted, Check, Findings};
use crate::history::{History, HistoryError, OpFn, Operation, Outcome, Value};
use crate::verdict::{Status, Verdict};
use std::collections::BTreeMap;

const ADD: OpFn = OpFn::known("add");
const READ: OpFn = OpFn::known("read");

pub struct SetFull;

#[derive(Default)]
struct Element<'a> {
    added: bool,
    /// The acknowledged add completing first.
    acked: Option<&'a Operation>,
    /// The reads showing it, as indices into the reads (ascending).
    present: Vec<usize>,
}

impl Check for SetFull {
    fn name(&self) -> &'static str {
        "set-full"
    }

    fn reads(&self) -> &'static str {
        "add (value: the element), read (ok value: a list of elements)"
    }

    fn check(&self, history: &History) -> Result<Verdict, HistoryError> {
        let ops = history.operations()?;
        let mut elements: BTreeMap<&Value, Element> = BTreeMap::new();
        // `ok` reads in invocation order, with their completions (each read has one).
        let mut reads: Vec<(&Operation, usize)> = Vec::new();
        let mut findings =
            Findings::new(&["lost", "duplicated", "unexpected", "stale"]).reported(&["stale"]);
        for op in &ops {
            match (op.f, op.outcome, &op.output) {
                (f, _, _) if f == ADD && attempted(op) => {
                    let e = elements.entry(&op.input).or_default();
                    e.added = true;
                    if op.outcome == Outcome::Ok && e.acked.is_none_or(|a| a.complete > op.complete)
                    {
                        e.acked = Some(op);
                    }
                }
                (f, Outcome::Ok, Value::List(items)) if f == READ => {
                    let complete = op.complete.unwrap_or(op.invoke);
                    let mut duplicated = std::collections::BTreeSet::new();
                    for v in items.iter() {
                        let present = &mut elements.entry(v).or_default().present;
                        // An element listed twice in one read is duplicated (once per read).
                        if present.last() != Some(&reads.len()) {
                            present.push(reads.len());
                        } else if duplicated.insert(v) {
                            findings.add("duplicated", || {
                                format!(
                                    "{v} listed {} times by the read on line {}",
                                    items.iter().filter(|x| *x == v).count(),
                                    op.invoke_line()
                                )
                            });
                        }
                    }
                    reads.push((op, complete));
                }
                (f, Outcome::Ok, v) if f == READ => {
                    return Err(HistoryError::new(
                        op.complete_line().unwrap_or(0),
                        format!(
                            "read ok value must be a list of elements, got {}",
                            v.describe()
                        ),
                    ))
                }
                _ => {}
            }
        }
        let time = |event: usize| history.events.get(event).map_or(0, |e| e.time_ns);
        let (mut stable, mut stale, mut never_read) = (0usize, 0usize, 0usize);
        for (v, e) in &elements {
            if !e.added {
                if let Some(&r) = e.present.first() {
                    findings.add("unexpected", || {
                        format!(
                            "{v} read on line {} but never added (or every add failed)",
                            reads[r].0.invoke_line()
                        )
                    });
                }
                continue;
            }
            // When it became known: an acknowledgement, or the first read showing it.
            let acked = e.acked.and_then(|a| a.complete);
            let shown = e.present.first().map(|&r| reads[r].1);
            let Some(known) = acked.into_iter().chain(shown).min() else {
                continue; // indeterminate and never read: may never have happened
            };
            let how = if acked == Some(known) {
                format!("acknowledged on line {}", known + 1)
            } else {
                format!("first read on line {}", known + 1)
            };
            // The reads that must show it: those invoked after it was known.
            let from = reads.partition_point(|(r, _)| r.invoke <= known);
            if from == reads.len() {
                never_read += 1;
                continue;
            }
            let first_present = e.present.partition_point(|&r| r < from);
            let shown_after = e.present.len() - first_present;
            if shown_after == reads.len() - from {
                stable += 1;
                continue;
            }
            if e.present.last() != Some(&(reads.len() - 1)) {
                let last = reads[reads.len() - 1].0;
                findings.add("lost", || {
                    format!(
                        "{v} ({how}, time {}) is missing from the last read (line {}){}",
                        time(known),
                        last.invoke_line(),
                        match e.present.last() {
                            Some(&r) => format!(
                                ", last shown by the read on line {}",
                                reads[r].0.invoke_line()
                            ),
                            None => ", and no read ever showed it".into(),
                        }
                    )
                });
                continue;
            }
            stable += 1;
            stale += 1;
            // Stale: the first read after `known` that misses it, and the point from which on
            // every read shows it.
            let mut missing = from;
            for &r in &e.present[first_present..] {
                if r != missing {
                    break;
                }
                missing += 1;
            }
            let mut visible = reads.len() - 1;
            for w in e.present.windows(2).rev() {
                if w[1] != w[0] + 1 {
                    break;
                }
                visible = w[0];
            }
            let (miss, vis) = (reads[missing].0, reads[visible].0);
            findings.add("stale", || {
                format!(
                    "{v} ({how}, time {}) is missing from the read on line {} (time {}); visible from the read on line {} (time {}, {} ns after it was known)",
                    time(known),
                    miss.invoke_line(),
                    time(miss.invoke),
                    vis.invoke_line(),
                    time(vis.invoke),
                    time(vis.invoke).saturating_sub(time(known))
                )
            });
        }
        let v = findings.verdict(
            self.name(),
            format!(
                "{} elements, {stable} stable ({stale} of them stale), {never_read} never read after they were known, {} reads",
                elements.len(),
                reads.len()
            ),
        );
        if v.status == Status::Holds && stable == 0 {
            return Ok(Verdict::unknown(
                self.name(),
                format!("no element was read back after it was known: {}", v.detail),
            ));
        }
        Ok(v)
    }
}
