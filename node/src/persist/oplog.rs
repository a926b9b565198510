//! The disk-backed replication backlog: an [`OpLog`] whose entries live in the write-ahead
//! log.
//!
//! Every op the region applies is already a WAL record ([`super::wal::Record::Op`], in
//! the replication wire form), so the backlog does not write anything of its own: per
//! entry it keeps a 40-byte slot in memory (origin, sequence range, accounted bytes,
//! append time, WAL index) plus a per-origin index entry (16 bytes), and the op bytes of
//! the newest entries up to `repl-backlog-memory`. Older entries are read back from the
//! WAL when a peer needs them (a partial resync after a long partition or a restart).
//!
//! Retention is the replicator's (`repl-backlog-size`, `repl-backlog-max-age`, and
//! entries every peer acknowledged as durable). Memory: ~56 bytes per retained entry
//! (so a full 1gb backlog of ~100-byte ops costs ~560 MB) plus the in-memory ops.
//! Entries rebuilt at start-up count their age from the restart (the WAL keeps no
//! append times). Snapshots trim the WAL only up to the
//! backlog's oldest entry ([`LogKeep::keep_from`]) and persist the backlog's floor, so
//! a restart rebuilds the backlog from the retained WAL (see [`super::recover`]) and
//! peers resume with a partial resync however old the last snapshot is.
//!
//! Matching entries to WAL indexes: the WAL hook notes `(origin, last_seq, index)` of
//! every op record it queues ([`LogKeep::note_record`]); [`DiskLog::append`] takes the
//! matching note. Both run under the store lock in application order, so the notes
//! arrive in the order of the appends; a note without an entry (an op the replicator
//! refused) is skipped and its op counted in the floor (the log cannot serve it). An
//! entry without a note (notes dropped at the bound) stays readable only while it is in
//! memory; if it has to leave memory it becomes unreadable, and a peer that needs it
//! gets a full resync (never a wrong or missing op).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crdt::{RegionId, VersionVector};
use replication::core::{EntryMeta, OpLog, ENTRY_OVERHEAD_BYTES};
use replication::msg::LogEntry;
use tracing::warn;

use super::storage::{Cf, Storage};
use super::wal::{wal_key, Record};
use super::{Shared, ORD};

/// Bound on WAL-record notes waiting for their log entry.
pub const NOTES_MAX: usize = 1 << 20;
/// How far past the oldest note an append looks for its own.
const MATCH_WINDOW: usize = 1024;
/// Entries one read-ahead scan of the WAL fetches at most (peers read in log order).
const READAHEAD_ENTRIES: usize = 512;
/// Op bytes one read-ahead scan fetches at most.
const READAHEAD_BYTES: usize = 1 << 20;

/// Backlog state shared with the WAL hook, snapshots and `INFO` (one small mutex).
#[derive(Debug, Default)]
pub struct LogKeep {
    /// Whether notes are taken: from the start of persistence until replication turns
    /// out to be off ([`LogKeep::deactivate`]). Without notes nothing holds the WAL back
    /// and a trim's floor covers the whole snapshot.
    active: bool,
    /// Op records queued for the WAL and not yet matched: `(origin, last_seq, index)`.
    notes: VecDeque<(RegionId, u64, u64)>,
    /// WAL index of the backlog's oldest WAL-backed entry (0: none).
    first_wal: u64,
    /// The backlog's floor (see [`OpLog::floor`]).
    floor: VersionVector,
    entries: u64,
    bytes: u64,
    memory_bytes: u64,
    oldest_ms: Option<u64>,
}

/// What `INFO persistence` shows of the backlog.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BacklogStats {
    /// Entries retained.
    pub entries: u64,
    /// Accounted bytes retained (op bytes + per-entry overhead).
    pub bytes: u64,
    /// Op bytes held in memory.
    pub memory_bytes: u64,
    /// Append time of the oldest entry (Unix ms).
    pub oldest_ms: Option<u64>,
    /// WAL index of the oldest entry backed by the WAL (0: none).
    pub first_wal_index: u64,
}

impl LogKeep {
    /// Keep state that takes notes.
    pub fn active() -> LogKeep {
        LogKeep {
            active: true,
            ..LogKeep::default()
        }
    }

