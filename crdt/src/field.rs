//! [`Field`]: a multi-value LWW register combined with a resettable [`Counter`] — the
//! value of a string key, of a hash field, and (with `f64`) the score of a sorted-set
//! member.
//!
//! Semantics: a write (SET, HSET, ZADD) replaces the register entries it observed and
//! floors the counter at the totals it observed; concurrent writes each leave an entry and
//! the one with the highest HLC (region id breaks ties) is read. Increments add counter
//! contributions; those a concurrent write did not observe stay on top of the winner. A
//! remove (DEL, HDEL, ZREM) is a write without a new entry. The field is *present* when it
//! has a register entry or a live (not cancelled) increment.

use crate::context::{CausalContext, DotStore};
use crate::counter::{Counter, CounterSum};
use crate::dot::Dot;
use crate::dotset::{join_sorted, DotFun};
use crate::hlc::Hlc;
use crate::vv::VersionVector;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// Bound for values stored in a [`Field`].
pub trait FieldValue: Clone + PartialEq + Debug {}
impl<T: Clone + PartialEq + Debug> FieldValue for T {}

/// One register entry: the write's dot, its timestamp, its value.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct RegEntry<V> {
    /// The write.
    pub dot: Dot,
    /// Its HLC timestamp (decides between concurrent entries).
    pub hlc: Hlc,
    /// The written value.
    pub val: V,
}

/// The general form of a field (rare: concurrent writes, counters, creation stamps).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct FieldFull<V> {
    /// Register entries, sorted by dot.
    pub reg: Vec<RegEntry<V>>,
    /// Counter contributions and floors.
    pub ctr: Counter,
    /// Creation stamps of a string key created by an increment (see `key`).
    pub created: DotFun<Hlc>,
}

/// A register + counter value in canonical form (see the module docs).
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub enum Field<V> {
    /// Nothing.
    #[default]
    Empty,
    /// Exactly one register entry and no counter or creation metadata (the common case).
    Plain(RegEntry<V>),
    /// Anything else.
    Full(Box<FieldFull<V>>),
}

impl<V: FieldValue> Field<V> {
    /// A field holding one register entry.
    pub fn plain(dot: Dot, hlc: Hlc, val: V) -> Field<V> {
        Field::Plain(RegEntry { dot, hlc, val })
    }

    fn from_parts(reg: Vec<RegEntry<V>>, ctr: Counter, created: DotFun<Hlc>) -> Field<V> {
        if ctr.is_empty() && created.is_empty() {
            match reg.len() {
                0 => return Field::Empty,
                1 => return Field::Plain(reg.into_iter().next().expect("one entry")),
                _ => {}
            }
        }
        Field::Full(Box::new(FieldFull { reg, ctr, created }))
    }

    fn into_parts(self) -> (Vec<RegEntry<V>>, Counter, DotFun<Hlc>) {
        match self {
            Field::Empty => (Vec::new(), Counter::default(), DotFun::default()),
            Field::Plain(e) => (vec![e], Counter::default(), DotFun::default()),
            Field::Full(f) => (f.reg, f.ctr, f.created),
        }
    }

    /// Register entries, sorted by dot.
    pub fn reg(&self) -> &[RegEntry<V>] {
        match self {
            Field::Empty => &[],
            Field::Plain(e) => std::slice::from_ref(e),
            Field::Full(f) => &f.reg,
        }
    }

    /// The counter, if any.
    pub fn counter(&self) -> Option<&Counter> {
        match self {
            Field::Full(f) if !f.ctr.is_empty() => Some(&f.ctr),
            _ => None,
        }
    }

    /// Creation stamps (string keys created by an increment).
    pub fn created(&self) -> &[(Dot, Hlc)] {
        match self {
            Field::Full(f) => f.created.entries(),
            _ => &[],
        }
    }

    /// The register entry that is read: highest HLC.
    pub fn winner(&self) -> Option<&RegEntry<V>> {
        self.reg().iter().max_by_key(|e| e.hlc)
    }

    /// Visible counter sum (zero and not live when there is no counter).
    pub fn sum(&self) -> CounterSum {
        self.counter().map(|c| c.sum()).unwrap_or_default()
    }

    /// Whether the field exists for a reader.
    pub fn is_present(&self) -> bool {
        !self.reg().is_empty() || self.sum().live
    }

