//! Shares and sequences: every algorithm sends the traffic where it should, within tolerances
//! derived from the sample size (6σ of a binomial proportion) or exact where it is
//! deterministic. Fixed seeds throughout.

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use common::six_sigma;
use proptest::prelude::*;
use shoal_balance::{
    BackendSpec, Balancer, BalancerSpec, FixedLoads, Loads, PeakEwma, Rng, WeightedRoundRobin,
    DEFAULT_DECAY_NS, DEFAULT_RTT_NS, MAX_SCHEDULE,
};
use shoal_core::Algorithm;

fn build(algorithm: Algorithm, weights: &[u32]) -> Balancer {
    let backends = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| BackendSpec::new(format!("b{i}"), w))
        .collect();
    Balancer::new(&BalancerSpec::new(algorithm, backends))
}

fn counts(b: &Balancer, loads: &FixedLoads, picks: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut c = vec![0; loads.len()];
    for _ in 0..picks {
        c[b.pick(None, loads, &mut rng)
            .expect("a backend is pickable")] += 1;
    }
    c
}

fn assert_shares(c: &[usize], want: &[f64]) {
    let n: usize = c.iter().sum();
    for (i, (&got, &p)) in c.iter().zip(want).enumerate() {
        let got = got as f64 / n as f64;
        assert!(
            (got - p).abs() <= six_sigma(p, n) + 1e-12,
            "backend {i}: {got} vs {p} ({c:?})"
        );
    }
}

#[test]
fn round_robin_is_exactly_equal_over_eligible_backends() {
    let b = build(Algorithm::RoundRobin, &[1, 5, 1, 9, 1]);
    // Every backend at its full configured weight (below it means warming, which round
    // robin honours with a reduced share).
    let mut loads = FixedLoads::with_weights(&[1, 5, 1, 9, 1]);
    loads.eligible[1] = false;
    loads.eligible[2] = false;
    assert_eq!(
        counts(&b, &loads, 3_000, 0),
        vec![1_000, 0, 0, 1_000, 1_000]
    );
}

