//! The law checker's subjects: every type supplies only an op generator, "apply op →
//! delta" and an observation.
//!
//! Per-type subjects (`Field`, `ORSet`, `ORHash`, `ZSet`, `Key`) issue one dot per op and
//! touch one element per op, so each delta is self-describing and the law
//! "`join_delta` == full join" applies. `Keyspace` ops are multi-key, multi-member
//! commands sharing one dot (as a server issues them); those deltas are only meaningful
//! through the keyed path (`Keyspace::apply`), so that one law is skipped there while all
//! others (including "deltas in any order == merged full states") are checked.

pub use super::server::StreamOp;
use super::server::{self, obs_key, obs_keyspace, stream_cmd, Cmd, VObs};
use super::Subject;
use crdt::context::{Causal, CausalContext, DotStore};
use crdt::field::Field;
use crdt::hash::ORHash;
use crdt::hll::{Hll, Registers};
use crdt::key::Key;
use crdt::keyspace::{Keyspace, OpDelta};
use crdt::list::List;
use crdt::set::ORSet;
use crdt::string;
use crdt::zset::ZSet;
use crdt::{Bytes, Dot, Hlc, RegionId, VersionVector};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::marker::PhantomData;

/// A causal type as a law subject (adapter to [`Subject`] via [`C`]).
pub trait CausalSubject {
    /// The dot store.
    type T: DotStore;
    /// Ops.
    type Op: Clone + Debug + 'static;
    /// Observation.
    type Obs: PartialEq + Debug;
    /// Op generator.
    fn ops() -> BoxedStrategy<Self::Op>;
    /// Delta parts (applied in order) of `op` issued with `dot`/`hlc`.
    fn mutate(s: &Causal<Self::T>, dot: Dot, hlc: Hlc, op: &Self::Op) -> Vec<Causal<Self::T>>;
    /// Keyed join of one delta part (default: the full join).
    fn join_delta(s: &mut Causal<Self::T>, d: &Causal<Self::T>) {
        s.merge(d)
    }
    /// Observation.
    fn observe(s: &Causal<Self::T>) -> Self::Obs;
    /// GC (default: nothing to collect).
    fn gc(_s: &mut Causal<Self::T>, _stable: &VersionVector) {}
}

/// Adapter from [`CausalSubject`] to [`Subject`].
pub struct C<X>(PhantomData<X>);

impl<X: CausalSubject> Subject for C<X> {
    type State = Causal<X::T>;
    type Delta = (Dot, Vec<Causal<X::T>>);
    type Op = X::Op;
    type Obs = X::Obs;
    fn ops() -> BoxedStrategy<X::Op> {
        X::ops()
    }
    fn empty() -> Causal<X::T> {
        Causal::new()
    }
    fn mutate(s: &Causal<X::T>, region: RegionId, hlc: Hlc, op: &X::Op) -> Option<Self::Delta> {
        let dot = Dot::new(region, s.ctx.vv().get(region) + 1);
        let parts = X::mutate(s, dot, hlc, op);
        if parts
            .iter()
            .all(|p| p.ctx.is_empty() && p.store.is_bottom())
        {
            None
        } else {
            Some((dot, parts))
        }
    }
    fn apply(s: &mut Causal<X::T>, d: &Self::Delta) {
        for p in &d.1 {
            X::join_delta(s, p);
        }
    }
    fn apply_full(s: &mut Causal<X::T>, d: &Self::Delta) -> bool {
        for p in &d.1 {
            s.merge(p);
        }
        true
    }
    fn merge(s: &mut Causal<X::T>, o: &Causal<X::T>) {
        s.merge(o)
    }
    fn observe(s: &Causal<X::T>) -> X::Obs {
        X::observe(s)
    }
    fn gc(s: &mut Causal<X::T>, stable: &VersionVector) {
        X::gc(s, stable)
    }
    fn applied(s: &Causal<X::T>) -> VersionVector {
        s.ctx.vv().clone()
    }
    fn op_dot(d: &Self::Delta) -> Option<Dot> {
        d.1.iter().any(|p| p.ctx.contains(d.0)).then_some(d.0)
    }
}