    /// Largest HLC among register entries and creation stamps (the type-conflict stamp).
    pub fn stamp(&self) -> Hlc {
        let r = self.reg().iter().map(|e| e.hlc).max().unwrap_or(Hlc::ZERO);
        let c = self
            .created()
            .iter()
            .map(|e| e.1)
            .max()
            .unwrap_or(Hlc::ZERO);
        r.max(c)
    }

    /// Delta of a write of `val` that replaces everything this replica observed.
    #[must_use]
    pub fn write_delta(&self, dot: Dot, hlc: Hlc, val: V, dctx: &mut CausalContext) -> Field<V> {
        let mut rm = self.remove_delta(dctx);
        dctx.insert(dot);
        let e = RegEntry { dot, hlc, val };
        rm = match rm {
            Field::Empty => Field::Plain(e),
            Field::Full(mut f) => {
                f.reg = vec![e];
                Field::Full(f)
            }
            Field::Plain(_) => unreachable!("remove deltas hold no register entry"),
        };
        rm
    }

    /// Delta of a remove: every observed register entry and creation stamp goes, the
    /// counter is floored at the observed totals.
    #[must_use]
    pub fn remove_delta(&self, dctx: &mut CausalContext) -> Field<V> {
        for e in self.reg() {
            dctx.insert(e.dot);
        }
        for e in self.created() {
            dctx.insert(e.0);
        }
        match self.counter() {
            Some(c) => Field::from_parts(Vec::new(), c.reset_delta(), DotFun::default()),
            None => Field::Empty,
        }
    }

    /// Delta of an increment (integer and/or float part).
    #[must_use]
    pub fn incr_delta(&self, dot: Dot, int: i64, float: f64, dctx: &mut CausalContext) -> Field<V> {
        dctx.insert(dot);
        let c = match self.counter() {
            Some(c) => c.incr_delta(dot, int, float),
            None => Counter::default().incr_delta(dot, int, float),
        };
        Field::from_parts(Vec::new(), c, DotFun::default())
    }

    /// Adds a creation stamp to a delta (string keys created by an increment).
    #[must_use]
    pub fn with_created(self, dot: Dot, hlc: Hlc) -> Field<V> {
        let (reg, ctr, _) = self.into_parts();
        Field::from_parts(reg, ctr, DotFun::one(dot, hlc))
    }

    /// Garbage-collects counter metadata made stable by `stable`.
    pub fn gc(&mut self, stable: &VersionVector) {
        if let Field::Full(f) = self {
            f.ctr.gc(stable);
            let (reg, ctr, created) = std::mem::take(self).into_parts();
            *self = Field::from_parts(reg, ctr, created);
        }
    }

    /// Drops a removed region's counter metadata.
    pub fn purge(&mut self, region: crate::dot::RegionId) {
        if let Field::Full(f) = self {
            f.ctr.purge(region);
            let (reg, ctr, created) = std::mem::take(self).into_parts();
            *self = Field::from_parts(reg, ctr, created);
        }
    }
}

impl<V: FieldValue> DotStore for Field<V> {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        match (&*self, other) {
            (Field::Plain(a), Field::Plain(b)) if a.dot == b.dot => return,
            // Fast path: only register removes can happen, and none applies.
            (_, Field::Empty)
                if self.counter().is_none()
                    && self.created().is_empty()
                    && self.reg().iter().all(|e| !other_ctx.contains(e.dot)) =>
            {
                return
            }
            _ => {}
        }
        let (reg, mut ctr, mut created) = std::mem::take(self).into_parts();
        let reg = join_sorted(&reg, ctx, other.reg(), other_ctx, |e| e.dot);
        if let Some(c) = other.counter() {
            ctr.join(c);
        }
        let oc = match other {
            Field::Full(f) => f.created.clone(),
            _ => DotFun::default(),
        };
        created.join(ctx, &oc, other_ctx);
        *self = Field::from_parts(reg, ctr, created);
    }
    fn is_bottom(&self) -> bool {
        matches!(self, Field::Empty)
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        self.reg().iter().for_each(|e| f(e.dot));
        self.created().iter().for_each(|e| f(e.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn plain_is_small() {
        // Register entry (dot + hlc) plus a boxed byte string, no extra word for the tag.
        assert!(std::mem::size_of::<Field<Box<[u8]>>>() <= 40);
    }
}
