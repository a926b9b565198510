//! Redis streams as a causal CRDT.
//!
//! # Entry IDs: one ID space per region
//!
//! A stream entry ID is Redis' `ms-seq` (two `u64`s, ordered by `ms`, then `seq`). IDs that
//! a region generates (`XADD key * ...` and `XADD key <ms>-* ...`) keep the region id in
//! the low [`REGION_BITS`] (8) bits of `seq`: `seq = n << 8 | region`, where `n` counts up
//! within one millisecond. Two regions therefore never generate the same ID, whatever
//! their clocks say, and the IDs stay valid Redis IDs ordered by time: a stream written in
//! several regions reads as one time-ordered log. The millisecond part is the op's HLC
//! time (never below the stream's last ID), so an entry added after another one was
//! observed always gets a larger ID. Limits: at most 2^56 IDs per millisecond per stream
//! (beyond, the next millisecond is used); the sequence numbers a client sees are not
//! 0, 1, 2... but `region`, `256 + region`, ... (e.g. `1700000000000-1`,
//! `1700000000000-257`); an ID supplied explicitly by the client (`XADD key 5-3 ...`) is
//! taken as given, so two regions adding the same explicit ID concurrently keep both
//! entries (they read as two entries with the same ID, ordered by the adding op's dot).
//!
//! # Entries: union merge, observed-remove deletes
//!
//! An entry is identified by `(id, dot)`: its ID and the dot of the XADD that added it.
//! Concurrent XADDs in different regions are all kept (union). XDEL, XTRIM and the
//! trimming options of XADD remove the entries the issuing region had seen, by naming them
//! in the delta (`removed`, as the list CRDT does): a deleted entry stays deleted (a
//! redelivered XADD is recognised by its dot), and with the replication layer's causal
//! delivery no tombstone is stored at all. Only a removal delivered before its entry (not
//! possible with causal delivery) is kept, until the entry arrives or the removal is
//! causally stable ([`Stream::gc`]).
//!
//! Trimming under concurrency: `XTRIM MAXLEN n` / `MINID id` remove the entries the
//! issuing region saw beyond the limit. An entry added concurrently in another region
//! (not yet seen) survives the trim, even when its ID is below a MINID threshold or it
//! would fall outside MAXLEN; every region converges to the same entries, and the next
//! trim removes it. A stream may therefore briefly hold more than MAXLEN entries.
//!
//! DEL (`remove_all_delta`) removes every observed entry and bookkeeping record;
//! entries added concurrently survive, as for every Meridian type.
//!
//! # Bookkeeping
//!
//! The last-generated ID, the number of entries ever added and the largest deleted ID
//! (XINFO STREAM, and the "ID must grow" rule of XADD) are [`Meta`] records, one per
//! region that wrote the stream: a write from a region replaces that region's previous
//! record (through its delta context) with an updated one under a fresh dot of its own —
//! a dot that never names an entry, so replacing a record never removes an entry. A reader
//! sees the max of the IDs and the sum of the entries-added counts over the records: both
//! converge. XSETID replaces every record it observed with one record holding its values.
//!
//! # Memory
//!
//! An entry costs 40 bytes inline (ID 16, dot 8, field block pointer 16) in a `VecDeque`
//! plus one heap block holding its fields and values, each prefixed by a varint length.

use crate::context::{CausalContext, DotStore};
use crate::dot::{Dot, RegionId};
use crate::vv::VersionVector;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::VecDeque;
use std::fmt;

/// Low bits of a generated ID's `seq` that hold the generating region.
pub const REGION_BITS: u32 = 8;

