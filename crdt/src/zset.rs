//! Sorted sets: add-wins membership, LWW scores, summed increments.
//!
//! Each member is a [`Field<f64>`]: ZADD writes the score register (highest HLC wins
//! between concurrent ZADDs) and floors the increments it observed; ZINCRBY adds a counter
//! contribution summed across regions; ZREM removes only what it observed. So ZREM ∥
//! ZINCRBY 2 on a member scored 4.1 leaves the member with score 2: the remove took the
//! observed 4.1, the unobserved increment survives on a base of 0. A member is present
//! while it has a score entry or a live increment. Range queries need an ordered index,
//! which the server derives from this state.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use crate::field::Field;
use crate::hlc::Hlc;
use crate::map::ORMap;
use crate::vv::VersionVector;
use crate::Bytes;
use serde::{Deserialize, Serialize};

/// Sorted-set CRDT state.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ZSet {
    map: ORMap<Field<f64>>,
}

/// The visible score of a member field.
pub fn score_of(f: &Field<f64>) -> Option<f64> {
    let sum = f.sum();
    match f.winner() {
        Some(e) if !sum.live => Some(e.val),
        Some(e) => Some(e.val + sum.int as f64 + sum.float),
        None if sum.live => Some(sum.int as f64 + sum.float),
        None => None,
    }
}

impl ZSet {
    /// Score of a member, if present.
    pub fn score(&self, m: &[u8]) -> Option<f64> {
        self.map.get(m).and_then(score_of)
    }
    /// Present members and their scores (unordered).
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, f64)> {
        self.map
            .iter()
            .filter_map(|(k, f)| score_of(f).map(|s| (k, s)))
    }
    /// Number of present members (O(n)).
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether no member is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether any member is present.
    pub fn is_present(&self) -> bool {
        self.map.iter().any(|(_, f)| f.is_present())
    }
    /// Number of stored members, including members kept only as metadata (O(1)).
    pub fn entries_len(&self) -> usize {
        self.map.entries_len()
    }
    /// The stored member at position `i` (`0..entries_len()`), in O(1): for random picks
    /// (ZRANDMEMBER). It may be kept only as metadata ([`score_of`] is then `None`).
    /// Positions follow the map's iteration order and change when the set changes.
    pub fn nth(&self, i: usize) -> Option<(&Bytes, &Field<f64>)> {
        self.map.nth(i)
    }
    /// The underlying map.
    pub fn as_map(&self) -> &ORMap<Field<f64>> {
        &self.map
    }

    /// Adds "ZADD score m" to a delta.
    pub fn add_into(
        &self,
        delta: &mut ZSet,
        m: &[u8],
        dot: Dot,
        hlc: Hlc,
        score: f64,
        dctx: &mut CausalContext,
    ) {
        let cur = self.map.get(m).cloned().unwrap_or_default();
        delta
            .map
            .insert_delta(m.into(), cur.write_delta(dot, hlc, score, dctx));
    }

    /// Adds "ZINCRBY by m" to a delta.
    pub fn incr_into(
        &self,
        delta: &mut ZSet,
        m: &[u8],
        dot: Dot,
        by: f64,
        dctx: &mut CausalContext,
    ) {
        let cur = self.map.get(m).cloned().unwrap_or_default();
        delta
            .map
            .insert_delta(m.into(), cur.incr_delta(dot, 0, by, dctx));
    }

    /// Adds "ZREM m" to a delta (observed only).
    pub fn rem_into(&self, delta: &mut ZSet, m: &[u8], dctx: &mut CausalContext) {
        if let Some(cur) = self.map.get(m) {
            delta.map.insert_delta(m.into(), cur.remove_delta(dctx));
        }
    }

    /// Delta removing every observed member.
    #[must_use]
    pub fn remove_all_delta(&self, dctx: &mut CausalContext) -> ZSet {
        ZSet {
            map: self.map.remove_all_delta(dctx, |f, c| f.remove_delta(c)),
        }
    }

    /// Joins a delta made by this type's mutators.
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &ZSet, delta_ctx: &CausalContext) {
        self.map.join_delta(ctx, &delta.map, delta_ctx)
    }

    /// Collects counter metadata made stable; drops members left with nothing.
    pub fn gc(&mut self, stable: &VersionVector) {
        self.map.retain_mut(|_, f| {
            f.gc(stable);
            !f.is_bottom()
        })
    }

    /// Drops a removed region's counter metadata.
    pub fn purge(&mut self, region: crate::dot::RegionId) {
        self.map.retain_mut(|_, f| {
            f.purge(region);
            !f.is_bottom()
        })
    }
}

impl DotStore for ZSet {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        self.map.join(ctx, &other.map, other_ctx)
    }
    fn is_bottom(&self) -> bool {
        self.map.is_bottom()
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        self.map.for_each_dot(f)
    }
}
