//! [`BoundedLoad`]: consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam;
//! HAProxy `hash-balance-factor`, Envoy `hash_balance_factor`), for ring hash and Maglev.
//!
//! At pick time every pickable backend gets a cap
//! `ceil(factor × (total_in_flight + 1) / eligible_count)`, where `total_in_flight` counts
//! every backend of the upstream (also those down or draining: their requests are demand the
//! others are absorbing) and `eligible_count` the pickable ones. The key's backends are tried
//! in the key's own order (next ring point, next table entry) and one whose `in_flight ≥ cap`
//! is skipped, so after the pick it holds at most `cap`. Because
//! `Σ caps ≥ factor × (total + 1) > total`, some pickable backend is always under its cap:
//! bounded loads never turn a pickable set into a 503.
//!
//! With unequal (effective) weights the cap is shared by weight,
//! `ceil(factor × (total + 1) × w_i / Σw)` (HAProxy shares its slots by weight the same way);
//! with equal weights this is exactly the formula above, computed the same way.
//!
//! Cost: the exact caps need every backend's health, weight and in-flight count (O(N), about
//! 1.3 ns per backend). Most picks do not need them: the key's first choice is admitted as
//! soon as a running sum of in-flight counts alone proves it is under even the smallest cap
//! it could have (every backend up at full weight), which takes one load per backend and
//! usually stops early; with nothing in flight it stops at once. Only a candidate near or over
//! its cap pays for the exact caps, once per pick.

use crate::backend_view::BackendView;
use crate::Loads;

/// Slack on the proof that a candidate is under its cap, far above float rounding, so the
/// shortcut never admits what the exact caps would refuse.
const PROOF_MARGIN: f64 = 1.0 - 1e-9;

/// A bounded-load factor (≥ 1.0, finite) for one balancer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BoundedLoad {
    factor: f64,
    /// Σ configured weights: no pick's Σ effective weight of pickable backends exceeds it.
    total_configured: f64,
}

impl BoundedLoad {
    /// `None` (disabled) unless the factor is finite and ≥ 1.0.
    pub(crate) fn new(factor: Option<f64>, cfg: &[u32]) -> Option<BoundedLoad> {
        match factor {
            Some(f) if f.is_finite() && f >= 1.0 => Some(BoundedLoad {
                factor: f,
                total_configured: cfg.iter().map(|&w| f64::from(w)).sum::<f64>().max(1.0),
            }),
            _ => None,
        }
    }

    /// The admission test for one pick.
    pub(crate) fn admission<'a, 'v, L: Loads + ?Sized>(
        &self,
        view: &'a BackendView<'v, L>,
        cfg: &'a [u32],
    ) -> Admission<'a, 'v, L> {
        Admission {
            bound: *self,
            view,
            cfg: cfg.get(..view.in_range()).unwrap_or_default(),
            exact: None,
        }
    }
}

/// Decides, candidate by candidate, whether a backend is under its cap for this pick.
pub(crate) struct Admission<'a, 'v, L: ?Sized> {
    bound: BoundedLoad,
    view: &'a BackendView<'v, L>,
    /// Configured weights of the backends in range.
    cfg: &'a [u32],
    /// The exact caps, computed the first time the shortcut cannot decide.
    exact: Option<Caps>,
}

impl<L: Loads + ?Sized> Admission<'_, '_, L> {
    /// True when pickable backend `i` (pickable weight `w` > 0) may take one more request.
    pub(crate) fn admits(&mut self, i: usize, w: u32) -> bool {
        let f = self.view.in_flight(i);
        if self.exact.is_none() && self.surely_under_cap(f, w) {
            return true;
        }
        let caps = match self.exact {
            Some(c) => c,
            None => {
                let c = self.exact_caps();
                self.exact = Some(c);
                c
            }
        };
        caps.admits(f, w)
    }

    /// Proves `f < cap` from in-flight counts alone: the cap is at least
    /// `factor × (t + 1) × w / Σconfigured` for any partial sum `t` of in-flight counts.
    fn surely_under_cap(&self, f: u32, w: u32) -> bool {
        let per_request = self.bound.factor * f64::from(w) / self.bound.total_configured;
        // f < per_request·(t+1)·margin  ⇔  t ≥ ⌊f / (per_request·margin)⌋  (t an integer)
        let needed = (f64::from(f) / (per_request * PROOF_MARGIN)).floor() as u64;
        if needed == 0 {
            return true;
        }
        // Summed four at a time: one compare per block instead of per backend.
        let n = self.cfg.len();
        let mut t = 0u64;
        let mut i = 0;
        while i + 4 <= n {
            t += u64::from(self.view.in_flight(i))
                + u64::from(self.view.in_flight(i + 1))
                + u64::from(self.view.in_flight(i + 2))
                + u64::from(self.view.in_flight(i + 3));
            if t >= needed {
                return true;
            }
            i += 4;
        }
        (i..n)
            .map(|i| u64::from(self.view.in_flight(i)))
            .sum::<u64>()
            + t
            >= needed
    }

