//! The key envelope shared by every value type.
//!
//! A [`Key`] holds one *slot* per value type that has been written to the key (normally
//! exactly one) and an expiry register:
//! - **Delete** (DEL, UNLINK, expiry-deletion, FLUSHDB) is observed-remove: its delta
//!   removes every dot the issuing region had seen in every slot and floors every counter;
//!   writes it had not seen survive (DEL ∥ SADD y ⇒ {y}).
//! - **Type conflict**: each slot carries creation stamps (HLCs of the writes that created
//!   the key with that type; for strings, also the HLC of the latest SET). The visible
//!   type is the present slot with the highest stamp; the others are invisible and removed
//!   by the next write to the key (not by GC: see [`Key::gc`]).
//!   A collection's stamps share the creating op's dot with the elements it wrote, so
//!   writes to an existing collection build their `created` part with
//!   [`Coll::carry_created`], which keeps the creation HLC when they remove that dot.
//! - **Expiry** is a register of absolute expiry times in Unix milliseconds (0 = PERSIST
//!   marker). EXPIRE replaces the entries it observed; concurrent EXPIREs both stay and
//!   the later time wins; a PERSIST marker beats every concurrent EXPIRE. SET without
//!   KEEPTTL clears the TTLs it observed (no marker: a concurrent EXPIRE still applies).
//!
//! Lists ([`crate::list::List`]), HyperLogLogs ([`crate::hll::Hll`]) and streams
//! ([`crate::stream::Stream`]) are slots like the other collections; each later type is a
//! new [`Value`] variant appended at the end, so the encoding of the existing ones does
//! not change.

use crate::context::{CausalContext, DotStore};
use crate::dot::{Dot, RegionId};
use crate::dotset::DotFun;
use crate::field::Field;
use crate::hash::ORHash;
use crate::hlc::Hlc;
use crate::hll::Hll;
use crate::list::List;
use crate::set::ORSet;
use crate::stream::Stream;
use crate::vv::VersionVector;
use crate::zset::ZSet;
use crate::Bytes;
use serde::{Deserialize, Serialize};

/// Value types.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// Strings (and counters).
    String,
    /// Sets.
    Set,
    /// Hashes.
    Hash,
    /// Sorted sets (and geo).
    ZSet,
    /// Lists.
    List,
    /// HyperLogLog (TYPE says "string", as Redis stores them as strings).
    Hll,
    /// Streams.
    Stream,
}

impl Kind {
    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Set => "set",
            Kind::Hash => "hash",
            Kind::ZSet => "zset",
            Kind::List => "list",
            Kind::Hll => "string",
            Kind::Stream => "stream",
        }
    }
}

/// A collection value with its creation stamps.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct Coll<T> {
    /// Creation stamps: (dot, HLC) of the writes that created the key with this type.
    pub created: DotFun<Hlc>,
    /// The collection.
    pub data: T,
}

impl<T: DotStore> Coll<T> {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        self.created.join(ctx, &other.created, other_ctx);
        self.data.join(ctx, &other.data, other_ctx);
    }
    fn is_bottom(&self) -> bool {
        self.created.is_bottom() && self.data.is_bottom()
    }
    fn stamp(&self) -> Hlc {
        self.created
            .entries()
            .iter()
            .map(|e| e.1)
            .max()
            .unwrap_or(Hlc::ZERO)
    }
    fn remove_created(&self, dctx: &mut CausalContext) {
        self.created.for_each_dot(&mut |d| dctx.insert(d));
    }

    /// The delta of a write issued with `dot`: `data` (the element deltas, whose context
    /// is `dctx`) with the creation stamps it must carry ([`Coll::carry_created`]); none
    /// when the write creates the key (`fresh`).
    #[must_use]
    pub fn write_delta<D>(
        &self,
        fresh: bool,
        dot: Dot,
        data: D,
        dctx: &mut CausalContext,
    ) -> Coll<D> {
        let created = if fresh {
            DotFun::default()
        } else {
            self.carry_created(dot, dctx)
        };
        Coll { created, data }
    }

    /// Creation stamps for the delta of a write (SADD, SREM, HSET, ZADD...) to this existing
    /// collection, issued with `dot`, once the element deltas have filled `dctx`.
    ///
    /// An op has one dot, so the op that created the key gave its creation stamp the same
    /// dot as the elements it wrote. A later write that observes (removes or overwrites)
    /// those elements has that dot in its delta context, which also deletes the creation
    /// stamp: the collection would silently lose its creation HLC (the type-conflict
    /// stamp). So when `dctx` covers stamps, the write re-issues the highest of them under
    /// its own dot; stamps it does not cover are left alone. The slot's [`Value::stamp`]
    /// is unchanged. Returns an empty function when nothing needs carrying.
    #[must_use]
    pub fn carry_created(&self, dot: Dot, dctx: &mut CausalContext) -> DotFun<Hlc> {
        let carried = self
            .created
            .entries()
            .iter()
            .filter(|e| dctx.contains(e.0))
            .map(|e| e.1)
            .max();
        match carried {
            Some(hlc) => {
                dctx.insert(dot);
                DotFun::one(dot, hlc)
            }
            None => DotFun::default(),
        }
    }
}

