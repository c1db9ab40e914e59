//! Graceful shutdown: in-flight requests finish, new connections are refused, stop returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_test_support::{eventually, TestBackend, TestClient, TestProxy};
use tokio::net::TcpStream;

use crate::support::*;

fn with_grace(backend: &TestBackend, grace: &str) -> String {
    single(2, "round_robin", &[backend], "").replace(
        "grace_period = \"5s\"",
        &format!("grace_period = \"{grace}\""),
    )
}

#[tokio::test]
async fn in_flight_request_completes_and_new_connections_are_refused() {
    let backend = TestBackend::http().name("b").delay(ms(500)).await;
    let proxy = TestProxy::start(&with_grace(&backend, "5s"));
    let addr = proxy.addr();
    let client = Arc::new(TestClient::http1());
    let in_flight = {
        let (client, url) = (Arc::clone(&client), proxy.url("/slow"));
        tokio::spawn(async move { client.get(&url).await })
    };
    eventually(Duration::from_secs(5), || async {
        backend.in_flight() == 1
    })
    .await;

    proxy.begin_shutdown();
    eventually(Duration::from_secs(5), || async {
        TcpStream::connect(addr).await.is_err()
    })
    .await;

    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "b");
    assert_eq!(backend.hits(), 1);

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), proxy.stop())
        .await
        .expect("stop returns once the in-flight request is done");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stop should not wait out the 5s grace period with nothing in flight"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_on_shutdown() {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&with_grace(&backend, "5s"));
    let mut conn = RawConn::connect(proxy.addr()).await;
    conn.send(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .await;
    assert_eq!(conn.read_response(Duration::from_secs(5)).await.status, 200);

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), proxy.stop())
        .await
        .expect("stop returns");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "an idle connection must not hold shutdown for the grace period ({:?})",
        started.elapsed()
    );
    let outcome = conn.read_to_close(Duration::from_secs(5)).await;
    assert!(outcome.closed, "the idle connection is closed");
    assert!(outcome.bytes.is_empty(), "{:?}", outcome.text());
}

#[tokio::test]
async fn stop_gives_up_on_requests_longer_than_the_grace_period() {
    let backend = TestBackend::http()
        .name("b")
        .delay(Duration::from_secs(10))
        .await;
    let proxy = TestProxy::start(&with_grace(&backend, "300ms"));
    let client = Arc::new(TestClient::http1());
    let in_flight = {
        let (client, url) = (Arc::clone(&client), proxy.url("/forever"));
        tokio::spawn(async move { client.get(&url).await })
    };
    eventually(Duration::from_secs(5), || async {
        backend.in_flight() == 1
    })
    .await;

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), proxy.stop())
        .await
        .expect("stop returns after the grace period");
    let took = started.elapsed();
    assert!(
        took >= ms(250) && took < Duration::from_secs(3),
        "stop should take about the 300ms grace period, took {took:?}"
    );
    let outcome = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the cut request ends")
        .expect("task");
    assert!(
        outcome.is_err(),
        "a request cut by the grace period cannot have a whole answer: {outcome:?}"
    );
}
