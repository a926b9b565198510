//! [`Write`]: one write op (see the `store` module docs).

use super::Store;
use crdt::field::Field;
use crdt::key::Coll;
use crdt::{Causal, CausalContext, Dot, Hlc, Key, KeyDelta, Kind, OpDelta, Value};

/// The key holds a value of another type (`-WRONGTYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// One write op in progress. Emitted deltas are applied immediately; the op is finished
/// and shipped when the `Write` is dropped.
///
/// Every delta that adds entries uses a fresh dot from [`Write::stamp`] (one op may use
/// several: `HSET f 1 f 2`, transactions), so two entries never share a dot with
/// different values. All dots of an op are consecutive; the op is identified by its last.
pub struct Write<'a> {
    st: &'a mut Store,
    db: u8,
    now: u64,
    hlc: Option<Hlc>,
    next_seq: u64,
    last: Option<Dot>,
    unemitted: Vec<Dot>,
    keys: Vec<KeyDelta>,
}

impl<'a> Write<'a> {
    pub(super) fn new(st: &'a mut Store, db: u8) -> Write<'a> {
        let now = st.now_ms();
        match st.batch.take() {
            // Inside MULTI/EXEC: continue the transaction's op.
            Some(b) => Write {
                st,
                db,
                now,
                hlc: b.hlc,
                next_seq: b.next_seq,
                last: b.last,
                unemitted: b.unemitted,
                keys: b.keys,
            },
            None => {
                let next_seq = st.ks.peek_dot(st.region).seq();
                Write {
                    st,
                    db,
                    now,
                    hlc: None,
                    next_seq,
                    last: None,
                    unemitted: Vec::new(),
                    keys: Vec::new(),
                }
            }
        }
    }

    /// The op's time in Unix ms (fixed for the whole op).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The database this op writes.
    pub fn db(&self) -> u8 {
        self.db
    }

    /// Switches database (MOVE, FLUSHALL).
    pub fn set_db(&mut self, db: u8) {
        self.db = db;
    }

    /// A fresh dot and the op's HLC, for one delta that adds entries.
    pub fn stamp(&mut self) -> (Dot, Hlc) {
        let hlc = match self.hlc {
            Some(h) => h,
            None => {
                let h = self.st.clock.now(self.now);
                self.hlc = Some(h);
                h
            }
        };
        let dot = Dot::new(self.st.region, self.next_seq);
        self.next_seq += 1;
        self.last = Some(dot);
        self.unemitted.push(dot);
        (dot, hlc)
    }

    /// The store (read access to everything).
    pub fn store(&self) -> &Store {
        self.st
    }

    /// A key's full state, visible or not.
    pub fn raw(&self, key: &[u8]) -> Option<&Key> {
        self.st.ks.get(self.db, key)
    }

    /// A key's visible value (not expired).
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.raw(key).and_then(|k| Store::live(k, self.now))
    }

    /// A visible value of the given kind, `Err(WrongType)` for another kind.
    pub fn get_kind(&self, key: &[u8], kind: Kind) -> Result<Option<&Value>, WrongType> {
        match self.get(key) {
            Some(v) if v.kind() != kind => Err(WrongType),
            v => Ok(v),
        }
    }

    /// Applies a key delta now and adds it to the op.
    pub fn emit(&mut self, key: &[u8], store: Key, mut ctx: CausalContext) {
        if store.is_bottom() && ctx.is_empty() {
            return;
        }
        for d in self.unemitted.drain(..) {
            ctx.insert(d);
        }
        let kd = KeyDelta {
            db: self.db,
            key: key.into(),
            delta: Causal { store, ctx },
        };
        self.st.apply_key_tracked(&kd);
        self.keys.push(kd);
    }

    /// Observed-remove delete of everything stored under `key` (visible or not).
    /// Returns whether a visible value was deleted.
    pub fn delete_raw(&mut self, key: &[u8]) -> bool {
        let visible = self.get(key).is_some();
        if let Some(k) = self.raw(key) {
            let mut ctx = CausalContext::new();
            let d = k.remove_delta(&mut ctx);
            self.emit(key, d, ctx);
        }
        visible
    }

    /// Prepares `key` for a write of `kind`: `Err(WrongType)` when a visible value of
    /// another kind exists; otherwise removes expired or invisible leftovers and hidden
    /// type slots. Returns `true` when the key is being created (no visible value).
    pub fn prepare(&mut self, key: &[u8], kind: Kind) -> Result<bool, WrongType> {
        match self.get(key).map(|v| v.kind()) {
            Some(k) if k != kind => Err(WrongType),
            Some(_) => {
                let mut ctx = CausalContext::new();
                if let Some(d) = self.raw(key).and_then(|k| k.remove_hidden_delta(&mut ctx)) {
                    self.emit(key, d, ctx);
                }
                Ok(false)
            }
            None => {
                self.delete_raw(key);
                Ok(true)
            }
        }
    }

