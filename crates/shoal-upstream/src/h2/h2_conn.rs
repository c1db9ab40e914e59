//! One HTTP/2 connection to a backend: the handle requests send on, the counters the pool
//! reads, and the task that drives it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::time::{Instant, Sleep};

use super::h2_error::{describe, H2Error};
use crate::backend_stream::BackendStream;
use crate::body::UpstreamBody;
use crate::clock::now_ns;
use crate::connect_error::ConnectError;
use crate::transport::Transport;

type Connection = http2::Connection<TokioIo<BackendStream>, UpstreamBody, TokioExecutor>;

/// The stream limit h2 assumes until the backend's SETTINGS arrive: one no SETTINGS frame can
/// leave on a 64-bit target (it carries a `u32`, or no limit at all: `usize::MAX`), so their
/// arrival shows.
const UNANNOUNCED: usize = usize::MAX - 1;

/// How often [`H2Conn::connect`] looks whether the backend's SETTINGS have arrived.
const SETTINGS_CHECK: Duration = Duration::from_millis(1);

/// What a connection and the requests on it share.
struct ConnState {
    /// Streams taken and not yet finished (until the response body is done or dropped).
    active: AtomicUsize,
    /// When a stream last ended ([`now_ns`]), for closing an idle connection.
    last_used: AtomicU64,
    /// The connection task has ended: no more streams.
    closed: AtomicBool,
    /// hyper's connection future, polled by the connection's task and asked by the pool for
    /// the backend's current stream limit. Read where it is rather than published by the
    /// task: the task is not woken when the backend's SETTINGS arrive (hyper processes them
    /// in a task of its own), so a published copy could be stale. Same thread, never
    /// contended. None once the task has ended.
    conn: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState")
            .field("active", &self.active)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

fn lock(conn: &Mutex<Option<Connection>>) -> std::sync::MutexGuard<'_, Option<Connection>> {
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// A shared HTTP/2 connection. Cloning it is cheap (a channel sender and an `Arc`).
#[derive(Debug, Clone)]
pub struct H2Conn {
    send: SendRequest<UpstreamBody>,
    state: Arc<ConnState>,
    /// The [`Transport`] that made it.
    transport: u64,
}

/// One stream's place on its connection, counted until dropped (the response body holds it).
#[derive(Debug)]
pub struct StreamSlot {
    state: Arc<ConnState>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.state.last_used.store(now_ns(), Ordering::Relaxed);
        self.state.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl H2Conn {
    /// Connects (TCP, TLS with ALPN h2 when configured, the HTTP/2 preface), starts the
    /// connection's task on the current runtime and waits for the backend's SETTINGS, all
    /// within `timeout`: the connection comes with the backend's stream limit known.
    pub(crate) async fn connect(
        transport: &Transport,
        addr: SocketAddr,
        timeout: Duration,
        keepalive_timeout: Duration,
    ) -> Result<H2Conn, ConnectError> {
        let started = Instant::now();
        let stream = transport.connect(addr, timeout).await?;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.initial_max_send_streams(UNANNOUNCED);
        // The preface is a write: bounded by what is left of the connect timeout.
        let left = timeout.saturating_sub(started.elapsed());
        let (send, conn) =
            match tokio::time::timeout(left, builder.handshake(TokioIo::new(stream))).await {
                Err(_) => return Err(ConnectError::Timeout(addr, timeout)),
                Ok(Err(e)) => {
                    return Err(ConnectError::Io(
                        addr,
                        std::io::Error::other(format!("HTTP/2 handshake: {}", describe(&e))),
                    ))
                }
                Ok(Ok(pair)) => pair,
            };
        let state = Arc::new(ConnState {
            active: AtomicUsize::new(0),
            last_used: AtomicU64::new(now_ns()),
            closed: AtomicBool::new(false),
            conn: Mutex::new(Some(conn)),
        });
        tokio::spawn(Driver {
            state: Arc::clone(&state),
            keepalive_timeout,
            idle: Box::pin(tokio::time::sleep(keepalive_timeout)),
        });
        let conn = H2Conn {
            send,
            state,
            transport: transport.id(),
        };
        conn.settings(addr, timeout, started + timeout).await?;
        Ok(conn)
    }

    /// Waits until h2 has applied the backend's first SETTINGS, whose limit the pool then
    /// takes streams under. Taking them under a guess instead (say 100) deadlocks when the
    /// backend's limit is lower: h2 opens a stream only when its connection task writes it,
    /// under the limit it knows then, and that task reads what has arrived before it writes.
    /// Streams written before the SETTINGS are read go out and are refused by the backend
    /// (and sent again, on another connection), but those still unwritten when they are read
    /// are held in h2 until one of the connection's streams ends: forever when those streams
    /// wait for them (a backend answering once N requests are in flight, long-lived gRPC
    /// streams), while the pool counts them as sent. The backend sends its SETTINGS first
    /// thing (RFC 9113 §3.4), so this costs about one round trip, once per connection.
    ///
    /// hyper applies them in a task of its own and tells no one: this looks every
    /// [`SETTINGS_CHECK`].
    async fn settings(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(), ConnectError> {
        loop {
            if self.is_closed() {
                return Err(ConnectError::Io(
                    addr,
                    std::io::Error::other("HTTP/2 handshake: closed before the backend's SETTINGS"),
                ));
            }
            if self.max_streams() != UNANNOUNCED {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ConnectError::Timeout(addr, timeout));
            }
            tokio::time::sleep(SETTINGS_CHECK).await;
        }
    }

    pub(crate) fn transport_id(&self) -> u64 {
        self.transport
    }

    /// No new stream may start on it: its task ended, or it stopped taking requests (GOAWAY).
    pub(crate) fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Relaxed) || self.send.is_closed()
    }

