//! TestBackend's own tests: every counter, setter and mode is checked against what a real
//! client observes.

use super::*;
use crate::{eventually, RawResponse, TestClient};
use std::time::Instant;

const WAIT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn default_backend_answers_200_with_its_name() {
    let backend = TestBackend::http().await;
    let other = TestBackend::http().await;
    assert!(backend.name().starts_with("backend-"), "{}", backend.name());
    assert_ne!(backend.name(), other.name(), "default names are unique");

    let response = TestClient::http1().get(&backend.url("/")).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), backend.name());
    assert_eq!(response.backend(), Some(backend.name()));
    assert_eq!(backend.hits(), 1);
    assert_eq!(other.hits(), 0);
}

#[tokio::test]
async fn builder_sets_name_status_body_and_headers() {
    let backend = TestBackend::http()
        .name("a")
        .status(503)
        .body("down")
        .header("set-cookie", "x=1")
        .header("set-cookie", "y=2")
        .await;
    let response = TestClient::http1().get(&backend.url("/")).await.unwrap();
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.text(), "down");
    assert_eq!(response.backend(), Some("a"));
    let cookies: Vec<_> = response.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, vec!["x=1", "y=2"]);
}

#[tokio::test]
async fn counts_hits_and_connections() {
    let backend = TestBackend::http().await;
    let keep_alive = TestClient::http1();
    for _ in 0..3 {
        keep_alive.get(&backend.url("/")).await.unwrap();
    }
    assert_eq!(backend.hits(), 3);
    assert_eq!(backend.connections(), 1, "keep-alive reuses one connection");

    let fresh = TestClient::http1().keep_alive(false);
    for _ in 0..2 {
        fresh.get(&backend.url("/")).await.unwrap();
    }
    assert_eq!(backend.hits(), 5);
    assert_eq!(backend.connections(), 3);
}

#[tokio::test]
async fn records_the_last_requests_oldest_first() {
    let backend = TestBackend::http().record(2).await;
    let client = TestClient::http1();
    assert!(backend.last_request().is_none());
    client.get(&backend.url("/one")).await.unwrap();
    client
        .get_with_headers(&backend.url("/two?q=1"), &[("x-test", "2")])
        .await
        .unwrap();
    client
        .post(&backend.url("/three"), "payload")
        .await
        .unwrap();

    let requests = backend.requests();
    let paths: Vec<_> = requests.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(
        paths,
        vec!["/two?q=1", "/three"],
        "only the last 2 are kept"
    );
    assert_eq!(requests[0].header("x-test"), Some("2"));
    assert_eq!(requests[0].method, Method::GET);
    let last = backend.last_request().unwrap();
    assert_eq!(last.method, Method::POST);
    assert_eq!(last.body, Bytes::from("payload"));
    assert_eq!(last.version, Version::HTTP_11);
    assert_eq!(backend.hits(), 3, "hits count past the record limit");
}

#[tokio::test]
async fn delay_holds_the_answer_and_shows_in_flight() {
    let backend = Arc::new(TestBackend::http().delay(ms(300)).await);
    let url = backend.url("/");
    let started = Instant::now();
    let request = tokio::spawn(async move { TestClient::http1().get(&url).await });
    eventually(WAIT, || async { backend.in_flight() == 1 }).await;
    let response = request.await.unwrap().unwrap();
    assert!(started.elapsed() >= ms(300), "{:?}", started.elapsed());
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(backend.in_flight(), 0);
}

#[tokio::test]
async fn setters_switch_behaviour_at_runtime() {
    let backend = TestBackend::http().name("b").await;
    let client = TestClient::http1();
    assert_eq!(client.get(&backend.url("/")).await.unwrap().status, 200);

    backend.set_status(502);
    backend.set_body("bad gateway");
    let response = client.get(&backend.url("/")).await.unwrap();
    assert_eq!(response.status, 502);
    assert_eq!(response.text(), "bad gateway");

    backend.set_delay(ms(200));
    let started = Instant::now();
    client.get(&backend.url("/")).await.unwrap();
    assert!(started.elapsed() >= ms(200), "{:?}", started.elapsed());
}

#[tokio::test]
async fn close_before_response_answers_nothing_then_recovers() {
    let backend = TestBackend::http().mode(Mode::CloseBeforeResponse).await;
    let raw = TestClient::raw(backend.addr(), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(raw.is_empty(), "got {:?}", String::from_utf8_lossy(&raw));

    let client = TestClient::http1();
    let error = client.get(&backend.url("/")).await.unwrap_err();
    assert!(format!("{error:#}").contains("GET"), "{error:#}");
    assert!(TestClient::h2c().get(&backend.url("/")).await.is_err());
    assert_eq!(backend.hits(), 3, "failed requests still count as hits");

    backend.set_mode(Mode::Normal);
    let response = client.get(&backend.url("/")).await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn reset_after_head_sends_a_head_then_truncates() {
    let backend = TestBackend::http().body("0123456789").await;
    backend.set_mode(Mode::ResetAfterHead);
    let raw = TestClient::raw(backend.addr(), b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let response = RawResponse::parse(&raw).expect("a response head");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("11"));
    assert_eq!(
        response.text(),
        "01234",
        "half the body, then the connection closed"
    );

    assert!(TestClient::http1().get(&backend.url("/")).await.is_err());
    assert!(TestClient::h2c().get(&backend.url("/")).await.is_err());
}

#[tokio::test]
async fn mode_switched_during_the_delay_applies() {
    let backend = Arc::new(TestBackend::http().delay(ms(200)).await);
    let url = backend.url("/");
    let request = tokio::spawn(async move { TestClient::http1().get(&url).await });
    eventually(WAIT, || async { backend.in_flight() == 1 }).await;
    backend.set_mode(Mode::CloseBeforeResponse);
    assert!(request.await.unwrap().is_err());
}

#[tokio::test]
async fn serves_h2c_with_prior_knowledge() {
    let backend = TestBackend::http().name("h2").await;
    let client = TestClient::h2c();
    for _ in 0..2 {
        let response = client.get(&backend.url("/x")).await.unwrap();
        assert_eq!(response.version, Version::HTTP_2);
        assert_eq!(response.text(), "h2");
    }
    assert_eq!(backend.connections(), 1);
    assert_eq!(backend.last_request().unwrap().version, Version::HTTP_2);
}

#[tokio::test]
async fn stop_closes_the_port_and_keeps_the_counters() {
    let mut backend = TestBackend::http().await;
    let client = TestClient::http1();
    client.get(&backend.url("/")).await.unwrap();
    backend.stop().await;
    backend.stop().await; // idempotent

    let refused = TcpStream::connect(backend.addr()).await.unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    assert!(
        client.get(&backend.url("/")).await.is_err(),
        "kept-alive connection is gone too"
    );
    assert_eq!(backend.hits(), 1);

    backend.restart().await.unwrap();
    client.get(&backend.url("/")).await.unwrap();
    assert_eq!(backend.hits(), 2, "same state after a restart");
}

#[tokio::test]
async fn drop_stops_the_backend() {
    let backend = TestBackend::http().await;
    let addr = backend.addr();
    drop(backend);
    eventually(WAIT, || async { TcpStream::connect(addr).await.is_err() }).await;
}

#[tokio::test]
async fn refused_addr_refuses() {
    let addr = TestBackend::refused_addr();
    assert!(addr.ip().is_loopback());
    let error = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
}
