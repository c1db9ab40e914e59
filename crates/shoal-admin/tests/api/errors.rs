//! Bad requests: every one gets a JSON error with the right status, and the next request is
//! served normally.

use std::time::Duration;

use http::Method;

use crate::harness::TestServer;

const WEIGHT: &str = "/api/v1/upstreams/api/backends/127.0.0.1:9001/weight";

#[tokio::test]
async fn malformed_json_says_what_is_wrong() {
    let server = TestServer::start().await;
    let response = server
        .send_json(Method::PUT, WEIGHT, r#"{"weight": 3,,}"#)
        .await;
    let json = response.assert_error(400, "invalid_json");
    let message = json["error"].as_str().unwrap_or_default();
    assert!(message.contains("line 1 column"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let server = TestServer::start().await;
    for headers in [
        vec![],
        vec![("content-type", "text/plain")],
        vec![("content-type", "application/x-www-form-urlencoded")],
    ] {
        let response = server
            .request(
                Method::PUT,
                WEIGHT,
                &headers,
                Some(r#"{"weight": 3}"#.to_string()),
            )
            .await;
        let json = response.assert_error(415, "unsupported_media_type");
        assert!(
            json["error"]
                .as_str()
                .unwrap_or_default()
                .contains("application/json"),
            "{json}"
        );
    }
    // A charset parameter is fine.
    let response = server
        .request(
            Method::PUT,
            WEIGHT,
            &[("content-type", "application/json; charset=utf-8")],
            Some(r#"{"weight": 3}"#.to_string()),
        )
        .await;
    assert_eq!(response.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let server = TestServer::start().await;
    for path in [
        "/index.html",
        "/ui/",
        "/api",
        "/api/v1",
        "/api/v2/upstreams",
        "/api/v1/upstreams/",
        "/api/v1/upstreams/api/backends/127.0.0.1:9001/explode",
        "/api/v1/upstreams/api/backends/127.0.0.1:9001/drain/x",
        "/metrics/",
        "/live/",
    ] {
        let response = server.get(path).await;
        let json = response.assert_error(404, "not_found");
        assert!(
            json["error"]
                .as_str()
                .unwrap_or_default()
                .contains("no such endpoint"),
            "{path}: {json}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn wrong_methods_are_405_json_with_allow() {
    let server = TestServer::start().await;
    for (method, path, allow) in [
        (Method::POST, "/live", "GET,HEAD"),
        (Method::DELETE, "/api/v1/upstreams", "GET,HEAD"),
        (Method::GET, "/api/v1/reload", "POST"),
        (
            Method::GET,
            "/api/v1/upstreams/api/backends/127.0.0.1:9001/drain",
            "POST",
        ),
        (Method::POST, WEIGHT, "PUT"),
        (Method::PATCH, "/api/v1/upstreams/api/backends", "POST"),
        (
            Method::GET,
            "/api/v1/upstreams/api/backends/127.0.0.1:9001",
            "DELETE",
        ),
    ] {
        let response = server.request(method.clone(), path, &[], None).await;
        let json = response.assert_error(405, "method_not_allowed");
        assert!(
            json["error"]
                .as_str()
                .unwrap_or_default()
                .contains(method.as_str()),
            "{json}"
        );
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
    }
    assert!(server.control.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let server = TestServer::start().await;
    let padding = " ".repeat(shoal_admin::MAX_BODY_BYTES);
    let body = format!(r#"{{"weight": 3{padding}}}"#);
    let response = server.send_json(Method::PUT, WEIGHT, &body).await;
    response.assert_error(413, "payload_too_large");

    // Announced by Content-Length but never sent in full: refused from the header alone.
    let head = format!(
        "POST /api/v1/upstreams/api/backends HTTP/1.1\r\nhost: x\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{{",
        10 * shoal_admin::MAX_BODY_BYTES
    );
    let answer = server.raw(head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    // Chunked, no length announced.
    let chunk = "a".repeat(16 * 1024);
    let mut request = String::from(
        "POST /api/v1/upstreams/api/backends HTTP/1.1\r\nhost: x\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    for _ in 0..6 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let answer = server.raw(request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    assert!(server.control.calls().is_empty());
    assert_eq!(server.get("/live").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_in_the_path_is_400_json() {
    let server = TestServer::start().await;
    let response = server.get("/api/v1/upstreams/%FF%FE").await;
    response.assert_error(400, "invalid_path");
    let response = server
        .post("/api/v1/upstreams/api/backends/%C0%AF/drain")
        .await;
    response.assert_error(400, "invalid_path");
    assert!(server.control.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_control_is_a_500_and_the_server_lives_on() {
    let server = TestServer::start().await;
    server.control.panic_next();
    let response = server.post("/api/v1/reload").await;
    response.assert_error(500, "internal");
    let response = server.get("/api/v1/upstreams/api").await;
    assert_eq!(response.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn garbage_bytes_get_400_and_the_next_request_works() {
    let server = TestServer::start().await;
    for garbage in [
        &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
        b"GET /live HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n",
        b"GET /live HTTP/9.9\r\n\r\n",
        b"PUT /api/v1/upstreams/api/backends/127.0.0.1:9001/weight HTTP/1.1\r\nhost: x\r\n\
          content-type: application/json\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n{}",
    ] {
        let answer = server.raw(garbage).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
            "{garbage:?} -> {answer}"
        );
    }
    // A huge head.
    let long = format!(
        "GET /live HTTP/1.1\r\nhost: x\r\nx-long: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let answer = server.raw(long.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(server.get("/live").await.status, 200);
    assert!(server.control.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start().await;
    let answer = server
        .raw(
            b"GET /live HTTP/1.1\r\nhost: x\r\n\r\n\
              GET /api/v1/upstreams/nope HTTP/1.1\r\nhost: x\r\n\r\n\
              GET /ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 404").count(), 1, "{answer}");
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_finishes_is_408() {
    let server = TestServer::start().await;
    let answer = server
        .raw_within(
            b"PUT /api/v1/upstreams/api/backends/127.0.0.1:9001/weight HTTP/1.1\r\nhost: x\r\n\
              content-type: application/json\r\ncontent-length: 20\r\n\r\n{\"weight\"",
            Duration::from_secs(60),
        )
        .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
    assert!(server.control.calls().is_empty());
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_head_that_never_finishes_is_cut() {
    let server = TestServer::start().await;
    // hyper closes the connection without an answer.
    let answer = server
        .raw_within(
            b"GET /live HTTP/1.1\r\nhost: x\r\n",
            Duration::from_secs(60),
        )
        .await;
    assert!(answer.is_empty(), "{answer}");
    server.stop().await;
}
