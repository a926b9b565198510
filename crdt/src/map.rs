//! [`ORMap`]: an observed-remove map from byte strings to nested dot stores, the shared
//! shape of sets (members → [`DotSet`](crate::dotset::DotSet)), hashes (fields →
//! [`Field`](crate::field::Field)) and sorted sets (members → score fields).
//!
//! One entry per element ("bigset" layout): a write costs the element, not the whole
//! collection. Two joins exist: [`DotStore::join`] is correct for any two states and
//! visits every entry; [`ORMap::join_delta`] visits only the entries a delta names and is
//! what replicas use when applying deltas made by this crate's mutators, which always name
//! every element whose dots they remove.
//!
//! Storage (internal; iteration order is unspecified): entries live densely, in insertion
//! order with swap-remove, in a first vector of up to [`CHUNK`] entries followed by
//! fixed-size chunks of exactly [`CHUNK`] entries, so a large map has almost no slack
//! (less than one chunk) whatever its size. A `hashbrown` table of `u32` positions (5
//! bytes per slot instead of a whole entry) finds entries by key; maps of fewer than
//! [`INDEX_FROM`] entries have no table and are scanned. Dense positions also give O(1)
//! access by index ([`ORMap::nth`]), which random picks (SPOP, SRANDMEMBER, HRANDFIELD,
//! ZRANDMEMBER) need.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use crate::Bytes;
use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

type Entry<S> = (Bytes, S);

#[cfg(not(test))]
const CHUNK_BITS: u32 = 10;
// Tiny chunks in unit tests, so the chunked and indexed paths run on small maps.
#[cfg(test)]
const CHUNK_BITS: u32 = 3;
/// Entries per storage chunk (the first vector grows up to this size).
pub const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: usize = CHUNK - 1;
/// A map gets a hash index once it holds this many entries...
#[cfg(not(test))]
pub const INDEX_FROM: usize = 9;
/// A map gets a hash index once it holds this many entries...
#[cfg(test)]
pub const INDEX_FROM: usize = 5;
/// ...and drops it again when it falls to this many.
const INDEX_DROP: usize = INDEX_FROM / 2;

/// Hash of a key: SipHash (std `RandomState`) with one random seed per process.
fn hash_key(k: &[u8]) -> u64 {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new).hash_one(k)
}

#[inline]
fn at<'a, S>(head: &'a [Entry<S>], chunks: &'a [Vec<Entry<S>>], i: usize) -> &'a Entry<S> {
    if i < CHUNK {
        &head[i]
    } else {
        &chunks[(i >> CHUNK_BITS) - 1][i & CHUNK_MASK]
    }
}

/// Observed-remove map (see module docs). Bottom children are never stored in a state;
/// a delta may hold bottom children to name the elements it touches.
#[derive(Clone)]
pub struct ORMap<S> {
    /// Entries `0..CHUNK`.
    head: Vec<Entry<S>>,
    /// Index and further chunks; `None` only while the map is small (no chunk in use).
    big: Option<Box<Big<S>>>,
}

#[derive(Clone)]
struct Big<S> {
    /// Position of every entry, hashed by key.
    index: HashTable<u32>,
    /// Entries `CHUNK..`: chunk `c` holds positions `CHUNK * (c + 1)..`. Every chunk but
    /// the last in use is full; at most one empty spare chunk follows it.
    chunks: Vec<Vec<Entry<S>>>,
}

impl<S> Default for ORMap<S> {
    fn default() -> Self {
        ORMap {
            head: Vec::new(),
            big: None,
        }
    }
}

impl<S> ORMap<S> {
    #[inline]
    fn count(&self) -> usize {
        match &self.big {
            Some(b) => b.index.len(),
            None => self.head.len(),
        }
    }

    #[inline]
    fn chunks(&self) -> &[Vec<Entry<S>>] {
        match &self.big {
            Some(b) => &b.chunks,
            None => &[],
        }
    }

    #[inline]
    fn at(&self, i: usize) -> &Entry<S> {
        at(&self.head, self.chunks(), i)
    }

    #[inline]
    fn at_mut(&mut self, i: usize) -> &mut Entry<S> {
        if i < CHUNK {
            &mut self.head[i]
        } else {
            let b = self.big.as_mut().expect("a chunked map has an index");
            &mut b.chunks[(i >> CHUNK_BITS) - 1][i & CHUNK_MASK]
        }
    }

