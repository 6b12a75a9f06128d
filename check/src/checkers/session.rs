//! Session guarantees (Terry, Demers, Petersen, Spreitzer, Theimer & Welch 1994, "Session
//! guarantees for weakly consistent replicated data"): read-your-writes, monotonic reads,
//! monotonic writes and writes-follow-reads, on list-append histories.
//!
//! Reads `append` (value: an element, unique per key; `key` optional) and `read` (`ok` value:
//! the list of elements the key holds), in histories whose events carry a `session`; events
//! without one are not checked. A read's list is the set of writes its server had applied,
//! in the server's order, which is what the paper's guarantees are stated over. Only
//! acknowledged appends are the session's writes (an indeterminate one may never have
//! happened). A session may run operations concurrently (it may span processes): an
//! operation *follows* another of its session when it was invoked after the other completed,
//! and only what it follows binds it. Per key:
//! - read-your-writes: a read shows every append of its session that it follows;
//! - monotonic reads: a read shows every element shown by the last read of its session that
//!   it follows (the one completing last);
//! - monotonic writes: a read showing a session's append shows, earlier in the list, the last
//!   append of that session which the append follows;
//! - writes-follow-reads: a read showing a session's append shows, earlier in the list, what
//!   the last read of that session which the append follows showed.
//!
//! Every append is recorded before any read is judged, so a read invoked before an append it
//! shows is judged against it too. Cost: linear in the history's size (the sum of the reads'
//! lengths) for sessions that alternate reads and appends, however long: writes-follow-reads
//! leaves out what the append's previous append already depended on (monotonic writes on the
//! previous append implies it), and a read checks each distinct dependency once. It grows
//! beyond linear only when reads show many appends each depending on a different long read
//! of a different session (one element's dependencies are checked once per read showing it).

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

/// One session's state on one key, as the history's lines are swept in order.
#[derive(Default)]
struct Thread {
    /// The read completing last so far (an index into the reads).
    last_read: Option<usize>,
    /// The acknowledged append completing last so far (an index into the appends).
    last_append: Option<usize>,
    /// The session's acknowledged appends on the key, in completion order.
    acked: Vec<usize>,
}

/// An acknowledged append and what it follows in its session, on its key.
struct Append<'a> {
    op: &'a Operation,
    /// The last append it follows.
    previous: Option<usize>,
    /// The last read it follows.
    after_read: Option<usize>,
    /// What writes-follow-reads adds for it: an index into the dependency sets.
    deps: Option<usize>,
}

/// A read and what it follows in its session, on its key.
struct Read<'a> {
    op: &'a Operation,
    items: &'a [Value],
    /// The session's thread on the key.
    thread: (u64, Option<&'a str>),
    /// The last read it follows.
    previous: Option<usize>,
    /// How many of the thread's appends had completed at its invocation.
    acked_before: usize,
}

