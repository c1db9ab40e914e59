//! `rate_limit` keyed by a JWT claim, and its state kept across a recompile.

use crate::support::*;

#[tokio::test]
async fn rate_limit_by_claim_after_jwt_and_state_survives_recompile() {
    let dir = Dir::new();
    let secret = "a shared secret of enough length";
    let path = dir.write("secret", secret);
    let gw = Gateway::new();
    let filters = format!(
        "{}[filters.per_user]\nkind = \"rate_limit\"\nkey = \"claim:sub\"\nrate = \"1/m\"\nburst = 2\n",
        jwt_filter(&path, "[\"HS256\"]", "")
    );
    let snap = compile(&gw, &filters);
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    let as_user = |sub: &str| {
        let mut c = good_claims();
        c["sub"] = json!(sub);
        get(
            "/",
            &[(
                "authorization",
                &bearer(&token(&key, Algorithm::HS256, None, c)),
            )],
        )
    };
    let chain = ["auth", "per_user"];
    let first = run(&snap, &chain, as_user("alice")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let mut response = http::HeaderMap::new();
    first.exchange.apply_response(&mut response);
    assert_eq!(response["ratelimit-limit"], "2");
    assert_eq!(response["ratelimit-remaining"], "1");
    assert_eq!(
        run(&snap, &chain, as_user("alice")).await.status(),
        StatusCode::OK
    );
    let refused = run(&snap, &chain, as_user("alice")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused
        .answer_header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("secs");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        refused.answer_header("ratelimit-remaining").as_deref(),
        Some("0")
    );
    // Another user is not affected; an unauthenticated request never reaches the limit.
    assert_eq!(
        run(&snap, &chain, as_user("bob")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        run(&snap, &chain, get("/", &[])).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A reload with the same settings keeps the counts: no fresh burst.
    let again = compile(&gw, &filters);
    assert_eq!(
        run(&again, &chain, as_user("alice")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Changed settings start over.
    let changed = compile(&gw, &filters.replace("burst = 2", "burst = 3"));
    assert_eq!(
        run(&changed, &chain, as_user("alice")).await.status(),
        StatusCode::OK
    );
}
