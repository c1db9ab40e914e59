//! Consistent hashing with bounded loads on a skewed workload (reference §1.6, [sim] fixture:
//! 10 backends × 160 vnodes, 20k in-flight requests drawn from Zipf(1.1) over 5000 objects).

mod common;

use common::*;
use shoal_balance::{hash_bytes, Balancer, FixedLoads, Rng};
use shoal_core::Algorithm;

/// Hashes of 20k requests for Zipf(1.1)-distributed objects, fixed seed.
fn zipf_requests(objects: usize, requests: usize, s: f64, seed: u64) -> Vec<u64> {
    let weights: Vec<f64> = (1..=objects).map(|k| 1.0 / (k as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(objects);
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut rng = Rng::new(seed);
    (0..requests)
        .map(|_| {
            let u = rng.next_f64();
            let rank = cdf.partition_point(|&c| c < u).min(objects - 1);
            hash_bytes(format!("object-{rank}").as_bytes())
        })
        .collect()
}

/// Admits every request (none finish); returns (max/mean in flight, fraction not on the
/// key's first choice).
fn run(algorithm: Algorithm, factor: Option<f64>, requests: &[u64]) -> (f64, f64) {
    let keys = fixture_keys(10);
    let mut s = spec(algorithm, &keys);
    s.hash_balance_factor = factor;
    let b = Balancer::new(&s);
    let plain = Balancer::new(&spec(algorithm, &keys));
    let mut loads = FixedLoads::uniform(10, 1);
    let idle = FixedLoads::uniform(10, 1);
    let mut rng = Rng::new(0);
    let mut spilled = 0;
    for &h in requests {
        let i = b.pick(Some(h), &loads, &mut rng).expect("all up");
        if Some(i) != plain.pick(Some(h), &idle, &mut rng) {
            spilled += 1;
        }
        loads.in_flight[i] += 1;
    }
    let max = f64::from(*loads.in_flight.iter().max().expect("10 backends"));
    let mean = requests.len() as f64 / 10.0;
    (max / mean, f64::from(spilled) / requests.len() as f64)
}

#[test]
fn zipf_hot_keys_are_capped() {
    let requests = zipf_requests(5_000, 20_000, 1.1, 7);
    let avg = 2_000.0;
    for algorithm in [Algorithm::RingHash, Algorithm::Maglev] {
        let (off, none_spilled) = run(algorithm, None, &requests);
        assert_eq!(
            none_spilled, 0.0,
            "factor off is plain hashing, key for key"
        );
        assert!(off > 1.5, "{algorithm}: the fixture is skewed ({off})");
        for factor in [1.25, 1.5, 2.0] {
            let (ratio, spill) = run(algorithm, Some(factor), &requests);
            // Assert 3: max/mean ≤ factor + 1/avg. (Measured when written, factor off: ring 2.27,
            // maglev 2.20; spill at 1.25 / 1.5 / 2.0: ring 14.1 / 8.9 / 2.8 %, maglev 16.5 / 8.9 /
            // 2.0 %, against the reference's 22.9 / 14.5 / 9.1 % for HAProxy's per-slot rule.)
            assert!(ratio <= factor + 1.0 / avg, "{algorithm} {factor}: {ratio}");
            assert!(
                spill > 0.0 && spill < 0.5,
                "{algorithm} {factor}: spill {spill}"
            );
        }
    }
}

#[test]
fn uniform_keys_spill_little_at_factor_1_5() {
    // Assert 4: with uniform keys the spill fraction at 150 % stays below a pinned baseline.
    // Measured when written (fixed seeds): ring 0.030 %, maglev 0.065 % — only the first few
    // requests spill, while the total is tiny and every cap is 1 or 2. A regression in the cap
    // arithmetic or the probing order shows up here.
    let requests = hashes(20_000, 11);
    for algorithm in [Algorithm::RingHash, Algorithm::Maglev] {
        let (ratio, spill) = run(algorithm, Some(1.5), &requests);
        assert!(ratio <= 1.5 + 1.0 / 2_000.0);
        assert!(spill <= BASELINE_SPILL, "{algorithm}: spill {spill}");
    }
}

const BASELINE_SPILL: f64 = 0.001;
