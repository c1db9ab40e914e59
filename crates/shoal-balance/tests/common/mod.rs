//! Shared fixtures for the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use shoal_balance::{BackendSpec, Balancer, BalancerSpec, FixedLoads, RingHash, Rng};
use shoal_core::Algorithm;

/// Backends named by `keys`, weight 1.
pub fn backends(keys: &[String]) -> Vec<BackendSpec> {
    keys.iter()
        .map(|k| BackendSpec::new(k.clone(), 1))
        .collect()
}

/// `10.0.0.{0..n}:80`, the reference's fixture names.
pub fn fixture_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("10.0.0.{i}:80")).collect()
}

/// `n` random-looking but seeded backend names (random "naming trials" of the reference).
pub fn random_keys(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let ip = rng.next_u64();
            format!(
                "10.{}.{}.{}:{}",
                ip & 0xff,
                (ip >> 8) & 0xff,
                (ip >> 16) & 0xff,
                1024 + (ip >> 32) % 60_000
            )
        })
        .collect()
}

pub fn spec(algorithm: Algorithm, keys: &[String]) -> BalancerSpec {
    BalancerSpec::new(algorithm, backends(keys))
}

pub fn ring(keys: &[String], vnodes: u32) -> RingHash {
    let mut s = spec(Algorithm::RingHash, keys);
    s.virtual_nodes = vnodes;
    RingHash::new(&s)
}

/// Exact share of the hash space owned by each backend: point k owns (p[k-1], p[k]].
pub fn exact_shares(r: &RingHash, n: usize) -> Vec<f64> {
    let pts: Vec<(u64, usize)> = r.points().collect();
    let mut len = vec![0u128; n];
    for k in 0..pts.len() {
        let prev = if k == 0 {
            pts[pts.len() - 1].0
        } else {
            pts[k - 1].0
        };
        len[pts[k].1] += u128::from(pts[k].0.wrapping_sub(prev));
    }
    if pts.len() == 1 {
        len[pts[0].1] = 1u128 << 64;
    }
    len.iter().map(|&l| l as f64 / 2f64.powi(64)).collect()
}

pub fn max_over_mean(shares: &[f64]) -> f64 {
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    shares.iter().cloned().fold(0.0, f64::max) / mean
}

/// Which backend key owns each of `keys` hashes, with everything eligible.
pub fn owners(b: &Balancer, spec_keys: &[String], hashes: &[u64]) -> Vec<String> {
    let loads = FixedLoads::uniform(spec_keys.len(), 1);
    let mut rng = Rng::new(0);
    hashes
        .iter()
        .map(|&h| spec_keys[b.pick(Some(h), &loads, &mut rng).expect("all eligible")].clone())
        .collect()
}

/// `k` request hashes from a seeded generator.
pub fn hashes(k: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    (0..k).map(|_| rng.next_u64()).collect()
}

/// Six standard deviations of a proportion `p` estimated from `n` samples.
pub fn six_sigma(p: f64, n: usize) -> f64 {
    6.0 * (p * (1.0 - p) / n as f64).sqrt()
}
