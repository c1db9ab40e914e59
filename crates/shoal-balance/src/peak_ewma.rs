//! [`PeakEwma`]: peak-sensitive exponentially weighted moving average of latency
//! (Finagle / Linkerd / tower), as pure arithmetic with an explicit `now`.
//!
//! Reference §2.2: a sample above the current estimate replaces it at once (peaks are felt
//! immediately); otherwise `cost = cost·w + rtt·(1−w)` with `w = exp(−Δt/τ)`. Reading decays
//! the estimate as if a 0 sample arrived now, i.e. `cost·exp(−Δt/τ)`. Here reading is `&self`
//! and does not store the decay: decays compose (`e^-a · e^-b = e^-(a+b)`), so the value read
//! is the same however often it is read, and an observation starts from the decayed value —
//! exactly Finagle's behaviour when the load is read just before each observation, which is
//! what P2C does.
//!
//! The load of a backend is `estimate × (in_flight + 1)` ([`PeakEwma::load_of`]). Two ways to
//! treat a backend with no history, both from the reference: seed `default_rtt_ns` (tower and
//! Linkerd; 30 ms in Linkerd), or pass 0 for Finagle's mode, where a backend with no latency
//! yet but requests pending costs [`PENALTY`] so it gets one probe at a time, not a flood.

/// Finagle's penalty for a backend with pending requests and no latency history
/// (`Long.MaxValue >> 16` ≈ 1.4 × 10¹⁴).
pub const PENALTY: f64 = (i64::MAX >> 16) as f64;
/// Default decay time τ: 10 s (Finagle `p2cPeakEwma`, Linkerd `EWMA_DECAY`).
pub const DEFAULT_DECAY_NS: u64 = 10_000_000_000;
/// Linkerd's default RTT for a backend with no history: 30 ms.
pub const DEFAULT_RTT_NS: u64 = 30_000_000;

/// Peak-EWMA latency estimate of one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct PeakEwma {
    /// Estimate at `stamp_ns`, in ns.
    cost: f64,
    stamp_ns: u64,
    decay_ns: f64,
}

impl PeakEwma {
    /// A fresh estimate of `default_rtt_ns` (0 = Finagle's no-history mode), decaying with
    /// time constant `decay_ns` (0 is treated as 1 ns). Its clock starts at 0; the first
    /// [`observe`](Self::observe) sets it.
    pub fn new(default_rtt_ns: u64, decay_ns: u64) -> PeakEwma {
        PeakEwma {
            cost: default_rtt_ns as f64,
            stamp_ns: 0,
            decay_ns: decay_ns.max(1) as f64,
        }
    }

    /// Same, with the clock starting at `now_ns` (so the default RTT does not decay from 0).
    pub fn starting_at(default_rtt_ns: u64, decay_ns: u64, now_ns: u64) -> PeakEwma {
        PeakEwma {
            stamp_ns: now_ns,
            ..PeakEwma::new(default_rtt_ns, decay_ns)
        }
    }

    /// Records a response time `rtt_ns` observed at `now_ns`.
    pub fn observe(&mut self, rtt_ns: u64, now_ns: u64) {
        let rtt = rtt_ns as f64;
        let w = self.weight(now_ns);
        let decayed = self.cost * w;
        self.cost = if rtt > decayed {
            rtt
        } else {
            decayed + rtt * (1.0 - w)
        };
        self.stamp_ns = self.stamp_ns.max(now_ns);
    }

    /// The estimate at `now_ns` (ns): the stored cost decayed by `exp(−Δt/τ)`. A `now` before
    /// the last observation reads as no time passed.
    pub fn estimate(&self, now_ns: u64) -> f64 {
        self.cost * self.weight(now_ns)
    }

    /// Load with `pending` requests in flight at `now_ns`: [`PeakEwma::load_of`] of the
    /// estimate.
    pub fn load(&self, now_ns: u64, pending: u32) -> f64 {
        PeakEwma::load_of(self.estimate(now_ns), pending)
    }

