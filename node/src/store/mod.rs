//! The region's data store: the CRDT [`Keyspace`] plus everything a server needs around
//! it — the region's HLC, the single write path, expiry, and the delta sink.
//!
//! # The write path
//!
//! Every write command runs inside one [`Write`]: it reads the current state, builds
//! CRDT deltas with the `crdt` mutators, and [`Write::emit`]s them. Each emitted delta is
//! applied at once (so the rest of the command sees it) and collected into one
//! [`OpDelta`]; when the `Write` ends, the op gets the region's next dot, is finished in
//! the keyspace and handed to the [`DeltaSink`] — the seam where replication and
//! persistence attach. A command validates everything before its first `emit`, so a
//! command that fails writes nothing.
//!
//! # Expiry
//!
//! A key whose expiry time has passed is invisible to every read at once (lazy expiry).
//! [`Store::expire_cycle`] (active expiry, run periodically) turns expired keys into
//! observed-remove deletes that replicate like DEL.

mod access;
mod blocking;
mod data;
mod evict;
pub mod groups;
mod write;

pub use access::{idle_ms, lfu_counter, AccessMode};
pub use blocking::{Blocking, WaiterId, Wake};
pub use evict::{Policy, SAMPLES_MAX};
pub use write::{Write, WrongType};

use crdt::{Dot, HlcClock, Key, Keyspace, Kind, OpDelta, RegionId, Value};
use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

/// Receives every op this region applies locally (replication, persistence).
pub trait DeltaSink: Send {
    /// Called once per local write op, after it is applied. The op uses the region's
    /// consecutive dots `first_seq..=op.dot.seq()`.
    fn emit(&mut self, op: &OpDelta, first_seq: u64);
}

/// A change the region applied, in application order: what the write-ahead log records
/// (see `crate::persist`). Every path that changes the CRDT state reports here.
#[derive(Debug, Clone, Copy)]
pub enum Applied<'a> {
    /// A local op (its dots are `first_seq..=op.dot.seq()`).
    Local {
        /// The op.
        op: &'a OpDelta,
        /// Its first dot's seq.
        first_seq: u64,
    },
    /// Another region's op (only when it was not applied before).
    Remote {
        /// The op.
        op: &'a OpDelta,
        /// Its first dot's seq (causal delivery: right after what was applied).
        first_seq: u64,
    },
    /// One key of another region's full-resync snapshot, merged with that snapshot's
    /// context.
    MergeKey {
        /// Database.
        db: u8,
        /// Key.
        key: &'a [u8],
        /// The snapshot's state of the key.
        state: &'a Key,
        /// The snapshot's context.
        ctx: &'a crdt::CausalContext,
    },
    /// The end of a full-resync snapshot: its context joined into the region's.
    MergeCtx(&'a crdt::CausalContext),
    /// The whole consumer-group state of one stream after a command changed it
    /// (node-local, never replicated; see [`groups`]).
    Groups {
        /// Database.
        db: u8,
        /// Stream key.
        key: &'a [u8],
        /// `Groups::encode`.
        state: &'a [u8],
    },
}

