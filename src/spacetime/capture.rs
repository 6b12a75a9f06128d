//! The trace of a replayed run, read as the kernel writes it: the window of messages the
//! diagram shows, and the faults of the whole run.
//!
//! The kernel writes its trace as JSON Lines into any `Write` (`sim::trace`); [`Capture`] is
//! that writer. It keeps a ring of the last `size / 2` messages until the anchor (the first
//! message of the request the violation names, or the first event at the anchor time), then
//! the next ones up to `size` in all, and after that only settles the fate of the messages it
//! holds.
//! Memory is bounded by the window, whatever the length of the run: a ten-hour run costs
//! the same as a ten-second one. Untraced runs pay nothing: the kernel formats trace lines
//! only when it is handed a writer.

use serde::Deserialize;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// The most faults, crashes and restarts kept: a run has one per scheduled fault, and the
/// nemesis caps its own (`sim::fault::MAX_RANDOM_FAULTS`); past this the rest are not drawn.
const MAX_MARKS: usize = 10_000;

/// The longest message text kept for a tooltip, in bytes.
const MAX_TEXT: usize = 400;

/// How a message ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Delivered at this time.
    Delivered(u64),
    /// Lost as it was sent (`loss`, `partition`): it never left the sender.
    DroppedAtSend(String),
    /// Lost on arrival at this time (`receiver_down`, or a partition cut it in flight).
    DroppedOnArrival(u64, String),
    /// Still travelling when the run ended; due at this time.
    InFlight(u64),
}

/// One message (a duplicate made by the network is a second `Message` with the same serial).
#[derive(Clone, Debug)]
pub struct Message {
    /// Its place among all the messages sent in the run, from 1.
    pub serial: u64,
    pub from: usize,
    pub to: usize,
    /// An index into [`Trace::kinds`].
    pub kind: usize,
    /// The message as the model's `Debug` prints it (cut at `MAX_TEXT` bytes).
    pub text: String,
    pub sent_ns: u64,
    pub fate: Fate,
    pub duplicate: bool,
}

impl Message {
    /// When it arrived, was lost on arrival or is due; `None` if it never left the sender.
    pub fn end_ns(&self) -> Option<u64> {
        match &self.fate {
            Fate::Delivered(t) | Fate::DroppedOnArrival(t, _) | Fate::InFlight(t) => Some(*t),
            Fate::DroppedAtSend(_) => None,
        }
    }
}

/// Something that happened to a node or to the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    Crash(usize),
    Restart(usize),
    /// A fault as the kernel prints it (`ClockJump { node: NodeId(2), by_ns: -5000000 }`).
    Fault(String),
}

/// What the window was centred on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Anchored {
    /// The first message of the request the focus names, sent at this time.
    Request(u64),
    /// The first event at or after the focus time.
    Time(u64),
    /// The run ended before either: the window is its last messages.
    #[default]
    End,
}

/// What the capture kept.
#[derive(Debug, Default)]
pub struct Trace {
    /// Node names in order of their ids: the kernel starts every node at time 0, in id order.
    pub names: Vec<String>,
    /// Message kinds in order of first appearance.
    pub kinds: Vec<String>,
    /// The window, in the order the messages were sent.
    pub messages: Vec<Message>,
    /// Every crash, restart and fault of the run (up to `MAX_MARKS`), with its time.
    pub marks: Vec<(u64, Mark)>,
    /// How many messages the run sent.
    pub sent: u64,
    pub anchored: Anchored,
}

/// The writer to hand the kernel, and the handle that reads what it kept after the run.
pub struct Capture(Rc<RefCell<Recorder>>);

/// Reads the capture once the run is over (the kernel has dropped its writer by then).
pub struct Captured(Rc<RefCell<Recorder>>);

impl Capture {
    /// A capture of `size` messages around the anchor, at most half of them before it: the
    /// anchor is the first message whose text contains `needle`, or else the first event at
    /// or after `at_ns`.
    pub fn new(at_ns: u64, needle: Option<String>, size: usize) -> (Capture, Captured) {
        assert!(size > 1, "a window needs messages");
        let r = Rc::new(RefCell::new(Recorder {
            at_ns,
            needle,
            size,
            phase: Phase::Before,
            partial: Vec::new(),
            trace: Trace::default(),
            window: VecDeque::new(),
            pending: BTreeMap::new(),
        }));
        (Capture(Rc::clone(&r)), Captured(r))
    }
}

