//! Route precedence, 404, splits and rewrites, seen from which backend answered and what
//! path it received.

use bytes::Bytes;
use http::{Method, Request};
use shoal_test_support::{TestBackend, TestClient, TestProxy};

use crate::support::*;

/// (method, host, path, extra headers, expected backend or status).
type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);

/// A proxy whose routes each send to their own single-backend upstream, named after the
/// backend. `routes` are (match inline table, backend name); names may repeat.
struct Routed {
    proxy: TestProxy,
    backends: Vec<TestBackend>,
    client: TestClient,
}

impl Routed {
    async fn start(routes: &[(&str, &str)], route_extra: &[(&str, &str)]) -> Routed {
        let mut names: Vec<&str> = routes.iter().map(|(_, n)| *n).collect();
        names.sort_unstable();
        names.dedup();
        let backends = named(&names).await;
        let mut text = String::new();
        for (matcher, name) in routes {
            let extra = route_extra
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, e)| *e);
            text.push_str(&route(matcher, &format!("upstream = \"{name}\""), extra));
        }
        for b in &backends {
            text.push_str(&upstream(b.name(), "round_robin", &[b], ""));
        }
        Routed {
            proxy: TestProxy::start(&config(1, "", &text)),
            backends,
            client: TestClient::http1(),
        }
    }

    fn backend(&self, name: &str) -> &TestBackend {
        self.backends
            .iter()
            .find(|b| b.name() == name)
            .unwrap_or_else(|| panic!("no backend {name}"))
    }

    /// Which backend answered (or the status, as text, when shoal answered itself).
    async fn who(&self, method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> String {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(self.proxy.url(path))
            .header("host", host);
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let response = self
            .client
            .send(request.body(Bytes::new()).expect("request"))
            .await
            .unwrap_or_else(|e| panic!("{method} {host}{path}: {e:#}"));
        match response.backend() {
            Some(b) => b.to_string(),
            None => response.status.as_u16().to_string(),
        }
    }

    async fn assert_routes(&self, cases: &[Case<'_>]) {
        for (method, host, path, headers, expected) in cases {
            let got = self.who(method, host, path, headers).await;
            assert_eq!(
                &got, expected,
                "{method} host={host} path={path} headers={headers:?}"
            );
        }
    }
}

#[tokio::test]
async fn exact_host_beats_wildcard_beats_none() {
    // Written least specific first: file order must not decide.
    let r = Routed::start(
        &[
            ("", "any"),
            ("{ path = \"/exact\" }", "pathonly"),
            ("{ host = \"*.example.com\" }", "wild"),
            ("{ host = \"*.eu.example.com\" }", "wild_eu"),
            ("{ host = \"api.example.com\" }", "exact"),
        ],
        &[],
    )
    .await;
    r.assert_routes(&[
        ("GET", "api.example.com", "/", &[], "exact"),
        ("GET", "API.Example.COM:8080", "/", &[], "exact"),
        ("GET", "api.example.com.", "/", &[], "exact"),
        ("GET", "x.example.com", "/", &[], "wild"),
        ("GET", "a.b.example.com", "/", &[], "wild"),
        ("GET", "x.eu.example.com", "/", &[], "wild_eu"),
        ("GET", "example.com", "/", &[], "any"),
        ("GET", "other.test", "/", &[], "any"),
        // The host decides before the path.
        ("GET", "x.example.com", "/exact", &[], "wild"),
        ("GET", "other.test", "/exact", &[], "pathonly"),
    ])
    .await;
}

#[tokio::test]
async fn exact_path_beats_longer_prefix_beats_shorter() {
    let r = Routed::start(
        &[
            ("{ path_prefix = \"/\" }", "short"),
            ("{ path_prefix = \"/api/\" }", "long"),
            ("{ path = \"/api/health\" }", "exact"),
        ],
        &[],
    )
    .await;
    r.assert_routes(&[
        ("GET", "h.test", "/api/health", &[], "exact"),
        ("GET", "h.test", "/api/health?verbose=1", &[], "exact"),
        ("GET", "h.test", "/api/healthz", &[], "long"),
        ("GET", "h.test", "/api/", &[], "long"),
        ("GET", "h.test", "/api", &[], "short"),
        ("GET", "h.test", "/apix", &[], "short"),
        ("GET", "h.test", "/", &[], "short"),
    ])
    .await;
    assert_eq!(r.backend("exact").hits(), 2);
    assert_eq!(r.backend("long").hits(), 2);
    assert_eq!(r.backend("short").hits(), 3);
}

#[tokio::test]
async fn equal_routes_are_decided_by_file_order() {
    let r = Routed::start(
        &[
            ("{ path_prefix = \"/same/\" }", "first"),
            ("{ path_prefix = \"/same/\" }", "second"),
            (
                "{ path_prefix = \"/other/\", methods = [\"GET\"] }",
                "third",
            ),
            (
                "{ path_prefix = \"/other/\", methods = [\"GET\", \"HEAD\"] }",
                "fourth",
            ),
        ],
        &[],
    )
    .await;
    r.assert_routes(&[
        ("GET", "h.test", "/same/x", &[], "first"),
        ("POST", "h.test", "/same/", &[], "first"),
        // A longer methods list is not more specific: file order decides.
        ("GET", "h.test", "/other/x", &[], "third"),
        ("HEAD", "h.test", "/other/x", &[], "fourth"),
    ])
    .await;
    assert_eq!(r.backend("second").hits(), 0);
}

#[tokio::test]
async fn methods_and_headers_narrow_a_route() {
    let r = Routed::start(
        &[
            ("{ path_prefix = \"/m/\" }", "plain"),
            (
                "{ path_prefix = \"/m/\", methods = [\"POST\", \"put\"] }",
                "writes",
            ),
            (
                "{ path_prefix = \"/m/\", headers = { x-env = \"beta\" } }",
                "beta",
            ),
            (
                "{ path_prefix = \"/m/\", methods = [\"GET\"], headers = { X-Env = \"beta\" } }",
                "getbeta",
            ),
        ],
        &[],
    )
    .await;
    r.assert_routes(&[
        ("GET", "h.test", "/m/a", &[], "plain"),
        ("POST", "h.test", "/m/a", &[], "writes"),
        ("PUT", "h.test", "/m/a", &[], "writes"),
        ("DELETE", "h.test", "/m/a", &[("x-env", "beta")], "beta"),
        // Two constraints beat one.
        ("GET", "h.test", "/m/a", &[("x-env", "beta")], "getbeta"),
        // One each: file order.
        ("POST", "h.test", "/m/a", &[("x-env", "beta")], "writes"),
        // Header values are compared exactly.
        ("GET", "h.test", "/m/a", &[("x-env", "Beta")], "plain"),
        ("GET", "h.test", "/m/a", &[("x-env", "beta2")], "plain"),
    ])
    .await;
}

#[tokio::test]
async fn no_matching_route_is_404_naming_the_cause_and_the_request_id() {
    let r = Routed::start(
        &[(
            "{ host = \"only.example\", path_prefix = \"/in/\" }",
            "only",
        )],
        &[],
    )
    .await;
    for (host, path) in [("other.example", "/in/x"), ("only.example", "/out")] {
        let response = get_h(&r.client, &r.proxy.url(path), &[("host", host)]).await;
        assert_eq!(response.status, 404, "{host}{path}");
        assert_eq!(response.backend(), None);
        let id = response.header("x-request-id").expect("x-request-id");
        assert!(is_generated_id(id), "generated id: {id}");
        assert_error_body(404, &response.text(), Some(id), "no route matches");
    }
    // A client-sent id is echoed.
    let response = get_h(
        &r.client,
        &r.proxy.url("/nowhere"),
        &[("host", "x.example"), ("x-request-id", "trace-404")],
    )
    .await;
    assert_eq!(response.status, 404);
    assert_error_body(404, &response.text(), Some("trace-404"), "no route");
    // And the route that exists still works, on a new connection.
    let fresh = TestClient::http1().keep_alive(false);
    let ok = get_h(&fresh, &r.proxy.url("/in/y"), &[("host", "only.example")]).await;
    assert_eq!(ok.status, 200);
    assert_eq!(r.backend("only").hits(), 1);
}

async fn split_shares(weights: (u32, u32), n: usize) -> (usize, usize) {
    let backends = named(&["stable", "canary"]).await;
    let text = config(
        2,
        "",
        &format!(
            "{}{}{}",
            route(
                "",
                &format!(
                    "split = [{{ upstream = \"stable\", weight = {} }}, \
                     {{ upstream = \"canary\", weight = {} }}]",
                    weights.0, weights.1
                ),
                ""
            ),
            upstream("stable", "round_robin", &[&backends[0]], ""),
            upstream("canary", "round_robin", &[&backends[1]], ""),
        ),
    );
    let proxy = TestProxy::start(&text);
    let client = TestClient::http1();
    let mut seen = Vec::new();
    for _ in 0..n {
        let response = get(&client, &proxy.url("/")).await;
        assert_eq!(response.status, 200);
        seen.push(response.backend().expect("x-backend").to_string());
    }
    let counts = tally(seen.iter().map(String::as_str));
    let stable = counts.get("stable").copied().unwrap_or(0);
    let canary = counts.get("canary").copied().unwrap_or(0);
    assert_eq!(stable + canary, n);
    assert_eq!(backends[0].hits() as usize, stable);
    assert_eq!(backends[1].hits() as usize, canary);
    (stable, canary)
}

#[tokio::test]
async fn split_95_5_sends_about_5_percent_to_the_canary() {
    let n = 400;
    let (_, canary) = split_shares((95, 5), n).await;
    let (lo, hi) = binomial_bounds(n, 0.05);
    // P(no canary hit at all in 400) = 0.95^400 ≈ 1e-9: it must get some.
    assert!(
        (lo.max(1)..=hi).contains(&canary),
        "canary got {canary} of {n}, expected {}..={hi}",
        lo.max(1)
    );
}

#[tokio::test]
async fn split_3_1_over_two_upstreams_follows_the_weights() {
    let n = 400;
    let (stable, _) = split_shares((3, 1), n).await;
    let (lo, hi) = binomial_bounds(n, 0.75);
    assert!(
        (lo..=hi).contains(&stable),
        "stable got {stable} of {n}, expected {lo}..={hi}"
    );
}

#[tokio::test]
async fn replace_prefix_rewrites_the_path_and_keeps_the_query() {
    let r = Routed::start(
        &[("{ path_prefix = \"/v1/\" }", "api"), ("", "rest")],
        &[(
            "api",
            "rewrite = { replace_prefix = { from = \"/v1/\", to = \"/v2/\" } }",
        )],
    )
    .await;
    let cases = [
        ("/v1/users?a=1&b=two", "/v2/users?a=1&b=two"),
        ("/v1/", "/v2/"),
        ("/v1/x/v1/y?q=%2Fv1%2F&r", "/v2/x/v1/y?q=%2Fv1%2F&r"),
    ];
    for (sent, expected) in cases {
        let response = get(&r.client, &r.proxy.url(sent)).await;
        assert_eq!(response.backend(), Some("api"), "{sent}");
        let seen = r.backend("api").last_request().expect("recorded");
        assert_eq!(seen.uri.to_string(), expected, "sent {sent}");
    }
    // Not under the prefix: another route, untouched.
    get(&r.client, &r.proxy.url("/v10/z?k=v")).await;
    let seen = r.backend("rest").last_request().expect("recorded");
    assert_eq!(seen.uri.to_string(), "/v10/z?k=v");
}

#[tokio::test]
async fn strip_prefix_removes_a_whole_segment_only() {
    let r = Routed::start(
        &[("{ path_prefix = \"/api\" }", "api")],
        &[("api", "rewrite = { strip_prefix = \"/api\" }")],
    )
    .await;
    let cases = [
        ("/api/users?q=x", "/users?q=x"),
        ("/api/users/7", "/users/7"),
        ("/api", "/"),
        ("/api?x=1", "/?x=1"),
        ("/api/", "/"),
        // Not a segment boundary: forwarded unchanged.
        ("/apix/y?z", "/apix/y?z"),
    ];
    for (sent, expected) in cases {
        let response = get(&r.client, &r.proxy.url(sent)).await;
        assert_eq!(response.status, 200, "{sent}: {}", response.text());
        let seen = r.backend("api").last_request().expect("recorded");
        assert_eq!(seen.uri.to_string(), expected, "sent {sent}");
    }
}
