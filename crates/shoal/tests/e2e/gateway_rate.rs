//! Rate limiting through the proxy: accuracy per key over a few seconds, keys independent,
//! the 429 answer's headers, filter order (a limit keyed by a verified claim), and the key
//! table's bound under a flood of distinct keys.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shoal_test_support::{TempDir, TestBackend, TestClient, TestProxy};

use crate::gateway_support::*;
use crate::support::*;

/// Sends `GET url` with `x-user: key` every `every` for `for_how_long`; returns (admitted,
/// refused). Anything but 200 and 429 fails the test.
async fn hammer(
    client: Arc<TestClient>,
    url: String,
    key: &'static str,
    every: Duration,
    for_how_long: Duration,
) -> (usize, usize) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let end = Instant::now() + for_how_long;
    let (mut admitted, mut refused) = (0, 0);
    while Instant::now() < end {
        ticker.tick().await;
        let r = get_h(&client, &url, &[("x-user", key)]).await;
        match r.status.as_u16() {
            200 => admitted += 1,
            429 => refused += 1,
            other => panic!("{key}: unexpected {other}: {}", r.text()),
        }
    }
    (admitted, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_per_second_for_four_seconds_admits_two_hundred_per_key() {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["per_user"],
        "[filters.per_user]\nkind = \"rate_limit\"\nkey = \"header:x-user\"\nrate = \"50/s\"\nburst = 10\n",
        "",
    ));
    let url = proxy.url("/api/x");
    let window = Duration::from_secs(4);
    let run = |key: &'static str, every: Duration| {
        let client = Arc::new(TestClient::http1());
        tokio::spawn(hammer(client, url.clone(), key, every, window))
    };
    // Two keys at four times the rate, one well under it. The burst (200 ms worth) absorbs
    // the client's own stalls on a busy machine, and the fast pace catches up after one.
    let fast_a = run("alice", Duration::from_millis(5));
    let fast_b = run("bob", Duration::from_millis(5));
    let slow = run("carol", Duration::from_millis(100));
    for (key, task) in [("alice", fast_a), ("bob", fast_b)] {
        let (admitted, refused) = task.await.expect("task");
        assert!(
            refused > 0,
            "{key} sent faster than the limit: {admitted} admitted"
        );
        // 200 ± 10 %; and never more than burst + 50/s × 4 s = 210, GCRA's exact bound (+1
        // for a last request sent just before the end and answered just after).
        assert!(
            (180..=220).contains(&admitted),
            "{key}: {admitted} admitted, {refused} refused"
        );
        assert!(admitted <= 10 + 50 * 4 + 1, "{key}: {admitted} admitted");
    }
    let (admitted, refused) = slow.await.expect("task");
    assert_eq!(
        refused, 0,
        "a key under its rate is never refused ({admitted} admitted)"
    );
    assert!(admitted >= 30);
}

#[tokio::test]
async fn refusals_carry_retry_after_and_ratelimit_headers() {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["ip"],
        "[filters.ip]\nkind = \"rate_limit\"\nkey = \"client_ip\"\nrate = \"6000/m\"\nburst = 3\n",
        "",
    ));
    let client = TestClient::http1();
    let url = proxy.url("/api/x");
    let first = get(&client, &url).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-limit"), Some("3"));
    assert_eq!(first.header("ratelimit-remaining"), Some("2"));
    assert_eq!(first.header("ratelimit-reset"), Some("1"));
    let mut refused = None;
    for _ in 0..10 {
        let r = get(&client, &url).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the burst runs out");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert_error_body(
        429,
        &r.text(),
        r.header("x-request-id"),
        "rate limit exceeded",
    );
    // The plain route is not limited.
    for _ in 0..10 {
        assert_eq!(get(&client, &proxy.url("/plain")).await.status, 200);
    }
}

#[tokio::test]
async fn a_limit_keyed_by_a_claim_runs_after_the_jwt_that_verified_it() {
    let dir = TempDir::new("gw-order");
    let key = ec_key();
    let jwks_path = dir.write("jwks.json", &jwks(&[(&key, "k")]));
    let backend = TestBackend::http().name("b").await;
    let limit = "[filters.per_user]\nkind = \"rate_limit\"\nkey = \"claim:sub\"\nrate = \"1/m\"\nburst = 2\n";
    let tables = format!("{}{limit}", jwt_table(&jwks_path));
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["auth", "per_user"],
        &tables,
        "",
    ));
    let client = TestClient::http1();
    let url = proxy.url("/api/x");
    let as_user = |sub: &str| bearer(&token(&key, "k", sub, json!({})));
    let alice = as_user("alice");
    let statuses = |auth: Option<String>, n: usize| {
        let client = &client;
        let url = url.clone();
        async move {
            let mut out = Vec::new();
            for _ in 0..n {
                let headers: Vec<(&str, &str)> = match &auth {
                    Some(a) => vec![("authorization", a.as_str())],
                    None => vec![],
                };
                out.push(get_h(client, &url, &headers).await.status.as_u16());
            }
            out
        }
    };
    assert_eq!(statuses(Some(alice.clone()), 3).await, [200, 200, 429]);
    // Each user has their own bucket; a fresh token for alice is still alice.
    assert_eq!(statuses(Some(as_user("bob")), 2).await, [200, 200]);
    assert_eq!(statuses(Some(as_user("alice")), 1).await, [429]);
    // Without a token the jwt filter answers first: never a 429.
    assert_eq!(statuses(None, 4).await, [401, 401, 401, 401]);

    // The other order (an IP limit before authentication) spends the budget on anyone.
    let ip_first =
        "[filters.ip]\nkind = \"rate_limit\"\nkey = \"client_ip\"\nrate = \"1/m\"\nburst = 2\n";
    let tables = format!("{}{ip_first}", jwt_table(&jwks_path));
    proxy.reload(&gateway_config(&[&backend], &["ip", "auth"], &tables, ""));
    assert_eq!(statuses(None, 3).await, [401, 401, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_keys_stays_within_max_keys() {
    let backend = TestBackend::http().name("b").await;
    let proxy = TestProxy::start(&gateway_config(
        &[&backend],
        &["per_user"],
        "[filters.per_user]\nkind = \"rate_limit\"\nkey = \"header:x-user\"\nrate = \"1/m\"\nburst = 1\nmax_keys = 320\n",
        "",
    ));
    let url = proxy.url("/api/x");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = TestClient::http1();
            for i in 0..250 {
                let user = format!("user-{t}-{i}");
                let r = get_h(&client, &url, &[("x-user", &user)]).await;
                assert_eq!(r.status, 200, "a new key always has its burst");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let snapshot = proxy.proxy().snapshot();
    let state = snapshot.gateway.rate_state("per_user").expect("rate state");
    assert!(state.table.capacity() <= 336, "{}", state.table.capacity());
    assert!(
        state.table.len() <= state.table.capacity(),
        "{} keys",
        state.table.len()
    );
    assert!(
        state.table.evictions() >= 2000 - 336,
        "{}",
        state.table.evictions()
    );
    assert_still_serving(&proxy).await;
}
