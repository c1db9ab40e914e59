//! [`WeightedSampler`]: O(1) expected weighted random choice by *effective* weight.
//!
//! The configured weights are known when the balancer is built; the effective weights and
//! eligibility are only known at pick time. So the sampler draws a candidate from the
//! configured weights with a Walker/Vose alias table (O(1), exact integer arithmetic) and
//! accepts it with probability `effective / configured` (rejection sampling, exact because
//! [`crate::Loads::weight`] is capped at the configured weight). With every backend healthy
//! and at full weight the first draw is always accepted. After [`MAX_TRIES`] rejections (many
//! backends down or ramping) it falls back to an exact O(N) cumulative scan. Both paths
//! produce exactly the distribution `effective_i / Σ effective`, so their mixture does too.

use crate::backend_view::BackendView;
use crate::{Loads, Rng};

/// Rejection attempts before the exact scan. With half the weight unavailable, eight
/// misses in a row happen with probability 0.4 %, so the scan stays rare.
const MAX_TRIES: usize = 8;

/// Alias table over the configured weights.
#[derive(Debug, Clone)]
pub(crate) struct WeightedSampler {
    /// Per column: keep the column when `below(total) < threshold`, else take `alias`.
    threshold: Vec<u64>,
    alias: Vec<u32>,
    /// Σ configured weights.
    total: u64,
    /// All configured weights equal: a column draw alone is exact, skip the second draw.
    uniform: bool,
}

impl WeightedSampler {
    /// Builds the alias table (Vose's method) for `cfg` (every weight ≥ 1).
    pub(crate) fn new(cfg: &[u32]) -> WeightedSampler {
        let n = cfg.len();
        let total: u64 = cfg.iter().map(|&w| u64::from(w)).sum();
        let uniform = cfg.windows(2).all(|w| w[0] == w[1]);
        // Column i holds `w_i * n` out of `total * n`; scaled to `total` per column.
        let mut scaled: Vec<u128> = cfg.iter().map(|&w| u128::from(w) * n as u128).collect();
        let mut threshold = vec![total; n];
        let mut alias: Vec<u32> = (0..n).map(|i| i as u32).collect();
        let t = u128::from(total);
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < t);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            threshold[s] = scaled[s] as u64; // < total, fits
            alias[s] = l as u32;
            scaled[l] -= t - scaled[s];
            if scaled[l] < t {
                large.pop();
                small.push(l);
            }
        }
        // Whatever remains (in either list, from exact arithmetic only `large`) keeps itself.
        WeightedSampler {
            threshold,
            alias,
            total,
            uniform,
        }
    }

    /// A backend drawn with probability `configured_i / Σ configured`.
    #[inline]
    fn draw_configured(&self, rng: &mut Rng) -> usize {
        let n = self.threshold.len() as u64;
        let col = rng.below(n) as usize;
        if self.uniform {
            return col;
        }
        let keep = self.threshold.get(col).copied().unwrap_or(0);
        if rng.below(self.total) < keep {
            col
        } else {
            self.alias.get(col).map_or(col, |&a| a as usize)
        }
    }

    /// A pickable backend other than `exclude`, with probability proportional to its
    /// (capped) effective weight; `None` when there is none.
    #[inline]
    pub(crate) fn sample<L: Loads + ?Sized>(
        &self,
        view: &BackendView<'_, L>,
        rng: &mut Rng,
        exclude: Option<usize>,
    ) -> Option<usize> {
        if self.threshold.is_empty() {
            return None;
        }
        for _ in 0..MAX_TRIES {
            let i = self.draw_configured(rng);
            if Some(i) == exclude {
                continue;
            }
            let w = view.weight(i);
            if w == 0 {
                continue;
            }
            let c = view.configured(i);
            if w >= c || rng.below(u64::from(c)) < u64::from(w) {
                return Some(i);
            }
        }
        exact_sample(view, rng, exclude)
    }
}

