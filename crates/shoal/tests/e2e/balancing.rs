//! Each balancing algorithm's observable distribution through the real proxy.

use std::sync::Arc;
use std::time::Duration;

use shoal_test_support::{eventually, TestBackend, TestClient, TestProxy, TestResponse};
use tokio::task::JoinHandle;

use crate::support::*;

/// Sends `n` sequential GETs and returns the `x-backend` of each answer (all must be 200).
async fn backends_seen(proxy: &TestProxy, n: usize) -> Vec<String> {
    let client = TestClient::http1();
    let mut seen = Vec::with_capacity(n);
    for _ in 0..n {
        let response = get(&client, &proxy.url("/")).await;
        assert_eq!(response.status, 200, "{}", response.text());
        seen.push(response.backend().expect("x-backend").to_string());
    }
    seen
}

#[tokio::test]
async fn round_robin_rotates_exactly_over_three_backends() {
    let backends = named(&["a", "b", "c"]).await;
    let proxy = TestProxy::start(&single(1, "round_robin", &refs(&backends), ""));
    let seen = backends_seen(&proxy, 9).await.concat();
    assert_eq!(seen, "abcabcabc");
    for b in &backends {
        assert_eq!(b.hits(), 3, "backend {}", b.name());
    }
}

#[tokio::test]
async fn weighted_round_robin_5_1_1_gives_exact_shares_smoothly() {
    let backends = named(&["a", "b", "c"]).await;
    let list = [(&backends[0], 5), (&backends[1], 1), (&backends[2], 1)];
    let text = config(
        1,
        "",
        &format!(
            "{}{}",
            route("", "upstream = \"app\"", ""),
            weighted_upstream("app", "weighted_round_robin", &list, "")
        ),
    );
    let proxy = TestProxy::start(&text);
    let seen = backends_seen(&proxy, 70).await;
    let counts = tally(seen.iter().map(String::as_str));
    assert_eq!(counts.get("a"), Some(&50), "{counts:?}");
    assert_eq!(counts.get("b"), Some(&10), "{counts:?}");
    assert_eq!(counts.get("c"), Some(&10), "{counts:?}");
    // Smooth: within every cycle of 7 the light backends are never adjacent.
    for cycle in seen.chunks(7) {
        let line = cycle.concat();
        assert_eq!(line.matches('a').count(), 5, "cycle {line}");
        assert!(
            !line.contains("bc") && !line.contains("cb") && !line.contains("aaaaa"),
            "not smooth: {line}"
        );
    }
}

/// Sends requests in the background until one is being held by `slow` (which answers only
/// after its long delay); every request that went to `fast` meanwhile is awaited. Returns the
/// held request's task. Bounded: 30 attempts.
async fn hold_one_on(
    client: &Arc<TestClient>,
    url: &str,
    slow: &TestBackend,
    fast: &TestBackend,
) -> JoinHandle<TestResponse> {
    for attempt in 0..30u64 {
        let task = {
            let (client, url) = (Arc::clone(client), url.to_string());
            tokio::spawn(async move { get(&client, &url).await })
        };
        eventually(Duration::from_secs(5), || async {
            slow.hits() + fast.hits() == attempt + 1
        })
        .await;
        if slow.hits() == 1 {
            return task;
        }
        let response = task.await.expect("request task");
        assert_eq!(response.backend(), Some(fast.name()));
    }
    panic!("no request was sent to the slow backend in 30 attempts");
}

/// With one request held on `slow`, `n` sequential requests must all go to `fast`.
async fn assert_held_backend_avoided(algorithm: &str) {
    let slow = TestBackend::http()
        .name("slow")
        .delay(Duration::from_secs(5))
        .await;
    let fast = TestBackend::http().name("fast").await;
    // `retries = 0`: when the test ends and the slow backend goes away under the held
    // request, the proxy must not send it anywhere else (a freed port may already belong to
    // a parallel test's backend).
    let proxy = TestProxy::start(&single(2, algorithm, &[&slow, &fast], "retries = 0"));
    let client = Arc::new(TestClient::http1());
    let url = proxy.url("/");
    let held = hold_one_on(&client, &url, &slow, &fast).await;
    let fast_before = fast.hits();

    let seen = backends_seen(&proxy, 20).await;
    assert!(
        seen.iter().all(|b| b == "fast"),
        "{algorithm}: with a request in flight on `slow`, every new request should go to \
         `fast`; got {seen:?}"
    );
    assert_eq!(fast.hits(), fast_before + 20);
    assert_eq!(
        slow.hits(),
        1,
        "{algorithm}: slow got more than the held request"
    );
    assert_eq!(
        slow.in_flight(),
        1,
        "the held request was still held throughout"
    );
    held.abort();
}

