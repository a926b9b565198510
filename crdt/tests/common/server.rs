//! A miniature server: Redis commands → key deltas, built only with the crate's public
//! mutators, the way `node/` is expected to build them.
//!
//! Rules modelled (Redis + DESIGN.md):
//! - every command issues one dot (the op's) and one HLC;
//! - a command on a key whose visible type differs fails with WRONGTYPE (no delta), except
//!   SET, which replaces any type;
//! - a write to a key that is not visible *creates* it: the key's leftover metadata is
//!   deleted (observed-remove DEL) and the new slot carries a creation stamp `(dot, hlc)`;
//! - a write to a visible key first removes hidden slots (type-conflict losers);
//! - INCR-family on a non-integer value / overflow fails (no delta);
//! - SREM/HDEL/ZREM/EXPIRE/PERSIST/DEL on an invisible key do nothing.

use crdt::context::{Causal, CausalContext};
use crdt::dotset::DotFun;
use crdt::field::Field;
use crdt::hash::ORHash;
use crdt::hll::{Hll, Registers};
use crdt::key::{Coll, Key, Kind, Value};
use crdt::keyspace::{KeyDelta, Keyspace, OpDelta};
use crdt::list::List;
use crdt::set::ORSet;
use crdt::string::{self, StrValue};
use crdt::zset::{self, ZSet};
use crdt::{Dot, Hlc, HlcClock, RegionId};
use std::collections::{BTreeMap, BTreeSet};

/// A command on one key.
#[derive(Clone, Debug, PartialEq)]
pub enum Cmd {
    /// SET k v
    Set(Vec<u8>),
    /// INCRBY k n
    IncrBy(i64),
    /// INCRBYFLOAT k f
    IncrByFloat(f64),
    /// SADD k m...
    SAdd(Vec<Vec<u8>>),
    /// SREM k m...
    SRem(Vec<Vec<u8>>),
    /// HSET k f v ... (distinct fields)
    HSet(Vec<(Vec<u8>, Vec<u8>)>),
    /// HDEL k f...
    HDel(Vec<Vec<u8>>),
    /// HINCRBY k f n
    HIncrBy(Vec<u8>, i64),
    /// HINCRBYFLOAT k f x
    HIncrByFloat(Vec<u8>, f64),
    /// ZADD k score m ... (distinct members)
    ZAdd(Vec<(f64, Vec<u8>)>),
    /// ZINCRBY k by m
    ZIncrBy(f64, Vec<u8>),
    /// ZREM k m...
    ZRem(Vec<Vec<u8>>),
    /// LPUSH k v... (true) / RPUSH k v... (false)
    Push(bool, Vec<Vec<u8>>),
    /// LPOP k n (true) / RPOP k n (false)
    Pop(bool, usize),
    /// LINSERT k BEFORE|AFTER pivot v (`true` = BEFORE)
    LInsert(bool, Vec<u8>, Vec<u8>),
    /// LSET k index v
    LSet(i64, Vec<u8>),
    /// LREM k count v
    LRem(i64, Vec<u8>),
    /// LTRIM k start stop
    LTrim(i64, i64),
    /// PFADD k e...
    PfAdd(Vec<Vec<u8>>),
    /// Stream commands (XADD, XDEL, XTRIM, XSETID; issued with two dots: see
    /// `stream_cmd`).
    Stream(StreamOp),
    /// DEL k
    Del,
    /// PEXPIREAT k ms
    ExpireAt(u64),
    /// PERSIST k
    Persist,
}

impl Cmd {
    fn kind(&self) -> Option<Kind> {
        Some(match self {
            Cmd::Set(_) | Cmd::IncrBy(_) | Cmd::IncrByFloat(_) => Kind::String,
            Cmd::SAdd(_) | Cmd::SRem(_) => Kind::Set,
            Cmd::HSet(_) | Cmd::HDel(_) | Cmd::HIncrBy(..) | Cmd::HIncrByFloat(..) => Kind::Hash,
            Cmd::ZAdd(_) | Cmd::ZIncrBy(..) | Cmd::ZRem(_) => Kind::ZSet,
            Cmd::Push(..)
            | Cmd::Pop(..)
            | Cmd::LInsert(..)
            | Cmd::LSet(..)
            | Cmd::LRem(..)
            | Cmd::LTrim(..) => Kind::List,
            Cmd::PfAdd(_) => Kind::Hll,
            Cmd::Stream(_) => Kind::Stream,
            Cmd::Del | Cmd::ExpireAt(_) | Cmd::Persist => return None,
        })
    }
}

