//! The dashboard in a real headless Chromium (WebDriver, chromium-driver): it loads with no
//! console error, shows the backends of a running shoal, a drain click changes the backend's
//! state (on the page and in the API), a token is asked for and sent as a header, and a
//! screenshot is kept in `target/test-artifacts/`.
//!
//! Chromium missing is a failure that says to run scripts/test.sh, never a skip.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};
use shoal_test_support::{eventually, TestClient, WebDriver};

use crate::admin_shoal::AdminShoal;

/// Bound on the page reaching a state: Chromium shares two cores with the build here.
const PAGE_WAIT: Duration = Duration::from_secs(20);

async fn browser() -> WebDriver {
    WebDriver::start(1400, 1300)
        .await
        .unwrap_or_else(|e| panic!("cannot start headless Chromium: {e:#}"))
}

/// `target/test-artifacts/<name>`.
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .join("test-artifacts")
        .join(name)
}

/// `[upstream, backend, state]` of every backend row on the page.
async fn rows(driver: &WebDriver) -> Vec<(String, String, String)> {
    let value = driver
        .execute(
            "return [...document.querySelectorAll('tr[data-backend]')]\
             .map(r => [r.dataset.upstream, r.dataset.backend, r.dataset.state || '']);",
            vec![],
        )
        .await
        .expect("read rows");
    serde_json::from_value(value).expect("rows are string triples")
}

/// Errors the page itself recorded (window.onerror, unhandled rejections, console.error).
async fn page_errors(driver: &WebDriver) -> Vec<String> {
    let value = driver
        .execute(
            "return window.__shoal ? window.__shoal.errors : ['page script not running'];",
            vec![],
        )
        .await
        .expect("read page errors");
    serde_json::from_value(value).expect("a list of strings")
}

/// The browser console's error entries (chromedriver's log), except those `allowed` says
/// are expected.
async fn console_errors(driver: &WebDriver, allowed: impl Fn(&str) -> bool) -> Vec<Value> {
    driver
        .browser_log()
        .await
        .expect("read the browser log")
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .filter(|entry| !allowed(entry["message"].as_str().unwrap_or_default()))
        .collect()
}

