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

mod write;

pub use write::{Write, WrongType};

use crdt::{Dot, HlcClock, Key, Keyspace, Kind, OpDelta, RegionId, Value};
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

/// Receives every op this region applies locally (replication, persistence).
pub trait DeltaSink: Send {
    /// Called once per local write op, after it is applied.
    fn emit(&mut self, op: &OpDelta);
}

/// A sink that drops everything (a single region without persistence).
#[derive(Debug, Default)]
pub struct NoSink;

impl DeltaSink for NoSink {
    fn emit(&mut self, _op: &OpDelta) {}
}

/// The region's data store (see module docs).
pub struct Store {
    region: RegionId,
    ks: Keyspace,
    clock: HlcClock,
    /// (expiry ms, db, key) of every key with a TTL.
    expiries: BTreeSet<(u64, u8, crdt::Bytes)>,
    sink: Box<dyn DeltaSink>,
    /// Test-only offset added to the wall clock (clock-skew nemesis).
    clock_offset_ms: i64,
    /// Number of keys expired by this region.
    pub expired_keys: u64,
    /// Whether a MULTI/EXEC batch is open.
    batch_open: bool,
    /// The open batch's op so far.
    batch: Option<Batch>,
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
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let point = exp + 1; // digits before the decimal point
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
            clock_offset_ms: 0,
            expired_keys: 0,
            batch_open: false,
            batch: None,
        }
    }

    /// Replaces the delta sink.
    pub fn set_sink(&mut self, sink: Box<dyn DeltaSink>) {
        self.sink = sink;
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
        self.clock.observe(op.hlc);
        for kd in &op.keys {
            self.apply_key_tracked(kd);
        }
        self.ks.finish_op(op.dot);
    }

    fn apply_key_tracked(&mut self, kd: &crdt::KeyDelta) {
        let before = self.ks.get(kd.db, &kd.key).and_then(|k| k.expire_at());
        self.ks.apply_key(kd);
        let after = self.ks.get(kd.db, &kd.key).and_then(|k| k.expire_at());
        if before != after {
            if let Some(at) = before {
                self.expiries.remove(&(at, kd.db, kd.key.clone()));
            }
            if let Some(at) = after {
                self.expiries.insert((at, kd.db, kd.key.clone()));
            }
        }
    }

    fn finish_local(&mut self, op: OpDelta, extra_dots: &[Dot]) {
        if !extra_dots.is_empty() {
            self.ks
                .merge_ctx(&crdt::CausalContext::from_dots(extra_dots.iter().copied()));
        }
        self.ks.finish_op(op.dot);
        self.sink.emit(&op);
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