fn causal(store: Key, ctx: CausalContext) -> Causal<Key> {
    Causal { store, ctx }
}

/// Integer value of a string field for INCRBY (`None`: not an integer → error).
fn int_of(f: Option<&Field<crdt::Bytes>>) -> Option<i128> {
    match f.and_then(string::read) {
        None => Some(0),
        Some(StrValue::Int(i)) => Some(i),
        Some(StrValue::Bytes(b)) => string::parse_i64(b).map(|i| i as i128),
        Some(StrValue::Float(_)) => None,
    }
}

/// Float value of a string field for INCRBYFLOAT (`None`: not a number → error).
fn float_of(f: Option<&Field<crdt::Bytes>>) -> Option<f64> {
    match f.and_then(string::read) {
        None => Some(0.0),
        Some(StrValue::Int(i)) => Some(i as f64),
        Some(StrValue::Float(x)) => Some(x),
        Some(StrValue::Bytes(b)) => string::parse_f64(b),
    }
}

fn add_ok(base: Option<i128>, by: i64) -> bool {
    base.is_some_and(|b| i64::try_from(b + by as i128).is_ok())
}

/// Creation stamps for a collection write: `(dot, hlc)` when the write creates the key,
/// otherwise the stamps carried by [`Coll::carry_created`].
fn stamps<T>(
    coll: &Coll<T>,
    creating: bool,
    dot: Dot,
    hlc: Hlc,
    dctx: &mut CausalContext,
) -> DotFun<Hlc>
where
    T: crdt::DotStore,
{
    if creating {
        DotFun::one(dot, hlc)
    } else {
        coll.carry_created(dot, dctx)
    }
}

