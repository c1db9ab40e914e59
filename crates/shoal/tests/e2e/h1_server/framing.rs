//! 100-continue, HEAD, HTTP/1.0 and answers of unknown length: how each is framed.

use super::*;

// ----- 1. Expect: 100-continue -----

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(
        b"POST /upload HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\n\
          Content-Length: 11\r\n\r\n",
    )
    .await;
    // Nothing of the body is sent before the go-ahead: a server that waits for it hangs.
    let interim = wire.head().await;
    assert_eq!(
        interim.text, "HTTP/1.1 100 Continue\r\n\r\n",
        "the interim answer, exactly"
    );
    assert_eq!(
        backend.hits(),
        0,
        "the backend cannot have a whole request yet"
    );

    wire.send(b"hello world").await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.uri, "/upload");
    assert_eq!(seen.body, "hello world", "the backend got the whole body");

    // The connection goes on, and no second 100 turns up in front of the next answer.
    wire.send(get_req("/next").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn expect_100_continue_refused_before_the_body_gets_no_100_and_closes() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(
        b"POST /nowhere HTTP/1.1\r\nHost: a.example\r\nExpect: 100-continue\r\n\
          Content-Length: 11\r\n\r\n",
    )
    .await;
    let (head, body) = wire.response().await;
    assert_eq!(
        head.status, 404,
        "the final status comes first, no 100: {:?}",
        head.text
    );
    assert_error_body(
        404,
        &String::from_utf8_lossy(&body),
        head.header("x-request-id"),
        "no route matches",
    );
    // RFC 9110 §10.1.1: a server answering before reading the content SHOULD say whether it
    // will close; shoal closes (the body never came), so the answer must announce it.
    assert_eq!(
        head.header("connection"),
        Some("close"),
        "a final answer sent without reading the announced body must say the connection \
         closes: {:?}",
        head.text
    );
    wire.assert_closed("the unread body cannot be skipped")
        .await;
    assert_eq!(backend.hits(), 0);
    assert_still_serving_app(&proxy).await;
}

#[tokio::test]
async fn refused_post_with_its_body_still_coming_is_told_close_and_closed() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    // 1 000 of 100 000 announced bytes: the rest cannot be skipped, the connection ends.
    let mut request =
        b"POST /nowhere HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100000\r\n\r\n".to_vec();
    request.extend_from_slice(&[b'x'; 1000]);
    wire.send(&request).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 404, "{:?}", head.text);
    assert_eq!(
        head.header("connection"),
        Some("close"),
        "the answer must say the connection closes (RFC 9112 §9.6): {:?}",
        head.text
    );
    wire.assert_closed("the unread body cannot be skipped")
        .await;
    assert_eq!(backend.hits(), 0);
    assert_still_serving_app(&proxy).await;
}

/// Like `assert_still_serving` for a proxy that only routes `/app/`.
async fn assert_still_serving_app(proxy: &TestProxy) {
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/app/check").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(
        head.status, 200,
        "follow-up on a new connection: {:?}",
        head.text
    );
}

// ----- 2. HEAD -----

#[tokio::test]
async fn head_gets_the_backend_length_without_body_bytes_and_the_connection_goes_on() {
    let backend = TestBackend::http().name("b").body("hello world").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"HEAD /h HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(
        head.all("content-length"),
        ["11"],
        "the length a GET would have had: {:?}",
        head.text
    );
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    assert_eq!(head.header("connection"), None, "{:?}", head.text);
    assert_eq!(
        backend.last_request().expect("recorded").method,
        http::Method::HEAD
    );

    // Any body byte after the HEAD answer would now sit in front of the next status line.
    wire.send(get_req("/g").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"hello world");
    assert!(
        wire.buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&wire.buf)
    );
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn head_to_a_backend_of_unknown_length_invents_no_length() {
    // What a server that streams its GETs answers to HEAD: no length at all.
    let backend = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Raw: head\r\n\r\n",
        false,
    )
    .await;
    let proxy = backend.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"HEAD /h HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(head.header("x-raw"), Some("head"), "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        None,
        "the GET's length is unknown; a HEAD answer must not claim one: {:?}",
        head.text
    );
    assert!(backend.heads()[0].starts_with("HEAD /h HTTP/1.1\r\n"));

    wire.send(b"HEAD /again HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 200, "the connection goes on: {:?}", head.text);
    assert_eq!(backend.heads().len(), 2);
}

#[tokio::test]
async fn head_to_an_answer_shoal_gives_itself_has_no_body() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"HEAD /nowhere HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 404, "{:?}", head.text);
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    wire.send(get_req("/app/next").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(
        head.status, 200,
        "no 404 body bytes in front: {:?}",
        head.text
    );
    assert_eq!(body, b"b");
    assert_eq!(backend.hits(), 1);
}

