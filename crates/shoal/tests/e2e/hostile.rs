//! Hostile HTTP/1 input over raw sockets (reliability.md §2.1–2.3, checklist A): each bad
//! message gets one 4xx and a closed connection, and nothing after it — in particular no
//! smuggled second request — reaches the backend. The next request on a new connection
//! still works.

use std::time::Duration;

use shoal_test_support::{TestBackend, TestProxy};

use crate::support::*;

/// Appended to every hostile message: if the proxy ever treats it as a request, the backend
/// records a request for `/smuggled`.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n";

async fn start() -> (TestProxy, TestBackend) {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&single(1, "round_robin", &[&backend], ""));
    (proxy, backend)
}

/// Sends `head_and_body` followed by [`SMUGGLED`] on one connection; asserts one answer
/// with a status in `allowed`, then a close, and that the backend saw nothing.
async fn assert_rejected(proxy: &TestProxy, backend: &TestBackend, message: &str, allowed: &[u16]) {
    let before = backend.hits();
    let bytes = format!("{message}{SMUGGLED}");
    let outcome = raw_exchange(proxy.addr(), bytes.as_bytes(), Duration::from_secs(5)).await;
    let responses = outcome.responses();
    assert_eq!(
        responses.len(),
        1,
        "{message:?}: expected exactly one answer, got {:?}",
        outcome.text()
    );
    assert!(
        allowed.contains(&responses[0].status),
        "{message:?}: status {} not in {allowed:?}: {:?}",
        responses[0].status,
        outcome.text()
    );
    assert!(outcome.closed, "{message:?}: the connection must be closed");
    let smuggled: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .filter(|u| u.contains("smuggled"))
        .collect();
    assert!(
        smuggled.is_empty(),
        "{message:?}: smuggled request reached the backend"
    );
    assert_eq!(
        backend.hits(),
        before,
        "{message:?}: nothing of a rejected message may reach the backend"
    );
    assert_still_serving(proxy).await;
}

/// Smuggling gadgets: a front end trusting CL would see the "0\r\n\r\n" AND the smuggled
/// request as one body; one trusting TE sees an empty body and then a second request.
const CL_TE: [&str; 2] = [
    "POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\
     Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\
     Content-Length: 5\r\n\r\n0\r\n\r\n",
];

/// CL + TE together: refused with 400 and a close (as nginx does), never guessed at; nothing
/// of the message, and in particular not the smuggled request, reaches the backend.
#[tokio::test]
async fn content_length_with_transfer_encoding_never_smuggles() {
    let (proxy, backend) = start().await;
    for case in CL_TE {
        assert_rejected(&proxy, &backend, case, &[400]).await;
    }
}

#[tokio::test]
async fn conflicting_content_lengths_are_rejected() {
    let (proxy, backend) = start().await;
    for case in [
        "POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5, 6\r\n\r\nhello!",
    ] {
        assert_rejected(&proxy, &backend, case, &[400]).await;
    }
}

#[tokio::test]
async fn invalid_content_length_values_are_rejected() {
    let (proxy, backend) = start().await;
    for value in [
        "+5",
        "-1",
        "0x10",
        "5 5",
        "1e3",
        "",
        "99999999999999999999999999999",
    ] {
        let case =
            format!("POST / HTTP/1.1\r\nHost: a.example\r\nContent-Length: {value}\r\n\r\nhello");
        assert_rejected(&proxy, &backend, &case, &[400]).await;
    }
}

const BAD_CHUNK_SIZES: [&str; 4] = ["0x5", " 5", "+5", "fffffffffffffffff5"];

fn bad_chunk(size: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n\
         {size}\r\nhello\r\n0\r\n\r\n"
    )
}

/// The head is forwarded before the body is read, so the backend may see the start of the
/// request; it must never see a whole request, and the client gets a 400 (its fault, not the
/// backend's).
#[tokio::test]
async fn bad_chunk_sizes_are_400_and_never_reach_the_backend() {
    let (proxy, backend) = start().await;
    for size in BAD_CHUNK_SIZES {
        let bytes = bad_chunk(size);
        assert_rejected(&proxy, &backend, &bytes, &[400]).await;
        let outcome = raw_exchange(proxy.addr(), bytes.as_bytes(), Duration::from_secs(5)).await;
        let response = outcome.assert_one_then_closed(400, &bytes);
        assert_error_body(
            400,
            &response.text(),
            response.header("x-request-id"),
            "the request body could not be read",
        );
    }
}