/// Exact weighted choice by a cumulative scan: O(N), used when rejection keeps missing.
pub(crate) fn exact_sample<L: Loads + ?Sized>(
    view: &BackendView<'_, L>,
    rng: &mut Rng,
    exclude: Option<usize>,
) -> Option<usize> {
    let n = view.spec_len();
    let weight = |i: usize| {
        if Some(i) == exclude {
            0
        } else {
            u64::from(view.weight(i))
        }
    };
    let total: u64 = (0..n).map(weight).sum();
    if total == 0 {
        return None;
    }
    let mut target = rng.below(total);
    for i in 0..n {
        let w = weight(i);
        if target < w {
            return Some(i);
        }
        target -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedLoads;

    fn shares(cfg: &[u32], loads: &FixedLoads, draws: u32, exclude: Option<usize>) -> Vec<f64> {
        let s = WeightedSampler::new(cfg);
        let v = BackendView::new(loads, cfg);
        let mut rng = Rng::new(11);
        let mut counts = vec![0u32; cfg.len()];
        for _ in 0..draws {
            counts[s.sample(&v, &mut rng, exclude).unwrap()] += 1;
        }
        counts
            .iter()
            .map(|&c| f64::from(c) / f64::from(draws))
            .collect()
    }

    /// 6 standard deviations of a proportion `p` estimated from `n` draws.
    fn tol(p: f64, n: u32) -> f64 {
        6.0 * (p * (1.0 - p) / f64::from(n)).sqrt()
    }

    #[test]
    fn alias_table_reproduces_configured_weights_exactly() {
        // Σ over columns of the probability mass of each backend equals w_i / total.
        let cfg = [5u32, 1, 1, 9, 3];
        let s = WeightedSampler::new(&cfg);
        let n = cfg.len() as u128;
        let t = u128::from(s.total);
        let mut mass = vec![0u128; cfg.len()];
        for c in 0..cfg.len() {
            mass[c] += u128::from(s.threshold[c]);
            mass[s.alias[c] as usize] += t - u128::from(s.threshold[c]);
        }
        for (i, &w) in cfg.iter().enumerate() {
            assert_eq!(mass[i], u128::from(w) * n, "backend {i}");
        }
    }

    #[test]
    fn follows_effective_weights_and_eligibility() {
        let cfg = [4u32, 4, 4, 4];
        let mut loads = FixedLoads::with_weights(&[4, 2, 1, 4]);
        loads.eligible[3] = false;
        let n = 400_000;
        let got = shares(&cfg, &loads, n, None);
        let want = [4.0 / 7.0, 2.0 / 7.0, 1.0 / 7.0, 0.0];
        for i in 0..4 {
            assert!(
                (got[i] - want[i]).abs() <= tol(want[i], n) + 1e-9,
                "{got:?}"
            );
        }
    }

    #[test]
    fn exclusion_renormalises_over_the_rest() {
        let cfg = [1u32, 2, 3];
        let loads = FixedLoads::with_weights(&cfg);
        let n = 300_000;
        let got = shares(&cfg, &loads, n, Some(2));
        assert_eq!(got[2], 0.0);
        assert!((got[0] - 1.0 / 3.0).abs() <= tol(1.0 / 3.0, n));
    }

    #[test]
    fn nothing_pickable_gives_none() {
        let cfg = [1u32, 1];
        let s = WeightedSampler::new(&cfg);
        let loads = FixedLoads::with_weights(&[0, 0]);
        let v = BackendView::new(&loads, &cfg);
        assert_eq!(s.sample(&v, &mut Rng::new(1), None), None);
        let one = FixedLoads::with_weights(&[0, 1]);
        let v = BackendView::new(&one, &cfg);
        assert_eq!(s.sample(&v, &mut Rng::new(1), Some(1)), None);
        assert_eq!(s.sample(&v, &mut Rng::new(1), None), Some(1));
        let empty = WeightedSampler::new(&[]);
        assert_eq!(empty.sample(&v, &mut Rng::new(1), None), None);
    }
}
