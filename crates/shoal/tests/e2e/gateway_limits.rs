//! Request validation (`limits`), header edits, CORS, redirect and respond through the
//! proxy: every status, what reaches the backend (nothing, when refused), and the filters'
//! response headers on the backend's answers and on shoal's own.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use shoal_test_support::{TempDir, TestBackend, TestClient, TestProxy};

use crate::gateway_support::*;
use crate::support::*;

fn request(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri(url);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Bytes::from(body.to_string())).expect("request")
}

const LIMITS: &str = "[filters.lim]\nkind = \"limits\"\nmethods = [\"GET\", \"POST\"]\n\
    max_body_bytes = 64\nmax_uri_length = 40\nmax_header_count = 12\nmax_header_bytes = 600\n\
    required_headers = [\"x-tenant\"]\ncontent_types = [\"application/json\"]\n";

#[tokio::test]
async fn limits_refuse_with_each_status_before_the_backend() {
    let backend = TestBackend::http().name("b").record(64).await;
    let proxy = TestProxy::start(&gateway_config(&[&backend], &["lim"], LIMITS, ""));
    let client = TestClient::http1();
    let url = proxy.url("/api/x");
    let t = ("x-tenant", "t1");
    let send = |r| {
        let client = &client;
        async move { client.send(r).await.expect("answer") }
    };

    let ok = send(request(
        Method::POST,
        &url,
        &[t, ("content-type", "application/json")],
        "{\"a\":1}",
    ))
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        &backend.last_request().expect("recorded").body[..],
        b"{\"a\":1}"
    );
    let hits = backend.hits();

    let r = send(request(Method::DELETE, &url, &[t], "")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    assert_error_body(405, &r.text(), r.header("x-request-id"), "not allowed");
    let long = proxy.url(&format!("/api/{}", "a".repeat(50)));
    assert_eq!(
        send(request(Method::GET, &long, &[t], "")).await.status,
        414
    );
    let many: Vec<(String, String)> = (0..12).map(|i| (format!("x-h{i}"), "1".into())).collect();
    let mut many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    many.push(t);
    assert_eq!(
        send(request(Method::GET, &url, &many, "")).await.status,
        431
    );
    let big = "v".repeat(700);
    assert_eq!(
        send(request(Method::GET, &url, &[t, ("x-big", &big)], ""))
            .await
            .status,
        431
    );
    let r = send(request(Method::GET, &url, &[], "")).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("the x-tenant header is required"),
        "{}",
        r.text()
    );
    let r = send(request(
        Method::POST,
        &url,
        &[t, ("content-type", "text/plain")],
        "hi",
    ))
    .await;
    assert_eq!(r.status, 415);
    let body = "x".repeat(65);
    let r = send(request(
        Method::POST,
        &url,
        &[t, ("content-type", "application/json")],
        &body,
    ))
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(backend.hits(), hits, "nothing refused reached the backend");
    // The plain route has no limits.
    let plain = send(request(Method::DELETE, &proxy.url("/plain"), &[], "")).await;
    assert_eq!(plain.status, 200);
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_cut_with_413() {
    let backend = TestBackend::http().name("b").record(64).await;
    let proxy = TestProxy::start(&gateway_config(&[&backend], &["lim"], LIMITS, ""));
    // Chunked, no Content-Length: the size is only known while streaming.
    let mut raw = b"POST /api/up HTTP/1.1\r\nHost: a\r\nX-Tenant: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        raw.extend_from_slice(b"20\r\n");
        raw.extend_from_slice(&[b'x'; 32]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let outcome = raw_exchange(proxy.addr(), &raw, Duration::from_secs(5)).await;
    let response = outcome.assert_one_then_closed(413, "streamed body over the limit");
    assert!(
        response.text().contains("larger than 64 bytes"),
        "{}",
        outcome.text()
    );
    // The backend never saw a complete request.
    assert!(
        backend.requests().iter().all(|r| r.uri.path() != "/api/up"),
        "a cut body must not arrive as a complete request"
    );
    // Under the limit, chunked passes.
    let small = b"POST /api/up HTTP/1.1\r\nHost: a\r\nX-Tenant: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    let outcome = raw_exchange(proxy.addr(), small, Duration::from_secs(5)).await;
    assert_eq!(outcome.responses()[0].status, 200, "{}", outcome.text());
    assert_eq!(&backend.last_request().expect("recorded").body[..], b"abcd");
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn json_schema_validates_buffered_bodies() {
    let dir = TempDir::new("gw-schema");
    let schema = dir.write(
        "order.json",
        r#"{"type": "object", "required": ["item", "qty"], "additionalProperties": false,
            "properties": {"item": {"type": "string", "minLength": 1},
                           "qty": {"type": "integer", "minimum": 1, "maximum": 99}}}"#,
    );
    let backend = TestBackend::http().name("b").record(16).await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["orders"],
        &format!(
            "[filters.orders]\nkind = \"limits\"\nmax_body_bytes = 1024\njson_schema = {}\n",
            toml_path(&schema)
        ),
        "",
    ));
    let client = TestClient::http1();
    let url = proxy.url("/api/orders");
    let json = [("content-type", "application/json")];
    let ok = client
        .send(request(
            Method::POST,
            &url,
            &json,
            r#"{"item": "tea", "qty": 2}"#,
        ))
        .await
        .expect("answer");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let seen = backend.last_request().expect("recorded");
    assert_eq!(&seen.body[..], br#"{"item": "tea", "qty": 2}"#);
    assert_eq!(seen.header("content-length"), Some("25"));

    let bad = client
        .send(request(
            Method::POST,
            &url,
            &json,
            r#"{"qty": 0, "extra": true}"#,
        ))
        .await
        .expect("answer");
    assert_eq!(bad.status, 400);
    let text = bad.text();
    for violation in [
        "/: property \"item\" is required",
        "/extra: not allowed here",
        "/qty: must be at least 1",
    ] {
        assert!(text.contains(violation), "{violation} in {text}");
    }
    let not_json = client
        .send(request(Method::POST, &url, &json, "{oops"))
        .await
        .expect("answer");
    assert_eq!(not_json.status, 400);
    assert!(not_json.text().contains("not valid JSON"));
    let too_big = format!("{{\"item\": \"{}\", \"qty\": 1}}", "x".repeat(2000));
    let r = client
        .send(request(Method::POST, &url, &json, &too_big))
        .await
        .expect("answer");
    assert_eq!(r.status, 413);
    assert_eq!(backend.hits(), 1);
}

