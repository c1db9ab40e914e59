//! [`WeightedRoundRobin`]: nginx smooth weighted round robin (SWRR), lock-free.
//!
//! nginx runs SWRR under a lock, mutating `current_weight` on every pick. Here the schedule
//! for the configured weights is computed once, in `new`, by running exactly nginx's rule
//! (add each weight, take the strictly largest, ties to the earliest, subtract the total) for
//! one cycle of `Σw / gcd(w)` picks. A pick then is one `fetch_add` on a cursor and a table
//! read: weights 5,1,1 give `a a b a c a a` per cycle.
//!
//! Picks walk forward past schedule entries they cannot use and advance the cursor past them
//! too (as [`crate::RoundRobin`] does), so each entry is considered once per cycle:
//!
//! - an **ineligible** backend's entries are skipped, and the others keep their relative
//!   shares in their smooth order;
//! - a backend **ramping up** (effective weight `e` below configured `c`, slow start) keeps
//!   each of its entries with probability `e / c` (thinning, drawn from the caller's `rng`),
//!   so its long-run share is exactly proportional to `e` while the order of everyone else
//!   stays smooth. Recomputing the schedule per pick would be O(Σw·N) under a lock; thinning is
//!   O(1) and needs no shared mutable state.
//!
//! A walk is bounded by [`WALK_LIMIT`] entries; past that (a long run of down backends) the
//! pick falls back to a weighted random choice by effective weight, which is O(1) expected
//! and exact, and returns `None` only when nothing is pickable.
//!
//! Long cycles are capped: when `Σw / gcd` exceeds [`MAX_SCHEDULE`], weights are scaled down
//! proportionally (each kept ≥ 1), so shares are exact to about 1/65536. When even that would
//! cost more than [`MAX_BUILD_STEPS`] to compute (tens of thousands of backends), the
//! balancer uses the weighted random choice only: same long-run shares, less smooth.

use crate::backend_view::BackendView;
use crate::cursor::Cursor;
use crate::weighted_sampler::WeightedSampler;
use crate::{BalancerSpec, Loads, Rng};

/// Longest cycle kept as a table (entries; 256 KiB of `u32`).
pub const MAX_SCHEDULE: u64 = 1 << 16;
/// Upper bound on `cycle × backends` work when building the schedule (a few tens of ms).
pub const MAX_BUILD_STEPS: u64 = 1 << 26;
/// Schedule entries one pick may walk past before falling back to weighted random.
pub const WALK_LIMIT: usize = 64;

/// Smooth weighted round robin.
#[derive(Debug)]
pub struct WeightedRoundRobin {
    cfg: Vec<u32>,
    /// One SWRR cycle of backend indices; empty when the cycle was too costly to build.
    schedule: Vec<u32>,
    cursor: Cursor,
    sampler: WeightedSampler,
}

impl WeightedRoundRobin {
    /// Builds the schedule for the configured weights.
    pub fn new(spec: &BalancerSpec) -> WeightedRoundRobin {
        let cfg = spec.configured_weights();
        let schedule = build_schedule(&cfg);
        WeightedRoundRobin {
            cursor: Cursor::new(schedule.len()),
            schedule,
            sampler: WeightedSampler::new(&cfg),
            cfg,
        }
    }

    /// The precomputed cycle (backend indices), for tests and inspection.
    pub fn schedule(&self) -> &[u32] {
        &self.schedule
    }

