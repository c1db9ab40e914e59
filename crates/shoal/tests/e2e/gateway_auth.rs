//! Gateway authentication through the proxy: jwt, api_key and basic_auth — success, every
//! failure status, what the backend sees (forwarded identity, never a client's copy), key
//! rotation by file change, and config checks of the files they name.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use shoal_test_support::{eventually, TempDir, TestBackend, TestClient, TestProxy};

use crate::gateway_support::*;
use crate::support::*;

#[tokio::test]
async fn jwt_success_forwards_claims_and_strips_spoofed_copies() {
    let dir = TempDir::new("gw-jwt");
    let key = ec_key();
    let jwks_path = dir.write("jwks.json", &jwks(&[(&key, "k1")]));
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["auth"],
        &jwt_table(&jwks_path),
        "",
    ));
    let client = TestClient::http1();
    let t = token(&key, "k1", "alice", json!({"org": "acme"}));
    let ok = get_h(
        &client,
        &proxy.url("/api/orders"),
        &[
            ("authorization", &bearer(&t)),
            ("x-user-id", "mallory"),
            ("x-org-id", "evil"),
            ("x-api-key-name", "admin"),
        ],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let seen = backend.last_request().expect("recorded");
    assert_eq!(
        seen.header("x-api-key-name"),
        None,
        "never trusted from a client on a filtered route"
    );
    let ids: Vec<_> = seen.headers.get_all("x-user-id").iter().collect();
    assert_eq!(ids, ["alice"], "the verified sub, and only it");
    assert_eq!(seen.header("x-org-id"), Some("acme"));

    // A token without `org`: the client's x-org-id is still removed, not passed on.
    let t = token(&key, "k1", "bob", json!({}));
    let ok = get_h(
        &client,
        &proxy.url("/api/orders"),
        &[("authorization", &bearer(&t)), ("x-org-id", "evil")],
    )
    .await;
    assert_eq!(ok.status, 200);
    let seen = backend.last_request().expect("recorded");
    assert_eq!(seen.header("x-user-id"), Some("bob"));
    assert_eq!(seen.header("x-org-id"), None);

    // `Connection: x-user-id` cannot delete the forwarded claim.
    let t = token(&key, "k1", "carol", json!({}));
    let raw = format!(
        "GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {t}\r\nConnection: close, x-user-id\r\nX-User-Id: mallory\r\n\r\n"
    );
    let outcome = raw_exchange(proxy.addr(), raw.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(outcome.responses()[0].status, 200, "{}", outcome.text());
    assert_eq!(
        backend
            .last_request()
            .expect("recorded")
            .header("x-user-id"),
        Some("carol")
    );

    // Routes without filters are untouched.
    get_h(&client, &proxy.url("/plain"), &[("x-user-id", "whoever")]).await;
    assert_eq!(
        backend
            .last_request()
            .expect("recorded")
            .header("x-user-id"),
        Some("whoever")
    );
}

#[tokio::test]
async fn jwt_failures_answer_without_reaching_the_backend() {
    let dir = TempDir::new("gw-jwt-fail");
    let key = ec_key();
    let jwks_path = dir.write("jwks.json", &jwks(&[(&key, "k1")]));
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["auth"],
        &jwt_table(&jwks_path),
        "",
    ));
    let client = TestClient::http1();
    let url = proxy.url("/api/x");

    let missing = get(&client, &url).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert_error_body(
        401,
        &missing.text(),
        missing.header("x-request-id"),
        "a bearer token is required",
    );

    let expired = token(&key, "k1", "alice", json!({"exp": unix_now() - 3600}));
    let forged = token(&ec_key(), "k1", "alice", json!({}));
    for (what, t) in [
        ("expired", expired),
        ("forged", forged),
        ("garbage", "abc.def.ghi".to_string()),
    ] {
        let r = get_h(&client, &url, &[("authorization", &bearer(&t))]).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{what}"
        );
    }
    for extra in [
        json!({"aud": "billing"}),
        json!({"iss": "https://other.example"}),
    ] {
        let t = token(&key, "k1", "alice", extra.clone());
        let r = get_h(&client, &url, &[("authorization", &bearer(&t))]).await;
        assert_eq!(r.status, 403, "{extra}: {}", r.text());
    }
    assert_eq!(backend.hits(), 0, "no refused request reached the backend");
    // The connection still serves.
    let t = token(&key, "k1", "alice", json!({}));
    assert_eq!(
        get_h(&client, &url, &[("authorization", &bearer(&t))])
            .await
            .status,
        200
    );
    assert_still_serving(&proxy).await;
}

#[tokio::test]
async fn jwks_rotation_on_file_change() {
    let dir = TempDir::new("gw-rotate");
    let (old, new) = (ec_key(), ec_key());
    let jwks_path = dir.write("jwks.json", &jwks(&[(&old, "old")]));
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["auth"],
        &jwt_table(&jwks_path),
        "",
    ));
    let client = TestClient::http1();
    let url = proxy.url("/api/x");
    let status_with = |key: &jsonwebtoken::EncodingKey, kid: &str| {
        let t = token(key, kid, "alice", json!({}));
        let client = &client;
        let url = url.clone();
        async move {
            get_h(client, &url, &[("authorization", &bearer(&t))])
                .await
                .status
        }
    };
    assert_eq!(status_with(&old, "old").await, 200);
    assert_eq!(status_with(&new, "new").await, 401);

    // Replace the file the way deploy tools do: write aside, rename over.
    let staged = dir.write("jwks.json.new", &jwks(&[(&new, "new")]));
    std::fs::rename(&staged, &jwks_path).expect("rename");
    eventually(Duration::from_secs(10), || async {
        status_with(&new, "new").await == 200 && status_with(&old, "old").await == 401
    })
    .await;
}

