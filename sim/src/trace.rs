//! The trace: an always-on running hash of every kernel event (`trace_hash`), and, only when
//! asked for, a JSON Lines file of the same events.
//!
//! The hash is what makes determinism testable: the same binary, scenario and seed must give
//! the same hash. Hashing costs a few multiplications per event and allocates nothing; the
//! file formats strings, so it is off unless `--trace` is given.

use std::fmt::Write as _;
use std::hash::Hasher;
use std::io::{self, Write};

/// A fast, deterministic 64-bit running hash (FxHash's mixing step). Not cryptographic: it
/// detects divergence, it does not resist adversaries.
#[derive(Clone, Copy, Debug)]
pub struct TraceHash(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    #[inline]
    pub fn mix(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(K);
    }

    /// The final value, well mixed, as printed in reports.
    pub fn value(&self) -> u64 {
        crate::rng::splitmix64(self.0)
    }
}

impl Hasher for TraceHash {
    fn finish(&self) -> u64 {
        self.value()
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
        }
        let mut last = 0u64;
        for (i, &b) in chunks.remainder().iter().enumerate() {
            last |= u64::from(b) << (8 * i);
        }
        self.mix(last ^ (bytes.len() as u64) << 56);
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}

/// The optional JSON Lines trace file. Each line is one event with its true time `t` (ns).
pub struct TraceWriter {
    out: io::BufWriter<Box<dyn Write>>,
    line: String,
    error: Option<io::Error>,
}

impl TraceWriter {
    pub fn new(out: Box<dyn Write>) -> TraceWriter {
        TraceWriter {
            out: io::BufWriter::new(out),
            line: String::new(),
            error: None,
        }
    }

    /// Writes one line built by `fill` into a reused buffer, after `{"t":<now>,"ev":"<ev>"`.
    pub fn event(&mut self, now: u64, ev: &str, fill: impl FnOnce(&mut String)) {
        self.line.clear();
        let _ = write!(self.line, r#"{{"t":{now},"ev":"{ev}""#);
        fill(&mut self.line);
        self.line.push_str("}\n");
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(self.line.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    /// Flushes; reports the first write error of the run, if any.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

/// Appends `,"key":"value"` with JSON string escaping.
pub fn field_str(line: &mut String, key: &str, value: &str) {
    let _ = write!(line, r#","{key}":{}"#, serde_json::Value::from(value));
}

/// Appends `,"key":value` for a number.
pub fn field_num(line: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = write!(line, r#","{key}":{value}"#);
}
