//! [`LatencyHistogram`]: a lock-free, fixed-size histogram of response times, written by the
//! data plane (one relaxed `fetch_add`, no allocation) and read by the autoscaler, which
//! diffs two [`LatencyHistogram::counts`] to get a window's percentiles.
//!
//! Buckets are log-linear in microseconds: exact below 16 µs, then four buckets per power of
//! two (each at most 25 % wide, so a percentile read at the bucket's middle is within
//! ±12.5 %), up to 2³² µs (71 minutes); longer times land in the last bucket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Number of buckets.
pub const LATENCY_BUCKETS: usize = 128;

/// Counts of one histogram, or of the difference of two.
pub type LatencyCounts = [u64; LATENCY_BUCKETS];

#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LatencyHistogram {
    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Some(bucket) = self.buckets.get(bucket_of(us)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every bucket's count now (not an atomic snapshot across buckets; good enough for
    /// windows of a second or more).
    pub fn counts(&self) -> LatencyCounts {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }
}

/// The bucket of a time in microseconds.
pub fn bucket_of(us: u64) -> usize {
    if us < 16 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // ≥ 4
    let sub = ((us >> (octave - 2)) & 3) as usize;
    (16 + (octave - 4) * 4 + sub).min(LATENCY_BUCKETS - 1)
}

/// The range `[low, high)` of bucket `i`, in microseconds.
pub fn bucket_range(i: usize) -> (u64, u64) {
    if i < 16 {
        return (i as u64, i as u64 + 1);
    }
    let octave = (i - 16) / 4 + 4;
    let sub = ((i - 16) % 4) as u64;
    ((4 + sub) << (octave - 2), (5 + sub) << (octave - 2))
}

/// `after − before`, bucket by bucket (counters only grow; a smaller one reads as 0).
pub fn delta(after: &LatencyCounts, before: &LatencyCounts) -> LatencyCounts {
    std::array::from_fn(|i| after[i].saturating_sub(before[i]))
}

/// The `q` quantile (0..=1) of `counts`, read at the middle of its bucket; `None` when
/// there is no sample.
pub fn quantile(counts: &LatencyCounts, q: f64) -> Option<Duration> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the sample at quantile q (1-based), at least 1.
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0u64;
    for (i, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let (low, high) = bucket_range(i);
            return Some(Duration::from_micros(low + (high - low) / 2));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut expected_low = 0;
        for i in 0..LATENCY_BUCKETS {
            let (low, high) = bucket_range(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert!(high > low);
            assert!(
                (high - low) * 4 <= low.max(4),
                "bucket {i} at most 25% wide"
            );
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(high - 1), i);
            expected_low = high;
        }
        assert_eq!(bucket_of(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn quantiles_within_a_bucket_width() {
        let h = LatencyHistogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let before = LatencyHistogram::default().counts();
        let counts = delta(&h.counts(), &before);
        let p95 = quantile(&counts, 0.95).expect("samples").as_secs_f64() * 1000.0;
        assert!((95.0 * 0.875..=95.0 * 1.125).contains(&p95), "p95 {p95}");
        let p50 = quantile(&counts, 0.5).expect("samples").as_secs_f64() * 1000.0;
        assert!((50.0 * 0.875..=50.0 * 1.125).contains(&p50), "p50 {p50}");
        assert_eq!(quantile(&before, 0.95), None);
    }
}
