//! Resettable counter contributions (the INCR family, HINCRBY*, ZINCRBY).
//!
//! Every region that increments keeps one cumulative entry `(run, seq, int, float)`: the
//! totals of its increments since the run started at dot sequence `run`, as of its write
//! `seq`. A reset (SET, DEL, HDEL, ZADD, ZREM...) does not remove entries; it records the
//! totals it observed as *floors*. A region's visible contribution is its entry minus the
//! floor of the same run, so increments a reset observed are cancelled and increments it
//! did not observe are added on top — "SET replaces the value it observed; increments it
//! did not observe are added". Entries and floors each merge per region by highest `seq`
//! (only the owning region writes its entry; floors only grow), so the state is a
//! join-semilattice in any delivery order.
//!
//! Integer totals wrap (`i64` modular arithmetic): a contribution is the wrapping
//! difference `entry - floor`, exact as long as the true contribution fits in an `i64`.
//! Sums across regions are computed in `i128` and range-checked by the caller.
//!
//! When a region's entry is fully floored and the floor is causally stable, entry and
//! floor are garbage-collected; the region's next increment starts a new run, which floors
//! of older runs never touch.

use crate::dot::{Dot, RegionId};
use crate::vv::VersionVector;
use serde::{Deserialize, Serialize};

/// One region's cumulative increments (or a floor: the same, as observed by a reset).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct CounterEntry {
    /// The owning region.
    pub region: RegionId,
    /// Sequence number of the write that started this run.
    pub run: u64,
    /// Sequence number of the latest write included.
    pub seq: u64,
    /// Integer total of the run (wrapping).
    pub int: i64,
    /// Float total of the run (INCRBYFLOAT, ZINCRBY).
    pub float: f64,
}

impl PartialEq for CounterEntry {
    fn eq(&self, o: &Self) -> bool {
        self.region == o.region
            && self.run == o.run
            && self.seq == o.seq
            && self.int == o.int
            && self.float.to_bits() == o.float.to_bits()
    }
}

impl CounterEntry {
    fn rank(&self) -> (u64, u64, i64, u64) {
        (self.seq, self.run, self.int, self.float.to_bits())
    }
}

/// Visible sum of a counter.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CounterSum {
    /// Sum of integer contributions.
    pub int: i128,
    /// Sum of float contributions.
    pub float: f64,
    /// Whether some increment is not cancelled by a reset (the value exists because of it).
    pub live: bool,
    /// Whether some live contribution came from a float increment.
    pub has_float: bool,
}

/// Counter contributions and floors, one entry per region each, sorted by region.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct Counter {
    entries: Vec<CounterEntry>,
    floors: Vec<CounterEntry>,
}

fn join_per_region(a: &mut Vec<CounterEntry>, b: &[CounterEntry]) {
    for e in b {
        match a.binary_search_by_key(&e.region, |x| x.region) {
            Ok(i) => {
                if e.rank() > a[i].rank() {
                    a[i] = *e
                }
            }
            Err(i) => a.insert(i, *e),
        }
    }
}

fn find(v: &[CounterEntry], r: RegionId) -> Option<&CounterEntry> {
    v.binary_search_by_key(&r, |x| x.region).ok().map(|i| &v[i])
}