#[test]
fn round_robin_shared_by_threads_stays_equal() {
    // 4 threads share one balancer: every backend gets exactly its turn count overall.
    let b = std::sync::Arc::new(build(Algorithm::RoundRobin, &[1; 8]));
    let loads = std::sync::Arc::new(FixedLoads::uniform(8, 1));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (b, loads) = (b.clone(), loads.clone());
            std::thread::spawn(move || counts(&b, &loads, 10_000, t))
        })
        .collect();
    let mut total = vec![0; 8];
    for h in handles {
        for (t, c) in total.iter_mut().zip(h.join().unwrap()) {
            *t += c;
        }
    }
    assert_eq!(total, vec![5_000; 8]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn swrr_cycles_have_exact_counts_and_smooth_prefixes(
        weights in prop::collection::vec(1u32..21, 2..7),
    ) {
        // Reference §2.4 asserts 2 and 3: exact counts per cycle; prefix deviation ≤ 1.5.
        let spec = BalancerSpec::new(
            Algorithm::WeightedRoundRobin,
            weights.iter().map(|&w| BackendSpec::new("x", w)).collect(),
        );
        let s = WeightedRoundRobin::new(&spec).schedule().to_vec();
        let g = weights.iter().fold(0, |g, &w| gcd(g, w));
        let total: u32 = weights.iter().map(|w| w / g).sum();
        prop_assert_eq!(s.len() as u32, total);
        let mut seen = vec![0u32; weights.len()];
        for (t, &i) in s.iter().enumerate() {
            seen[i as usize] += 1;
            for (j, &w) in weights.iter().enumerate() {
                let ideal = (t + 1) as f64 * f64::from(w / g) / f64::from(total);
                prop_assert!((f64::from(seen[j]) - ideal).abs() <= 1.5);
            }
        }
        let want: Vec<u32> = weights.iter().map(|w| w / g).collect();
        prop_assert_eq!(seen, want);
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[test]
fn swrr_picks_repeat_the_cycle_exactly() {
    let weights = [3, 7, 2, 5];
    let b = build(Algorithm::WeightedRoundRobin, &weights);
    let loads = FixedLoads::with_weights(&weights);
    assert_eq!(counts(&b, &loads, 17 * 100, 0), vec![300, 700, 200, 500]);
}

#[test]
fn swrr_scaled_schedule_keeps_shares() {
    // Σw far above the cap: scaled, and shares stay within 1/65536-ish of the weights.
    let weights = [1_000_000, 3_000_000, 2_999_999];
    let spec = BalancerSpec::new(
        Algorithm::WeightedRoundRobin,
        weights.iter().map(|&w| BackendSpec::new("x", w)).collect(),
    );
    let s = WeightedRoundRobin::new(&spec).schedule().to_vec();
    assert!(s.len() as u64 <= MAX_SCHEDULE + 3);
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    for (i, &w) in weights.iter().enumerate() {
        let got = s.iter().filter(|&&x| x == i as u32).count() as f64 / s.len() as f64;
        assert!((got - f64::from(w) / total).abs() < 1e-4);
    }
}

#[test]
fn swrr_slow_start_thinning_tracks_effective_weight() {
    // Configured 4,4,4; backend 2 ramping at effective 1: shares 4:4:1.
    let b = build(Algorithm::WeightedRoundRobin, &[4, 4, 4]);
    let loads = FixedLoads::with_weights(&[4, 4, 1]);
    let n = 90_000;
    assert_shares(
        &counts(&b, &loads, n, 3),
        &[4.0 / 9.0, 4.0 / 9.0, 1.0 / 9.0],
    );
}

#[test]
fn weighted_random_and_p2c_follow_effective_weights_when_idle() {
    // With equal in-flight counts P2C keeps the first draw, so its shares are the draw
    // weights: both must match w_i / Σw.
    let cfg = [1, 2, 3, 4];
    let mut loads = FixedLoads::with_weights(&[1, 2, 3, 2]); // backend 3 ramping at half
    loads.eligible[0] = false;
    let want = [0.0, 2.0 / 7.0, 3.0 / 7.0, 2.0 / 7.0];
    for algorithm in [Algorithm::Random, Algorithm::P2c, Algorithm::P2cEwma] {
        let b = build(algorithm, &cfg);
        assert_shares(&counts(&b, &loads, 140_000, 4), &want);
    }
}

#[test]
fn least_conn_shares_follow_weights_under_load() {
    // Requests pile up (none finish): least_conn keeps in_flight/weight level, so after
    // 700 picks backends with weights 1,2,4 hold exactly 100, 200, 400.
    let b = build(Algorithm::LeastConn, &[1, 2, 4]);
    let mut loads = FixedLoads::with_weights(&[1, 2, 4]);
    let mut rng = Rng::new(0);
    for _ in 0..700 {
        let i = b.pick(None, &loads, &mut rng).unwrap();
        loads.in_flight[i] += 1;
    }
    assert_eq!(loads.in_flight, vec![100, 200, 400]);
}

#[test]
fn p2c_balls_into_bins_gap() {
    // Reference §2.1 assert 2: n = 1000 bins, m = 100k balls: the d = 2 gap (max − mean) is
    // ≤ 4 for every seed, and d = 1 (random) is at least 5× worse.
    for seed in 0..3 {
        let gap = |algorithm| {
            let b = build(algorithm, &[1; 1000]);
            let mut loads = FixedLoads::uniform(1000, 1);
            let mut rng = Rng::new(seed);
            for _ in 0..100_000 {
                let i = b.pick(None, &loads, &mut rng).unwrap();
                loads.in_flight[i] += 1;
            }
            f64::from(*loads.in_flight.iter().max().unwrap()) - 100.0
        };
        let (d2, d1) = (gap(Algorithm::P2c), gap(Algorithm::Random));
        assert!(d2 <= 4.0, "seed {seed}: d=2 gap {d2}");
        assert!(
            d1 >= 5.0 * d2.max(1.0),
            "seed {seed}: d=1 gap {d1} vs d=2 {d2}"
        );
    }
}

/// Mean and p99 sojourn (in mean service times) of a FIFO-per-backend queueing simulation:
/// Poisson arrivals at rate λ·n, exponential service with mean 1.
fn sojourn(algorithm: Algorithm, n: usize, lambda: f64, arrivals: usize, seed: u64) -> (f64, f64) {
    let b = build(algorithm, &vec![1; n]);
    let mut loads = FixedLoads::uniform(n, 1);
    let mut rng = Rng::new(seed);
    let exp = |rate: f64, rng: &mut Rng| -(1.0 - rng.next_f64()).ln() / rate;
    // Departures as (time in ns-like integer ticks, backend) in a min-heap.
    let mut departures: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut busy_until = vec![0.0f64; n];
    let mut times = Vec::with_capacity(arrivals);
    let mut now = 0.0;
    let tick = |t: f64| (t * 1e9) as u64;
    for _ in 0..arrivals {
        now += exp(lambda * n as f64, &mut rng);
        while let Some(&Reverse((t, i))) = departures.peek() {
            if t > tick(now) {
                break;
            }
            departures.pop();
            loads.in_flight[i] -= 1;
        }
        let i = b.pick(None, &loads, &mut rng).expect("all backends are up");
        let done = busy_until[i].max(now) + exp(1.0, &mut rng);
        busy_until[i] = done;
        loads.in_flight[i] += 1;
        departures.push(Reverse((tick(done), i)));
        times.push(done - now);
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    times.sort_by(|a, b| a.total_cmp(b));
    (mean, times[times.len() * 99 / 100])
}

#[test]
fn p2c_queueing_at_90_percent_load() {
    // Reference §2.1 assert 3: 100 backends, λ = 0.9: P2C mean ≤ 3.0 and p99 ≤ 12 service
    // times; uniform random ≥ 3× worse on the mean.
    let (p2c_mean, p2c_p99) = sojourn(Algorithm::P2c, 100, 0.9, 200_000, 1);
    let (rand_mean, _) = sojourn(Algorithm::Random, 100, 0.9, 200_000, 1);
    let (lc_mean, _) = sojourn(Algorithm::LeastConn, 100, 0.9, 200_000, 1);
    assert!(
        p2c_mean <= 3.0 && p2c_p99 <= 12.0,
        "p2c mean {p2c_mean} p99 {p2c_p99}"
    );
    assert!(
        rand_mean >= 3.0 * p2c_mean,
        "random {rand_mean} vs p2c {p2c_mean}"
    );
    assert!(
        lc_mean <= p2c_mean,
        "least_conn (JSQ) {lc_mean} vs p2c {p2c_mean}"
    );
}

#[test]
fn p2c_ewma_starves_a_slow_backend() {
    // Reference §2.2 assert 5: 10 backends, one at 10× latency, P2C + peak-EWMA at 100 rps
    // for 30 s: the slow one gets < 5 % (round robin would give it 10 %). The caller's side is
    // modelled too: one PeakEwma per backend (Linkerd defaults), observed on completion, its
    // decaying estimate fed back through `latency_cost`, so the slow backend is re-probed as
    // its estimate decays, not starved for ever.
    let n = 10;
    let b = build(Algorithm::P2cEwma, &vec![1; n]);
    let mut loads = FixedLoads::uniform(n, 1);
    let latency: Vec<u64> = (0..n)
        .map(|i| if i == 3 { 100_000_000 } else { 10_000_000 })
        .collect();
    let mut ewma = vec![PeakEwma::starting_at(DEFAULT_RTT_NS, DEFAULT_DECAY_NS, 0); n];
    let mut rng = Rng::new(5);
    let mut finish: BinaryHeap<Reverse<(u64, usize, u64)>> = BinaryHeap::new();
    let mut picks = vec![0usize; n];
    // 100 rps for 30 s: one arrival every 10 ms.
    for k in 0..3_000u64 {
        let now = k * 10_000_000;
        while let Some(&Reverse((t, i, started))) = finish.peek() {
            if t > now {
                break;
            }
            finish.pop();
            loads.in_flight[i] -= 1;
            ewma[i].observe(t - started, t);
        }
        for (cost, e) in loads.latency_cost.iter_mut().zip(&ewma) {
            *cost = e.estimate(now);
        }
        let i = b.pick(None, &loads, &mut rng).unwrap();
        picks[i] += 1;
        loads.in_flight[i] += 1;
        finish.push(Reverse((now + latency[i], i, now)));
    }
    let slow = picks[3] as f64 / 3_000.0;
    assert!(slow > 0.0, "the slow backend is still probed now and then");
    assert!(slow < 0.05, "slow backend share {slow} ({picks:?})");
}
