//! Health checking through the real proxy: active checks take a failing backend out and bring
//! it back (through slow start), a new backend waits for its first passing check, passive
//! checks eject after a run of 5xx (with the cap and the off switch), and the panic threshold.
//!
//! Active checks run every 100 ms here, so detection takes a few hundred milliseconds; every
//! wait is bounded. Backends answer every path with the same status, so a backend "failing its
//! readiness check" answers 503 to clients too: the tests use that to see where requests go,
//! and tell probes from client traffic by path ([`served`], [`probes`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_health::BackendStatus::{Disabled, Down, NotReady, Ready, Warming};
use shoal_test_support::{eventually, TestBackend, TestClient, TestProxy};
use shoal_upstream::Operation;

use crate::support::*;

/// Active checks every 100 ms (jittered ±10 %), out after 3 failures, back after 2 passes.
/// The probe timeout is generous for its interval: a healthy backend on a busy 2-core test
/// machine must not miss three probes in a row.
const HEALTH: &str =
    "[upstreams.app.health]\ninterval = \"100ms\"\ntimeout = \"80ms\"\nfall = 3\nrise = 2\n";

/// Passive checks off, so only the active checks decide.
const NO_OUTLIER: &str = "outlier = { consecutive_5xx = 0, consecutive_gateway_failures = 0 }";

/// Generous bound on one detection (`fall × interval + timeout` is 380 ms; jitter, the
/// supervisor's 100 ms tick and a busy machine come on top).
const DETECT: Duration = Duration::from_secs(3);

/// Listener `web` → upstream `app` over `addrs` (equal weights) with `upstream_keys` (keys of
/// the upstream table) and then `tables` (sub-tables such as [`HEALTH`]).
fn over(
    workers: usize,
    algorithm: &str,
    addrs: &[SocketAddr],
    upstream_keys: &str,
    tables: &str,
) -> String {
    let list: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    config(
        workers,
        "",
        &format!(
            "{}[upstreams.app]\nalgorithm = \"{algorithm}\"\nbackends = [{}]\n{upstream_keys}\n{tables}\n",
            route("", "upstream = \"app\"", ""),
            list.join(", ")
        ),
    )
}

/// [`over`] with every backend at `weight`.
fn weighted_over(
    algorithm: &str,
    addrs: &[SocketAddr],
    weight: u32,
    upstream_keys: &str,
    tables: &str,
) -> String {
    let list: Vec<String> = addrs
        .iter()
        .map(|a| format!("{{ addr = \"{a}\", weight = {weight} }}"))
        .collect();
    config(
        2,
        "",
        &format!(
            "{}[upstreams.app]\nalgorithm = \"{algorithm}\"\nbackends = [{}]\n{upstream_keys}\n{tables}\n",
            route("", "upstream = \"app\"", ""),
            list.join(", ")
        ),
    )
}

fn addrs(backends: &[TestBackend]) -> Vec<SocketAddr> {
    backends.iter().map(TestBackend::addr).collect()
}

/// Sends up to `total` GETs from `tasks` concurrent clients, stopping early once `max_time`
/// has passed; returns `(status, x-backend)` of every answer. A transport error fails the test.
async fn burst(
    proxy: &TestProxy,
    tasks: usize,
    total: usize,
    max_time: Duration,
) -> Vec<(u16, String)> {
    let url = proxy.url("/c");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for _ in 0..tasks {
        let (url, next) = (url.clone(), Arc::clone(&next));
        handles.push(tokio::spawn(async move {
            let client = TestClient::http1().timeout(Duration::from_secs(5));
            let mut seen = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total && started.elapsed() < max_time {
                let response = client
                    .get(&url)
                    .await
                    .unwrap_or_else(|e| panic!("GET {url}: {e:#}"));
                seen.push((
                    response.status.as_u16(),
                    response.backend().unwrap_or("").to_string(),
                ));
            }
            seen
        }));
    }
    let mut all = Vec::with_capacity(total);
    for handle in handles {
        all.extend(handle.await.expect("load task"));
    }
    all
}

