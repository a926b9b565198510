//! Sequence CRDT for Redis lists.
//!
//! # Identity and order
//!
//! Every element is identified by an [`ElemId`]: a dense *position* (a short sequence of
//! `u64` digits, normally one) followed by the [`Dot`] of the op that inserted it. Ids are
//! compared as digit sequences (the dot being the last digit; a proper prefix sorts first),
//! and the list is the elements sorted by id. An insert between two neighbours picks a
//! position strictly between them ([`ElemId::between`]), so, as in RGA/YATA, an element
//! is placed relative to the neighbours its writer saw; unlike RGA it does not point to an
//! origin element, so its place never depends on another element still existing.
//! Concurrent inserts at the same place get the same position and are ordered by dot: every
//! region agrees on one order. Concurrent runs of inserts at the same place (two regions
//! RPUSHing several elements onto the same tail) may interleave element by element.
//!
//! Pushes step away from the end element by [`STEP`] in the first digit, so 2^43 pushes fit
//! at each end before a second digit is needed. Inserts in the middle alternate, per digit
//! level, between allocating next to the lower and next to the upper neighbour (LSEQ's
//! boundary strategies): runs of inserts at one place, or each after the previous one,
//! stay within two or three digits. Adversarial patterns can still deepen positions; an
//! insert that would need more than [`MAX_DEPTH`] digits fails ([`ListError::TooDeep`]),
//! which bounds every element's metadata.
//!
//! Memory (measured in `tests/list_size.rs`): 24 bytes of id per element (first digit, dot,
//! pointer to further digits) plus the 16-byte value handle, in a `VecDeque` grown by an
//! eighth: 28 bytes of CRDT metadata per element for pushes; elements with a second digit
//! cost 24 bytes more.
//!
//! # Removal (observed-remove, no tombstones in a causally delivered state)
//!
//! A full state follows the causal rule: an element held by one replica and absent from
//! another whose context has seen its dot was removed there. All elements of one op share
//! the op's dot, so a delta cannot remove one of them through its context; a removal delta
//! (LPOP, RPOP, LREM, LTRIM, LSET) instead names the removed ids (`removed`). A replica
//! that has already applied the insert drops the element and keeps nothing; only a replica
//! that receives a removal *before* the insert (out-of-order delivery, never the case with
//! the replication layer's causal delivery) keeps the id until the insert arrives. DEL
//! (`remove_all_delta`) marks its delta `clear` and removes through its context: every dot
//! it observed, whole.
//!
//! An element popped concurrently in two regions is removed once; both pops return it
//! (at-least-once). Concurrent LREM/LTRIM likewise remove the union of what they observed.
//!
//! # LSET
//!
//! LSET is remove + insert: the old element is removed and the new value inserted at a
//! fresh position between the old element's neighbours, with the LSET's dot. Two concurrent
//! LSETs of the same element both keep their value (the list grows by one, the two values
//! adjacent, ordered by dot); an LSET concurrent with a pop of that element re-inserts the
//! new value.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use crate::vv::VersionVector;
use crate::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::collections::VecDeque;

/// Most position digits an element id may have. An insert that would need more fails
/// with [`ListError::TooDeep`] (only reachable by adversarial insert patterns; it bounds
/// the metadata of one element to about `8 * MAX_DEPTH` bytes).
pub const MAX_DEPTH: usize = 48;

/// List mutation failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    /// The insert's place has been split by too many inserts.
    #[error("too many inserts at this place in the list (element position would exceed {MAX_DEPTH} digits)")]
    TooDeep,
}

/// Distance between consecutive pushes in the first digit.
pub const STEP: u64 = 1 << 20;
/// First digit of the first element of an empty list.
const MID: u64 = 1 << 63;

/// An element's identity and place: position digits, then the inserting op's dot.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ElemId {
    head: u64,
    dot: Dot,
    /// Further position digits (never `Some` of an empty slice).
    rest: Option<Box<Box<[u64]>>>,
}