/// A stream entry ID, `ms-seq`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The smallest ID, `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// Builds an ID.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID (`None` after [`StreamId::MAX`]).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (`None` before `0-0`).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The smallest ID that `region` may generate within millisecond `ms` above `after`
    /// (see the module docs); `None` when millisecond `ms` is exhausted or below `after`.
    pub fn generate_in(ms: u64, after: StreamId, region: RegionId) -> Option<StreamId> {
        let r = region as u64;
        if ms > after.ms {
            return Some(StreamId::new(ms, r));
        }
        if ms < after.ms {
            return None;
        }
        // Smallest n with (n << 8 | r) > after.seq.
        let n = if (after.seq & 0xff) < r {
            after.seq >> REGION_BITS
        } else {
            (after.seq >> REGION_BITS).checked_add(1)?
        };
        if n > (u64::MAX >> REGION_BITS) {
            return None;
        }
        Some(StreamId::new(ms, n << REGION_BITS | r))
    }

    /// The ID `XADD key *` generates at HLC time `now_ms` after `last` (`None` only when
    /// the ID space is exhausted).
    pub fn generate(now_ms: u64, last: StreamId, region: RegionId) -> Option<StreamId> {
        let ms = now_ms.max(last.ms);
        StreamId::generate_in(ms, last, region).or_else(|| {
            let ms = ms.checked_add(1)?;
            StreamId::generate_in(ms, last, region)
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An entry's field-value pairs, in one heap block: each field and value prefixed by its
/// length as a varint.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Fields(Box<[u8]>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, x) in b.iter().enumerate().take(10) {
        v |= ((x & 0x7f) as u64) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

impl Fields {
    /// Packs field-value pairs.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Fields {
        let mut out = Vec::new();
        for (f, v) in pairs {
            put_varint(&mut out, f.len() as u64);
            out.extend_from_slice(f);
            put_varint(&mut out, v.len() as u64);
            out.extend_from_slice(v);
        }
        Fields(out.into_boxed_slice())
    }

    /// The field-value pairs, in order.
    pub fn pairs(&self) -> FieldIter<'_> {
        FieldIter { rest: &self.0 }
    }

    /// Heap bytes of the block.
    pub fn heap_bytes(&self) -> usize {
        self.0.len()
    }

    fn well_formed(b: &[u8]) -> bool {
        let mut rest = b;
        let mut n = 0usize;
        while !rest.is_empty() {
            let Some((len, used)) = get_varint(rest) else {
                return false;
            };
            rest = &rest[used..];
            if (rest.len() as u64) < len {
                return false;
            }
            rest = &rest[len as usize..];
            n += 1;
        }
        n.is_multiple_of(2)
    }
}

/// Iterator over [`Fields`] pairs.
pub struct FieldIter<'a> {
    rest: &'a [u8],
}

impl<'a> FieldIter<'a> {
    fn take(&mut self) -> Option<&'a [u8]> {
        let (len, used) = get_varint(self.rest)?;
        let start = used;
        let end = start.checked_add(len as usize)?;
        let s = self.rest.get(start..end)?;
        self.rest = &self.rest[end..];
        Some(s)
    }
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let f = self.take()?;
        let v = self.take()?;
        Some((f, v))
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for (k, v) in self.pairs() {
            l.entry(&(String::from_utf8_lossy(k), String::from_utf8_lossy(v)));
        }
        l.finish()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_bytes::Bytes::new(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = serde_bytes::ByteBuf::deserialize(d)?;
        if !Fields::well_formed(&b) {
            return Err(serde::de::Error::custom("malformed stream entry fields"));
        }
        Ok(Fields(b.into_vec().into_boxed_slice()))
    }
}

/// One stream entry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Its ID.
    pub id: StreamId,
    /// The dot of the XADD that added it.
    pub dot: Dot,
    /// Field-value pairs.
    pub fields: Fields,
}

impl Entry {
    fn key(&self) -> (StreamId, Dot) {
        (self.id, self.dot)
    }
}

/// Stream bookkeeping (one record per writing region; see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Meta {
    /// Last generated (or explicitly added / XSETID) ID.
    pub last: StreamId,
    /// Entries added (this record's share).
    pub added: u64,
    /// Largest deleted ID.
    pub max_deleted: StreamId,
}

impl Meta {
    fn max(&mut self, o: &Meta) {
        self.last = self.last.max(o.last);
        self.added = self.added.max(o.added);
        self.max_deleted = self.max_deleted.max(o.max_deleted);
    }
}

/// A Redis stream (see module docs).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Stream {
    /// Entries sorted by `(id, dot)`.
    entries: VecDeque<Entry>,
    /// Removed entries whose XADD this replica has not applied (sorted; normally empty).
    removed: Vec<(StreamId, Dot)>,
    /// Bookkeeping records, sorted by dot.
    meta: Vec<(Dot, Meta)>,
    /// Delta only: remove everything the delta context covers (DEL).
    clear: bool,
}

