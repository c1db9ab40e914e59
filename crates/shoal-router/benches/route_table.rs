//! `RouteTable::find` on a 100-route listener (the hot-path target is well under 1 µs), plus
//! `normalize_host`, `Split::pick` and `rewrite_path`.
//!
//! Run: `cargo bench -p shoal-router --bench route_table`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use shoal_config::{
    HostMatch, PathMatch, Rewrite, RouteConfig, RouteMatch, RouteTarget, SplitEntry,
};
use shoal_router::{normalize_host, rewrite_path, RequestView, RouteTable, Split};

/// 40 exact-host routes, 10 wildcard routes, 50 host-less routes with prefixes, exact paths,
/// methods and headers: a large but plausible listener.
fn hundred_routes() -> Vec<RouteConfig> {
    let mut matchers = Vec::new();
    for i in 0..40 {
        matchers.push(RouteMatch {
            host: Some(HostMatch::Exact(format!("svc{i}.example.com"))),
            path: Some(PathMatch::Prefix(format!("/api/v{}/", i % 3))),
            ..RouteMatch::default()
        });
    }
    for i in 0..10 {
        matchers.push(RouteMatch {
            host: Some(HostMatch::Wildcard(format!(".tenant{i}.example.net"))),
            ..RouteMatch::default()
        });
    }
    for i in 0..50 {
        matchers.push(match i % 5 {
            0 => RouteMatch {
                path: Some(PathMatch::Exact(format!("/static/file{i}.js"))),
                ..RouteMatch::default()
            },
            1 => RouteMatch {
                path: Some(PathMatch::Prefix(format!("/team{i}/"))),
                methods: vec![Method::POST],
                ..RouteMatch::default()
            },
            2 => RouteMatch {
                path: Some(PathMatch::Prefix(format!("/team{i}/"))),
                headers: vec![(HeaderName::from_static("x-canary"), "yes".into())],
                ..RouteMatch::default()
            },
            _ => RouteMatch {
                path: Some(PathMatch::Prefix(format!("/service{i}/"))),
                ..RouteMatch::default()
            },
        });
    }
    matchers
        .into_iter()
        .enumerate()
        .map(|(index, matcher)| RouteConfig {
            index,
            matcher,
            target: RouteTarget::Upstream("u".into()),
            rewrite: None,
            filters: Vec::new(),
        })
        .collect()
}

fn bench_find(c: &mut Criterion) {
    let table = RouteTable::new(&hundred_routes());
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", HeaderValue::from_static("bench"));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    let get = Method::GET;
    let cases = [
        (
            "exact_host_hit",
            Some("svc17.example.com:8080"),
            "/api/v2/users",
        ),
        (
            "exact_host_upper_case",
            Some("SVC17.Example.com"),
            "/api/v2/users",
        ),
        ("wildcard_hit", Some("a.tenant7.example.net"), "/anything"),
        ("hostless_last_route", Some("unknown.org"), "/service49/x"),
        ("no_match_404", Some("unknown.org"), "/nothing/here"),
        ("no_host_404", None, "/nothing/here"),
    ];
    for (name, host, path) in cases {
        let req = RequestView {
            host,
            path,
            method: &get,
            headers: &headers,
        };
        c.bench_function(&format!("find/{name}"), |b| {
            b.iter(|| table.find(black_box(&req)))
        });
    }
}

fn bench_parts(c: &mut Criterion) {
    c.bench_function("normalize_host/lower_with_port", |b| {
        b.iter(|| normalize_host(black_box("api.example.com:8443")))
    });
    let split = Split::new(&[
        SplitEntry {
            upstream: "stable".into(),
            weight: 95,
        },
        SplitEntry {
            upstream: "canary".into(),
            weight: 4,
        },
        SplitEntry {
            upstream: "next".into(),
            weight: 1,
        },
    ]);
    let mut roll = 0x9e37_79b9_7f4a_7c15_u64;
    c.bench_function("split/pick_3", |b| {
        b.iter(|| {
            roll = roll.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            split.pick(black_box(roll))
        })
    });
    let rule = Rewrite::ReplacePrefix {
        from: "/v1/".into(),
        to: "/v2/".into(),
    };
    c.bench_function("rewrite/replace_prefix", |b| {
        b.iter(|| rewrite_path(black_box(&rule), black_box("/v1/users/42")))
    });
}

criterion_group!(benches, bench_find, bench_parts);
criterion_main!(benches);
