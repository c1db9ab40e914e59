//! shoal-balance: choosing a backend. Pure and synchronous: no I/O, no clocks, no health or
//! upstream imports (it depends on shoal-core only). Health is a predicate
//! ([`Loads::eligible`]) the balancer honours, never a list it owns. One file per algorithm,
//! named after its type.
//!
//! CONTRACT (the rest of shoal codes against this; keep these names):
//!
//! ```ignore
//! pub struct BackendSpec { pub key: String, pub weight: u32 }   // key: stable identity, e.g. "127.0.0.1:9001"
//! pub struct BalancerSpec { pub algorithm: Algorithm, pub backends: Vec<BackendSpec>,
//!                           pub virtual_nodes: u32, pub table_size: u32,
//!                           pub hash_balance_factor: Option<f64> }
//! pub trait Loads { fn len(&self) -> usize; fn eligible(&self, i: usize) -> bool;
//!                   fn weight(&self, i: usize) -> u32;      // effective weight now
//!                   fn in_flight(&self, i: usize) -> u32;
//!                   fn latency_cost(&self, i: usize) -> f64 } // peak-EWMA estimate (ns)
//! pub struct Balancer;  // Balancer::new(&BalancerSpec) -> Balancer (Send + Sync)
//! impl Balancer { pub fn pick(&self, hash: Option<u64>, loads: &impl Loads, rng: &mut Rng) -> Option<usize>; }
//! pub struct Rng;       // Rng::new(seed: u64), next_u64(), below(n)
//! pub fn hash_bytes(bytes: &[u8]) -> u64;   // stable across versions/instances (golden-tested)
//! pub struct PeakEwma;  // pure peak-EWMA arithmetic with explicit `now`
//! ```
//!
//! Rules every algorithm follows:
//!
//! - A pick returns an index into `BalancerSpec::backends` of a backend that is eligible and
//!   has effective weight > 0, or `None` when there is none. Indices beyond the spec or beyond
//!   [`Loads::len`] are ineligible, so a length mismatch cannot panic.
//! - Effective weight ([`Loads::weight`]) is capped at the configured weight: it can lower a
//!   backend's share (slow start) but raising a weight needs a new balancer from a new spec.
//! - Hot paths hold no lock: round-robin cursors are atomics, tables are immutable after
//!   [`Balancer::new`], randomness comes from the caller's per-worker [`Rng`].
//! - Hash tables are built from the backends sorted by key, so every shoal instance builds the
//!   same ring and the same Maglev table from the same backend set; see [`RingHash`] and
//!   [`Maglev`] for the exact, golden-tested formats. Request hashes should come from
//!   [`hash_bytes`] so they spread over the same 64-bit space as the ring points.
//! - A retry "on another backend" picks through [`Excluding`] (or any `Loads` that reports the
//!   tried backends as ineligible): hashing algorithms then move to the key's next choice.
//!
//! Benchmarks and the numbers behind the design choices: `BENCH.md` beside this crate.

mod backend_view;
mod balancer;
mod balancer_spec;
mod bounded_load;
mod cursor;
mod hash_bytes;
mod least_conn;
mod loads;
mod maglev;
mod p2c;
mod p2c_ewma;
mod peak_ewma;
mod random;
mod ring_hash;
mod rng;
mod round_robin;
mod weighted_round_robin;
mod weighted_sampler;

pub use balancer::Balancer;
pub use balancer_spec::{
    BackendSpec, BalancerSpec, DEFAULT_TABLE_SIZE, DEFAULT_VIRTUAL_NODES, MAX_TABLE_SIZE,
};
pub use hash_bytes::{hash_bytes, hash_bytes_with_seed};
pub use least_conn::LeastConn;
pub use loads::{Excluding, FixedLoads, Loads};
pub use maglev::{effective_table_size, is_prime, Maglev, MAGLEV_SKIP_SEED};
pub use p2c::P2c;
pub use p2c_ewma::P2cEwma;
pub use peak_ewma::{PeakEwma, DEFAULT_DECAY_NS, DEFAULT_RTT_NS, PENALTY};
pub use random::Random;
pub use ring_hash::{RingHash, MAX_RING_POINTS};
pub use rng::Rng;
pub use round_robin::RoundRobin;
pub use weighted_round_robin::{WeightedRoundRobin, MAX_SCHEDULE, WALK_LIMIT};
