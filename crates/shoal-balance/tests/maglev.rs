//! Maglev: the reference's §1.3 assertions.

mod common;

use common::*;
use shoal_balance::{BackendSpec, Balancer, BalancerSpec, FixedLoads, Maglev, Rng};
use shoal_core::Algorithm;

fn maglev(keys: &[String], m: u32) -> Maglev {
    let mut s = spec(Algorithm::Maglev, keys);
    s.table_size = m;
    Maglev::new(&s)
}

/// The table as backend keys, so tables built from differently ordered specs compare.
fn table_keys(t: &Maglev, keys: &[String]) -> Vec<String> {
    t.table()
        .iter()
        .map(|&i| keys[i as usize].clone())
        .collect()
}

fn entry_counts(t: &Maglev, n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for &i in t.table() {
        c[i as usize] += 1;
    }
    c
}

#[test]
fn equal_weights_get_floor_or_ceil_of_m_over_n() {
    // Assert 1.
    for (n, m) in [
        (1, 65_537),
        (3, 65_537),
        (10, 65_537),
        (100, 65_537),
        (7, 251),
        (1000, 65_537),
    ] {
        let t = maglev(&random_keys(n, n as u64), m);
        assert_eq!(t.table().len(), m as usize);
        let c = entry_counts(&t, n);
        let (lo, hi) = (m as usize / n, (m as usize).div_ceil(n));
        assert!(
            c.iter().all(|&x| x == lo || x == hi),
            "n={n}: {:?}",
            (c.iter().min(), c.iter().max())
        );
        assert_eq!(c.iter().sum::<usize>(), m as usize, "table full");
    }
}

#[test]
fn weights_1_to_2_match_envoy() {
    // Assert 2: 21 846 / 43 691 (±1).
    let s = BalancerSpec::new(
        Algorithm::Maglev,
        vec![
            BackendSpec::new("10.0.0.1:80", 1),
            BackendSpec::new("10.0.0.2:80", 2),
        ],
    );
    let c = entry_counts(&Maglev::new(&s), 2);
    assert!(
        c[0].abs_diff(21_846) <= 1 && c[1].abs_diff(43_691) <= 1,
        "{c:?}"
    );
}

#[test]
fn tables_are_identical_whatever_the_backend_order() {
    // Assert 3.
    let keys = random_keys(50, 9);
    let mut shuffled = keys.clone();
    let mut rng = Rng::new(10);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i as u64 + 1) as usize);
    }
    assert_ne!(keys, shuffled);
    let (a, b) = (maglev(&keys, 65_537), maglev(&shuffled, 65_537));
    assert_eq!(table_keys(&a, &keys), table_keys(&b, &shuffled));
}

/// Fraction of entries whose backend changed between two tables.
fn changed(a: &[String], b: &[String]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len() as f64
}

#[test]
fn removing_one_backend_disrupts_little() {
    // Assert 4: remove 1 of 10 → ≤ 11 %; 1 of 100 → ≤ 2.5 %; all its entries reassigned.
    for (n, bound, seeds) in [(10usize, 0.11, 10u64), (100, 0.025, 3)] {
        for seed in 0..seeds {
            let keys = random_keys(n, 100 + seed);
            let removed = &keys[n / 2];
            let rest: Vec<String> = keys.iter().filter(|k| *k != removed).cloned().collect();
            let before = table_keys(&maglev(&keys, 65_537), &keys);
            let after = table_keys(&maglev(&rest, 65_537), &rest);
            assert!(!after.contains(removed));
            let c = changed(&before, &after);
            assert!(c <= bound, "n={n} seed={seed}: {c}");
            // Every entry of the removed backend changed; the rest is Maglev's extra churn.
            let own = before.iter().filter(|k| *k == removed).count() as f64 / 65_537.0;
            assert!(c >= own - 1e-12);
        }
    }
}

#[test]
fn adding_one_backend_disrupts_little() {
    // Reference [sim]: add 1 to 10 → ≈ 9.3 %, to 100 → ≈ 1.7 % (max 2.2 %).
    for (n, bound) in [(10usize, 0.11), (100, 0.025)] {
        let keys = random_keys(n + 1, 300 + n as u64);
        let before = table_keys(&maglev(&keys[..n], 65_537), &keys[..n]);
        let after = table_keys(&maglev(&keys, 65_537), &keys);
        let c = changed(&before, &after);
        assert!(c <= bound, "n={n}: {c}");
        let gained = after.iter().filter(|k| *k == &keys[n]).count();
        assert!(gained == 65_537 / (n + 1) || gained == 65_537 / (n + 1) + 1);
    }
}

#[test]
fn down_backend_spills_consistently() {
    let keys = fixture_keys(10);
    let b = Balancer::new(&spec(Algorithm::Maglev, &keys));
    let all = FixedLoads::uniform(10, 1);
    let mut down = all.clone();
    down.eligible[6] = false;
    let mut rng = Rng::new(0);
    let mut spilled_to = std::collections::HashSet::new();
    for h in hashes(20_000, 12) {
        let healthy = b.pick(Some(h), &all, &mut rng).unwrap();
        let now = b.pick(Some(h), &down, &mut rng).unwrap();
        assert_ne!(now, 6);
        if healthy != 6 {
            assert_eq!(now, healthy, "only the down backend's keys move");
        } else {
            spilled_to.insert(now);
        }
        assert_eq!(b.pick(Some(h), &down, &mut rng), Some(now));
    }
    // Its entries are scattered, so its keys spread over the others, not onto one neighbour.
    assert!(spilled_to.len() >= 8, "{spilled_to:?}");
}

#[test]
fn key_distribution_follows_entry_counts() {
    let keys = fixture_keys(10);
    let b = Balancer::new(&spec(Algorithm::Maglev, &keys));
    let k = 200_000;
    let owners = owners(&b, &keys, &hashes(k, 13));
    for key in &keys {
        let got = owners.iter().filter(|o| *o == key).count() as f64 / k as f64;
        assert!((got - 0.1).abs() <= six_sigma(0.1, k), "{key}: {got}");
    }
}
