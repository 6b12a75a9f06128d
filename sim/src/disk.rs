//! A node's disk: an append-only log of the model's records with a synced prefix.
//!
//! Writes land in the volatile part of the log; `sync` makes everything written so far
//! durable (an fsync). A crash truncates the log to its synced prefix: unsynced writes are
//! lost, which is exactly the failure that "log before you act" protocols guard against.

/// The durable log of one node.
#[derive(Clone, Debug)]
pub struct Disk<R> {
    records: Vec<R>,
    synced_len: usize,
}

impl<R> Default for Disk<R> {
    fn default() -> Self {
        Disk {
            records: Vec::new(),
            synced_len: 0,
        }
    }
}

impl<R> Disk<R> {
    /// Appends a record to the volatile tail.
    pub fn append(&mut self, record: R) {
        self.records.push(record);
    }

    /// Makes every record written so far durable.
    pub fn sync(&mut self) {
        self.synced_len = self.records.len();
    }

    /// Appends a record and syncs it: the common "durably log" step.
    pub fn append_synced(&mut self, record: R) {
        self.append(record);
        self.sync();
    }

    /// Every record, synced or not, oldest first (what a running node reads back).
    pub fn records(&self) -> &[R] {
        &self.records
    }

    /// The records that survive a crash.
    pub fn synced(&self) -> &[R] {
        &self.records[..self.synced_len]
    }

    pub fn unsynced_len(&self) -> usize {
        self.records.len() - self.synced_len
    }

    /// Puts the log back as it was when it had `len` records of which `synced_len` were
    /// synced: the node crashed at that instant, so nothing it did afterwards — a write, a
    /// sync — ever happened.
    pub(crate) fn rewind(&mut self, len: usize, synced_len: usize) {
        debug_assert!(synced_len <= len && len <= self.records.len());
        self.records.truncate(len);
        self.synced_len = synced_len;
    }

    /// Loses the unsynced tail, as a power cut does. Returns how many records were lost.
    pub(crate) fn crash(&mut self) -> usize {
        let lost = self.unsynced_len();
        self.records.truncate(self.synced_len);
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_only_the_synced_prefix() {
        let mut d = Disk::default();
        d.append_synced("prepare");
        d.append("commit");
        assert_eq!(d.records(), ["prepare", "commit"]);
        assert_eq!(d.crash(), 1);
        assert_eq!(d.records(), ["prepare"]);
    }
}
