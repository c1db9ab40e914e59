//! GCRA (the generic cell rate algorithm, "virtual scheduling"): the rate-limit arithmetic,
//! pure, in integer nanoseconds (algorithms-numbers §5.1).
//!
//! One timestamp per key, the theoretical arrival time (TAT). With emission interval
//! `T = period / count` and tolerance `τ = (burst − 1)·T`, a request at `now` is admitted iff
//! `TAT − now ≤ τ`, and then `TAT = max(TAT, now) + T`. That is exactly a token bucket of
//! capacity `burst` refilled one token per `T` (the test below checks it decision by
//! decision against one), and a key whose TAT has passed is indistinguishable from a new
//! key — which is what lets the key table drop it.

use std::time::Duration;

/// One limit: `count` per `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Emission interval T, nanoseconds (≥ 1).
    interval: u64,
    /// Tolerance τ = (burst − 1)·T, nanoseconds.
    tolerance: u64,
    burst: u32,
}

/// What one request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The key's TAT after this request (unchanged when refused).
    pub tat: u64,
    /// Requests that would still be admitted right now.
    pub remaining: u32,
    /// Nanoseconds until the bucket is full again (`RateLimit-Reset`).
    pub reset_after: u64,
    /// Refused: nanoseconds until a request would be admitted (`Retry-After`); 0 when
    /// admitted.
    pub retry_after: u64,
}

impl Gcra {
    /// `count` requests per `period`, burst ≥ 1 (clamped).
    pub fn new(count: u32, period: Duration, burst: u32) -> Gcra {
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let interval = (period / u64::from(count.max(1))).max(1);
        let burst = burst.max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst - 1)),
            burst,
        }
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// How long an idle key's state still matters: a full refill.
    pub fn memory(&self) -> u64 {
        self.tolerance.saturating_add(self.interval)
    }

    /// Decides a request at `now` for a key whose TAT is `tat` (0 for a new key).
    pub fn check(&self, tat: u64, now: u64) -> Decision {
        let tat = tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            let retry_after = ahead - self.tolerance;
            return Decision {
                allowed: false,
                tat,
                remaining: 0,
                reset_after: ahead,
                retry_after,
            };
        }
        let tat = tat.saturating_add(self.interval);
        let ahead = tat - now;
        let remaining = if ahead > self.tolerance {
            0
        } else {
            u32::try_from((self.tolerance - ahead) / self.interval + 1).unwrap_or(u32::MAX)
        };
        Decision {
            allowed: true,
            tat,
            remaining,
            reset_after: ahead,
            retry_after: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A token bucket of capacity `b`, refilled one token per `T`, in the same integer
    /// nanoseconds: the credit is tokens × T.
    struct TokenBucket {
        credit: u64,
        last: u64,
        interval: u64,
        capacity: u64,
    }

    impl TokenBucket {
        fn new(interval: u64, b: u64) -> TokenBucket {
            TokenBucket {
                credit: interval * b,
                last: 0,
                interval,
                capacity: interval * b,
            }
        }

        fn take(&mut self, now: u64) -> bool {
            self.credit = (self.credit + (now - self.last)).min(self.capacity);
            self.last = now;
            if self.credit >= self.interval {
                self.credit -= self.interval;
                true
            } else {
                false
            }
        }
    }

    /// Runs `arrivals` through one key; returns each decision.
    fn run(gcra: &Gcra, arrivals: &[u64]) -> Vec<bool> {
        let mut tat = 0;
        arrivals
            .iter()
            .map(|&now| {
                let d = gcra.check(tat, now);
                tat = d.tat;
                d.allowed
            })
            .collect()
    }

    #[test]
    fn rate_10_burst_6_admits_6_at_once_then_one_per_100ms() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 6);
        // 20 simultaneous requests (§5.2's scenario): 6 admitted, 14 refused.
        let decisions = run(&gcra, &[0; 20]);
        assert_eq!(decisions.iter().filter(|a| **a).count(), 6);
        assert!(decisions[..6].iter().all(|a| *a));
        // Then exactly one more every 100 ms, none in between.
        let mut tat = 0;
        for _ in 0..20 {
            tat = gcra.check(tat, 0).tat;
        }
        for step in 1..=10u64 {
            let now = step * 100 * MS;
            let just_before = gcra.check(tat, now - 1);
            assert!(!just_before.allowed, "at {now} - 1ns");
            let first = gcra.check(tat, now);
            assert!(first.allowed, "one more at {} ms", step * 100);
            tat = first.tat;
            assert!(
                !gcra.check(tat, now).allowed,
                "only one at {} ms",
                step * 100
            );
        }
    }

    #[test]
    fn headers_numbers() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 6);
        let first = gcra.check(0, 0);
        assert_eq!(first.remaining, 5);
        assert_eq!(first.reset_after, 100 * MS);
        let mut tat = first.tat;
        for expected in (0..5).rev() {
            let d = gcra.check(tat, 0);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected);
            tat = d.tat;
        }
        let refused = gcra.check(tat, 0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 100 * MS);
        assert_eq!(refused.reset_after, 600 * MS);
        // 30 ms later the wait is 70 ms.
        assert_eq!(gcra.check(tat, 30 * MS).retry_after, 70 * MS);
    }

    #[test]
    fn agrees_with_a_token_bucket_on_every_decision() {
        // §5.3 assert 2: GCRA with τ = (b − 1)·T is a token bucket of capacity b, exactly.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (count, burst) in [(10, 6), (3, 1), (100, 50), (7, 3)] {
            let gcra = Gcra::new(count, Duration::from_secs(1), burst);
            let mut bucket = TokenBucket::new(gcra.interval(), u64::from(burst));
            let mut now = 0;
            let mut arrivals = Vec::new();
            for _ in 0..400 {
                // Gaps from 0 to 2T, often landing exactly on refill boundaries.
                now += match next() % 4 {
                    0 => 0,
                    1 => gcra.interval(),
                    _ => next() % (2 * gcra.interval()),
                };
                arrivals.push(now);
            }
            let expected: Vec<bool> = arrivals.iter().map(|&t| bucket.take(t)).collect();
            assert_eq!(
                run(&gcra, &arrivals),
                expected,
                "rate {count}/s burst {burst}"
            );
        }
    }

    #[test]
    fn never_more_than_b_plus_rt_in_any_window() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 6);
        let arrivals: Vec<u64> = (0..2000).map(|i| i * 7 * MS).collect();
        let admitted: Vec<u64> = arrivals
            .iter()
            .zip(run(&gcra, &arrivals))
            .filter(|(_, a)| *a)
            .map(|(t, _)| *t)
            .collect();
        for (i, &start) in admitted.iter().enumerate() {
            for window_ms in [50u64, 100, 500, 1000, 3000] {
                let end = start + window_ms * MS;
                let n = admitted[i..].iter().take_while(|&&t| t < end).count() as u64;
                assert!(n <= 6 + 10 * window_ms / 1000 + 1, "{n} in {window_ms} ms");
            }
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let gcra = Gcra::new(u32::MAX, Duration::from_secs(1), u32::MAX);
        let _ = gcra.check(u64::MAX, u64::MAX);
        let _ = gcra.check(u64::MAX, 0);
        let slow = Gcra::new(1, Duration::from_secs(3600), 1);
        assert!(slow.check(0, u64::MAX - 1).allowed);
        assert!(!slow.check(u64::MAX, 0).allowed);
    }
}
