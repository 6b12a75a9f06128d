//! Session guarantees (Terry, Demers, Petersen, Spreitzer, Theimer & Welch 1994, "Session
//! guarantees for weakly consistent replicated data"): read-your-writes, monotonic reads,
//! monotonic writes and writes-follow-reads, on list-append histories.
//!
//! Reads `append` (value: an element, unique per key; `key` optional) and `read` (`ok` value:
//! the list of elements the key holds), in histories whose events carry a `session`; events
//! without one are not checked. A read's list is the set of writes its server had applied,
//! in the server's order, which is what the paper's guarantees are stated over. Within a
//! session operations are in invocation order; only acknowledged appends are the session's
//! writes (an indeterminate one may never have happened). Per key:
//! - read-your-writes: a read shows every append its session acknowledged before it;
//! - monotonic reads: a read shows every element the session's previous read showed;
//! - monotonic writes: a read showing a session's append shows that session's previous
//!   append, earlier in the list;
//! - writes-follow-reads: a read showing a session's append shows, earlier in the list, what
//!   that session's last read before the append showed.

use super::{Check, Findings};
use crate::history::{History, HistoryError, OpFn, Operation, Outcome, Value};
use crate::verdict::Verdict;
use std::collections::{BTreeMap, HashMap};

const APPEND: OpFn = OpFn::known("append");
const READ: OpFn = OpFn::known("read");

const RYW: &str = "read-your-writes";
const MR: &str = "monotonic-reads";
const MW: &str = "monotonic-writes";
const WFR: &str = "writes-follow-reads";

pub struct Session;

/// One session's state on one key.
#[derive(Default)]
struct Thread<'a> {
    /// The previous read (an index into `reads`).
    last_read: Option<usize>,
    /// The previous acknowledged append's element.
    last_append: Option<&'a Value>,
    /// Acknowledged appends since the previous read, not yet checked by a read.
    unread: Vec<&'a Operation>,
}

/// What an acknowledged append depends on, for the writes guarantees.
struct Append<'a> {
    op: &'a Operation,
    /// The session's previous acknowledged append on the key.
    previous: Option<&'a Value>,
    /// The session's last read of the key before it.
    after_read: Option<usize>,
}

impl Check for Session {
    fn name(&self) -> &'static str {
        "session"
    }

    fn reads(&self) -> &'static str {
        "append (key, value: an element), read (key, ok value: a list), with session"
    }

    fn check(&self, history: &History) -> Result<Verdict, HistoryError> {
        let ops = history.operations()?;
        let mut threads: BTreeMap<(u64, Option<&str>), Thread> = BTreeMap::new();
        let mut appends: HashMap<(Option<&str>, &Value), Append> = HashMap::new();
        let mut reads: Vec<(&Operation, &[Value])> = Vec::new();
        let mut findings = Findings::new(&[RYW, MR, MW, WFR]);
        let mut sessions = std::collections::BTreeSet::new();
        for op in &ops {
            let Some(session) = op.session else { continue };
            if op.outcome != Outcome::Ok || (op.f != APPEND && op.f != READ) {
                continue;
            }
            sessions.insert(session);
            let key = op.key.as_deref();
            let t = threads.entry((session, key)).or_default();
            if op.f == APPEND {
                let append = Append {
                    op,
                    previous: t.last_append,
                    after_read: t.last_read,
                };
                if appends.insert((key, &op.input), append).is_some() {
                    return Err(HistoryError::new(
                        op.invoke_line(),
                        format!(
                            "element {} appended twice to one key; elements must be unique per key",
                            op.input
                        ),
                    ));
                }
                t.last_append = Some(&op.input);
                t.unread.push(op);
                continue;
            }
            let Value::List(items) = &op.output else {
                return Err(HistoryError::new(
                    op.complete_line().unwrap_or(0),
                    format!(
                        "read ok value must be a list of elements, got {}",
                        op.output.describe()
                    ),
                ));
            };
            // Where each element is in this read.
            let at: HashMap<&Value, usize> =
                items.iter().enumerate().map(|(i, v)| (v, i)).collect();
            for w in t.unread.drain(..) {
                if !at.contains_key(&w.input) {
                    findings.add(RYW, || {
                        format!(
                        "session {session}'s read on line {} misses {}, which it appended on {}",
                        op.invoke_line(), w.input, super::lines(w)
                    )
                    });
                }
            }
            if let Some(prev) = t.last_read {
                let (p, seen) = reads[prev];
                if let Some(v) = seen.iter().find(|v| !at.contains_key(v)) {
                    findings.add(MR, || format!(
                        "session {session}'s read on line {} misses {v}, which its read on line {} showed",
                        op.invoke_line(), p.invoke_line()
                    ));
                }
            }
            t.last_read = Some(reads.len());
            // The writes guarantees, for every element shown that a session appended.
            for (i, v) in items.iter().enumerate() {
                let Some(a) = appends.get(&(key, v)) else {
                    continue;
                };
                let writer = a.op.session.unwrap_or(0);
                if let Some(prev) = a.previous {
                    if at.get(prev).is_none_or(|&j| j > i) {
                        findings.add(MW, || format!(
                            "the read on line {} shows {v} (appended by session {writer} on {}) but not, before it, {prev}, which that session appended earlier",
                            op.invoke_line(), super::lines(a.op)
                        ));
                    }
                }
                if let Some(r) = a.after_read {
                    let (dep, seen) = reads[r];
                    if let Some(d) = seen.iter().find(|d| at.get(d).is_none_or(|&j| j > i)) {
                        findings.add(WFR, || format!(
                            "the read on line {} shows {v} (appended by session {writer} on {}) but not, before it, {d}, which that session read on line {} before appending",
                            op.invoke_line(), super::lines(a.op), dep.invoke_line()
                        ));
                    }
                }
            }
            reads.push((op, items));
        }
        if sessions.is_empty() {
            return Ok(Verdict::unknown(
                self.name(),
                "no acknowledged append or read carries a session",
            ));
        }
        Ok(findings.verdict(
            self.name(),
            format!(
                "{} sessions, {} reads, {} appends",
                sessions.len(),
                reads.len(),
                appends.len()
            ),
        ))
    }
}
