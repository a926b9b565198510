//! Eviction over `maxmemory` (`maxmemory-policy`). An evicted key is deleted
//! through the normal write path ([`super::Write::delete_raw`]): the delete is
//! an ordinary observed-remove op, logged and replicated, so every region drops
//! the key too.
//!
//! * `allkeys-random`: the first live key in hash-table order among a bounded
//!   sample of each database (the table's order is the keys' hashes, so which
//!   key goes is unrelated to its name or age).
//! * `volatile-ttl`: the key with a TTL that expires soonest (the expiry index
//!   is ordered by time).
//! * `allkeys-lru`, `volatile-lru`, `allkeys-lfu`, `volatile-lfu`: sampled as
//!   Redis does, from the node-local access words (see [`super::access`]). Each
//!   eviction takes the next `maxmemory-samples` keys of every non-empty
//!   database (allkeys: in hash-table order, continuing where the previous
//!   sample stopped, wrapping at the end; volatile: the keys with a TTL, in
//!   expiry-index order, likewise), merges them into a pool of the 16 best
//!   candidates seen so far (rescored on every eviction, so a key read since it
//!   entered the pool loses its place), and evicts the pool's best: the longest
//!   idle (LRU) or the lowest decayed frequency counter (LFU).

use super::access::{self, AccessMode};
use super::Store;

/// Entries of one database looked at to find a live key (bounds the work under
/// the store lock when the table holds many tombstones).
const SAMPLE: usize = 1024;

/// Candidates kept between evictions (Redis' `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// `maxmemory-samples` bounds.
pub const SAMPLES_MAX: usize = 64;

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Refuse commands that may grow memory.
    NoEviction,
    /// Delete keys of any database.
    AllKeysRandom,
    /// Delete the keys with a TTL that expire soonest.
    VolatileTtl,
    /// Delete the least recently used keys.
    AllKeysLru,
    /// Delete the least recently used keys among those with a TTL.
    VolatileLru,
    /// Delete the least frequently used keys.
    AllKeysLfu,
    /// Delete the least frequently used keys among those with a TTL.
    VolatileLfu,
}

impl Policy {
    /// The names CONFIG SET accepts.
    pub const NAMES: &'static [&'static str] = &[
        "noeviction",
        "allkeys-random",
        "volatile-ttl",
        "allkeys-lru",
        "volatile-lru",
        "allkeys-lfu",
        "volatile-lfu",
    ];

    /// Parses a (lower-case) policy name.
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "noeviction" => Some(Policy::NoEviction),
            "allkeys-random" => Some(Policy::AllKeysRandom),
            "volatile-ttl" => Some(Policy::VolatileTtl),
            "allkeys-lru" => Some(Policy::AllKeysLru),
            "volatile-lru" => Some(Policy::VolatileLru),
            "allkeys-lfu" => Some(Policy::AllKeysLfu),
            "volatile-lfu" => Some(Policy::VolatileLfu),
            _ => None,
        }
    }

    /// Whether the access words hold LFU counters under this policy.
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }
}

/// The state of sampled eviction (LRU/LFU policies).
#[derive(Debug, Default)]
pub(super) struct Sampler {
    /// Best candidates so far: (score, db, key).
    pool: Vec<(u64, u8, crdt::Bytes)>,
    /// Position of the next sample in each database's table order.
    cursor: [usize; crdt::keyspace::DATABASES],
    /// The last expiry-index entry sampled (volatile policies).
    volatile_after: Option<(u64, u8, crdt::Bytes)>,
    /// Keys read ahead from the tables (allkeys policies), `samples` per database
    /// used per eviction: a hash table cannot seek, so reaching the cursor costs a
    /// walk from the table's start, which one read-ahead of [`READ_AHEAD`] samples
    /// pays for many evictions.
    ahead: Vec<(u8, crdt::Bytes)>,
    /// Keys of `ahead` one eviction takes.
    ahead_step: usize,
}

/// Evictions one read-ahead serves.
const READ_AHEAD: usize = 16;

impl Store {
    /// Sets how access words are kept (policy and LFU parameters from the
    /// configuration).
    pub fn set_access_mode(&mut self, mode: AccessMode) {
        self.access_mode = mode;
    }

    /// How access words are kept.
    pub fn access_mode(&self) -> AccessMode {
        self.access_mode
    }

