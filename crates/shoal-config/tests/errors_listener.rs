//! Listener and route errors: each with its exact path and line, and nothing else reported.

mod common;

use common::{assert_error, assert_errors, BASE, UPSTREAM_FIRST};

/// A listener `web` (line 3) with one route (line 5) after the upstream, plus `extra`.
fn listener(bind_and_keys: &str, route: &str) -> String {
    format!("{UPSTREAM_FIRST}[listeners.web]\n{bind_and_keys}\n[[listeners.web.routes]]\n{route}\n")
}

#[test]
fn no_listeners_at_all() {
    assert_errors(
        UPSTREAM_FIRST,
        &[("listeners", None, "no listeners defined")],
    );
    assert_errors("", &[("listeners", None, "no listeners defined")]);
    assert_error(
        &format!("listeners = {{}}\n{UPSTREAM_FIRST}"),
        "listeners",
        1,
        "no listeners defined",
    );
}

#[test]
fn bind_is_required_and_must_be_a_socket_address() {
    assert_error(
        &listener("protocol = \"http\"", "upstream = \"api\""),
        "listeners.web",
        3,
        "missing key \"bind\"",
    );
    assert_error(
        &listener("bind = \"10.0.0:80\"", "upstream = \"api\""),
        "listeners.web.bind",
        4,
        "\"10.0.0:80\" is not a socket address",
    );
    assert_error(
        &listener("bind = \"10.0.0.1\"", "upstream = \"api\""),
        "listeners.web.bind",
        4,
        "add a port",
    );
    assert_error(
        &listener("bind = \"localhost:80\"", "upstream = \"api\""),
        "listeners.web.bind",
        4,
        "host names are not resolved",
    );
    assert_error(
        &listener("bind = 8080", "upstream = \"api\""),
        "listeners.web.bind",
        4,
        "expected a string, found an integer",
    );
}

#[test]
fn duplicate_binds_across_listeners() {
    let text = format!(
        "{BASE}[listeners.other]\nbind = \"127.0.0.1:8080\"\nroutes = [{{ upstream = \"api\" }}]\n"
    );
    assert_error(
        &text,
        "listeners.other.bind",
        8,
        "127.0.0.1:8080 is already bound by listener \"web\"",
    );
}

#[test]
fn unknown_protocol_lists_the_accepted_ones() {
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"\nprotocol = \"quic\"",
            "upstream = \"api\"",
        ),
        "listeners.web.protocol",
        5,
        "unknown protocol \"quic\" (accepted: http, https, tcp, tls_passthrough)",
    );
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"\nx_forwarded_for = \"keep\"",
            "upstream = \"api\"",
        ),
        "listeners.web.x_forwarded_for",
        5,
        "(accepted: append, replace)",
    );
}

#[test]
fn listener_limits_and_timeouts() {
    let keys = "bind = \"127.0.0.1:1\"\nheader_read_timeout = \"0s\"\nidle_timeout = \"soon\"\nmax_header_bytes = 512";
    assert_errors(
        &listener(keys, "upstream = \"api\""),
        &[
            (
                "listeners.web.header_read_timeout",
                Some(5),
                "must be greater than zero",
            ),
            (
                "listeners.web.idle_timeout",
                Some(6),
                "\"soon\" is not a duration",
            ),
            (
                "listeners.web.max_header_bytes",
                Some(7),
                "must be between 8192 and 1048576, got 512",
            ),
        ],
    );
}

#[test]
fn listener_without_routes() {
    let missing = format!("{UPSTREAM_FIRST}[listeners.web]\nbind = \"127.0.0.1:1\"\n");
    assert_error(
        &missing,
        "listeners.web",
        3,
        "listener has no routes: add at least one [[listeners.web.routes]] table",
    );
    let empty = format!("{UPSTREAM_FIRST}[listeners.web]\nbind = \"127.0.0.1:1\"\nroutes = []\n");
    assert_error(&empty, "listeners.web.routes", 5, "listener has no routes");
    let single = format!("{UPSTREAM_FIRST}[listeners.web]\nbind = \"127.0.0.1:1\"\n[listeners.web.routes]\nupstream = \"api\"\n");
    assert_error(
        &single,
        "listeners.web.routes",
        5,
        "write [[listeners.web.routes]] with double brackets",
    );
}