    /// The next backend in the smooth schedule (see the module docs for down and ramping
    /// backends), `None` when none is pickable.
    pub fn pick<L: Loads + ?Sized>(
        &self,
        _hash: Option<u64>,
        loads: &L,
        rng: &mut Rng,
    ) -> Option<usize> {
        let view = BackendView::new(loads, &self.cfg);
        let len = self.schedule.len();
        if len == 0 {
            return self.sampler.sample(&view, rng, None);
        }
        let start = self.cursor.next();
        let walk = WALK_LIMIT.min(len);
        for step in 0..walk {
            let pos = if start + step >= len {
                start + step - len
            } else {
                start + step
            };
            let i = self.schedule.get(pos).map_or(usize::MAX, |&i| i as usize);
            let w = view.weight(i);
            if w == 0 {
                continue;
            }
            let c = view.configured(i);
            if w >= c || rng.below(u64::from(c)) < u64::from(w) {
                if step > 0 {
                    self.cursor.advance(step);
                }
                return Some(i);
            }
        }
        self.cursor.advance(walk - 1);
        self.sampler.sample(&view, rng, None)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One SWRR cycle for `cfg` (every weight ≥ 1), possibly scaled; empty if too costly.
pub(crate) fn build_schedule(cfg: &[u32]) -> Vec<u32> {
    let n = cfg.len() as u64;
    if n == 0 {
        return Vec::new();
    }
    let g = cfg.iter().fold(0u64, |g, &w| gcd(g, u64::from(w))).max(1);
    let mut weights: Vec<u64> = cfg.iter().map(|&w| u64::from(w) / g).collect();
    let mut cycle: u64 = weights.iter().sum();
    if cycle > MAX_SCHEDULE {
        // Proportional scale-down; every backend keeps at least one entry.
        let sum = u128::from(cycle);
        weights = weights
            .iter()
            .map(|&w| ((u128::from(w) * u128::from(MAX_SCHEDULE) + sum / 2) / sum).max(1) as u64)
            .collect();
        let g = weights.iter().fold(0, |g, &w| gcd(g, w)).max(1);
        weights.iter_mut().for_each(|w| *w /= g);
        cycle = weights.iter().sum();
    }
    if cycle.saturating_mul(n) > MAX_BUILD_STEPS {
        return Vec::new();
    }
    swrr_cycle(&weights, cycle)
}

/// nginx's `ngx_http_upstream_get_peer` rule, run `picks` times from all-zero state.
fn swrr_cycle(weights: &[u64], picks: u64) -> Vec<u32> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(picks as usize);
    for _ in 0..picks {
        let mut best = 0usize;
        let mut best_value = i64::MIN;
        for (i, (c, &w)) in current.iter_mut().zip(weights).enumerate() {
            *c += w as i64;
            // Strictly greater: ties go to the earliest backend, as in nginx.
            if *c > best_value {
                best = i;
                best_value = *c;
            }
        }
        if let Some(c) = current.get_mut(best) {
            *c -= total;
        }
        out.push(best as u32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads};
    use shoal_core::Algorithm;

    fn wrr(weights: &[u32]) -> WeightedRoundRobin {
        let backends = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| BackendSpec::new(format!("b{i}"), w))
            .collect();
        WeightedRoundRobin::new(&BalancerSpec::new(Algorithm::WeightedRoundRobin, backends))
    }

    fn letters(b: &WeightedRoundRobin, loads: &FixedLoads, k: usize) -> String {
        let mut rng = Rng::new(5);
        (0..k)
            .map(|_| match b.pick(None, loads, &mut rng) {
                Some(i) => char::from(b'a' + i as u8),
                None => '-',
            })
            .collect()
    }

    #[test]
    fn nginx_5_1_1_is_aabacaa_repeating() {
        let b = wrr(&[5, 1, 1]);
        let loads = FixedLoads::with_weights(&[5, 1, 1]);
        assert_eq!(letters(&b, &loads, 14), "aabacaaaabacaa");
    }

    #[test]
    fn reference_sequences() {
        // Reference §2.4 [sim] sequences.
        for (w, want) in [
            (vec![4, 2, 1], "abacaba"),
            (vec![3, 2], "ababa"),
            (vec![10, 1], "aaaaabaaaaa"),
            (vec![2, 1, 1, 1], "abcda"),
        ] {
            let b = wrr(&w);
            assert_eq!(
                letters(&b, &FixedLoads::with_weights(&w), want.len()),
                want,
                "{w:?}"
            );
        }
    }

    #[test]
    fn cycle_is_reduced_by_gcd() {
        assert_eq!(wrr(&[10, 2, 2]).schedule(), wrr(&[5, 1, 1]).schedule());
        assert_eq!(wrr(&[7, 7, 7]).schedule(), &[0, 1, 2]);
    }

    #[test]
    fn down_backend_is_skipped_and_others_keep_their_order() {
        let b = wrr(&[5, 1, 1]);
        let mut loads = FixedLoads::with_weights(&[5, 1, 1]);
        loads.eligible[1] = false;
        // a a [b] a c a a → a a a c a a, repeating
        assert_eq!(letters(&b, &loads, 12), "aaacaaaaacaa");
    }

    #[test]
    fn huge_weights_are_scaled_not_refused() {
        let b = wrr(&[u32::MAX, 1, u32::MAX - 1]);
        let s = b.schedule();
        assert!(!s.is_empty() && s.len() as u64 <= MAX_SCHEDULE + 3);
        assert!(s.contains(&1), "every backend keeps at least one entry");
    }

    #[test]
    fn too_many_backends_fall_back_to_weighted_random() {
        // 70 000 distinct-ish weights: cycle capped at 65 536+, × 70 000 backends > budget.
        let weights: Vec<u32> = (0..70_000).map(|i| 1 + (i % 3)).collect();
        let b = wrr(&weights);
        assert!(b.schedule().is_empty());
        let loads = FixedLoads::with_weights(&weights);
        let mut rng = Rng::new(1);
        for _ in 0..100 {
            assert!(b.pick(None, &loads, &mut rng).is_some());
        }
    }

    #[test]
    fn none_when_nothing_pickable() {
        let b = wrr(&[3, 1]);
        let loads = FixedLoads::with_weights(&[0, 0]);
        assert_eq!(letters(&b, &loads, 3), "---");
        assert_eq!(letters(&wrr(&[]), &loads, 1), "-");
    }
}
