//! The precedence contract, table-driven: one route set, many requests, the route each must
//! take. Each case names the rule it pins.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use shoal_config::{HostMatch, PathMatch, RouteConfig, RouteMatch, RouteTarget};
use shoal_router::{RequestView, RouteTable};

fn route(index: usize, matcher: RouteMatch) -> RouteConfig {
    RouteConfig {
        index,
        matcher,
        target: RouteTarget::Upstream(format!("u{index}")),
        rewrite: None,
        filters: Vec::new(),
    }
}

fn exact_host(h: &str) -> Option<HostMatch> {
    Some(HostMatch::Exact(h.into()))
}

fn wildcard(suffix: &str) -> Option<HostMatch> {
    Some(HostMatch::Wildcard(suffix.into()))
}

fn prefix(p: &str) -> Option<PathMatch> {
    Some(PathMatch::Prefix(p.into()))
}

fn exact_path(p: &str) -> Option<PathMatch> {
    Some(PathMatch::Exact(p.into()))
}

fn canary_header() -> Vec<(HeaderName, String)> {
    vec![(HeaderName::from_static("x-canary"), "yes".into())]
}

/// The route set, deliberately listed with general routes first so file order alone would pick
/// the wrong route in most cases.
fn routes() -> Vec<RouteConfig> {
    let m = RouteMatch::default;
    vec![
        route(0, m()),
        route(
            1,
            RouteMatch {
                path: prefix("/"),
                ..m()
            },
        ),
        route(
            2,
            RouteMatch {
                path: prefix("/api/"),
                ..m()
            },
        ),
        route(
            3,
            RouteMatch {
                path: prefix("/api/v1/"),
                ..m()
            },
        ),
        route(
            4,
            RouteMatch {
                path: exact_path("/api/v1/health"),
                ..m()
            },
        ),
        route(
            5,
            RouteMatch {
                host: wildcard(".example.com"),
                ..m()
            },
        ),
        route(
            6,
            RouteMatch {
                host: wildcard(".api.example.com"),
                ..m()
            },
        ),
        route(
            7,
            RouteMatch {
                host: exact_host("api.example.com"),
                ..m()
            },
        ),
        route(
            8,
            RouteMatch {
                host: exact_host("api.example.com"),
                path: prefix("/admin/"),
                ..m()
            },
        ),
        route(
            9,
            RouteMatch {
                path: prefix("/api/"),
                methods: vec![Method::POST],
                ..m()
            },
        ),
        route(
            10,
            RouteMatch {
                path: prefix("/api/"),
                methods: vec![Method::POST],
                headers: canary_header(),
                ..m()
            },
        ),
        route(
            11,
            RouteMatch {
                path: prefix("/api/"),
                ..m()
            },
        ),
        route(
            12,
            RouteMatch {
                host: wildcard(".example.com"),
                path: exact_path("/x"),
                ..m()
            },
        ),
        route(
            13,
            RouteMatch {
                path: exact_path("/x"),
                ..m()
            },
        ),
        route(
            14,
            RouteMatch {
                path: prefix("/get-only/"),
                methods: vec![Method::GET, Method::HEAD, Method::OPTIONS],
                ..m()
            },
        ),
        route(
            15,
            RouteMatch {
                path: prefix("/get-only/"),
                headers: canary_header(),
                ..m()
            },
        ),
    ]
}

struct Case {
    rule: &'static str,
    host: Option<&'static str>,
    method: Method,
    path: &'static str,
    canary: bool,
    want: Option<usize>,
}

fn case(rule: &'static str, host: Option<&'static str>, path: &'static str, want: usize) -> Case {
    Case {
        rule,
        host,
        method: Method::GET,
        path,
        canary: false,
        want: Some(want),
    }
}

