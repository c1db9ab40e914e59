//! [`Maglev`]: Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4) with Envoy's
//! weighting.
//!
//! **Table (pinned by golden tests; every shoal instance must agree):** `M` is prime
//! (default 65537). Backends are taken in order of their key (so the table is the same
//! whatever the spec order). Backend `key` prefers slots `(offset + j·skip) mod M` for
//! j = 0, 1, … with `offset = hash_bytes(key) mod M` and
//! `skip = hash_bytes_with_seed(key, MAGLEV_SKIP_SEED) mod (M−1) + 1`. Backends take turns
//! claiming their next preferred empty slot until the table is full. Weights follow Envoy:
//! in turn `t` (from 1) a backend claims only when `t·w ≥ target`, and its target grows by the
//! largest weight per claim, so the heaviest backends claim every turn and one of half the
//! weight every other turn (weights 1:2 → 21 846 / 43 691 entries of 65 537). With equal
//! weights this is the paper's plain round robin: every backend gets ⌊M/N⌋ or ⌈M/N⌉ entries.
//! Turns are scheduled with a heap, so skewed weights cost O(M log N), not O(M·N).
//!
//! **Lookup:** `table[hash mod M]`. When that backend is not pickable (or, with bounded
//! loads, at its cap) the pick probes the following entries, `hash mod M + 1`, `+ 2`, …: a
//! fixed order per key, so a key always spills to the same backend, and spill from one
//! backend spreads over the others because its entries are scattered. Requests without a
//! hash go round robin.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::backend_view::BackendView;
use crate::bounded_load::BoundedLoad;
use crate::{
    hash_bytes, hash_bytes_with_seed, BalancerSpec, Loads, Rng, RoundRobin, DEFAULT_TABLE_SIZE,
    MAX_TABLE_SIZE,
};

/// Seed of the second (skip) hash of a backend key.
pub const MAGLEV_SKIP_SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// Marks a slot not yet claimed while building.
const EMPTY: u32 = u32::MAX;

/// Maglev lookup table.
#[derive(Debug)]
pub struct Maglev {
    cfg: Vec<u32>,
    /// Backend index (into the spec) per slot; empty when there are no backends.
    table: Vec<u32>,
    rr: RoundRobin,
    bound: Option<BoundedLoad>,
}

/// True when `n` is prime.
// `is_multiple_of` is newer than the workspace's declared minimum Rust (1.85).
#[allow(clippy::manual_is_multiple_of)]
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The table size actually used for a requested `table_size`: 0 → the default, clamped to
/// `2..=MAX_TABLE_SIZE`, a non-prime rounded up to the next prime.
pub fn effective_table_size(requested: u32) -> u64 {
    let mut m = match requested {
        0 => u64::from(DEFAULT_TABLE_SIZE),
        r => u64::from(r).clamp(2, u64::from(MAX_TABLE_SIZE)),
    };
    while !is_prime(m) {
        m += 1;
    }
    m
}

struct Permutation {
    index: u32,
    next_slot: u64,
    skip: u64,
    weight: u64,
    target: u64,
}

impl Maglev {
    /// Builds the table (off the request path; ~ms for 65537 entries).
    pub fn new(spec: &BalancerSpec) -> Maglev {
        let cfg = spec.configured_weights();
        let m = effective_table_size(spec.table_size);
        Maglev {
            table: build_table(spec, &cfg, m),
            rr: RoundRobin::from_weights(cfg.clone()),
            bound: BoundedLoad::new(spec.hash_balance_factor, &cfg),
            cfg,
        }
    }

    /// The lookup table: backend index per slot.
    pub fn table(&self) -> &[u32] {
        &self.table
    }

