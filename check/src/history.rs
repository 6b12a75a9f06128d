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

/// An operation's name (`f`): any name of up to [`OpFn::MAX_LEN`] bytes, so each model and
/// checker names its own operations. Stored inline and `Copy`, so comparing or copying one
/// costs what a small enum did; the names the linearizability models read are constants
/// (`OpFn::Read`, …), usable in patterns as the enum variants they replace were.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpFn {
    len: u8,
    bytes: [u8; OpFn::MAX_LEN],
}

// Named like the enum variants they replace, so existing code reads and matches unchanged.
#[allow(non_upper_case_globals)]
impl OpFn {
    /// The longest name, in bytes. Jepsen's operation names are short keywords; a longer one is
    /// a broken recorder, refused with its line.
    pub const MAX_LEN: usize = 31;
    pub const Read: OpFn = OpFn::known("read");
    pub const Write: OpFn = OpFn::known("write");
    pub const Cas: OpFn = OpFn::known("cas");
    pub const Get: OpFn = OpFn::known("get");
    pub const Put: OpFn = OpFn::known("put");
    pub const Append: OpFn = OpFn::known("append");

    /// The name `s`, or `None` if it is empty or longer than [`OpFn::MAX_LEN`] bytes.
    pub const fn new(s: &str) -> Option<OpFn> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > OpFn::MAX_LEN {
            return None;
        }
        let mut bytes = [0u8; OpFn::MAX_LEN];
        let mut i = 0;
        while i < b.len() {
            bytes[i] = b[i];
            i += 1;
        }
        Some(OpFn {
            len: b.len() as u8,
            bytes,
        })
    }

    /// For constants, here and in models (`const PAY: OpFn = OpFn::known("pay")`): a name
    /// known to fit (a bad one fails the build, not a run).
    pub const fn known(s: &str) -> OpFn {
        match OpFn::new(s) {
            Some(f) => f,
            None => panic!("operation name constants fit"),
        }
    }

    pub fn as_str(&self) -> &str {
        // Built only from a `&str` cut at its own length, so always UTF-8.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl std::fmt::Debug for OpFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for OpFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for OpFn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The `value` field: any JSON value, owned and compact. Integers that fit 64 bits are
/// `Int` (registers, ids); other numbers keep their JSON text, so nothing is rounded; lists
/// hold cas pairs, batches and queue drains; maps hold versions and whatever else a system
/// records. Maps are sorted by key, so equal JSON objects are equal values.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not a 64-bit integer, as written in canonical JSON.
    Number(Box<str>),
    Str(String),
    List(Box<[Value]>),
    Map(Box<[(String, Value)]>),
}

