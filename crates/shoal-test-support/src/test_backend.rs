//! [`TestBackend`]: a real HTTP backend on `127.0.0.1:0` for tests, with behaviour that can be
//! set up front and switched while it runs.
//!
//! It is a genuine hyper server (HTTP/1.1 keep-alive and HTTP/2 cleartext with prior knowledge
//! on the same port), started on the test's own tokio runtime, so what the proxy under test sees
//! is what it would see from a real backend: real sockets, real framing, real failures.
//!
//! ```ignore
//! let a = TestBackend::http().name("a").await;             // 200, body "a"
//! let b = TestBackend::http().status(500).delay(ms(50)).await;
//! b.set_mode(Mode::CloseBeforeResponse);                   // now fails every request
//! assert_eq!(a.hits(), 3);
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How many requests a backend remembers unless told otherwise.
const DEFAULT_RECORD_LIMIT: usize = 64;
/// In [`Mode::ResetAfterHead`], how long the partial answer sits on the wire before the
/// failure, so the head really leaves (HTTP/2 would otherwise discard queued frames on reset).
const RESET_PAUSE: Duration = Duration::from_millis(10);

/// Numbers default names, so two backends in one test never share a name.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// How a backend treats requests, beyond status, body and delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Answer normally.
    #[default]
    Normal,
    /// Read the whole request, wait the delay, then give up without answering: HTTP/1.1
    /// closes the connection with nothing written, HTTP/2 resets the stream.
    CloseBeforeResponse,
    /// Send the response head (with a `content-length` promising one byte more than the body),
    /// the first half of the body, then fail: HTTP/1.1 closes the connection mid-body, HTTP/2
    /// resets the stream.
    ResetAfterHead,
}

/// One request as the backend received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    /// As received: origin-form (`/path?q`) over HTTP/1.1, absolute over HTTP/2.
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of a header, if it is present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the backend answers; switchable at runtime through [`TestBackend`]'s setters.
#[derive(Debug, Clone)]
struct Behaviour {
    status: StatusCode,
    delay: Duration,
    body: Bytes,
    headers: HeaderMap,
    mode: Mode,
}

/// State shared between the handle and the server tasks.
#[derive(Debug)]
struct Shared {
    name: String,
    backend_header: HeaderValue,
    behaviour: Mutex<Behaviour>,
    hits: AtomicU64,
    connections: AtomicU64,
    in_flight: AtomicUsize,
    record_limit: usize,
    requests: Mutex<VecDeque<RecordedRequest>>,
}

/// Locks even after a panicking test thread poisoned the mutex: the data is plain values.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets up a [`TestBackend`]; `.await` it (or call [`start`](Self::start)) to run it.
#[derive(Debug)]
#[must_use = "a backend builder does nothing until awaited"]
pub struct TestBackendBuilder {
    name: Option<String>,
    status: StatusCode,
    delay: Duration,
    body: Option<Bytes>,
    headers: HeaderMap,
    mode: Mode,
    record_limit: usize,
}

impl TestBackendBuilder {
    /// The name in `x-backend` and, unless [`body`](Self::body) is set, the answer's body.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Answer status (default 200). Panics on a code outside 100..=999.
    pub fn status(mut self, status: u16) -> Self {
        self.status = StatusCode::from_u16(status).expect("TestBackend: invalid status code");
        self
    }

