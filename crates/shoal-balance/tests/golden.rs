//! Golden tests: exact outputs pinned so that every shoal instance and version agree.
//!
//! If one of these fails, a change altered where keys go (hash function, ring point naming,
//! Maglev permutation or population). Such a change remaps live traffic across a fleet
//! running mixed versions: make it on purpose, update the values here, and say so in the
//! release notes.

mod common;

use common::*;
use shoal_balance::{hash_bytes, Balancer, FixedLoads, Maglev, Rng};
use shoal_core::Algorithm;

#[test]
fn hash_bytes_is_xxh64_seed_0() {
    // Published XXH64 vectors (also checked against the reference sanity suite in the unit
    // tests) plus shoal-shaped inputs.
    assert_eq!(hash_bytes(b""), 0xef46_db37_51d8_e999);
    assert_eq!(hash_bytes(b"abc"), 0x44bc_2cf5_ad77_0999);
    assert_eq!(hash_bytes(b"10.0.0.1:80"), 0x011f_acba_8043_b217);
    assert_eq!(hash_bytes(b"10.0.0.1:80-0"), 0xa96d_28cd_62a7_021f);
    assert_eq!(hash_bytes(b"user-42"), 0x397e_9d3a_76af_7c81);
    assert_eq!(hash_bytes(b"shoal"), 0xbfaf_2987_186c_0d51);
}

#[test]
fn rng_sequence_is_fixed_by_its_seed() {
    let mut r = Rng::new(0);
    assert_eq!(r.next_u64(), 0x111c_b3a7_8f59_a58e);
    assert_eq!(r.next_u64(), 0xceab_d938_ff4e_856d);
    assert_eq!(r.next_u64(), 0x61fb_5131_8f47_d2a4);
}

/// 64-bit digest of a ring: every (point hash, owner) pair in order.
fn ring_digest(keys: &[String]) -> (u64, usize) {
    let r = ring(keys, 160);
    let bytes: Vec<u8> = r
        .points()
        .flat_map(|(h, o)| h.to_le_bytes().into_iter().chain((o as u32).to_le_bytes()))
        .collect();
    (hash_bytes(&bytes), r.points().count())
}

#[test]
fn ring_fixture_is_pinned() {
    // Reference §1.1 assert 4: names 10.0.0.{0..9}:80, V = 160, 1M keys from a seeded PRNG.
    let keys = fixture_keys(10);
    assert_eq!(ring_digest(&keys), (0x2a2d_a1a7_76e8_0b5e, 1600));
    let r = ring(&keys, 160);
    let mut counts = [0u32; 10];
    let mut rng = Rng::new(2024);
    for _ in 0..1_000_000 {
        counts[r.lookup(rng.next_u64()).unwrap()] += 1;
    }
    assert_eq!(
        counts,
        [98_596, 99_076, 112_597, 100_503, 100_440, 100_849, 107_137, 86_979, 98_862, 94_961]
    );
}

#[test]
fn maglev_fixture_is_pinned() {
    let keys = fixture_keys(10);
    let m = Maglev::new(&spec(Algorithm::Maglev, &keys));
    assert_eq!(m.table().len(), 65_537);
    assert_eq!(
        &m.table()[..20],
        &[9, 1, 7, 6, 9, 5, 6, 0, 3, 4, 6, 4, 1, 4, 1, 8, 7, 4, 0, 5]
    );
    let bytes: Vec<u8> = m.table().iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(hash_bytes(&bytes), 0x5ed5_4e8e_c49f_f47d);
}

#[test]
fn picks_for_named_keys_are_pinned() {
    let keys = fixture_keys(10);
    let ring = Balancer::new(&spec(Algorithm::RingHash, &keys));
    let maglev = Balancer::new(&spec(Algorithm::Maglev, &keys));
    let loads = FixedLoads::uniform(10, 1);
    let mut rng = Rng::new(0);
    for (key, want_ring, want_maglev) in [
        ("user-1", 7, 4),
        ("user-2", 8, 7),
        ("user-3", 2, 5),
        ("/api/v1/items", 6, 7),
        ("203.0.113.7", 7, 2),
        ("session=abc", 6, 0),
    ] {
        let h = Some(hash_bytes(key.as_bytes()));
        assert_eq!(
            ring.pick(h, &loads, &mut rng),
            Some(want_ring),
            "ring {key}"
        );
        assert_eq!(
            maglev.pick(h, &loads, &mut rng),
            Some(want_maglev),
            "maglev {key}"
        );
    }
}
