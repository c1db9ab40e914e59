//! Filters that judge or answer the request itself: `limits`, `headers`, `cors`, `redirect`, `respond`.

use crate::support::*;

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