    /// Position of `k`, given its hash (only used when the map has an index).
    fn find_h(&self, k: &[u8], h: u64) -> Option<usize> {
        match &self.big {
            None => self.head.iter().position(|e| *e.0 == *k),
            Some(b) => {
                let (head, chunks) = (&self.head[..], &b.chunks[..]);
                b.index
                    .find(h, |&j| *at(head, chunks, j as usize).0 == *k)
                    .map(|&j| j as usize)
            }
        }
    }

    fn find(&self, k: &[u8]) -> Option<usize> {
        match &self.big {
            None => self.head.iter().position(|e| *e.0 == *k),
            Some(_) => self.find_h(k, hash_key(k)),
        }
    }

    fn build_index(&mut self) {
        let n = self.count();
        debug_assert!(self.big.is_none() && n <= CHUNK);
        let head = &self.head;
        let mut index = HashTable::with_capacity(n);
        for (j, e) in head.iter().enumerate() {
            index.insert_unique(hash_key(&e.0), j as u32, |&x| hash_key(&head[x as usize].0));
        }
        self.big = Some(Box::new(Big {
            index,
            chunks: Vec::new(),
        }));
    }

    /// Appends an entry whose key is not in the map; `h` is its hash when known.
    fn push(&mut self, k: Bytes, s: S, h: Option<u64>) {
        let i = self.count();
        assert!(
            i < u32::MAX as usize,
            "ORMap holds at most 2^32 - 1 entries"
        );
        if i < CHUNK {
            if self.head.len() == self.head.capacity() {
                let want = (self.head.capacity() * 2).clamp(4, CHUNK);
                self.head.reserve_exact(want - self.head.len());
            }
            self.head.push((k, s));
        } else {
            let b = self.big.as_mut().expect("a full first chunk has an index");
            let c = (i >> CHUNK_BITS) - 1;
            if c == b.chunks.len() {
                b.chunks.push(Vec::with_capacity(CHUNK));
            }
            let v = &mut b.chunks[c];
            if v.len() == v.capacity() {
                v.reserve_exact(CHUNK - v.len());
            }
            v.push((k, s));
        }
        let ORMap { head, big } = self;
        match big {
            Some(b) => {
                let Big { index, chunks } = &mut **b;
                let chunks = &chunks[..];
                let h = h.unwrap_or_else(|| hash_key(&at(head, chunks, i).0));
                index.insert_unique(h, i as u32, |&x| hash_key(&at(head, chunks, x as usize).0));
            }
            None if i + 1 >= INDEX_FROM => self.build_index(),
            None => {}
        }
    }

    /// Removes the entry at position `i`; the last entry moves into its place.
    fn remove_at(&mut self, i: usize) -> Entry<S> {
        let last = self.count() - 1;
        let ORMap { head, big } = self;
        if let Some(b) = big {
            let Big { index, chunks } = &mut **b;
            let chunks = &chunks[..];
            let h = hash_key(&at(head, chunks, i).0);
            match index.find_entry(h, |&j| j as usize == i) {
                Ok(e) => {
                    e.remove();
                }
                Err(_) => unreachable!("every entry is indexed"),
            }
            if i != last {
                let h = hash_key(&at(head, chunks, last).0);
                *index
                    .find_mut(h, |&j| j as usize == last)
                    .expect("every entry is indexed") = i as u32;
            }
        }
        let e = self.pop_last(last);
        let out = if i == last {
            e
        } else {
            std::mem::replace(self.at_mut(i), e)
        };
        self.after_shrink();
        out
    }

    /// Pops the entry at position `last` (the last one; the index is updated by callers).
    fn pop_last(&mut self, last: usize) -> Entry<S> {
        if last < CHUNK {
            self.head.pop().expect("entry exists")
        } else {
            let b = self.big.as_mut().expect("a chunked map has an index");
            let c = (last >> CHUNK_BITS) - 1;
            let e = b.chunks[c].pop().expect("entry exists");
            // Keep at most one empty chunk after the last one in use (no thrashing at a
            // chunk boundary).
            let keep = if b.chunks[c].is_empty() { c + 1 } else { c + 2 };
            b.chunks.truncate(keep);
            e
        }
    }

    /// Gives memory back after removals: drops the index of a map that became small and
    /// halves over-large first chunks and index tables.
    fn after_shrink(&mut self) {
        let n = self.count();
        let ORMap { head, big } = self;
        if let Some(b) = big {
            if n <= INDEX_DROP {
                *big = None;
            } else {
                let Big { index, chunks } = &mut **b;
                if index.capacity() > 64 && n * 8 < index.capacity() {
                    index.shrink_to(n * 2, |&x| hash_key(&at(head, chunks, x as usize).0));
                }
                if n < CHUNK && chunks.first().is_some_and(|c| c.is_empty()) && n * 2 < CHUNK {
                    chunks.clear();
                }
            }
        }
        if head.capacity() > 8 && head.len() * 4 <= head.capacity() {
            head.shrink_to(head.capacity() / 2);
        }
    }