/// [`burst`] that must be answered 200 every time; returns the backend names.
async fn burst_ok(proxy: &TestProxy, total: usize) -> Vec<String> {
    let seen = burst(proxy, 4, total, Duration::from_secs(10)).await;
    assert_eq!(seen.len(), total);
    seen.into_iter()
        .map(|(status, backend)| {
            assert_eq!(status, 200, "answered by {backend:?}");
            backend
        })
        .collect()
}

fn count(seen: &[String], name: &str) -> usize {
    seen.iter().filter(|b| *b == name).count()
}

/// `n` sequential GETs on one connection; `(status, x-backend)` of each.
async fn sequential(proxy: &TestProxy, n: usize) -> Vec<(u16, String)> {
    let client = TestClient::http1();
    let mut seen = Vec::with_capacity(n);
    for _ in 0..n {
        let response = get(&client, &proxy.url("/c")).await;
        seen.push((
            response.status.as_u16(),
            response.backend().unwrap_or("").to_string(),
        ));
    }
    seen
}

async fn all_ready(proxy: &TestProxy, backends: &[TestBackend]) {
    for b in backends {
        until_status(proxy, b.addr(), Ready, DETECT).await;
    }
}

fn effective_weight(proxy: &TestProxy, addr: SocketAddr) -> u32 {
    backend_state(proxy, "app", addr)
        .expect("backend of app")
        .effective_weight()
}

#[tokio::test]
async fn failing_readiness_takes_a_backend_out_and_recovery_ramps_it_back_in() {
    let backends = recording(&["a", "b", "c"]).await;
    let c = &backends[2];
    let text = weighted_over(
        "weighted_round_robin",
        &addrs(&backends),
        10,
        &format!("slow_start = \"2s\"\n{NO_OUTLIER}"),
        HEALTH,
    );
    let proxy = TestProxy::start(&text);
    // Backends present at start skip slow start: straight to ready, full weight.
    all_ready(&proxy, &backends).await;
    assert_eq!(effective_weight(&proxy, c.addr()), 10);

    // Readiness fails: out after `fall` probes.
    let probes_before = probes(c);
    let failing_since = Instant::now();
    c.set_status(503);
    until_status(&proxy, c.addr(), NotReady, DETECT).await;
    let detected_after = failing_since.elapsed();
    assert!(
        probes(c) - probes_before >= 2,
        "fall = 3: out only after several failed probes (the first may have been answered \
         before the switch), saw {}",
        probes(c) - probes_before
    );
    assert!(
        detected_after >= Duration::from_millis(150),
        "fall = 3 probes 100 ms apart cannot fail within {detected_after:?}"
    );

    // Out: no request reaches it, the others serve everything.
    let served_before = served(c);
    let seen = burst_ok(&proxy, 200).await;
    assert_eq!(
        count(&seen, "c"),
        0,
        "{:?}",
        tally(seen.iter().map(String::as_str))
    );
    assert_eq!(served(c), served_before, "no client request reached c");

    // Back: `rise` passes, then warming at a reduced, growing weight.
    c.set_status(200);
    until_status(&proxy, c.addr(), Warming, DETECT).await;
    let warming_since = Instant::now();
    let first_weight = effective_weight(&proxy, c.addr());
    assert!(
        first_weight < 10,
        "a warming backend starts below its weight of 10, got {first_weight}"
    );
    // Share while warming: up to 1200 answers, within its first second.
    let early = burst(&proxy, 4, 1200, Duration::from_millis(800)).await;
    let late_weight = effective_weight(&proxy, c.addr());
    assert!(
        warming_since.elapsed() < Duration::from_millis(1900),
        "the early window must end inside the 2 s slow-start window"
    );
    assert!(
        (first_weight..10).contains(&late_weight),
        "the weight grows from {first_weight} and stays below 10 inside the window, got {late_weight}"
    );
    let early: Vec<String> = early
        .into_iter()
        .map(|(status, b)| {
            assert_eq!(status, 200, "from {b}");
            b
        })
        .collect();
    let n = early.len();
    assert!(n >= 300, "too few requests in the early window: {n}");
    let early_c = count(&early, "c");
    let (steady_lo, _) = binomial_bounds(n, 1.0 / 3.0);
    assert!(
        early_c >= 1,
        "a warming backend still gets a trickle: 0 of {n}"
    );
    assert!(
        early_c < steady_lo,
        "warming share {early_c}/{n} must be clearly below the steady third (≥ {steady_lo})"
    );

    // Then ready at full weight, and the steady share.
    until_status(&proxy, c.addr(), Ready, DETECT).await;
    assert!(
        warming_since.elapsed() >= Duration::from_millis(1500),
        "slow start of 2 s ended after {:?}",
        warming_since.elapsed()
    );
    assert_eq!(effective_weight(&proxy, c.addr()), 10);
    let steady = burst_ok(&proxy, 600).await;
    let (lo, hi) = binomial_bounds(600, 1.0 / 3.0);
    let steady_c = count(&steady, "c");
    assert!(
        (lo..=hi).contains(&steady_c),
        "steady share of c: {steady_c}/600, expected {lo}..={hi}"
    );
}

