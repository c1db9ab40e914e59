//! [`Schedule`]: when each request of an open-loop run is due.

use std::time::{Duration, Instant};

/// Request `i` is due at `start + i / rate`, computed from `i` (never by adding periods, so
/// rounding does not drift over a long run).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    rate: f64,
}

impl Schedule {
    /// `rate` requests per second (> 0).
    pub fn new(start: Instant, rate: f64) -> Schedule {
        Schedule {
            start,
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                1.0
            },
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// When request `i` (0-based) is due.
    pub fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many requests are due in a run of `duration`: those due strictly before its end.
    pub fn count_within(&self, duration: Duration) -> u64 {
        let exact = duration.as_secs_f64() * self.rate;
        let n = exact.ceil();
        if n <= 0.0 {
            0
        } else {
            n as u64
        }
    }

    /// How many requests are due at or before `now` (the next one to send is this index).
    pub fn due_by(&self, now: Instant) -> u64 {
        match now.checked_duration_since(self.start) {
            Some(elapsed) => (elapsed.as_secs_f64() * self.rate).floor() as u64 + 1,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_follow_the_rate_without_drift() {
        let start = Instant::now();
        let s = Schedule::new(start, 3000.0);
        assert_eq!(s.due(0), start);
        assert_eq!(s.due(3000), start + Duration::from_secs(1));
        let late = s.due(3_000_000) - start;
        assert!(late.as_secs_f64() - 1000.0 < 1e-6, "{late:?}");
        assert_eq!(s.count_within(Duration::from_secs(2)), 6000);
        assert_eq!(s.count_within(Duration::from_millis(1)), 3);
        assert_eq!(s.count_within(Duration::ZERO), 0);
    }

    #[test]
    fn due_by_counts_requests_whose_time_has_come() {
        let start = Instant::now() + Duration::from_secs(10);
        let s = Schedule::new(start, 10.0);
        assert_eq!(s.due_by(start - Duration::from_millis(1)), 0);
        assert_eq!(s.due_by(start), 1);
        assert_eq!(s.due_by(start + Duration::from_millis(99)), 1);
        assert_eq!(s.due_by(start + Duration::from_millis(100)), 2);
        assert_eq!(s.due_by(start + Duration::from_secs(1)), 11);
    }

    #[test]
    fn a_bad_rate_does_not_divide_by_zero() {
        let s = Schedule::new(Instant::now(), 0.0);
        assert_eq!(s.count_within(Duration::from_secs(3)), 3);
    }
}
