//! [`BoundedLoad`]: consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam;
//! HAProxy `hash-balance-factor`, Envoy `hash_balance_factor`), for ring hash and Maglev.
//!
//! At pick time every pickable backend gets a cap
//! `ceil(factor × (total_in_flight + 1) / eligible_count)`, where the total counts the
//! pickable backends only. The key's backends are tried in the key's own order (next ring
//! point, next table entry) and one whose `in_flight ≥ cap` is skipped, so after the pick it
//! holds at most `cap`. Because `Σ caps ≥ factor × (total + 1) > total`, some pickable
//! backend is always under its cap: bounded loads never turn a pickable set into a 503.
//!
//! With unequal (effective) weights the cap is shared by weight,
//! `ceil(factor × (total + 1) × w_i / Σw)` (HAProxy shares its slots by weight the same way);
//! with equal weights this is exactly the formula above, computed the same way. Computing the
//! caps reads every backend once: O(N) per pick, only when the factor is set.

use crate::backend_view::BackendView;
use crate::Loads;

/// A bounded-load factor (≥ 1.0, finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BoundedLoad {
    factor: f64,
}

/// The caps for one pick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// factor × (total_in_flight + 1)
    budget: f64,
    total_weight: f64,
    count: f64,
    equal_weights: bool,
}

impl BoundedLoad {
    /// `None` (disabled) unless the factor is finite and ≥ 1.0.
    pub(crate) fn from_factor(factor: Option<f64>) -> Option<BoundedLoad> {
        match factor {
            Some(f) if f.is_finite() && f >= 1.0 => Some(BoundedLoad { factor: f }),
            _ => None,
        }
    }

    /// The caps for the current loads; `None` when nothing is pickable.
    pub(crate) fn caps<L: Loads + ?Sized>(
        &self,
        view: &BackendView<'_, L>,
        cfg: &[u32],
    ) -> Option<Caps> {
        let cfg = cfg.get(..view.in_range()).unwrap_or_default();
        let (mut total_in_flight, mut total_weight, mut count, mut max_w) =
            (0u64, 0u64, 0u64, 0u64);
        // Branch-free sums: this loop is the whole O(N) cost of bounded loads.
        for (i, &c) in cfg.iter().enumerate() {
            let w = u64::from(view.weight_in_range(i, c));
            let pickable = u64::from(w != 0);
            total_in_flight += u64::from(view.in_flight(i)) * pickable;
            total_weight += w;
            count += pickable;
            max_w = max_w.max(w);
        }
        (count > 0).then(|| Caps {
            budget: self.factor * (total_in_flight + 1) as f64,
            total_weight: total_weight as f64,
            count: count as f64,
            // Every pickable weight ≤ max, so they are all equal iff they sum to count × max.
            equal_weights: total_weight == count * max_w,
        })
    }
}

impl Caps {
    /// The cap of a backend with pickable weight `w`.
    #[inline]
    pub(crate) fn cap(&self, w: u32) -> f64 {
        if self.equal_weights {
            (self.budget / self.count).ceil()
        } else {
            (self.budget * f64::from(w) / self.total_weight).ceil()
        }
    }

    /// True when a backend with `in_flight` requests and weight `w` may take one more.
    #[inline]
    pub(crate) fn admits(&self, in_flight: u32, w: u32) -> bool {
        f64::from(in_flight) < self.cap(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedLoads;

    #[test]
    fn factor_validation() {
        assert!(BoundedLoad::from_factor(None).is_none());
        assert!(BoundedLoad::from_factor(Some(f64::NAN)).is_none());
        assert!(BoundedLoad::from_factor(Some(0.9)).is_none());
        assert!(BoundedLoad::from_factor(Some(f64::INFINITY)).is_none());
        assert!(BoundedLoad::from_factor(Some(1.0)).is_some());
    }

    #[test]
    fn cap_matches_the_formula() {
        let b = BoundedLoad::from_factor(Some(1.25)).unwrap();
        let cfg = [1u32; 4];
        let mut loads = FixedLoads::uniform(4, 1);
        loads.in_flight = vec![3, 2, 1, 1];
        loads.eligible[3] = false; // not counted: total 6, count 3
        let caps = b.caps(&BackendView::new(&loads, &cfg), &cfg).unwrap();
        // ceil(1.25 × 7 / 3) = ceil(2.9167) = 3
        assert_eq!(caps.cap(1), 3.0);
        assert!(!caps.admits(3, 1));
        assert!(caps.admits(2, 1));
    }

    #[test]
    fn weighted_caps_share_by_weight() {
        let b = BoundedLoad::from_factor(Some(1.5)).unwrap();
        let cfg = [1u32, 3];
        let mut loads = FixedLoads::with_weights(&[1, 3]);
        loads.in_flight = vec![0, 7];
        let caps = b.caps(&BackendView::new(&loads, &cfg), &cfg).unwrap();
        // budget 1.5 × 8 = 12: 12 × 1/4 = 3, 12 × 3/4 = 9
        assert_eq!(caps.cap(1), 3.0);
        assert_eq!(caps.cap(3), 9.0);
        let none = FixedLoads::with_weights(&[0, 0]);
        assert!(b.caps(&BackendView::new(&none, &cfg), &cfg).is_none());
    }
}
