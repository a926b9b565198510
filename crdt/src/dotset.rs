//! Dot sets and dot functions: the two leaf dot stores.
//!
//! A [`DotSet`] is the set of writes that support one set member (usually one). A
//! [`DotFun`] maps each supporting write to a value (register entries, expiry entries,
//! creation stamps). Both join with the causal rule: keep what both have, plus what one
//! has and the other's context has not seen.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use crate::tiny::Tiny;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// Causal join of two dot-sorted slices; `dot_of` extracts an element's dot.
pub(crate) fn join_sorted<T: Clone>(
    a: &[T],
    a_ctx: &CausalContext,
    b: &[T],
    b_ctx: &CausalContext,
    dot_of: impl Fn(&T) -> Dot,
) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let da = a.get(i).map(&dot_of);
        let db = b.get(j).map(&dot_of);
        match (da, db) {
            (Some(x), Some(y)) if x == y => {
                out.push(a[i].clone());
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                if !b_ctx.contains(x) {
                    out.push(a[i].clone());
                }
                i += 1;
            }
            (Some(x), None) => {
                if !b_ctx.contains(x) {
                    out.push(a[i].clone());
                }
                i += 1;
            }
            (_, Some(y)) => {
                if !a_ctx.contains(y) {
                    out.push(b[j].clone());
                }
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    out
}

/// The dots supporting one element.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DotSet(Tiny<Dot>);

impl DotSet {
    /// A set with one dot.
    pub fn one(d: Dot) -> DotSet {
        DotSet(Tiny::One(d))
    }
    /// The dots, sorted.
    pub fn dots(&self) -> &[Dot] {
        self.0.as_slice()
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The dots as a context (for removes).
    pub fn to_context(&self) -> CausalContext {
        CausalContext::from_dots(self.dots().iter().copied())
    }
}

impl DotStore for DotSet {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        if self.dots() == other.dots() {
            return;
        }
        let v = join_sorted(self.dots(), ctx, other.dots(), other_ctx, |d| *d);
        self.0 = Tiny::from_vec(v);
    }
    fn is_bottom(&self) -> bool {
        self.is_empty()
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        self.dots().iter().for_each(|d| f(*d))
    }
}

/// A map from dots to values, sorted by dot.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DotFun<V>(Tiny<(Dot, V)>);

impl<V> Default for DotFun<V> {
    fn default() -> Self {
        DotFun(Tiny::Empty)
    }
}

impl<V: Clone> DotFun<V> {
    /// A function with one entry.
    pub fn one(d: Dot, v: V) -> DotFun<V> {
        DotFun(Tiny::One((d, v)))
    }
    /// Entries, sorted by dot.
    pub fn entries(&self) -> &[(Dot, V)] {
        self.0.as_slice()
    }
    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Builds from entries in any order.
    pub fn from_entries(mut v: Vec<(Dot, V)>) -> DotFun<V> {
        v.sort_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        DotFun(Tiny::from_vec(v))
    }
    /// Keeps only the entries for which `keep` holds.
    pub fn retain(&mut self, keep: impl Fn(&(Dot, V)) -> bool) {
        let v: Vec<_> = self.entries().iter().filter(|e| keep(e)).cloned().collect();
        self.0 = Tiny::from_vec(v);
    }
}

impl<V: Clone + PartialEq + Debug> DotStore for DotFun<V> {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        if self.entries() == other.entries() {
            return;
        }
        let v = join_sorted(self.entries(), ctx, other.entries(), other_ctx, |e| e.0);
        self.0 = Tiny::from_vec(v);
    }
    fn is_bottom(&self) -> bool {
        self.is_empty()
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        self.entries().iter().for_each(|e| f(e.0))
    }
}