/// The deltas (applied in order) of `cmd` on `key`, issued with `dot`/`hlc`. Empty when the
/// command fails or changes nothing.
pub fn key_cmd(key: &Key, dot: Dot, hlc: Hlc, cmd: &Cmd) -> Vec<Causal<Key>> {
    let vis = key.visible().map(|v| v.kind());
    let mut out = Vec::new();
    match cmd {
        Cmd::Del => {
            if vis.is_some() {
                let mut c = CausalContext::new();
                let d = key.remove_delta(&mut c);
                out.push(causal(d, c));
            }
            return out;
        }
        Cmd::ExpireAt(at) => {
            if vis.is_some() {
                let mut c = CausalContext::new();
                let d = key.expire_delta(*at, dot, &mut c);
                out.push(causal(d, c));
            }
            return out;
        }
        Cmd::Persist => {
            if vis.is_some() && key.expire_at().is_some() {
                let mut c = CausalContext::new();
                let d = key.persist_delta(dot, &mut c);
                out.push(causal(d, c));
            }
            return out;
        }
        _ => {}
    }
    let kind = cmd.kind().expect("typed command");
    if let Cmd::Set(v) = cmd {
        // SET replaces any type and clears the TTL: delete everything observed, then write.
        if !key.is_bottom() {
            let mut c = CausalContext::new();
            out.push(causal(key.remove_delta(&mut c), c));
        }
        let cur = match key.slot(Kind::String) {
            Some(Value::Str(f)) => f.clone(),
            _ => Field::Empty,
        };
        let mut c = CausalContext::new();
        let f = cur.write_delta(dot, hlc, v.clone().into_boxed_slice(), &mut c);
        out.push(causal(Key::from_value(Value::Str(f)), c));
        return out;
    }
    if vis.is_some_and(|k| k != kind) {
        return out; // WRONGTYPE
    }
    let creating = vis.is_none();
    if kind != Kind::List && matches!(cmd, Cmd::SRem(_) | Cmd::HDel(_) | Cmd::ZRem(_)) && creating {
        return out;
    }
    if kind == Kind::List {
        return list_cmd(key, dot, hlc, cmd, creating);
    }
    if let Cmd::PfAdd(es) = cmd {
        return pfadd(key, dot, hlc, es, creating);
    }
    if let Cmd::Stream(op) = cmd {
        return stream(key, dot, hlc, op, creating);
    }
    // Validate before emitting anything.
    let str_field = match key.slot(Kind::String) {
        Some(Value::Str(f)) if !creating => Some(f),
        _ => None,
    };
    let hash = match key.slot(Kind::Hash) {
        Some(Value::Hash(c)) if !creating => Some(&c.data),
        _ => None,
    };
    match cmd {
        Cmd::IncrBy(n) if !add_ok(int_of(str_field), *n) => return out,
        Cmd::IncrByFloat(x) => match float_of(str_field) {
            Some(b) if (b + x).is_finite() => {}
            _ => return out,
        },
        Cmd::HIncrBy(f, n) if !add_ok(int_of(hash.and_then(|h| h.field(f))), *n) => return out,
        Cmd::HIncrByFloat(f, x) => match float_of(hash.and_then(|h| h.field(f))) {
            Some(b) if (b + x).is_finite() => {}
            _ => return out,
        },
        _ => {}
    }
    let mut c0 = CausalContext::new();
    if creating {
        if !key.is_bottom() {
            out.push(causal(key.remove_delta(&mut c0), c0));
        }
    } else if let Some(h) = key.remove_hidden_delta(&mut c0) {
        out.push(causal(h, c0));
    }
    let mut c = CausalContext::new();
    let value = match (cmd, key.slot(kind)) {
        (Cmd::IncrBy(_) | Cmd::IncrByFloat(_), slot) => {
            let cur = match slot {
                Some(Value::Str(f)) => f.clone(),
                _ => Field::Empty,
            };
            let (i, x) = match cmd {
                Cmd::IncrBy(n) => (*n, 0.0),
                Cmd::IncrByFloat(x) => (0, *x),
                _ => unreachable!(),
            };
            let f = cur.incr_delta(dot, i, x, &mut c);
            Value::Str(if creating {
                f.with_created(dot, hlc)
            } else {
                f
            })
        }
        (Cmd::SAdd(_) | Cmd::SRem(_), slot) => {
            let empty = Box::<Coll<ORSet>>::default();
            let coll = match slot {
                Some(Value::Set(s)) => s,
                _ => &empty,
            };
            let mut d = ORSet::default();
            match cmd {
                Cmd::SAdd(ms) => ms
                    .iter()
                    .for_each(|m| coll.data.add_into(&mut d, m, dot, &mut c)),
                Cmd::SRem(ms) => ms
                    .iter()
                    .for_each(|m| coll.data.rem_into(&mut d, m, &mut c)),
                _ => unreachable!(),
            }
            if c.is_empty() {
                return Vec::new();
            }
            let created = stamps(coll, creating, dot, hlc, &mut c);
            Value::Set(Box::new(Coll { created, data: d }))
        }
        (_, slot) if kind == Kind::Hash => {
            let empty = Box::<Coll<ORHash>>::default();
            let coll = match slot {
                Some(Value::Hash(s)) => s,
                _ => &empty,
            };
            let mut d = ORHash::default();
            match cmd {
                Cmd::HSet(fv) => fv.iter().for_each(|(f, v)| {
                    coll.data
                        .set_into(&mut d, f, dot, hlc, v.clone().into_boxed_slice(), &mut c)
                }),
                Cmd::HDel(fs) => fs
                    .iter()
                    .for_each(|f| coll.data.del_into(&mut d, f, &mut c)),
                Cmd::HIncrBy(f, n) => coll.data.incr_into(&mut d, f, dot, *n, 0.0, &mut c),
                Cmd::HIncrByFloat(f, x) => coll.data.incr_into(&mut d, f, dot, 0, *x, &mut c),
                _ => unreachable!(),
            }
            if c.is_empty() {
                return Vec::new();
            }
            let created = stamps(coll, creating, dot, hlc, &mut c);
            Value::Hash(Box::new(Coll { created, data: d }))
        }
        (_, slot) => {
            let empty = Box::<Coll<ZSet>>::default();
            let coll = match slot {
                Some(Value::ZSet(s)) => s,
                _ => &empty,
            };
            let mut d = ZSet::default();
            match cmd {
                Cmd::ZAdd(sm) => sm
                    .iter()
                    .for_each(|(s, m)| coll.data.add_into(&mut d, m, dot, hlc, *s, &mut c)),
                Cmd::ZIncrBy(by, m) => coll.data.incr_into(&mut d, m, dot, *by, &mut c),
                Cmd::ZRem(ms) => ms
                    .iter()
                    .for_each(|m| coll.data.rem_into(&mut d, m, &mut c)),
                _ => unreachable!(),
            }
            if c.is_empty() {
                return Vec::new();
            }
            let created = stamps(coll, creating, dot, hlc, &mut c);
            Value::ZSet(Box::new(Coll { created, data: d }))
        }
    };
    out.push(causal(Key::from_value(value), c));
    out
}

