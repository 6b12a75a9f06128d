//! Every acknowledged enqueue dequeued: Jepsen's `total-queue` checker
//! (`jepsen.checker/total-queue`).
//!
//! Reads `enqueue` (value: the message) and `dequeue` (`ok` value: the message; `null` or a
//! `fail` means the queue was empty), and `drain` (`ok` value: the list of messages taken).
//! Messages are told apart by value. As in Jepsen, an indeterminate (`info`) enqueue may or
//! may not have been delivered: it is never lost, and dequeuing it is not unexpected. Unlike
//! Jepsen, a `fail`ed enqueue counts as not attempted (the format says it took no effect), so
//! dequeuing it is unexpected. Per message, with `a` acknowledged enqueues, `e` enqueues that
//! may have taken effect and `d` dequeues: lost if `d < a`, unexpected if `e = 0 < d`,
//! duplicated if `0 < e < d`. As in Jepsen (`(and (empty? lost) (empty? unexpected))`), lost
//! and unexpected messages are violations; duplicated ones are reported and the verdict holds
//! (an at-least-once queue delivers some messages twice).

use super::{attempted, Check, Findings};
use crate::history::{History, HistoryError, OpFn, Outcome, Value};
use crate::verdict::Verdict;
use std::collections::BTreeMap;

const ENQUEUE: OpFn = OpFn::known("enqueue");
const DEQUEUE: OpFn = OpFn::known("dequeue");
const DRAIN: OpFn = OpFn::known("drain");

pub struct TotalQueue;

/// One message's counts, and a line to show for each.
#[derive(Default)]
struct Counts {
    acked: usize,
    attempted: usize,
    dequeued: usize,
    /// The line of the first acknowledged enqueue.
    acked_line: usize,
    /// The lines of the first two dequeues.
    dequeue_lines: [usize; 2],
}

impl Check for TotalQueue {
    fn name(&self) -> &'static str {
        "total-queue"
    }

    fn reads(&self) -> &'static str {
        "enqueue (value), dequeue (ok value, null when empty), drain (ok value: a list)"
    }

    fn check(&self, history: &History) -> Result<Verdict, HistoryError> {
        let ops = history.operations()?;
        let mut messages: BTreeMap<&Value, Counts> = BTreeMap::new();
        let (mut enqueues, mut dequeues) = (0usize, 0usize);
        for op in &ops {
            let line = op.complete_line().unwrap_or(0);
            match (op.f, op.outcome, &op.output) {
                (f, _, _) if f == ENQUEUE => {
                    enqueues += 1;
                    if !attempted(op) {
                        continue;
                    }
                    let c = messages.entry(&op.input).or_default();
                    c.attempted += 1;
                    if op.outcome == Outcome::Ok {
                        if c.acked == 0 {
                            c.acked_line = line;
                        }
                        c.acked += 1;
                    }
                }
                (f, Outcome::Ok, Value::Null) if f == DEQUEUE => {}
                (f, Outcome::Ok, v) if f == DEQUEUE => {
                    dequeues += 1;
                    dequeue(&mut messages, v, line);
                }
                (f, Outcome::Ok, Value::List(taken)) if f == DRAIN => {
                    dequeues += taken.len();
                    taken.iter().for_each(|v| dequeue(&mut messages, v, line));
                }
                (f, Outcome::Ok, v) if f == DRAIN => {
                    return Err(HistoryError::new(
                        line,
                        format!(
                            "drain ok value must be a list of messages, got {}",
                            v.describe()
                        ),
                    ))
                }
                _ => {}
            }
        }
        let mut findings =
            Findings::new(&["lost", "unexpected", "duplicated"]).reported(&["duplicated"]);
        for (v, c) in &messages {
            if c.dequeued < c.acked {
                findings.add("lost", || {
                    format!(
                        "{v} enqueued (acknowledged on line {}) but dequeued {} of {} times",
                        c.acked_line, c.dequeued, c.acked
                    )
                });
            }
            if c.attempted == 0 && c.dequeued > 0 {
                findings.add("unexpected", || {
                    format!(
                        "{v} dequeued on line {} but never enqueued (or every enqueue failed)",
                        c.dequeue_lines[0]
                    )
                });
            } else if c.dequeued > c.attempted.max(1) {
                findings.add("duplicated", || {
                    format!(
                        "{v} dequeued {} times (lines {} and {}…) but enqueued at most {} times",
                        c.dequeued, c.dequeue_lines[0], c.dequeue_lines[1], c.attempted
                    )
                });
            }
        }
        Ok(findings.verdict(
            self.name(),
            format!("{enqueues} enqueues, {dequeues} messages dequeued"),
        ))
    }
}

fn dequeue<'a>(messages: &mut BTreeMap<&'a Value, Counts>, v: &'a Value, line: usize) {
    let c = messages.entry(v).or_default();
    if c.dequeued < 2 {
        c.dequeue_lines[c.dequeued] = line;
    }
    c.dequeued += 1;
}
