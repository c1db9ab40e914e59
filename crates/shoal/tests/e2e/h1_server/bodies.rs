//! Request bodies in pieces, bodies never read, pipelining with bodies, Date, 204 and 304.

use super::*;

// ----- 5. Request bodies in pieces -----

#[tokio::test]
async fn chunked_request_body_in_separate_writes_reaches_the_backend_whole() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    // Cut inside the size line, inside the data, between data and CRLF, in an extension,
    // and before the final empty line: each piece is read before the next is sent.
    let pieces: [&[u8]; 8] = [
        b"POST /chunks HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5\r\nhel",
        b"lo",
        b"\r\n1",
        b"0;name=value\r\n0123456789",
        b"abcdef\r\n3\r\n!!!\r\n0\r\n",
        b"X-Trailer: t\r\n",
        b"\r\n",
    ];
    let mut sent = 0u64;
    for piece in pieces {
        assert_eq!(
            backend.hits(),
            0,
            "the backend has a whole request before the last piece"
        );
        wire.send(piece).await;
        sent += piece.len() as u64;
        until_read(&proxy, sent).await;
    }
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.uri, "/chunks");
    assert_eq!(seen.body, "hello0123456789abcdef!!!");

    wire.send(get_req("/after").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 200, "the connection goes on: {:?}", head.text);
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn content_length_body_in_separate_writes_reaches_the_backend_whole() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    let pieces: [&[u8]; 5] = [
        b"POST /length HTTP/1.1\r\nHost: a.ex",
        b"ample\r\nContent-Length: 26\r\n\r\n",
        b"abcdefgh",
        b"ijklmnopq",
        b"rstuvwxyz",
    ];
    let mut sent = 0u64;
    for piece in pieces {
        assert_eq!(backend.hits(), 0, "a whole request before the last piece");
        wire.send(piece).await;
        sent += piece.len() as u64;
        until_read(&proxy, sent).await;
    }
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"b");
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.body, "abcdefghijklmnopqrstuvwxyz");
    assert_eq!(seen.header("host"), Some("a.example"));

    wire.send(get_req("/after").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 200, "the connection goes on: {:?}", head.text);
    assert_eq!(backend.hits(), 2);
}

// ----- 6. A body the proxy never read -----

#[tokio::test]
async fn unread_body_of_a_refused_post_is_skipped_and_the_connection_goes_on() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    // The body looks like a request: if it were parsed as one, the backend would see it.
    let inner = "GET /app/smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n";
    let framings = [
        format!("Content-Length: {}\r\n\r\n{inner}", inner.len()),
        format!(
            "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{inner}\r\n0\r\n\r\n",
            inner.len()
        ),
    ];
    // The next request comes after the 404, or in the same write as the refused POST.
    for framing in &framings {
        for pipelined in [false, true] {
            let what = format!("{framing:?} (next request in the same write: {pipelined})");
            let mut wire = Wire::connect(proxy.addr()).await;
            let request = format!("POST /nowhere HTTP/1.1\r\nHost: a.example\r\n{framing}");
            let next = get_req("/app/next");
            if pipelined {
                wire.send(format!("{request}{next}").as_bytes()).await;
            } else {
                wire.send(request.as_bytes()).await;
            }
            let (head, _) = wire.response().await;
            assert_eq!(head.status, 404, "{what}: {:?}", head.text);
            assert_eq!(
                head.header("connection"),
                None,
                "{what}: the whole body was here, so the connection stays: {:?}",
                head.text
            );
            if !pipelined {
                wire.send(next.as_bytes()).await;
            }
            let (head, body) = wire.response().await;
            assert_eq!(head.status, 200, "{what}: {:?}", head.text);
            assert_eq!(body, b"b", "{what}");
            assert!(
                wire.buf.is_empty(),
                "{what}: a third answer: {:?}",
                String::from_utf8_lossy(&wire.buf)
            );
        }
    }
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(
        paths, ["/app/next"; 4],
        "only the real next requests reach the backend"
    );
}

// ----- 7. Pipelining with bodies -----

#[tokio::test]
async fn pipelined_post_with_body_then_get_are_both_answered_in_order() {
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_to(&backend);
    let get = "GET /after HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n";
    let posts = [
        "POST /post HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello".to_string(),
        "POST /post HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
            .to_string(),
    ];
    for post in posts {
        let before = backend.requests().len();
        let outcome = raw_exchange(proxy.addr(), format!("{post}{get}").as_bytes(), WAIT).await;
        let statuses: Vec<u16> = outcome.responses().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 200], "{post:?}: {:?}", outcome.text());
        assert!(outcome.closed, "{post:?}: Connection: close on the GET");
        let seen: Vec<(String, String, String)> = backend.requests()[before..]
            .iter()
            .map(|r| {
                (
                    r.method.to_string(),
                    r.uri.to_string(),
                    String::from_utf8_lossy(&r.body).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("POST".to_string(), "/post".to_string(), "hello".to_string()),
                ("GET".to_string(), "/after".to_string(), String::new()),
            ],
            "{post:?}"
        );
    }
}

