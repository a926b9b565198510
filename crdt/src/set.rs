//! Add-wins observed-remove set (Redis sets).
//!
//! Each member keeps the dots of the adds that support it. SADD replaces the member's
//! observed dots with one new dot; SREM removes only the dots it observed. A member is in
//! the set while it has a dot, so an add concurrent with a remove of the same member wins
//! (SADD ∥ SREM ⇒ present), and a remove never deletes adds it had not seen.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use crate::dotset::DotSet;
use crate::map::ORMap;
use crate::Bytes;
use serde::{Deserialize, Serialize};

/// Add-wins OR-set of byte strings.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ORSet {
    map: ORMap<DotSet>,
}

impl ORSet {
    /// Whether `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        self.map.get(m).is_some()
    }
    /// Number of members.
    pub fn len(&self) -> usize {
        self.map.entries_len()
    }
    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Iterates members (in no particular order).
    pub fn members(&self) -> impl Iterator<Item = &Bytes> {
        self.map.iter().map(|(k, _)| k)
    }
    /// The member at position `i` (`0..len()`), in O(1): for random picks (SPOP,
    /// SRANDMEMBER). Positions follow [`ORSet::members`] and change when the set changes.
    pub fn nth(&self, i: usize) -> Option<&Bytes> {
        self.map.nth(i).map(|(k, _)| k)
    }
    /// The underlying map (dots per member).
    pub fn as_map(&self) -> &ORMap<DotSet> {
        &self.map
    }

    /// Delta of SADD of one member with the new write `dot`.
    #[must_use]
    pub fn add_delta(&self, m: &[u8], dot: Dot, dctx: &mut CausalContext) -> ORSet {
        let mut d = ORSet::default();
        self.add_into(&mut d, m, dot, dctx);
        d
    }

    /// Adds "SADD m" (dot `dot`) to an existing delta, for multi-member commands.
    pub fn add_into(&self, delta: &mut ORSet, m: &[u8], dot: Dot, dctx: &mut CausalContext) {
        if let Some(ds) = self.map.get(m) {
            ds.for_each_dot(&mut |d| dctx.insert(d));
        }
        dctx.insert(dot);
        delta.map.insert_delta(m.into(), DotSet::one(dot));
    }

    /// Delta of SREM of one member (observed dots only).
    #[must_use]
    pub fn rem_delta(&self, m: &[u8], dctx: &mut CausalContext) -> ORSet {
        let mut d = ORSet::default();
        self.rem_into(&mut d, m, dctx);
        d
    }

    /// Adds "SREM m" to an existing delta.
    pub fn rem_into(&self, delta: &mut ORSet, m: &[u8], dctx: &mut CausalContext) {
        if let Some(ds) = self.map.get(m) {
            ds.for_each_dot(&mut |d| dctx.insert(d));
            delta.map.insert_delta(m.into(), DotSet::default());
        }
    }

    /// Delta removing every observed member (DEL).
    #[must_use]
    pub fn remove_all_delta(&self, dctx: &mut CausalContext) -> ORSet {
        ORSet {
            map: self.map.remove_all_delta(dctx, |ds, c| {
                ds.for_each_dot(&mut |d| c.insert(d));
                DotSet::default()
            }),
        }
    }

    /// Joins a delta made by this type's mutators (cost proportional to the delta).
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &ORSet, delta_ctx: &CausalContext) {
        self.map.join_delta(ctx, &delta.map, delta_ctx)
    }

    /// Reserves room for `n` more members.
    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n)
    }
}

impl DotStore for ORSet {
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