    /// Prepares `key` to be overwritten by a value of `kind` whatever it holds now (SET,
    /// the *STORE commands): removes every other slot and, unless `keep_ttl`, the TTL.
    pub fn prepare_overwrite(&mut self, key: &[u8], kind: Kind, keep_ttl: bool) {
        let vis = self.get(key).map(|v| v.kind());
        if vis != Some(kind) {
            self.delete_raw(key);
            return;
        }
        let mut ctx = CausalContext::new();
        let hidden = self.raw(key).and_then(|k| k.remove_hidden_delta(&mut ctx));
        if let Some(d) = hidden {
            self.emit(key, d, ctx);
        }
        if !keep_ttl {
            let mut ctx = CausalContext::new();
            if let Some(d) = self.raw(key).and_then(|k| k.clear_ttl_delta(&mut ctx)) {
                self.emit(key, d, ctx);
            }
        }
    }

    /// The string field stored under `key` (visible or leftover), or empty.
    pub fn str_field(&self, key: &[u8]) -> Field<crdt::Bytes> {
        match self.raw(key).and_then(|k| k.slot(Kind::String)) {
            Some(Value::Str(f)) => f.clone(),
            _ => Field::Empty,
        }
    }

    /// SET-like write of a whole string value (SET, GETSET, APPEND, SETRANGE, ...).
    pub fn put_string(&mut self, key: &[u8], val: crdt::Bytes, keep_ttl: bool) {
        self.prepare_overwrite(key, Kind::String, keep_ttl);
        let (dot, hlc) = self.stamp();
        let mut ctx = CausalContext::new();
        let cur = self.str_field(key);
        let d = cur.write_delta(dot, hlc, val, &mut ctx);
        self.emit(key, Key::from_value(Value::Str(d)), ctx);
    }

    /// INCRBY / INCRBYFLOAT contribution on a string key (already type-checked).
    pub fn incr_string(&mut self, key: &[u8], int: i64, float: f64) -> Result<(), WrongType> {
        let fresh = self.prepare(key, Kind::String)?;
        let (dot, hlc) = self.stamp();
        let mut ctx = CausalContext::new();
        let cur = self.str_field(key);
        let mut d = cur.incr_delta(dot, int, float, &mut ctx);
        if fresh {
            d = d.with_created(dot, hlc);
        }
        self.emit(key, Key::from_value(Value::Str(d)), ctx);
        Ok(())
    }

    /// Emits a collection delta for `key`; when `fresh`, stamps the collection's creation
    /// with `(dot, hlc)` (the dot of the write that creates it).
    pub fn emit_coll(
        &mut self,
        key: &[u8],
        fresh: Option<(Dot, Hlc)>,
        mut v: Value,
        ctx: CausalContext,
    ) {
        if let Some((dot, hlc)) = fresh {
            let created = crdt::dotset::DotFun::one(dot, hlc);
            match &mut v {
                Value::Set(c) => c.created = created,
                Value::Hash(c) => c.created = created,
                Value::ZSet(c) => c.created = created,
                Value::List(c) => c.created = created,
                Value::Hll(c) => c.created = created,
                Value::Stream(c) => c.created = created,
                Value::Str(_) => unreachable!("strings carry their stamp in the register"),
            }
        }
        self.emit(key, Key::from_value(v), ctx);
    }

    /// Sets the absolute expiry of a visible key (a past time deletes it, as Redis does).
    pub fn expire_at(&mut self, key: &[u8], at_ms: u64) -> bool {
        if self.get(key).is_none() {
            return false;
        }
        if at_ms <= self.now {
            self.delete_raw(key);
            return true;
        }
        let (dot, _) = self.stamp();
        let mut ctx = CausalContext::new();
        let d = self
            .raw(key)
            .expect("visible")
            .expire_delta(at_ms, dot, &mut ctx);
        self.emit(key, d, ctx);
        true
    }

    /// PERSIST: removes the TTL of a visible key, beating concurrent EXPIREs. Returns
    /// whether there was a TTL.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        if self.get(key).is_none() || self.raw(key).and_then(|k| k.expire_at()).is_none() {
            return false;
        }
        let (dot, _) = self.stamp();
        let mut ctx = CausalContext::new();
        let d = self.raw(key).expect("visible").persist_delta(dot, &mut ctx);
        self.emit(key, d, ctx);
        true
    }

    /// Copies a key's visible state to `dst` as a fresh write in this op (RENAME, COPY,
    /// MOVE): the destination gets the source's current value and TTL.
    pub fn copy_value(&mut self, src_db: u8, src: &[u8], dst: &[u8]) -> bool {
        let now = self.now;
        let (val, ttl) = match self.st.ks.get(src_db, src) {
            Some(k) => match Store::live(k, now) {
                Some(v) => (v.clone(), k.expire_at()),
                None => return false,
            },
            None => return false,
        };
        self.delete_raw(dst);
        let (dot, hlc) = self.stamp();
        let mut ctx = CausalContext::new();
        ctx.insert(dot);
        // A stream's bookkeeping record needs a dot of its own (see `crdt::stream`).
        let meta_dot = match val {
            Value::Stream(_) => self.stamp().0,
            _ => dot,
        };
        let v = rebuild_value(&val, dot, hlc, meta_dot);
        self.emit(dst, Key::from_value(v), ctx);
        if let Some(at) = ttl {
            // The TTL is an entry of its own: it needs its own dot. Reusing the value's
            // dot would make the TTL delta's context cover the value entry without
            // holding it, i.e. remove the value just written.
            let (ttl_dot, _) = self.stamp();
            let mut ctx = CausalContext::new();
            let d = self
                .raw(dst)
                .expect("just written")
                .expire_delta(at, ttl_dot, &mut ctx);
            self.emit(dst, d, ctx);
        }
        true
    }
}

