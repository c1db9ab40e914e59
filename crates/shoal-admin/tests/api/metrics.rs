//! `GET /metrics`: the control's text as it is, with Prometheus' content type, behind the
//! token like the API.

use http::Method;

use crate::fake_control::METRICS;
use crate::harness::TestServer;

#[tokio::test]
async fn metrics_are_served_as_prometheus_text() {
    let server = TestServer::start().await;
    let response = server.get("/metrics").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        shoal_admin::METRICS_CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(response.body, METRICS.as_bytes());
    assert_eq!(server.control.calls(), vec!["metrics".to_string()]);
    // HEAD works like everywhere else.
    let head = server.request(Method::HEAD, "/metrics", &[], None).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_configured() {
    let mut server = TestServer::start_with(Some("s3cret")).await;
    assert_eq!(server.get("/metrics").await.status, 200, "with the token");
    server.client_token = None;
    let response = server.get("/metrics").await;
    response.assert_error(401, "unauthorized");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"shoal\"")
    );
    let response = server
        .request(
            Method::GET,
            "/metrics",
            &[("authorization", "Bearer wrong")],
            None,
        )
        .await;
    response.assert_error(401, "unauthorized");
    assert_eq!(
        server.control.calls(),
        vec!["metrics".to_string()],
        "refused scrapes never reach the control"
    );
    server.stop().await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let server = TestServer::start().await;
    server
        .request(Method::POST, "/metrics", &[], None)
        .await
        .assert_error(405, "method_not_allowed");
    server.stop().await;
}
