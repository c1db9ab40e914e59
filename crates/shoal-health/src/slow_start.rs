use std::time::Duration;

/// The weight factor a warming backend starts from (Envoy's `min_weight_percent` default,
/// 10%): even at the first second it gets a trickle, so its caches and JIT start warming.
pub const SLOW_START_MIN_FACTOR: f64 = 0.1;

/// Envoy's slow-start ramp with the default aggression 1.0 (linear):
/// `max(0.1, elapsed / window)`, capped at 1.0. So for a 60 s window: 0.1 at 1 s (the floor),
/// 0.5 at 30 s, 1.0 at 60 s and after; for a 2 s window 0.1 at the start and 0.5 at 1 s.
/// A zero window means no slow start: 1.0.
pub fn slow_start_factor(elapsed: Duration, window: Duration) -> f64 {
    if window.is_zero() {
        return 1.0;
    }
    // The floor, not a minimum elapsed time, keeps the first picks from seeing ~0: a
    // one-second minimum (as in Envoy's docs) would skip the ramp of any window under 10 s.
    let time_factor = elapsed.as_secs_f64() / window.as_secs_f64();
    time_factor.clamp(SLOW_START_MIN_FACTOR, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn sixty_second_window_matches_envoy() {
        let w = secs(60);
        assert!(close(slow_start_factor(Duration::ZERO, w), 0.1));
        assert!(close(slow_start_factor(secs(1), w), 0.1));
        assert!(close(slow_start_factor(secs(6), w), 0.1));
        assert!(close(slow_start_factor(secs(30), w), 0.5));
        assert!(close(slow_start_factor(secs(45), w), 0.75));
        assert!(close(slow_start_factor(secs(60), w), 1.0));
        assert!(close(slow_start_factor(secs(3600), w), 1.0));
    }

    #[test]
    fn zero_and_tiny_windows_do_not_divide_by_zero() {
        assert!(close(slow_start_factor(secs(0), Duration::ZERO), 1.0));
        assert!(close(
            slow_start_factor(Duration::ZERO, Duration::from_millis(500)),
            0.1
        ));
        assert!(close(
            slow_start_factor(Duration::from_millis(250), Duration::from_millis(500)),
            0.5
        ));
        assert!(close(slow_start_factor(Duration::MAX, secs(60)), 1.0));
    }
}
