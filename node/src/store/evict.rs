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
//!
//! LRU/LFU policies would need per-key access times, which the CRDT store does
//! not keep; they are refused by CONFIG SET.

use super::Store;

/// Entries of one database looked at to find a live key (bounds the work under
/// the store lock when the table holds many tombstones).
const SAMPLE: usize = 1024;

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Refuse commands that may grow memory.
    NoEviction,
    /// Delete keys of any database.
    AllKeysRandom,
    /// Delete the keys with a TTL that expire soonest.
    VolatileTtl,
}

impl Policy {
    /// The names CONFIG SET accepts.
    pub const NAMES: &'static [&'static str] = &["noeviction", "allkeys-random", "volatile-ttl"];

    /// Parses a (lower-case) policy name.
    pub fn parse(name: &str) -> Option<Policy> {
        match name {
            "noeviction" => Some(Policy::NoEviction),
            "allkeys-random" => Some(Policy::AllKeysRandom),
            "volatile-ttl" => Some(Policy::VolatileTtl),
            _ => None,
        }
    }
}

impl Store {
    /// The next key `policy` would evict, if any.
    pub fn eviction_candidate(&self, policy: Policy) -> Option<(u8, crdt::Bytes)> {
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
        }
    }

    /// Evicts one key; false when `policy` finds none.
    pub fn evict_one(&mut self, policy: Policy) -> bool {
        let Some((db, key)) = self.eviction_candidate(policy) else {
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
        assert!(!st.evict_one(Policy::AllKeysRandom));
        {
            let mut w = st.write(3);
            w.put_string(b"a", b"1"[..].into(), false);
            w.put_string(b"b", b"2"[..].into(), false);
        }
        assert!(!st.evict_one(Policy::VolatileTtl), "no key has a TTL");
        assert!(!st.evict_one(Policy::NoEviction));
        let far = st.now_ms() + 1_000_000;
        assert!(st.write(3).expire_at(b"b", far));
        assert_eq!(
            st.eviction_candidate(Policy::VolatileTtl),
            Some((3, b"b"[..].into()))
        );
        assert!(st.evict_one(Policy::VolatileTtl));
        assert!(st.get(3, b"b").is_none() && st.get(3, b"a").is_some());
        assert!(st.evict_one(Policy::AllKeysRandom));
        assert_eq!(st.dbsize(3), 0);
        assert!(!st.evict_one(Policy::AllKeysRandom));
        assert_eq!(Policy::parse("allkeys-lru"), None);
    }
}