    /// Records an access to a key by a client command (no effect if absent).
    pub fn touch(&mut self, db: u8, key: &[u8]) {
        let mode = self.access_mode;
        let random = if mode.lfu { self.random() } else { 0.0 };
        if (db as usize) >= crdt::keyspace::DATABASES {
            return;
        }
        if let Some(k) = self.ks.db_mut(db).get_mut(key) {
            k.set_access(access::touched(k.access(), mode, random));
        }
    }

    /// The access word of a visible key.
    pub fn access_word(&self, db: u8, key: &[u8]) -> Option<u32> {
        self.get(db, key)?;
        self.ks.get(db, key).map(|k| k.access())
    }

    fn random(&mut self) -> f64 {
        // xorshift64*: node-local, only for the LFU increment probability.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next key `policy` would evict, if any (`samples`: `maxmemory-samples`).
    pub fn eviction_candidate(
        &mut self,
        policy: Policy,
        samples: usize,
    ) -> Option<(u8, crdt::Bytes)> {
        let now = self.now_ms();
        match policy {
            Policy::NoEviction => None,
            Policy::AllKeysRandom => (0..crdt::keyspace::DATABASES as u8).find_map(|db| {
                self.ks
                    .db(db)
                    .iter()
                    .take(SAMPLE)
                    .find(|(_, k)| Store::live(k, now).is_some())
                    .map(|(key, _)| (db, key.clone()))
            }),
            Policy::VolatileTtl => self
                .expiries
                .iter()
                .take(SAMPLE)
                .find(|(at, db, key)| *at > now && self.get(*db, key).is_some())
                .map(|(_, db, key)| (*db, key.clone())),
            Policy::AllKeysLru | Policy::AllKeysLfu => self.sampled(policy, false, samples),
            Policy::VolatileLru | Policy::VolatileLfu => self.sampled(policy, true, samples),
        }
    }

    fn sampled(
        &mut self,
        policy: Policy,
        volatile: bool,
        samples: usize,
    ) -> Option<(u8, crdt::Bytes)> {
        let samples = samples.clamp(1, SAMPLES_MAX);
        let mode = AccessMode {
            lfu: policy.is_lfu(),
            ..self.access_mode
        };
        let now = self.now_ms();
        let mut pool = std::mem::take(&mut self.sampler.pool);
        let mut fresh: Vec<(u8, crdt::Bytes)> = Vec::new();
        if volatile {
            let after = self.sampler.volatile_after.take();
            let mut it: Box<dyn Iterator<Item = &(u64, u8, crdt::Bytes)>> = match &after {
                Some(a) => Box::new(
                    self.expiries
                        .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
                        .chain(self.expiries.iter()),
                ),
                None => Box::new(self.expiries.iter()),
            };
            let mut last = None;
            for _ in 0..samples.min(self.expiries.len()) {
                let Some(e) = it.next() else { break };
                last = Some(e.clone());
                fresh.push((e.1, e.2.clone()));
            }
            self.sampler.volatile_after = last;
        } else {
            if self.sampler.ahead.is_empty() {
                let mut step = 0;
                for db in 0..crdt::keyspace::DATABASES {
                    let table = self.ks.db(db as u8);
                    let len = table.len();
                    if len == 0 {
                        continue;
                    }
                    let from = self.sampler.cursor[db] % len;
                    let n = (samples * READ_AHEAD).min(len);
                    self.sampler.ahead.extend(
                        table
                            .keys()
                            .skip(from)
                            .chain(table.keys())
                            .take(n)
                            .map(|k| (db as u8, k.clone())),
                    );
                    self.sampler.cursor[db] = (from + n) % len;
                    step += samples.min(len);
                }
                self.sampler.ahead_step = step.max(1);
                // Evictions take from the end: order the keys so that the end holds
                // the first `samples` of every database, then the next ones, etc.
                let mut rank: Vec<usize> = vec![0; crdt::keyspace::DATABASES];
                let mut keyed: Vec<(usize, (u8, crdt::Bytes))> = self
                    .sampler
                    .ahead
                    .drain(..)
                    .map(|(db, k)| {
                        let r = rank[db as usize];
                        rank[db as usize] += 1;
                        (r / samples, (db, k))
                    })
                    .collect();
                keyed.sort_by_key(|e| std::cmp::Reverse(e.0));
                self.sampler.ahead = keyed.into_iter().map(|e| e.1).collect();
            }
            let take = self.sampler.ahead_step.min(self.sampler.ahead.len());
            let at = self.sampler.ahead.len() - take;
            fresh.extend(self.sampler.ahead.drain(at..));
        }
        for (db, key) in fresh {
            if !pool.iter().any(|(_, d, k)| *d == db && *k == key) {
                pool.push((0, db, key));
            }
        }
        // Rescore everything (words change on access) and drop what is gone.
        pool.retain_mut(|(score, db, key)| match self.ks.get(*db, key) {
            Some(k) if Store::live(k, now).is_some() && (!volatile || k.expire_at().is_some()) => {
                *score = access::score(k.access(), mode);
                true
            }
            _ => false,
        });
        pool.sort_by_key(|e| std::cmp::Reverse(e.0));
        pool.truncate(POOL_SIZE);
        let best = (!pool.is_empty()).then(|| {
            let (_, db, key) = pool.remove(0);
            (db, key)
        });
        self.sampler.pool = pool;
        best
    }

    /// Evicts one key; false when `policy` finds none.
    pub fn evict_one(&mut self, policy: Policy, samples: usize) -> bool {
        let Some((db, key)) = self.eviction_candidate(policy, samples) else {
            return false;
        };
        self.write(db).delete_raw(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_pick_live_keys() {
        let mut st = Store::new(1);
        assert!(!st.evict_one(Policy::AllKeysRandom, 5));
        {
            let mut w = st.write(3);
            w.put_string(b"a", b"1"[..].into(), false);
            w.put_string(b"b", b"2"[..].into(), false);
        }
        assert!(!st.evict_one(Policy::VolatileTtl, 5), "no key has a TTL");
        assert!(!st.evict_one(Policy::NoEviction, 5));
        let far = st.now_ms() + 1_000_000;
        assert!(st.write(3).expire_at(b"b", far));
        assert_eq!(
            st.eviction_candidate(Policy::VolatileTtl, 5),
            Some((3, b"b"[..].into()))
        );
        assert!(st.evict_one(Policy::VolatileTtl, 5));
        assert!(st.get(3, b"b").is_none() && st.get(3, b"a").is_some());
        assert!(st.evict_one(Policy::AllKeysRandom, 5));
        assert_eq!(st.dbsize(3), 0);
        assert!(!st.evict_one(Policy::AllKeysRandom, 5));
        assert_eq!(Policy::parse("allkeys-lru"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn sampled_policies_evict_the_longest_idle_or_least_frequent() {
        let mut st = Store::new(1);
        for i in 0..50u32 {
            let k = format!("k{i}");
            st.write(0).put_string(k.as_bytes(), b"v"[..].into(), false);
            // Key i was last used i seconds ago (idle_ms handles a clock before the
            // word as a wrap, so this holds right after process start too).
            let word = access::lru_now().wrapping_sub(1000 * i).max(1);
            st.ks
                .db_mut(0)
                .get_mut(k.as_bytes())
                .unwrap()
                .set_access(word);
        }
        // With more samples than keys every eviction sees them all: exact LRU order.
        for i in (45..50).rev() {
            assert_eq!(
                st.eviction_candidate(Policy::AllKeysLru, SAMPLES_MAX),
                Some((0, format!("k{i}").into_bytes().into()))
            );
            assert!(st.evict_one(Policy::AllKeysLru, SAMPLES_MAX));
        }
        assert_eq!(st.dbsize(0), 45);
        // No key has a TTL: the volatile policies find nothing.
        assert!(!st.evict_one(Policy::VolatileLru, 5));
        assert!(!st.evict_one(Policy::VolatileLfu, 5));
        // LFU: the lowest counter goes first, and only keys with a TTL for volatile-lfu.
        let lfu = AccessMode {
            lfu: true,
            ..AccessMode::default()
        };
        st.set_access_mode(lfu);
        let far = st.now_ms() + 1_000_000;
        for i in 0..10u32 {
            let k = format!("k{i}");
            assert!(st.write(0).expire_at(k.as_bytes(), far));
            let mut word = access::initial(lfu);
            for _ in 0..(10 - i) {
                word = access::touched(word, lfu, 0.0);
            }
            st.ks
                .db_mut(0)
                .get_mut(k.as_bytes())
                .unwrap()
                .set_access(word);
        }
        assert_eq!(
            st.eviction_candidate(Policy::VolatileLfu, SAMPLES_MAX),
            Some((0, b"k9"[..].into()))
        );
        for _ in 0..10 {
            assert!(st.evict_one(Policy::VolatileLfu, 5));
        }
        assert!(
            !st.evict_one(Policy::VolatileLfu, 5),
            "only keys with a TTL"
        );
        assert_eq!(st.dbsize(0), 35);
    }
}
