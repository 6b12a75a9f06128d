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
        });
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
    fn new(line: usize, message: impl Into<String>) -> Self {
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

/// The model a history's operations belong to, told apart by `f`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Register,
    Kv,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::Kv => "kv",
        }
    }
}

impl OpFn {
    fn parse(s: &str) -> Option<OpFn> {
        Some(match s {
            "read" => OpFn::Read,
            "write" => OpFn::Write,
            "cas" => OpFn::Cas,
            "get" => OpFn::Get,
            "put" => OpFn::Put,
            "append" => OpFn::Append,
            _ => return None,
        })
    }

    /// The model this operation belongs to.
    pub fn model(self) -> ModelKind {
        match self {
            OpFn::Read | OpFn::Write | OpFn::Cas => ModelKind::Register,
            OpFn::Get | OpFn::Put | OpFn::Append => ModelKind::Kv,
        }
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

impl Value {
    fn describe(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int(_) => "an integer",
            Value::Str(_) => "a string",
            Value::Pair(..) => "a pair",
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Pair(a, b) => write!(f, "[{a},{b}]"),
        }
    }
}

/// The value types the format allows for `f` on an `invoke` or `ok` event (`fail` and `info`
/// values are ignored, so anything goes there).
fn check_value(f: OpFn, kind: EventType, v: &Value) -> Result<(), String> {
    let ok = match (f, kind) {
        (_, EventType::Fail | EventType::Info) => true,
        (OpFn::Read | OpFn::Get, EventType::Invoke) => matches!(v, Value::Null),
        (OpFn::Read, _) => matches!(v, Value::Null | Value::Int(_)),
        (OpFn::Write, _) => matches!(v, Value::Int(_)),
        (OpFn::Cas, _) => matches!(v, Value::Pair(..)),
        (OpFn::Get | OpFn::Put | OpFn::Append, _) => matches!(v, Value::Str(_)),
    };
    if ok {
        return Ok(());
    }
    let want = match (f, kind) {
        (OpFn::Read | OpFn::Get, EventType::Invoke) => "null",
        (OpFn::Read, _) => "an integer or null",
        (OpFn::Write, _) => "an integer",
        (OpFn::Cas, _) => "an [expected, new] array of two integers",
        _ => "a string",
    };
    Err(format!(
        "{} {} value must be {want}, got {}",
        f.as_str(),
        kind.as_str(),
        v.describe()
    ))
}

/// Converts a JSON `value` field. Values of `fail`/`info` events carry no meaning, so a shape
/// the format does not know is kept as `Null` there instead of rejected.
fn value_from_json(v: &serde_json::Value, kind: EventType) -> Result<Value, String> {
    use serde_json::Value as J;
    let pair = |a: &[J]| match a {
        [x, y] => Some((x.as_i64()?, y.as_i64()?)),
        _ => None,
    };
    let out = match v {
        J::Null => Some(Value::Null),
        J::Number(n) => n.as_i64().map(Value::Int),
        J::String(s) => Some(Value::Str(s.clone())),
        J::Array(a) => pair(a).map(|(x, y)| Value::Pair(x, y)),
        J::Bool(_) | J::Object(_) => None,
    };
    match (out, kind) {
        (Some(v), _) => Ok(v),
        (None, EventType::Fail | EventType::Info) => Ok(Value::Null),
        (None, _) => Err(format!(
            "value {v} is not null, a 64-bit integer, a string or an [int, int] array"
        )),
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
    let f = OpFn::parse(f_s).ok_or_else(|| {
        format!("unknown `f` {f_s:?} (expected read, write, cas, get, put or append)")
    })?;
    let key = match obj.get("key") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(format!("field `key` must be a string, got {v}")),
    };
    let value = value_from_json(field("value")?, kind)?;
    let error = match obj.get("error") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(format!("field `error` must be a string, got {v}")),
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
    })
}

impl History {
    /// Parses and validates a JSON Lines history (`docs/HISTORY_FORMAT.md`). Every rule of the
    /// format is checked here, so the checker may assume a well-formed history.
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

    /// The model of the history's operations (`None` for an empty history).
    pub fn model(&self) -> Option<ModelKind> {
        self.events.first().map(|e| e.f.model())
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
        let model = self.model();
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
            if let Some(m) = model {
                if e.f.model() != m {
                    return err(format!(
                        "`{}` is a {} operation but the history began with {} operations; one history holds one model",
                        e.f.as_str(),
                        e.f.model().as_str(),
                        m.as_str()
                    ));
                }
            }
            match (e.f.model(), &e.key) {
                (ModelKind::Kv, None) => {
                    return err(format!(
                        "`{}` needs a `key` (key-value model)",
                        e.f.as_str()
                    ))
                }
                (ModelKind::Register, Some(_)) => {
                    return err(format!(
                        "`{}` is a register operation and takes no `key`",
                        e.f.as_str()
                    ))
                }
                _ => {}
            }
            if let Err(m) = check_value(e.f, e.kind, &e.value) {
                return err(m);
            }
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
                // Writes echo their argument; a different echo means a broken recorder.
                let echoes = matches!(e.f, OpFn::Write | OpFn::Cas | OpFn::Put | OpFn::Append);
                if echoes && e.value != op.input {
                    return err(format!(
                        "ok value {} differs from the invoked value {} on line {}",
                        e.value,
                        op.input,
                        op.invoke_line()
                    ));
                }
                op.output = e.value.clone();
            }
            if e.kind == EventType::Info {
                crashed.insert(e.process, line);
            }
        }
        Ok(ops)
    }
}