#[tokio::test]
async fn failing_liveness_marks_a_backend_down_and_closes_its_idle_connections() {
    let backends = recording(&["a", "b"]).await;
    let b = &backends[1];
    let tables = format!("{HEALTH}liveness_path = \"/health/live\"\n");
    let proxy = TestProxy::start(&over(
        1,
        "round_robin",
        &addrs(&backends),
        NO_OUTLIER,
        &tables,
    ));
    all_ready(&proxy, &backends).await;
    // Pooled connections to b exist after some traffic.
    let seen = sequential(&proxy, 10).await;
    assert_eq!(seen.iter().filter(|(_, n)| n == "b").count(), 5, "{seen:?}");
    let state = backend_state(&proxy, "app", b.addr()).expect("b");
    assert!(state.idle_connections() >= 1, "b has a pooled connection");

    b.set_status(500);
    until_status(&proxy, b.addr(), Down, DETECT).await;
    assert_eq!(
        state.idle_connections(),
        0,
        "a down backend's pooled connections are closed"
    );
    let view = proxy
        .proxy()
        .health()
        .view("app", b.addr())
        .await
        .expect("b is known");
    assert_eq!(view.status, Down);
    let reason = view
        .last_probe
        .as_ref()
        .and_then(|p| p.reason())
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("/health/live"), "last probe: {reason:?}");
    let seen = sequential(&proxy, 10).await;
    assert!(seen.iter().all(|(s, n)| *s == 200 && n == "a"), "{seen:?}");
}

