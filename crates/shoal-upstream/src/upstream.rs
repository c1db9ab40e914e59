use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use shoal_balance::{BackendSpec, Balancer, BalancerSpec, Loads, Rng};
use shoal_config::UpstreamConfig;

use shoal_health::{HealthPolicy, HealthState};
use tokio::sync::mpsc::UnboundedSender;

use crate::backend_state::{BackendState, HealthEvent, PassiveLimits};
use crate::retry_budget::RetryBudget;
use crate::transport::{Transport, TransportKey};
use crate::tried::Tried;

/// A named group of backends with one balancer, as served by one config snapshot.
#[derive(Debug)]
pub struct Upstream {
    config: UpstreamConfig,
    backends: Vec<Arc<BackendState>>,
    balancer: Balancer,
    budget: Arc<RetryBudget>,
    /// Set by the health supervisor when too few backends are eligible (panic threshold).
    panic: Arc<AtomicBool>,
    /// Weights are handed to the balancer multiplied by this, so slow start can lower even
    /// a weight of 1 in fine steps (balancers see whole numbers).
    weight_scale: u32,
    /// How its backends are reached (TLS or not, HTTP/1.1 or HTTP/2).
    transport: Arc<Transport>,
}

/// See [`Upstream::weight_scale`]. Not for ring_hash, whose ring has virtual_nodes × weight
/// points per backend.
const WEIGHT_SCALE: u32 = 100;

/// The balancer's view of the backends for one pick: the live numbers, minus the backends
/// this request already tried.
struct View<'a> {
    backends: &'a [Arc<BackendState>],
    tried: &'a [usize],
    panic: bool,
    weight_scale: u32,
}

impl Loads for View<'_> {
    fn len(&self) -> usize {
        self.backends.len()
    }

    fn eligible(&self, i: usize) -> bool {
        let open = |b: &Arc<BackendState>| {
            if self.panic {
                b.accepts_panic_traffic()
            } else {
                b.is_eligible()
            }
        };
        self.backends.get(i).is_some_and(open) && !self.tried.contains(&i)
    }

    fn weight(&self, i: usize) -> u32 {
        self.backends
            .get(i)
            .map_or(0, |b| b.scaled_effective_weight(self.weight_scale))
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

    /// How its backends are reached.
    pub fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// True while the upstream is in panic mode.
    pub fn in_panic(&self) -> bool {
        self.panic.load(Ordering::Relaxed)
    }

    /// The shared panic flag (the health supervisor sets it).
    pub fn panic_flag(&self) -> &Arc<AtomicBool> {
        &self.panic
    }

    /// Picks a backend not tried yet and records it in `tried`. None when no untried
    /// backend is eligible, or the bound on tries is reached.
    pub fn pick_next(&self, hash: Option<u64>, tried: &mut Tried, rng: &mut Rng) -> Option<usize> {
        let index = self.pick(hash, tried.as_slice(), rng)?;
        tried.push(index).then_some(index)
    }

    /// Chooses a backend for a request with key hash `hash`, avoiding the backends in
    /// `tried`. None when no untried backend is eligible.
    pub fn pick(&self, hash: Option<u64>, tried: &[usize], rng: &mut Rng) -> Option<usize> {
        let view = View {
            backends: &self.backends,
            tried,
            panic: self.panic.load(Ordering::Relaxed),
            weight_scale: self.weight_scale,
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
    panics: Mutex<HashMap<String, Arc<AtomicBool>>>,
    /// Per upstream name: what its transport was made from, and the transport.
    transports: Mutex<HashMap<String, (TransportKey, Arc<Transport>)>>,
    events: Option<UnboundedSender<HealthEvent>>,
}

impl UpstreamRegistry {
    /// `events`: where backends report passive-check thresholds (the health supervisor).
    pub fn new(workers: usize, events: Option<UnboundedSender<HealthEvent>>) -> UpstreamRegistry {
        UpstreamRegistry {
            workers,
            states: Mutex::new(HashMap::new()),
            budgets: Mutex::new(HashMap::new()),
            panics: Mutex::new(HashMap::new()),
            transports: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// Builds the runtime upstream for `config`, reusing known backend state. `initial`:
    /// this is the process's first config (no slow start for backends that were never seen
    /// failing, as in HAProxy and Envoy).
    pub fn build(&self, config: &UpstreamConfig, initial: bool) -> Upstream {
        let policy = HealthPolicy::from_upstream(config);
        // A new backend's first status is what its health state starts in, so it is never
        // eligible before the supervisor has had a say.
        let first_status = HealthState::new(policy, Instant::now(), initial).status();
        let passive = PassiveLimits {
            consecutive_5xx: config.outlier.consecutive_5xx,
            consecutive_gateway_failures: config.outlier.consecutive_gateway_failures,
            events: self.events.clone(),
        };
        let ewma = config.algorithm == shoal_core::Algorithm::P2cEwma;
        let histogram = config.autoscale.as_ref().is_some_and(|a| {
            a.targets
                .iter()
                .any(|t| matches!(t, shoal_config::ScaleTarget::P95Latency(_)))
        });
        let backends: Vec<Arc<BackendState>> = {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            config
                .backends
                .iter()
                .map(|b| {
                    let state = states
                        .entry((config.name.clone(), b.addr))
                        .or_insert_with(|| {
                            Arc::new(BackendState::new(
                                &config.name,
                                b.addr,
                                b.weight,
                                self.workers,
                                first_status,
                                passive.clone(),
                            ))
                        });
                    state.set_weight(b.weight);
                    state.set_latency_uses(ewma, histogram);
                    state.set_passive_limits(
                        config.outlier.consecutive_5xx,
                        config.outlier.consecutive_gateway_failures,
                    );
                    Arc::clone(state)
                })
                .collect()
        };
        let budget = {
            let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(budgets.entry(config.name.clone()).or_default())
        };
        let weight_scale = if config.algorithm == shoal_core::Algorithm::RingHash {
            1
        } else {
            WEIGHT_SCALE
        };
        let mut spec = BalancerSpec::new(
            config.algorithm,
            backends
                .iter()
                .map(|b| BackendSpec {
                    key: b.key().to_string(),
                    weight: b.weight().saturating_mul(weight_scale),
                })
                .collect(),
        );
        spec.virtual_nodes = config.virtual_nodes;
        spec.table_size = config.maglev_table_size;
        spec.hash_balance_factor = config.hash_balance_factor;
        let panic = {
            let mut panics = self.panics.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(panics.entry(config.name.clone()).or_default())
        };
        Upstream {
            config: config.clone(),
            balancer: Balancer::new(&spec),
            backends,
            budget,
            panic,
            weight_scale,
            transport: self.transport(config),
        }
    }

    /// The upstream's transport: the one it had when nothing it is made from changed (so
    /// pooled connections and TLS sessions carry over), else a new one.
    fn transport(&self, config: &UpstreamConfig) -> Arc<Transport> {
        // Files are read outside the lock.
        let key = TransportKey::load(config);
        let mut transports = self.transports.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((known, transport)) = transports.get(&config.name) {
            if *known == key {
                return Arc::clone(transport);
            }
        }
        let transport = Arc::new(Transport::new(&config.name, &key));
        transports.insert(config.name.clone(), (key, Arc::clone(&transport)));
        transport
    }

    /// Forgets backends no longer in any upstream of `keep` (after a snapshot is swapped
    /// in), closing their idle connections.
    pub fn retain(&self, keep: &[&UpstreamConfig]) {
        self.transports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| keep.iter().any(|u| &u.name == name));
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
