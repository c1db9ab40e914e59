//! [`GrpcBackend`]: a real HTTP/2-only backend (hyper's HTTP/2 server, cleartext with prior
//! knowledge; put a [`crate::TlsFront`] with ALPN `h2` in front for TLS) behaving like a
//! streaming gRPC service, for upstream HTTP/2 tests.
//!
//! What it does, by path:
//!
//! - `/hold`: waits until [`GrpcBackendBuilder::hold_until`] requests are in flight at once
//!   (proof they were multiplexed, not queued), then answers 200 `held`.
//! - `/reset`: resets the stream before any response head.
//! - `/reset-after-head`: sends the head and one message, then resets the stream.
//! - anything else: a gRPC-style echo. The response head goes out at once; every complete
//!   gRPC message (5-byte prefix: flag, big-endian length) is echoed as soon as it arrives;
//!   when the request ends, trailers follow: `grpc-status: 0`, `grpc-message: echoed N
//!   messages`, and `x-seen-trailer` with the request's `x-client-trailer` trailer, if any.
//!
//! It counts connections, streams and streams in flight (overall and per connection), and
//! records every request head and the trailers requests ended with.
//!
//! The client side of a streaming test uses [`body_channel`] for a request body fed as the
//! test goes, and [`grpc_message`] to frame messages.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::{JoinHandle, JoinSet};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Longest a `/hold` request waits for the others before answering anyway (a failing test
/// should fail on its assertions, not hang).
const HOLD_LIMIT: Duration = Duration::from_secs(10);

/// Frames a gRPC message: compressed flag 0, 4-byte big-endian length, payload.
pub fn grpc_message(payload: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + payload.len());
    framed.extend_from_slice(&[0]);
    framed.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    framed.extend_from_slice(payload);
    framed.freeze()
}

/// Splits complete gRPC messages (with their prefixes) off the front of `buf`.
pub fn take_grpc_messages(buf: &mut BytesMut) -> Vec<Bytes> {
    let mut messages = Vec::new();
    while buf.len() >= 5 {
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if buf.len() < 5 + len {
            break;
        }
        messages.push(buf.split_to(5 + len).freeze());
    }
    messages
}

/// A body fed through a channel: what a streaming client sends, or a streaming server answers.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::UnboundedReceiver<Result<Frame<Bytes>, BoxError>>,
}

/// The sending end of a [`ChannelBody`]; dropping it ends the body.
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: mpsc::UnboundedSender<Result<Frame<Bytes>, BoxError>>,
}

impl BodySender {
    /// Sends a data frame; false when the body was dropped.
    pub fn data(&self, bytes: Bytes) -> bool {
        self.tx.send(Ok(Frame::data(bytes))).is_ok()
    }

    /// Sends trailers (the end of the body once this sender is dropped).
    pub fn trailers(&self, trailers: HeaderMap) -> bool {
        self.tx.send(Ok(Frame::trailers(trailers))).is_ok()
    }

    /// Makes the body fail (a reset on HTTP/2).
    pub fn fail(&self, why: &str) {
        let _ = self.tx.send(Err(why.to_string().into()));
    }
}

