//! A fixed-bucket histogram of durations, lock-free: observing is a short scan of the bucket
//! bounds and three relaxed atomic adds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in microseconds for request latencies: 0.5 ms to 10 s, roughly ×2–2.5 per
/// step (Prometheus' defaults with finer low buckets, where a proxy's latencies live).
pub const LATENCY_BUCKETS: &[u64] = &[
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds (inclusive), microseconds, ascending.
    bounds: &'static [u64],
    /// One per bound plus the overflow (`+Inf`) bucket; not cumulative.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(LATENCY_BUCKETS)
    }
}

impl Histogram {
    /// `bounds` in microseconds, ascending.
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let index = self
            .bounds
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(self.bounds.len());
        if let Some(bucket) = self.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// A copy of the current values (each read on its own: under concurrent observes the
    /// buckets and the count may disagree by the observations in flight).
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            count: self.count.load(Ordering::Relaxed),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub bounds: &'static [u64],
    /// Not cumulative; the last is the overflow bucket.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum_us: u64,
}

impl HistogramSnapshot {
    /// The observations between `earlier` and `self` (for rates and windowed percentiles).
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            buckets: self
                .buckets
                .iter()
                .zip(earlier.buckets.iter().chain(std::iter::repeat(&0)))
                .map(|(now, then)| now.saturating_sub(*then))
                .collect(),
            count: self.count.saturating_sub(earlier.count),
            sum_us: self.sum_us.saturating_sub(earlier.sum_us),
        }
    }

    /// Estimated `q`-quantile (0.0..=1.0), interpolating linearly inside the bucket it falls
    /// in, as Prometheus' `histogram_quantile` does. None without observations. A quantile in
    /// the overflow bucket reports the highest bound (the estimate cannot know more).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0u64;
        for (i, count) in self.buckets.iter().enumerate() {
            let before = seen;
            seen += count;
            if (seen as f64) >= rank && *count > 0 {
                let Some(upper) = self.bounds.get(i) else {
                    return self.bounds.last().map(|b| Duration::from_micros(*b));
                };
                let lower = if i == 0 { 0 } else { self.bounds[i - 1] };
                let within = (rank - before as f64) / *count as f64;
                let us = lower as f64 + (upper - lower) as f64 * within.clamp(0.0, 1.0);
                return Some(Duration::from_micros(us.round() as u64));
            }
        }
        self.bounds.last().map(|b| Duration::from_micros(*b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn observations_land_in_their_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500)); // on the bound: that bucket
        h.observe(Duration::from_micros(501));
        h.observe(ms(20));
        h.observe(Duration::from_secs(60)); // overflow
        let s = h.snapshot();
        assert_eq!(s.buckets.len(), LATENCY_BUCKETS.len() + 1);
        assert_eq!(s.buckets[0], 1);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[5], 1);
        assert_eq!(s.buckets[LATENCY_BUCKETS.len()], 1);
        assert_eq!(s.count, 4);
        assert_eq!(s.sum_us, 500 + 501 + 20_000 + 60_000_000);
    }

    #[test]
    fn quantiles_interpolate_inside_a_bucket() {
        let h = Histogram::default();
        // 100 observations spread in (10 ms, 25 ms]: all in one bucket.
        for _ in 0..100 {
            h.observe(ms(20));
        }
        let s = h.snapshot();
        // Linear within 10..25 ms: p50 ≈ 17.5 ms, p99 ≈ 24.85 ms.
        assert_eq!(s.quantile(0.5), Some(Duration::from_micros(17_500)));
        assert_eq!(s.quantile(0.99), Some(Duration::from_micros(24_850)));
        assert_eq!(Histogram::default().snapshot().quantile(0.5), None);
    }

    #[test]
    fn quantiles_pick_the_right_bucket() {
        let h = Histogram::default();
        for _ in 0..90 {
            h.observe(Duration::from_micros(300)); // bucket 0 (≤ 0.5 ms)
        }
        for _ in 0..10 {
            h.observe(ms(200)); // bucket (100, 250] ms
        }
        let s = h.snapshot();
        assert!(s.quantile(0.5).expect("p50") <= Duration::from_micros(500));
        let p95 = s.quantile(0.95).expect("p95");
        assert!(p95 > ms(100) && p95 <= ms(250), "{p95:?}");
        for _ in 0..5 {
            h.observe(Duration::from_secs(30));
        }
        assert_eq!(
            h.snapshot().quantile(1.0),
            Some(Duration::from_secs(10)),
            "overflow reports the highest bound"
        );
    }

    #[test]
    fn since_gives_the_window() {
        let h = Histogram::default();
        h.observe(ms(1));
        let before = h.snapshot();
        h.observe(ms(200));
        h.observe(ms(200));
        let window = h.snapshot().since(&before);
        assert_eq!(window.count, 2);
        assert_eq!(window.buckets.iter().sum::<u64>(), 2);
        assert!(window.quantile(0.5).expect("p50") > ms(100));
    }
}
