//! The bearer token: required everywhere but `/live` and `/ready`; non-loopback binds need one.

use std::io;
use std::sync::Arc;

use http::Method;
use shoal_admin::{AdminServer, Control};

use crate::fake_control::FakeControl;
use crate::harness::TestServer;

const TOKEN: &str = "0123456789abcdef-secret";

#[tokio::test]
async fn without_a_token_configured_everything_is_open() {
    let server = TestServer::start().await;
    assert_eq!(server.get("/api/v1/upstreams").await.status, 200);
    // A stray Authorization header does not matter.
    let response = server
        .request(
            Method::GET,
            "/api/v1/upstreams",
            &[("authorization", "Bearer whatever")],
            None,
        )
        .await;
    assert_eq!(response.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn the_right_token_is_accepted() {
    let server = TestServer::start_with(Some(TOKEN)).await;
    assert_eq!(server.get("/api/v1/upstreams").await.status, 200);
    assert_eq!(server.post("/api/v1/reload").await.status, 200);
    let response = server
        .request(
            Method::GET,
            "/api/v1/listeners",
            &[("authorization", &format!("bearer {TOKEN}"))],
            None,
        )
        .await;
    assert_eq!(response.status, 200);
    // With the token, unknown routes are plain 404s.
    server.get("/nope").await.assert_error(404, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn a_missing_token_is_401_with_a_challenge() {
    let mut server = TestServer::start_with(Some(TOKEN)).await;
    // The client sends no token unless told to.
    server.client_token = None;
    for (method, path) in [
        (Method::GET, "/api/v1/upstreams"),
        (Method::GET, "/api/v1/listeners"),
        (Method::POST, "/api/v1/reload"),
        (
            Method::DELETE,
            "/api/v1/upstreams/api/backends/127.0.0.1:9001",
        ),
        (
            Method::POST,
            "/api/v1/upstreams/api/backends/127.0.0.1:9001/drain",
        ),
        // Unknown routes too: no probing which exist.
        (Method::GET, "/nope"),
        (Method::GET, "/live/"),
    ] {
        for authorization in [
            None,
            Some(""),
            Some("Basic dXNlcjpwYXNz"),
            Some(TOKEN),
            Some("Bearer"),
        ] {
            let headers: Vec<(&str, &str)> = authorization
                .map(|value| vec![("authorization", value)])
                .unwrap_or_default();
            let response = server.request(method.clone(), path, &headers, None).await;
            response.assert_error(401, "unauthorized");
            let challenge = response.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            assert!(!challenge.contains("invalid_token"), "{challenge}");
        }
    }
    assert!(
        server.control.calls().is_empty(),
        "{:?}",
        server.control.calls()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_401_invalid_token() {
    let server = TestServer::start_with(Some(TOKEN)).await;
    let almost = &TOKEN[..TOKEN.len() - 1];
    for wrong in [
        "Bearer nope".to_string(),
        format!("Bearer {almost}"),
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", TOKEN.to_uppercase()),
    ] {
        let response = server
            .request(
                Method::POST,
                "/api/v1/reload",
                &[("authorization", &wrong)],
                None,
            )
            .await;
        let json = response.assert_error(401, "unauthorized");
        assert_eq!(json["error"], "invalid bearer token");
        let challenge = response.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    assert!(server.control.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn probes_need_no_token() {
    let mut server = TestServer::start_with(Some(TOKEN)).await;
    server.client_token = None;
    for path in ["/live", "/ready"] {
        assert_eq!(server.get(path).await.status, 200, "{path}");
        let response = server
            .request(
                Method::GET,
                path,
                &[("authorization", "Bearer wrong")],
                None,
            )
            .await;
        assert_eq!(response.status, 200, "{path}");
    }
    server.stop().await;
}

fn control() -> Arc<dyn Control> {
    Arc::new(FakeControl::new())
}

#[tokio::test]
async fn non_loopback_without_a_token_is_refused() {
    for addr in [
        "0.0.0.0:0",
        "[::]:0",
        "10.1.2.3:9090",
        "[::ffff:10.0.0.1]:9090",
    ] {
        let error =
            AdminServer::bind(addr.parse().expect("addr"), None, control()).expect_err(addr);
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{addr}");
        assert!(error.to_string().contains("token"), "{error}");
    }
    // With a token it binds.
    let server = AdminServer::bind(
        "0.0.0.0:0".parse().expect("addr"),
        Some(TOKEN.into()),
        control(),
    )
    .expect("binds with a token");
    assert_ne!(server.local_addr().port(), 0);
}

#[tokio::test]
async fn unusable_tokens_are_refused() {
    for token in ["", "  \n", "two words", "tab\there"] {
        let error = AdminServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            Some(token.into()),
            control(),
        )
        .expect_err(token);
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{token:?}");
    }
}

#[tokio::test]
async fn a_token_file_newline_is_trimmed() {
    let server = AdminServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        Some(format!("{TOKEN}\n")),
        control(),
    )
    .expect("bind");
    let addr = server.local_addr();
    let (shutdown, signal) = shoal_core::Shutdown::new();
    let task = tokio::spawn(server.serve(signal));
    let harness = TestServer {
        addr,
        control: Arc::new(FakeControl::new()),
        shutdown,
        task,
        client_token: Some(TOKEN.into()),
    };
    assert_eq!(harness.get("/api/v1/upstreams").await.status, 200);
    harness.stop().await;
}

#[tokio::test]
async fn the_token_is_checked_before_the_body() {
    let mut server = TestServer::start_with(Some(TOKEN)).await;
    server.client_token = None;
    let big = format!(
        r#"{{"addr": "{}"}}"#,
        "1".repeat(shoal_admin::MAX_BODY_BYTES)
    );
    let response = server
        .send_json(Method::POST, "/api/v1/upstreams/api/backends", &big)
        .await;
    response.assert_error(401, "unauthorized");
    let response = server
        .send_json(Method::POST, "/api/v1/upstreams/api/backends", "{oops")
        .await;
    response.assert_error(401, "unauthorized");
    server.stop().await;
}
