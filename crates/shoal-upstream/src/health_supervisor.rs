//! The health supervisor: the one writer of every backend's status. It owns each backend's
//! [`HealthState`], runs the active probes, takes the data plane's passive-check reports,
//! applies operator commands (drain, enable, disable), ticks timers (ejection ends, slow
//! start, drain deadlines), and publishes the result into [`BackendState`]'s atomics, which
//! is all the data plane reads. Each transition is logged once, with its cause.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_balance::Rng;
use shoal_config::{HealthConfig, UpstreamConfig};
use shoal_core::ShutdownSignal;
use shoal_health::{
    jittered, may_eject, panic_mode, BackendStatus, HealthPolicy, HealthState, LastProbe, Outcome,
    ProbeOutcome, Prober, TickEvent, Transition,
};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::backend_state::{BackendState, HealthEvent};
use crate::transition_feed::{TransitionEvent, TransitionFeed};
use crate::transport::Transport;
use crate::transport_probe::TransportProbe;
use crate::upstream::Upstream;

/// How often timers are checked and slow-start weights republished.
const TICK: Duration = Duration::from_millis(100);

type Key = (String, SocketAddr);

/// What an operator can ask of one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Drain,
    Enable,
    Disable,
}

/// A backend's health as the admin API shows it.
#[derive(Debug, Clone)]
pub struct HealthView {
    pub status: BackendStatus,
    pub last_probe: Option<LastProbe>,
    pub ejections: u32,
}

enum Msg {
    Sync {
        upstreams: Vec<Arc<Upstream>>,
        initial: bool,
    },
    Probe {
        key: Key,
        generation: u64,
        outcome: ProbeOutcome,
    },
    Operate {
        key: Key,
        op: Operation,
        reply: oneshot::Sender<Option<BackendStatus>>,
    },
    View {
        key: Key,
        reply: oneshot::Sender<Option<HealthView>>,
    },
    /// Answered once every actively checked backend has had its first check.
    FirstRound(oneshot::Sender<()>),
}

/// The handle: cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct HealthSupervisor {
    tx: UnboundedSender<Msg>,
    feed: TransitionFeed,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

struct Entry {
    state: HealthState,
    backend: Arc<BackendState>,
    prober: Option<JoinHandle<()>>,
    health: Option<HealthConfig>,
    /// The id of the transport the prober reaches the backend with.
    transport: u64,
    /// Probe results from an older prober (before a reload) are ignored.
    generation: u64,
}

struct UpstreamInfo {
    config: UpstreamConfig,
    keys: Vec<Key>,
    panic: Arc<AtomicBool>,
}

/// The task side; run it with [`SupervisorTask::run`] on the control runtime.
pub struct SupervisorTask {
    rx: UnboundedReceiver<Msg>,
    events: UnboundedReceiver<HealthEvent>,
    tx: UnboundedSender<Msg>,
    entries: HashMap<Key, Entry>,
    upstreams: HashMap<String, UpstreamInfo>,
    rng: Rng,
    generation: u64,
    first_round: Vec<oneshot::Sender<()>>,
    feed: TransitionFeed,
}

impl HealthSupervisor {
    /// The handle, the task, and the sender backends report passive-check events to.
    pub fn new() -> (
        HealthSupervisor,
        SupervisorTask,
        UnboundedSender<HealthEvent>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let feed = TransitionFeed::new();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        let task = SupervisorTask {
            rx,
            events,
            tx: tx.clone(),
            entries: HashMap::new(),
            upstreams: HashMap::new(),
            rng: Rng::new(seed),
            generation: 0,
            first_round: Vec::new(),
            feed: feed.clone(),
        };
        (HealthSupervisor { tx, feed }, task, events_tx)
    }

    /// Every status change from now on, as it is logged (a receiver that falls behind loses
    /// the oldest; see [`TransitionFeed`]). For the operator's event log, not for decisions.
    pub fn subscribe_transitions(&self) -> broadcast::Receiver<TransitionEvent> {
        self.feed.subscribe()
    }

