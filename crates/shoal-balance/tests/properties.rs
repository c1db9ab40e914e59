//! Property tests for the invariants every algorithm must keep, whatever the input.

mod common;

use proptest::prelude::*;
use shoal_balance::{BackendSpec, Balancer, BalancerSpec, FixedLoads, Loads, Rng};
use shoal_core::Algorithm;

fn any_algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

/// Per backend: configured weight, eligible, effective weight (may be 0 or above configured),
/// in flight, latency.
fn backends_and_loads() -> impl Strategy<Value = (Vec<u32>, FixedLoads)> {
    prop::collection::vec(
        (
            0u32..6,
            any::<bool>(),
            prop_oneof![Just(0u32), 1u32..8, Just(u32::MAX)],
            prop_oneof![0u32..20, Just(u32::MAX)],
            prop_oneof![0.0f64..1e9, Just(f64::NAN), Just(0.0)],
        ),
        0..24,
    )
    .prop_map(|v| {
        let cfg = v.iter().map(|b| b.0).collect();
        let loads = FixedLoads {
            eligible: v.iter().map(|b| b.1).collect(),
            weight: v.iter().map(|b| b.2).collect(),
            in_flight: v.iter().map(|b| b.3).collect(),
            latency_cost: v.iter().map(|b| b.4).collect(),
        };
        (cfg, loads)
    })
}

fn build(algorithm: Algorithm, cfg: &[u32], factor: Option<f64>) -> Balancer {
    let backends = cfg
        .iter()
        .enumerate()
        .map(|(i, &w)| BackendSpec::new(format!("10.1.{}.{}:80", i / 256, i % 256), w))
        .collect();
    let mut s = BalancerSpec::new(algorithm, backends);
    s.virtual_nodes = 8;
    s.table_size = 101;
    s.hash_balance_factor = factor;
    Balancer::new(&s)
}

fn pickable(l: &impl Loads, i: usize) -> bool {
    i < l.len() && l.eligible(i) && l.weight(i) > 0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn picks_are_always_pickable_and_none_only_when_nothing_is(
        algorithm in any_algorithm(),
        (cfg, loads) in backends_and_loads(),
        factor in prop_oneof![Just(None), Just(Some(1.25)), Just(Some(f64::NAN)), Just(Some(0.5))],
        seed in any::<u64>(),
        hashes in prop::collection::vec(prop::option::of(any::<u64>()), 1..8),
    ) {
        let b = build(algorithm, &cfg, factor);
        let mut rng = Rng::new(seed);
        let any = (0..cfg.len()).any(|i| pickable(&loads, i));
        for h in hashes {
            match b.pick(h, &loads, &mut rng) {
                Some(i) => {
                    prop_assert!(i < cfg.len(), "index beyond the spec");
                    prop_assert!(pickable(&loads, i), "{algorithm} picked unpickable {i}");
                }
                None => prop_assert!(!any, "{algorithm} gave None with a pickable backend"),
            }
        }
    }

    #[test]
    fn loads_shorter_or_longer_than_the_spec_never_panic(
        algorithm in any_algorithm(),
        (cfg, loads) in backends_and_loads(),
        spec_len in 0usize..30,
        seed in any::<u64>(),
    ) {
        let cfg: Vec<u32> = cfg.iter().copied().chain(std::iter::repeat(1)).take(spec_len).collect();
        let b = build(algorithm, &cfg, Some(1.5));
        let mut rng = Rng::new(seed);
        for h in [None, Some(seed)] {
            if let Some(i) = b.pick(h, &loads, &mut rng) {
                prop_assert!(i < spec_len && pickable(&loads, i));
            }
        }
    }

    #[test]
    fn p2c_never_picks_the_unique_maximum(
        in_flight in prop::collection::vec(0u32..50, 3..20),
        weights in prop::collection::vec(1u32..5, 20),
        seed in any::<u64>(),
    ) {
        let n = in_flight.len();
        let max = *in_flight.iter().max().unwrap();
        prop_assume!(in_flight.iter().filter(|&&f| f == max).count() == 1);
        let unique_max = in_flight.iter().position(|&f| f == max).unwrap();
        let mut loads = FixedLoads::with_weights(&weights[..n]);
        loads.in_flight = in_flight;
        loads.latency_cost = vec![1e6; n];
        for algorithm in [Algorithm::P2c, Algorithm::P2cEwma] {
            let b = build(algorithm, &weights[..n], None);
            let mut rng = Rng::new(seed);
            for _ in 0..64 {
                prop_assert_ne!(b.pick(None, &loads, &mut rng), Some(unique_max));
            }
        }
    }

    #[test]
    fn bounded_load_never_exceeds_its_cap(
        algorithm in prop::sample::select(vec![Algorithm::RingHash, Algorithm::Maglev]),
        n in 1usize..12,
        factor in 1.0f64..2.5,
        ops in prop::collection::vec((0u8..10, any::<u64>()), 1..300),
        hot in any::<u64>(),
    ) {
        // Random arrivals (half of them one hot key), departures and health flips; after every
        // admission the picked backend holds at most ceil(factor·(total+1)/eligible), the
        // total counting every backend's requests (a down backend's too).
        let b = build(algorithm, &vec![1; n], Some(factor));
        let mut loads = FixedLoads::uniform(n, 1);
        let mut rng = Rng::new(hot);
        for (op, x) in ops {
            match op {
                0..=2 => { // arrival, random key
                    admit(&b, &mut loads, Some(x), factor, &mut rng)?;
                }
                3..=5 => { // arrival, the hot key
                    admit(&b, &mut loads, Some(hot), factor, &mut rng)?;
                }
                6..=8 => { // departure
                    let i = (x % n as u64) as usize;
                    loads.in_flight[i] = loads.in_flight[i].saturating_sub(1);
                }
                _ => { // health flip
                    let i = (x % n as u64) as usize;
                    loads.eligible[i] = !loads.eligible[i];
                }
            }
        }
    }
}

