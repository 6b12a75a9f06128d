//! The user profile and how two versions of it merge.
//!
//! A profile has three fields: `name` and `email` (one value each) and `addresses` (a set).
//! Every value a device writes is the id of the update that wrote it ([`UpdateId`]), so the
//! end-of-run checks can tell, god's-eye, whether an update survived.
//!
//! - Last-writer-wins stores a whole [`Record`] with one [`Stamp`]: the story's "last updated
//!   timestamp column". A device writes back every field it read, and the record with the
//!   greater stamp replaces the other whole (no per-field merge). The merge is the maximum
//!   under a total order, so it is commutative, associative and idempotent (property test in
//!   `models/tests/versioning_merge.rs`) — unless the comparison drops the tie-break
//!   (`no-tiebreak`), when two records with equal timestamps each win where they are.
//! - Vector clocks store a [`Causal`] profile: each field keeps the values not yet overwritten
//!   by a write that saw them, each tagged with the [`Dot`] of the write that made it, and the
//!   profile keeps the vector clock of every write it has seen (the dotted-version-vector
//!   scheme of Preguiça et al., applied per field). Two concurrent writes of one field are
//!   both kept (siblings) until a write that saw them both replaces them; concurrent
//!   additions to the address set are simply all kept (union). This is Dynamo's (DeCandia et
//!   al., SOSP 2007) sibling model with the merge done field by field. The application merge
//!   ([`Causal::resolved`]) is a view of the profile, not a change to it: it keeps one value
//!   per scalar field, the greatest dot, while the stored profile keeps every sibling until a
//!   write that saw them (a device's write, which read the view and its clock) replaces them.
//!   The view is a function of the joined profile, so replicas holding the same versions
//!   show the same value whatever order they merged them in. Dropping the siblings from the
//!   stored profile instead would not commute with the join: a dropped value is covered by
//!   the clock, so a later join takes it for overwritten, and which values survive would
//!   depend on the order of the merges (two replicas could each keep one of two concurrent
//!   values and then, merging, drop both).

use super::clocks::{Dot, Stamp, UpdateId, VClock};
use std::rc::Rc;

/// A profile field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Name,
    Email,
    Address,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::Name, Field::Email, Field::Address];

    pub fn text(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Email => "email",
            Field::Address => "addresses",
        }
    }

    /// A single-valued field: a later write replaces it. The address set only grows.
    pub fn is_scalar(self) -> bool {
        self != Field::Address
    }
}

/// A device's change: set `name` or `email` to `id`, or add the address `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Edit {
    pub field: Field,
    pub id: UpdateId,
}

/// A whole last-writer-wins record: its stamp, the update that wrote it, and every field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    pub stamp: Stamp,
    pub by: UpdateId,
    pub name: UpdateId,
    pub email: UpdateId,
    /// Sorted, no duplicates.
    pub addresses: Vec<UpdateId>,
}

/// How a last-writer-wins merge compares two records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The whole stamp, then the writing update: a total order.
    Total,
    /// Timestamps only (the `no-tiebreak` bug): on equal timestamps each replica keeps what
    /// it has.
    TimestampOnly,
}

impl Record {
    pub fn empty() -> Record {
        Record {
            stamp: Stamp::ZERO,
            by: 0,
            name: 0,
            email: 0,
            addresses: Vec::new(),
        }
    }

    /// This record with `edit` applied, as written by update `edit.id` with `stamp`.
    pub fn with_edit(&self, edit: Edit, stamp: Stamp) -> Record {
        let mut r = self.clone();
        r.stamp = stamp;
        r.by = edit.id;
        match edit.field {
            Field::Name => r.name = edit.id,
            Field::Email => r.email = edit.id,
            Field::Address => {
                if let Err(at) = r.addresses.binary_search(&edit.id) {
                    r.addresses.insert(at, edit.id);
                }
            }
        }
        r
    }

    /// Whether `incoming` replaces `self`.
    pub fn loses_to(&self, incoming: &Record, compare: Compare) -> bool {
        match compare {
            Compare::Total => (incoming.stamp, incoming.by) > (self.stamp, self.by),
            Compare::TimestampOnly => {
                (incoming.stamp.ts, incoming.stamp.c) > (self.stamp.ts, self.stamp.c)
            }
        }
    }
}

/// The last-writer-wins merge: the greater record.
pub fn lww_merge(a: &Rc<Record>, b: &Rc<Record>, compare: Compare) -> Rc<Record> {
    if a.loses_to(b, compare) {
        Rc::clone(b)
    } else {
        Rc::clone(a)
    }
}