fn member() -> impl Strategy<Value = Vec<u8>> {
    (0u8..4).prop_map(|m| vec![b'a' + m])
}

/// String values: integers, floats, text (so counters meet every kind of base).
fn str_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (-5i64..5).prop_map(|i| i.to_string().into_bytes()),
        Just(b"1.5".to_vec()),
        Just(b"x".to_vec()),
    ]
}

/// Scores and float increments: multiples of 0.5, so sums are exact in any order.
fn half() -> impl Strategy<Value = f64> {
    (-6i32..6).prop_map(|h| h as f64 / 2.0)
}

/// String field ops.
#[derive(Clone, Debug)]
pub enum StrOp {
    /// SET
    Set(Vec<u8>),
    /// INCRBY
    Incr(i64),
    /// INCRBYFLOAT
    IncrF(f64),
    /// DEL
    Del,
}

/// `Field<Box<[u8]>>`: a string value with counters.
pub struct StrField;
impl CausalSubject for StrField {
    type T = Field<Bytes>;
    type Op = StrOp;
    type Obs = Option<Vec<u8>>;
    fn ops() -> BoxedStrategy<StrOp> {
        prop_oneof![
            2 => str_value().prop_map(StrOp::Set),
            3 => (-3i64..4).prop_map(StrOp::Incr),
            1 => half().prop_map(StrOp::IncrF),
            1 => Just(StrOp::Del),
        ]
        .boxed()
    }
    fn mutate(
        s: &Causal<Field<Bytes>>,
        dot: Dot,
        hlc: Hlc,
        op: &StrOp,
    ) -> Vec<Causal<Field<Bytes>>> {
        let mut ctx = CausalContext::new();
        let store = match op {
            StrOp::Set(v) => s
                .store
                .write_delta(dot, hlc, v.clone().into_boxed_slice(), &mut ctx),
            StrOp::Incr(i) => s.store.incr_delta(dot, *i, 0.0, &mut ctx),
            StrOp::IncrF(x) => s.store.incr_delta(dot, 0, *x, &mut ctx),
            StrOp::Del => s.store.remove_delta(&mut ctx),
        };
        vec![Causal { store, ctx }]
    }
    fn observe(s: &Causal<Field<Bytes>>) -> Option<Vec<u8>> {
        string::read(&s.store).map(|v| v.to_bytes().into_owned())
    }
    fn gc(s: &mut Causal<Field<Bytes>>, stable: &VersionVector) {
        s.store.gc(stable)
    }
}

/// Score field ops.
#[derive(Clone, Debug)]
pub enum ScoreOp {
    /// ZADD (score write)
    Set(f64),
    /// ZINCRBY
    Incr(f64),
    /// ZREM
    Del,
}

/// `Field<f64>`: a sorted-set score.
pub struct ScoreField;
impl CausalSubject for ScoreField {
    type T = Field<f64>;
    type Op = ScoreOp;
    type Obs = Option<u64>;
    fn ops() -> BoxedStrategy<ScoreOp> {
        prop_oneof![
            2 => half().prop_map(ScoreOp::Set),
            3 => half().prop_map(ScoreOp::Incr),
            1 => Just(ScoreOp::Del),
        ]
        .boxed()
    }
    fn mutate(s: &Causal<Field<f64>>, dot: Dot, hlc: Hlc, op: &ScoreOp) -> Vec<Causal<Field<f64>>> {
        let mut ctx = CausalContext::new();
        let store = match op {
            ScoreOp::Set(v) => s.store.write_delta(dot, hlc, *v, &mut ctx),
            ScoreOp::Incr(x) => s.store.incr_delta(dot, 0, *x, &mut ctx),
            ScoreOp::Del => s.store.remove_delta(&mut ctx),
        };
        vec![Causal { store, ctx }]
    }
    fn observe(s: &Causal<Field<f64>>) -> Option<u64> {
        server::zscore(&s.store)
    }
    fn gc(s: &mut Causal<Field<f64>>, stable: &VersionVector) {
        s.store.gc(stable)
    }
}

