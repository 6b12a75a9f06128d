//! The replicated log: entries in index order, each stamped with the epoch of the primary
//! that wrote it, and what a server durably records of it.
//!
//! Epochs order primaries: a later primary's epoch is larger, and an entry's [`Version`]
//! compares by epoch first, so anything a later primary wrote is newer than anything a
//! deposed one wrote at any index — the log comparison of Raft (Ongaro & Ousterhout 2014)
//! and the leader epochs of Kafka (KIP-101), which this log's truncation follows: a server
//! rejoining under a new primary keeps the prefix it shares with it and discards the rest.

use sim::client::RequestId;
use sim::{NodeId, Stopwatch};
use std::fmt;

/// A primary's epoch (a term, a ballot): the round in the high bits, the promoted server's
/// ordinal in the low byte, so two servers standing in the same round still get distinct
/// epochs and "one primary per epoch" holds by construction — unless epochs are not
/// bumped at all (the `no-epochs` bug).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(u64);

impl Epoch {
    /// The first primary's epoch: round 1.
    pub fn initial(server: u8) -> Epoch {
        Epoch(1 << 8 | u64::from(server))
    }

    /// The epoch `server` stands in after seeing `self`: the next round.
    pub fn next(self, server: u8) -> Epoch {
        Epoch(((self.0 >> 8) + 1) << 8 | u64::from(server))
    }
}

/// Printed as `round.server`.
impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 >> 8, self.0 & 0xff)
    }
}

/// Where an entry stands in the history of the log: by epoch, then index. `Version::ZERO`
/// is the state before any write (a key never written reads as it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub epoch: Epoch,
    pub index: u64,
}

impl Version {
    pub const ZERO: Version = Version {
        epoch: Epoch(0),
        index: 0,
    };
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.index, self.epoch)
    }
}

/// One write: `key` set to `value`, by client request `req` of node `client`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub version: Version,
    pub key: u32,
    pub value: i64,
    pub client: NodeId,
    pub req: RequestId,
    /// When the primary appended it, for the replication-lag metric (true time, which no
    /// server can read).
    pub born: Stopwatch,
}

impl Entry {
    /// The key of the entry a new primary appends at promotion, which writes nothing: once
    /// it commits, everything before it has (Raft's no-op; a primary may count replicas
    /// only for entries of its own epoch).
    pub const NO_KEY: u32 = u32::MAX;

    /// The new primary's first entry.
    pub fn no_op(version: Version, primary: NodeId, born: Stopwatch) -> Entry {
        Entry {
            version,
            key: Entry::NO_KEY,
            value: 0,
            client: primary,
            req: RequestId {
                client: u32::MAX,
                incarnation: 0,
                seq: 0,
            },
            born,
        }
    }

    /// Whether it is a client's write (not a no-op).
    pub fn is_write(&self) -> bool {
        self.key != Entry::NO_KEY
    }
}

/// What a server writes to its disk, in order; replaying the records rebuilds its log and
/// the highest epoch it promised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// The server stood or voted in this epoch, or followed a primary of it: it never goes
    /// back to an older one.
    Promise(Epoch),
    Entry(Entry),
    /// Every entry past index `keep` was discarded (a divergent suffix, at rejoin).
    Truncate {
        keep: u64,
    },
}

/// A server's log: entry `i` (from 1) at position `i - 1`.
#[derive(Debug, Default)]
pub struct Log {
    entries: Vec<Entry>,
}

impl Log {
    /// Replays a disk: the log and the highest epoch promised.
    pub fn replay(records: &[Record]) -> (Log, Epoch) {
        let mut log = Log::default();
        let mut promised = Epoch::default();
        for r in records {
            match *r {
                Record::Promise(e) => promised = promised.max(e),
                Record::Entry(e) => {
                    // Entries are written in index order after any truncation.
                    log.truncate(e.version.index - 1);
                    log.append(e);
                    promised = promised.max(e.version.epoch);
                }
                Record::Truncate { keep } => {
                    log.truncate(keep);
                }
            }
        }
        (log, promised)
    }

    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The version of the last entry ([`Version::ZERO`] if none).
    pub fn last(&self) -> Version {
        self.entries.last().map_or(Version::ZERO, |e| e.version)
    }

    /// Entry `index` (from 1).
    pub fn get(&self, index: u64) -> Option<&Entry> {
        index
            .checked_sub(1)
            .and_then(|i| self.entries.get(i as usize))
    }

    /// The version of entry `index`, `ZERO` for index 0.
    pub fn version_at(&self, index: u64) -> Version {
        self.get(index).map_or(Version::ZERO, |e| e.version)
    }

