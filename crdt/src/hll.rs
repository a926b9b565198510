//! HyperLogLog with Redis' exact algorithm, as a causal CRDT.
//!
//! # Algorithm (identical to Redis 7 `hyperloglog.c`)
//!
//! An element is hashed with MurmurHash64A (seed `0xadc83b19`); the low 14 bits pick one
//! of 16384 registers and the register keeps the maximum of "position of the lowest set
//! bit of the remaining 50 bits, plus one" (1..=51). The estimate is Ertl's improved
//! estimator (`hllCount` with `hllSigma` / `hllTau`), so PFCOUNT returns the same number
//! as redis-server for the same inputs.
//!
//! # CRDT
//!
//! The registers live in *epochs*, one per creation of the key: an epoch is keyed by a dot
//! of the write that created the key. PFADD /
//! PFMERGE raise registers (max) of one epoch they observed; reads take the register-wise
//! max over all epochs; merging is register-wise max per epoch. An epoch follows the causal
//! rule of every Meridian entry: a replica whose context has seen its dot and that does not
//! hold it has deleted it. So a DEL removes the epochs it observed **including the
//! increments a concurrent PFADD made to them**: DEL wins over a concurrent PFADD, as
//! DESIGN.md requires. A PFADD that *creates* the key concurrently with a DEL (it had not
//! seen the deleted key) starts an epoch the DEL never saw, which survives, as for every
//! type. Two regions creating the key concurrently give two epochs (counted together).
//!
//! Registers are stored sparse (sorted `(index, value)` pairs) while at most
//! [`SPARSE_MAX`] are non-zero, dense (6 bits per register, 12 KiB, the Redis layout)
//! beyond: the form is canonical (decided by the contents), so equal states compare equal.

use crate::context::{CausalContext, DotStore};
use crate::dot::Dot;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// log2 of the register count.
pub const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits of the hash after the index.
const Q: u32 = 64 - P;
/// Bytes of the dense form (6 bits per register).
pub const DENSE_BYTES: usize = REGISTERS * 6 / 8;
/// Largest number of non-zero registers kept in the sparse form.
pub const SPARSE_MAX: usize = 1024;
/// Largest register value.
const MAX_REG: u8 = (Q + 1) as u8;

/// MurmurHash64A as Redis uses it (little-endian reads).
pub fn murmur64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let len = key.len();
    let mut h: u64 = (seed as u64) ^ (len as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate().rev() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Register index and value of an element (Redis `hllPatLen`).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc83b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// 16384 six-bit registers (canonical sparse or dense form, see module docs).
#[derive(Clone, PartialEq, Eq)]
pub enum Registers {
    /// Non-zero registers as `index << 8 | value`, sorted by index.
    Sparse(Vec<u32>),
    /// Redis' dense layout.
    Dense(Box<[u8; DENSE_BYTES]>),
}

impl Default for Registers {
    fn default() -> Self {
        Registers::Sparse(Vec::new())
    }
}

impl std::fmt::Debug for Registers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nz: Vec<(usize, u8)> = self.nonzero().collect();
        write!(f, "Registers({} non-zero)", nz.len())
    }
}