    /// `estimate × (pending + 1)`, or Finagle's [`PENALTY`]` + pending` when there is no
    /// latency history (`estimate == 0`) but requests are pending. NaN or negative estimates
    /// (a caller bug) count as the penalty too, so they never attract traffic.
    #[inline]
    pub fn load_of(estimate_ns: f64, pending: u32) -> f64 {
        let pending_f = f64::from(pending);
        if estimate_ns.is_nan() || estimate_ns < 0.0 {
            return PENALTY + pending_f;
        }
        if estimate_ns == 0.0 && pending > 0 {
            return PENALTY + pending_f;
        }
        estimate_ns * (pending_f + 1.0)
    }

    /// `w = exp(−Δt/τ)` for the time since the last observation.
    fn weight(&self, now_ns: u64) -> f64 {
        let dt = now_ns.saturating_sub(self.stamp_ns) as f64;
        (-dt / self.decay_ns).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAU: u64 = DEFAULT_DECAY_NS;

    fn rel_eq(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1e-300)
    }

    #[test]
    fn a_sample_above_cost_replaces_it_exactly() {
        let mut e = PeakEwma::starting_at(1_000, TAU, 5);
        e.observe(7_000_000, 6);
        assert_eq!(e.estimate(6), 7_000_000.0);
    }

    #[test]
    fn decays_by_e_after_tau_and_halves_after_tau_ln2() {
        let mut e = PeakEwma::new(0, TAU);
        e.observe(1_000_000, 1_000);
        let c = e.estimate(1_000);
        assert!(rel_eq(e.estimate(1_000 + TAU), c * (-1.0f64).exp()));
        let half = 1_000 + (TAU as f64 * std::f64::consts::LN_2).round() as u64;
        assert!((e.estimate(half) / c - 0.5).abs() < 1e-9);
        // Reading never changes the state.
        assert!(rel_eq(e.estimate(1_000 + TAU), c * (-1.0f64).exp()));
    }

    #[test]
    fn smaller_samples_blend_by_the_time_weight() {
        let mut e = PeakEwma::starting_at(0, TAU, 0);
        e.observe(1_000, 0);
        // τ later, a 0 sample: cost·e⁻¹ + 0·(1−e⁻¹).
        e.observe(0, TAU);
        assert!(rel_eq(e.estimate(TAU), 1_000.0 * (-1.0f64).exp()));
        // Immediately after, a smaller sample with Δt = 0 leaves cost unchanged (w = 1).
        let before = e.estimate(TAU);
        e.observe(100, TAU);
        assert!(rel_eq(e.estimate(TAU), before));
        // A half-life later, sample s: cost/2 + s/2.
        let mut e = PeakEwma::starting_at(0, TAU, 0);
        e.observe(1_000, 0);
        let half = (TAU as f64 * std::f64::consts::LN_2).round() as u64;
        e.observe(200, half);
        assert!((e.estimate(half) - 600.0).abs() < 1e-6);
    }

    #[test]
    fn load_is_cost_times_pending_plus_one() {
        let e = PeakEwma::starting_at(2_000, TAU, 0);
        assert_eq!(e.load(0, 3), 8_000.0);
        assert_eq!(PeakEwma::load_of(2_000.0, 0), 2_000.0);
    }

    #[test]
    fn new_backend_modes() {
        // Finagle mode: no RTT, one pending → at least 1e14.
        let finagle = PeakEwma::new(0, TAU);
        assert!(finagle.load(0, 1) >= 1e14);
        assert_eq!(finagle.load(0, 0), 0.0);
        // Default-RTT mode: default_rtt × 2 with one pending.
        let seeded = PeakEwma::starting_at(DEFAULT_RTT_NS, TAU, 0);
        assert_eq!(seeded.load(0, 1), DEFAULT_RTT_NS as f64 * 2.0);
        assert!(PeakEwma::load_of(f64::NAN, 0) >= 1e14);
    }

    #[test]
    fn clock_going_backwards_and_zero_decay_do_not_misbehave() {
        let mut e = PeakEwma::starting_at(500, 0, 100);
        assert_eq!(e.estimate(50), 500.0);
        e.observe(100, 50);
        assert!(e.estimate(50).is_finite());
        assert!(e.estimate(u64::MAX) >= 0.0);
    }
}