/// The elements of a read an append depends on beyond its previous append's dependencies,
/// with the read they come from.
struct Deps<'a> {
    read: usize,
    elements: Vec<&'a Value>,
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
        let mut sessions = std::collections::BTreeSet::new();
        // Pass 1: sweep the invocations and completions in line order, recording what every
        // append and read follows.
        let mut points: Vec<(usize, usize, bool)> = Vec::new(); // (event, op, is completion)
        for (k, op) in ops.iter().enumerate() {
            let Some(session) = op.session else { continue };
            if op.outcome != Outcome::Ok || (op.f != APPEND && op.f != READ) {
                continue;
            }
            if op.f == READ && !matches!(op.output, Value::List(_)) {
                return Err(HistoryError::new(
                    op.complete_line().unwrap_or(0),
                    format!(
                        "read ok value must be a list of elements, got {}",
                        op.output.describe()
                    ),
                ));
            }
            sessions.insert(session);
            points.push((op.invoke, k, false));
            if let Some(c) = op.complete {
                points.push((c, k, true));
            }
        }
        points.sort_unstable();
        let mut threads: BTreeMap<(u64, Option<&str>), Thread> = BTreeMap::new();
        let mut appends: Vec<Append> = Vec::new();
        let mut by_element: HashMap<(Option<&str>, &Value), usize> = HashMap::new();
        let mut reads: Vec<Read> = Vec::new();
        // The index each op got in `appends` or `reads`, set at its invocation.
        let mut index: HashMap<usize, usize> = HashMap::new();
        for &(_, k, completion) in &points {
            let op = &ops[k];
            let key = op.key.as_deref();
            let thread = (op.session.unwrap_or(0), key);
            let t = threads.entry(thread).or_default();
            match (op.f == APPEND, completion) {
                (true, false) => {
                    let a = appends.len();
                    if by_element.insert((key, &op.input), a).is_some() {
                        return Err(HistoryError::new(
                            op.invoke_line(),
                            format!(
                                "element {} appended twice to one key; elements must be unique per key",
                                op.input
                            ),
                        ));
                    }
                    appends.push(Append {
                        op,
                        previous: t.last_append,
                        after_read: t.last_read,
                        deps: None,
                    });
                    index.insert(k, a);
                }
                (true, true) => {
                    let a = index[&k];
                    t.last_append = Some(a);
                    t.acked.push(a);
                }
                (false, false) => {
                    let Value::List(items) = &op.output else {
                        unreachable!("checked above")
                    };
                    index.insert(k, reads.len());
                    reads.push(Read {
                        op,
                        items,
                        thread,
                        previous: t.last_read,
                        acked_before: t.acked.len(),
                    });
                }
                (false, true) => t.last_read = Some(index[&k]),
            }
        }
        // Writes-follow-reads, reduced: an append depends on what its read showed, less what
        // its previous append's read showed (monotonic writes on the previous append, and its
        // own writes-follow-reads, cover that). Appends with the same pair of reads share the
        // set.
        let mut deps: Vec<Deps> = Vec::new();
        let mut dep_of: HashMap<(usize, Option<usize>), usize> = HashMap::new();
        for a in 0..appends.len() {
            let Some(r) = appends[a].after_read else {
                continue;
            };
            let before = appends[a].previous.and_then(|p| appends[p].after_read);
            if before == Some(r) {
                continue;
            }
            let id = *dep_of.entry((r, before)).or_insert_with(|| {
                let covered: std::collections::HashSet<&Value> =
                    before.map_or_else(Default::default, |b| reads[b].items.iter().collect());
                deps.push(Deps {
                    read: r,
                    elements: reads[r]
                        .items
                        .iter()
                        .filter(|v| !covered.contains(v))
                        .collect(),
                });
                deps.len() - 1
            });
            appends[a].deps = Some(id);
        }
        // Pass 2: judge every read, in invocation order.
        let mut findings = Findings::new(&[RYW, MR, MW, WFR]);
        for read in &reads {
            let (op, items) = (read.op, read.items);
            let (session, key) = read.thread;
            // Where each element is in this read.
            let at: HashMap<&Value, usize> =
                items.iter().enumerate().map(|(i, v)| (v, i)).collect();
            // Read-your-writes: the appends it follows that the previous read it follows did
            // not (monotonic reads carries those).
            let acked = &threads[&read.thread].acked;
            let from = read.previous.map_or(0, |p| reads[p].acked_before);
            for &a in &acked[from.min(read.acked_before)..read.acked_before] {
                let w = appends[a].op;
                if !at.contains_key(&w.input) {
                    findings.add(RYW, || {
                        format!(
                            "session {session}'s read on line {} misses {}, which it appended on {}",
                            op.invoke_line(),
                            w.input,
                            super::lines(w)
                        )
                    });
                }
            }
            if let Some(prev) = read.previous {
                let p = &reads[prev];
                if let Some(v) = p.items.iter().find(|v| !at.contains_key(v)) {
                    findings.add(MR, || format!(
                        "session {session}'s read on line {} misses {v}, which its read on line {} showed",
                        op.invoke_line(), p.op.invoke_line()
                    ));
                }
            }
            // The writes guarantees, for every element shown that a session appended; each
            // dependency set once, at the first element needing it.
            let mut judged = std::collections::HashSet::new();
            for (i, v) in items.iter().enumerate() {
                let Some(&a) = by_element.get(&(key, v)) else {
                    continue;
                };
                let a = &appends[a];
                let writer = a.op.session.unwrap_or(0);
                if let Some(prev) = a.previous.map(|p| &appends[p].op.input) {
                    if at.get(prev).is_none_or(|&j| j > i) {
                        findings.add(MW, || format!(
                            "the read on line {} shows {v} (appended by session {writer} on {}) but not, before it, {prev}, which that session appended earlier",
                            op.invoke_line(), super::lines(a.op)
                        ));
                    }
                }
                let Some(id) = a.deps else { continue };
                if !judged.insert(id) {
                    continue;
                }
                let d = &deps[id];
                if let Some(e) = d
                    .elements
                    .iter()
                    .find(|e| at.get(*e).is_none_or(|&j| j > i))
                {
                    findings.add(WFR, || format!(
                        "the read on line {} shows {v} (appended by session {writer} on {}) but not, before it, {e}, which that session read on line {} before appending",
                        op.invoke_line(), super::lines(a.op), reads[d.read].op.invoke_line()
                    ));
                }
            }
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