/// Set ops.
#[derive(Clone, Debug)]
pub enum SetOp {
    /// SADD
    Add(Vec<u8>),
    /// SREM
    Rem(Vec<u8>),
    /// DEL (remove every observed member)
    Clear,
}

/// `ORSet`.
pub struct Set;
impl CausalSubject for Set {
    type T = ORSet;
    type Op = SetOp;
    type Obs = BTreeSet<Vec<u8>>;
    fn ops() -> BoxedStrategy<SetOp> {
        prop_oneof![
            4 => member().prop_map(SetOp::Add),
            3 => member().prop_map(SetOp::Rem),
            1 => Just(SetOp::Clear),
        ]
        .boxed()
    }
    fn mutate(s: &Causal<ORSet>, dot: Dot, _hlc: Hlc, op: &SetOp) -> Vec<Causal<ORSet>> {
        let mut ctx = CausalContext::new();
        let store = match op {
            SetOp::Add(m) => s.store.add_delta(m, dot, &mut ctx),
            SetOp::Rem(m) => s.store.rem_delta(m, &mut ctx),
            SetOp::Clear => s.store.remove_all_delta(&mut ctx),
        };
        vec![Causal { store, ctx }]
    }
    fn join_delta(s: &mut Causal<ORSet>, d: &Causal<ORSet>) {
        s.store.join_delta(&s.ctx, &d.store, &d.ctx);
        s.ctx.join(&d.ctx);
    }
    fn observe(s: &Causal<ORSet>) -> BTreeSet<Vec<u8>> {
        s.store.members().map(|m| m.to_vec()).collect()
    }
}

/// Hash ops.
#[derive(Clone, Debug)]
pub enum HashOp {
    /// HSET
    Set(Vec<u8>, Vec<u8>),
    /// HDEL
    Del(Vec<u8>),
    /// HINCRBY
    Incr(Vec<u8>, i64),
    /// HINCRBYFLOAT
    IncrF(Vec<u8>, f64),
    /// DEL
    Clear,
}

/// `ORHash`.
pub struct Hash;
impl CausalSubject for Hash {
    type T = ORHash;
    type Op = HashOp;
    type Obs = BTreeMap<Vec<u8>, Vec<u8>>;
    fn ops() -> BoxedStrategy<HashOp> {
        prop_oneof![
            3 => (member(), str_value()).prop_map(|(f, v)| HashOp::Set(f, v)),
            2 => member().prop_map(HashOp::Del),
            3 => (member(), -3i64..4).prop_map(|(f, i)| HashOp::Incr(f, i)),
            1 => (member(), half()).prop_map(|(f, x)| HashOp::IncrF(f, x)),
            1 => Just(HashOp::Clear),
        ]
        .boxed()
    }
    fn mutate(s: &Causal<ORHash>, dot: Dot, hlc: Hlc, op: &HashOp) -> Vec<Causal<ORHash>> {
        let mut ctx = CausalContext::new();
        let mut d = ORHash::default();
        match op {
            HashOp::Set(f, v) => {
                s.store
                    .set_into(&mut d, f, dot, hlc, v.clone().into_boxed_slice(), &mut ctx)
            }
            HashOp::Del(f) => s.store.del_into(&mut d, f, &mut ctx),
            HashOp::Incr(f, i) => s.store.incr_into(&mut d, f, dot, *i, 0.0, &mut ctx),
            HashOp::IncrF(f, x) => s.store.incr_into(&mut d, f, dot, 0, *x, &mut ctx),
            HashOp::Clear => d = s.store.remove_all_delta(&mut ctx),
        }
        vec![Causal { store: d, ctx }]
    }
    fn join_delta(s: &mut Causal<ORHash>, d: &Causal<ORHash>) {
        s.store.join_delta(&s.ctx, &d.store, &d.ctx);
        s.ctx.join(&d.ctx);
    }
    fn observe(s: &Causal<ORHash>) -> BTreeMap<Vec<u8>, Vec<u8>> {
        s.store
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_bytes().into_owned()))
            .collect()
    }
    fn gc(s: &mut Causal<ORHash>, stable: &VersionVector) {
        s.store.gc(stable)
    }
}

