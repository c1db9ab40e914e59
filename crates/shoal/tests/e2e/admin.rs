//! The admin API of a running `shoal run`: reading state, operator changes, reloads (API and
//! SIGHUP), and the rule that runtime changes survive a reload unless the file changed that
//! backend.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use shoal_test_support::{eventually, TestBackend, TestClient};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::{drain, logged_addr, read_until, shoal, signal, wait_exit, write_file};

const WAIT: Duration = Duration::from_secs(5);

fn config(backends: &[SocketAddr]) -> String {
    let list: Vec<String> = backends.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[server]\nworkers = 1\ngrace_period = \"2s\"\n\n\
         [listeners.web]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.web.routes]]\nupstream = \"app\"\n\n\
         [upstreams.app]\nbackends = [{}]\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n",
        list.join(", ")
    )
}

async fn call(client: &TestClient, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut builder = Request::builder().method(method).uri(url);
    let bytes = match body {
        Some(v) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(v.to_string())
        }
        None => Bytes::new(),
    };
    let response = client
        .send(builder.body(bytes).expect("request"))
        .await
        .expect("admin API answers");
    let value = response.json().unwrap_or(Value::Null);
    (response.status.as_u16(), value)
}

fn states(upstream: &Value) -> Vec<(String, String)> {
    upstream["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| {
            (
                b["addr"].as_str().expect("addr").to_string(),
                b["state"].as_str().expect("state").to_string(),
            )
        })
        .collect()
}

