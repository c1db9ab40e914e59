//! Keep-alive pooling of backend connections.

use shoal_test_support::{TestBackend, TestClient, TestProxy};

use crate::support::*;

/// `TestProxy::with_upstream` runs 2 workers; each keeps its own pool.
const WORKERS: u64 = 2;

#[tokio::test]
async fn sequential_requests_reuse_a_few_backend_connections() {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::with_upstream("round_robin", &[backend.addr()], "");
    let client = TestClient::http1();
    for i in 0..50 {
        let response = get(&client, &proxy.url(&format!("/{i}"))).await;
        assert_eq!(response.status, 200);
    }
    assert_eq!(client.connections_opened(), 1);
    assert_eq!(backend.hits(), 50);
    assert!(
        backend.connections() <= WORKERS + 1,
        "50 sequential requests opened {} backend connections",
        backend.connections()
    );
}

#[tokio::test]
async fn a_new_client_connection_per_request_still_reuses_backend_connections() {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::with_upstream("round_robin", &[backend.addr()], "");
    let client = TestClient::http1().keep_alive(false);
    for i in 0..30 {
        let response = get(&client, &proxy.url(&format!("/{i}"))).await;
        assert_eq!(response.status, 200);
    }
    assert_eq!(client.connections_opened(), 30);
    assert!(
        backend.connections() <= WORKERS + 1,
        "30 requests on 30 client connections opened {} backend connections",
        backend.connections()
    );
}

#[tokio::test]
async fn max_idle_connections_zero_disables_pooling() {
    let backend = TestBackend::http().name("b").await;
    let proxy =
        TestProxy::with_upstream("round_robin", &[backend.addr()], "max_idle_connections = 0");
    let client = TestClient::http1();
    for i in 0..10 {
        assert_eq!(get(&client, &proxy.url(&format!("/{i}"))).await.status, 200);
    }
    assert_eq!(
        backend.connections(),
        10,
        "without pooling every request opens its own backend connection"
    );
}