#[test]
fn invalid_listener_name() {
    let text = format!(
        "{UPSTREAM_FIRST}[listeners.\"my web\"]\nbind = \"127.0.0.1:1\"\nroutes = [{{ upstream = \"api\" }}]\n"
    );
    assert_error(
        &text,
        "listeners.\"my web\"",
        3,
        "listener name \"my web\" may only contain letters, digits, '_' and '-'",
    );
}

#[test]
fn route_naming_a_missing_upstream() {
    assert_error(
        &listener("bind = \"127.0.0.1:1\"", "upstream = \"apx\""),
        "listeners.web.routes[0].upstream",
        6,
        "no upstream named \"apx\" (did you mean \"api\"?)",
    );
    assert_error(
        &listener("bind = \"127.0.0.1:1\"", "upstream = \"billing\""),
        "listeners.web.routes[0].upstream",
        6,
        "no upstream named \"billing\" (defined: api)",
    );
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"",
            "split = [{ upstream = \"api\", weight = 1 }, { upstream = \"nope\", weight = 1 }]",
        ),
        "listeners.web.routes[0].split[1].upstream",
        6,
        "no upstream named \"nope\"",
    );
    let no_upstreams =
        "[listeners.web]\nbind = \"127.0.0.1:1\"\nroutes = [{ upstream = \"api\" }]\n";
    assert_error(
        no_upstreams,
        "listeners.web.routes[0].upstream",
        3,
        "no upstreams are defined",
    );
}

#[test]
fn route_needs_exactly_one_target() {
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"",
            "upstream = \"api\"\nsplit = [{ upstream = \"api\", weight = 1 }]",
        ),
        "listeners.web.routes[0]",
        5,
        "route has both `upstream` and `split`",
    );
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"",
            "rewrite = { strip_prefix = \"/a\" }",
        ),
        "listeners.web.routes[0]",
        5,
        "route has no target",
    );
}

#[test]
fn split_weights_and_entries() {
    let split = "split = [{ upstream = \"api\", weight = 0 }, { upstream = \"api\", weight = 2 }, \
                 \"api\", { upstream = \"api\" }, { upstream = \"api\", weight = 1, wieght = 2 }]";
    assert_errors(
        &listener("bind = \"127.0.0.1:1\"", split),
        &[
            (
                "listeners.web.routes[0].split[0].weight",
                Some(6),
                "must be between 1 and 10000, got 0",
            ),
            (
                "listeners.web.routes[0].split[1].upstream",
                Some(6),
                "upstream \"api\" is already in this split at split[0]",
            ),
            (
                "listeners.web.routes[0].split[2]",
                Some(6),
                "expected a table { upstream = \"NAME\", weight = N }, found a string",
            ),
            (
                "listeners.web.routes[0].split[3]",
                Some(6),
                "missing key \"weight\"",
            ),
            (
                "listeners.web.routes[0].split[3].upstream",
                Some(6),
                "already in this split",
            ),
            (
                "listeners.web.routes[0].split[4].upstream",
                Some(6),
                "already in this split",
            ),
            (
                "listeners.web.routes[0].split[4].wieght",
                Some(6),
                "did you mean \"weight\"?",
            ),
        ],
    );
    assert_error(
        &listener("bind = \"127.0.0.1:1\"", "split = []"),
        "listeners.web.routes[0].split",
        6,
        "split is empty",
    );
}

#[test]
fn match_host_and_path() {
    let route = |m: &str| {
        listener(
            "bind = \"127.0.0.1:1\"",
            &format!("upstream = \"api\"\nmatch = {m}"),
        )
    };
    assert_error(
        &route("{ host = \"api.example.com:443\" }"),
        "listeners.web.routes[0].match.host",
        7,
        "without a port",
    );
    assert_error(
        &route("{ host = \"api..example.com\" }"),
        "listeners.web.routes[0].match.host",
        7,
        "not a valid host name",
    );
    assert_error(
        &route("{ host = \"api.*.com\" }"),
        "listeners.web.routes[0].match.host",
        7,
        "only a leading \"*.\" wildcard",
    );
    assert_error(
        &route("{ path_prefix = \"v1/\" }"),
        "listeners.web.routes[0].match.path_prefix",
        7,
        "path_prefix must start with \"/\" (got \"v1/\")",
    );
    assert_error(
        &route("{ path = \"/a?b=c\" }"),
        "listeners.web.routes[0].match.path",
        7,
        "contains '?'",
    );
    assert_error(
        &route("{ path = \"/a\", path_prefix = \"/a\" }"),
        "listeners.web.routes[0].match",
        7,
        "match has both `path` and `path_prefix`",
    );
    assert_error(
        &route("{ hots = \"a.com\" }"),
        "listeners.web.routes[0].match.hots",
        7,
        "unknown key \"hots\", did you mean \"host\"?",
    );
}

