//! [`TestClient`]: a real HTTP client for tests (HTTP/1.1 keep-alive, or HTTP/2 cleartext with
//! prior knowledge), plus [`TestClient::raw`] for hostile bytes that no well-behaved client
//! would send.
//!
//! Each request is bounded by a timeout, so a proxy that hangs fails the test instead of
//! hanging it. Bodies are read whole and returned as bytes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Default bound on one request, connect to last body byte.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on [`TestClient::raw`]; raw exchanges expect the peer to close quickly.
const RAW_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    H2c,
}

/// A connection the client can send on.
enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::Http1(s) => s.is_closed(),
            Sender::Http2(s) => s.is_closed(),
        }
    }
}

/// An HTTP client over real TCP connections, kept per `host:port`.
///
/// HTTP/1.1 connections are reused one request at a time (concurrent requests open more);
/// the HTTP/2 client multiplexes everything to one address over one connection.
pub struct TestClient {
    protocol: Protocol,
    timeout: Duration,
    keep_alive: bool,
    /// Idle HTTP/1 connections, or the shared HTTP/2 one, per authority.
    pool: Mutex<HashMap<Authority, Vec<Sender>>>,
    /// Held while opening an HTTP/2 connection (see `checkout`).
    h2_connecting: tokio::sync::Mutex<()>,
    opened: AtomicUsize,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .field("keep_alive", &self.keep_alive)
            .field("opened", &self.connections_opened())
            .finish()
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body as text (lossy: tests compare it, they do not need it valid).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of a header, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `x-backend`: which backend answered.
    pub fn backend(&self) -> Option<&str> {
        self.header("x-backend")
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("response body is not the JSON expected: {}", self.text()))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TestClient {
    /// HTTP/1.1 with keep-alive.
    pub fn http1() -> TestClient {
        TestClient::new(Protocol::Http1)
    }

    /// HTTP/2 over cleartext TCP with prior knowledge (no upgrade dance), as gRPC-style
    /// clients and proxies speak it to backends.
    pub fn h2c() -> TestClient {
        TestClient::new(Protocol::H2c)
    }

    fn new(protocol: Protocol) -> TestClient {
        TestClient {
            protocol,
            timeout: DEFAULT_TIMEOUT,
            keep_alive: true,
            pool: Mutex::new(HashMap::new()),
            h2_connecting: tokio::sync::Mutex::new(()),
            opened: AtomicUsize::new(0),
        }
    }

    /// Bound on each request, connecting included (default 10s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With `false`, every request opens and closes its own connection.
    pub fn keep_alive(mut self, keep_alive: bool) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// TCP connections this client has opened, to assert reuse (or its absence).
    pub fn connections_opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// `GET url`; the URL is absolute (`http://127.0.0.1:PORT/path`).
    pub async fn get(&self, url: &str) -> anyhow::Result<TestResponse> {
        self.get_with_headers(url, &[]).await
    }

    /// `GET url` with extra headers. A `host` header picks the virtual host while the
    /// connection still goes to the URL's address (for HTTP/2 it becomes `:authority`).
    pub async fn get_with_headers(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<TestResponse> {
        let mut request = Request::get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Bytes::new())?).await
    }

    /// `POST url` with a body.
    pub async fn post(&self, url: &str, body: impl Into<Bytes>) -> anyhow::Result<TestResponse> {
        self.send(Request::post(url).body(body.into())?).await
    }

    /// Any request; its URI must be absolute. See [`get_with_headers`](Self::get_with_headers)
    /// for how `host` is treated.
    pub async fn send(&self, request: Request<Bytes>) -> anyhow::Result<TestResponse> {
        let method = request.method().clone();
        let uri = request.uri().clone();
        tokio::time::timeout(self.timeout, self.send_inner(request))
            .await
            .map_err(|_| {
                anyhow!(
                    "{method} {uri}: no complete response within {:?}",
                    self.timeout
                )
            })?
            .with_context(|| format!("{method} {uri}"))
    }

