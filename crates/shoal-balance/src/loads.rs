//! [`Loads`]: the live per-backend numbers a balancer reads at pick time.
//!
//! The caller (shoal-upstream) owns them, usually as atomics in per-backend state; the
//! balancer only reads. Health is a predicate here, never a list the balancer keeps, so a
//! health change needs no balancer rebuild. [`FixedLoads`] is a plain-`Vec` implementation for
//! tests, benches and simulations; [`Excluding`] hides one backend (for retries on another).

/// Live per-backend numbers; index `i` is the position in `BalancerSpec::backends`.
///
/// Indices at or beyond [`Loads::len`] (or beyond the spec's backend count) are treated as
/// ineligible, so a length mismatch between the spec and the loads can never panic. The
/// balancer only ever calls the per-index methods with `i < len()`, so an implementation may
/// index its storage directly.
///
/// Every method is on the pick path (`least_conn` and bounded loads call them for every
/// backend): keep them to plain or atomic (`Relaxed`) loads, no locks.
pub trait Loads {
    /// How many backends these numbers describe.
    fn len(&self) -> usize;
    /// True when there are no backends.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Health predicate: an ineligible backend is never picked.
    fn eligible(&self, i: usize) -> bool;
    /// Effective weight now. Slow start may lower it below the configured weight; 0 means
    /// "not pickable". Values above the configured weight are capped at the configured
    /// weight (raise a weight by rebuilding the balancer from a new spec).
    fn weight(&self, i: usize) -> u32;
    /// Requests (or connections) in flight on backend `i`.
    fn in_flight(&self, i: usize) -> u32;
    /// Peak-EWMA latency estimate in ns (see [`crate::PeakEwma::estimate`]); used by
    /// `p2c_ewma` only.
    fn latency_cost(&self, i: usize) -> f64;
}

/// [`Loads`] over plain vectors: for tests, benches and simulations.
///
/// Missing entries (a shorter vector) read as ineligible / 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedLoads {
    /// Health per backend.
    pub eligible: Vec<bool>,
    /// Effective weight per backend.
    pub weight: Vec<u32>,
    /// In-flight count per backend.
    pub in_flight: Vec<u32>,
    /// Latency estimate (ns) per backend.
    pub latency_cost: Vec<f64>,
}

impl FixedLoads {
    /// `n` eligible backends, all with weight `weight`, nothing in flight, 1 ms latency.
    pub fn uniform(n: usize, weight: u32) -> FixedLoads {
        FixedLoads {
            eligible: vec![true; n],
            weight: vec![weight; n],
            in_flight: vec![0; n],
            latency_cost: vec![1_000_000.0; n],
        }
    }

    /// `n` eligible backends with these effective weights.
    pub fn with_weights(weights: &[u32]) -> FixedLoads {
        let mut l = FixedLoads::uniform(weights.len(), 1);
        l.weight = weights.to_vec();
        l
    }
}

impl Loads for FixedLoads {
    #[inline]
    fn len(&self) -> usize {
        self.eligible.len()
    }
    #[inline]
    fn eligible(&self, i: usize) -> bool {
        self.eligible.get(i).copied().unwrap_or(false)
    }
    #[inline]
    fn weight(&self, i: usize) -> u32 {
        self.weight.get(i).copied().unwrap_or(0)
    }
    #[inline]
    fn in_flight(&self, i: usize) -> u32 {
        self.in_flight.get(i).copied().unwrap_or(0)
    }
    #[inline]
    fn latency_cost(&self, i: usize) -> f64 {
        self.latency_cost.get(i).copied().unwrap_or(0.0)
    }
}

/// Another [`Loads`] with one backend made ineligible: a retry "on another backend" picks
/// through this so even hashing algorithms move to the key's next choice.
#[derive(Debug, Clone, Copy)]
pub struct Excluding<'a, L: ?Sized> {
    inner: &'a L,
    excluded: usize,
}

impl<'a, L: Loads + ?Sized> Excluding<'a, L> {
    /// `inner` with backend `excluded` hidden.
    pub fn new(inner: &'a L, excluded: usize) -> Self {
        Excluding { inner, excluded }
    }
}

impl<L: Loads + ?Sized> Loads for Excluding<'_, L> {
    #[inline]
    fn len(&self) -> usize {
        self.inner.len()
    }
    #[inline]
    fn eligible(&self, i: usize) -> bool {
        i != self.excluded && self.inner.eligible(i)
    }
    #[inline]
    fn weight(&self, i: usize) -> u32 {
        self.inner.weight(i)
    }
    #[inline]
    fn in_flight(&self, i: usize) -> u32 {
        self.inner.in_flight(i)
    }
    #[inline]
    fn latency_cost(&self, i: usize) -> f64 {
        self.inner.latency_cost(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_loads_out_of_range_reads_as_ineligible() {
        let l = FixedLoads::uniform(2, 3);
        assert!(l.eligible(1));
        assert!(!l.eligible(2));
        assert_eq!(l.weight(5), 0);
        assert_eq!(l.in_flight(5), 0);
        assert!(!l.is_empty());
    }

    #[test]
    fn excluding_hides_one_backend() {
        let l = FixedLoads::uniform(3, 1);
        let e = Excluding::new(&l, 1);
        assert!(e.eligible(0) && !e.eligible(1) && e.eligible(2));
        assert_eq!(e.len(), 3);
    }
}
