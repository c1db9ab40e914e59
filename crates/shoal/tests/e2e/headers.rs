//! Header hygiene between client and backend: X-Forwarded-*, X-Request-Id, hop-by-hop.

use std::time::Duration;

use shoal_test_support::{RecordedRequest, TestBackend, TestClient, TestProxy};

use crate::support::*;

async fn proxy_with(listener_extra: &str) -> (TestProxy, TestBackend) {
    let backend = TestBackend::http().name("b").await;
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

fn all_values(request: &RecordedRequest, name: &str) -> Vec<String> {
    request
        .headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// Sends raw bytes (ending with `Connection: close` semantics) and returns what the backend
/// received; the answer must be 200.
async fn via_raw(proxy: &TestProxy, backend: &TestBackend, request: &[u8]) -> RecordedRequest {
    let before = backend.hits();
    let outcome = raw_exchange(proxy.addr(), request, Duration::from_secs(5)).await;
    let responses = outcome.responses();
    assert_eq!(responses.len(), 1, "{:?}", outcome.text());
    assert_eq!(responses[0].status, 200, "{:?}", outcome.text());
    assert_eq!(backend.hits(), before + 1);
    backend.last_request().expect("recorded")
}

#[tokio::test]
async fn x_forwarded_for_is_appended_by_default() {
    let (proxy, backend) = proxy_with("").await;
    let client = TestClient::http1();
    let url = proxy.url("/");

    get_h(&client, &url, &[("x-forwarded-for", "10.0.0.1")]).await;
    let seen = backend.last_request().expect("recorded");
    assert_eq!(
        all_values(&seen, "x-forwarded-for"),
        ["10.0.0.1, 127.0.0.1"]
    );

    let seen = via_raw(
        &proxy,
        &backend,
        b"GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 10.0.0.1\r\n\
          X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        all_values(&seen, "x-forwarded-for"),
        ["10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1"],
        "several client headers are joined into one, ours last"
    );

    get(&client, &url).await;
    let seen = backend.last_request().expect("recorded");
    assert_eq!(all_values(&seen, "x-forwarded-for"), ["127.0.0.1"]);
}

#[tokio::test]
async fn x_forwarded_for_replace_mode_sends_only_the_peer() {
    let (proxy, backend) = proxy_with("x_forwarded_for = \"replace\"").await;
    get_h(
        &TestClient::http1(),
        &proxy.url("/"),
        &[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("host", "shop.example"),
        ],
    )
    .await;
    let seen = backend.last_request().expect("recorded");
    assert_eq!(all_values(&seen, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(all_values(&seen, "x-forwarded-proto"), ["http"]);
    assert_eq!(all_values(&seen, "x-forwarded-host"), ["shop.example"]);
}

#[tokio::test]
async fn x_forwarded_proto_and_host_are_set_and_host_is_kept() {
    let (proxy, backend) = proxy_with("").await;
    get_h(
        &TestClient::http1(),
        &proxy.url("/p"),
        &[("host", "Shop.Example:8080")],
    )
    .await;
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-forwarded-host"), Some("Shop.Example:8080"));
    assert_eq!(seen.header("host"), Some("Shop.Example:8080"));
    assert_eq!(seen.uri, "/p");
    assert_eq!(seen.version, http::Version::HTTP_11);
}

#[tokio::test]
async fn request_id_is_generated_or_passed_through() {
    let (proxy, backend) = proxy_with("").await;
    let client = TestClient::http1();
    let url = proxy.url("/");

    get(&client, &url).await;
    let first = backend.last_request().expect("recorded");
    let first_id = first
        .header("x-request-id")
        .expect("generated id")
        .to_string();
    assert!(is_generated_id(&first_id), "32 hex digits: {first_id}");
    get(&client, &url).await;
    let second_id = backend
        .last_request()
        .expect("recorded")
        .header("x-request-id")
        .expect("generated id")
        .to_string();
    assert!(is_generated_id(&second_id));
    assert_ne!(first_id, second_id, "each request gets its own id");

    get_h(&client, &url, &[("x-request-id", "abc-123")]).await;
    let seen = backend.last_request().expect("recorded");
    assert_eq!(all_values(&seen, "x-request-id"), ["abc-123"]);

    // An unusable id (spaces, or absurdly long) is replaced, not forwarded.
    let long = "x".repeat(500);
    for bad in ["has space", long.as_str()] {
        get_h(&client, &url, &[("x-request-id", bad)]).await;
        let seen = backend.last_request().expect("recorded");
        let ids = all_values(&seen, "x-request-id");
        assert_eq!(ids.len(), 1);
        assert!(is_generated_id(&ids[0]), "{bad:?} replaced by {:?}", ids[0]);
    }
}

#[tokio::test]
async fn hop_by_hop_request_headers_are_stripped() {
    let (proxy, backend) = proxy_with("").await;
    let seen = via_raw(
        &proxy,
        &backend,
        b"GET /hop HTTP/1.1\r\nHost: a.example\r\n\
          Connection: close, X-Secret, x-other\r\n\
          X-Secret: s3cret\r\nX-Other: o\r\nKeep-Alive: timeout=5\r\n\
          Proxy-Connection: keep-alive\r\nUpgrade: websocket\r\nTE: gzip\r\n\
          X-Kept: yes\r\n\r\n",
    )
    .await;
    for gone in [
        "connection",
        "x-secret",
        "x-other",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "transfer-encoding",
    ] {
        assert!(
            !seen.headers.contains_key(gone),
            "{gone} reached the backend: {:?}",
            seen.headers
        );
    }
    assert_eq!(seen.header("x-kept"), Some("yes"));
    assert_eq!(seen.uri, "/hop");
}

#[tokio::test]
async fn connection_cannot_nominate_headers_shoal_manages() {
    let (proxy, backend) = proxy_with("").await;
    let seen = via_raw(
        &proxy,
        &backend,
        b"GET / HTTP/1.1\r\nHost: a.example\r\n\
          Connection: close, x-forwarded-for, X-Request-Id, host, x-forwarded-proto\r\n\
          X-Forwarded-For: 10.0.0.1\r\nX-Request-Id: keep-me\r\n\r\n",
    )
    .await;
    assert_eq!(
        all_values(&seen, "x-forwarded-for"),
        ["10.0.0.1, 127.0.0.1"],
        "a client must not delete the X-Forwarded-For chain"
    );
    assert_eq!(all_values(&seen, "x-request-id"), ["keep-me"]);
    assert_eq!(seen.header("host"), Some("a.example"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
}

#[tokio::test]
async fn te_trailers_is_kept_other_te_values_are_not() {
    let (proxy, backend) = proxy_with("").await;
    let client = TestClient::http1();
    let url = proxy.url("/");
    for (sent, expected) in [
        ("trailers", Some("trailers")),
        ("trailers, deflate", Some("trailers")),
        ("deflate;q=0.5, Trailers", Some("trailers")),
        ("gzip", None),
    ] {
        get_h(&client, &url, &[("te", sent)]).await;
        let seen = backend.last_request().expect("recorded");
        let values = all_values(&seen, "te");
        match expected {
            Some(v) => assert_eq!(values, [v], "TE: {sent}"),
            None => assert!(values.is_empty(), "TE: {sent} forwarded as {values:?}"),
        }
    }
}

#[tokio::test]
async fn hop_by_hop_response_headers_from_the_backend_are_stripped() {
    let backend = TestBackend::http()
        .name("b")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("keep-alive", "timeout=5, max=100")
        .header("proxy-connection", "keep-alive")
        .header("upgrade", "h2c")
        .header("x-kept", "yes")
        .await;
    let proxy = TestProxy::start(&single(1, "round_robin", &[&backend], ""));
    let response = get(&TestClient::http1(), &proxy.url("/")).await;
    assert_eq!(response.status, 200);
    for gone in [
        "x-hop",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "connection",
    ] {
        assert!(
            !response.headers.contains_key(gone),
            "{gone} reached the client: {:?}",
            response.headers
        );
    }
    assert_eq!(response.header("x-kept"), Some("yes"));
    assert_eq!(response.text(), "b");
}