#[test]
fn match_methods_and_headers() {
    let route = |m: &str| {
        listener(
            "bind = \"127.0.0.1:1\"",
            &format!("upstream = \"api\"\nmatch = {m}"),
        )
    };
    assert_error(
        &route("{ methods = [] }"),
        "listeners.web.routes[0].match.methods",
        7,
        "methods is empty",
    );
    assert_error(
        &route("{ methods = [\"GET\", \"GE T\"] }"),
        "listeners.web.routes[0].match.methods[1]",
        7,
        "\"GE T\" is not an HTTP method",
    );
    assert_errors(
        &route("{ methods = [\"\", 3] }"),
        &[
            (
                "listeners.web.routes[0].match.methods[0]",
                Some(7),
                "\"\" is not an HTTP method",
            ),
            (
                "listeners.web.routes[0].match.methods[1]",
                Some(7),
                "expected a string, found an integer",
            ),
        ],
    );
    assert_error(
        &route("{ headers = { \"x y\" = \"1\" } }"),
        "listeners.web.routes[0].match.headers.\"x y\"",
        7,
        "\"x y\" is not a valid header name",
    );
    assert_error(
        &route("{ headers = { x-a = \"line\\nbreak\" } }"),
        "listeners.web.routes[0].match.headers.x-a",
        7,
        "is not a valid header value",
    );
    assert_error(
        &route("{ headers = { X-A = \"1\", x-a = \"2\" } }"),
        "listeners.web.routes[0].match.headers.x-a",
        7,
        "header \"x-a\" is listed twice",
    );
}

#[test]
fn rewrite_shapes() {
    let route = |r: &str| {
        listener(
            "bind = \"127.0.0.1:1\"",
            &format!("upstream = \"api\"\nrewrite = {r}"),
        )
    };
    assert_error(
        &route("{}"),
        "listeners.web.routes[0].rewrite",
        7,
        "rewrite is empty",
    );
    assert_error(
        &route("{ strip_prefix = \"/a\", replace_prefix = { from = \"/a\", to = \"/b\" } }"),
        "listeners.web.routes[0].rewrite",
        7,
        "rewrite has both",
    );
    assert_error(
        &route("{ strip_prefix = \"a\" }"),
        "listeners.web.routes[0].rewrite.strip_prefix",
        7,
        "strip_prefix must start with \"/\"",
    );
    assert_errors(
        &route("{ replace_prefix = { from = \"/a\", too = \"/b\" } }"),
        &[
            (
                "listeners.web.routes[0].rewrite.replace_prefix",
                Some(7),
                "missing key \"to\"",
            ),
            (
                "listeners.web.routes[0].rewrite.replace_prefix.too",
                Some(7),
                "did you mean \"to\"?",
            ),
        ],
    );
}

/// A tcp listener `db` on line 3 after the upstream; `keys` start on line 6.
fn tcp(keys: &str) -> String {
    format!(
        "{UPSTREAM_FIRST}[listeners.db]\nbind = \"127.0.0.1:6380\"\nprotocol = \"tcp\"\n{keys}\n"
    )
}

#[test]
fn tcp_listener_needs_an_existing_upstream() {
    assert_error(&tcp(""), "listeners.db", 3, "missing key \"upstream\"");
    assert_error(
        &tcp("upstream = \"apu\""),
        "listeners.db.upstream",
        6,
        "no upstream named \"apu\" (did you mean \"api\"?)",
    );
    assert_error(
        &tcp("upstream = 7"),
        "listeners.db.upstream",
        6,
        "expected a string, found an integer",
    );
}

#[test]
fn tcp_listener_has_no_routes() {
    assert_error(
        &tcp("upstream = \"api\"\nroutes = [{ upstream = \"api\" }]"),
        "listeners.db.routes",
        7,
        "a tcp or tls_passthrough listener has no routes: it relays connections to upstreams",
    );
    // Both mistakes at once are both reported.
    let text = format!("{}[[listeners.db.routes]]\nupstream = \"api\"\n", tcp(""));
    assert_errors(
        &text,
        &[
            ("listeners.db", Some(3), "missing key \"upstream\""),
            (
                "listeners.db.routes",
                Some(7),
                "a tcp or tls_passthrough listener has no routes",
            ),
        ],
    );
}