/// One slot's value.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub enum Value {
    /// A string / counter.
    Str(Field<Bytes>),
    /// A set.
    Set(Box<Coll<ORSet>>),
    /// A hash.
    Hash(Box<Coll<ORHash>>),
    /// A sorted set.
    ZSet(Box<Coll<ZSet>>),
    /// A list.
    List(Box<Coll<List>>),
    /// A HyperLogLog.
    Hll(Box<Coll<Hll>>),
    /// A stream.
    Stream(Box<Coll<Stream>>),
}

impl Value {
    /// An empty value of a kind.
    pub fn empty(k: Kind) -> Value {
        match k {
            Kind::String => Value::Str(Field::Empty),
            Kind::Set => Value::Set(Box::default()),
            Kind::Hash => Value::Hash(Box::default()),
            Kind::ZSet => Value::ZSet(Box::default()),
            Kind::List => Value::List(Box::default()),
            Kind::Hll => Value::Hll(Box::default()),
            Kind::Stream => Value::Stream(Box::default()),
        }
    }
    /// The value's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Str(_) => Kind::String,
            Value::Set(_) => Kind::Set,
            Value::Hash(_) => Kind::Hash,
            Value::ZSet(_) => Kind::ZSet,
            Value::List(_) => Kind::List,
            Value::Hll(_) => Kind::Hll,
            Value::Stream(_) => Kind::Stream,
        }
    }
    /// Whether a reader sees it.
    pub fn is_present(&self) -> bool {
        match self {
            Value::Str(f) => f.is_present(),
            Value::Set(c) => !c.data.is_empty(),
            Value::Hash(c) => c.data.is_present(),
            Value::ZSet(c) => c.data.is_present(),
            Value::List(c) => !c.data.is_empty(),
            Value::Hll(c) => c.data.is_present(),
            Value::Stream(c) => c.data.is_present(),
        }
    }
    /// Whether it holds nothing at all.
    pub fn is_bottom(&self) -> bool {
        match self {
            Value::Str(f) => f.is_bottom(),
            Value::Set(c) => c.is_bottom(),
            Value::Hash(c) => c.is_bottom(),
            Value::ZSet(c) => c.is_bottom(),
            Value::List(c) => c.is_bottom(),
            Value::Hll(c) => c.is_bottom(),
            Value::Stream(c) => c.is_bottom(),
        }
    }
    /// The type-conflict stamp.
    pub fn stamp(&self) -> Hlc {
        match self {
            Value::Str(f) => f.stamp(),
            Value::Set(c) => c.stamp(),
            Value::Hash(c) => c.stamp(),
            Value::ZSet(c) => c.stamp(),
            Value::List(c) => c.stamp(),
            Value::Hll(c) => c.stamp(),
            Value::Stream(c) => c.stamp(),
        }
    }
    fn join(&mut self, ctx: &CausalContext, other: &Value, other_ctx: &CausalContext) {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a.join(ctx, b, other_ctx),
            (Value::Set(a), Value::Set(b)) => a.join(ctx, b, other_ctx),
            (Value::Hash(a), Value::Hash(b)) => a.join(ctx, b, other_ctx),
            (Value::ZSet(a), Value::ZSet(b)) => a.join(ctx, b, other_ctx),
            (Value::List(a), Value::List(b)) => a.join(ctx, b, other_ctx),
            (Value::Hll(a), Value::Hll(b)) => a.join(ctx, b, other_ctx),
            (Value::Stream(a), Value::Stream(b)) => a.join(ctx, b, other_ctx),
            _ => unreachable!("slots are joined per kind"),
        }
    }
    fn join_delta(&mut self, ctx: &CausalContext, other: &Value, other_ctx: &CausalContext) {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a.join(ctx, b, other_ctx),
            (Value::Set(a), Value::Set(b)) => {
                a.created.join(ctx, &b.created, other_ctx);
                a.data.join_delta(ctx, &b.data, other_ctx)
            }
            (Value::Hash(a), Value::Hash(b)) => {
                a.created.join(ctx, &b.created, other_ctx);
                a.data.join_delta(ctx, &b.data, other_ctx)
            }
            (Value::ZSet(a), Value::ZSet(b)) => {
                a.created.join(ctx, &b.created, other_ctx);
                a.data.join_delta(ctx, &b.data, other_ctx)
            }
            (Value::List(a), Value::List(b)) => {
                a.created.join(ctx, &b.created, other_ctx);
                a.data.join_delta(ctx, &b.data, other_ctx)
            }
            // HyperLogLog deltas carry only the epochs they raise (and only the raised
            // registers): the full join is already proportional to the delta.
            (Value::Hll(a), Value::Hll(b)) => a.join(ctx, b, other_ctx),
            (Value::Stream(a), Value::Stream(b)) => {
                a.created.join(ctx, &b.created, other_ctx);
                a.data.join_delta(ctx, &b.data, other_ctx)
            }
            _ => unreachable!("slots are joined per kind"),
        }
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        match self {
            Value::Str(x) => x.for_each_dot(f),
            Value::Set(c) => {
                c.created.for_each_dot(f);
                c.data.for_each_dot(f)
            }
            Value::Hash(c) => {
                c.created.for_each_dot(f);
                c.data.for_each_dot(f)
            }
            Value::ZSet(c) => {
                c.created.for_each_dot(f);
                c.data.for_each_dot(f)
            }
            Value::List(c) => {
                c.created.for_each_dot(f);
                c.data.for_each_dot(f)
            }
            Value::Hll(c) => {
                c.created.for_each_dot(f);
                c.data.for_each_dot(f)
            }
            Value::Stream(c) => {
                c.created.for_each_dot(f);
                c.data.for_each_dot(f)
            }
        }
    }
    /// Delta removing everything observed in this value.
    #[must_use]
    pub fn remove_delta(&self, dctx: &mut CausalContext) -> Value {
        match self {
            Value::Str(f) => Value::Str(f.remove_delta(dctx)),
            Value::Set(c) => {
                c.remove_created(dctx);
                Value::Set(Box::new(Coll {
                    created: DotFun::default(),
                    data: c.data.remove_all_delta(dctx),
                }))
            }
            Value::Hash(c) => {
                c.remove_created(dctx);
                Value::Hash(Box::new(Coll {
                    created: DotFun::default(),
                    data: c.data.remove_all_delta(dctx),
                }))
            }
            Value::ZSet(c) => {
                c.remove_created(dctx);
                Value::ZSet(Box::new(Coll {
                    created: DotFun::default(),
                    data: c.data.remove_all_delta(dctx),
                }))
            }
            Value::List(c) => {
                c.remove_created(dctx);
                Value::List(Box::new(Coll {
                    created: DotFun::default(),
                    data: c.data.remove_all_delta(dctx),
                }))
            }
            Value::Hll(c) => {
                c.remove_created(dctx);
                Value::Hll(Box::new(Coll {
                    created: DotFun::default(),
                    data: c.data.remove_all_delta(dctx),
                }))
            }
            Value::Stream(c) => {
                c.remove_created(dctx);
                Value::Stream(Box::new(Coll {
                    created: DotFun::default(),
                    data: c.data.remove_all_delta(dctx),
                }))
            }
        }
    }
    fn gc(&mut self, stable: &VersionVector) {
        match self {
            Value::Str(f) => f.gc(stable),
            Value::Set(_) => {}
            Value::Hash(c) => c.data.gc(stable),
            Value::ZSet(c) => c.data.gc(stable),
            Value::List(c) => c.data.gc(stable),
            Value::Hll(_) => {}
            Value::Stream(c) => c.data.gc(stable),
        }
    }
    fn purge(&mut self, region: RegionId) {
        match self {
            Value::Str(f) => f.purge(region),
            Value::Set(_) => {}
            Value::Hash(c) => c.data.purge(region),
            Value::ZSet(c) => c.data.purge(region),
            Value::List(_) | Value::Hll(_) | Value::Stream(_) => {}
        }
    }
}

