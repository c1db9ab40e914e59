//! Starting and stopping the data plane.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use shoal_config::Config;
use shoal_core::Shutdown;
use shoal_upstream::{HealthSupervisor, UpstreamRegistry};

use crate::listener::bind_reuseport;
use crate::snapshot::Snapshot;
use crate::worker::{self, WorkerSockets};

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
}

/// State every worker reads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub snapshot: ArcSwap<Snapshot>,
    pub registry: UpstreamRegistry,
    pub grace_period: std::time::Duration,
}

/// A running data plane: its bound addresses, and the way to reload or stop it.
#[derive(Debug)]
pub struct ProxyHandle {
    addrs: Vec<(String, SocketAddr)>,
    shared: Arc<Shared>,
    health: HealthSupervisor,
    shutdown: Shutdown,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl ProxyHandle {
    /// Binds every listener (so a busy port fails here, before anything serves), then starts
    /// `config.server.workers` worker threads.
    pub fn start(config: &Config) -> Result<ProxyHandle, StartError> {
        let workers = config.server.workers.max(1);
        let (health, supervisor, events) = HealthSupervisor::new();
        let registry = UpstreamRegistry::new(workers, Some(events));
        let snapshot = Snapshot::build(config, &registry, true);
        health.sync(snapshot.upstreams.clone(), true);

        let mut addrs = Vec::new();
        // sockets[w] = the sockets worker w accepts on, one per listener.
        let mut sockets: Vec<WorkerSockets> = (0..workers).map(|_| Vec::new()).collect();
        for (index, listener) in config.listeners.iter().enumerate() {
            let bound =
                bind_reuseport(listener.bind, workers).map_err(|source| StartError::Bind {
                    listener: listener.name.clone(),
                    addr: listener.bind,
                    source,
                })?;
            let local = bound
                .first()
                .and_then(|s| s.local_addr().ok())
                .unwrap_or(listener.bind);
            addrs.push((listener.name.clone(), local));
            for (w, socket) in bound.into_iter().enumerate() {
                sockets[w].push((index, listener.name.clone(), socket));
            }
        }

        let shared = Arc::new(Shared {
            snapshot: ArcSwap::from_pointee(snapshot),
            registry,
            grace_period: config.server.grace_period,
        });
        let shutdown = Shutdown::new().0;
        let mut threads = Vec::with_capacity(workers + 1);
        // The control thread: health checks and the other background jobs, off the workers'
        // event loops.
        let signal = shutdown.signal();
        let control = std::thread::Builder::new()
            .name("shoal-control".to_string())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(supervisor.run(signal)),
                    Err(e) => tracing::error!(error = %e, "cannot start the control event loop"),
                }
            })
            .map_err(StartError::Thread)?;
        threads.push(control);
        for (id, sockets) in sockets.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let signal = shutdown.signal();
            let thread = std::thread::Builder::new()
                .name(format!("shoal-worker-{id}"))
                .spawn(move || worker::run(id, sockets, shared, signal))
                .map_err(StartError::Thread)?;
            threads.push(thread);
        }
        tracing::info!(workers, listeners = ?addrs, "proxy started");
        Ok(ProxyHandle {
            addrs,
            shared,
            health,
            shutdown,
            threads: std::sync::Mutex::new(threads),
        })
    }

    /// The address listener `name` is bound to (its real port when the config said 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// Every listener with its bound address, in config order.
    pub fn listener_addrs(&self) -> &[(String, SocketAddr)] {
        &self.addrs
    }

    /// The snapshot serving now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// Swaps in a new config's routes and upstreams. Requests under way finish with the
    /// snapshot they started with; backends present in both keep their state. Listeners are
    /// bound at start and are not changed by a reload.
    pub fn reload(&self, config: &Config) {
        let snapshot = Arc::new(Snapshot::build(config, &self.shared.registry, false));
        self.health.sync(snapshot.upstreams.clone(), false);
        self.shared.snapshot.store(snapshot);
        let keep: Vec<_> = config.upstreams.iter().collect();
        self.shared.registry.retain(&keep);
    }

    /// The health supervisor (operator commands, health details).
    pub fn health(&self) -> &HealthSupervisor {
        &self.health
    }

    /// Asks the workers to stop: they stop accepting at once, let in-flight requests finish
    /// for up to the grace period, then exit. Returns immediately; see [`ProxyHandle::join`].
    pub fn shutdown(&self) {
        self.shutdown.trigger();
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
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        // A handle dropped without `join` must not leave workers serving forever.
        self.shutdown.trigger();
    }
}
