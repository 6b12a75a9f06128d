//! The clocks that order versions: wall-clock stamps with their tie-break, hybrid logical
//! clocks (Kulkarni, Demirbas, Madappa, Avva & Leone, "Logical physical clocks", OPODIS 2014),
//! and vector clocks with dots (Preguiça, Baquero, Almeida, Fonte & Gonçalves, "Dotted
//! version vectors", 2010).

/// An update's id: unique across devices and their restarts (see
/// [`super::device::update_id`]); `0` means "no update" (an empty field, the initial record).
pub type UpdateId = u64;

/// A last-writer-wins stamp. The order is (`ts`, `c`, `node`, `seq`): the timestamp, the
/// hybrid clock's counter (0 for wall-clock stamps), the replica's id — the tie-break between
/// replicas whose clocks read the same — and the replica's own write counter, which orders
/// two writes of one replica within one clock tick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub ts: i64,
    pub c: u32,
    pub node: u32,
    pub seq: u64,
}

impl Stamp {
    /// The stamp of the initial, empty record: below every real stamp.
    pub const ZERO: Stamp = Stamp {
        ts: i64::MIN,
        c: 0,
        node: 0,
        seq: 0,
    };
}

/// A wall-clock reading truncated to `resolution_ns` (a "last updated" column in
/// milliseconds, or in seconds as SQL `DATETIME`).
/// Saturating: a clock stepped back to the end of `i64` stays there.
pub fn truncate(local_ns: i64, resolution_ns: i64) -> i64 {
    local_ns.saturating_sub(local_ns.rem_euclid(resolution_ns))
}

/// A hybrid logical clock: `l` follows the largest physical time heard of, `c` counts events
/// within one `l`. Timestamps never go backwards and always exceed every timestamp the node
/// has received, whatever its physical clock does (the paper's Figure 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hlc {
    pub l: i64,
    pub c: u32,
}

impl Hlc {
    pub const ZERO: Hlc = Hlc { l: i64::MIN, c: 0 };

    /// A local or send event at physical time `pt`: the new timestamp.
    pub fn tick(&mut self, pt: i64) -> Hlc {
        let l = self.l.max(pt);
        self.c = if l == self.l {
            self.c.saturating_add(1)
        } else {
            0
        };
        self.l = l;
        *self
    }

    /// A receive event of timestamp `m` at physical time `pt`.
    pub fn receive(&mut self, m: Hlc, pt: i64) {
        let l = self.l.max(m.l).max(pt);
        self.c = if l == self.l && l == m.l {
            self.c.max(m.c).saturating_add(1)
        } else if l == self.l {
            self.c.saturating_add(1)
        } else if l == m.l {
            m.c.saturating_add(1)
        } else {
            0
        };
        self.l = l;
    }
}

/// A write's identity in the vector-clock store: the replica that accepted it (its ordinal
/// among the replicas) and that replica's counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dot {
    pub counter: u64,
    pub replica: u32,
}

/// A vector clock over the replicas (indexed by replica ordinal): the writes a state has
/// seen, each replica's writes being a prefix `1..=v[r]` of its counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VClock(pub Vec<u64>);

impl VClock {
    pub fn new(replicas: usize) -> VClock {
        VClock(vec![0; replicas])
    }

    /// Whether the write `d` is in this clock's past.
    pub fn covers(&self, d: Dot) -> bool {
        self.0
            .get(d.replica as usize)
            .is_some_and(|&n| n >= d.counter)
    }

    /// The pointwise maximum.
    pub fn join(&mut self, other: &VClock) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, &b) in self.0.iter_mut().zip(&other.0) {
            *a = (*a).max(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hlc_never_goes_back_and_exceeds_what_it_received() {
        let mut h = Hlc { l: 0, c: 0 };
        let a = h.tick(100);
        assert_eq!(a, Hlc { l: 100, c: 0 });
        // The physical clock jumps back: l stays, c counts.
        let b = h.tick(50);
        assert_eq!(b, Hlc { l: 100, c: 1 });
        // A message from a clock far ahead: l follows it, c goes past its counter.
        h.receive(Hlc { l: 500, c: 3 }, 60);
        assert_eq!(h, Hlc { l: 500, c: 4 });
        assert_eq!(h.tick(70), Hlc { l: 500, c: 5 });
        // Physical time catches up: c resets.
        assert_eq!(h.tick(600), Hlc { l: 600, c: 0 });
    }

    #[test]
    fn stamps_break_ties_by_node_then_sequence() {
        let s = |ts, node, seq| Stamp {
            ts,
            c: 0,
            node,
            seq,
        };
        assert!(s(5, 1, 0) > s(5, 0, 9));
        assert!(s(5, 1, 2) > s(5, 1, 1));
        assert!(s(6, 0, 0) > s(5, 9, 9));
        assert_eq!(truncate(1_999_999, 1_000_000), 1_000_000);
        assert_eq!(truncate(-1, 1_000_000), -1_000_000);
        assert_eq!(truncate(i64::MIN + 1, 1_000_000), i64::MIN);
    }

    #[test]
    fn vector_clocks_cover_prefixes() {
        let mut v = VClock(vec![2, 0]);
        assert!(v.covers(Dot {
            replica: 0,
            counter: 2
        }));
        assert!(!v.covers(Dot {
            replica: 1,
            counter: 1
        }));
        v.join(&VClock(vec![1, 3]));
        assert_eq!(v, VClock(vec![2, 3]));
    }
}
