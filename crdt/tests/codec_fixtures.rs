//! Codec fixture tests: the wire/disk format of `crdt::codec` is pinned byte for byte.
//!
//! A deterministic scenario (fixed regions, dots and HLCs; only the crate's public
//! mutators) builds representative op deltas and full key states. Each value is encoded
//! and compared with `tests/fixtures/<name>.hex` (hex text, 32 bytes per line; lines
//! starting with `#` are comments). A mismatch means the encoding changed: either a bug,
//! or a deliberate format change, which must bump `codec::FORMAT_VERSION` (old blobs
//! stay readable or are migrated) before the fixtures are re-blessed.
//!
//! Re-bless (rewrite every fixture from the current encoder) with:
//!
//! ```text
//! MERIDIAN_BLESS=1 cargo test -p meridian-crdt --test codec_fixtures
//! ```
//!
//! and commit the changed `.hex` files together with the format change.
//!
//! The other tests here check that every fixture decodes to a value equal to the rebuilt
//! one, that encoding does not depend on hash-map iteration order, and that malformed
//! input (truncated, garbage, wrong magic / kind / version, trailing bytes) is refused
//! with the right typed [`CodecError`] and never panics.

use crdt::codec::{self, CodecError, FORMAT_VERSION};
use crdt::context::{Causal, CausalContext};
use crdt::dotset::DotFun;
use crdt::field::Field;
use crdt::hash::ORHash;
use crdt::hll::{Hll, Registers};
use crdt::key::{Coll, Key, Kind, Value};
use crdt::list::List;
use crdt::set::ORSet;
use crdt::stream::{Fields, Stream, StreamId};
use crdt::zset::ZSet;
use crdt::{Dot, Hlc, KeyDelta, Keyspace, OpDelta, RegionId};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------
// Deterministic scenario
// ---------------------------------------------------------------------------------------

/// A fixture value.
#[derive(Clone, Debug, PartialEq)]
enum Blob {
    Op(OpDelta),
    Key(Key),
}

impl Blob {
    fn encode(&self) -> Vec<u8> {
        match self {
            Blob::Op(o) => codec::encode_op(o),
            Blob::Key(k) => codec::encode_key(k),
        }
    }
    fn decode_same_kind(&self, b: &[u8]) -> Result<Blob, CodecError> {
        match self {
            Blob::Op(_) => codec::decode_op(b).map(Blob::Op),
            Blob::Key(_) => codec::decode_key(b).map(Blob::Key),
        }
    }
}

struct Fixture {
    name: &'static str,
    what: &'static str,
    value: Blob,
}

/// Base wall-clock time of the scenario (fixed, Unix ms).
const T0: u64 = 1_700_000_000_000;

/// A replica issuing ops with fixed, increasing HLCs.
struct Replica {
    region: RegionId,
    ks: Keyspace,
    ms: u64,
}

impl Replica {
    fn new(region: RegionId) -> Replica {
        Replica {
            region,
            ks: Keyspace::new(),
            ms: T0 + region as u64 * 100,
        }
    }

    fn key(&self, k: &[u8]) -> Option<&Key> {
        self.ks.get(0, k)
    }

    /// Builds one op touching `keys` (in db 0): `f` gets the key's current state, the
    /// op's dot and HLC, and the delta context, and returns the key delta. The op is
    /// applied locally before it is returned.
    fn op(
        &mut self,
        keys: &[&[u8]],
        mut f: impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key,
    ) -> OpDelta {
        self.ms += 1;
        let dot = self.ks.peek_dot(self.region);
        let hlc = Hlc::new(self.ms, 0, self.region);
        let kds = keys
            .iter()
            .map(|k| {
                let mut dctx = CausalContext::new();
                let store = f(k, self.ks.get(0, k), dot, hlc, &mut dctx);
                KeyDelta {
                    db: 0,
                    key: (*k).into(),
                    delta: Causal { store, ctx: dctx },
                }
            })
            .collect();
        let op = OpDelta {
            dot,
            hlc,
            keys: kds,
        };
        self.ks.apply(&op);
        op
    }
}