    /// No backlog will consume notes (replication is off): drop them.
    pub fn deactivate(&mut self) {
        self.active = false;
        self.notes.clear();
    }

    /// Whether notes are taken.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Notes an op record queued at WAL `index` (called by the hook under the store lock).
    pub fn note_record(&mut self, origin: RegionId, last_seq: u64, index: u64) {
        if !self.active {
            return;
        }
        if self.notes.len() >= NOTES_MAX {
            // Bound: the dropped op's entry will have no WAL index (memory only); the
            // floor must cover it once it is trimmed from the WAL.
            if let Some((o, s, _)) = self.notes.pop_front() {
                self.floor.raise(o, s);
            }
        }
        self.notes.push_back((origin, last_seq, index));
    }

    /// The oldest WAL index the backlog still needs (`u64::MAX`: none).
    pub fn keep_from(&self) -> u64 {
        let a = if self.first_wal > 0 {
            self.first_wal
        } else {
            u64::MAX
        };
        let b = self.notes.front().map_or(u64::MAX, |n| n.2);
        a.min(b)
    }

    /// The floor to persist with a WAL trim (covers every op the trim removes).
    pub fn floor(&self) -> VersionVector {
        self.floor.clone()
    }

    /// Statistics.
    pub fn stats(&self) -> BacklogStats {
        BacklogStats {
            entries: self.entries,
            bytes: self.bytes,
            memory_bytes: self.memory_bytes,
            oldest_ms: self.oldest_ms,
            first_wal_index: self.first_wal,
        }
    }
}

/// An entry rebuilt from the WAL at start-up (op bytes stay on disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColdEntry {
    /// Origin region.
    pub origin: RegionId,
    /// First seq.
    pub first_seq: u64,
    /// Last seq.
    pub last_seq: u64,
    /// Op bytes.
    pub op_len: u32,
    /// WAL index.
    pub wal: u64,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    wal: u64,
    first_seq: u64,
    last_seq: u64,
    at_ms: u64,
    bytes: u32,
    origin: RegionId,
}

/// The disk-backed [`OpLog`] (see the module docs).
pub struct DiskLog {
    slots: VecDeque<Slot>,
    start: u64,
    /// Op bytes of positions `end - hot.len() .. end`.
    hot: VecDeque<Vec<u8>>,
    hot_bytes: u64,
    memory_max: u64,
    index: BTreeMap<RegionId, VecDeque<(u64, u64)>>,
    bytes: u64,
    keep: Arc<parking_lot::Mutex<LogKeep>>,
    storage: Arc<dyn Storage>,
    shared: Arc<Shared>,
    /// Entries read ahead from the WAL: `(position, entry)`, in position order.
    readahead: parking_lot::Mutex<VecDeque<(u64, LogEntry)>>,
}

impl std::fmt::Debug for DiskLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskLog")
            .field("start", &self.start)
            .field("entries", &self.slots.len())
            .field("hot", &self.hot.len())
            .finish()
    }
}

impl DiskLog {
    /// A backlog holding the `cold` entries (rebuilt from the WAL, oldest first) with
    /// `floor`, keeping up to `memory_max` op bytes of new entries in memory. Activates
    /// the hook's notes.
    pub fn new(
        cold: Vec<ColdEntry>,
        floor: VersionVector,
        at_ms: u64,
        memory_max: u64,
        keep: Arc<parking_lot::Mutex<LogKeep>>,
        storage: Arc<dyn Storage>,
        shared: Arc<Shared>,
    ) -> DiskLog {
        let mut log = DiskLog {
            slots: VecDeque::with_capacity(cold.len()),
            start: 0,
            hot: VecDeque::new(),
            hot_bytes: 0,
            memory_max,
            index: BTreeMap::new(),
            bytes: 0,
            keep,
            storage,
            shared,
            readahead: parking_lot::Mutex::new(VecDeque::new()),
        };
        for c in cold {
            let pos = log.start + log.slots.len() as u64;
            log.index
                .entry(c.origin)
                .or_default()
                .push_back((c.last_seq, pos));
            let bytes = c.op_len.saturating_add(ENTRY_OVERHEAD_BYTES as u32);
            log.bytes += bytes as u64;
            log.slots.push_back(Slot {
                wal: c.wal,
                first_seq: c.first_seq,
                last_seq: c.last_seq,
                at_ms,
                bytes,
                origin: c.origin,
            });
        }
        {
            let mut k = log.keep.lock();
            // Ops applied since recovery and before the backlog existed never reach it.
            while let Some((o, s, _)) = k.notes.pop_front() {
                k.floor.raise(o, s);
            }
            k.floor.join(&floor);
            k.first_wal = log.slots.front().map_or(0, |s| s.wal);
            log.publish(&mut k);
        }
        log
    }