impl ElemId {
    fn from_digits(pos: &[u64], dot: Dot) -> ElemId {
        debug_assert!(!pos.is_empty());
        ElemId {
            head: pos[0],
            dot,
            rest: (pos.len() > 1).then(|| Box::new(pos[1..].to_vec().into_boxed_slice())),
        }
    }
    /// The inserting op's dot.
    pub fn dot(&self) -> Dot {
        self.dot
    }
    fn rest(&self) -> &[u64] {
        self.rest.as_deref().map_or(&[], |r| &r[..])
    }
    /// Number of position digits (1 normally).
    pub fn depth(&self) -> usize {
        1 + self.rest().len()
    }
    /// The id as one digit sequence: position, then the dot.
    fn digits(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.head)
            .chain(self.rest().iter().copied())
            .chain(std::iter::once(self.dot.to_u64()))
    }
    fn to_vec(&self) -> Vec<u64> {
        self.digits().collect()
    }

    /// A new id with `dot` strictly between `left` and `right` (`None`: the list's ends).
    /// The caller guarantees `left < right`.
    pub fn between(
        left: Option<&ElemId>,
        right: Option<&ElemId>,
        dot: Dot,
    ) -> Result<ElemId, ListError> {
        let l = left.map(|x| x.to_vec()).unwrap_or_default();
        let r = right.map(|x| x.to_vec());
        let pos = between(&l, r.as_deref());
        if pos.len() > MAX_DEPTH {
            return Err(ListError::TooDeep);
        }
        Ok(ElemId::from_digits(&pos, dot))
    }
}

/// Digits `p` such that `l < p ++ [d] < r` for every digit `d` (`r = None`: no upper
/// bound; `l` empty: no lower bound). Requires `l < r`, `r` non-empty and ending in a
/// non-zero digit (a dot). Loops are bounded by the lengths of `l` and `r`.
///
/// Level 0 is the push level: pushes step [`STEP`] away from the end element. Deeper
/// levels alternate LSEQ-style between allocating next to the lower bound (even levels:
/// leaves room above, for runs of inserts each after the previous one) and next to the
/// upper bound (odd levels: leaves room below, for runs of inserts at one place, each
/// before the previous one), so either pattern exhausts at most one level's gap before it
/// reaches a level where it has 2^44 positions.
fn between(l: &[u64], r: Option<&[u64]>) -> Vec<u64> {
    let mut p = Vec::with_capacity(l.len().max(1) + 1);
    let mut r = r;
    let mut i = 0;
    loop {
        let near_low = i % 2 == 0;
        match (l.get(i).copied(), r) {
            (None, None) => {
                p.push(MID);
                return p;
            }
            (Some(a), None) => {
                if a < u64::MAX {
                    let room = u64::MAX - a;
                    p.push(if near_low {
                        a + STEP.min(room.div_ceil(2))
                    } else {
                        u64::MAX - STEP.min(room / 2)
                    });
                    return p;
                }
                p.push(a);
                i += 1;
            }
            (None, Some(rr)) => {
                // Everything below rr[i..] (no lower bound left).
                let Some(&b) = rr.get(i) else {
                    p.push(0);
                    return p;
                };
                if b > 0 {
                    p.push(if i == 0 || !near_low {
                        b - STEP.min(b.div_ceil(2))
                    } else {
                        STEP.min(b / 2)
                    });
                    return p;
                }
                p.push(0);
                i += 1;
            }
            (Some(a), Some(rr)) => {
                let Some(&b) = rr.get(i) else {
                    // Not reached when l < r; stay above l.
                    r = None;
                    continue;
                };
                if a == b {
                    p.push(a);
                    i += 1;
                    continue;
                }
                debug_assert!(a < b, "between: left >= right");
                if b > a && b - a >= 2 {
                    let x = STEP.min((b - a) / 2);
                    p.push(if near_low { a + x } else { b - x });
                    return p;
                }
                // No room at this level: stay on a and go above the rest of l, unbounded.
                p.push(a);
                i += 1;
                r = None;
            }
        }
    }
}

impl Ord for ElemId {
    fn cmp(&self, o: &Self) -> Ordering {
        if self.rest.is_none() && o.rest.is_none() {
            return (self.head, self.dot.to_u64()).cmp(&(o.head, o.dot.to_u64()));
        }
        self.digits().cmp(o.digits())
    }
}
impl PartialOrd for ElemId {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl std::fmt::Debug for ElemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}", self.head)?;
        for d in self.rest() {
            write!(f, ".{d:x}")?;
        }
        write!(f, "@{:?}", self.dot)
    }
}

/// Encoded as `(head - 2^63 as i64 (zigzag), dot, rest digits)`.
impl Serialize for ElemId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.head.wrapping_sub(MID) as i64, self.dot, self.rest()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for ElemId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (h, dot, rest): (i64, Dot, Vec<u64>) = Deserialize::deserialize(d)?;
        if dot.seq() == 0 {
            return Err(serde::de::Error::custom("list element without a dot"));
        }
        if rest.len() >= MAX_DEPTH {
            return Err(serde::de::Error::custom("list element position too deep"));
        }
        Ok(ElemId {
            head: (h as u64).wrapping_add(MID),
            dot,
            rest: (!rest.is_empty()).then(|| Box::new(rest.into_boxed_slice())),
        })
    }
}