    /// Tells the supervisor which upstreams and backends exist now (after a snapshot swap).
    pub fn sync(&self, upstreams: Vec<Arc<Upstream>>, initial: bool) {
        let _ = self.tx.send(Msg::Sync { upstreams, initial });
    }

    fn ask_operate(
        &self,
        upstream: &str,
        addr: SocketAddr,
        op: Operation,
    ) -> Option<oneshot::Receiver<Option<BackendStatus>>> {
        let (reply, answer) = oneshot::channel();
        let key = (upstream.to_string(), addr);
        self.tx.send(Msg::Operate { key, op, reply }).ok()?;
        Some(answer)
    }

    fn ask_view(
        &self,
        upstream: &str,
        addr: SocketAddr,
    ) -> Option<oneshot::Receiver<Option<HealthView>>> {
        let (reply, answer) = oneshot::channel();
        let key = (upstream.to_string(), addr);
        self.tx.send(Msg::View { key, reply }).ok()?;
        Some(answer)
    }

    /// Applies an operator command; the new status, or None for an unknown backend.
    pub async fn operate(
        &self,
        upstream: &str,
        addr: SocketAddr,
        op: Operation,
    ) -> Option<BackendStatus> {
        self.ask_operate(upstream, addr, op)?.await.ok().flatten()
    }

    /// [`HealthSupervisor::operate`] for callers on a blocking thread (never on an event loop).
    pub fn operate_blocking(
        &self,
        upstream: &str,
        addr: SocketAddr,
        op: Operation,
    ) -> Option<BackendStatus> {
        self.ask_operate(upstream, addr, op)?
            .blocking_recv()
            .ok()
            .flatten()
    }

    /// The health details of one backend.
    pub async fn view(&self, upstream: &str, addr: SocketAddr) -> Option<HealthView> {
        self.ask_view(upstream, addr)?.await.ok().flatten()
    }

    /// [`HealthSupervisor::view`] for callers on a blocking thread (never on an event loop).
    pub fn view_blocking(&self, upstream: &str, addr: SocketAddr) -> Option<HealthView> {
        self.ask_view(upstream, addr)?
            .blocking_recv()
            .ok()
            .flatten()
    }

