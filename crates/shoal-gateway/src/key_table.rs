//! The per-key state of one rate limit: key hash → TAT, bounded.
//!
//! Memory cannot grow without bound whatever clients send: at most `max_keys` entries
//! (16 bytes each plus the map's overhead). A key whose TAT has passed carries no
//! information (GCRA treats it exactly like a new key), so such entries are dropped for free
//! in sweeps; when the table is full of live keys, the ones closest to expiry (smallest TAT,
//! the least credit lost) are evicted in a batch, and each eviction is counted.
//!
//! Keys are hashed with a per-table random SipHash key before they get here, so a client
//! cannot aim its key at another client's entry.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::gcra::{Decision, Gcra};

/// Shards cut lock contention between worker threads.
const SHARDS: usize = 16;

/// The keys are already uniform hashes: hashing them again is wasted work.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map = HashMap<u64, u64, BuildHasherDefault<Identity>>;

#[derive(Debug, Default)]
struct Shard {
    map: Map,
    /// Next time (ns) expired entries are swept even if the shard is not full.
    next_sweep: u64,
}

/// Bounded GCRA state for one rate-limit filter.
#[derive(Debug)]
pub struct KeyTable {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    evictions: AtomicU64,
}

impl KeyTable {
    /// A table holding at most about `max_keys` keys (rounded up to a multiple of the shard
    /// count).
    pub fn new(max_keys: usize) -> KeyTable {
        let per_shard = max_keys.div_ceil(SHARDS).max(1);
        KeyTable {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
            evictions: AtomicU64::new(0),
        }
    }

    /// The most keys the table holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    /// Live entries now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys evicted while they still mattered (the table was full of live keys).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Decides a request for `key` at `now` and records it.
    pub fn check(&self, gcra: &Gcra, key: u64, now: u64) -> Decision {
        // The shard comes from a remix of the key, so the bits the map itself uses (low bits
        // for the bucket, high bits for its tags) stay uniform within a shard.
        let index = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) as usize % SHARDS;
        let Some(shard) = self.shards.get(index) else {
            return gcra.check(0, now);
        };
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let tat = shard.map.get(&key).copied().unwrap_or(0);
        let decision = gcra.check(tat, now);
        if decision.allowed {
            if tat == 0 {
                self.make_room(&mut shard, now, gcra);
            }
            shard.map.insert(key, decision.tat);
        }
        decision
    }

    /// Before inserting a new key: sweep expired entries when full or when it is time, and
    /// evict the entries closest to expiry if the shard is still full.
    fn make_room(&self, shard: &mut Shard, now: u64, gcra: &Gcra) {
        let full = shard.map.len() >= self.per_shard;
        if full || now >= shard.next_sweep {
            shard.map.retain(|_, tat| *tat > now);
            shard.next_sweep = now.saturating_add(gcra.memory().max(1_000_000_000));
        }
        if shard.map.len() < self.per_shard {
            return;
        }
        // Evict an eighth at once, so a flood of new keys costs amortised O(1) per key.
        let batch = (self.per_shard / 8).max(1);
        let mut tats: Vec<u64> = shard.map.values().copied().collect();
        let cut = batch.min(tats.len()) - 1;
        let (_, threshold, _) = tats.select_nth_unstable(cut);
        let threshold = *threshold;
        let mut evicted = 0u64;
        shard.map.retain(|_, tat| {
            if *tat <= threshold && evicted < batch as u64 {
                evicted += 1;
                false
            } else {
                true
            }
        });
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flood_of_distinct_keys_stays_within_the_cap() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 5);
        let table = KeyTable::new(10_000);
        let mut h = 0x1234_5678_9abc_def0u64;
        for i in 0..100_000u64 {
            h = h
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // All within the same millisecond: nothing expires on its own.
            assert!(table.check(&gcra, h, 1_000 + i % 7).allowed);
        }
        assert!(table.len() <= table.capacity(), "{} keys", table.len());
        assert!(table.capacity() <= 10_016);
        assert!(table.evictions() >= 90_000 - 16, "{}", table.evictions());
    }

    #[test]
    fn hundred_thousand_keys_at_the_default_cap_fit() {
        let gcra = Gcra::new(100, Duration::from_secs(1), 50);
        let table = KeyTable::new(100_000);
        for i in 0..200_000u64 {
            let key = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            table.check(&gcra, key, 10);
        }
        assert!(table.len() <= 100_000);
        assert!(table.evictions() > 0);
    }

    #[test]
    fn expired_keys_go_without_eviction() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 2);
        let table = KeyTable::new(1_600);
        let key = |i: u64| i.wrapping_mul(0x2545_f491_4f6c_dd1d);
        for i in 0..1_000u64 {
            table.check(&gcra, key(i), 1);
        }
        assert_eq!(table.evictions(), 0);
        // Two seconds later every key has refilled: the new ones replace them for free.
        let later = 2_000_000_000;
        for i in 1_000..2_000u64 {
            table.check(&gcra, key(i), later);
        }
        assert_eq!(table.evictions(), 0);
        assert!(table.len() <= 1_000, "{}", table.len());
    }

    #[test]
    fn keys_are_limited_independently() {
        let gcra = Gcra::new(10, Duration::from_secs(1), 2);
        let table = KeyTable::new(100);
        assert!(table.check(&gcra, 1, 0).allowed);
        assert!(table.check(&gcra, 1, 0).allowed);
        assert!(!table.check(&gcra, 1, 0).allowed);
        assert!(table.check(&gcra, 2, 0).allowed);
        assert!(table.check(&gcra, 1, 100_000_000).allowed);
    }
}
