use std::time::Duration;

/// Spread of [`jittered`]: ±10% so probes of many backends (and many shoal instances) do
/// not fire in lockstep.
pub const JITTER_FRACTION: f64 = 0.1;

/// `interval` scaled into `[0.9 × interval, 1.1 × interval]`, `unit` in `[0, 1]` choosing
/// where (0 → 0.9×, 0.5 → 1×, 1 → 1.1×). The caller supplies `unit` from its own random
/// source so this stays deterministic under test. Out-of-range units are clamped, NaN acts as
/// 0.5, and a result too large for a `Duration` falls back to `interval`.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let unit = if unit.is_nan() {
        0.5
    } else {
        unit.clamp(0.0, 1.0)
    };
    let scale = 1.0 - JITTER_FRACTION + 2.0 * JITTER_FRACTION * unit;
    Duration::try_from_secs_f64(interval.as_secs_f64() * scale).unwrap_or(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_plus_minus_ten_percent() {
        let i = Duration::from_secs(5);
        assert_eq!(jittered(i, 0.0), Duration::from_millis(4500));
        assert_eq!(jittered(i, 0.5), i);
        assert_eq!(jittered(i, 1.0), Duration::from_millis(5500));
        for k in 0..=1000 {
            let d = jittered(i, f64::from(k) / 1000.0);
            assert!(d >= Duration::from_millis(4500) && d <= Duration::from_millis(5500));
        }
    }

    #[test]
    fn odd_units_and_extremes_do_not_panic() {
        let i = Duration::from_secs(5);
        assert_eq!(jittered(i, -3.0), Duration::from_millis(4500));
        assert_eq!(jittered(i, 7.0), Duration::from_millis(5500));
        assert_eq!(jittered(i, f64::NAN), i);
        assert_eq!(jittered(i, f64::INFINITY), Duration::from_millis(5500));
        assert_eq!(jittered(Duration::ZERO, 0.3), Duration::ZERO);
        assert_eq!(jittered(Duration::MAX, 1.0), Duration::MAX);
    }
}