/// Rare parts of a key: extra type slots and the expiry register.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct KeyExtra {
    /// Slots after the first, sorted by kind.
    pub others: Vec<Value>,
    /// Expiry entries: absolute Unix ms, 0 = PERSIST marker.
    pub expiry: DotFun<u64>,
}

/// One key's CRDT state (see module docs). Canonical: slots sorted by kind, no bottom
/// slot, the general form only when needed.
///
/// In memory a key is one pointer (8 bytes; null for the empty key) to its
/// representation, so a keyspace table slot costs the key name plus 8 bytes whatever the
/// table's load: std's `HashMap` keeps entries inline and has 1.14 to 2.29 slots per key,
/// which multiplied a 40-byte inline `Key` into 46 to 92 bytes per key; boxed, a key costs
/// 40 bytes once (plus the allocator's block header) and 9 to 18 bytes of slots.
///
/// Encoded as the pair `(main: Option<Value>, extra: Option<KeyExtra>)`: the first slot,
/// and the other slots with the expiry register when there are any.
///
/// A stored key's block also holds a node-local *access word* ([`Key::access`]): a u32
/// the server uses for LRU/LFU eviction. It is not part of the CRDT state: equality,
/// encoding and joins ignore it (joins keep this key's word), deltas carry 0, and it is
/// never replicated. It fits in the block next to the representation.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Key {
    /// `None` for the empty key (never `Some(KeyRepr::Empty)`).
    repr: Option<Box<Block>>,
}

