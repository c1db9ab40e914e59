//! [`P2cEwma`]: power of two choices on peak-EWMA load.
//!
//! Same draws as [`crate::P2c`]; the winner is the lower `latency_cost × (in_flight + 1)`
//! ([`crate::PeakEwma::load_of`], including Finagle's penalty for a backend with pending
//! requests and no latency yet). On a tie the first drawn wins. The caller keeps one
//! [`crate::PeakEwma`] per backend and reports its estimate through
//! [`crate::Loads::latency_cost`]; the balancer holds no latency state itself.

use crate::backend_view::BackendView;
use crate::p2c::two_candidates;
use crate::weighted_sampler::WeightedSampler;
use crate::{BalancerSpec, Loads, PeakEwma, Rng};

/// Power of two choices on peak-EWMA load.
#[derive(Debug)]
pub struct P2cEwma {
    cfg: Vec<u32>,
    sampler: WeightedSampler,
}

impl P2cEwma {
    /// Builds the sampler for the configured weights.
    pub fn new(spec: &BalancerSpec) -> P2cEwma {
        let cfg = spec.configured_weights();
        P2cEwma {
            sampler: WeightedSampler::new(&cfg),
            cfg,
        }
    }

    /// The cheaper of two distinct weighted draws, `None` when nothing is pickable.
    pub fn pick<L: Loads + ?Sized>(
        &self,
        _hash: Option<u64>,
        loads: &L,
        rng: &mut Rng,
    ) -> Option<usize> {
        let view = BackendView::new(loads, &self.cfg);
        let (a, b) = match two_candidates(&self.sampler, &view, rng)? {
            (a, None) => return Some(a),
            (a, Some(b)) => (a, b),
        };
        let cost = |i| PeakEwma::load_of(view.latency_cost(i), view.in_flight(i));
        if cost(b) < cost(a) {
            Some(b)
        } else {
            Some(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads};
    use shoal_core::Algorithm;

    fn p2c_ewma(n: usize) -> P2cEwma {
        let backends = (0..n)
            .map(|i| BackendSpec::new(format!("b{i}"), 1))
            .collect();
        P2cEwma::new(&BalancerSpec::new(Algorithm::P2cEwma, backends))
    }

    #[test]
    fn prefers_lower_latency_times_pending() {
        let b = p2c_ewma(2);
        let mut loads = FixedLoads::uniform(2, 1);
        // 10 ms × (0+1) = 10 ms against 3 ms × (3+1) = 12 ms: the slow idle one wins.
        loads.latency_cost = vec![10e6, 3e6];
        loads.in_flight = vec![0, 3];
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            assert_eq!(b.pick(None, &loads, &mut rng), Some(0));
        }
        loads.in_flight = vec![0, 2]; // 9 ms now
        for _ in 0..50 {
            assert_eq!(b.pick(None, &loads, &mut rng), Some(1));
        }
    }

    #[test]
    fn slow_backend_gets_a_small_share() {
        // 10 backends, one at 10× latency, no queueing: it only wins when drawn against
        // itself, which cannot happen (distinct draws), so it is never picked.
        let b = p2c_ewma(10);
        let mut loads = FixedLoads::uniform(10, 1);
        loads.latency_cost = vec![1e6; 10];
        loads.latency_cost[7] = 10e6;
        let mut rng = Rng::new(2);
        for _ in 0..10_000 {
            assert_ne!(b.pick(None, &loads, &mut rng), Some(7));
        }
    }

    #[test]
    fn nan_latency_never_attracts_traffic() {
        let b = p2c_ewma(2);
        let mut loads = FixedLoads::uniform(2, 1);
        loads.latency_cost = vec![f64::NAN, 5e6];
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            assert_eq!(b.pick(None, &loads, &mut rng), Some(1));
        }
    }
}
