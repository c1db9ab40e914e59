//! Sticky sessions: the first answer sets a signed cookie naming its backend; the cookie
//! keeps the client there while that backend may take traffic; a drained or removed backend,
//! or a cookie that does not verify, means balancing as usual and a new cookie.

use shoal_test_support::{TempDir, TestBackend, TestClient, TestProxy, TestResponse};
use shoal_upstream::Operation;

use crate::support::*;

fn sticky_config(backends: &[&TestBackend], sticky: &str) -> String {
    config(
        1,
        "",
        &format!(
            "{}{}",
            route("", "upstream = \"app\"", ""),
            upstream(
                "app",
                "round_robin",
                backends,
                &format!("sticky = {sticky}")
            )
        ),
    )
}

/// `NAME=VALUE` of the response's affinity cookie.
fn cookie_of(r: &TestResponse) -> Option<String> {
    let set = r.header("set-cookie")?;
    let pair = set.split(';').next()?.to_string();
    pair.starts_with("shoal_affinity=").then_some(pair)
}

async fn with_cookie(client: &TestClient, proxy: &TestProxy, cookie: &str) -> TestResponse {
    get_h(client, &proxy.url("/"), &[("cookie", cookie)]).await
}

#[tokio::test]
async fn the_cookie_pins_the_backend_and_survives_churn() {
    let backends = named(&["a", "b", "c"]).await;
    let proxy = TestProxy::start(&sticky_config(&refs(&backends), "{ ttl = \"10m\" }"));
    let client = TestClient::http1();

    let first = get(&client, &proxy.url("/")).await;
    let cookie = cookie_of(&first).expect("the first answer sets the cookie");
    let set = first.header("set-cookie").expect("set-cookie");
    assert!(
        set.contains("Max-Age=600") && set.contains("HttpOnly"),
        "{set}"
    );
    let pinned = first.backend().expect("x-backend").to_string();
    let addr = backends
        .iter()
        .find(|b| b.name() == pinned)
        .expect("pinned backend")
        .addr();
    assert!(
        !cookie.contains(&addr.to_string()),
        "the cookie is opaque: {cookie}"
    );
    for _ in 0..9 {
        let r = with_cookie(&client, &proxy, &cookie).await;
        assert_eq!(
            r.backend(),
            Some(pinned.as_str()),
            "round robin is overridden"
        );
        assert_eq!(
            r.header("set-cookie"),
            None,
            "a fresh cookie is not re-sent"
        );
    }

    // Tampered or foreign cookies are ignored: balanced as usual, and a new cookie issued.
    let value = cookie.trim_start_matches("shoal_affinity=");
    let mut bytes = value.as_bytes().to_vec();
    bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "shoal_affinity={}",
        String::from_utf8(bytes).expect("ascii")
    );
    for bad in [
        tampered.as_str(),
        "shoal_affinity=127.0.0.1:1",
        "shoal_affinity=",
    ] {
        let r = with_cookie(&client, &proxy, bad).await;
        assert_eq!(r.status, 200);
        assert!(cookie_of(&r).is_some(), "{bad}: a new cookie is issued");
    }

    // The pinned backend drains: its clients move, and get a cookie for where they went.
    let health = proxy.proxy().health();
    health.operate("app", addr, Operation::Drain).await;
    let moved = with_cookie(&client, &proxy, &cookie).await;
    assert_eq!(moved.status, 200);
    let now_on = moved.backend().expect("x-backend").to_string();
    assert_ne!(now_on, pinned, "a draining backend gets no new requests");
    let new_cookie = cookie_of(&moved).expect("re-issued");
    for _ in 0..5 {
        let r = with_cookie(&client, &proxy, &new_cookie).await;
        assert_eq!(r.backend(), Some(now_on.as_str()));
    }

    // That backend is removed by a reload: the cookie no longer names anything.
    let remaining: Vec<&TestBackend> = backends.iter().filter(|b| b.name() != now_on).collect();
    proxy.reload(&sticky_config(&remaining, "{ ttl = \"10m\" }"));
    let r = with_cookie(&client, &proxy, &new_cookie).await;
    assert_eq!(r.status, 200);
    assert_ne!(r.backend(), Some(now_on.as_str()));
    let third = cookie_of(&r).expect("re-issued after removal");
    let there = r.backend().expect("x-backend").to_string();
    assert_eq!(
        with_cookie(&client, &proxy, &third).await.backend(),
        Some(there.as_str())
    );
}

#[tokio::test]
async fn instances_sharing_a_secret_file_honour_each_others_cookies() {
    let dir = TempDir::new("gw-sticky");
    let secret = dir.write("sticky.key", "0123456789abcdef0123456789abcdef\n");
    let backends = named(&["a", "b", "c"]).await;
    let sticky = format!("{{ secret_file = {:?} }}", secret.display().to_string());
    let one = TestProxy::start(&sticky_config(&refs(&backends), &sticky));
    let two = TestProxy::start(&sticky_config(&refs(&backends), &sticky));
    let client = TestClient::http1();
    // Land on a backend other than the one `two`'s round robin would pick first.
    let _ = get(&client, &one.url("/")).await;
    let r = get(&client, &one.url("/")).await;
    let cookie = cookie_of(&r).expect("cookie");
    let pinned = r.backend().expect("x-backend").to_string();
    for _ in 0..4 {
        let r = with_cookie(&client, &two, &cookie).await;
        assert_eq!(r.backend(), Some(pinned.as_str()));
        assert_eq!(r.header("set-cookie"), None);
    }
    // Without the shared secret (a per-process key) the same cookie means nothing.
    let three = TestProxy::start(&sticky_config(&refs(&backends), "{}"));
    let r = with_cookie(&client, &three, &cookie).await;
    assert!(cookie_of(&r).is_some(), "not recognised: re-issued");
}