    /// Wait this long after reading a request, before answering (or failing).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answer body (default: the backend's name).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// An extra response header (added, so it can be given several times). Panics on an
    /// invalid name or value.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("TestBackend: header name");
        let value = HeaderValue::from_str(value).expect("TestBackend: header value");
        self.headers.append(name, value);
        self
    }

    /// Start in this mode (default [`Mode::Normal`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Remember the last `limit` requests (default 64).
    pub fn record(mut self, limit: usize) -> Self {
        self.record_limit = limit;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on the current tokio runtime.
    pub async fn start(self) -> io::Result<TestBackend> {
        let name = self
            .name
            .unwrap_or_else(|| format!("backend-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)));
        let backend_header = HeaderValue::from_str(&name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name is no header value"))?;
        let body = self.body.unwrap_or_else(|| Bytes::from(name.clone()));
        let shared = Arc::new(Shared {
            name,
            backend_header,
            behaviour: Mutex::new(Behaviour {
                status: self.status,
                delay: self.delay,
                body,
                headers: self.headers,
                mode: self.mode,
            }),
            hits: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            record_limit: self.record_limit,
            requests: Mutex::new(VecDeque::new()),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let mut backend = TestBackend {
            addr,
            shared,
            stop_tx: None,
            task: None,
        };
        backend.spawn(listener);
        Ok(backend)
    }
}

impl IntoFuture for TestBackendBuilder {
    type Output = TestBackend;
    type IntoFuture = Pin<Box<dyn Future<Output = TestBackend> + Send>>;

    /// `TestBackend::http().await`: tests want a backend, not a bind error to handle.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            self.start()
                .await
                .expect("TestBackend: could not start on 127.0.0.1:0")
        })
    }
}

/// A running fake backend. Dropping it (or [`stop`](Self::stop)) closes the listener and every
/// connection, after which its port refuses connections.
#[derive(Debug)]
pub struct TestBackend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Dropping the sender is the stop signal, so `Drop` needs no code of its own.
    stop_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestBackend {
    /// A builder; `TestBackend::http().await` is a backend answering 200 with its name.
    pub fn http() -> TestBackendBuilder {
        TestBackendBuilder {
            name: None,
            status: StatusCode::OK,
            delay: Duration::ZERO,
            body: None,
            headers: HeaderMap::new(),
            mode: Mode::Normal,
            record_limit: DEFAULT_RECORD_LIMIT,
        }
    }

    /// A loopback address with nothing listening (bound to find a free port, then released),
    /// for connect-failure tests.
    pub fn refused_addr() -> SocketAddr {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("TestBackend: bind 127.0.0.1:0");
        listener
            .local_addr()
            .expect("TestBackend: local address of a bound listener")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// `http://ADDR` followed by `path`, e.g. `backend.url("/x")`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Requests read so far (counted once head and body are in, before delay and mode apply,
    /// so failed requests count too).
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Requests being handled right now (read, not yet answered or failed).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// The last recorded requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.requests).back().cloned()
    }

    /// Status of later answers. Panics on a code outside 100..=999.
    pub fn set_status(&self, status: u16) {
        let status = StatusCode::from_u16(status).expect("TestBackend: invalid status code");
        lock(&self.shared.behaviour).status = status;
    }

    /// Delay of later requests.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.shared.behaviour).delay = delay;
    }

    /// Body of later answers.
    pub fn set_body(&self, body: impl Into<Bytes>) {
        lock(&self.shared.behaviour).body = body.into();
    }

    /// Mode of later requests (requests already past their delay are not affected).
    pub fn set_mode(&self, mode: Mode) {
        lock(&self.shared.behaviour).mode = mode;
    }

    /// Closes the listener and every open connection (in-flight requests die with them) and
    /// waits until that is done, so the port refuses connections once this returns. Counters
    /// and recorded requests stay readable. Idempotent.
    pub async fn stop(&mut self) {
        drop(self.stop_tx.take());
        if let Some(task) = self.task.take() {
            // The task ends by itself once signalled; an error here means it panicked, which
            // already failed loudly.
            let _ = task.await;
        }
    }

    /// Stops (if running) and listens again on the same address with the same state, for
    /// "backend comes back" tests. Fails if another socket took the port meanwhile.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.spawn(listener);
        Ok(())
    }

    fn spawn(&mut self, listener: TcpListener) {
        let (stop_tx, stop_rx) = oneshot::channel();
        self.stop_tx = Some(stop_tx);
        self.task = Some(tokio::spawn(accept_loop(
            listener,
            self.shared.clone(),
            stop_rx,
        )));
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // Resolves on send or when the sender is dropped: both mean stop.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                // Transient (EMFILE under a stress test): pause rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // A stopped backend is a dead process: its connections go with it.
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| handle(req, shared.clone()));
    // Errors are the point of some modes and of clients that hang up; nothing to report.
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Keeps `in_flight` right however the handler ends.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct ClosedBeforeResponse;

impl std::fmt::Display for ClosedBeforeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestBackend: closing before the response (Mode::CloseBeforeResponse)")
    }
}

