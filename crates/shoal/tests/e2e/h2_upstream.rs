//! HTTP/2 to backends (`protocol = "h2"`), cleartext and over TLS with ALPN: multiplexing,
//! stream limits, GOAWAY, resets, gRPC-style streaming with trailers both ways, malformed
//! HTTP/2 requests refused before any backend, and health checks over HTTP/2.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Request, Version};
use http_body_util::BodyExt;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shoal_health::BackendStatus;
use shoal_test_support::{
    body_channel, grpc_message, take_grpc_messages, ChannelBody, GrpcBackend, TempDir, TestBackend,
    TestCa, TestClient, TestProxy, TlsFront,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

/// Listener `web` → upstream `app` (`protocol = "h2"`) over `addrs`, `workers` workers, with
/// `extra` lines.
fn h2_config(workers: usize, addrs: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    config(
        workers,
        "",
        &format!(
            "{}[upstreams.app]\nprotocol = \"h2\"\nbackends = [{}]\n{extra}\n",
            route("", "upstream = \"app\"", ""),
            list.join(", ")
        ),
    )
}

/// `n` concurrent GETs of `path` through `client`; every answer.
async fn concurrent(
    client: &Arc<TestClient>,
    url: &str,
    n: usize,
) -> Vec<shoal_test_support::TestResponse> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (client, url) = (Arc::clone(client), url.to_string());
        tasks.push(tokio::spawn(async move { client.get(&url).await }));
    }
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.expect("task").expect("response"));
    }
    responses
}

#[tokio::test]
async fn h2c_client_streams_are_multiplexed_over_one_backend_connection() {
    let backend = GrpcBackend::builder().hold_until(8).await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    let client = Arc::new(TestClient::h2c());
    // The backend answers none until all eight are in flight at once.
    for response in concurrent(&client, &proxy.url("/hold"), 8).await {
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.text(), "held");
    }
    assert_eq!(backend.max_in_flight(), 8);
    assert_eq!(
        backend.connections(),
        1,
        "one HTTP/2 connection carried all eight"
    );
    assert_eq!(client.connections_opened(), 1);
    for request in backend.requests() {
        assert_eq!(request.version, Version::HTTP_2);
        assert_eq!(request.uri.path(), "/hold");
        assert_eq!(
            request.uri.authority().map(|a| a.to_string()),
            Some(proxy.addr().to_string()),
            ":authority comes from the client's"
        );
        assert!(
            request.headers.get("host").is_none(),
            "no Host beside :authority"
        );
        assert!(request.headers.get("x-forwarded-for").is_some());
    }
}

#[tokio::test]
async fn http1_clients_share_one_h2_connection_to_the_backend() {
    let backend = GrpcBackend::builder().hold_until(6).await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    // Six HTTP/1.1 client connections at once.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let url = proxy.url(&format!("/hold?i={i}"));
        tasks.push(tokio::spawn(
            async move { TestClient::http1().get(&url).await },
        ));
    }
    for task in tasks {
        let response = task.await.expect("task").expect("response");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.version, Version::HTTP_11);
    }
    assert_eq!(backend.max_in_flight(), 6);
    assert_eq!(backend.connections(), 1);
}