/// Sorted-set ops.
#[derive(Clone, Debug)]
pub enum ZOp {
    /// ZADD
    Add(Vec<u8>, f64),
    /// ZINCRBY
    Incr(Vec<u8>, f64),
    /// ZREM
    Rem(Vec<u8>),
    /// DEL
    Clear,
}

/// `ZSet`.
pub struct Zset;
impl CausalSubject for Zset {
    type T = ZSet;
    type Op = ZOp;
    type Obs = BTreeMap<Vec<u8>, u64>;
    fn ops() -> BoxedStrategy<ZOp> {
        prop_oneof![
            3 => (member(), half()).prop_map(|(m, s)| ZOp::Add(m, s)),
            3 => (member(), half()).prop_map(|(m, s)| ZOp::Incr(m, s)),
            2 => member().prop_map(ZOp::Rem),
            1 => Just(ZOp::Clear),
        ]
        .boxed()
    }
    fn mutate(s: &Causal<ZSet>, dot: Dot, hlc: Hlc, op: &ZOp) -> Vec<Causal<ZSet>> {
        let mut ctx = CausalContext::new();
        let mut d = ZSet::default();
        match op {
            ZOp::Add(m, sc) => s.store.add_into(&mut d, m, dot, hlc, *sc, &mut ctx),
            ZOp::Incr(m, by) => s.store.incr_into(&mut d, m, dot, *by, &mut ctx),
            ZOp::Rem(m) => s.store.rem_into(&mut d, m, &mut ctx),
            ZOp::Clear => d = s.store.remove_all_delta(&mut ctx),
        }
        vec![Causal { store: d, ctx }]
    }
    fn join_delta(s: &mut Causal<ZSet>, d: &Causal<ZSet>) {
        s.store.join_delta(&s.ctx, &d.store, &d.ctx);
        s.ctx.join(&d.ctx);
    }
    fn observe(s: &Causal<ZSet>) -> BTreeMap<Vec<u8>, u64> {
        s.store
            .iter()
            .map(|(k, v)| (k.to_vec(), server::score_bits(v)))
            .collect()
    }
    fn gc(s: &mut Causal<ZSet>, stable: &VersionVector) {
        s.store.gc(stable)
    }
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    (0u8..3).prop_map(|m| vec![b'x' + m])
}

/// List ops (one element per push: see the module docs).
pub fn list_cmd_one() -> BoxedStrategy<Cmd> {
    prop_oneof![
        3 => (any::<bool>(), value()).prop_map(|(h, v)| Cmd::Push(h, vec![v])),
        2 => (any::<bool>(), 1usize..3).prop_map(|(h, n)| Cmd::Pop(h, n)),
        1 => (any::<bool>(), value(), value()).prop_map(|(b, p, v)| Cmd::LInsert(b, p, v)),
        1 => (-3i64..3, value()).prop_map(|(i, v)| Cmd::LSet(i, v)),
        1 => (-2i64..3, value()).prop_map(|(n, v)| Cmd::LRem(n, v)),
        1 => (-3i64..3, -3i64..3).prop_map(|(a, b)| Cmd::LTrim(a, b)),
    ]
    .boxed()
}

/// List ops with multi-element pushes (one dot for several elements).
pub fn list_cmd_multi() -> BoxedStrategy<Cmd> {
    prop_oneof![
        3 => list_cmd_one(),
        2 => (any::<bool>(), proptest::collection::vec(value(), 2..4)).prop_map(|(h, v)| Cmd::Push(h, v)),
    ]
    .boxed()
}

