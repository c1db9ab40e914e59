//! HTTP/2 cleartext (prior knowledge) from the client, HTTP/1.1 to the backend.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Version};
use shoal_test_support::{eventually, TestBackend, TestClient, TestProxy};

use crate::support::*;

#[tokio::test]
async fn concurrent_h2c_requests_share_one_client_connection() {
    let backend = TestBackend::http()
        .name("b")
        .delay(Duration::from_secs(1))
        .await;
    let proxy = TestProxy::start(&single(1, "round_robin", &[&backend], ""));
    let client = Arc::new(TestClient::h2c());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (client, url) = (Arc::clone(&client), proxy.url(&format!("/s{i}?n={i}")));
        tasks.push(tokio::spawn(async move {
            client
                .get_with_headers(&url, &[("host", "h2.example")])
                .await
        }));
    }
    // All eight are at the backend at once: they were multiplexed, not queued.
    eventually(Duration::from_secs(5), || async {
        backend.in_flight() == 8
    })
    .await;
    for task in tasks {
        let response = task.await.expect("task").expect("h2 request");
        assert_eq!(response.status, 200);
        assert_eq!(response.version, Version::HTTP_2);
        assert_eq!(response.text(), "b");
    }
    assert_eq!(client.connections_opened(), 1, "one h2 connection");

    let mut paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    paths.sort();
    let mut expected: Vec<String> = (0..8).map(|i| format!("/s{i}?n={i}")).collect();
    expected.sort();
    assert_eq!(paths, expected, "origin-form targets at the backend");
    for request in backend.requests() {
        assert_eq!(request.version, Version::HTTP_11, "HTTP/1.1 to the backend");
        assert_eq!(
            request.header("host"),
            Some("h2.example"),
            ":authority becomes Host"
        );
        assert_eq!(request.header("x-forwarded-host"), Some("h2.example"));
    }
    assert_eq!(
        backend.connections(),
        8,
        "eight concurrent requests need eight backend connections"
    );
}

#[tokio::test]
async fn h2c_routes_by_authority_and_forwards_bodies() {
    let a = TestBackend::http().name("a").await;
    let other = TestBackend::http().name("other").await;
    let text = config(
        1,
        "",
        &format!(
            "{}{}{}{}",
            route("{ host = \"a.example\" }", "upstream = \"a\"", ""),
            route("", "upstream = \"other\"", ""),
            upstream("a", "round_robin", &[&a], ""),
            upstream("other", "round_robin", &[&other], ""),
        ),
    );
    let proxy = TestProxy::start(&text);
    let client = TestClient::h2c();
    let response = get_h(&client, &proxy.url("/x"), &[("host", "a.example:443")]).await;
    assert_eq!(response.backend(), Some("a"));
    let response = get_h(&client, &proxy.url("/x"), &[("host", "b.example")]).await;
    assert_eq!(response.backend(), Some("other"));

    let request = Request::post(proxy.url("/upload"))
        .header("host", "a.example")
        .body(Bytes::from_static(b"h2 body bytes"))
        .expect("request");
    let response = client.send(request).await.expect("POST over h2");
    assert_eq!(response.status, 200);
    let seen = a.last_request().expect("recorded");
    assert_eq!(seen.body, "h2 body bytes");
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(client.connections_opened(), 1);

    // A bad :authority is a 400 on its stream, and the connection goes on.
    let response = get_h(&client, &proxy.url("/"), &[("host", "bad_host!")]).await;
    assert_eq!(response.status, 400);
    let response = get_h(&client, &proxy.url("/"), &[("host", "a.example")]).await;
    assert_eq!(response.status, 200);
}
