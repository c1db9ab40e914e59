//! [`RingHash`]: Karger consistent-hash ring with virtual nodes (Ketama-style naming).
//!
//! **Point format (pinned by golden tests; every shoal instance must agree):** backend `key`
//! with configured weight `w` gets `virtual_nodes × w` points; point `j` (from 0) sits at
//! `hash_bytes("{key}-{j}")`, the decimal `j` after a `-`, UTF-8, no terminator. Raising a
//! weight only adds points, so only keys moving *to* that backend move. Points are sorted by
//! hash, ties by backend key, so the ring is the same whatever the order of the backends in
//! the spec. Rings above [`MAX_RING_POINTS`] are scaled down proportionally (each backend
//! keeps ≥ 1 point).
//!
//! A request hash `h` (use [`crate::hash_bytes`] of the key, so keys are spread over the same
//! 64-bit space) belongs to the first point with hash ≥ `h`, wrapping past the end; found by
//! binary search over a plain `Vec<u64>`. When that backend is not pickable (or, with bounded
//! loads, at its cap) the walk continues clockwise to the next point: the key's fallback
//! order is fixed, so a key always spills to the same next backend. Requests without a hash
//! go round robin.

use crate::backend_view::BackendView;
use crate::bounded_load::BoundedLoad;
use crate::{hash_bytes, BalancerSpec, Loads, Rng, RoundRobin};

/// Most points a ring may hold (about 25 MB); bigger rings are scaled down.
pub const MAX_RING_POINTS: u64 = 1 << 21;

/// Consistent-hash ring.
#[derive(Debug)]
pub struct RingHash {
    cfg: Vec<u32>,
    /// Sorted point hashes.
    hashes: Vec<u64>,
    /// `owners[k]`: backend index (into the spec) of point `k`.
    owners: Vec<u32>,
    rr: RoundRobin,
    bound: Option<BoundedLoad>,
}

impl RingHash {
    /// Builds the ring (O(P log P) for P points; off the request path).
    pub fn new(spec: &BalancerSpec) -> RingHash {
        RingHash::with_max_points(spec, MAX_RING_POINTS)
    }

    /// [`RingHash::new`] with another cap on the number of points (tests use a small one).
    pub(crate) fn with_max_points(spec: &BalancerSpec, max_points: u64) -> RingHash {
        let cfg = spec.configured_weights();
        let vnodes = u64::from(spec.virtual_nodes.max(1));
        // u128: many backends with huge weights × vnodes would overflow u64.
        let wanted: u128 = cfg.iter().map(|&w| u128::from(vnodes * u64::from(w))).sum();
        let per_backend: Vec<u64> = cfg
            .iter()
            .map(|&w| {
                let p = vnodes * u64::from(w);
                if wanted > u128::from(max_points) {
                    ((u128::from(p) * u128::from(max_points) / wanted) as u64).max(1)
                } else {
                    p
                }
            })
            .collect();

        // Rank of each backend by key, for an order-independent tie-break.
        let mut by_key: Vec<usize> = (0..spec.backends.len()).collect();
        by_key.sort_by(|&a, &b| {
            spec.backends[a]
                .key
                .cmp(&spec.backends[b].key)
                .then(a.cmp(&b))
        });
        let mut rank = vec![0u32; by_key.len()];
        for (r, &i) in by_key.iter().enumerate() {
            rank[i] = r as u32;
        }

        let total: u64 = per_backend.iter().sum();
        let mut points: Vec<(u64, u32, u32)> = Vec::with_capacity(total as usize);
        let mut name = Vec::new();
        for (i, (b, &count)) in spec.backends.iter().zip(&per_backend).enumerate() {
            for j in 0..count {
                name.clear();
                name.extend_from_slice(b.key.as_bytes());
                name.push(b'-');
                name.extend_from_slice(j.to_string().as_bytes());
                points.push((hash_bytes(&name), rank[i], i as u32));
            }
        }
        points.sort_unstable();
        RingHash {
            hashes: points.iter().map(|p| p.0).collect(),
            owners: points.iter().map(|p| p.2).collect(),
            rr: RoundRobin::from_weights(cfg.clone()),
            bound: BoundedLoad::new(spec.hash_balance_factor, &cfg),
            cfg,
        }
    }

    /// The ring's points in order, as (point hash, backend index).
    pub fn points(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        self.hashes
            .iter()
            .zip(&self.owners)
            .map(|(&h, &o)| (h, o as usize))
    }

