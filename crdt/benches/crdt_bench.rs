//! CRDT core figures: memory (metadata bytes per element) and throughput.
//!
//! Not a timed test: it prints figures (markdown tables) that are copied into
//! BENCHMARKS.md. Run:
//!
//! ```text
//! cargo bench -p meridian-crdt --bench crdt_bench
//! MERIDIAN_BENCH_N=100000 cargo bench -p meridian-crdt --bench crdt_bench   # quicker
//! ```
//!
//! Memory is measured with a counting global allocator (live bytes requested from the
//! allocator, i.e. without malloc's own per-block overhead) plus `size_of` of the inline
//! root. Each CRDT structure is built through the crate's delta mutators (generate a
//! delta, `join_delta` it), and the same data is built in a plain non-CRDT structure with
//! the same hash table (std `HashMap`/`HashSet`), so "metadata per element" is the
//! difference of the two totals divided by N: it includes the payload-independent cost
//! of the CRDT entry *and* the hash table's empty slots, which multiply any per-entry
//! growth (slots per element are printed too).

use crdt::context::{Causal, CausalContext};
use crdt::dotset::DotFun;
use crdt::field::Field;
use crdt::hash::ORHash;
use crdt::key::{Coll, Key, Kind, Value};
use crdt::set::ORSet;
use crdt::zset::ZSet;
use crdt::{codec, Bytes, Dot, Hlc, KeyDelta, Keyspace, OpDelta, RegionId};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

// ---------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Live allocations (blocks).
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
/// Live bytes as glibc malloc would hold them (see [`malloc_chunk`]).
static CHUNKS: AtomicUsize = AtomicUsize::new(0);

/// Estimated glibc (64-bit) chunk size for a request: 8 bytes of header, 16-byte
/// granularity, 32 bytes minimum. An estimate of what the allocator really uses, so the
/// cost of the number of allocations is visible next to the bytes requested.
fn malloc_chunk(size: usize) -> usize {
    ((size + 8 + 15) & !15).max(32)
}

fn on_alloc(size: usize) {
    LIVE.fetch_add(size, Relaxed);
    BLOCKS.fetch_add(1, Relaxed);
    CHUNKS.fetch_add(malloc_chunk(size), Relaxed);
}

