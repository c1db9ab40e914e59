//! Upstream errors: each with its exact path and line, and nothing else reported.

mod common;

use common::{assert_error, assert_errors, BASE};

/// BASE's upstream `api` (lines 5-6) plus `keys` from line 7.
fn upstream(keys: &str) -> String {
    format!("{BASE}{keys}\n")
}

/// A listener routing to `api`, then `[upstreams.api]` on line 4 with `keys` from line 5.
fn upstream_only(keys: &str) -> String {
    format!(
        "[listeners.web]\nbind = \"127.0.0.1:1\"\nroutes = [{{ upstream = \"api\" }}]\n[upstreams.api]\n{keys}\n"
    )
}

#[test]
fn backend_socket_addresses() {
    assert_error(
        &upstream_only("backends = [\"127.0.0.1:9001\", \"10.0.0:80\"]"),
        "upstreams.api.backends[1]",
        5,
        "\"10.0.0:80\" is not a socket address",
    );
    assert_error(
        &upstream_only("backends = [{ addr = \"nowhere\" }]"),
        "upstreams.api.backends[0].addr",
        5,
        "\"nowhere\" is not a socket address",
    );
    assert_error(
        &upstream_only("backends = [\"127.0.0.1:0\"]"),
        "upstreams.api.backends[0]",
        5,
        "port 0",
    );
    assert_error(
        &upstream_only("backends = [{ weight = 2 }]"),
        "upstreams.api.backends[0]",
        5,
        "missing key \"addr\"",
    );
    assert_error(
        &upstream_only("backends = [true]"),
        "upstreams.api.backends[0]",
        5,
        "found a boolean",
    );
}

#[test]
fn backend_weights() {
    assert_error(
        &upstream_only("backends = [{ addr = \"127.0.0.1:1\", weight = 0 }]"),
        "upstreams.api.backends[0].weight",
        5,
        "must be between 1 and 1000, got 0",
    );
    assert_error(
        &upstream_only("backends = [{ addr = \"127.0.0.1:1\", weight = -3 }]"),
        "upstreams.api.backends[0].weight",
        5,
        "got -3",
    );
    assert_error(
        &upstream_only("backends = [{ addr = \"127.0.0.1:1\", weight = 99999999999999999999 }]"),
        "upstreams.api.backends[0].weight",
        5,
        "must be between 1 and 1000, got 99999999999999999999",
    );
}

#[test]
fn duplicate_backends_even_with_other_errors() {
    let backends = "backends = [\n  \"127.0.0.1:1\",\n  \"127.0.0.1:2\",\n  { addr = \"127.0.0.1:1\", weight = 0 },\n]";
    assert_errors(
        &upstream_only(backends),
        &[
            (
                "upstreams.api.backends[2]",
                Some(8),
                "127.0.0.1:1 is listed twice (first at backends[0])",
            ),
            ("upstreams.api.backends[2].weight", Some(8), "got 0"),
        ],
    );
}

#[test]
fn backends_required_and_non_empty() {
    assert_error(
        &upstream_only("backends = []"),
        "upstreams.api.backends",
        5,
        "backends is empty",
    );
    assert_error(
        &upstream_only("algorithm = \"random\""),
        "upstreams.api",
        4,
        "missing key \"backends\"",
    );
    assert_error(
        &upstream_only("backends = \"127.0.0.1:1\""),
        "upstreams.api.backends",
        5,
        "expected an array, found a string",
    );
}

#[test]
fn algorithm_and_hash_key() {
    assert_error(
        &upstream("algorithm = \"round-robin\""),
        "upstreams.api.algorithm",
        7,
        "unknown algorithm \"round-robin\", expected one of round_robin,",
    );
    assert_error(
        &upstream("algorithm = \"ring_hash\"\nhash_key = \"body:x\""),
        "upstreams.api.hash_key",
        8,
        "\"body:x\" is not a hash key",
    );
    assert_error(
        &upstream("hash_key = \"client_ip\""),
        "upstreams.api.hash_key",
        7,
        "hash_key applies only to ring_hash and maglev, not round_robin",
    );
}

#[test]
fn hash_balance_factor() {
    assert_error(
        &upstream("algorithm = \"least_conn\"\nhash_balance_factor = 1.5"),
        "upstreams.api.hash_balance_factor",
        8,
        "applies only to ring_hash and maglev, not least_conn",
    );
    assert_error(
        &upstream("algorithm = \"maglev\"\nhash_balance_factor = 1.0"),
        "upstreams.api.hash_balance_factor",
        8,
        "must be greater than 1.0 (got 1.0)",
    );
    assert_error(
        &upstream("algorithm = \"maglev\"\nhash_balance_factor = nan"),
        "upstreams.api.hash_balance_factor",
        8,
        "must be a finite number",
    );
    assert_error(
        &upstream("algorithm = \"maglev\"\nhash_balance_factor = \"1.5\""),
        "upstreams.api.hash_balance_factor",
        8,
        "expected a number, found a string",
    );
}