impl Value {
    /// The `[a, b]` pair of two integers (a register `cas`'s `[expected, new]`).
    pub fn pair(&self) -> Option<(i64, i64)> {
        match self {
            Value::List(l) => match **l {
                [Value::Int(a), Value::Int(b)] => Some((a, b)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value as JSON, for reports.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => (*i).into(),
            Value::Number(n) => serde_json::from_str(n).unwrap_or(J::Null),
            Value::Str(s) => s.as_str().into(),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Converts any JSON value.
    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => n
                .as_i64()
                .map_or_else(|| Value::Number(n.to_string().into()), Value::Int),
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            // serde_json's map is ordered by key (no `preserve_order`), so this is sorted.
            J::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// "null", "an integer", …: for errors about a value's shape.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Number(_) => "a number that is not a 64-bit integer",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
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
    /// The client session the event belongs to (an extension of the format): a session may
    /// span several processes, as a client continues under a fresh process after an `info`.
    pub session: Option<u64>,
}

/// A history: events in real-time order, `events[i].index == i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// Appends an event; its index is its position.
    // One argument per field of the format: the kernel's recorders call this with exactly the
    // event's fields, and a builder would only rename them.
    #[allow(clippy::too_many_arguments)]
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
        debug_assert!(
            self.events.last().is_none_or(|e| e.time_ns <= time_ns),
            "history time must not go backwards"
        );
        let index = self.events.len();
        self.events.push(Event {
            index,
            time_ns,
            process,
            kind,
            f,
            key,
            value,
            error,
            session: None,
        });
    }

    /// Puts the last event pushed in a client session (see [`Event::session`]).
    pub fn set_session(&mut self, session: u64) {
        if let Some(e) = self.events.last_mut() {
            e.session = Some(session);
        }
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
        s.push_str(&self.value.to_json().to_string());
        if let Some(e) = &self.error {
            s.push_str(r#","error":"#);
            s.push_str(&serde_json::to_string(e).expect("strings serialize"));
        }
        if let Some(session) = self.session {
            let _ = write!(s, r#","session":{session}"#);
        }
        s.push('}');
    }
}

/// A history that breaks the format, with the 1-based line (event index + 1) where the
/// problem shows. Bad input is a value, never a panic: the checker reads files written by
/// other systems.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    /// 1-based line number; for a history built in memory, the event's index + 1.
    pub line: usize,
    pub message: String,
}

impl HistoryError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        HistoryError {
            line,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for HistoryError {}

/// How an operation ended. `Pending` is an invocation with no completion in the file, which
/// the format treats exactly like `Info`; it is kept apart only so reports can say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
    Pending,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Pending => "pending",
        }
    }

    /// `Info` and `Pending`: the operation may or may not have taken effect.
    pub fn is_indeterminate(self) -> bool {
        matches!(self, Outcome::Info | Outcome::Pending)
    }
}

/// An invocation paired with its completion (rule 1 of the format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub process: u64,
    /// The invocation's session (see [`Event::session`]).
    pub session: Option<u64>,
    pub f: OpFn,
    pub key: Option<String>,
    /// The invocation's value (the argument).
    pub input: Value,
    /// The completion's value on `ok`; `Null` otherwise (the format says it is ignored).
    pub output: Value,
    pub outcome: Outcome,
    /// Event index of the invocation (0-based; the line is `invoke + 1`).
    pub invoke: usize,
    /// Event index of the completion; `None` if the history ends first.
    pub complete: Option<usize>,
}

impl Operation {
    /// 1-based line of the invocation.
    pub fn invoke_line(&self) -> usize {
        self.invoke + 1
    }

    /// 1-based line of the completion, if any.
    pub fn complete_line(&self) -> Option<usize> {
        self.complete.map(|c| c + 1)
    }
}

impl EventType {
    fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

fn parse_event(line: &str, index: usize) -> Result<Event, String> {
    let json: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let obj = json.as_object().ok_or("expected a JSON object")?;
    let field = |name: &str| {
        obj.get(name)
            .ok_or_else(|| format!("missing field `{name}`"))
    };
    let uint = |name: &str| -> Result<u64, String> {
        let v = field(name)?;
        v.as_u64()
            .ok_or_else(|| format!("field `{name}` must be a non-negative integer, got {v}"))
    };
    let string = |name: &str| -> Result<&str, String> {
        let v = field(name)?;
        v.as_str()
            .ok_or_else(|| format!("field `{name}` must be a string, got {v}"))
    };

    let got_index = uint("index")?;
    if got_index != index as u64 {
        return Err(format!(
            "`index` is {got_index} but this is event {index} (line {})",
            index + 1
        ));
    }
    let time_ns = uint("time")?;
    let process = uint("process")?;
    let kind_s = string("type")?;
    let kind = EventType::parse(kind_s)
        .ok_or_else(|| format!("unknown `type` {kind_s:?} (expected invoke, ok, fail or info)"))?;
    let f_s = string("f")?;
    let f = OpFn::new(f_s).ok_or_else(|| {
        format!(
            "`f` {f_s:?} is not an operation name (1 to {} bytes)",
            OpFn::MAX_LEN
        )
    })?;
    let key = match obj.get("key") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(format!("field `key` must be a string, got {v}")),
    };
    let value = Value::from_json(field("value")?);
    let error = match obj.get("error") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(format!("field `error` must be a string, got {v}")),
    };
    let session =
        match obj.get("session") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                format!("field `session` must be a non-negative integer, got {v}")
            })?),
        };
    Ok(Event {
        index,
        time_ns,
        process,
        kind,
        f,
        key,
        value,
        error,
        session,
    })
}

