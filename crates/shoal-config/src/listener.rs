//! `[listeners.NAME]`: bind address, protocol, client-side limits and timeouts, and either the
//! listener's routes (http; parsed in `route.rs`) or its one upstream (tcp).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::document::{all, Ctx, Node, Table};
use crate::listener_tls;
use crate::route;
use crate::route_match;
use crate::types::{
    ForwardedFor, HostMatch, ListenerConfig, ListenerProtocol, ProxyProtocol, RouteConfig, SniRoute,
};

const KEYS: &[&str] = &[
    "bind",
    "protocol",
    "x_forwarded_for",
    "header_read_timeout",
    "idle_timeout",
    "max_header_bytes",
    "max_connections",
    "routes",
    "upstream",
    "proxy_protocol",
    "accept_proxy_protocol",
    "sni",
    "tls",
    "redirect_https",
];

const PROXY_PROTOCOLS: &[(&str, ProxyProtocol)] =
    &[("v1", ProxyProtocol::V1), ("v2", ProxyProtocol::V2)];

/// Accepted `protocol` values.
const PROTOCOLS: &[(&str, ListenerProtocol)] = &[
    ("http", ListenerProtocol::Http),
    ("https", ListenerProtocol::Https),
    ("tcp", ListenerProtocol::Tcp),
    ("tls_passthrough", ListenerProtocol::TlsPassthrough),
];

const FORWARDED_FOR: &[(&str, ForwardedFor)] = &[
    ("append", ForwardedFor::Append),
    ("replace", ForwardedFor::Replace),
];

pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
// hyper reads a request head into a buffer of at least 8 KiB, so a smaller limit could not be
// enforced as written.
const MAX_HEADER_BYTES_RANGE: std::ops::RangeInclusive<u32> = 8192..=1024 * 1024;
const MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;

/// A bind address already taken, and by which listener.
struct Bound<'n> {
    addr: SocketAddr,
    listener: &'n str,
}

/// All of `[listeners]`. `upstreams` are the upstream names the file defines, for checking
/// route targets; `base_dir` the config file's directory when loading a file (TLS files
/// are then resolved and checked).
pub(crate) fn listeners(
    ctx: &mut Ctx,
    node: Option<Node<'_, '_>>,
    upstreams: &[&str],
    base_dir: Option<&Path>,
) -> Option<Vec<ListenerConfig>> {
    const NONE: &str =
        "no listeners defined: add at least one [listeners.NAME] table with a bind address and routes";
    let Some(node) = node else {
        ctx.error("listeners", &(0..0), NONE);
        return None;
    };
    let table = ctx.table(&node)?;
    if table.is_empty() {
        ctx.error_at(&node, NONE);
        return None;
    }
    let mut bound: Vec<Bound<'_>> = Vec::new();
    let mut parsed = Vec::new();
    for (name, key_span, node) in table.entries() {
        let named = ctx.name("listener", &node.path, &key_span, name);
        let listener = listener(ctx, name, &node, upstreams, &mut bound, base_dir);
        parsed.push(listener.filter(|_| named));
    }
    all(parsed)
}