fn on_dealloc(size: usize) {
    LIVE.fetch_sub(size, Relaxed);
    BLOCKS.fetch_sub(1, Relaxed);
    CHUNKS.fetch_sub(malloc_chunk(size), Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            on_alloc(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            on_alloc(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        on_dealloc(l.size());
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            on_alloc(new);
            on_dealloc(l.size());
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a structure retains: bytes requested (heap + inline root), the same with glibc's
/// chunk rounding, and live allocations.
#[derive(Clone, Copy)]
struct Mem {
    bytes: usize,
    chunks: usize,
    blocks: usize,
}

/// Builds a value and returns it with what it retains.
fn measure<T>(build: impl FnOnce() -> T) -> (T, Mem) {
    let (b0, c0, k0) = (
        LIVE.load(Relaxed),
        CHUNKS.load(Relaxed),
        BLOCKS.load(Relaxed),
    );
    let t = build();
    let (b1, c1, k1) = (
        LIVE.load(Relaxed),
        CHUNKS.load(Relaxed),
        BLOCKS.load(Relaxed),
    );
    let m = Mem {
        bytes: b1.wrapping_sub(b0) + size_of::<T>(),
        chunks: c1.wrapping_sub(c0) + size_of::<T>(),
        blocks: k1.wrapping_sub(k0),
    };
    (t, m)
}

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

const T0: u64 = 1_700_000_000_000;

fn member(i: usize) -> Vec<u8> {
    format!("member:{i:08}").into_bytes()
}
fn keyname(i: usize) -> Vec<u8> {
    format!("key:{i:08}").into_bytes()
}
fn value(i: usize) -> Vec<u8> {
    format!("value:{i:08}").into_bytes()
}
/// The `i`-th of `0..n` in a scattered order (a bijection for odd multipliers when `n`
/// is a power of two; close enough otherwise), so lookups miss the cache as real ones do.
fn scatter(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761)) % n
}

fn hlc(i: usize, region: RegionId) -> Hlc {
    Hlc::new(T0 + i as u64, 0, region)
}

/// A set built with N SADD deltas (one new member each) from `region`, members `lo..hi`.
fn build_set(region: RegionId, lo: usize, hi: usize) -> Causal<ORSet> {
    let mut s = Causal::<ORSet>::new();
    for (seq, i) in (lo..hi).enumerate() {
        let mut dctx = CausalContext::new();
        let d = s
            .store
            .add_delta(&member(i), Dot::new(region, seq as u64 + 1), &mut dctx);
        s.store.join_delta(&s.ctx, &d, &dctx);
        s.ctx.join(&dctx);
    }
    s
}

fn build_hash(n: usize) -> Causal<ORHash> {
    let mut s = Causal::<ORHash>::new();
    for i in 0..n {
        let mut dctx = CausalContext::new();
        let mut d = ORHash::default();
        let dot = Dot::new(1, i as u64 + 1);
        s.store.set_into(
            &mut d,
            &member(i),
            dot,
            hlc(i, 1),
            value(i).into(),
            &mut dctx,
        );
        s.store.join_delta(&s.ctx, &d, &dctx);
        s.ctx.join(&dctx);
    }
    s
}

fn build_zset(n: usize) -> Causal<ZSet> {
    let mut s = Causal::<ZSet>::new();
    for i in 0..n {
        let mut dctx = CausalContext::new();
        let mut d = ZSet::default();
        let dot = Dot::new(1, i as u64 + 1);
        s.store
            .add_into(&mut d, &member(i), dot, hlc(i, 1), i as f64, &mut dctx);
        s.store.join_delta(&s.ctx, &d, &dctx);
        s.ctx.join(&dctx);
    }
    s
}

// --- Keyspace ops (whole-op deltas with the key envelope) ------------------------------

static EMPTY_FIELD: Field<Bytes> = Field::Empty;

fn str_field(k: Option<&Key>) -> &Field<Bytes> {
    match k.and_then(|k| k.slot(Kind::String)) {
        Some(Value::Str(f)) => f,
        _ => &EMPTY_FIELD,
    }
}

fn one_key_op(
    ks: &Keyspace,
    region: RegionId,
    i: usize,
    key: &[u8],
    f: impl FnOnce(Option<&Key>, Dot, Hlc, &mut CausalContext) -> Key,
) -> OpDelta {
    let dot = ks.peek_dot(region);
    let h = hlc(i, region);
    let mut dctx = CausalContext::new();
    let store = f(ks.get(0, key), dot, h, &mut dctx);
    OpDelta {
        dot,
        hlc: h,
        keys: vec![KeyDelta {
            db: 0,
            key: key.into(),
            delta: Causal { store, ctx: dctx },
        }],
    }
}

fn set_op(ks: &Keyspace, i: usize, key: &[u8], v: Bytes) -> OpDelta {
    one_key_op(ks, 1, i, key, |cur, dot, h, dctx| {
        Key::from_value(Value::Str(str_field(cur).write_delta(dot, h, v, dctx)))
    })
}

fn incr_op(ks: &Keyspace, i: usize, key: &[u8]) -> OpDelta {
    one_key_op(ks, 1, i, key, |cur, dot, h, dctx| {
        let fresh = cur.and_then(|k| k.slot(Kind::String)).is_none();
        let mut f = str_field(cur).incr_delta(dot, 1, 0.0, dctx);
        if fresh {
            f = f.with_created(dot, h);
        }
        Key::from_value(Value::Str(f))
    })
}

/// Collection ops on keys: a new collection gets a creation stamp; an existing one
/// carries its creation HLC when the write removes the creating op's dot.
macro_rules! coll_op {
    ($ks:expr, $i:expr, $key:expr, $variant:ident, $ty:ty, |$cur:ident, $d:ident, $dot:ident, $h:ident, $dctx:ident| $body:block) => {{
        one_key_op($ks, 1, $i, $key, |k, $dot, $h, $dctx| {
            let empty = <$ty>::default();
            let c = match k.and_then(|k| k.slot(Kind::$variant)) {
                Some(Value::$variant(c)) => Some(&**c),
                _ => None,
            };
            let $cur: &$ty = c.map(|c| &c.data).unwrap_or(&empty);
            let mut $d = <$ty>::default();
            $body;
            let created = match c {
                Some(c) => c.carry_created($dot, $dctx),
                None => DotFun::one($dot, $h),
            };
            Key::from_value(Value::$variant(Box::new(Coll { created, data: $d })))
        })
    }};
}

/// A mixed stream of N ops (SET, INCR, SADD, HSET, ZADD in turn), applied as generated.
fn mixed_ops(n: usize) -> (Vec<OpDelta>, Keyspace) {
    let mut ks = Keyspace::new();
    let mut ops = Vec::with_capacity(n);
    let keys = (n / 100).max(10);
    for i in 0..n {
        let k = i % keys;
        let op = match i % 5 {
            0 => set_op(&ks, i, &keyname(i), value(i).into()),
            1 => incr_op(&ks, i, format!("ctr:{k}").as_bytes()),
            2 => coll_op!(
                &ks,
                i,
                format!("set:{k}").as_bytes(),
                Set,
                ORSet,
                |cur, d, dot, _h, dctx| { cur.add_into(&mut d, &member(i), dot, dctx) }
            ),
            3 => coll_op!(
                &ks,
                i,
                format!("hash:{k}").as_bytes(),
                Hash,
                ORHash,
                |cur, d, dot, h, dctx| {
                    cur.set_into(&mut d, &member(i), dot, h, value(i).into(), dctx)
                }
            ),
            _ => coll_op!(
                &ks,
                i,
                format!("zset:{k}").as_bytes(),
                ZSet,
                ZSet,
                |cur, d, dot, h, dctx| { cur.add_into(&mut d, &member(i), dot, h, i as f64, dctx) }
            ),
        };
        ks.apply(&op);
        ops.push(op);
    }
    (ops, ks)
}

// ---------------------------------------------------------------------------------------
// Report helpers
// ---------------------------------------------------------------------------------------

fn n_from_env() -> usize {
    std::env::var("MERIDIAN_BENCH_N")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n: &usize| n >= 1000)
        .unwrap_or(1_000_000)
}

fn rate(count: usize, secs: f64) -> String {
    let r = count as f64 / secs;
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}

struct MemRow {
    what: &'static str,
    crdt: Mem,
    plain: Mem,
    entry_crdt: usize,
    entry_plain: usize,
    slots: f64,
    target: f64,
}

fn mem_table(n: usize, rows: &[MemRow]) {
    println!("### Memory, N = {n} elements per structure\n");
    println!(
        "| structure | CRDT B/elem | plain B/elem | metadata B/elem (difference) | target | verdict | metadata with malloc chunk rounding (est.) | allocations per elem CRDT / plain | inline entry CRDT / plain (B) | plain hash slots per elem |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for r in rows {
        let per = |x: usize| x as f64 / n as f64;
        let (c, p) = (per(r.crdt.bytes), per(r.plain.bytes));
        let d = c - p;
        let verdict = if d <= r.target {
            "PASS".to_string()
        } else {
            format!("MISS by {:.1}", d - r.target)
        };
        let dm = per(r.crdt.chunks) - per(r.plain.chunks);
        println!(
            "| {} | {c:.1} | {p:.1} | {d:.1} | ≤ {} | {verdict} | {dm:.1} | {:.2} / {:.2} | {} / {} | {:.2} |",
            r.what,
            r.target,
            per(r.crdt.blocks),
            per(r.plain.blocks),
            r.entry_crdt,
            r.entry_plain,
            r.slots
        );
    }
    println!();
}

/// hashbrown keeps 7/8 of its (power of two) buckets usable.
fn slots_per_elem(capacity: usize, n: usize) -> f64 {
    let buckets = if capacity < 8 {
        capacity + 1
    } else {
        capacity / 7 * 8
    };
    buckets as f64 / n as f64
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

fn main() {
    let n = n_from_env();
    println!("# meridian-crdt benchmark (N = {n}; set MERIDIAN_BENCH_N to change)\n");

    // ---- (a) memory --------------------------------------------------------------
    let mut rows = Vec::new();
    {
        let (s, crdt) = measure(|| build_set(1, 0, n));
        assert_eq!(s.store.len(), n);
        drop(s);
        let (p, plain) = measure(|| {
            let mut h: HashSet<Bytes> = HashSet::new();
            for i in 0..n {
                h.insert(member(i).into());
            }
            h
        });
        rows.push(MemRow {
            what: "set member (ORSet)",
            crdt,
            plain,
            entry_crdt: size_of::<(Bytes, crdt::dotset::DotSet)>(),
            entry_plain: size_of::<Bytes>(),
            slots: slots_per_elem(p.capacity(), n),
            target: 24.0,
        });
    }
    {
        let (ks, crdt) = measure(|| {
            let mut ks = Keyspace::new();
            for i in 0..n {
                let op = set_op(&ks, i, &keyname(i), value(i).into());
                ks.apply(&op);
            }
            ks
        });
        assert_eq!(ks.db(0).len(), n);
        drop(ks);
        let (p, plain) = measure(|| {
            let mut h: HashMap<Bytes, Bytes> = HashMap::new();
            for i in 0..n {
                h.insert(keyname(i).into(), value(i).into());
            }
            h
        });
        rows.push(MemRow {
            what: "string key (Keyspace db, Key)",
            crdt,
            plain,
            entry_crdt: size_of::<(Bytes, Key)>(),
            entry_plain: size_of::<(Bytes, Bytes)>(),
            slots: slots_per_elem(p.capacity(), n),
            target: 40.0,
        });
    }
    {
        let (s, crdt) = measure(|| build_hash(n));
        assert_eq!(s.store.as_map().entries_len(), n);
        drop(s);
        let (p, plain) = measure(|| {
            let mut h: HashMap<Bytes, Bytes> = HashMap::new();
            for i in 0..n {
                h.insert(member(i).into(), value(i).into());
            }
            h
        });
        rows.push(MemRow {
            what: "hash field (ORHash)",
            crdt,
            plain,
            entry_crdt: size_of::<(Bytes, Field<Bytes>)>(),
            entry_plain: size_of::<(Bytes, Bytes)>(),
            slots: slots_per_elem(p.capacity(), n),
            target: 24.0,
        });
    }
    {
        let (s, crdt) = measure(|| build_zset(n));
        assert_eq!(s.store.as_map().entries_len(), n);
        drop(s);
        let (p, plain) = measure(|| {
            let mut h: HashMap<Bytes, f64> = HashMap::new();
            for i in 0..n {
                h.insert(member(i).into(), i as f64);
            }
            h
        });
        rows.push(MemRow {
            what: "zset member (ZSet)",
            crdt,
            plain,
            entry_crdt: size_of::<(Bytes, Field<f64>)>(),
            entry_plain: size_of::<(Bytes, f64)>(),
            slots: slots_per_elem(p.capacity(), n),
            target: 24.0,
        });
    }
    mem_table(n, &rows);

    // ---- (b) throughput ------------------------------------------------------------
    println!("### Throughput (one thread)\n");
    println!("| operation | count | time (s) | rate |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, count: usize, secs: f64, unit: &str| {
        println!(
            "| {what} | {count} | {secs:.3} | {} {unit} |",
            rate(count, secs)
        );
    };

    let t = Instant::now();
    let s = build_set(1, 0, n);
    row(
        "SADD delta: generate + join_delta (new members)",
        n,
        t.elapsed().as_secs_f64(),
        "deltas",
    );
    {
        let names: Vec<Vec<u8>> = (0..n).map(|i| member(scatter(i, n))).collect();
        let t = Instant::now();
        let mut hits = 0;
        for m in &names {
            hits += s.store.contains(m) as usize;
        }
        assert_eq!(hits, n);
        row(
            &format!("SISMEMBER (ORSet::contains, {n}-member set, scattered order)"),
            n,
            t.elapsed().as_secs_f64(),
            "lookups",
        );
    }
    drop(black_box(s));

    let t = Instant::now();
    let s = build_hash(n);
    row(
        "HSET delta: generate + join_delta (new fields)",
        n,
        t.elapsed().as_secs_f64(),
        "deltas",
    );
    {
        let names: Vec<Vec<u8>> = (0..n).map(|i| member(scatter(i, n))).collect();
        let t = Instant::now();
        let mut len = 0;
        for f in &names {
            len += s.store.get(f).map_or(0, |v| v.to_bytes().len());
        }
        assert!(len >= n);
        row(
            &format!("HGET (ORHash::get, {n}-field hash, scattered order)"),
            n,
            t.elapsed().as_secs_f64(),
            "lookups",
        );
    }
    drop(black_box(s));

    let t = Instant::now();
    let s = build_zset(n);
    row(
        "ZADD delta: generate + join_delta (new members)",
        n,
        t.elapsed().as_secs_f64(),
        "deltas",
    );
    drop(black_box(s));

    {
        let keys: Vec<Bytes> = (0..n / 2).map(|i| keyname(i).into()).collect();
        let vals: Vec<Bytes> = (0..n).map(|i| value(i).into()).collect();
        let mut ks = Keyspace::new();
        let t = Instant::now();
        for (i, v) in vals.into_iter().enumerate() {
            let op = set_op(&ks, i, &keys[i % keys.len()], v);
            ks.apply(&op);
        }
        row(
            "SET op (Keyspace::apply; N/2 keys, half overwrites)",
            n,
            t.elapsed().as_secs_f64(),
            "ops",
        );
        let m = keys.len();
        let t = Instant::now();
        let mut len = 0;
        for i in 0..n {
            let k = &keys[scatter(i, m)];
            if let Some(Value::Str(f)) = ks.get(0, k).and_then(|k| k.visible()) {
                len += crdt::string::read(f).map_or(0, |v| v.to_bytes().len());
            }
        }
        assert!(len >= n);
        row(
            "GET (Keyspace::get + Key::visible + string::read; N/2 keys, scattered order)",
            n,
            t.elapsed().as_secs_f64(),
            "lookups",
        );
        drop(black_box(ks));
    }
    {
        let keys: Vec<Bytes> = (0..1000)
            .map(|i| format!("ctr:{i}").into_bytes().into())
            .collect();
        let mut ks = Keyspace::new();
        let t = Instant::now();
        for i in 0..n {
            let op = incr_op(&ks, i, &keys[i % keys.len()]);
            ks.apply(&op);
        }
        row(
            "INCR op (Keyspace::apply; 1000 counters)",
            n,
            t.elapsed().as_secs_f64(),
            "ops",
        );
        drop(black_box(ks));
    }

    // Full-state merge of two 100k-member sets (half the members in common, written
    // concurrently by two regions).
    {
        let m = n.min(100_000);
        let a = build_set(1, 0, m);
        let b = build_set(2, m / 2, m / 2 + m);
        let reps = 5;
        let mut secs = 0.0;
        let mut len = 0;
        for _ in 0..reps {
            let mut x = a.clone();
            let t = Instant::now();
            x.merge(&b);
            secs += t.elapsed().as_secs_f64();
            len = x.store.len();
            drop(black_box(x));
        }
        assert_eq!(len, m + m / 2);
        row(
            &format!("full-state merge, two {m}-member sets (elements = size A + size B, ×{reps})"),
            2 * m * reps,
            secs,
            "elements",
        );
    }

    // Encode / decode of op deltas (mixed stream), and replaying them on a fresh replica.
    {
        let m = n.min(200_000);
        let (ops, _) = mixed_ops(m);
        let t = Instant::now();
        let blobs: Vec<Vec<u8>> = ops.iter().map(codec::encode_op).collect();
        let enc = t.elapsed().as_secs_f64();
        let bytes: usize = blobs.iter().map(|b| b.len()).sum();
        let t = Instant::now();
        let decoded: Vec<OpDelta> = blobs
            .iter()
            .map(|b| codec::decode_op(b).expect("decodes"))
            .collect();
        let dec = t.elapsed().as_secs_f64();
        assert!(decoded == ops);
        let mb = bytes as f64 / 1e6;
        println!(
            "| encode OpDelta (mixed SET/INCR/SADD/HSET/ZADD, avg {:.1} B/op) | {m} | {enc:.3} | {} ops, {:.0} MB/s |",
            bytes as f64 / m as f64,
            rate(m, enc),
            mb / enc
        );
        println!(
            "| decode OpDelta (same stream) | {m} | {dec:.3} | {} ops, {:.0} MB/s |",
            rate(m, dec),
            mb / dec
        );
        let mut ks = Keyspace::new();
        let t = Instant::now();
        for op in &decoded {
            ks.apply(op);
        }
        row(
            "apply decoded OpDelta on a fresh replica (same stream)",
            m,
            t.elapsed().as_secs_f64(),
            "ops",
        );
    }
    println!();
}
