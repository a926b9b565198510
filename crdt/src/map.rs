//! [`ORMap`]: an observed-remove map from byte strings to nested dot stores, the shared
//! shape of sets (members → [`DotSet`](crate::dotset::DotSet)), hashes (fields →
//! [`Field`](crate::field::Field)) and sorted sets (members → score fields).
//!
//! One entry per element ("bigset" layout): a write costs the element, not the whole
//! collection. Two joins exist: [`DotStore::join`] is correct for any two states and
//! visits every entry; [`ORMap::join_delta`] visits only the entries a delta names and is
//! what replicas use when applying deltas made by this crate's mutators, which always name
//! every element whose dots they remove.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use crate::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;

/// Observed-remove map (see module docs). Bottom children are never stored in a state;
/// a delta may hold bottom children to name the elements it touches.
#[derive(Clone, PartialEq, Debug)]
pub struct ORMap<S> {
    map: HashMap<Bytes, S>,
}

impl<S> Default for ORMap<S> {
    fn default() -> Self {
        ORMap {
            map: HashMap::new(),
        }
    }
}

impl<S: DotStore> ORMap<S> {
    /// Number of stored entries (including entries that are present only as metadata).
    pub fn entries_len(&self) -> usize {
        self.map.len()
    }
    /// The child for `k`.
    pub fn get(&self, k: &[u8]) -> Option<&S> {
        self.map.get(k)
    }
    /// Iterates the stored entries.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &S)> {
        self.map.iter()
    }
    /// Puts a child into a delta (bottom children allowed: they mark touched elements).
    pub fn insert_delta(&mut self, k: Bytes, s: S) {
        self.map.insert(k, s);
    }
    /// Mutable child access for local maintenance (GC); callers keep bottoms out.
    pub(crate) fn retain_mut(&mut self, f: impl FnMut(&Bytes, &mut S) -> bool) {
        self.map.retain(f)
    }
    /// Reserves room for `n` more entries.
    pub fn reserve(&mut self, n: usize) {
        self.map.reserve(n)
    }

    fn join_child(
        mine: Option<&mut S>,
        ctx: &CausalContext,
        theirs: &S,
        other_ctx: &CausalContext,
    ) -> Option<S> {
        match mine {
            Some(m) => {
                m.join(ctx, theirs, other_ctx);
                None
            }
            None => {
                let mut n = S::default();
                n.join(ctx, theirs, other_ctx);
                Some(n)
            }
        }
    }

    /// Joins a delta whose store names every element it removes dots from (true for all
    /// deltas made by this crate). Cost is proportional to the delta, not to `self`.
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &ORMap<S>, delta_ctx: &CausalContext) {
        for (k, theirs) in &delta.map {
            match self.map.get_mut(&k[..]) {
                Some(m) => {
                    m.join(ctx, theirs, delta_ctx);
                    if m.is_bottom() {
                        self.map.remove(&k[..]);
                    }
                }
                None => {
                    if let Some(n) = Self::join_child(None, ctx, theirs, delta_ctx) {
                        if !n.is_bottom() {
                            self.map.insert(k.clone(), n);
                        }
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
        d.map.reserve(self.map.len());
        for (k, s) in &self.map {
            d.map.insert(k.clone(), rm(s, dctx));
        }
        d
    }
}

impl<S: DotStore> DotStore for ORMap<S> {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        let bottom = S::default();
        self.map.retain(|k, m| {
            let theirs = other.map.get(&k[..]).unwrap_or(&bottom);
            m.join(ctx, theirs, other_ctx);
            !m.is_bottom()
        });
        for (k, theirs) in &other.map {
            if !self.map.contains_key(&k[..]) {
                let mut n = S::default();
                n.join(ctx, theirs, other_ctx);
                if !n.is_bottom() {
                    self.map.insert(k.clone(), n);
                }
            }
        }
    }
    fn is_bottom(&self) -> bool {
        self.map.is_empty()
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        for s in self.map.values() {
            s.for_each_dot(f)
        }
    }
}

impl<S: Serialize> Serialize for ORMap<S> {
    fn serialize<Se: Serializer>(&self, s: Se) -> Result<Se::Ok, Se::Error> {
        // Sorted, so equal states always encode to equal bytes.
        let mut v: Vec<(&Bytes, &S)> = self.map.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
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
        let mut map = HashMap::with_capacity(v.len());
        for (k, s) in v {
            map.insert(k.into_vec().into_boxed_slice(), s);
        }
        Ok(ORMap { map })
    }
}
