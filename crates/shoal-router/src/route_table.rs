//! [`RouteTable`]: which of a listener's routes a request takes.
//!
//! # Matching
//!
//! A route matches when every part of its `match` holds (an absent part holds for every
//! request, so a route without `match` matches everything):
//!
//! - **host** — the request host is normalised first ([`normalize_host`]: lower-case, no port,
//!   no trailing dot). `Exact(h)`: equal to `h`. `Wildcard(".example.com")`: ends with the
//!   suffix *and* is longer than it, so `a.example.com` and `a.b.example.com` match but
//!   `example.com` does not. A request without a host, or with one that is not a valid host,
//!   matches only routes without a host part (the proxy answers 400 to an invalid host before
//!   routing anyway).
//! - **path** — `Exact(p)`: the path equals `p`. `Prefix(p)`: the path starts with `p`, byte
//!   for byte (write `/v1/` to stop `/v1` from matching `/v10`). The path is the URI path
//!   without the query string.
//! - **methods** — empty means any; otherwise the request method is one of them.
//! - **headers** — each `(name, value)` pair holds when the request has a header `name` with
//!   exactly `value` (case-sensitive, no trimming, no splitting on commas); when the header is
//!   sent several times, any one of its values may equal it.
//!
//! # Precedence (a user-facing contract)
//!
//! When several routes match, the most specific one wins. Routes are compared on these keys,
//! in this order; the first key that differs decides:
//!
//! 1. **Host**: exact host > wildcard host > no host. Between two wildcards, the longer suffix
//!    wins (`*.api.example.com` over `*.example.com`).
//! 2. **Path**: exact `path` > `path_prefix` > no path. Between two prefixes, the longer one
//!    (in bytes) wins.
//! 3. **Constraints**: more wins, counting 1 for a non-empty `methods` list plus 1 per
//!    `headers` pair. A `methods` list counts once whatever its length, because listing more
//!    methods makes a route match *more* requests, not fewer.
//! 4. **File order**: the lower `index` (earlier in the listener's `routes`) wins.
//!
//! The host key dominates: `host = "*.example.com"` with no path beats a host-less route with
//! `path = "/exact"`. This is what docs/config.md promises: exact host over wildcard over none,
//! longer path prefix over shorter, exact path over prefix, ties in file order.
//!
//! # Lookup
//!
//! [`RouteTable::new`] sorts the routes by precedence once and files them in three places:
//! a `HashMap` from exact host to its routes, a list of wildcard groups (longest suffix first),
//! and the host-less routes. Because the host is the first precedence key, every candidate in
//! the request host's bucket outranks every wildcard candidate, which outranks every host-less
//! one; so [`RouteTable::find`] walks bucket, then wildcards, then host-less routes, and the
//! first route that matches is the answer: the "merge" of the three lists is a concatenation.
//! Routes for other exact hosts are never looked at. `find` does not allocate unless the host
//! needs lowering (see [`normalize_host`]).

use std::cmp::Reverse;
use std::collections::HashMap;
use std::net::Ipv6Addr;

use http::{HeaderMap, HeaderName, Method};
use shoal_config::{HostMatch, PathMatch, RouteConfig};

use crate::host::normalize_host;

/// What the router needs of a request. Borrowed from the request head: building one is free.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The raw `Host` header or URI authority: may carry a port, upper case, a trailing dot.
    /// `None` when the request has neither.
    pub host: Option<&'a str>,
    /// The URI path, without the query string.
    pub path: &'a str,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
}

/// A listener's routes, compiled for lookup. Immutable; built once per config snapshot.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// Exact host (normalised) → its routes, most specific first.
    exact: HashMap<Box<str>, Vec<Candidate>>,
    /// One group per distinct wildcard suffix, longest suffix first.
    wildcards: Vec<WildcardGroup>,
    /// Routes without a host part, most specific first.
    any_host: Vec<Candidate>,
    len: usize,
}

#[derive(Debug, Clone)]
struct WildcardGroup {
    /// `.example.com`
    suffix: Box<str>,
    routes: Vec<Candidate>,
}

/// The non-host part of a route, checked once its host bucket has been chosen.
#[derive(Debug, Clone)]
struct Candidate {
    index: usize,
    path: Option<PathMatch>,
    methods: Box<[Method]>,
    headers: Box<[(HeaderName, String)]>,
}