#[tokio::test]
async fn api_key_from_header_or_query_with_its_name_forwarded() {
    let dir = TempDir::new("gw-apikey");
    let keys = dir.write(
        "keys.txt",
        &format!(
            "billing {}\nops {}\n",
            shoal_gateway::sha256_hex(b"k-billing"),
            shoal_gateway::sha256_hex(b"k-ops")
        ),
    );
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["keys"],
        &format!(
            "[filters.keys]\nkind = \"api_key\"\nkeys = {}\nquery = \"api_key\"\n",
            toml_path(&keys)
        ),
        "",
    ));
    let client = TestClient::http1();
    let ok = get_h(
        &client,
        &proxy.url("/api/x"),
        &[("x-api-key", "k-ops"), ("x-api-key-name", "billing")],
    )
    .await;
    assert_eq!(ok.status, 200);
    let seen = backend.last_request().expect("recorded");
    let names: Vec<_> = seen.headers.get_all("x-api-key-name").iter().collect();
    assert_eq!(names, ["ops"]);
    let ok = get(&client, &proxy.url("/api/x?api_key=k-billing")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        backend
            .last_request()
            .expect("recorded")
            .header("x-api-key-name"),
        Some("billing")
    );
    let hits = backend.hits();
    for headers in [
        vec![],
        vec![("x-api-key", "k-nope")],
        vec![("x-api-key-name", "ops")],
    ] {
        let r = get_h(&client, &proxy.url("/api/x"), &headers).await;
        assert_eq!(r.status, 401, "{headers:?}");
        assert!(r.header("x-request-id").is_some());
    }
    assert_eq!(backend.hits(), hits);
}

#[tokio::test]
async fn basic_auth_with_bcrypt_entries() {
    let dir = TempDir::new("gw-basic");
    let hash = bcrypt::hash("s3cret", 4).expect("bcrypt");
    let htpasswd = dir.write("htpasswd", &format!("alice:{hash}\n"));
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["basic"],
        &format!(
            "[filters.basic]\nkind = \"basic_auth\"\nhtpasswd = {}\n",
            toml_path(&htpasswd)
        ),
        "",
    ));
    let client = TestClient::http1();
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    for _ in 0..3 {
        let r = get_h(
            &client,
            &proxy.url("/api/x"),
            &[("authorization", &basic("alice", "s3cret"))],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for auth in [basic("alice", "nope"), basic("eve", "s3cret")] {
        let r = get_h(&client, &proxy.url("/api/x"), &[("authorization", &auth)]).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"shoal\""));
    }
    let r = get(&client, &proxy.url("/api/x")).await;
    assert_eq!(r.status, 401);
    assert_eq!(backend.hits(), 3);
}

#[tokio::test]
async fn check_reports_bad_filter_files_at_their_key_and_lists_filters() {
    let dir = TempDir::new("gw-check");
    dir.write("jwks.json", "{\"keys\": \"nope\"}");
    let text = String::from(
        "[listeners.web]\nbind = \"127.0.0.1:0\"\n[[listeners.web.routes]]\nupstream = \"app\"\n\
         filters = [\"auth\", \"limit\"]\n[upstreams.app]\nbackends = [\"127.0.0.1:9\"]\n\
         [filters.auth]\nkind = \"jwt\"\nalgorithms = [\"ES256\"]\nkeys = \"jwks.json\"\n\
         [filters.limit]\nkind = \"rate_limit\"\nkey = \"claim:sub\"\nrate = \"100/s\"\nburst = 50\n"
    );
    let path = dir.write("shoal.toml", &text);
    let errors = shoal::load_config(&path).expect_err("the JWKS does not parse");
    let shown = errors.to_string();
    assert!(shown.starts_with("filters.auth.keys (line 11):"), "{shown}");
    let key = ec_key();
    dir.write("jwks.json", &jwks(&[(&key, "k")]));
    let config = shoal::load_config(&path).unwrap_or_else(|e| panic!("{e}"));
    let summary = shoal_config::summary(&config);
    assert!(summary.contains("filters=auth,limit"), "{summary}");
    assert!(summary.contains("filter auth\n  kind"), "{summary}");
    assert!(summary.contains("100/s, burst 50"), "{summary}");
}

#[tokio::test]
async fn a_refused_request_body_is_never_read_as_a_request() {
    let dir = TempDir::new("gw-smuggle");
    let key = ec_key();
    let jwks_path = dir.write("jwks.json", &jwks(&[(&key, "k1")]));
    let backend = TestBackend::http().name("b").record(16).await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["auth"],
        &jwt_table(&jwks_path),
        "",
    ));
    // A POST refused before its body is read, whose body looks like a request, then a
    // pipelined request of our own.
    let inner = "GET /api/smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let raw = format!(
        "POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{inner}GET /plain/after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        inner.len()
    );
    let outcome = raw_exchange(proxy.addr(), raw.as_bytes(), Duration::from_secs(5)).await;
    let responses = outcome.responses();
    assert_eq!(responses[0].status, 401, "{}", outcome.text());
    // Either the body was skipped and the next request served, or the connection closed;
    // never was the body taken for a request.
    assert!(responses.len() <= 2, "{}", outcome.text());
    if let Some(second) = responses.get(1) {
        assert_eq!(second.status, 200);
    }
    assert!(
        backend
            .requests()
            .iter()
            .all(|r| r.uri.path() != "/api/smuggled"),
        "the refused body reached the backend as a request"
    );
    assert_still_serving(&proxy).await;
}
