//! When shoal sends a request to another backend, and when it must not.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_test_support::{Mode, TestBackend, TestClient, TestProxy};

use crate::support::*;

/// Upstream `app` (round robin, `extra`) over the given addresses, one worker: the first
/// request goes to the first address.
fn over(addrs: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    config(
        1,
        "",
        &format!(
            "{}[upstreams.app]\nalgorithm = \"round_robin\"\nbackends = [{}]\n{extra}\n",
            route("", "upstream = \"app\"", ""),
            list.join(", ")
        ),
    )
}

#[tokio::test]
async fn connect_failure_always_moves_to_another_backend_even_for_post() {
    let good = TestBackend::http().name("good").await;
    let refusing = Refusing::new();
    let refused = refusing.addr();
    // Retries of sent requests off: a connect failure sent nothing, so it is not one.
    let proxy = TestProxy::start(&over(&[refused, good.addr()], "retries = 0"));
    let client = TestClient::http1();
    for i in 0..10 {
        let get = get(&client, &proxy.url(&format!("/g{i}"))).await;
        assert_eq!(get.status, 200, "GET {i}: {}", get.text());
        assert_eq!(get.backend(), Some("good"));
        let post = client
            .post(&proxy.url(&format!("/p{i}")), format!("body-{i}"))
            .await
            .expect("POST");
        assert_eq!(post.status, 200, "POST {i}: {}", post.text());
        assert_eq!(post.backend(), Some("good"));
        assert_eq!(
            good.last_request().expect("recorded").body,
            format!("body-{i}"),
            "the POST body arrives whole after the failed connect"
        );
    }
    assert_eq!(good.hits(), 20);
}

#[tokio::test]
async fn idempotent_get_is_retried_when_the_backend_closes_before_responding() {
    let bad = TestBackend::http()
        .name("bad")
        .mode(Mode::CloseBeforeResponse)
        .await;
    let good = TestBackend::http().name("good").await;
    // Passive ejection off: it would take `bad` out after five failures, hiding the retries.
    let proxy = TestProxy::start(&over(
        &[bad.addr(), good.addr()],
        "retry_backoff = \"0s\"\noutlier = { consecutive_5xx = 0, consecutive_gateway_failures = 0 }",
    ));
    let client = TestClient::http1();
    for i in 0..6 {
        let response = get(&client, &proxy.url(&format!("/r{i}"))).await;
        assert_eq!(response.status, 200, "GET {i}: {}", response.text());
        assert_eq!(response.backend(), Some("good"));
    }
    assert_eq!(good.hits(), 6);
    // One worker, round robin: every first attempt lands on `bad` (the retry's pick moves
    // the cursor past `good`), fails, and is retried on `good`.
    assert_eq!(bad.hits(), 6, "each GET was first sent to `bad`");
    let bad_paths: Vec<String> = bad.requests().iter().map(|r| r.uri.to_string()).collect();
    let good_paths: Vec<String> = good.requests().iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(bad_paths, good_paths, "the same requests, retried in order");
}

#[tokio::test]
async fn post_with_body_is_not_replayed_after_the_backend_received_it() {
    let bad = TestBackend::http()
        .name("bad")
        .mode(Mode::CloseBeforeResponse)
        .await;
    let good = TestBackend::http().name("good").await;
    let proxy = TestProxy::start(&over(&[bad.addr(), good.addr()], ""));
    let client = TestClient::http1();
    // One worker, round robin: the first pick is `bad`.
    let response = client
        .post(&proxy.url("/charge"), "amount=100")
        .await
        .expect("POST");
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(bad.hits(), 1);
    assert_eq!(
        bad.last_request().expect("recorded").body,
        "amount=100",
        "bad received the body before failing"
    );
    assert_eq!(good.hits(), 0, "the POST must not be replayed on `good`");

    // The next pick is `good`: a POST that succeeds is delivered once.
    let response = client
        .post(&proxy.url("/charge"), "amount=7")
        .await
        .expect("POST");
    assert_eq!(response.status, 200);
    assert_eq!(good.hits(), 1);
    assert_eq!(bad.hits(), 1);
}

#[tokio::test]
async fn retries_zero_disables_retrying_a_sent_request() {
    let bad = TestBackend::http()
        .name("bad")
        .mode(Mode::CloseBeforeResponse)
        .await;
    let good = TestBackend::http().name("good").await;
    let proxy = TestProxy::start(&over(&[bad.addr(), good.addr()], "retries = 0"));
    let client = TestClient::http1();
    let first = get(&client, &proxy.url("/once")).await;
    assert_eq!(first.status, 502, "{}", first.text());
    assert_eq!(bad.hits(), 1);
    assert_eq!(good.hits(), 0, "retries = 0: the GET is not sent again");
    let second = get(&client, &proxy.url("/next")).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.backend(), Some("good"));
}

#[tokio::test]
async fn every_backend_failing_is_502_after_bounded_attempts() {
    let backends = [
        TestBackend::http()
            .name("x")
            .mode(Mode::CloseBeforeResponse)
            .await,
        TestBackend::http()
            .name("y")
            .mode(Mode::CloseBeforeResponse)
            .await,
        TestBackend::http()
            .name("z")
            .mode(Mode::CloseBeforeResponse)
            .await,
    ];
    let addrs: Vec<SocketAddr> = backends.iter().map(TestBackend::addr).collect();
    let proxy = TestProxy::start(&over(&addrs, "retries = 1\nretry_backoff = \"0s\""));
    let response = get(&TestClient::http1(), &proxy.url("/")).await;
    assert_eq!(response.status, 502, "{}", response.text());
    let total: u64 = backends.iter().map(TestBackend::hits).sum();
    assert_eq!(total, 2, "one attempt plus `retries = 1` retry");
    assert!(
        backends.iter().all(|b| b.hits() <= 1),
        "a retry goes to another backend"
    );
}

#[tokio::test]
async fn a_timed_out_get_moves_to_another_backend_but_a_post_does_not() {
    let slow = TestBackend::http()
        .name("slow")
        .delay(Duration::from_secs(3))
        .await;
    let fast = TestBackend::http().name("fast").await;
    let proxy = TestProxy::start(&over(
        &[slow.addr(), fast.addr()],
        "retry_backoff = \"0s\"\nresponse_timeout = \"200ms\"\n\
         outlier = { consecutive_5xx = 0, consecutive_gateway_failures = 0 }",
    ));
    let client = TestClient::http1();
    for i in 0..4 {
        let response = get(&client, &proxy.url(&format!("/g{i}"))).await;
        assert_eq!(response.status, 200, "GET {i}: {}", response.text());
        assert_eq!(response.backend(), Some("fast"));
    }
    assert!(
        slow.hits() >= 1,
        "some GETs were first sent to the slow backend"
    );
    // A POST that reached the slow backend is never sent again.
    let mut post_timeouts = 0;
    for i in 0..4 {
        let response = client
            .post(&proxy.url(&format!("/p{i}")), "data")
            .await
            .expect("answered");
        if response.status == 504 {
            post_timeouts += 1;
        } else {
            assert_eq!(response.status, 200);
        }
    }
    assert!(
        post_timeouts >= 1,
        "round robin sends some POSTs to the slow backend"
    );
    let fast_posts = fast
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::POST)
        .count();
    assert_eq!(
        fast_posts + post_timeouts,
        4,
        "a timed-out POST is not replayed"
    );
}
