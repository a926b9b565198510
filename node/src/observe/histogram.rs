//! A fixed-bucket latency histogram of relaxed atomics: one `fetch_add` per sample, no
//! lock, cheap enough for the per-command hot path. Rendered as a Prometheus histogram
//! (cumulative `le` buckets) by `metrics.rs`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the buckets in microseconds (the last, implicit bucket is `+Inf`).
pub const BUCKETS_US: [u64; 16] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    500_000, 1_000_000,
];

/// Sample counts per bucket (not cumulative), plus the `+Inf` bucket at the end.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS_US.len() + 1],
}

impl Histogram {
    /// Records one sample of `usec` microseconds.
    pub fn record(&self, usec: u64) {
        let i = BUCKETS_US.partition_point(|&b| b < usec);
        self.counts[i].fetch_add(1, Relaxed);
    }

    /// Cumulative counts, one per bucket of [`BUCKETS_US`] then `+Inf` (= total count).
    pub fn cumulative(&self) -> [u64; BUCKETS_US.len() + 1] {
        let mut out = [0u64; BUCKETS_US.len() + 1];
        let mut sum = 0u64;
        for (o, c) in out.iter_mut().zip(&self.counts) {
            sum += c.load(Relaxed);
            *o = sum;
        }
        out
    }

    /// Total number of samples.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// An upper bound (a bucket bound) below which at least `q` (0..=1) of the samples
    /// fall, or `None` without samples (INFO latencystats).
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        let cum = self.cumulative();
        let total = *cum.last()?;
        if total == 0 {
            return None;
        }
        let want = ((total as f64) * q).ceil().max(1.0) as u64;
        let i = cum.iter().position(|&c| c >= want)?;
        Some(BUCKETS_US.get(i).copied().unwrap_or(u64::MAX))
    }

    /// Forgets every sample (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds_and_cumulative() {
        let h = Histogram::default();
        for us in [0, 10, 11, 1_000, 2_000_000] {
            h.record(us);
        }
        let c = h.cumulative();
        assert_eq!(c[0], 2, "0 and 10 are <= 10");
        assert_eq!(c[1], 3, "11 is <= 25");
        assert_eq!(c[6], 4, "1000 is <= 1000");
        assert_eq!(c[15], 4);
        assert_eq!(c[16], 5, "+Inf holds everything");
        assert_eq!(h.count(), 5);
        assert!(c.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(h.quantile_bound_us(0.5), Some(25));
        assert_eq!(h.quantile_bound_us(1.0), Some(u64::MAX));
        h.reset();
        assert_eq!(h.count(), 0);
        assert_eq!(h.quantile_bound_us(0.5), None);
    }
}
