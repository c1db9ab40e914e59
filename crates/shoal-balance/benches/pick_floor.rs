//! The same picks as `pick.rs`, timed as the best of 60 runs of 20 000 picks (builds: best
//! of 20): the cost with
//! the least interference. On a machine shared with other work (as the 2-core dev box is),
//! criterion's mean absorbs every preemption; the minimum shows what the code itself costs.
//! Criterion's flags are ignored; set `SHOAL_BENCH_FILTER=least` to run a subset.
//!
//! Run: `cargo bench -p shoal-balance --bench pick_floor`

#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Instant;

use shoal_balance::{Balancer, Rng};
use shoal_core::Algorithm;
use support::{loads, scenarios, spec, N};

const RUNS: usize = 60;
const PICKS: usize = 20_000;

fn floor_ns(b: &Balancer, l: &support::VecLoads) -> f64 {
    let mut rng = Rng::new(42);
    let mut keys = Rng::new(7);
    let mut best = f64::MAX;
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..PICKS {
            black_box(b.pick(black_box(Some(keys.next_u64())), l, &mut rng));
        }
        best = best.min(t.elapsed().as_nanos() as f64 / PICKS as f64);
    }
    best
}

fn main() {
    let filter = std::env::var("SHOAL_BENCH_FILTER").unwrap_or_default();
    for (group, weights, l) in scenarios() {
        for algorithm in Algorithm::ALL {
            let name = format!("{group}/{algorithm}");
            if name.contains(&filter) {
                let ns = floor_ns(&Balancer::new(&spec(algorithm, &weights)), &l);
                println!("{name:50} best {ns:6.1} ns");
            }
        }
    }
    let weights = [1u32; N];
    for algorithm in [
        Algorithm::WeightedRoundRobin,
        Algorithm::RingHash,
        Algorithm::Maglev,
    ] {
        let name = format!("build_100/{algorithm}");
        if name.contains(&filter) {
            let s = spec(algorithm, &weights);
            let best = (0..20)
                .map(|_| {
                    let t = Instant::now();
                    black_box(Balancer::new(black_box(&s)));
                    t.elapsed().as_secs_f64() * 1e6
                })
                .fold(f64::MAX, f64::min);
            println!("{name:50} best {best:8.1} µs");
        }
    }
    for algorithm in [Algorithm::RingHash, Algorithm::Maglev] {
        let name = format!("pick_100_bounded_load_1_25/{algorithm}");
        if name.contains(&filter) {
            let mut s = spec(algorithm, &weights);
            s.hash_balance_factor = Some(1.25);
            let ns = floor_ns(&Balancer::new(&s), &loads(&weights));
            println!("{name:50} best {ns:6.1} ns");
        }
    }
}
