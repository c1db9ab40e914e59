//! Each filter through the public API: a config with `[filters.NAME]`, compiled by
//! `Gateway`, run as a route's chain on a request. Keys and tokens are made here, at test
//! time (rcgen EC keys, an RSA key from the rsa crate, random secrets): nothing checked in
//! can expire.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderValue, Method, Request, StatusCode};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use shoal_config::Config;
use shoal_gateway::{Answer, Exchange, Gateway, GatewaySnapshot, RequestCtx};

struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "shoal-gateway-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("mkdir");
        Dir(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        // Write then rename: how deploy tools replace key files.
        let tmp = self.0.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config with route filters `names` and the given `[filters]` text.
fn compile(gateway: &Gateway, filters: &str) -> GatewaySnapshot {
    let text = format!(
        "[listeners.web]\nbind = \"127.0.0.1:1\"\n[[listeners.web.routes]]\nupstream = \"api\"\n\
         [upstreams.api]\nbackends = [\"127.0.0.1:9\"]\n{filters}"
    );
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    gateway.compile(&config).unwrap_or_else(|e| panic!("{e}"))
}

fn compile_err(filters: &str) -> String {
    let text = format!(
        "[listeners.web]\nbind = \"127.0.0.1:1\"\n[[listeners.web.routes]]\nupstream = \"api\"\n\
         [upstreams.api]\nbackends = [\"127.0.0.1:9\"]\n{filters}"
    );
    let config = Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    shoal_gateway::check(&config)
        .expect_err("should be refused")
        .to_string()
}

/// What a request got from a chain.
struct Outcome {
    answer: Option<Answer>,
    headers: http::HeaderMap,
    exchange: Exchange,
}

impl Outcome {
    fn status(&self) -> StatusCode {
        match &self.answer {
            None => StatusCode::OK,
            Some(Answer::Reject(r)) => r.status,
            Some(Answer::Reply(r)) => r.status,
        }
    }

    fn answer_header(&self, name: &str) -> Option<String> {
        let list = match &self.answer {
            Some(Answer::Reject(r)) => &r.headers,
            Some(Answer::Reply(r)) => &r.headers,
            None => return None,
        };
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_str().unwrap_or_default().to_string())
    }

    fn cause(&self) -> String {
        match &self.answer {
            Some(Answer::Reject(r)) => r.cause.to_string(),
            _ => String::new(),
        }
    }
}

async fn run(snapshot: &GatewaySnapshot, names: &[&str], request: Request<()>) -> Outcome {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let chain = snapshot.chain(&names).expect("a chain");
    let (mut parts, ()) = request.into_parts();
    let id = HeaderValue::from_static("req-1");
    let peer: IpAddr = "192.0.2.7".parse().expect("ip");
    let mut exchange = Exchange::default();
    let answer = {
        let mut ctx = RequestCtx {
            parts: &mut parts,
            peer,
            request_id: &id,
            host: Some("api.example.com"),
            route: "web.routes[0]",
        };
        chain.run(&mut ctx, &mut exchange).await.err()
    };
    Outcome {
        answer,
        headers: parts.headers,
        exchange,
    }
}

fn get(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder().uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).expect("request")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn token(
    key: &EncodingKey,
    alg: Algorithm,
    kid: Option<&str>,
    claims: serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

struct EcKey {
    encoding: EncodingKey,
    public_pem: String,
}

fn ec_key() -> EcKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
    EcKey {
        encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("ec key"),
        public_pem: pair.public_key_pem(),
    }
}

