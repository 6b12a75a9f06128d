//! The set of configurations already explored: (linearized set, state) pairs, as in Lowe 2017
//! §3 and Porcupine, stored as *windows* whose size follows concurrency, not history length.
//!
//! Operations are numbered in invocation order. A linearized set `L` is written as its
//! frontier `front` (one past the latest-invoked linearized operation) and the few operations
//! below the frontier that are still open (not in `L`): `L = [0, front) \ open`. Everything
//! below the frontier and not open is settled. The search only linearizes an operation whose
//! invocation comes before every unlinearized completion, so every open operation was running
//! when the frontier's operation was invoked: `open` holds at most the operations that overlap
//! in time (plus any indeterminate ones left open), and a configuration costs a few words
//! whatever the history's length. (A bitset over the whole history, as before, cost n/8 bytes
//! per configuration: 12.5 KB each for 100,000 operations.)
//!
//! Windows live back to back in one arena (`[front, len, open...]`, u32 words) and an
//! open-addressing table holds `(hash, state, entry number)`; a hit is confirmed by a full
//! compare, so hash collisions cost time, never correctness. The caller maintains the set's
//! hash incrementally (XOR of per-operation keys), so an insert hashes one word.
//!
//! For a small object a window is not the cheapest key: real histories leave many
//! indeterminate operations open, so `open` grows long and every compare walks it. Such an
//! object (at most [`BITSET_MAX_OPS`] operations) is keyed by a bitset over its operations
//! instead, a few words compared at once, as before windows; the key type is chosen per object
//! by [`Memo::for_ops`].

use super::model::StateId;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// 0 marks an empty slot; stored hashes are forced non-zero.
    hash: u64,
    state: StateId,
    id: u32,
}

/// A linearized set as a window: see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window<'a> {
    pub front: u32,
    /// Sorted ascending, all below `front`.
    pub open: &'a [u32],
}

impl Window<'_> {
    /// Whether operation `op` is in the linearized set.
    #[inline]
    pub(crate) fn contains(&self, op: u32) -> bool {
        op < self.front && self.open.binary_search(&op).is_err()
    }
}

/// Objects with at most this many operations are keyed by a bitset (at most 128 bytes per
/// configuration), larger ones by a window.
pub(crate) const BITSET_MAX_OPS: usize = 1024;

/// A linearized set as the memo stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Set<'a> {
    /// One bit per operation of the object.
    Bits(&'a [u64]),
    Window(Window<'a>),
}

impl Set<'_> {
    /// Whether operation `op` is in the linearized set.
    #[inline]
    pub(crate) fn contains(&self, op: u32) -> bool {
        match self {
            Set::Bits(b) => b
                .get(op as usize / 64)
                .is_some_and(|w| w & (1 << (op % 64)) != 0),
            Set::Window(w) => w.contains(op),
        }
    }
}

pub(crate) struct Memo {
    /// `Some(words per bitset)` when keyed by bitsets; `None` for windows.
    bits: Option<usize>,
    slots: Vec<Slot>,
    /// Per entry: where its window starts in `arena`.
    at: Vec<u32>,
    arena: Vec<u32>,
    /// Bitset keys back to back, `words` each.
    bit_arena: Vec<u64>,
    /// Entries keyed by bitsets.
    bit_len: usize,
}

/// The outcome of an insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// A new configuration, with its entry number (entries are numbered 0, 1, 2, … in order).
    New(u32),
    /// Already explored, as entry number so-and-so.
    Seen(u32),
    /// The table cannot address more entries (u32 numbers and offsets); the caller reports
    /// Unknown.
    Full,
}

#[inline]
fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer: spreads the XOR-combined keys over all bits.
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A pseudo-random 64-bit key for operation `i`, XORed into the linearized set's hash.
pub(crate) fn op_key(i: usize) -> u64 {
    mix((i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15))
}