/// The heap block of a non-empty [`Key`]: its representation and the node-local access
/// word (ignored by equality).
#[derive(Clone, Debug)]
struct Block {
    repr: KeyRepr,
    access: u32,
}

impl PartialEq for Block {
    fn eq(&self, o: &Self) -> bool {
        self.repr == o.repr
    }
}

impl Block {
    fn boxed(repr: KeyRepr) -> Box<Block> {
        Box::new(Block { repr, access: 0 })
    }
}

static EMPTY_REPR: KeyRepr = KeyRepr::Empty;

/// A [`Key`]'s representation: the common single-slot key without expiry is one
/// [`Value`] (40 bytes: the variants live in `Value`'s spare tag values).
#[derive(Clone, PartialEq, Debug, Default)]
enum KeyRepr {
    /// Nothing at all (only as [`EMPTY_REPR`]: stored keys use `None`).
    #[default]
    Empty,
    /// One slot, no expiry entry.
    One(Value),
    /// Anything else (never with no other slot and no expiry entry).
    General(Box<KeyGeneral>),
}

#[derive(Clone, PartialEq, Debug)]
struct KeyGeneral {
    main: Option<Value>,
    extra: KeyExtra,
}

#[derive(Serialize)]
struct KeyWireRef<'a> {
    main: Option<&'a Value>,
    extra: Option<&'a KeyExtra>,
}

#[derive(Deserialize)]
struct KeyWire {
    main: Option<Value>,
    extra: Option<Box<KeyExtra>>,
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        KeyWireRef {
            main: self.main(),
            extra: self.extra(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = KeyWire::deserialize(d)?;
        Ok(Key::from_main_extra(w.main, w.extra.map(|x| *x)))
    }
}

/// Marker stored in the expiry register by PERSIST.
pub const PERSIST: u64 = 0;

impl Key {
    #[inline]
    fn r(&self) -> &KeyRepr {
        self.repr.as_deref().map_or(&EMPTY_REPR, |b| &b.repr)
    }