/// `List` through the miniature server's list commands (without the key envelope).
pub struct Seq;
impl CausalSubject for Seq {
    type T = List;
    type Op = Cmd;
    type Obs = Vec<Vec<u8>>;
    fn ops() -> BoxedStrategy<Cmd> {
        prop_oneof![
            5 => list_cmd_one(),
            1 => Just(Cmd::Del),
        ]
        .boxed()
    }
    fn mutate(s: &Causal<List>, dot: Dot, _hlc: Hlc, op: &Cmd) -> Vec<Causal<List>> {
        let l = &s.store;
        let mut d = List::default();
        let mut ctx = CausalContext::new();
        match op {
            Cmd::Push(h, vs) => l
                .push_into(
                    &mut d,
                    *h,
                    vs.iter().map(|v| v.clone().into_boxed_slice()),
                    dot,
                    &mut ctx,
                )
                .expect("shallow"),
            Cmd::Pop(h, n) => {
                for k in 0..(*n).min(l.len()) {
                    let i = if *h { k } else { l.len() - 1 - k };
                    l.remove_at_into(&mut d, i);
                }
            }
            Cmd::LInsert(before, p, v) => {
                if let Some(i) = l.iter().position(|x| **x == p[..]) {
                    let at = if *before { i } else { i + 1 };
                    l.insert_at_into(&mut d, at, v.clone().into_boxed_slice(), dot, &mut ctx)
                        .expect("shallow");
                }
            }
            Cmd::LSet(i, v) => {
                if let Some(i) = server::norm_index(*i, l.len()) {
                    l.set_into(&mut d, i, v.clone().into_boxed_slice(), dot, &mut ctx)
                        .expect("shallow");
                }
            }
            Cmd::LRem(_, v) => {
                for i in 0..l.len() {
                    if l.get(i).is_some_and(|x| **x == v[..]) {
                        l.remove_at_into(&mut d, i);
                    }
                }
            }
            Cmd::LTrim(a, _) => {
                let keep = server::norm_index(*a, l.len()).unwrap_or(0);
                for i in (keep + 1)..l.len() {
                    l.remove_at_into(&mut d, i);
                }
            }
            Cmd::Del => d = l.remove_all_delta(&mut ctx),
            _ => unreachable!(),
        }
        vec![Causal { store: d, ctx }]
    }
    fn join_delta(s: &mut Causal<List>, d: &Causal<List>) {
        s.store.join_delta(&s.ctx, &d.store, &d.ctx);
        s.ctx.join(&d.ctx);
    }
    fn observe(s: &Causal<List>) -> Vec<Vec<u8>> {
        s.store.iter().map(|v| v.to_vec()).collect()
    }
    fn gc(s: &mut Causal<List>, stable: &VersionVector) {
        s.store.gc(stable)
    }
}

/// HyperLogLog ops.
#[derive(Clone, Debug)]
pub enum HllOp {
    /// PFADD of elements.
    Add(Vec<Vec<u8>>),
    /// DEL.
    Del,
}

/// `Hll`.
pub struct HyperLogLog;
impl CausalSubject for HyperLogLog {
    type T = Hll;
    type Op = HllOp;
    type Obs = Vec<(usize, u8)>;
    fn ops() -> BoxedStrategy<HllOp> {
        prop_oneof![
            4 => proptest::collection::vec((0u16..200).prop_map(|i| i.to_le_bytes().to_vec()), 0..4).prop_map(HllOp::Add),
            1 => Just(HllOp::Del),
        ]
        .boxed()
    }
    fn mutate(s: &Causal<Hll>, dot: Dot, _hlc: Hlc, op: &HllOp) -> Vec<Causal<Hll>> {
        let mut ctx = CausalContext::new();
        let store = match op {
            HllOp::Add(es) => {
                let mut add = Registers::default();
                for e in es {
                    add.add(e);
                }
                s.store.raise_delta(&add, dot, &mut ctx).unwrap_or_default()
            }
            HllOp::Del => s.store.remove_all_delta(&mut ctx),
        };
        vec![Causal { store, ctx }]
    }
    fn observe(s: &Causal<Hll>) -> Vec<(usize, u8)> {
        s.store.registers().nonzero().collect()
    }
}

