//! `pick` for every algorithm with 100 backends (a `Loads` over one `Vec` of structs), in
//! three load shapes, plus the bounded-load variants and the table builds.
//! Target: every pick under 100 ns.
//!
//! Run: `cargo bench -p shoal-balance -- --warm-up-time 1 --measurement-time 2`
//! Results: crates/shoal-balance/BENCH.md

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use shoal_balance::{Balancer, Rng};
use shoal_core::Algorithm;
use support::{loads, scenarios, spec, N};

fn picks(c: &mut Criterion) {
    for (group, weights, loads) in scenarios() {
        let mut g = c.benchmark_group(group);
        for algorithm in Algorithm::ALL {
            let b = Balancer::new(&spec(algorithm, &weights));
            let mut rng = Rng::new(42);
            let mut keys = Rng::new(7);
            g.bench_function(algorithm.as_str(), |bench| {
                bench.iter(|| black_box(b.pick(black_box(Some(keys.next_u64())), &loads, &mut rng)))
            });
        }
        g.finish();
    }
}

fn picks_bounded(c: &mut Criterion) {
    let weights = [1u32; N];
    let l = loads(&weights);
    let mut g = c.benchmark_group("pick_100_bounded_load_1_25");
    for algorithm in [Algorithm::RingHash, Algorithm::Maglev] {
        let mut s = spec(algorithm, &weights);
        s.hash_balance_factor = Some(1.25);
        let b = Balancer::new(&s);
        let mut rng = Rng::new(42);
        let mut keys = Rng::new(7);
        g.bench_function(algorithm.as_str(), |bench| {
            bench.iter(|| black_box(b.pick(Some(keys.next_u64()), &l, &mut rng)))
        });
    }
    g.finish();
}

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("build_100");
    g.sample_size(20);
    for algorithm in [
        Algorithm::WeightedRoundRobin,
        Algorithm::RingHash,
        Algorithm::Maglev,
    ] {
        let s = spec(algorithm, &[1; N]);
        g.bench_function(algorithm.as_str(), |bench| {
            bench.iter(|| black_box(Balancer::new(black_box(&s))))
        });
    }
    g.finish();
}

criterion_group!(benches, picks, picks_bounded, build);
criterion_main!(benches);
