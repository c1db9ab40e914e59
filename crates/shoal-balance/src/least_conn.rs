//! [`LeastConn`]: weighted least connections, ties broken round robin.
//!
//! Minimises `in_flight / weight` (effective weight, so a ramping backend counts as more
//! loaded) by cross-multiplying in `u64`: no floats, no rounding. The scan starts at a
//! rotating cursor and keeps the first strictly-better candidate, so among equals the one
//! nearest the cursor wins and equals take turns (HAProxy's "round robin inside groups of
//! equal load"). A backend with nothing in flight cannot be beaten, so the scan stops there.
//!
//! The scan is O(N) with no lock, and kept to about one load and one compare per backend:
//! once a best candidate `f/w` is known, a backend with `in_flight ≥ ⌈f·W/w⌉` (W = largest
//! configured weight, which no effective weight exceeds) cannot beat it at any weight, so its
//! health and weight are not even read. That bound is what keeps a 100-backend pick under
//! 100 ns (see BENCH.md).

use crate::backend_view::BackendView;
use crate::cursor::Cursor;
use crate::{BalancerSpec, Loads, Rng};

/// Weighted least connections.
#[derive(Debug)]
pub struct LeastConn {
    cfg: Vec<u32>,
    /// Largest configured weight.
    max_weight: u64,
    cursor: Cursor,
}

impl LeastConn {
    /// Builds from the spec.
    pub fn new(spec: &BalancerSpec) -> LeastConn {
        let cfg = spec.configured_weights();
        LeastConn {
            max_weight: cfg.iter().copied().max().map_or(1, u64::from),
            cursor: Cursor::new(cfg.len()),
            cfg,
        }
    }

    /// The pickable backend with the least `in_flight / weight`, `None` when none.
    pub fn pick<L: Loads + ?Sized>(
        &self,
        _hash: Option<u64>,
        loads: &L,
        _rng: &mut Rng,
    ) -> Option<usize> {
        let view = BackendView::new(loads, &self.cfg);
        // Indices at or past `in_range` are ineligible by definition; leaving them out lets
        // the loop skip range checks.
        let n = view.in_range();
        let cfg = self.cfg.get(..n).unwrap_or_default();
        if n == 0 {
            return None;
        }
        let mut start = self.cursor.next();
        if start >= n {
            start %= n; // only when the loads are shorter than the spec
        }
        let (before, after) = cfg.split_at(start);
        let mut best = Best::NONE;
        if let Some(i) = best.scan(&view, after, start, self.max_weight) {
            return Some(i);
        }
        if let Some(i) = best.scan(&view, before, 0, self.max_weight) {
            return Some(i);
        }
        (best.weight > 0).then_some(best.index)
    }
}

/// The best candidate so far. Starts as "infinitely loaded" (ratio 1/0), so the first pickable
/// backend always beats it without a separate "is there a best yet" branch.
struct Best {
    index: usize,
    in_flight: u64,
    weight: u64,
    /// Backends with at least this many in flight cannot beat the best at any weight.
    limit: u64,
}

impl Best {
    const NONE: Best = Best {
        index: usize::MAX,
        in_flight: 1,
        weight: 0,
        limit: u64::MAX,
    };

    /// Folds backends `base..base + cfg.len()` (with configured weights `cfg`) into `self`;
    /// returns early with a backend that has nothing in flight, which nothing can beat and
    /// which is first in the rotated order among its equals.
    #[inline]
    fn scan<L: Loads + ?Sized>(
        &mut self,
        view: &BackendView<'_, L>,
        cfg: &[u32],
        base: usize,
        max_weight: u64,
    ) -> Option<usize> {
        // Four at a time, branch-free: almost every block is rejected by the in-flight
        // bound alone, and only a block holding a possible winner is looked at closely.
        let mut blocks = cfg.chunks_exact(4);
        let mut at = base;
        for block in &mut blocks {
            let limit = self.limit;
            let maybe = (u64::from(view.in_flight(at)) < limit)
                | (u64::from(view.in_flight(at + 1)) < limit)
                | (u64::from(view.in_flight(at + 2)) < limit)
                | (u64::from(view.in_flight(at + 3)) < limit);
            if maybe {
                if let Some(i) = self.scan_each(view, block, at, max_weight) {
                    return Some(i);
                }
            }
            at += 4;
        }
        self.scan_each(view, blocks.remainder(), at, max_weight)
    }