    /// Copies the statistics into the shared state (the caller holds its lock).
    fn publish(&self, k: &mut LogKeep) {
        k.entries = self.slots.len() as u64;
        k.bytes = self.bytes;
        k.memory_bytes = self.hot_bytes;
        k.oldest_ms = self.slots.front().map(|s| s.at_ms);
    }

    fn hot_start(&self) -> u64 {
        self.end() - self.hot.len() as u64
    }

    /// Moves the oldest in-memory ops out of memory while over the budget. An op leaves
    /// only once its WAL record is written (readable back); one without a record
    /// leaves anyway and becomes unreadable.
    fn evict(&mut self) {
        let written = self.shared.written.load(ORD);
        while self.hot_bytes > self.memory_max {
            let pos = self.hot_start();
            let Some(slot) = self.slot(pos) else { break };
            if slot.wal != 0 && slot.wal > written {
                break; // not on disk yet: the writer is behind
            }
            if let Some(op) = self.hot.pop_front() {
                self.hot_bytes -= op.len() as u64;
            }
        }
    }

    fn slot(&self, pos: u64) -> Option<&Slot> {
        let i = pos.checked_sub(self.start)? as usize;
        self.slots.get(i)
    }

    /// The cold entry at `pos`: from the read-ahead buffer, else one scan of the WAL
    /// from its record that also fetches the following entries (a peer catching up
    /// reads in log order: one sequential scan instead of a point read per entry).
    fn read_cold(&self, pos: u64, slot: &Slot) -> Option<LogEntry> {
        if slot.wal == 0 {
            return None;
        }
        let mut ra = self.readahead.lock();
        while ra.front().is_some_and(|(p, _)| *p < pos) {
            ra.pop_front();
        }
        if ra.front().map_or(true, |(p, _)| *p != pos) {
            ra.clear();
            self.fill(pos, &mut ra)?;
        }
        match ra.pop_front() {
            Some((p, e)) if p == pos => Some(e),
            _ => None,
        }
    }

    /// Scans the WAL from `pos`'s record, collecting cold entries `pos, pos + 1, ...`.
    fn fill(&self, pos: u64, ra: &mut VecDeque<(u64, LogEntry)>) -> Option<()> {
        let hot_start = self.hot_start();
        let first = self.slot(pos)?.wal;
        let mut next = pos;
        let mut bytes = 0usize;
        let mut bad: Option<String> = None;
        let r = self.storage.scan(Cf::Wal, &wal_key(first), &mut |k, v| {
            if next >= hot_start || ra.len() >= READAHEAD_ENTRIES || bytes >= READAHEAD_BYTES {
                return Ok(false);
            }
            let Some(slot) = self.slot(next) else {
                return Ok(false);
            };
            if slot.wal == 0 {
                return Ok(false); // an entry without a record: stop here
            }
            let Ok(k): Result<[u8; 8], _> = k.try_into() else {
                return Ok(false);
            };
            let index = u64::from_be_bytes(k);
            if index < slot.wal {
                return Ok(true); // a record that is not a backlog entry
            }
            if index > slot.wal {
                bad = Some(format!("WAL record {} is gone", slot.wal));
                return Ok(false);
            }
            match Record::decode(v).ok().and_then(Record::into_log_entry) {
                Some(e) if e.origin == slot.origin && e.last_seq == slot.last_seq => {
                    bytes += e.op.len();
                    ra.push_back((next, e));
                    next += 1;
                    Ok(true)
                }
                _ => {
                    bad = Some(format!("WAL record {index} does not hold the expected op"));
                    Ok(false)
                }
            }
        });
        if let Err(e) = r {
            warn!(error = %e, "backlog: cannot read the WAL; the peer gets a full resync");
            return None;
        }
        if ra.is_empty() {
            warn!(
                problem = bad.as_deref().unwrap_or("nothing read"),
                "backlog: cannot read an entry back; the peer gets a full resync"
            );
            return None;
        }
        Some(())
    }
}