/// Single-element commands on one key (every slot type, expiry, deletes).
pub fn key_cmd() -> BoxedStrategy<Cmd> {
    prop_oneof![
        2 => str_value().prop_map(Cmd::Set),
        2 => (-3i64..4).prop_map(Cmd::IncrBy),
        1 => half().prop_map(Cmd::IncrByFloat),
        2 => member().prop_map(|m| Cmd::SAdd(vec![m])),
        2 => member().prop_map(|m| Cmd::SRem(vec![m])),
        2 => (member(), str_value()).prop_map(|(f, v)| Cmd::HSet(vec![(f, v)])),
        1 => member().prop_map(|f| Cmd::HDel(vec![f])),
        1 => (member(), -3i64..4).prop_map(|(f, i)| Cmd::HIncrBy(f, i)),
        1 => (member(), half()).prop_map(|(f, x)| Cmd::HIncrByFloat(f, x)),
        2 => (half(), member()).prop_map(|(s, m)| Cmd::ZAdd(vec![(s, m)])),
        1 => (half(), member()).prop_map(|(s, m)| Cmd::ZIncrBy(s, m)),
        1 => member().prop_map(|m| Cmd::ZRem(vec![m])),
        2 => Just(Cmd::Del),
        2 => (1u64..6).prop_map(|t| Cmd::ExpireAt(t * 10_000)),
        1 => Just(Cmd::Persist),
        6 => list_cmd_one(),
        2 => proptest::collection::vec(value(), 0..3).prop_map(Cmd::PfAdd),
        3 => Strm::ops().prop_map(Cmd::Stream),
    ]
    .boxed()
}

/// The key envelope.
pub struct KeyEnv;
impl CausalSubject for KeyEnv {
    type T = Key;
    type Op = Cmd;
    type Obs = Option<(VObs, Option<u64>)>;
    fn ops() -> BoxedStrategy<Cmd> {
        key_cmd()
    }
    fn mutate(s: &Causal<Key>, dot: Dot, hlc: Hlc, op: &Cmd) -> Vec<Causal<Key>> {
        server::key_cmd(&s.store, dot, hlc, op)
    }
    fn join_delta(s: &mut Causal<Key>, d: &Causal<Key>) {
        s.store.join_delta(&s.ctx, &d.store, &d.ctx);
        s.ctx.join(&d.ctx);
    }
    fn observe(s: &Causal<Key>) -> Self::Obs {
        obs_key(&s.store)
    }
    fn gc(s: &mut Causal<Key>, stable: &VersionVector) {
        s.store.gc(stable)
    }
}

/// Multi-member commands (a server's SADD/HSET/ZADD with several members share one dot).
fn multi_cmd() -> BoxedStrategy<Cmd> {
    fn members() -> BoxedStrategy<Vec<Vec<u8>>> {
        proptest::collection::btree_set(member(), 1..3)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>())
            .boxed()
    }
    prop_oneof![
        6 => key_cmd(),
        1 => members().prop_map(Cmd::SAdd),
        1 => members().prop_map(Cmd::SRem),
        1 => (members(), str_value()).prop_map(|(fs, v)| Cmd::HSet(fs.into_iter().map(|f| (f, v.clone())).collect())),
        1 => members().prop_map(Cmd::HDel),
        1 => (members(), half()).prop_map(|(ms, s)| Cmd::ZAdd(ms.into_iter().map(|m| (s, m)).collect())),
        1 => members().prop_map(Cmd::ZRem),
        2 => list_cmd_multi(),
    ]
    .boxed()
}