/// Precedence sort key: smaller is more specific. Derived `Ord` compares fields top to bottom
/// and enum variants in declaration order, which is exactly the documented precedence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    host: HostRank,
    path: PathRank,
    constraints: Reverse<usize>,
    index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum HostRank {
    Exact,
    Wildcard(Reverse<usize>),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PathRank {
    Exact,
    Prefix(Reverse<usize>),
    Any,
}

/// Where a route is filed, by its host part.
enum HostKey {
    Exact(String),
    Wildcard(String),
    Any,
}

impl RouteTable {
    /// Compiles a listener's routes. Never fails: the config has been validated, and a host
    /// pattern that still is not a valid host simply never matches.
    pub fn new(routes: &[RouteConfig]) -> RouteTable {
        let mut ranked: Vec<(Rank, HostKey, Candidate)> = routes
            .iter()
            .map(|route| {
                let key = host_key(route.matcher.host.as_ref());
                (rank(route, &key), key, candidate(route))
            })
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0));

        let mut table = RouteTable {
            len: ranked.len(),
            ..RouteTable::default()
        };
        // Filing in sorted order keeps every bucket sorted, and wildcard groups come out
        // longest suffix first (suffix length is part of the rank).
        let mut group_of_suffix: HashMap<String, usize> = HashMap::new();
        for (_, key, candidate) in ranked {
            match key {
                HostKey::Exact(host) => table
                    .exact
                    .entry(host.into_boxed_str())
                    .or_default()
                    .push(candidate),
                HostKey::Wildcard(suffix) => match group_of_suffix.get(&suffix) {
                    Some(&g) => table.wildcards[g].routes.push(candidate),
                    None => {
                        group_of_suffix.insert(suffix.clone(), table.wildcards.len());
                        table.wildcards.push(WildcardGroup {
                            suffix: suffix.into_boxed_str(),
                            routes: vec![candidate],
                        });
                    }
                },
                HostKey::Any => table.any_host.push(candidate),
            }
        }
        table
    }

    /// The `index` of the most specific route matching `req` (see the module docs), or `None`
    /// when no route matches (the proxy answers 404).
    pub fn find(&self, req: &RequestView<'_>) -> Option<usize> {
        // Host-qualified routes are only worth a normalisation when the table has any.
        let has_host_routes = !self.exact.is_empty() || !self.wildcards.is_empty();
        if has_host_routes {
            if let Some(host) = req.host.and_then(normalize_host) {
                let host: &str = &host;
                if let Some(index) = self.exact.get(host).and_then(|b| first_match(b, req)) {
                    return Some(index);
                }
                for group in &self.wildcards {
                    if host.len() > group.suffix.len() && host.ends_with(&*group.suffix) {
                        if let Some(index) = first_match(&group.routes, req) {
                            return Some(index);
                        }
                    }
                }
            }
        }
        first_match(&self.any_host, req)
    }

    /// Number of routes in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the listener has no routes (every request gets 404).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn first_match(routes: &[Candidate], req: &RequestView<'_>) -> Option<usize> {
    routes.iter().find(|c| c.matches(req)).map(|c| c.index)
}

impl Candidate {
    fn matches(&self, req: &RequestView<'_>) -> bool {
        let path_ok = match &self.path {
            None => true,
            Some(PathMatch::Exact(p)) => req.path == p,
            Some(PathMatch::Prefix(p)) => req.path.starts_with(p.as_str()),
        };
        path_ok
            && (self.methods.is_empty() || self.methods.contains(req.method))
            && self.headers.iter().all(|(name, value)| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            })
    }
}

fn candidate(route: &RouteConfig) -> Candidate {
    Candidate {
        index: route.index,
        path: route.matcher.path.clone(),
        methods: route.matcher.methods.clone().into_boxed_slice(),
        headers: route.matcher.headers.clone().into_boxed_slice(),
    }
}

/// Normalises a route's host pattern the same way request hosts are normalised, so a pattern
/// the validator let through in an unusual spelling (`API.example.com`, `::1`) still matches.
fn host_key(host: Option<&HostMatch>) -> HostKey {
    match host {
        None => HostKey::Any,
        Some(HostMatch::Exact(h)) => {
            let normalized = match normalize_host(h) {
                Some(n) => n.into_owned(),
                None => match h.parse::<Ipv6Addr>() {
                    Ok(addr) => format!("[{addr}]"),
                    // Not a host: keep it; no normalised request host can equal it.
                    Err(_) => h.to_ascii_lowercase(),
                },
            };
            HostKey::Exact(normalized)
        }
        Some(HostMatch::Wildcard(suffix)) => {
            let suffix = suffix.to_ascii_lowercase();
            // The suffix must start at a label boundary, or `.example.com` stored as
            // `example.com` would let `badexample.com` in.
            let suffix = if suffix.starts_with('.') {
                suffix
            } else {
                format!(".{suffix}")
            };
            HostKey::Wildcard(suffix)
        }
    }
}

