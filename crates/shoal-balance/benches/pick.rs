//! `pick` for every algorithm with 100 backends (all eligible, `FixedLoads` over `Vec`s), plus
//! the table builds and the bounded-load variants. Target: every pick under 100 ns.
//!
//! Run: `cargo bench -p shoal-balance -- --warm-up-time 1 --measurement-time 2`
//! Results: crates/shoal-balance/BENCH.md

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use shoal_balance::{BackendSpec, Balancer, BalancerSpec, Loads, Rng};
use shoal_core::Algorithm;

const N: usize = 100;

fn spec(algorithm: Algorithm, weights: &[u32]) -> BalancerSpec {
    let backends = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| BackendSpec::new(format!("10.0.{}.{}:8080", i / 256, i % 256), w))
        .collect();
    BalancerSpec::new(algorithm, backends)
}

/// One backend's live numbers, laid out together as shoal-upstream keeps them (one state
/// struct per backend), so the bench measures the balancer, not four separate bounds checks.
#[derive(Clone, Copy)]
struct Live {
    eligible: bool,
    weight: u32,
    in_flight: u32,
    latency_cost: f64,
}

struct VecLoads(Vec<Live>);

// Plain indexing, as a real implementation would write it: the balancer only ever asks for
// `i < len()`.
impl Loads for VecLoads {
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn eligible(&self, i: usize) -> bool {
        self.0[i].eligible
    }
    #[inline]
    fn weight(&self, i: usize) -> u32 {
        self.0[i].weight
    }
    #[inline]
    fn in_flight(&self, i: usize) -> u32 {
        self.0[i].in_flight
    }
    #[inline]
    fn latency_cost(&self, i: usize) -> f64 {
        self.0[i].latency_cost
    }
}

/// All eligible, effective = configured weight, some load everywhere (so least_conn cannot
/// stop early at an idle backend and must scan all 100).
fn loads(weights: &[u32]) -> VecLoads {
    VecLoads(
        (0..N)
            .map(|i| Live {
                eligible: true,
                weight: weights[i],
                in_flight: 1 + (i * 7 % 13) as u32,
                latency_cost: 1e6 + (i * 7919 % 1000) as f64 * 1e3,
            })
            .collect(),
    )
}

fn bench_picks(c: &mut Criterion, group: &str, weights: &[u32]) {
    let loads = loads(weights);
    let mut g = c.benchmark_group(group);
    for algorithm in Algorithm::ALL {
        let b = Balancer::new(&spec(algorithm, weights));
        let mut rng = Rng::new(42);
        let mut keys = Rng::new(7);
        g.bench_function(algorithm.as_str(), |bench| {
            bench.iter(|| {
                let h = Some(keys.next_u64());
                black_box(b.pick(black_box(h), &loads, &mut rng))
            })
        });
    }
    g.finish();
}

fn pick_uniform(c: &mut Criterion) {
    bench_picks(c, "pick_100_equal_weights", &[1; N]);
}

fn pick_weighted(c: &mut Criterion) {
    let weights: Vec<u32> = (0..N).map(|i| 1 + (i % 4) as u32).collect();
    bench_picks(c, "pick_100_weights_1_to_4", &weights);
}

fn pick_degraded(c: &mut Criterion) {
    // A third of the backends down and a third ramping at half weight: the slow paths.
    let weights = vec![4u32; N];
    let mut l = loads(&weights);
    for i in 0..N {
        match i % 3 {
            0 => l.0[i].eligible = false,
            1 => l.0[i].weight = 2,
            _ => {}
        }
    }
    let mut g = c.benchmark_group("pick_100_third_down_third_ramping");
    for algorithm in Algorithm::ALL {
        let b = Balancer::new(&spec(algorithm, &weights));
        let mut rng = Rng::new(42);
        let mut keys = Rng::new(7);
        g.bench_function(algorithm.as_str(), |bench| {
            bench.iter(|| black_box(b.pick(Some(keys.next_u64()), &l, &mut rng)))
        });
    }
    g.finish();
}

fn pick_bounded(c: &mut Criterion) {
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

criterion_group!(
    benches,
    pick_uniform,
    pick_weighted,
    pick_degraded,
    pick_bounded,
    build
);
criterion_main!(benches);
