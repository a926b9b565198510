//! Causal contexts, the [`DotStore`] trait, and [`Causal`] (a store with its context).
//!
//! A causal context is the set of dots a replica (or a delta) has seen: a
//! [`VersionVector`] for contiguous prefixes plus a "dot cloud" for dots seen out of
//! order. The join of two causal stores keeps an entry when both stores have it, or when
//! one has it and the other's context has not seen it — so a remove is simply "the context
//! has seen the dot, the store no longer has it" and survives any delivery order.

use crate::dot::{Dot, RegionId};
use crate::vv::VersionVector;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A set of dots: version vector plus cloud of dots outside it.
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CausalContext {
    vv: VersionVector,
    cloud: BTreeSet<Dot>,
}

impl CausalContext {
    /// The empty context.
    pub fn new() -> CausalContext {
        CausalContext::default()
    }

    /// A context holding exactly `dots` (compacted).
    pub fn from_dots<I: IntoIterator<Item = Dot>>(dots: I) -> CausalContext {
        let mut c = CausalContext::new();
        for d in dots {
            c.insert_raw(d);
        }
        c.compact();
        c
    }

    /// A context holding every dot a version vector covers.
    pub fn from_vv(vv: VersionVector) -> CausalContext {
        CausalContext {
            vv,
            cloud: BTreeSet::new(),
        }
    }

    /// Whether the context has seen `dot`.
    #[inline]
    pub fn contains(&self, dot: Dot) -> bool {
        self.vv.contains(dot) || (!self.cloud.is_empty() && self.cloud.contains(&dot))
    }

    /// Adds one dot.
    pub fn insert(&mut self, dot: Dot) {
        self.insert_raw(dot);
        self.compact_region(dot.region());
    }

    fn insert_raw(&mut self, dot: Dot) {
        if self.vv.contains(dot) {
            return;
        }
        if dot.seq() == self.vv.get(dot.region()) + 1 {
            self.vv.raise(dot.region(), dot.seq());
        } else {
            self.cloud.insert(dot);
        }
    }

    fn compact_region(&mut self, region: RegionId) {
        loop {
            let next = Dot::new(region, self.vv.get(region) + 1);
            if self.cloud.remove(&next) {
                self.vv.raise(region, next.seq());
            } else {
                break;
            }
        }
        let vv = &self.vv;
        self.cloud
            .retain(|d| d.region() != region || !vv.contains(*d));
    }

    /// Moves every cloud dot that extends a prefix into the version vector.
    pub fn compact(&mut self) {
        if self.cloud.is_empty() {
            return;
        }
        let regions: BTreeSet<RegionId> = self.cloud.iter().map(|d| d.region()).collect();
        for r in regions {
            self.compact_region(r);
        }
    }

    /// Union of two contexts.
    pub fn join(&mut self, other: &CausalContext) {
        self.vv.join(&other.vv);
        for d in &other.cloud {
            self.insert_raw(*d);
        }
        if !self.cloud.is_empty() {
            let vv = &self.vv;
            self.cloud.retain(|d| !vv.contains(*d));
        }
        self.compact();
    }

    /// The next dot `region` would issue: one past its contiguous prefix. Marks it seen.
    pub fn next_dot(&mut self, region: RegionId) -> Dot {
        let d = Dot::new(region, self.vv.get(region) + 1);
        self.insert(d);
        d
    }

    /// The contiguous prefix part.
    pub fn vv(&self) -> &VersionVector {
        &self.vv
    }

    /// Dots seen outside the contiguous prefix (gaps pending).
    pub fn cloud(&self) -> impl Iterator<Item = Dot> + '_ {
        self.cloud.iter().copied()
    }

    /// Every dot in the context, prefix first (only for small, delta contexts).
    pub fn dots(&self) -> impl Iterator<Item = Dot> + '_ {
        self.vv
            .iter()
            .flat_map(|(r, n)| (1..=n).map(move |s| Dot::new(r, s)))
            .chain(self.cloud.iter().copied())
    }

    /// Whether the context is empty.
    pub fn is_empty(&self) -> bool {
        self.vv.is_empty() && self.cloud.is_empty()
    }

    /// Drops every dot of a removed region.
    pub fn purge(&mut self, region: RegionId) {
        self.vv.purge(region);
        self.cloud.retain(|d| d.region() != region);
    }
}

/// A dot store: the payload part of a causal CRDT. `join` merges `other` (whose replica
/// had context `other_ctx`) into `self` (context `ctx`); the caller joins the contexts
/// afterwards. Implementations must make `(store, ctx)` pairs a join-semilattice.
pub trait DotStore: Clone + Default + PartialEq + std::fmt::Debug {
    /// Merges `other` into `self`.
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext);
    /// Whether the store holds nothing at all (not even metadata).
    fn is_bottom(&self) -> bool;
    /// Visits every dot the store holds.
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot));
}

/// A dot store with its causal context: a full state, or a delta produced by a mutator.
#[derive(Clone, Default, PartialEq, Debug, Serialize, Deserialize)]
pub struct Causal<T> {
    /// The payload.
    pub store: T,
    /// Everything the payload's replica (or the delta) has seen.
    pub ctx: CausalContext,
}

impl<T: DotStore> Causal<T> {
    /// An empty state.
    pub fn new() -> Causal<T> {
        Causal {
            store: T::default(),
            ctx: CausalContext::new(),
        }
    }

    /// Joins another state or delta into this one.
    pub fn merge(&mut self, other: &Causal<T>) {
        self.store.join(&self.ctx, &other.store, &other.ctx);
        self.ctx.join(&other.ctx);
    }

    /// The join of two states, leaving both untouched.
    pub fn joined(&self, other: &Causal<T>) -> Causal<T> {
        let mut j = self.clone();
        j.merge(other);
        j
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cloud_compacts_into_prefix() {
        let mut c = CausalContext::new();
        c.insert(Dot::new(1, 2));
        c.insert(Dot::new(1, 3));
        assert!(!c.contains(Dot::new(1, 1)) && c.contains(Dot::new(1, 3)));
        assert_eq!(c.cloud().count(), 2);
        c.insert(Dot::new(1, 1));
        assert_eq!(c.cloud().count(), 0);
        assert_eq!(c.vv().get(1), 3);
        assert_eq!(c.next_dot(1), Dot::new(1, 4));
    }
    #[test]
    fn join_is_union() {
        let a = CausalContext::from_dots([Dot::new(1, 1), Dot::new(2, 5)]);
        let b = CausalContext::from_dots([Dot::new(1, 2), Dot::new(2, 1)]);
        let mut j = a.clone();
        j.join(&b);
        for d in a.dots().chain(b.dots()) {
            assert!(j.contains(d));
        }
        assert!(!j.contains(Dot::new(2, 2)));
        assert_eq!(j.vv().get(1), 2);
    }
}