#[tokio::test]
async fn transfer_encoding_other_than_a_final_chunked_is_rejected() {
    let (proxy, backend) = start().await;
    for te in ["xchunked", "chunked, gzip", "gzip", "identity"] {
        let case = format!(
            "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: {te}\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n"
        );
        assert_rejected(&proxy, &backend, &case, &[400, 501]).await;
    }
}

#[tokio::test]
async fn repeated_chunked_coding_is_rejected() {
    let (proxy, backend) = start().await;
    for te_lines in [
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let case =
            format!("POST / HTTP/1.1\r\nHost: a.example\r\n{te_lines}\r\n5\r\nhello\r\n0\r\n\r\n");
        assert_rejected(&proxy, &backend, &case, &[400]).await;
    }
}

#[tokio::test]
async fn a_coding_before_chunked_is_rejected_not_dropped() {
    let (proxy, backend) = start().await;
    assert_rejected(
        &proxy,
        &backend,
        "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
        &[400, 422, 501],
    )
    .await;
}

#[tokio::test]
async fn http10_with_transfer_encoding_is_rejected() {
    let (proxy, backend) = start().await;
    assert_rejected(
        &proxy,
        &backend,
        "POST / HTTP/1.0\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\n",
        &[400],
    )
    .await;
}

#[tokio::test]
async fn obs_fold_is_rejected() {
    let (proxy, backend) = start().await;
    assert_rejected(
        &proxy,
        &backend,
        "GET / HTTP/1.1\r\nHost: a.example\r\nX-Folded: a\r\n b\r\n\r\n",
        &[400],
    )
    .await;
}

#[tokio::test]
async fn whitespace_before_the_colon_is_rejected() {
    let (proxy, backend) = start().await;
    for case in [
        "GET / HTTP/1.1\r\nHost: a.example\r\nX-Foo : bar\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    ] {
        assert_rejected(&proxy, &backend, case, &[400]).await;
    }
}

#[tokio::test]
async fn nul_bare_cr_and_bad_names_are_rejected() {
    let (proxy, backend) = start().await;
    for case in [
        "GET / HTTP/1.1\r\nHost: a.example\r\nX-Foo: a\0b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nX-Foo: a\rb\r\n\r\n",
        "GET / HTTP/1.1\rHost: a.example\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\nX\0Foo: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.example\r\n: empty-name\r\n\r\n",
    ] {
        assert_rejected(&proxy, &backend, case, &[400]).await;
    }
}

#[tokio::test]
async fn http09_request_line_is_rejected() {
    let (proxy, backend) = start().await;
    for case in [
        "GET /\r\n\r\n",
        "GET / HTTP/0.9\r\n\r\n",
        "GET / HTTP/2.7\r\nHost: a\r\n\r\n",
    ] {
        assert_rejected(&proxy, &backend, case, &[400, 505]).await;
    }
}

