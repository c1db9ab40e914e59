//! Every answer shoal gives on its own: status, a body naming the cause and carrying the
//! request id, connection handling, and that the next request on a new connection works.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_test_support::{Mode, TestBackend, TestClient, TestProxy};

use crate::support::*;

/// A listener with `listener_extra` routing everything to one good backend.
async fn with_listener(listener_extra: &str) -> (TestProxy, TestBackend) {
    let backend = TestBackend::http().name("ok").await;
    let text = config(
        1,
        listener_extra,
        &format!(
            "{}{}",
            route("", "upstream = \"app\"", ""),
            upstream("app", "round_robin", &[&backend], "")
        ),
    );
    (TestProxy::start(&text), backend)
}

/// Upstream `app` over raw addresses (for ones nothing listens on).
fn addrs_upstream(addrs: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "{}[upstreams.app]\nbackends = [{}]\n{extra}\n",
        route("", "upstream = \"app\"", ""),
        list.join(", ")
    )
}

async fn assert_400(proxy: &TestProxy, request: &[u8], what: &str, id: Option<&str>) {
    let outcome = raw_exchange(proxy.addr(), request, Duration::from_secs(5)).await;
    let response = outcome.assert_one_then_closed(400, what);
    assert_eq!(
        response.header("connection"),
        Some("close"),
        "{what}: 400 announces the close"
    );
    let header_id = response.header("x-request-id");
    if let Some(id) = id {
        assert_eq!(header_id, Some(id), "{what}: the client's id is kept");
    } else {
        assert!(
            header_id.is_some_and(is_generated_id),
            "{what}: generated id, got {header_id:?}"
        );
    }
    assert_error_body(400, &response.text(), header_id, "invalid Host header");
}

#[tokio::test]
async fn bad_host_is_400_and_closes() {
    let (proxy, backend) = with_listener("").await;
    let cases: [(&[u8], &str); 4] = [
        (
            b"GET / HTTP/1.1\r\nHost: bad_host!\r\nX-Request-Id: id-bad-host\r\n\r\n",
            "host with invalid characters",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: example.com:99999\r\nX-Request-Id: id-bad-host\r\n\r\n",
            "port above 65535",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a:1:2\r\nX-Request-Id: id-bad-host\r\n\r\n",
            "two ports",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: .\r\nX-Request-Id: id-bad-host\r\n\r\n",
            "a lone dot",
        ),
    ];
    for (request, what) in cases {
        assert_400(&proxy, request, what, Some("id-bad-host")).await;
        assert_still_serving(&proxy).await;
    }
    assert_eq!(
        backend.hits(),
        cases.len() as u64,
        "only the follow-ups reached the backend"
    );
}

