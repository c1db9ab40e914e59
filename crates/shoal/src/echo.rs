//! `shoal echo`: a small, real HTTP backend for demos, benchmarks and tests.
//!
//! It speaks HTTP/1.1 (keep-alive) and HTTP/2 cleartext with prior knowledge on one port, and
//! answers every request with a JSON description of what it received:
//!
//! ```json
//! {"backend": "a", "method": "GET", "path": "/x", "query": "delay=5ms", "version": "HTTP/1.1",
//!  "headers": {"host": "127.0.0.1:8081", "accept": ["a/b", "c/d"]},
//!  "body_bytes": 0, "client": "127.0.0.1:51234"}
//! ```
//!
//! A header sent once is a string, a header sent several times an array; `query` is `""` when
//! the request had none. Over HTTP/2 the host travels as `:authority`, not as a header, so
//! `headers` has no `host` there. Every response, errors included, carries `x-backend: NAME`.
//!
//! # Misbehaviour on request
//!
//! Query parameters make a single request misbehave; they combine, and unknown parameters are
//! ignored (the last value wins when one is repeated):
//!
//! - `status=503`: answer with this status (200..=599); the JSON body is still sent.
//! - `delay=200ms`: wait this long before answering (at most 60s).
//! - `bytes=100000`: answer with this many filler bytes instead of the JSON, streamed in
//!   16 KiB chunks as `application/octet-stream` (at most 1 GiB).
//! - `cpu=2ms`: busy-spin one CPU this long before answering (at most 10s), so autoscaling
//!   tests can create real load. The spin runs on tokio's blocking pool, so health checks and
//!   other requests are still answered meanwhile.
//!
//! Durations use the config syntax (`shoal_core::parse_duration`). The request body is always
//! read to the end and counted first; then CPU, then delay, then the answer. An invalid value or
//! one above its bound is answered `400` with a plain-text message, before anything else happens.
//!
//! # Health
//!
//! - `GET /health/live` answers `200 ok`.
//! - `GET /health/ready` answers `200 ok` until told otherwise: `POST /health/ready?status=503`
//!   makes it answer `503 not ready` from then on (`?status=200` restores it). This is how the
//!   health-check tests flip a backend's readiness without restarting it.
//!
//! # Shutdown
//!
//! [`EchoServer::serve`] runs until its [`ShutdownSignal`] fires, then stops accepting, lets
//! in-flight requests finish (idle keep-alive connections close at once, HTTP/2 connections get
//! a GOAWAY) and returns. Draining is capped at [`DRAIN_LIMIT`] so a slow reader of a 1 GiB
//! answer cannot hold the process forever; dropping the `serve` future stops everything at once.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Map, Value};
use shoal_core::{parse_duration, ShutdownSignal};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Longest `?delay=` accepted.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Largest `?bytes=` accepted (1 GiB).
pub const MAX_BYTES: u64 = 1 << 30;
/// Longest `?cpu=` accepted.
pub const MAX_CPU: Duration = Duration::from_secs(10);
/// How long in-flight requests may run on after shutdown: a bit more than the longest delay, so
/// a delayed request still completes, but bounded.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(75);

/// Size of one filler chunk for `?bytes=`; served from a static buffer, so no allocation.
const CHUNK: usize = 16 * 1024;
static FILLER: [u8; CHUNK] = [b'.'; CHUNK];

/// Pause after a failed `accept` (for example EMFILE) so a persistent error does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What `shoal echo` is told on the command line.
#[derive(Debug, Clone)]
pub struct EchoOptions {
    /// Where to listen; port 0 picks a free port (see [`EchoServer::local_addr`]).
    pub listen: SocketAddr,
    /// Reported as `backend` in every answer and in the `x-backend` header.
    pub name: String,
}

/// A bound echo server, not yet serving.
#[derive(Debug)]
pub struct EchoServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: Arc<EchoState>,
}

/// What every connection shares.
#[derive(Debug)]
struct EchoState {
    name: String,
    backend_header: HeaderValue,
    /// What `GET /health/ready` answers, switched by `POST /health/ready?status=`.
    ready_status: AtomicU16,
    /// Requests being handled right now; lets tests know a request has really arrived.
    in_flight: AtomicUsize,
}