    /// The backend at `table[hash mod M]` regardless of health; `None` with no backends.
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        let m = self.table.len() as u64;
        if m == 0 {
            return None;
        }
        self.table.get((hash % m) as usize).map(|&i| i as usize)
    }

    /// The key's backend: `table[hash mod M]`, or the next pickable (and, with bounded loads,
    /// under-cap) entry after it. No hash → round robin. `None` when nothing is pickable.
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
        let m = self.table.len() as u64;
        if m == 0 {
            return None;
        }
        let slot = (h % m) as usize;
        let found = match self.bound {
            None => view.first_admitted(&self.table, slot, |_, _| true),
            Some(bound) => {
                let mut admission = bound.admission(&view, &self.cfg);
                view.first_admitted(&self.table, slot, |i, w| admission.admits(i, w))
                    .or_else(|| view.first_admitted(&self.table, slot, |_, _| true))
            }
        };
        // A pickable backend with no table entries (more backends than slots) can only be
        // reached this way: a per-key fixed scan by index keeps it consistent.
        found.or_else(|| {
            let n = self.cfg.len();
            let first = (h % n as u64) as usize;
            (first..n).chain(0..first).find(|&i| view.pickable(i))
        })
    }
}

/// The Maglev population (module docs) for `cfg` weights over `m` slots.
fn build_table(spec: &BalancerSpec, cfg: &[u32], m: u64) -> Vec<u32> {
    let n = spec.backends.len();
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        spec.backends[a]
            .key
            .cmp(&spec.backends[b].key)
            .then(a.cmp(&b))
    });
    let perms: Vec<Permutation> = order
        .iter()
        .map(|&i| {
            let key = spec.backends[i].key.as_bytes();
            Permutation {
                index: i as u32,
                next_slot: hash_bytes(key) % m,
                skip: hash_bytes_with_seed(key, MAGLEV_SKIP_SEED) % (m - 1) + 1,
                weight: u64::from(cfg.get(i).copied().unwrap_or(1)),
                target: 0,
            }
        })
        .collect();
    let max_weight = perms.iter().map(|p| p.weight).max().unwrap_or(1);

    if perms.iter().all(|p| p.weight == max_weight) {
        fill_round_robin(perms, m)
    } else {
        fill_by_turns(perms, m, max_weight)
    }
}

/// Equal weights: everyone claims every turn, the paper's plain round robin.
fn fill_round_robin(mut perms: Vec<Permutation>, m: u64) -> Vec<u32> {
    let mut table = vec![EMPTY; m as usize];
    if perms.is_empty() {
        return table;
    }
    let mut filled = 0u64;
    while filled < m {
        for p in perms.iter_mut() {
            claim(p, &mut table, m);
            filled += 1;
            if filled >= m {
                break;
            }
        }
    }
    table
}

/// Weighted turns (Envoy): a backend claims in turn `t` when `t·w ≥ target`. A heap of
/// (turn, position in key order) pops in exactly the nested-loop order without visiting every
/// light backend on every turn.
fn fill_by_turns(mut perms: Vec<Permutation>, m: u64, max_weight: u64) -> Vec<u32> {
    let mut table = vec![EMPTY; m as usize];
    let mut turns: BinaryHeap<Reverse<(u64, usize)>> =
        (0..perms.len()).map(|k| Reverse((1, k))).collect();
    let mut filled = 0u64;
    while filled < m {
        let Some(Reverse((turn, k))) = turns.pop() else {
            break;
        };
        let Some(p) = perms.get_mut(k) else {
            break;
        };
        p.target += max_weight;
        claim(p, &mut table, m);
        filled += 1;
        // Next turn t with t·w ≥ target, and never twice in one turn.
        let next = p.target.div_ceil(p.weight).max(turn + 1);
        turns.push(Reverse((next, k)));
    }
    table
}

