//! `GET /api/v1/events`: the recent events after `?since=`, at most `?limit=`, the newest kept.

use http::Method;

use crate::harness::TestServer;

fn ids(value: &serde_json::Value) -> Vec<u64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["id"].as_u64().expect("id"))
        .collect()
}

#[tokio::test]
async fn events_since_and_limit() {
    let server = TestServer::start().await;
    let all = server.get("/api/v1/events").await;
    assert_eq!(all.status, 200);
    let json = all.json();
    assert_eq!(ids(&json), vec![1, 2, 3, 4, 5]);
    assert_eq!(json[0]["kind"], "drain");
    assert_eq!(json[0]["upstream"], "api");
    assert_eq!(json[0]["backend"], "127.0.0.1:9001");
    assert_eq!(json[0]["message"], "event 1");
    assert!(json[0]["at_unix_ms"].is_u64());

    assert_eq!(
        ids(&server.get("/api/v1/events?since=3").await.json()),
        vec![4, 5]
    );
    assert_eq!(
        ids(&server.get("/api/v1/events?since=5").await.json()),
        Vec::<u64>::new()
    );
    assert_eq!(
        ids(&server.get("/api/v1/events?limit=2").await.json()),
        vec![4, 5],
        "the newest are kept"
    );
    for bad in ["since=x", "limit=0", "limit=100000", "token=abc"] {
        server
            .get(&format!("/api/v1/events?{bad}"))
            .await
            .assert_error(400, "invalid_query");
    }
    server.stop().await;
}

#[tokio::test]
async fn events_need_the_token() {
    let mut server = TestServer::start_with(Some("s3cret")).await;
    assert_eq!(server.get("/api/v1/events").await.status, 200);
    server.client_token = None;
    server
        .request(Method::GET, "/api/v1/events", &[], None)
        .await
        .assert_error(401, "unauthorized");
    server.stop().await;
}