/// A value of a causal profile's field, with the write that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    pub dot: Dot,
    pub value: UpdateId,
}

/// What a replica does with a received vector clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMerge {
    /// Joins it into its own (correct).
    Join,
    /// Keeps its own (the `no-clock-merge` bug).
    Keep,
}

/// A profile under vector clocks: per field, the values not yet overwritten (sorted by dot),
/// and the clock of every write seen.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Causal {
    pub ctx: VClock,
    pub fields: [Vec<Entry>; 3],
}

/// What the application merge did to one field: the value it kept and those it dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub field: Field,
    pub kept: UpdateId,
    pub dropped: Vec<UpdateId>,
}

impl Causal {
    pub fn new(replicas: usize) -> Causal {
        Causal {
            ctx: VClock::new(replicas),
            fields: [Vec::new(), Vec::new(), Vec::new()],
        }
    }

    pub fn field(&self, f: Field) -> &[Entry] {
        &self.fields[f as usize]
    }

    /// A device's write accepted by replica `replica`: in a scalar field, every value the
    /// device had seen (`seen`, the clock it read) is replaced; the new value gets the
    /// replica's next dot.
    pub fn write(&mut self, replica: u32, edit: Edit, seen: &VClock) -> Dot {
        let counter = self.ctx.0[replica as usize] + 1;
        self.ctx.0[replica as usize] = counter;
        let dot = Dot { counter, replica };
        let f = &mut self.fields[edit.field as usize];
        if edit.field.is_scalar() {
            f.retain(|e| !seen.covers(e.dot));
        }
        let e = Entry {
            dot,
            value: edit.id,
        };
        let at = f.partition_point(|x| *x < e);
        f.insert(at, e);
        dot
    }

    /// Merges `other` in: a value stays if both have it, or if the side without it has not
    /// seen its write (so it was not overwritten there). The clocks join (with
    /// [`ClockMerge::Join`]).
    pub fn join(&mut self, other: &Causal, clock: ClockMerge) {
        for (mine, theirs) in self.fields.iter_mut().zip(&other.fields) {
            let mut out = Vec::with_capacity(mine.len().max(theirs.len()));
            let (mut i, mut j) = (0, 0);
            while i < mine.len() || j < theirs.len() {
                match (mine.get(i), theirs.get(j)) {
                    (Some(a), Some(b)) if a == b => {
                        out.push(*a);
                        i += 1;
                        j += 1;
                    }
                    // A value only we have: kept unless they saw its write (and replaced it).
                    (Some(a), b) if b.is_none_or(|b| a < b) => {
                        if !other.ctx.covers(a.dot) {
                            out.push(*a);
                        }
                        i += 1;
                    }
                    // A value only they have: kept unless we saw its write.
                    (_, Some(b)) => {
                        if !self.ctx.covers(b.dot) {
                            out.push(*b);
                        }
                        j += 1;
                    }
                    (_, None) => unreachable!("the loop runs while either side has values"),
                }
            }
            *mine = out;
        }
        if clock == ClockMerge::Join {
            self.ctx.join(&other.ctx);
        }
    }

    /// The application merge, applied in place: every scalar field holding concurrent values
    /// keeps one, the value of the greatest dot (a deterministic choice, so every replica
    /// makes the same); the address set needs nothing (its concurrent additions are all
    /// kept). Returns what it dropped. Only for a view (see [`Causal::resolved`]): a profile
    /// resolved in place and then joined again no longer joins commutatively.
    pub fn resolve(&mut self) -> Vec<Resolution> {
        let mut out = Vec::new();
        for f in [Field::Name, Field::Email] {
            let entries = &mut self.fields[f as usize];
            if entries.len() > 1 {
                let kept = *entries.last().expect("not empty");
                let dropped = entries[..entries.len() - 1]
                    .iter()
                    .map(|e| e.value)
                    .collect();
                *entries = vec![kept];
                out.push(Resolution {
                    field: f,
                    kept: kept.value,
                    dropped,
                });
            }
        }
        out
    }

    /// The profile as the application merge shows it (same clock, one value per scalar
    /// field), and what the view leaves out.
    pub fn resolved(&self) -> (Causal, Vec<Resolution>) {
        let mut view = self.clone();
        let dropped = view.resolve();
        (view, dropped)
    }
}

/// A replica's state under any policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Lww(Rc<Record>),
    Causal(Rc<Causal>),
}