/// `Keyspace` through `OpDelta`: each op is one or two commands on distinct keys (MSET /
/// MULTI-like), over two databases and three keys.
pub struct Space;
impl Subject for Space {
    type State = Keyspace;
    type Delta = OpDelta;
    type Op = Vec<(u8, Vec<u8>, Cmd)>;
    type Obs = BTreeMap<(u8, Vec<u8>), (VObs, Option<u64>)>;
    fn ops() -> BoxedStrategy<Self::Op> {
        proptest::collection::vec(
            (
                (0u8..2),
                (0u8..3).prop_map(|k| vec![b'k', b'0' + k]),
                multi_cmd(),
            ),
            1..3,
        )
        .boxed()
    }
    fn empty() -> Keyspace {
        Keyspace::new()
    }
    fn mutate(s: &Keyspace, region: RegionId, hlc: Hlc, op: &Self::Op) -> Option<OpDelta> {
        server::op(s, region, hlc, op)
    }
    fn apply(s: &mut Keyspace, d: &OpDelta) {
        s.apply(d)
    }
    fn apply_full(_s: &mut Keyspace, _d: &OpDelta) -> bool {
        false
    }
    fn merge(s: &mut Keyspace, o: &Keyspace) {
        s.merge(o)
    }
    fn observe(s: &Keyspace) -> Self::Obs {
        obs_keyspace(s, 2)
    }
    fn gc(s: &mut Keyspace, stable: &VersionVector) {
        s.gc(stable)
    }
    fn applied(s: &Keyspace) -> VersionVector {
        s.applied().clone()
    }
    fn op_dot(d: &OpDelta) -> Option<Dot> {
        Some(d.dot)
    }
    const CAUSAL: bool = true;
}

/// What a reader sees of a stream: entries `(id, dot, fields)` and the bookkeeping.
pub type StreamObs = (
    Vec<(String, Dot, Vec<(Vec<u8>, Vec<u8>)>)>,
    Option<(String, u64, String)>,
);

/// `Stream`: entries, deletes, trims, bookkeeping, DEL.
pub struct Strm;
impl CausalSubject for Strm {
    type T = crdt::stream::Stream;
    type Op = StreamOp;
    type Obs = StreamObs;
    fn ops() -> BoxedStrategy<StreamOp> {
        prop_oneof![
            5 => (0u8..3).prop_map(StreamOp::AddAuto),
            2 => (1u64..3, 0u64..2, 0u8..3).prop_map(|(m, s, v)| StreamOp::AddExplicit(m, s, v)),
            2 => any::<usize>().prop_map(StreamOp::Del),
            1 => (0usize..3).prop_map(StreamOp::TrimMaxLen),
            1 => any::<usize>().prop_map(StreamOp::TrimMinId),
            1 => (0u64..3).prop_map(StreamOp::SetId),
            1 => Just(StreamOp::Clear),
        ]
        .boxed()
    }
    fn mutate(
        s: &Causal<crdt::stream::Stream>,
        dot: Dot,
        hlc: Hlc,
        op: &StreamOp,
    ) -> Vec<Causal<crdt::stream::Stream>> {
        match stream_cmd(&s.store, dot, hlc, op) {
            Some((store, ctx)) => vec![Causal { store, ctx }],
            None => Vec::new(),
        }
    }
    fn join_delta(s: &mut Causal<crdt::stream::Stream>, d: &Causal<crdt::stream::Stream>) {
        s.store.join_delta(&s.ctx, &d.store, &d.ctx);
        s.ctx.join(&d.ctx);
    }
    fn observe(s: &Causal<crdt::stream::Stream>) -> Self::Obs {
        let entries = s
            .store
            .entries()
            .map(|e| {
                (
                    e.id.to_string(),
                    e.dot,
                    e.fields
                        .pairs()
                        .map(|(f, v)| (f.to_vec(), v.to_vec()))
                        .collect(),
                )
            })
            .collect();
        let meta = s.store.is_present().then(|| {
            let m = s.store.meta();
            (m.last.to_string(), m.added, m.max_deleted.to_string())
        });
        (entries, meta)
    }
    fn gc(s: &mut Causal<crdt::stream::Stream>, stable: &VersionVector) {
        s.store.gc(stable)
    }
}