#[tokio::test]
async fn the_backends_stream_limit_opens_more_connections() {
    let backend = GrpcBackend::builder()
        .max_concurrent_streams(2)
        .hold_until(6)
        .await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    let client = Arc::new(TestClient::h2c());
    // Cold: six at once while no connection is open. A new connection is used only once the
    // backend's SETTINGS (limit 2) have arrived, so each gets its own stream: all six get
    // through, none held back behind the others.
    for response in concurrent(&client, &proxy.url("/hold"), 6).await {
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(backend.max_in_flight(), 6);
    assert!(backend.max_per_connection() <= 2);
    let cold = backend.connections();
    assert!(
        cold >= 3,
        "six streams at two per connection: {cold} connections"
    );

    // Warm: the limit is known, so six more need exactly the three connections there are.
    let streams_before = backend.streams();
    for response in concurrent(&client, &proxy.url("/hold"), 6).await {
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(
        backend.streams() - streams_before,
        6,
        "no stream refused when warm"
    );
    assert_eq!(
        backend.connections(),
        cold,
        "the open connections served them"
    );
}

#[tokio::test]
async fn new_connections_take_streams_only_under_the_backends_announced_limit() {
    let backend = GrpcBackend::builder()
        .max_concurrent_streams(2)
        .hold_until(6)
        .await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    let client = Arc::new(TestClient::h2c());
    // One request teaches shoal the limit.
    assert_eq!(get(&client, &proxy.url("/echo")).await.status, 200);
    let streams_before = backend.streams();
    for response in concurrent(&client, &proxy.url("/hold"), 6).await {
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(backend.streams() - streams_before, 6, "nothing refused");
    assert_eq!(backend.connections(), 3);
}

#[tokio::test]
async fn goaway_lets_streams_finish_and_later_requests_use_a_new_connection() {
    let backend = GrpcBackend::builder().goaway_after(3).hold_until(3).await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    let client = Arc::new(TestClient::h2c());
    // The third stream triggers the GOAWAY while all three are in flight: they finish.
    for response in concurrent(&client, &proxy.url("/hold"), 3).await {
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(backend.connections(), 1);
    for i in 0..6 {
        let response = get(&client, &proxy.url(&format!("/echo{i}"))).await;
        assert_eq!(
            response.status,
            200,
            "request {i} after GOAWAY: {}",
            response.text()
        );
    }
    assert!(
        backend.connections() >= 2,
        "a new connection after the GOAWAY"
    );
}

#[tokio::test]
async fn a_stream_reset_before_the_head_is_a_502() {
    let backend = GrpcBackend::builder().await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], "retries = 0"));
    for client in [TestClient::http1(), TestClient::h2c()] {
        let response = get(&client, &proxy.url("/reset")).await;
        assert_eq!(response.status, 502, "{}", response.text());
        assert_error_body(
            502,
            &response.text(),
            response.header("x-request-id"),
            "failed before responding",
        );
    }
    assert_eq!(backend.streams(), 2, "retries = 0: one attempt each");
    // The connection is still good for other streams.
    assert_eq!(get(&TestClient::h2c(), &proxy.url("/ok")).await.status, 200);
    assert_eq!(backend.connections(), 1);
}

#[tokio::test]
async fn a_reset_after_the_head_aborts_the_clients_response() {
    let backend = GrpcBackend::builder().await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    // HTTP/2 client: the head arrives, then its stream is reset, never a clean end.
    let mut sender = h2c_sender(proxy.addr()).await;
    let (_tx, body) = body_channel();
    let request = Request::get(format!("http://{}/reset-after-head", proxy.addr()))
        .body(body)
        .expect("request");
    let response = sender.send_request(request).await.expect("head");
    assert_eq!(response.status(), 200);
    let collected = response.into_body().collect().await;
    assert!(collected.is_err(), "the body must fail, not end cleanly");
    // HTTP/1.1 client: the connection is closed mid-body.
    let result = TestClient::http1()
        .get(&proxy.url("/reset-after-head"))
        .await;
    assert!(
        result.is_err(),
        "an HTTP/1.1 client sees the response cut: {result:?}"
    );
    assert_still_serving_h2(&proxy).await;
}

/// A request over HTTP/2 still works (the upstream is `protocol = "h2"`, the backend too).
async fn assert_still_serving_h2(proxy: &TestProxy) {
    let response = get(&TestClient::h2c(), &proxy.url("/still")).await;
    assert_eq!(response.status, 200, "{}", response.text());
}

/// An HTTP/2 (prior knowledge) client connection to `addr` that sends streaming bodies.
async fn h2c_sender(addr: SocketAddr) -> http2::SendRequest<ChannelBody> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// A gRPC-style bidirectional stream through shoal: each message's echo arrives before the
/// next message is sent; trailers go to the backend and come back.
async fn grpc_round_trip(proxy: &TestProxy, backend: &GrpcBackend) {
    let mut sender = h2c_sender(proxy.addr()).await;
    let (tx, body) = body_channel();
    let request = Request::post(format!("http://{}/echo.Echo/Chat", proxy.addr()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .expect("request");
    let response = tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .expect("head in time")
        .expect("response head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/grpc");
    let mut body = response.into_body();
    let mut buf = BytesMut::new();
    for i in 0..3 {
        let message = grpc_message(format!("message {i}").as_bytes());
        assert!(tx.data(message.clone()));
        // The echo of this message must arrive while the request is still open.
        let echoed = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(m) = take_grpc_messages(&mut buf).into_iter().next() {
                    return m;
                }
                let frame = body.frame().await.expect("more frames").expect("a frame");
                let data = frame.into_data().expect("data before trailers");
                buf.extend_from_slice(&data);
            }
        })
        .await
        .expect("echo arrives before the next message is sent");
        assert_eq!(echoed, message);
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("x-client-trailer", HeaderValue::from_static("checksum-42"));
    assert!(tx.trailers(trailers));
    drop(tx);
    let trailers = tokio::time::timeout(WAIT, async {
        loop {
            let frame = body.frame().await.expect("trailers").expect("a frame");
            if let Ok(trailers) = frame.into_trailers() {
                return trailers;
            }
        }
    })
    .await
    .expect("trailers in time");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "echoed 3 messages");
    assert_eq!(trailers["x-seen-trailer"], "checksum-42");
    let seen = backend.request_trailers();
    assert_eq!(
        seen.last().and_then(|t| t.get("x-client-trailer")),
        Some(&HeaderValue::from_static("checksum-42")),
        "the client's trailers reached the backend"
    );
    let head = backend.requests().last().cloned().expect("recorded");
    assert_eq!(
        head.headers.get("te").map(|v| v.as_bytes()),
        Some(&b"trailers"[..])
    );
}