fn str_field(k: Option<&Key>) -> Field<crdt::Bytes> {
    match k.and_then(|k| k.slot(Kind::String)) {
        Some(Value::Str(f)) => f.clone(),
        _ => Field::Empty,
    }
}

fn set_write(
    v: &[u8],
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key + '_ {
    move |_, cur, dot, hlc, dctx| {
        let f = str_field(cur).write_delta(dot, hlc, v.into(), dctx);
        Key::from_value(Value::Str(f))
    }
}

fn incr(by: i64) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, hlc, dctx| {
        let fresh = cur.and_then(|k| k.slot(Kind::String)).is_none();
        let mut f = str_field(cur).incr_delta(dot, by, 0.0, dctx);
        if fresh {
            f = f.with_created(dot, hlc);
        }
        Key::from_value(Value::Str(f))
    }
}

/// The collection slot of `kind` in `cur`, if any.
fn coll<T>(
    cur: Option<&Key>,
    kind: Kind,
    get: impl Fn(&Value) -> Option<&Coll<T>>,
) -> Option<&Coll<T>> {
    cur.and_then(|k| k.slot(kind)).and_then(get)
}

/// Creation stamps of a collection write: a new stamp when the key is new, otherwise
/// the creation HLC carried over if the write removes the creating op's dot.
fn stamps<T: crdt::DotStore>(
    c: Option<&Coll<T>>,
    dot: Dot,
    hlc: Hlc,
    dctx: &mut CausalContext,
) -> DotFun<Hlc> {
    match c {
        Some(c) => c.carry_created(dot, dctx),
        None => DotFun::one(dot, hlc),
    }
}

fn set_of(v: &Value) -> Option<&Coll<ORSet>> {
    match v {
        Value::Set(c) => Some(c),
        _ => None,
    }
}
fn hash_of(v: &Value) -> Option<&Coll<ORHash>> {
    match v {
        Value::Hash(c) => Some(c),
        _ => None,
    }
}
fn zset_of(v: &Value) -> Option<&Coll<ZSet>> {
    match v {
        Value::ZSet(c) => Some(c),
        _ => None,
    }
}

fn sadd<'a>(
    members: &'a [&'static str],
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key + 'a {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::Set, set_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut d = ORSet::default();
        for m in members {
            data.add_into(&mut d, m.as_bytes(), dot, dctx);
        }
        let created = stamps(c, dot, hlc, dctx);
        Key::from_value(Value::Set(Box::new(Coll { created, data: d })))
    }
}

fn srem(
    member: &'static str,
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::Set, set_of).expect("SREM of an existing set");
        let d = c.data.rem_delta(member.as_bytes(), dctx);
        let created = stamps(Some(c), dot, hlc, dctx);
        Key::from_value(Value::Set(Box::new(Coll { created, data: d })))
    }
}

fn hset<'a>(
    pairs: &'a [(&'static str, &'static str)],
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key + 'a {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::Hash, hash_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut d = ORHash::default();
        for (f, v) in pairs {
            data.set_into(&mut d, f.as_bytes(), dot, hlc, v.as_bytes().into(), dctx);
        }
        let created = stamps(c, dot, hlc, dctx);
        Key::from_value(Value::Hash(Box::new(Coll { created, data: d })))
    }
}

fn hincrbyfloat(
    field: &'static str,
    by: f64,
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::Hash, hash_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut d = ORHash::default();
        data.incr_into(&mut d, field.as_bytes(), dot, 0, by, dctx);
        let created = stamps(c, dot, hlc, dctx);
        Key::from_value(Value::Hash(Box::new(Coll { created, data: d })))
    }
}

fn zadd<'a>(
    pairs: &'a [(f64, &'static str)],
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key + 'a {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::ZSet, zset_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut d = ZSet::default();
        for (s, m) in pairs {
            data.add_into(&mut d, m.as_bytes(), dot, hlc, *s, dctx);
        }
        let created = stamps(c, dot, hlc, dctx);
        Key::from_value(Value::ZSet(Box::new(Coll { created, data: d })))
    }
}

