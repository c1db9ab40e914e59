//! `shoal load` as a user runs it, against a real test backend.

use std::time::Duration;

use serde_json::Value;
use shoal_test_support::TestBackend;

use crate::cli::shoal;
use crate::support::Refusing;

async fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::time::timeout(Duration::from_secs(20), shoal(args).output())
        .await
        .unwrap_or_else(|_| panic!("shoal {args:?} did not finish"))
        .expect("spawn shoal");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn open_loop_sends_the_asked_rate_and_reports_json() {
    let backend = TestBackend::http().name("b").await;
    let url = format!("http://{}/load", backend.addr());
    let (code, stdout, stderr) =
        run(&["load", &url, "--rate", "200", "--duration", "1s", "--json"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["requests"], 200, "{v:#}");
    assert_eq!(v["ok"], 200);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["statuses"]["200"], 200);
    assert_eq!(
        backend.hits(),
        200,
        "every request reached the backend once"
    );
    let rate = v["rate"].as_f64().expect("rate");
    assert!(
        (180.0..=200.5).contains(&rate),
        "rate {rate} within 10% of 200/s"
    );
    assert_eq!(v["run"]["mode"], "rate");
    assert_eq!(v["run"]["url"], url);
    for key in ["min", "mean", "p50", "p90", "p99", "p99_9", "max"] {
        assert!(
            v["latency_ms"][key].as_f64().is_some(),
            "latency_ms.{key}: {v:#}"
        );
    }
    let histogram = v["histogram"].as_array().expect("histogram");
    let counted: u64 = histogram.iter().filter_map(|b| b["count"].as_u64()).sum();
    assert_eq!(counted, 200, "the histogram holds every request");
    assert!(histogram
        .iter()
        .all(|b| b["percentile"].is_f64() && b["latency_ms"].is_f64()));
    assert!(stderr.is_empty(), "no progress line with --json: {stderr}");
}

#[tokio::test]
async fn closed_loop_prints_progress_and_a_summary() {
    let backend = TestBackend::http().name("b").await;
    let url = format!("http://{}/", backend.addr());
    let (code, stdout, stderr) =
        run(&["load", &url, "--concurrency", "2", "--duration", "1500ms"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("2 connection(s) closed loop"), "{stderr}");
    assert!(
        stderr.contains("errors") && stderr.contains("p99"),
        "progress: {stderr}"
    );
    assert!(stdout.contains("requests"), "{stdout}");
    assert!(stdout.contains("statuses   200: "), "{stdout}");
    assert!(stdout.contains("HDR histogram"), "{stdout}");
    assert!(backend.hits() > 10, "{}", backend.hits());
}

#[tokio::test]
async fn errors_are_counted_and_bad_usage_exits_2() {
    let backend = TestBackend::http().name("b").status(503).await;
    let url = format!("http://{}/", backend.addr());
    let (code, stdout, _) = run(&[
        "load",
        &url,
        "--rate",
        "50",
        "--duration",
        "200ms",
        "--json",
    ])
    .await;
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["errors"], v["requests"], "a 503 is an error: {v:#}");
    assert_eq!(v["statuses"]["503"], v["requests"]);

    let refusing = Refusing::new();
    let url = format!("http://{}/", refusing.addr());
    let (code, stdout, _) = run(&[
        "load",
        &url,
        "--rate",
        "20",
        "--duration",
        "200ms",
        "--json",
    ])
    .await;
    assert_eq!(code, Some(1), "nothing answered: {stdout}");
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["failures"]["connect"], v["requests"]);

    for args in [
        vec!["load", "https://127.0.0.1:1/"],
        vec!["load", "not a url"],
        vec!["load", "http://127.0.0.1:1/", "--rate", "0"],
        vec![
            "load",
            "http://127.0.0.1:1/",
            "--rate",
            "5",
            "--concurrency",
            "2",
        ],
    ] {
        let (code, _, stderr) = run(&args).await;
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
    }
}