async fn backends_of(client: &TestClient, admin: SocketAddr) -> Vec<String> {
    let (status, up) = call(
        client,
        "GET",
        &format!("http://{admin}/api/v1/upstreams/app"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{up}");
    states(&up).into_iter().map(|(a, _)| a).collect()
}

#[tokio::test]
async fn admin_api_drives_a_running_shoal() {
    let a = TestBackend::http().name("a").await;
    let b = TestBackend::http().name("b").await;
    let c = TestBackend::http().name("c").await;
    let path = write_file("admin_api", "shoal.toml", &config(&[a.addr(), b.addr()]));
    let crate::cli::RunningShoal {
        mut child,
        proxy,
        admin,
        logs,
    } = crate::cli::run_with_admin(&path).await;
    let client = TestClient::http1();
    let api = |path: &str| format!("http://{admin}/api/v1{path}");
    let (sa, sb, sc) = (
        a.addr().to_string(),
        b.addr().to_string(),
        c.addr().to_string(),
    );

    // Reading: both backends, ready (no active checks configured).
    let (status, ups) = call(&client, "GET", &api("/upstreams"), None).await;
    assert_eq!(status, 200, "{ups}");
    assert_eq!(ups[0]["name"], "app");
    assert_eq!(
        states(&ups[0]),
        vec![
            (sa.clone(), "ready".to_string()),
            (sb.clone(), "ready".to_string())
        ]
    );
    let (status, listeners) = call(&client, "GET", &api("/listeners"), None).await;
    assert_eq!(status, 200);
    assert_eq!(listeners[0]["bind"], proxy.to_string());
    assert_eq!(listeners[0]["protocol"], "http");

    // Drain a: no new request reaches it.
    let (status, view) = call(
        &client,
        "POST",
        &api(&format!("/upstreams/app/backends/{sa}/drain")),
        None,
    )
    .await;
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("draining")),
        "{view}"
    );
    let a_hits = a.hits();
    for i in 0..6 {
        let r = client
            .get(&format!("http://{proxy}/d{i}"))
            .await
            .expect("proxied");
        assert_eq!((r.status.as_u16(), r.backend()), (200, Some("b")));
    }
    assert_eq!(a.hits(), a_hits, "a drained backend gets no new request");

    // Enable it again: it serves again.
    let (status, view) = call(
        &client,
        "POST",
        &api(&format!("/upstreams/app/backends/{sa}/enable")),
        None,
    )
    .await;
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("ready")),
        "{view}"
    );
    for i in 0..4 {
        let r = client
            .get(&format!("http://{proxy}/e{i}"))
            .await
            .expect("proxied");
        assert_eq!(r.status, 200);
    }
    assert!(a.hits() > a_hits, "an enabled backend serves again");

    // Weight, then bad input.
    let (status, view) = call(
        &client,
        "PUT",
        &api(&format!("/upstreams/app/backends/{sb}/weight")),
        Some(json!({"weight": 3})),
    )
    .await;
    assert_eq!((status, view["weight"].as_u64()), (200, Some(3)), "{view}");
    let (status, _) = call(
        &client,
        "PUT",
        &api(&format!("/upstreams/app/backends/{sb}/weight")),
        Some(json!({"weight": 0})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &client,
        "POST",
        &api("/upstreams/nope/backends/127.0.0.1:1/drain"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Add c: it gets traffic.
    let (status, view) = call(
        &client,
        "POST",
        &api("/upstreams/app/backends"),
        Some(json!({"addr": sc})),
    )
    .await;
    assert_eq!(status, 201, "{view}");
    let (status, _) = call(
        &client,
        "POST",
        &api("/upstreams/app/backends"),
        Some(json!({"addr": sc})),
    )
    .await;
    assert_eq!(status, 409, "adding it twice conflicts");
    for i in 0..10 {
        let r = client
            .get(&format!("http://{proxy}/c{i}"))
            .await
            .expect("proxied");
        assert_eq!(r.status, 200);
    }
    assert!(c.hits() > 0, "an added backend serves");

    // Remove a: it drains, then leaves the upstream.
    let (status, view) = call(
        &client,
        "DELETE",
        &api(&format!("/upstreams/app/backends/{sa}")),
        None,
    )
    .await;
    assert_eq!(
        (status, view["state"].as_str()),
        (202, Some("draining")),
        "{view}"
    );
    eventually(WAIT, || async {
        !backends_of(&client, admin).await.contains(&sa)
    })
    .await;

    // Reload through the API: the file now lists only b; c (a runtime addition the file
    // never mentioned) survives, a stays removed.
    std::fs::write(&path, config(&[b.addr()])).expect("rewrite");
    let (status, summary) = call(&client, "POST", &api("/reload"), None).await;
    assert_eq!(status, 200, "{summary}");
    let mut now = backends_of(&client, admin).await;
    now.sort();
    let mut expected = vec![sb.clone(), sc.clone()];
    expected.sort();
    assert_eq!(now, expected);

    // A bad file is refused with every problem, and the old config keeps serving.
    std::fs::write(&path, "[upstreams.app]\nbackends = [\"nope\"]\n").expect("rewrite");
    let (status, body) = call(&client, "POST", &api("/reload"), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["details"].as_array().is_some_and(|d| d.len() >= 2),
        "{body}"
    );
    let r = client
        .get(&format!("http://{proxy}/after-bad"))
        .await
        .expect("proxied");
    assert_eq!(r.status, 200);

    // The file adds a again (the file changed a, so the file wins over its removal); SIGHUP
    // or the file watch, whichever comes first, applies it.
    std::fs::write(&path, config(&[a.addr(), b.addr()])).expect("rewrite");
    signal(&child, Signal::SIGHUP);
    eventually(WAIT, || async {
        backends_of(&client, admin).await.contains(&sa)
    })
    .await;

    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    let lines = logs.await.expect("logs");
    assert_eq!(status.code(), Some(0), "{lines:#?}");
}

#[tokio::test]
async fn an_edited_config_file_is_reloaded_without_a_signal() {
    let a = TestBackend::http().name("a").await;
    let b = TestBackend::http().name("b").await;
    let path = write_file("admin_watch", "shoal.toml", &config(&[a.addr()]));
    let mut child = shoal(&["run", "-c", path.to_str().expect("utf-8")])
        .spawn()
        .expect("spawn shoal run");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let admin = read_until(&mut stderr, &mut seen, |l| {
        logged_addr(l, "admin API listening")
    })
    .await;
    let client = TestClient::http1();
    // Written the way deploy tools do: a new file renamed over the old one.
    let staged = path.with_extension("new");
    std::fs::write(&staged, config(&[a.addr(), b.addr()])).expect("stage");
    std::fs::rename(&staged, &path).expect("rename");
    let sb = b.addr().to_string();
    eventually(WAIT, || async {
        backends_of(&client, admin).await.contains(&sb)
    })
    .await;
    read_until(&mut stderr, &mut seen, |l| {
        (l.contains("reloaded") && l.contains("file changed")).then_some(())
    })
    .await;
    // SIGHUP re-reads the file too, changed or not.
    signal(&child, Signal::SIGHUP);
    read_until(&mut stderr, &mut seen, |l| {
        (l.contains("reloaded") && l.contains("SIGHUP")).then_some(())
    })
    .await;
    let logs = drain(stderr);
    signal(&child, Signal::SIGTERM);
    let status = wait_exit(&mut child).await;
    let lines = logs.await.expect("logs");
    assert_eq!(status.code(), Some(0), "{lines:#?}");
}
