//! Helpers shared by the end-to-end modules: config text builders, a raw-socket connection
//! that knows whether the peer closed, and small assertions every bad-input test ends with.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_test_support::{RawResponse, TestBackend, TestClient, TestProxy, TestResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Starts one named backend per name (each answers 200 with its name in body and `x-backend`).
pub async fn named(names: &[&str]) -> Vec<TestBackend> {
    let mut backends = Vec::with_capacity(names.len());
    for name in names {
        backends.push(TestBackend::http().name(*name).await);
    }
    backends
}

/// `["addr", "addr"]` for a `backends =` line.
pub fn addr_list(backends: &[&TestBackend]) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|b| format!("\"{}\"", b.addr()))
        .collect();
    format!("[{}]", list.join(", "))
}

/// A whole config: `[server]` with `workers`, listener `web` on `127.0.0.1:0` with
/// `listener_extra` lines, then `rest` (route tables and upstream tables).
pub fn config(workers: usize, listener_extra: &str, rest: &str) -> String {
    format!(
        "[server]\nworkers = {workers}\ngrace_period = \"5s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n{listener_extra}\n\n{rest}\n"
    )
}

/// One `[[listeners.web.routes]]` table. `matcher` is the inline table text (or empty for a
/// catch-all); `target` is e.g. `upstream = "a"` or `split = [...]`; `extra` more lines.
pub fn route(matcher: &str, target: &str, extra: &str) -> String {
    let matcher = if matcher.is_empty() {
        String::new()
    } else {
        format!("match = {matcher}\n")
    };
    format!("[[listeners.web.routes]]\n{matcher}{target}\n{extra}\n")
}

/// One `[upstreams.NAME]` table with equal weights.
pub fn upstream(name: &str, algorithm: &str, backends: &[&TestBackend], extra: &str) -> String {
    format!(
        "[upstreams.{name}]\nalgorithm = \"{algorithm}\"\nbackends = {}\n{extra}\n",
        addr_list(backends)
    )
}

/// One `[upstreams.NAME]` table with the given weights.
pub fn weighted_upstream(
    name: &str,
    algorithm: &str,
    backends: &[(&TestBackend, u32)],
    extra: &str,
) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|(b, w)| format!("{{ addr = \"{}\", weight = {w} }}", b.addr()))
        .collect();
    format!(
        "[upstreams.{name}]\nalgorithm = \"{algorithm}\"\nbackends = [{}]\n{extra}\n",
        list.join(", ")
    )
}

/// Listener `web` sending everything to upstream `app` (`algorithm` over `backends`).
pub fn single(
    workers: usize,
    algorithm: &str,
    backends: &[&TestBackend],
    upstream_extra: &str,
) -> String {
    config(
        workers,
        "",
        &format!(
            "{}{}",
            route("", "upstream = \"app\"", ""),
            upstream("app", algorithm, backends, upstream_extra)
        ),
    )
}

/// Refs to every backend, for the builders above.
pub fn refs(backends: &[TestBackend]) -> Vec<&TestBackend> {
    backends.iter().collect()
}

/// `GET url` that must succeed at the HTTP level; returns the answer.
pub async fn get(client: &TestClient, url: &str) -> TestResponse {
    client
        .get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:#}"))
}

/// `GET url` with headers that must succeed at the HTTP level.
pub async fn get_h(client: &TestClient, url: &str, headers: &[(&str, &str)]) -> TestResponse {
    client
        .get_with_headers(url, headers)
        .await
        .unwrap_or_else(|e| panic!("GET {url} {headers:?}: {e:#}"))
}

/// Counts answers by `x-backend`.
pub fn tally<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for name in names {
        *counts.entry(name.to_string()).or_insert(0) += 1;
    }
    counts
}

/// A generous bound on `n` Bernoulli(p) successes: mean ± 5 standard deviations (a false
/// failure is rarer than one in a million runs), clamped to `0..=n`.
pub fn binomial_bounds(n: usize, p: f64) -> (usize, usize) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    let lo = (mean - 5.0 * sd).floor().max(0.0) as usize;
    let hi = (mean + 5.0 * sd).ceil().min(n as f64) as usize;
    (lo, hi)
}

/// After a bad input: a normal request on a NEW connection still gets 200.
pub async fn assert_still_serving(proxy: &TestProxy) {
    let response = TestClient::http1()
        .keep_alive(false)
        .timeout(Duration::from_secs(5))
        .get(&proxy.url("/"))
        .await
        .unwrap_or_else(|e| panic!("follow-up request failed: {e:#}"));
    assert_eq!(
        response.status,
        200,
        "follow-up request on a new connection: {}",
        response.text()
    );
}

/// The error body shoal writes: `STATUS Reason: cause\nrequest id: ID\n`. Checks that it
/// names `cause` and carries the request id, which must equal the `x-request-id` header.
pub fn assert_error_body(status: u16, body: &str, header_id: Option<&str>, cause: &str) {
    assert!(
        body.starts_with(&format!("{status} ")),
        "body should start with the status {status}: {body:?}"
    );
    assert!(
        body.contains(cause),
        "body should name the cause {cause:?}: {body:?}"
    );
    let id = body
        .lines()
        .find_map(|l| l.strip_prefix("request id: "))
        .unwrap_or_else(|| panic!("body has no request id line: {body:?}"));
    assert!(!id.is_empty(), "empty request id in {body:?}");
    assert_eq!(
        header_id,
        Some(id),
        "x-request-id header should equal the id in the body"
    );
}

/// True for a generated request id: 32 lower-case hex digits.
pub fn is_generated_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a raw exchange produced.
#[derive(Debug)]
pub struct RawOutcome {
    pub bytes: Vec<u8>,
    /// The peer closed (EOF or reset) before our timeout.
    pub closed: bool,
    pub elapsed: Duration,
}

