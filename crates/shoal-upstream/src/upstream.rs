use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use shoal_balance::{BackendSpec, Balancer, BalancerSpec, Loads, Rng};
use shoal_config::UpstreamConfig;

use crate::backend_state::BackendState;
use crate::retry_budget::RetryBudget;

/// A named group of backends with one balancer, as served by one config snapshot.
#[derive(Debug)]
pub struct Upstream {
    config: UpstreamConfig,
    backends: Vec<Arc<BackendState>>,
    balancer: Balancer,
    budget: Arc<RetryBudget>,
}

/// The balancer's view of the backends for one pick: the live numbers, minus the backends
/// this request already tried.
struct View<'a> {
    backends: &'a [Arc<BackendState>],
    tried: &'a [usize],
}

impl Loads for View<'_> {
    fn len(&self) -> usize {
        self.backends.len()
    }

    fn eligible(&self, i: usize) -> bool {
        self.backends.get(i).is_some_and(|b| b.is_eligible()) && !self.tried.contains(&i)
    }

    fn weight(&self, i: usize) -> u32 {
        self.backends.get(i).map_or(0, |b| b.effective_weight())
    }

    fn in_flight(&self, i: usize) -> u32 {
        self.backends.get(i).map_or(0, |b| b.in_flight())
    }

    fn latency_cost(&self, i: usize) -> f64 {
        self.backends.get(i).map_or(f64::MAX, |b| b.latency_cost())
    }
}

impl Upstream {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    pub fn backends(&self) -> &[Arc<BackendState>] {
        &self.backends
    }

    pub fn backend(&self, index: usize) -> Option<&Arc<BackendState>> {
        self.backends.get(index)
    }

    pub fn budget(&self) -> &Arc<RetryBudget> {
        &self.budget
    }

    /// Chooses a backend for a request with key hash `hash`, avoiding the backends in
    /// `tried`. None when no untried backend is eligible.
    pub fn pick(&self, hash: Option<u64>, tried: &[usize], rng: &mut Rng) -> Option<usize> {
        let view = View {
            backends: &self.backends,
            tried,
        };
        self.balancer.pick(hash, &view, rng)
    }
}

/// Keeps every backend's live state across config snapshots: building an upstream for a new
/// snapshot reuses the state of backends it already had (same upstream name and address), so
/// their counters, latency estimates and pooled connections survive a reload.
#[derive(Debug)]
pub struct UpstreamRegistry {
    workers: usize,
    states: Mutex<HashMap<(String, SocketAddr), Arc<BackendState>>>,
    budgets: Mutex<HashMap<String, Arc<RetryBudget>>>,
}

impl UpstreamRegistry {
    pub fn new(workers: usize) -> UpstreamRegistry {
        UpstreamRegistry {
            workers,
            states: Mutex::new(HashMap::new()),
            budgets: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the runtime upstream for `config`, reusing known backend state.
    pub fn build(&self, config: &UpstreamConfig) -> Upstream {
        let backends: Vec<Arc<BackendState>> = {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            config
                .backends
                .iter()
                .map(|b| {
                    let state = states
                        .entry((config.name.clone(), b.addr))
                        .or_insert_with(|| {
                            Arc::new(BackendState::new(b.addr, b.weight, self.workers))
                        });
                    state.set_weight(b.weight);
                    Arc::clone(state)
                })
                .collect()
        };
        let budget = {
            let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(budgets.entry(config.name.clone()).or_default())
        };
        let mut spec = BalancerSpec::new(
            config.algorithm,
            backends
                .iter()
                .map(|b| BackendSpec {
                    key: b.key().to_string(),
                    weight: b.weight(),
                })
                .collect(),
        );
        spec.virtual_nodes = config.virtual_nodes;
        spec.table_size = config.maglev_table_size;
        spec.hash_balance_factor = config.hash_balance_factor;
        Upstream {
            config: config.clone(),
            balancer: Balancer::new(&spec),
            backends,
            budget,
        }
    }

    /// Forgets backends no longer in any upstream of `keep` (after a snapshot is swapped
    /// in), closing their idle connections.
    pub fn retain(&self, keep: &[&UpstreamConfig]) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.retain(|(name, addr), state| {
            let kept = keep
                .iter()
                .any(|u| &u.name == name && u.backends.iter().any(|b| b.addr == *addr));
            if !kept {
                state.close_idle();
            }
            kept
        });
    }
}