    fn exact_caps(&self) -> Caps {
        let (mut total_in_flight, mut total_weight, mut count, mut max_w) =
            (0u64, 0u64, 0u64, 0u64);
        // Branch-free sums over every backend in range.
        for (i, &c) in self.cfg.iter().enumerate() {
            let w = u64::from(self.view.weight_in_range(i, c));
            let pickable = u64::from(w != 0);
            total_in_flight += u64::from(self.view.in_flight(i));
            total_weight += w;
            count += pickable;
            max_w = max_w.max(w);
        }
        Caps {
            budget: self.bound.factor * (total_in_flight + 1) as f64,
            total_weight: (total_weight as f64).max(1.0),
            count: (count as f64).max(1.0),
            // Every pickable weight ≤ max, so they are all equal iff they sum to count × max.
            equal_weights: total_weight == count * max_w,
        }
    }
}

/// The exact caps for one pick.
#[derive(Debug, Clone, Copy)]
struct Caps {
    /// factor × (total_in_flight + 1)
    budget: f64,
    total_weight: f64,
    count: f64,
    equal_weights: bool,
}

impl Caps {
    /// The cap of a backend with pickable weight `w`.
    #[inline]
    fn cap(&self, w: u32) -> f64 {
        if self.equal_weights {
            (self.budget / self.count).ceil()
        } else {
            (self.budget * f64::from(w) / self.total_weight).ceil()
        }
    }

    /// True when a backend with `in_flight` requests and weight `w` may take one more.
    #[inline]
    fn admits(&self, in_flight: u32, w: u32) -> bool {
        f64::from(in_flight) < self.cap(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedLoads;

    #[test]
    fn factor_validation() {
        let cfg = [1];
        assert!(BoundedLoad::new(None, &cfg).is_none());
        assert!(BoundedLoad::new(Some(f64::NAN), &cfg).is_none());
        assert!(BoundedLoad::new(Some(0.9), &cfg).is_none());
        assert!(BoundedLoad::new(Some(f64::INFINITY), &cfg).is_none());
        assert!(BoundedLoad::new(Some(1.0), &cfg).is_some());
    }

    #[test]
    fn cap_matches_the_formula() {
        let cfg = [1u32; 4];
        let b = BoundedLoad::new(Some(1.25), &cfg).unwrap();
        let mut loads = FixedLoads::uniform(4, 1);
        loads.in_flight = vec![3, 2, 1, 1];
        loads.eligible[3] = false; // its request still counts: total 7, eligible 3
        let view = BackendView::new(&loads, &cfg);
        let caps = b.admission(&view, &cfg).exact_caps();
        // ceil(1.25 × 8 / 3) = ceil(3.33) = 4
        assert_eq!(caps.cap(1), 4.0);
        assert!(!caps.admits(4, 1));
        assert!(caps.admits(3, 1));
    }

    #[test]
    fn weighted_caps_share_by_weight() {
        let cfg = [1u32, 3];
        let b = BoundedLoad::new(Some(1.5), &cfg).unwrap();
        let mut loads = FixedLoads::with_weights(&[1, 3]);
        loads.in_flight = vec![0, 7];
        let view = BackendView::new(&loads, &cfg);
        let caps = b.admission(&view, &cfg).exact_caps();
        // budget 1.5 × 8 = 12: 12 × 1/4 = 3, 12 × 3/4 = 9
        assert_eq!(caps.cap(1), 3.0);
        assert_eq!(caps.cap(3), 9.0);
    }

    #[test]
    fn shortcut_agrees_with_the_exact_caps() {
        // Whenever the in-flight-only proof admits, the exact caps admit too; and an idle
        // candidate is admitted without computing them.
        let cfg = [2u32, 2, 2, 2, 2];
        let b = BoundedLoad::new(Some(1.25), &cfg).unwrap();
        let mut rng = crate::Rng::new(3);
        for _ in 0..2_000 {
            let mut loads = FixedLoads::with_weights(&[2, 2, 1, 2, 0]);
            loads.eligible[1] = rng.below(2) == 0;
            loads.in_flight = (0..5).map(|_| rng.below(12) as u32).collect();
            let view = BackendView::new(&loads, &cfg);
            let adm = b.admission(&view, &cfg);
            let exact = adm.exact_caps();
            for (i, w) in [(0usize, 2u32), (2, 1), (3, 2)] {
                if adm.surely_under_cap(loads.in_flight[i], w) {
                    assert!(exact.admits(loads.in_flight[i], w), "{loads:?} {i}");
                }
            }
        }
        let loads = FixedLoads::with_weights(&[2, 2, 2, 2, 2]);
        let view = BackendView::new(&loads, &cfg);
        let mut adm = b.admission(&view, &cfg);
        assert!(adm.admits(0, 2));
        assert!(adm.exact.is_none());
    }
}