/// PFADD (the key is visible as a HyperLogLog or not visible at all).
fn pfadd(key: &Key, dot: Dot, hlc: Hlc, es: &[Vec<u8>], creating: bool) -> Vec<Causal<Key>> {
    let mut out = Vec::new();
    let mut c0 = CausalContext::new();
    if creating {
        if !key.is_bottom() {
            out.push(causal(key.remove_delta(&mut c0), c0));
        }
    } else if let Some(h) = key.remove_hidden_delta(&mut c0) {
        out.push(causal(h, c0));
    }
    let empty = Box::<Coll<Hll>>::default();
    let coll = match key.slot(Kind::Hll) {
        Some(Value::Hll(c)) if !creating => c,
        _ => &empty,
    };
    let mut add = Registers::default();
    for e in es {
        add.add(e);
    }
    let mut c = CausalContext::new();
    let Some(d) = coll.data.raise_delta(&add, dot, &mut c) else {
        return out;
    };
    let created = stamps(coll, creating, dot, hlc, &mut c);
    out.push(causal(
        Key::from_value(Value::Hll(Box::new(Coll { created, data: d }))),
        c,
    ));
    out
}

/// A stream command (the key is visible as a stream or not visible at all). The
/// creation stamp uses the op's bookkeeping dot (the entry dot names the entry only).
fn stream(key: &Key, dot: Dot, hlc: Hlc, op: &StreamOp, creating: bool) -> Vec<Causal<Key>> {
    let mut out = Vec::new();
    if creating && !matches!(op, StreamOp::AddAuto(_) | StreamOp::AddExplicit(..)) {
        return out;
    }
    let empty = Box::<Coll<crdt::stream::Stream>>::default();
    let coll = match key.slot(Kind::Stream) {
        Some(Value::Stream(c)) if !creating => c,
        _ => &empty,
    };
    let Some((d, mut c)) = stream_cmd(&coll.data, dot, hlc, op) else {
        return out;
    };
    let mut c0 = CausalContext::new();
    if creating {
        if !key.is_bottom() {
            out.push(causal(key.remove_delta(&mut c0), c0));
        }
    } else if let Some(h) = key.remove_hidden_delta(&mut c0) {
        out.push(causal(h, c0));
    }
    if matches!(op, StreamOp::Clear) {
        out.push(causal(key.remove_delta(&mut c), c));
        return out;
    }
    let created = stamps(coll, creating, stream_meta_dot(dot), hlc, &mut c);
    out.push(causal(
        Key::from_value(Value::Stream(Box::new(Coll { created, data: d }))),
        c,
    ));
    out
}