#[tokio::test]
async fn a_new_backend_gets_no_traffic_before_its_first_passing_check() {
    let backends = recording(&["a1", "a2", "new"]).await;
    let (a1, a2, new) = (&backends[0], &backends[1], &backends[2]);
    let refusing = Refusing::new();
    let tables = format!("{HEALTH}wait_for_first_check = true\n");
    let text = |list: &[SocketAddr]| over(2, "round_robin", list, "", &tables);
    let proxy = TestProxy::start(&text(&[a1.addr(), a2.addr()]));
    all_ready(&proxy, &backends[..2]).await;

    // A backend refusing connections joins: not ready until a check passes, so no request is
    // ever sent to it (not even an attempt a retry would hide from the client).
    proxy.reload(&text(&[a1.addr(), a2.addr(), refusing.addr()]));
    assert_eq!(status(&proxy, refusing.addr()), NotReady, "new: not ready");
    let health = proxy.proxy().health();
    eventually(DETECT, || async {
        health
            .view("app", refusing.addr())
            .await
            .is_some_and(|v| v.last_probe.is_some())
    })
    .await;
    let seen = burst_ok(&proxy, 200).await;
    assert_eq!(count(&seen, "a1") + count(&seen, "a2"), 200);
    let refused = backend_state(&proxy, "app", refusing.addr()).expect("in the upstream");
    assert_eq!(
        refused.requests(),
        0,
        "no attempt was made on the refusing backend"
    );
    assert_eq!(status(&proxy, refusing.addr()), NotReady);

    // A real backend joins whose checks fail at first: nothing reaches it either (2 of 4
    // eligible is not below the 50 % panic threshold).
    new.set_status(503);
    let probes_before = probes(new);
    proxy.reload(&text(&[a1.addr(), a2.addr(), refusing.addr(), new.addr()]));
    eventually(DETECT, || async { probes(new) >= probes_before + 2 }).await;
    assert!(!in_panic(&proxy));
    let seen = burst_ok(&proxy, 200).await;
    assert_eq!(count(&seen, "a1") + count(&seen, "a2"), 200);
    assert_eq!(served(new), 0, "no client request before a passing check");

    // Its first passing check admits it (one pass for a new backend, not `rise`).
    new.set_status(200);
    until_status(&proxy, new.addr(), Ready, DETECT).await;
    let seen = burst_ok(&proxy, 300).await;
    assert!(
        count(&seen, "new") >= 50,
        "the admitted backend takes its share: {:?}",
        tally(seen.iter().map(String::as_str))
    );
    assert_eq!(refused.requests(), 0, "still never tried");
}

/// Upstream `app` over `addrs`, one worker, round robin, outlier settings `outlier` (inline
/// table body). No active checks: every hit is a client request.
fn passive(addrs: &[SocketAddr], outlier: &str) -> String {
    over(
        1,
        "round_robin",
        addrs,
        &format!("outlier = {{ {outlier} }}"),
        "",
    )
}

#[tokio::test]
async fn five_consecutive_5xx_eject_and_the_backend_returns_after_base_ejection_time() {
    let backends = named(&["good", "bad"]).await;
    let (good, bad) = (&backends[0], &backends[1]);
    bad.set_status(500);
    let proxy = TestProxy::start(&passive(
        &addrs(&backends),
        "consecutive_5xx = 5, base_ejection_time = \"300ms\", max_ejection_time = \"300ms\"",
    ));
    let client = TestClient::http1();
    let mut fifth_sent = None;
    for _ in 0..20 {
        if bad.hits() == 5 {
            break;
        }
        let sent = Instant::now();
        let response = get(&client, &proxy.url("/c")).await;
        match response.backend() {
            Some("bad") => {
                assert_eq!(response.status, 500);
                fifth_sent = Some(sent);
            }
            other => assert_eq!((response.status.as_u16(), other), (200, Some("good"))),
        }
    }
    // A fifth request reached `bad`: its fourth 5xx did not eject it.
    assert_eq!(bad.hits(), 5);
    let fifth_sent = fifth_sent.expect("bad answered");
    until_status(&proxy, bad.addr(), Down, Duration::from_secs(2)).await;
    let view = proxy.proxy().health().view("app", bad.addr()).await;
    assert_eq!(view.map(|v| v.ejections), Some(1));

    // Ejected: everything goes to `good`.
    for _ in 0..20 {
        let response = get(&client, &proxy.url("/c")).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.backend(), Some("good"));
    }
    assert_eq!(bad.hits(), 5);

    // Back after base_ejection_time.
    bad.set_status(200);
    until_status(&proxy, bad.addr(), Ready, Duration::from_secs(2)).await;
    let out_for = fifth_sent.elapsed();
    assert!(
        out_for >= Duration::from_millis(300),
        "ejected for 300 ms, back after {out_for:?}"
    );
    for _ in 0..10 {
        assert_eq!(get(&client, &proxy.url("/c")).await.status, 200);
    }
    assert_eq!(bad.hits(), 10, "back in the rotation: every other request");
    assert!(good.hits() >= 25);
}