#[tokio::test]
async fn absurd_methods_are_rejected() {
    let (proxy, backend) = start().await;
    let long = format!(
        "{} / HTTP/1.1\r\nHost: a.example\r\n\r\n",
        "A".repeat(100_000)
    );
    for case in [
        "G@T / HTTP/1.1\r\nHost: a.example\r\n\r\n",
        "GE T / HTTP/1.1\r\nHost: a.example\r\n\r\n",
        "\x01GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
        long.as_str(),
    ] {
        assert_rejected(&proxy, &backend, case, &[400, 405, 414, 431, 501]).await;
    }
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let one = TestBackend::http().name("one").delay(ms(100)).await;
    let two = TestBackend::http().name("two").await;
    let three = TestBackend::http().name("three").await;
    let text = config(
        1,
        "",
        &format!(
            "{}{}{}{}{}{}",
            route("{ path = \"/1\" }", "upstream = \"one\"", ""),
            route("{ path = \"/2\" }", "upstream = \"two\"", ""),
            route("{ path = \"/3\" }", "upstream = \"three\"", ""),
            upstream("one", "round_robin", &[&one], ""),
            upstream("two", "round_robin", &[&two], ""),
            upstream("three", "round_robin", &[&three], ""),
        ),
    );
    let proxy = TestProxy::start(&text);
    let outcome = raw_exchange(
        proxy.addr(),
        b"GET /1 HTTP/1.1\r\nHost: a.example\r\n\r\n\
          GET /2 HTTP/1.1\r\nHost: a.example\r\n\r\n\
          GET /3 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let bodies: Vec<String> = outcome.responses().iter().map(|r| r.text()).collect();
    assert_eq!(bodies, ["one", "two", "three"], "{:?}", outcome.text());
    assert!(outcome.closed, "Connection: close on the last one");
}

#[tokio::test]
async fn pipelined_valid_invalid_valid_stops_at_the_invalid_one() {
    let (proxy, backend) = start().await;
    let outcome = raw_exchange(
        proxy.addr(),
        b"GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n\
          GET /bad HTTP/1.1\r\nHost: a.example\r\nX-Foo : bar\r\n\r\n\
          GET /third HTTP/1.1\r\nHost: a.example\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let statuses: Vec<u16> = outcome.responses().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400], "{:?}", outcome.text());
    assert!(outcome.closed);
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(paths, ["/first"], "nothing after the bad request is served");
    assert_still_serving(&proxy).await;
}

async fn absolute_form_proxy() -> (TestProxy, TestBackend, TestBackend) {
    let h = TestBackend::http().name("h").await;
    let other = TestBackend::http().name("other").await;
    let text = config(
        1,
        "",
        &format!(
            "{}{}{}{}",
            route("{ host = \"h.example\" }", "upstream = \"h\"", ""),
            route("", "upstream = \"other\"", ""),
            upstream("h", "round_robin", &[&h], ""),
            upstream("other", "round_robin", &[&other], ""),
        ),
    );
    (TestProxy::start(&text), h, other)
}

#[tokio::test]
async fn absolute_form_target_routes_by_the_uri_authority() {
    let (proxy, h, other) = absolute_form_proxy().await;
    let outcome = raw_exchange(
        proxy.addr(),
        b"GET http://h.example/x?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let response = outcome.assert_one_then_closed(200, "absolute-form");
    assert_eq!(response.text(), "h", "routed by the authority, not Host");
    assert_eq!(other.hits(), 0);
    let seen = h.last_request().expect("recorded");
    assert_eq!(seen.uri, "/x?q=1", "origin-form to the backend");
}

#[tokio::test]
async fn absolute_form_target_replaces_the_host_header() {
    let (proxy, h, _other) = absolute_form_proxy().await;
    let outcome = raw_exchange(
        proxy.addr(),
        b"GET http://h.example/x HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    outcome.assert_one_then_closed(200, "absolute-form");
    let seen = h.last_request().expect("recorded");
    // RFC 9112 §3.2.2: the Host header is replaced by the target's authority.
    assert_eq!(seen.header("host"), Some("h.example"));
    assert_eq!(seen.header("x-forwarded-host"), Some("h.example"));
}

#[tokio::test]
async fn asterisk_form_is_only_for_options() {
    let (proxy, backend) = start().await;
    assert_rejected(
        &proxy,
        &backend,
        "GET * HTTP/1.1\r\nHost: a.example\r\n\r\n",
        &[400],
    )
    .await;
}

#[tokio::test]
async fn authority_form_is_only_for_connect() {
    let (proxy, backend) = start().await;
    assert_rejected(
        &proxy,
        &backend,
        "GET a.example:80 HTTP/1.1\r\nHost: a.example\r\n\r\n",
        &[400],
    )
    .await;
}

#[tokio::test]
async fn connect_is_refused_not_forwarded_as_origin_form() {
    let (proxy, backend) = start().await;
    assert_rejected(
        &proxy,
        &backend,
        "CONNECT a.example:80 HTTP/1.1\r\nHost: a.example:80\r\n\r\n",
        &[400, 403, 405, 501],
    )
    .await;
}

#[tokio::test]
async fn underscore_header_names_do_not_reach_the_backend() {
    let (proxy, backend) = start().await;
    let outcome = raw_exchange(
        proxy.addr(),
        b"GET / HTTP/1.1\r\nHost: a.example\r\nX_Forwarded_For: 6.6.6.6\r\n\
          Connection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let responses = outcome.responses();
    assert_eq!(responses.len(), 1, "{:?}", outcome.text());
    if responses[0].status == 200 {
        let seen = backend.last_request().expect("recorded");
        assert!(
            !seen.headers.contains_key("x_forwarded_for"),
            "forwarded: {:?}",
            seen.headers
        );
    } else {
        assert_eq!(responses[0].status, 400);
        assert_eq!(backend.hits(), 0);
    }
}

#[tokio::test]
async fn a_fragment_in_the_target_is_rejected_not_dropped() {
    let (proxy, backend) = start().await;
    assert_rejected(
        &proxy,
        &backend,
        "GET /a#frag HTTP/1.1\r\nHost: a.example\r\n\r\n",
        &[400],
    )
    .await;
}
