//! The access log (one JSON or combined line per request, sampling, reopening for rotation)
//! and W3C trace context propagation.

use std::time::Duration;

use shoal_test_support::{eventually, TempDir, TestBackend, TestClient, TestProxy};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(5);

fn logged_config(backend: &TestBackend, log: &std::path::Path, extra: &str) -> String {
    format!(
        "{}\n[access_log]\npath = \"{}\"\n{extra}\n",
        single(1, "round_robin", &[backend], ""),
        log.display()
    )
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn every_request_gets_one_json_line_with_what_happened() {
    let dir = TempDir::new("access-log");
    let log = dir.path().join("access.log");
    let backend = TestBackend::http().name("a").body("hello!").await;
    let proxy = TestProxy::start(&logged_config(&backend, &log, ""));
    let client = TestClient::http1();
    let ok = get_h(
        &client,
        &proxy.url("/shop?q=1"),
        &[
            ("user-agent", "probe/1.0"),
            ("x-request-id", "req-42"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
    )
    .await;
    assert_eq!(ok.status, 200);
    eventually(WAIT, || {
        let n = lines(&log).len();
        async move { n >= 1 }
    })
    .await;
    let all = lines(&log);
    let line = &all[0];
    assert_eq!(line["request_id"], "req-42");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["target"], "/shop?q=1");
    assert_eq!(line["protocol"], "HTTP/1.1");
    assert_eq!(line["listener"], "web");
    assert_eq!(line["route"], "web.routes[0]");
    assert_eq!(line["upstream"], "app");
    assert_eq!(line["backend"], backend.addr().to_string());
    assert_eq!(line["status"], 200);
    assert_eq!(line["attempts"], 1);
    assert_eq!(line["bytes_sent"], ok.body.len() as u64);
    assert_eq!(line["user_agent"], "probe/1.0");
    assert!(line["client"]
        .as_str()
        .is_some_and(|c| c.starts_with("127.0.0.1:")));
    assert!(line["duration_ms"].as_f64().is_some_and(|d| d >= 0.0));
    assert!(line["upstream_ms"].as_f64().is_some());
    assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z')));
}

#[tokio::test]
async fn shoal_s_own_answers_are_logged_and_sampling_keeps_every_5xx() {
    let dir = TempDir::new("access-log-sample");
    let log = dir.path().join("access.log");
    let backend = TestBackend::http().name("a").await;
    // sample = 0: only server errors are written.
    let text = format!(
        "{}\n[access_log]\npath = \"{}\"\nsample = 0.0\n\n[upstreams.dead]\nbackends = [\"{}\"]\n\
         [[listeners.web.routes]]\nmatch = {{ path_prefix = \"/dead\" }}\nupstream = \"dead\"\n",
        single(1, "round_robin", &[&backend], ""),
        log.display(),
        TestBackend::refused_addr()
    );
    let proxy = TestProxy::start(&text);
    let client = TestClient::http1();
    for _ in 0..5 {
        assert_eq!(get(&client, &proxy.url("/fine")).await.status, 200);
    }
    let failed = get(&client, &proxy.url("/dead/x")).await;
    assert_eq!(failed.status, 502, "{}", failed.text());
    eventually(WAIT, || {
        let n = lines(&log).len();
        async move { n == 1 }
    })
    .await;
    let all = lines(&log);
    assert_eq!(all[0]["status"], 502);
    assert_eq!(all[0]["upstream"], "dead");
    assert_eq!(all[0]["attempts"], 1, "one backend, tried once");
    assert!(all[0]["upstream_ms"].is_null(), "no backend answered");
    assert_eq!(all[0]["bytes_sent"], failed.body.len() as u64);
}

#[tokio::test]
async fn reopening_after_a_rename_starts_a_new_file() {
    let dir = TempDir::new("access-log-rotate");
    let log = dir.path().join("access.log");
    let backend = TestBackend::http().name("a").await;
    let proxy = TestProxy::start(&logged_config(&backend, &log, "format = \"combined\""));
    let client = TestClient::http1();
    get(&client, &proxy.url("/before")).await;
    eventually(WAIT, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move { text.contains("/before") }
    })
    .await;
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    // What SIGUSR1 does in `shoal run`.
    proxy.proxy().reopen_access_log();
    get(&client, &proxy.url("/after")).await;
    eventually(WAIT, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move { text.contains("/after") }
    })
    .await;
    let old = std::fs::read_to_string(&rotated).expect("rotated file");
    let new = std::fs::read_to_string(&log).expect("new file");
    assert!(
        old.contains("\"GET /before HTTP/1.1\" 200") && !old.contains("/after"),
        "{old}"
    );
    assert!(
        new.contains("\"GET /after HTTP/1.1\" 200") && !new.contains("/before"),
        "{new}"
    );
    assert!(new.starts_with("127.0.0.1 - - ["), "{new}");
}

#[tokio::test]
async fn traceparent_is_continued_or_started() {
    let backend = TestBackend::http().name("a").record(16).await;
    let proxy = TestProxy::start(&single(1, "round_robin", &[&backend], ""));
    let client = TestClient::http1();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    get_h(
        &client,
        &proxy.url("/a"),
        &[("traceparent", parent), ("tracestate", "vendor=1")],
    )
    .await;
    let seen = backend.last_request().expect("request");
    let sent = seen.header("traceparent").expect("traceparent");
    assert!(
        sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{sent}"
    );
    assert!(sent.ends_with("-01"));
    assert_ne!(sent, parent, "shoal is a hop: a new parent id");
    assert_eq!(seen.header("tracestate"), Some("vendor=1"));

    // None, or an invalid one: a new trace (and the orphan tracestate dropped).
    for incoming in [None, Some("00-zzzz-00f067aa0ba902b7-01")] {
        let mut headers = vec![("tracestate", "vendor=1")];
        if let Some(value) = incoming {
            headers.push(("traceparent", value));
        }
        get_h(&client, &proxy.url("/b"), &headers).await;
        let seen = backend.last_request().expect("request");
        let sent = seen.header("traceparent").expect("a trace is started");
        assert_eq!(sent.len(), 55, "{sent}");
        assert!(sent.starts_with("00-") && sent.ends_with("-01"), "{sent}");
        assert!(!sent.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(seen.header("tracestate"), None);
    }
}

#[tokio::test]
async fn a_filter_s_answer_is_the_line_s_verdict() {
    let dir = TempDir::new("access-log-verdict");
    let log = dir.path().join("access.log");
    let backend = TestBackend::http().name("a").await;
    let text = format!(
        "{}\n[access_log]\npath = \"{}\"\n\n[filters.maintenance]\nkind = \"respond\"\n\
         status = 503\nbody = \"back soon\"\n\n[[listeners.web.routes]]\n\
         match = {{ path_prefix = \"/closed\" }}\nupstream = \"app\"\nfilters = [\"maintenance\"]\n",
        single(1, "round_robin", &[&backend], ""),
        log.display()
    );
    let proxy = TestProxy::start(&text);
    let answer = get(&TestClient::http1(), &proxy.url("/closed/x")).await;
    assert_eq!(answer.status, 503);
    eventually(WAIT, || {
        let n = lines(&log).len();
        async move { n == 1 }
    })
    .await;
    let line = &lines(&log)[0];
    assert_eq!(line["filter_verdict"], "reply 503");
    assert_eq!(line["backend"], "", "no backend was asked");
    assert_eq!(backend.hits(), 0);
}