/// Receives every [`Applied`] change under the store lock (the write-ahead log).
pub trait ApplyLog: Send {
    /// Records one change, right after it was applied.
    fn record(&mut self, change: Applied<'_>);
}

/// A sink that drops everything (a single region without persistence).
#[derive(Debug, Default)]
pub struct NoSink;

impl DeltaSink for NoSink {
    fn emit(&mut self, _op: &OpDelta, _first_seq: u64) {}
}

/// The region's data store (see module docs).
pub struct Store {
    region: RegionId,
    ks: Keyspace,
    clock: HlcClock,
    /// (expiry ms, db, key) of every key with a TTL.
    expiries: BTreeSet<(u64, u8, crdt::Bytes)>,
    sink: Box<dyn DeltaSink>,
    /// The write-ahead log (persistence), told about every change before the sink.
    log: Option<Box<dyn ApplyLog>>,
    /// Test-only offset added to the wall clock (clock-skew nemesis).
    clock_offset_ms: i64,
    /// Number of keys expired by this region.
    pub expired_keys: u64,
    /// Whether a MULTI/EXEC batch is open.
    batch_open: bool,
    /// The open batch's op so far.
    batch: Option<Batch>,
    /// Modification counters of the keys some client WATCHes, per db (see
    /// [`Store::watch`]). Empty unless a client watches something, so unwatched writes
    /// pay one branch.
    watched: HashMap<u8, HashMap<crdt::Bytes, Watched>>,
    /// Clients blocked on keys (BZPOPMIN & co.), woken by every delta applied to their
    /// keys. Empty unless somebody is blocked, so other writes pay one branch.
    blocking: Blocking,
    /// Stream consumer groups (node-local, see [`groups`]).
    groups: groups::Groups,
    /// How the node-local access words (LRU/LFU) are kept.
    access_mode: AccessMode,
    /// State of the LFU increment's random draw.
    rng: u64,
    /// Sampled eviction's candidate pool and cursors.
    sampler: evict::Sampler,
}

/// A watched key's modification counter and how many watches hold it.
#[derive(Debug, Clone, Copy)]
struct Watched {
    version: u64,
    watchers: u32,
}

/// A transaction's op in progress (see [`Store::begin_batch`]).
struct Batch {
    hlc: Option<crdt::Hlc>,
    next_seq: u64,
    last: Option<Dot>,
    unemitted: Vec<Dot>,
    keys: Vec<crdt::KeyDelta>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("region", &self.region)
            .field("keys", &self.ks.stored_keys())
            .finish()
    }
}

#[cfg(test)]
mod format_tests {
    use super::format_ld;

    #[test]
    fn incrbyfloat_formatting() {
        assert_eq!(format_ld(10.5 + 0.1), "10.6");
        assert_eq!(format_ld(0.1 + 0.2), "0.3");
        assert_eq!(format_ld(3.0), "3");
        assert_eq!(format_ld(-0.5), "-0.5");
        assert_eq!(format_ld(-0.0), "0");
        assert_eq!(format_ld(1e20), "100000000000000000000");
        assert_eq!(format_ld(1.5e-7), "0.00000015");
        assert_eq!(format_ld(1e-5), "0.00001");
        assert_eq!(format_ld(0.001234), "0.001234");
        assert_eq!(format_ld(1.234567890123456e-10), "0.00000000012345679");
        assert_eq!(format_ld(5e-324), "0");
        assert_eq!(format_ld(-1e-20), "0");
        assert_eq!(format_ld(5005.6), "5005.6");
        assert_eq!(format_ld(-123.25), "-123.25");
    }
}

/// The bytes a reader sees for a string value. Integers print as integers; floats (the
/// result of INCRBYFLOAT) print as Redis' INCRBYFLOAT does for ordinary values: plain
/// decimal notation, never an exponent, trailing zeros removed. Redis computes in 80-bit
/// `long double` and prints 17 decimals; Meridian sums `f64` counter contributions, so it
/// prints 15 significant digits (`DBL_DIG`, the precision an `f64` sum carries): `10.5 +
/// 0.1` reads `10.6` and `0.1 + 0.2` reads `0.3` in both (see the README's differences).
pub fn str_value_bytes<'a>(v: &crdt::string::StrValue<'a>) -> std::borrow::Cow<'a, [u8]> {
    match v {
        crdt::string::StrValue::Float(f) => std::borrow::Cow::Owned(format_ld(*f).into_bytes()),
        other => other.to_bytes(),
    }
}

/// The visible bytes of a string field (see [`str_value_bytes`]).
pub fn str_bytes(f: &crdt::field::Field<crdt::Bytes>) -> Option<std::borrow::Cow<'_, [u8]>> {
    crdt::string::read(f).map(|v| str_value_bytes(&v))
}

