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
    /// Connects (TCP, TLS with ALPN h2 when configured, the HTTP/2 preface) and starts the
    /// connection's task on the current runtime. `max_streams_hint`: the stream limit to
    /// assume until the backend's SETTINGS arrive (what it announced last time).
    pub(crate) async fn connect(
        transport: &Transport,
        addr: SocketAddr,
        timeout: Duration,
        keepalive_timeout: Duration,
        max_streams_hint: usize,
    ) -> Result<H2Conn, ConnectError> {
        let started = Instant::now();
        let stream = transport.connect(addr, timeout).await?;
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder.initial_max_send_streams(max_streams_hint);
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
        Ok(H2Conn {
            send,
            state,
            transport: transport.id(),
        })
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

    /// The backend's current stream limit (`SETTINGS_MAX_CONCURRENT_STREAMS`; until its
    /// SETTINGS arrive, the hint the connection was made with).
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
