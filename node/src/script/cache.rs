//! The script cache: compiled scripts by SHA1, bounded in number and in body bytes.
//! Past a bound the oldest scripts are evicted first (EVALSHA of an evicted script
//! answers `NOSCRIPT`, upon which clients send EVAL again).

use std::collections::{HashMap, VecDeque};

/// Largest script body accepted (EVAL, SCRIPT LOAD).
pub const BODY_MAX_BYTES: usize = 4 << 20;
/// Most scripts kept.
pub const SCRIPTS_MAX: usize = 10_000;
/// Most body bytes kept.
pub const CACHE_MAX_BYTES: usize = 64 << 20;

struct Entry<T> {
    value: T,
    bytes: usize,
    seq: u64,
}

/// Cached items by SHA1 hex, oldest evicted first.
pub struct Cache<T> {
    map: HashMap<String, Entry<T>>,
    order: VecDeque<(u64, String)>,
    bytes: usize,
    next_seq: u64,
    max_items: usize,
    max_bytes: usize,
    /// Scripts evicted since start.
    pub evicted: u64,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Self::with_bounds(SCRIPTS_MAX, CACHE_MAX_BYTES)
    }
}

impl<T> Cache<T> {
    /// A cache with these bounds.
    pub fn with_bounds(max_items: usize, max_bytes: usize) -> Self {
        Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            next_seq: 0,
            max_items: max_items.max(1),
            max_bytes,
            evicted: 0,
        }
    }

    /// The item cached under `sha`.
    pub fn get(&self, sha: &str) -> Option<&T> {
        self.map.get(sha).map(|e| &e.value)
    }

    /// Whether `sha` is cached.
    pub fn contains(&self, sha: &str) -> bool {
        self.map.contains_key(sha)
    }

    /// Number of cached items.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Body bytes cached.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Caches `value` (of a body of `bytes`) under `sha`, evicting the oldest items
    /// until both bounds hold.
    pub fn insert(&mut self, sha: String, value: T, bytes: usize) {
        if let Some(old) = self.map.remove(&sha) {
            self.bytes -= old.bytes;
        }
        while !self.order.is_empty()
            && (self.map.len() >= self.max_items || self.bytes + bytes > self.max_bytes)
        {
            let Some((seq, old)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|e| e.seq == seq) {
                if let Some(e) = self.map.remove(&old) {
                    self.bytes -= e.bytes;
                    self.evicted += 1;
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, sha.clone()));
        self.bytes += bytes;
        self.map.insert(sha, Entry { value, bytes, seq });
        // Stale order entries (re-inserted keys) are bounded by compacting.
        if self.order.len() > 2 * self.map.len() + 16 {
            let map = &self.map;
            self.order
                .retain(|(s, k)| map.get(k).is_some_and(|e| e.seq == *s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_by_count_and_bytes() {
        let mut c = Cache::with_bounds(2, 100);
        c.insert("a".into(), 1, 10);
        c.insert("b".into(), 2, 10);
        c.insert("c".into(), 3, 10);
        assert!(!c.contains("a"));
        assert_eq!(c.get("b"), Some(&2));
        assert_eq!(c.get("c"), Some(&3));
        assert_eq!(c.evicted, 1);
        c.insert("d".into(), 4, 95);
        assert_eq!(c.len(), 1, "bytes bound evicts both");
        assert_eq!(c.bytes(), 95);
    }

    #[test]
    fn reinsert_does_not_leak() {
        let mut c = Cache::with_bounds(10, 1000);
        for _ in 0..1000 {
            c.insert("a".into(), 0, 5);
        }
        assert_eq!(c.len(), 1);
        assert_eq!(c.bytes(), 5);
        assert!(c.order.len() <= 2 * c.len() + 17);
    }
}