#[test]
fn ring_hash_tuning() {
    assert_error(
        &upstream("algorithm = \"ring_hash\"\nvirtual_nodes = 0"),
        "upstreams.api.virtual_nodes",
        8,
        "must be between 1 and 10000, got 0",
    );
    assert_error(
        &upstream("algorithm = \"maglev\"\nvirtual_nodes = 10"),
        "upstreams.api.virtual_nodes",
        8,
        "virtual_nodes applies only to ring_hash, not maglev",
    );
    let heavy = format!(
        "[listeners.web]\nbind = \"127.0.0.1:1\"\nroutes = [{{ upstream = \"api\" }}]\n[upstreams.api]\n\
         algorithm = \"ring_hash\"\nvirtual_nodes = 10000\nbackends = [{}]\n",
        (1..=2)
            .map(|i| format!("{{ addr = \"127.0.0.1:{i}\", weight = 1000 }}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_error(
        &heavy,
        "upstreams.api",
        4,
        "ring would have 20000000 points",
    );
}

#[test]
fn maglev_table_size() {
    assert_error(
        &upstream("algorithm = \"maglev\"\nmaglev_table_size = 65536"),
        "upstreams.api.maglev_table_size",
        8,
        "65536 is not a prime",
    );
    assert_error(
        &upstream("algorithm = \"maglev\"\nmaglev_table_size = 3"),
        "upstreams.api.maglev_table_size",
        8,
        "must be between 7 and 5000011, got 3",
    );
    assert_error(
        &upstream("maglev_table_size = 65537"),
        "upstreams.api.maglev_table_size",
        7,
        "maglev_table_size applies only to maglev, not round_robin",
    );
    let backends: Vec<String> = (1..=8).map(|i| format!("\"127.0.0.1:{i}\"")).collect();
    let text = upstream_only(&format!(
        "algorithm = \"maglev\"\nmaglev_table_size = 7\nbackends = [{}]",
        backends.join(", ")
    ));
    assert_error(
        &text,
        "upstreams.api.maglev_table_size",
        6,
        "7 is smaller than the number of backends (8)",
    );
}

#[test]
fn timeouts_and_retries() {
    let keys = "connect_timeout = \"0s\"\nresponse_timeout = \"0ms\"\nkeepalive_timeout = \"0s\"\n\
                retries = 11\nretry_backoff = \"fast\"\nmax_idle_connections = -1";
    assert_errors(
        &upstream(keys),
        &[
            (
                "upstreams.api.connect_timeout",
                Some(7),
                "must be greater than zero",
            ),
            (
                "upstreams.api.response_timeout",
                Some(8),
                "must be greater than zero",
            ),
            (
                "upstreams.api.keepalive_timeout",
                Some(9),
                "set max_idle_connections = 0",
            ),
            (
                "upstreams.api.retries",
                Some(10),
                "must be between 0 and 10, got 11",
            ),
            (
                "upstreams.api.retry_backoff",
                Some(11),
                "\"fast\" is not a duration",
            ),
            (
                "upstreams.api.max_idle_connections",
                Some(12),
                "must be between 0 and 65536, got -1",
            ),
        ],
    );
    assert_error(
        &upstream("connect_timeout = 5"),
        "upstreams.api.connect_timeout",
        7,
        "expected a duration string like \"5s\", found an integer",
    );
    assert_error(
        &upstream("connect_timeout = \"5\""),
        "upstreams.api.connect_timeout",
        7,
        "\"5\" is not a duration",
    );
}

#[test]
fn ws_idle_timeout() {
    assert_error(
        &upstream("ws_idle_timeout = \"0s\""),
        "upstreams.api.ws_idle_timeout",
        7,
        "must be greater than zero",
    );
    assert_error(
        &upstream("ws_idle_timeout = 3600"),
        "upstreams.api.ws_idle_timeout",
        7,
        "expected a duration string like \"5s\", found an integer",
    );
    assert_error(
        &upstream("ws_idle_timeout = \"1 hour\""),
        "upstreams.api.ws_idle_timeout",
        7,
        "is not a duration",
    );
    assert_error(
        &upstream("ws_idle_timeot = \"1h\""),
        "upstreams.api.ws_idle_timeot",
        7,
        "ws_idle_timeout",
    );
}

#[test]
fn invalid_upstream_name() {
    let text = "[listeners.web]\nbind = \"127.0.0.1:1\"\nroutes = [{ upstream = \"a.b\" }]\n\
                [upstreams.\"a.b\"]\nbackends = [\"127.0.0.1:1\"]\n";
    assert_error(
        text,
        "upstreams.\"a.b\"",
        4,
        "upstream name \"a.b\" may only contain letters, digits, '_' and '-'",
    );
}
