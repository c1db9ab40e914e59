//! Fixtures shared by the benches: 100 backends and a `Loads` over one `Vec` of structs.
#![allow(dead_code)] // each bench uses a different subset

use shoal_balance::{BackendSpec, BalancerSpec, Loads};
use shoal_core::Algorithm;

pub const N: usize = 100;

/// One backend's live numbers, laid out together as shoal-upstream keeps them (one state
/// struct per backend).
#[derive(Clone, Copy)]
pub struct Live {
    pub eligible: bool,
    pub weight: u32,
    pub in_flight: u32,
    pub latency_cost: f64,
}

pub struct VecLoads(pub Vec<Live>);

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

pub fn spec(algorithm: Algorithm, weights: &[u32]) -> BalancerSpec {
    let backends = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| BackendSpec::new(format!("10.0.{}.{}:8080", i / 256, i % 256), w))
        .collect();
    BalancerSpec::new(algorithm, backends)
}

/// All eligible, effective = configured weight, some load everywhere (so least_conn cannot
/// stop early at an idle backend and must scan all 100).
pub fn loads(weights: &[u32]) -> VecLoads {
    VecLoads(
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Live {
                eligible: true,
                weight,
                in_flight: 1 + (i * 7 % 13) as u32,
                latency_cost: 1e6 + (i * 7919 % 1000) as f64 * 1e3,
            })
            .collect(),
    )
}

/// A third of the backends down and a third ramping at half weight: the slow paths.
pub fn degraded(weights: &[u32]) -> VecLoads {
    let mut l = loads(weights);
    for (i, b) in l.0.iter_mut().enumerate() {
        match i % 3 {
            0 => b.eligible = false,
            1 => b.weight /= 2,
            _ => {}
        }
    }
    l
}

/// The three load shapes every pick bench runs: (name, configured weights, loads).
pub fn scenarios() -> Vec<(&'static str, Vec<u32>, VecLoads)> {
    let equal = vec![1u32; N];
    let mixed: Vec<u32> = (0..N).map(|i| 1 + (i % 4) as u32).collect();
    let fours = vec![4u32; N];
    vec![
        ("pick_100_equal_weights", equal.clone(), loads(&equal)),
        ("pick_100_weights_1_to_4", mixed.clone(), loads(&mixed)),
        (
            "pick_100_third_down_third_ramping",
            fours.clone(),
            degraded(&fours),
        ),
    ]
}