impl History {
    /// [`History::parse_jsonl`] for bytes as read from a file: text that is not UTF-8 is an
    /// error on the line where it stops being UTF-8.
    pub fn parse_jsonl_bytes(bytes: &[u8]) -> Result<History, HistoryError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => History::parse_jsonl(text),
            Err(e) => {
                let valid = &bytes[..e.valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                let column =
                    valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                Err(HistoryError::new(
                    line,
                    format!(
                        "invalid UTF-8 at byte {} of the line (the format is UTF-8 text)",
                        column + 1
                    ),
                ))
            }
        }
    }

    /// Parses and validates a JSON Lines history (`docs/HISTORY_FORMAT.md`). Every rule shared
    /// by all histories (fields, order, pairing, retired processes) is checked here; what a
    /// model's operations mean, and so the shapes of their values, each checker checks.
    pub fn parse_jsonl(text: &str) -> Result<History, HistoryError> {
        let mut history = History::default();
        let mut lines: Vec<&str> = text.split('\n').collect();
        // A final newline terminates the last line; it does not start an empty one.
        if lines.last() == Some(&"") {
            lines.pop();
        }
        for (i, raw) in lines.into_iter().enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                return Err(HistoryError::new(i + 1, "blank line (the format has none)"));
            }
            let event = parse_event(line, i).map_err(|m| HistoryError::new(i + 1, m))?;
            history.events.push(event);
        }
        history.operations()?;
        Ok(history)
    }

    /// Pairs each invocation with its completion (rules 1–4 of the format), validating the
    /// history on the way. Operations come in invocation order; an invocation left open at the
    /// end of the history gets [`Outcome::Pending`].
    pub fn operations(&self) -> Result<Vec<Operation>, HistoryError> {
        use std::collections::HashMap;
        // process -> index into `ops` of its outstanding operation
        let mut open: HashMap<u64, usize> = HashMap::new();
        // processes retired by an `info`, with the line that retired them
        let mut crashed: HashMap<u64, usize> = HashMap::new();
        let mut ops: Vec<Operation> = Vec::new();
        let mut last_time = 0u64;
        for (i, e) in self.events.iter().enumerate() {
            let line = i + 1;
            let err = |m: String| Err(HistoryError::new(line, m));
            if e.index != i {
                return err(format!("`index` is {} but this is event {i}", e.index));
            }
            if e.time_ns < last_time {
                return err(format!(
                    "time goes backwards ({} after {}); lines must be in real-time order",
                    e.time_ns, last_time
                ));
            }
            last_time = e.time_ns;
            if let Some(&at) = crashed.get(&e.process) {
                return err(format!(
                    "process {} reused after its info completion on line {at}; a crashed client continues under a fresh process number",
                    e.process
                ));
            }
            if e.kind == EventType::Invoke {
                if let Some(&o) = open.get(&e.process) {
                    return err(format!(
                        "process {} invokes again while its operation from line {} is outstanding",
                        e.process,
                        ops[o].invoke_line()
                    ));
                }
                open.insert(e.process, ops.len());
                ops.push(Operation {
                    process: e.process,
                    session: e.session,
                    f: e.f,
                    key: e.key.clone(),
                    input: e.value.clone(),
                    output: Value::Null,
                    outcome: Outcome::Pending,
                    invoke: i,
                    complete: None,
                });
                continue;
            }
            let Some(o) = open.remove(&e.process) else {
                return err(format!(
                    "{} completion for process {} which has no outstanding invocation",
                    e.kind.as_str(),
                    e.process
                ));
            };
            let op = &mut ops[o];
            if op.f != e.f || op.key != e.key {
                return err(format!(
                    "completion `{}`{} differs from its invocation `{}`{} on line {}",
                    e.f.as_str(),
                    e.key
                        .as_deref()
                        .map(|k| format!(" key {k:?}"))
                        .unwrap_or_default(),
                    op.f.as_str(),
                    op.key
                        .as_deref()
                        .map(|k| format!(" key {k:?}"))
                        .unwrap_or_default(),
                    op.invoke_line()
                ));
            }
            op.complete = Some(i);
            op.outcome = match e.kind {
                EventType::Ok => Outcome::Ok,
                EventType::Fail => Outcome::Fail,
                _ => Outcome::Info,
            };
            if e.kind == EventType::Ok {
                op.output = e.value.clone();
            }
            if e.kind == EventType::Info {
                crashed.insert(e.process, line);
            }
        }
        Ok(ops)
    }
}