// ----- 8. Date -----

#[tokio::test]
async fn answers_without_a_date_get_one_and_a_backend_date_is_kept() {
    // shoal's own answer.
    let backend = TestBackend::http().name("b").await;
    let proxy = proxy_with_app_prefix(&backend);
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/nowhere").as_bytes()).await;
    let (head, _) = wire.response().await;
    assert_eq!(head.status, 404);
    let dates = head.all("date");
    assert_eq!(dates.len(), 1, "one date on shoal's 404: {:?}", head.text);
    assert!(is_imf_fixdate(dates[0]), "{:?}", dates[0]);

    // A backend answer without one (the raw backend sends none).
    let raw = RawBackend::start(CHUNKED_ANSWER, false).await;
    let proxy = raw.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/").as_bytes()).await;
    let head = wire.head().await;
    let dates = head.all("date");
    assert_eq!(dates.len(), 1, "a date added: {:?}", head.text);
    assert!(is_imf_fixdate(dates[0]), "{:?}", dates[0]);

    // A backend's own Date is passed on as it is, not doubled.
    let dated = RawBackend::start(
        b"HTTP/1.1 200 OK\r\nDate: Tue, 01 Jan 2030 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
        false,
    )
    .await;
    let proxy = dated.proxy();
    let mut wire = Wire::connect(proxy.addr()).await;
    wire.send(get_req("/").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(body, b"ok");
    assert_eq!(
        head.all("date"),
        ["Tue, 01 Jan 2030 00:00:00 GMT"],
        "{:?}",
        head.text
    );
}

// ----- 9. 204 and 304 -----

#[tokio::test]
async fn no_content_and_not_modified_carry_no_body_and_the_connection_goes_on() {
    let no_content = TestBackend::http().name("nc").status(204).body("").await;
    let ok = TestBackend::http().name("ok").await;
    // A 304 may describe the representation's length; no body follows it all the same.
    let not_modified = RawBackend::start(
        b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 11\r\n\r\n",
        false,
    )
    .await;
    let text = config(
        1,
        "",
        &format!(
            "{}{}{}{}{}[upstreams.nm]\nbackends = [\"{}\"]\n",
            route("{ path = \"/nc\" }", "upstream = \"nc\"", ""),
            route("{ path = \"/nm\" }", "upstream = \"nm\"", ""),
            route("", "upstream = \"ok\"", ""),
            upstream("nc", "round_robin", &[&no_content], ""),
            upstream("ok", "round_robin", &[&ok], ""),
            not_modified.addr,
        ),
    );
    let proxy = TestProxy::start(&text);
    let mut wire = Wire::connect(proxy.addr()).await;

    wire.send(get_req("/nc").as_bytes()).await;
    let head = wire.head().await;
    assert_eq!(head.status, 204, "{:?}", head.text);
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        None,
        "RFC 9110 §8.6: no Content-Length on a 204: {:?}",
        head.text
    );
    assert_eq!(head.header("connection"), None, "{:?}", head.text);

    wire.send(b"GET /nm HTTP/1.1\r\nHost: a.example\r\nIf-None-Match: \"v1\"\r\n\r\n")
        .await;
    let head = wire.head().await;
    assert_eq!(head.status, 304, "{:?}", head.text);
    assert_eq!(head.header("etag"), Some("\"v1\""), "{:?}", head.text);
    assert_eq!(head.header("transfer-encoding"), None, "{:?}", head.text);
    assert_eq!(head.header("connection"), None, "{:?}", head.text);
    assert_eq!(
        head.header("content-length"),
        Some("11"),
        "a 304's length is the representation's, passed on: {:?}",
        head.text
    );

    // Any body byte of either would sit in front of this status line.
    wire.send(get_req("/ok").as_bytes()).await;
    let (head, body) = wire.response().await;
    assert_eq!(head.status, 200, "{:?}", head.text);
    assert_eq!(body, b"ok");
    assert!(
        wire.buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&wire.buf)
    );
    assert_eq!(no_content.hits(), 1);
    assert_eq!(not_modified.heads().len(), 1);
}