#[tokio::test]
async fn missing_host_on_http11_is_400_but_http10_may_omit_it() {
    let (proxy, backend) = with_listener("").await;
    assert_400(&proxy, b"GET / HTTP/1.1\r\n\r\n", "missing Host", None).await;
    assert_still_serving(&proxy).await;
    assert_eq!(backend.hits(), 1);

    let outcome = raw_exchange(
        proxy.addr(),
        b"GET /old HTTP/1.0\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let response = outcome.assert_one_then_closed(200, "HTTP/1.0 without Host");
    assert_eq!(response.text(), "ok");
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn two_host_headers_are_400() {
    let (proxy, backend) = with_listener("").await;
    assert_400(
        &proxy,
        b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        "two different Host headers",
        None,
    )
    .await;
    assert_400(
        &proxy,
        b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
        "the same Host twice",
        None,
    )
    .await;
    assert_eq!(backend.hits(), 0);
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn connection_refused_is_502_naming_the_backend() {
    let refusing = Refusing::new();
    let refused = refusing.addr();
    let proxy = TestProxy::start(&config(1, "", &addrs_upstream(&[refused], "")));
    let client = TestClient::http1();
    let response = get_h(&client, &proxy.url("/x"), &[("x-request-id", "id-502")]).await;
    assert_eq!(response.status, 502, "{}", response.text());
    assert_error_body(
        502,
        &response.text(),
        response.header("x-request-id"),
        &format!("connection to {refused} refused"),
    );
    assert_eq!(response.header("x-request-id"), Some("id-502"));
    // The proxy itself is fine: a second request gets the same answer, not a hang.
    let again = get(&TestClient::http1().keep_alive(false), &proxy.url("/")).await;
    assert_eq!(again.status, 502);
}

#[tokio::test]
async fn backend_closing_before_the_response_to_a_post_is_502() {
    let backend = TestBackend::http()
        .name("closer")
        .mode(Mode::CloseBeforeResponse)
        .await;
    let proxy = TestProxy::start(&single(1, "round_robin", &[&backend], ""));
    let client = TestClient::http1();
    let response = client
        .post(&proxy.url("/submit"), "payload")
        .await
        .expect("POST");
    assert_eq!(response.status, 502, "{}", response.text());
    let id = response.header("x-request-id").expect("x-request-id");
    assert!(is_generated_id(id), "{id}");
    assert_error_body(
        502,
        &response.text(),
        Some(id),
        &format!("backend {} failed before responding", backend.addr()),
    );
    assert_eq!(backend.hits(), 1, "a POST is sent once, never replayed");
    assert_eq!(
        backend.last_request().expect("recorded").body,
        "payload",
        "the backend did receive the body"
    );

    backend.set_mode(Mode::Normal);
    let ok = get(&TestClient::http1().keep_alive(false), &proxy.url("/")).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn slow_backend_is_504_after_response_timeout() {
    let backend = TestBackend::http()
        .name("slow")
        .delay(Duration::from_secs(2))
        .await;
    let proxy = TestProxy::start(&single(
        1,
        "round_robin",
        &[&backend],
        "response_timeout = \"200ms\"",
    ));
    let started = Instant::now();
    let response = get(&TestClient::http1(), &proxy.url("/slow")).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status, 504, "{}", response.text());
    assert_error_body(
        504,
        &response.text(),
        response.header("x-request-id"),
        "sent no response within 200ms",
    );
    assert!(
        elapsed >= ms(190) && elapsed < ms(1500),
        "504 should come at the 200ms timeout, came after {elapsed:?}"
    );
    assert_eq!(backend.hits(), 1, "one backend: nowhere else to retry");

    backend.set_delay(Duration::ZERO);
    let ok = get(&TestClient::http1().keep_alive(false), &proxy.url("/")).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn half_a_request_head_gets_408_then_close() {
    let (proxy, backend) = with_listener("header_read_timeout = \"300ms\"").await;
    let outcome = raw_exchange(
        proxy.addr(),
        b"GET /slow HTTP/1.1\r\nHost: a.example\r\n",
        Duration::from_secs(5),
    )
    .await;
    let response = outcome.assert_one_then_closed(408, "half a head");
    assert_eq!(response.header("connection"), Some("close"));
    // Only a prefix: the body is mis-framed (see `response_408_is_framed_exactly`).
    assert!(
        response
            .text()
            .starts_with("408 Request Timeout: request head not received"),
        "408 body names the cause: {:?}",
        response.text()
    );
    assert!(
        outcome.elapsed >= ms(250) && outcome.elapsed < ms(3000),
        "408 should come at the 300ms header timeout, came after {:?}",
        outcome.elapsed
    );
    assert_eq!(backend.hits(), 0);
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn response_408_is_framed_exactly() {
    let (proxy, _backend) = with_listener("header_read_timeout = \"300ms\"").await;
    let outcome = raw_exchange(
        proxy.addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(outcome.closed);
    let text = outcome.text();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole head");
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("content-length")
        .parse()
        .expect("a number");
    assert_eq!(
        declared,
        body.len(),
        "content-length must match the body sent: {body:?}"
    );
    assert!(
        body.starts_with("408 Request Timeout: request head not received in time\nrequest id: "),
        "unexpected 408 body: {body:?}"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_without_bytes() {
    let (proxy, _backend) = with_listener("header_read_timeout = \"300ms\"").await;
    let outcome = raw_exchange(proxy.addr(), b"", Duration::from_secs(5)).await;
    assert!(outcome.closed, "an empty connection should be closed");
    assert!(
        outcome.bytes.is_empty(),
        "no bytes for a connection that never started a request: {:?}",
        outcome.text()
    );
    assert!(
        outcome.elapsed >= ms(250) && outcome.elapsed < ms(3000),
        "closed after {:?}",
        outcome.elapsed
    );
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn a_slow_drip_head_cannot_extend_the_header_deadline() {
    let (proxy, backend) = with_listener("header_read_timeout = \"300ms\"").await;
    let started = Instant::now();
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: a.example\r\n").await;
    // A slowloris client: one header byte every 50 ms, never finishing. This paces the
    // client (the behaviour under test); it synchronises nothing. Bounded: 60 bytes, 3 s.
    let mut pace = tokio::time::interval(ms(50));
    for _ in 0..60 {
        pace.tick().await;
        conn.send(b"x").await;
        if started.elapsed() > ms(1200) {
            break;
        }
    }
    let outcome = conn.read_to_close(Duration::from_secs(3)).await;
    let all = outcome.responses();
    assert_eq!(all.len(), 1, "{:?}", outcome.text());
    assert_eq!(all[0].status, 408);
    assert!(outcome.closed);
    assert_eq!(backend.hits(), 0);
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn request_head_over_max_header_bytes_is_431() {
    let (proxy, backend) = with_listener("max_header_bytes = 16384").await;
    let big = "v".repeat(40_000);
    let request = format!("GET / HTTP/1.1\r\nHost: a.example\r\nX-Big: {big}\r\n\r\n");
    let outcome = raw_exchange(proxy.addr(), request.as_bytes(), Duration::from_secs(5)).await;
    outcome.assert_one_then_closed(431, "a 40 kB header with a 16 kB limit");
    assert_eq!(backend.hits(), 0);
    assert_still_serving(&proxy).await;

    // Under the limit is fine.
    let fits = "v".repeat(12_000);
    let response = get_h(
        &TestClient::http1(),
        &proxy.url("/"),
        &[("x-big", fits.as_str())],
    )
    .await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn too_many_header_lines_is_431() {
    let (proxy, backend) = with_listener("").await;
    let mut request = String::from("GET / HTTP/1.1\r\nHost: a.example\r\n");
    for i in 0..200 {
        request.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    let outcome = raw_exchange(proxy.addr(), request.as_bytes(), Duration::from_secs(5)).await;
    outcome.assert_one_then_closed(431, "200 header lines");
    assert_eq!(backend.hits(), 0);
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn max_header_bytes_at_its_minimum_is_enforced() {
    let (proxy, backend) = with_listener("max_header_bytes = 8192").await;
    let big = "v".repeat(12_000);
    let request = format!("GET / HTTP/1.1\r\nHost: a.example\r\nX-Big: {big}\r\n\r\n");
    let outcome = raw_exchange(proxy.addr(), request.as_bytes(), Duration::from_secs(5)).await;
    outcome.assert_one_then_closed(431, "a 12 kB head with an 8 kB limit");
    assert_eq!(backend.hits(), 0);

    let fits = "v".repeat(6_000);
    let response = get_h(
        &TestClient::http1(),
        &proxy.url("/"),
        &[("x-big", fits.as_str())],
    )
    .await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn protocol_level_errors_carry_a_body_with_the_request_id() {
    let (proxy, _backend) = with_listener("header_read_timeout = \"300ms\"").await;
    let big = "v".repeat(80_000);
    let request = format!("GET / HTTP/1.1\r\nHost: a.example\r\nX-Big: {big}\r\n\r\n");
    let outcome = raw_exchange(proxy.addr(), request.as_bytes(), Duration::from_secs(5)).await;
    let response = outcome.assert_one_then_closed(431, "80 kB head");
    assert_error_body(
        431,
        &response.text(),
        response.header("x-request-id"),
        "header",
    );

    let outcome = raw_exchange(
        proxy.addr(),
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        Duration::from_secs(5),
    )
    .await;
    let response = outcome.assert_one_then_closed(408, "half a head");
    assert_error_body(
        408,
        &response.text(),
        response.header("x-request-id"),
        "request head not received in time",
    );
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let (proxy, backend) = with_listener("idle_timeout = \"300ms\"").await;
    let mut conn = RawConn::connect(proxy.addr()).await;
    for i in 0..2 {
        conn.send(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .await;
        let response = conn.read_response(Duration::from_secs(5)).await;
        assert_eq!(
            response.status, 200,
            "request {i} on the kept-alive connection"
        );
    }
    let outcome = conn.read_to_close(Duration::from_secs(5)).await;
    assert!(outcome.closed, "idle connection should be closed");
    assert!(outcome.bytes.is_empty(), "{:?}", outcome.text());
    assert!(
        outcome.elapsed >= ms(250) && outcome.elapsed < ms(3000),
        "closed after {:?}, idle_timeout is 300ms",
        outcome.elapsed
    );
    assert_eq!(backend.hits(), 2);
    assert_still_serving(&proxy).await;
}
