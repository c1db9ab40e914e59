//! `GET /metrics` of a real `shoal run`: known traffic goes through the proxy (successes,
//! backend 503s until an ejection, filter refusals, rate limiting, connect failures and the
//! retries they cause), then the scrape must be valid exposition text (every family with
//! HELP and TYPE first, no series twice, histograms cumulative) and its counters must match
//! what was sent, exactly.

use std::net::SocketAddr;
use std::time::Duration;

use nix::sys::signal::Signal;
use shoal::metrics::parse::{parse, Exposition};
use shoal_test_support::{eventually, TestBackend, TestClient};

use crate::cli::{signal, wait_exit, write_file};

const TOKEN: &str = "metrics-scrape-token";
const WAIT: Duration = Duration::from_secs(10);

fn config(app: SocketAddr, bad: SocketAddr, refused: SocketAddr, test: &str) -> String {
    let keys = write_file(
        test,
        "keys.txt",
        &format!("ops {}\n", shoal_gateway::sha256_hex(b"k-ops")),
    );
    let token = write_file(test, "admin.token", &format!("{TOKEN}\n"));
    format!(
        "[server]\nworkers = 2\ngrace_period = \"1s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nmatch = {{ path_prefix = \"/fail\" }}\nupstream = \"bad\"\n\n\
         [[listeners.web.routes]]\nmatch = {{ path_prefix = \"/key\" }}\nupstream = \"app\"\n\
         filters = [\"keys\"]\n\n\
         [[listeners.web.routes]]\nmatch = {{ path_prefix = \"/mixed\" }}\nupstream = \"mixed\"\n\n\
         [[listeners.web.routes]]\nmatch = {{ path_prefix = \"/limited\" }}\nupstream = \"app\"\n\
         filters = [\"slow\"]\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         [filters.keys]\nkind = \"api_key\"\nkeys = \"{}\"\n\n\
         [filters.slow]\nkind = \"rate_limit\"\nkey = \"client_ip\"\nrate = \"1/h\"\nburst = 1\n\n\
         [upstreams.app]\nbackends = [\"{app}\"]\n\n\
         [upstreams.bad]\nbackends = [\"{bad}\"]\n\
         [upstreams.bad.outlier]\nconsecutive_5xx = 3\n\n\
         [upstreams.mixed]\nbackends = [\"{refused}\", \"{app}\"]\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
        keys.display(),
        token.display(),
    )
}

async fn scrape(client: &TestClient, admin: SocketAddr) -> (Exposition, String) {
    let bearer = format!("Bearer {TOKEN}");
    let response = client
        .get_with_headers(
            &format!("http://{admin}/metrics"),
            &[("authorization", &bearer)],
        )
        .await
        .expect("the admin API answers");
    let text = response.text();
    assert_eq!(response.status, 200, "{text}");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let parsed = parse(&text).unwrap_or_else(|e| panic!("not valid exposition: {e}\n{text}"));
    (parsed, text)
}

/// The value of one series, which must exist.
fn value(e: &Exposition, text: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    let v = e
        .value(name, labels)
        .unwrap_or_else(|| panic!("no series {name} {labels:?} in\n{text}"));
    assert!(v >= 0.0 && v.fract() == 0.0, "{name} {labels:?} = {v}");
    v as u64
}

async fn status_of(client: &TestClient, url: &str, headers: &[(&str, &str)]) -> u16 {
    client
        .get_with_headers(url, headers)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e:#}"))
        .status
        .as_u16()
}