    /// The backend owning `hash` regardless of health; `None` for an empty ring.
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        self.owners.get(self.first_point(hash)).map(|&o| o as usize)
    }

    /// The key's backend: its ring owner, or the next pickable (and, with bounded loads,
    /// under-cap) backend clockwise. No hash → round robin. `None` when nothing is pickable.
    pub fn pick<L: Loads + ?Sized>(
        &self,
        hash: Option<u64>,
        loads: &L,
        _rng: &mut Rng,
    ) -> Option<usize> {
        let view = BackendView::new(loads, &self.cfg);
        let Some(h) = hash else {
            return self.rr.pick_view(&view);
        };
        let start = self.first_point(h);
        match self.bound {
            None => view.first_admitted(&self.owners, start, |_, _| true),
            Some(bound) => {
                let mut admission = bound.admission(&view, &self.cfg);
                // The caps always leave room somewhere; the plain walk is a belt-and-braces
                // fallback so a float corner case can never turn into a 503.
                view.first_admitted(&self.owners, start, |i, w| admission.admits(i, w))
                    .or_else(|| view.first_admitted(&self.owners, start, |_, _| true))
            }
        }
    }

    /// Index of the first point with hash ≥ `h`, wrapping to 0.
    #[inline]
    fn first_point(&self, h: u64) -> usize {
        let k = self.hashes.partition_point(|&p| p < h);
        if k >= self.hashes.len() {
            0
        } else {
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads};
    use shoal_core::Algorithm;

    fn ring(keys: &[&str], vnodes: u32) -> RingHash {
        let backends = keys.iter().map(|k| BackendSpec::new(*k, 1)).collect();
        let mut spec = BalancerSpec::new(Algorithm::RingHash, backends);
        spec.virtual_nodes = vnodes;
        RingHash::new(&spec)
    }

    #[test]
    fn points_follow_the_documented_format() {
        let r = ring(&["a:1"], 3);
        let mut want: Vec<u64> = (0..3)
            .map(|j| hash_bytes(format!("a:1-{j}").as_bytes()))
            .collect();
        want.sort_unstable();
        let got: Vec<u64> = r.points().map(|p| p.0).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn lookup_takes_the_first_point_at_or_after_and_wraps() {
        let r = ring(&["a", "b", "c"], 4);
        let pts: Vec<(u64, usize)> = r.points().collect();
        for &(h, o) in &pts {
            assert_eq!(r.lookup(h), Some(o)); // exactly on a point
        }
        assert_eq!(r.lookup(pts[1].0 - 1), Some(pts[1].1));
        assert_eq!(r.lookup(u64::MAX), Some(pts[0].1)); // past the last point wraps
        assert_eq!(r.lookup(0), Some(pts[0].1));
    }

    #[test]
    fn down_owner_spills_to_the_next_point_clockwise() {
        let r = ring(&["a", "b", "c"], 8);
        let pts: Vec<(u64, usize)> = r.points().collect();
        let (h, owner) = pts[3];
        let next_other = pts[4..]
            .iter()
            .chain(&pts[..3])
            .find(|p| p.1 != owner)
            .unwrap()
            .1;
        let mut loads = FixedLoads::uniform(3, 1);
        loads.eligible[owner] = false;
        assert_eq!(r.pick(Some(h), &loads, &mut Rng::new(0)), Some(next_other));
    }

    #[test]
    fn weight_scales_points_and_huge_rings_are_capped() {
        let mut spec = BalancerSpec::new(
            Algorithm::RingHash,
            vec![BackendSpec::new("a", 1), BackendSpec::new("b", 3)],
        );
        spec.virtual_nodes = 10;
        let r = RingHash::new(&spec);
        assert_eq!(r.points().filter(|p| p.1 == 1).count(), 30);
        spec.backends[1].weight = u32::MAX;
        spec.backends.push(BackendSpec::new("c", u32::MAX));
        spec.backends.push(BackendSpec::new("d", u32::MAX));
        spec.virtual_nodes = u32::MAX;
        let r = RingHash::with_max_points(&spec, 1_000);
        let n = r.points().count() as u64;
        assert!((990..=1_004).contains(&n), "{n}");
        assert!(r.points().any(|p| p.1 == 0), "every backend keeps a point");
    }

    #[test]
    fn no_hash_is_round_robin_and_nothing_eligible_is_none() {
        let r = ring(&["a", "b"], 16);
        let loads = FixedLoads::uniform(2, 1);
        let mut rng = Rng::new(0);
        let got: Vec<_> = (0..4)
            .map(|_| r.pick(None, &loads, &mut rng).unwrap())
            .collect();
        assert_eq!(got, vec![0, 1, 0, 1]);
        let down = FixedLoads::with_weights(&[0, 0]);
        assert_eq!(r.pick(Some(42), &down, &mut rng), None);
        let empty = ring(&[], 16);
        assert_eq!(empty.pick(Some(42), &loads, &mut rng), None);
        assert_eq!(empty.lookup(42), None);
    }
}