#[test]
fn tcp_listener_refuses_http_only_keys() {
    // header_read_timeout is not among them: it bounds a PROXY header or ClientHello.
    let keys = "upstream = \"api\"\nx_forwarded_for = \"append\"\nheader_read_timeout = \"5s\"\nmax_header_bytes = 8192";
    assert_errors(
        &tcp(keys),
        &[
            (
                "listeners.db.x_forwarded_for",
                Some(7),
                "x_forwarded_for is HTTP-only",
            ),
            (
                "listeners.db.max_header_bytes",
                Some(9),
                "max_header_bytes is HTTP-only",
            ),
        ],
    );
}

#[test]
fn http_listener_refuses_an_upstream() {
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"\nupstream = \"api\"",
            "upstream = \"api\"",
        ),
        "listeners.web.upstream",
        5,
        "only tcp listeners take an upstream; http listeners route with [[listeners.web.routes]]",
    );
    // An http listener without routes still needs them, even with an upstream.
    assert_errors(
        &format!("{UPSTREAM_FIRST}[listeners.web]\nbind = \"127.0.0.1:1\"\nupstream = \"api\"\n"),
        &[
            ("listeners.web", Some(3), "listener has no routes"),
            (
                "listeners.web.upstream",
                Some(5),
                "only tcp listeners take an upstream",
            ),
        ],
    );
}

#[test]
fn max_connections_range_for_both_protocols() {
    assert_error(
        &tcp("upstream = \"api\"\nmax_connections = 0"),
        "listeners.db.max_connections",
        7,
        "must be between 1 and 1000000, got 0",
    );
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"\nmax_connections = 1000001",
            "upstream = \"api\"",
        ),
        "listeners.web.max_connections",
        5,
        "must be between 1 and 1000000, got 1000001",
    );
    assert_error(
        &tcp("upstream = \"api\"\nidle_timeout = \"0s\""),
        "listeners.db.idle_timeout",
        7,
        "must be greater than zero",
    );
}

#[test]
fn an_unknown_protocol_does_not_guess_the_listener_shape() {
    // Neither "routes missing" nor "upstream refused": only the protocol is reported.
    assert_error(
        &format!(
            "{UPSTREAM_FIRST}[listeners.db]\nbind = \"127.0.0.1:1\"\nprotocol = \"tpc\"\nupstream = \"api\"\n"
        ),
        "listeners.db.protocol",
        5,
        "unknown protocol \"tpc\" (accepted: http, https, tcp, tls_passthrough)",
    );
}

#[test]
fn proxy_protocol_is_v1_or_v2_and_tcp_only() {
    assert_error(
        &tcp("upstream = \"api\"\nproxy_protocol = \"v3\""),
        "listeners.db.proxy_protocol",
        7,
        "(accepted: v1, v2)",
    );
    assert_error(
        &listener(
            "bind = \"127.0.0.1:1\"\nproxy_protocol = \"v2\"",
            "upstream = \"api\"",
        ),
        "listeners.web.proxy_protocol",
        5,
        "proxy_protocol is for tcp listeners",
    );
    let ok =
        shoal_config::Config::from_toml_str(&tcp("upstream = \"api\"\nproxy_protocol = \"v2\""))
            .expect("valid");
    assert_eq!(
        ok.listeners[0].proxy_protocol,
        Some(shoal_config::ProxyProtocol::V2)
    );
}

