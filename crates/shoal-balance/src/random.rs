//! [`Random`]: weighted random choice by effective weight.
//!
//! O(1) expected (alias table over the configured weights plus rejection on the effective
//! weight; see `WeightedSampler`). No shared state at all: the caller's `rng` is the only
//! thing that changes.

use crate::backend_view::BackendView;
use crate::weighted_sampler::WeightedSampler;
use crate::{BalancerSpec, Loads, Rng};

/// Weighted random.
#[derive(Debug)]
pub struct Random {
    cfg: Vec<u32>,
    sampler: WeightedSampler,
}

impl Random {
    /// Builds the sampler for the configured weights.
    pub fn new(spec: &BalancerSpec) -> Random {
        let cfg = spec.configured_weights();
        Random {
            sampler: WeightedSampler::new(&cfg),
            cfg,
        }
    }

    /// A pickable backend with probability proportional to its effective weight.
    pub fn pick<L: Loads + ?Sized>(
        &self,
        _hash: Option<u64>,
        loads: &L,
        rng: &mut Rng,
    ) -> Option<usize> {
        self.sampler
            .sample(&BackendView::new(loads, &self.cfg), rng, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads};
    use shoal_core::Algorithm;

    #[test]
    fn weighted_shares_within_sampling_noise() {
        let spec = BalancerSpec::new(
            Algorithm::Random,
            vec![
                BackendSpec::new("a", 1),
                BackendSpec::new("b", 2),
                BackendSpec::new("c", 3),
            ],
        );
        let b = Random::new(&spec);
        // c is ramping at a third of its weight: effective 1, 2, 1.
        let loads = FixedLoads::with_weights(&[1, 2, 1]);
        let mut rng = Rng::new(2);
        let n = 200_000u32;
        let mut counts = [0u32; 3];
        for _ in 0..n {
            counts[b.pick(None, &loads, &mut rng).unwrap()] += 1;
        }
        for (i, p) in [0.25, 0.5, 0.25].into_iter().enumerate() {
            let got = f64::from(counts[i]) / f64::from(n);
            let tol = 6.0 * (p * (1.0 - p) / f64::from(n)).sqrt();
            assert!((got - p).abs() < tol, "{counts:?}");
        }
    }
}