#[tokio::test]
async fn headers_filter_templates_reach_the_backend_and_the_client() {
    let backend = TestBackend::http()
        .name("b")
        .header("server", "backend/1")
        .await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["h"],
        "[filters.h]\nkind = \"headers\"\n\
         request = { set = { x-client = \"${client_ip}\", x-rid = \"${request_id}\" }, remove = [\"x-debug\"] }\n\
         response = { set = { x-gateway = \"shoal ${path}\" }, remove = [\"server\"] }\n",
        "",
    ));
    let client = TestClient::http1();
    let r = get_h(
        &client,
        &proxy.url("/api/h"),
        &[("x-debug", "1"), ("x-request-id", "rid-7")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-gateway"), Some("shoal /api/h"));
    assert_eq!(r.header("server"), None);
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.header("x-client"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-rid"), Some("rid-7"));
    assert_eq!(seen.header("x-debug"), None);
}

#[tokio::test]
async fn cors_preflight_and_headers_on_backend_and_error_answers() {
    let refusing = Refusing::new();
    let backend = TestBackend::http().name("b").await;
    let cors = "[filters.cors]\nkind = \"cors\"\norigins = [\"https://app.example\"]\n\
                methods = [\"GET\", \"PUT\"]\nheaders = [\"authorization\"]\nmax_age = \"1m\"\n";
    let text = config(
        1,
        "",
        &format!(
            "{}{}{}[upstreams.down]\nbackends = [\"{}\"]\nretries = 0\n{cors}",
            route(
                "{ path_prefix = \"/api/\" }",
                "upstream = \"app\"",
                "filters = [\"cors\"]"
            ),
            route(
                "{ path_prefix = \"/down/\" }",
                "upstream = \"down\"",
                "filters = [\"cors\"]"
            ),
            upstream("app", "round_robin", &[&backend], ""),
            refusing.addr()
        ),
    );
    let proxy = TestProxy::start(&text);
    let client = TestClient::http1();
    let preflight = client
        .send(request(
            Method::OPTIONS,
            &proxy.url("/api/x"),
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization"),
            ],
            "",
        ))
        .await
        .expect("answer");
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, PUT")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("60"));
    assert_eq!(backend.hits(), 0, "preflights are answered by shoal");
    let refused = client
        .send(request(
            Method::OPTIONS,
            &proxy.url("/api/x"),
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ],
            "",
        ))
        .await
        .expect("answer");
    assert_eq!(refused.status, 403);

    let r = get_h(
        &client,
        &proxy.url("/api/x"),
        &[("origin", "https://app.example")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    // shoal's own error answers carry them too, so the page can read the error.
    let r = get_h(
        &client,
        &proxy.url("/down/x"),
        &[("origin", "https://app.example")],
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let r = get_h(
        &client,
        &proxy.url("/api/x"),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn redirect_and_respond_answer_without_a_backend() {
    let backend = TestBackend::http().name("b").await;
    let text = config(
        1,
        "",
        &format!(
            "{}{}{}{}",
            route(
                "{ path_prefix = \"/old/\" }",
                "upstream = \"app\"",
                "filters = [\"moved\"]"
            ),
            route(
                "{ path_prefix = \"/api/\" }",
                "upstream = \"app\"",
                "filters = [\"down\"]"
            ),
            upstream("app", "round_robin", &[&backend], ""),
            "[filters.moved]\nkind = \"redirect\"\nlocation = \"https://new.example${path}\"\n\
             [filters.down]\nkind = \"respond\"\nstatus = 503\nbody = \"back soon\\n\"\n\
             headers = { retry-after = \"60\" }\n"
        ),
    );
    let proxy = TestProxy::start(&text);
    let client = TestClient::http1();
    let r = get(&client, &proxy.url("/old/page")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://new.example/old/page"));
    let r = get(&client, &proxy.url("/api/x")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "back soon\n");
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(r.header("x-request-id").is_some());
    assert_eq!(backend.hits(), 0);
}
