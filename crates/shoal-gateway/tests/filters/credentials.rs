//! `api_key` and `basic_auth`: success and every failure.

use crate::support::*;

#[tokio::test]
async fn api_key_success_and_failures() {
    let dir = Dir::new();
    let path = dir.write(
        "keys.txt",
        &format!(
            "# name sha256\nbilling {}\nops {}\n",
            shoal_gateway::sha256_hex(b"secret-billing"),
            shoal_gateway::sha256_hex(b"secret-ops")
        ),
    );
    let gw = Gateway::new();
    let snap = compile(
        &gw,
        &format!(
            "[filters.keys]\nkind = \"api_key\"\nkeys = {:?}\nquery = \"api_key\"\n",
            path.display().to_string()
        ),
    );
    let ok = run(
        &snap,
        &["keys"],
        get(
            "/",
            &[("x-api-key", "secret-ops"), ("x-api-key-name", "billing")],
        ),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers["x-api-key-name"], "ops");
    assert_eq!(ok.headers.get_all("x-api-key-name").iter().count(), 1);
    let by_query = run(&snap, &["keys"], get("/?a=1&api_key=secret-billing", &[])).await;
    assert_eq!(by_query.status(), StatusCode::OK);
    assert_eq!(by_query.headers["x-api-key-name"], "billing");
    let missing = run(&snap, &["keys"], get("/", &[("x-api-key-name", "billing")])).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(
        missing.headers.get("x-api-key-name").is_none(),
        "spoofed name stripped"
    );
    let wrong = run(&snap, &["keys"], get("/", &[("x-api-key", "secret-opz")])).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.cause().contains("not valid"));

    let plain = dir.write("plain.txt", "billing secret-billing\n");
    let e = compile_err(&format!(
        "[filters.keys]\nkind = \"api_key\"\nkeys = {:?}\n",
        plain.display().to_string()
    ));
    assert!(
        e.contains("filters.keys.keys (line 9)")
            && e.contains("line 1")
            && e.contains("not a SHA-256"),
        "{e}"
    );
}

#[tokio::test]
async fn basic_auth_success_and_failures() {
    use base64::Engine;
    let dir = Dir::new();
    let hash = bcrypt::hash("s3cret", 4).expect("bcrypt");
    let path = dir.write("htpasswd", &format!("alice:{hash}\n"));
    let gw = Gateway::new();
    let snap = compile(
        &gw,
        &format!(
            "[filters.basic]\nkind = \"basic_auth\"\nhtpasswd = {:?}\nrealm = \"ops area\"\n",
            path.display().to_string()
        ),
    );
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    for _ in 0..2 {
        // The second time comes from the remembered success.
        let ok = run(
            &snap,
            &["basic"],
            get("/", &[("authorization", &basic("alice", "s3cret"))]),
        )
        .await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.exchange.user.as_deref(), Some("alice"));
    }
    for auth in [
        basic("alice", "wrong"),
        basic("bob", "s3cret"),
        "Basic !!".into(),
        "Bearer x".into(),
    ] {
        let o = run(&snap, &["basic"], get("/", &[("authorization", &auth)])).await;
        assert_eq!(o.status(), StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(
            o.answer_header("www-authenticate").as_deref(),
            Some("Basic realm=\"ops area\"")
        );
    }
    let o = run(&snap, &["basic"], get("/", &[])).await;
    assert_eq!(o.status(), StatusCode::UNAUTHORIZED);

    let md5 = dir.write("md5", "bob:$apr1$abc$def\n");
    assert!(compile_err(&format!(
        "[filters.basic]\nkind = \"basic_auth\"\nhtpasswd = {:?}\n",
        md5.display().to_string()
    ))
    .contains("bcrypt"));
}