    /// Swaps the entries at positions `a < b` (the index is rebuilt by callers).
    fn swap(&mut self, a: usize, b: usize) {
        debug_assert!(a < b);
        if b < CHUNK {
            self.head.swap(a, b);
            return;
        }
        let ORMap { head, big } = self;
        let chunks = &mut big.as_mut().expect("a chunked map has an index").chunks;
        let (cb, ob) = ((b >> CHUNK_BITS) - 1, b & CHUNK_MASK);
        if a < CHUNK {
            std::mem::swap(&mut head[a], &mut chunks[cb][ob]);
        } else {
            let (ca, oa) = ((a >> CHUNK_BITS) - 1, a & CHUNK_MASK);
            if ca == cb {
                chunks[ca].swap(oa, ob);
            } else {
                let (x, y) = chunks.split_at_mut(cb);
                std::mem::swap(&mut x[ca][oa], &mut y[0][ob]);
            }
        }
    }

    /// Keeps the entries for which `f` holds (visiting each once, in storage order).
    fn retain_entries(&mut self, mut f: impl FnMut(&Bytes, &mut S) -> bool) {
        let n = self.count();
        let mut w = 0;
        for r in 0..n {
            let e = self.at_mut(r);
            if f(&e.0, &mut e.1) {
                if w != r {
                    self.swap(w, r);
                }
                w += 1;
            }
        }
        if w == n {
            return;
        }
        // Entries w.. are the removed ones: drop them and re-index the rest.
        if w <= CHUNK {
            self.head.truncate(w);
            if let Some(b) = &mut self.big {
                b.chunks.clear();
            }
        } else {
            let c = ((w - 1) >> CHUNK_BITS) - 1;
            let b = self.big.as_mut().expect("a chunked map has an index");
            b.chunks.truncate(c + 1);
            b.chunks[c].truncate(w - CHUNK * (c + 1));
        }
        if w < INDEX_FROM {
            self.big = None;
        } else {
            let ORMap { head, big } = self;
            let Big { index, chunks } = &mut **big.as_mut().expect("indexed");
            let chunks = &chunks[..];
            index.clear();
            index.shrink_to(w, |_| unreachable!("the table is empty"));
            for j in 0..w {
                let h = hash_key(&at(head, chunks, j).0);
                index.insert_unique(h, j as u32, |&x| hash_key(&at(head, chunks, x as usize).0));
            }
        }
        self.after_shrink();
    }
}

impl<S: DotStore> ORMap<S> {
    /// Number of stored entries (including entries that are present only as metadata).
    pub fn entries_len(&self) -> usize {
        self.count()
    }
    /// The child for `k`.
    pub fn get(&self, k: &[u8]) -> Option<&S> {
        self.find(k).map(|i| &self.at(i).1)
    }
    /// Iterates the stored entries (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &S)> {
        self.head
            .iter()
            .chain(self.chunks().iter().flatten())
            .map(|e| (&e.0, &e.1))
    }
    /// The stored entry at position `i` (`0..entries_len()`), in O(1). Positions are those
    /// of [`ORMap::iter`]; they change when the map changes. For random picks.
    pub fn nth(&self, i: usize) -> Option<(&Bytes, &S)> {
        (i < self.count()).then(|| {
            let e = self.at(i);
            (&e.0, &e.1)
        })
    }
    /// Puts a child into a delta (bottom children allowed: they mark touched elements).
    pub fn insert_delta(&mut self, k: Bytes, s: S) {
        match self.find(&k) {
            Some(i) => self.at_mut(i).1 = s,
            None => self.push(k, s, None),
        }
    }
    /// Mutable child access for local maintenance (GC); callers keep bottoms out.
    pub(crate) fn retain_mut(&mut self, f: impl FnMut(&Bytes, &mut S) -> bool) {
        self.retain_entries(f)
    }
    /// Reserves room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        let total = self.count().saturating_add(n);
        let head_want = total.min(CHUNK);
        if head_want > self.head.capacity() {
            self.head.reserve_exact(head_want - self.head.len());
        }
        if total >= INDEX_FROM {
            if self.big.is_none() {
                self.build_index();
            }
            let ORMap { head, big } = self;
            let Big { index, chunks } = &mut **big.as_mut().expect("indexed");
            index.reserve(n, |&x| hash_key(&at(head, chunks, x as usize).0));
            let want_chunks = total.saturating_sub(CHUNK).div_ceil(CHUNK);
            chunks.reserve(want_chunks.saturating_sub(chunks.len()));
        }
    }

    /// Joins a delta whose store names every element it removes dots from (true for all
    /// deltas made by this crate). Cost is proportional to the delta, not to `self`.
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &ORMap<S>, delta_ctx: &CausalContext) {
        for (k, theirs) in delta.iter() {
            // Hash once for both the lookup and the insert.
            let h = self.big.is_some().then(|| hash_key(k));
            let found = match h {
                Some(h) => self.find_h(k, h),
                None => self.head.iter().position(|e| *e.0 == **k),
            };
            match found {
                Some(i) => {
                    let m = &mut self.at_mut(i).1;
                    m.join(ctx, theirs, delta_ctx);
                    if m.is_bottom() {
                        self.remove_at(i);
                    }
                }
                None => {
                    let mut n = S::default();
                    n.join(ctx, theirs, delta_ctx);
                    if !n.is_bottom() {
                        self.push(k.clone(), n, h);
                    }
                }
            }
        }
    }

    /// Delta that removes every observed dot of every element.
    #[must_use]
    pub fn remove_all_delta(
        &self,
        dctx: &mut CausalContext,
        rm: impl Fn(&S, &mut CausalContext) -> S,
    ) -> ORMap<S> {
        let mut d = ORMap::default();
        d.reserve(self.count());
        for (k, s) in self.iter() {
            d.push(k.clone(), rm(s, dctx), None);
        }
        d
    }
}

