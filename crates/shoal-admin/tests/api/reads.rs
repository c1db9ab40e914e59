//! Probes and read endpoints.

use serde_json::json;
use shoal_admin::{ListenerView, UpstreamView};

use crate::harness::TestServer;

#[tokio::test]
async fn live_answers_json() {
    let server = TestServer::start().await;
    let response = server.get("/live").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({ "status": "live" }));
    server.stop().await;
}

#[tokio::test]
async fn ready_follows_control() {
    let server = TestServer::start().await;
    let response = server.get("/ready").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({ "status": "ready" }));

    server.control.set_ready(false);
    let response = server.get("/ready").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json(), json!({ "status": "not_ready" }));
    server.stop().await;
}

#[tokio::test]
async fn listeners() {
    let server = TestServer::start().await;
    let response = server.get("/api/v1/listeners").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        json!([{
            "name": "web",
            "bind": "127.0.0.1:8080",
            "protocol": "http",
            "routes": [{ "name": "api", "matcher": "path_prefix=/api", "target": "api" }]
        }])
    );
    let parsed: Vec<ListenerView> = serde_json::from_slice(&response.body).expect("parses");
    assert_eq!(parsed.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn upstreams() {
    let server = TestServer::start().await;
    let response = server.get("/api/v1/upstreams").await;
    assert_eq!(response.status, 200);
    let json = response.json();
    assert_eq!(json[0]["name"], "api");
    assert_eq!(json[0]["algorithm"], "round_robin");
    assert_eq!(json[0]["panic"], false);
    assert_eq!(json[0]["eligible"], 2);
    assert_eq!(
        json[0]["backends"][0],
        json!({
            "addr": "127.0.0.1:9001",
            "state": "ready",
            "weight": 1,
            "effective_weight": 1.0,
            "in_flight": 2,
            "requests": 42,
            "failures": 1,
            "tunnels": 1,
            "tunnels_closed_by_drain": 3,
            "last_check": { "at_unix_ms": 1_700_000_000_000u64, "result": "ready", "reason": null }
        })
    );
    assert_eq!(json[0]["backends"][1]["state"], "warming");
    assert_eq!(json[0]["backends"][1]["effective_weight"], 0.2);
    assert_eq!(json[0]["backends"][1]["last_check"], json!(null));
    assert_eq!(json[1]["name"], "web");
    let parsed: Vec<UpstreamView> = serde_json::from_slice(&response.body).expect("parses");
    assert_eq!(parsed.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn one_upstream() {
    let server = TestServer::start().await;
    let response = server.get("/api/v1/upstreams/web").await;
    assert_eq!(response.status, 200);
    let json = response.json();
    assert_eq!(json["name"], "web");
    assert_eq!(json["backends"][0]["addr"], "[::1]:9001");
    assert_eq!(json["backends"][0]["state"], "down");
    assert_eq!(json["eligible"], 0);
    server.stop().await;
}

#[tokio::test]
async fn unknown_upstream_is_404_json() {
    let server = TestServer::start().await;
    let response = server.get("/api/v1/upstreams/nope").await;
    let json = response.assert_error(404, "unknown_upstream");
    assert_eq!(json["error"], "unknown upstream \"nope\"");
    // Percent-decoded before the lookup.
    let response = server.get("/api/v1/upstreams/no%20pe").await;
    let json = response.assert_error(404, "unknown_upstream");
    assert_eq!(json["error"], "unknown upstream \"no pe\"");
    assert_eq!(
        server.control.calls(),
        vec!["upstream nope".to_string(), "upstream no pe".to_string()]
    );
    server.stop().await;
}

#[tokio::test]
async fn head_on_a_get_endpoint() {
    let server = TestServer::start().await;
    let response = server
        .request(http::Method::HEAD, "/api/v1/upstreams", &[], None)
        .await;
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn reload_summary() {
    let server = TestServer::start().await;
    server
        .control
        .set_reload_result(Ok(shoal_admin::ReloadSummary {
            changed: true,
            upstreams_added: vec!["next".into()],
            backends_added: vec!["api 127.0.0.1:9003".into()],
            backends_removed: vec!["api 127.0.0.1:9002".into()],
            ..Default::default()
        }));
    let response = server.post("/api/v1/reload").await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        json!({
            "changed": true,
            "upstreams_added": ["next"],
            "upstreams_removed": [],
            "backends_added": ["api 127.0.0.1:9003"],
            "backends_removed": ["api 127.0.0.1:9002"],
            "listeners_added": [],
            "listeners_removed": []
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn reload_with_config_errors_is_400_with_every_error() {
    let server = TestServer::start().await;
    let errors = vec![
        "line 3: upstreams.api.backends[2]: invalid socket address \"10.0.0:80\"".to_string(),
        "line 9: routes[0].upstream: unknown upstream \"apj\"".to_string(),
    ];
    server.control.set_reload_result(Err(errors.clone()));
    let response = server.post("/api/v1/reload").await;
    let json = response.assert_error(400, "invalid_config");
    assert_eq!(json["error"], "invalid config");
    assert_eq!(json["details"], json!(errors));
    server.stop().await;
}