impl Captured {
    pub fn finish(self) -> Trace {
        let mut r = self.0.borrow_mut();
        let rest = std::mem::take(&mut r.partial);
        r.line(&rest);
        let mut trace = std::mem::take(&mut r.trace);
        trace.messages = std::mem::take(&mut r.window).into();
        trace
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut r = self.0.borrow_mut();
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if r.partial.is_empty() {
                r.line(&rest[..end]);
            } else {
                let mut line = std::mem::take(&mut r.partial);
                line.extend_from_slice(&rest[..end]);
                r.line(&line);
            }
            rest = &rest[end + 1..];
        }
        r.partial.extend_from_slice(rest);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Keeping the last `size / 2` messages, waiting for the anchor.
    Before,
    /// Anchored: this many more messages to keep.
    After(usize),
    /// The window is full.
    Done,
}

struct Recorder {
    at_ns: u64,
    needle: Option<String>,
    size: usize,
    phase: Phase,
    /// The end of the trace not yet followed by a newline.
    partial: Vec<u8>,
    trace: Trace,
    window: VecDeque<Message>,
    /// Messages of the window still travelling, by (arrival, from, to, kind): a delivery or
    /// drop line names exactly these. Twins with one key are interchangeable in the picture.
    pending: BTreeMap<(u64, usize, usize, usize), VecDeque<u64>>,
}

/// One trace line; the fields each event has are in `sim::trace` and `sim::sim`.
#[derive(Deserialize)]
struct Line<'a> {
    t: u64,
    #[serde(borrow)]
    ev: Cow<'a, str>,
    #[serde(borrow, default)]
    node: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dropped: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    fault: Option<Cow<'a, str>>,
    #[serde(default)]
    arrive: Option<u64>,
    #[serde(default)]
    duplicate_arrive: Option<u64>,
}

impl Recorder {
    fn line(&mut self, bytes: &[u8]) {
        // Most lines need no parsing: the trace is several times slower than the run it
        // traces, and parsing it all would double that.
        match event_name(bytes) {
            None | Some(b"timer") => return,
            Some(b"send") if self.phase == Phase::Done => {
                self.trace.sent += 1;
                return;
            }
            Some(b"deliver" | b"drop") if self.pending.is_empty() => return,
            Some(_) => {}
        }
        let line: Line = match serde_json::from_slice(bytes) {
            Ok(l) => l,
            Err(e) => {
                // The kernel writes these lines: one that does not parse is a bug there.
                debug_assert!(false, "unreadable trace line ({e})");
                return;
            }
        };
        if self.phase == Phase::Before && line.t >= self.at_ns {
            self.anchor(Anchored::Time(line.t));
        }
        match &*line.ev {
            "start" => {
                if let Some(n) = &line.node {
                    self.lane(n);
                }
            }
            "send" => self.send(&line),
            "deliver" | "drop" => self.arrive(&line),
            "crash" | "restart" => {
                if let Some(n) = &line.node {
                    let lane = self.lane(n);
                    let mark = if line.ev == "crash" {
                        Mark::Crash(lane)
                    } else {
                        Mark::Restart(lane)
                    };
                    self.mark(line.t, mark);
                }
            }
            "fault" => {
                if let Some(f) = &line.fault {
                    self.mark(line.t, Mark::Fault(f.to_string()));
                }
            }
            _ => {}
        }
    }

    /// Anchors the window; the messages after the anchor fill it up to `size`.
    fn anchor(&mut self, how: Anchored) {
        self.trace.anchored = how;
        self.phase = Phase::After(self.size - self.window.len());
    }

    fn lane(&mut self, name: &str) -> usize {
        let names = &mut self.trace.names;
        names.iter().position(|n| n == name).unwrap_or_else(|| {
            names.push(name.to_string());
            names.len() - 1
        })
    }