    /// The node-local access word (0 for the empty key or one never touched). Not part
    /// of the CRDT state (see [`Key`]).
    #[inline]
    pub fn access(&self) -> u32 {
        self.repr.as_deref().map_or(0, |b| b.access)
    }

    /// Sets the node-local access word (no effect on the empty key).
    #[inline]
    pub fn set_access(&mut self, access: u32) {
        if let Some(b) = self.repr.as_deref_mut() {
            b.access = access;
        }
    }

    fn main(&self) -> Option<&Value> {
        match self.r() {
            KeyRepr::Empty => None,
            KeyRepr::One(v) => Some(v),
            KeyRepr::General(g) => g.main.as_ref(),
        }
    }

    fn extra(&self) -> Option<&KeyExtra> {
        match self.r() {
            KeyRepr::General(g) => Some(&g.extra),
            _ => None,
        }
    }

    /// Builds the representation; `extra` is the caller's (already canonical) choice.
    fn from_main_extra(main: Option<Value>, extra: Option<KeyExtra>) -> Key {
        let repr = match (main, extra) {
            (None, None) => KeyRepr::Empty,
            (Some(v), None) => KeyRepr::One(v),
            (main, Some(extra)) => KeyRepr::General(Box::new(KeyGeneral { main, extra })),
        };
        Key::from_repr(repr)
    }

    fn from_repr(repr: KeyRepr) -> Key {
        Key {
            repr: match repr {
                KeyRepr::Empty => None,
                r => Some(Block::boxed(r)),
            },
        }
    }

    fn into_main_extra(self) -> (Option<Value>, Option<KeyExtra>) {
        match self.repr.map_or(KeyRepr::Empty, |b| b.repr) {
            KeyRepr::Empty => (None, None),
            KeyRepr::One(v) => (Some(v), None),
            KeyRepr::General(g) => {
                let g = *g;
                (g.main, Some(g.extra))
            }
        }
    }

    /// A key (or key delta) holding one value.
    pub fn from_value(v: Value) -> Key {
        Key::from_parts(vec![v], DotFun::default())
    }

    fn from_parts(mut slots: Vec<Value>, expiry: DotFun<u64>) -> Key {
        slots.retain(|v| !v.is_bottom());
        slots.sort_by_key(|v| v.kind());
        let mut it = slots.into_iter();
        let main = it.next();
        let others: Vec<Value> = it.collect();
        let extra = if others.is_empty() && expiry.is_empty() {
            None
        } else {
            Some(KeyExtra { others, expiry })
        };
        Key::from_main_extra(main, extra)
    }

    fn into_parts(self) -> (Vec<Value>, DotFun<u64>) {
        let (main, extra) = self.into_main_extra();
        let mut slots: Vec<Value> = main.into_iter().collect();
        let mut expiry = DotFun::default();
        if let Some(x) = extra {
            slots.extend(x.others);
            expiry = x.expiry;
        }
        (slots, expiry)
    }

    /// Every slot, sorted by kind.
    pub fn slots(&self) -> impl Iterator<Item = &Value> {
        let others: &[Value] = self.extra().map_or(&[], |x| &x.others);
        self.main().into_iter().chain(others.iter())
    }

    /// The slot of a kind, visible or not.
    pub fn slot(&self, k: Kind) -> Option<&Value> {
        self.slots().find(|v| v.kind() == k)
    }

    /// The visible value: the present slot with the highest stamp.
    pub fn visible(&self) -> Option<&Value> {
        match self.extra() {
            None => self.main().filter(|v| v.is_present()),
            Some(x) if x.others.is_empty() => self.main().filter(|v| v.is_present()),
            Some(_) => self
                .slots()
                .filter(|v| v.is_present())
                .max_by_key(|v| (v.stamp(), v.kind())),
        }
    }