// ----- 3. HTTP/1.0 -----

#[tokio::test]
async fn http10_without_keep_alive_is_told_close_and_closed() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(b"GET /old HTTP/1.0\r\nHost: a.example\r\n\r\n")
        .await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    assert_eq!(head.header("content-length"), Some("1"), "{:?}", head.text);
    assert_eq!(head.all("connection"), ["close"], "{:?}", head.text);
    wire.assert_closed("HTTP/1.0 without keep-alive").await;
}

#[tokio::test]
async fn http10_with_keep_alive_serves_the_next_request() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    for path in ["/one", "/two"] {
        wire.send(
            format!("GET {path} HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n")
                .as_bytes(),
        )
        .await;
        let (head, body) = wire.response().await;
        assert_eq!(head.status, 200, "{path}: {:?}", head.text);
        assert_eq!(body, b"b", "{path}");
        assert_eq!(
            head.all("connection"),
            ["keep-alive"],
            "{path}: an HTTP/1.0 client needs keep-alive said: {:?}",
            head.text
        );
        assert_eq!(head.header("content-length"), Some("1"), "{:?}", head.text);
    }
    // The last one without keep-alive ends it.
    wire.send(b"GET /three HTTP/1.0\r\nHost: a.example\r\n\r\n")
        .await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 200);
    assert_eq!(head.all("connection"), ["close"], "{:?}", head.text);
    wire.assert_closed("HTTP/1.0 after keep-alive").await;
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(paths, ["/one", "/two", "/three"]);
}

// ----- 4. Bodies of unknown length -----

/// An answer of unknown length as an HTTP/1.1 client gets it: chunked once, no length, and
/// no `connection` field (the connection goes on).
fn assert_chunked_keep_alive(head: &Head, path: &str) {
    assert_eq!(
        head.all("transfer-encoding"),
        ["chunked"],
        "{path}: {:?}",
        head.text
    );
    assert_eq!(
        head.header("content-length"),
        None,
        "{path}: {:?}",
        head.text
    );
    assert_eq!(head.header("connection"), None, "{path}: {:?}", head.text);
}

#[tokio::test]
async fn chunked_backend_answer_reaches_an_http11_client_chunked() {
    let backend = RawBackend::start(CHUNKED_ANSWER, false).await;
    let proxy = backend.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    for path in ["/first", "/second"] {
        wire.send(get_req(path).as_bytes()).await;
        let head = wire.head().await;
        assert_eq!(head.status, 200, "{path}: {:?}", head.text);
        assert_eq!(head.header("x-raw"), Some("chunked"), "{:?}", head.text);
        assert_chunked_keep_alive(&head, path);
        let (body, raw) = wire.chunked().await;
        assert_eq!(body, b"hello world", "{path}: chunks as sent {raw:?}");
        assert!(raw.ends_with("\r\n0\r\n\r\n"), "{path}: last chunk {raw:?}");
    }
    assert!(
        wire.buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&wire.buf)
    );
    assert_eq!(backend.heads().len(), 2);
}

#[tokio::test]
async fn close_delimited_backend_answer_reaches_an_http11_client_chunked() {
    let backend = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the backend closes",
        true,
    )
    .await;
    let proxy = backend.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    for path in ["/first", "/second"] {
        wire.send(get_req(path).as_bytes()).await;
        let head = wire.head().await;
        assert_eq!(head.status, 200, "{path}: {:?}", head.text);
        // The backend's close is its own hop's: the client's connection goes on.
        assert_chunked_keep_alive(&head, path);
        let (body, raw) = wire.chunked().await;
        assert_eq!(body, b"until the backend closes", "{path}: {raw:?}");
    }
}

#[tokio::test]
async fn chunked_backend_answer_reaches_an_http10_client_close_delimited() {
    let backend = RawBackend::start(CHUNKED_ANSWER, false).await;
    let proxy = backend.proxy();
    // Even asked for keep-alive: a body of unknown length can only end with the connection.
    for request in [
        "GET /old HTTP/1.0\r\nHost: a.example\r\n\r\n",
        "GET /old HTTP/1.0\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let mut wire = Wire::connect(proxy.addr()).await;
        wire.send(request.as_bytes()).await;
        let head = wire.head().await;
        assert_eq!(head.status, 200, "{request:?}: {:?}", head.text);
        assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
        assert_eq!(head.header("content-length"), None, "{:?}", head.text);
        assert_eq!(head.all("connection"), ["close"], "{:?}", head.text);
        let body = wire.until_close().await;
        assert_eq!(
            String::from_utf8_lossy(&body),
            "hello world",
            "{request:?}: the body, then the close"
        );
    }
    assert_eq!(backend.heads().len(), 2);
}