fn rank(route: &RouteConfig, key: &HostKey) -> Rank {
    let m = &route.matcher;
    Rank {
        host: match key {
            HostKey::Exact(_) => HostRank::Exact,
            HostKey::Wildcard(suffix) => HostRank::Wildcard(Reverse(suffix.len())),
            HostKey::Any => HostRank::Any,
        },
        path: match &m.path {
            Some(PathMatch::Exact(_)) => PathRank::Exact,
            Some(PathMatch::Prefix(p)) => PathRank::Prefix(Reverse(p.len())),
            None => PathRank::Any,
        },
        constraints: Reverse(usize::from(!m.methods.is_empty()) + m.headers.len()),
        index: route.index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use shoal_config::{RouteMatch, RouteTarget};

    fn route(index: usize, matcher: RouteMatch) -> RouteConfig {
        RouteConfig {
            index,
            matcher,
            target: RouteTarget::Upstream("u".into()),
            rewrite: None,
            filters: Vec::new(),
        }
    }

    fn get<'a>(host: Option<&'a str>, path: &'a str, headers: &'a HeaderMap) -> RequestView<'a> {
        RequestView {
            host,
            path,
            method: &Method::GET,
            headers,
        }
    }

    #[test]
    fn table_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RouteTable>();
    }

    #[test]
    fn empty_table_matches_nothing() {
        let t = RouteTable::new(&[]);
        assert!(t.is_empty());
        assert_eq!(t.find(&get(Some("a"), "/", &HeaderMap::new())), None);
    }

    #[test]
    fn route_without_match_matches_everything() {
        let t = RouteTable::new(&[route(0, RouteMatch::default())]);
        let h = HeaderMap::new();
        assert_eq!(t.find(&get(None, "/", &h)), Some(0));
        assert_eq!(t.find(&get(Some("x.y"), "/a/b", &h)), Some(0));
        assert_eq!(t.find(&get(Some("bad host"), "/a/b", &h)), Some(0));
    }

    #[test]
    fn exact_host_is_compared_after_normalisation() {
        let t = RouteTable::new(&[route(
            0,
            RouteMatch {
                host: Some(HostMatch::Exact("api.example.com".into())),
                ..RouteMatch::default()
            },
        )]);
        let h = HeaderMap::new();
        for host in [
            "api.example.com",
            "API.Example.COM",
            "api.example.com.:8443",
        ] {
            assert_eq!(t.find(&get(Some(host), "/", &h)), Some(0), "{host}");
        }
        for host in [
            Some("example.com"),
            Some("x.api.example.com"),
            Some("a:1:2"),
            None,
        ] {
            assert_eq!(t.find(&get(host, "/", &h)), None, "{host:?}");
        }
    }

    #[test]
    fn wildcard_needs_a_label_before_the_suffix() {
        let t = RouteTable::new(&[route(
            0,
            RouteMatch {
                host: Some(HostMatch::Wildcard(".example.com".into())),
                ..RouteMatch::default()
            },
        )]);
        let h = HeaderMap::new();
        assert_eq!(t.find(&get(Some("a.example.com"), "/", &h)), Some(0));
        assert_eq!(t.find(&get(Some("A.B.Example.com:80"), "/", &h)), Some(0));
        assert_eq!(t.find(&get(Some("example.com"), "/", &h)), None);
        assert_eq!(t.find(&get(Some("badexample.com"), "/", &h)), None);
        assert_eq!(t.find(&get(Some("example.com.evil"), "/", &h)), None);
    }

    #[test]
    fn ipv6_host_routes_match_any_spelling_of_the_address() {
        let t = RouteTable::new(&[
            route(
                0,
                RouteMatch {
                    host: Some(HostMatch::Exact("[::1]".into())),
                    ..RouteMatch::default()
                },
            ),
            route(
                1,
                RouteMatch {
                    host: Some(HostMatch::Exact("2001:db8::1".into())),
                    ..RouteMatch::default()
                },
            ),
        ]);
        let h = HeaderMap::new();
        assert_eq!(t.find(&get(Some("[0:0::1]:8080"), "/", &h)), Some(0));
        assert_eq!(t.find(&get(Some("[2001:DB8:0::1]"), "/", &h)), Some(1));
    }

    #[test]
    fn path_exact_and_prefix() {
        let t = RouteTable::new(&[
            route(
                0,
                RouteMatch {
                    path: Some(PathMatch::Exact("/health".into())),
                    ..RouteMatch::default()
                },
            ),
            route(
                1,
                RouteMatch {
                    path: Some(PathMatch::Prefix("/v1/".into())),
                    ..RouteMatch::default()
                },
            ),
        ]);
        let h = HeaderMap::new();
        assert_eq!(t.find(&get(None, "/health", &h)), Some(0));
        assert_eq!(t.find(&get(None, "/health/x", &h)), None);
        assert_eq!(t.find(&get(None, "/v1/users", &h)), Some(1));
        assert_eq!(t.find(&get(None, "/v1/", &h)), Some(1));
        assert_eq!(t.find(&get(None, "/v1", &h)), None);
        assert_eq!(t.find(&get(None, "/v10", &h)), None);
    }

    #[test]
    fn methods_restrict_and_empty_means_any() {
        let t = RouteTable::new(&[route(
            0,
            RouteMatch {
                methods: vec![Method::POST, Method::PUT],
                ..RouteMatch::default()
            },
        )]);
        let h = HeaderMap::new();
        let mut req = get(None, "/", &h);
        assert_eq!(t.find(&req), None);
        req.method = &Method::PUT;
        assert_eq!(t.find(&req), Some(0));
    }

    #[test]
    fn headers_need_an_exact_value_among_repeats() {
        let t = RouteTable::new(&[route(
            0,
            RouteMatch {
                headers: vec![(HeaderName::from_static("x-canary"), "yes".into())],
                ..RouteMatch::default()
            },
        )]);
        let mut h = HeaderMap::new();
        assert_eq!(t.find(&get(None, "/", &h)), None);
        h.append("x-canary", HeaderValue::from_static("no"));
        assert_eq!(t.find(&get(None, "/", &h)), None);
        h.append("x-canary", HeaderValue::from_static("YES"));
        assert_eq!(t.find(&get(None, "/", &h)), None);
        h.append("x-canary", HeaderValue::from_static("yes"));
        assert_eq!(t.find(&get(None, "/", &h)), Some(0));

        let mut comma = HeaderMap::new();
        comma.insert("x-canary", HeaderValue::from_static("no, yes"));
        assert_eq!(t.find(&get(None, "/", &comma)), None);
    }

    #[test]
    fn every_header_pair_must_hold() {
        let t = RouteTable::new(&[route(
            0,
            RouteMatch {
                headers: vec![
                    (HeaderName::from_static("x-a"), "1".into()),
                    (HeaderName::from_static("x-b"), "2".into()),
                ],
                ..RouteMatch::default()
            },
        )]);
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        assert_eq!(t.find(&get(None, "/", &h)), None);
        h.insert("x-b", HeaderValue::from_static("2"));
        assert_eq!(t.find(&get(None, "/", &h)), Some(0));
    }

    #[test]
    fn a_failing_host_bucket_falls_through_to_wildcards_then_any() {
        let t = RouteTable::new(&[
            route(
                0,
                RouteMatch {
                    host: Some(HostMatch::Exact("a.example.com".into())),
                    path: Some(PathMatch::Prefix("/only".into())),
                    ..RouteMatch::default()
                },
            ),
            route(
                1,
                RouteMatch {
                    host: Some(HostMatch::Wildcard(".example.com".into())),
                    path: Some(PathMatch::Prefix("/wild".into())),
                    ..RouteMatch::default()
                },
            ),
            route(2, RouteMatch::default()),
        ]);
        let h = HeaderMap::new();
        assert_eq!(t.find(&get(Some("a.example.com"), "/only", &h)), Some(0));
        assert_eq!(t.find(&get(Some("a.example.com"), "/wild", &h)), Some(1));
        assert_eq!(t.find(&get(Some("a.example.com"), "/other", &h)), Some(2));
    }

    #[test]
    fn rank_order_is_the_documented_contract() {
        let ranks = [
            (HostRank::Exact, PathRank::Any),
            (HostRank::Wildcard(Reverse(12)), PathRank::Exact),
            (HostRank::Wildcard(Reverse(4)), PathRank::Exact),
            (HostRank::Any, PathRank::Exact),
            (HostRank::Any, PathRank::Prefix(Reverse(10))),
            (HostRank::Any, PathRank::Prefix(Reverse(1))),
            (HostRank::Any, PathRank::Any),
        ];
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
    }
}