impl State {
    /// Whether the value `id` is in field `f`.
    pub fn holds(&self, f: Field, id: UpdateId) -> bool {
        self.values(f).any(|v| v == id)
    }

    /// The values of field `f` (siblings included), zero for an unset scalar left out.
    pub fn values(&self, f: Field) -> Box<dyn Iterator<Item = UpdateId> + '_> {
        match self {
            State::Lww(r) => match f {
                Field::Name => Box::new(std::iter::once(r.name).filter(|&v| v != 0)),
                Field::Email => Box::new(std::iter::once(r.email).filter(|&v| v != 0)),
                Field::Address => Box::new(r.addresses.iter().copied()),
            },
            State::Causal(c) => Box::new(c.field(f).iter().map(|e| e.value)),
        }
    }

    /// The updates a device that read this state has seen directly (their own pasts it has
    /// seen through them). A last-writer-wins record is its writer's base with one edit, so
    /// every value in it is its writer or in its writer's past: the writer alone suffices.
    /// A causal profile merges several writers' states: every value it holds counts.
    pub fn ids(&self) -> Vec<UpdateId> {
        match self {
            State::Lww(r) => [r.by].into_iter().filter(|&b| b != 0).collect(),
            State::Causal(_) => {
                let mut out: Vec<UpdateId> =
                    Field::ALL.iter().flat_map(|&f| self.values(f)).collect();
                out.sort_unstable();
                out.dedup();
                out
            }
        }
    }

    /// The most values one scalar field holds.
    pub fn siblings(&self) -> usize {
        [Field::Name, Field::Email]
            .iter()
            .map(|&f| self.values(f).count())
            .max()
            .unwrap_or(0)
    }

    /// A hash of the profile's values (and, with `meta`, of its stamp or clock): equal
    /// profiles hash equal. FNV-1a, written here so that no library upgrade changes it.
    pub fn digest(&self, meta: bool) -> u64 {
        let mut h = Fnv::default();
        match self {
            State::Lww(r) => {
                if meta {
                    h.word(r.stamp.ts as u64);
                    h.word(u64::from(r.stamp.c));
                    h.word(u64::from(r.stamp.node));
                    h.word(r.stamp.seq);
                }
                h.word(r.by);
                h.word(r.name);
                h.word(r.email);
                r.addresses.iter().for_each(|&a| h.word(a));
            }
            State::Causal(c) => {
                if meta {
                    c.ctx.0.iter().for_each(|&n| h.word(n));
                }
                for f in &c.fields {
                    h.word(u64::MAX); // field separator
                    for e in f {
                        h.word(e.dot.counter);
                        h.word(u64::from(e.dot.replica));
                        h.word(e.value);
                    }
                }
            }
        }
        h.0
    }
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn word(&mut self, w: u64) {
        for b in w.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(v: &[u64]) -> VClock {
        VClock(v.to_vec())
    }

    #[test]
    fn a_write_replaces_what_the_device_saw_and_keeps_what_it_did_not() {
        let mut c = Causal::new(2);
        c.write(
            0,
            Edit {
                field: Field::Name,
                id: 10,
            },
            &vc(&[0, 0]),
        );
        let seen = c.ctx.clone();
        // A concurrent write at replica 1, merged in.
        let mut other = Causal::new(2);
        other.write(
            1,
            Edit {
                field: Field::Name,
                id: 20,
            },
            &vc(&[0, 0]),
        );
        c.join(&other, ClockMerge::Join);
        assert_eq!(State::Causal(Rc::new(c.clone())).siblings(), 2);
        // A device that read only value 10 replaces it; 20 stays as a sibling.
        c.write(
            0,
            Edit {
                field: Field::Name,
                id: 30,
            },
            &seen,
        );
        let s = State::Causal(Rc::new(c));
        assert!(!s.holds(Field::Name, 10));
        assert!(s.holds(Field::Name, 20) && s.holds(Field::Name, 30));
    }

    #[test]
    fn resolve_keeps_the_greatest_dot() {
        let mut c = Causal::new(2);
        c.write(
            1,
            Edit {
                field: Field::Email,
                id: 5,
            },
            &vc(&[0, 0]),
        );
        c.write(
            0,
            Edit {
                field: Field::Email,
                id: 6,
            },
            &vc(&[0, 0]),
        );
        let r = c.resolve();
        assert_eq!(
            r,
            vec![Resolution {
                field: Field::Email,
                kept: 5,
                dropped: vec![6]
            }]
        );
    }
}
