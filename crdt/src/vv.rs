//! Version vectors: per region, the highest sequence number of a contiguous prefix
//! `1..=n` of that region's writes.

use crate::dot::{Dot, RegionId};
use serde::{Deserialize, Serialize};

/// A version vector, stored as a short vector sorted by region (a handful of regions is
/// the normal case, so this beats a map in size and speed). Regions at 0 are not stored.
#[derive(Clone, Default, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct VersionVector {
    entries: Vec<(RegionId, u64)>,
}

impl VersionVector {
    /// The empty vector (every region at 0).
    pub fn new() -> VersionVector {
        VersionVector::default()
    }

    /// Builds a vector from `(region, seq)` pairs (duplicates keep the maximum).
    pub fn from_pairs<I: IntoIterator<Item = (RegionId, u64)>>(pairs: I) -> VersionVector {
        let mut v = VersionVector::new();
        for (r, s) in pairs {
            v.raise(r, s);
        }
        v
    }

    /// The sequence reached for `region` (0 if none).
    pub fn get(&self, region: RegionId) -> u64 {
        match self.entries.binary_search_by_key(&region, |e| e.0) {
            Ok(i) => self.entries[i].1,
            Err(_) => 0,
        }
    }

    /// Sets `region` to `max(current, seq)`.
    pub fn raise(&mut self, region: RegionId, seq: u64) {
        if seq == 0 {
            return;
        }
        match self.entries.binary_search_by_key(&region, |e| e.0) {
            Ok(i) => {
                if self.entries[i].1 < seq {
                    self.entries[i].1 = seq
                }
            }
            Err(i) => self.entries.insert(i, (region, seq)),
        }
    }

    /// Sets `region` to exactly `seq` (used when purging or restoring).
    pub fn set(&mut self, region: RegionId, seq: u64) {
        match self.entries.binary_search_by_key(&region, |e| e.0) {
            Ok(i) if seq == 0 => {
                self.entries.remove(i);
            }
            Ok(i) => self.entries[i].1 = seq,
            Err(_) if seq == 0 => {}
            Err(i) => self.entries.insert(i, (region, seq)),
        }
    }

    /// Whether the vector covers `dot`.
    #[inline]
    pub fn contains(&self, dot: Dot) -> bool {
        dot.seq() <= self.get(dot.region())
    }

    /// Pointwise maximum.
    pub fn join(&mut self, other: &VersionVector) {
        for &(r, s) in &other.entries {
            self.raise(r, s);
        }
    }

    /// Pointwise minimum (regions missing on either side are 0).
    pub fn meet(&self, other: &VersionVector) -> VersionVector {
        VersionVector::from_pairs(
            self.entries
                .iter()
                .map(|&(r, s)| (r, s.min(other.get(r))))
                .filter(|&(_, s)| s > 0),
        )
    }

    /// Whether every entry of `self` is `<=` the matching entry of `other`.
    pub fn leq(&self, other: &VersionVector) -> bool {
        self.entries.iter().all(|&(r, s)| s <= other.get(r))
    }

    /// Iterates `(region, seq)` in region order.
    pub fn iter(&self) -> impl Iterator<Item = (RegionId, u64)> + '_ {
        self.entries.iter().copied()
    }

    /// Forgets a region entirely (region removal).
    pub fn purge(&mut self, region: RegionId) {
        self.set(region, 0);
    }

    /// Whether every region is at 0.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of all entries (a total count of writes covered).
    pub fn total(&self) -> u64 {
        self.entries.iter().map(|e| e.1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn join_meet_leq() {
        let a = VersionVector::from_pairs([(1, 5), (2, 3)]);
        let b = VersionVector::from_pairs([(2, 7), (3, 1)]);
        let mut j = a.clone();
        j.join(&b);
        assert_eq!(j, VersionVector::from_pairs([(1, 5), (2, 7), (3, 1)]));
        assert_eq!(a.meet(&b), VersionVector::from_pairs([(2, 3)]));
        assert!(a.leq(&j) && b.leq(&j) && !j.leq(&a));
        assert!(j.contains(Dot::new(2, 7)) && !j.contains(Dot::new(2, 8)));
    }
}