fn listener<'n>(
    ctx: &mut Ctx,
    name: &'n str,
    node: &Node<'_, '_>,
    upstreams: &[&str],
    bound: &mut Vec<Bound<'n>>,
    base_dir: Option<&Path>,
) -> Option<ListenerConfig> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, KEYS);
    let bind = ctx.required(
        &table,
        "bind",
        "the address to listen on, e.g. \"127.0.0.1:8080\"",
        |ctx, n| {
            let addr = ctx.socket_addr(n)?;
            check_unique_bind(ctx, n, addr, name, bound);
            Some(addr)
        },
    );
    let protocol = ctx.field(&table, "protocol", ListenerProtocol::Http, |ctx, n| {
        one_of(ctx, n, "protocol", PROTOCOLS)
    });
    let tcp = protocol.is_some_and(ListenerProtocol::is_l4);
    // A tcp listener refuses the HTTP-only keys; their (unused) defaults stand in.
    let http_only = |ctx: &mut Ctx, key: &str| -> Option<Node<'_, '_>> {
        let node = table.get(key)?;
        if !tcp {
            return Some(node);
        }
        ctx.error_at(
            &node,
            format!(
                "{key} is HTTP-only: a tcp listener forwards bytes without reading requests; \
                 remove it"
            ),
        );
        None
    };
    let x_forwarded_for = match http_only(ctx, "x_forwarded_for") {
        None => Some(ForwardedFor::default()),
        Some(n) => one_of(ctx, &n, "x_forwarded_for", FORWARDED_FOR),
    };
    // tcp listeners use it too: for a PROXY header and a ClientHello.
    let header_read_timeout = ctx.field(
        &table,
        "header_read_timeout",
        DEFAULT_HEADER_READ_TIMEOUT,
        |ctx, n| ctx.duration(n, false),
    );
    let max_header_bytes = match http_only(ctx, "max_header_bytes") {
        None => Some(DEFAULT_MAX_HEADER_BYTES),
        Some(n) => ctx.usize(&n, MAX_HEADER_BYTES_RANGE),
    };
    let idle_timeout = ctx.field(&table, "idle_timeout", DEFAULT_IDLE_TIMEOUT, |ctx, n| {
        ctx.duration(n, false)
    });
    let max_connections = ctx.field(&table, "max_connections", None, |ctx, n| {
        ctx.usize(n, MAX_CONNECTIONS_RANGE).map(Some)
    });
    let proxy_protocol = match table.get("proxy_protocol") {
        None => Some(None),
        Some(n) if tcp => one_of(ctx, &n, "proxy_protocol", PROXY_PROTOCOLS).map(Some),
        Some(n) => {
            ctx.error_at(
                &n,
                "proxy_protocol is for tcp listeners (http listeners pass the client address in X-Forwarded-For)"
                    .to_string(),
            );
            None
        }
    };
    let accept_proxy_protocol = match table.get("accept_proxy_protocol") {
        None => Some(None),
        Some(n) => trusted_peers(ctx, &n).map(Some),
    };
    let sni = match table.get("sni") {
        None => Some(Vec::new()),
        Some(n) if protocol == Some(ListenerProtocol::TlsPassthrough) => {
            sni_routes(ctx, &n, upstreams)
        }
        Some(n) => {
            ctx.error_at(
                &n,
                "sni is for tls_passthrough listeners (an http listener routes on Host with [[routes]])",
            );
            None
        }
    };
    let tls = match (protocol, table.get("tls")) {
        (Some(ListenerProtocol::Https), None) => {
            ctx.error(
                &table.path,
                &table.span,
                "missing key \"tls\" (an https listener needs its certificates, e.g. \
                 tls = { certificates = [{ cert = \"shop.pem\", key = \"shop.key\" }] })",
            );
            None
        }
        (Some(ListenerProtocol::Https) | None, Some(n)) => {
            listener_tls::tls(ctx, &n, base_dir).map(Some)
        }
        (Some(_), Some(n)) => {
            ctx.error_at(
                &n,
                "tls is for https listeners: set protocol = \"https\" to terminate TLS here",
            );
            None
        }
        (_, None) => Some(None),
    };
    let redirect_https = match (protocol, table.get("redirect_https")) {
        (_, None) => Some(None),
        (Some(ListenerProtocol::Http) | None, Some(n)) => listener_tls::redirect_https(ctx, &n),
        (Some(_), Some(n)) => {
            ctx.error_at(
                &n,
                "redirect_https is for http listeners: it answers their plain-HTTP requests \
                 with a redirect to https",
            );
            None
        }
    };
    let (routes, upstream) = match protocol {
        Some(ListenerProtocol::Http) if matches!(redirect_https, Some(Some(_))) => (
            refuse_redirect_routes(ctx, &table),
            refuse_upstream(ctx, &table),
        ),
        // An invalid redirect_https: routes may or may not be meant; check what is there.
        Some(ListenerProtocol::Http) if redirect_https.is_none() => (
            table
                .get("routes")
                .and_then(|_| route::routes(ctx, &table, upstreams)),
            refuse_upstream(ctx, &table),
        ),
        Some(ListenerProtocol::Http | ListenerProtocol::Https) => (
            route::routes(ctx, &table, upstreams),
            refuse_upstream(ctx, &table),
        ),
        Some(ListenerProtocol::Tcp) => (
            refuse_routes(ctx, &table),
            ctx.required(
                &table,
                "upstream",
                "a tcp listener sends every connection to one upstream, e.g. upstream = \"redis_shards\"",
                |ctx, n| route::upstream_ref(ctx, n, upstreams).map(Some),
            ),
        ),
        Some(ListenerProtocol::TlsPassthrough) => {
            let upstream = match table.get("upstream") {
                None => Some(None),
                Some(n) => route::upstream_ref(ctx, &n, upstreams).map(Some),
            };
            if table.get("upstream").is_none() && table.get("sni").is_none() {
                ctx.error(
                    &table.path,
                    &table.span,
                    format!(
                        "a tls_passthrough listener needs sni = {{ \"name\" = \"upstream\" }}, a default upstream, or both ({})",
                        table.path
                    ),
                );
            }
            (refuse_routes(ctx, &table), upstream)
        }
        // An invalid protocol: check what is there without requiring either shape, so the
        // one real mistake is not buried under guesses.
        None => {
            let routes = table
                .get("routes")
                .and_then(|_| route::routes(ctx, &table, upstreams));
            if let Some(n) = table.get("upstream") {
                route::upstream_ref(ctx, &n, upstreams);
            }
            (routes, None)
        }
    };
    Some(ListenerConfig {
        name: name.to_string(),
        bind: bind?,
        protocol: protocol?,
        x_forwarded_for: x_forwarded_for?,
        header_read_timeout: header_read_timeout?,
        idle_timeout: idle_timeout?,
        max_header_bytes: max_header_bytes?,
        routes: routes?,
        upstream: upstream?,
        max_connections: max_connections?,
        proxy_protocol: proxy_protocol?,
        accept_proxy_protocol: accept_proxy_protocol?,
        sni: sni?,
        tls: tls?,
        redirect_https: redirect_https?,
    })
}