#[test]
fn accept_proxy_protocol_takes_trusted_networks() {
    let ok = shoal_config::Config::from_toml_str(&tcp(
        "upstream = \"api\"\naccept_proxy_protocol = { trusted = [\"10.0.0.0/8\", \"::1\"] }",
    ))
    .expect("valid");
    let trusted = ok.listeners[0].accept_proxy_protocol.as_ref().expect("set");
    assert_eq!(trusted.len(), 2);
    assert!(trusted[0].contains("10.9.9.9".parse().expect("ip")));
    assert_errors(
        &tcp("upstream = \"api\"\naccept_proxy_protocol = { trusted = [\"10.1.2.3/8\", \"ten\", \"10.0.0.0/40\"] }"),
        &[
            (
                "listeners.db.accept_proxy_protocol.trusted[0]",
                Some(7),
                "has host bits set past /8; did you mean 10.0.0.0/8?",
            ),
            (
                "listeners.db.accept_proxy_protocol.trusted[1]",
                Some(7),
                "\"ten\" is not an IP address",
            ),
            (
                "listeners.db.accept_proxy_protocol.trusted[2]",
                Some(7),
                "prefix length 40 is out of range (at most 32)",
            ),
        ],
    );
    assert_error(
        &tcp("upstream = \"api\"\naccept_proxy_protocol = { trusted = [] }"),
        "listeners.db.accept_proxy_protocol.trusted",
        7,
        "trusted is empty",
    );
    assert_errors(
        &tcp("upstream = \"api\"\naccept_proxy_protocol = { from = [\"10.0.0.0/8\"] }"),
        &[
            (
                "listeners.db.accept_proxy_protocol",
                Some(7),
                "missing key \"trusted\"",
            ),
            (
                "listeners.db.accept_proxy_protocol.from",
                Some(7),
                "unknown key \"from\" (accepted keys: trusted)",
            ),
        ],
    );
    // http listeners take it too (a balancer in front of an HTTP listener).
    let http = shoal_config::Config::from_toml_str(&listener(
        "bind = \"127.0.0.1:1\"\naccept_proxy_protocol = { trusted = [\"10.0.0.0/8\"] }",
        "upstream = \"api\"",
    ))
    .expect("valid on http");
    assert!(http.listeners[0].accept_proxy_protocol.is_some());
}

fn passthrough(keys: &str) -> String {
    format!(
        "{UPSTREAM_FIRST}[listeners.edge]\nbind = \"127.0.0.1:8443\"\nprotocol = \"tls_passthrough\"\n{keys}\n"
    )
}

#[test]
fn tls_passthrough_routes_server_names_to_upstreams() {
    let ok = shoal_config::Config::from_toml_str(&passthrough(
        "sni = { \"Shop.Example.com\" = \"api\", \"*.example.com\" = \"api\" }\nupstream = \"api\"",
    ))
    .expect("valid");
    let edge = &ok.listeners[0];
    assert_eq!(
        edge.protocol,
        shoal_config::ListenerProtocol::TlsPassthrough
    );
    assert_eq!(
        edge.sni[0].host,
        shoal_config::HostMatch::Exact("shop.example.com".into())
    );
    assert_eq!(
        edge.sni[1].host,
        shoal_config::HostMatch::Wildcard(".example.com".into())
    );
    assert_eq!(edge.upstream.as_deref(), Some("api"));
    // A default alone is enough; sni alone too.
    assert!(shoal_config::Config::from_toml_str(&passthrough("upstream = \"api\"")).is_ok());
    assert!(shoal_config::Config::from_toml_str(&passthrough(
        "sni = { \"a.example.com\" = \"api\" }"
    ))
    .is_ok());
}

#[test]
fn tls_passthrough_mistakes() {
    assert_error(
        &passthrough(""),
        "listeners.edge",
        3,
        "a tls_passthrough listener needs sni = { \"name\" = \"upstream\" }, a default upstream, or both",
    );
    assert_errors(
        &passthrough("sni = { \"a.example.com\" = \"apu\", \"A.example.com\" = \"api\", \"a.*.com\" = \"api\" }"),
        &[
            (
                "listeners.edge.sni.\"A.example.com\"",
                Some(6),
                "server name \"A.example.com\" is listed twice",
            ),
            (
                "listeners.edge.sni.\"a.*.com\"",
                Some(6),
                "only a leading \"*.\" wildcard is supported",
            ),
            (
                "listeners.edge.sni.\"a.example.com\"",
                Some(6),
                "no upstream named \"apu\" (did you mean \"api\"?)",
            ),
        ],
    );
    assert_error(
        &passthrough("sni = {}"),
        "listeners.edge.sni",
        6,
        "sni is empty",
    );
    assert_error(
        &tcp("upstream = \"api\"\nsni = { \"a.example.com\" = \"api\" }"),
        "listeners.db.sni",
        7,
        "sni is for tls_passthrough listeners",
    );
    assert_error(
        &passthrough("upstream = \"api\"\nmax_header_bytes = 9000"),
        "listeners.edge.max_header_bytes",
        7,
        "max_header_bytes is HTTP-only",
    );
}