impl OpLog for DiskLog {
    fn append(&mut self, entry: LogEntry, at_ms: u64) {
        let keep = Arc::clone(&self.keep);
        let mut k = keep.lock();
        let wal = {
            let found = k
                .notes
                .iter()
                .take(MATCH_WINDOW)
                .position(|&(o, s, _)| o == entry.origin && s == entry.last_seq);
            match found {
                Some(i) => {
                    // Notes before it are ops the log never got: the floor covers them.
                    for _ in 0..i {
                        if let Some((o, s, _)) = k.notes.pop_front() {
                            k.floor.raise(o, s);
                        }
                    }
                    let (_, _, idx) = k.notes.pop_front().expect("found");
                    if k.first_wal == 0 {
                        k.first_wal = idx;
                    }
                    idx
                }
                None => 0,
            }
        };
        let pos = self.end();
        let bytes = (entry.op.len() as u64 + ENTRY_OVERHEAD_BYTES).min(u32::MAX as u64) as u32;
        self.bytes += bytes as u64;
        self.index
            .entry(entry.origin)
            .or_default()
            .push_back((entry.last_seq, pos));
        self.slots.push_back(Slot {
            wal,
            first_seq: entry.first_seq,
            last_seq: entry.last_seq,
            at_ms,
            bytes,
            origin: entry.origin,
        });
        self.hot_bytes += entry.op.len() as u64;
        self.hot.push_back(entry.op);
        self.evict();
        self.publish(&mut k);
    }

    fn start(&self) -> u64 {
        self.start
    }

    fn end(&self) -> u64 {
        self.start + self.slots.len() as u64
    }

    fn meta(&self, pos: u64) -> Option<EntryMeta> {
        self.slot(pos).map(|s| EntryMeta {
            origin: s.origin,
            first_seq: s.first_seq,
            last_seq: s.last_seq,
            bytes: s.bytes as u64,
            appended_at_ms: s.at_ms,
        })
    }

    fn read(&self, pos: u64) -> Option<LogEntry> {
        let slot = self.slot(pos)?;
        let hs = self.hot_start();
        if pos >= hs {
            let op = self.hot.get((pos - hs) as usize)?;
            return Some(LogEntry {
                origin: slot.origin,
                first_seq: slot.first_seq,
                last_seq: slot.last_seq,
                op: op.clone(),
            });
        }
        self.read_cold(pos, slot)
    }

    fn first_after(&self, origin: RegionId, seq: u64) -> Option<u64> {
        let ix = self.index.get(&origin)?;
        let i = ix.partition_point(|&(last, _)| last <= seq);
        ix.get(i).map(|&(_, pos)| pos)
    }

    fn floor(&self) -> VersionVector {
        self.keep.lock().floor.clone()
    }

    fn raise_floor(&mut self, vv: &VersionVector) {
        self.keep.lock().floor.join(vv);
    }

    fn pop_front(&mut self) -> Option<EntryMeta> {
        let m = self.meta(self.start)?;
        if self.hot_start() == self.start {
            if let Some(op) = self.hot.pop_front() {
                self.hot_bytes -= op.len() as u64;
            }
        }
        self.slots.pop_front();
        self.start += 1;
        self.bytes -= m.bytes;
        if let Some(ix) = self.index.get_mut(&m.origin) {
            ix.pop_front();
            if ix.is_empty() {
                self.index.remove(&m.origin);
            }
        }
        let mut k = self.keep.lock();
        k.floor.raise(m.origin, m.last_seq);
        match self.slots.front() {
            None => k.first_wal = 0,
            // An entry without a WAL index keeps the previous (smaller) bound.
            Some(s) if s.wal != 0 => k.first_wal = s.wal,
            Some(_) => {}
        }
        self.publish(&mut k);
        Some(m)
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }
}