impl Memo {
    /// A memo keyed by windows.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::windowed()
    }

    fn windowed() -> Self {
        Memo {
            bits: None,
            slots: vec![Slot::default(); 1024],
            at: Vec::new(),
            arena: Vec::new(),
            bit_arena: Vec::new(),
            bit_len: 0,
        }
    }

    /// A memo for an object of `n` operations: bitset keys up to [`BITSET_MAX_OPS`],
    /// windows beyond.
    pub(crate) fn for_ops(n: usize) -> Self {
        let mut m = Self::windowed();
        if n <= BITSET_MAX_OPS {
            m.bits = Some(n.div_ceil(64).max(1));
        }
        m
    }

    /// Whether keys are bitsets (else windows).
    pub(crate) fn keyed_by_bits(&self) -> bool {
        self.bits.is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.at.len() + self.bit_len
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.at.capacity() * 4
            + self.arena.capacity() * 4
            + self.bit_arena.capacity() * 8
    }

    /// [`Memo::heap_bytes`] plus what it may allocate while `entries` more entries of at most
    /// `words` words each (u32 for windows; ignored for bitsets) arrive: a vector that grows
    /// holds its old buffer and its new one, twice as large, at once. So the memo holds at
    /// most this much until then, whatever the allocator does with freed buffers.
    pub(crate) fn bound_bytes(&self, entries: usize, words: usize) -> usize {
        // The new buffer of a vector that must grow to hold `more` elements, in bytes.
        fn growth(len: usize, cap: usize, more: usize, elem: usize) -> usize {
            if len + more <= cap {
                return 0;
            }
            let mut c = cap.max(4);
            while c < len + more {
                c *= 2;
            }
            // Each doubling on the way allocates; the last two buffers are live at once.
            (c + c / 2) * elem
        }
        let mut slots = self.slots.len();
        while (self.len() + entries) * 2 > slots {
            slots *= 2;
        }
        let table = if slots > self.slots.len() {
            (slots + slots / 2) * std::mem::size_of::<Slot>()
        } else {
            0
        };
        let keys = match self.bits {
            Some(w) => growth(
                self.bit_arena.len(),
                self.bit_arena.capacity(),
                entries * w,
                8,
            ),
            None => {
                growth(self.at.len(), self.at.capacity(), entries, 4)
                    + growth(self.arena.len(), self.arena.capacity(), entries * words, 4)
            }
        };
        self.heap_bytes() + table + keys
    }

    fn window(&self, id: u32) -> Window<'_> {
        let at = self.at[id as usize] as usize;
        let len = self.arena[at + 1] as usize;
        Window {
            front: self.arena[at],
            open: &self.arena[at + 2..at + 2 + len],
        }
    }

    fn bitset(&self, id: u32, words: usize) -> &[u64] {
        let at = id as usize * words;
        &self.bit_arena[at..at + words]
    }

    fn set(&self, id: u32) -> Set<'_> {
        match self.bits {
            Some(words) => Set::Bits(self.bitset(id, words)),
            None => Set::Window(self.window(id)),
        }
    }

    /// Inserts `(set, state)` whose linearized set's hash is `set_hash`. The set is a bitset
    /// of the object's size when [`Memo::keyed_by_bits`], else a window.
    #[inline(always)]
    pub(crate) fn insert(&mut self, set_hash: u64, state: StateId, set: Set) -> Insert {
        match set {
            Set::Bits(b) => self.insert_bits(set_hash, state, b),
            Set::Window(w) => self.insert_window(set_hash, state, w),
        }
    }

    /// Linear probing for (set, state): `Ok(entry)` when `same_set` finds it stored, else
    /// `Err((hash, free slot))` where it goes. Shared by both key kinds; inlined into each.
    #[inline(always)]
    fn probe(
        &self,
        set_hash: u64,
        state: StateId,
        same_set: impl Fn(&Self, u32) -> bool,
    ) -> Result<u32, (u64, usize)> {
        // Never 0: a zero hash marks an empty slot.
        let hash = mix(set_hash ^ (state as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        let mask = self.slots.len() - 1;
        let mut i = (hash as usize) & mask;
        loop {
            let s = self.slots[i];
            if s.hash == 0 {
                return Err((hash, i));
            }
            if s.hash == hash && s.state == state && same_set(self, s.id) {
                return Ok(s.id);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline(always)]
    fn insert_bits(&mut self, set_hash: u64, state: StateId, b: &[u64]) -> Insert {
        let words = b.len();
        debug_assert_eq!(self.bits, Some(words));
        let (hash, i) = match self.probe(set_hash, state, |m, id| m.bitset(id, words) == b) {
            Ok(id) => return Insert::Seen(id),
            Err(free) => free,
        };
        let id = self.bit_len;
        if id >= u32::MAX as usize {
            return Insert::Full;
        }
        self.slots[i] = Slot {
            hash,
            state,
            id: id as u32,
        };
        self.bit_arena.extend_from_slice(b);
        self.bit_len += 1;
        if self.bit_len * 2 > self.slots.len() {
            self.grow();
        }
        Insert::New(id as u32)
    }

    #[inline]
    fn insert_window(&mut self, set_hash: u64, state: StateId, w: Window) -> Insert {
        let (hash, i) = match self.probe(set_hash, state, |m, id| m.window(id) == w) {
            Ok(id) => return Insert::Seen(id),
            Err(free) => free,
        };
        let id = self.at.len();
        let end = self.arena.len() + 2 + w.open.len();
        if id >= u32::MAX as usize || end > u32::MAX as usize {
            return Insert::Full;
        }
        self.slots[i] = Slot {
            hash,
            state,
            id: id as u32,
        };
        self.at.push(self.arena.len() as u32);
        self.arena.push(w.front);
        self.arena.push(w.open.len() as u32);
        self.arena.extend_from_slice(w.open);
        if self.at.len() * 2 > self.slots.len() {
            self.grow();
        }
        Insert::New(id as u32)
    }

    /// Every entry as (entry number, state, linearized set), in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, StateId, Set<'_>)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.hash != 0)
            .map(|s| (s.id, s.state, self.set(s.id)))
    }

    fn grow(&mut self) {
        let mut slots = vec![Slot::default(); self.slots.len() * 2];
        let mask = slots.len() - 1;
        for s in self.slots.iter().filter(|s| s.hash != 0) {
            let mut i = (s.hash as usize) & mask;
            while slots[i].hash != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = *s;
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_keys_by_content() {
        let mut m = Memo::new();
        let a = Window {
            front: 10,
            open: &[3, 7],
        };
        let b = Window {
            front: 10,
            open: &[3, 8],
        };
        assert_eq!(m.insert(1, 0, Set::Window(a)), Insert::New(0));
        // Same hash, different window: a collision, told apart by the compare.
        assert_eq!(m.insert(1, 0, Set::Window(b)), Insert::New(1));
        assert_eq!(m.insert(1, 0, Set::Window(a)), Insert::Seen(0));
        assert_eq!(m.insert(1, 1, Set::Window(a)), Insert::New(2));
        for i in 0..5000u32 {
            let open = [i];
            let w = Window {
                front: i + 1,
                open: &open,
            };
            assert_eq!(
                m.insert(op_key(i as usize), 0, Set::Window(w)),
                Insert::New(3 + i)
            );
        }
        assert_eq!(m.len(), 5003);
        let (_, _, w) = m.entries().find(|e| e.0 == 1).unwrap();
        assert_eq!(w, Set::Window(b));
        assert!(w.contains(2) && w.contains(7) && !w.contains(3) && !w.contains(8));
        assert!(!w.contains(10));
    }

    #[test]
    fn a_window_costs_its_open_operations_not_the_history() {
        // A sequential history: every configuration is a frontier
        // with nothing open, two words each.
        let mut m = Memo::new();
        for i in 0..100_000u32 {
            let w = Window {
                front: i * 10,
                open: &[],
            };
            m.insert(op_key(i as usize), 0, Set::Window(w));
        }
        assert!(m.arena.len() == 200_000, "{}", m.arena.len());
    }

    #[test]
    fn small_objects_are_keyed_by_bitsets() {
        let mut m = Memo::for_ops(100);
        assert!(m.keyed_by_bits() && !Memo::for_ops(BITSET_MAX_OPS + 1).keyed_by_bits());
        let a = [0b101u64, 1];
        let b = [0b101u64, 2];
        assert_eq!(m.insert(1, 0, Set::Bits(&a)), Insert::New(0));
        assert_eq!(m.insert(1, 0, Set::Bits(&b)), Insert::New(1));
        assert_eq!(m.insert(1, 0, Set::Bits(&a)), Insert::Seen(0));
        for i in 0..5000u64 {
            let k = [i, 7];
            assert_eq!(
                m.insert(op_key(i as usize), 3, Set::Bits(&k)),
                Insert::New(2 + i as u32)
            );
        }
        assert_eq!(m.len(), 5002);
        let (_, _, s) = m.entries().find(|e| e.0 == 1).unwrap();
        assert_eq!(s, Set::Bits(&b));
        assert!(s.contains(0) && s.contains(2) && s.contains(65) && !s.contains(64));
        assert!(!s.contains(1) && !s.contains(1000));
    }
}