/// A streaming body and its sender.
pub fn body_channel() -> (BodySender, ChannelBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (BodySender { tx }, ChannelBody { rx })
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// One request head as the backend received it, and the trailers it ended with.
#[derive(Debug, Clone)]
pub struct GrpcRequest {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

#[derive(Debug, Default)]
struct Shared {
    connections: AtomicU64,
    streams: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// The most streams seen in flight on any one connection.
    max_per_connection: AtomicUsize,
    hold_until: AtomicUsize,
    /// Set once `hold_until` requests are in flight together: every held request may go.
    /// Cleared when none is left in flight.
    hold_open: AtomicBool,
    /// Woken when `hold_open` is set.
    arrived: Notify,
    requests: Mutex<VecDeque<GrpcRequest>>,
    trailers: Mutex<Vec<HeaderMap>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets up a [`GrpcBackend`]; `.await` it to run.
#[derive(Debug, Default)]
#[must_use = "a backend builder does nothing until awaited"]
pub struct GrpcBackendBuilder {
    max_concurrent_streams: Option<u32>,
    hold_until: usize,
    goaway_after: Option<u64>,
}

impl GrpcBackendBuilder {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` announced to clients (default: hyper's, 200).
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.max_concurrent_streams = Some(n);
        self
    }

    /// `/hold` requests wait until this many requests are in flight (default 1: no wait).
    pub fn hold_until(mut self, n: usize) -> Self {
        self.hold_until = n;
        self
    }

    /// Each connection says GOAWAY (gracefully: streams under way finish) once it has
    /// received this many streams.
    pub fn goaway_after(mut self, streams: u64) -> Self {
        self.goaway_after = Some(streams);
        self
    }

    pub async fn start(self) -> io::Result<GrpcBackend> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        shared
            .hold_until
            .store(self.hold_until.max(1), Ordering::SeqCst);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), self, stop_rx));
        Ok(GrpcBackend {
            addr,
            shared,
            _stop: stop_tx,
            _task: task,
        })
    }
}

impl IntoFuture for GrpcBackendBuilder {
    type Output = GrpcBackend;
    type IntoFuture = Pin<Box<dyn Future<Output = GrpcBackend> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.start().await.expect("GrpcBackend: could not start") })
    }
}

/// A running HTTP/2 backend; dropping it closes the listener and its connections.
#[derive(Debug)]
pub struct GrpcBackend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
    _task: JoinHandle<()>,
}

impl GrpcBackend {
    pub fn builder() -> GrpcBackendBuilder {
        GrpcBackendBuilder::default()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Streams (requests) received.
    pub fn streams(&self) -> u64 {
        self.shared.streams.load(Ordering::SeqCst)
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The most requests in flight at once on one connection.
    pub fn max_per_connection(&self) -> usize {
        self.shared.max_per_connection.load(Ordering::SeqCst)
    }

    /// Request heads received, oldest first.
    pub fn requests(&self) -> Vec<GrpcRequest> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    /// Trailers requests ended with, oldest first.
    pub fn request_trailers(&self) -> Vec<HeaderMap> {
        lock(&self.shared.trailers).clone()
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    options: GrpcBackendBuilder,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(serve(
                        stream,
                        Arc::clone(&shared),
                        options.max_concurrent_streams,
                        options.goaway_after,
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Per connection: streams in flight on it, and a signal to say GOAWAY.
#[derive(Debug, Default)]
struct ConnCounters {
    streams: AtomicU64,
    in_flight: AtomicUsize,
    goaway: Notify,
}

async fn serve(
    stream: TcpStream,
    shared: Arc<Shared>,
    max_concurrent_streams: Option<u32>,
    goaway_after: Option<u64>,
) {
    let _ = stream.set_nodelay(true);
    let conn_counters = Arc::new(ConnCounters::default());
    let service = {
        let conn_counters = Arc::clone(&conn_counters);
        service_fn(move |req| {
            let n = conn_counters.streams.fetch_add(1, Ordering::SeqCst) + 1;
            if goaway_after.is_some_and(|limit| n >= limit) {
                conn_counters.goaway.notify_one();
            }
            handle(req, Arc::clone(&shared), Arc::clone(&conn_counters))
        })
    };
    let mut builder = http2::Builder::new(TokioExecutor::new());
    if let Some(n) = max_concurrent_streams {
        builder.max_concurrent_streams(n);
    }
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = conn_counters.goaway.notified() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Counts a request in flight (overall and on its connection) until dropped.
struct InFlight(Arc<Shared>, Arc<ConnCounters>);

impl InFlight {
    fn new(shared: &Arc<Shared>, conn: &Arc<ConnCounters>) -> InFlight {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let on_conn = conn.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared
            .max_per_connection
            .fetch_max(on_conn, Ordering::SeqCst);
        if now >= shared.hold_until.load(Ordering::SeqCst) {
            shared.hold_open.store(true, Ordering::SeqCst);
            shared.arrived.notify_waiters();
        }
        InFlight(Arc::clone(shared), Arc::clone(conn))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The batch is over: the next `/hold` requests wait for a full batch again.
            self.0.hold_open.store(false, Ordering::SeqCst);
        }
        self.1.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrpcBackend: resetting the stream on purpose")
    }
}

impl std::error::Error for Reset {}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: Arc<ConnCounters>,
) -> Result<Response<ChannelBody>, BoxError> {
    shared.streams.fetch_add(1, Ordering::SeqCst);
    let in_flight = InFlight::new(&shared, &conn);
    let (parts, body) = req.into_parts();
    lock(&shared.requests).push_back(GrpcRequest {
        method: parts.method.clone(),
        uri: parts.uri.clone(),
        version: parts.version,
        headers: parts.headers.clone(),
    });
    let (tx, response_body) = body_channel();
    let mut response = Response::new(response_body);
    match parts.uri.path() {
        "/hold" => {
            let _ = tokio::time::timeout(HOLD_LIMIT, async {
                loop {
                    let arrived = shared.arrived.notified();
                    if shared.hold_open.load(Ordering::SeqCst) {
                        return;
                    }
                    arrived.await;
                }
            })
            .await;
            let _ = body.collect().await;
            tx.data(Bytes::from_static(b"held"));
            drop(in_flight);
            return Ok(response);
        }
        "/reset" => return Err(Box::new(Reset)),
        "/reset-after-head" => {
            tx.data(grpc_message(b"first"));
            tokio::spawn(async move {
                // Long enough for the head and first message to leave before the reset.
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.fail("reset after head");
                drop(in_flight);
            });
        }
        _ => {
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            tokio::spawn(echo(body, tx, shared, in_flight));
        }
    }
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// Echoes every complete message as it arrives, then ends with trailers.
async fn echo(mut body: Incoming, tx: BodySender, shared: Arc<Shared>, in_flight: InFlight) {
    let mut buf = BytesMut::new();
    let mut echoed = 0usize;
    let mut seen_trailer = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            tx.fail("request body failed");
            return;
        };
        match frame.into_data() {
            Ok(data) => {
                buf.extend_from_slice(data.chunk());
                for message in take_grpc_messages(&mut buf) {
                    echoed += 1;
                    if !tx.data(message) {
                        return;
                    }
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    seen_trailer = trailers.get("x-client-trailer").cloned();
                    lock(&shared.trailers).push(trailers);
                }
            }
        }
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    if let Ok(message) = HeaderValue::from_str(&format!("echoed {echoed} messages")) {
        trailers.insert("grpc-message", message);
    }
    if let Some(seen) = seen_trailer {
        trailers.insert("x-seen-trailer", seen);
    }
    tx.trailers(trailers);
    drop(in_flight);
}
