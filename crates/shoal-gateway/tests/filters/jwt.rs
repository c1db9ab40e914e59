//! `jwt`: ES256 from a JWKS, RS256 from PEM, HS256 from a secret; every failure status; key files that must parse; JWKS rotation.

use crate::support::*;

#[tokio::test]
async fn jwt_es256_from_jwks_success_and_every_failure() {
    let dir = Dir::new();
    let key = ec_key();
    let path = dir.write(
        "jwks.json",
        &jwks(&[(&key.encoding, Algorithm::ES256, "k1")]),
    );
    let gw = Gateway::new();
    let snap = compile(&gw, &jwt_filter(&path, "[\"ES256\"]", ""));
    let auth = |t: &str| {
        get(
            "/x",
            &[("authorization", &bearer(t)), ("x-user-id", "mallory")],
        )
    };

    // Success: claims forwarded, the client's copy replaced.
    let ok = run(
        &snap,
        &["auth"],
        auth(&token(
            &key.encoding,
            Algorithm::ES256,
            Some("k1"),
            good_claims(),
        )),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK, "{}", ok.cause());
    assert_eq!(ok.headers["x-user-id"], "alice");
    assert_eq!(ok.headers["x-org-id"], "42");
    assert_eq!(ok.headers.get_all("x-user-id").iter().count(), 1);
    assert_eq!(ok.exchange.claim_text("sub").as_deref(), Some("alice"));

    // Missing token: 401, plain Bearer challenge; the spoofed header is gone anyway.
    let missing = run(
        &snap,
        &["auth"],
        get("/x", &[("x-user-id", "mallory"), ("x-org-id", "1")]),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.answer_header("www-authenticate").as_deref(),
        Some("Bearer")
    );
    assert!(missing.headers.get("x-user-id").is_none());
    assert!(missing.headers.get("x-org-id").is_none());

    let invalid = |o: &Outcome| {
        assert_eq!(o.status(), StatusCode::UNAUTHORIZED, "{}", o.cause());
        assert_eq!(
            o.answer_header("www-authenticate").as_deref(),
            Some("Bearer error=\"invalid_token\"")
        );
    };
    let mut c = good_claims();
    c["exp"] = json!(now() - 60);
    let expired = run(
        &snap,
        &["auth"],
        auth(&token(&key.encoding, Algorithm::ES256, Some("k1"), c)),
    )
    .await;
    invalid(&expired);
    assert!(expired.cause().contains("expired"));
    // Within leeway still passes.
    let mut c = good_claims();
    c["exp"] = json!(now() - 2);
    assert_eq!(
        run(
            &snap,
            &["auth"],
            auth(&token(&key.encoding, Algorithm::ES256, Some("k1"), c))
        )
        .await
        .status(),
        StatusCode::OK
    );
    let mut c = good_claims();
    c["nbf"] = json!(now() + 600);
    invalid(
        &run(
            &snap,
            &["auth"],
            auth(&token(&key.encoding, Algorithm::ES256, Some("k1"), c)),
        )
        .await,
    );
    let mut c = good_claims();
    c.as_object_mut().expect("object").remove("exp");
    invalid(
        &run(
            &snap,
            &["auth"],
            auth(&token(&key.encoding, Algorithm::ES256, Some("k1"), c)),
        )
        .await,
    );
    // Another key's signature.
    let other = ec_key();
    invalid(
        &run(
            &snap,
            &["auth"],
            auth(&token(
                &other.encoding,
                Algorithm::ES256,
                Some("k1"),
                good_claims(),
            )),
        )
        .await,
    );
    // Garbage, and an algorithm not accepted (HS256 with the public key as secret).
    invalid(&run(&snap, &["auth"], auth("not.a.token")).await);
    let confused = EncodingKey::from_secret(key.public_pem.as_bytes()).expect("key");
    invalid(
        &run(
            &snap,
            &["auth"],
            auth(&token(
                &confused,
                Algorithm::HS256,
                Some("k1"),
                good_claims(),
            )),
        )
        .await,
    );
    // A huge header does not crash anything.
    invalid(&run(&snap, &["auth"], auth(&"a".repeat(20_000))).await);

    // Wrong audience or issuer: 403.
    let mut c = good_claims();
    c["aud"] = json!("billing");
    let wrong_aud = run(
        &snap,
        &["auth"],
        auth(&token(&key.encoding, Algorithm::ES256, Some("k1"), c)),
    )
    .await;
    assert_eq!(wrong_aud.status(), StatusCode::FORBIDDEN);
    assert!(wrong_aud.cause().contains("audience"));
    let mut c = good_claims();
    c["iss"] = json!("https://evil.example.com");
    assert_eq!(
        run(
            &snap,
            &["auth"],
            auth(&token(&key.encoding, Algorithm::ES256, Some("k1"), c))
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn jwt_rs256_pem_and_hs256_secret() {
    let dir = Dir::new();
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("rsa keygen");
    let der = {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        private.to_pkcs1_der().expect("der").as_bytes().to_vec()
    };
    let public_pem = {
        use rsa::pkcs8::EncodePublicKey;
        private
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem")
    };
    let encoding = EncodingKey::from_rsa_der(&der);
    let path = dir.write("rsa.pem", &public_pem);
    let gw = Gateway::new();
    let snap = compile(&gw, &jwt_filter(&path, "[\"RS256\", \"PS256\"]", ""));
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let t = token(&encoding, alg, None, good_claims());
        let o = run(
            &snap,
            &["auth"],
            get("/", &[("authorization", &bearer(&t))]),
        )
        .await;
        assert_eq!(o.status(), StatusCode::OK, "{alg:?}: {}", o.cause());
    }
    let t = token(&encoding, Algorithm::RS384, None, good_claims());
    let o = run(
        &snap,
        &["auth"],
        get("/", &[("authorization", &bearer(&t))]),
    )
    .await;
    assert_eq!(
        o.status(),
        StatusCode::UNAUTHORIZED,
        "RS384 is not configured"
    );

    let secret = "a shared secret of enough length";
    let path = dir.write("secret", &format!("{secret}\n"));
    let snap = compile(&gw, &jwt_filter(&path, "[\"HS256\"]", ""));
    let t = token(
        &EncodingKey::from_secret(secret.as_bytes()).expect("key"),
        Algorithm::HS256,
        None,
        good_claims(),
    );
    let o = run(
        &snap,
        &["auth"],
        get("/", &[("authorization", &bearer(&t))]),
    )
    .await;
    assert_eq!(o.status(), StatusCode::OK, "{}", o.cause());
    let t = token(
        &EncodingKey::from_secret(b"another secret, also long").expect("key"),
        Algorithm::HS256,
        None,
        good_claims(),
    );
    let o = run(
        &snap,
        &["auth"],
        get("/", &[("authorization", &bearer(&t))]),
    )
    .await;
    assert_eq!(o.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn jwt_key_files_must_parse() {
    let dir = Dir::new();
    let bad = dir.write("bad.json", "{\"keys\": 3}");
    let e = compile_err(&jwt_filter(&bad, "[\"ES256\"]", ""));
    assert!(e.starts_with("filters.auth.keys (line 10):"), "{e}");
    assert!(e.contains("\"keys\" array"), "{e}");
    let short = dir.write("short", "tiny");
    assert!(compile_err(&jwt_filter(&short, "[\"HS256\"]", "")).contains("shorter than 16 bytes"));
    let key = ec_key();
    let ec = dir.write("ec.pem", &key.public_pem);
    assert!(compile_err(&jwt_filter(&ec, "[\"RS256\"]", ""))
        .contains("no key for the configured algorithms"));
    let text = dir.write("text", "hello");
    assert!(compile_err(&jwt_filter(&text, "[\"ES256\"]", "")).contains("neither a JWKS"));
    let missing = dir.0.join("missing.json");
    assert!(compile_err(&jwt_filter(&missing, "[\"ES256\"]", "")).contains("cannot read"));
}

#[tokio::test]
async fn jwks_rotation_follows_the_file() {
    let dir = Dir::new();
    let old = ec_key();
    let new = ec_key();
    let path = dir.write(
        "jwks.json",
        &jwks(&[(&old.encoding, Algorithm::ES256, "old")]),
    );
    let gw = Gateway::new();
    let snap = compile(&gw, &jwt_filter(&path, "[\"ES256\"]", ""));
    let with = |k: &EncodingKey, kid: &str| {
        get(
            "/",
            &[(
                "authorization",
                &bearer(&token(k, Algorithm::ES256, Some(kid), good_claims())),
            )],
        )
    };
    assert_eq!(
        run(&snap, &["auth"], with(&old.encoding, "old"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        run(&snap, &["auth"], with(&new.encoding, "new"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Rotate: the new key only.
    dir.write(
        "jwks.json",
        &jwks(&[(&new.encoding, Algorithm::ES256, "new")]),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let new_ok = run(&snap, &["auth"], with(&new.encoding, "new"))
            .await
            .status()
            == StatusCode::OK;
        let old_refused = run(&snap, &["auth"], with(&old.encoding, "old"))
            .await
            .status()
            == StatusCode::UNAUTHORIZED;
        if new_ok && old_refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key file was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A broken file keeps the keys that work.
    dir.write("jwks.json", "{ not json");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        run(&snap, &["auth"], with(&new.encoding, "new"))
            .await
            .status(),
        StatusCode::OK
    );
}
