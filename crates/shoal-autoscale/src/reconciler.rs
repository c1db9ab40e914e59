//! The reconciler: one task per autoscaled upstream. Every tick (a tenth of
//! `evaluate_every`) it follows the provider's fleet into the upstream — instances that are
//! up become backends (through the [`Fleet`], so health checks and slow start apply), leaving
//! or vanished ones are drained and removed once their requests are done (or at
//! `drain_timeout`) — and samples in-flight counts. Every `evaluate_every` it measures each
//! counted backend over the period, asks the [`Policy`], logs and keeps the decision, and
//! tells the provider.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use shoal_config::{AutoscaleConfig, ScaleTarget};
use shoal_health::{BackendStatus, ProbeOutcome};
use shoal_upstream::latency_histogram::{delta, quantile};
use shoal_upstream::{BackendState, LatencyCounts, Operation};
use tokio::sync::{mpsc, oneshot};

use crate::fleet::Fleet;
use crate::policy::{Observation, Policy, PolicyParams};
use crate::provider::{Provider, ProviderView};
use crate::status::{Event, EventLog, InstanceState, InstanceStatus, Status};

/// Ticks between evaluations.
const TICKS_PER_EVALUATION: u32 = 10;
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_TICK: Duration = Duration::from_secs(1);

/// How a reconciler stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// shoal is exiting: stop the instances, leave the config alone.
    Exit,
    /// This upstream is no longer autoscaled this way (a reload): drain and remove its
    /// backends, then stop the instances.
    Retire,
}

