//! Observed-remove map of string values (Redis hashes).
//!
//! Each field is a [`Field`]: HSET is a last-writer-wins register write (by HLC) that
//! replaces what it observed, HINCRBY/HINCRBYFLOAT are counter increments summed across
//! regions (increments a concurrent HSET did not observe are added on top), HDEL removes
//! only what it observed, so a field written concurrently with its delete survives.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use crate::field::Field;
use crate::hlc::Hlc;
use crate::map::ORMap;
use crate::string::{self, StrValue};
use crate::vv::VersionVector;
use crate::Bytes;
use serde::{Deserialize, Serialize};

/// Observed-remove map of string fields.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ORHash {
    map: ORMap<Field<Bytes>>,
}

impl ORHash {
    /// The visible value of a field.
    pub fn get(&self, f: &[u8]) -> Option<StrValue<'_>> {
        self.map.get(f).and_then(string::read)
    }
    /// The raw field (CRDT state).
    pub fn field(&self, f: &[u8]) -> Option<&Field<Bytes>> {
        self.map.get(f)
    }
    /// Iterates present fields and their values.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, StrValue<'_>)> {
        self.map
            .iter()
            .filter_map(|(k, f)| string::read(f).map(|v| (k, v)))
    }
    /// Number of present fields (O(n): fields kept only as metadata are skipped).
    pub fn len(&self) -> usize {
        self.map.iter().filter(|(_, f)| f.is_present()).count()
    }
    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether any field is present.
    pub fn is_present(&self) -> bool {
        self.map.iter().any(|(_, f)| f.is_present())
    }
    /// Number of stored fields, including fields kept only as metadata (O(1)).
    pub fn entries_len(&self) -> usize {
        self.map.entries_len()
    }
    /// The stored field at position `i` (`0..entries_len()`), in O(1): for random picks
    /// (HRANDFIELD). It may be kept only as metadata (check [`Field::is_present`]).
    /// Positions follow the map's iteration order and change when the hash changes.
    pub fn nth(&self, i: usize) -> Option<(&Bytes, &Field<Bytes>)> {
        self.map.nth(i)
    }
    /// The underlying map.
    pub fn as_map(&self) -> &ORMap<Field<Bytes>> {
        &self.map
    }

    /// Adds "HSET f v" to a delta.
    pub fn set_into(
        &self,
        delta: &mut ORHash,
        f: &[u8],
        dot: Dot,
        hlc: Hlc,
        v: Bytes,
        dctx: &mut CausalContext,
    ) {
        let cur = self.map.get(f).cloned().unwrap_or_default();
        delta
            .map
            .insert_delta(f.into(), cur.write_delta(dot, hlc, v, dctx));
    }

    /// Adds "HDEL f" to a delta (no-op when the field is absent).
    pub fn del_into(&self, delta: &mut ORHash, f: &[u8], dctx: &mut CausalContext) {
        if let Some(cur) = self.map.get(f) {
            delta.map.insert_delta(f.into(), cur.remove_delta(dctx));
        }
    }

    /// Adds "HINCRBY f int" / "HINCRBYFLOAT f float" to a delta.
    pub fn incr_into(
        &self,
        delta: &mut ORHash,
        f: &[u8],
        dot: Dot,
        int: i64,
        float: f64,
        dctx: &mut CausalContext,
    ) {
        let cur = self.map.get(f).cloned().unwrap_or_default();
        delta
            .map
            .insert_delta(f.into(), cur.incr_delta(dot, int, float, dctx));
    }

    /// Delta removing every observed field (DEL).
    #[must_use]
    pub fn remove_all_delta(&self, dctx: &mut CausalContext) -> ORHash {
        ORHash {
            map: self.map.remove_all_delta(dctx, |f, c| f.remove_delta(c)),
        }
    }

    /// Joins a delta made by this type's mutators.
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &ORHash, delta_ctx: &CausalContext) {
        self.map.join_delta(ctx, &delta.map, delta_ctx)
    }

    /// Collects counter metadata made stable; drops fields left with nothing.
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

impl DotStore for ORHash {
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