fn zincrby(
    by: f64,
    member: &'static str,
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::ZSet, zset_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut d = ZSet::default();
        data.incr_into(&mut d, member.as_bytes(), dot, by, dctx);
        let created = stamps(c, dot, hlc, dctx);
        Key::from_value(Value::ZSet(Box::new(Coll { created, data: d })))
    }
}

fn list_of(v: &Value) -> Option<&Coll<List>> {
    match v {
        Value::List(c) => Some(c),
        _ => None,
    }
}

/// A list write: `f` gets the current list and fills the delta.
fn list_op(
    f: impl Fn(&List, &mut List, Dot, &mut CausalContext),
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::List, list_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut d = List::default();
        f(&data, &mut d, dot, dctx);
        let created = stamps(c, dot, hlc, dctx);
        Key::from_value(Value::List(Box::new(Coll { created, data: d })))
    }
}

fn hll_of(v: &Value) -> Option<&Coll<Hll>> {
    match v {
        Value::Hll(c) => Some(c),
        _ => None,
    }
}

fn pfadd(
    n: std::ops::Range<u32>,
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::Hll, hll_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut add = Registers::default();
        for i in n.clone() {
            add.add(format!("e{i}").as_bytes());
        }
        let d = data.raise_delta(&add, dot, dctx).expect("registers go up");
        let created = stamps(c, dot, hlc, dctx);
        Key::from_value(Value::Hll(Box::new(Coll { created, data: d })))
    }
}

fn stream_of(v: &Value) -> Option<&Coll<Stream>> {
    match v {
        Value::Stream(c) => Some(c),
        _ => None,
    }
}

/// A stream write issued with the op's dot (entries) and the next dot (the bookkeeping
/// record and creation stamp): `f` gets the current stream, the delta, both dots.
fn stream_op(
    f: impl Fn(&Stream, &mut Stream, Dot, Dot, &mut CausalContext),
) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, hlc, dctx| {
        let c = coll(cur, Kind::Stream, stream_of);
        let data = c.map(|c| c.data.clone()).unwrap_or_default();
        let mut d = Stream::default();
        let mdot = Dot::new(dot.region(), dot.seq() + 1);
        f(&data, &mut d, dot, mdot, dctx);
        dctx.insert(dot);
        let created = stamps(c, mdot, hlc, dctx);
        Key::from_value(Value::Stream(Box::new(Coll { created, data: d })))
    }
}

fn xadd(
    s: &Stream,
    d: &mut Stream,
    dot: Dot,
    mdot: Dot,
    c: &mut CausalContext,
    pairs: &[(&[u8], &[u8])],
) {
    let id = StreamId::generate(T0 + 500, s.meta().last, dot.region()).unwrap();
    s.add_into(d, id, Fields::new(pairs.iter().copied()), dot, c);
    s.meta_into(
        d,
        dot.region(),
        mdot,
        |m| {
            m.last = m.last.max(id);
            m.added += 1;
        },
        c,
    );
}

fn del(_: &[u8], cur: Option<&Key>, _: Dot, _: Hlc, dctx: &mut CausalContext) -> Key {
    cur.expect("DEL of an existing key").remove_delta(dctx)
}