impl<S: DotStore> DotStore for ORMap<S> {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        let bottom = S::default();
        self.retain_entries(|k, m| {
            let theirs = other.get(k).unwrap_or(&bottom);
            m.join(ctx, theirs, other_ctx);
            !m.is_bottom()
        });
        for (k, theirs) in other.iter() {
            if self.find(k).is_none() {
                let mut n = S::default();
                n.join(ctx, theirs, other_ctx);
                if !n.is_bottom() {
                    self.push(k.clone(), n, None);
                }
            }
        }
    }
    fn is_bottom(&self) -> bool {
        self.count() == 0
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        for (_, s) in self.iter() {
            s.for_each_dot(f)
        }
    }
}

/// Equal when both hold the same keys with equal children, whatever the storage order.
impl<S: PartialEq> PartialEq for ORMap<S> {
    fn eq(&self, o: &Self) -> bool {
        self.count() == o.count()
            && self
                .head
                .iter()
                .chain(self.chunks().iter().flatten())
                .all(|(k, s)| o.find(k).is_some_and(|i| o.at(i).1 == *s))
    }
}

impl<S: fmt::Debug> fmt::Debug for ORMap<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Entries<'a, S>(&'a ORMap<S>);
        impl<S: fmt::Debug> fmt::Debug for Entries<'_, S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let m = self.0;
                f.debug_map()
                    .entries(
                        m.head
                            .iter()
                            .chain(m.chunks().iter().flatten())
                            .map(|e| (&e.0, &e.1)),
                    )
                    .finish()
            }
        }
        f.debug_struct("ORMap")
            .field("map", &Entries(self))
            .finish()
    }
}