fn dense_get(d: &[u8; DENSE_BYTES], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = d[byte] as u16;
    let b1 = if byte + 1 < DENSE_BYTES {
        d[byte + 1] as u16
    } else {
        0
    };
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(d: &mut [u8; DENSE_BYTES], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = v as u16 & 63;
    d[byte] &= !((63u16 << fb) as u8);
    d[byte] |= (v << fb) as u8;
    if fb > 2 && byte + 1 < DENSE_BYTES {
        d[byte + 1] &= !((63u16 >> (8 - fb)) as u8);
        d[byte + 1] |= (v >> (8 - fb)) as u8;
    }
}

impl Registers {
    /// Register `i`.
    pub fn get(&self, i: usize) -> u8 {
        match self {
            Registers::Sparse(v) => match v.binary_search_by_key(&(i as u32), |x| x >> 8) {
                Ok(j) => (v[j] & 0xff) as u8,
                Err(_) => 0,
            },
            Registers::Dense(d) => dense_get(d, i),
        }
    }

    /// Non-zero registers `(index, value)`, by index.
    pub fn nonzero(&self) -> Box<dyn Iterator<Item = (usize, u8)> + '_> {
        match self {
            Registers::Sparse(v) => Box::new(v.iter().map(|x| ((x >> 8) as usize, *x as u8))),
            Registers::Dense(d) => Box::new(
                (0..REGISTERS)
                    .map(move |i| (i, dense_get(d, i)))
                    .filter(|x| x.1 != 0),
            ),
        }
    }

    /// Raises register `i` to `v`; returns whether it changed.
    pub fn raise(&mut self, i: usize, v: u8) -> bool {
        let v = v.min(MAX_REG);
        match self {
            Registers::Sparse(s) => match s.binary_search_by_key(&(i as u32), |x| x >> 8) {
                Ok(j) => {
                    if (s[j] & 0xff) as u8 >= v {
                        return false;
                    }
                    s[j] = (i as u32) << 8 | v as u32;
                    true
                }
                Err(j) => {
                    if v == 0 {
                        return false;
                    }
                    s.insert(j, (i as u32) << 8 | v as u32);
                    if s.len() > SPARSE_MAX {
                        self.densify();
                    }
                    true
                }
            },
            Registers::Dense(d) => {
                if dense_get(d, i) >= v {
                    return false;
                }
                dense_set(d, i, v);
                true
            }
        }
    }

    fn densify(&mut self) {
        if let Registers::Sparse(s) = self {
            let mut d = Box::new([0u8; DENSE_BYTES]);
            for x in s.iter() {
                dense_set(&mut d, (x >> 8) as usize, *x as u8);
            }
            *self = Registers::Dense(d);
        }
    }

    /// Register-wise max with `o`; returns whether anything changed.
    pub fn merge(&mut self, o: &Registers) -> bool {
        let mut changed = false;
        for (i, v) in o.nonzero() {
            changed |= self.raise(i, v);
        }
        changed
    }

    /// Adds an element (PFADD); returns whether a register changed.
    pub fn add(&mut self, ele: &[u8]) -> bool {
        let (i, v) = pat_len(ele);
        self.raise(i, v)
    }

    /// Redis 7's estimate (`hllCount`, Ertl's improved estimator).
    pub fn count(&self) -> u64 {
        let mut histo = [0u32; 64];
        let mut nz = 0u32;
        for (_, v) in self.nonzero() {
            histo[v as usize] += 1;
            nz += 1;
        }
        histo[0] = REGISTERS as u32 - nz;
        count_histo(&histo)
    }

    /// Whether every register is zero.
    pub fn is_zero(&self) -> bool {
        matches!(self, Registers::Sparse(v) if v.is_empty())
    }

    /// The dense layout (Redis' `HLL_DENSE` registers), for DEBUG / dumps.
    pub fn to_dense(&self) -> Box<[u8; DENSE_BYTES]> {
        match self {
            Registers::Dense(d) => d.clone(),
            Registers::Sparse(s) => {
                let mut d = Box::new([0u8; DENSE_BYTES]);
                for x in s {
                    dense_set(&mut d, (x >> 8) as usize, *x as u8);
                }
                d
            }
        }
    }
}

fn hll_sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    // Converges in at most a few dozen steps (x < 1); bounded for safety.
    for _ in 0..1000 {
        x *= x;
        let zp = z;
        z += x * y;
        y += y;
        if zp == z {
            break;
        }
    }
    z
}

fn hll_tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    for _ in 0..1000 {
        x = x.sqrt();
        let zp = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if zp == z {
            break;
        }
    }
    z / 3.0
}