    async fn send_inner(&self, request: Request<Bytes>) -> anyhow::Result<TestResponse> {
        let (mut parts, body) = request.into_parts();
        if parts.uri.scheme_str() != Some("http") {
            bail!("TestClient needs an absolute http:// URL");
        }
        let authority = parts
            .uri
            .authority()
            .cloned()
            .ok_or_else(|| anyhow!("URL has no host:port"))?;
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        match self.protocol {
            Protocol::Http1 => {
                // Origin form on the wire, as browsers and curl send it.
                parts.uri = Uri::from(path);
                if !parts.headers.contains_key(HOST) {
                    parts
                        .headers
                        .insert(HOST, HeaderValue::from_str(authority.as_str())?);
                }
            }
            Protocol::H2c => {
                // HTTP/2 carries the host as :authority; let an explicit `host` choose it.
                let wanted = match parts.headers.remove(HOST) {
                    Some(host) => Authority::try_from(host.as_bytes())?,
                    None => authority.clone(),
                };
                parts.uri = Uri::builder()
                    .scheme("http")
                    .authority(wanted)
                    .path_and_query(path)
                    .build()?;
            }
        }
        let request = Request::from_parts(parts, Full::new(body));

        let sender = self.checkout(&authority).await?;
        let (sender, response) = match sender {
            Sender::Http1(mut s) => {
                s.ready().await?;
                let response = s.send_request(request).await?;
                (Sender::Http1(s), response)
            }
            Sender::Http2(mut s) => {
                s.ready().await?;
                let response = s.send_request(request).await?;
                (Sender::Http2(s), response)
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        // Only a connection that delivered a whole answer goes back for reuse.
        self.checkin(authority, sender);
        Ok(TestResponse {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }

    /// An idle (HTTP/1) or shared (HTTP/2) connection to `authority`, or a new one.
    async fn checkout(&self, authority: &Authority) -> anyhow::Result<Sender> {
        if !self.keep_alive {
            return self.connect(authority).await;
        }
        if let Some(sender) = self.pooled(authority) {
            return Ok(sender);
        }
        if self.protocol == Protocol::Http1 {
            return self.connect(authority).await;
        }
        // HTTP/2: concurrent first requests must end up on one connection, so connecting is
        // serialised and the pool looked at again once it is our turn.
        let _connecting = self.h2_connecting.lock().await;
        if let Some(sender) = self.pooled(authority) {
            return Ok(sender);
        }
        let sender = self.connect(authority).await?;
        if let Sender::Http2(shared) = &sender {
            lock(&self.pool)
                .entry(authority.clone())
                .or_default()
                .push(Sender::Http2(shared.clone()));
        }
        Ok(sender)
    }

    /// An idle HTTP/1 connection (taken out of the pool) or a clone of the HTTP/2 one.
    fn pooled(&self, authority: &Authority) -> Option<Sender> {
        let mut pool = lock(&self.pool);
        let senders = pool.get_mut(authority)?;
        senders.retain(|s| !s.is_closed());
        match senders.last()? {
            Sender::Http2(shared) => Some(Sender::Http2(shared.clone())),
            Sender::Http1(_) => senders.pop(),
        }
    }

    async fn connect(&self, authority: &Authority) -> anyhow::Result<Sender> {
        let port = authority.port_u16().unwrap_or(80);
        let stream = TcpStream::connect((authority.host(), port))
            .await
            .with_context(|| format!("connect to {authority}"))?;
        let _ = stream.set_nodelay(true);
        self.opened.fetch_add(1, Ordering::SeqCst);
        let io = TokioIo::new(stream);
        // The connection tasks end when every sender is dropped or the peer closes.
        Ok(match self.protocol {
            Protocol::Http1 => {
                let (sender, conn) = http1::handshake(io).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Sender::Http1(sender)
            }
            Protocol::H2c => {
                let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Sender::Http2(sender)
            }
        })
    }

    /// Returns an HTTP/1 connection to the idle pool. HTTP/2 senders are clones of the pooled
    /// one, so dropping them is the right thing.
    fn checkin(&self, authority: Authority, sender: Sender) {
        if let Sender::Http1(_) = sender {
            if self.keep_alive && !sender.is_closed() {
                lock(&self.pool).entry(authority).or_default().push(sender);
            }
        }
    }

    /// Opens a TCP connection to `addr`, writes exactly `bytes`, and returns everything read
    /// until the peer closes or 5 s pass. For hostile-input tests (smuggling, bad headers);
    /// send `Connection: close` or use [`raw_with_timeout`](Self::raw_with_timeout) when the
    /// peer is expected to keep the connection open. Parse the reply with
    /// [`RawResponse`](crate::RawResponse). Panics if the connection cannot be opened.
    pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
        TestClient::raw_with_timeout(addr, bytes, RAW_TIMEOUT).await
    }

    /// [`raw`](Self::raw) with a chosen bound on the whole exchange.
    pub async fn raw_with_timeout(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Vec<u8> {
        let mut stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("TestClient::raw: connect to {addr}: {e}"));
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(timeout, async {
            // A peer may answer and close before taking all of a hostile request; what it
            // said is still the result, so a failed write does not stop the reading.
            let _ = stream.write_all(bytes).await;
            let mut buf = [0u8; 8192];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => reply.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        reply
    }
}

#[cfg(test)]
mod tests;
