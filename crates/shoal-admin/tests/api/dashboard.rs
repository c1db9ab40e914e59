//! The dashboard's files: served at `/` and `/ui/...` with their content types and a strict
//! Content-Security-Policy, without a token even when one is configured (they hold no data).

use http::Method;

use crate::harness::TestServer;

const FILES: [(&str, &str, &str); 4] = [
    ("/", "text/html; charset=utf-8", "<!DOCTYPE html>"),
    (
        "/ui/dashboard.js",
        "text/javascript; charset=utf-8",
        "\"use strict\"",
    ),
    ("/ui/dashboard.css", "text/css; charset=utf-8", ":root"),
    ("/ui/favicon.svg", "image/svg+xml", "<svg"),
];

#[tokio::test]
async fn files_are_served_with_types_and_a_strict_policy_without_a_token() {
    let mut server = TestServer::start_with(Some("s3cret")).await;
    // This client sends no token.
    server.client_token = None;
    for (path, content_type, start) in FILES {
        let response = server.request(Method::GET, path, &[], None).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
        let csp = response
            .header("content-security-policy")
            .unwrap_or_default();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        let body = String::from_utf8_lossy(&response.body);
        assert!(
            body.trim_start().starts_with(start) || body.contains(start),
            "{path}"
        );
    }
    // The data still needs the token.
    let response = server
        .request(Method::GET, "/api/v1/upstreams", &[], None)
        .await;
    response.assert_error(401, "unauthorized");
    // Only GET (and HEAD) on the files.
    let response = server.request(Method::POST, "/", &[], None).await;
    response.assert_error(405, "method_not_allowed");
    server.stop().await;
}