async fn api_state(admin: &str, backend: &str) -> String {
    let response = TestClient::http1()
        .get(&format!("{admin}/api/v1/upstreams/app"))
        .await
        .expect("admin API answers");
    let json: Value = response.json().expect("json");
    json["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .find(|b| b["addr"] == backend)
        .map(|b| b["state"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn dashboard_shows_backends_and_drains_one_in_a_real_browser() {
    let shoal = AdminShoal::start("dashboard", None).await;
    let (stop_traffic, traffic) = shoal.traffic(3000);
    let driver = browser().await;
    let admin = shoal.admin_url();
    driver
        .goto(&format!("{admin}/"))
        .await
        .expect("open the dashboard");
    let (a, b) = (shoal.a.addr().to_string(), shoal.b.addr().to_string());

    // Both backends show, ready.
    eventually(PAGE_WAIT, || async {
        let mut rows = rows(&driver).await;
        rows.sort();
        let mut want = vec![
            ("app".to_string(), a.clone(), "ready".to_string()),
            ("app".to_string(), b.clone(), "ready".to_string()),
        ];
        want.sort();
        rows == want
    })
    .await;
    // Listeners and routes show too.
    let listener = driver
        .find("[data-listener=\"web\"]")
        .await
        .expect("listener web shown");
    let text = driver.text(&listener).await.expect("text");
    assert!(text.contains(&shoal.proxy.to_string()), "{text}");

    // Drain a by clicking its button.
    let button = driver
        .find(&format!(
            "tr[data-backend=\"{a}\"] button[data-action=\"drain\"]"
        ))
        .await
        .expect("a drain button for a");
    driver.click(&button).await.expect("click drain");
    eventually(PAGE_WAIT, || async {
        rows(&driver)
            .await
            .iter()
            .any(|(_, addr, state)| *addr == a && state == "draining")
    })
    .await;
    assert_eq!(api_state(&admin, &a).await, "draining", "the API agrees");
    let badge = driver
        .find(&format!("tr[data-backend=\"{a}\"] td.state .badge"))
        .await
        .expect("state badge");
    assert_eq!(driver.text(&badge).await.expect("text"), "draining");
    // Its enable button replaces the drain button.
    let enable = driver
        .find(&format!(
            "tr[data-backend=\"{a}\"] button[data-action=\"enable\"]"
        ))
        .await
        .expect("an enable button");
    assert_eq!(
        driver
            .execute("return arguments[0].hidden;", vec![enable.to_arg()])
            .await
            .ok(),
        Some(json!(false))
    );
    // The drain is in the recent events.
    eventually(PAGE_WAIT, || async {
        !driver
            .find_all("#events li[data-kind=\"drain\"]")
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    // Rates come from two polls or more: wait for a requests/s figure for b.
    eventually(PAGE_WAIT, || async {
        let value = driver
            .execute(
                &format!(
                    "const c = document.querySelector('tr[data-backend=\"{b}\"] td.rps'); \
                     return c ? c.textContent : '';"
                ),
                vec![],
            )
            .await
            .unwrap_or_default();
        value.as_str().is_some_and(|t| t != "–" && !t.is_empty())
    })
    .await;

    // A few more polls, so the charts have lines in the screenshot.
    eventually(PAGE_WAIT, || async {
        driver
            .execute("return window.__shoal.okPolls();", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .is_some_and(|polls| polls >= 6)
    })
    .await;
    let shot = artifact("dashboard.png");
    driver.save_screenshot(&shot).await.expect("screenshot");
    let png = std::fs::read(&shot).expect("read screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");

    assert_eq!(page_errors(&driver).await, Vec::<String>::new());
    assert_eq!(
        console_errors(&driver, |_| false).await,
        Vec::<Value>::new()
    );
    driver.quit().await;
    stop_traffic.store(true, Ordering::Relaxed);
    let sent = traffic.await.expect("traffic task");
    assert!(sent > 0);
    shoal.stop().await;
}

#[tokio::test]
async fn dashboard_asks_for_the_token_and_sends_it_as_a_header() {
    const TOKEN: &str = "dash-s3cret-token";
    let shoal = AdminShoal::start("dashboard_token", Some(TOKEN)).await;
    let driver = browser().await;
    let admin = shoal.admin_url();
    driver
        .goto(&format!("{admin}/"))
        .await
        .expect("open the dashboard");

    // The API answers 401, so the page asks.
    eventually(PAGE_WAIT, || async {
        driver
            .execute(
                "return !document.getElementById('token-panel').hidden;",
                vec![],
            )
            .await
            .ok()
            == Some(json!(true))
    })
    .await;
    let input = driver.find("#token-input").await.expect("token input");
    driver
        .send_keys(&input, TOKEN)
        .await
        .expect("type the token");
    let submit = driver
        .find("#token-form button[type=submit]")
        .await
        .expect("submit button");
    driver.click(&submit).await.expect("submit");
    eventually(PAGE_WAIT, || async { rows(&driver).await.len() == 2 }).await;

    // Kept for this tab only, and never in the URL.
    let stored = driver
        .execute(
            "return sessionStorage.getItem('shoal.admin-token');",
            vec![],
        )
        .await
        .expect("read sessionStorage");
    assert_eq!(stored, json!(TOKEN));
    let url = driver
        .execute("return location.href;", vec![])
        .await
        .expect("read the URL");
    assert_eq!(url, json!(format!("{admin}/")));

    assert_eq!(page_errors(&driver).await, Vec::<String>::new());
    // The first calls were refused with 401 before the token was typed: expected.
    assert_eq!(
        console_errors(&driver, |m| m.contains("401")).await,
        Vec::<Value>::new()
    );
    driver.quit().await;
    shoal.stop().await;
}
