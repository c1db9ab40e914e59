//! Starting and stopping the data plane.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;

use crate::access_log::AccessLog;
use shoal_config::Config;
use shoal_core::Shutdown;
use shoal_upstream::{HealthSupervisor, UpstreamRegistry};

use crate::listener::bind_reuseport;
use crate::snapshot::Snapshot;
use crate::tls::{cert_watch, TlsError, TlsListener, TlsStats};
use crate::worker::{self, WorkerMsg, WorkerSockets};

/// Why the data plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("listeners.{listener}: cannot bind {addr}: {source}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start thread: {0}")]
    Thread(std::io::Error),
    /// An https listener's certificate, key or CA file cannot be used.
    #[error("listeners.{listener}.tls.{source}")]
    Tls { listener: String, source: TlsError },
    /// The access log's file cannot be opened.
    #[error("access_log: cannot open {path}: {source}")]
    AccessLog {
        path: String,
        source: std::io::Error,
    },
    /// A file a filter or sticky upstream names does not load (see `shoal_gateway::check`).
    #[error("{0}")]
    Filters(shoal_config::ConfigErrors),
}

/// Added to twice the longest probe timeout when waiting for the first checks at start.
const FIRST_CHECK_SLACK: std::time::Duration = std::time::Duration::from_millis(100);

/// State every worker reads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub registry: UpstreamRegistry,
    /// Filter state that outlives a snapshot (rate-limit tables, the sticky key).
    pub gateway: shoal_gateway::Gateway,
    pub grace_period: std::time::Duration,
    /// Open connections per listener name, over all workers (for `max_connections`).
    pub open:
        std::sync::Mutex<std::collections::HashMap<String, Arc<std::sync::atomic::AtomicUsize>>>,
    /// `[access_log]`, when configured: one atomic load per request when it is not.
    pub access_log: arc_swap::ArcSwapOption<AccessLog>,
}

impl Shared {
    /// The shared count of open connections on listener `name`.
    pub(crate) fn open_connections(&self, name: &str) -> Arc<std::sync::atomic::AtomicUsize> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(open.entry(name.to_string()).or_default())
    }
}

/// A running data plane: its bound addresses, and the way to reload or stop it.
pub struct ProxyHandle {
    /// Each listener's name, configured bind and bound address, in config order.
    listeners: std::sync::Mutex<Vec<BoundListener>>,
    workers: Vec<tokio::sync::mpsc::UnboundedSender<WorkerMsg>>,
    shared: Arc<Shared>,
    health: HealthSupervisor,
    shutdown: Shutdown,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug, Clone)]
struct BoundListener {
    name: String,
    bind: SocketAddr,
    local: SocketAddr,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("listeners", &self.listener_addrs())
            .finish_non_exhaustive()
    }
}

/// Binds `count` sockets for a listener.
fn bind_listener(
    name: &str,
    bind: SocketAddr,
    count: usize,
) -> Result<(SocketAddr, Vec<std::net::TcpListener>), StartError> {
    let bound = bind_reuseport(bind, count).map_err(|source| StartError::Bind {
        listener: name.to_string(),
        addr: bind,
        source,
    })?;
    let local = bound
        .first()
        .and_then(|s| s.local_addr().ok())
        .unwrap_or(bind);
    Ok((local, bound))
}

/// Every https listener's TLS side, by listener index. A listener whose `tls` table is
/// unchanged since `previous` keeps its `TlsListener` (and its TLS session cache) and reloads
/// the files that changed on disk; others load theirs afresh, keeping the counters of the
/// listener of the same name.
fn load_tls(
    config: &Config,
    previous: Option<&Snapshot>,
) -> Result<Vec<Option<Arc<TlsListener>>>, StartError> {
    config
        .listeners
        .iter()
        .map(|listener| {
            let Some(files) = &listener.tls else {
                return Ok(None);
            };
            let failed = |source| StartError::Tls {
                listener: listener.name.clone(),
                source,
            };
            let current = previous
                .and_then(|s| s.listener(&listener.name))
                .and_then(|l| l.tls.as_ref());
            if let Some(current) = current.filter(|t| t.files() == files) {
                if let Some(Err(e)) = current.reload_if_changed() {
                    return Err(failed(e));
                }
                return Ok(Some(Arc::clone(current)));
            }
            let stats =
                current.map_or_else(|| Arc::new(TlsStats::default()), |t| Arc::clone(t.stats()));
            TlsListener::load(files, stats)
                .map(|t| Some(Arc::new(t)))
                .map_err(failed)
        })
        .collect()
}

fn attach_tls(snapshot: &mut Snapshot, tls: Vec<Option<Arc<TlsListener>>>) {
    for (listener, tls) in snapshot.listeners.iter_mut().zip(tls) {
        listener.tls = tls;
    }
}