/// Normalises a Redis index (negative: from the tail) for a list of `len`.
pub fn norm_index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// List commands (the key is visible as a list or not visible at all).
fn list_cmd(key: &Key, dot: Dot, hlc: Hlc, cmd: &Cmd, creating: bool) -> Vec<Causal<Key>> {
    let mut out = Vec::new();
    if creating && !matches!(cmd, Cmd::Push(..)) {
        return out; // nothing to pop / insert relative to / set / trim
    }
    let empty = Box::<Coll<List>>::default();
    let coll = match key.slot(Kind::List) {
        Some(Value::List(c)) if !creating => c,
        _ => &empty,
    };
    let l = &coll.data;
    let mut d = List::default();
    let mut c = CausalContext::new();
    match cmd {
        Cmd::Push(head, vs) => l
            .push_into(
                &mut d,
                *head,
                vs.iter().map(|v| v.clone().into_boxed_slice()),
                dot,
                &mut c,
            )
            .expect("shallow"),
        Cmd::Pop(head, n) => {
            let n = (*n).min(l.len());
            for k in 0..n {
                let i = if *head { k } else { l.len() - 1 - k };
                l.remove_at_into(&mut d, i);
            }
        }
        Cmd::LInsert(before, pivot, v) => {
            let Some(p) = l.iter().position(|x| **x == pivot[..]) else {
                return out;
            };
            let at = if *before { p } else { p + 1 };
            l.insert_at_into(&mut d, at, v.clone().into_boxed_slice(), dot, &mut c)
                .expect("shallow");
        }
        Cmd::LSet(i, v) => {
            let Some(i) = norm_index(*i, l.len()) else {
                return out; // ERR index out of range
            };
            l.set_into(&mut d, i, v.clone().into_boxed_slice(), dot, &mut c)
                .expect("shallow");
        }
        Cmd::LRem(count, v) => {
            let hits: Vec<usize> = l
                .iter()
                .enumerate()
                .filter(|(_, x)| ***x == v[..])
                .map(|(i, _)| i)
                .collect();
            let pick: Vec<usize> = match *count {
                0 => hits,
                n if n > 0 => hits.into_iter().take(n as usize).collect(),
                n => hits
                    .into_iter()
                    .rev()
                    .take(n.unsigned_abs() as usize)
                    .collect(),
            };
            for i in pick {
                l.remove_at_into(&mut d, i);
            }
        }
        Cmd::LTrim(a, b) => {
            let len = l.len() as i64;
            let a = if *a < 0 { (len + a).max(0) } else { *a };
            let b = if *b < 0 { len + b } else { (*b).min(len - 1) };
            for i in 0..l.len() {
                let i64i = i as i64;
                if i64i < a || i64i > b {
                    l.remove_at_into(&mut d, i);
                }
            }
        }
        _ => unreachable!("list command"),
    }
    if crdt::DotStore::is_bottom(&d) {
        return out;
    }
    let emptied = !creating && d.is_empty() && d.pending_removals() == l.len();
    let created = stamps(coll, creating, dot, hlc, &mut c);
    out.push(causal(
        Key::from_value(Value::List(Box::new(Coll { created, data: d }))),
        c,
    ));
    // A list left empty is deleted (as Redis does), from the state after the removal.
    if emptied {
        let mut after = key.clone();
        after.join_delta(&CausalContext::new(), &out[0].store, &out[0].ctx);
        let mut c2 = CausalContext::new();
        let rm = after.remove_delta(&mut c2);
        out.push(causal(rm, c2));
    }
    out
}

/// Builds the op delta of commands on distinct keys `(db, key, cmd)` at a replica.
/// `None` when every command is a no-op (no dot is issued).
pub fn op(
    ks: &Keyspace,
    region: RegionId,
    hlc: Hlc,
    cmds: &[(u8, Vec<u8>, Cmd)],
) -> Option<OpDelta> {
    let dot = ks.peek_dot(region);
    let mut keys = Vec::new();
    let mut seen = BTreeSet::new();
    for (db, k, cmd) in cmds {
        if !seen.insert((*db, k.clone())) {
            continue; // one command per key per op (see the module docs of the tests)
        }
        let empty = Key::default();
        let key = ks.get(*db, k).unwrap_or(&empty);
        for delta in key_cmd(key, dot, hlc, cmd) {
            keys.push(KeyDelta {
                db: *db,
                key: k.clone().into_boxed_slice(),
                delta,
            });
        }
    }
    if keys.is_empty() {
        None
    } else {
        Some(OpDelta { dot, hlc, keys })
    }
}

/// A stream entry as a client sees it: ID and field-value pairs.
pub type StreamEntryObs = (String, Vec<(Vec<u8>, Vec<u8>)>);

/// What a client sees of a value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VObs {
    /// A string (numbers formatted as Redis replies).
    Str(Vec<u8>),
    /// Set members.
    Set(BTreeSet<Vec<u8>>),
    /// Hash fields.
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    /// Sorted-set members with score bits.
    ZSet(BTreeMap<Vec<u8>, u64>),
    /// List elements, head first.
    List(Vec<Vec<u8>>),
    /// HyperLogLog: the non-zero registers a reader sees.
    Hll(Vec<(usize, u8)>),
    /// Stream: entries `(id, fields)` and the last ID / entries added.
    Stream(Vec<StreamEntryObs>, String, u64),
}

