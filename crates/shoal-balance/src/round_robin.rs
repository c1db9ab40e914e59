//! [`RoundRobin`]: rotate over the eligible backends, configured weights ignored.
//!
//! An atomic cursor gives each pick a start position; the pick walks forward to the next
//! pickable backend. When it had to skip `d` unpickable ones it advances the cursor by `d` as
//! well, so the next pick starts after the chosen backend: without that, the backend just
//! after a down one would take its share too (a, [b down], c → a c c a c c). Wait-free: one
//! `fetch_add` on the common path, a second only when something was skipped.
//!
//! Slow start: a backend whose effective weight is below its configured weight (warming) is
//! taken with probability effective/configured when its turn comes, else the walk moves on;
//! so it gets that fraction of its share. (If every candidate declines, the first one is
//! taken: a pick never fails for lack of luck.)
//!
//! The hashing balancers reuse it for requests that have no hash key.

use crate::backend_view::BackendView;
use crate::cursor::Cursor;
use crate::{BalancerSpec, Loads, Rng};

/// Round robin over eligible backends.
#[derive(Debug)]
pub struct RoundRobin {
    cfg: Vec<u32>,
    cursor: Cursor,
}

impl RoundRobin {
    /// Builds from the spec (only the backend count and weights-for-capping are used).
    pub fn new(spec: &BalancerSpec) -> RoundRobin {
        RoundRobin::from_weights(spec.configured_weights())
    }

    pub(crate) fn from_weights(cfg: Vec<u32>) -> RoundRobin {
        RoundRobin {
            cursor: Cursor::new(cfg.len()),
            cfg,
        }
    }

    /// The next eligible backend in rotation, `None` when none is eligible.
    pub fn pick<L: Loads + ?Sized>(
        &self,
        _hash: Option<u64>,
        loads: &L,
        rng: &mut Rng,
    ) -> Option<usize> {
        let view = BackendView::new(loads, &self.cfg);
        let n = self.cfg.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.next();
        let mut first = None;
        for step in 0..n {
            let i = if start + step >= n {
                start + step - n
            } else {
                start + step
            };
            if !view.pickable(i) {
                continue;
            }
            let (w, cfg) = (view.weight(i), view.configured(i));
            // Full weight (the common case) takes no random draw.
            if w >= cfg || rng.below(u64::from(cfg)) < u64::from(w) {
                if step > 0 {
                    self.cursor.advance(step);
                }
                return Some(i);
            }
            first.get_or_insert(i);
        }
        first
    }

    #[inline]
    pub(crate) fn pick_view<L: Loads + ?Sized>(&self, view: &BackendView<'_, L>) -> Option<usize> {
        let n = self.cfg.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.next();
        for step in 0..n {
            let i = if start + step >= n {
                start + step - n
            } else {
                start + step
            };
            if view.pickable(i) {
                if step > 0 {
                    self.cursor.advance(step);
                }
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads};
    use shoal_core::Algorithm;

    fn rr(n: usize) -> RoundRobin {
        let backends = (0..n)
            .map(|i| BackendSpec::new(format!("b{i}"), 1 + i as u32))
            .collect();
        RoundRobin::new(&BalancerSpec::new(Algorithm::RoundRobin, backends))
    }

    fn seq(b: &RoundRobin, loads: &FixedLoads, k: usize) -> Vec<Option<usize>> {
        let mut rng = Rng::new(0);
        (0..k).map(|_| b.pick(None, loads, &mut rng)).collect()
    }

    #[test]
    fn rotates_ignoring_configured_weights() {
        let b = rr(3);
        let loads = FixedLoads::with_weights(&[1, 2, 3]);
        let got: Vec<_> = seq(&b, &loads, 6).into_iter().flatten().collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn skipping_a_down_backend_keeps_the_rest_equal() {
        let b = rr(3);
        let mut loads = FixedLoads::with_weights(&[1, 2, 3]);
        loads.eligible[1] = false;
        let got: Vec<_> = seq(&b, &loads, 6).into_iter().flatten().collect();
        assert_eq!(got, vec![0, 2, 0, 2, 0, 2]);
    }

    #[test]
    fn a_warming_backend_gets_its_fraction_of_a_turn() {
        // Spec weights 1, 2, 3; backend 2 at a third of its weight (1 of 3).
        let b = rr(3);
        let loads = FixedLoads::with_weights(&[1, 2, 1]);
        let picks = seq(&b, &loads, 3000);
        let warming = picks.iter().filter(|p| **p == Some(2)).count();
        // A full share would be ~1000; a third of it ~333 (binomial sd ~17 at these sizes).
        assert!((230..=440).contains(&warming), "{warming}");
        assert!(picks.iter().all(Option::is_some));
    }

    #[test]
    fn weight_zero_is_not_pickable_and_none_when_nothing_is() {
        let b = rr(2);
        let loads = FixedLoads::with_weights(&[0, 1]);
        assert_eq!(seq(&b, &loads, 3), vec![Some(1); 3]);
        let none = FixedLoads::with_weights(&[0, 0]);
        assert_eq!(seq(&b, &none, 2), vec![None, None]);
        assert_eq!(seq(&rr(0), &none, 1), vec![None]);
    }
}
