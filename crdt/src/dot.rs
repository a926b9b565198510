//! Region ids and dots.
//!
//! A [`Dot`] names one write: the region that issued it and that region's sequence number
//! for it (1, 2, 3, ... without gaps). Dots are packed into one `u64` (8 bits of region,
//! 56 bits of sequence) so every element's causal metadata stays small.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A region's stable numeric id. Meridian supports up to 255 regions (ids 1..=255; 0 is
/// reserved for "no region" in a few encodings).
pub type RegionId = u8;

/// Bits of a [`Dot`] that hold the sequence number.
pub const SEQ_BITS: u32 = 56;
/// Largest sequence number a dot can carry.
pub const SEQ_MAX: u64 = (1 << SEQ_BITS) - 1;

/// One write: `(region, seq)`, packed. Ordered by region, then sequence.
///
/// Encoded as the pair `(region, seq)` so compact formats spend one byte on the region
/// and a varint on the sequence.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dot(u64);

impl Serialize for Dot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.region(), self.seq()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Dot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (r, s): (RegionId, u64) = Deserialize::deserialize(d)?;
        if s > SEQ_MAX {
            return Err(serde::de::Error::custom("dot sequence out of range"));
        }
        Ok(Dot::new(r, s))
    }
}

impl Dot {
    /// Builds a dot. `seq` must be in `1..=SEQ_MAX` (checked in debug builds; masked otherwise).
    #[inline]
    pub const fn new(region: RegionId, seq: u64) -> Dot {
        debug_assert!(seq <= SEQ_MAX);
        Dot(((region as u64) << SEQ_BITS) | (seq & SEQ_MAX))
    }
    /// The issuing region.
    #[inline]
    pub const fn region(self) -> RegionId {
        (self.0 >> SEQ_BITS) as RegionId
    }
    /// The issuing region's sequence number for this write.
    #[inline]
    pub const fn seq(self) -> u64 {
        self.0 & SEQ_MAX
    }
    /// The packed representation (stable: part of the wire and disk formats).
    #[inline]
    pub const fn to_u64(self) -> u64 {
        self.0
    }
    /// Inverse of [`Dot::to_u64`].
    #[inline]
    pub const fn from_u64(v: u64) -> Dot {
        Dot(v)
    }
}

impl fmt::Debug for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.region(), self.seq())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn packs_and_orders() {
        let a = Dot::new(3, 7);
        assert_eq!((a.region(), a.seq()), (3, 7));
        assert!(Dot::new(3, 8) > a);
        assert!(Dot::new(4, 1) > a);
        assert_eq!(Dot::new(255, SEQ_MAX).seq(), SEQ_MAX);
        assert_eq!(Dot::new(255, SEQ_MAX).region(), 255);
        assert_eq!(std::mem::size_of::<Dot>(), 8);
    }
}