#[tokio::test]
async fn metrics_count_the_traffic_that_was_sent() {
    let app = TestBackend::http().name("app").await;
    let bad = TestBackend::http().name("bad").status(503).await;
    let refused = TestBackend::refused_addr();
    let path = write_file(
        "metrics",
        "shoal.toml",
        &config(app.addr(), bad.addr(), refused, "metrics"),
    );
    let crate::cli::RunningShoal {
        mut child,
        proxy,
        admin,
        logs,
    } = crate::cli::run_with_admin(&path).await;
    let scraper = TestClient::http1();

    // Before any traffic: every family is there, the counters at 0.
    let (before, text) = scrape(&scraper, admin).await;
    assert_eq!(
        value(
            &before,
            &text,
            "shoal_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1
    );
    for family in [
        "shoal_route_requests_total",
        "shoal_backend_response_duration_seconds",
        "shoal_autoscale_decisions_total",
        "shoal_tls_handshakes_total",
    ] {
        assert!(before.family(family).is_some(), "{family} declared");
    }
    let catch_all = [("listener", "web"), ("route", "web.routes[4]")];
    assert_eq!(
        value(
            &before,
            &text,
            "shoal_route_requests_total",
            &[catch_all[0], catch_all[1], ("class", "2xx")]
        ),
        0
    );

    // The traffic, each request on a connection of its own.
    let client = TestClient::http1().keep_alive(false);
    let url = |p: &str| format!("http://{proxy}{p}");
    for _ in 0..7 {
        assert_eq!(status_of(&client, &url("/"), &[]).await, 200);
    }
    for _ in 0..3 {
        assert_eq!(status_of(&client, &url("/fail"), &[]).await, 503);
    }
    for _ in 0..2 {
        assert_eq!(status_of(&client, &url("/key"), &[]).await, 401);
    }
    let key = [("x-api-key", "k-ops")];
    assert_eq!(status_of(&client, &url("/key"), &key).await, 200);
    for _ in 0..2 {
        // Round robin over [refused, app]: at least one of the two starts on the refused
        // backend and is retried on the other.
        assert_eq!(status_of(&client, &url("/mixed"), &[]).await, 200);
    }
    let limited: Vec<u16> = [
        status_of(&client, &url("/limited"), &[]).await,
        status_of(&client, &url("/limited"), &[]).await,
        status_of(&client, &url("/limited"), &[]).await,
    ]
    .to_vec();
    assert_eq!(limited, vec![200, 429, 429]);
    // One idle client connection held open.
    let held = tokio::net::TcpStream::connect(proxy)
        .await
        .expect("connect");

    // What settles after the responses: in-flight counts drop as bodies finish, the third
    // 503 ejects `bad` (consecutive_5xx = 3), closed connections are noticed.
    let app_addr = app.addr().to_string();
    let app_labels = [("upstream", "app"), ("backend", app_addr.as_str())];
    let bad_addr = bad.addr().to_string();
    let bad_labels = [("upstream", "bad"), ("backend", bad_addr.as_str())];
    eventually(WAIT, || async {
        let (e, _) = scrape(&scraper, admin).await;
        let in_flight: f64 = e.samples("shoal_backend_in_flight").map(|s| s.value).sum();
        in_flight == 0.0
            && e.value(
                "shoal_backend_state",
                &[bad_labels[0], bad_labels[1], ("state", "down")],
            ) == Some(1.0)
            && e.value("shoal_listener_open_connections", &[("listener", "web")]) == Some(1.0)
    })
    .await;
    let (e, text) = scrape(&scraper, admin).await;
    let v = |name: &str, labels: &[(&str, &str)]| value(&e, &text, name, labels);

    // Routes: each response by class, and one duration per response.
    let route = |i: usize| format!("web.routes[{i}]");
    let expected: [(usize, [u64; 5]); 5] = [
        (0, [0, 0, 0, 0, 3]),
        (1, [0, 1, 0, 2, 0]),
        (2, [0, 2, 0, 0, 0]),
        (3, [0, 1, 0, 2, 0]),
        (4, [0, 7, 0, 0, 0]),
    ];
    let mut total = 0;
    for (i, classes) in expected {
        let name = route(i);
        let labels = [("listener", "web"), ("route", name.as_str())];
        for (class, want) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().zip(classes) {
            assert_eq!(
                v(
                    "shoal_route_requests_total",
                    &[labels[0], labels[1], ("class", class)]
                ),
                want,
                "{name} {class}"
            );
        }
        let sum: u64 = classes.iter().sum();
        assert_eq!(
            v("shoal_route_request_duration_seconds_count", &labels),
            sum,
            "{name}: one duration per response"
        );
        total += sum;
    }
    assert_eq!(total, 18, "every request sent is counted once");
    // The listener: the same responses, by class; bytes both ways.
    for (class, want) in [("2xx", 11), ("4xx", 4), ("5xx", 3), ("1xx", 0), ("3xx", 0)] {
        assert_eq!(
            v(
                "shoal_listener_requests_total",
                &[("listener", "web"), ("class", class)]
            ),
            want,
            "listener {class}"
        );
    }
    assert!(
        v(
            "shoal_listener_received_bytes_total",
            &[("listener", "web")]
        ) > 18 * 16
    );
    assert!(v("shoal_listener_sent_bytes_total", &[("listener", "web")]) > 18 * 17);

    // Backend `app` of upstream `app`: 7 + 1 (with the key) + 1 (within the rate limit).
    assert_eq!(
        v(
            "shoal_backend_responses_total",
            &[app_labels[0], app_labels[1], ("class", "2xx")]
        ),
        9
    );
    assert_eq!(v("shoal_backend_requests_total", &app_labels), 9);
    assert_eq!(
        v("shoal_backend_response_duration_seconds_count", &app_labels),
        9
    );
    for name in [
        "shoal_backend_failures_total",
        "shoal_backend_connect_failures_total",
        "shoal_backend_retries_total",
        "shoal_backend_ejections_total",
        "shoal_backend_in_flight",
    ] {
        assert_eq!(v(name, &app_labels), 0, "{name}");
    }
    assert_eq!(v("shoal_backend_weight", &app_labels), 1);
    assert_eq!(v("shoal_backend_effective_weight", &app_labels), 1);
    for state in [
        "warming",
        "ready",
        "not_ready",
        "down",
        "draining",
        "disabled",
    ] {
        let want = u64::from(state == "ready");
        assert_eq!(
            v(
                "shoal_backend_state",
                &[app_labels[0], app_labels[1], ("state", state)]
            ),
            want,
            "app {state}"
        );
    }

    // Backend `bad`: three 503s, then ejected; alone in its upstream, which panics.
    assert_eq!(
        v(
            "shoal_backend_responses_total",
            &[bad_labels[0], bad_labels[1], ("class", "5xx")]
        ),
        3
    );
    assert_eq!(v("shoal_backend_requests_total", &bad_labels), 3);
    assert_eq!(
        v("shoal_backend_failures_total", &bad_labels),
        0,
        "a 503 is a response"
    );
    assert_eq!(v("shoal_backend_ejections_total", &bad_labels), 1);
    assert_eq!(v("shoal_backend_effective_weight", &bad_labels), 0);
    assert_eq!(
        v(
            "shoal_backend_state",
            &[bad_labels[0], bad_labels[1], ("state", "ready")]
        ),
        0
    );
    assert_eq!(
        v("shoal_upstream_eligible_backends", &[("upstream", "bad")]),
        0
    );
    assert_eq!(v("shoal_upstream_panic", &[("upstream", "bad")]), 1);
    assert_eq!(v("shoal_upstream_panic", &[("upstream", "app")]), 0);

    // Upstream `mixed`: every attempt on the refused address failed to connect and was
    // retried on the other backend, which answered both requests.
    let refused_addr = refused.to_string();
    let gone = [("upstream", "mixed"), ("backend", refused_addr.as_str())];
    let mixed_app = [app_labels[1], ("upstream", "mixed")];
    let failed = v("shoal_backend_connect_failures_total", &gone);
    assert!((1..=2).contains(&failed), "connect failures: {failed}");
    assert_eq!(v("shoal_backend_requests_total", &gone), failed);
    assert_eq!(v("shoal_backend_failures_total", &gone), failed);
    assert_eq!(v("shoal_backend_retries_total", &mixed_app), failed);
    assert_eq!(
        v("shoal_backend_connect_duration_seconds_count", &gone),
        0,
        "failed connects have no duration"
    );
    assert_eq!(
        v(
            "shoal_backend_responses_total",
            &[mixed_app[0], mixed_app[1], ("class", "2xx")]
        ),
        2
    );
    assert_eq!(v("shoal_upstream_backends", &[("upstream", "mixed")]), 2);
    // Every connection the app backend accepted was timed by one of its two upstreams.
    let connects = v("shoal_backend_connect_duration_seconds_count", &app_labels)
        + v("shoal_backend_connect_duration_seconds_count", &mixed_app);
    assert_eq!(connects, app.connections());

    // Filters.
    let keys = [("filter", "keys"), ("kind", "api_key")];
    assert_eq!(
        v(
            "shoal_filter_denied_total",
            &[keys[0], keys[1], ("status", "401")]
        ),
        2
    );
    assert_eq!(v("shoal_filter_answered_total", &keys), 0);
    let slow = [("filter", "slow"), ("kind", "rate_limit")];
    assert_eq!(
        v(
            "shoal_filter_denied_total",
            &[slow[0], slow[1], ("status", "429")]
        ),
        2
    );
    assert_eq!(v("shoal_filter_rate_limit_keys", &[("filter", "slow")]), 1);
    assert_eq!(
        v(
            "shoal_filter_rate_limit_evictions_total",
            &[("filter", "slow")]
        ),
        0
    );

    // No https listener, no autoscaler: their families are declared, without series.
    assert_eq!(e.samples("shoal_tls_handshakes_total").count(), 0);
    assert_eq!(e.samples("shoal_autoscale_current_backends").count(), 0);

    // A reload that keeps the routes and filters keeps their counts.
    let bearer = format!("Bearer {TOKEN}");
    let reload = scraper
        .send(
            http::Request::post(format!("http://{admin}/api/v1/reload"))
                .header("authorization", &bearer)
                .body(bytes::Bytes::new())
                .expect("request"),
        )
        .await
        .expect("reload answers");
    assert_eq!(reload.status, 200, "{}", reload.text());
    let (after, text) = scrape(&scraper, admin).await;
    assert_eq!(
        value(
            &after,
            &text,
            "shoal_route_requests_total",
            &[catch_all[0], catch_all[1], ("class", "2xx")]
        ),
        7
    );
    assert_eq!(
        value(
            &after,
            &text,
            "shoal_filter_denied_total",
            &[keys[0], keys[1], ("status", "401")]
        ),
        2
    );

    // Without the token: 401, like the API.
    let refused_scrape = scraper
        .get(&format!("http://{admin}/metrics"))
        .await
        .expect("answers");
    assert_eq!(refused_scrape.status, 401);

    drop(held);
    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    let logs = logs.await.unwrap_or_default();
    assert!(status.success(), "shoal exited with {status}: {logs:#?}");
}