impl EchoServer {
    /// Binds the listening socket now, so the caller knows the port (and a bind error) before
    /// serving. Fails with `InvalidInput` when the name cannot be a header value.
    pub async fn bind(opts: EchoOptions) -> io::Result<EchoServer> {
        let backend_header = HeaderValue::from_str(&opts.name).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("echo name {:?} cannot be sent as a header value", opts.name),
            )
        })?;
        let listener = TcpListener::bind(opts.listen).await?;
        let local_addr = listener.local_addr()?;
        Ok(EchoServer {
            listener,
            local_addr,
            state: Arc::new(EchoState {
                name: opts.name,
                backend_header,
                ready_status: AtomicU16::new(StatusCode::OK.as_u16()),
                in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` fires, then drains in-flight requests (see the module docs).
    pub async fn serve(self, mut shutdown: ShutdownSignal) -> io::Result<()> {
        let EchoServer {
            listener, state, ..
        } = self;
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.recv() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        connections.spawn(serve_connection(
                            stream,
                            peer,
                            state.clone(),
                            shutdown.clone(),
                        ));
                    }
                    Err(error) => {
                        // Accept errors are per connection or transient (EMFILE); keep serving.
                        tracing::warn!(%error, "echo: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                // Reap finished connections so the set does not grow with every client.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        // Refuse new connections while the old ones drain.
        drop(listener);
        let drained = tokio::time::timeout(DRAIN_LIMIT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                "echo: drain limit reached, closing connections"
            );
            connections.shutdown().await;
        }
        Ok(())
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<EchoState>,
    mut shutdown: ShutdownSignal,
) {
    // Small answers must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { handle(req, peer, &state).await }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            // Clients resetting or vanishing is normal for a test backend.
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "echo: connection ended with an error");
            }
            return;
        }
        _ = shutdown.recv() => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(error) = conn.await {
        tracing::debug!(%peer, %error, "echo: connection ended with an error while draining");
    }
}

/// Decrements the in-flight count however the handler ends (including cancellation).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One request. An `Err` (the client's body failed mid-way) makes hyper drop the connection,
/// which is all there is left to do.
async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    state: &EchoState,
) -> Result<Response<EchoBody>, hyper::Error> {
    let _in_flight = InFlight::enter(&state.in_flight);
    match req.uri().path() {
        "/health/live" => return Ok(state.text(StatusCode::OK, "ok\n")),
        "/health/ready" => return Ok(state.readiness(&req)),
        _ => {}
    }
    let params = match Params::parse(req.uri().query()) {
        Ok(params) => params,
        Err(message) => return Ok(state.text(StatusCode::BAD_REQUEST, &(message + "\n"))),
    };
    let (parts, body) = req.into_parts();
    let body_bytes = count_body(body).await?;
    if let Some(cpu) = params.cpu {
        spin(cpu).await;
    }
    if let Some(delay) = params.delay {
        tokio::time::sleep(delay).await;
    }
    let status = params.status.unwrap_or(StatusCode::OK);
    if let Some(bytes) = params.bytes {
        return Ok(state.response(
            status,
            "application/octet-stream",
            EchoBody::Filler { remaining: bytes },
        ));
    }
    let answer = json!({
        "backend": state.name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "version": format!("{:?}", parts.version),
        "headers": headers_json(&parts.headers),
        "body_bytes": body_bytes,
        "client": peer.to_string(),
    });
    let mut body = answer.to_string();
    body.push('\n');
    Ok(state.response(
        status,
        "application/json",
        EchoBody::Full(Full::new(Bytes::from(body))),
    ))
}

impl EchoState {
    fn response(
        &self,
        status: StatusCode,
        content_type: &'static str,
        body: EchoBody,
    ) -> Response<EchoBody> {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert("x-backend", self.backend_header.clone());
        response
    }

    fn text(&self, status: StatusCode, text: &str) -> Response<EchoBody> {
        let body = EchoBody::Full(Full::new(Bytes::copy_from_slice(text.as_bytes())));
        self.response(status, "text/plain; charset=utf-8", body)
    }

    /// `/health/ready`: `POST ?status=N` switches it, anything else reads it.
    fn readiness<B>(&self, req: &Request<B>) -> Response<EchoBody> {
        if req.method() != Method::POST {
            let code = self.ready_status.load(Ordering::SeqCst);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            let text = if status == StatusCode::OK {
                "ok\n"
            } else {
                "not ready\n"
            };
            return self.text(status, text);
        }
        match Params::parse(req.uri().query()) {
            Ok(Params {
                status: Some(status),
                ..
            }) => {
                self.ready_status.store(status.as_u16(), Ordering::SeqCst);
                self.text(
                    StatusCode::OK,
                    &format!("/health/ready now answers {}\n", status.as_u16()),
                )
            }
            Ok(_) => self.text(
                StatusCode::BAD_REQUEST,
                "POST /health/ready needs ?status=CODE\n",
            ),
            Err(message) => self.text(StatusCode::BAD_REQUEST, &(message + "\n")),
        }
    }
}

/// The misbehaviour asked for by one request's query string.
#[derive(Debug, Default, PartialEq)]
struct Params {
    status: Option<StatusCode>,
    delay: Option<Duration>,
    bytes: Option<u64>,
    cpu: Option<Duration>,
}

impl Params {
    /// Parses the query; the error is the message for the 400 answer.
    fn parse(query: Option<&str>) -> Result<Params, String> {
        let mut params = Params::default();
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "status" => {
                    let status = value
                        .parse::<u16>()
                        .ok()
                        .filter(|code| (200..=599).contains(code))
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .ok_or_else(|| {
                            format!("invalid status {value:?}: expected a number from 200 to 599")
                        })?;
                    params.status = Some(status);
                }
                "delay" => params.delay = Some(bounded_duration("delay", value, MAX_DELAY)?),
                "cpu" => params.cpu = Some(bounded_duration("cpu", value, MAX_CPU)?),
                "bytes" => {
                    let bytes = value.parse::<u64>().map_err(|_| {
                        format!("invalid bytes {value:?}: expected a whole number of bytes")
                    })?;
                    if bytes > MAX_BYTES {
                        return Err(format!("bytes {bytes} is above the limit of {MAX_BYTES}"));
                    }
                    params.bytes = Some(bytes);
                }
                // Other parameters (cache busters, the caller's own) are none of our business.
                _ => {}
            }
        }
        Ok(params)
    }
}

fn bounded_duration(name: &str, value: &str, max: Duration) -> Result<Duration, String> {
    let duration = parse_duration(value)
        .map_err(|_| format!("invalid {name} {value:?}: expected a duration like 200ms or 2s"))?;
    if duration > max {
        return Err(format!("{name} {value} is above the limit of {max:?}"));
    }
    Ok(duration)
}

/// Reads the body to the end without keeping it, so large uploads cost no memory.
async fn count_body(mut body: Incoming) -> Result<u64, hyper::Error> {
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            total += data.len() as u64;
        }
    }
    Ok(total)
}

/// Burns one CPU for `duration`. On the blocking pool, so the runtime's workers keep serving
/// other requests (health checks among them) while load is being generated.
async fn spin(duration: Duration) {
    let _ = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        while start.elapsed() < duration {
            std::hint::spin_loop();
        }
    })
    .await;
}

/// Header map as JSON: a string per header, an array when it was sent more than once.
fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for name in headers.keys() {
        let mut values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.remove(0)
        } else {
            Value::Array(values)
        };
        map.insert(name.as_str().to_string(), value);
    }
    Value::Object(map)
}

/// Either a small complete body or `?bytes=` filler generated on demand (never boxed: the echo
/// server also stands in as the backend for benchmarks).
enum EchoBody {
    Full(Full<Bytes>),
    Filler { remaining: u64 },
}

impl Body for EchoBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            EchoBody::Full(full) => Pin::new(full).poll_frame(cx),
            EchoBody::Filler { remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                // Bounded by CHUNK, so the cast cannot truncate.
                let len = (*remaining).min(CHUNK as u64) as usize;
                *remaining -= len as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..len])))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            EchoBody::Full(full) => full.is_end_stream(),
            EchoBody::Filler { remaining } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            EchoBody::Full(full) => full.size_hint(),
            EchoBody::Filler { remaining } => SizeHint::with_exact(*remaining),
        }
    }
}

#[cfg(test)]
mod tests;