#[tokio::test]
async fn max_ejection_percent_keeps_one_of_two_failing_backends_in_service() {
    let backends = named(&["x", "y"]).await;
    for b in &backends {
        b.set_status(500);
    }
    let proxy = TestProxy::start(&passive(
        &addrs(&backends),
        "consecutive_5xx = 5, base_ejection_time = \"10s\", max_ejection_percent = 50",
    ));
    let seen = sequential(&proxy, 12).await;
    assert!(seen.iter().all(|(s, _)| *s == 500), "{seen:?}");
    // Both reached 5 consecutive 5xx; 50 % of 2 is one backend.
    let ejected = || {
        backends
            .iter()
            .filter(|b| status(&proxy, b.addr()) == Down)
            .count()
    };
    eventually(Duration::from_secs(2), || async { ejected() == 1 }).await;
    let kept = backends
        .iter()
        .find(|b| status(&proxy, b.addr()) == Ready)
        .expect("one backend stays ready");

    // More failures do not eject the other one: it takes everything.
    let before = kept.hits();
    let seen = sequential(&proxy, 20).await;
    assert!(
        seen.iter().all(|(s, n)| *s == 500 && n == kept.name()),
        "{seen:?}"
    );
    assert_eq!(kept.hits(), before + 20);
    assert_eq!(ejected(), 1, "the cap still holds");
    assert_eq!(status(&proxy, kept.addr()), Ready);
    let view = proxy.proxy().health().view("app", kept.addr()).await;
    assert_eq!(view.map(|v| v.ejections), Some(0));
}

#[tokio::test]
async fn consecutive_5xx_zero_never_ejects() {
    let backends = named(&["good", "bad"]).await;
    let bad = &backends[1];
    bad.set_status(500);
    let proxy = TestProxy::start(&passive(&addrs(&backends), "consecutive_5xx = 0"));
    let seen = sequential(&proxy, 40).await;
    let bad_answers = seen.iter().filter(|(_, n)| n == "bad").count();
    assert_eq!(bad_answers, 20, "every other request, all along");
    assert_eq!(bad.hits(), 20);
    assert_eq!(status(&proxy, bad.addr()), Ready);
    let view = proxy.proxy().health().view("app", bad.addr()).await;
    assert_eq!(view.map(|v| v.ejections), Some(0));
}

#[tokio::test]
async fn a_reload_applies_new_outlier_thresholds_to_kept_backends() {
    let backends = named(&["good", "bad"]).await;
    let bad = &backends[1];
    bad.set_status(500);
    let proxy = TestProxy::start(&passive(&addrs(&backends), "consecutive_5xx = 0"));
    let seen = sequential(&proxy, 10).await;
    assert_eq!(seen.iter().filter(|(s, _)| *s == 500).count(), 5);
    assert_eq!(status(&proxy, bad.addr()), Ready, "ejection off");

    // Same backends, ejection now on after 3 consecutive 5xx.
    proxy.reload(&passive(
        &addrs(&backends),
        "consecutive_5xx = 3, base_ejection_time = \"10s\"",
    ));
    // Its run of 5xx already exceeds 3, so at most three more reach it before it is out.
    let client = TestClient::http1();
    for _ in 0..20 {
        if bad.hits() == 5 + 3 || status(&proxy, bad.addr()) == Down {
            break;
        }
        get(&client, &proxy.url("/c")).await;
    }
    until_status(&proxy, bad.addr(), Down, Duration::from_secs(2)).await;
    assert!(bad.hits() <= 8, "{} requests reached it", bad.hits());
}

