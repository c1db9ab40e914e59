//! [`P2c`]: power of two choices on in-flight requests.
//!
//! Two distinct pickable candidates are drawn, each with probability proportional to its
//! effective weight (the second from the rest), and the one with fewer requests in flight
//! wins; on a tie the first drawn wins. With two distinct candidates the unique most-loaded
//! backend can never be chosen, which is what drains it (reference §2.1). Near the cost of
//! random, most of the benefit of a full least-loaded scan, and no herding: different
//! workers' draws differ, so they do not all pile onto the same global minimum.

use crate::backend_view::BackendView;
use crate::weighted_sampler::WeightedSampler;
use crate::{BalancerSpec, Loads, Rng};

/// Power of two choices (least in flight of two weighted draws).
#[derive(Debug)]
pub struct P2c {
    cfg: Vec<u32>,
    sampler: WeightedSampler,
}

impl P2c {
    /// Builds the sampler for the configured weights.
    pub fn new(spec: &BalancerSpec) -> P2c {
        let cfg = spec.configured_weights();
        P2c {
            sampler: WeightedSampler::new(&cfg),
            cfg,
        }
    }

    /// The less loaded of two distinct weighted draws (the only pickable one when there is
    /// just one), `None` when nothing is pickable.
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
        if view.in_flight(b) < view.in_flight(a) {
            Some(b)
        } else {
            Some(a)
        }
    }
}

/// Two distinct weighted draws; the second is `None` when only one backend is pickable.
#[inline]
pub(crate) fn two_candidates<L: Loads + ?Sized>(
    sampler: &WeightedSampler,
    view: &BackendView<'_, L>,
    rng: &mut Rng,
) -> Option<(usize, Option<usize>)> {
    let a = sampler.sample(view, rng, None)?;
    Some((a, sampler.sample(view, rng, Some(a))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads};
    use shoal_core::Algorithm;

    fn p2c(n: usize) -> P2c {
        let backends = (0..n)
            .map(|i| BackendSpec::new(format!("b{i}"), 1))
            .collect();
        P2c::new(&BalancerSpec::new(Algorithm::P2c, backends))
    }

    #[test]
    fn never_picks_the_unique_maximum() {
        let b = p2c(5);
        let mut loads = FixedLoads::uniform(5, 1);
        loads.in_flight = vec![1, 9, 1, 0, 2];
        let mut rng = Rng::new(3);
        for _ in 0..10_000 {
            assert_ne!(b.pick(None, &loads, &mut rng), Some(1));
        }
    }

    #[test]
    fn two_backends_always_go_to_the_less_loaded() {
        let b = p2c(2);
        let mut loads = FixedLoads::uniform(2, 1);
        loads.in_flight = vec![5, 4];
        let mut rng = Rng::new(4);
        for _ in 0..100 {
            assert_eq!(b.pick(None, &loads, &mut rng), Some(1));
        }
    }

    #[test]
    fn single_pickable_and_none() {
        let b = p2c(3);
        let mut loads = FixedLoads::uniform(3, 1);
        loads.eligible = vec![false, true, false];
        loads.in_flight = vec![0, 100, 0];
        assert_eq!(b.pick(None, &loads, &mut Rng::new(1)), Some(1));
        loads.eligible[1] = false;
        assert_eq!(b.pick(None, &loads, &mut Rng::new(1)), None);
    }
}