#[derive(Serialize)]
struct StreamRef<'a> {
    entries: &'a VecDeque<Entry>,
    removed: &'a [(StreamId, Dot)],
    meta: &'a [(Dot, Meta)],
    clear: bool,
}

#[derive(Deserialize)]
struct StreamWire {
    entries: Vec<Entry>,
    removed: Vec<(StreamId, Dot)>,
    meta: Vec<(Dot, Meta)>,
    clear: bool,
}

impl Serialize for Stream {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StreamRef {
            entries: &self.entries,
            removed: &self.removed,
            meta: &self.meta,
            clear: self.clear,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Stream {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = StreamWire::deserialize(d)?;
        let sorted_entries = w.entries.windows(2).all(|p| p[0].key() < p[1].key());
        let sorted_removed = w.removed.windows(2).all(|p| p[0] < p[1]);
        let sorted_meta = w.meta.windows(2).all(|p| p[0].0 < p[1].0);
        if !sorted_entries || !sorted_removed || !sorted_meta {
            return Err(serde::de::Error::custom(
                "stream records not strictly sorted",
            ));
        }
        Ok(Stream {
            entries: w.entries.into(),
            removed: w.removed,
            meta: w.meta,
            clear: w.clear,
        })
    }
}

/// Causal join of two dot-sorted meta lists; equal dots merge by pointwise max.
fn join_meta(
    a: &[(Dot, Meta)],
    a_ctx: &CausalContext,
    b: &[(Dot, Meta)],
    b_ctx: &CausalContext,
) -> Vec<(Dot, Meta)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                let mut m = x.1;
                m.max(&y.1);
                out.push((x.0, m));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                if !b_ctx.contains(x.0) {
                    out.push(*x);
                }
                i += 1;
            }
            (Some(x), None) => {
                if !b_ctx.contains(x.0) {
                    out.push(*x);
                }
                i += 1;
            }
            (_, Some(y)) => {
                if !a_ctx.contains(y.0) {
                    out.push(*y);
                }
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    out
}

impl Stream {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a reader sees the stream (it has entries or bookkeeping: an empty stream
    /// exists until DEL, as in Redis).
    pub fn is_present(&self) -> bool {
        !self.entries.is_empty() || !self.meta.is_empty()
    }

    /// Entries, by ID.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// The entry at index `i` (0 = first).
    pub fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    /// Index of the first entry with an ID `>= id`.
    pub fn lower_bound(&self, id: StreamId) -> usize {
        self.entries.partition_point(|e| e.id < id)
    }

    /// Entries with `lo <= id <= hi`, by ID.
    pub fn range(
        &self,
        lo: StreamId,
        hi: StreamId,
    ) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        let a = self.lower_bound(lo);
        let b = if hi == StreamId::MAX {
            self.entries.len()
        } else {
            self.lower_bound(hi.next().unwrap_or(StreamId::MAX))
        };
        self.entries.range(a..b.max(a))
    }

    /// The first entry.
    pub fn first(&self) -> Option<&Entry> {
        self.entries.front()
    }

    /// The last entry.
    pub fn last(&self) -> Option<&Entry> {
        self.entries.back()
    }

    /// The bookkeeping a reader sees: max IDs and summed counts over every region's
    /// record, and never below the largest entry ID.
    pub fn meta(&self) -> Meta {
        let mut m = Meta::default();
        for (_, r) in &self.meta {
            m.last = m.last.max(r.last);
            m.max_deleted = m.max_deleted.max(r.max_deleted);
            m.added = m.added.saturating_add(r.added);
        }
        if let Some(e) = self.entries.back() {
            m.last = m.last.max(e.id);
        }
        m
    }

    /// Bookkeeping records (dot, record), for inspection.
    pub fn meta_records(&self) -> &[(Dot, Meta)] {
        &self.meta
    }

    /// Removal records held for entries not applied yet (0 with causal delivery).
    pub fn pending_removals(&self) -> usize {
        self.removed.len()
    }