/// A Redis list (see module docs). Elements sorted by id.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct List {
    elems: VecDeque<(ElemId, Bytes)>,
    /// Removed ids whose insert this replica has not applied (sorted; normally empty).
    removed: Vec<ElemId>,
    /// Delta only: remove everything the delta context covers (DEL).
    clear: bool,
}

#[derive(Serialize)]
struct ListRef<'a> {
    elems: &'a VecDeque<(ElemId, Bytes)>,
    removed: &'a [ElemId],
    clear: bool,
}

#[derive(Deserialize)]
struct ListWire {
    elems: Vec<(ElemId, Bytes)>,
    removed: Vec<ElemId>,
    clear: bool,
}

impl Serialize for List {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ListRef {
            elems: &self.elems,
            removed: &self.removed,
            clear: self.clear,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = ListWire::deserialize(d)?;
        let sorted = |ids: &mut dyn Iterator<Item = &ElemId>| {
            let mut prev: Option<&ElemId> = None;
            for x in ids {
                if prev.is_some_and(|p| p >= x) {
                    return false;
                }
                prev = Some(x);
            }
            true
        };
        if !sorted(&mut w.elems.iter().map(|e| &e.0)) || !sorted(&mut w.removed.iter()) {
            return Err(serde::de::Error::custom("list ids not strictly sorted"));
        }
        Ok(List {
            elems: w.elems.into(),
            removed: w.removed,
            clear: w.clear,
        })
    }
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.elems.len()
    }
    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.elems.is_empty()
    }
    /// The element at `i` (0 = head).
    pub fn get(&self, i: usize) -> Option<&Bytes> {
        self.elems.get(i).map(|e| &e.1)
    }
    /// The id of the element at `i`.
    pub fn id(&self, i: usize) -> Option<&ElemId> {
        self.elems.get(i).map(|e| &e.0)
    }
    /// Values, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + ExactSizeIterator {
        self.elems.iter().map(|e| &e.1)
    }
    /// `(id, value)` pairs, head first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = (&ElemId, &Bytes)> {
        self.elems.iter().map(|e| (&e.0, &e.1))
    }
    /// Removal records held for inserts not applied yet (0 with causal delivery).
    pub fn pending_removals(&self) -> usize {
        self.removed.len()
    }
    /// Whether this is a DEL delta.
    pub fn is_clear(&self) -> bool {
        self.clear
    }

    fn find(&self, id: &ElemId) -> Result<usize, usize> {
        self.elems.binary_search_by(|e| e.0.cmp(id))
    }

    fn insert_sorted(&mut self, id: ElemId, v: Bytes) {
        match self.find(&id) {
            Ok(i) => self.elems[i].1 = v,
            Err(i) => {
                if self.elems.len() == self.elems.capacity() {
                    // Grow by an eighth: little slack in large lists, amortised O(1).
                    self.elems.reserve_exact((self.elems.len() / 8).max(4));
                }
                self.elems.insert(i, (id, v));
            }
        }
    }

    fn remove_id(&mut self, id: &ElemId) -> bool {
        match self.find(id) {
            Ok(i) => {
                self.elems.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn after_shrink(&mut self) {
        let (n, cap) = (self.elems.len(), self.elems.capacity());
        if cap > 64 && n * 2 < cap {
            self.elems.shrink_to(n + n / 8);
        }
    }

    fn record(removed: &mut Vec<ElemId>, id: ElemId) {
        if let Err(i) = removed.binary_search(&id) {
            removed.insert(i, id);
        }
    }

    /// Adds "insert `v` between `left` and `right`" (ids, `None` = end; `left < right`)
    /// with the op's `dot` to `delta`; returns the new id.
    pub fn insert_into(
        &self,
        delta: &mut List,
        left: Option<&ElemId>,
        right: Option<&ElemId>,
        v: Bytes,
        dot: Dot,
        dctx: &mut CausalContext,
    ) -> Result<ElemId, ListError> {
        let id = ElemId::between(left, right, dot)?;
        dctx.insert(dot);
        delta.insert_sorted(id.clone(), v);
        Ok(id)
    }

    /// Adds LPUSH (`head`) / RPUSH of `values`, in order, to `delta`.
    pub fn push_into(
        &self,
        delta: &mut List,
        head: bool,
        values: impl IntoIterator<Item = Bytes>,
        dot: Dot,
        dctx: &mut CausalContext,
    ) -> Result<(), ListError> {
        let mut end = if head {
            self.elems.front().map(|e| e.0.clone())
        } else {
            self.elems.back().map(|e| e.0.clone())
        };
        for v in values {
            let id = if head {
                self.insert_into(delta, None, end.as_ref(), v, dot, dctx)?
            } else {
                self.insert_into(delta, end.as_ref(), None, v, dot, dctx)?
            };
            end = Some(id);
        }
        Ok(())
    }

    /// Adds "insert `v` before index `i`" (`i == len()`: at the tail) to `delta`.
    pub fn insert_at_into(
        &self,
        delta: &mut List,
        i: usize,
        v: Bytes,
        dot: Dot,
        dctx: &mut CausalContext,
    ) -> Result<ElemId, ListError> {
        let left = i.checked_sub(1).and_then(|j| self.id(j)).cloned();
        let right = self.id(i).cloned();
        self.insert_into(delta, left.as_ref(), right.as_ref(), v, dot, dctx)
    }

    /// Adds "remove the element at index `i`" to `delta` (observed-remove).
    pub fn remove_at_into(&self, delta: &mut List, i: usize) {
        if let Some(id) = self.id(i) {
            List::record(&mut delta.removed, id.clone());
        }
    }

    /// Adds LSET of index `i` to `delta`: remove, then insert between the neighbours.
    pub fn set_into(
        &self,
        delta: &mut List,
        i: usize,
        v: Bytes,
        dot: Dot,
        dctx: &mut CausalContext,
    ) -> Result<(), ListError> {
        let left = i.checked_sub(1).and_then(|j| self.id(j)).cloned();
        let right = self.id(i + 1).cloned();
        // Place first: a failed LSET leaves the delta untouched.
        let id = ElemId::between(left.as_ref(), right.as_ref(), dot)?;
        self.remove_at_into(delta, i);
        dctx.insert(dot);
        delta.insert_sorted(id, v);
        Ok(())
    }

    /// Delta removing every observed element (DEL).
    #[must_use]
    pub fn remove_all_delta(&self, dctx: &mut CausalContext) -> List {
        self.for_each_dot(&mut |d| dctx.insert(d));
        List {
            elems: VecDeque::new(),
            removed: Vec::new(),
            clear: true,
        }
    }

    /// Joins a delta made by this type's mutators: cost proportional to the delta, except
    /// for DEL deltas (`clear`), which are joined in full.
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &List, delta_ctx: &CausalContext) {
        if delta.clear {
            self.join(ctx, delta, delta_ctx);
            return;
        }
        for id in &delta.removed {
            if !self.remove_id(id) && !ctx.contains(id.dot) && !delta_ctx.contains(id.dot) {
                List::record(&mut self.removed, id.clone());
            }
        }
        for (id, v) in &delta.elems {
            if ctx.contains(id.dot) || self.removed.binary_search(id).is_ok() {
                continue;
            }
            self.insert_sorted(id.clone(), v.clone());
        }
        if !self.removed.is_empty() {
            self.removed
                .retain(|r| !ctx.contains(r.dot) && !delta_ctx.contains(r.dot));
        }
        self.after_shrink();
    }

    /// Drops removal records of stable dots (their inserts have been applied everywhere).
    pub fn gc(&mut self, stable: &VersionVector) {
        self.removed.retain(|r| !stable.contains(r.dot));
    }

    /// Heap bytes held, without the element values' own bytes (metadata measurement).
    pub fn heap_metadata_bytes(&self) -> usize {
        self.elems.capacity() * std::mem::size_of::<(ElemId, Bytes)>()
            + self
                .elems
                .iter()
                .map(|e| {
                    e.0.rest
                        .as_ref()
                        .map_or(0, |r| 16 + 8 * r.len() + std::mem::size_of::<Box<[u64]>>())
                })
                .sum::<usize>()
            + self.removed.capacity() * std::mem::size_of::<ElemId>()
    }
}

impl DotStore for List {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        let a = std::mem::take(&mut self.elems);
        let mut out = VecDeque::with_capacity(a.len().max(other.elems.len()));
        let mut ai = a.into_iter().peekable();
        let mut bi = other.elems.iter().peekable();
        let gone_in_other =
            |id: &ElemId| other_ctx.contains(id.dot) || other.removed.binary_search(id).is_ok();
        let gone_here = |id: &ElemId, removed: &[ElemId]| {
            ctx.contains(id.dot) || removed.binary_search(id).is_ok()
        };
        loop {
            let take_a = match (ai.peek(), bi.peek()) {
                (None, None) => break,
                (Some(x), Some(y)) if x.0 == y.0 => {
                    out.push_back(ai.next().expect("peeked"));
                    bi.next();
                    continue;
                }
                (Some(_), None) => true,
                (Some(x), Some(y)) => x.0 < y.0,
                (None, Some(_)) => false,
            };
            if take_a {
                let x = ai.next().expect("peeked");
                if !gone_in_other(&x.0) {
                    out.push_back(x);
                }
            } else {
                let y = bi.next().expect("peeked");
                if !gone_here(&y.0, &self.removed) {
                    out.push_back(y.clone());
                }
            }
        }
        self.elems = out;
        // Records: union, minus those whose insert either side has seen.
        let mut rec: Vec<ElemId> = Vec::new();
        let (mut i, mut j) = (0, 0);
        let (ra, rb) = (&self.removed, &other.removed);
        while i < ra.len() || j < rb.len() {
            let next = match (ra.get(i), rb.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                    x
                }
                (Some(x), Some(y)) if x < y => {
                    i += 1;
                    x
                }
                (Some(x), None) => {
                    i += 1;
                    x
                }
                (_, Some(y)) => {
                    j += 1;
                    y
                }
                (None, None) => unreachable!(),
            };
            if !ctx.contains(next.dot) && !other_ctx.contains(next.dot) {
                rec.push(next.clone());
            }
        }
        self.removed = rec;
        self.after_shrink();
    }
    fn is_bottom(&self) -> bool {
        self.elems.is_empty() && self.removed.is_empty()
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        let mut last = None;
        for (id, _) in &self.elems {
            if last != Some(id.dot) {
                f(id.dot);
                last = Some(id.dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(r: u8, s: u64) -> Dot {
        Dot::new(r, s)
    }

    #[test]
    fn between_is_strict() {
        let between = |l: Option<&ElemId>, r: Option<&ElemId>, dot| {
            ElemId::between(l, r, dot).expect("not too deep")
        };
        let a = between(None, None, d(1, 1));
        let b = between(Some(&a), None, d(1, 2));
        let z = between(None, Some(&a), d(1, 3));
        assert!(z < a && a < b);
        // Repeatedly insert right after `a`, each before the previous insert.
        let mut right = b.clone();
        for s in 0..5000 {
            let m = between(Some(&a), Some(&right), d(2, 10 + s));
            assert!(a < m && m < right, "{a:?} {m:?} {right:?}");
            right = m;
        }
        assert!(right.depth() <= 3, "depth {}", right.depth());
        // Repeatedly insert right before `b`, each after the previous insert.
        let mut left = a.clone();
        for s in 0..5000 {
            let m = between(Some(&left), Some(&b), d(3, 10 + s));
            assert!(left < m && m < b);
            left = m;
        }
        assert!(left.depth() <= 3, "depth {}", left.depth());
        // Same position, different dots: still strictly between.
        let p = between(Some(&a), Some(&b), d(4, 1));
        let q = between(Some(&a), Some(&b), d(5, 1));
        assert_eq!(p.to_vec()[..p.depth()], q.to_vec()[..q.depth()]);
        let m = between(Some(&p), Some(&q), d(6, 1));
        assert!(p < m && m < q);
        // Extremes.
        let hi = ElemId::from_digits(&[u64::MAX], d(1, 9));
        let x = between(Some(&hi), None, d(1, 10));
        assert!(x > hi);
        let lo = ElemId::from_digits(&[0], d(1, 1));
        let y = between(None, Some(&lo), d(1, 11));
        assert!(y < lo);
    }

    #[test]
    fn adversarial_inserts_hit_the_depth_bound_not_memory() {
        // Alternate the two insert patterns to defeat each level's strategy: positions
        // deepen, but never beyond MAX_DEPTH (the insert fails instead).
        let (lo, hi) = (
            ElemId::between(None, None, d(1, 1)).unwrap(),
            ElemId::from_digits(&[MID + STEP], d(1, 2)),
        );
        let (mut l, mut r) = (lo, hi);
        let mut failed = false;
        for s in 0..200_000u64 {
            let m = match ElemId::between(Some(&l), Some(&r), d(2, 1 + s)) {
                Ok(m) => m,
                Err(ListError::TooDeep) => {
                    failed = true;
                    break;
                }
            };
            assert!(l < m && m < r);
            assert!(m.depth() <= MAX_DEPTH);
            // Keep the gap on the side this level allocates away from.
            if (m.depth() - 1) % 2 == 0 {
                r = m;
            } else {
                l = m;
            }
        }
        assert!(failed, "the adversary never reached the bound");
    }
}