/// Score bits with -0.0 normalised to 0.0 (ZSCORE prints both as "0").
pub fn score_bits(s: f64) -> u64 {
    if s == 0.0 {
        0
    } else {
        s.to_bits()
    }
}

/// Observes a value.
pub fn obs_value(v: &Value) -> VObs {
    match v {
        Value::Str(f) => VObs::Str(
            string::read(f)
                .map(|s| s.to_bytes().into_owned())
                .unwrap_or_default(),
        ),
        Value::Set(c) => VObs::Set(c.data.members().map(|m| m.to_vec()).collect()),
        Value::Hash(c) => VObs::Hash(
            c.data
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_bytes().into_owned()))
                .collect(),
        ),
        Value::ZSet(c) => VObs::ZSet(
            c.data
                .iter()
                .map(|(k, s)| (k.to_vec(), score_bits(s)))
                .collect(),
        ),
        Value::List(c) => VObs::List(c.data.iter().map(|v| v.to_vec()).collect()),
        Value::Hll(c) => VObs::Hll(c.data.registers().nonzero().collect()),
        Value::Stream(c) => {
            let m = c.data.meta();
            VObs::Stream(
                c.data
                    .entries()
                    .map(|e| {
                        let f = e.fields.pairs().map(|(f, v)| (f.to_vec(), v.to_vec()));
                        (e.id.to_string(), f.collect())
                    })
                    .collect(),
                m.last.to_string(),
                m.added,
            )
        }
    }
}

/// Observes a key: visible value and TTL.
pub fn obs_key(k: &Key) -> Option<(VObs, Option<u64>)> {
    k.visible().map(|v| (obs_value(v), k.expire_at()))
}

/// Observes a whole keyspace.
pub fn obs_keyspace(ks: &Keyspace, dbs: u8) -> BTreeMap<(u8, Vec<u8>), (VObs, Option<u64>)> {
    let mut m = BTreeMap::new();
    for db in 0..dbs {
        for (k, key) in ks.db(db) {
            if let Some(o) = obs_key(key) {
                m.insert((db, k.to_vec()), o);
            }
        }
    }
    m
}

/// Score of a zset field as observed.
pub fn zscore(f: &Field<f64>) -> Option<u64> {
    zset::score_of(f).map(score_bits)
}

/// A region for scenario tests: keyspace + clock + a wall clock it is told.
pub struct Region {
    /// Region id.
    pub id: RegionId,
    /// State.
    pub ks: Keyspace,
    /// HLC.
    pub clock: HlcClock,
}

impl Region {
    /// A fresh region.
    pub fn new(id: RegionId) -> Region {
        Region {
            id,
            ks: Keyspace::new(),
            clock: HlcClock::new(id),
        }
    }
    /// Runs one command on db 0 at wall time `wall`; returns the op (if any), applied locally.
    pub fn run(&mut self, wall: u64, key: &str, cmd: Cmd) -> Option<OpDelta> {
        self.run_many(wall, &[(0, key.as_bytes().to_vec(), cmd)])
    }
    /// Runs several commands (distinct keys) as one op.
    pub fn run_many(&mut self, wall: u64, cmds: &[(u8, Vec<u8>, Cmd)]) -> Option<OpDelta> {
        let hlc = self.clock.now(wall);
        let op = op(&self.ks, self.id, hlc, cmds)?;
        self.ks.apply(&op);
        Some(op)
    }
    /// Receives a replicated op.
    pub fn recv(&mut self, op: &Option<OpDelta>) {
        if let Some(op) = op {
            self.clock.observe(op.hlc);
            self.ks.apply(op);
        }
    }
    /// The visible value of a key in db 0.
    pub fn get(&self, key: &str) -> Option<VObs> {
        self.ks
            .get(0, key.as_bytes())
            .and_then(|k| k.visible())
            .map(obs_value)
    }
    /// The TTL (absolute ms) of a key in db 0.
    pub fn ttl(&self, key: &str) -> Option<u64> {
        self.ks
            .get(0, key.as_bytes())
            .filter(|k| k.visible().is_some())
            .and_then(|k| k.expire_at())
    }
}

/// Shorthand: a string observation.
pub fn s(v: &str) -> Option<VObs> {
    Some(VObs::Str(v.as_bytes().to_vec()))
}