/// A fresh value equal (as read) to `v`, with all entries under one new dot.
/// Streams put their bookkeeping record under `meta_dot` (a dot naming no entry).
fn rebuild_value(v: &Value, dot: Dot, hlc: Hlc, meta_dot: Dot) -> Value {
    let mut ctx = CausalContext::new();
    match v {
        Value::Str(f) => {
            let bytes = super::str_bytes(f)
                .map(|s| s.into_owned().into_boxed_slice())
                .unwrap_or_default();
            Value::Str(Field::plain(dot, hlc, bytes))
        }
        Value::Set(c) => {
            let mut s = crdt::set::ORSet::default();
            let empty = crdt::set::ORSet::default();
            for m in c.data.members() {
                empty.add_into(&mut s, m, dot, &mut ctx);
            }
            Value::Set(Box::new(Coll {
                created: crdt::dotset::DotFun::one(dot, hlc),
                data: s,
            }))
        }
        Value::Hash(c) => {
            let mut h = crdt::hash::ORHash::default();
            let empty = crdt::hash::ORHash::default();
            for (f, val) in c.data.iter() {
                let b = val.to_bytes().into_owned().into_boxed_slice();
                empty.set_into(&mut h, f, dot, hlc, b, &mut ctx);
            }
            Value::Hash(Box::new(Coll {
                created: crdt::dotset::DotFun::one(dot, hlc),
                data: h,
            }))
        }
        Value::ZSet(c) => {
            let mut z = crdt::zset::ZSet::default();
            let empty = crdt::zset::ZSet::default();
            for (m, score) in c.data.iter() {
                empty.add_into(&mut z, m, dot, hlc, score, &mut ctx);
            }
            Value::ZSet(Box::new(Coll {
                created: crdt::dotset::DotFun::one(dot, hlc),
                data: z,
            }))
        }
        Value::List(c) => {
            let mut l = crdt::list::List::default();
            let empty = crdt::list::List::default();
            // Fresh positions at one level: a push never needs a deep position.
            empty
                .push_into(&mut l, false, c.data.iter().cloned(), dot, &mut ctx)
                .expect("pushes onto an empty list are shallow");
            Value::List(Box::new(Coll {
                created: crdt::dotset::DotFun::one(dot, hlc),
                data: l,
            }))
        }
        Value::Hll(c) => Value::Hll(Box::new(Coll {
            created: crdt::dotset::DotFun::one(dot, hlc),
            data: crdt::hll::Hll::from_registers(dot, c.data.registers()),
        })),
        Value::Stream(c) => {
            // Entries keep their IDs; the bookkeeping is one record with the source's
            // values.
            let empty = crdt::stream::Stream::default();
            let mut s = crdt::stream::Stream::default();
            for e in c.data.entries() {
                empty.add_into(&mut s, e.id, e.fields.clone(), dot, &mut ctx);
            }
            let m = c.data.meta();
            empty.set_meta_into(&mut s, meta_dot, m, &mut ctx);
            Value::Stream(Box::new(Coll {
                created: crdt::dotset::DotFun::one(dot, hlc),
                data: s,
            }))
        }
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if self.st.batch_open {
            // Inside MULTI/EXEC: hand the op so far back; `Store::end_batch` finishes it.
            self.st.batch = Some(super::Batch {
                hlc: self.hlc,
                next_seq: self.next_seq,
                last: self.last,
                unemitted: std::mem::take(&mut self.unemitted),
                keys: std::mem::take(&mut self.keys),
            });
            return;
        }
        if self.keys.is_empty() {
            return;
        }
        if self.last.is_none() {
            self.stamp();
        }
        let dot = self.last.expect("stamped");
        let hlc = self.hlc.expect("stamped");
        let mut keys = std::mem::take(&mut self.keys);
        // Dots handed out after the last emit still belong to the op: record them so
        // that no region's version vector is left with a gap.
        let extra: Vec<Dot> = self.unemitted.drain(..).collect();
        if let Some(kd) = keys.last_mut() {
            for d in &extra {
                kd.delta.ctx.insert(*d);
            }
        }
        self.st.finish_local(OpDelta { dot, hlc, keys }, &extra);
    }
}