impl<S: Serialize> Serialize for ORMap<S> {
    fn serialize<Se: Serializer>(&self, s: Se) -> Result<Se::Ok, Se::Error> {
        // Sorted, so equal states always encode to equal bytes.
        let mut v: Vec<&Entry<S>> = self
            .head
            .iter()
            .chain(self.chunks().iter().flatten())
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let v: Vec<(&serde_bytes::Bytes, &S)> = v
            .into_iter()
            .map(|(k, s)| (serde_bytes::Bytes::new(k), s))
            .collect();
        v.serialize(s)
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for ORMap<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<(serde_bytes::ByteBuf, S)> = Vec::deserialize(d)?;
        let mut map = ORMap::default();
        for (k, s) in v {
            let k: Bytes = k.into_vec().into_boxed_slice();
            // A repeated key replaces the earlier child (as a map insert would).
            match map.find(&k) {
                Some(i) => map.at_mut(i).1 = s,
                None => map.push(k, s, None),
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    //! The storage (dense chunks + position index) against a std `HashMap` model, with
    //! tiny chunks (`CHUNK` = 8 in unit tests) so every path runs.
    use super::*;
    use crate::dotset::DotSet;
    use std::collections::HashMap;

    fn key(i: u32) -> Bytes {
        format!("k{i}").into_bytes().into()
    }

    fn check(m: &ORMap<DotSet>, model: &HashMap<Bytes, DotSet>) {
        assert_eq!(m.entries_len(), model.len());
        for (k, v) in model {
            assert_eq!(m.get(k), Some(v), "key {k:?}");
        }
        let mut seen: Vec<&Bytes> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(seen.len(), model.len());
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), model.len(), "iteration repeats a key");
        for i in 0..m.entries_len() {
            let (k, v) = m.nth(i).expect("in range");
            assert_eq!(model.get(k), Some(v));
        }
        assert!(m.nth(m.entries_len()).is_none());
        if let Some(b) = &m.big {
            assert_eq!(b.index.len(), m.entries_len());
            for (j, c) in b.chunks.iter().enumerate() {
                assert!(c.capacity() <= CHUNK);
                let full = m.entries_len() >= CHUNK * (j + 2);
                assert!(!full || c.len() == CHUNK);
            }
        } else {
            assert!(m.entries_len() < INDEX_FROM);
        }
        assert!(m.head.capacity() <= CHUNK);
        let c = m.clone();
        assert_eq!(&c, m);
        let mut sorted: Vec<(Bytes, DotSet)> =
            model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes = postcard::to_allocvec(m).expect("encodes");
        let from_model: Vec<(&serde_bytes::Bytes, &DotSet)> = sorted
            .iter()
            .map(|(k, v)| (serde_bytes::Bytes::new(k), v))
            .collect();
        assert_eq!(bytes, postcard::to_allocvec(&from_model).expect("encodes"));
        let back: ORMap<DotSet> = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(&back, m);
    }

    #[test]
    fn matches_a_hash_map_model() {
        // Deterministic pseudo-random walk: grow to several chunks, shrink, regrow.
        let mut m: ORMap<DotSet> = ORMap::default();
        let mut model: HashMap<Bytes, DotSet> = HashMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut seq = 0;
        for step in 0..6000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let span = if step < 2000 {
                80
            } else if step < 4000 {
                12
            } else {
                40
            };
            let k = key((x % span) as u32);
            let grow = step % 2000 < 1400;
            if !(x >> 20).is_multiple_of(3) || (grow && (x >> 30).is_multiple_of(2)) {
                seq += 1;
                let v = DotSet::one(Dot::new(1, seq));
                m.insert_delta(k.clone(), v.clone());
                model.insert(k, v);
            } else if let Some(i) = m.find(&k) {
                let (rk, _) = m.remove_at(i);
                assert_eq!(rk, k);
                model.remove(&k);
            } else {
                assert!(!model.contains_key(&k));
            }
            if step % 97 == 0 {
                let cut = x % 5;
                m.retain_mut(|k, _| k.len() as u64 % 5 != cut || k[1] % 2 == 0);
                model.retain(|k, _| k.len() as u64 % 5 != cut || k[1] % 2 == 0);
            }
            check(&m, &model);
        }
        m.retain_mut(|_, _| false);
        assert!(m.big.is_none() && m.head.capacity() <= 8);
        check(&m, &HashMap::new());
    }

    #[test]
    fn joins_match_the_model() {
        let ctx = CausalContext::new();
        let mut a: ORMap<DotSet> = ORMap::default();
        let mut b: ORMap<DotSet> = ORMap::default();
        for i in 0..50u32 {
            a.insert_delta(key(i), DotSet::one(Dot::new(1, i as u64 + 1)));
            b.insert_delta(key(i + 25), DotSet::one(Dot::new(2, i as u64 + 1)));
        }
        let mut j1 = a.clone();
        j1.join(&ctx, &b, &ctx);
        let mut j2 = b.clone();
        j2.join(&ctx, &a, &ctx);
        assert_eq!(j1, j2);
        assert_eq!(j1.entries_len(), 75);
        let mut j3 = a.clone();
        j3.join_delta(&ctx, &b, &ctx);
        assert_eq!(j3, j1);
        // Removing everything a observed (a's dots) leaves b's part.
        let mut rm_ctx = CausalContext::new();
        let rm = a.remove_all_delta(&mut rm_ctx, |s, c| {
            s.for_each_dot(&mut |d| c.insert(d));
            DotSet::default()
        });
        let mut full_ctx = CausalContext::new();
        a.for_each_dot(&mut |d| full_ctx.insert(d));
        b.for_each_dot(&mut |d| full_ctx.insert(d));
        j1.join_delta(&full_ctx, &rm, &rm_ctx);
        // Members 0..25 go; 25..75 keep exactly b's dots.
        assert_eq!(j1.entries_len(), 50);
        assert_eq!(j1, b);
    }
}