/// Shorthand: a set observation.
pub fn set(ms: &[&str]) -> Option<VObs> {
    Some(VObs::Set(
        ms.iter().map(|m| m.as_bytes().to_vec()).collect(),
    ))
}

/// Shorthand: bytes.
pub fn b(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

/// Stream ops.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamOp {
    /// XADD with a generated ID (`*`) and one field.
    AddAuto(u8),
    /// XADD with an explicit small ID `ms-seq` (fails unless above the last ID, so regions
    /// adding the same explicit ID concurrently collide).
    AddExplicit(u64, u64, u8),
    /// XDEL of the entry at an index (modulo the length).
    Del(usize),
    /// XTRIM MAXLEN n.
    TrimMaxLen(usize),
    /// XTRIM MINID (the ID of the entry at an index, modulo the length).
    TrimMinId(usize),
    /// XSETID to the last ID with entries-added raised by n.
    SetId(u64),
    /// DEL of the key.
    Clear,
}

/// The second dot of a stream op: its bookkeeping record's (see `crdt::stream`).
pub fn stream_meta_dot(dot: Dot) -> Dot {
    Dot::new(dot.region(), dot.seq() + 1)
}

/// Builds the delta of a stream op issued with the op's two dots `dot` (entry) and
/// `stream_meta_dot(dot)` (bookkeeping). Both dots go into the delta context, used or not,
/// so the issuer's dots stay contiguous.
pub fn stream_cmd(
    st: &crdt::stream::Stream,
    dot: Dot,
    hlc: Hlc,
    op: &StreamOp,
) -> Option<(crdt::stream::Stream, CausalContext)> {
    use crdt::stream::{Fields, Stream, StreamId};
    let mdot = stream_meta_dot(dot);
    let region = dot.region();
    let mut d = Stream::default();
    let mut ctx = CausalContext::new();
    let meta = st.meta();
    let trim = |d: &mut Stream, ctx: &mut CausalContext, idx: Vec<usize>| {
        let max = idx.iter().filter_map(|i| st.get(*i)).map(|e| e.id).max()?;
        for i in idx {
            st.remove_at_into(d, i);
        }
        st.meta_into(
            d,
            region,
            mdot,
            |m| m.max_deleted = m.max_deleted.max(max),
            ctx,
        );
        Some(())
    };
    match op {
        StreamOp::AddAuto(v) | StreamOp::AddExplicit(_, _, v) => {
            let id = match op {
                StreamOp::AddExplicit(ms, seq, _) => {
                    let id = StreamId::new(*ms, *seq);
                    if id <= meta.last || id == StreamId::MIN {
                        return None;
                    }
                    id
                }
                _ => StreamId::generate(hlc.ms(), meta.last, region)?,
            };
            let fields = Fields::new([(&b"f"[..], &[b'x' + *v][..])]);
            st.add_into(&mut d, id, fields, dot, &mut ctx);
            st.meta_into(
                &mut d,
                region,
                mdot,
                |m| {
                    m.last = m.last.max(id);
                    m.added += 1;
                },
                &mut ctx,
            );
        }
        StreamOp::Del(i) => {
            if st.is_empty() {
                return None;
            }
            let id = st.get(i % st.len()).expect("in range").id;
            st.remove_id_into(&mut d, id);
            st.meta_into(
                &mut d,
                region,
                mdot,
                |m| m.max_deleted = m.max_deleted.max(id),
                &mut ctx,
            );
        }
        StreamOp::TrimMaxLen(n) => {
            let cut = st.len().saturating_sub(*n);
            trim(&mut d, &mut ctx, (0..cut).collect())?;
        }
        StreamOp::TrimMinId(i) => {
            if st.is_empty() {
                return None;
            }
            let min = st.get(i % st.len()).expect("in range").id;
            trim(&mut d, &mut ctx, (0..st.lower_bound(min)).collect())?;
        }
        StreamOp::SetId(n) => {
            if !st.is_present() {
                return None;
            }
            let m = crdt::stream::Meta {
                added: meta.added + n,
                ..meta
            };
            st.set_meta_into(&mut d, mdot, m, &mut ctx);
        }
        StreamOp::Clear => {
            if !st.is_present() {
                return None;
            }
            d = st.remove_all_delta(&mut ctx);
        }
    }
    ctx.insert(dot);
    ctx.insert(mdot);
    Some((d, ctx))
}
