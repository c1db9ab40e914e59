//! [`Balancer`]: the one type the rest of shoal holds; dispatches to the algorithm named in
//! the spec.
//!
//! Built once per config snapshot (tables for ring hash and Maglev are computed here, off the
//! request path) and shared by every worker thread: it is `Send + Sync`, its only interior
//! mutability is atomic cursors, and no pick takes a lock.

use shoal_core::Algorithm;

use crate::{
    BalancerSpec, LeastConn, Loads, Maglev, P2c, P2cEwma, Random, RingHash, Rng, RoundRobin,
    WeightedRoundRobin,
};

/// A built balancer for one upstream's backends.
#[derive(Debug)]
pub struct Balancer {
    algorithm: Algorithm,
    len: usize,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    RoundRobin(RoundRobin),
    WeightedRoundRobin(WeightedRoundRobin),
    LeastConn(LeastConn),
    P2c(P2c),
    P2cEwma(P2cEwma),
    Random(Random),
    RingHash(RingHash),
    Maglev(Maglev),
}

impl Balancer {
    /// Builds the balancer for `spec` (never fails; out-of-range settings are clamped, see
    /// [`BalancerSpec`]).
    pub fn new(spec: &BalancerSpec) -> Balancer {
        let inner = match spec.algorithm {
            Algorithm::RoundRobin => Inner::RoundRobin(RoundRobin::new(spec)),
            Algorithm::WeightedRoundRobin => {
                Inner::WeightedRoundRobin(WeightedRoundRobin::new(spec))
            }
            Algorithm::LeastConn => Inner::LeastConn(LeastConn::new(spec)),
            Algorithm::P2c => Inner::P2c(P2c::new(spec)),
            Algorithm::P2cEwma => Inner::P2cEwma(P2cEwma::new(spec)),
            Algorithm::Random => Inner::Random(Random::new(spec)),
            Algorithm::RingHash => Inner::RingHash(RingHash::new(spec)),
            Algorithm::Maglev => Inner::Maglev(Maglev::new(spec)),
        };
        Balancer {
            algorithm: spec.algorithm,
            len: spec.backends.len(),
            inner,
        }
    }

    /// The algorithm this balancer runs.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Number of backends in the spec it was built from.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it was built with no backends (every pick is `None`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Picks a backend: the index (into the spec's backends) of an eligible backend with
    /// effective weight > 0, or `None` when there is none.
    ///
    /// `hash` is the request's key hash for `ring_hash`/`maglev` (use [`crate::hash_bytes`]);
    /// `None` means the key is absent and they fall back to round robin. Other algorithms
    /// ignore it. `rng` is the calling worker's own generator.
    #[inline]
    pub fn pick<L: Loads + ?Sized>(
        &self,
        hash: Option<u64>,
        loads: &L,
        rng: &mut Rng,
    ) -> Option<usize> {
        match &self.inner {
            Inner::RoundRobin(b) => b.pick(hash, loads, rng),
            Inner::WeightedRoundRobin(b) => b.pick(hash, loads, rng),
            Inner::LeastConn(b) => b.pick(hash, loads, rng),
            Inner::P2c(b) => b.pick(hash, loads, rng),
            Inner::P2cEwma(b) => b.pick(hash, loads, rng),
            Inner::Random(b) => b.pick(hash, loads, rng),
            Inner::RingHash(b) => b.pick(hash, loads, rng),
            Inner::Maglev(b) => b.pick(hash, loads, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads, Loads};

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn balancer_is_send_and_sync() {
        assert_send_sync::<Balancer>();
        assert_send_sync::<std::sync::Arc<Balancer>>();
    }

    #[test]
    fn every_algorithm_builds_picks_and_reports_itself() {
        let backends: Vec<_> = (0..5)
            .map(|i| BackendSpec::new(format!("b{i}"), 1 + i))
            .collect();
        let loads = FixedLoads::with_weights(&[1, 2, 3, 4, 5]);
        for a in Algorithm::ALL {
            let b = Balancer::new(&BalancerSpec::new(a, backends.clone()));
            assert_eq!(b.algorithm(), a);
            assert_eq!(b.len(), 5);
            let mut rng = Rng::new(1);
            for h in [None, Some(7), Some(u64::MAX)] {
                assert!(b.pick(h, &loads, &mut rng).is_some(), "{a}");
            }
        }
    }

    #[test]
    fn empty_spec_and_mismatched_loads_never_panic() {
        for a in Algorithm::ALL {
            let empty = Balancer::new(&BalancerSpec::new(a, vec![]));
            assert!(empty.is_empty());
            let mut rng = Rng::new(1);
            assert_eq!(
                empty.pick(Some(1), &FixedLoads::uniform(3, 1), &mut rng),
                None
            );
            // Spec of 3, loads of 1: only index 0 exists in both.
            let three: Vec<_> = (0..3)
                .map(|i| BackendSpec::new(format!("b{i}"), 1))
                .collect();
            let b = Balancer::new(&BalancerSpec::new(a, three));
            let short = FixedLoads::uniform(1, 1);
            for h in 0..20 {
                assert_eq!(b.pick(Some(h), &short, &mut rng), Some(0), "{a}");
            }
            assert_eq!(b.pick(None, &FixedLoads::uniform(0, 1), &mut rng), None);
        }
    }

    #[test]
    fn works_through_a_trait_object() {
        let backends: Vec<_> = (0..3)
            .map(|i| BackendSpec::new(format!("b{i}"), 1))
            .collect();
        let b = Balancer::new(&BalancerSpec::new(Algorithm::P2c, backends));
        let loads = FixedLoads::uniform(3, 1);
        let dynamic: &dyn Loads = &loads;
        assert!(b.pick(None, dynamic, &mut Rng::new(0)).is_some());
    }
}