    fn kind(&mut self, kind: &str) -> usize {
        let kinds = &mut self.trace.kinds;
        kinds.iter().position(|k| k == kind).unwrap_or_else(|| {
            kinds.push(kind.to_string());
            kinds.len() - 1
        })
    }

    fn mark(&mut self, at: u64, mark: Mark) {
        if self.trace.marks.len() < MAX_MARKS {
            self.trace.marks.push((at, mark));
        }
    }

    fn send(&mut self, l: &Line) {
        self.trace.sent += 1;
        let text = l.msg.as_deref().unwrap_or_default();
        if self.phase == Phase::Before && self.needle.as_deref().is_some_and(|n| text.contains(n)) {
            self.anchor(Anchored::Request(l.t));
        }
        if self.phase == Phase::Done {
            return;
        }
        let (Some(from), Some(to), Some(kind)) = (&l.from, &l.to, &l.kind) else {
            debug_assert!(false, "a send line without from, to or kind");
            return;
        };
        let message = Message {
            serial: self.trace.sent,
            from: self.lane(from),
            to: self.lane(to),
            kind: self.kind(kind),
            text: cut(text, MAX_TEXT),
            sent_ns: l.t,
            fate: match (&l.dropped, l.arrive) {
                (Some(reason), _) => Fate::DroppedAtSend(reason.to_string()),
                (None, Some(at)) => Fate::InFlight(at),
                (None, None) => Fate::InFlight(l.t),
            },
            duplicate: false,
        };
        let twin = l.duplicate_arrive.map(|at| Message {
            fate: Fate::InFlight(at),
            duplicate: true,
            ..message.clone()
        });
        self.keep(message);
        if let Some(twin) = twin {
            self.keep(twin);
        }
        if let Phase::After(left) = self.phase {
            self.phase = if left <= 1 {
                Phase::Done
            } else {
                Phase::After(left - 1)
            };
        }
    }

    fn keep(&mut self, m: Message) {
        if let Fate::InFlight(at) = m.fate {
            self.pending
                .entry((at, m.from, m.to, m.kind))
                .or_default()
                .push_back(m.serial);
        }
        self.window.push_back(m);
        if self.phase == Phase::Before && self.window.len() > self.size / 2 {
            if let Some(old) = self.window.pop_front() {
                self.forget(&old);
            }
        }
    }

    /// Removes an evicted message from the messages awaiting their fate.
    fn forget(&mut self, m: &Message) {
        if let Fate::InFlight(at) = m.fate {
            let key = (at, m.from, m.to, m.kind);
            if let Some(serials) = self.pending.get_mut(&key) {
                if let Some(i) = serials.iter().position(|&s| s == m.serial) {
                    serials.remove(i);
                }
                if serials.is_empty() {
                    self.pending.remove(&key);
                }
            }
        }
    }

    /// A delivery or a drop on arrival: settles the fate of the window's message it names.
    fn arrive(&mut self, l: &Line) {
        let (Some(from), Some(to), Some(kind)) = (&l.from, &l.to, &l.kind) else {
            return;
        };
        let find = |names: &[String], n: &str| names.iter().position(|x| x == n);
        let (Some(from), Some(to), Some(kind)) = (
            find(&self.trace.names, from),
            find(&self.trace.names, to),
            find(&self.trace.kinds, kind),
        ) else {
            return; // a message sent before the window
        };
        let key = (l.t, from, to, kind);
        let Some(serials) = self.pending.get_mut(&key) else {
            return;
        };
        let serial = serials.pop_front();
        if serials.is_empty() {
            self.pending.remove(&key);
        }
        let fate = match &l.reason {
            Some(reason) => Fate::DroppedOnArrival(l.t, reason.to_string()),
            None => Fate::Delivered(l.t),
        };
        // The window is in send order and duplicates share a serial: the first of them
        // still in flight with this key is the one that arrived.
        if let Some(m) = self.window.iter_mut().find(|m| {
            Some(m.serial) == serial
                && m.fate == Fate::InFlight(l.t)
                && (m.from, m.to, m.kind) == (from, to, kind)
        }) {
            m.fate = fate;
        }
    }
}

