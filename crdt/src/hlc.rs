//! Hybrid logical clock.
//!
//! An [`Hlc`] is one `u64`: 44 bits of wall-clock milliseconds since the Unix epoch (good
//! until the year 2527), 12 bits of logical counter, and 8 bits of region id in the low
//! bits. Comparing two `Hlc`s as integers therefore orders by time, then logical counter,
//! then region: ties between regions break deterministically on region id.
//!
//! [`HlcClock::now`] never issues a timestamp at or below one it has issued or observed,
//! whatever the wall clock does (jumps backwards, skew), so a write that observed another
//! write always orders after it. Wall time only decides between truly concurrent writes.
//! The clock never reads the wall clock itself: time is passed in.

use crate::dot::RegionId;
use serde::{Deserialize, Serialize};
use std::fmt;

const REGION_BITS: u32 = 8;
const LOGICAL_BITS: u32 = 12;
const LOGICAL_MAX: u64 = (1 << LOGICAL_BITS) - 1;
/// Largest representable wall-clock millisecond value.
pub const MS_MAX: u64 = (1 << (64 - REGION_BITS - LOGICAL_BITS)) - 1;

/// A hybrid logical timestamp (see the module docs for the layout).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hlc(u64);

impl Hlc {
    /// The smallest timestamp.
    pub const ZERO: Hlc = Hlc(0);

    /// Builds a timestamp from its parts (values are clamped to their field widths).
    pub const fn new(ms: u64, logical: u64, region: RegionId) -> Hlc {
        let ms = if ms > MS_MAX { MS_MAX } else { ms };
        let logical = if logical > LOGICAL_MAX {
            LOGICAL_MAX
        } else {
            logical
        };
        Hlc((ms << (LOGICAL_BITS + REGION_BITS)) | (logical << REGION_BITS) | region as u64)
    }
    /// Wall-clock part, in milliseconds since the Unix epoch.
    pub const fn ms(self) -> u64 {
        self.0 >> (LOGICAL_BITS + REGION_BITS)
    }
    /// Logical counter part.
    pub const fn logical(self) -> u64 {
        (self.0 >> REGION_BITS) & LOGICAL_MAX
    }
    /// Region that issued the timestamp.
    pub const fn region(self) -> RegionId {
        self.0 as RegionId
    }
    /// Time part without the region (what "happened after" compares).
    const fn time(self) -> u64 {
        self.0 >> REGION_BITS
    }
    /// Packed representation (stable: part of the wire and disk formats).
    pub const fn to_u64(self) -> u64 {
        self.0
    }
    /// Inverse of [`Hlc::to_u64`].
    pub const fn from_u64(v: u64) -> Hlc {
        Hlc(v)
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{}", self.ms(), self.logical(), self.region())
    }
}

/// A region's hybrid logical clock.
#[derive(Clone, Debug)]
pub struct HlcClock {
    region: RegionId,
    last: Hlc,
}

impl HlcClock {
    /// A clock for `region` that has issued and seen nothing yet.
    pub fn new(region: RegionId) -> HlcClock {
        HlcClock {
            region,
            last: Hlc::ZERO,
        }
    }

    /// The region this clock issues timestamps for.
    pub fn region(&self) -> RegionId {
        self.region
    }

    /// The largest timestamp issued or observed so far.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// Issues a new timestamp, strictly greater (in time, not only in region) than every
    /// timestamp issued or observed before. `wall_ms` is the caller's wall clock reading.
    pub fn now(&mut self, wall_ms: u64) -> Hlc {
        let last_ms = self.last.ms();
        let last_logical = self.last.logical();
        let (ms, logical) = if wall_ms > last_ms {
            (wall_ms.min(MS_MAX), 0)
        } else if last_logical < LOGICAL_MAX {
            (last_ms, last_logical + 1)
        } else {
            // Logical counter exhausted within one millisecond: borrow the next one.
            (last_ms + 1, 0)
        };
        let t = Hlc::new(ms, logical, self.region);
        debug_assert!(t.time() > self.last.time());
        self.last = t;
        t
    }

    /// Records a timestamp seen on a remote write, so every later [`HlcClock::now`] orders
    /// after it.
    pub fn observe(&mut self, remote: Hlc) {
        if remote.time() > self.last.time() {
            self.last = Hlc::new(remote.ms(), remote.logical(), self.region);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let t = Hlc::new(1_700_000_000_123, 17, 9);
        assert_eq!(
            (t.ms(), t.logical(), t.region()),
            (1_700_000_000_123, 17, 9)
        );
        assert!(
            Hlc::new(5, 0, 1) < Hlc::new(5, 0, 2),
            "tie breaks on region"
        );
        assert!(Hlc::new(5, 1, 1) > Hlc::new(5, 0, 200));
        assert!(Hlc::new(6, 0, 1) > Hlc::new(5, 4095, 255));
    }

    #[test]
    fn monotonic_when_wall_clock_jumps_backwards() {
        let mut c = HlcClock::new(1);
        let a = c.now(10_000);
        let b = c.now(5_000); // wall clock jumped back 5 s
        let d = c.now(5_001);
        assert!(a < b && b < d);
        assert_eq!(b.ms(), 10_000);
    }

    #[test]
    fn observing_orders_after_even_with_skew() {
        // Region 2's wall clock is 30 s ahead of region 1's.
        let mut r1 = HlcClock::new(1);
        let mut r2 = HlcClock::new(2);
        let t2 = r2.now(1_000_000 + 30_000);
        r1.observe(t2);
        let t1 = r1.now(1_000_000);
        assert!(t1 > t2, "a write that observed another orders after it");
        // And 30 s behind: observing an old timestamp never moves the clock back.
        let mut r3 = HlcClock::new(3);
        let before = r3.now(2_000_000);
        r3.observe(Hlc::new(2_000_000 - 30_000, 0, 1));
        assert!(r3.now(2_000_000) > before);
    }

    #[test]
    fn logical_overflow_borrows_next_millisecond() {
        let mut c = HlcClock::new(7);
        let mut prev = c.now(42);
        for _ in 0..10_000 {
            let t = c.now(42);
            assert!(t > prev);
            prev = t;
        }
        assert!(prev.ms() > 42);
    }

    #[test]
    fn same_time_different_regions_are_distinct_and_ordered() {
        let mut a = HlcClock::new(1);
        let mut b = HlcClock::new(2);
        let ta = a.now(100);
        let tb = b.now(100);
        assert_ne!(ta, tb);
        assert!(ta < tb);
    }
}
