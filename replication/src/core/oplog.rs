//! The op log: the region's backlog.
//!
//! Every op the region applied — local and remote — in application order (a causal
//! order), each with its origin and sequence range. Positions are a monotonic `u64`
//! (`start()..end()` are retained). Trimming drops the oldest entries and raises the
//! *floor*: per origin, the highest sequence number the log can no longer serve. A peer
//! whose applied vector is at or above the floor for every origin can be served by a
//! partial resync; otherwise it needs a full resync. A merged snapshot also raises the
//! floor (its ops never enter the log).
//!
//! [`OpLog`] is a small trait so persistence can keep the log in RocksDB; [`MemLog`] is
//! the in-memory implementation (also the simulator's, whose crashes keep a clone as the
//! "durable" copy).

use crate::msg::LogEntry;
use crdt::{RegionId, VersionVector};
use std::collections::{BTreeMap, VecDeque};

/// Accounting overhead per entry on top of its op bytes.
pub const ENTRY_OVERHEAD_BYTES: u64 = 32;

/// What the replicator needs to know about an entry without copying its op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryMeta {
    /// Origin region.
    pub origin: RegionId,
    /// First seq.
    pub first_seq: u64,
    /// Last seq.
    pub last_seq: u64,
    /// Accounted bytes (op bytes + [`ENTRY_OVERHEAD_BYTES`]).
    pub bytes: u64,
    /// When it was appended (the replicator's clock).
    pub appended_at_ms: u64,
}

/// A region's op log (see the module docs).
pub trait OpLog {
    /// Appends an entry applied at `at_ms`.
    fn append(&mut self, entry: LogEntry, at_ms: u64);
    /// Position of the oldest retained entry.
    fn start(&self) -> u64;
    /// Position one past the newest entry.
    fn end(&self) -> u64;
    /// Metadata of the entry at `pos`.
    fn meta(&self, pos: u64) -> Option<EntryMeta>;
    /// A copy of the entry at `pos`; `None` when it is not retained or cannot be read
    /// back (a disk-backed log's I/O error: the replicator then falls back to a full
    /// resync for the peer it was serving).
    fn read(&self, pos: u64) -> Option<LogEntry>;
    /// Position of the first retained entry of `origin` whose `last_seq > seq`.
    fn first_after(&self, origin: RegionId, seq: u64) -> Option<u64>;
    /// Per origin, the highest seq the log may no longer hold.
    fn floor(&self) -> VersionVector;
    /// Raises the floor (after a merged snapshot).
    fn raise_floor(&mut self, vv: &VersionVector);
    /// Drops the oldest entry, raising the floor; returns its metadata.
    fn pop_front(&mut self) -> Option<EntryMeta>;
    /// Retained entries.
    fn len(&self) -> u64 {
        self.end() - self.start()
    }
    /// Whether no entry is retained.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Retained bytes (accounted as in [`EntryMeta::bytes`]).
    fn bytes(&self) -> u64;
}

impl<T: OpLog + ?Sized> OpLog for Box<T> {
    fn append(&mut self, entry: LogEntry, at_ms: u64) {
        (**self).append(entry, at_ms)
    }
    fn start(&self) -> u64 {
        (**self).start()
    }
    fn end(&self) -> u64 {
        (**self).end()
    }
    fn meta(&self, pos: u64) -> Option<EntryMeta> {
        (**self).meta(pos)
    }
    fn read(&self, pos: u64) -> Option<LogEntry> {
        (**self).read(pos)
    }
    fn first_after(&self, origin: RegionId, seq: u64) -> Option<u64> {
        (**self).first_after(origin, seq)
    }
    fn floor(&self) -> VersionVector {
        (**self).floor()
    }
    fn raise_floor(&mut self, vv: &VersionVector) {
        (**self).raise_floor(vv)
    }
    fn pop_front(&mut self) -> Option<EntryMeta> {
        (**self).pop_front()
    }
    fn bytes(&self) -> u64 {
        (**self).bytes()
    }
}