#[tokio::test]
async fn grpc_bidirectional_streaming_with_trailers_over_h2c() {
    let backend = GrpcBackend::builder().await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    grpc_round_trip(&proxy, &backend).await;
}

#[tokio::test]
async fn grpc_bidirectional_streaming_with_trailers_over_tls() {
    let dir = TempDir::new("h2-tls-grpc");
    let ca = TestCa::new();
    let backend = GrpcBackend::builder().await;
    let front = TlsFront::in_front_of(backend.addr(), &ca.issue(&["grpc.internal"]))
        .alpn(&["h2"])
        .await;
    let ca_path = dir.write("ca.pem", &ca.cert_pem());
    let proxy = TestProxy::start(&h2_config(
        1,
        &[front.addr()],
        &format!(
            "tls = {{ ca = {:?}, server_name = \"grpc.internal\" }}",
            ca_path.display().to_string()
        ),
    ));
    grpc_round_trip(&proxy, &backend).await;
    let handshakes = front.handshakes();
    assert_eq!(handshakes.len(), 1);
    assert_eq!(handshakes[0].alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(
        backend.requests()[0].uri.scheme_str(),
        Some("https"),
        ":scheme says the request came over TLS"
    );
}

#[tokio::test]
async fn h2_over_tls_needs_the_backend_to_select_h2() {
    let dir = TempDir::new("h2-tls-alpn");
    let ca = TestCa::new();
    let backend = TestBackend::http().name("h1-only").await;
    let front = TlsFront::in_front_of(backend.addr(), &ca.issue(&["backend.internal"]))
        .alpn(&["http/1.1"])
        .await;
    let ca_path = dir.write("ca.pem", &ca.cert_pem());
    let proxy = TestProxy::start(&h2_config(
        1,
        &[front.addr()],
        &format!(
            "tls = {{ ca = {:?}, server_name = \"backend.internal\" }}",
            ca_path.display().to_string()
        ),
    ));
    let response = get(&TestClient::http1(), &proxy.url("/")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(
        backend.hits(),
        0,
        "nothing was sent over a connection without h2"
    );
}

#[tokio::test]
async fn health_checks_probe_h2_backends_over_h2() {
    let dir = TempDir::new("h2-health");
    let ca = TestCa::new();
    let cleartext = GrpcBackend::builder().await;
    let tls_backend = GrpcBackend::builder().await;
    let front = TlsFront::in_front_of(tls_backend.addr(), &ca.issue(&["127.0.0.1"]))
        .alpn(&["h2"])
        .await;
    let ca_path = dir.write("ca.pem", &ca.cert_pem());
    let health = "[upstreams.app.health]\ninterval = \"100ms\"\ntimeout = \"80ms\"\nrise = 1\n";
    // The backends speak HTTP/2 only: an HTTP/1.1 probe would find them down.
    let plain = TestProxy::start(&h2_config(1, &[cleartext.addr()], health));
    let secure = TestProxy::start(&h2_config(
        1,
        &[front.addr()],
        &format!(
            "tls = {{ ca = {:?} }}\n{health}",
            ca_path.display().to_string()
        ),
    ));
    until_status(&plain, cleartext.addr(), BackendStatus::Ready, WAIT).await;
    until_status(&secure, front.addr(), BackendStatus::Ready, WAIT).await;
    for backend in [&cleartext, &tls_backend] {
        assert!(
            backend
                .requests()
                .iter()
                .any(|r| r.uri.path() == PROBE_PATH && r.version == Version::HTTP_2),
            "probed over HTTP/2"
        );
    }
    assert_eq!(
        get(&TestClient::http1(), &secure.url("/x")).await.status,
        200
    );
}

// ----- Malformed HTTP/2 requests, sent as raw frames -----

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK "literal header field without indexing, new name", no Huffman (short strings).
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

/// Sends one HEADERS frame (END_STREAM | END_HEADERS) with `fields` on stream 1 and returns
/// how the server answered: `Some(error code)` of a RST_STREAM on stream 1 or a GOAWAY, or
/// `None` if it sent a response instead.
async fn raw_h2_headers(addr: SocketAddr, fields: &[(&str, &str)]) -> Option<u32> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.extend_from_slice(&literal(name, value));
    }
    let mut bytes = PREFACE.to_vec();
    bytes.extend_from_slice(&frame(0x4, 0, 0, &[]));
    bytes.extend_from_slice(&frame(0x1, 0x5, 1, &block));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&bytes).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            while buf.len() >= 9 {
                let len =
                    (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
                if buf.len() < 9 + len {
                    break;
                }
                let kind = buf[3];
                let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
                let payload: Vec<u8> = buf[9..9 + len].to_vec();
                buf.drain(..9 + len);
                match kind {
                    0x3 if id == 1 => {
                        return Some(u32::from_be_bytes([
                            payload[0], payload[1], payload[2], payload[3],
                        ]))
                    }
                    0x7 => {
                        return Some(u32::from_be_bytes([
                            payload[4], payload[5], payload[6], payload[7],
                        ]))
                    }
                    0x1 if id == 1 => return None,
                    _ => {}
                }
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Some(u32::MAX),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("an answer from the server")
}

#[tokio::test]
async fn malformed_h2_requests_are_refused_before_any_backend() {
    let h2_backend = GrpcBackend::builder().await;
    let h1_backend = TestBackend::http().name("h1").await;
    let text = config(
        1,
        "",
        &format!(
            "{}{}[upstreams.h2]\nprotocol = \"h2\"\nbackends = [\"{}\"]\n{}",
            route("{ path_prefix = \"/h2/\" }", "upstream = \"h2\"", ""),
            route("", "upstream = \"h1\"", ""),
            h2_backend.addr(),
            upstream("h1", "round_robin", &[&h1_backend], ""),
        ),
    );
    let proxy = TestProxy::start(&text);
    let addr = proxy.addr();
    let authority = addr.to_string();
    for path in ["/h2/x", "/h1"] {
        let base = [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", authority.as_str()),
            (":path", path),
        ];
        // Sanity: the well-formed request gets a response.
        assert_eq!(
            raw_h2_headers(addr, &base).await,
            None,
            "{path}: valid request"
        );
        let mut cases: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
        let mut connection = base.to_vec();
        connection.push(("connection", "keep-alive"));
        cases.push(("connection-specific header", connection));
        let mut te = base.to_vec();
        te.push(("te", "gzip"));
        cases.push(("te other than trailers", te));
        let mut transfer = base.to_vec();
        transfer.push(("transfer-encoding", "chunked"));
        cases.push(("transfer-encoding", transfer));
        cases.push((
            "no :path",
            base.iter()
                .copied()
                .filter(|(n, _)| *n != ":path")
                .collect(),
        ));
        let mut late = base.to_vec();
        late.insert(1, ("x-early", "1"));
        cases.push(("pseudo-header after a regular one", late));
        let mut length = base.to_vec();
        length.push(("content-length", "10"));
        cases.push(("content-length without the bytes", length));
        for (what, fields) in cases {
            let answer = raw_h2_headers(addr, &fields).await;
            assert!(
                answer.is_some_and(|code| code == 1 || code == u32::MAX),
                "{path}, {what}: expected PROTOCOL_ERROR, got {answer:?}"
            );
        }
    }
    // Only the two well-formed requests reached a backend.
    assert_eq!(h2_backend.streams(), 1);
    assert_eq!(h1_backend.hits(), 1);
    assert_still_serving(&proxy).await;
    let response = get(&TestClient::h2c(), &proxy.url("/h2/after")).await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn the_listeners_stream_limit_holds_with_an_h2_upstream() {
    // 300 streams opened at once on one client connection, all held at the backend: 256
    // (the listener's limit) reach it concurrently, the rest are refused by shoal's HTTP/2
    // server, whatever shoal's own connections to the backend could carry.
    let backend = GrpcBackend::builder().hold_until(1000).await;
    let proxy = TestProxy::start(&h2_config(1, &[backend.addr()], ""));
    let addr = proxy.addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut bytes = PREFACE.to_vec();
    bytes.extend_from_slice(&frame(0x4, 0, 0, &[]));
    stream.write_all(&bytes).await.expect("preface");
    // Acknowledge the server's SETTINGS so its limit is in force for certain.
    let mut buf = Vec::new();
    let mut acked = false;
    let mut refused = 0usize;
    let authority = addr.to_string();
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "GET"),
        (":scheme", "http"),
        (":authority", authority.as_str()),
        (":path", "/hold"),
    ] {
        block.extend_from_slice(&literal(name, value));
    }
    tokio::time::timeout(WAIT, async {
        loop {
            while buf.len() >= 9 {
                let len =
                    (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
                if buf.len() < 9 + len {
                    break;
                }
                let (kind, flags) = (buf[3], buf[4]);
                let payload: Vec<u8> = buf[9..9 + len].to_vec();
                buf.drain(..9 + len);
                if kind == 0x4 && flags & 0x1 == 0 && !acked {
                    acked = true;
                    let mut out = frame(0x4, 0x1, 0, &[]);
                    for i in 0..300u32 {
                        out.extend_from_slice(&frame(0x1, 0x5, 2 * i + 1, &block));
                    }
                    stream.write_all(&out).await.expect("streams");
                }
                if kind == 0x3 {
                    let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    assert!(code == 7 || code == 1, "refused, not {code}");
                    refused += 1;
                }
            }
            if refused >= 300 - 256 && backend.in_flight() >= 256 {
                return;
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => panic!("connection closed"),
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    })
    .await
    .expect("256 streams in flight and the rest refused");
    assert_eq!(backend.in_flight(), 256);
    assert_eq!(refused, 300 - 256);
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_after_keepalive_timeout() {
    let backend = GrpcBackend::builder().await;
    let proxy = TestProxy::start(&h2_config(
        1,
        &[backend.addr()],
        "keepalive_timeout = \"300ms\"",
    ));
    let state = backend_state(&proxy, "app", backend.addr()).expect("backend");
    for i in 0..3 {
        let response = get(&TestClient::h2c(), &proxy.url(&format!("/r{i}"))).await;
        assert_eq!(response.status, 200);
    }
    assert_eq!(state.h2_connections(), 1, "three requests, one connection");
    shoal_test_support::eventually(WAIT, || async { state.h2_connections() == 0 }).await;
    // The next request opens a new one.
    assert_eq!(
        get(&TestClient::h2c(), &proxy.url("/again")).await.status,
        200
    );
    assert_eq!(backend.connections(), 2);
}
