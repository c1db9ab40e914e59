use std::time::Duration;

/// How long the `n`th ejection lasts (Envoy): `base × n`, capped at `max` — or at `base`
/// when `max` is smaller, as Envoy does. `n` counts the ejection being computed, so 0 is
/// treated as 1 (an ejection always lasts at least `base`).
pub fn ejection_time(n: u32, base: Duration, max: Duration) -> Duration {
    let cap = max.max(base);
    base.saturating_mul(n.max(1)).min(cap)
}

/// How many of an upstream's `total` backends may be ejected at once under
/// `max_ejection_percent`. Envoy: "at least one host is always ejectable", so 10% of 3
/// backends is still 1 — except that 0% means the operator turned ejection off, which we
/// honour (0). Percent above 100 behaves as 100.
pub fn max_ejected(total: usize, percent: u32) -> usize {
    if total == 0 || percent == 0 {
        return 0;
    }
    let percent = percent.min(100) as usize;
    // total * percent cannot overflow for any real upstream; saturate anyway.
    (total.saturating_mul(percent) / 100).max(1)
}

/// Whether one more backend may be ejected when `ejected_now` of `total` already are: the
/// `may_eject` argument of [`crate::HealthState::on_response`].
pub fn may_eject(ejected_now: usize, total: usize, percent: u32) -> bool {
    ejected_now < max_ejected(total, percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_grow_linearly_then_cap() {
        let got: Vec<u64> = (1..=12)
            .map(|n| ejection_time(n, secs(30), secs(300)).as_secs())
            .collect();
        assert_eq!(
            got,
            [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]
        );
        assert_eq!(ejection_time(0, secs(30), secs(300)), secs(30));
        assert_eq!(ejection_time(u32::MAX, secs(30), secs(300)), secs(300));
        // max below base: base wins (Envoy).
        assert_eq!(ejection_time(3, secs(30), secs(10)), secs(30));
    }

    #[test]
    fn cap_on_ejected_backends() {
        assert_eq!(max_ejected(10, 10), 1);
        assert_eq!(max_ejected(3, 10), 1);
        assert_eq!(max_ejected(10, 50), 5);
        assert_eq!(max_ejected(1, 10), 1);
        assert_eq!(max_ejected(0, 10), 0);
        assert_eq!(max_ejected(10, 0), 0);
        assert_eq!(max_ejected(10, 100), 10);
        assert_eq!(max_ejected(10, 250), 10);
        assert_eq!(max_ejected(usize::MAX, 100), usize::MAX / 100);
    }

    #[test]
    fn ten_backends_five_failing_eject_only_one_at_ten_percent() {
        let mut ejected = 0;
        for _failing in 0..5 {
            if may_eject(ejected, 10, 10) {
                ejected += 1;
            }
        }
        assert_eq!(ejected, 1);
        assert!(may_eject(0, 3, 10));
        assert!(!may_eject(1, 3, 10));
    }
}