/// Gives `p` its next preferred empty slot. Terminates: the permutation visits every slot
/// (skip < M, M prime) and the caller only asks while one is still empty.
#[inline]
fn claim(p: &mut Permutation, table: &mut [u32], m: u64) {
    loop {
        let slot = p.next_slot as usize;
        // (slot + skip) mod M without a division: both are below M.
        p.next_slot += p.skip;
        if p.next_slot >= m {
            p.next_slot -= m;
        }
        if let Some(s) = table.get_mut(slot) {
            if *s == EMPTY {
                *s = p.index;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendSpec, FixedLoads};
    use shoal_core::Algorithm;

    fn maglev(weights: &[u32], m: u32) -> Maglev {
        let backends = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| BackendSpec::new(format!("10.0.0.{i}:80"), w))
            .collect();
        let mut spec = BalancerSpec::new(Algorithm::Maglev, backends);
        spec.table_size = m;
        Maglev::new(&spec)
    }

    fn counts(t: &Maglev, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &i in t.table() {
            c[i as usize] += 1;
        }
        c
    }

    #[test]
    fn primes_and_table_sizes() {
        assert!(is_prime(65_537) && is_prime(5_000_011) && is_prime(2) && is_prime(13));
        assert!(!is_prime(0) && !is_prime(1) && !is_prime(65_536) && !is_prime(9));
        assert_eq!(effective_table_size(0), 65_537);
        assert_eq!(effective_table_size(1), 2);
        assert_eq!(effective_table_size(100), 101);
        assert_eq!(effective_table_size(u32::MAX), 5_000_011);
    }

    #[test]
    fn small_table_is_full_and_balanced() {
        let t = maglev(&[1, 1, 1], 13);
        assert_eq!(t.table().len(), 13);
        let mut c = counts(&t, 3);
        c.sort_unstable();
        assert_eq!(c, vec![4, 4, 5]);
    }

    #[test]
    fn equal_weight_fast_path_matches_the_weighted_turns() {
        let perms = |n: u32, m: u64| -> Vec<Permutation> {
            (0..n)
                .map(|i| {
                    let key = format!("10.0.0.{i}:80");
                    Permutation {
                        index: i,
                        next_slot: hash_bytes(key.as_bytes()) % m,
                        skip: hash_bytes_with_seed(key.as_bytes(), MAGLEV_SKIP_SEED) % (m - 1) + 1,
                        weight: 3,
                        target: 0,
                    }
                })
                .collect()
        };
        for (n, m) in [(1, 7), (3, 13), (10, 65_537), (20, 7)] {
            assert_eq!(
                fill_round_robin(perms(n, m), m),
                fill_by_turns(perms(n, m), m, 3)
            );
        }
    }

    #[test]
    fn envoy_weighting_1_to_2() {
        let t = maglev(&[1, 2], 65_537);
        assert_eq!(counts(&t, 2), vec![21_846, 43_691]);
    }

    #[test]
    fn more_backends_than_slots_still_picks_everyone_eligible() {
        let t = maglev(&[1; 7], 5);
        assert_eq!(t.table().len(), 5);
        let zero = (0..7).find(|i| !t.table().contains(&(*i as u32))).unwrap();
        let mut loads = FixedLoads::uniform(7, 1);
        loads.eligible = vec![false; 7];
        loads.eligible[zero] = true;
        for h in 0..20 {
            assert_eq!(t.pick(Some(h), &loads, &mut Rng::new(0)), Some(zero));
        }
    }

    #[test]
    fn down_entry_spills_to_the_next_entry() {
        let t = maglev(&[1, 1, 1, 1], 65_537);
        let tab = t.table();
        let slot = (1..tab.len())
            .find(|&k| tab[k] != tab[k - 1] && tab[k + 1] != tab[k])
            .unwrap();
        let mut loads = FixedLoads::uniform(4, 1);
        loads.eligible[tab[slot] as usize] = false;
        let got = t.pick(Some(slot as u64), &loads, &mut Rng::new(0));
        assert_eq!(got, Some(tab[slot + 1] as usize));
    }

    #[test]
    fn empty_and_all_down() {
        let t = maglev(&[], 7);
        let loads = FixedLoads::uniform(2, 1);
        assert_eq!(t.pick(Some(3), &loads, &mut Rng::new(0)), None);
        assert_eq!(t.lookup(3), None);
        let t = maglev(&[1, 1], 7);
        let down = FixedLoads::with_weights(&[0, 0]);
        assert_eq!(t.pick(Some(3), &down, &mut Rng::new(0)), None);
        assert_eq!(t.pick(None, &down, &mut Rng::new(0)), None);
    }
}