    fn find(&self, k: (StreamId, Dot)) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key().cmp(&k))
    }

    fn insert_sorted(&mut self, e: Entry) {
        match self.find(e.key()) {
            Ok(i) => self.entries[i] = e,
            Err(i) => {
                if self.entries.len() == self.entries.capacity() {
                    self.entries.reserve_exact((self.entries.len() / 8).max(4));
                }
                self.entries.insert(i, e)
            }
        }
    }

    fn remove_key(&mut self, k: (StreamId, Dot)) -> bool {
        match self.find(k) {
            Ok(i) => {
                self.entries.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn record(removed: &mut Vec<(StreamId, Dot)>, k: (StreamId, Dot)) {
        if let Err(i) = removed.binary_search(&k) {
            removed.insert(i, k);
        }
    }

    fn after_shrink(&mut self) {
        let (n, cap) = (self.entries.len(), self.entries.capacity());
        if cap > 64 && n * 2 < cap {
            self.entries.shrink_to(n + n / 8);
        }
    }

    /// Adds "add entry `id` with `fields`", issued with the op's entry `dot`, to `delta`.
    pub fn add_into(
        &self,
        delta: &mut Stream,
        id: StreamId,
        fields: Fields,
        dot: Dot,
        dctx: &mut CausalContext,
    ) {
        dctx.insert(dot);
        delta.insert_sorted(Entry { id, dot, fields });
    }

    /// Adds "remove every entry with ID `id`" (XDEL) to `delta`; returns how many
    /// entries it names.
    pub fn remove_id_into(&self, delta: &mut Stream, id: StreamId) -> usize {
        let a = self.lower_bound(id);
        let mut n = 0;
        for e in self.entries.range(a..).take_while(|e| e.id == id) {
            Stream::record(&mut delta.removed, e.key());
            n += 1;
        }
        n
    }

    /// Adds "remove the entry at index `i`" to `delta`.
    pub fn remove_at_into(&self, delta: &mut Stream, i: usize) {
        if let Some(e) = self.entries.get(i) {
            Stream::record(&mut delta.removed, e.key());
        }
    }

    /// Adds the update of `region`'s bookkeeping record to `delta`: the region's observed
    /// records are replaced by one record `f(current)` under `meta_dot` (a dot that names
    /// no entry).
    pub fn meta_into(
        &self,
        delta: &mut Stream,
        region: RegionId,
        meta_dot: Dot,
        f: impl FnOnce(&mut Meta),
        dctx: &mut CausalContext,
    ) {
        let mut m = Meta::default();
        for (d, r) in self.meta.iter().filter(|(d, _)| d.region() == region) {
            m.max(r);
            dctx.insert(*d);
        }
        f(&mut m);
        dctx.insert(meta_dot);
        delta.meta.retain(|(d, _)| *d != meta_dot);
        let i = delta.meta.partition_point(|(d, _)| *d < meta_dot);
        delta.meta.insert(i, (meta_dot, m));
    }

    /// Adds XSETID to `delta`: every observed record is replaced by one record `m` under
    /// `meta_dot`.
    pub fn set_meta_into(
        &self,
        delta: &mut Stream,
        meta_dot: Dot,
        m: Meta,
        dctx: &mut CausalContext,
    ) {
        for (d, _) in &self.meta {
            dctx.insert(*d);
        }
        dctx.insert(meta_dot);
        delta.meta = vec![(meta_dot, m)];
    }

    /// Delta removing every observed entry and record (DEL).
    #[must_use]
    pub fn remove_all_delta(&self, dctx: &mut CausalContext) -> Stream {
        self.for_each_dot(&mut |d| dctx.insert(d));
        Stream {
            clear: true,
            ..Stream::default()
        }
    }

    /// Whether this is a DEL delta.
    pub fn is_clear(&self) -> bool {
        self.clear
    }

    /// Joins a delta made by this type's mutators: cost proportional to the delta, except
    /// for DEL deltas, which are joined in full.
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &Stream, delta_ctx: &CausalContext) {
        if delta.clear {
            self.join(ctx, delta, delta_ctx);
            return;
        }
        for k in &delta.removed {
            if !self.remove_key(*k) && !ctx.contains(k.1) && !delta_ctx.contains(k.1) {
                Stream::record(&mut self.removed, *k);
            }
        }
        for e in &delta.entries {
            if ctx.contains(e.dot) || self.removed.binary_search(&e.key()).is_ok() {
                continue;
            }
            self.insert_sorted(e.clone());
        }
        if !self.removed.is_empty() {
            self.removed
                .retain(|r| !ctx.contains(r.1) && !delta_ctx.contains(r.1));
        }
        if !delta.meta.is_empty() || !delta_ctx.is_empty() {
            self.meta = join_meta(&self.meta, ctx, &delta.meta, delta_ctx);
        }
        self.after_shrink();
    }

    /// Drops removal records of stable dots (their XADDs have been applied everywhere).
    pub fn gc(&mut self, stable: &VersionVector) {
        self.removed.retain(|r| !stable.contains(r.1));
    }

    /// Heap bytes held, without the field blocks (metadata measurement).
    pub fn heap_metadata_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.removed.capacity() * std::mem::size_of::<(StreamId, Dot)>()
            + self.meta.capacity() * std::mem::size_of::<(Dot, Meta)>()
    }
}