/// `accept_proxy_protocol = { trusted = ["127.0.0.0/8", "10.0.0.1"] }`
fn trusted_peers(ctx: &mut Ctx, node: &Node<'_, '_>) -> Option<Vec<shoal_core::Cidr>> {
    let table = ctx.table(node)?;
    table.check_keys(ctx, &["trusted"]);
    ctx.required(
        &table,
        "trusted",
        "the networks allowed to send a PROXY header, e.g. trusted = [\"10.0.0.0/8\"]",
        |ctx, n| {
            let items = ctx.array(n)?;
            if items.is_empty() {
                ctx.error_at(
                    n,
                    "trusted is empty: list the networks of the balancers in front of this one",
                );
                return None;
            }
            let parsed = items
                .iter()
                .map(|item| {
                    let text = ctx.string(item)?;
                    match text.parse::<shoal_core::Cidr>() {
                        Ok(cidr) => Some(cidr),
                        Err(e) => {
                            ctx.error_at(item, format!("{text:?}: {e}"));
                            None
                        }
                    }
                })
                .collect();
            all(parsed)
        },
    )
}

/// `sni = { "shop.example.com" = "shop", "*.example.com" = "wild" }`
fn sni_routes(ctx: &mut Ctx, node: &Node<'_, '_>, upstreams: &[&str]) -> Option<Vec<SniRoute>> {
    let table = ctx.table(node)?;
    if table.is_empty() {
        ctx.error_at(
            node,
            "sni is empty: map server names to upstreams, e.g. sni = { \"shop.example.com\" = \"shop\" }",
        );
        return None;
    }
    let mut seen: Vec<HostMatch> = Vec::new();
    let mut parsed = Vec::new();
    for (name, key_span, value) in table.entries() {
        let host = match route_match::parse_host(name) {
            Ok(host) => Some(host),
            Err(message) => {
                ctx.error(&value.path, &key_span, message);
                None
            }
        };
        if let Some(host) = &host {
            if seen.contains(host) {
                ctx.error(
                    &value.path,
                    &key_span,
                    format!("server name {name:?} is listed twice (names are case-insensitive)"),
                );
            }
            seen.push(host.clone());
        }
        let upstream = route::upstream_ref(ctx, &value, upstreams);
        parsed.push(match (host, upstream) {
            (Some(host), Some(upstream)) => Some(SniRoute { host, upstream }),
            _ => None,
        });
    }
    all(parsed)
}

/// An http listener with `redirect_https` answers every request itself: routes would
/// never be used. Its result is the (empty) routes on success.
fn refuse_redirect_routes(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<Vec<RouteConfig>> {
    let Some(node) = table.get("routes") else {
        return Some(Vec::new());
    };
    ctx.error_at(
        &node,
        "a listener with redirect_https answers every request with a redirect: its routes \
         would never be used; remove them (or redirect_https)",
    );
    None
}

/// An http listener routes with `[[routes]]`; `upstream` belongs to tcp listeners.
fn refuse_upstream(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<Option<String>> {
    let Some(node) = table.get("upstream") else {
        return Some(None);
    };
    ctx.error_at(
        &node,
        format!(
            "only tcp listeners take an upstream; http listeners route with [[{}.routes]]",
            table.path
        ),
    );
    None
}

/// A tcp listener has no routes; its result is the (empty) routes on success.
fn refuse_routes(ctx: &mut Ctx, table: &Table<'_, '_>) -> Option<Vec<RouteConfig>> {
    let Some(node) = table.get("routes") else {
        return Some(Vec::new());
    };
    ctx.error_at(
        &node,
        "a tcp or tls_passthrough listener has no routes: it relays connections to upstreams",
    );
    None
}

/// Two listeners on one address cannot both bind it. Port 0 asks the OS for a fresh port each
/// time, so those never collide (tests rely on that).
fn check_unique_bind<'n>(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    addr: SocketAddr,
    name: &'n str,
    bound: &mut Vec<Bound<'n>>,
) {
    if addr.port() == 0 {
        return;
    }
    match bound.iter().find(|b| b.addr == addr) {
        Some(first) => {
            let other = first.listener;
            ctx.error_at(
                node,
                format!("{addr} is already bound by listener {other:?}"),
            );
        }
        None => bound.push(Bound {
            addr,
            listener: name,
        }),
    }
}

/// A string that must be one of a fixed set of spellings; the message lists them all.
pub(crate) fn one_of<T: Copy>(
    ctx: &mut Ctx,
    node: &Node<'_, '_>,
    what: &str,
    choices: &[(&str, T)],
) -> Option<T> {
    let text = ctx.string(node)?;
    if let Some((_, value)) = choices.iter().find(|(spelling, _)| *spelling == text) {
        return Some(*value);
    }
    let names: Vec<&str> = choices.iter().map(|(s, _)| *s).collect();
    ctx.error_at(
        node,
        format!("unknown {what} {text:?} (accepted: {})", names.join(", ")),
    );
    None
}