/// The access log `config` asks for: `current` when its settings did not change (a reload
/// keeps the writer and its file), a new one when they did, none without `[access_log]`.
fn start_access_log(
    config: &Config,
    current: Option<Arc<AccessLog>>,
) -> Result<Option<Arc<AccessLog>>, StartError> {
    let Some(wanted) = &config.access_log else {
        return Ok(None);
    };
    if let Some(current) = current.filter(|c| c.config() == wanted) {
        return Ok(Some(current));
    }
    AccessLog::start(wanted)
        .map(|log| Some(Arc::new(log)))
        .map_err(|source| StartError::AccessLog {
            path: match &wanted.target {
                shoal_config::AccessLogTarget::Stdout => "stdout".to_string(),
                shoal_config::AccessLogTarget::File(p) => p.display().to_string(),
            },
            source,
        })
}

impl ProxyHandle {
    /// Reopens the access log's file (after a rotation renamed it): SIGUSR1.
    pub fn reopen_access_log(&self) {
        if let Some(log) = self.shared.access_log.load_full() {
            log.reopen();
        }
    }

    /// The running access log, if any (for tests and metrics).
    pub fn access_log(&self) -> Option<Arc<AccessLog>> {
        self.shared.access_log.load_full()
    }

    /// Binds every listener (so a busy port fails here, before anything serves), then starts
    /// `config.server.workers` worker threads.
    pub fn start(config: &Config) -> Result<ProxyHandle, StartError> {
        let workers = config.server.workers.max(1);
        let (health, supervisor, events) = HealthSupervisor::new();
        let registry = UpstreamRegistry::new(workers, Some(events));
        let tls = load_tls(config, None)?;
        let gateway = shoal_gateway::Gateway::new();
        let filters = gateway.compile(config).map_err(StartError::Filters)?;
        let mut snapshot = Snapshot::build(config, &registry, true, filters);
        attach_tls(&mut snapshot, tls);
        let access_log = start_access_log(config, None)?;
        health.sync(snapshot.upstreams.clone(), true);

        let mut bound_listeners = Vec::new();
        // sockets[w] = the sockets worker w accepts on, one per listener.
        let mut sockets: Vec<WorkerSockets> = (0..workers).map(|_| Vec::new()).collect();
        for (index, listener) in config.listeners.iter().enumerate() {
            let (local, bound) = bind_listener(&listener.name, listener.bind, workers)?;
            bound_listeners.push(BoundListener {
                name: listener.name.clone(),
                bind: listener.bind,
                local,
            });
            for (w, socket) in bound.into_iter().enumerate() {
                sockets[w].push((index, listener.name.clone(), socket));
            }
        }

        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            registry,
            gateway,
            grace_period: config.server.grace_period,
            open: std::sync::Mutex::new(std::collections::HashMap::new()),
            access_log: arc_swap::ArcSwapOption::new(access_log),
        });
        let shutdown = Shutdown::new().0;
        let mut threads = Vec::with_capacity(workers + 1);
        // The control thread: health checks and the other background jobs, off the workers'
        // event loops.
        let signal = shutdown.signal();
        let (watch_shared, watch_signal) = (Arc::clone(&shared), shutdown.signal());
        let control = std::thread::Builder::new()
            .name("shoal-control".to_string())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(async move {
                        tokio::join!(
                            supervisor.run(signal),
                            cert_watch::run(watch_shared, watch_signal)
                        );
                    }),
                    Err(e) => tracing::error!(error = %e, "cannot start the control event loop"),
                }
            })
            .map_err(StartError::Thread)?;
        threads.push(control);
        // Traffic starts with known backend states: each worker waits for the first health
        // checks before it accepts (connections wait in the listen queue meanwhile, they are
        // not refused), bounded by the probe timeouts. The caller is not blocked.
        let first_checks = config
            .upstreams
            .iter()
            .filter_map(|u| u.health.as_ref().map(|h| h.timeout))
            .max()
            .map(|timeout| {
                (
                    health.clone(),
                    timeout.saturating_mul(2) + FIRST_CHECK_SLACK,
                )
            });
        let mut senders = Vec::with_capacity(workers);
        for (id, sockets) in sockets.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let signal = shutdown.signal();
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            senders.push(tx);
            let first_checks = first_checks.clone();
            let thread = std::thread::Builder::new()
                .name(format!("shoal-worker-{id}"))
                .spawn(move || {
                    if let Some((health, limit)) = first_checks {
                        health.wait_first_round_blocking(limit);
                    }
                    worker::run(id, sockets, shared, signal, rx)
                })
                .map_err(StartError::Thread)?;
            threads.push(thread);
        }
        let names: Vec<(String, SocketAddr)> = bound_listeners
            .iter()
            .map(|l| (l.name.clone(), l.local))
            .collect();
        tracing::info!(workers, listeners = ?names, "proxy started");
        Ok(ProxyHandle {
            listeners: std::sync::Mutex::new(bound_listeners),
            workers: senders,
            shared,
            health,
            shutdown,
            threads: std::sync::Mutex::new(threads),
        })
    }

    fn bound(&self) -> std::sync::MutexGuard<'_, Vec<BoundListener>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The address listener `name` is bound to (its real port when the config said 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.bound()
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.local)
    }

    /// Every listener with its bound address, in config order.
    pub fn listener_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.bound()
            .iter()
            .map(|l| (l.name.clone(), l.local))
            .collect()
    }

    /// The snapshot serving now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// Swaps in a new config. Requests under way finish with the snapshot they started
    /// with; backends present in both keep their state. New listeners are bound first (a
    /// bind failure refuses the whole reload, and the old config keeps serving); removed
    /// listeners stop accepting, and their connections finish their current request.
    /// A listener whose `bind` changed is removed and added again. https listeners reload
    /// certificate files that changed on disk (all of them when their `tls` table changed);
    /// files that cannot be used refuse the reload too. Connections already past their
    /// handshake keep the certificate they got.
    pub fn reload(&self, config: &Config) -> Result<(), StartError> {
        let mut bound = self.bound();
        // Filters first: a key file that does not load refuses the reload before any
        // listener changes.
        let filters = self
            .shared
            .gateway
            .compile(config)
            .map_err(StartError::Filters)?;
        let keep =
            |name: &str, bind: SocketAddr| bound.iter().any(|l| l.name == name && l.bind == bind);
        let mut added = Vec::new();
        for (index, listener) in config.listeners.iter().enumerate() {
            if !keep(&listener.name, listener.bind) {
                let (local, sockets) =
                    bind_listener(&listener.name, listener.bind, self.workers.len())?;
                added.push((index, listener, local, sockets));
            }
        }
        let removed: Vec<String> = bound
            .iter()
            .filter(|l| {
                !config
                    .listeners
                    .iter()
                    .any(|c| c.name == l.name && c.bind == l.bind)
            })
            .map(|l| l.name.clone())
            .collect();

        // Certificates are read before anything changes: files that cannot be used refuse
        // the reload, like a listener that cannot bind, and the old config keeps serving.
        let tls = load_tls(config, Some(&self.shared.snapshot.load()))?;
        let mut snapshot = Snapshot::build(config, &self.shared.registry, false, filters);
        attach_tls(&mut snapshot, tls);
        snapshot.inherit_stats(&self.shared.snapshot.load());
        let access_log = start_access_log(config, self.shared.access_log.load_full())?;
        let snapshot = Arc::new(snapshot);
        self.health.sync(snapshot.upstreams.clone(), false);
        self.shared.snapshot.store(snapshot);
        self.shared.access_log.store(access_log);
        let keep: Vec<_> = config.upstreams.iter().collect();
        self.shared.registry.retain(&keep);

        for name in &removed {
            for worker in &self.workers {
                let _ = worker.send(WorkerMsg::Remove(name.clone()));
            }
            tracing::info!(listener = %name, "listener removed: draining its connections");
        }
        bound.retain(|l| !removed.contains(&l.name));
        for (index, listener, local, sockets) in added {
            for (worker, socket) in self.workers.iter().zip(sockets) {
                let _ = worker.send(WorkerMsg::Add(index, listener.name.clone(), socket));
            }
            tracing::info!(listener = %listener.name, addr = %local, "listener added");
            bound.push(BoundListener {
                name: listener.name.clone(),
                bind: listener.bind,
                local,
            });
        }
        // Keep config order for listings.
        bound.sort_by_key(|l| config.listeners.iter().position(|c| c.name == l.name));
        Ok(())
    }

    /// The health supervisor (operator commands, health details).
    pub fn health(&self) -> &HealthSupervisor {
        &self.health
    }

    /// Asks the workers to stop: they stop accepting at once, let in-flight requests finish
    /// for up to the grace period, then exit. Returns immediately; see [`ProxyHandle::join`].
    pub fn shutdown(&self) {
        self.close_tunnels_paced();
        self.shutdown.trigger();
    }

    /// Shutdown's drain of the WebSocket tunnels: each backend's open tunnels close spread
    /// over the grace period (not all at once: their clients would all reconnect, to another
    /// shoal, in the same instant), ending early enough for the last one's close handshake
    /// to finish within it. Tunnels that open meanwhile close at once.
    fn close_tunnels_paced(&self) {
        let grace = self.shared.grace_period;
        let window = grace
            .saturating_sub(crate::http::TUNNEL_CLOSE_BOUND)
            .max(grace / 2);
        let snapshot = self.shared.snapshot.load();
        for upstream in &snapshot.upstreams {
            for backend in upstream.backends() {
                backend.close_tunnels_paced(window);
            }
        }
    }

    fn take_threads(&self) -> Vec<JoinHandle<()>> {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *threads)
    }

    /// Waits (blocking the calling thread) for every worker to exit.
    pub fn join(&self) {
        for thread in self.take_threads() {
            let _ = thread.join();
        }
    }

    /// Shuts down and waits without blocking an async caller's thread.
    pub async fn stop(&self) {
        self.shutdown();
        let threads = self.take_threads();
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }

    /// Open client connections per listener name, over all workers, by name (listeners
    /// removed by a reload stay while they have connections; `/metrics`).
    pub fn connection_counts(&self) -> Vec<(String, usize)> {
        let open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts: Vec<(String, usize)> = open
            .iter()
            .map(|(name, count)| {
                (
                    name.clone(),
                    count.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect();
        counts.sort();
        counts
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        // A handle dropped without `join` must not leave workers serving forever.
        self.shutdown();
    }
}
