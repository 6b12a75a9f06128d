//! Client histories in the Jepsen-style JSON Lines format of `docs/HISTORY_FORMAT.md`.
//!
//! The simulator's clients record one [`History`] per run (true simulated time), and
//! `consim check` reads histories written by real systems. Both sides share these types, so
//! a history the simulator writes is always one the checker reads.

use std::fmt::Write as _;
use std::io::{self, Write};

/// The four event types of the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// Operation names of the two models: register (`read`, `write`, `cas`) and key-value
/// (`get`, `put`, `append`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpFn {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
}

impl OpFn {
    pub fn as_str(self) -> &'static str {
        match self {
            OpFn::Read => "read",
            OpFn::Write => "write",
            OpFn::Cas => "cas",
            OpFn::Get => "get",
            OpFn::Put => "put",
            OpFn::Append => "append",
        }
    }
}

/// The `value` field: `null`, an integer (register), a string (key-value) or a
/// `[expected, new]` pair (register `cas`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    Null,
    Int(i64),
    Str(String),
    Pair(i64, i64),
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub index: usize,
    pub time_ns: u64,
    pub process: u64,
    pub kind: EventType,
    pub f: OpFn,
    pub key: Option<String>,
    pub value: Value,
    pub error: Option<String>,
}

/// A history: events in real-time order, `events[i].index == i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// Appends an event; its index is its position.
    pub fn push(
        &mut self,
        time_ns: u64,
        process: u64,
        kind: EventType,
        f: OpFn,
        key: Option<String>,
        value: Value,
        error: Option<String>,
    ) {
        debug_assert!(self.events.last().is_none_or(|e| e.time_ns <= time_ns), "history time must not go backwards");
        let index = self.events.len();
        self.events.push(Event { index, time_ns, process, kind, f, key, value, error });
    }

    /// Writes the history as JSON Lines.
    pub fn write_jsonl(&self, out: &mut impl Write) -> io::Result<()> {
        let mut line = String::new();
        for e in &self.events {
            line.clear();
            e.write_json(&mut line);
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    }
}

impl Event {
    /// Appends this event as one JSON object (no newline).
    pub fn write_json(&self, s: &mut String) {
        let _ = write!(
            s,
            r#"{{"index":{},"time":{},"process":{},"type":"{}","f":"{}""#,
            self.index,
            self.time_ns,
            self.process,
            self.kind.as_str(),
            self.f.as_str()
        );
        if let Some(k) = &self.key {
            s.push_str(r#","key":"#);
            s.push_str(&serde_json::to_string(k).expect("strings serialize"));
        }
        s.push_str(r#","value":"#);
        match &self.value {
            Value::Null => s.push_str("null"),
            Value::Int(v) => {
                let _ = write!(s, "{v}");
            }
            Value::Str(v) => s.push_str(&serde_json::to_string(v).expect("strings serialize")),
            Value::Pair(a, b) => {
                let _ = write!(s, "[{a},{b}]");
            }
        }
        if let Some(e) = &self.error {
            s.push_str(r#","error":"#);
            s.push_str(&serde_json::to_string(e).expect("strings serialize"));
        }
        s.push('}');
    }
}