/// Formats an INCRBYFLOAT result: 15 significant digits in positional notation, trailing
/// zeros and point removed, `-0` printed as `0`.
pub fn format_ld(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            format!("{v}")
        };
    }
    // `d.dddddddddddddde±x`: 15 significant digits.
    let sci = format!("{:.14e}", v);
    let (mant, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    let point = exp + 1; // digits before the decimal point
    if 15 - point > 17 {
        // Below 0.01: Redis prints `%.17Lf`, at most 17 decimals (1e-20 reads `0`).
        let mut out = format!("{v:.17}");
        while out.ends_with('0') {
            out.pop();
        }
        if out.ends_with('.') {
            out.pop();
        }
        return if out == "-0" { "0".into() } else { out };
    }
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat('0').take((-point) as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat('0').take(point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    if out.contains('.') {
        while out.ends_with('0') {
            out.pop();
        }
        if out.ends_with('.') {
            out.pop();
        }
    }
    if out == "-0" {
        out = "0".into();
    }
    out
}

/// Wall clock in Unix milliseconds.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Store {
    /// An empty store for `region`.
    pub fn new(region: RegionId) -> Store {
        Store {
            region,
            ks: Keyspace::new(),
            clock: HlcClock::new(region),
            expiries: BTreeSet::new(),
            sink: Box::new(NoSink),
            log: None,
            clock_offset_ms: 0,
            expired_keys: 0,
            batch_open: false,
            batch: None,
            watched: HashMap::new(),
            blocking: Blocking::default(),
            groups: groups::Groups::default(),
            access_mode: AccessMode::default(),
            rng: 0x9e37_79b9_7f4a_7c15 ^ u64::from(region),
            sampler: evict::Sampler::default(),
        }
    }

    /// Replaces the delta sink.
    pub fn set_sink(&mut self, sink: Box<dyn DeltaSink>) {
        self.sink = sink;
    }

    /// Installs the write-ahead log (persistence): every change applied from now on is
    /// recorded there, local ops before the delta sink sees them.
    pub fn set_log(&mut self, log: Option<Box<dyn ApplyLog>>) {
        self.log = log;
    }

    /// The largest HLC issued or observed (persisted so it never goes backwards).
    pub fn hlc_last(&self) -> crdt::Hlc {
        self.clock.last()
    }

    /// Makes every later HLC order after `hlc` (restored at start-up).
    pub fn observe_hlc(&mut self, hlc: crdt::Hlc) {
        self.clock.observe(hlc);
    }

    /// This region's id.
    pub fn region(&self) -> RegionId {
        self.region
    }

    /// The CRDT state.
    pub fn keyspace(&self) -> &Keyspace {
        &self.ks
    }

    /// Current time in Unix ms as this region sees it (wall clock plus test skew).
    pub fn now_ms(&self) -> u64 {
        (wall_ms() as i64 + self.clock_offset_ms).max(0) as u64
    }

    /// Test-only: skews this region's wall clock by `offset_ms`.
    pub fn set_clock_offset_ms(&mut self, offset_ms: i64) {
        self.clock_offset_ms = offset_ms;
    }

    /// Whether a key's state is visible at `now`: it has a present value and has not
    /// expired.
    pub fn live(key: &Key, now: u64) -> Option<&Value> {
        match key.expire_at() {
            Some(at) if at <= now => None,
            _ => key.visible(),
        }
    }

    /// The visible value of a key.
    pub fn get(&self, db: u8, key: &[u8]) -> Option<&Value> {
        let now = self.now_ms();
        self.ks.get(db, key).and_then(|k| Store::live(k, now))
    }

    /// The key's full state (visible or not).
    pub fn raw(&self, db: u8, key: &[u8]) -> Option<&Key> {
        self.ks.get(db, key)
    }

    /// The type of a visible key.
    pub fn kind(&self, db: u8, key: &[u8]) -> Option<Kind> {
        self.get(db, key).map(|v| v.kind())
    }

    /// Expiry time (Unix ms) of a visible key.
    pub fn expire_at(&self, db: u8, key: &[u8]) -> Option<u64> {
        self.get(db, key)?;
        self.ks.get(db, key).and_then(|k| k.expire_at())
    }

    /// Opens a batch (MULTI/EXEC): every write until [`Store::end_batch`] joins one op,
    /// applied atomically in every region. The caller holds the store lock throughout.
    pub fn begin_batch(&mut self) {
        debug_assert!(!self.batch_open);
        self.batch_open = true;
        self.batch = None;
    }

    /// Closes the batch and ships its op (if it wrote anything).
    pub fn end_batch(&mut self) {
        self.batch_open = false;
        if let Some(b) = self.batch.take() {
            // Re-enter a Write holding the batch and let its drop finish the op.
            self.batch = Some(b);
            let w = Write::new(self, 0);
            drop(w);
        }
    }

    /// Starts a write op on `db`.
    pub fn write(&mut self, db: u8) -> Write<'_> {
        Write::new(self, db)
    }

    /// Iterates the visible keys of `db`.
    pub fn keys(&self, db: u8) -> impl Iterator<Item = (&crdt::Bytes, &Value)> {
        let now = self.now_ms();
        self.ks
            .db(db)
            .iter()
            .filter_map(move |(k, v)| Store::live(v, now).map(|v| (k, v)))
    }

    /// Number of visible keys in `db` (O(n) when tombstones exist; O(n) always for now).
    pub fn dbsize(&self, db: u8) -> usize {
        self.keys(db).count()
    }

    /// Number of visible keys of `db` with a TTL.
    pub fn expires_count(&self, db: u8) -> usize {
        let now = self.now_ms();
        self.expiries
            .iter()
            .filter(|(at, d, _)| *d == db && *at > now)
            .count()
    }

    /// Applies an op that another region issued (idempotent).
    pub fn apply_remote(&mut self, op: &OpDelta) {
        if self.ks.has_applied(op.dot) {
            return;
        }
        let first_seq = self.ks.applied().get(op.dot.region()) + 1;
        self.clock.observe(op.hlc);
        for kd in &op.keys {
            self.apply_key_tracked(kd);
            self.note_stream_arrivals(kd);
        }
        self.ks.finish_op(op.dot);
        if let Some(log) = &mut self.log {
            log.record(Applied::Remote { op, first_seq });
        }
        // Late stream entries changed consumer groups: log them after the op.
        self.flush_groups_log();
    }

    /// The (sorted) entry IDs of a stream that has consumer groups here.
    fn stream_ids_with_groups(&self, db: u8, key: &[u8]) -> Option<Vec<crdt::stream::StreamId>> {
        self.groups.of(db, key)?;
        match self.ks.get(db, key)?.slot(crdt::Kind::Stream)? {
            crdt::Value::Stream(c) => Some(c.data.entries().map(|e| e.id).collect()),
            _ => None,
        }
    }

    /// Stream entries a replicated delta added: late for groups that already delivered
    /// higher IDs (see [`groups`]).
    fn note_stream_arrivals(&mut self, kd: &crdt::KeyDelta) {
        if self.groups.is_empty() || self.groups.of(kd.db, &kd.key).is_none() {
            return;
        }
        let Some(crdt::Value::Stream(c)) = kd.delta.store.slot(crdt::Kind::Stream) else {
            return;
        };
        let ids: Vec<crdt::stream::StreamId> = c.data.entries().map(|e| e.id).collect();
        if !ids.is_empty() {
            self.groups.arrived(kd.db, &kd.key, &ids);
        }
    }

    /// Registers a WATCH of `(db, key)` and returns the key's modification version. Every
    /// delta applied to the key from then on (a local write, a write from another region,
    /// FLUSHDB, an expiry deletion) changes the version; [`Store::watch_version`] reads
    /// it. Each `watch` must be paired with one [`Store::unwatch`].
    pub fn watch(&mut self, db: u8, key: &[u8]) -> u64 {
        let keys = self.watched.entry(db).or_default();
        match keys.get_mut(key) {
            Some(w) => {
                w.watchers += 1;
                w.version
            }
            None => {
                keys.insert(
                    key.into(),
                    Watched {
                        version: 0,
                        watchers: 1,
                    },
                );
                0
            }
        }
    }

    /// Drops one WATCH of `(db, key)`.
    pub fn unwatch(&mut self, db: u8, key: &[u8]) {
        if let Some(keys) = self.watched.get_mut(&db) {
            if let Some(w) = keys.get_mut(key) {
                w.watchers -= 1;
                if w.watchers == 0 {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.watched.remove(&db);
                    }
                }
            }
        }
    }

    /// The modification version of a watched key (`None` if nobody watches it).
    pub fn watch_version(&self, db: u8, key: &[u8]) -> Option<u64> {
        self.watched.get(&db)?.get(key).map(|w| w.version)
    }

    /// The clients blocked on keys (see [`Blocking`]): a blocking command registers in
    /// the same lock in which it found nothing to serve, and every delta applied to a key
    /// from then on (local, replicated from another region, FLUSHDB, expiry) wakes it.
    pub fn blocking(&mut self) -> &mut Blocking {
        &mut self.blocking
    }

    /// Read-only view of the blocked clients (INFO).
    pub fn blocked(&self) -> &Blocking {
        &self.blocking
    }

    /// Stream consumer groups (node-local, never replicated: see [`groups`]).
    pub fn groups(&self) -> &groups::Groups {
        &self.groups
    }

    /// Stream consumer groups, for changes.
    pub fn groups_mut(&mut self) -> &mut groups::Groups {
        &mut self.groups
    }

    /// Logs the group state of every stream whose groups the last command changed (called
    /// when a command releases the store). Without a log it only forgets them.
    pub fn flush_groups_log(&mut self) {
        if !self.groups.has_dirty() {
            return;
        }
        let dirty = self.groups.take_dirty();
        if let Some(log) = &mut self.log {
            for (db, key) in dirty {
                let state = self.groups.encode(db, &key);
                log.record(Applied::Groups {
                    db,
                    key: &key,
                    state: &state,
                });
            }
        }
    }

    /// Drops the consumer groups of `key` unless it is a visible stream.
    fn check_groups(&mut self, db: u8, key: &[u8]) {
        if self.groups.is_empty() || self.groups.of(db, key).is_none() {
            return;
        }
        if self.kind(db, key) != Some(Kind::Stream) {
            self.groups.drop_key(db, key);
        }
    }

    fn apply_key_tracked(&mut self, kd: &crdt::KeyDelta) {
        if !self.watched.is_empty() {
            if let Some(w) = self
                .watched
                .get_mut(&kd.db)
                .and_then(|keys| keys.get_mut(&kd.key[..]))
            {
                w.version += 1;
            }
        }
        if !self.blocking.is_empty() {
            self.blocking.signal(kd.db, &kd.key);
        }
        let before = self.ks.get(kd.db, &kd.key).and_then(|k| k.expire_at());
        self.ks.apply_key(kd);
        self.check_groups(kd.db, &kd.key);
        let db = kd.db % crdt::keyspace::DATABASES as u8;
        let after = match self.ks.db_mut(db).get_mut(&kd.key[..]) {
            Some(k) => {
                // A key's first write starts its access word (node-local, see `access`).
                if k.access() == 0 {
                    k.set_access(access::initial(self.access_mode));
                }
                k.expire_at()
            }
            None => None,
        };
        if before != after {
            if let Some(at) = before {
                self.expiries.remove(&(at, kd.db, kd.key.clone()));
            }
            if let Some(at) = after {
                self.expiries.insert((at, kd.db, kd.key.clone()));
            }
        }
    }

    /// Merges one key of another region's full-resync snapshot (keeps the expiry index
    /// and watch versions right, like [`Store::apply_remote`]).
    pub fn merge_snapshot_key(
        &mut self,
        db: u8,
        key: &[u8],
        state: &Key,
        ctx: &crdt::CausalContext,
    ) {
        if let Some(w) = self.watched.get_mut(&db).and_then(|keys| keys.get_mut(key)) {
            w.version += 1;
        }
        if !self.blocking.is_empty() {
            self.blocking.signal(db, key);
        }
        let before = self.ks.get(db, key).and_then(|k| k.expire_at());
        // A stream with groups: the entries the merge adds may be late for them.
        let ids_before = self.stream_ids_with_groups(db, key);
        self.ks.merge_key(db, key, state, ctx);
        self.check_groups(db, key);
        if let Some(old) = ids_before {
            let added: Vec<_> = self
                .stream_ids_with_groups(db, key)
                .unwrap_or_default()
                .into_iter()
                .filter(|id| old.binary_search(id).is_err())
                .collect();
            if !added.is_empty() {
                self.groups.arrived(db, key, &added);
            }
        }
        let after = self.ks.get(db, key).and_then(|k| k.expire_at());
        if before != after {
            if let Some(at) = before {
                self.expiries.remove(&(at, db, key.into()));
            }
            if let Some(at) = after {
                self.expiries.insert((at, db, key.into()));
            }
        }
        if let Some(log) = &mut self.log {
            log.record(Applied::MergeKey {
                db,
                key,
                state,
                ctx,
            });
        }
        self.flush_groups_log();
    }

    /// Joins a peer snapshot's context (end of a full resync).
    pub fn merge_snapshot_ctx(&mut self, ctx: &crdt::CausalContext) {
        self.ks.merge_ctx(ctx);
        if let Some(log) = &mut self.log {
            log.record(Applied::MergeCtx(ctx));
        }
    }

    /// Tombstone garbage collection at causal stability.
    pub fn gc(&mut self, stable: &crdt::VersionVector) {
        self.ks.gc(stable);
    }

    fn finish_local(&mut self, op: OpDelta, extra_dots: &[Dot]) {
        let first_seq = self.ks.peek_dot(self.region).seq();
        if !extra_dots.is_empty() {
            self.ks
                .merge_ctx(&crdt::CausalContext::from_dots(extra_dots.iter().copied()));
        }
        self.ks.finish_op(op.dot);
        if let Some(log) = &mut self.log {
            log.record(Applied::Local { op: &op, first_seq });
        }
        self.sink.emit(&op, first_seq);
    }

    /// Deletes up to `budget` expired keys (observed-remove deletes that replicate).
    /// Returns how many were deleted.
    pub fn expire_cycle(&mut self, budget: usize) -> usize {
        let now = self.now_ms();
        let due: Vec<(u64, u8, crdt::Bytes)> = self
            .expiries
            .iter()
            .take_while(|(at, _, _)| *at <= now)
            .take(budget)
            .cloned()
            .collect();
        let n = due.len();
        for (_, db, key) in due {
            let mut w = self.write(db);
            w.delete_raw(&key);
            drop(w);
        }
        self.expired_keys += n as u64;
        n
    }

    /// Drops every key of `db` (FLUSHDB): an observed-remove delete of each key, all in
    /// one op.
    pub fn flush_db(&mut self, db: u8) {
        let keys: Vec<crdt::Bytes> = self.ks.db(db).keys().cloned().collect();
        let mut w = self.write(db);
        for k in keys {
            w.delete_raw(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink that records every op.
    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<Vec<OpDelta>>>);

    impl DeltaSink for Record {
        fn emit(&mut self, op: &OpDelta, _first_seq: u64) {
            self.0.lock().unwrap().push(op.clone());
        }
    }

    fn recorded(region: RegionId) -> (Store, Record) {
        let mut st = Store::new(region);
        let rec = Record::default();
        st.set_sink(Box::new(rec.clone()));
        (st, rec)
    }

    fn set(st: &mut Store, db: u8, key: &[u8], val: &[u8]) {
        st.write(db).put_string(key, val.into(), false);
    }

    #[test]
    fn batch_ships_one_op_for_several_commands() {
        let (mut st, rec) = recorded(1);
        set(&mut st, 0, b"before", b"x");
        assert_eq!(rec.0.lock().unwrap().len(), 1);
        st.begin_batch();
        set(&mut st, 0, b"a", b"1");
        st.write(0).incr_string(b"n", 5, 0.0).unwrap();
        set(&mut st, 3, b"b", b"2");
        st.write(0).delete_raw(b"before");
        // Nothing is shipped while the batch is open, but its writes are visible.
        assert_eq!(rec.0.lock().unwrap().len(), 1);
        assert!(st.get(0, b"a").is_some());
        assert!(st.get(0, b"before").is_none());
        st.end_batch();
        let ops = rec.0.lock().unwrap().clone();
        assert_eq!(ops.len(), 2, "the batch is exactly one op");
        let keys: Vec<(u8, &[u8])> = ops[1].keys.iter().map(|k| (k.db, &k.key[..])).collect();
        for want in [(0, &b"a"[..]), (0, b"n"), (3, b"b"), (0, b"before")] {
            assert!(keys.contains(&want), "{want:?} missing from {keys:?}");
        }
        // Another region applying that one op converges.
        let mut other = Store::new(2);
        for op in &ops {
            other.apply_remote(op);
        }
        assert!(other.get(0, b"before").is_none());
        assert!(other.get(0, b"n").is_some());
        assert!(other.get(3, b"b").is_some());
        // An empty batch ships nothing.
        st.begin_batch();
        st.end_batch();
        assert_eq!(rec.0.lock().unwrap().len(), 2);
    }

    #[test]
    fn watched_versions_change_on_every_kind_of_write() {
        let (mut st, rec) = recorded(1);
        assert_eq!(st.watch_version(0, b"k"), None);
        let v0 = st.watch(0, b"k");
        assert_eq!(st.watch_version(0, b"k"), Some(v0));
        // Writes to other keys or dbs do not touch it.
        set(&mut st, 0, b"other", b"1");
        set(&mut st, 1, b"k", b"1");
        assert_eq!(st.watch_version(0, b"k"), Some(v0));
        // A local write does.
        set(&mut st, 0, b"k", b"1");
        let v1 = st.watch_version(0, b"k").unwrap();
        assert_ne!(v1, v0);
        // A remote write does.
        let (mut remote, remote_rec) = recorded(2);
        for op in rec.0.lock().unwrap().iter() {
            remote.apply_remote(op);
        }
        set(&mut remote, 0, b"k", b"2");
        let op = remote_rec.0.lock().unwrap().last().unwrap().clone();
        st.apply_remote(&op);
        let v2 = st.watch_version(0, b"k").unwrap();
        assert_ne!(v2, v1);
        // Re-applying the same op is a no-op.
        st.apply_remote(&op);
        assert_eq!(st.watch_version(0, b"k"), Some(v2));
        // FLUSHDB does.
        st.flush_db(0);
        let v3 = st.watch_version(0, b"k").unwrap();
        assert_ne!(v3, v2);
        // Expiry deletion does.
        set(&mut st, 0, b"k", b"3");
        let now = st.now_ms();
        st.write(0).expire_at(b"k", now + 1);
        let v4 = st.watch_version(0, b"k").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(st.expire_cycle(10), 1);
        assert_ne!(st.watch_version(0, b"k").unwrap(), v4);
        // Watches are counted; the entry goes with the last one.
        st.watch(0, b"k");
        st.unwatch(0, b"k");
        assert!(st.watch_version(0, b"k").is_some());
        st.unwatch(0, b"k");
        assert_eq!(st.watch_version(0, b"k"), None);
        assert!(st.watched.is_empty());
    }
}