#[tokio::test]
async fn least_conn_prefers_the_backend_with_fewer_in_flight() {
    assert_held_backend_avoided("least_conn").await;
}

#[tokio::test]
async fn p2c_avoids_the_backend_holding_a_request() {
    assert_held_backend_avoided("p2c").await;
}

#[tokio::test]
async fn p2c_ewma_avoids_a_slow_backend() {
    let slow = TestBackend::http().name("slow").delay(ms(300)).await;
    let fast = TestBackend::http().name("fast").await;
    let proxy = TestProxy::start(&single(1, "p2c_ewma", &[&slow, &fast], ""));
    let seen = backends_seen(&proxy, 40).await;
    let slow_count = seen.iter().filter(|b| *b == "slow").count();
    // Once measured (300 ms against well under 1 ms), the slow backend loses every
    // comparison; it may be tried before it has a measurement, and once more if the fast
    // one spikes before that. Any latency-blind algorithm would send it about 20.
    assert!(
        slow_count <= 2,
        "p2c_ewma sent {slow_count} of 40 requests to the slow backend: {seen:?}"
    );
    assert_eq!(fast.hits() as usize, 40 - slow_count);
}

#[tokio::test]
async fn random_follows_weights_within_tolerance() {
    let backends = named(&["a", "b", "c"]).await;
    let list = [(&backends[0], 2), (&backends[1], 1), (&backends[2], 1)];
    let text = config(
        2,
        "",
        &format!(
            "{}{}",
            route("", "upstream = \"app\"", ""),
            weighted_upstream("app", "random", &list, "")
        ),
    );
    let proxy = TestProxy::start(&text);
    let n = 600;
    let seen = backends_seen(&proxy, n).await;
    let counts = tally(seen.iter().map(String::as_str));
    for (name, share) in [("a", 0.5), ("b", 0.25), ("c", 0.25)] {
        let got = counts.get(name).copied().unwrap_or(0);
        let (lo, hi) = binomial_bounds(n, share);
        assert!(
            (lo..=hi).contains(&got),
            "backend {name}: {got} of {n}, expected {lo}..={hi}: {counts:?}"
        );
    }
}

async fn assert_hash_affinity(algorithm: &str) {
    let backends = named(&["a", "b", "c"]).await;
    let proxy = TestProxy::start(&single(
        2,
        algorithm,
        &refs(&backends),
        "hash_key = \"header:x-user-id\"",
    ));
    let client = TestClient::http1();
    let url = proxy.url("/");
    let mut owners = Vec::new();
    for key in 0..60 {
        let user = format!("user-{key}");
        let first = get_h(&client, &url, &[("x-user-id", &user)]).await;
        assert_eq!(first.status, 200);
        let owner = first.backend().expect("x-backend").to_string();
        for _ in 0..2 {
            let again = get_h(&client, &url, &[("x-user-id", &user)]).await;
            assert_eq!(
                again.backend(),
                Some(owner.as_str()),
                "{algorithm}: key {user} moved"
            );
        }
        owners.push(owner);
    }
    // 60 keys over 3 backends: all three own some (a miss has probability ~1e-10).
    let counts = tally(owners.iter().map(String::as_str));
    assert_eq!(
        counts.len(),
        3,
        "{algorithm}: keys did not spread: {counts:?}"
    );

    // Without the key: still served, round robin over all three.
    let mut keyless = Vec::new();
    for _ in 0..3 {
        let response = get(&client, &url).await;
        assert_eq!(response.status, 200, "{}", response.text());
        keyless.push(response.backend().expect("x-backend").to_string());
    }
    keyless.sort();
    assert_eq!(keyless, ["a", "b", "c"], "{algorithm}: keyless requests");
}

#[tokio::test]
async fn ring_hash_keeps_a_key_on_one_backend_and_spreads_keys() {
    assert_hash_affinity("ring_hash").await;
}

#[tokio::test]
async fn maglev_keeps_a_key_on_one_backend_and_spreads_keys() {
    assert_hash_affinity("maglev").await;
}
