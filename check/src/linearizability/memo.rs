//! The set of configurations already explored: (linearized set, state) pairs, as in Lowe 2017
//! §3 and Porcupine.
//!
//! A `HashSet<(Vec<u64>, u32)>` would allocate one vector per configuration. Here the bitsets
//! live back to back in one arena and an open-addressing table holds `(hash, state, arena
//! slot)`; a hit is confirmed by a full compare, so hash collisions cost time, never
//! correctness. The caller maintains the bitset's hash incrementally (XOR of per-operation
//! keys), so an insert hashes one word, not the whole set.

use super::model::StateId;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// 0 marks an empty slot; stored hashes are forced non-zero.
    hash: u64,
    state: StateId,
    at: u32,
}

pub(crate) struct Memo {
    words: usize,
    slots: Vec<Slot>,
    arena: Vec<u64>,
    len: usize,
}

/// The outcome of an insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// A new configuration, with its entry number (entries are numbered 0, 1, 2, … in order).
    New(u32),
    /// Already explored, as entry number so-and-so.
    Seen(u32),
    /// The table cannot address more entries (u32 slots); the caller reports Unknown.
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
    pub(crate) fn new(words: usize) -> Self {
        Memo {
            words,
            slots: vec![Slot::default(); 1024],
            arena: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.arena.capacity() * 8
    }

    /// Inserts `(bits, state)` whose bitset hash is `set_hash`.
    #[inline]
    pub(crate) fn insert(&mut self, set_hash: u64, state: StateId, bits: &[u64]) -> Insert {
        let hash = mix(set_hash ^ (state as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        let mask = self.slots.len() - 1;
        let mut i = (hash as usize) & mask;
        loop {
            let s = self.slots[i];
            if s.hash == 0 {
                break;
            }
            if s.hash == hash && s.state == state {
                let at = s.at as usize * self.words;
                if self.arena[at..at + self.words] == *bits {
                    return Insert::Seen(s.at);
                }
            }
            i = (i + 1) & mask;
        }
        if self.len >= u32::MAX as usize {
            return Insert::Full;
        }
        self.slots[i] = Slot {
            hash,
            state,
            at: self.len as u32,
        };
        self.arena.extend_from_slice(bits);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            self.grow();
        }
        Insert::New(self.len as u32 - 1)
    }

    /// Every entry as (entry number, state, linearized set), in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, StateId, &[u64])> + '_ {
        self.slots.iter().filter(|s| s.hash != 0).map(|s| {
            let at = s.at as usize * self.words;
            (s.at, s.state, &self.arena[at..at + self.words])
        })
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