    /// Whether this log holds the entry `prev` (index 0: the empty prefix, always).
    pub fn matches(&self, prev: Version) -> bool {
        prev.index == 0 || self.get(prev.index).is_some_and(|e| e.version == prev)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries from index `from` on.
    pub fn from(&self, from: u64) -> &[Entry] {
        let start = (from.max(1) - 1) as usize;
        self.entries.get(start..).unwrap_or(&[])
    }

    /// Appends the next entry.
    pub fn append(&mut self, e: Entry) {
        assert_eq!(
            e.version.index,
            self.len() + 1,
            "log entries are appended in index order"
        );
        self.entries.push(e);
    }

    /// Keeps the first `keep` entries; returns the ones discarded.
    pub fn truncate(&mut self, keep: u64) -> usize {
        let before = self.entries.len();
        self.entries.truncate(keep as usize);
        before - self.entries.len()
    }

    /// Where a server whose log does not hold `prev` proposes to resume: its last entry
    /// written in `prev`'s epoch or earlier, below `prev`'s index (Kafka's leader-epoch
    /// request, in one step).
    pub fn resume_hint(&self, prev: Version) -> Version {
        let below = self
            .entries
            .len()
            .min(prev.index.saturating_sub(1) as usize);
        self.entries[..below]
            .iter()
            .rev()
            .find(|e| e.version.epoch <= prev.epoch)
            .map_or(Version::ZERO, |e| e.version)
    }

    /// The last index this log holds with an epoch no later than `epoch`: the end of that
    /// epoch here.
    pub fn end_of_epoch(&self, epoch: Epoch) -> u64 {
        // Epochs never decrease along a log.
        self.entries.partition_point(|e| e.version.epoch <= epoch) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(epoch: Epoch, index: u64, value: i64) -> Entry {
        Entry {
            version: Version { epoch, index },
            key: 0,
            value,
            client: NodeId(0),
            req: RequestId {
                client: 0,
                incarnation: 0,
                seq: index,
            },
            born: Stopwatch::default(),
        }
    }

    #[test]
    fn epochs_are_distinct_per_server_and_grow() {
        let e1 = Epoch::initial(0);
        assert!(e1.next(1) > e1 && e1.next(2) > e1);
        assert_ne!(e1.next(1), e1.next(2));
        assert!(e1.next(2).next(0) > e1.next(2));
        assert_eq!(e1.next(2).to_string(), "2.2");
    }

    #[test]
    fn a_later_epoch_is_newer_at_any_index() {
        let old = Version {
            epoch: Epoch::initial(0),
            index: 10,
        };
        let new = Version {
            epoch: Epoch::initial(0).next(1),
            index: 8,
        };
        assert!(new > old && old > Version::ZERO);
    }

    #[test]
    fn replay_applies_truncations_and_promises() {
        let (e1, e2) = (Epoch::initial(0), Epoch::initial(0).next(1));
        let records = [
            Record::Entry(entry(e1, 1, 10)),
            Record::Entry(entry(e1, 2, 20)),
            Record::Entry(entry(e1, 3, 30)),
            Record::Promise(e2),
            Record::Truncate { keep: 1 },
            Record::Entry(entry(e2, 2, 21)),
        ];
        let (log, promised) = Log::replay(&records);
        assert_eq!(promised, e2);
        let values: Vec<i64> = log.entries().iter().map(|e| e.value).collect();
        assert_eq!(values, [10, 21]);
        assert!(log.matches(Version {
            epoch: e2,
            index: 2
        }));
        assert!(!log.matches(Version {
            epoch: e1,
            index: 2
        }));
    }

    #[test]
    fn resume_hint_and_end_of_epoch_find_the_shared_prefix() {
        let (e1, e2, e3) = (
            Epoch::initial(0),
            Epoch::initial(0).next(1),
            Epoch::initial(0).next(1).next(2),
        );
        // The rejoining server: 1..=5 in e1 (3..=5 never reached the new primary).
        let mut old = Log::default();
        for i in 1..=5 {
            old.append(entry(e1, i, i as i64));
        }
        // The new primary: 1..=2 from e1, then 3..=4 in e2 and 5 in e3.
        let mut new = Log::default();
        for (epoch, i) in [(e1, 1), (e1, 2), (e2, 3), (e2, 4), (e3, 5)] {
            new.append(entry(epoch, i, 100 + i as i64));
        }
        let prev = new.version_at(5 - 1);
        assert!(!old.matches(prev));
        let hint = old.resume_hint(prev);
        assert_eq!(
            hint,
            Version {
                epoch: e1,
                index: 3
            }
        );
        // The primary resumes after the end of e1 in its own log, or the hint if earlier.
        let resume = hint.index.min(new.end_of_epoch(hint.epoch));
        assert_eq!(resume, 2);
        assert!(old.matches(new.version_at(resume)));
    }
}
