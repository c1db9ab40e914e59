//! Retry budget (Envoy's: retries in progress may be at most 20% of active requests, never
//! fewer than 3) and full-jitter exponential backoff (Envoy/AWS: retry N waits uniformly in
//! [0, min((2^N − 1)·base, 10·base))).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Share of active requests that may be retries at once.
const BUDGET_PERCENT: u32 = 20;
/// Retries always allowed at once, whatever the traffic.
const MIN_RETRY_CONCURRENCY: u32 = 3;

/// Per-upstream counters of active requests and retries in progress.
#[derive(Debug, Default)]
pub struct RetryBudget {
    active: AtomicU32,
    retries: AtomicU32,
}

/// Holds a place among an upstream's active requests (or its retries) until dropped.
#[derive(Debug)]
pub struct RetryPermit {
    budget: Arc<RetryBudget>,
    retry: bool,
}

impl Drop for RetryPermit {
    fn drop(&mut self) {
        let counter = if self.retry {
            &self.budget.retries
        } else {
            &self.budget.active
        };
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The pure rule: may one more retry start, given `active` requests and `retries` retries
/// already in progress?
pub fn retry_allowed(active: u32, retries: u32) -> bool {
    let limit = (active.saturating_mul(BUDGET_PERCENT) / 100).max(MIN_RETRY_CONCURRENCY);
    retries < limit
}

impl RetryBudget {
    /// Counts a request as active for as long as the permit lives.
    pub fn start_request(self: &Arc<Self>) -> RetryPermit {
        self.active.fetch_add(1, Ordering::Relaxed);
        RetryPermit {
            budget: Arc::clone(self),
            retry: false,
        }
    }

    /// A permit for one retry, or None when the budget is spent.
    pub fn try_retry(self: &Arc<Self>) -> Option<RetryPermit> {
        let active = self.active.load(Ordering::Relaxed);
        let mut retries = self.retries.load(Ordering::Relaxed);
        loop {
            if !retry_allowed(active, retries) {
                return None;
            }
            match self.retries.compare_exchange_weak(
                retries,
                retries + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(RetryPermit {
                        budget: Arc::clone(self),
                        retry: true,
                    })
                }
                Err(now) => retries = now,
            }
        }
    }
}

/// Full-jitter backoff before retry number `attempt` (1-based): uniform in
/// [0, min((2^attempt − 1)·base, 10·base)). `unit` is a uniform draw in [0, 1).
pub fn backoff(base: Duration, attempt: u32, unit: f64) -> Duration {
    let factor = (1u64 << attempt.min(20)) - 1;
    let ceiling = base
        .saturating_mul(u32::try_from(factor).unwrap_or(u32::MAX))
        .min(base.saturating_mul(10));
    ceiling.mul_f64(unit.clamp(0.0, 1.0 - f64::EPSILON))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_twenty_percent_with_a_floor_of_three() {
        // Envoy's assertion: 100 active → the 20th concurrent retry is allowed, the 21st not.
        assert!(retry_allowed(100, 19));
        assert!(!retry_allowed(100, 20));
        // 5 active → 3 retries still allowed.
        assert!(retry_allowed(5, 2));
        assert!(!retry_allowed(5, 3));
        assert!(retry_allowed(0, 0));
    }

    #[test]
    fn permits_are_counted_and_returned() {
        let budget = Arc::new(RetryBudget::default());
        let _active: Vec<_> = (0..5).map(|_| budget.start_request()).collect();
        let held: Vec<_> = (0..3).map(|_| budget.try_retry()).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(budget.try_retry().is_none());
        drop(held);
        assert!(budget.try_retry().is_some());
    }

    #[test]
    fn backoff_stays_within_bounds() {
        let base = Duration::from_millis(25);
        for attempt in 1..8 {
            let upper = base * ((1u32 << attempt) - 1);
            let upper = upper.min(base * 10);
            for i in 0..1000 {
                let d = backoff(base, attempt, f64::from(i) / 1000.0);
                assert!(d < upper, "attempt {attempt}: {d:?} >= {upper:?}");
            }
        }
        assert_eq!(backoff(base, 1, 0.0), Duration::ZERO);
    }

    #[test]
    fn backoff_mean_is_half_the_ceiling() {
        let base = Duration::from_millis(25);
        let n = 10_000u32;
        let sum: f64 = (0..n)
            .map(|i| backoff(base, 2, (f64::from(i) + 0.5) / f64::from(n)).as_secs_f64())
            .sum();
        let mean = sum / f64::from(n);
        let expected = 0.075 / 2.0;
        assert!((mean - expected).abs() / expected < 0.02, "mean {mean}");
    }
}