#[test]
fn precedence_table() {
    let post = |mut c: Case| {
        c.method = Method::POST;
        c
    };
    let canary = |mut c: Case| {
        c.canary = true;
        c
    };
    let cases = vec![
        case("any prefix beats no path", None, "/anything", 1),
        case("longer prefix beats shorter", None, "/api/users", 2),
        case(
            "same specificity: lower index wins (2 over 11)",
            None,
            "/api/users",
            2,
        ),
        post(case(
            "more constraints win at equal path",
            None,
            "/api/users",
            9,
        )),
        post(canary(case(
            "methods + header beat methods only",
            None,
            "/api/users",
            10,
        ))),
        canary(case(
            "constraints must hold to count",
            None,
            "/api/users",
            2,
        )),
        post(case(
            "longer prefix beats more constraints",
            None,
            "/api/v1/users",
            3,
        )),
        case("exact path beats longer prefix", None, "/api/v1/health", 4),
        case(
            "exact path beats prefix, other host",
            Some("other.org"),
            "/api/v1/health",
            4,
        ),
        case(
            "wildcard host beats exact path",
            Some("www.example.com"),
            "/api/v1/health",
            5,
        ),
        case(
            "wildcard + exact path beats wildcard",
            Some("www.example.com"),
            "/x",
            12,
        ),
        case(
            "longer wildcard beats shorter",
            Some("v2.api.example.com"),
            "/",
            6,
        ),
        case(
            "exact host beats matching wildcard",
            Some("api.example.com"),
            "/",
            7,
        ),
        case(
            "exact host + prefix beats exact host",
            Some("api.example.com"),
            "/admin/x",
            8,
        ),
        case(
            "host is normalised",
            Some("API.Example.COM.:443"),
            "/admin/",
            8,
        ),
        case(
            "exact host beats longer path elsewhere",
            Some("api.example.com"),
            "/x",
            7,
        ),
        case(
            "wildcard needs a label: bare domain",
            Some("example.com"),
            "/x",
            13,
        ),
        case(
            "invalid host only sees host-less routes",
            Some("bad host"),
            "/x",
            13,
        ),
        case("no host only sees host-less routes", None, "/x", 13),
        case("a method list counts once", None, "/get-only/a", 14),
        canary(case(
            "one header ties a long method list: file order",
            None,
            "/get-only/a",
            14,
        )),
        post(canary(case(
            "method list not matching",
            None,
            "/get-only/a",
            15,
        ))),
    ];

    let table = RouteTable::new(&routes());
    let mut failures = Vec::new();
    for c in &cases {
        let mut headers = HeaderMap::new();
        if c.canary {
            headers.insert("x-canary", HeaderValue::from_static("yes"));
        }
        let req = RequestView {
            host: c.host,
            path: c.path,
            method: &c.method,
            headers: &headers,
        };
        let got = table.find(&req);
        if got != c.want {
            failures.push(format!(
                "{}: {} {:?} {} canary={} → {:?}, want {:?}",
                c.rule, c.method, c.host, c.path, c.canary, got, c.want
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn order_of_the_slice_does_not_matter_only_index_does() {
    let forward = routes();
    let mut backward = routes();
    backward.reverse();
    let (a, b) = (RouteTable::new(&forward), RouteTable::new(&backward));
    let headers = HeaderMap::new();
    for host in [
        None,
        Some("api.example.com"),
        Some("w.example.com"),
        Some("q.org"),
    ] {
        for path in [
            "/",
            "/api/",
            "/api/v1/health",
            "/x",
            "/admin/1",
            "/get-only/",
        ] {
            for method in [Method::GET, Method::POST] {
                let req = RequestView {
                    host,
                    path,
                    method: &method,
                    headers: &headers,
                };
                assert_eq!(a.find(&req), b.find(&req), "{method} {host:?} {path}");
            }
        }
    }
}

#[test]
fn file_order_breaks_exact_ties() {
    // Identical matchers; the slice lists index 5 first, but index 2 is earlier in the file.
    let m = || RouteMatch {
        host: exact_host("a.com"),
        path: prefix("/p"),
        ..RouteMatch::default()
    };
    let table = RouteTable::new(&[route(5, m()), route(2, m()), route(9, m())]);
    let headers = HeaderMap::new();
    let req = RequestView {
        host: Some("a.com"),
        path: "/p/q",
        method: &Method::GET,
        headers: &headers,
    };
    assert_eq!(table.find(&req), Some(2));
}

#[test]
fn nothing_matches_gives_none() {
    let m = RouteMatch::default;
    let table = RouteTable::new(&[
        route(
            0,
            RouteMatch {
                host: exact_host("a.com"),
                ..m()
            },
        ),
        route(
            1,
            RouteMatch {
                path: prefix("/api/"),
                ..m()
            },
        ),
    ]);
    let headers = HeaderMap::new();
    let req = RequestView {
        host: Some("b.com"),
        path: "/web",
        method: &Method::GET,
        headers: &headers,
    };
    assert_eq!(table.find(&req), None);
}
