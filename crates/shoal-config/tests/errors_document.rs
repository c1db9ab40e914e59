//! File-wide behaviour: syntax errors, unknown keys and wrong types at every level, and a file
//! with many problems reporting all of them, in file order.

mod common;

use common::{assert_error, assert_errors, errors, BASE};
use shoal_config::Config;

#[test]
fn syntax_error_is_one_error_with_its_line() {
    let text = "[listeners.web]\nbind = \"127.0.0.1:1\"\nprotocol = \"http\n[upstreams.api]\n";
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "");
    assert_eq!(errors[0].line, Some(3));
    assert!(
        errors[0].message.starts_with("TOML syntax error: "),
        "{}",
        errors[0]
    );
    assert!(errors[0]
        .to_string()
        .starts_with("line 3: TOML syntax error"));
}

#[test]
fn toml_level_mistakes_are_syntax_errors_with_lines() {
    let duplicate = format!("{BASE}backends = [\"127.0.0.1:9002\"]\n");
    assert_error(&duplicate, "", 7, "duplicate key");
    assert_error("a = 1\n\n[b\n", "", 3, "TOML syntax error");
    assert_error("[listeners.web]\n[listeners.web]\n", "", 2, "duplicate key");
}

#[test]
fn unknown_keys_everywhere_with_suggestions() {
    let text = r#"lissteners = 1
[server]
wrokers = 2
[listeners.web]
bind = "127.0.0.1:1"
timeout = "5s"
[[listeners.web.routes]]
upstream = "api"
upstraem = "api"
match = { methds = ["GET"] }
rewrite = { strip = "/a" }
[upstreams.api]
backends = [{ adr = "127.0.0.1:1" }]
retires = 2
"#;
    assert_errors(
        text,
        &[
            ("lissteners", Some(1), "did you mean \"listeners\"?"),
            ("server.wrokers", Some(3), "did you mean \"workers\"?"),
            (
                "listeners.web.timeout",
                Some(6),
                "unknown key \"timeout\" (accepted keys: bind, protocol, x_forwarded_for, \
                 header_read_timeout, idle_timeout, max_header_bytes, max_connections, routes, upstream, proxy_protocol, \
                 accept_proxy_protocol, sni, tls, redirect_https)",
            ),
            (
                "listeners.web.routes[0].upstraem",
                Some(9),
                "did you mean \"upstream\"?",
            ),
            (
                "listeners.web.routes[0].match.methds",
                Some(10),
                "did you mean \"methods\"?",
            ),
            (
                "listeners.web.routes[0].rewrite",
                Some(11),
                "rewrite is empty",
            ),
            (
                "listeners.web.routes[0].rewrite.strip",
                Some(11),
                "unknown key \"strip\"",
            ),
            (
                "upstreams.api.backends[0]",
                Some(13),
                "missing key \"addr\"",
            ),
            (
                "upstreams.api.backends[0].adr",
                Some(13),
                "did you mean \"addr\"?",
            ),
            (
                "upstreams.api.retires",
                Some(14),
                "did you mean \"retries\"?",
            ),
        ],
    );
}

#[test]
fn wrong_types_at_every_level() {
    assert_error(
        &format!("server = 1\n{BASE}"),
        "server",
        1,
        "expected a table, found an integer",
    );
    assert_error(
        "listeners = [1]\n",
        "listeners",
        1,
        "expected a table, found an array",
    );
    assert_errors(
        "listeners = { web = \"x\" }\nupstreams = \"none\"\n",
        &[
            ("listeners.web", Some(1), "expected a table, found a string"),
            ("upstreams", Some(2), "expected a table, found a string"),
        ],
    );
    let text = format!(
        "{BASE}[listeners.other]\nbind = \"127.0.0.1:2\"\nroutes = [\"api\", {{ match = \"*\", upstream = \"api\" }}]\n"
    );
    assert_errors(
        &text,
        &[
            (
                "listeners.other.routes[0]",
                Some(9),
                "expected a table, found a string",
            ),
            (
                "listeners.other.routes[1].match",
                Some(9),
                "expected a table, found a string",
            ),
        ],
    );
    assert_error(
        &format!("[server]\nworkers = \"2\"\n{BASE}"),
        "server.workers",
        2,
        "expected an integer, found a string",
    );
    assert_error(
        &format!("[server]\nworkers = 2000\n{BASE}"),
        "server.workers",
        2,
        "must be between 1 and 1024, got 2000",
    );
    assert_error(
        &format!("[server]\ngrace_period = 1979-05-27\n{BASE}"),
        "server.grace_period",
        2,
        "found a date-time",
    );
}

/// The acceptance test: one file, many different problems, every one reported, in file order,
/// each with its path and line.
#[test]
fn many_problems_are_all_reported_in_file_order() {
    let text = r#"[server]
workers = 0

[listeners.web]
bind = "127.0.0.1:8080"
protocl = "http"

[[listeners.web.routes]]
match = { path_prefix = "v1" }
upstream = "apii"

[[listeners.web.routes]]
split = [{ upstream = "api", weight = 0 }]

[listeners.admin]
bind = "127.0.0.1:8080"

[upstreams.api]
algorithm = "round_robin"
backends = ["127.0.0.1:9001", "10.0.0:80", "127.0.0.1:9001"]
hash_balance_factor = 1.5
connect_timeout = "0s"

[upstreams.cache]
algorithm = "maglev"
backends = []
maglev_table_size = 1000
"#;
    let errors = Config::from_toml_str(text).expect_err("invalid");
    let expected = r#"server.workers (line 2): must be between 1 and 1024, got 0
listeners.web.protocl (line 6): unknown key "protocl", did you mean "protocol"?
listeners.web.routes[0].match.path_prefix (line 9): path_prefix must start with "/" (got "v1")
listeners.web.routes[0].upstream (line 10): no upstream named "apii" (did you mean "api"?)
listeners.web.routes[1].split[0].weight (line 13): must be between 1 and 10000, got 0
listeners.admin (line 15): listener has no routes: add at least one [[listeners.admin.routes]] table
listeners.admin.bind (line 16): 127.0.0.1:8080 is already bound by listener "web"
upstreams.api.backends[1] (line 20): "10.0.0:80" is not a socket address
upstreams.api.backends[2] (line 20): 127.0.0.1:9001 is listed twice (first at backends[0])
upstreams.api.hash_balance_factor (line 21): hash_balance_factor applies only to ring_hash and maglev, not round_robin
upstreams.api.connect_timeout (line 22): must be greater than zero
upstreams.cache.backends (line 26): backends is empty: list at least one address
upstreams.cache.maglev_table_size (line 27): 1000 is not a prime (maglev needs one; e.g. 65537, 131071 or 1000003)"#;
    assert_eq!(errors.to_string(), expected);
    assert_eq!(errors.len(), 13);
    let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "errors must come in file order");
}

#[test]
fn errors_is_a_std_error() {
    let errors = Config::from_toml_str("").expect_err("no listeners");
    let boxed: Box<dyn std::error::Error> = Box::new(errors);
    assert!(boxed.to_string().contains("no listeners defined"));
}