fn admit(
    b: &Balancer,
    loads: &mut FixedLoads,
    hash: Option<u64>,
    factor: f64,
    rng: &mut Rng,
) -> Result<(), TestCaseError> {
    let eligible: Vec<usize> = (0..loads.len()).filter(|&i| loads.eligible[i]).collect();
    let total: u64 = loads.in_flight.iter().map(|&f| u64::from(f)).sum();
    let picked = b.pick(hash, loads, rng);
    if eligible.is_empty() {
        prop_assert_eq!(picked, None);
        return Ok(());
    }
    let cap = (factor * (total + 1) as f64 / eligible.len() as f64).ceil();
    let i = picked.ok_or_else(|| TestCaseError::fail("None with eligible backends"))?;
    loads.in_flight[i] += 1;
    prop_assert!(
        f64::from(loads.in_flight[i]) <= cap,
        "{} > cap {}",
        loads.in_flight[i],
        cap
    );
    Ok(())
}

#[test]
fn nothing_eligible_gives_none_for_every_algorithm() {
    for algorithm in Algorithm::ALL {
        let b = build(algorithm, &[1, 2, 3], Some(1.25));
        let mut rng = Rng::new(1);
        let mut down = FixedLoads::with_weights(&[1, 2, 3]);
        down.eligible = vec![false; 3];
        let zero = FixedLoads::with_weights(&[0, 0, 0]);
        for h in [None, Some(0), Some(u64::MAX)] {
            assert_eq!(b.pick(h, &down, &mut rng), None, "{algorithm}");
            assert_eq!(b.pick(h, &zero, &mut rng), None, "{algorithm}");
            assert_eq!(
                b.pick(h, &FixedLoads::default(), &mut rng),
                None,
                "{algorithm}"
            );
        }
    }
}

#[test]
fn a_hot_key_spills_to_a_second_backend_once_over_the_cap() {
    for algorithm in [Algorithm::RingHash, Algorithm::Maglev] {
        let b = build(algorithm, &[1; 10], Some(1.25));
        let mut loads = FixedLoads::uniform(10, 1);
        let mut rng = Rng::new(0);
        let mut used = std::collections::HashSet::new();
        for _ in 0..20 {
            let i = b.pick(Some(42), &loads, &mut rng).unwrap();
            loads.in_flight[i] += 1;
            used.insert(i);
        }
        assert!(used.len() >= 2, "{algorithm}: {used:?}");
        // Without the factor, the same key always lands on one backend.
        let plain = build(algorithm, &[1; 10], None);
        let first = plain.pick(Some(42), &loads, &mut rng);
        assert!((0..20).all(|_| plain.pick(Some(42), &loads, &mut rng) == first));
    }
}
