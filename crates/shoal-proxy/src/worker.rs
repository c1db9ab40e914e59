//! One worker: a thread running its own single-threaded event loop, accepting on its own
//! socket of each listener and serving those connections start to finish. Nothing on the
//! request path crosses threads, which is where a default multi-thread runtime spends its
//! time (wake-ups and work stealing).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use shoal_core::{loop_clock, Shutdown, ShutdownSignal};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;

use crate::http::connection::{serve_connection, ConnContext, HttpServer};
use crate::l4::serve_tcp;
use crate::proxy_handle::Shared;

/// (listener index in the config, listener name, the socket this worker accepts on).
pub(crate) type WorkerSockets = Vec<(usize, String, std::net::TcpListener)>;

/// How long an accept loop pauses after the process ran out of file descriptors, so it does
/// not spin while connections close and free some.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Counts a worker's open client connections, so shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct ConnTracker {
    open: AtomicUsize,
    idle: Notify,
}

/// One connection's place in its listener's `max_connections`.
struct ListenerSlot(Arc<AtomicUsize>);

impl ListenerSlot {
    fn take(open: &Arc<AtomicUsize>, max: Option<usize>) -> Option<ListenerSlot> {
        let now = open.fetch_add(1, Ordering::AcqRel);
        if max.is_some_and(|max| now >= max) {
            open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ListenerSlot(Arc::clone(open)))
    }
}

impl Drop for ListenerSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Holds one connection's place in its worker's count.
pub(crate) struct ConnGuard(Arc<ConnTracker>);

impl ConnTracker {
    fn enter(self: &Arc<Self>) -> ConnGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        ConnGuard(Arc::clone(self))
    }

    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// What the proxy tells a running worker.
pub(crate) enum WorkerMsg {
    /// Start accepting on a newly bound listener socket (a reload added the listener).
    Add(usize, String, std::net::TcpListener),
    /// Stop accepting on a listener (a reload removed it); its connections finish their
    /// current request and close.
    Remove(String),
}

pub(crate) fn run(
    id: usize,
    sockets: WorkerSockets,
    shared: Arc<Shared>,
    shutdown: ShutdownSignal,
    mut messages: UnboundedReceiver<WorkerMsg>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(worker = id, error = %e, "cannot start worker event loop");
            return;
        }
    };
    runtime.block_on(async move {
        let tracker = Arc::new(ConnTracker::default());
        let mut worker = Worker {
            id,
            shared: Arc::clone(&shared),
            tracker: Arc::clone(&tracker),
            listeners: Vec::new(),
        };
        for (index, name, socket) in sockets {
            worker.add(index, name, socket);
        }
        let mut stop = shutdown.clone();
        loop {
            tokio::select! {
                _ = stop.recv() => break,
                Some(msg) = messages.recv() => match msg {
                    WorkerMsg::Add(index, name, socket) => worker.add(index, name, socket),
                    WorkerMsg::Remove(name) => worker.remove(&name).await,
                },
            }
        }
        let names: Vec<String> = worker.listeners.iter().map(|l| l.name.clone()).collect();
        for name in names {
            worker.remove(&name).await;
        }
        // Listeners are closed now; connections were told to finish their current request.
        if tokio::time::timeout(shared.grace_period, tracker.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                worker = id,
                open = tracker.open.load(Ordering::Relaxed),
                "grace period over, closing remaining connections"
            );
        }
    });
    // Dropping the runtime cancels whatever is left.
}

/// One listener a worker accepts on, with its own stop signal (so a reload can remove it
/// alone).
struct Accepting {
    name: String,
    stop: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

struct Worker {
    id: usize,
    shared: Arc<Shared>,
    tracker: Arc<ConnTracker>,
    listeners: Vec<Accepting>,
}

impl Worker {
    fn add(&mut self, index: usize, name: String, socket: std::net::TcpListener) {
        let listener = match TcpListener::from_std(socket) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(worker = self.id, listener = %name, error = %e, "cannot register listener");
                return;
            }
        };
        let (max_header_bytes, tcp, max_connections) = self
            .shared
            .snapshot
            .load()
            .listener_at(index, &name)
            .map_or((65536, false, None), |l| {
                (
                    l.config.max_header_bytes,
                    l.config.protocol.is_l4(),
                    l.config.max_connections,
                )
            });
        let ctx = AcceptContext {
            tcp,
            max_connections,
            open: self.shared.open_connections(&name),
            worker: self.id,
            listener_index: index,
            listener_name: Arc::from(name.as_str()),
            shared: Arc::clone(&self.shared),
            server: Arc::new(HttpServer::new(max_header_bytes)),
            tracker: Arc::clone(&self.tracker),
        };
        let (stop, signal) = Shutdown::new();
        let task = tokio::spawn(accept_loop(listener, ctx, signal));
        self.listeners.push(Accepting { name, stop, task });
    }

    /// Stops accepting on `name` and waits for its accept loop to close the socket.
    async fn remove(&mut self, name: &str) {
        let Some(pos) = self.listeners.iter().position(|l| l.name == name) else {
            return;
        };
        let accepting = self.listeners.remove(pos);
        accepting.stop.trigger();
        let _ = accepting.task.await;
    }
}

struct AcceptContext {
    /// Relay bytes (L4) rather than serve HTTP.
    tcp: bool,
    /// The listener's `max_connections`, counted over every worker in `open`.
    max_connections: Option<usize>,
    open: Arc<AtomicUsize>,
    worker: usize,
    listener_index: usize,
    listener_name: Arc<str>,
    shared: Arc<Shared>,
    server: Arc<HttpServer>,
    tracker: Arc<ConnTracker>,
}

async fn accept_loop(listener: TcpListener, ctx: AcceptContext, mut shutdown: ShutdownSignal) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.recv() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(slot) = ListenerSlot::take(&ctx.open, ctx.max_connections) else {
                    // Full: closing at once tells the client to go elsewhere (or retry later)
                    // instead of queueing behind connections that may never finish.
                    tracing::debug!(listener = %ctx.listener_name, %peer, "max_connections reached, connection refused");
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let conn = ConnContext {
                    worker: ctx.worker,
                    peer,
                    peer_value: crate::http::peer_value(peer.ip()),
                    listener_index: ctx.listener_index,
                    listener_name: Arc::clone(&ctx.listener_name),
                    shared: Arc::clone(&ctx.shared),
                    secure: false,
                    tunnel: Default::default(),
                    listener_stats: None,
                };
                let guard = ctx.tracker.enter();
                let server = Arc::clone(&ctx.server);
                let shutdown = shutdown.clone();
                let tcp = ctx.tcp;
                tokio::spawn(async move {
                    if tcp {
                        serve_tcp(stream, conn, shutdown).await;
                    } else {
                        // One clock reading per poll serves the whole request path
                        // (`shoal_core::loop_clock`).
                        let mut served =
                            std::pin::pin!(serve_connection(&server, stream, conn, shutdown));
                        std::future::poll_fn(|cx| loop_clock::reading(|| served.as_mut().poll(cx)))
                            .await;
                    }
                    drop(guard);
                    drop(slot);
                });
            }
            Err(e) => {
                // EMFILE/ENFILE and friends: the listener stays open; wait for descriptors.
                tracing::warn!(listener = %ctx.listener_name, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}
