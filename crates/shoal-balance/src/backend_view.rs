//! [`BackendView`]: one pick's read of [`Loads`] through the spec's configured weights.
//!
//! Every algorithm asks the same question, "can I pick `i`, and with what weight?", and must
//! answer it the same way: out of range (spec or loads) or ineligible → 0; otherwise the
//! effective weight capped at the configured weight. The cap is what lets the samplers use
//! the configured weights as an exact rejection-sampling envelope (see `WeightedSampler`).

use crate::Loads;

/// Slots walked by [`BackendView::first_admitted`] before it checks whether anything is
/// pickable at all.
const WALK_CHECK_AFTER: usize = 64;

/// Read-only view of the loads for one pick.
pub(crate) struct BackendView<'a, L: ?Sized> {
    loads: &'a L,
    cfg: &'a [u32],
    n: usize,
}

impl<'a, L: Loads + ?Sized> BackendView<'a, L> {
    /// `cfg` are the configured weights (≥ 1), one per spec backend.
    #[inline]
    pub(crate) fn new(loads: &'a L, cfg: &'a [u32]) -> Self {
        let n = cfg.len().min(loads.len());
        BackendView { loads, cfg, n }
    }

    /// Number of spec backends (not all of which may be in range of the loads).
    #[inline]
    pub(crate) fn spec_len(&self) -> usize {
        self.cfg.len()
    }

    /// Backends in range of both the spec and the loads: `0..in_range()`.
    #[inline]
    pub(crate) fn in_range(&self) -> usize {
        self.n
    }

    /// Configured weight of `i` (≥ 1), 0 when out of range.
    #[inline]
    pub(crate) fn configured(&self, i: usize) -> u32 {
        self.cfg.get(i).copied().unwrap_or(0)
    }

    /// Pickable weight: 0 when out of range, ineligible or effective weight 0; otherwise
    /// `min(effective, configured)`.
    #[inline]
    pub(crate) fn weight(&self, i: usize) -> u32 {
        if i >= self.n || !self.loads.eligible(i) {
            return 0;
        }
        self.loads.weight(i).min(self.configured(i))
    }

    /// [`Self::weight`] for an `i` known to be `< in_range()` whose configured weight `cfg`
    /// the caller already holds: skips the range checks in tight loops.
    #[inline]
    pub(crate) fn weight_in_range(&self, i: usize, cfg: u32) -> u32 {
        if self.loads.eligible(i) {
            self.loads.weight(i).min(cfg)
        } else {
            0
        }
    }

    /// True when `i` may be picked.
    #[inline]
    pub(crate) fn pickable(&self, i: usize) -> bool {
        self.weight(i) > 0
    }

    /// True when any backend may be picked (O(N); only on slow paths).
    pub(crate) fn any_pickable(&self) -> bool {
        (0..self.n).any(|i| self.pickable(i))
    }

    /// The first backend named by `slots[start]`, `slots[start + 1]`, … (once around,
    /// wrapping) that is pickable and that `admit(index, weight)` accepts: the walk of a ring
    /// or a Maglev table. After [`WALK_CHECK_AFTER`] slots it checks once (O(N)) whether
    /// anything is pickable at all, so a pick with every backend down costs O(N), not a walk
    /// around the whole table.
    pub(crate) fn first_admitted(
        &self,
        slots: &[u32],
        start: usize,
        mut admit: impl FnMut(usize, u32) -> bool,
    ) -> Option<usize> {
        let len = slots.len();
        for step in 0..len {
            if step == WALK_CHECK_AFTER && !self.any_pickable() {
                return None;
            }
            let k = if start + step >= len {
                start + step - len
            } else {
                start + step
            };
            let i = slots.get(k).map_or(usize::MAX, |&i| i as usize);
            let w = self.weight(i);
            if w > 0 && admit(i, w) {
                return Some(i);
            }
        }
        None
    }

    /// In-flight count of `i`.
    #[inline]
    pub(crate) fn in_flight(&self, i: usize) -> u32 {
        self.loads.in_flight(i)
    }

    /// Latency estimate of `i` (ns).
    #[inline]
    pub(crate) fn latency_cost(&self, i: usize) -> f64 {
        self.loads.latency_cost(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedLoads;

    #[test]
    fn caps_effective_weight_and_guards_ranges() {
        let mut l = FixedLoads::with_weights(&[5, 0, 9, 2]);
        l.eligible[3] = false;
        let cfg = [3, 3, 3]; // shorter than the loads: index 3 is out of the spec
        let v = BackendView::new(&l, &cfg);
        assert_eq!(v.weight(0), 3); // capped
        assert_eq!(v.weight(1), 0); // effective 0
        assert_eq!(v.weight(2), 3);
        assert_eq!(v.weight(3), 0); // beyond the spec
        assert_eq!(v.weight(99), 0);
        assert!(v.any_pickable());
        let none = FixedLoads::uniform(0, 1);
        assert!(!BackendView::new(&none, &cfg).any_pickable());
    }
}