/// The `ev` of a trace line, read without parsing it (`{"t":1,"ev":"send",...}`).
fn event_name(line: &[u8]) -> Option<&[u8]> {
    const KEY: &[u8] = br#""ev":""#;
    let start = line.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = line[start..].iter().position(|&b| b == b'"')?;
    Some(&line[start..start + len])
}

/// `text` cut to at most `max` bytes, at a character boundary, with `…` if cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn capture(lines: &str, at_ns: u64, needle: Option<&str>, size: usize) -> Trace {
        let (mut w, read) = Capture::new(at_ns, needle.map(String::from), size);
        // Split mid-line, as a buffered writer does.
        let (a, b) = lines.as_bytes().split_at(lines.len() / 2);
        w.write_all(a).unwrap();
        w.write_all(b).unwrap();
        drop(w);
        read.finish()
    }

    fn sends(n: u64) -> String {
        let mut s = String::from(
            "{\"t\":0,\"ev\":\"start\",\"node\":\"a\"}\n{\"t\":0,\"ev\":\"start\",\"node\":\"b\"}\n",
        );
        for i in 1..=n {
            let msg = if i == 7 { "Ping { id: 7 }" } else { "Ping" };
            s.push_str(&format!(
                "{{\"t\":{i},\"ev\":\"send\",\"from\":\"a\",\"to\":\"b\",\"kind\":\"Ping\",\
                 \"msg\":\"{msg}\",\"arrive\":{}}}\n",
                i + 100
            ));
        }
        for i in 1..=n {
            let (ev, reason) = if i % 2 == 0 {
                ("drop", ",\"reason\":\"receiver_down\"")
            } else {
                ("deliver", "")
            };
            s.push_str(&format!(
                "{{\"t\":{},\"ev\":\"{ev}\",\"from\":\"a\",\"to\":\"b\",\"kind\":\"Ping\"{reason}}}\n",
                i + 100
            ));
        }
        s
    }

    #[test]
    fn event_names_are_read_without_parsing() {
        assert_eq!(
            event_name(br#"{"t":5,"ev":"send","from":"a"}"#),
            Some(&b"send"[..])
        );
        assert_eq!(event_name(br#"{"t":5,"ev":"#), None);
        assert_eq!(event_name(b""), None);
    }

    #[test]
    fn the_window_is_the_messages_around_the_request_it_names() {
        let t = capture(&sends(20), u64::MAX, Some("id: 7"), 6);
        let serials: Vec<u64> = t.messages.iter().map(|m| m.serial).collect();
        assert_eq!(serials, [4, 5, 6, 7, 8, 9]);
        assert_eq!(t.anchored, Anchored::Request(7));
        assert_eq!(t.sent, 20);
        assert_eq!(t.names, ["a", "b"]);
        assert_eq!(
            t.messages[0].fate,
            Fate::DroppedOnArrival(104, "receiver_down".into())
        );
        assert_eq!(t.messages[1].fate, Fate::Delivered(105));
    }

    #[test]
    fn without_the_request_the_window_centres_on_the_time() {
        let t = capture(&sends(20), 15, None, 4);
        let serials: Vec<u64> = t.messages.iter().map(|m| m.serial).collect();
        assert_eq!(serials, [13, 14, 15, 16]);
        assert_eq!(t.anchored, Anchored::Time(15));
        // A time after the last send: the window is the last messages before it.
        let t = capture(&sends(20), 110, None, 4);
        let serials: Vec<u64> = t.messages.iter().map(|m| m.serial).collect();
        assert_eq!(serials, [19, 20]);
        assert_eq!(t.anchored, Anchored::Time(110));
        assert_eq!(
            t.messages[0].fate,
            Fate::Delivered(119),
            "fates settle after the window"
        );
        let t = capture(&sends(20), u64::MAX, None, 4);
        assert_eq!(t.anchored, Anchored::End);
        assert_eq!(t.messages.len(), 2);
        // An anchor near the start: the messages after it fill the window.
        let t = capture(&sends(20), 2, None, 4);
        let serials: Vec<u64> = t.messages.iter().map(|m| m.serial).collect();
        assert_eq!(serials, [1, 2, 3, 4]);
    }
}
