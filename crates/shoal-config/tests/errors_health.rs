//! The health policy of an upstream: `[upstreams.NAME.health]` (active checks),
//! `[upstreams.NAME.outlier]` (passive checks), and `panic_threshold`, `slow_start` and
//! `drain_timeout`. Each error with its exact path and line, and nothing else reported.

mod common;

use common::{assert_error, assert_errors, BASE};

/// BASE (lines 1-6), `[upstreams.api.health]` on line 7, `keys` from line 8.
fn health(keys: &str) -> String {
    format!("{BASE}[upstreams.api.health]\n{keys}\n")
}

/// BASE (lines 1-6), `[upstreams.api.outlier]` on line 7, `keys` from line 8.
fn outlier(keys: &str) -> String {
    format!("{BASE}[upstreams.api.outlier]\n{keys}\n")
}

/// BASE's upstream `api` (lines 5-6) plus `keys` from line 7.
fn upstream(keys: &str) -> String {
    format!("{BASE}{keys}\n")
}

#[test]
fn unknown_keys_with_suggestions() {
    assert_errors(
        &format!(
            "{BASE}slowstart = \"5s\"\n[upstreams.api.health]\nintreval = \"5s\"\n\
             [upstreams.api.outlier]\nconsecutive_5xxx = 2\nejection = 1\n"
        ),
        &[
            (
                "upstreams.api.slowstart",
                Some(7),
                "did you mean \"slow_start\"?",
            ),
            (
                "upstreams.api.health.intreval",
                Some(9),
                "did you mean \"interval\"?",
            ),
            (
                "upstreams.api.outlier.consecutive_5xxx",
                Some(11),
                "did you mean \"consecutive_5xx\"?",
            ),
            (
                "upstreams.api.outlier.ejection",
                Some(12),
                "unknown key \"ejection\" (accepted keys: consecutive_5xx, \
                 consecutive_gateway_failures, base_ejection_time, max_ejection_time, \
                 max_ejection_percent)",
            ),
        ],
    );
}

#[test]
fn tables_of_the_wrong_type() {
    assert_error(
        &upstream("health = true"),
        "upstreams.api.health",
        7,
        "expected a table, found a boolean",
    );
    assert_error(
        &upstream("outlier = [1]"),
        "upstreams.api.outlier",
        7,
        "expected a table, found an array",
    );
}

#[test]
fn kind() {
    assert_error(
        &health("kind = \"grpc\""),
        "upstreams.api.health.kind",
        8,
        "unknown kind \"grpc\" (accepted: http, tcp)",
    );
    assert_error(
        &health("kind = 1"),
        "upstreams.api.health.kind",
        8,
        "expected a string, found an integer",
    );
}

#[test]
fn http_keys_are_refused_on_a_tcp_check() {
    let keys = "kind = \"tcp\"\npath = \"/ready\"\nliveness_path = \"/live\"\n\
                expect_status = \"200\"\nhost = \"api.internal\"";
    assert_errors(
        &health(keys),
        &[
            (
                "upstreams.api.health.path",
                Some(9),
                "path applies only to kind = \"http\", not \"tcp\"",
            ),
            (
                "upstreams.api.health.liveness_path",
                Some(10),
                "liveness_path applies only to kind = \"http\", not \"tcp\"",
            ),
            (
                "upstreams.api.health.expect_status",
                Some(11),
                "expect_status applies only to kind = \"http\"",
            ),
            (
                "upstreams.api.health.host",
                Some(12),
                "host applies only to kind = \"http\"",
            ),
        ],
    );
    // With an invalid kind, the http-only keys are not judged: only the kind is wrong.
    assert_error(
        &health("kind = \"tpc\"\npath = \"/ready\""),
        "upstreams.api.health.kind",
        8,
        "unknown kind \"tpc\"",
    );
}

#[test]
fn probe_paths() {
    assert_error(
        &health("path = \"health\""),
        "upstreams.api.health.path",
        8,
        "path must start with \"/\" (got \"health\")",
    );
    assert_error(
        &health("liveness_path = \"/a b\""),
        "upstreams.api.health.liveness_path",
        8,
        "liveness_path \"/a b\" contains ' '",
    );
    assert_error(
        &health("path = \"/ready#x\""),
        "upstreams.api.health.path",
        8,
        "contains '#'",
    );
    assert_error(
        &health("path = \"/ready\\u0000\""),
        "upstreams.api.health.path",
        8,
        "contains '\\0'",
    );
    assert_error(
        &health("path = \"\""),
        "upstreams.api.health.path",
        8,
        "path must start with \"/\"",
    );
    assert_error(
        &health("path = [\"/a\"]"),
        "upstreams.api.health.path",
        8,
        "expected a string, found an array",
    );
}