impl std::error::Error for ClosedBeforeResponse {}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<TestBody>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(shared.clone());
    {
        let mut requests = lock(&shared.requests);
        if shared.record_limit > 0 {
            if requests.len() == shared.record_limit {
                requests.pop_front();
            }
            requests.push_back(RecordedRequest {
                method: parts.method,
                uri: parts.uri,
                version: parts.version,
                headers: parts.headers,
                body,
            });
        }
    }
    // After recording, so `hits() == n` implies the n-th request is in `requests()`.
    shared.hits.fetch_add(1, Ordering::SeqCst);

    let behaviour = lock(&shared.behaviour).clone();
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    // Read again: a test may switch the mode while this request waits.
    let mode = lock(&shared.behaviour).mode;
    let body = match mode {
        // A service error makes hyper drop an HTTP/1 connection unanswered, or reset an h2 stream.
        Mode::CloseBeforeResponse => return Err(Box::new(ClosedBeforeResponse)),
        Mode::Normal => TestBody::Full(Full::new(behaviour.body.clone())),
        Mode::ResetAfterHead => TestBody::Broken(Broken::new(&behaviour.body)),
    };
    let mut response = Response::new(body);
    *response.status_mut() = behaviour.status;
    let headers = response.headers_mut();
    for (name, value) in &behaviour.headers {
        headers.append(name, value.clone());
    }
    headers.insert("x-backend", shared.backend_header.clone());
    if mode == Mode::ResetAfterHead {
        // Promise more than will come, so the truncation is visible to any client.
        headers.insert(CONTENT_LENGTH, HeaderValue::from(behaviour.body.len() + 1));
    }
    Ok(response)
}

/// A normal body, or the failing one of [`Mode::ResetAfterHead`].
enum TestBody {
    Full(Full<Bytes>),
    Broken(Broken),
}

/// Yields half the body, pauses so it leaves, then errors.
struct Broken {
    partial: Option<Bytes>,
    pause: Option<Pin<Box<Sleep>>>,
    failed: bool,
}

impl Broken {
    fn new(body: &Bytes) -> Self {
        let half = body.slice(..body.len() / 2);
        Broken {
            partial: (!half.is_empty()).then_some(half),
            pause: None,
            failed: false,
        }
    }
}

#[derive(Debug)]
struct ResetAfterHead;

impl std::fmt::Display for ResetAfterHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestBackend: failing mid-body (Mode::ResetAfterHead)")
    }
}

impl std::error::Error for ResetAfterHead {}

impl Body for TestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            TestBody::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never: Infallible| match never {}),
            TestBody::Broken(broken) => {
                if let Some(partial) = broken.partial.take() {
                    return Poll::Ready(Some(Ok(Frame::data(partial))));
                }
                if broken.failed {
                    return Poll::Ready(None);
                }
                let pause = broken
                    .pause
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_PAUSE)));
                std::task::ready!(pause.as_mut().poll(cx));
                broken.failed = true;
                Poll::Ready(Some(Err(Box::new(ResetAfterHead))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            TestBody::Full(full) => full.is_end_stream(),
            TestBody::Broken(broken) => broken.failed,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            TestBody::Full(full) => full.size_hint(),
            // Unknown: the content-length header set by `handle` is what frames the answer.
            TestBody::Broken(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