/// In-memory [`OpLog`] with a per-origin index.
#[derive(Clone, Debug, Default)]
pub struct MemLog {
    entries: VecDeque<(LogEntry, u64)>,
    start: u64,
    /// Per origin: `(last_seq, position)` in order.
    index: BTreeMap<RegionId, VecDeque<(u64, u64)>>,
    floor: VersionVector,
    bytes: u64,
}

impl MemLog {
    /// An empty log.
    pub fn new() -> MemLog {
        MemLog::default()
    }

    fn entry_bytes(e: &LogEntry) -> u64 {
        e.op.len() as u64 + ENTRY_OVERHEAD_BYTES
    }
}

impl OpLog for MemLog {
    fn append(&mut self, entry: LogEntry, at_ms: u64) {
        let pos = self.end();
        self.bytes += Self::entry_bytes(&entry);
        self.index
            .entry(entry.origin)
            .or_default()
            .push_back((entry.last_seq, pos));
        self.entries.push_back((entry, at_ms));
    }
    fn start(&self) -> u64 {
        self.start
    }
    fn end(&self) -> u64 {
        self.start + self.entries.len() as u64
    }
    fn meta(&self, pos: u64) -> Option<EntryMeta> {
        let i = pos.checked_sub(self.start)? as usize;
        self.entries.get(i).map(|(e, at)| EntryMeta {
            origin: e.origin,
            first_seq: e.first_seq,
            last_seq: e.last_seq,
            bytes: Self::entry_bytes(e),
            appended_at_ms: *at,
        })
    }
    fn read(&self, pos: u64) -> Option<LogEntry> {
        let i = pos.checked_sub(self.start)? as usize;
        self.entries.get(i).map(|(e, _)| e.clone())
    }
    fn first_after(&self, origin: RegionId, seq: u64) -> Option<u64> {
        let ix = self.index.get(&origin)?;
        let i = ix.partition_point(|&(last, _)| last <= seq);
        ix.get(i).map(|&(_, pos)| pos)
    }
    fn floor(&self) -> VersionVector {
        self.floor.clone()
    }
    fn raise_floor(&mut self, vv: &VersionVector) {
        self.floor.join(vv);
    }
    fn pop_front(&mut self) -> Option<EntryMeta> {
        let m = self.meta(self.start)?;
        let (e, _) = self.entries.pop_front().expect("meta implies an entry");
        self.start += 1;
        self.bytes -= m.bytes;
        if let Some(ix) = self.index.get_mut(&e.origin) {
            ix.pop_front();
            if ix.is_empty() {
                self.index.remove(&e.origin);
            }
        }
        self.floor.raise(e.origin, e.last_seq);
        Some(m)
    }
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(origin: RegionId, seq: u64) -> LogEntry {
        LogEntry {
            origin,
            first_seq: seq,
            last_seq: seq,
            op: vec![0; 8],
        }
    }

    #[test]
    fn index_and_trim_raise_floor() {
        let mut l = MemLog::new();
        for (o, s) in [(1, 1), (2, 1), (1, 2), (2, 2), (1, 3)] {
            l.append(e(o, s), 0);
        }
        assert_eq!(l.first_after(1, 1), Some(2));
        assert_eq!(l.first_after(2, 0), Some(1));
        assert_eq!(l.first_after(2, 2), None);
        assert_eq!(l.bytes(), 5 * (8 + ENTRY_OVERHEAD_BYTES));
        l.pop_front();
        l.pop_front();
        assert_eq!(l.floor(), VersionVector::from_pairs([(1, 1), (2, 1)]));
        assert_eq!(l.start(), 2);
        assert_eq!(l.first_after(1, 0), Some(2));
        assert_eq!(l.read(4).unwrap().last_seq, 3);
        assert!(l.read(1).is_none());
    }
}