#[test]
fn interval_and_timeout() {
    assert_errors(
        &health("interval = \"0s\"\ntimeout = \"0ms\""),
        &[
            (
                "upstreams.api.health.interval",
                Some(8),
                "must be greater than zero",
            ),
            (
                "upstreams.api.health.timeout",
                Some(9),
                "must be greater than zero",
            ),
        ],
    );
    assert_error(
        &health("interval = 5"),
        "upstreams.api.health.interval",
        8,
        "expected a duration string like \"5s\", found an integer",
    );
    assert_error(
        &health("timeout = \"soon\""),
        "upstreams.api.health.timeout",
        8,
        "\"soon\" is not a duration",
    );
}

#[test]
fn timeout_must_be_shorter_than_interval() {
    // Against the default interval: the timeout is the key to change.
    assert_error(
        &health("timeout = \"5s\""),
        "upstreams.api.health.timeout",
        8,
        "must be shorter than interval (5s)",
    );
    // Against the default timeout: the interval is the key to change.
    assert_error(
        &health("interval = \"500ms\""),
        "upstreams.api.health.interval",
        8,
        "must be longer than timeout (1s, the default)",
    );
    // Both set: reported on the timeout.
    assert_error(
        &health("interval = \"2s\"\ntimeout = \"3s\""),
        "upstreams.api.health.timeout",
        9,
        "must be shorter than interval (2s)",
    );
    assert_error(
        &health("timeout = \"2s\"\ninterval = \"2s\""),
        "upstreams.api.health.timeout",
        8,
        "must be shorter than interval (2s)",
    );
}

#[test]
fn rise_and_fall() {
    assert_errors(
        &health("rise = 0\nfall = 101"),
        &[
            (
                "upstreams.api.health.rise",
                Some(8),
                "must be between 1 and 100, got 0",
            ),
            (
                "upstreams.api.health.fall",
                Some(9),
                "must be between 1 and 100, got 101",
            ),
        ],
    );
    assert_error(
        &health("fall = \"3\""),
        "upstreams.api.health.fall",
        8,
        "expected an integer, found a string",
    );
}

#[test]
fn expect_status() {
    for (value, fragment) in [
        (
            "\"2xx\"",
            "\"2xx\" is not a status or a range of statuses (e.g. \"200\" or \"200-399\")",
        ),
        ("\"200 - 399\"", "is not a status or a range of statuses"),
        ("\"200-\"", "is not a status or a range of statuses"),
        ("\"\"", "is not a status or a range of statuses"),
        (
            "\"600\"",
            "status 600 in \"600\" is not an HTTP status (100 to 599)",
        ),
        (
            "\"099-200\"",
            "status 99 in \"099-200\" is not an HTTP status",
        ),
        (
            "\"399-200\"",
            "\"399-200\" is backwards: write the lower status first (\"200-399\")",
        ),
        ("99", "must be between 100 and 599, got 99"),
        ("600", "must be between 100 and 599, got 600"),
        (
            "true",
            "expected a status or a range of statuses, e.g. \"200-399\", found a boolean",
        ),
    ] {
        assert_error(
            &health(&format!("expect_status = {value}")),
            "upstreams.api.health.expect_status",
            8,
            fragment,
        );
    }
}

#[test]
fn probe_host() {
    assert_error(
        &health("host = \"api.internal:8080\""),
        "upstreams.api.health.host",
        8,
        "host \"api.internal:8080\" must be a host name without a port",
    );
    assert_error(
        &health("host = \"*.internal\""),
        "upstreams.api.health.host",
        8,
        "host \"*.internal\" is not a valid host name",
    );
    assert_error(
        &health("host = \"a..b\""),
        "upstreams.api.health.host",
        8,
        "empty label",
    );
    assert_error(
        &health("host = \"\""),
        "upstreams.api.health.host",
        8,
        "it is empty",
    );
}

#[test]
fn wait_for_first_check() {
    assert_error(
        &health("wait_for_first_check = \"yes\""),
        "upstreams.api.health.wait_for_first_check",
        8,
        "expected a boolean (true or false), found a string",
    );
}

#[test]
fn inline_health_table_has_the_same_rules() {
    assert_errors(
        &upstream("health = { kind = \"tcp\", path = \"/x\", rise = 0 }"),
        &[
            (
                "upstreams.api.health.path",
                Some(7),
                "applies only to kind = \"http\"",
            ),
            ("upstreams.api.health.rise", Some(7), "got 0"),
        ],
    );
}