impl Counter {
    /// Whether there are neither entries nor floors.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.floors.is_empty()
    }

    /// The entries (one per region that incremented).
    pub fn entries(&self) -> &[CounterEntry] {
        &self.entries
    }

    /// The floors (one per region whose totals some reset observed).
    pub fn floors(&self) -> &[CounterEntry] {
        &self.floors
    }

    /// Merges another counter.
    pub fn join(&mut self, other: &Counter) {
        join_per_region(&mut self.entries, &other.entries);
        join_per_region(&mut self.floors, &other.floors);
        if !self.floors.is_empty() {
            self.drop_dominated();
        }
    }

    /// Drops entries a floor fully cancels (same run, floor at or after the entry, or a
    /// floor of a newer run). They add nothing to the sum and the owning region starts a
    /// new run after them, so dropping them changes nothing a reader or a later write
    /// sees. It keeps replicas identical: a replica that collected an entry (at
    /// `seq == floor.seq`) cannot remove an *older* copy of it elsewhere (a replica that
    /// got the floor from a snapshot but never the newer entry), so without this rule
    /// that copy would stay there forever.
    fn drop_dominated(&mut self) {
        let floors = &self.floors;
        self.entries.retain(|e| match find(floors, e.region) {
            Some(f) => !((f.run == e.run && f.seq >= e.seq) || f.run > e.run),
            None => true,
        });
    }

    /// The visible sum.
    pub fn sum(&self) -> CounterSum {
        let mut s = CounterSum::default();
        for e in &self.entries {
            let (int, float, live) = match find(&self.floors, e.region) {
                Some(f) if f.run == e.run => {
                    (e.int.wrapping_sub(f.int), e.float - f.float, e.seq > f.seq)
                }
                Some(f) if f.run > e.run => (0, 0.0, false),
                _ => (e.int, e.float, true),
            };
            if live {
                s.live = true;
                s.int += int as i128;
                if float != 0.0 {
                    s.has_float = true;
                    s.float += float;
                }
            }
        }
        s
    }

    /// Delta of an increment by `region` with new write `dot`. The delta carries the
    /// region's floor of the same run, so a replica that garbage-collected it gets it back.
    #[must_use]
    pub fn incr_delta(&self, dot: Dot, int: i64, float: f64) -> Counter {
        let r = dot.region();
        // A run whose every increment a reset has cancelled is not continued: the next
        // increment starts a new run. The new entry supersedes the old one everywhere
        // (higher seq) and floors of the old run never touch it; this keeps float totals
        // from carrying the precision error of `entry - floor` after large old totals.
        let live = |e: &&CounterEntry| match find(&self.floors, r) {
            Some(f) if f.run == e.run => f.seq < e.seq,
            Some(f) => f.run < e.run,
            None => true,
        };
        let e = match find(&self.entries, r).filter(live) {
            Some(e) => CounterEntry {
                region: r,
                run: e.run,
                seq: dot.seq(),
                int: e.int.wrapping_add(int),
                float: e.float + float,
            },
            None => CounterEntry {
                region: r,
                run: dot.seq(),
                seq: dot.seq(),
                int,
                float,
            },
        };
        let floors = find(&self.floors, r)
            .filter(|f| f.run == e.run)
            .map(|f| vec![*f])
            .unwrap_or_default();
        Counter {
            entries: vec![e],
            floors,
        }
    }

    /// Delta of a reset that observed this state: floors at every current entry.
    #[must_use]
    pub fn reset_delta(&self) -> Counter {
        Counter {
            entries: Vec::new(),
            floors: self.entries.clone(),
        }
    }

    /// Garbage-collects entries that are fully floored by a stable floor, and floors of
    /// runs older than the region's entry once that newer run's first write is stable.
    ///
    /// A floor outlives its entry: the floor was written by a reset (SET, DEL, ...) of some
    /// other region, and that reset may not be stable yet even when the floored entry is.
    /// The owning region may not have seen the reset, so it can still extend the same run
    /// with a cumulative total; the floor must be here to cancel the part the reset
    /// observed. Once the owning region starts a newer run (which it does only after it
    /// collected its own entry, i.e. after it saw the floor) and that run's start is
    /// stable, no write of the old run can arrive any more and the floor goes.
    pub fn gc(&mut self, stable: &VersionVector) {
        let floors = &self.floors;
        self.entries.retain(|e| match find(floors, e.region) {
            Some(f) => !(f.run == e.run && f.seq == e.seq && stable.get(e.region) >= f.seq),
            None => true,
        });
        let entries = &self.entries;
        self.floors.retain(|f| match find(entries, f.region) {
            Some(e) => !(f.run < e.run && stable.get(f.region) >= e.run),
            None => true,
        });
    }

    /// Drops a removed region's entries and floors.
    pub fn purge(&mut self, region: RegionId) {
        self.entries.retain(|e| e.region != region);
        self.floors.retain(|e| e.region != region);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_cancels_observed_keeps_unobserved() {
        let mut c = Counter::default();
        c.join(&c.incr_delta(Dot::new(1, 1), 5, 0.0));
        let reset = c.reset_delta(); // a SET in some region observed +5
        let concurrent = c.incr_delta(Dot::new(1, 2), 3, 0.0); // not observed by the reset
        let mut a = c.clone();
        a.join(&reset);
        a.join(&concurrent);
        let mut b = c.clone();
        b.join(&concurrent);
        b.join(&reset);
        assert_eq!(a, b);
        assert_eq!(a.sum().int, 3);
        assert!(a.sum().live);
    }

    #[test]
    fn a_floored_entry_is_dropped_so_replicas_stay_identical() {
        // Region 2 increments at seq 5 and again at seq 11 (same run); a reset observes
        // seq 11. A replica that only ever saw the seq-5 entry then merges the state of
        // one that collected the seq-11 entry (sim seed 7574, via a snapshot).
        let mut c = Counter::default();
        c.join(&c.incr_delta(Dot::new(2, 5), 1, 0.0));
        let stale = c.clone();
        c.join(&c.incr_delta(Dot::new(2, 11), 0, 0.25));
        c.join(&c.reset_delta());
        let mut stable = VersionVector::new();
        stable.raise(2, 11);
        c.gc(&stable);
        let mut s = stale.clone();
        s.join(&c);
        assert_eq!(s, c, "the older copy of a floored entry must not survive");
        assert!(s.entries().is_empty());
        assert!(!s.sum().live);
        // The region's next increment still counts in full on both.
        let d = s.incr_delta(Dot::new(2, 12), 4, 0.0);
        s.join(&d);
        c.join(&d);
        assert_eq!(s, c);
        assert_eq!(s.sum().int, 4);
    }

    #[test]
    fn gc_then_new_run() {
        let mut c = Counter::default();
        c.join(&c.incr_delta(Dot::new(2, 1), 7, 0.0));
        c.join(&c.reset_delta());
        assert!(!c.sum().live);
        let mut stable = VersionVector::new();
        stable.raise(2, 1);
        let mut old = c.clone();
        c.gc(&stable);
        assert!(
            c.entries().is_empty(),
            "fully floored stable entry is collected"
        );
        assert_eq!(
            c.floors().len(),
            1,
            "its floor stays until a newer run is stable"
        );
        let d = c.incr_delta(Dot::new(2, 5), 1, 0.0);
        c.join(&d);
        old.join(&d); // a replica that did not collect yet
        assert_eq!(c.sum().int, 1);
        assert_eq!(old.sum().int, 1);
        stable.raise(2, 5);
        c.gc(&stable);
        assert!(
            c.floors().is_empty(),
            "the new run is stable: the old floor goes"
        );
        assert_eq!(c.sum().int, 1);
    }

    #[test]
    fn gc_keeps_floor_an_owner_has_not_seen() {
        // Region 3 increments (+1, stable everywhere). Region 1 resets (floor at +1) and
        // collects; region 3 has not seen the reset and increments again (+0): its entry
        // continues the run with the cumulative total 1, which the floor must still cancel.
        let inc = Counter::default().incr_delta(Dot::new(3, 1), 1, 0.0);
        let mut owner = inc.clone();
        let mut r1 = inc.clone();
        r1.join(&r1.reset_delta());
        r1.gc(&VersionVector::from_pairs([(3, 1)]));
        owner.join(&owner.incr_delta(Dot::new(3, 2), 0, 0.0));
        r1.join(&owner);
        assert!(
            !r1.sum().live || r1.sum().int == 0,
            "reset must still cancel the +1"
        );
    }
}
