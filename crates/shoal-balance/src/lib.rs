//! shoal-balance: choosing a backend. Pure and synchronous: no I/O, no clocks, no health or
//! upstream imports. Health is a predicate ([`Loads::eligible`]) the balancer honours, never a
//! list it owns. One file per algorithm.
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