fn jwks(keys: &[(&EncodingKey, Algorithm, &str)]) -> String {
    let set = JwkSet {
        keys: keys
            .iter()
            .map(|(k, alg, kid)| {
                let mut jwk = Jwk::from_encoding_key(k, *alg).expect("jwk");
                jwk.common.key_id = Some(kid.to_string());
                jwk
            })
            .collect(),
    };
    serde_json::to_string(&set).expect("json")
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn jwt_filter(path: &Path, algorithms: &str, extra: &str) -> String {
    format!(
        "[filters.auth]\nkind = \"jwt\"\nalgorithms = {algorithms}\nkeys = {:?}\n\
         issuer = \"https://auth.example.com\"\naudience = \"api\"\nleeway = \"5s\"\n\
         forward_claims = {{ sub = \"x-user-id\", org = \"x-org-id\" }}\n{extra}",
        path.display().to_string()
    )
}

fn good_claims() -> serde_json::Value {
    json!({"sub": "alice", "org": 42, "iss": "https://auth.example.com", "aud": "api", "exp": now() + 300})
}

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

#[tokio::test]
async fn limits_every_status() {
    let dir = Dir::new();
    let schema = dir.write(
        "schema.json",
        r#"{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}"#,
    );
    let gw = Gateway::new();
    let snap = compile(
        &gw,
        &format!(
            "[filters.lim]\nkind = \"limits\"\nmethods = [\"GET\", \"POST\"]\nmax_body_bytes = 100\n\
             max_uri_length = 30\nmax_header_count = 5\nmax_header_bytes = 300\n\
             required_headers = [\"x-tenant\"]\ncontent_types = [\"application/json\"]\njson_schema = {:?}\n",
            schema.display().to_string()
        ),
    );
    let t = ("x-tenant", "t1");
    let status = |o: Outcome| o.status();
    assert_eq!(
        status(run(&snap, &["lim"], get("/ok", &[t])).await),
        StatusCode::OK
    );
    let put = Request::builder()
        .method(Method::PUT)
        .uri("/")
        .header("x-tenant", "t")
        .body(())
        .expect("req");
    let o = run(&snap, &["lim"], put).await;
    assert_eq!(o.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(o.answer_header("allow").as_deref(), Some("GET, POST"));
    assert_eq!(
        status(run(&snap, &["lim"], get(&format!("/{}", "a".repeat(40)), &[t])).await),
        StatusCode::URI_TOO_LONG
    );
    let many: Vec<(String, String)> = (0..6).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        status(run(&snap, &["lim"], get("/", &many)).await),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let big = "v".repeat(400);
    assert_eq!(
        status(run(&snap, &["lim"], get("/", &[t, ("x-big", &big)])).await),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let o = run(&snap, &["lim"], get("/", &[])).await;
    assert_eq!(o.status(), StatusCode::BAD_REQUEST);
    assert!(o.cause().contains("x-tenant"));
    let post = |ct: &str, len: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/")
            .header("x-tenant", "t")
            .header("content-type", ct)
            .header("content-length", len)
            .body(())
            .expect("req")
    };
    assert_eq!(
        status(run(&snap, &["lim"], post("text/plain", "5")).await),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        status(run(&snap, &["lim"], post("application/json", "101")).await),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let o = run(
        &snap,
        &["lim"],
        post("application/json; charset=utf-8", "50"),
    )
    .await;
    assert_eq!(o.status(), StatusCode::OK);
    assert_eq!(o.exchange.body_limit, Some(100));
    let schema = o.exchange.schema.clone().expect("schema for a JSON body");
    assert!(schema.validate(&json!({"name": "x"})).is_empty());
    assert_eq!(
        schema.validate(&json!({})),
        ["/: property \"name\" is required"]
    );

    let bad = dir.write("bad-schema.json", r##"{"type": "object", "$ref": "#/x"}"##);
    let e = compile_err(&format!(
        "[filters.lim]\nkind = \"limits\"\nmax_body_bytes = 10\njson_schema = {:?}\n",
        bad.display().to_string()
    ));
    assert!(
        e.contains("filters.lim.json_schema (line 10)") && e.contains("\"$ref\" is not supported"),
        "{e}"
    );
}

#[tokio::test]
async fn headers_templates_and_response_edits() {
    let gw = Gateway::new();
    let snap = compile(
        &gw,
        "[filters.h]\nkind = \"headers\"\n\
         request = { set = { x-client = \"${client_ip}\", x-id = \"id-${request_id}\", x-where = \"${host}${path}?${query}\" }, remove = [\"x-debug\"], append = { x-tag = \"gw\" } }\n\
         response = { set = { x-served-by = \"shoal\" }, remove = [\"server\"] }\n",
    );
    let o = run(
        &snap,
        &["h"],
        get(
            "/p?q=1",
            &[
                ("x-debug", "1"),
                ("x-tag", "client"),
                ("x-client", "6.6.6.6"),
            ],
        ),
    )
    .await;
    assert_eq!(o.status(), StatusCode::OK);
    assert_eq!(o.headers["x-client"], "192.0.2.7");
    assert_eq!(o.headers["x-id"], "id-req-1");
    assert_eq!(o.headers["x-where"], "api.example.com/p?q=1");
    assert!(o.headers.get("x-debug").is_none());
    let tags: Vec<_> = o.headers.get_all("x-tag").iter().collect();
    assert_eq!(tags, ["client", "gw"]);
    let mut response = http::HeaderMap::new();
    response.insert("server", HeaderValue::from_static("backend/1.0"));
    o.exchange.apply_response(&mut response);
    assert_eq!(response["x-served-by"], "shoal");
    assert!(response.get("server").is_none());
}

#[tokio::test]
async fn cors_preflight_and_simple_requests() {
    let gw = Gateway::new();
    let snap = compile(
        &gw,
        "[filters.c]\nkind = \"cors\"\norigins = [\"https://app.example.com\"]\nmethods = [\"GET\", \"PUT\"]\n\
         headers = [\"content-type\", \"authorization\"]\nexpose_headers = [\"x-total\"]\nmax_age = \"10m\"\ncredentials = true\n",
    );
    let preflight = |origin: &str, method: &str, headers: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/")
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .body(())
            .expect("req")
    };
    let o = run(
        &snap,
        &["c"],
        preflight(
            "https://app.example.com",
            "PUT",
            "Content-Type, Authorization",
        ),
    )
    .await;
    assert_eq!(o.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        o.answer_header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        o.answer_header("access-control-allow-methods").as_deref(),
        Some("GET, PUT")
    );
    assert_eq!(
        o.answer_header("access-control-allow-headers").as_deref(),
        Some("content-type, authorization")
    );
    assert_eq!(
        o.answer_header("access-control-max-age").as_deref(),
        Some("600")
    );
    assert_eq!(
        o.answer_header("access-control-allow-credentials")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        run(
            &snap,
            &["c"],
            preflight("https://evil.example.com", "PUT", "")
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        run(
            &snap,
            &["c"],
            preflight("https://app.example.com", "DELETE", "")
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        run(
            &snap,
            &["c"],
            preflight("https://app.example.com", "GET", "x-other")
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );

    let o = run(
        &snap,
        &["c"],
        get("/", &[("origin", "https://app.example.com")]),
    )
    .await;
    assert_eq!(o.status(), StatusCode::OK);
    let mut response = http::HeaderMap::new();
    o.exchange.apply_response(&mut response);
    assert_eq!(
        response["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(response["access-control-expose-headers"], "x-total");
    assert_eq!(response["vary"], "Origin");
    let o = run(
        &snap,
        &["c"],
        get("/", &[("origin", "https://evil.example.com")]),
    )
    .await;
    let mut response = http::HeaderMap::new();
    o.exchange.apply_response(&mut response);
    assert!(response.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn redirect_and_respond_answer_without_a_backend() {
    let gw = Gateway::new();
    let snap = compile(
        &gw,
        "[filters.moved]\nkind = \"redirect\"\nlocation = \"https://new.example.com${path}?${query}\"\nstatus = 308\n\
         [filters.down]\nkind = \"respond\"\nstatus = 503\nbody = \"maintenance\"\nheaders = { retry-after = \"120\" }\n",
    );
    let o = run(&snap, &["moved"], get("/v1/x?a=1", &[])).await;
    assert_eq!(o.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        o.answer_header("location").as_deref(),
        Some("https://new.example.com/v1/x?a=1")
    );
    let o = run(&snap, &["down"], get("/", &[])).await;
    assert_eq!(o.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(o.answer_header("retry-after").as_deref(), Some("120"));
    let Some(Answer::Reply(reply)) = &o.answer else {
        panic!("a reply")
    };
    assert_eq!(&reply.body[..], b"maintenance");
}

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