pub(crate) enum Msg {
    Config(Box<AutoscaleConfig>),
    Scale {
        count: u32,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Stop(StopMode),
}

/// The status and the decision log, shared with the admin API.
#[derive(Debug)]
pub(crate) struct Shared {
    pub status: Status,
    pub events: EventLog,
}

struct MemberState {
    id: String,
    /// When the backend first became eligible.
    ready_at: Option<Instant>,
    draining: Option<Instant>,
    /// Consecutive ticks seen idle while draining.
    idle_ticks: u32,
    base_at: Instant,
    base_requests: u64,
    base_latency: Option<Box<LatencyCounts>>,
    in_flight_sum: u64,
    in_flight_samples: u32,
}

pub(crate) struct Reconciler {
    upstream: String,
    config: AutoscaleConfig,
    policy: Policy,
    provider: Provider,
    fleet: Arc<dyn Fleet>,
    members: HashMap<SocketAddr, MemberState>,
    view: ProviderView,
    desired: u32,
    provider_error: Option<String>,
    next_eval: Instant,
    shared: Arc<Mutex<Shared>>,
}

fn tick_of(every: Duration) -> Duration {
    (every / TICKS_PER_EVALUATION).clamp(MIN_TICK, MAX_TICK)
}

impl Reconciler {
    pub fn new(
        upstream: &str,
        config: AutoscaleConfig,
        provider: Provider,
        fleet: Arc<dyn Fleet>,
    ) -> (Reconciler, Arc<Mutex<Shared>>) {
        let status = Status {
            upstream: upstream.to_string(),
            provider: provider.name(),
            min: config.min,
            max: config.max,
            evaluate_every: config.evaluate_every,
            current: 0,
            desired: config.min,
            instances: Vec::new(),
            provider_error: None,
            events: Vec::new(),
        };
        let shared = Arc::new(Mutex::new(Shared {
            status,
            events: EventLog::default(),
        }));
        let reconciler = Reconciler {
            upstream: upstream.to_string(),
            policy: Policy::new(PolicyParams::from_config(&config)),
            desired: config.min,
            config,
            provider,
            fleet,
            members: HashMap::new(),
            view: ProviderView::default(),
            provider_error: None,
            next_eval: Instant::now(),
            shared: Arc::clone(&shared),
        };
        (reconciler, shared)
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        tracing::info!(upstream = %self.upstream, provider = self.provider.name(), min = self.config.min, max = self.config.max, "autoscaler started");
        let mut ticker = tokio::time::interval(tick_of(self.config.evaluate_every));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => return self.stop(StopMode::Exit).await,
                    Some(Msg::Stop(mode)) => return self.stop(mode).await,
                    Some(Msg::Config(config)) => {
                        if config.evaluate_every != self.config.evaluate_every {
                            ticker = tokio::time::interval(tick_of(config.evaluate_every));
                            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        }
                        self.policy.set_params(PolicyParams::from_config(&config));
                        self.config = *config;
                        tracing::info!(upstream = %self.upstream, "autoscale settings reloaded");
                    }
                    Some(Msg::Scale { count, reply }) => {
                        let result = self.manual(count).await;
                        let _ = reply.send(result);
                    }
                },
                _ = ticker.tick() => self.tick().await,
            }
        }
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        let evaluate = now >= self.next_eval;
        if evaluate || self.provider.polls_every_tick() {
            match self.provider.poll(now, evaluate).await {
                Ok(view) => {
                    self.view = view;
                    self.provider_error = None;
                }
                Err(e) => {
                    if self.provider_error.as_ref() != Some(&e) {
                        tracing::warn!(upstream = %self.upstream, provider = self.provider.name(), error = %e, "provider failed");
                    }
                    self.provider_error = Some(e);
                }
            }
        }
        let backends = self.backend_map();
        self.sync_members(now, &backends).await;
        for (addr, m) in &mut self.members {
            if let Some(b) = backends.get(addr) {
                m.in_flight_sum += u64::from(b.in_flight());
                m.in_flight_samples += 1;
                if m.ready_at.is_none() && m.draining.is_none() && b.status().is_eligible() {
                    m.ready_at = Some(now);
                }
            }
        }
        if evaluate {
            self.next_eval = now + self.config.evaluate_every;
            self.evaluate(now, &backends).await;
        }
        self.publish(now, &backends);
    }

    fn backend_map(&self) -> HashMap<SocketAddr, Arc<BackendState>> {
        self.fleet
            .backends(&self.upstream)
            .into_iter()
            .map(|b| (b.addr(), b))
            .collect()
    }

    /// Follows the provider's fleet into the upstream.
    async fn sync_members(
        &mut self,
        now: Instant,
        backends: &HashMap<SocketAddr, Arc<BackendState>>,
    ) {
        let health = self.fleet.health();
        // Up and staying, not a backend yet: add.
        for m in &self.view.members {
            if !m.up || m.leaving || self.members.contains_key(&m.addr) {
                continue;
            }
            match self.fleet.add(&self.upstream, m.addr) {
                Ok(()) => {
                    tracing::info!(upstream = %self.upstream, instance = %m.id, backend = %m.addr, "backend added");
                    let requests = self
                        .fleet
                        .backends(&self.upstream)
                        .iter()
                        .find(|b| b.addr() == m.addr)
                        .map_or(0, |b| b.requests());
                    self.members.insert(
                        m.addr,
                        MemberState {
                            id: m.id.clone(),
                            ready_at: None,
                            draining: None,
                            idle_ticks: 0,
                            base_at: now,
                            base_requests: requests,
                            base_latency: None,
                            in_flight_sum: 0,
                            in_flight_samples: 0,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(upstream = %self.upstream, backend = %m.addr, error = %e, "cannot add backend");
                }
            }
        }
        // Leaving or gone: drain.
        let staying = |addr: &SocketAddr| {
            self.view
                .members
                .iter()
                .any(|m| m.addr == *addr && !m.leaving)
        };
        let to_drain: Vec<SocketAddr> = self
            .members
            .iter()
            .filter(|(addr, m)| m.draining.is_none() && !staying(addr))
            .map(|(addr, _)| *addr)
            .collect();
        for addr in to_drain {
            let _ = health.operate(&self.upstream, addr, Operation::Drain).await;
            if let Some(m) = self.members.get_mut(&addr) {
                m.draining = Some(now);
                m.idle_ticks = 0;
                tracing::info!(upstream = %self.upstream, instance = %m.id, backend = %addr, "draining backend");
            }
        }
        // Liveness failing (not merely ejected): the provider replaces the instance.
        let down: Vec<SocketAddr> = self
            .members
            .iter()
            .filter(|(addr, m)| {
                m.draining.is_none()
                    && backends
                        .get(addr)
                        .is_some_and(|b| b.status() == BackendStatus::Down)
            })
            .map(|(addr, _)| *addr)
            .collect();
        for addr in down {
            let view = health.view(&self.upstream, addr).await;
            let liveness_failed = view
                .and_then(|v| v.last_probe)
                .is_some_and(|p| matches!(p.outcome, ProbeOutcome::LivenessFailed(_)));
            if liveness_failed {
                self.provider.restart(addr);
            }
        }
        // Drained (idle twice in a row, so a request picked just before the drain is seen),
        // or out of time, or already gone from the config: remove and release.
        let mut done = Vec::new();
        for (addr, m) in &mut self.members {
            let Some(since) = m.draining else { continue };
            let backend = backends.get(addr);
            if backend.is_some_and(|b| b.in_flight() > 0) {
                m.idle_ticks = 0;
            } else {
                m.idle_ticks += 1;
            }
            let timed_out = now.saturating_duration_since(since) >= self.config.drain_timeout;
            if backend.is_none() || m.idle_ticks >= 2 || timed_out {
                done.push((*addr, timed_out && m.idle_ticks < 2));
            }
        }
        for (addr, timed_out) in done {
            match self.fleet.remove(&self.upstream, addr) {
                Ok(()) => {
                    if let Some(m) = self.members.remove(&addr) {
                        if timed_out {
                            tracing::warn!(upstream = %self.upstream, instance = %m.id, backend = %addr, drain_timeout = ?self.config.drain_timeout, "drain timeout reached: backend removed with requests in flight");
                        } else {
                            tracing::info!(upstream = %self.upstream, instance = %m.id, backend = %addr, "drained backend removed");
                        }
                    }
                    self.provider.release(addr);
                }
                Err(e) => {
                    tracing::warn!(upstream = %self.upstream, backend = %addr, error = %e, "cannot remove drained backend");
                }
            }
        }
        // Leaving before ever serving: nothing to drain.
        let unserved: Vec<SocketAddr> = self
            .view
            .members
            .iter()
            .filter(|m| m.leaving && !self.members.contains_key(&m.addr))
            .map(|m| m.addr)
            .collect();
        for addr in unserved {
            self.provider.release(addr);
            self.view.members.retain(|m| m.addr != addr);
        }
    }

    fn counted(&self, m: &MemberState, backend: Option<&Arc<BackendState>>, now: Instant) -> bool {
        m.draining.is_none()
            && backend.is_some_and(|b| b.status().is_eligible())
            && m.ready_at
                .is_some_and(|at| now.saturating_duration_since(at) >= self.config.warmup)
    }

    async fn evaluate(&mut self, now: Instant, backends: &HashMap<SocketAddr, Arc<BackendState>>) {
        let wants_latency = self
            .config
            .targets
            .iter()
            .any(|t| matches!(t, ScaleTarget::P95Latency(_)));
        let cpu: HashMap<SocketAddr, Option<f64>> = self
            .view
            .members
            .iter()
            .map(|m| (m.addr, m.cpu_percent))
            .collect();
        let mut samples = Vec::new();
        for (addr, m) in &self.members {
            let backend = backends.get(addr);
            if !self.counted(m, backend, now) {
                continue;
            }
            let Some(b) = backend else { continue };
            let seconds = now.saturating_duration_since(m.base_at).as_secs_f64();
            let values = self
                .config
                .targets
                .iter()
                .map(|t| match t {
                    ScaleTarget::RpsPerBackend(_) => (seconds > 0.0)
                        .then(|| b.requests().saturating_sub(m.base_requests) as f64 / seconds),
                    ScaleTarget::InFlightPerBackend(_) => Some(if m.in_flight_samples > 0 {
                        m.in_flight_sum as f64 / f64::from(m.in_flight_samples)
                    } else {
                        f64::from(b.in_flight())
                    }),
                    ScaleTarget::CpuPercent(_) => cpu.get(addr).copied().flatten(),
                    ScaleTarget::P95Latency(_) => m.base_latency.as_ref().and_then(|base| {
                        let window = delta(&b.latency_histogram().counts(), base);
                        quantile(&window, 0.95).map(|d| d.as_secs_f64() * 1000.0)
                    }),
                })
                .collect();
            samples.push(values);
        }
        let counted = u32::try_from(samples.len()).unwrap_or(u32::MAX);
        let current = self.view.current;
        let observation = Observation {
            current,
            backends: samples,
            unready: current.saturating_sub(counted),
        };
        let decision = self.policy.evaluate(now, &observation);
        // New baselines for the next period.
        for (addr, m) in &mut self.members {
            m.base_at = now;
            m.in_flight_sum = 0;
            m.in_flight_samples = 0;
            if let Some(b) = backends.get(addr) {
                m.base_requests = b.requests();
                if wants_latency {
                    m.base_latency = Some(Box::new(b.latency_histogram().counts()));
                }
            }
        }
        let event = Event::from_decision(&decision, SystemTime::now());
        if decision.desired != decision.current {
            tracing::info!(upstream = %self.upstream, action = event.action, current = decision.current, desired = decision.desired, unready = decision.unready, recommendation = ?decision.recommendation, targets = %render_targets(&event), reason = %decision.reason, "autoscale decision");
        } else {
            tracing::debug!(upstream = %self.upstream, current = decision.current, recommendation = ?decision.recommendation, targets = %render_targets(&event), reason = %decision.reason, "autoscale decision");
        }
        self.push_event(event);
        self.desired = decision.desired;
        if decision.desired != decision.current {
            let loads: HashMap<SocketAddr, u32> =
                backends.iter().map(|(a, b)| (*a, b.in_flight())).collect();
            match self
                .provider
                .scale_to(decision.desired, |a| loads.get(&a).copied().unwrap_or(0))
                .await
            {
                Ok(()) => {
                    // Getting back into [min, max] is not a policy step: it does not count
                    // against the rate limits.
                    if decision.recommendation.is_some() {
                        self.policy
                            .record_scale(now, decision.current, decision.desired);
                    }
                    // The next poll tells the truth; until then, what was asked for.
                    self.view.current = decision.desired;
                }
                Err(e) => {
                    tracing::warn!(upstream = %self.upstream, desired = decision.desired, error = %e, "provider could not scale");
                    self.provider_error = Some(e);
                }
            }
        }
    }

    /// `POST .../scale`: the operator's count, within [min, max].
    async fn manual(&mut self, count: u32) -> Result<(), String> {
        if count < self.config.min || count > self.config.max {
            return Err(format!(
                "count must be between min {} and max {}, got {count}",
                self.config.min, self.config.max
            ));
        }
        let now = Instant::now();
        let current = self.view.current;
        let backends = self.backend_map();
        let loads: HashMap<SocketAddr, u32> =
            backends.iter().map(|(a, b)| (*a, b.in_flight())).collect();
        self.provider
            .scale_to(count, |a| loads.get(&a).copied().unwrap_or(0))
            .await?;
        self.policy.manual(now, current, count);
        self.desired = count;
        tracing::info!(upstream = %self.upstream, current, desired = count, "autoscale: count set by hand");
        self.push_event(Event {
            action: "manual",
            recommendation: Some(count),
            reason: "set by hand (POST /scale); held by the scale-down window".to_string(),
            ..Event::from_decision(
                &crate::policy::Decision {
                    current,
                    unready: 0,
                    targets: Vec::new(),
                    recommendation: Some(count),
                    desired: count,
                    reason: String::new(),
                },
                SystemTime::now(),
            )
        });
        Ok(())
    }

    fn push_event(&self, event: Event) {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.events.push(event);
    }

    fn publish(&self, now: Instant, backends: &HashMap<SocketAddr, Arc<BackendState>>) {
        let mut instances: Vec<InstanceStatus> = self
            .view
            .members
            .iter()
            .map(|m| {
                let state = match self.members.get(&m.addr) {
                    None => InstanceState::Starting,
                    Some(ms) if ms.draining.is_some() => InstanceState::Draining,
                    Some(ms) if self.counted(ms, backends.get(&m.addr), now) => {
                        InstanceState::Ready
                    }
                    Some(_) => InstanceState::Warming,
                };
                InstanceStatus {
                    id: m.id.clone(),
                    addr: m.addr.to_string(),
                    state,
                    pid: m.pid,
                    cpu_percent: m.cpu_percent,
                }
            })
            .collect();
        // Backends draining after their instance is gone from the provider's list.
        for (addr, m) in &self.members {
            if !self.view.members.iter().any(|v| v.addr == *addr) {
                instances.push(InstanceStatus {
                    id: m.id.clone(),
                    addr: addr.to_string(),
                    state: InstanceState::Draining,
                    pid: None,
                    cpu_percent: None,
                });
            }
        }
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let s = &mut shared.status;
        s.min = self.config.min;
        s.max = self.config.max;
        s.evaluate_every = self.config.evaluate_every;
        s.current = self.view.current;
        s.desired = self.desired;
        s.instances = instances;
        s.provider_error = self.provider_error.clone();
    }

    async fn stop(mut self, mode: StopMode) {
        if mode == StopMode::Retire {
            tracing::info!(upstream = %self.upstream, "autoscaler retired: draining its backends");
            let health = self.fleet.health();
            let addrs: Vec<SocketAddr> = self.members.keys().copied().collect();
            for addr in &addrs {
                let _ = health
                    .operate(&self.upstream, *addr, Operation::Drain)
                    .await;
            }
            let deadline = Instant::now() + self.config.drain_timeout;
            loop {
                let backends = self.backend_map();
                let busy = addrs
                    .iter()
                    .any(|a| backends.get(a).is_some_and(|b| b.in_flight() > 0));
                if !busy || Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            for addr in addrs {
                if let Err(e) = self.fleet.remove(&self.upstream, addr) {
                    tracing::warn!(upstream = %self.upstream, backend = %addr, error = %e, "cannot remove backend");
                }
            }
        }
        self.provider.shutdown().await;
        tracing::info!(upstream = %self.upstream, "autoscaler stopped");
    }
}

fn render_targets(event: &Event) -> String {
    let parts: Vec<String> = event
        .targets
        .iter()
        .map(|t| match t.value {
            Some(v) => format!("{}={v:.2}/{}", t.key, t.target),
            None => format!("{}=none/{}", t.key, t.target),
        })
        .collect();
    parts.join(" ")
}
