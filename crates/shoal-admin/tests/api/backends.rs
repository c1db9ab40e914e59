//! Backend changes: drain, enable, disable, weight, add, remove.

use http::Method;
use shoal_admin::{BackendState, BackendView, ControlError};

use crate::harness::TestServer;

const BACKEND: &str = "/api/v1/upstreams/api/backends/127.0.0.1:9001";

#[tokio::test]
async fn drain_enable_disable() {
    let server = TestServer::start().await;
    for (action, state) in [
        ("drain", "draining"),
        ("enable", "warming"),
        ("disable", "disabled"),
    ] {
        let response = server.post(&format!("{BACKEND}/{action}")).await;
        assert_eq!(response.status, 200, "{action}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        let view: BackendView = serde_json::from_slice(&response.body).expect("a BackendView");
        assert_eq!(view.addr, "127.0.0.1:9001");
        assert_eq!(response.json()["state"], state);
    }
    assert_eq!(
        server.control.calls(),
        vec![
            "drain api 127.0.0.1:9001",
            "enable api 127.0.0.1:9001",
            "disable api 127.0.0.1:9001"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn addresses_may_be_percent_encoded_or_ipv6() {
    let server = TestServer::start().await;
    let response = server
        .post("/api/v1/upstreams/api/backends/127.0.0.1%3A9001/drain")
        .await;
    assert_eq!(response.status, 200);
    let response = server
        .post("/api/v1/upstreams/api/backends/127.0.0.1%3a9002/drain")
        .await;
    assert_eq!(response.status, 200);
    let response = server
        .post("/api/v1/upstreams/web/backends/[::1]:9001/drain")
        .await;
    assert_eq!(response.status, 200);
    let response = server
        .post("/api/v1/upstreams/web/backends/%5B%3A%3A1%5D%3A9001/disable")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["state"], "disabled");
    // Control sees the canonical form, whatever the spelling.
    let response = server
        .post("/api/v1/upstreams/web/backends/[0:0:0::1]:9001/enable")
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        server.control.calls(),
        vec![
            "drain api 127.0.0.1:9001",
            "drain api 127.0.0.1:9002",
            "drain web [::1]:9001",
            "disable web [::1]:9001",
            "enable web [::1]:9001",
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_addresses_are_400_before_control() {
    let server = TestServer::start().await;
    for addr in [
        "localhost:9001",
        "127.0.0.1",
        "127.0.0.1:99999",
        "10.0.0:80",
        "::1:9001",
        "%5B%3A%3A1%5D",
        "%20",
    ] {
        let response = server
            .post(&format!("/api/v1/upstreams/api/backends/{addr}/drain"))
            .await;
        let json = response.assert_error(400, "invalid_address");
        assert!(
            json["error"]
                .as_str()
                .unwrap_or_default()
                .contains("socket address"),
            "{json}"
        );
    }
    let response = server
        .delete("/api/v1/upstreams/api/backends/not-an-address")
        .await;
    response.assert_error(400, "invalid_address");
    assert!(
        server.control.calls().is_empty(),
        "{:?}",
        server.control.calls()
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_upstream_and_backend_are_404() {
    let server = TestServer::start().await;
    let response = server
        .post("/api/v1/upstreams/nope/backends/127.0.0.1:9001/drain")
        .await;
    response.assert_error(404, "unknown_upstream");
    let response = server
        .post("/api/v1/upstreams/api/backends/127.0.0.1:9999/disable")
        .await;
    let json = response.assert_error(404, "unknown_backend");
    assert_eq!(
        json["error"],
        "upstream \"api\" has no backend 127.0.0.1:9999"
    );
    server.stop().await;
}

#[tokio::test]
async fn conflict_is_409_and_unavailable_is_503() {
    let server = TestServer::start().await;
    server.control.fail_next(ControlError::Conflict(
        "backend 127.0.0.1:9001 is being removed".into(),
    ));
    let response = server.post(&format!("{BACKEND}/enable")).await;
    let json = response.assert_error(409, "conflict");
    assert_eq!(json["error"], "backend 127.0.0.1:9001 is being removed");

    server
        .control
        .fail_next(ControlError::Unavailable("shoal is shutting down".into()));
    let response = server.post(&format!("{BACKEND}/drain")).await;
    response.assert_error(503, "unavailable");

    server
        .control
        .fail_next(ControlError::InvalidAddress("port 0".into()));
    let response = server.post(&format!("{BACKEND}/drain")).await;
    response.assert_error(400, "invalid_address");

    server
        .control
        .fail_next(ControlError::InvalidWeight("too heavy".into()));
    let response = server.post(&format!("{BACKEND}/drain")).await;
    response.assert_error(400, "invalid_weight");
    server.stop().await;
}

#[tokio::test]
async fn set_weight() {
    let server = TestServer::start().await;
    let response = server
        .send_json(
            Method::PUT,
            &format!("{BACKEND}/weight"),
            r#"{"weight": 3}"#,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["weight"], 3);
    let response = server
        .send_json(
            Method::PUT,
            &format!("{BACKEND}/weight"),
            r#"{"weight": 1000}"#,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        server.control.calls(),
        vec![
            "set_weight api 127.0.0.1:9001 3",
            "set_weight api 127.0.0.1:9001 1000"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_weights_are_400_before_control() {
    let server = TestServer::start().await;
    let path = format!("{BACKEND}/weight");
    for (body, code, says) in [
        (
            r#"{"weight": 0}"#,
            "invalid_weight",
            "between 1 and 1000, got 0",
        ),
        (r#"{"weight": 1001}"#, "invalid_weight", "got 1001"),
        (
            r#"{"weight": 4294967296}"#,
            "invalid_weight",
            "got 4294967296",
        ),
        (r#"{}"#, "invalid_json", "missing field `weight`"),
        (r#"{"weight": 2.5}"#, "invalid_json", "floating point"),
        (r#"{"weight": "3"}"#, "invalid_json", "invalid type: string"),
        (r#"{"weight": -1}"#, "invalid_json", "invalid value"),
        (r#"{"weight": null}"#, "invalid_json", "invalid type: null"),
        (
            r#"{"weight": 99999999999999999999999}"#,
            "invalid_json",
            "weight",
        ),
        (
            r#"{"weight": 3, "wieght": 3}"#,
            "invalid_json",
            "unknown field `wieght`",
        ),
        (r#"[3]"#, "invalid_json", "not an array"),
        (r#" 3"#, "invalid_json", "invalid type"),
        (r#"{"weight": 3"#, "invalid_json", "EOF"),
        ("", "invalid_json", "EOF"),
    ] {
        let response = server.send_json(Method::PUT, &path, body).await;
        let json = response.assert_error(400, code);
        let message = json["error"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert!(
        server.control.calls().is_empty(),
        "{:?}",
        server.control.calls()
    );
    server.stop().await;
}

#[tokio::test]
async fn add_backend() {
    let server = TestServer::start().await;
    let response = server
        .send_json(
            Method::POST,
            "/api/v1/upstreams/api/backends",
            r#"{"addr": "127.0.0.1:9003"}"#,
        )
        .await;
    assert_eq!(response.status, 201);
    let view: BackendView = serde_json::from_slice(&response.body).expect("a BackendView");
    assert_eq!(view.addr, "127.0.0.1:9003");
    assert_eq!(view.weight, 1);
    assert_eq!(view.state, BackendState::NotReady);

    let response = server
        .send_json(
            Method::POST,
            "/api/v1/upstreams/web/backends",
            r#"{"addr": "[::1]:9004", "weight": 5}"#,
        )
        .await;
    assert_eq!(response.status, 201);
    assert_eq!(response.json()["weight"], 5);

    // The new backend is listed.
    let upstream = server.get("/api/v1/upstreams/api").await.json();
    assert_eq!(upstream["backends"][2]["addr"], "127.0.0.1:9003");
    assert_eq!(
        server.control.calls(),
        vec![
            "add_backend api 127.0.0.1:9003 1",
            "add_backend web [::1]:9004 5",
            "upstream api"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn add_backend_errors() {
    let server = TestServer::start().await;
    let path = "/api/v1/upstreams/api/backends";
    let response = server
        .send_json(Method::POST, path, r#"{"addr": "127.0.0.1:9001"}"#)
        .await;
    let json = response.assert_error(409, "already_exists");
    assert_eq!(
        json["error"],
        "upstream \"api\" already has backend 127.0.0.1:9001"
    );

    let response = server
        .send_json(
            Method::POST,
            "/api/v1/upstreams/nope/backends",
            r#"{"addr": "127.0.0.1:9003"}"#,
        )
        .await;
    response.assert_error(404, "unknown_upstream");

    let calls_before = server.control.calls().len();
    for (body, code) in [
        (r#"{"addr": "api.internal:80"}"#, "invalid_address"),
        (
            r#"{"addr": "127.0.0.1:9003", "weight": 0}"#,
            "invalid_weight",
        ),
        (
            r#"{"addr": "127.0.0.1:9003", "weight": 1001}"#,
            "invalid_weight",
        ),
        (r#"{"weight": 1}"#, "invalid_json"),
        (r#"{"addr": 9003}"#, "invalid_json"),
        (
            r#"{"addr": "127.0.0.1:9003", "weight": "1"}"#,
            "invalid_json",
        ),
        (r#"not json"#, "invalid_json"),
    ] {
        let response = server.send_json(Method::POST, path, body).await;
        response.assert_error(400, code);
    }
    assert_eq!(server.control.calls().len(), calls_before);
    server.stop().await;
}

#[tokio::test]
async fn remove_backend_is_202_draining() {
    let server = TestServer::start().await;
    let response = server.delete(BACKEND).await;
    assert_eq!(response.status, 202);
    assert_eq!(response.json()["state"], "draining");
    assert_eq!(response.json()["addr"], "127.0.0.1:9001");
    let response = server
        .delete("/api/v1/upstreams/api/backends/127.0.0.1:9999")
        .await;
    response.assert_error(404, "unknown_backend");
    assert_eq!(
        server.control.calls(),
        vec![
            "remove_backend api 127.0.0.1:9001",
            "remove_backend api 127.0.0.1:9999"
        ]
    );
    server.stop().await;
}