#[tokio::test]
async fn panic_threshold_spreads_over_every_backend_when_too_few_are_healthy() {
    let backends = recording(&["a", "b", "c", "d"]).await;
    let proxy = TestProxy::start(&over(
        1,
        "round_robin",
        &addrs(&backends),
        NO_OUTLIER,
        HEALTH,
    ));
    all_ready(&proxy, &backends).await;
    assert!(!in_panic(&proxy));

    // One, then two of four failing: 50 % eligible is not below the 50 % threshold, so the
    // failing ones get nothing.
    for failing in 1..3 {
        backends[failing].set_status(503);
        until_status(&proxy, backends[failing].addr(), NotReady, DETECT).await;
        assert!(!in_panic(&proxy), "{failing} of 4 failing");
        let seen = sequential(&proxy, 40).await;
        let healthy: Vec<&str> = backends
            .iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || *i > failing)
            .map(|(_, b)| b.name())
            .collect();
        assert!(
            seen.iter()
                .all(|(s, n)| *s == 200 && healthy.contains(&n.as_str())),
            "only {healthy:?} may serve: {seen:?}"
        );
    }

    // Three of four failing: 25 % < 50 %, panic mode, requests spread over all four.
    backends[3].set_status(503);
    until_status(&proxy, backends[3].addr(), NotReady, DETECT).await;
    eventually(Duration::from_secs(1), || async { in_panic(&proxy) }).await;
    let seen = sequential(&proxy, 40).await;
    let counts = tally(seen.iter().map(|(_, n)| n.as_str()));
    for b in &backends {
        assert!(
            counts.get(b.name()).copied().unwrap_or(0) >= 5,
            "panic mode spreads over every backend: {counts:?}"
        );
    }
    for (status, name) in &seen {
        let expected = if name == "a" { 200 } else { 503 };
        assert_eq!(*status, expected, "answer of {name}");
    }

    // Panic ignores health, never the operator: a disabled backend stays out.
    let d = backends[3].addr();
    let now = proxy
        .proxy()
        .health()
        .operate("app", d, Operation::Disable)
        .await;
    assert_eq!(now, Some(Disabled));
    assert!(in_panic(&proxy));
    let served_d = served(&backends[3]);
    let seen = sequential(&proxy, 30).await;
    let counts = tally(seen.iter().map(|(_, n)| n.as_str()));
    assert_eq!(counts.get("d"), None, "{counts:?}");
    assert_eq!(counts.len(), 3, "a, b and c still share: {counts:?}");
    assert_eq!(served(&backends[3]), served_d);

    // Health returns: panic is over and the healthy backends get everything again.
    for b in &backends[1..3] {
        b.set_status(200);
    }
    for b in &backends[1..3] {
        until_status(&proxy, b.addr(), Ready, DETECT).await;
    }
    eventually(Duration::from_secs(1), || async { !in_panic(&proxy) }).await;
}

#[tokio::test]
async fn panic_threshold_zero_answers_503_without_trying_any_backend() {
    let backends = recording(&["a", "b"]).await;
    for b in &backends {
        b.set_status(503);
    }
    let proxy = TestProxy::start(&over(
        2,
        "round_robin",
        &addrs(&backends),
        &format!("panic_threshold = 0\n{NO_OUTLIER}"),
        HEALTH,
    ));
    // Both have been checked and failed (they were never admitted).
    let health = proxy.proxy().health();
    for b in &backends {
        eventually(DETECT, || async {
            health
                .view("app", b.addr())
                .await
                .is_some_and(|v| v.last_probe.is_some_and(|p| p.reason().is_some()))
        })
        .await;
        assert_eq!(status(&proxy, b.addr()), NotReady);
    }
    assert!(!in_panic(&proxy), "panic_threshold = 0 never panics");

    let client = TestClient::http1();
    for i in 0..10 {
        let response = get(&client, &proxy.url(&format!("/c{i}"))).await;
        assert_eq!(response.status, 503, "{}", response.text());
        assert_error_body(
            503,
            &response.text(),
            response.header("x-request-id"),
            "no backend of upstream app is available",
        );
    }
    for b in &backends {
        assert_eq!(served(b), 0, "{} got a client request", b.name());
        let state = backend_state(&proxy, "app", b.addr()).expect("backend");
        assert_eq!(state.requests(), 0, "no attempt on {}", b.name());
    }

    // One recovers: the next request is served.
    backends[0].set_status(200);
    until_status(&proxy, backends[0].addr(), Ready, DETECT).await;
    let response = get(&client, &proxy.url("/after")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.backend(), Some("a"));
}