    pub(crate) fn active(&self) -> usize {
        self.state.active.load(Ordering::Relaxed)
    }

    /// The backend's current stream limit (`SETTINGS_MAX_CONCURRENT_STREAMS`; known once
    /// [`H2Conn::connect`] returns).
    pub(crate) fn max_streams(&self) -> usize {
        lock(&self.state.conn)
            .as_ref()
            .map_or(0, Connection::current_max_send_streams)
    }

    /// Takes a stream if the backend's limit leaves room.
    pub(crate) fn try_take(&self) -> Option<StreamSlot> {
        (self.active() < self.max_streams()).then(|| self.take())
    }

    /// Takes a stream regardless of the limit (hyper queues it until one ends).
    pub(crate) fn take(&self) -> StreamSlot {
        self.state.active.fetch_add(1, Ordering::Relaxed);
        StreamSlot {
            state: Arc::clone(&self.state),
        }
    }

    /// Sends a request on a stream taken from the pool (the slot travels with the response): the
    /// response head, or why there is none.
    pub async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, H2Error> {
        let mut send = self.send.clone();
        send.try_send_request(request)
            .await
            .map_err(H2Error::from_send)
    }
}

/// Drives a connection: hyper's connection future, and closing it once idle for
/// `keepalive_timeout`.
struct Driver {
    state: Arc<ConnState>,
    keepalive_timeout: Duration,
    idle: Pin<Box<Sleep>>,
}

impl Driver {
    fn close(&mut self) {
        self.state.closed.store(true, Ordering::Relaxed);
        let conn = lock(&self.state.conn).take();
        drop(conn);
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let done = match lock(&this.state.conn).as_mut() {
            Some(conn) => Pin::new(conn).poll(cx),
            None => Poll::Ready(Ok(())),
        };
        if let Poll::Ready(result) = done {
            this.close();
            if let Err(e) = result {
                tracing::debug!(error = %describe(&e), "HTTP/2 backend connection ended");
            }
            return Poll::Ready(());
        }
        loop {
            if this.idle.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let idle_for = Duration::from_nanos(
                now_ns().saturating_sub(this.state.last_used.load(Ordering::Relaxed)),
            );
            if this.state.active.load(Ordering::Relaxed) > 0 {
                // Busy: look again one full period from now.
                this.idle
                    .as_mut()
                    .reset(Instant::now() + this.keepalive_timeout);
            } else if idle_for >= this.keepalive_timeout {
                // Nobody is on it, nobody can get on it once `closed` is set (the pool and
                // this task run on the same thread): dropping the connection closes it.
                this.close();
                return Poll::Ready(());
            } else {
                this.idle
                    .as_mut()
                    .reset(Instant::now() + (this.keepalive_timeout - idle_for));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    use super::super::test_backend::TestBackend;
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);
    const KEEPALIVE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_connection_is_ready_once_the_backends_settings_have_arrived() {
        let (release, gate) = oneshot::channel();
        let backend = TestBackend::start(2, 1, Some(gate)).await;
        let transport = Transport::plain();
        let mut connecting = Box::pin(H2Conn::connect(&transport, backend.addr, WAIT, KEEPALIVE));
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut connecting)
                .await
                .is_err(),
            "not before the backend's SETTINGS"
        );
        let _ = release.send(());
        let conn = tokio::time::timeout(WAIT, connecting)
            .await
            .expect("connected")
            .expect("connected");
        assert_eq!(conn.max_streams(), 2, "the backend's limit, not a guess");
        let _slot = conn.try_take().expect("room");
        let response = conn.send(backend.get()).await.expect("response");
        assert_eq!(response.status(), 200);
    }

    #[tokio::test]
    async fn a_backend_that_sends_no_settings_fails_the_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (accepted, silent) = oneshot::channel();
        tokio::spawn(async move {
            // Accepted and kept open, never a byte.
            let stream = listener.accept().await.expect("accept");
            let _ = accepted.send(stream);
        });
        let timeout = Duration::from_millis(200);
        let result = H2Conn::connect(&Transport::plain(), addr, timeout, KEEPALIVE).await;
        assert!(
            matches!(result, Err(ConnectError::Timeout(a, t)) if a == addr && t == timeout),
            "{result:?}"
        );
        drop(silent);
    }

    #[tokio::test]
    async fn a_backend_closing_before_its_settings_fails_the_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let stream = listener.accept().await.expect("accept");
            drop(stream);
        });
        let result = H2Conn::connect(&Transport::plain(), addr, WAIT, KEEPALIVE).await;
        assert!(matches!(result, Err(ConnectError::Io(..))), "{result:?}");
    }
}