    /// The expiry register's entries.
    pub fn expiry_entries(&self) -> &[(Dot, u64)] {
        match self.extra() {
            Some(x) => x.expiry.entries(),
            None => &[],
        }
    }

    /// Absolute expiry time in Unix ms, if the key has a TTL.
    pub fn expire_at(&self) -> Option<u64> {
        let e = self.expiry_entries();
        if e.is_empty() || e.iter().any(|x| x.1 == PERSIST) {
            None
        } else {
            e.iter().map(|x| x.1).max()
        }
    }

    /// Whether the key holds nothing at all (it can be dropped from the keyspace).
    pub fn is_bottom(&self) -> bool {
        self.repr.is_none()
    }

    /// Delta of DEL: removes everything observed (all slots, expiry).
    #[must_use]
    pub fn remove_delta(&self, dctx: &mut CausalContext) -> Key {
        let slots = self.slots().map(|v| v.remove_delta(dctx)).collect();
        for (d, _) in self.expiry_entries() {
            dctx.insert(*d);
        }
        Key::from_parts_keep(slots, DotFun::default())
    }

    /// Delta removing the slots that are not visible (cleanup before a local write).
    /// `None` when there is nothing to remove.
    #[must_use]
    pub fn remove_hidden_delta(&self, dctx: &mut CausalContext) -> Option<Key> {
        let vis = self.visible().map(|v| v.kind());
        let hidden: Vec<Value> = self
            .slots()
            .filter(|v| Some(v.kind()) != vis)
            .map(|v| v.remove_delta(dctx))
            .collect();
        if hidden.is_empty() {
            None
        } else {
            Some(Key::from_parts_keep(hidden, DotFun::default()))
        }
    }

    /// Delta of EXPIRE/PEXPIREAT...: replaces observed expiry entries with `at_ms`.
    #[must_use]
    pub fn expire_delta(&self, at_ms: u64, dot: Dot, dctx: &mut CausalContext) -> Key {
        debug_assert!(at_ms != PERSIST);
        for (d, _) in self.expiry_entries() {
            dctx.insert(*d);
        }
        dctx.insert(dot);
        Key::from_parts(Vec::new(), DotFun::one(dot, at_ms.max(1)))
    }

    /// Delta of PERSIST: replaces observed expiry entries with a marker that beats
    /// concurrent EXPIREs.
    #[must_use]
    pub fn persist_delta(&self, dot: Dot, dctx: &mut CausalContext) -> Key {
        for (d, _) in self.expiry_entries() {
            dctx.insert(*d);
        }
        dctx.insert(dot);
        Key::from_parts(Vec::new(), DotFun::one(dot, PERSIST))
    }

    /// Delta clearing the observed TTL without a marker (SET without KEEPTTL).
    /// `None` when there is no expiry entry.
    #[must_use]
    pub fn clear_ttl_delta(&self, dctx: &mut CausalContext) -> Option<Key> {
        let e = self.expiry_entries();
        if e.is_empty() {
            return None;
        }
        for (d, _) in e {
            dctx.insert(*d);
        }
        Some(Key::default())
    }

    /// Like `from_parts` but keeps bottom slots: deltas use them to name touched slots.
    fn from_parts_keep(mut slots: Vec<Value>, expiry: DotFun<u64>) -> Key {
        slots.sort_by_key(|v| v.kind());
        let mut it = slots.into_iter();
        let main = it.next();
        let others: Vec<Value> = it.collect();
        let extra = if others.is_empty() && expiry.is_empty() {
            None
        } else {
            Some(KeyExtra { others, expiry })
        };
        Key::from_main_extra(main, extra)
    }