fn count_histo(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * hll_tau((m - h[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * hll_sigma(h[0] as f64 / m);
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    (ALPHA_INF * m * m / z).round() as u64
}

impl Serialize for Registers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Registers::Sparse(v) => (0u8, serde_bytes::Bytes::new(&[]), &v[..]).serialize(s),
            Registers::Dense(d) => {
                (1u8, serde_bytes::Bytes::new(&d[..]), &[][..] as &[u32]).serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Registers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (tag, bytes, sparse): (u8, serde_bytes::ByteBuf, Vec<u32>) =
            Deserialize::deserialize(d)?;
        let r = match tag {
            0 => {
                let ok = sparse.windows(2).all(|w| w[0] >> 8 < w[1] >> 8)
                    && sparse.iter().all(|x| {
                        (x >> 8) < REGISTERS as u32 && (1..=MAX_REG as u32).contains(&(x & 0xff))
                    })
                    && sparse.len() <= SPARSE_MAX;
                if !ok || !bytes.is_empty() {
                    return Err(D::Error::custom("malformed sparse HyperLogLog"));
                }
                Registers::Sparse(sparse)
            }
            1 => {
                let arr: [u8; DENSE_BYTES] = bytes
                    .into_vec()
                    .try_into()
                    .map_err(|_| D::Error::custom("dense HyperLogLog of the wrong size"))?;
                let r = Registers::Dense(Box::new(arr));
                let n = r.nonzero().count();
                if n <= SPARSE_MAX || !sparse.is_empty() || r.nonzero().any(|x| x.1 > MAX_REG) {
                    return Err(D::Error::custom("non-canonical dense HyperLogLog"));
                }
                r
            }
            _ => return Err(D::Error::custom("unknown HyperLogLog form")),
        };
        Ok(r)
    }
}

/// A HyperLogLog value: registers per epoch (see module docs), sorted by epoch dot.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "HllWire")]
pub struct Hll {
    epochs: Vec<(Dot, Registers)>,
}

/// The encoded form of [`Hll`] (same layout), checked when decoding.
#[derive(Deserialize)]
struct HllWire {
    epochs: Vec<(Dot, Registers)>,
}

impl TryFrom<HllWire> for Hll {
    type Error = &'static str;
    fn try_from(w: HllWire) -> Result<Hll, &'static str> {
        if w.epochs.windows(2).any(|p| p[0].0 >= p[1].0) {
            return Err("HyperLogLog epochs not strictly sorted");
        }
        Ok(Hll { epochs: w.epochs })
    }
}

impl Hll {
    /// Whether a reader sees a value (some epoch exists).
    pub fn is_present(&self) -> bool {
        !self.epochs.is_empty()
    }

    /// The registers a reader sees: the max over epochs.
    pub fn registers(&self) -> Registers {
        let mut it = self.epochs.iter();
        let mut r = it.next().map(|e| e.1.clone()).unwrap_or_default();
        for e in it {
            r.merge(&e.1);
        }
        r
    }

    /// PFCOUNT of this value.
    pub fn count(&self) -> u64 {
        match self.epochs.as_slice() {
            [(_, r)] => r.count(),
            _ => self.registers().count(),
        }
    }

    /// A value of one epoch `dot` holding `regs` (COPY, RENAME, RESTORE-like rebuilds).
    pub fn from_registers(dot: Dot, regs: Registers) -> Hll {
        Hll {
            epochs: vec![(dot, regs)],
        }
    }

    /// Whether [`Hll::raise_delta`] with `add` would change anything.
    pub fn raises(&self, add: &Registers) -> bool {
        match self.epochs.last() {
            None => true,
            Some((_, r)) => add.nonzero().any(|(i, v)| v > r.get(i)),
        }
    }

    /// Delta raising the registers of an observed epoch by `add` (PFADD / PFMERGE on an
    /// existing value), or creating the epoch `dot` when there is none (a new key).
    /// `None` when nothing changes.
    #[must_use]
    pub fn raise_delta(&self, add: &Registers, dot: Dot, dctx: &mut CausalContext) -> Option<Hll> {
        match self.epochs.last() {
            Some((e, r)) => {
                // Ship only the registers that go up (max is idempotent).
                let mut diff = Registers::default();
                for (i, v) in add.nonzero() {
                    if v > r.get(i) {
                        diff.raise(i, v);
                    }
                }
                (!diff.is_zero()).then(|| Hll {
                    epochs: vec![(*e, diff)],
                })
            }
            None => {
                dctx.insert(dot);
                Some(Hll {
                    epochs: vec![(dot, add.clone())],
                })
            }
        }
    }

    /// Delta removing every observed epoch (DEL).
    #[must_use]
    pub fn remove_all_delta(&self, dctx: &mut CausalContext) -> Hll {
        for (d, _) in &self.epochs {
            dctx.insert(*d);
        }
        Hll::default()
    }
}

impl DotStore for Hll {
    fn join(&mut self, ctx: &CausalContext, other: &Self, other_ctx: &CausalContext) {
        if self.epochs == other.epochs {
            return;
        }
        let a = std::mem::take(&mut self.epochs);
        let mut out = Vec::with_capacity(a.len().max(other.epochs.len()));
        let mut ai = a.into_iter().peekable();
        let mut bi = other.epochs.iter().peekable();
        loop {
            let take_a = match (ai.peek(), bi.peek()) {
                (None, None) => break,
                (Some(x), Some(y)) if x.0 == y.0 => {
                    let mut x = ai.next().expect("peeked");
                    x.1.merge(&bi.next().expect("peeked").1);
                    out.push(x);
                    continue;
                }
                (Some(_), None) => true,
                (Some(x), Some(y)) => x.0 < y.0,
                (None, Some(_)) => false,
            };
            if take_a {
                let x = ai.next().expect("peeked");
                if !other_ctx.contains(x.0) {
                    out.push(x);
                }
            } else {
                let y = bi.next().expect("peeked");
                if !ctx.contains(y.0) {
                    out.push(y.clone());
                }
            }
        }
        self.epochs = out;
    }
    fn is_bottom(&self) -> bool {
        self.epochs.is_empty()
    }
    fn for_each_dot(&self, f: &mut dyn FnMut(Dot)) {
        for (d, _) in &self.epochs {
            f(*d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_packing_roundtrips() {
        let mut d = Box::new([0u8; DENSE_BYTES]);
        for i in 0..REGISTERS {
            dense_set(&mut d, i, (i % 52) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&d, i), (i % 52) as u8, "{i}");
        }
    }

    #[test]
    fn sparse_and_dense_count_alike() {
        let mut r = Registers::default();
        let mut n = 0u64;
        while matches!(r, Registers::Sparse(_)) {
            r.add(format!("e{n}").as_bytes());
            n += 1;
        }
        let sparse_count = {
            let mut s = Registers::default();
            for i in 0..n - 1 {
                s.add(format!("e{i}").as_bytes());
            }
            s.count()
        };
        assert!(n > SPARSE_MAX as u64);
        let c = r.count();
        assert!(c.abs_diff(n) * 100 < n * 3, "{c} vs {n}");
        assert!(sparse_count.abs_diff(n) * 100 < n * 3);
    }

    #[test]
    fn counts_equal_redis_server() {
        // PFADD h e0 .. e{n-1}; PFCOUNT h, as answered by redis-server 7.0.15.
        for (n, want) in [
            (1u32, 1u64),
            (10, 10),
            (100, 100),
            (1000, 1008),
            (10_000, 9973),
            (100_000, 100_853),
        ] {
            let mut r = Registers::default();
            for i in 0..n {
                r.add(format!("e{i}").as_bytes());
            }
            assert_eq!(r.count(), want, "{n} elements");
        }
        // Redis' documented example.
        let mut r = Registers::default();
        for e in ["a", "b", "c", "d", "e", "f", "g"] {
            r.add(e.as_bytes());
        }
        assert_eq!(r.count(), 7);
    }

    #[test]
    fn empty_counts_zero() {
        assert_eq!(Registers::default().count(), 0);
    }
}