    /// [`Best::scan`] one backend at a time.
    #[inline]
    fn scan_each<L: Loads + ?Sized>(
        &mut self,
        view: &BackendView<'_, L>,
        cfg: &[u32],
        base: usize,
        max_weight: u64,
    ) -> Option<usize> {
        for (k, &c) in cfg.iter().enumerate() {
            let i = base + k;
            let f = u64::from(view.in_flight(i));
            if f >= self.limit {
                continue;
            }
            let w = u64::from(view.weight_in_range(i, c));
            // f/w < best.f/best.w  ⇔  f·best.w < best.f·w  (products < 2^64; w = 0 never wins)
            if f * self.weight < self.in_flight * w {
                if f == 0 {
                    return Some(i);
                }
                *self = Best {
                    index: i,
                    in_flight: f,
                    weight: w,
                    // f' ≥ ⌈f·W/w⌉ ⇔ f'/W ≥ f/w, and f'/w' ≥ f'/W for every w' ≤ W.
                    limit: if w == max_weight {
                        f
                    } else {
                        (f * max_weight).div_ceil(w)
                    },
                };
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

    fn lc(weights: &[u32]) -> LeastConn {
        let backends = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| BackendSpec::new(format!("b{i}"), w))
            .collect();
        LeastConn::new(&BalancerSpec::new(Algorithm::LeastConn, backends))
    }

    #[test]
    fn haproxy_example_3_1_1_goes_to_second_then_third() {
        // Reference §2.5: counts {3,1,1} get the next two connections on the second and
        // third servers, in round-robin order (the caller counts each pick as in flight).
        let b = lc(&[1, 1, 1]);
        let mut loads = FixedLoads::uniform(3, 1);
        loads.in_flight = vec![3, 1, 1];
        let mut rng = Rng::new(0);
        let mut got = vec![];
        for _ in 0..2 {
            let i = b.pick(None, &loads, &mut rng).unwrap();
            loads.in_flight[i] += 1;
            got.push(i);
        }
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn weighted_ratio_wins_over_raw_count() {
        // 4/4 = 1.0 beats 2/1 = 2.0 and 3/2 = 1.5.
        let b = lc(&[1, 2, 4]);
        let mut loads = FixedLoads::with_weights(&[1, 2, 4]);
        loads.in_flight = vec![2, 3, 4];
        assert_eq!(b.pick(None, &loads, &mut Rng::new(0)), Some(2));
        // Slow start halves the effective weight of backend 2: 4/2 = 2.0 now loses to 3/2.
        loads.weight[2] = 2;
        assert_eq!(b.pick(None, &loads, &mut Rng::new(0)), Some(1));
    }

    #[test]
    fn ties_rotate() {
        let b = lc(&[1, 1, 1, 1]);
        let mut loads = FixedLoads::uniform(4, 1);
        loads.in_flight = vec![2, 2, 2, 2];
        let mut rng = Rng::new(0);
        let got: Vec<_> = (0..8)
            .map(|_| b.pick(None, &loads, &mut rng).unwrap())
            .collect();
        assert_eq!(got, vec![0, 1, 2, 3, 0, 1, 2, 3]);
        // Equal ratios with different weights tie too: 2/1 == 4/2.
        let b = lc(&[1, 2]);
        let mut loads = FixedLoads::with_weights(&[1, 2]);
        loads.in_flight = vec![2, 4];
        let got: Vec<_> = (0..4)
            .map(|_| b.pick(None, &loads, &mut rng).unwrap())
            .collect();
        assert_eq!(got, vec![0, 1, 0, 1]);
    }

    #[test]
    fn skips_ineligible_and_handles_extremes() {
        let b = lc(&[u32::MAX, u32::MAX]);
        let mut loads = FixedLoads::with_weights(&[u32::MAX, u32::MAX]);
        loads.in_flight = vec![u32::MAX, u32::MAX - 1];
        assert_eq!(b.pick(None, &loads, &mut Rng::new(0)), Some(1));
        loads.eligible[1] = false;
        assert_eq!(b.pick(None, &loads, &mut Rng::new(0)), Some(0));
        loads.eligible[0] = false;
        assert_eq!(b.pick(None, &loads, &mut Rng::new(0)), None);
    }
}