    fn join_impl(
        &mut self,
        ctx: &CausalContext,
        other: &Key,
        other_ctx: &CausalContext,
        delta: bool,
    ) {
        // Fast paths: one slot each (or none here), same kind, no expiry on either side.
        match (self.repr.as_deref_mut().map(|b| &mut b.repr), other.r()) {
            (Some(KeyRepr::One(a)), KeyRepr::One(b)) if a.kind() == b.kind() => {
                if delta {
                    a.join_delta(ctx, b, other_ctx);
                } else {
                    a.join(ctx, b, other_ctx);
                }
                if a.is_bottom() {
                    self.repr = None;
                }
                return;
            }
            (None, KeyRepr::One(b)) => {
                // As the general path below: a new slot joins from bottom.
                let mut n = Value::empty(b.kind());
                n.join(ctx, b, other_ctx);
                if !n.is_bottom() {
                    self.repr = Some(Block::boxed(KeyRepr::One(n)));
                }
                return;
            }
            _ => {}
        }
        let access = self.access();
        let (mut slots, mut expiry) = std::mem::take(self).into_parts();
        let (other_slots, other_expiry) = other.clone().into_parts();
        // Slots of self: join with the other's slot of the same kind (or bottom).
        for s in slots.iter_mut() {
            let empty = Value::empty(s.kind());
            let o = other_slots
                .iter()
                .find(|o| o.kind() == s.kind())
                .unwrap_or(&empty);
            if delta {
                s.join_delta(ctx, o, other_ctx);
            } else {
                s.join(ctx, o, other_ctx);
            }
        }
        for o in other_slots {
            if !slots.iter().any(|s| s.kind() == o.kind()) {
                let mut n = Value::empty(o.kind());
                n.join(ctx, &o, other_ctx);
                slots.push(n);
            }
        }
        expiry.join(ctx, &other_expiry, other_ctx);
        *self = Key::from_parts(slots, expiry);
        self.set_access(access);
    }

    /// Joins a delta made by this crate's mutators (cost proportional to the delta).
    pub fn join_delta(&mut self, ctx: &CausalContext, delta: &Key, delta_ctx: &CausalContext) {
        self.join_impl(ctx, delta, delta_ctx, true)
    }

    /// Garbage collection at causal stability. `stable` must be a version vector that
    /// every region has reached *and* such that every write concurrent with a stable dot
    /// has already been applied here (the replication layer computes it from acks). Never
    /// changes what a reader sees.
    pub fn gc(&mut self, stable: &VersionVector) {
        // In place: only counters have anything to collect, and a key is rebuilt only
        // when a slot became empty (a full scan of the keyspace visits every key).
        let emptied = match self.repr.as_deref_mut().map(|b| &mut b.repr) {
            None | Some(KeyRepr::Empty) => false,
            Some(KeyRepr::One(v)) => {
                v.gc(stable);
                v.is_bottom()
            }
            Some(KeyRepr::General(g)) => {
                let mut emptied = false;
                for v in g.main.iter_mut().chain(g.extra.others.iter_mut()) {
                    v.gc(stable);
                    emptied |= v.is_bottom();
                }
                emptied
            }
        };
        if !emptied {
            return;
        }
        let access = self.access();
        let (slots, expiry) = std::mem::take(self).into_parts();
        // Hidden slots (type-conflict losers) are NOT dropped here, even when stable: a
        // replica that dropped one no longer names it in its later deltas (DEL, the cleanup
        // of hidden slots before a write), so replicas that had not collected yet would keep
        // it, and it would become visible there when the winner is emptied or deleted —
        // collecting would change what readers see. Hidden slots go through deltas instead:
        // the next write to the key removes them everywhere (`remove_hidden_delta`).
        // For the same reason a stable PERSIST marker is kept: a replica that dropped it
        // would issue EXPIREs that do not replace it, and replicas still holding it would
        // let it beat an EXPIRE that was issued after the PERSIST.
        *self = Key::from_parts(slots, expiry);
        self.set_access(access);
    }

    /// Drops a removed region's counter metadata.
    pub fn purge(&mut self, region: RegionId) {
        let access = self.access();
        let (mut slots, expiry) = std::mem::take(self).into_parts();
        for s in slots.iter_mut() {
            s.purge(region);
        }
        *self = Key::from_parts(slots, expiry);
        self.set_access(access);
    }
}

impl DotStore for Key {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        self.join_impl(ctx, other, other_ctx, false)
    }
    fn is_bottom(&self) -> bool {
        Key::is_bottom(self)
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        for s in self.slots() {
            s.for_each_dot(f)
        }
        for (d, _) in self.expiry_entries() {
            f(*d)
        }
    }
}
