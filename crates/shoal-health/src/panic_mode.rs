/// Envoy's panic threshold: when the eligible share of an upstream falls strictly below
/// `threshold_percent`, health is ignored and requests spread over every backend that
/// [`crate::BackendStatus::accepts_panic_traffic`], so the few survivors are not flattened.
/// A threshold of 0 disables panic mode (then no eligible backend means 503). An empty
/// upstream is never in panic: there is nothing to spread over.
pub fn panic_mode(eligible: usize, total: usize, threshold_percent: u32) -> bool {
    if threshold_percent == 0 || total == 0 {
        return false;
    }
    let threshold = u128::from(threshold_percent.min(100));
    // Integer cross-multiplication: exact, so "5 of 10 at 50%" is never in panic by rounding.
    (eligible as u128) * 100 < threshold * (total as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_below_the_threshold() {
        assert!(panic_mode(4, 10, 50));
        assert!(!panic_mode(5, 10, 50));
        assert!(!panic_mode(10, 10, 50));
        assert!(panic_mode(0, 10, 50));
        assert!(panic_mode(9, 10, 100));
        assert!(!panic_mode(10, 10, 100));
    }

    #[test]
    fn zero_threshold_disables_and_empty_is_calm() {
        assert!(!panic_mode(0, 10, 0));
        assert!(!panic_mode(0, 0, 50));
        assert!(panic_mode(0, 1, 1));
        // Out-of-range thresholds behave as 100%.
        assert!(panic_mode(9, 10, 1000));
        assert!(!panic_mode(usize::MAX, usize::MAX, u32::MAX));
    }
}