impl DotStore for Stream {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        let a = std::mem::take(&mut self.entries);
        let mut out = VecDeque::with_capacity(a.len().max(other.entries.len()));
        let mut ai = a.into_iter().peekable();
        let mut bi = other.entries.iter().peekable();
        let gone_in_other =
            |e: &Entry| other_ctx.contains(e.dot) || other.removed.binary_search(&e.key()).is_ok();
        loop {
            let take_a = match (ai.peek(), bi.peek()) {
                (None, None) => break,
                (Some(x), Some(y)) if x.key() == y.key() => {
                    out.push_back(ai.next().expect("peeked"));
                    bi.next();
                    continue;
                }
                (Some(_), None) => true,
                (Some(x), Some(y)) => x.key() < y.key(),
                (None, Some(_)) => false,
            };
            if take_a {
                let x = ai.next().expect("peeked");
                if !gone_in_other(&x) {
                    out.push_back(x);
                }
            } else {
                let y = bi.next().expect("peeked");
                let gone_here = ctx.contains(y.dot) || self.removed.binary_search(&y.key()).is_ok();
                if !gone_here {
                    out.push_back(y.clone());
                }
            }
        }
        self.entries = out;
        let mut rec: Vec<(StreamId, Dot)> = self
            .removed
            .iter()
            .chain(other.removed.iter())
            .filter(|r| !ctx.contains(r.1) && !other_ctx.contains(r.1))
            .copied()
            .collect();
        rec.sort_unstable();
        rec.dedup();
        self.removed = rec;
        self.meta = join_meta(&self.meta, ctx, &other.meta, other_ctx);
        self.after_shrink();
    }
    fn is_bottom(&self) -> bool {
        self.entries.is_empty() && self.removed.is_empty() && self.meta.is_empty()
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        for e in &self.entries {
            f(e.dot);
        }
        for (d, _) in &self.meta {
            f(*d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_never_collide_and_grow() {
        let mut last = StreamId::MIN;
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000u64 {
            let region = (i % 3 + 1) as RegionId;
            let id = StreamId::generate(1000 + i / 100, last, region).unwrap();
            assert!(id > last);
            assert_eq!(id.seq & 0xff, region as u64);
            assert!(seen.insert(id));
            last = id;
        }
        // Two regions generating from the same last ID get distinct IDs.
        let a = StreamId::generate(5, StreamId::new(5, 0x101), 1).unwrap();
        let b = StreamId::generate(5, StreamId::new(5, 0x101), 2).unwrap();
        assert_ne!(a, b);
        assert_eq!(b, StreamId::new(5, 0x102));
        assert_eq!(a, StreamId::new(5, 0x201));
        // A clock behind the last ID still grows.
        assert!(StreamId::generate(1, StreamId::new(9, 0), 1).unwrap() > StreamId::new(9, 0));
        // Exhausted millisecond: the next one.
        let full = StreamId::new(7, u64::MAX);
        assert_eq!(StreamId::generate(7, full, 4).unwrap(), StreamId::new(8, 4));
        assert_eq!(StreamId::generate(0, StreamId::MAX, 1), None);
    }

    #[test]
    fn fields_roundtrip_and_validate() {
        let f = Fields::new([(&b"a"[..], &b"1"[..]), (b"", b""), (&[7u8; 300][..], b"x")]);
        let v: Vec<_> = f.pairs().collect();
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].0.len(), 300);
        assert!(Fields::well_formed(&f.0));
        assert!(!Fields::well_formed(&[1, b'a']));
        assert!(!Fields::well_formed(&[5, b'a']));
        assert!(!Fields::well_formed(&[0x80]));
    }
}