    /// Waits (blocking the calling thread, at most `limit`) until every backend with active
    /// checks has been checked once, so traffic starts with known states.
    pub fn wait_first_round_blocking(&self, limit: Duration) {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::FirstRound(reply)).is_err() {
            return;
        }
        let deadline = Instant::now() + limit;
        let mut answer = answer;
        while Instant::now() < deadline {
            match answer.try_recv() {
                Ok(()) | Err(oneshot::error::TryRecvError::Closed) => return,
                Err(oneshot::error::TryRecvError::Empty) => {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }
}

fn log_transition(feed: &TransitionFeed, key: &Key, t: &Transition) {
    tracing::info!(upstream = %key.0, backend = %key.1, from = %t.from, to = %t.to, cause = %t.cause, "backend state changed");
    feed.send(&key.0, key.1, t);
}

impl SupervisorTask {
    pub async fn run(mut self, mut shutdown: ShutdownSignal) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.recv() => break,
                Some(msg) = self.rx.recv() => self.on_msg(msg),
                Some(event) = self.events.recv() => self.on_event(event),
                _ = ticker.tick() => self.on_tick(),
            }
        }
        for entry in self.entries.values() {
            if let Some(p) = &entry.prober {
                p.abort();
            }
        }
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Sync { upstreams, initial } => self.sync(upstreams, initial),
            Msg::Probe {
                key,
                generation,
                outcome,
            } => {
                let now = Instant::now();
                let Some(entry) = self.entries.get_mut(&key) else {
                    return;
                };
                if entry.generation != generation {
                    return;
                }
                if let Some(t) = entry.state.on_probe(outcome, now) {
                    log_transition(&self.feed, &key, &t);
                }
                publish(entry, now);
                self.update_panic(&key.0);
                self.answer_first_round();
            }
            Msg::FirstRound(reply) => {
                self.first_round.push(reply);
                self.answer_first_round();
            }
            Msg::Operate { key, op, reply } => {
                let now = Instant::now();
                let Some(entry) = self.entries.get_mut(&key) else {
                    let _ = reply.send(None);
                    return;
                };
                let t = match op {
                    Operation::Drain => entry.state.drain(now),
                    Operation::Enable => entry.state.enable(now),
                    Operation::Disable => entry.state.disable(),
                };
                if let Some(t) = t {
                    log_transition(&self.feed, &key, &t);
                }
                publish(entry, now);
                let status = entry.state.status();
                // A draining backend's WebSocket tunnels close spread over its drain
                // timeout, so their clients do not all reconnect at once; enabling it again
                // keeps those not closed yet.
                match op {
                    Operation::Drain if status == BackendStatus::Draining => {
                        entry
                            .backend
                            .close_tunnels_paced(entry.state.policy().drain_timeout);
                    }
                    Operation::Enable => entry.backend.cancel_tunnel_closes(),
                    _ => {}
                }
                self.update_panic(&key.0);
                let _ = reply.send(Some(status));
            }
            Msg::View { key, reply } => {
                let view = self.entries.get(&key).map(|e| HealthView {
                    status: e.state.status(),
                    last_probe: e.state.last_probe().cloned(),
                    ejections: e.state.ejections(),
                });
                let _ = reply.send(view);
            }
        }
    }

    fn answer_first_round(&mut self) {
        if self.first_round.is_empty() {
            return;
        }
        let done = self
            .entries
            .values()
            .all(|e| !e.state.policy().active_checks || e.state.last_probe().is_some());
        if done {
            for reply in self.first_round.drain(..) {
                let _ = reply.send(());
            }
        }
    }

    fn sync(&mut self, upstreams: Vec<Arc<Upstream>>, initial: bool) {
        let now = Instant::now();
        self.generation += 1;
        let mut seen: HashMap<Key, ()> = HashMap::new();
        let mut infos = HashMap::new();
        for upstream in &upstreams {
            let config = upstream.config();
            let policy = HealthPolicy::from_upstream(config);
            let mut keys = Vec::new();
            for backend in upstream.backends() {
                let key = (config.name.clone(), backend.addr());
                seen.insert(key.clone(), ());
                keys.push(key.clone());
                let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
                    state: HealthState::new(policy.clone(), now, initial),
                    backend: Arc::clone(backend),
                    prober: None,
                    health: None,
                    transport: 0,
                    generation: 0,
                });
                if let Some(t) = entry.state.set_policy(policy.clone(), now) {
                    log_transition(&self.feed, &key, &t);
                }
                // A new prober when the probe settings or the way to reach the backend (TLS,
                // HTTP/2) changed, or there was none.
                let transport = upstream.transport();
                if entry.health != config.health
                    || entry.transport != transport.id()
                    || entry.prober.is_none()
                {
                    if let Some(p) = entry.prober.take() {
                        p.abort();
                    }
                    entry.health = config.health.clone();
                    entry.transport = transport.id();
                    entry.generation = self.generation;
                    if let Some(health) = &config.health {
                        entry.prober = Some(spawn_prober(
                            key.clone(),
                            health,
                            Arc::clone(transport),
                            self.generation,
                            self.rng.next_u64(),
                            self.tx.clone(),
                        ));
                    }
                }
                entry.backend = Arc::clone(backend);
                publish(entry, now);
            }
            infos.insert(
                config.name.clone(),
                UpstreamInfo {
                    config: config.clone(),
                    keys,
                    panic: Arc::clone(upstream.panic_flag()),
                },
            );
        }
        self.entries.retain(|key, entry| {
            let keep = seen.contains_key(key);
            if !keep {
                if let Some(p) = entry.prober.take() {
                    p.abort();
                }
                // A backend leaving the config (reload, removal after a drain) takes no new
                // requests; its tunnels close paced like a drain's (those a drain already
                // scheduled keep their time).
                entry
                    .backend
                    .close_tunnels_paced(entry.state.policy().drain_timeout);
            }
            keep
        });
        self.upstreams = infos;
        let names: Vec<String> = self.upstreams.keys().cloned().collect();
        for name in names {
            self.update_panic(&name);
        }
    }

    /// A backend reached a passive-check threshold on the data plane.
    fn on_event(&mut self, event: HealthEvent) {
        let now = Instant::now();
        let Some(info) = self.upstreams.get(&event.upstream) else {
            return;
        };
        let total = info.keys.len();
        let ejected = info
            .keys
            .iter()
            .filter(|k| self.entries.get(*k).is_some_and(|e| e.state.is_ejected()))
            .count();
        let allowed = may_eject(ejected, total, info.config.outlier.max_ejection_percent);
        let threshold = match event.outcome {
            Outcome::ServerError => info.config.outlier.consecutive_5xx,
            _ => info.config.outlier.consecutive_gateway_failures,
        }
        .max(1);
        let key = (event.upstream.clone(), event.addr);
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        // The data plane counted the run of failures; replaying it makes the state machine
        // reach the same threshold and apply its own rules (cap, ejection length).
        let mut transition = None;
        for _ in 0..threshold {
            if let Some(t) = entry.state.on_response(event.outcome, now, allowed) {
                transition = Some(t);
                break;
            }
        }
        if let Some(t) = transition {
            log_transition(&self.feed, &key, &t);
            entry.backend.reset_passive();
        }
        publish(entry, now);
        self.update_panic(&key.0);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let mut changed = Vec::new();
        for (key, entry) in self.entries.iter_mut() {
            match entry.state.tick(now) {
                Some(TickEvent::Transition(t)) => {
                    log_transition(&self.feed, key, &t);
                    changed.push(key.0.clone());
                }
                Some(TickEvent::DrainExpired) => {
                    tracing::info!(upstream = %key.0, backend = %key.1, "drain timeout reached");
                }
                None => {}
            }
            publish(entry, now);
        }
        changed.dedup();
        for name in changed {
            self.update_panic(&name);
        }
    }

    fn update_panic(&mut self, upstream: &str) {
        let Some(info) = self.upstreams.get(upstream) else {
            return;
        };
        let total = info.keys.len();
        let eligible = info
            .keys
            .iter()
            .filter(|k| {
                self.entries
                    .get(*k)
                    .is_some_and(|e| e.state.status().is_eligible())
            })
            .count();
        // Backends still waiting for their first check are not failing, just unknown: panic
        // over them would send traffic to backends that were never admitted.
        let unchecked = info.keys.iter().any(|k| {
            self.entries
                .get(k)
                .is_some_and(|e| e.state.policy().active_checks && e.state.last_probe().is_none())
        });
        let panic = !unchecked && panic_mode(eligible, total, info.config.panic_threshold);
        if info.panic.swap(panic, Ordering::Relaxed) != panic {
            if panic {
                tracing::warn!(
                    upstream,
                    eligible,
                    total,
                    threshold = info.config.panic_threshold,
                    "panic mode: spreading over all backends"
                );
            } else {
                tracing::info!(upstream, eligible, total, "panic mode over");
            }
        }
    }
}

fn publish(entry: &Entry, now: Instant) {
    entry
        .backend
        .publish(entry.state.status(), entry.state.weight_factor(now));
}

fn spawn_prober(
    key: Key,
    health: &HealthConfig,
    transport: Arc<Transport>,
    generation: u64,
    seed: u64,
    tx: UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let prober = Prober::new(health);
    let interval = health.interval;
    let client = TransportProbe {
        transport,
        connect_timeout: health.timeout,
    };
    tokio::spawn(async move {
        let mut rng = Rng::new(seed);
        loop {
            let outcome = prober.check_with(key.1, &client).await;
            let msg = Msg::Probe {
                key: key.clone(),
                generation,
                outcome,
            };
            if tx.send(msg).is_err() {
                return;
            }
            tokio::time::sleep(jittered(interval, rng.next_f64())).await;
        }
    })
}