#[tokio::test]
async fn the_first_requests_after_start_find_checked_backends() {
    let backends = recording(&["a", "b", "c"]).await;
    let text = over(2, "round_robin", &addrs(&backends), "", HEALTH);
    // Traffic waits (in the listen queue) for the first checks at start, so the very first
    // request finds ready backends rather than a 503. Several fresh starts, as the window
    // the wait closes is short.
    for start in 0..20 {
        let proxy = TestProxy::start(&text);
        let response = get(&TestClient::http1(), &proxy.url("/first")).await;
        assert_eq!(
            response.status,
            200,
            "start {start}: first request: {}",
            response.text()
        );
        proxy.stop().await;
    }
}

// ----- Slow start: where it does not do what the spec says -----

/// Puts the third of `backends` through a failure and back, then returns the share of
/// `n` sequential requests it gets while warming (it must still be warming after them).
async fn warming_share(proxy: &TestProxy, backends: &[TestBackend], n: usize) -> usize {
    all_ready(proxy, backends).await;
    let c = &backends[2];
    c.set_status(503);
    until_status(proxy, c.addr(), NotReady, DETECT).await;
    c.set_status(200);
    until_status(proxy, c.addr(), Warming, DETECT).await;
    let seen = sequential(proxy, n).await;
    assert_eq!(status(proxy, c.addr()), Warming, "still inside the window");
    seen.iter()
        .filter(|(s, name)| *s == 200 && name == c.name())
        .count()
}

#[tokio::test]
async fn slow_start_reduces_the_share_of_a_weight_one_backend() {
    let backends = recording(&["a", "b", "c"]).await;
    let proxy = TestProxy::start(&over(
        2,
        "weighted_round_robin",
        &addrs(&backends),
        &format!("slow_start = \"10s\"\n{NO_OUTLIER}"),
        HEALTH,
    ));
    // Factor 0.1 for the first second: about 0.1 / 2.1 ≈ 5 % of requests, far from a third.
    let n = 600;
    let share = warming_share(&proxy, &backends, n).await;
    let (steady_lo, _) = binomial_bounds(n, 1.0 / 3.0);
    assert!(
        share < steady_lo,
        "warming backend got {share}/{n}, no less than the steady third (≥ {steady_lo})"
    );
}

#[tokio::test]
async fn slow_start_reduces_the_share_under_round_robin() {
    let backends = recording(&["a", "b", "c"]).await;
    let proxy = TestProxy::start(&weighted_over(
        "round_robin",
        &addrs(&backends),
        10,
        &format!("slow_start = \"10s\"\n{NO_OUTLIER}"),
        HEALTH,
    ));
    let n = 600;
    let share = warming_share(&proxy, &backends, n).await;
    assert!(effective_weight(&proxy, backends[2].addr()) < 10);
    let (steady_lo, _) = binomial_bounds(n, 1.0 / 3.0);
    assert!(
        share < steady_lo,
        "warming backend got {share}/{n}, no less than the steady third (≥ {steady_lo})"
    );
}

#[tokio::test]
async fn slow_start_of_one_second_starts_at_ten_percent() {
    let backends = recording(&["a", "b", "c"]).await;
    let c = backends[2].addr();
    let proxy = TestProxy::start(&weighted_over(
        "weighted_round_robin",
        &addrs(&backends),
        10,
        &format!("slow_start = \"1s\"\n{NO_OUTLIER}"),
        HEALTH,
    ));
    all_ready(&proxy, &backends).await;
    backends[2].set_status(503);
    until_status(&proxy, c, NotReady, DETECT).await;
    backends[2].set_status(200);
    until_status(&proxy, c, Warming, DETECT).await;
    // 10 % of 10 at the start, 20 % at 200 ms: seen within a few polls of the transition.
    let weight = effective_weight(&proxy, c);
    assert!(
        weight <= 3,
        "effective weight right after recovery: {weight} of 10 (expected ~1: 10 % at start)"
    );
}