#[test]
fn outlier_counts_and_percent() {
    assert_errors(
        &outlier(
            "consecutive_5xx = -1\nconsecutive_gateway_failures = 1001\nmax_ejection_percent = 101",
        ),
        &[
            (
                "upstreams.api.outlier.consecutive_5xx",
                Some(8),
                "must be between 0 and 1000, got -1",
            ),
            (
                "upstreams.api.outlier.consecutive_gateway_failures",
                Some(9),
                "must be between 0 and 1000, got 1001",
            ),
            (
                "upstreams.api.outlier.max_ejection_percent",
                Some(10),
                "must be between 0 and 100, got 101",
            ),
        ],
    );
    assert_error(
        &outlier("consecutive_5xx = 2.5"),
        "upstreams.api.outlier.consecutive_5xx",
        8,
        "expected an integer, found a float",
    );
}

#[test]
fn outlier_ejection_times() {
    assert_errors(
        &outlier("base_ejection_time = \"0s\"\nmax_ejection_time = \"never\""),
        &[
            (
                "upstreams.api.outlier.base_ejection_time",
                Some(8),
                "must be greater than zero",
            ),
            (
                "upstreams.api.outlier.max_ejection_time",
                Some(9),
                "\"never\" is not a duration",
            ),
        ],
    );
    assert_error(
        &outlier("base_ejection_time = \"1m\"\nmax_ejection_time = \"30s\""),
        "upstreams.api.outlier.max_ejection_time",
        9,
        "must be at least base_ejection_time (1m)",
    );
    // Only the base set, above the default maximum: the base is the key to look at.
    assert_error(
        &outlier("base_ejection_time = \"10m\""),
        "upstreams.api.outlier.base_ejection_time",
        8,
        "must not exceed max_ejection_time (5m, the default)",
    );
    // Only the maximum set, below the default base.
    assert_error(
        &outlier("max_ejection_time = \"10s\""),
        "upstreams.api.outlier.max_ejection_time",
        8,
        "must be at least base_ejection_time (30s)",
    );
}

#[test]
fn panic_threshold_slow_start_and_drain_timeout() {
    assert_errors(
        &upstream("panic_threshold = 101\nslow_start = \"0s\"\ndrain_timeout = \"0ms\""),
        &[
            (
                "upstreams.api.panic_threshold",
                Some(7),
                "must be between 0 and 100, got 101",
            ),
            (
                "upstreams.api.slow_start",
                Some(8),
                "must be greater than zero",
            ),
            (
                "upstreams.api.drain_timeout",
                Some(9),
                "must be greater than zero",
            ),
        ],
    );
    assert_error(
        &upstream("panic_threshold = \"50%\""),
        "upstreams.api.panic_threshold",
        7,
        "expected an integer, found a string",
    );
    assert_error(
        &upstream("panic_threshold = -1"),
        "upstreams.api.panic_threshold",
        7,
        "got -1",
    );
    assert_error(
        &upstream("slow_start = 30"),
        "upstreams.api.slow_start",
        7,
        "expected a duration string",
    );
    assert_error(
        &upstream("drain_timeout = \"30\""),
        "upstreams.api.drain_timeout",
        7,
        "\"30\" is not a duration",
    );
}

/// Problems in all three places at once are all reported, in file order, alongside an
/// unrelated error elsewhere in the upstream.
#[test]
fn every_health_problem_is_reported_in_one_run() {
    let text = r#"[listeners.web]
bind = "127.0.0.1:8080"
[[listeners.web.routes]]
upstream = "api"
[upstreams.api]
backends = ["127.0.0.1:9001", "nowhere"]
panic_threshold = 200
slow_start = "0s"
[upstreams.api.health]
kind = "http"
path = "ready"
interval = "1s"
timeout = "2s"
rise = 0
expect_status = "500-200"
host = "x:1"
[upstreams.api.outlier]
consecutive_5xx = 5000
base_ejection_time = "5m"
max_ejection_time = "1m"
"#;
    let errors = shoal_config::Config::from_toml_str(text).expect_err("invalid");
    let expected = r#"upstreams.api.backends[1] (line 6): "nowhere" is not a socket address
upstreams.api.panic_threshold (line 7): must be between 0 and 100, got 200
upstreams.api.slow_start (line 8): must be greater than zero
upstreams.api.health.path (line 11): path must start with "/" (got "ready")
upstreams.api.health.timeout (line 13): must be shorter than interval (1s)
upstreams.api.health.rise (line 14): must be between 1 and 100, got 0
upstreams.api.health.expect_status (line 15): "500-200" is backwards: write the lower status first ("200-500")
upstreams.api.health.host (line 16): host "x:1" must be a host name without a port (the probe connects to the backend's address)
upstreams.api.outlier.consecutive_5xx (line 18): must be between 0 and 1000, got 5000
upstreams.api.outlier.max_ejection_time (line 20): must be at least base_ejection_time (5m)"#;
    assert_eq!(errors.to_string(), expected);
}
