//! HTTP over TLS: ALPN picks HTTP/2 or HTTP/1.1 (the backend gets HTTP/1.1 either way),
//! backends learn the request was https, and an http listener can send clients to https.

use http::Version;
use shoal_test_support::{TestBackend, TestProxy};

use super::*;
use crate::support::RawConn;

async fn one_certificate(name: &str) -> (Pki, TestBackend, TestProxy) {
    let pki = Pki::new(name);
    let (_, cert, key) = pki.issue("shop", &["shop.example.com"]);
    let backend = TestBackend::http().name("b").record(64).await;
    let proxy = TestProxy::start(&https_config(&certificates(&[(&cert, &key)]), &backend, ""));
    (pki, backend, proxy)
}

#[tokio::test]
async fn alpn_h2_is_http2_end_to_end_to_an_http11_backend() {
    let (pki, backend, proxy) = one_certificate("tls-h2").await;
    let addr = proxy.listener("secure");
    let config = client_config(&pki.ca, &["h2", "http/1.1"], BOTH, None);
    let stream = connect(addr, "shop.example.com", config)
        .await
        .expect("handshake");
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(b"h2".as_slice()),
        "h2 preferred"
    );
    let mut conn = HttpsConn::open(stream).await;
    for i in 0..3 {
        let answer = conn
            .get("shop.example.com", &format!("/h2/{i}?q={i}"), &[])
            .await
            .expect("h2 request");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.version, Version::HTTP_2);
        assert_eq!(answer.body, "b");
    }
    let requests = backend.requests();
    assert_eq!(requests.len(), 3);
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request.version, Version::HTTP_11, "HTTP/1.1 to the backend");
        assert_eq!(request.uri.to_string(), format!("/h2/{i}?q={i}"));
        assert_eq!(request.header("host"), Some("shop.example.com"));
        assert_eq!(request.header("x-forwarded-proto"), Some("https"));
    }
}

#[tokio::test]
async fn alpn_http11_and_no_alpn_are_http11() {
    let (pki, backend, proxy) = one_certificate("tls-h1").await;
    let addr = proxy.listener("secure");
    for alpn in [&["http/1.1"][..], &[][..]] {
        let config = client_config(&pki.ca, alpn, BOTH, None);
        let stream = connect(addr, "shop.example.com", config)
            .await
            .expect("handshake");
        let expected = if alpn.is_empty() {
            None
        } else {
            Some(b"http/1.1".as_slice())
        };
        assert_eq!(stream.get_ref().1.alpn_protocol(), expected);
        let mut conn = HttpsConn::open(stream).await;
        for _ in 0..2 {
            let answer = conn
                .get("shop.example.com", "/one", &[])
                .await
                .expect("keep-alive request");
            assert_eq!(answer.status, 200);
            assert_eq!(answer.version, Version::HTTP_11);
        }
    }
    assert_eq!(backend.hits(), 4);
}

#[tokio::test]
async fn x_forwarded_proto_is_https_whatever_the_client_claims() {
    let (pki, backend, proxy) = one_certificate("tls-xfp").await;
    let addr = proxy.listener("secure");
    for alpn in ["http/1.1", "h2"] {
        let config = client_config(&pki.ca, &[alpn], BOTH, None);
        let stream = connect(addr, "shop.example.com", config)
            .await
            .expect("handshake");
        let answer = HttpsConn::open(stream)
            .await
            .get(
                "shop.example.com",
                "/xfp",
                &[
                    ("x-forwarded-proto", "http"),
                    ("x-forwarded-for", "6.6.6.6"),
                ],
            )
            .await
            .expect("request");
        assert_eq!(answer.status, 200);
        let seen = backend.last_request().expect("recorded");
        assert_eq!(seen.header("x-forwarded-proto"), Some("https"), "{alpn}");
        assert_eq!(
            seen.header("x-forwarded-for"),
            Some("6.6.6.6, 127.0.0.1"),
            "{alpn}: X-Forwarded-For still appends"
        );
    }
}

#[tokio::test]
async fn redirect_https_answers_308_to_the_https_url_without_a_backend() {
    let pki = Pki::new("tls-redirect");
    let (_, cert, key) = pki.issue("shop", &["shop.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let more = "[listeners.plain]\nbind = \"127.0.0.1:0\"\nredirect_https = true\n\n\
                [listeners.plain_port]\nbind = \"127.0.0.1:0\"\nredirect_https = { port = 8443 }\n";
    let proxy = TestProxy::start(&https_config(
        &certificates(&[(&cert, &key)]),
        &backend,
        more,
    ));
    for (listener, host, target, location) in [
        (
            "plain",
            "Shop.Example.com:8080",
            "/a/b?x=1&y=2",
            "https://shop.example.com/a/b?x=1&y=2",
        ),
        (
            "plain",
            "shop.example.com",
            "/",
            "https://shop.example.com/",
        ),
        (
            "plain_port",
            "shop.example.com:8080",
            "/cart?id=7",
            "https://shop.example.com:8443/cart?id=7",
        ),
        ("plain_port", "[::1]:80", "/v6", "https://[::1]:8443/v6"),
    ] {
        let mut conn = RawConn::connect(proxy.listener(listener)).await;
        conn.send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
            .await;
        let response = conn.read_response(WAIT).await;
        assert_eq!(response.status, 308, "{listener} {host}{target}");
        assert_eq!(
            response.header("location"),
            Some(location),
            "{listener} {host}{target}"
        );
        assert!(response.header("x-request-id").is_some());
        // The same connection serves the next request.
        conn.send(b"POST /form HTTP/1.1\r\nHost: shop.example.com\r\ncontent-length: 3\r\n\r\nabc")
            .await;
        let response = conn.read_response(WAIT).await;
        assert_eq!(
            response.status, 308,
            "a POST is redirected too (308 keeps it)"
        );
    }
    // No Host to build the URL from.
    let mut conn = RawConn::connect(proxy.listener("plain")).await;
    conn.send(b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(conn.read_response(WAIT).await.status, 400);
    assert_eq!(backend.hits(), 0, "a redirect never reaches a backend");
}

#[tokio::test]
async fn a_slow_request_head_over_tls_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let pki = Pki::new("tls-408");
    let (_, cert, key) = pki.issue("shop", &["shop.example.com"]);
    let backend = TestBackend::http().name("b").await;
    let text = https_config(&certificates(&[(&cert, &key)]), &backend, "").replace(
        "protocol = \"https\"\n",
        "protocol = \"https\"\nheader_read_timeout = \"300ms\"\n",
    );
    let proxy = TestProxy::start(&text);
    let config = client_config(&pki.ca, &["http/1.1"], BOTH, None);
    let mut stream = connect(proxy.listener("secure"), "shop.example.com", config)
        .await
        .expect("handshake");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: shop.example.com\r\n")
        .await
        .expect("half a head");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the proxy closes the connection");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert_eq!(backend.hits(), 0);
}
