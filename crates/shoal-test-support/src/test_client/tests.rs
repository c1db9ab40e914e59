//! TestClient's own tests, against TestBackend (whose counters are tested on their own).

use super::*;
use crate::{RawResponse, TestBackend};
use http::Method;
use std::sync::Arc;
use std::time::Instant;

#[tokio::test]
async fn http1_reuses_one_connection_unless_told_not_to() {
    let backend = TestBackend::http().await;
    let client = TestClient::http1();
    for _ in 0..3 {
        let response = client.get(&backend.url("/")).await.unwrap();
        assert_eq!(response.version, Version::HTTP_11);
    }
    assert_eq!(client.connections_opened(), 1);
    assert_eq!(backend.connections(), 1);

    let client = TestClient::http1().keep_alive(false);
    for _ in 0..3 {
        client.get(&backend.url("/")).await.unwrap();
    }
    assert_eq!(client.connections_opened(), 3);
    assert_eq!(backend.connections(), 4);
}

#[tokio::test]
async fn concurrent_requests_open_connections_for_http1_and_share_one_for_h2() {
    let backend = Arc::new(TestBackend::http().delay(Duration::from_millis(100)).await);
    let concurrent = |client: Arc<TestClient>| {
        let url = backend.url("/");
        async move {
            let mut tasks = Vec::new();
            for _ in 0..4 {
                let (client, url) = (client.clone(), url.clone());
                tasks.push(tokio::spawn(async move { client.get(&url).await }));
            }
            for task in tasks {
                assert_eq!(task.await.unwrap().unwrap().status, StatusCode::OK);
            }
        }
    };
    let h1 = Arc::new(TestClient::http1());
    concurrent(h1.clone()).await;
    assert_eq!(h1.connections_opened(), 4);
    assert_eq!(backend.connections(), 4);

    let h2 = Arc::new(TestClient::h2c());
    concurrent(h2.clone()).await;
    assert_eq!(h2.connections_opened(), 1, "h2 multiplexes");
    assert_eq!(backend.connections(), 5);
}

#[tokio::test]
async fn host_header_picks_the_virtual_host() {
    let backend = TestBackend::http().await;
    TestClient::http1().get(&backend.url("/a")).await.unwrap();
    let request = backend.last_request().unwrap();
    assert_eq!(
        request.header("host"),
        Some(backend.addr().to_string().as_str())
    );
    assert_eq!(request.uri, "/a", "origin form on the wire");

    TestClient::http1()
        .get_with_headers(&backend.url("/b"), &[("host", "example.test")])
        .await
        .unwrap();
    assert_eq!(
        backend.last_request().unwrap().header("host"),
        Some("example.test")
    );

    TestClient::h2c()
        .get_with_headers(&backend.url("/c?x=1"), &[("host", "example.test:8080")])
        .await
        .unwrap();
    let request = backend.last_request().unwrap();
    assert_eq!(request.uri, "http://example.test:8080/c?x=1");
    assert_eq!(request.header("host"), None, "h2 carries it as :authority");
}

#[tokio::test]
async fn post_and_send_carry_method_headers_and_body() {
    let backend = TestBackend::http().body(r#"{"a": 1}"#).await;
    let client = TestClient::http1();
    let response = client.post(&backend.url("/p"), "abc").await.unwrap();
    let value: serde_json::Value = response.json().unwrap();
    assert_eq!(value["a"], 1);
    assert_eq!(backend.last_request().unwrap().body, Bytes::from("abc"));

    let request = Request::builder()
        .method(Method::DELETE)
        .uri(backend.url("/d"))
        .header("x-id", "7")
        .body(Bytes::new())
        .unwrap();
    client.send(request).await.unwrap();
    let recorded = backend.last_request().unwrap();
    assert_eq!(recorded.method, Method::DELETE);
    assert_eq!(recorded.header("x-id"), Some("7"));
    assert!(response_json_error_is_readable(&client, &backend).await);
}

async fn response_json_error_is_readable(client: &TestClient, backend: &TestBackend) -> bool {
    backend.set_body("not json");
    let response = client.get(&backend.url("/")).await.unwrap();
    let error = response.json::<serde_json::Value>().unwrap_err();
    format!("{error:#}").contains("not json")
}

#[tokio::test]
async fn errors_on_timeout_refusal_and_bad_urls() {
    let slow = TestBackend::http().delay(Duration::from_secs(3)).await;
    let started = Instant::now();
    let client = TestClient::http1().timeout(Duration::from_millis(100));
    let error = client.get(&slow.url("/")).await.unwrap_err();
    assert!(
        format!("{error}").contains("no complete response"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let refused = format!("http://{}/", TestBackend::refused_addr());
    let error = TestClient::http1().get(&refused).await.unwrap_err();
    assert!(format!("{error:#}").contains("connect"), "{error:#}");

    assert!(TestClient::http1().get("/relative").await.is_err());
    assert!(TestClient::http1()
        .get("https://127.0.0.1:1/")
        .await
        .is_err());
}

#[tokio::test]
async fn raw_reads_until_the_peer_closes() {
    let backend = TestBackend::http().name("r").await;
    let two = b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let reply = TestClient::raw(backend.addr(), two).await;
    let responses = RawResponse::parse_all(&reply);
    assert_eq!(responses.len(), 2, "{}", String::from_utf8_lossy(&reply));
    assert!(responses.iter().all(|r| r.status == 200 && r.text() == "r"));
    assert_eq!(responses[0].header("x-backend"), Some("r"));
    assert_eq!(backend.hits(), 2);
}

#[tokio::test]
async fn raw_gets_the_servers_verdict_on_bad_input() {
    let backend = TestBackend::http().await;
    let reply = TestClient::raw(backend.addr(), b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").await;
    let response = RawResponse::parse(&reply).unwrap();
    assert_eq!(response.status, 400);
    assert_eq!(backend.hits(), 0);
}

#[tokio::test]
async fn raw_stops_at_the_timeout_when_the_peer_keeps_the_connection() {
    let backend = TestBackend::http().await;
    let started = Instant::now();
    let reply = TestClient::raw_with_timeout(
        backend.addr(),
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
        Duration::from_millis(200),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(RawResponse::parse(&reply).unwrap().status, 200);
}