impl RawOutcome {
    pub fn responses(&self) -> Vec<RawResponse> {
        RawResponse::parse_all(&self.bytes)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Exactly one response, with this status, and then the connection closed.
    pub fn assert_one_then_closed(&self, status: u16, what: &str) -> RawResponse {
        let all = self.responses();
        assert_eq!(
            all.len(),
            1,
            "{what}: expected exactly one response, got {}: {:?}",
            all.len(),
            self.text()
        );
        assert_eq!(all[0].status, status, "{what}: {:?}", self.text());
        assert!(self.closed, "{what}: connection should be closed");
        all[0].clone()
    }
}

/// A raw TCP connection for bytes no well-behaved client sends.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let _ = stream.set_nodelay(true);
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes bytes; a peer that already closed is not an error here (what it answered is
    /// what the test looks at).
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Reads one response (head plus a `content-length` body) within `timeout`; panics if
    /// it does not come.
    pub async fn read_response(&mut self, timeout: Duration) -> RawResponse {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(used) = complete_response_len(&self.buf) {
                let response =
                    RawResponse::parse(&self.buf[..used]).expect("a complete response parses");
                self.buf.drain(..used);
                return response;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => panic!(
                    "connection closed before a whole response: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => panic!(
                    "no whole response within {timeout:?}: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads until the peer closes or `timeout` passes; returns what was read (after
    /// anything already buffered).
    pub async fn read_to_close(&mut self, timeout: Duration) -> RawOutcome {
        let started = Instant::now();
        let mut bytes = std::mem::take(&mut self.buf);
        let mut closed = false;
        let _ = tokio::time::timeout(timeout, async {
            let mut chunk = [0u8; 8192];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        RawOutcome {
            bytes,
            closed,
            elapsed: started.elapsed(),
        }
    }
}

/// Sends `bytes` on a new connection and reads until the peer closes (or `timeout`).
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> RawOutcome {
    let started = Instant::now();
    let mut conn = RawConn::connect(addr).await;
    conn.send(bytes).await;
    let mut outcome = conn.read_to_close(timeout).await;
    outcome.elapsed = started.elapsed();
    outcome
}

/// The length of the first response in `buf` if it is complete (head and a body framed by
/// `content-length`, or none).
fn complete_response_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let length = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head_end + length).then_some(head_end + length)
}

/// A loopback address that refuses connections for as long as this value lives.
///
/// `TestBackend::refused_addr()` binds a port and releases it, so under parallel tests
/// another test's listener can be given that port and the "refused" backend suddenly answers
/// (seen: a request meant to fail over reached another test's backend). Here a socket stays
/// bound to the port without listening: the kernel answers connects with a reset, and no
/// other socket can be given the port meanwhile.
pub struct Refusing {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl Refusing {
    pub fn new() -> Refusing {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("local address");
        Refusing {
            _socket: socket,
            addr,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

// ----- Health and lifecycle -----

/// The readiness path active checks probe (the config default).
pub const PROBE_PATH: &str = "/health/ready";

/// Starts one named backend per name that remembers enough requests to tell probes from
/// client traffic for a whole test (see [`served`]).
pub async fn recording(names: &[&str]) -> Vec<TestBackend> {
    let mut backends = Vec::with_capacity(names.len());
    for name in names {
        backends.push(TestBackend::http().name(*name).record(1 << 16).await);
    }
    backends
}

/// Client requests a backend received: everything it recorded except active-check probes.
/// Use backends from [`recording`] (the default record limit is too small).
pub fn served(backend: &TestBackend) -> usize {
    backend
        .requests()
        .iter()
        .filter(|r| !r.uri.path().starts_with("/health/"))
        .count()
}

/// Active-check probes a backend received.
pub fn probes(backend: &TestBackend) -> usize {
    backend
        .requests()
        .iter()
        .filter(|r| r.uri.path() == PROBE_PATH)
        .count()
}

/// The data plane's live state of `addr` in upstream `upstream`, from the snapshot serving
/// now: the status and effective weight the balancers read, and the in-flight count.
pub fn backend_state(
    proxy: &TestProxy,
    upstream: &str,
    addr: SocketAddr,
) -> Option<std::sync::Arc<shoal_upstream::BackendState>> {
    let snapshot = proxy.proxy().snapshot();
    let upstream = snapshot.upstreams.iter().find(|u| u.name() == upstream)?;
    upstream
        .backends()
        .iter()
        .find(|b| b.addr() == addr)
        .cloned()
}

/// The status the data plane sees for `addr` in upstream `app`.
pub fn status(proxy: &TestProxy, addr: SocketAddr) -> shoal_health::BackendStatus {
    backend_state(proxy, "app", addr)
        .unwrap_or_else(|| panic!("{addr} is not a backend of upstream app"))
        .status()
}

/// Waits (bounded) until the data plane sees `addr` of upstream `app` in `wanted`.
#[track_caller]
pub fn until_status(
    proxy: &TestProxy,
    addr: SocketAddr,
    wanted: shoal_health::BackendStatus,
    within: Duration,
) -> impl std::future::Future<Output = ()> + '_ {
    shoal_test_support::eventually(within, move || async move { status(proxy, addr) == wanted })
}

/// Whether upstream `app` is in panic mode now.
pub fn in_panic(proxy: &TestProxy) -> bool {
    let snapshot = proxy.proxy().snapshot();
    snapshot
        .upstreams
        .iter()
        .find(|u| u.name() == "app")
        .expect("upstream app")
        .in_panic()
}