fn expire(at_ms: u64) -> impl FnMut(&[u8], Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key {
    move |_, cur, dot, _, dctx| {
        cur.expect("EXPIRE of an existing key")
            .expire_delta(at_ms, dot, dctx)
    }
}

fn persist(_: &[u8], cur: Option<&Key>, dot: Dot, _: Hlc, dctx: &mut CausalContext) -> Key {
    cur.expect("PERSIST of an existing key")
        .persist_delta(dot, dctx)
}

/// The whole scenario. Region 1 issues most ops; region 2 writes concurrently to build a
/// counter with two regions' contributions and a type conflict.
fn fixtures() -> Vec<Fixture> {
    let mut r1 = Replica::new(1);
    let mut r2 = Replica::new(2);
    let mut out = Vec::new();
    let mut op = |name, what, op: OpDelta| {
        out.push(Fixture {
            name,
            what,
            value: Blob::Op(op),
        })
    };

    op(
        "op_set",
        "SET str hello (new key)",
        r1.op(&[b"str"], set_write(b"hello")),
    );
    op(
        "op_set_overwrite",
        "SET str world (replaces the observed write)",
        r1.op(&[b"str"], set_write(b"world")),
    );
    let key_string = r1.key(b"str").unwrap().clone();
    op(
        "op_mset",
        "MSET a 1 b 2 (two keys, one dot)",
        r1.op(&[b"a", b"b"], |k, cur, dot, hlc, dctx| {
            let v: &[u8] = if k == b"a" { b"1" } else { b"2" };
            Key::from_value(Value::Str(str_field(cur).write_delta(
                dot,
                hlc,
                v.into(),
                dctx,
            )))
        }),
    );
    op(
        "op_incr",
        "INCR ctr (new key: creation stamp)",
        r1.op(&[b"ctr"], incr(1)),
    );
    // Region 2 increments ctr concurrently (it has not seen region 1's INCR).
    let r2_incr = r2.op(&[b"ctr"], incr(5));
    r1.ks.apply(&r2_incr);
    op(
        "op_incr_existing",
        "INCR ctr (existing counter)",
        r1.op(&[b"ctr"], incr(1)),
    );
    let key_counter = r1.key(b"ctr").unwrap().clone();

    op(
        "op_sadd",
        "SADD set a b c (new key)",
        r1.op(&[b"set"], sadd(&["a", "b", "c"])),
    );
    op("op_srem", "SREM set b", r1.op(&[b"set"], srem("b")));
    let key_set = r1.key(b"set").unwrap().clone();

    op(
        "op_hset",
        "HSET hash f1 v1 f2 v2 (new key)",
        r1.op(&[b"hash"], hset(&[("f1", "v1"), ("f2", "v2")])),
    );
    op(
        "op_hincrbyfloat",
        "HINCRBYFLOAT hash f3 1.5",
        r1.op(&[b"hash"], hincrbyfloat("f3", 1.5)),
    );
    let key_hash = r1.key(b"hash").unwrap().clone();

    op(
        "op_zadd",
        "ZADD zset 1 m1 2.5 m2 (new key)",
        r1.op(&[b"zset"], zadd(&[(1.0, "m1"), (2.5, "m2")])),
    );
    op(
        "op_zincrby",
        "ZINCRBY zset 2 m1",
        r1.op(&[b"zset"], zincrby(2.0, "m1")),
    );
    let key_zset = r1.key(b"zset").unwrap().clone();

    op(
        "op_expire",
        "PEXPIREAT str T0+100000",
        r1.op(&[b"str"], expire(T0 + 100_000)),
    );
    let key_expiry = r1.key(b"str").unwrap().clone();
    op(
        "op_expire_hash",
        "PEXPIREAT hash T0+200000",
        r1.op(&[b"hash"], expire(T0 + 200_000)),
    );
    op("op_persist", "PERSIST hash", r1.op(&[b"hash"], persist));
    let key_persist = r1.key(b"hash").unwrap().clone();

    // Type conflict: region 1 SETs tc while region 2 concurrently SADDs to it.
    let _ = r1.op(&[b"tc"], set_write(b"x"));
    let r2_sadd = r2.op(&[b"tc"], sadd(&["m"]));
    r1.ks.apply(&r2_sadd);
    let key_type_conflict = r1.key(b"tc").unwrap().clone();
    assert_eq!(key_type_conflict.slots().count(), 2, "two slots");

    op(
        "op_del_string",
        "DEL str (with a TTL)",
        r1.op(&[b"str"], del),
    );
    op(
        "op_del_counter",
        "DEL ctr (counter from two regions)",
        r1.op(&[b"ctr"], del),
    );
    op("op_del_set", "DEL set", r1.op(&[b"set"], del));
    op("op_del_hash", "DEL hash", r1.op(&[b"hash"], del));
    op("op_del_zset", "DEL zset", r1.op(&[b"zset"], del));
    op(
        "op_del_type_conflict",
        "DEL tc (two slots)",
        r1.op(&[b"tc"], del),
    );

    // Lists (after every older fixture's op, so their dots are unchanged).
    op(
        "op_rpush",
        "RPUSH list a b c (new key)",
        r1.op(
            &[b"list"],
            list_op(|l, d, dot, c| {
                l.push_into(d, false, [&b"a"[..], b"b", b"c"].map(Into::into), dot, c)
                    .unwrap()
            }),
        ),
    );
    op(
        "op_lpush",
        "LPUSH list z",
        r1.op(
            &[b"list"],
            list_op(|l, d, dot, c| l.push_into(d, true, [b"z"[..].into()], dot, c).unwrap()),
        ),
    );
    op(
        "op_linsert",
        "LINSERT list AFTER a m",
        r1.op(
            &[b"list"],
            list_op(|l, d, dot, c| {
                l.insert_at_into(d, 2, b"m"[..].into(), dot, c).unwrap();
            }),
        ),
    );
    op(
        "op_lpop",
        "LPOP list",
        r1.op(&[b"list"], list_op(|l, d, _, _| l.remove_at_into(d, 0))),
    );
    op(
        "op_lset",
        "LSET list -1 C",
        r1.op(
            &[b"list"],
            list_op(|l, d, dot, c| l.set_into(d, l.len() - 1, b"C"[..].into(), dot, c).unwrap()),
        ),
    );
    let key_list = r1.key(b"list").unwrap().clone();
    // Region 2 pushes onto the same list concurrently; region 1 merges it.
    let r2_push = r2.op(
        &[b"list"],
        list_op(|l, d, dot, c| l.push_into(d, false, [b"r2"[..].into()], dot, c).unwrap()),
    );
    r1.ks.apply(&r2_push);
    let key_list_two_regions = r1.key(b"list").unwrap().clone();
    op("op_del_list", "DEL list", r1.op(&[b"list"], del));

    // HyperLogLog (after the lists).
    op(
        "op_pfadd",
        "PFADD hll e0..e9 (new key, sparse)",
        r1.op(&[b"hll"], pfadd(0..10)),
    );
    op(
        "op_pfadd_existing",
        "PFADD hll e10..e14 (raised registers only)",
        r1.op(&[b"hll"], pfadd(10..15)),
    );
    let key_hll_sparse = r1.key(b"hll").unwrap().clone();
    let _ = r1.op(&[b"hll"], pfadd(15..3000));
    let key_hll_dense = r1.key(b"hll").unwrap().clone();
    op("op_del_hll", "DEL hll", r1.op(&[b"hll"], del));

    // Streams (after the HyperLogLogs).
    op(
        "op_xadd",
        "XADD stream * f1 v1 f2 v2 (new key)",
        r1.op(
            &[b"stream"],
            stream_op(|s, d, dot, mdot, c| {
                xadd(s, d, dot, mdot, c, &[(b"f1", b"v1"), (b"f2", b"v2")])
            }),
        ),
    );
    op(
        "op_xadd_existing",
        "XADD stream * f v (same millisecond: seq 257)",
        r1.op(
            &[b"stream"],
            stream_op(|s, d, dot, mdot, c| xadd(s, d, dot, mdot, c, &[(b"f", b"v")])),
        ),
    );
    let _ = r1.op(
        &[b"stream"],
        stream_op(|s, d, dot, mdot, c| xadd(s, d, dot, mdot, c, &[(b"g", b"w")])),
    );
    op(
        "op_xdel",
        "XDEL stream <first id>",
        r1.op(
            &[b"stream"],
            stream_op(|s, d, _, mdot, c| {
                let id = s.first().unwrap().id;
                s.remove_id_into(d, id);
                s.meta_into(d, 1, mdot, |m| m.max_deleted = m.max_deleted.max(id), c);
            }),
        ),
    );
    let r2_xadd = r2.op(
        &[b"stream"],
        stream_op(|s, d, dot, mdot, c| xadd(s, d, dot, mdot, c, &[(b"r2", b"x")])),
    );
    r1.ks.apply(&r2_xadd);
    let key_stream = r1.key(b"stream").unwrap().clone();
    op("op_del_stream", "DEL stream", r1.op(&[b"stream"], del));

    let mut key = |name, what, k: Key| {
        out.push(Fixture {
            name,
            what,
            value: Blob::Key(k),
        })
    };
    key("key_string", "string key, one write", key_string);
    key("key_string_expiry", "string key with a TTL", key_expiry);
    key(
        "key_counter",
        "string counter, increments from two regions",
        key_counter,
    );
    key("key_set", "set {a, c}", key_set);
    key("key_hash", "hash f1 f2 and a float counter field", key_hash);
    key(
        "key_hash_persist",
        "hash after EXPIRE then PERSIST",
        key_persist,
    );
    key("key_zset", "zset m1 (score + increment) and m2", key_zset);
    key(
        "key_type_conflict",
        "string and set slots",
        key_type_conflict,
    );
    key("key_empty", "the bottom key", Key::default());
    key(
        "key_hll_sparse",
        "HyperLogLog of 15 elements (sparse)",
        key_hll_sparse,
    );
    key(
        "key_hll_dense",
        "HyperLogLog of 3000 elements (dense, 12 KiB)",
        key_hll_dense,
    );
    key(
        "key_list",
        "list a m b C (after pushes, insert, pop, set)",
        key_list,
    );
    key(
        "key_list_two_regions",
        "list with a concurrent push from region 2 (two creation stamps)",
        key_list_two_regions,
    );
    key(
        "key_stream",
        "stream of two entries from region 1 (one deleted) and one from region 2",
        key_stream,
    );
    out
}

// ---------------------------------------------------------------------------------------
// Hex fixture files
// ---------------------------------------------------------------------------------------

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn to_hex_file(what: &str, b: &[u8]) -> String {
    let mut s = format!(
        "# {what}\n# format version {FORMAT_VERSION}, {} bytes\n",
        b.len()
    );
    for chunk in b.chunks(32) {
        for x in chunk {
            s.push_str(&format!("{x:02x}"));
        }
        s.push('\n');
    }
    s
}

fn from_hex_file(s: &str) -> Vec<u8> {
    let hex: String = s
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex.as_bytes()
        .chunks(2)
        .map(|c| {
            assert_eq!(c.len(), 2, "odd number of hex digits");
            let c = std::str::from_utf8(c).expect("ascii hex");
            u8::from_str_radix(c, 16).expect("hex digit")
        })
        .collect()
}

fn blessing() -> bool {
    std::env::var("MERIDIAN_BLESS").as_deref() == Ok("1")
}

/// With `MERIDIAN_BLESS=1`, rewrites every fixture file from the current encoder, once
/// per test process and before any test reads one (tests run on parallel threads).
fn bless_once() {
    static BLESSED: OnceLock<()> = OnceLock::new();
    BLESSED.get_or_init(|| {
        if blessing() {
            std::fs::create_dir_all(fixture_dir()).unwrap();
            for f in fixtures() {
                let p = fixture_dir().join(format!("{}.hex", f.name));
                std::fs::write(p, to_hex_file(f.what, &f.value.encode())).unwrap();
            }
        }
    });
}

fn read_fixture(name: &str) -> Vec<u8> {
    bless_once();
    let p = fixture_dir().join(format!("{name}.hex"));
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!("missing fixture {name}.hex ({e}); run with MERIDIAN_BLESS=1 to create it")
    });
    from_hex_file(&s)
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn encodings_match_committed_fixtures() {
    let fx = fixtures();
    let names: BTreeSet<&str> = fx.iter().map(|f| f.name).collect();
    assert_eq!(names.len(), fx.len(), "fixture names are unique");
    let mut bad = Vec::new();
    for f in &fx {
        let now = f.value.encode();
        let committed = read_fixture(f.name);
        if now != committed {
            bad.push(format!(
                "{}: encoder gives {} bytes, fixture has {} (first difference at byte {})",
                f.name,
                now.len(),
                committed.len(),
                now.iter()
                    .zip(&committed)
                    .position(|(a, b)| a != b)
                    .unwrap_or(now.len().min(committed.len()))
            ));
        }
    }
    // No stale fixture files either (a renamed or dropped value must be noticed).
    for e in std::fs::read_dir(fixture_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) == Some("hex") {
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            if !names.contains(stem.as_str()) {
                bad.push(format!("{stem}.hex: no value builds this fixture"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the encoding changed (bump codec::FORMAT_VERSION for a deliberate format change, \
         then re-bless with MERIDIAN_BLESS=1):\n{}",
        bad.join("\n")
    );
}

#[test]
fn fixtures_decode_to_the_rebuilt_values() {
    for f in fixtures() {
        let b = read_fixture(f.name);
        let got = f
            .value
            .decode_same_kind(&b)
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(got, f.value, "{}", f.name);
    }
}

#[test]
fn decoded_ops_replay_to_the_same_states() {
    // Decoding is not only structurally equal: the decoded deltas drive a replica to the
    // same key states (ops of the scenario replayed in a fresh keyspace, region 1 only).
    let fx = fixtures();
    let mut ks = Keyspace::new();
    for f in &fx {
        if let Blob::Op(o) = &f.value {
            let d = codec::decode_op(&codec::encode_op(o)).unwrap();
            ks.apply(&d);
        }
    }
    // Every key the scenario deleted is invisible. Keys that had counters (ctr, the
    // hash's HINCRBYFLOAT field, the zset's ZINCRBY) keep counter floors until GC; the
    // others are gone. The MSET keys remain.
    for k in [&b"str"[..], b"ctr", b"set", b"hash", b"zset"] {
        let vis = ks.get(0, k).and_then(|k| k.visible());
        assert!(vis.is_none(), "{}", String::from_utf8_lossy(k));
    }
    for k in [&b"str"[..], b"set"] {
        assert!(ks.get(0, k).is_none(), "{}", String::from_utf8_lossy(k));
    }
    assert!(ks.get(0, b"a").is_some() && ks.get(0, b"b").is_some());
}

#[test]
fn encoding_is_deterministic() {
    // Two independent builds of the scenario use hash maps with different random seeds
    // (so different iteration orders) and must still encode identically.
    let a = fixtures();
    let b = fixtures();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.value.encode(), y.value.encode(), "{}", x.name);
    }
    // A larger collection, rebuilt by a full-state merge into a fresh replica (inserted
    // in the source's iteration order): equal value, equal bytes.
    let mut r = Replica::new(1);
    let members: Vec<String> = (0..64).map(|i| format!("member-{i}")).collect();
    let refs: Vec<&'static str> = members
        .iter()
        .map(|s| &*Box::leak(s.clone().into_boxed_str()))
        .collect();
    let _ = r.op(&[b"big"], sadd(&refs));
    let _ = r.op(
        &[b"bigh"],
        hset(&[("x", "1"), ("y", "2"), ("z", "3"), ("w", "4")]),
    );
    for name in [&b"big"[..], b"bigh"] {
        let k = r.key(name).unwrap();
        let mut copy = Key::default();
        crdt::DotStore::join(&mut copy, &CausalContext::new(), k, r.ks.ctx());
        assert_eq!(&copy, k);
        assert_eq!(codec::encode_key(&copy), codec::encode_key(k));
    }
}

fn sample_op() -> Vec<u8> {
    read_fixture("op_sadd")
}
fn sample_key() -> Vec<u8> {
    read_fixture("key_type_conflict")
}

#[test]
fn short_input_is_truncated() {
    for n in 0..4 {
        let b = &sample_op()[..n];
        assert_eq!(codec::decode_op(b), Err(CodecError::Truncated(n)));
        assert_eq!(codec::decode_key(b), Err(CodecError::Truncated(n)));
    }
}

#[test]
fn wrong_magic_is_refused() {
    for (i, x) in [(0usize, b'X'), (1, b'x'), (0, 0)] {
        let mut b = sample_op();
        b[i] = x;
        assert_eq!(codec::decode_op(&b), Err(CodecError::BadMagic));
        let mut k = sample_key();
        k[i] = x;
        assert_eq!(codec::decode_key(&k), Err(CodecError::BadMagic));
    }
}

#[test]
fn wrong_kind_is_refused() {
    assert_eq!(
        codec::decode_key(&sample_op()),
        Err(CodecError::WrongKind {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        codec::decode_op(&sample_key()),
        Err(CodecError::WrongKind {
            expected: 1,
            found: 2
        })
    );
    for found in [0u8, 3, 255] {
        let mut b = sample_op();
        b[2] = found;
        assert_eq!(
            codec::decode_op(&b),
            Err(CodecError::WrongKind { expected: 1, found })
        );
    }
}

#[test]
fn unknown_version_is_refused() {
    for v in [0u8, FORMAT_VERSION + 1, 255] {
        let mut b = sample_op();
        b[3] = v;
        assert_eq!(codec::decode_op(&b), Err(CodecError::UnsupportedVersion(v)));
        let mut k = sample_key();
        k[3] = v;
        assert_eq!(
            codec::decode_key(&k),
            Err(CodecError::UnsupportedVersion(v))
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for extra in [&[0u8][..], &[1, 2, 3]] {
        let mut b = sample_op();
        b.extend_from_slice(extra);
        match codec::decode_op(&b) {
            Err(CodecError::Malformed(m)) => {
                assert!(m.contains(&format!("{} trailing", extra.len())), "{m}")
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
        let mut k = sample_key();
        k.extend_from_slice(extra);
        assert!(matches!(
            codec::decode_key(&k),
            Err(CodecError::Malformed(_))
        ));
    }
}

#[test]
fn every_truncated_body_is_malformed() {
    for f in fixtures() {
        let b = f.value.encode();
        for n in 4..b.len() {
            match f.value.decode_same_kind(&b[..n]) {
                Err(CodecError::Malformed(_)) => {}
                other => panic!("{} cut at {n}: expected Malformed, got {other:?}", f.name),
            }
        }
    }
}

#[test]
fn garbage_bodies_are_malformed() {
    let mut b = b"MD\x01".to_vec();
    b.push(FORMAT_VERSION);
    // A length prefix far beyond the input, then nothing.
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(
        codec::decode_op(&b),
        Err(CodecError::Malformed(_))
    ));
    let mut k = b"MD\x02".to_vec();
    k.push(FORMAT_VERSION);
    k.extend_from_slice(&[0xff; 16]);
    assert!(matches!(
        codec::decode_key(&k),
        Err(CodecError::Malformed(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random input, random input behind a valid header, and fixtures with one byte
    /// flipped: decoding returns a result (usually an error) and never panics.
    #[test]
    fn decoding_random_bytes_never_panics(
        raw in proptest::collection::vec(any::<u8>(), 0..256),
        kind in 1u8..=2,
        which in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let _ = codec::decode_op(&raw);
        let _ = codec::decode_key(&raw);

        let mut framed = vec![b'M', b'D', kind, FORMAT_VERSION];
        framed.extend_from_slice(&raw);
        let _ = codec::decode_op(&framed);
        let _ = codec::decode_key(&framed);

        let names = ["op_sadd", "op_hset", "op_zincrby", "op_del_type_conflict",
                     "key_counter", "key_type_conflict", "key_zset", "key_string_expiry",
                     "key_list_two_regions", "op_lset", "op_lpop", "op_pfadd", "key_hll_sparse"];
        let name = names[which.index(names.len())];
        let mut b = read_fixture(name);
        let i = pos.index(b.len());
        b[i] ^= flip;
        let r_op = codec::decode_op(&b);
        let r_key = codec::decode_key(&b);
        if i < 4 {
            // A damaged header is always refused by the decoder of the blob's own kind.
            let own = if name.starts_with("op_") { r_op.is_err() } else { r_key.is_err() };
            prop_assert!(own, "{name}: damaged header byte {i} accepted");
        }
    }
}
